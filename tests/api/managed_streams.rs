//! A receiver that manages its own stream (SSF 1.0 §7–8), paired with Scimitar's own
//! transmitter through the standard discovery only: two servers with separate databases,
//! the receiver told nothing but the transmitter's issuer and an OAuth client of it. Each half
//! is exercised as another vendor's product would exercise it: the receiver discovers the
//! transmitter, gets a client-credentials token, creates a push or poll stream, learns its
//! `aud` and keys, asks for verification and gets it within seconds, acts on the events
//! (a deactivation on the transmitter's side deactivates the same person on the receiver's),
//! pauses and resumes the stream, and deletes it with the receiver.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppClient, Backend, TestApp, expect_status, id_of};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

macro_rules! on_both_backends_paired {
    ($( async fn $name:ident($tx:ident, $rx:ident) $body:block )*) => {
        $(
            mod $name {
                use super::*;
                async fn run($tx: TestApp, $rx: TestApp) $body

                #[tokio::test]
                async fn sqlite() {
                    if let (Some(tx), Some(rx)) = (TestApp::spawn(Backend::Sqlite).await, TestApp::spawn(Backend::Sqlite).await) {
                        run(tx, rx).await
                    }
                }

                #[tokio::test]
                async fn postgres() {
                    if let (Some(tx), Some(rx)) = (TestApp::spawn(Backend::Postgres).await, TestApp::spawn(Backend::Postgres).await) {
                        run(tx, rx).await
                    }
                }
            }
        )*
    };
}

/// Creates a managed receiver on `rx` for `tx`'s transmitter, with `tx`'s client.
async fn managed_receiver(
    rx: &TestApp,
    admin: &str,
    tx: &TestApp,
    client: &AppClient,
    method: &str,
) -> Value {
    let body = json!({
        "issuer": tx.root,
        "delivery": {"method": method, "interval_seconds": 1},
        "stream": {"client_id": client.id, "client_secret": client.secret, "description": "pairing test"},
    });
    let response = rx
        .admin(admin, Method::POST, "/signal-receivers")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("create");
    expect_status(response, StatusCode::CREATED).await
}

async fn receiver(rx: &TestApp, admin: &str, id: &str) -> Value {
    expect_status(
        rx.admin(admin, Method::GET, &format!("/signal-receivers/{id}"))
            .send()
            .await
            .expect("GET"),
        StatusCode::OK,
    )
    .await
}

