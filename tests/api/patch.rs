//! PATCH as Okta and Entra send it, and as RFC 7644 §3.5.2 defines it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_scim_error, expect_status, id_of, member_ids, sorted};
use crate::on_both_backends;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch_body(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn patch(app: &TestApp, path: &str, operations: Value) -> reqwest::Response {
    app.request(Method::PATCH, path)
        .header("content-type", "application/scim+json")
        .body(patch_body(operations).to_string())
        .send()
        .await
        .expect("PATCH")
}

async fn patch_ok(app: &TestApp, path: &str, operations: Value) -> Value {
    expect_status(patch(app, path, operations).await, StatusCode::OK).await
}

on_both_backends! {
    async fn okta_deactivates_and_reactivates_with_a_pathless_replace(app) {
        let path = format!("/Users/{}", id_of(&app.create_user("okta-user").await));
        let off = patch_ok(&app, &path, json!([{"op": "replace", "value": {"active": false}}])).await;
        assert_eq!(off["active"], json!(false));
        let on = patch_ok(&app, &path, json!([{"op": "replace", "value": {"active": true}}])).await;
        assert_eq!(on["active"], json!(true));
        assert_eq!(expect_status(app.get(&path).await, StatusCode::OK).await, on);
    }

    async fn entra_capitalised_ops_and_string_booleans_are_understood(app) {
        let path = format!("/Users/{}", id_of(&app.create_user("entra-user").await));
        let user = patch_ok(&app, &path, json!([{"op": "Replace", "path": "active", "value": "False"}])).await;
        assert_eq!(user["active"], json!(false));
    }

    async fn entra_pathless_values_with_dotted_and_urn_keys_set_those_attributes(app) {
        let path = format!("/Users/{}", id_of(&app.create_user("dotted").await));
        let user = patch_ok(&app, &path, json!([{"op": "Replace", "value": {
            "name.givenName": "Ada", "name.familyName": "Lovelace",
            format!("{ENTERPRISE}:department"): "Analytical Engines",
        }}])).await;
        assert_eq!(user["name"], json!({"givenName": "Ada", "familyName": "Lovelace"}));
        assert_eq!(user[ENTERPRISE]["department"], "Analytical Engines");
    }

    async fn add_on_a_value_filter_that_matches_nothing_creates_the_entry(app) {
        let path = format!("/Users/{}", id_of(&app.create_user("filters").await));
        let user = patch_ok(&app, &path, json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@example.com"},
            {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
        ])).await;
        assert_eq!(user["emails"], json!([{"type": "work", "value": "w@example.com"}]));
        assert_eq!(user["addresses"], json!([{"type": "work", "formatted": "1 Main St"}]));
        let again = patch_ok(&app, &path, json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"},
        ])).await;
        assert_eq!(again["emails"], json!([{"type": "work", "value": "new@example.com"}]), "updated in place, not duplicated");
        let removed = patch_ok(&app, &path, json!([{"op": "remove", "path": "emails[type eq \"work\"]"}])).await;
        assert!(removed.get("emails").is_none(), "{removed}");
    }

    async fn add_appends_to_a_multi_valued_attribute_and_replace_swaps_it_whole(app) {
        let created = expect_status(app.post("/Users", &json!({"userName": "multi", "emails": [{"value": "a@x.org", "primary": true}]})).await, StatusCode::CREATED).await;
        let path = format!("/Users/{}", id_of(&created));
        let added = patch_ok(&app, &path, json!([{"op": "add", "path": "emails", "value": [{"value": "b@x.org"}, {"value": "A@X.org", "type": "home"}]}])).await;
        assert_eq!(added["emails"], json!([{"value": "A@X.org", "primary": true, "type": "home"}, {"value": "b@x.org"}]));
        let replaced = patch_ok(&app, &path, json!([{"op": "replace", "path": "emails", "value": [{"value": "c@x.org"}]}])).await;
        assert_eq!(replaced["emails"], json!([{"value": "c@x.org"}]));
    }

    async fn a_manager_sent_as_a_bare_id_is_stored_as_a_value_and_can_be_removed(app) {
        let manager = id_of(&app.create_user("boss").await);
        let path = format!("/Users/{}", id_of(&app.create_user("report").await));
        let user = patch_ok(&app, &path, json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": manager}])).await;
        assert_eq!(user[ENTERPRISE]["manager"], json!({"value": manager}));
        let user = patch_ok(&app, &path, json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}])).await;
        assert!(user.get(ENTERPRISE).is_none(), "{user}");
    }

    async fn a_password_patch_is_accepted_and_the_password_never_returned(app) {
        let path = format!("/Users/{}", id_of(&app.create_user("pw").await));
        let response = patch(&app, &path, json!([{"op": "replace", "path": "password", "value": "S3cr3t!"}])).await;
        let text = response.text().await.unwrap_or_default();
        assert!(!text.contains("S3cr3t!") && !text.contains("password"), "{text}");
    }

    async fn read_only_targets_unknown_paths_and_pathless_removes_are_refused(app) {
        let path = format!("/Users/{}", id_of(&app.create_user("strict").await));
        let cases = [
            (json!([{"op": "replace", "path": "groups", "value": [{"value": "g"}]}]), Some("mutability")),
            (json!([{"op": "replace", "path": "id", "value": "x"}]), Some("invalidPath")),
            (json!([{"op": "replace", "path": "favouriteColour", "value": "blue"}]), Some("invalidPath")),
            (json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]), Some("invalidPath")),
            (json!([{"op": "remove"}]), Some("noTarget")),
            (json!([{"op": "move", "path": "title"}]), Some("invalidSyntax")),
            (json!([{"op": "replace", "path": "active", "value": "maybe"}]), Some("invalidValue")),
            (json!([{"op": "remove", "path": "userName"}]), Some("invalidValue")),
            (json!([]), Some("invalidValue")),
        ];
        for (operations, scim_type) in cases {
            let response = patch(&app, &path, operations.clone()).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{operations}");
            expect_scim_error(response, StatusCode::BAD_REQUEST, scim_type).await;
        }
    }

    async fn okta_sends_id_with_a_rename_and_it_is_ignored(app) {
        let group = app.create_group("Old Name", &[]).await;
        let path = format!("/Groups/{}", id_of(&group));
        let renamed = patch_ok(&app, &path, json!([{"op": "replace", "value": {"id": id_of(&group), "displayName": "New Name"}}])).await;
        assert_eq!(renamed["displayName"], "New Name");
        assert_eq!(renamed["id"], group["id"]);
    }

    async fn all_operations_apply_or_none_does(app) {
        let created = app.create_user("atomic").await;
        let path = format!("/Users/{}", id_of(&created));
        let response = patch(&app, &path, json!([
            {"op": "replace", "path": "title", "value": "Changed"},
            {"op": "replace", "path": "active", "value": 42},
        ])).await;
        expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        assert_eq!(expect_status(app.get(&path).await, StatusCode::OK).await, created);
    }

    async fn a_patch_to_a_taken_user_name_is_a_conflict(app) {
        app.create_user("taken").await;
        let path = format!("/Users/{}", id_of(&app.create_user("free").await));
        let response = patch(&app, &path, json!([{"op": "replace", "path": "userName", "value": "TAKEN"}])).await;
        expect_scim_error(response, StatusCode::CONFLICT, Some("uniqueness")).await;
    }

    async fn if_match_guards_every_write_and_if_none_match_saves_a_read(app) {
        let created = app.create_user("etag").await;
        let path = format!("/Users/{}", id_of(&created));
        let stale = created["meta"]["version"].as_str().unwrap_or_default().to_string();
        let current = patch_ok(&app, &path, json!([{"op": "replace", "path": "title", "value": "v2"}])).await;
        let fresh = current["meta"]["version"].as_str().unwrap_or_default().to_string();

        let guarded = |method: Method, tag: &str| app.request(method, &path).header("if-match", tag).header("content-type", "application/scim+json");
        let body = patch_body(json!([{"op": "replace", "path": "title", "value": "v3"}])).to_string();
        let response = guarded(Method::PATCH, &stale).body(body.clone()).send().await.expect("PATCH");
        expect_scim_error(response, StatusCode::PRECONDITION_FAILED, None).await;
        let response = guarded(Method::PUT, &stale).body(json!({"userName": "etag"}).to_string()).send().await.expect("PUT");
        expect_scim_error(response, StatusCode::PRECONDITION_FAILED, None).await;
        let response = guarded(Method::DELETE, &stale).send().await.expect("DELETE");
        expect_scim_error(response, StatusCode::PRECONDITION_FAILED, None).await;
        let response = guarded(Method::PATCH, &fresh).body(body).send().await.expect("PATCH");
        let updated = expect_status(response, StatusCode::OK).await;
        assert_eq!(updated["title"], "v3");

        let latest = updated["meta"]["version"].as_str().unwrap_or_default();
        let unchanged = app.request(Method::GET, &path).header("if-none-match", latest).send().await.expect("GET");
        assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
        let changed = app.request(Method::GET, &path).header("if-none-match", fresh.as_str()).send().await.expect("GET");
        assert_eq!(changed.status(), StatusCode::OK);
    }

    async fn okta_group_push_renames_removes_and_adds_in_one_patch(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let c = id_of(&app.create_user("c").await);
        let group = app.create_group("Push", &[&a, &b]).await;
        let path = format!("/Groups/{}", id_of(&group));
        let patched = patch_ok(&app, &path, json!([
            {"op": "replace", "value": {"id": id_of(&group), "displayName": "Pushed"}},
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
            {"op": "add", "path": "members", "value": [{"value": c, "display": "c"}]},
        ])).await;
        assert_eq!(patched["displayName"], "Pushed");
        assert_eq!(member_ids(&patched), sorted(&[&b, &c]));
        assert_ne!(patched["meta"]["version"], group["meta"]["version"]);
    }

    async fn entra_remove_members_with_a_value_list_removes_exactly_those(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let c = id_of(&app.create_user("c").await);
        let group = app.create_group("Entra", &[&a, &b, &c]).await;
        let path = format!("/Groups/{}", id_of(&group));
        let patched = patch_ok(&app, &path, json!([{"op": "Remove", "path": "members", "value": [{"value": b}]}])).await;
        assert_eq!(member_ids(&patched), sorted(&[&a, &c]), "only the listed member left");
    }

    async fn remove_members_without_a_value_empties_the_group_and_replace_sets_it(app) {
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        let group = app.create_group("Whole", &[&a]).await;
        let path = format!("/Groups/{}", id_of(&group));
        let replaced = patch_ok(&app, &path, json!([{"op": "replace", "path": "members", "value": [{"value": b}]}])).await;
        assert_eq!(member_ids(&replaced), vec![b.clone()]);
        let emptied = patch_ok(&app, &path, json!([{"op": "remove", "path": "members"}])).await;
        assert!(member_ids(&emptied).is_empty());
        let okta = patch_ok(&app, &path, json!([{"op": "replace", "value": {"displayName": "Whole", "members": [{"value": a}]}}])).await;
        assert_eq!(member_ids(&okta), vec![a]);
    }

    async fn adding_an_unknown_member_changes_nothing(app) {
        let a = id_of(&app.create_user("a").await);
        let group = app.create_group("Safe", &[&a]).await;
        let path = format!("/Groups/{}", id_of(&group));
        let response = patch(&app, &path, json!([
            {"op": "replace", "path": "displayName", "value": "Renamed"},
            {"op": "add", "path": "members", "value": [{"value": "ghost"}]},
        ])).await;
        expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        assert_eq!(expect_status(app.get(&path).await, StatusCode::OK).await, group);
    }

    async fn adding_a_member_twice_is_harmless(app) {
        let a = id_of(&app.create_user("a").await);
        let group = app.create_group("Twice", &[&a]).await;
        let path = format!("/Groups/{}", id_of(&group));
        let patched = patch_ok(&app, &path, json!([{"op": "add", "path": "members", "value": [{"value": a}]}])).await;
        assert_eq!(member_ids(&patched), vec![a]);
    }

    async fn patching_an_unknown_resource_is_404(app) {
        let response = patch(&app, "/Users/00000000-0000-0000-0000-000000000000", json!([{"op": "replace", "path": "title", "value": "x"}])).await;
        expect_scim_error(response, StatusCode::NOT_FOUND, None).await;
    }
}

