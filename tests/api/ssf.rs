//! The Shared Signals transmitter end to end: streams, push to a receiver started by the
//! test, poll with acknowledgements, and SETs verified with the published JWKS.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{AppClient, TestApp, expect_status};
use crate::on_both_backends;

const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const CLAIMS_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";
const DISABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
const ENABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// A push receiver (RFC 8935) on a random port: records each request's authorization and
/// body, refuses the first `failures` with 503, then answers 202.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    fn start(failures: usize) -> Self {
        let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let attempts = Arc::new(Mutex::new(0usize));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/events", listener.local_addr().expect("address"));
        let (record, count) = (received.clone(), attempts.clone());
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    let (record, count) = (record.clone(), count.clone());
                    App::new().route(
                        "/events",
                        web::post().to(move |request: HttpRequest, body: String| {
                            let (record, count) = (record.clone(), count.clone());
                            async move {
                                let mut attempts = count.lock().expect("lock");
                                *attempts += 1;
                                if *attempts <= failures {
                                    return HttpResponse::ServiceUnavailable().finish();
                                }
                                assert_eq!(
                                    request
                                        .headers()
                                        .get("content-type")
                                        .and_then(|v| v.to_str().ok()),
                                    Some("application/secevent+jwt")
                                );
                                let auth = request
                                    .headers()
                                    .get("authorization")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_string();
                                record.lock().expect("lock").push((auth, body));
                                HttpResponse::Accepted().finish()
                            }
                        }),
                    )
                })
                .workers(1)
                .listen(listener)
                .expect("listen")
                .run()
                .await
            })
        });
        Self { url, received }
    }

    fn tokens(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// Verifies a SET with the server's published keys: EdDSA, `typ: secevent+jwt`, our issuer,
/// the stream's audience; returns its claims.
async fn verified(app: &TestApp, token: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.root))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
    let key = jsonwebtoken::DecodingKey::from_jwk(
        jwks.find(header.kid.as_deref().expect("kid"))
            .expect("published key"),
    )
    .expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_required_spec_claims(&["iss", "aud"]);
    validation.validate_exp = false;
    validation.set_issuer(&[&app.root]);
    validation.set_audience(&[audience]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("a valid signature")
        .claims;
    assert!(claims.get("exp").is_none(), "SETs carry no exp (RFC 8417)");
    claims
}

