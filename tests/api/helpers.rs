//! Test harness: a real Scimitar server on a random port, on a fresh database of either
//! backend, and an HTTP client that speaks to it.
//!
//! Postgres: `SCIMITAR_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`)
//! names a database to connect to for creating one fresh database per test. When it cannot be
//! reached the Postgres tests skip with a message, except under `CI=true`, where they fail.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use chrono::Utc;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use scimitar::access::credentials::{self, CredentialKind};
use scimitar::access::keys::{KeyRing, KeySecret};
use scimitar::access::limits::{LimitSettings, Limits};
use scimitar::access::policy::Policies;
use scimitar::access::{AccessService, AccessSettings};
use scimitar::clock::{Clock, ManualClock};
use scimitar::egress::{Destinations, Egress};
use scimitar::http::{self, AppState, ServerSettings};
use scimitar::scim::ScimService;
use scimitar::scim::list::PageLimits;
use scimitar::scim::schema::Registry;
use scimitar::store::{DatabaseUrl, PoolSettings, Store};
use serde_json::Value;
use tempfile::TempDir;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each test once and runs it on both backends, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($( $(#[$meta:meta])* async fn $name:ident($app:ident) $body:block )*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                #[allow(unused_mut)]
                async fn run(mut $app: $crate::helpers::TestApp) $body

                #[tokio::test]
                async fn sqlite() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await {
                        run(app).await
                    }
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await {
                        run(app).await
                    }
                }
            }
        )*
    };
}

/// The Postgres server to create test databases on, or `None` (with a message) to skip.
pub fn postgres_admin_url() -> Option<&'static str> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("SCIMITAR_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
        match PgConnection::establish(&url) {
            Ok(_) => Some(url),
            Err(error) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true but Postgres at {url} cannot be reached: {error}")
            }
            Err(error) => {
                // Written past the test harness's capture so the skip is visible.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** Postgres at {url} is unreachable ({error}); Postgres tests are SKIPPED. \
                     Set SCIMITAR_TEST_POSTGRES_URL to run them. ***\n"
                );
                None
            }
        }
    })
    .as_deref()
}

/// A fresh, empty database, removed when dropped.
pub struct TestDb {
    pub url: String,
    _dir: Option<TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = dir.path().join("scimitar.db").display().to_string();
                Some(Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url()?;
                let name = format!("scimitar_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(admin).expect("connect to Postgres");
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .expect("create database");
                let url = replace_database(admin, &name);
                Some(Self {
                    url,
                    _dir: None,
                    postgres: Some((admin.to_string(), name)),
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = diesel::sql_query(drop).execute(&mut conn);
        }
    }
}

/// The same server URL with another database name.
pub fn replace_database(url: &str, database: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = before_query.find("://").map_or(0, |i| i + 3);
    let path_start = before_query[scheme_end..]
        .find('/')
        .map_or(before_query.len(), |i| scheme_end + i);
    format!("{}/{database}{query}", &before_query[..path_start])
}

/// Adjusts the token service's settings; gets the default tenant's id.
pub type ConfigureAccess = Arc<dyn Fn(&mut AccessSettings, &str) + Send + Sync>;

/// Knobs for tests that need a server configured differently.
#[derive(Clone)]
pub struct Options {
    pub max_body_bytes: usize,
    pub db_timeout: Duration,
    /// Connect the server through this URL instead of the test database's own.
    pub database_url: Option<String>,
    pub max_page_size: i64,
    /// Adjusts the token service's settings; gets the default tenant's id.
    pub access: Option<ConfigureAccess>,
    /// Deprovisioning burst threshold and window (the default: 100 in five minutes).
    pub burst: Option<(usize, chrono::Duration)>,
    /// Rate limits (the default: none, as the test clock stands still).
    pub limits: Option<LimitSettings>,
    /// Take the client address from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// Where outbound requests may go (the default: loopback too, where test peers listen).
    pub outbound: Destinations,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            db_timeout: Duration::from_secs(5),
            database_url: None,
            max_page_size: 1000,
            access: None,
            burst: None,
            limits: None,
            trust_forwarded_for: false,
            outbound: Destinations::allowing(&["127.0.0.0/8", "::1"]).expect("loopback"),
        }
    }
}

