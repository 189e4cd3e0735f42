//! A group PATCH whose `members` value is not a list: one member is read as a list of one, a
//! value that names no member is a 400, and neither is ever a silent no-op or an emptied
//! group (which would end every member's roles). The same inside `/Bulk`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_scim_error, expect_status, id_of, member_ids, sorted};
use crate::on_both_backends;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn patch_members(app: &TestApp, group: &str, op: &str, value: Value) -> reqwest::Response {
    let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": op, "path": "members", "value": value}]});
    app.patch(&format!("/Groups/{group}"), &body).await
}

async fn members(app: &TestApp, group: &str) -> Vec<String> {
    member_ids(&expect_status(app.get(&format!("/Groups/{group}")).await, StatusCode::OK).await)
}

on_both_backends! {
    async fn a_single_member_object_is_one_member_and_a_value_naming_none_is_refused(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let c = id_of(&app.create_user("c").await);
        let group = id_of(&app.create_group("Eng", &[&a, &b]).await);
        let admin = app.admin_token();
        app.map_role(&admin, &format!("id:{group}"), &["engineer"]).await;
        let client = app.app_client(true);
        let token_of = |tokens: Value| tokens["access_token"].as_str().unwrap_or_default().to_string();
        let a_token = token_of(app.tokens_for(&client, &a).await);
        let b_token = token_of(app.tokens_for(&client, &b).await);

        // add and remove of one member as an object.
        expect_status(patch_members(&app, &group, "add", json!({"value": c})).await, StatusCode::OK).await;
        assert_eq!(members(&app, &group).await, sorted(&[&a, &b, &c]));
        expect_status(patch_members(&app, &group, "remove", json!({"value": c})).await, StatusCode::OK).await;
        assert_eq!(members(&app, &group).await, sorted(&[&a, &b]));

        // Values that name no member: refused, and nothing changes, for every op.
        for value in [json!({}), json!(7), json!(true), json!([{}]), json!([{"display": "b"}])] {
            for op in ["add", "replace", "remove"] {
                let response = patch_members(&app, &group, op, value.clone()).await;
                expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
            }
        }
        assert_eq!(members(&app, &group).await, sorted(&[&a, &b]));
        assert!(app.is_active(&client, &a_token).await && app.is_active(&client, &b_token).await);

        // replace with one object: the group holds exactly that member; b loses the role.
        expect_status(patch_members(&app, &group, "replace", json!({"value": a})).await, StatusCode::OK).await;
        assert_eq!(members(&app, &group).await, sorted(&[&a]));
        assert!(app.is_active(&client, &a_token).await, "a kept the role");
        assert!(!app.is_active(&client, &b_token).await, "b lost it");
    }

    async fn inside_bulk_a_member_value_naming_none_fails_its_operation_and_changes_nothing(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let group = id_of(&app.create_group("Eng", &[&a]).await);
        let operations = json!([
            {"method": "PATCH", "path": format!("/Groups/{group}"), "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "members", "value": {}}]}},
            {"method": "PATCH", "path": format!("/Groups/{group}"), "data": {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": {"value": b}}]}},
        ]);
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
        let response = app
            .request(Method::POST, "/Bulk")
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST /Bulk");
        let results = expect_status(response, StatusCode::OK).await;
        let statuses: Vec<&str> = results["Operations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["status"].as_str())
            .collect();
        assert_eq!(statuses, ["400", "200"], "{results}");
        assert_eq!(members(&app, &group).await, sorted(&[&a, &b]));
    }

    async fn a_null_or_a_value_that_names_nothing_is_refused_never_read_as_everything(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let group = id_of(&app.create_group("Eng", &[&a, &b]).await);
        // `remove` with an explicit null, and a path-less null: neither empties the group.
        let response = patch_members(&app, &group, "remove", Value::Null).await;
        expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        let pathless = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"members": null}}]});
        let response = app.patch(&format!("/Groups/{group}"), &pathless).await;
        expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        // Ids that are not strings, or empty, name no member.
        for value in [json!({"value": 5}), json!({"value": ""}), json!([{"value": a}, {"value": 5}])] {
            let response = patch_members(&app, &group, "remove", value.clone()).await;
            expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        }
        assert_eq!(members(&app, &group).await, sorted(&[&a, &b]));

        // A user's e-mails and roles by value filter: the value must still name itself.
        let user = json!({"userName": "c", "emails": [{"value": "c@work.example", "type": "work"}], "roles": [{"value": "r1"}]});
        let c = id_of(&expect_status(app.post("/Users", &user).await, StatusCode::CREATED).await);
        for (op, path, value) in [
            ("replace", "emails[type eq \"work\"]", json!({})),
            ("replace", "emails[type eq \"work\"]", json!({"type": "work"})),
            ("add", "emails[type eq \"other\"]", json!({})),
            ("replace", "roles[value eq \"r1\"]", json!({})),
            ("replace", "roles[value eq \"r1\"].value", json!(7)),
            ("remove", "emails", Value::Null),
        ] {
            let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": op, "path": path, "value": value}]});
            let response = app.patch(&format!("/Users/{c}"), &body).await;
            expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        }
        let stored = expect_status(app.get(&format!("/Users/{c}")).await, StatusCode::OK).await;
        assert_eq!(stored["emails"][0]["value"], "c@work.example");
        assert_eq!(stored["roles"][0]["value"], "r1");
    }
}
