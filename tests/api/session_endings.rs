//! Every session that ends says so, on every channel: each path that ends a session (SCIM
//! deactivation and deletion by PATCH, PUT and Bulk, role loss, the kill switch, RFC 7009
//! revocation of an access or a refresh token, refresh-family kill on replay, the app client
//! revoked, expiry, Global
//! Token Revocation, a received Security Event Token) publishes `session.revoked`, which the
//! live stream (SSE) carries and a Shared Signals poll stream delivers as CAEP
//! `session-revoked` naming that session. (Keycloak shipped an RFC 7009 path that emitted
//! nothing, and offline resource servers kept accepting the tokens.)

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use scimitar::clock::Clock;

use crate::helpers::{AppClient, TestApp, expect_status, id_of};
use crate::on_both_backends;
use crate::signals::{push, push_receiver};
use crate::transmitter::{self, Transmitter};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CAEP_SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

fn deactivation() -> Value {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]})
}

/// A user (with `externalId`) and a session of theirs: (user id, session id, access, refresh).
async fn user_and_session(
    app: &TestApp,
    client: &AppClient,
    name: &str,
) -> (String, String, String, String) {
    let body = json!({"userName": name, "externalId": format!("00u-{name}")});
    let user = id_of(&expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await);
    let tokens = app.tokens_for(client, &user).await;
    let text = |key: &str| tokens[key].as_str().unwrap_or_default().to_string();
    let sid = app.introspect(client, &text("access_token")).await["sid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (user, sid, text("access_token"), text("refresh_token"))
}

/// The session ids in `session.revoked` events of the SSE stream after `after`, read until
/// every one of `expected` has come (or five seconds passed).
async fn sse_sessions(
    app: &TestApp,
    client: &AppClient,
    after: i64,
    expected: &BTreeSet<String>,
) -> BTreeSet<String> {
    let response = app
        .client
        .get(format!("{}/events/v1/stream?after={after}", app.root))
        .basic_auth(&client.id, Some(&client.secret))
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), StatusCode::OK);
    let mut response = response;
    let mut text = String::new();
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !expected.is_subset(&seen) {
        let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await else {
            break;
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        seen = text
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .filter(|event| event["type"] == "session.revoked")
            .filter_map(|event| event["session"].as_str().map(String::from))
            .collect();
    }
    seen
}