pub struct TestApp {
    /// The SCIM base URL, e.g. `http://127.0.0.1:PORT/scim/v2`.
    pub base: String,
    /// Scheme, host and port.
    pub root: String,
    /// Bearer token of a SCIM credential of the default tenant.
    pub token: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub access: AccessService,
    /// Id of the default tenant.
    pub tenant_id: String,
    /// Every non-SCIM response of this server, checked against the OpenAPI document.
    pub contract: Arc<crate::contract::Contract>,
    server: ServerHandle,
    _db: TestDb,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> Option<Self> {
        let db = TestDb::create(backend)?;
        Some(Self::start(db, options))
    }

    pub fn start(db: TestDb, options: Options) -> Self {
        let url = DatabaseUrl::parse(options.database_url.as_deref().unwrap_or(&db.url))
            .expect("database URL");
        let pool = PoolSettings {
            max_connections: 4,
            acquire_timeout: options.db_timeout,
            ..PoolSettings::default()
        };
        let store = Store::open(&url, &pool).expect("open the store");
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let token = credentials::create(&store, None, "test-idp", CredentialKind::Scim, Utc::now())
            .expect("create a credential")
            .secret
            .expose()
            .to_string();
        let registry = Arc::new(Registry::load().expect("schemas"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
        let port = listener.local_addr().expect("local address").port();
        let root = format!("http://127.0.0.1:{port}");
        let tenant_id = store
            .read(|conn| scimitar::store::tenants::find(conn, "default"))
            .expect("read tenants")
            .expect("the default tenant")
            .id;
        let mut settings = AccessSettings {
            issuer: root.clone(),
            policies: Policies::default(),
            refresh_retry_window: chrono::Duration::seconds(10),
            session_retention: chrono::Duration::days(30),
            trusted_issuers: Default::default(),
            revocation_callers: Default::default(),
        };
        if let Some(configure) = &options.access {
            configure(&mut settings, &tenant_id);
        }
        // Replicas of one database share their token key file, as in production.
        let secret: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(format!("{url:?}").as_bytes()).into()
        };
        let keys = KeyRing::open(&store, KeySecret::from_bytes(secret), clock.now())
            .expect("signing keys");
        let access = AccessService::new(store.clone(), clock.clone(), Arc::new(keys), settings);
        let limits = PageLimits {
            default_count: 100,
            max_count: options.max_page_size,
        };
        let scim = match options.burst {
            Some((threshold, window)) => {
                ScimService::new(store.clone(), registry, clock.clone(), limits)
                    .with_burst_limit(threshold, window)
            }
            None => ScimService::new(store.clone(), registry, clock.clone(), limits),
        };
        let egress = Egress::new(options.outbound.clone(), Duration::from_secs(10));
        let horizon = Duration::from_secs(3600);
        let revocations =
            scimitar::signals::revocation_view::RevocationView::new(clock.clone(), horizon);
        let follow_store = store.clone();
        let state = AppState {
            signals: scimitar::signals::receiver::Receiver::new(
                scim.clone(),
                egress.clone(),
                access.keys().sealer(),
            ),
            caller_keys: Arc::default(),
            observability: Default::default(),
            revocations: revocations.clone(),
            scim,
            store: store.clone(),
            clock: clock.clone(),
            public_url: None,
            max_body_bytes: options.max_body_bytes,
            auth_failures: Arc::default(),
            limits: Arc::new(match options.limits {
                Some(settings) => Limits::new(settings, clock.clone()),
                None => Limits::unlimited(clock.clone()),
            }),
            trust_forwarded_for: options.trust_forwarded_for,
            ssf: scimitar::signals::ssf::Transmitter::new(
                store.clone(),
                access.keys_shared(),
                &root,
                clock.clone(),
                egress.clone(),
            ),
            egress,
            access: access.clone(),
            console: scimitar::access::operator_sessions::SessionLimits {
                idle: chrono::Duration::minutes(30),
                lifetime: chrono::Duration::hours(12),
            },
        };
        let transmitter = state.ssf.clone();
        let poller = scimitar::signals::receiver::poller::run(state.signals.clone());
        let contract = Arc::new(crate::contract::Contract::default());
        let settings = ServerSettings {
            max_body_bytes: options.max_body_bytes,
            workers: Some(1),
            tls: None,
            request_timeout: Duration::from_secs(60),
            observer: Some(contract.observer()),
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = http::server(state, &settings, listener).expect("build the server");
                actix_web::rt::spawn(transmitter.run());
                actix_web::rt::spawn(poller);
                actix_web::rt::spawn(revocations.follow(follow_store, horizon));
                let _ = sender.send(server.handle());
                let _ = server.await;
            })
        });
        let server = receiver.recv().expect("server started");
        Self {
            base: format!("{root}/scim/v2"),
            root,
            token,
            client: crate::helpers::http_client(),
            store,
            clock,
            access,
            tenant_id,
            contract,
            server,
            _db: db,
        }
    }

    /// The URL of the test database, for running the CLI against it.
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    /// A request to a path under the SCIM base URL, authenticated with the default token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.token, method, path)
    }

    /// A request under the SCIM base URL with another bearer token.
    pub fn request_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PUT, path, body).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("DELETE")
    }

    async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    /// Creates a user and returns its representation.
    pub async fn create_user(&self, user_name: &str) -> Value {
        let response = self
            .post("/Users", &serde_json::json!({"userName": user_name}))
            .await;
        expect_status(response, StatusCode::CREATED).await
    }

    pub async fn create_group(&self, display_name: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members
            .iter()
            .map(|id| serde_json::json!({"value": id}))
            .collect();
        let body = serde_json::json!({"displayName": display_name, "members": members});
        expect_status(self.post("/Groups", &body).await, StatusCode::CREATED).await
    }

    /// A second SCIM token, for a tenant created for the test.
    pub fn token_for_new_tenant(&self, tenant: &str) -> String {
        scimitar::tenancy::create(&self.store, tenant, Utc::now()).expect("create a tenant");
        credentials::create(
            &self.store,
            Some(tenant),
            "other-idp",
            CredentialKind::Scim,
            Utc::now(),
        )
        .expect("create a credential")
        .secret
        .expose()
        .to_string()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the server's own thread completes it.
        drop(self.server.stop(false));
        let failures = self.contract.failures();
        // Not while a test is already failing: its own message matters more.
        if !failures.is_empty() && !std::thread::panicking() {
            panic!(
                "responses that do not match the OpenAPI document (/openapi.json):\n{}",
                failures.join("\n")
            );
        }
    }
}

