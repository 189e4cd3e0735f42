//! The Shared Signals receiver's configuration and polling (RFC 8936): a poll receiver fetches
//! SETs from the transmitter, acknowledges the applied ones, reports refused ones in
//! `setErrs`, follows `moreAvailable`; subject mapping and the `account-enabled` action follow
//! the tenant's settings; keys are fetched again for an unknown `kid` at most once per
//! cooldown; the admin API manages receivers.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use scimitar::clock::Clock;

use crate::helpers::{TestApp, expect_status};
use crate::on_both_backends;
use crate::signals::{push, push_receiver, user_with_session};
use crate::transmitter::*;

async fn admin_json(
    app: &TestApp,
    admin: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.admin(admin, method, path);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.expect("admin request")
}

/// Waits until `done` holds of the transmitter's state (at most 15 s).
async fn until(tx: &Transmitter, what: &str, done: impl Fn(&State) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !done(&tx.state.lock().expect("state")) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_backends! {
    async fn a_poll_receiver_applies_acknowledges_reports_refusals_and_follows_more_available(app) {
        let tx = Transmitter::start();
        let (admin, client) = (app.admin_token(), app.app_client(true));
        let (alice, alice_token) = user_with_session(&app, &client, json!({"userName": "alice", "externalId": "00u-alice"})).await;
        let (_, bob_token) = user_with_session(&app, &client, json!({"userName": "bob", "externalId": "00u-bob"})).await;
        let now = app.clock.now().timestamp();
        tx.queue("p-1", tx.ec.sign(&set_claims("p-1", now, SESSION_REVOKED, iss_sub("00u-alice"))));
        tx.queue("p-2", tx.ec.sign(&set_claims("p-2", now, SESSION_REVOKED, iss_sub("00u-nobody"))));
        tx.queue("p-3", sign_rs256(&set_claims("p-3", now, ACCOUNT_DISABLED, iss_sub("00u-bob"))));
        let body = json!({
            "issuer": ISSUER, "audience": [AUDIENCE], "jwks_uri": format!("{}/jwks", tx.url),
            "delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": format!("{}/poll", tx.url),
                         "authorization_header": "Bearer poll-secret", "interval_seconds": 1, "max_events": 1},
        });
        let created = expect_status(admin_json(&app, &admin, Method::POST, "/signal-receivers", Some(body)).await, StatusCode::CREATED).await;
        assert_eq!(created["delivery"]["authorization_header_set"], true);
        assert!(created["delivery"].get("authorization_header").is_none(), "the poll secret is never shown");

        until(&tx, "acks and setErrs", |s| s.acks.len() == 2 && s.errors.len() == 1).await;
        let state = tx.state.lock().expect("state").acks.clone();
        assert_eq!(state, vec!["p-1".to_string(), "p-3".to_string()]);
        let errors = tx.state.lock().expect("state").errors.clone();
        assert_eq!(errors["p-2"]["err"], "invalid_request");
        assert!(tx.state.lock().expect("state").authorizations.iter().all(|a| a.as_deref() == Some("Bearer poll-secret")));
        assert!(!app.is_active(&client, &alice_token).await);
        assert!(!app.is_active(&client, &bob_token).await);
        let bob = expect_status(app.get("/Users?filter=userName%20eq%20%22bob%22").await, StatusCode::OK).await;
        assert_eq!(bob["Resources"][0]["active"], false);
        let received = expect_status(admin_json(&app, &admin, Method::GET, "/received-sets", None).await, StatusCode::OK).await;
        let sets = received["sets"].as_array().cloned().unwrap_or_default();
        assert_eq!(sets.len(), 3);
        assert!(sets.iter().all(|s| s["delivery"] == "poll"));

        // A SET delivered again (the transmitter did not get the ack) acts once and is acked.
        let token = app.tokens_for(&client, &alice).await["access_token"].as_str().expect("token").to_string();
        tx.queue("p-1", tx.ec.sign(&set_claims("p-1", now, SESSION_REVOKED, iss_sub("00u-alice"))));
        until(&tx, "the second ack", |s| s.acks.len() == 3).await;
        assert!(app.is_active(&client, &token).await, "a redelivered SET acts once");
        let flags = expect_status(admin_json(&app, &admin, Method::GET, "/flags", None).await, StatusCode::OK).await;
        assert!(flags["flags"].as_array().into_iter().flatten().any(|f| f["kind"] == "security_event_refused"));
    }

    async fn subject_mapping_and_account_enabled_follow_the_receiver_settings_and_the_admin_api_manages_receivers(app) {
        let tx = Transmitter::start();
        let (admin, client) = (app.admin_token(), app.app_client(true));
        let (receiver, auth) = push_receiver(&app, &admin, &tx, json!({})).await;
        let (alice, alice_token) = user_with_session(&app, &client, json!({"userName": "alice", "externalId": "00u-alice", "emails": [{"value": "Alice@Example.com"}]})).await;
        let now = app.clock.now().timestamp();
        let email = json!({"format": "email", "email": "alice@example.com"});
        let response = push(&app, &receiver, &auth, &tx.ec.sign(&set_claims("m-1", now, SESSION_REVOKED, email.clone()))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "e-mail subjects are refused by default");
        assert!(app.is_active(&client, &alice_token).await);

        // Allow e-mail subjects and reactivation, with the keys inline this time.
        let jwks = json!({"keys": [tx.ec.jwk.clone()]});
        let body = json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks": jwks,
            "subjects": {"iss_sub": "externalId", "email": true}, "account_enabled": "reactivate", "credential_change": "record"});
        let replaced = expect_status(admin_json(&app, &admin, Method::PUT, &format!("/signal-receivers/{receiver}"), Some(body)).await, StatusCode::OK).await;
        assert_eq!(replaced["subjects"]["email"], true);
        assert!(replaced["delivery"].get("authorization_header").is_none(), "the push secret is kept and not shown again");
        let response = push(&app, &receiver, &auth, &tx.ec.sign(&set_claims("m-2", now, SESSION_REVOKED, email.clone()))).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert!(!app.is_active(&client, &alice_token).await);
        // credential-change set to `record`: nothing ends.
        let token = app.tokens_for(&client, &alice).await["access_token"].as_str().expect("token").to_string();
        let response = push(&app, &receiver, &auth, &tx.ec.sign(&set_claims("m-3", now, CREDENTIAL_CHANGE, email.clone()))).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert!(app.is_active(&client, &token).await);
        // Disabled, then enabled again: this tenant lets the transmitter reactivate.
        for (jti, event, active) in [("m-4", ACCOUNT_DISABLED, false), ("m-5", ACCOUNT_ENABLED, true)] {
            let response = push(&app, &receiver, &auth, &tx.ec.sign(&set_claims(jti, now, event, iss_sub("00u-alice")))).await;
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            let user = expect_status(app.get(&format!("/Users/{alice}")).await, StatusCode::OK).await;
            assert_eq!(user["active"], active, "{event}");
        }

        // The admin API: list, read, rotate the secret, disable, delete.
        let listed = expect_status(admin_json(&app, &admin, Method::GET, "/signal-receivers", None).await, StatusCode::OK).await;
        assert_eq!(listed["receivers"].as_array().map(Vec::len), Some(1));
        let read = expect_status(admin_json(&app, &admin, Method::GET, &format!("/signal-receivers/{receiver}"), None).await, StatusCode::OK).await;
        assert_eq!(read["account_enabled"], "reactivate");
        let body = json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [tx.ec.jwk.clone()]}, "rotate_secret": true, "enabled": false});
        let rotated = expect_status(admin_json(&app, &admin, Method::PUT, &format!("/signal-receivers/{receiver}"), Some(body)).await, StatusCode::OK).await;
        let new_auth = rotated["delivery"]["authorization_header"].as_str().expect("a new secret").to_string();
        let set = tx.ec.sign(&set_claims("m-6", now, SESSION_REVOKED, iss_sub("00u-alice")));
        assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::UNAUTHORIZED, "the old secret is dead");
        let response = push(&app, &receiver, &new_auth, &set).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "a disabled receiver");
        assert_eq!(response.json::<Value>().await.expect("JSON")["err"], "access_denied");
        for bad in [json!({"audience": AUDIENCE, "jwks_uri": "https://x.test/jwks"}), json!({"issuer": ISSUER, "audience": AUDIENCE}),
                    json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": "https://x.test/jwks", "subjects": {"phone": true}}),
                    json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": "https://x.test/jwks", "delivery": {"method": "urn:ietf:rfc:8936"}})] {
            let response = admin_json(&app, &admin, Method::POST, "/signal-receivers", Some(bad.clone())).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
        let deleted = admin_json(&app, &admin, Method::DELETE, &format!("/signal-receivers/{receiver}"), None).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        for method in [Method::GET, Method::DELETE] {
            let response = admin_json(&app, &admin, method, &format!("/signal-receivers/{receiver}"), None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
        }
        let body = json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": "https://x.test/jwks"});
        let response = admin_json(&app, &admin, Method::PUT, &format!("/signal-receivers/{receiver}"), Some(body)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let audit = expect_status(admin_json(&app, &admin, Method::GET, "/audit?action=signal_receiver.*", None).await, StatusCode::OK).await;
        assert_eq!(audit["records"].as_array().map(Vec::len), Some(4), "{audit}");
    }

    async fn an_unknown_kid_fetches_the_jwks_again_at_most_once_per_cooldown(app) {
        let tx = Transmitter::start();
        let (admin, client) = (app.admin_token(), app.app_client(true));
        let (receiver, auth) = push_receiver(&app, &admin, &tx, json!({})).await;
        let (alice, _) = user_with_session(&app, &client, json!({"userName": "alice", "externalId": "00u-alice"})).await;
        let now = app.clock.now().timestamp();
        assert_eq!(push(&app, &receiver, &auth, &tx.ec.sign(&set_claims("k-1", now, SESSION_REVOKED, iss_sub("00u-alice")))).await.status(), StatusCode::ACCEPTED);
        assert_eq!(tx.jwks_fetches(), 1);
        // The transmitter rotates to a new key; within the cooldown the new kid is unknown.
        let rotated = EcKey::new("tx-2");
        tx.state.lock().expect("state").jwks.push(rotated.jwk.clone());
        let set = rotated.sign(&set_claims("k-2", now, SESSION_REVOKED, iss_sub("00u-alice")));
        let response = push(&app, &receiver, &auth, &set).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(tx.jwks_fetches(), 1, "within the cooldown after the first fetch");
        app.clock.advance(chrono::Duration::seconds(31));
        let token = app.tokens_for(&client, &alice).await["access_token"].as_str().expect("token").to_string();
        let set = rotated.sign(&set_claims("k-2", app.clock.now().timestamp(), SESSION_REVOKED, iss_sub("00u-alice")));
        assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED, "the rotated key is fetched");
        assert_eq!(tx.jwks_fetches(), 2);
        assert!(!app.is_active(&client, &token).await);
        for jti in ["k-3", "k-4", "k-5"] {
            let garbage = EcKey::new(&format!("garbage-{jti}")).sign(&set_claims(jti, app.clock.now().timestamp(), SESSION_REVOKED, iss_sub("00u-alice")));
            assert_eq!(push(&app, &receiver, &auth, &garbage).await.status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(tx.jwks_fetches(), 2, "unknown kids do not hammer the transmitter");
    }
}