/// The session ids of the CAEP `session-revoked` SETs a poll stream holds (acknowledged).
async fn polled_sessions(app: &TestApp, client: &AppClient, stream: &str) -> BTreeSet<String> {
    let mut sessions = BTreeSet::new();
    let mut ack: Vec<String> = Vec::new();
    for _ in 0..50 {
        let body = json!({"returnImmediately": true, "maxEvents": 100, "ack": ack});
        let response = app
            .client
            .post(format!("{}/ssf/poll/{stream}", app.root))
            .basic_auth(&client.id, Some(&client.secret))
            .json(&body)
            .send()
            .await
            .expect("poll");
        let answer = expect_status(response, StatusCode::OK).await;
        let sets = answer["sets"].as_object().cloned().unwrap_or_default();
        ack = sets.keys().cloned().collect();
        for token in sets.values().filter_map(Value::as_str) {
            let claims = crate::helpers::jwt_claims(token);
            if claims["events"].get(CAEP_SESSION_REVOKED).is_some()
                && let Some(id) = claims["sub_id"]["session"]["id"].as_str()
            {
                sessions.insert(id.to_string());
            }
        }
        if sets.is_empty() && answer["moreAvailable"] != true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sessions
}

on_both_backends! {
    async fn every_path_that_ends_a_session_is_heard_on_the_stream_and_by_shared_signals(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let delivery = json!({"method": "urn:ietf:rfc:8936"});
        let created = app.client.post(format!("{}/ssf/streams", app.root)).basic_auth(&client.id, Some(&client.secret))
            .json(&json!({"delivery": delivery, "events_requested": [CAEP_SESSION_REVOKED]})).send().await.expect("stream");
        let stream = expect_status(created, StatusCode::CREATED).await["stream_id"].as_str().unwrap_or_default().to_string();
        let feed = expect_status(app.get_as_app(&client, "/events/v1/revocations").await, StatusCode::OK).await;
        let start = feed["head"].as_i64().unwrap_or(0);
        let mut ended = Vec::new();

        // SCIM: PATCH, PUT and DELETE of a user, and a PATCH inside /Bulk.
        let (user, sid, _, _) = user_and_session(&app, &client, "patched").await;
        expect_status(app.patch(&format!("/Users/{user}"), &deactivation()).await, StatusCode::OK).await;
        ended.push(("SCIM PATCH", sid));
        let (user, sid, _, _) = user_and_session(&app, &client, "put").await;
        let body = json!({"userName": "put", "externalId": "00u-put", "active": false});
        expect_status(app.put(&format!("/Users/{user}"), &body).await, StatusCode::OK).await;
        ended.push(("SCIM PUT", sid));
        let (user, sid, _, _) = user_and_session(&app, &client, "deleted").await;
        assert_eq!(app.delete(&format!("/Users/{user}")).await.status(), StatusCode::NO_CONTENT);
        ended.push(("SCIM DELETE", sid));
        let (user, sid, _, _) = user_and_session(&app, &client, "bulked").await;
        let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "PATCH", "path": format!("/Users/{user}"), "data": deactivation()}]});
        let response = app.request(Method::POST, "/Bulk").header("content-type", "application/scim+json").body(bulk.to_string()).send().await.expect("bulk");
        expect_status(response, StatusCode::OK).await;
        ended.push(("Bulk PATCH", sid));

        // Role loss: removed from the group that grants the role the session carries.
        let (user, _, _, _) = user_and_session(&app, &client, "member").await;
        let group = id_of(&app.create_group("Ops", &[&user]).await);
        app.map_role(&admin, &format!("id:{group}"), &["operator"]).await;
        let tokens = app.tokens_for(&client, &user).await;
        let sid = app.introspect(&client, tokens["access_token"].as_str().unwrap_or_default()).await["sid"].as_str().unwrap_or_default().to_string();
        let remove = json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": format!("members[value eq \"{user}\"]")}]});
        expect_status(app.patch(&format!("/Groups/{group}"), &remove).await, StatusCode::OK).await;
        ended.push(("role loss", sid));

        // The kill switch.
        let (user, sid, _, _) = user_and_session(&app, &client, "killed").await;
        let response = app.admin(&admin, Method::POST, &format!("/users/{user}/revoke")).send().await.expect("kill");
        expect_status(response, StatusCode::OK).await;
        ended.push(("kill switch", sid));

        // RFC 7009, of an access token and of a refresh token.
        let (_, sid, access, _) = user_and_session(&app, &client, "revoked-access").await;
        assert_eq!(app.oauth(&client, "revoke", &[("token", &access)]).await.status(), StatusCode::OK);
        ended.push(("RFC 7009 access token", sid));
        let (_, sid, _, refresh) = user_and_session(&app, &client, "revoked-refresh").await;
        assert_eq!(app.oauth(&client, "revoke", &[("token", &refresh)]).await.status(), StatusCode::OK);
        ended.push(("RFC 7009 refresh token", sid));

        // A refresh token presented twice: its whole family ends.
        let (_, sid, _, refresh) = user_and_session(&app, &client, "replayed").await;
        assert_eq!(app.refresh(&client, &refresh).await.status(), StatusCode::OK);
        app.clock.advance(chrono::Duration::seconds(30));
        assert_eq!(app.refresh(&client, &refresh).await.status(), StatusCode::BAD_REQUEST);
        ended.push(("refresh reuse", sid));

        // Global Token Revocation, by the identity provider's credential.
        let (_, sid, _, _) = user_and_session(&app, &client, "logged-out").await;
        let body = json!({"sub_id": {"format": "opaque", "id": "00u-logged-out"}});
        let response = app.client.post(format!("{}/oauth2/global-token-revocation", app.root)).bearer_auth(&app.token)
            .header("content-type", "application/json").body(body.to_string()).send().await.expect("GTR");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        ended.push(("global token revocation", sid));

        // A Security Event Token received from the identity provider.
        let tx = Transmitter::start();
        let (receiver, auth) = push_receiver(&app, &admin, &tx, json!({})).await;
        let (_, sid, _, _) = user_and_session(&app, &client, "signalled").await;
        let set = tx.ec.sign(&transmitter::set_claims("jti-ending", app.clock.now().timestamp(), transmitter::SESSION_REVOKED, transmitter::iss_sub("00u-signalled")));
        assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED);
        ended.push(("received SET", sid));

        // The app client the session was issued to revoked: every session it started ends.
        let doomed = app.app_client(true);
        let (_, sid, access, _) = user_and_session(&app, &doomed, "via-doomed-app").await;
        scimitar::access::credentials::revoke(&app.store, &doomed.id, app.clock.now()).expect("revoke the app");
        assert!(!app.is_active(&client, &access).await, "its token is dead, not only its secret");
        ended.push(("app client revoked", sid));

        // Expiry: past the session's idle timeout, the sweeper ends it.
        let (_, sid, _, _) = user_and_session(&app, &client, "expired").await;
        app.clock.advance(chrono::Duration::hours(13));
        scimitar::access::sweeper::sweep(&app.access).expect("sweep");
        ended.push(("expiry", sid));

        let expected: BTreeSet<String> = ended.iter().map(|(_, sid)| sid.clone()).collect();
        let streamed = sse_sessions(&app, &client, start, &expected).await;
        let polled = polled_sessions(&app, &client, &stream).await;
        for (path, sid) in &ended {
            assert!(streamed.contains(sid), "{path}: not on the SSE stream");
            assert!(polled.contains(sid), "{path}: no CAEP session-revoked on the Shared Signals stream");
        }
    }
}