/// Asserts the status and returns the JSON body.
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let body = response.text().await.expect("response body");
    assert_eq!(actual, status, "unexpected status; body: {body}");
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).expect("a JSON body")
    }
}

/// Asserts a SCIM error response (RFC 7644 §3.12) and returns its body.
pub async fn expect_scim_error(
    response: Response,
    status: StatusCode,
    scim_type: Option<&str>,
) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    assert_eq!(
        content_type.as_deref(),
        Some("application/scim+json"),
        "error content type"
    );
    let body = expect_status(response, status).await;
    assert_eq!(
        body["schemas"],
        serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{body}"
    );
    assert_eq!(
        body["status"],
        Value::String(status.as_u16().to_string()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert_eq!(
        body.get("scimType").and_then(Value::as_str),
        scim_type,
        "{body}"
    );
    body
}

pub fn id_of(resource: &Value) -> String {
    resource["id"].as_str().expect("an id").to_string()
}

/// A group's member ids, sorted.
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["value"].as_str().map(String::from))
        .collect();
    ids.sort();
    ids
}

/// Ids, sorted, to compare with `member_ids`.
pub fn sorted<S: AsRef<str>>(ids: &[S]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.as_ref().to_string()).collect();
    ids.sort();
    ids
}

/// An app client of the default tenant: its id and secret.
#[derive(Debug, Clone)]
pub struct AppClient {
    pub id: String,
    pub secret: String,
}

