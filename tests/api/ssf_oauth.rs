//! Stream management with OAuth 2.0 (the CAEP interoperability profile's requirement of a
//! transmitter): an app client's client-credentials token scoped `ssf.read` reads and polls,
//! `ssf.manage` also creates, changes and deletes; no other token can stand in for it, and a
//! revoked client's token, or a token revoked by RFC 7009, stops at once. A second stream for the same receiver gets a new id
//! (SSF 1.0 §8.1.1.1: a transmitter that allows several streams answers 201).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppClient, TestApp, expect_status, id_of};
use crate::on_both_backends;

async fn client_token(app: &TestApp, client: &AppClient, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.oauth(client, "token", &form).await
}

async fn with_bearer(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.root))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("SSF request")
}

fn poll_stream() -> Value {
    json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]})
}

on_both_backends! {
    async fn a_client_credentials_token_manages_streams_within_its_scope(app) {
        let client = app.app_client(false);
        let read = expect_status(client_token(&app, &client, Some("ssf.read")).await, StatusCode::OK).await;
        assert_eq!(read["scope"], "ssf.read");
        assert_eq!(read["token_type"], "Bearer");
        assert!(read["expires_in"].as_i64().is_some_and(|s| s > 0 && s <= 3600));
        assert!(read.get("refresh_token").is_none());
        let read = read["access_token"].as_str().unwrap_or_default().to_string();
        let manage = expect_status(client_token(&app, &client, None).await, StatusCode::OK).await;
        assert_eq!(manage["scope"], "ssf.manage ssf.read");
        let manage = manage["access_token"].as_str().unwrap_or_default().to_string();

        // ssf.read reads, and may not create.
        assert_eq!(with_bearer(&app, Method::GET, "/ssf/streams", &read, None).await.status(), StatusCode::OK);
        let refused = with_bearer(&app, Method::POST, "/ssf/streams", &read, Some(poll_stream())).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        // ssf.manage creates; a second stream for the same receiver gets a new id.
        let first = expect_status(with_bearer(&app, Method::POST, "/ssf/streams", &manage, Some(poll_stream())).await, StatusCode::CREATED).await;
        let second = expect_status(with_bearer(&app, Method::POST, "/ssf/streams", &manage, Some(poll_stream())).await, StatusCode::CREATED).await;
        assert_ne!(first["stream_id"], second["stream_id"]);
        let listed = expect_status(with_bearer(&app, Method::GET, "/ssf/streams", &read, None).await, StatusCode::OK).await;
        assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
        let id = first["stream_id"].as_str().unwrap_or_default().to_string();
        assert_eq!(with_bearer(&app, Method::POST, &format!("/ssf/poll/{id}"), &read, Some(json!({"returnImmediately": true}))).await.status(), StatusCode::OK);
        assert_eq!(with_bearer(&app, Method::POST, "/ssf/verify", &read, Some(json!({"stream_id": id}))).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(with_bearer(&app, Method::POST, "/ssf/verify", &manage, Some(json!({"stream_id": id}))).await.status(), StatusCode::NO_CONTENT);
        let deleted = with_bearer(&app, Method::DELETE, &format!("/ssf/streams?stream_id={id}"), &manage, None).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

        // An unknown scope, and no other token standing in for a management token.
        let bad = expect_status(client_token(&app, &client, Some("ssf.read admin")).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(bad["error"], "invalid_scope");
        let trusted = app.app_client(true);
        let user = id_of(&app.create_user("alice").await);
        let user_token = app.tokens_for(&trusted, &user).await["access_token"].as_str().unwrap_or_default().to_string();
        for (why, token) in [("a user's access token", user_token.as_str()), ("garbage", "a.b.c")] {
            let response = with_bearer(&app, Method::GET, "/ssf/streams", token, None).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        }
        // RFC 7009: a revoked management token stops at once; only its own client may revoke
        // it, and the client's other tokens stand.
        let spare = expect_status(client_token(&app, &client, Some("ssf.read")).await, StatusCode::OK).await["access_token"].as_str().unwrap_or_default().to_string();
        let stranger = app.app_client(false);
        assert_eq!(app.oauth(&stranger, "revoke", &[("token", &spare)]).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(with_bearer(&app, Method::GET, "/ssf/streams", &spare, None).await.status(), StatusCode::OK);
        assert_eq!(app.oauth(&client, "revoke", &[("token", &spare)]).await.status(), StatusCode::OK);
        assert_eq!(with_bearer(&app, Method::GET, "/ssf/streams", &spare, None).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(with_bearer(&app, Method::GET, "/ssf/streams", &read, None).await.status(), StatusCode::OK);
        // Another client's streams stay its own; a revoked client's token stops working.
        let other = app.app_client(false);
        let other_token = expect_status(client_token(&app, &other, None).await, StatusCode::OK).await["access_token"].as_str().unwrap_or_default().to_string();
        let theirs = with_bearer(&app, Method::GET, &format!("/ssf/streams?stream_id={}", second["stream_id"].as_str().unwrap_or_default()), &other_token, None).await;
        assert!(theirs.status() == StatusCode::NOT_FOUND || theirs.status() == StatusCode::FORBIDDEN, "{}", theirs.status());
        scimitar::access::credentials::revoke(&app.store, &client.id, chrono::Utc::now()).expect("revoke");
        assert_eq!(with_bearer(&app, Method::GET, "/ssf/streams", &manage, None).await.status(), StatusCode::UNAUTHORIZED);

        let metadata: Value = app.client.get(format!("{}/.well-known/oauth-authorization-server", app.root)).send().await.expect("GET").json().await.expect("json");
        assert!(metadata["grant_types_supported"].as_array().is_some_and(|g| g.contains(&json!("client_credentials"))));
        assert_eq!(metadata["scopes_supported"], json!(["ssf.read", "ssf.manage"]));
        let ssf: Value = app.client.get(format!("{}/.well-known/ssf-configuration", app.root)).send().await.expect("GET").json().await.expect("json");
        assert_eq!(ssf["authorization_schemes"], json!([{"spec_urn": "urn:ietf:rfc:6749"}]));
    }
}
