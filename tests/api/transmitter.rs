//! A fake Shared Signals transmitter for the receiver's tests: it signs Security Event Tokens
//! (ES256 with a key made per test, RS256 with the fixture key), serves its JWKS, and answers
//! RFC 8936 polls from a queue, keeping the `ack` and `setErrs` it was sent.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

pub const ISSUER: &str = "https://transmitter.example.test";
pub const AUDIENCE: &str = "https://scimitar.example.test/ssf";
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const ACCOUNT_ENABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
pub const SESSIONS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An ES256 key: its PEM and its public JWK.
pub struct EcKey {
    pub kid: String,
    pem: String,
    pub jwk: Value,
}

impl EcKey {
    pub fn new(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        let raw = pair.public_key_raw();
        let (x, y) = raw[1..].split_at(32);
        Self {
            kid: kid.to_string(),
            pem: pair.serialize_pem(),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y), "kid": kid, "use": "sig", "alg": "ES256"}),
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("secevent+jwt".into());
        let key = EncodingKey::from_ec_pem(self.pem.as_bytes()).expect("EC PEM");
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    }
}

/// The fixture RSA key (`tests/fixtures/signals/transmitter-rsa.json`).
pub fn rsa_jwk() -> Value {
    rsa_fixture()["public_jwk"].clone()
}

fn rsa_fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/signals/transmitter-rsa.json")).expect("fixture")
}

pub fn sign_rs256(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("tx-rsa".into());
    header.typ = Some("secevent+jwt".into());
    let pem = rsa_fixture()["private_key_pem"]
        .as_str()
        .expect("pem")
        .to_string();
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// An unsigned JWT (`alg: none`) with these claims.
pub fn unsigned(claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "secevent+jwt"});
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// HS256 keyed with `secret`.
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("tx-1".into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret).expect("HMAC key"),
    )
    .expect("sign")
}

/// The claims of a SET with one event about `sub_id`.
pub fn set_claims(jti: &str, iat: i64, event_type: &str, sub_id: Value) -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "jti": jti, "iat": iat,
        "sub_id": sub_id,
        "events": {event_type: {"event_timestamp": iat, "initiating_entity": "admin"}},
    })
}

/// An `iss_sub` subject of the transmitter.
pub fn iss_sub(sub: &str) -> Value {
    json!({"format": "iss_sub", "iss": ISSUER, "sub": sub})
}

#[derive(Default)]
pub struct State {
    pub jwks: Vec<Value>,
    pub jwks_fetches: usize,
    pub queue: Vec<(String, String)>,
    pub acks: Vec<String>,
    pub errors: Map<String, Value>,
    pub polls: usize,
    pub authorizations: Vec<Option<String>>,
}

/// The running transmitter.
pub struct Transmitter {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    pub ec: EcKey,
    server: actix_web::dev::ServerHandle,
}

impl Transmitter {
    /// Serves `/jwks` (the EC key and the fixture RSA key) and `/poll`.
    pub fn start() -> Self {
        let ec = EcKey::new("tx-1");
        let state = Arc::new(Mutex::new(State {
            jwks: vec![ec.jwk.clone(), rsa_jwk()],
            ..State::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let shared = web::Data::new(state.clone());
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .route("/jwks", web::get().to(jwks))
                        .route("/poll", web::post().to(poll))
                })
                .workers(1)
                .listen(listener)
                .expect("listen")
                .run();
                let _ = sender.send(server.handle());
                let _ = server.await;
            })
        });
        let server = receiver.recv().expect("transmitter started");
        Self {
            url,
            state,
            ec,
            server,
        }
    }

    pub fn queue(&self, jti: &str, token: String) {
        self.state
            .lock()
            .expect("state")
            .queue
            .push((jti.to_string(), token));
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.lock().expect("state").jwks_fetches
    }
}

impl Drop for Transmitter {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn jwks(state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    let mut state = state.lock().expect("state");
    state.jwks_fetches += 1;
    HttpResponse::Ok().json(json!({"keys": state.jwks}))
}

async fn poll(
    state: web::Data<Arc<Mutex<State>>>,
    request: actix_web::HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let mut state = state.lock().expect("state");
    state.polls += 1;
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    state.authorizations.push(authorization);
    let acked: Vec<String> = body["ack"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    let errors = body["setErrs"].as_object().cloned().unwrap_or_default();
    state
        .queue
        .retain(|(jti, _)| !acked.contains(jti) && !errors.contains_key(jti));
    state.acks.extend(acked);
    state.errors.extend(errors);
    let max = body["maxEvents"].as_u64().unwrap_or(100) as usize;
    let sets: Map<String, Value> = state
        .queue
        .iter()
        .take(max)
        .map(|(jti, token)| (jti.clone(), Value::String(token.clone())))
        .collect();
    let more = state.queue.len() > max;
    HttpResponse::Ok().json(json!({"sets": sets, "moreAvailable": more}))
}
