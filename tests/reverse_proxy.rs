//! nginx in front of an app, with Scimitar's forward auth (`/auth/v1/forward`), end to end:
//! the real `scimitar` binary, an app client made with the CLI, a trivial upstream app that
//! echoes the `X-Scimitar-*` headers it receives, and Debian's nginx running the
//! configuration of `docs/proxies/nginx.conf` itself (its placeholders replaced), so the
//! documented file and this test cannot drift apart.
//!
//! Through nginx: a valid token passes and the app sees the user's id; identity headers sent
//! by the client never reach the app; a user deactivated over SCIM, a token revoked by RFC
//! 7009, a forged, an expired token and a request without one are refused with 401.
//!
//! Without `/usr/sbin/nginx` the test is skipped with a message, except under `CI=true`,
//! where it fails (`.ci/run` installs Debian's `nginx`).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const NGINX: &str = "/usr/sbin/nginx";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// How long a revocation may take to reach nginx's answers.
const REFUSED_WITHIN: Duration = Duration::from_secs(2);

/// `scimitar serve` on a fresh SQLite database in `dir`: the process, its root URL, the SCIM
/// base URL and the bootstrap SCIM token it printed.
struct Server {
    _child: tokio::process::Child,
    root: String,
    scim: String,
    token: String,
}

async fn serve(dir: &Path, database: &str) -> Server {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimitar"));
    command
        .current_dir(dir)
        .args(["serve", "--bind", "127.0.0.1:0", "--database", database])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("scimitar.log")).expect("log file"),
        ))
        .kill_on_drop(true);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
        command.env_remove(key);
    }
    // Reached only through the proxy, as docs/protecting-apps.md advises for this set-up.
    command.env("SCIMITAR_TRUST_FORWARDED_FOR", "true");
    let mut child = command.spawn().expect("spawn scimitar serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut token, mut root) = (None, None);
    let scim = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(printed) = line.strip_prefix("SCIM bearer token: ") {
                token = Some(printed.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("Scimitar is listening on ") {
                root = Some(url.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("SCIM base URL (tenant URL for Okta or Entra): ") {
                return url.trim().to_string();
            }
        }
        panic!("scimitar serve did not start")
    })
    .await
    .expect("scimitar serve starts");
    // Keep reading: a closed stdout would make the server's next line fail.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server {
        _child: child,
        root: root.expect("the listening address is printed"),
        scim,
        token: token.expect("a first start prints a SCIM token"),
    }
}

/// `scimitar client create --name portal --kind app --trusted`: (client id, secret).
fn app_client(dir: &Path, database: &str) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_scimitar"))
        .current_dir(dir)
        .args(["client", "create", "--name", "portal", "--kind", "app"])
        .args(["--trusted", "--database", database])
        .output()
        .expect("run scimitar client create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let text = |key: &str| created[key].as_str().expect(key).to_string();
    (text("client_id"), text("secret"))
}

