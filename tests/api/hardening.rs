//! Offboarded stays offboarded: no omission, ambiguity or hostile input restores access, and
//! bad input is a clear SCIM error with nothing stored.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppClient, TestApp, expect_scim_error, expect_status};
use crate::on_both_backends;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch_op(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

async fn user(app: &TestApp, name: &str) -> String {
    app.create_user(name).await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn deactivate(app: &TestApp, id: &str) {
    let off = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
    expect_status(
        app.patch(&format!("/Users/{id}"), &off).await,
        StatusCode::OK,
    )
    .await;
}

/// Whether a trusted app can still mint a token for the user.
async fn can_mint(app: &TestApp, client: &AppClient, id: &str) -> bool {
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", id),
        (
            "subject_token_type",
            "urn:scimitar:params:oauth:token-type:scim-user",
        ),
    ];
    app.oauth(client, "token", &form).await.status() == StatusCode::OK
}

async fn active_of(app: &TestApp, id: &str) -> Value {
    expect_status(app.get(&format!("/Users/{id}")).await, StatusCode::OK).await["active"].clone()
}

async fn open_flags(app: &TestApp, kind: &str) -> Vec<Value> {
    let admin = app.admin_token();
    let response = app
        .admin(&admin, Method::GET, "/flags")
        .send()
        .await
        .expect("flags");
    let flags = expect_status(response, StatusCode::OK).await;
    flags["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter(|f| f["kind"] == kind)
        .cloned()
        .collect()
}

on_both_backends! {
    async fn a_put_that_leaves_active_out_keeps_a_deactivated_user_deactivated(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        deactivate(&app, &alice).await;
        let put = json!({"userName": "alice", "title": "Engineer"});
        let body = expect_status(app.put(&format!("/Users/{alice}"), &put).await, StatusCode::OK).await;
        assert_eq!(body["active"], false, "absent `active` means unchanged");
        assert_eq!(body["title"], "Engineer", "the rest of the PUT is applied");
        assert_eq!(active_of(&app, &alice).await, false);
        assert!(!can_mint(&app, &client, &alice).await, "no token for a deactivated user");
    }

    async fn a_put_with_active_null_or_a_patch_removing_active_keeps_the_user_deactivated(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        deactivate(&app, &alice).await;
        let remove = patch_op(json!([{"op": "remove", "path": "active"}]));
        let body = expect_status(app.patch(&format!("/Users/{alice}"), &remove).await, StatusCode::OK).await;
        assert_eq!(body["active"], false, "removing `active` does not make a user active");
        let put = json!({"userName": "alice", "active": null});
        expect_status(app.put(&format!("/Users/{alice}"), &put).await, StatusCode::OK).await;
        let rename = patch_op(json!([{"op": "replace", "value": {"displayName": "Alice"}}]));
        expect_status(app.patch(&format!("/Users/{alice}"), &rename).await, StatusCode::OK).await;
        assert_eq!(active_of(&app, &alice).await, false);
        assert!(!can_mint(&app, &client, &alice).await);
        assert!(open_flags(&app, "quick_reactivation").await.is_empty(), "nothing was reactivated");
    }

    async fn a_put_that_leaves_active_out_keeps_an_active_user_active(app) {
        let alice = user(&app, "alice").await;
        let put = json!({"userName": "alice", "title": "Engineer"});
        let body = expect_status(app.put(&format!("/Users/{alice}"), &put).await, StatusCode::OK).await;
        assert_ne!(body["active"], false);
        let client = app.app_client(true);
        assert!(can_mint(&app, &client, &alice).await);
    }

    async fn only_an_explicit_true_reactivates_and_a_quick_reactivation_is_flagged(app) {
        let client = app.app_client(true);
        let alice = user(&app, "alice").await;
        deactivate(&app, &alice).await;
        app.clock.advance(chrono::Duration::minutes(2));
        // Entra's string spelling is an explicit `true` too.
        let on = json!({"userName": "alice", "active": "True"});
        let body = expect_status(app.put(&format!("/Users/{alice}"), &on).await, StatusCode::OK).await;
        assert_eq!(body["active"], true);
        assert!(can_mint(&app, &client, &alice).await, "an explicit reactivation is applied");
        let flags = open_flags(&app, "quick_reactivation").await;
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert_eq!(flags[0]["severity"], "high");
        assert_eq!(flags[0]["subject"], alice.as_str());
        assert_eq!(flags[0]["details"]["seconds_after_deactivation"], 120);
        let admin = app.admin_token();
        let path = format!("/audit?action=user.replace&resource={alice}");
        let response = app.admin(&admin, Method::GET, &path).send().await.expect("audit");
        let records = expect_status(response, StatusCode::OK).await;
        let reactivation = &records["records"][0]["details"]["reactivation"];
        assert_eq!(reactivation["severity"], "high", "{records}");
    }

    async fn a_reactivation_long_after_the_deactivation_is_not_flagged(app) {
        let bob = user(&app, "bob").await;
        deactivate(&app, &bob).await;
        app.clock.advance(chrono::Duration::minutes(61));
        let on = patch_op(json!([{"op": "replace", "path": "active", "value": true}]));
        let body = expect_status(app.patch(&format!("/Users/{bob}"), &on).await, StatusCode::OK).await;
        assert_eq!(body["active"], true);
        assert!(open_flags(&app, "quick_reactivation").await.is_empty());
    }
}

/// Sends a raw body, so that duplicate keys reach the server as written.
async fn send_raw(app: &TestApp, method: Method, path: &str, body: &str) -> reqwest::Response {
    app.request(method, path)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("request")
}

async fn user_count(app: &TestApp) -> Value {
    expect_status(app.get("/Users").await, StatusCode::OK).await["totalResults"].clone()
}

on_both_backends! {
    async fn identifiers_with_nul_control_or_invisible_characters_are_refused_and_nothing_is_stored(app) {
        for user_name in ["ali\u{0}ce", "alice\nadmin", "al\u{1b}[31mice", "al\u{200b}ice", "al\u{ad}ice", "\u{202e}ecila"] {
            let response = app.post("/Users", &json!({"userName": user_name})).await;
            refused(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
            let response = app.post("/Users", &json!({"userName": "ok", "externalId": user_name})).await;
            refused(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
            let response = app.post("/Users", &json!({"userName": "ok", "emails": [{"value": user_name, "type": "work"}]})).await;
            refused(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
            let response = app.post("/Groups", &json!({"displayName": user_name})).await;
            refused(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        }
        assert_eq!(user_count(&app).await, 0);
        let alice = user(&app, "alice").await;
        let rename = patch_op(json!([{"op": "replace", "path": "userName", "value": "alice\u{200d}"}]));
        refused(app.patch(&format!("/Users/{alice}"), &rename).await, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        let nul_title = json!({"userName": "alice", "title": "a\u{0}b"});
        refused(app.put(&format!("/Users/{alice}"), &nul_title).await, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        let stored = expect_status(app.get(&format!("/Users/{alice}")).await, StatusCode::OK).await;
        assert_eq!(stored["userName"], "alice");
        assert!(stored.get("title").is_none());
    }

    async fn a_nul_in_an_id_or_a_filter_is_a_400_not_a_500(app) {
        for path in ["/Users/%00", "/Users?filter=userName%20eq%20%22a%00%22", "/Groups?filter=displayName%20sw%20%22%00%22", "/Users/a%00b"] {
            refused(app.get(path).await, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        }
        let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"a\u{0}\""});
        refused(app.post("/Users/.search", &search).await, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
    }

    async fn duplicate_keys_are_refused_not_guessed_at(app) {
        let response = send_raw(&app, Method::POST, "/Users", r#"{"userName": "a", "userName": "b"}"#).await;
        refused(response, StatusCode::BAD_REQUEST, Some("invalidSyntax")).await;
        let response = send_raw(&app, Method::POST, "/Users", r#"{"userName": "a", "active": true, "Active": false}"#).await;
        refused(response, StatusCode::BAD_REQUEST, Some("invalidSyntax")).await;
        assert_eq!(user_count(&app).await, 0);
        let alice = user(&app, "alice").await;
        deactivate(&app, &alice).await;
        let path = format!("/Users/{alice}");
        for body in [
            r#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false, "active": true}}]}"#,
            r#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "op": "replace", "path": "active", "value": true}]}"#,
            r#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false, "value": true}]}"#,
            r#"{"Operations": [], "Operations": [{"op": "replace", "path": "active", "value": true}]}"#,
        ] {
            refused(send_raw(&app, Method::PATCH, &path, body).await, StatusCode::BAD_REQUEST, Some("invalidSyntax")).await;
        }
        let put = r#"{"userName": "alice", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "A", "department": "B"}, "active": true}"#;
        refused(send_raw(&app, Method::PUT, &path, put).await, StatusCode::BAD_REQUEST, Some("invalidSyntax")).await;
        assert_eq!(active_of(&app, &alice).await, false, "no guess switched the user back on");
    }

    async fn values_of_the_wrong_shape_are_refused_like_their_path_forms(app) {
        let alice = user(&app, "alice").await;
        let path = format!("/Users/{alice}");
        for operations in [
            json!([{"op": "replace", "path": "active", "value": [false]}]),
            json!([{"op": "replace", "value": {"active": [false]}}]),
            json!([{"op": "replace", "path": "userName", "value": {"a": "b"}}]),
            json!([{"op": "replace", "value": {"userName": {"a": "b"}}}]),
        ] {
            let response = app.patch(&path, &patch_op(operations.clone())).await;
            refused(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        }
        let put = json!({"userName": "alice", "active": [false]});
        refused(app.put(&path, &put).await, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        let group = app.create_group("G", &[]).await;
        let gid = group["id"].as_str().expect("id");
        let groups = json!([{"value": gid}]);
        let with_path = app.patch(&path, &patch_op(json!([{"op": "add", "path": "groups", "value": groups}]))).await;
        let with_path = refused(with_path, StatusCode::BAD_REQUEST, Some("mutability")).await;
        let pathless = app.patch(&path, &patch_op(json!([{"op": "add", "value": {"groups": groups}}]))).await;
        let pathless = refused(pathless, StatusCode::BAD_REQUEST, Some("mutability")).await;
        assert_eq!(with_path["detail"], pathless["detail"]);
        let stored = expect_status(app.get(&path).await, StatusCode::OK).await;
        assert_ne!(stored["active"], false);
        assert!(stored.get("groups").is_none_or(|g| g.as_array().is_some_and(Vec::is_empty)));
    }
}

async fn refused(
    response: reqwest::Response,
    status: StatusCode,
    scim_type: Option<&str>,
) -> Value {
    expect_scim_error(response, status, scim_type).await
}
