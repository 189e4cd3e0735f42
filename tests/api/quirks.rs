//! Quirk rules: Okta's and Entra's non-RFC forms are accepted by default and refused, with a
//! 400 naming the rule, by a tenant in strict mode; RFC-correct forms pass either way.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_scim_error, expect_status, id_of, member_ids};
use crate::on_both_backends;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn patch(app: &TestApp, path: &str, operations: Value) -> reqwest::Response {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
    app.request(Method::PATCH, path)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("PATCH")
}

fn strict(app: &TestApp) {
    scimitar::tenancy::set_strict(&app.store, "default", true).expect("strict mode");
}

async fn refused(response: reqwest::Response, scim_type: &str, rule: &str) {
    let body = expect_scim_error(response, StatusCode::BAD_REQUEST, Some(scim_type)).await;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains(rule)),
        "{body}"
    );
}

on_both_backends! {
    async fn strict_mode_refuses_each_entra_and_okta_quirk_naming_its_rule(app) {
        let user = id_of(&app.create_user("strict").await);
        let other = id_of(&app.create_user("other").await);
        let group = app.create_group("G", &[&user, &other]).await;
        let (user_path, group_path) = (format!("/Users/{user}"), format!("/Groups/{}", id_of(&group)));
        strict(&app);

        refused(app.post("/Users", &json!({"userName": "b", "active": "True"})).await, "invalidValue", "entra.string_booleans").await;
        refused(app.post("/Users", &json!({"userName": "m", ENTERPRISE: {"manager": user}})).await, "invalidValue", "entra.manager_bare_id").await;
        refused(app.post("/Users", &json!({"userName": "r", "roles": "[{\"value\":\"Admin\"}]"})).await, "invalidValue", "entra.roles_as_json_text").await;
        refused(patch(&app, &user_path, json!([{"op": "Replace", "path": "title", "value": "x"}])).await, "invalidSyntax", "entra.capitalized_ops").await;
        refused(patch(&app, &user_path, json!([{"op": "replace", "value": {"name.givenName": "x"}}])).await, "invalidSyntax", "entra.dotted_pathless_keys").await;
        refused(patch(&app, &user_path, json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "w@x"}])).await, "noTarget", "entra.add_creates_filtered_value").await;
        refused(patch(&app, &group_path, json!([{"op": "remove", "path": "members", "value": [{"value": other}]}])).await, "invalidValue", "entra.remove_members_with_value").await;
        refused(patch(&app, &group_path, json!([{"op": "replace", "value": {"id": id_of(&group), "displayName": "H"}}])).await, "mutability", "okta.rename_with_id").await;
        let filter = app.request(Method::GET, "/Users").query(&[("filter", "emails[type eq \"work\"].value eq \"x\"")]).send().await.expect("GET");
        refused(filter, "invalidFilter", "entra.value_path_comparison").await;

        let unchanged = expect_status(app.get(&group_path).await, StatusCode::OK).await;
        assert_eq!(member_ids(&unchanged).len(), 2, "nothing was written");
    }

    async fn strict_mode_accepts_the_rfc_forms_entra_sends_with_aad_opt_scim062020(app) {
        let user = id_of(&app.create_user("rfc").await);
        let other = id_of(&app.create_user("rfc2").await);
        let group = app.create_group("G", &[&user, &other]).await;
        strict(&app);
        let created = expect_status(app.post("/Users", &json!({"userName": "b", "active": true, ENTERPRISE: {"manager": {"value": user}}})).await, StatusCode::CREATED).await;
        assert_eq!(created["active"], json!(true));
        let patched = expect_status(patch(&app, &format!("/Users/{user}"), json!([
            {"op": "replace", "path": "active", "value": false},
            {"op": "replace", "value": {"name": {"givenName": "Ada"}}},
            {"op": "add", "path": "emails", "value": [{"type": "work", "value": "w@x"}]},
        ])).await, StatusCode::OK).await;
        assert_eq!((patched["active"].clone(), patched["name"]["givenName"].clone()), (json!(false), json!("Ada")));
        let group_path = format!("/Groups/{}", id_of(&group));
        let removed = expect_status(patch(&app, &group_path, json!([{"op": "remove", "path": format!("members[value eq \"{other}\"]")}])).await, StatusCode::OK).await;
        assert_eq!(member_ids(&removed), vec![user.clone()]);
        // RFC-compliant tolerances hold in strict mode too: read-only `groups` and nulls are ignored.
        let put = app.put(&format!("/Users/{user}"), &json!({"userName": "rfc", "groups": [], "title": null})).await;
        expect_status(put, StatusCode::OK).await;
        let still = expect_status(app.get(&group_path).await, StatusCode::OK).await;
        assert_eq!(member_ids(&still), vec![user]);
    }

    async fn roles_sent_as_json_text_are_parsed_by_default(app) {
        let created = expect_status(app.post("/Users", &json!({"userName": "roles", "roles": "[{\"value\":\"Admin\",\"primary\":\"True\"}]"})).await, StatusCode::CREATED).await;
        assert_eq!(created["roles"], json!([{"value": "Admin", "primary": true}]));
    }

    async fn concurrent_membership_patches_to_one_group_lose_nothing(app) {
        let mut users = Vec::new();
        for i in 0..12 {
            users.push(id_of(&app.create_user(&format!("c{i}")).await));
        }
        let group = app.create_group("Busy", &users[..6].iter().map(String::as_str).collect::<Vec<_>>()).await;
        let path = format!("/Groups/{}", id_of(&group));
        // Concurrently: remove the first six one by one, add the last six one by one, and
        // re-add / re-remove some of them (no-ops, not errors).
        let mut requests = Vec::new();
        for id in &users[..6] {
            requests.push(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]));
        }
        for id in &users[6..] {
            requests.push(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
            requests.push(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
        }
        let statuses = futures_util::future::join_all(requests.into_iter().map(|ops| {
            let (app, path) = (&app, &path);
            async move { patch(app, path, ops).await.status() }
        }))
        .await;
        assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
        let after = expect_status(app.get(&path).await, StatusCode::OK).await;
        let mut expected: Vec<String> = users[6..].to_vec();
        expected.sort();
        assert_eq!(member_ids(&after), expected);
        let absent = patch(&app, &path, json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}])).await;
        assert_eq!(absent.status(), StatusCode::OK, "removing an absent member is a no-op");
    }
}

