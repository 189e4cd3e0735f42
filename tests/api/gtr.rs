//! Global Token Revocation (Okta Universal Logout): the identity provider names a user and
//! every session and token of theirs ends, through the same cascade as a deactivation, while
//! the user stays active.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppClient, TestApp, expect_status};
use crate::on_both_backends;

pub(crate) const PATH: &str = "/oauth2/global-token-revocation";

pub(crate) async fn gtr(app: &TestApp, token: &str, body: &str) -> reqwest::Response {
    app.client
        .post(format!("{}{PATH}", app.root))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("GTR request")
}

pub(crate) async fn user_with_session(
    app: &TestApp,
    client: &AppClient,
    body: Value,
) -> (String, String) {
    let user = expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await;
    let id = user["id"].as_str().expect("id").to_string();
    let tokens = app.tokens_for(client, &id).await;
    (
        id,
        tokens["access_token"].as_str().expect("token").to_string(),
    )
}

async fn actions_about(app: &TestApp, user: &str) -> Vec<String> {
    let admin = app.admin_token();
    let path = format!("/audit?resource={user}&order=oldest");
    let records = expect_status(
        app.admin(&admin, Method::GET, &path)
            .send()
            .await
            .expect("audit"),
        StatusCode::OK,
    )
    .await;
    records["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["action"].as_str().map(String::from))
        .collect()
}

on_both_backends! {
    async fn each_subject_format_ends_the_named_users_sessions_and_no_one_elses(app) {
        let client = app.app_client(true);
        let (alice, alice_token) = user_with_session(&app, &client, json!({"userName": "alice", "externalId": "00u-alice", "emails": [{"value": "Alice@Example.com", "type": "work"}]})).await;
        let (bob, bob_token) = user_with_session(&app, &client, json!({"userName": "bob@example.com", "externalId": "00u-bob"})).await;
        let (carol, carol_token) = user_with_session(&app, &client, json!({"userName": "carol", "externalId": "00u-carol"})).await;
        let (dave, dave_token) = user_with_session(&app, &client, json!({"userName": "dave"})).await;
        let (erin, erin_token) = user_with_session(&app, &client, json!({"userName": "erin"})).await;
        let before = app.get_as_app(&client, "/events/v1/revocations?after=0").await;
        let start = expect_status(before, StatusCode::OK).await["head"].as_i64().unwrap_or(0);

        for (body, token) in [
            (json!({"sub_id": {"format": "email", "email": "alice@EXAMPLE.com"}}), &alice_token),
            (json!({"sub_id": {"format": "iss_sub", "iss": "https://acme.okta.com", "sub": "00u-bob"}}), &bob_token),
            (json!({"sub_id": {"format": "opaque", "id": carol}}), &carol_token),
            (json!({"sub_id": {"format": "account", "uri": "acct:dave"}}), &dave_token),
        ] {
            let response = gtr(&app, &app.token, &body.to_string()).await;
            assert_eq!(response.status(), StatusCode::NO_CONTENT, "{body}");
            assert!(!app.is_active(&client, token).await, "{body}: the named user's token is dead");
        }
        assert!(app.is_active(&client, &erin_token).await, "nobody else lost access");
        let actions = actions_about(&app, &alice).await;
        assert!(actions.contains(&"user.global_token_revocation".to_string()), "{actions:?}");
        let stored = expect_status(app.get(&format!("/Users/{alice}")).await, StatusCode::OK).await;
        assert_ne!(stored["active"], false, "the user is not deactivated");
        let again = app.tokens_for(&client, &alice).await;
        assert!(app.is_active(&client, again["access_token"].as_str().expect("token")).await, "they may sign in again");

        let feed = expect_status(app.get_as_app(&client, &format!("/events/v1/revocations?after={start}")).await, StatusCode::OK).await;
        let revoked: Vec<(String, String)> = feed["events"].as_array().into_iter().flatten()
            .filter(|e| e["type"] == "session.revoked")
            .map(|e| (e["user"].as_str().unwrap_or_default().to_string(), e["details"]["reason"].as_str().unwrap_or_default().to_string()))
            .collect();
        let mut users: Vec<String> = revoked.iter().map(|(u, _)| u.clone()).collect();
        users.sort();
        let mut expected = vec![alice.clone(), bob.clone(), carol.clone(), dave.clone()];
        expected.sort();
        assert_eq!(users, expected, "one session.revoked event per session ended");
        assert!(revoked.iter().all(|(_, reason)| reason == "global_token_revocation"));
        let _ = erin;
    }

    async fn an_unknown_subject_is_404_to_the_identity_provider_and_changes_nothing(app) {
        let client = app.app_client(true);
        let (_, token) = user_with_session(&app, &client, json!({"userName": "alice"})).await;
        let response = gtr(&app, &app.token, r#"{"sub_id": {"format": "email", "email": "nobody@example.com"}}"#).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(app.is_active(&client, &token).await);
    }

    async fn malformed_requests_and_the_wrong_credentials_are_refused(app) {
        let client = app.app_client(true);
        let (_, token) = user_with_session(&app, &client, json!({"userName": "alice", "emails": [{"value": "a@example.com"}]})).await;
        for body in [
            r#"{"sub_id": {"format": "phone_number", "phone_number": "+15555550100"}}"#,
            r#"{"sub_id": {"format": "email"}}"#,
            r#"{"sub": "alice"}"#,
            r#"{"sub_id": {"format": "email", "email": "a@example.com"}, "subject": {"format": "email", "email": "a@example.com"}}"#,
            r#"{"sub_id": {"format": "email", "email": "a@example.com", "email": "b@example.com"}}"#,
            "not json",
        ] {
            let response = gtr(&app, &app.token, body).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        }
        let body = r#"{"sub_id": {"format": "email", "email": "a@example.com"}}"#;
        let admin = app.admin_token();
        for (who, credential, status) in [
            ("an admin credential", admin.as_str(), StatusCode::FORBIDDEN),
            ("an app secret", client.secret.as_str(), StatusCode::FORBIDDEN),
            ("a guess", "scimitar_not-a-secret", StatusCode::UNAUTHORIZED),
            ("a forged JWT", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", StatusCode::UNAUTHORIZED),
        ] {
            let response = gtr(&app, credential, body).await;
            assert_eq!(response.status(), status, "{who}");
        }
        let anonymous = app.client.post(format!("{}{PATH}", app.root)).body(body).send().await.expect("POST");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        assert!(app.is_active(&client, &token).await, "nothing was revoked");
        let metadata: Value = app.client.get(format!("{}/.well-known/oauth-authorization-server", app.root)).send().await.expect("metadata").json().await.expect("json");
        assert_eq!(metadata["global_token_revocation_endpoint"], format!("{}{PATH}", app.root));
    }

    async fn another_tenants_identity_provider_cannot_revoke_this_tenants_users(app) {
        let client = app.app_client(true);
        let (_, token) = user_with_session(&app, &client, json!({"userName": "alice", "externalId": "00u-alice"})).await;
        let other = app.token_for_new_tenant("other");
        let response = gtr(&app, &other, r#"{"sub_id": {"format": "opaque", "id": "00u-alice"}}"#).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "unknown in its own tenant");
        assert!(app.is_active(&client, &token).await);
    }
}
