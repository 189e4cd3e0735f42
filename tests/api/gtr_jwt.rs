//! Global Token Revocation by a signed JWT, as Okta Universal Logout sends it
//! (draft-parecki-oauth-global-token-revocation-06 §3.5): the caller's key set is served by
//! the test and fetched by Scimitar; only a JWT typed `global-token-revocation+jwt`, for the
//! endpoint's exact URL, from a configured (`iss`, `sub`), within its lifetime, is accepted,
//! and each `jti` once, on every replica. An employee's own ID token, signed by the same
//! issuer with the same key, ends nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;
use reqwest::StatusCode;
use scimitar::access::revocation_callers::{CallerKeys, RevocationCaller, RevocationCallers};
use scimitar::access::upstream::UserAttribute;
use scimitar::clock::Clock;
use serde_json::{Value, json};

use crate::gtr::{PATH, gtr, user_with_session};
use crate::helpers::{Backend, Options, TestApp, TestDb};

const OKTA: &str = "https://acme.okta.example";
const CLIENT_ID: &str = "0oa-scimitar";

/// The IdP's RSA key (test-only), and its public JWK served at `/oauth2/v1/keys`.
struct Okta {
    keys_url: String,
    fetches: Arc<AtomicUsize>,
    key: jsonwebtoken::EncodingKey,
}