on_both_backends! {
    async fn entra_role_items_with_json_text_values_are_unpacked(app) {
        let user = id_of(&app.create_user("roles2").await);
        let role = r#"{"id":"7c3b","value":"Admin","displayName":"Administrator"}"#;
        let patched = expect_status(patch(&app, &format!("/Users/{user}"), json!([
            {"op": "Add", "path": "roles", "value": [{"primary": "False", "type": "WindowsAzureActiveDirectoryRole", "value": role}]}
        ])).await, StatusCode::OK).await;
        assert_eq!(patched["roles"], json!([{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]));
    }

    async fn an_unqualified_manager_path_reaches_the_enterprise_extension(app) {
        let boss = id_of(&app.create_user("boss").await);
        let user = id_of(&app.create_user("report").await);
        let path = format!("/Users/{user}");
        let added = expect_status(patch(&app, &path, json!([{"op": "Add", "path": "manager", "value": [{"$ref": null, "value": boss}]}])).await, StatusCode::OK).await;
        assert_eq!(added[ENTERPRISE]["manager"]["value"], json!(boss));
        let removed = expect_status(patch(&app, &path, json!([{"op": "Remove", "path": "manager"}])).await, StatusCode::OK).await;
        assert!(removed.get(ENTERPRISE).is_none(), "{removed}");
    }
}