/// Waits (up to 20 s) until `done` holds for the receiver; returns it and how long it took.
async fn until(
    rx: &TestApp,
    admin: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let start = Instant::now();
    loop {
        let current = receiver(rx, admin, id).await;
        if done(&current) || start.elapsed() > Duration::from_secs(20) {
            return (current, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The transmitter's view of its streams, as an operator of it would read them.
async fn streams_at(tx: &TestApp, client: &AppClient) -> Value {
    let response = tx
        .client
        .get(format!("{}/ssf/streams", tx.root))
        .basic_auth(&client.id, Some(&client.secret))
        .send()
        .await
        .expect("streams");
    expect_status(response, StatusCode::OK).await
}

async fn active(app: &TestApp, id: &str) -> Value {
    expect_status(app.get(&format!("/Users/{id}")).await, StatusCode::OK).await["active"].clone()
}

async fn pairing(tx: TestApp, rx: TestApp, method: &str) {
    let (admin, client) = (rx.admin_token(), tx.app_client(false));
    // The same person on both sides: the receiver's user has the transmitter's id as externalId.
    let on_tx = id_of(&tx.create_user("alice@example.com").await);
    let on_rx = id_of(
        &expect_status(
            rx.post(
                "/Users",
                &json!({"userName": "alice@example.com", "externalId": on_tx}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await,
    );

    let created = managed_receiver(&rx, &admin, &tx, &client, method).await;
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let stream_id = created["stream"]["stream_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!stream_id.is_empty(), "{created}");
    assert!(
        !created.to_string().contains(&client.secret),
        "the client secret is never shown"
    );
    assert_eq!(
        created["stream"]["credential"]["client_id"],
        json!(client.id)
    );
    // What it learned: the transmitter's keys and the `aud` it assigned (its client id).
    assert_eq!(
        created["jwks_uri"],
        json!(format!("{}/.well-known/jwks.json", tx.root))
    );
    assert_eq!(created["audience"], json!([client.id]));
    let listed = streams_at(&tx, &client).await;
    let stream = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["stream_id"] == json!(stream_id))
        .cloned()
        .unwrap_or_default();
    assert_eq!(stream["delivery"]["method"], json!(method), "{listed}");
    assert_eq!(stream["description"], "pairing test");
    if method == "urn:ietf:rfc:8935" {
        assert_eq!(
            stream["delivery"]["endpoint_url"],
            json!(format!("{}/ssf/v1/receive/{id}", rx.root))
        );
    }

    // The verification it asked for arrives within seconds, with the state it asked for.
    let (verified, took) = until(&rx, &admin, &id, |r| {
        r["health"]["last_verification"].is_string()
    })
    .await;
    assert!(
        verified["health"]["last_verification"].is_string(),
        "verified: {verified}"
    );
    assert!(
        verified["health"]["verification_pending_since"].is_null(),
        "{verified}"
    );
    assert!(took < Duration::from_secs(10), "verification took {took:?}");
    assert_eq!(verified["health"]["stream_status"], "enabled");

    // A deactivation at the transmitter deactivates the same person here.
    let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    expect_status(
        tx.patch(&format!("/Users/{on_tx}"), &off).await,
        StatusCode::OK,
    )
    .await;
    let start = Instant::now();
    while active(&rx, &on_rx).await != json!(false) && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        active(&rx, &on_rx).await,
        json!(false),
        "deactivated through the stream"
    );

    // Disabling the receiver pauses the stream; enabling it resumes it.
    let mut body = json!({"issuer": tx.root, "delivery": {"method": method}, "stream": {"description": "pairing test"}, "enabled": false});
    let paused = rx
        .admin(&admin, Method::PUT, &format!("/signal-receivers/{id}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("PUT");
    let paused = expect_status(paused, StatusCode::OK).await;
    assert_eq!(paused["stream"]["status"], "paused");
    let status = tx
        .client
        .get(format!("{}/ssf/status?stream_id={stream_id}", tx.root))
        .basic_auth(&client.id, Some(&client.secret))
        .send()
        .await
        .expect("status");
    assert_eq!(
        expect_status(status, StatusCode::OK).await["status"],
        "paused"
    );
    body["enabled"] = json!(true);
    body["stream"]["events_requested"] =
        json!(["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]);
    let resumed = rx
        .admin(&admin, Method::PUT, &format!("/signal-receivers/{id}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("PUT");
    let resumed = expect_status(resumed, StatusCode::OK).await;
    assert_eq!(resumed["stream"]["status"], "enabled");
    assert_eq!(
        resumed["stream"]["events_delivered"],
        json!(["https://schemas.openid.net/secevent/caep/event-type/session-revoked"])
    );
    let listed = streams_at(&tx, &client).await;
    let stream = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["stream_id"] == json!(stream_id))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        stream["events_requested"],
        json!(["https://schemas.openid.net/secevent/caep/event-type/session-revoked"])
    );

    // Health in /metrics.
    let metrics = rx
        .client
        .get(format!("{}/metrics", rx.root))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    assert!(metrics.contains(&format!("scimitar_ssf_receiver_last_verification_timestamp_seconds{{tenant=\"{}\",receiver=\"{id}\"}}", rx.tenant_id)), "{metrics}");
    assert!(metrics.contains(&format!(
        "scimitar_ssf_receiver_stream_enabled{{tenant=\"{}\",receiver=\"{id}\"}} 1",
        rx.tenant_id
    )));

    // Deleting the receiver deletes its stream at the transmitter.
    let deleted = rx
        .admin(&admin, Method::DELETE, &format!("/signal-receivers/{id}"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let listed = streams_at(&tx, &client).await;
    assert!(
        !listed
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["stream_id"] == json!(stream_id)),
        "{listed}"
    );
    let audit = expect_status(
        rx.admin(&admin, Method::GET, "/audit?action=signal_receiver.delete")
            .send()
            .await
            .expect("audit"),
        StatusCode::OK,
    )
    .await;
    assert!(
        audit.to_string().contains("\"stream_deleted\":true"),
        "{audit}"
    );
}

on_both_backends_paired! {
    async fn a_poll_receiver_manages_its_stream_at_scimitars_transmitter(tx, rx) {
        pairing(tx, rx, "urn:ietf:rfc:8936").await;
    }

    async fn a_push_receiver_manages_its_stream_at_scimitars_transmitter(tx, rx) {
        pairing(tx, rx, "urn:ietf:rfc:8935").await;
    }

    async fn a_transmitter_that_refuses_the_credential_creates_nothing(tx, rx) {
        let (admin, client) = (rx.admin_token(), tx.app_client(false));
        let body = json!({"issuer": tx.root, "delivery": {"method": "urn:ietf:rfc:8936"},
                          "stream": {"client_id": client.id, "client_secret": "wrong"}});
        let response = rx.admin(&admin, Method::POST, "/signal-receivers").header("content-type", "application/json")
            .body(body.to_string()).send().await.expect("create");
        let refused = expect_status(response, StatusCode::BAD_GATEWAY).await;
        assert!(refused["detail"].as_str().is_some_and(|d| d.contains("token endpoint")), "{refused}");
        assert!(!refused.to_string().contains("wrong"));
        let listed = expect_status(rx.admin(&admin, Method::GET, "/signal-receivers").send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(listed["receivers"], json!([]));
        assert_eq!(streams_at(&tx, &client).await, json!([]));
    }
}
