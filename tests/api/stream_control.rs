//! A managed receiver against another vendor's transmitter, played here as the OpenID
//! Foundation's receiver test plans play it: an issuer with a path (well-known URLs by path
//! insertion), an RFC 8414 token endpoint that wants `client_secret_basic` and the `ssf.*`
//! scopes, a stream answered with a string `aud`. What the plans check of a receiver: no
//! transmitter-supplied field in the create request; a verification with another `state`
//! refused `invalid_state`, one naming another stream refused, an unsolicited one accepted; a
//! stream answered with another issuer never used (deleted); an expired token renewed once on
//! a 401; `stream-updated` recorded, and a paused stream flagged.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_status};
use crate::on_both_backends;
use crate::transmitter::EcKey;

const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";
const AUD: &str = "https://receiver.example.test/aud-assigned";

#[derive(Default)]
struct Seen {
    token_requests: Vec<(Option<String>, String)>,
    creates: Vec<Value>,
    patches: Vec<Value>,
    statuses: Vec<Value>,
    verifications: Vec<Value>,
    deletes: Vec<String>,
    /// Tokens the transmitter honours (cleared to make them expire).
    valid_tokens: Vec<String>,
    /// Answer stream creation with this `iss` instead of the issuer.
    foreign_iss: Option<String>,
    /// Name this issuer in the metadata instead.
    metadata_issuer: Option<String>,
    /// Answer a poll stream's creation with this endpoint.
    poll_endpoint: Option<String>,
    /// Answer metadata and token requests this late (each within the egress timeout).
    slow: Option<std::time::Duration>,
}

/// Waits as long as the transmitter is told to be slow.
async fn dawdle(shared: &Shared) {
    let slow = shared.0.lock().expect("seen").slow;
    if let Some(slow) = slow {
        actix_web::rt::time::sleep(slow).await;
    }
}

struct Foreign {
    issuer: String,
    seen: Arc<Mutex<Seen>>,
    key: EcKey,
    server: actix_web::dev::ServerHandle,
}

