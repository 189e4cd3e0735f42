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

#[allow(dead_code)]
async fn refused(
    response: reqwest::Response,
    status: StatusCode,
    scim_type: Option<&str>,
) -> Value {
    expect_scim_error(response, status, scim_type).await
}