impl TestApp {
    /// A new app client of the default tenant; trusted ones may name users directly.
    pub fn app_client(&self, trusted: bool) -> AppClient {
        let created = credentials::create_with(
            &self.store,
            None,
            "test-app",
            CredentialKind::App,
            trusted,
            Utc::now(),
        )
        .expect("create an app client");
        AppClient {
            id: created.client_id,
            secret: created.secret.expose().to_string(),
        }
    }

    /// A bearer token of an admin credential of the default tenant.
    pub fn admin_token(&self) -> String {
        credentials::create(
            &self.store,
            None,
            "test-admin",
            CredentialKind::Admin,
            Utc::now(),
        )
        .expect("create an admin credential")
        .secret
        .expose()
        .to_string()
    }

    /// POSTs a form to an OAuth endpoint (`/oauth2/token`, …) as `client`.
    pub async fn oauth(
        &self,
        client: &AppClient,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> Response {
        self.client
            .post(format!("{}/oauth2/{endpoint}", self.root))
            .basic_auth(&client.id, Some(&client.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("form"))
            .send()
            .await
            .expect("OAuth request")
    }

    /// Tokens for a user named directly (a trusted client's exchange): the token response.
    pub async fn tokens_for(&self, client: &AppClient, user: &str) -> Value {
        let form = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", user),
            (
                "subject_token_type",
                "urn:scimitar:params:oauth:token-type:scim-user",
            ),
        ];
        expect_status(self.oauth(client, "token", &form).await, StatusCode::OK).await
    }

    /// A refresh: the token response, or the error response.
    pub async fn refresh(&self, client: &AppClient, refresh_token: &str) -> Response {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.oauth(client, "token", &form).await
    }

    /// The introspection answer for a token.
    pub async fn introspect(&self, client: &AppClient, token: &str) -> Value {
        expect_status(
            self.oauth(client, "introspect", &[("token", token)]).await,
            StatusCode::OK,
        )
        .await
    }

    /// Whether introspection calls the token active.
    pub async fn is_active(&self, client: &AppClient, token: &str) -> bool {
        self.introspect(client, token).await["active"] == Value::Bool(true)
    }

    /// A request to the admin API with `token`.
    pub fn admin(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}/admin/v1{path}", self.root))
            .bearer_auth(token)
    }

    /// Maps a group (selector as in `roles map --group`) to roles through the admin API.
    pub async fn map_role(&self, admin: &str, group: &str, roles: &[&str]) -> Value {
        let body = serde_json::json!({"group": group, "roles": roles});
        let response = self
            .admin(admin, Method::POST, "/role-mappings")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("map a role");
        expect_status(response, StatusCode::CREATED).await
    }

    /// A GET of a path outside the SCIM base (e.g. `/events/v1/revocations`) as an app client.
    pub async fn get_as_app(&self, client: &AppClient, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.root))
            .basic_auth(&client.id, Some(&client.secret))
            .send()
            .await
            .expect("GET")
    }

    /// Sends a PATCH with a raw body to a SCIM path.
    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PATCH, path, body).await
    }
}

/// An HTTP client for talking to test servers: plain HTTP, so it skips loading the system's
/// certificate roots (tens of milliseconds per client, on every test).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only(Vec::<reqwest::Certificate>::new())
        .build()
        .expect("HTTP client")
}

/// A JSON value as a JWT segment (base64url, no padding), for tests that forge tokens.
pub fn b64_json(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A JWT's claims, read without verifying it (for tests that inspect what was sent).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}