impl Drop for Foreign {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

type Shared = web::Data<(Arc<Mutex<Seen>>, String, Value)>;

fn authorized(seen: &Seen, request: &HttpRequest) -> bool {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    header
        .strip_prefix("Bearer ")
        .is_some_and(|t| seen.valid_tokens.iter().any(|v| v == t))
}

async fn metadata(shared: Shared) -> HttpResponse {
    dawdle(&shared).await;
    let (seen, issuer, _) = &**shared;
    let named = seen
        .lock()
        .expect("seen")
        .metadata_issuer
        .clone()
        .unwrap_or_else(|| issuer.clone());
    HttpResponse::Ok().json(json!({
        "spec_version": "1_0", "issuer": named, "jwks_uri": format!("{issuer}/jwks"),
        "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
        "configuration_endpoint": format!("{issuer}/streams"), "status_endpoint": format!("{issuer}/status"),
        "verification_endpoint": format!("{issuer}/verify"),
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
    }))
}

async fn as_metadata(shared: Shared) -> HttpResponse {
    dawdle(&shared).await;
    let (_, issuer, _) = &**shared;
    HttpResponse::Ok().json(json!({"issuer": issuer, "token_endpoint": format!("{issuer}/token"), "grant_types_supported": ["client_credentials"]}))
}

async fn token(shared: Shared, request: HttpRequest, body: String) -> HttpResponse {
    dawdle(&shared).await;
    let mut seen = shared.0.lock().expect("seen");
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    seen.token_requests.push((header.clone(), body));
    // client_secret_basic: "rx client" and "s3cret/+" form-encoded, then joined (RFC 6749 §2.3.1).
    if header.as_deref() != Some("Basic cngrY2xpZW50OnMzY3JldCUyRiUyQg==") {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let issued = format!("token-{}", seen.token_requests.len());
    seen.valid_tokens.push(issued.clone());
    HttpResponse::Ok()
        .json(json!({"access_token": issued, "token_type": "Bearer", "expires_in": 3600}))
}

async fn jwks(shared: Shared) -> HttpResponse {
    HttpResponse::Ok().json(json!({"keys": [shared.2.clone()]}))
}

async fn streams(
    shared: Shared,
    request: HttpRequest,
    body: Option<web::Json<Value>>,
) -> HttpResponse {
    let (seen, issuer, _) = &**shared;
    let mut seen = seen.lock().expect("seen");
    if !authorized(&seen, &request) {
        return HttpResponse::Unauthorized().finish();
    }
    let body = body.map(|b| b.into_inner()).unwrap_or(Value::Null);
    let iss = seen.foreign_iss.clone().unwrap_or_else(|| issuer.clone());
    let poll_endpoint = seen.poll_endpoint.clone();
    let config = |body: &Value| {
        let mut delivery = body["delivery"].clone();
        if let Some(url) = &poll_endpoint {
            delivery["endpoint_url"] = json!(url);
        }
        json!({
            "stream_id": "stream_1", "iss": iss, "aud": AUD, "delivery": delivery,
            "events_supported": body["events_requested"], "events_requested": body["events_requested"],
            "events_delivered": body["events_requested"], "description": body["description"],
        })
    };
    match *request.method() {
        actix_web::http::Method::POST => {
            seen.creates.push(body.clone());
            HttpResponse::Created().json(config(&body))
        }
        actix_web::http::Method::PATCH => {
            seen.patches.push(body.clone());
            HttpResponse::Ok().json(config(&body))
        }
        actix_web::http::Method::DELETE => {
            seen.deletes.push(request.query_string().to_string());
            HttpResponse::NoContent().finish()
        }
        _ => HttpResponse::MethodNotAllowed().finish(),
    }
}

async fn status(
    shared: Shared,
    request: HttpRequest,
    body: Option<web::Json<Value>>,
) -> HttpResponse {
    let mut seen = shared.0.lock().expect("seen");
    if !authorized(&seen, &request) {
        return HttpResponse::Unauthorized().finish();
    }
    match body {
        Some(body) => {
            seen.statuses.push(body.0.clone());
            HttpResponse::Ok().json(json!({"stream_id": "stream_1", "status": body["status"]}))
        }
        None => HttpResponse::Ok().json(json!({"stream_id": "stream_1", "status": "enabled"})),
    }
}

async fn verify(shared: Shared, request: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let mut seen = shared.0.lock().expect("seen");
    if !authorized(&seen, &request) {
        return HttpResponse::Unauthorized().finish();
    }
    seen.verifications.push(body.0);
    HttpResponse::NoContent().finish()
}

impl Foreign {
    fn start() -> Self {
        let key = EcKey::new("foreign-1");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let root = format!("http://{}", listener.local_addr().expect("address"));
        let issuer = format!("{root}/t1");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = web::Data::new((seen.clone(), issuer.clone(), key.jwk.clone()));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .route("/.well-known/ssf-configuration/t1", web::get().to(metadata))
                        .route(
                            "/.well-known/oauth-authorization-server/t1",
                            web::get().to(as_metadata),
                        )
                        .route("/t1/token", web::post().to(token))
                        .route("/t1/jwks", web::get().to(jwks))
                        .route("/t1/streams", web::route().to(streams))
                        .route("/t1/status", web::route().to(status))
                        .route("/t1/verify", web::post().to(verify))
                })
                .workers(1)
                .listen(listener)
                .expect("listen")
                .run();
                let _ = sender.send(server.handle());
                let _ = server.await;
            })
        });
        let server = receiver.recv().expect("started");
        Self {
            issuer,
            seen,
            key,
            server,
        }
    }

    fn seen<T>(&self, read: impl FnOnce(&mut Seen) -> T) -> T {
        read(&mut self.seen.lock().expect("seen"))
    }

    /// A SET about the stream, signed by this transmitter.
    fn set(&self, jti: &str, event_type: &str, event: Value, stream_id: &str) -> String {
        let iat = chrono::Utc::now().timestamp();
        self.key.sign(&json!({
            "iss": self.issuer, "aud": AUD, "jti": jti, "iat": iat,
            "sub_id": {"format": "opaque", "id": stream_id},
            "events": {event_type: event},
        }))
    }
}

fn stream_body(foreign: &Foreign) -> Value {
    json!({"issuer": foreign.issuer, "delivery": {"method": "urn:ietf:rfc:8935"},
           "stream": {"client_id": "rx client", "client_secret": "s3cret/+"}})
}