/// The app behind nginx: answers every request 200 with the `X-Scimitar-*` headers it got
/// (any spelling), as a JSON object of lists.
async fn upstream_app() -> SocketAddr {
    async fn echo(headers: http::HeaderMap) -> impl axum::response::IntoResponse {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in &headers {
            let name = name.as_str().to_ascii_lowercase();
            if name.replace('_', "-").starts_with("x-scimitar-") {
                seen.entry(name)
                    .or_default()
                    .push(value.to_str().unwrap_or("<binary>").to_string());
            }
        }
        (
            [(http::header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&seen).expect("JSON"),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the app");
    let address = listener.local_addr().expect("address");
    let app = axum::Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the app serves") });
    address
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// docs/proxies/nginx.conf with its placeholders replaced.
fn documented_server_block(scimitar: &str, client_id: &str, app: u16, listen: u16) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/proxies/nginx.conf");
    let template = std::fs::read_to_string(&path).expect("docs/proxies/nginx.conf");
    let config = template
        .replace("SCIMITAR_URL", scimitar)
        .replace("CLIENT_ID", client_id)
        .replace("APP_PORT", &app.to_string())
        .replace("LISTEN_PORT", &format!("127.0.0.1:{listen}"));
    for placeholder in ["SCIMITAR_URL", "CLIENT_ID", "APP_PORT", "LISTEN_PORT"] {
        assert!(!config.contains(placeholder), "{placeholder} left in");
    }
    config
}

/// nginx in the foreground, one process, everything it writes under `prefix`; killed on drop.
struct Nginx {
    child: Child,
    prefix: PathBuf,
}

impl Nginx {
    fn start(prefix: &Path, server_block: &str, port: u16) -> Self {
        for dir in ["logs", "tmp"] {
            std::fs::create_dir_all(prefix.join(dir)).expect("nginx directories");
        }
        let p = prefix.display();
        let config = format!(
            "error_log {p}/logs/error.log info;\n\
             pid {p}/logs/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             access_log {p}/logs/access.log;\n\
             client_body_temp_path {p}/tmp/body;\n\
             proxy_temp_path {p}/tmp/proxy;\n\
             fastcgi_temp_path {p}/tmp/fastcgi;\n\
             uwsgi_temp_path {p}/tmp/uwsgi;\n\
             scgi_temp_path {p}/tmp/scgi;\n\
             {server_block}\n\
             }}\n"
        );
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, config).expect("nginx.conf");
        let check = Command::new(NGINX)
            .arg("-t")
            .arg("-p")
            .arg(prefix)
            .arg("-e")
            .arg(prefix.join("logs/error.log"))
            .arg("-c")
            .arg(&conf)
            .output()
            .expect("nginx -t");
        assert!(
            check.status.success(),
            "nginx rejects the documented configuration:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(prefix)
            .arg("-e")
            .arg(prefix.join("logs/error.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off; master_process off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = Self {
            child,
            prefix: prefix.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port}:\n{}",
                nginx.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether nginx is there; without it, a skip outside CI and a failure under `CI=true`.
fn nginx_present() -> bool {
    if Path::new(NGINX).is_file() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {NGINX} is missing: install Debian's nginx (.ci/run does)");
    }
    eprintln!("\n*** {NGINX} not found: the nginx forward-auth test is SKIPPED. ***\n");
    false
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// A JWT segment from JSON (base64url, no padding).
fn segment(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A JWT's claims, unverified.
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The same claims as `token`, signed with the server's own key (its key file in `dir`, its
/// published keys in `database`) but expired an hour ago: a genuine token, only too old.
fn expired_twin(dir: &Path, database: &str, token: &str) -> String {
    use scimitar::access::keys::{KeyRing, KeySecret};
    use scimitar::store::{DatabaseUrl, PoolSettings, Store};
    let store = Store::connect(
        &DatabaseUrl::parse(database).expect("database URL"),
        &PoolSettings::default(),
    )
    .expect("open the server's database");
    let secret = KeySecret::load_or_create(&dir.join("scimitar-token.key")).expect("key file");
    let now = chrono::Utc::now();
    let ring = KeyRing::open(&store, secret, now).expect("the server's keys");
    let mut claims = claims_of(token);
    let hour_ago = now.timestamp() - 3600;
    claims["iat"] = json!(hour_ago - 300);
    claims["nbf"] = json!(hour_ago - 300);
    claims["exp"] = json!(hour_ago);
    claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    ring.sign("at+jwt", &claims, now).expect("sign")
}

struct Scene {
    client: reqwest::Client,
    server: Server,
    app_id: String,
    app_secret: String,
    /// nginx's root URL.
    proxy: String,
}

impl Scene {
    async fn create_user(&self, name: &str) -> String {
        let created: Value = self
            .client
            .post(format!("{}/Users", self.server.scim))
            .bearer_auth(&self.server.token)
            .header("content-type", "application/scim+json")
            .body(json!({"userName": format!("{name}@example.com")}).to_string())
            .send()
            .await
            .expect("create a user")
            .json()
            .await
            .expect("JSON");
        created["id"].as_str().expect("user id").to_string()
    }

    async fn oauth(&self, endpoint: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}/oauth2/{endpoint}", self.server.root))
            .basic_auth(&self.app_id, Some(&self.app_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("form"))
            .send()
            .await
            .expect("OAuth request")
    }

    /// An access token for `user` (the trusted app client's token exchange).
    async fn access_token(&self, user: &str) -> String {
        let response = self
            .oauth(
                "token",
                &[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", user),
                    (
                        "subject_token_type",
                        "urn:scimitar:params:oauth:token-type:scim-user",
                    ),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "token exchange");
        let body: Value = response.json().await.expect("JSON");
        body["access_token"].as_str().expect("token").to_string()
    }

    /// A GET through nginx, with the token if any.
    async fn get(&self, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}/me", self.proxy));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET through nginx")
    }

    /// The identity headers the app saw, when nginx let the request through.
    async fn seen(&self, response: reqwest::Response) -> BTreeMap<String, Vec<String>> {
        assert_eq!(response.status(), StatusCode::OK, "let through");
        response.json().await.expect("the app's JSON")
    }

    /// Waits (at most `REFUSED_WITHIN`) for nginx to refuse `token`; the challenge.
    async fn refused_soon(&self, token: &str) -> String {
        let started = Instant::now();
        loop {
            let response = self.get(Some(token)).await;
            if response.status() == StatusCode::UNAUTHORIZED {
                return header(&response, "www-authenticate");
            }
            assert_eq!(response.status(), StatusCode::OK);
            assert!(
                started.elapsed() < REFUSED_WITHIN,
                "still let through after {REFUSED_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_with_the_documented_configuration_lets_valid_tokens_through_and_nothing_else() {
    if !nginx_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let database = dir.path().join("scimitar.db").display().to_string();
    let server = serve(dir.path(), &database).await;
    let (app_id, app_secret) = app_client(dir.path(), &database);
    let app = upstream_app().await;
    let port = free_port();
    let block = documented_server_block(&server.root, &app_id, app.port(), port);
    let nginx = Nginx::start(&dir.path().join("nginx"), &block, port);
    let scene = Scene {
        client: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("HTTP client"),
        server,
        app_id,
        app_secret,
        proxy: format!("http://127.0.0.1:{port}"),
    };

    // A valid token: the app sees the user, and only what Scimitar said.
    let alice = scene.create_user("alice").await;
    let token = scene.access_token(&alice).await;
    let seen = scene.seen(scene.get(Some(&token)).await).await;
    assert_eq!(seen["x-scimitar-user"], vec![alice.clone()], "{seen:?}");
    assert_eq!(seen["x-scimitar-client"], vec![scene.app_id.clone()]);
    assert!(!seen["x-scimitar-session"][0].is_empty());
    assert!(!seen["x-scimitar-tenant"][0].is_empty());

    // The client's own identity headers never reach the app; a request with a body (a POST
    // of form data) is checked the same way, the body going to the app alone.
    let forged = scene
        .client
        .post(format!("{}/orders", scene.proxy))
        .bearer_auth(&token)
        .header("X-Scimitar-User", "admin")
        .header("X-Scimitar-Roles", "admin,superuser")
        .header("X-Scimitar-Tenant", "another-tenant")
        .header("X_Scimitar_User", "admin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("amount=100")
        .send()
        .await
        .expect("POST through nginx");
    let seen = scene.seen(forged).await;
    assert_eq!(seen["x-scimitar-user"], vec![alice.clone()], "{seen:?}");
    assert_ne!(
        seen["x-scimitar-tenant"],
        vec!["another-tenant".to_string()]
    );
    assert!(!seen.contains_key("x-scimitar-roles"), "no roles: {seen:?}");
    assert!(!seen.contains_key("x_scimitar_user"), "{seen:?}");

    // No token: a bare challenge; forged tokens: invalid_token.
    let none = scene.get(None).await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&none, "www-authenticate"), "Bearer");
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims_of(&token);
    claims["sub"] = json!("someone-else");
    for (why, forged) in [
        ("garbage", "not-a-jwt".to_string()),
        (
            "tampered claims",
            format!("{}.{}.{}", parts[0], segment(&claims), parts[2]),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                segment(&json!({"alg": "none", "typ": "at+jwt"})),
                parts[1]
            ),
        ),
    ] {
        let response = scene.get(Some(&forged)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert!(
            header(&response, "www-authenticate").contains("error=\"invalid_token\""),
            "{why}: {}",
            header(&response, "www-authenticate")
        );
    }
    // Expired: signed by the server's own key, an hour past its exp.
    let expired = expired_twin(dir.path(), &database, &token);
    let response = scene.get(Some(&expired)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&response, "www-authenticate").contains("\"expired\""));

    // RFC 7009: the revoked token (and so its session) is refused, the same user's other
    // session stands.
    let bob = scene.create_user("bob").await;
    let revoked = scene.access_token(&bob).await;
    let other = scene.access_token(&bob).await;
    assert_eq!(scene.get(Some(&revoked)).await.status(), StatusCode::OK);
    let answer = scene.oauth("revoke", &[("token", revoked.as_str())]).await;
    assert_eq!(answer.status(), StatusCode::OK, "RFC 7009 revocation");
    let challenge = scene.refused_soon(&revoked).await;
    assert!(
        challenge.contains("revoked_token") || challenge.contains("revoked_session"),
        "{challenge}"
    );
    assert_eq!(scene.get(Some(&other)).await.status(), StatusCode::OK);

    // A SCIM deactivation: refused on the next requests, within REFUSED_WITHIN.
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let deactivated = scene
        .client
        .patch(format!("{}/Users/{alice}", scene.server.scim))
        .bearer_auth(&scene.server.token)
        .header("content-type", "application/scim+json")
        .body(patch.to_string())
        .send()
        .await
        .expect("PATCH");
    assert_eq!(deactivated.status(), StatusCode::OK);
    let challenge = scene.refused_soon(&token).await;
    assert!(
        challenge.contains("revoked_session") || challenge.contains("user_not_before"),
        "{challenge}"
    );
    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );
}