fn event_types(claims: &[Value]) -> Vec<String> {
    let mut types: Vec<String> = claims
        .iter()
        .flat_map(|c| {
            c["events"]
                .as_object()
                .map(|e| e.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    types.sort();
    types
}

async fn ssf(
    app: &TestApp,
    client: &AppClient,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.root))
        .basic_auth(&client.id, Some(&client.secret));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.expect("SSF request")
}

async fn create_stream(app: &TestApp, client: &AppClient, delivery: Value) -> Value {
    let body = json!({"delivery": delivery, "events_requested": [SESSION_REVOKED, CLAIMS_CHANGE, DISABLED, ENABLED], "description": "test"});
    expect_status(
        ssf(
            app,
            client,
            reqwest::Method::POST,
            "/ssf/streams",
            Some(body),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

fn active(value: bool) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": value}]})
}

async fn poll(app: &TestApp, client: &AppClient, stream: &str, body: Value) -> Value {
    expect_status(
        ssf(
            app,
            client,
            reqwest::Method::POST,
            &format!("/ssf/poll/{stream}"),
            Some(body),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

on_both_backends! {
    async fn the_transmitter_publishes_its_configuration(app) {
        let config: Value = app.client.get(format!("{}/.well-known/ssf-configuration", app.root)).send().await.expect("config").json().await.expect("json");
        assert_eq!(config["issuer"], json!(app.root));
        assert_eq!(config["delivery_methods_supported"], json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"]));
        for endpoint in ["configuration_endpoint", "status_endpoint", "add_subject_endpoint", "remove_subject_endpoint", "verification_endpoint", "jwks_uri"] {
            assert!(config[endpoint].as_str().is_some_and(|u| u.starts_with(&app.root)), "{endpoint}");
        }
    }

    async fn push_delivers_signed_caep_and_risc_events_to_a_receiver(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let receiver = Receiver::start(0);
        let stream = create_stream(&app, &client, json!({"method": "urn:ietf:rfc:8935", "endpoint_url": receiver.url, "authorization_header": "Bearer receiver-secret"})).await;
        let alice = app.create_user("alice@example.com").await["id"].as_str().expect("id").to_string();
        app.tokens_for(&client, &alice).await;
        app.create_group("Admins", &[&alice]).await;
        app.map_role(&admin, "Admins", &["admin"]).await;
        expect_status(app.patch(&format!("/Users/{alice}"), &active(false)).await, StatusCode::OK).await;
        expect_status(app.patch(&format!("/Users/{alice}"), &active(true)).await, StatusCode::OK).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while receiver.tokens().len() < 4 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let audience = stream["aud"].as_str().expect("aud");
        let mut claims = Vec::new();
        for token in receiver.tokens() {
            claims.push(verified(&app, &token, audience).await);
        }
        let mut expected: Vec<String> = [ENABLED, DISABLED, CLAIMS_CHANGE, SESSION_REVOKED].iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(event_types(&claims), expected);
        assert!(receiver.received.lock().expect("lock").iter().all(|(auth, _)| auth == "Bearer receiver-secret"));
        let revoked = claims.iter().find(|c| c["events"].get(SESSION_REVOKED).is_some()).expect("session-revoked");
        assert_eq!(revoked["sub_id"]["user"], json!({"format": "iss_sub", "iss": app.root, "sub": alice}));
        assert_eq!(revoked["events"][SESSION_REVOKED]["initiating_entity"], "admin");
        assert!(revoked["events"][SESSION_REVOKED]["reason_admin"]["en"].is_string());
        let change = claims.iter().find(|c| c["events"].get(CLAIMS_CHANGE).is_some()).expect("token-claims-change");
        assert_eq!(change["events"][CLAIMS_CHANGE]["claims"], json!({"roles": ["admin"]}));
        let jtis: std::collections::BTreeSet<&str> = claims.iter().filter_map(|c| c["jti"].as_str()).collect();
        assert_eq!(jtis.len(), claims.len(), "each SET has its own jti");
    }

    async fn a_revoked_credentials_streams_stop_pushing(app) {
        let client = app.app_client(true);
        let receiver = Receiver::start(0);
        create_stream(&app, &client, json!({"method": "urn:ietf:rfc:8935", "endpoint_url": receiver.url})).await;
        let alice = app.create_user("alice").await["id"].as_str().expect("id").to_string();
        expect_status(app.patch(&format!("/Users/{alice}"), &active(false)).await, StatusCode::OK).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while receiver.tokens().is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let before = receiver.tokens().len();
        assert!(before > 0, "the stream pushed while its credential stood");
        scimitar::access::credentials::revoke(&app.store, &client.id, chrono::Utc::now()).expect("revoke");
        expect_status(app.patch(&format!("/Users/{alice}"), &active(true)).await, StatusCode::OK).await;
        expect_status(app.patch(&format!("/Users/{alice}"), &active(false)).await, StatusCode::OK).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(receiver.tokens().len(), before, "nothing reaches the receiver of a revoked credential");
        let streams = app.store.read(|conn| scimitar::store::ssf::all(conn)).expect("streams");
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].status, "disabled");
        assert_eq!(streams[0].status_reason.as_deref(), Some("the stream's credential was revoked"));
    }

    async fn push_retries_with_backoff_until_the_receiver_accepts(app) {
        let client = app.app_client(true);
        let receiver = Receiver::start(2);
        create_stream(&app, &client, json!({"method": "urn:ietf:rfc:8935", "endpoint_url": receiver.url})).await;
        let alice = app.create_user("alice").await["id"].as_str().expect("id").to_string();
        expect_status(app.patch(&format!("/Users/{alice}"), &active(false)).await, StatusCode::OK).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while receiver.tokens().is_empty() && std::time::Instant::now() < deadline {
            // Backoff follows the server's clock: move it past the next attempt.
            app.clock.advance(chrono::Duration::seconds(3));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(receiver.tokens().len(), 1, "delivered once it was accepted");
        let metrics = app.client.get(format!("{}/metrics", app.root)).send().await.expect("metrics").text().await.expect("text");
        assert!(metrics.contains(&format!("scimitar_ssf_delivery_failures_total{{tenant=\"{}\"", app.tenant_id)), "{metrics}");
    }

    async fn poll_delivers_until_acknowledged(app) {
        let client = app.app_client(true);
        let stream = create_stream(&app, &client, json!({"method": "urn:ietf:rfc:8936"})).await;
        let id = stream["stream_id"].as_str().expect("id").to_string();
        assert_eq!(stream["delivery"]["endpoint_url"], json!(format!("{}/ssf/poll/{id}", app.root)));
        let alice = app.create_user("alice").await["id"].as_str().expect("id").to_string();
        app.tokens_for(&client, &alice).await;
        expect_status(app.patch(&format!("/Users/{alice}"), &active(false)).await, StatusCode::OK).await;
        let first = poll(&app, &client, &id, json!({"returnImmediately": true, "maxEvents": 1})).await;
        assert_eq!(first["sets"].as_object().map(|s| s.len()), Some(1));
        assert_eq!(first["moreAvailable"], true);
        let all = poll(&app, &client, &id, json!({"returnImmediately": true})).await;
        let sets = all["sets"].as_object().expect("sets").clone();
        assert_eq!(sets.len(), 2, "unacknowledged SETs come again");
        let mut claims = Vec::new();
        for token in sets.values() {
            claims.push(verified(&app, token.as_str().expect("token"), &client.id).await);
        }
        assert_eq!(event_types(&claims), vec![SESSION_REVOKED.to_string(), DISABLED.to_string()]);
        let acks: Vec<&String> = sets.keys().collect();
        let after = poll(&app, &client, &id, json!({"ack": acks, "returnImmediately": true})).await;
        assert_eq!(after["sets"], json!({}));
        assert_eq!(after["moreAvailable"], false);
        let started = std::time::Instant::now();
        let waiting = poll(&app, &client, &id, json!({"returnImmediately": false, "maxEvents": 10}));
        let change = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            expect_status(app.patch(&format!("/Users/{alice}"), &active(true)).await, StatusCode::OK).await;
        };
        let (answer, _) = tokio::join!(waiting, change);
        assert_eq!(answer["sets"].as_object().map(|s| s.len()), Some(1), "a long poll returns when an event arrives");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    async fn streams_are_managed_paused_narrowed_verified_and_deleted(app) {
        let client = app.app_client(true);
        let stream = create_stream(&app, &client, json!({"method": "urn:ietf:rfc:8936"})).await;
        let id = stream["stream_id"].as_str().expect("id").to_string();
        let read = expect_status(ssf(&app, &client, reqwest::Method::GET, &format!("/ssf/streams?stream_id={id}"), None).await, StatusCode::OK).await;
        assert_eq!(read["events_delivered"].as_array().map(Vec::len), Some(4));
        let other = app.app_client(false);
        assert_eq!(ssf(&app, &other, reqwest::Method::GET, &format!("/ssf/streams?stream_id={id}"), None).await.status(), StatusCode::FORBIDDEN);
        let updated = expect_status(ssf(&app, &client, reqwest::Method::PATCH, "/ssf/streams", Some(json!({"stream_id": id, "events_requested": [DISABLED]}))).await, StatusCode::OK).await;
        assert_eq!(updated["events_delivered"], json!([DISABLED]));

        let paused = json!({"stream_id": id, "status": "paused", "reason": "maintenance"});
        expect_status(ssf(&app, &client, reqwest::Method::POST, "/ssf/status", Some(paused)).await, StatusCode::OK).await;
        let alice = app.create_user("alice").await["id"].as_str().expect("id").to_string();
        let bob = app.create_user("bob").await["id"].as_str().expect("id").to_string();
        expect_status(app.patch(&format!("/Users/{alice}"), &active(false)).await, StatusCode::OK).await;
        assert_eq!(poll(&app, &client, &id, json!({"returnImmediately": true})).await["sets"], json!({}), "paused: held back");
        let status = expect_status(ssf(&app, &client, reqwest::Method::GET, &format!("/ssf/status?stream_id={id}"), None).await, StatusCode::OK).await;
        assert_eq!(status["status"], "paused");
        let enabled = json!({"stream_id": id, "status": "enabled"});
        expect_status(ssf(&app, &client, reqwest::Method::POST, "/ssf/status", Some(enabled)).await, StatusCode::OK).await;
        let held = poll(&app, &client, &id, json!({"returnImmediately": true})).await;
        assert_eq!(held["sets"].as_object().map(|s| s.len()), Some(1), "held events arrive once enabled");
        let acks: Vec<String> = held["sets"].as_object().expect("sets").keys().cloned().collect();
        poll(&app, &client, &id, json!({"ack": acks, "returnImmediately": true})).await;

        let subject = json!({"stream_id": id, "subject": {"format": "iss_sub", "iss": app.root, "sub": bob}});
        assert_eq!(ssf(&app, &client, reqwest::Method::POST, "/ssf/subjects:add", Some(subject)).await.status(), StatusCode::OK);
        let carol = app.create_user("carol").await["id"].as_str().expect("id").to_string();
        expect_status(app.patch(&format!("/Users/{carol}"), &active(false)).await, StatusCode::OK).await;
        expect_status(app.patch(&format!("/Users/{bob}"), &active(false)).await, StatusCode::OK).await;
        let narrowed = poll(&app, &client, &id, json!({"returnImmediately": true})).await;
        let tokens: Vec<&Value> = narrowed["sets"].as_object().expect("sets").values().collect();
        assert_eq!(tokens.len(), 1, "only the added subject");
        let claims = verified(&app, tokens[0].as_str().expect("token"), &client.id).await;
        assert_eq!(claims["sub_id"]["user"]["sub"], json!(bob));
        let acks: Vec<String> = narrowed["sets"].as_object().expect("sets").keys().cloned().collect();
        poll(&app, &client, &id, json!({"ack": acks, "returnImmediately": true})).await;

        let verify = json!({"stream_id": id, "state": "abc123"});
        assert_eq!(ssf(&app, &client, reqwest::Method::POST, "/ssf/verify", Some(verify)).await.status(), StatusCode::NO_CONTENT);
        let verification = poll(&app, &client, &id, json!({"returnImmediately": true})).await;
        let token = verification["sets"].as_object().and_then(|s| s.values().next().cloned()).expect("a verification SET");
        let claims = verified(&app, token.as_str().expect("token"), &client.id).await;
        assert_eq!(claims["events"][VERIFICATION]["state"], "abc123");

        assert_eq!(ssf(&app, &client, reqwest::Method::DELETE, &format!("/ssf/streams?stream_id={id}"), None).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(ssf(&app, &client, reqwest::Method::GET, &format!("/ssf/streams?stream_id={id}"), None).await.status(), StatusCode::NOT_FOUND);
    }
}