async fn push(app: &TestApp, url: &str, authorization: &str, token: String) -> (StatusCode, Value) {
    let response = app
        .client
        .post(url)
        .header("authorization", authorization)
        .header("content-type", "application/secevent+jwt")
        .body(token)
        .send()
        .await
        .expect("push");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

on_both_backends! {
    async fn a_managed_receiver_follows_ssf_with_another_vendors_transmitter(app) {
        let (admin, foreign) = (app.admin_token(), Foreign::start());
        let created = app.admin(&admin, Method::POST, "/signal-receivers").header("content-type", "application/json")
            .body(stream_body(&foreign).to_string()).send().await.expect("create");
        let created = expect_status(created, StatusCode::CREATED).await;
        let id = created["id"].as_str().unwrap_or_default().to_string();
        assert_eq!(created["audience"], json!([AUD]), "the aud the transmitter assigned");
        assert_eq!(created["jwks_uri"], json!(format!("{}/jwks", foreign.issuer)));

        let (token_request, create, verification) = foreign.seen(|s| (s.token_requests[0].clone(), s.creates[0].clone(), s.verifications[0].clone()));
        assert!(token_request.1.contains("grant_type=client_credentials") && token_request.1.contains("scope=ssf.manage+ssf.read"), "{token_request:?}");
        for supplied in ["stream_id", "iss", "aud", "events_supported", "events_delivered", "min_verification_interval", "inactivity_timeout"] {
            assert!(create.get(supplied).is_none(), "the receiver sent the transmitter-supplied `{supplied}`: {create}");
        }
        let push_url = format!("{}/ssf/v1/receive/{id}", app.root);
        assert_eq!(create["delivery"]["endpoint_url"], json!(push_url));
        let authorization = create["delivery"]["authorization_header"].as_str().unwrap_or_default().to_string();
        assert!(authorization.starts_with("Bearer ssfpush_"));
        assert!(create["events_requested"].as_array().is_some_and(|e| !e.is_empty()));
        assert_eq!(verification["stream_id"], "stream_1");
        let state = verification["state"].as_str().unwrap_or_default().to_string();
        assert!(state.len() >= 16, "an unguessable state: {state}");
        let stored = crate::group_commit::texts(&app.store, "SELECT stream_credential AS text FROM ssf_receivers");
        assert!(!stored.iter().any(|c| c.contains("s3cret")), "sealed at rest: {stored:?}");

        // A verification with another state, or about another stream, is refused.
        let (status, body) = push(&app, &push_url, &authorization, foreign.set("v-wrong", VERIFICATION, json!({"state": "guessed"}), "stream_1")).await;
        assert_eq!((status, body["err"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_state")));
        let (status, body) = push(&app, &push_url, &authorization, foreign.set("v-other", VERIFICATION, json!({"state": state}), "stream_2")).await;
        assert_eq!((status, body["err"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_request")));
        let pending = expect_status(app.admin(&admin, Method::GET, &format!("/signal-receivers/{id}")).send().await.expect("GET"), StatusCode::OK).await;
        assert!(pending["health"]["last_verification"].is_null() && pending["health"]["verification_pending_since"].is_string(), "{pending}");
        assert!(pending["health"]["last_error"]["message"].as_str().is_some_and(|m| m.contains("refused")), "{pending}");
        // The one asked for, and one the transmitter sends of its own accord, are accepted.
        let (status, _) = push(&app, &push_url, &authorization, foreign.set("v-right", VERIFICATION, json!({"state": state}), "stream_1")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let (status, _) = push(&app, &push_url, &authorization, foreign.set("v-own", VERIFICATION, json!({}), "stream_1")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let verified = expect_status(app.admin(&admin, Method::GET, &format!("/signal-receivers/{id}")).send().await.expect("GET"), StatusCode::OK).await;
        assert!(verified["health"]["last_verification"].is_string() && verified["health"]["verification_pending_since"].is_null(), "{verified}");
        // The state is spent: the same state again (a new jti) is refused.
        let (status, _) = push(&app, &push_url, &authorization, foreign.set("v-again", VERIFICATION, json!({"state": state}), "stream_1")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // The transmitter pauses the stream: recorded, shown and flagged.
        let (status, _) = push(&app, &push_url, &authorization, foreign.set("u-1", STREAM_UPDATED, json!({"status": "paused", "reason": "maintenance"}), "stream_1")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let paused = expect_status(app.admin(&admin, Method::GET, &format!("/signal-receivers/{id}")).send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!((paused["health"]["stream_status"].clone(), paused["health"]["stream_status_reason"].clone()), (json!("paused"), json!("maintenance")));
        let flags = expect_status(app.admin(&admin, Method::GET, "/flags").send().await.expect("flags"), StatusCode::OK).await;
        assert!(flags["flags"].as_array().into_iter().flatten().any(|f| f["kind"] == "signal_stream_interrupted" && f["subject"] == json!(id)), "{flags}");
        let (_, overview) = crate::console::Browser::signed_in(&app).await;
        assert!(overview.contains("<tr class=\"attention\">") && overview.contains("paused (maintenance)"), "the console shows it: {overview}");
        let (status, body) = push(&app, &push_url, &authorization, foreign.set("u-2", STREAM_UPDATED, json!({"status": "sleepy"}), "stream_1")).await;
        assert_eq!((status, body["err"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_request")));

        // An access token that expired early: one 401, a new token, the call goes through.
        foreign.seen(|s| s.valid_tokens.clear());
        let again = app.admin(&admin, Method::POST, &format!("/signal-receivers/{id}/verify")).send().await.expect("verify");
        let again = expect_status(again, StatusCode::OK).await;
        assert!(again["health"]["verification_pending_since"].is_string(), "{again}");
        assert_eq!(foreign.seen(|s| (s.token_requests.len(), s.verifications.len())), (2, 2));

        // Deleting the receiver deletes the stream.
        let deleted = app.admin(&admin, Method::DELETE, &format!("/signal-receivers/{id}")).send().await.expect("DELETE");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(foreign.seen(|s| s.deletes.clone()), vec!["stream_id=stream_1".to_string()]);
        let (status, _) = push(&app, &push_url, &authorization, foreign.set("late", VERIFICATION, json!({}), "stream_1")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a deleted receiver takes nothing");
    }

    async fn only_the_tenants_admin_can_ask_a_managed_stream_for_a_verification(app) {
        let (admin, foreign) = (app.admin_token(), Foreign::start());
        let created = app.admin(&admin, Method::POST, "/signal-receivers").header("content-type", "application/json")
            .body(stream_body(&foreign).to_string()).send().await.expect("create");
        let id = expect_status(created, StatusCode::CREATED).await["id"].as_str().unwrap_or_default().to_string();
        let asked = foreign.seen(|s| s.verifications.len());
        let client = app.app_client(true);
        app.token_for_new_tenant("other");
        let other_admin = scimitar::access::credentials::create(&app.store, Some("other"), "other-admin",
            scimitar::access::credentials::CredentialKind::Admin, chrono::Utc::now()).expect("admin").secret.expose().to_string();
        let url = format!("{}/admin/v1/signal-receivers/{id}/verify", app.root);
        for (who, request, refused) in [
            ("nobody", app.client.post(&url), vec![StatusCode::UNAUTHORIZED]),
            ("the SCIM credential", app.client.post(&url).bearer_auth(&app.token), vec![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN]),
            ("an app client", app.client.post(&url).basic_auth(&client.id, Some(&client.secret)), vec![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN]),
            ("another tenant's admin", app.client.post(&url).bearer_auth(&other_admin), vec![StatusCode::NOT_FOUND]),
        ] {
            let status = request.send().await.expect("verify").status();
            assert!(refused.contains(&status), "{who}: {status}");
        }
        assert_eq!(foreign.seen(|s| s.verifications.len()), asked, "nothing was sent to the transmitter");
        let ours = app.admin(&admin, Method::POST, &format!("/signal-receivers/{id}/verify")).send().await.expect("verify");
        assert_eq!(ours.status(), StatusCode::OK);
        assert_eq!(foreign.seen(|s| s.verifications.len()), asked + 1);
    }

    async fn a_stream_naming_another_issuer_is_deleted_and_never_used(app) {
        let (admin, foreign) = (app.admin_token(), Foreign::start());
        foreign.seen(|s| s.foreign_iss = Some("https://someone-else.example".into()));
        let response = app.admin(&admin, Method::POST, "/signal-receivers").header("content-type", "application/json")
            .body(stream_body(&foreign).to_string()).send().await.expect("create");
        let refused = expect_status(response, StatusCode::BAD_GATEWAY).await;
        assert!(refused["detail"].as_str().is_some_and(|d| d.contains("another issuer")), "{refused}");
        assert_eq!(foreign.seen(|s| (s.deletes.clone(), s.verifications.len())), (vec!["stream_id=stream_1".to_string()], 0));
        let listed = expect_status(app.admin(&admin, Method::GET, "/signal-receivers").send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(listed["receivers"], json!([]));
    }

    async fn a_poll_endpoint_the_egress_policy_refuses_is_deleted_and_never_polled(app) {
        let (admin, foreign) = (app.admin_token(), Foreign::start());
        foreign.seen(|s| s.poll_endpoint = Some("http://169.254.169.254/latest/meta-data".into()));
        let mut body = stream_body(&foreign);
        body["delivery"] = json!({"method": "urn:ietf:rfc:8936"});
        let response = app.admin(&admin, Method::POST, "/signal-receivers").header("content-type", "application/json")
            .body(body.to_string()).send().await.expect("create");
        let refused = expect_status(response, StatusCode::BAD_GATEWAY).await;
        assert!(refused["detail"].as_str().is_some_and(|d| d.contains("poll endpoint")), "{refused}");
        assert_eq!(foreign.seen(|s| s.deletes.clone()), vec!["stream_id=stream_1".to_string()], "not left at the transmitter");
        let listed = expect_status(app.admin(&admin, Method::GET, "/signal-receivers").send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(listed["receivers"], json!([]));
    }

    async fn a_transmitter_too_slow_to_create_the_stream_gets_a_502_in_time_and_leaves_nothing(app) {
        let (admin, foreign) = (app.admin_token(), Foreign::start());
        // Each answer within the egress timeout, all of them past the creation's deadline.
        foreign.seen(|s| s.slow = Some(std::time::Duration::from_secs(9)));
        let started = std::time::Instant::now();
        let response = app.admin(&admin, Method::POST, "/signal-receivers").header("content-type", "application/json")
            .body(stream_body(&foreign).to_string()).send().await.expect("create");
        let refused = expect_status(response, StatusCode::BAD_GATEWAY).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(40), "{:?}", started.elapsed());
        assert!(refused["detail"].as_str().is_some_and(|d| d.contains("within 25 s")), "{refused}");
        assert_eq!(foreign.seen(|s| s.creates.len()), 0);
        let listed = expect_status(app.admin(&admin, Method::GET, "/signal-receivers").send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(listed["receivers"], json!([]));
    }

    async fn metadata_naming_another_issuer_creates_nothing(app) {
        let (admin, foreign) = (app.admin_token(), Foreign::start());
        foreign.seen(|s| s.metadata_issuer = Some("https://impostor.example".into()));
        let response = app.admin(&admin, Method::POST, "/signal-receivers").header("content-type", "application/json")
            .body(stream_body(&foreign).to_string()).send().await.expect("create");
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(foreign.seen(|s| (s.token_requests.len(), s.creates.len())), (0, 0), "no credential sent to it");
    }

    async fn a_managed_stream_request_is_checked_before_anything_is_sent(app) {
        let (admin, foreign) = (app.admin_token(), Foreign::start());
        for (body, why) in [
            (json!({"issuer": foreign.issuer, "stream": {"client_id": "a"}}), "a client id without its secret"),
            (json!({"issuer": foreign.issuer, "stream": {"client_id": "a", "client_secret": "b", "authorization_header": "Bearer c"}}), "two credentials"),
            (json!({"issuer": foreign.issuer, "audience": "x", "stream": {"authorization_header": "Bearer c"}}), "an audience the transmitter assigns"),
            (json!({"issuer": foreign.issuer, "stream": {"authorization_header": "Bearer c", "stream_id": "mine"}}), "a transmitter-supplied field"),
            (json!({"issuer": foreign.issuer, "delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": "https://x.example/poll"}, "stream": {"authorization_header": "Bearer c"}}), "a poll endpoint of its own"),
            (json!({"issuer": foreign.issuer, "stream": {"authorization_header": "Bearer c", "token_endpoint": "http://169.254.169.254/token"}}), "a token endpoint the destination policy refuses"),
            (json!({"issuer": foreign.issuer, "stream": {"authorization_header": "Bearer c", "events_requested": []}}), "no events"),
        ] {
            let response = app.admin(&admin, Method::POST, "/signal-receivers").header("content-type", "application/json")
                .body(body.to_string()).send().await.expect("create");
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        }
        assert_eq!(foreign.seen(|s| (s.token_requests.len(), s.creates.len())), (0, 0));
    }
}