async fn okta() -> Okta {
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/signals/transmitter-rsa.json"))
            .expect("fixture");
    let mut jwk = fixture["public_jwk"].clone();
    jwk["kid"] = json!("okta-1");
    let jwks = json!({"keys": [jwk]}).to_string();
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let router = axum::Router::new().route(
        "/oauth2/v1/keys",
        axum::routing::get(move || {
            let (jwks, counted) = (jwks.clone(), counted.clone());
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                jwks
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let pem = fixture["private_key_pem"].as_str().expect("pem");
    Okta {
        keys_url: format!("http://{address}/oauth2/v1/keys"),
        fetches,
        key: jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key"),
    }
}

impl Okta {
    /// A JWT with `typ` (none when `None`) and `claims`, signed RS256 with kid `okta-1`.
    fn sign(&self, typ: Option<&str>, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.typ = typ.map(String::from);
        header.kid = Some("okta-1".into());
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }

    /// What Okta sends: typed, for the endpoint, `nbf` five minutes back, `exp` five ahead.
    fn universal_logout(&self, app: &TestApp, jti: &str) -> String {
        self.sign(Some("global-token-revocation+jwt"), &okta_claims(app, jti))
    }
}

fn okta_claims(app: &TestApp, jti: &str) -> Value {
    let now = app.clock.now().timestamp();
    json!({"iss": OKTA, "sub": CLIENT_ID, "aud": format!("{}{PATH}", app.root), "jti": jti,
           "iat": now, "nbf": now - 300, "exp": now + 300})
}

fn caller(tenant_id: &str, client_id: &str, keys_url: &str) -> RevocationCaller {
    RevocationCaller {
        tenant_id: tenant_id.to_string(),
        issuer: OKTA.into(),
        client_id: client_id.into(),
        keys: CallerKeys::Uri(keys_url.to_string()),
        max_lifetime: Duration::seconds(300),
        user_attribute: UserAttribute::ExternalId,
        accept_untyped: false,
        completion_stream: None,
    }
}

fn options_calling(keys_url: &str, database_url: Option<String>) -> Options {
    let keys_url = keys_url.to_string();
    Options {
        access: Some(Arc::new(move |settings, tenant_id| {
            settings.revocation_callers =
                RevocationCallers::new(vec![caller(tenant_id, CLIENT_ID, &keys_url)])
                    .expect("one caller");
        })),
        database_url,
        ..Options::default()
    }
}

fn iss_sub(sub: &str) -> String {
    json!({"sub_id": {"format": "iss_sub", "iss": OKTA, "sub": sub}}).to_string()
}

async fn okta_universal_logout_is_accepted_once_and_nothing_else_is(backend: Backend) {
    let okta = okta().await;
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let app = TestApp::start(db, options_calling(&okta.keys_url, None));
    let client = app.app_client(true);
    let alice = json!({"userName": "alice", "externalId": "00u-alice", "emails": [{"value": "alice@acme.example"}]});
    let (_, alice_token) = user_with_session(&app, &client, alice).await;
    let bob = json!({"userName": "bob", "externalId": "00u-bob"});
    let (_, bob_token) = user_with_session(&app, &client, bob).await;
    let now = app.clock.now().timestamp();
    let endpoint = format!("{}{PATH}", app.root);
    let claims = |change: Value| {
        let mut claims = okta_claims(&app, "jti-refused");
        if let (Some(claims), Some(change)) = (claims.as_object_mut(), change.as_object()) {
            for (key, value) in change {
                match value {
                    Value::Null => claims.remove(key),
                    value => claims.insert(key.clone(), value.clone()),
                };
            }
        }
        claims
    };
    let typed = Some("global-token-revocation+jwt");
    let own_access_token = app.tokens_for(&client, "bob").await["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let refused: Vec<(&str, String)> = vec![
        // The hole: an employee's ID token, same issuer and key, audience Scimitar's client id.
        ("an employee's ID token", okta.sign(Some("JWT"), &json!({"iss": OKTA, "sub": "00u-bob", "aud": CLIENT_ID, "iat": now, "exp": now + 300}))),
        ("an ID token for the endpoint", okta.sign(Some("JWT"), &claims(json!({})))),
        ("an untyped JWT", okta.sign(None, &claims(json!({})))),
        ("another type", okta.sign(Some("at+jwt"), &claims(json!({})))),
        ("aud with a query", okta.sign(typed, &claims(json!({"aud": format!("{endpoint}?x=1")})))),
        ("aud of the issuer", okta.sign(typed, &claims(json!({"aud": app.root})))),
        ("two audiences", okta.sign(typed, &claims(json!({"aud": [endpoint, CLIENT_ID]})))),
        ("another client id", okta.sign(typed, &claims(json!({"sub": "0oa-other"})))),
        ("another issuer", okta.sign(typed, &claims(json!({"iss": "https://evil.example"})))),
        ("no jti", okta.sign(typed, &claims(json!({"jti": null})))),
        ("no iat", okta.sign(typed, &claims(json!({"iat": null})))),
        ("no exp", okta.sign(typed, &claims(json!({"exp": null})))),
        ("a ten-minute lifetime", okta.sign(typed, &claims(json!({"exp": now + 600})))),
        ("expired", okta.sign(typed, &claims(json!({"iat": now - 400, "exp": now - 100})))),
        ("issued in the future", okta.sign(typed, &claims(json!({"iat": now + 200, "exp": now + 400})))),
        ("Scimitar's own access token", own_access_token),
        ("exp at the end of time", okta.sign(typed, &claims(json!({"exp": i64::MAX})))),
        ("iat at the start of time", okta.sign(typed, &claims(json!({"iat": i64::MIN})))),
        ("a negative lifetime", okta.sign(typed, &claims(json!({"iat": now + 50, "exp": now + 10})))),
        ("an overlong jti", okta.sign(typed, &claims(json!({"jti": "j".repeat(257)})))),
        ("alg none", format!("{}.{}.", b64(&json!({"alg": "none", "typ": "global-token-revocation+jwt", "kid": "okta-1"})), b64(&claims(json!({}))))),
    ];
    for (why, jwt) in &refused {
        let response = gtr(&app, jwt, &iss_sub("00u-alice")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    }
    assert!(
        app.is_active(&client, &alice_token).await,
        "nothing was revoked"
    );
    assert!(app.is_active(&client, &bob_token).await);
    assert_eq!(
        okta.fetches.load(Ordering::SeqCst),
        1,
        "the key set is cached"
    );

    // What Okta sends: accepted, and alice's sessions end.
    let logout = okta.universal_logout(&app, "jti-1");
    let response = gtr(&app, &logout, &iss_sub("00u-alice")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!app.is_active(&client, &alice_token).await);
    assert!(
        app.is_active(&client, &bob_token).await,
        "only the named user"
    );

    // The same JWT again: refused (another replica: `a_replay_to_another_replica_is_refused`).
    let (_, alice_again) = user_with_session(
        &app,
        &client,
        json!({"userName": "alice2", "externalId": "00u-alice2"}),
    )
    .await;
    assert_eq!(
        gtr(&app, &logout, &iss_sub("00u-alice2")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        app.is_active(&client, &alice_again).await,
        "a replay ends nothing"
    );

    // The older `subject` body and an e-mail subject; an unknown subject learns nothing.
    let body = json!({"subject": {"format": "email", "email": "alice@acme.example"}}).to_string();
    assert_eq!(
        gtr(&app, &okta.universal_logout(&app, "jti-2"), &body)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let unknown = gtr(
        &app,
        &okta.universal_logout(&app, "jti-3"),
        &iss_sub("00u-nobody"),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NO_CONTENT, "no oracle");

    let metadata: Value = app
        .client
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            app.root
        ))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(
        metadata["global_token_revocation_endpoint_auth_methods_supported"],
        json!(["global-token-revocation+jwt", "Bearer"])
    );
}

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn okta_universal_logout_is_accepted_once_and_nothing_else_is_on_sqlite() {
    okta_universal_logout_is_accepted_once_and_nothing_else_is(Backend::Sqlite).await
}

#[tokio::test]
async fn okta_universal_logout_is_accepted_once_and_nothing_else_is_on_postgres() {
    okta_universal_logout_is_accepted_once_and_nothing_else_is(Backend::Postgres).await
}

/// A JWT's `jti` is kept in the database: a replay to another replica (same endpoint URL,
/// as behind a load balancer) is refused there.
async fn a_replay_to_another_replica_is_refused(backend: Backend) {
    let okta = okta().await;
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let app = TestApp::start(db, options_calling(&okta.keys_url, None));
    let client = app.app_client(true);
    let (_, token) = user_with_session(
        &app,
        &client,
        json!({"userName": "carol", "externalId": "00u-carol"}),
    )
    .await;
    let logout = okta.universal_logout(&app, "jti-replayed");
    // The replica's check runs in the store: record the jti as the first server did.
    let response = gtr(&app, &logout, &iss_sub("00u-nobody")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let replica = TestApp::start(
        TestDb::create(backend).expect("a second database handle"),
        Options {
            access: Some(Arc::new({
                let (keys_url, root) = (okta.keys_url.clone(), app.root.clone());
                move |settings, tenant_id| {
                    // The replica answers at the first server's public URL (a load balancer).
                    settings.issuer = root.clone();
                    settings.revocation_callers =
                        RevocationCallers::new(vec![caller(tenant_id, CLIENT_ID, &keys_url)])
                            .expect("one caller");
                }
            })),
            database_url: Some(app.database_url().to_string()),
            ..Options::default()
        },
    );
    let replayed = replica
        .client
        .post(format!("{}{PATH}", replica.root))
        .bearer_auth(&logout)
        .header("content-type", "application/json")
        .body(iss_sub("00u-carol"))
        .send()
        .await
        .expect("replay");
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    assert!(
        app.is_active(&client, &token).await,
        "the replay ended nothing"
    );
    let fresh = okta.universal_logout(&app, "jti-fresh");
    let accepted = replica
        .client
        .post(format!("{}{PATH}", replica.root))
        .bearer_auth(&fresh)
        .header("content-type", "application/json")
        .body(iss_sub("00u-carol"))
        .send()
        .await
        .expect("fresh");
    assert_eq!(
        accepted.status(),
        StatusCode::NO_CONTENT,
        "the replica accepts a new jti"
    );
    assert!(!app.is_active(&client, &token).await);
}

#[tokio::test]
async fn a_replay_to_another_replica_is_refused_on_sqlite() {
    a_replay_to_another_replica_is_refused(Backend::Sqlite).await
}

#[tokio::test]
async fn a_replay_to_another_replica_is_refused_on_postgres() {
    a_replay_to_another_replica_is_refused(Backend::Postgres).await
}

/// Two tenants trusting one IdP: each JWT's `sub` (the integration's client id) names its
/// tenant, and only that tenant's users lose their sessions, whatever the other holds.
async fn the_tenant_is_the_one_of_the_callers_client_id(backend: Backend) {
    use scimitar::access::credentials::{self, CredentialKind};
    let okta = okta().await;
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let url = scimitar::store::DatabaseUrl::parse(&db.url).expect("url");
    let store = scimitar::store::Store::open(&url, &scimitar::store::PoolSettings::default())
        .expect("open");
    let other_tenant = scimitar::tenancy::create(&store, "other", chrono::Utc::now())
        .expect("a second tenant")
        .id;
    let keys_url = okta.keys_url.clone();
    let other = other_tenant.clone();
    let options = Options {
        access: Some(Arc::new(move |settings, default_tenant| {
            settings.revocation_callers = RevocationCallers::new(vec![
                caller(default_tenant, CLIENT_ID, &keys_url),
                caller(&other, "0oa-other-tenant", &keys_url),
            ])
            .expect("two callers of one issuer, one client id each");
        })),
        ..Options::default()
    };
    let app = TestApp::start(db, options);
    let duplicate = RevocationCallers::new(vec![
        caller(&app.tenant_id, CLIENT_ID, &okta.keys_url),
        caller(&other_tenant, CLIENT_ID, &okta.keys_url),
    ]);
    assert!(
        duplicate.is_err(),
        "one caller naming two tenants is refused"
    );

    // dana in both tenants, with the same externalId, each with a session.
    let client = app.app_client(true);
    let (_, ours) = user_with_session(
        &app,
        &client,
        json!({"userName": "dana", "externalId": "00u-dana"}),
    )
    .await;
    let scim = credentials::create(
        &store,
        Some("other"),
        "other-idp",
        CredentialKind::Scim,
        chrono::Utc::now(),
    )
    .expect("a SCIM credential")
    .secret
    .expose()
    .to_string();
    let created = app
        .request_as(&scim, reqwest::Method::POST, "/Users")
        .header("content-type", "application/scim+json")
        .body(json!({"userName": "dana", "externalId": "00u-dana"}).to_string())
        .send()
        .await
        .expect("create");
    let theirs_id = crate::helpers::expect_status(created, StatusCode::CREATED).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let made = credentials::create_with(
        &store,
        Some("other"),
        "other-app",
        CredentialKind::App,
        true,
        chrono::Utc::now(),
    )
    .expect("an app of the other tenant");
    let their_client = crate::helpers::AppClient {
        id: made.client_id,
        secret: made.secret.expose().to_string(),
    };
    let theirs = app.tokens_for(&their_client, &theirs_id).await["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // The other integration's JWT ends the other tenant's dana, and not ours.
    let mut claims = okta_claims(&app, "jti-other");
    claims["sub"] = json!("0oa-other-tenant");
    let jwt = okta.sign(Some("global-token-revocation+jwt"), &claims);
    assert_eq!(
        gtr(&app, &jwt, &iss_sub("00u-dana")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!app.is_active(&their_client, &theirs).await, "their dana");
    assert!(
        app.is_active(&client, &ours).await,
        "our dana keeps her session"
    );
    let jwt = okta.universal_logout(&app, "jti-ours");
    assert_eq!(
        gtr(&app, &jwt, &iss_sub("00u-dana")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        !app.is_active(&client, &ours).await,
        "our dana, by our integration"
    );
}

#[tokio::test]
async fn the_tenant_is_the_one_of_the_callers_client_id_on_sqlite() {
    the_tenant_is_the_one_of_the_callers_client_id(Backend::Sqlite).await
}

#[tokio::test]
async fn the_tenant_is_the_one_of_the_callers_client_id_on_postgres() {
    the_tenant_is_the_one_of_the_callers_client_id(Backend::Postgres).await
}

/// Spent `jti`s are kept while their JWT could be valid and pruned after: the replayed JWT
/// is refused before the pruning (spent) and after it (expired).
async fn spent_jtis_are_pruned_once_their_jwt_has_expired(backend: Backend) {
    let okta = okta().await;
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let app = TestApp::start(db, options_calling(&okta.keys_url, None));
    let logout = okta.universal_logout(&app, "jti-pruned");
    assert_eq!(
        gtr(&app, &logout, &iss_sub("00u-nobody")).await.status(),
        StatusCode::NO_CONTENT
    );
    let early = scimitar::access::sweeper::sweep(&app.access).expect("sweep");
    assert_eq!(early.revocation_jtis_purged, 0, "still valid: kept");
    assert_eq!(
        gtr(&app, &logout, &iss_sub("00u-nobody")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.clock.advance(Duration::minutes(10));
    let later = scimitar::access::sweeper::sweep(&app.access).expect("sweep");
    assert_eq!(later.revocation_jtis_purged, 1);
    assert_eq!(
        gtr(&app, &logout, &iss_sub("00u-nobody")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn spent_jtis_are_pruned_once_their_jwt_has_expired_on_sqlite() {
    spent_jtis_are_pruned_once_their_jwt_has_expired(Backend::Sqlite).await
}

#[tokio::test]
async fn spent_jtis_are_pruned_once_their_jwt_has_expired_on_postgres() {
    spent_jtis_are_pruned_once_their_jwt_has_expired(Backend::Postgres).await
}

/// draft-parecki-oauth-global-token-revocation-06 §5: once the revocation is done, the
/// caller's own stream at Scimitar's transmitter hears a CAEP `session-revoked` naming the
/// subject as the caller named it; no other stream hears that notification.
async fn the_caller_is_told_on_its_stream_when_the_revocation_is_done(backend: Backend) {
    let okta = okta().await;
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let url = scimitar::store::DatabaseUrl::parse(&db.url).expect("url");
    let store = scimitar::store::Store::open(&url, &scimitar::store::PoolSettings::default())
        .expect("open");
    // The IdP's stream (as a Shared Signals receiver of Scimitar), made before the server
    // starts so the caller's configuration can name it.
    let idp = scimitar::access::credentials::create_with(
        &store,
        None,
        "okta-ssf",
        scimitar::access::credentials::CredentialKind::App,
        false,
        chrono::Utc::now(),
    )
    .expect("the IdP's app credential");
    let idp_client = crate::helpers::AppClient {
        id: idp.client_id.clone(),
        secret: idp.secret.expose().to_string(),
    };
    drop(store);
    let stream_cell = Arc::new(std::sync::Mutex::new(String::new()));
    let (keys_url, cell) = (okta.keys_url.clone(), stream_cell.clone());
    let options = Options {
        access: Some(Arc::new(move |settings, tenant_id| {
            let mut with_completion = caller(tenant_id, CLIENT_ID, &keys_url);
            with_completion.completion_stream =
                Some(cell.lock().map(|s| s.clone()).unwrap_or_default());
            settings.revocation_callers =
                RevocationCallers::new(vec![with_completion]).expect("callers");
        })),
        ..Options::default()
    };
    // The stream id is known only once a server runs: start one to create it, then the server
    // under test with the caller naming it.
    let setup = TestApp::start(
        TestDb::create(backend).expect("handle"),
        Options {
            database_url: Some(db.url.clone()),
            ..Options::default()
        },
    );
    let poll = |app: &TestApp, client: &crate::helpers::AppClient| {
        app.client.post(format!("{}/ssf/streams", app.root)).basic_auth(&client.id, Some(&client.secret))
            .json(&json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]}))
            .send()
    };
    let created = crate::helpers::expect_status(
        poll(&setup, &idp_client).await.expect("stream"),
        StatusCode::CREATED,
    )
    .await;
    *stream_cell.lock().expect("lock") = created["stream_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    drop(setup);
    let app = TestApp::start(db, options);
    let other_app = app.app_client(false);
    let other = crate::helpers::expect_status(
        poll(&app, &other_app).await.expect("stream"),
        StatusCode::CREATED,
    )
    .await;
    let client = app.app_client(true);
    let (_, token) = user_with_session(
        &app,
        &client,
        json!({"userName": "erin", "externalId": "00u-erin"}),
    )
    .await;
    let logout = okta.universal_logout(&app, "jti-completion");
    assert_eq!(
        gtr(&app, &logout, &iss_sub("00u-erin")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!app.is_active(&client, &token).await);
    let stream_id = stream_cell.lock().expect("lock").clone();
    let completions = |sets: &[Value]| {
        sets.iter()
            .filter(|c| c["sub_id"] == json!({"format": "iss_sub", "iss": OKTA, "sub": "00u-erin"}))
            .count()
    };
    let idp_sets = polled(&app, &idp_client, &stream_id).await;
    assert_eq!(completions(&idp_sets), 1, "{idp_sets:?}");
    let other_sets = polled(
        &app,
        &other_app,
        other["stream_id"].as_str().unwrap_or_default(),
    )
    .await;
    assert_eq!(
        completions(&other_sets),
        0,
        "only the caller's stream: {other_sets:?}"
    );
    assert!(
        !other_sets.is_empty(),
        "the other stream still hears the session's end"
    );
    // Nor does any app's revocation feed carry it (the caller's subject is the caller's).
    let feed: Value = app
        .get_as_app(&other_app, "/events/v1/revocations")
        .await
        .json()
        .await
        .expect("the feed");
    let kinds: Vec<&str> = feed["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(kinds.contains(&"session.revoked"), "{kinds:?}");
    assert!(
        !kinds.iter().any(|k| k.contains("global_token_revocation")),
        "{kinds:?}"
    );
    assert!(!feed.to_string().contains("00u-erin"), "{feed}");
}

/// The claims of the SETs a poll stream holds.
async fn polled(app: &TestApp, client: &crate::helpers::AppClient, stream: &str) -> Vec<Value> {
    for _ in 0..50 {
        let response = app
            .client
            .post(format!("{}/ssf/poll/{stream}", app.root))
            .basic_auth(&client.id, Some(&client.secret))
            .json(&json!({"returnImmediately": true}))
            .send()
            .await
            .expect("poll");
        let answer = crate::helpers::expect_status(response, StatusCode::OK).await;
        let sets: Vec<Value> = answer["sets"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, t)| t.as_str())
            .map(crate::helpers::jwt_claims)
            .collect();
        if !sets.is_empty() {
            return sets;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn the_caller_is_told_on_its_stream_when_the_revocation_is_done_on_sqlite() {
    the_caller_is_told_on_its_stream_when_the_revocation_is_done(Backend::Sqlite).await
}

#[tokio::test]
async fn the_caller_is_told_on_its_stream_when_the_revocation_is_done_on_postgres() {
    the_caller_is_told_on_its_stream_when_the_revocation_is_done(Backend::Postgres).await
}