on_both_backends! {
    async fn a_whole_extension_can_be_the_path_of_add_replace_and_remove(app) {
        let path = format!("/Users/{}", id_of(&app.create_user("ext").await));
        let added = patch_ok(&app, &path, json!([{"op": "add", "path": ENTERPRISE, "value": {"department": "R&D", "costCenter": "42"}}])).await;
        assert_eq!(added[ENTERPRISE], json!({"department": "R&D", "costCenter": "42"}));
        let replaced = patch_ok(&app, &path, json!([{"op": "replace", "path": ENTERPRISE, "value": {"department": "Ops"}}])).await;
        assert_eq!(replaced[ENTERPRISE]["department"], "Ops");
        let removed = patch_ok(&app, &path, json!([{"op": "remove", "path": ENTERPRISE}])).await;
        assert!(removed.get(ENTERPRISE).is_none(), "{removed}");
        assert_eq!(removed["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
    }

    async fn removing_active_leaves_it_unassigned(app) {
        let created = expect_status(app.post("/Users", &json!({"userName": "act", "active": true})).await, StatusCode::CREATED).await;
        let removed = patch_ok(&app, &format!("/Users/{}", id_of(&created)), json!([{"op": "remove", "path": "active"}])).await;
        assert!(removed.get("active").is_none(), "{removed}");
    }
}

on_both_backends! {
    async fn a_patch_of_a_group_too_large_to_render_answers_204_with_its_etag(app) {
        let mut users = Vec::new();
        for i in 0..102 {
            users.push(id_of(&app.create_user(&format!("m{i:03}")).await));
        }
        let (last, first) = (users.pop().unwrap_or_default(), users[..101].to_vec());
        let group = app.create_group("Big", &first.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let path = format!("/Groups/{}", id_of(&group));
        let add = json!([{"op": "add", "path": "members", "value": [{"value": last}]}]);

        // As Okta and Entra send it: no projection. 101 members is more than an answer renders.
        let response = patch(&app, &path, add.clone()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(String::from);
        assert_eq!(response.text().await.expect("body"), "");
        let read = expect_status(app.get(&path).await, StatusCode::OK).await;
        assert_eq!(etag.as_deref(), read["meta"]["version"].as_str(), "the 204 carries the new ETag");
        assert_eq!(member_ids(&read).len(), 102);

        // RFC 7644 §3.5.2: `attributes` asks for a 200 with those attributes, however large.
        let whole = expect_status(patch(&app, &format!("{path}?attributes=members"), add.clone()).await, StatusCode::OK).await;
        assert_eq!(member_ids(&whole).len(), 102);
        let only = expect_status(patch(&app, &format!("{path}?attributes=displayName"), add.clone()).await, StatusCode::OK).await;
        assert_eq!((only["displayName"].clone(), only.get("members")), (json!("Big"), None));
        let lean = expect_status(patch(&app, &format!("{path}?excludedAttributes=members"), add.clone()).await, StatusCode::OK).await;
        assert!(lean.get("members").is_none() && lean["meta"]["version"].is_string(), "{lean}");
        let preview = app.request(Method::PATCH, &path).header("scimitar-preview", "true").header("content-type", "application/scim+json")
            .body(patch_body(add).to_string()).send().await.expect("PATCH");
        assert_eq!(expect_status(preview, StatusCode::OK).await["status"], 204);

        // A small group is answered whole, as before.
        let small = app.create_group("Small", &[&first[0]]).await;
        let patched = patch_ok(&app, &format!("/Groups/{}", id_of(&small)), json!([{"op": "add", "path": "members", "value": [{"value": last}]}])).await;
        assert_eq!(member_ids(&patched), sorted(&[&first[0], &last]));
    }
}
