//! `scimitar demo`: a throwaway server on a temporary SQLite database, driven by this command
//! playing an identity provider and an app, with each step narrated: the request, what
//! Scimitar did, the tokens revoked, the audit records written and how long it took. It pauses
//! between steps on a terminal and runs straight through otherwise; it removes everything it
//! made unless `--keep DIR` is given, also when interrupted (`interrupt`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use base64::Engine;
use serde_json::{Value, json};

/// What the demo plays against: the server it started and the credentials it made.
struct Demo {
    base: String,
    root: String,
    scim_token: String,
    admin_token: String,
    app: (String, String),
    http: reqwest::Client,
    pause: bool,
    step: usize,
}

pub(super) fn run(keep: Option<PathBuf>, no_pause: bool) -> anyhow::Result<()> {
    let leftovers = super::interrupt::catch_interrupts();
    super::interrupt::remove_orphans(&std::env::temp_dir());
    let scratch = tempfile_dir()?;
    super::interrupt::claim(&scratch);
    if keep.is_none() {
        leftovers.remove_on_interrupt(scratch.clone());
    }
    let dir = keep.clone().unwrap_or_else(|| scratch.clone());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pause = !no_pause && std::io::stdin().is_terminal();
    say(&format!(
        "Scimitar demo: a throwaway server on SQLite in {}.\nThis command plays an identity provider (Okta-style SCIM requests) and an app (OAuth tokens).\n",
        dir.display()
    ));
    let mut server = start_server(&dir)?;
    leftovers.server_started(server.id());
    let outcome = actix_web::rt::System::new().block_on(async {
        let demo = Demo::prepare(&dir, &mut server, pause)?;
        demo.play().await
    });
    leftovers.server_stopped();
    let _ = server.kill();
    let _ = server.wait();
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    } else {
        say(&format!(
            "Kept {} (database and keys): `scimitar serve --database {}` from there continues where the demo stopped.",
            dir.display(),
            dir.join("demo.db").display()
        ));
    }
    outcome
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("scimitar-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn scimitar(dir: &Path) -> anyhow::Result<Command> {
    let mut command = Command::new(std::env::current_exe().context("cannot find this program")?);
    command.current_dir(dir).env_remove("SCIMITAR_CONFIG");
    super::interrupt::dies_with_the_demo(&mut command);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
        command.env_remove(key);
    }
    Ok(command)
}

fn start_server(dir: &Path) -> anyhow::Result<Child> {
    scimitar(dir)?
        .args(["serve", "--bind", "127.0.0.1:0", "--database", "demo.db"])
        .env("SCIMITAR_LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start the demo server")
}

/// Runs `scimitar client create` and returns (client id, secret).
fn create_client(
    dir: &Path,
    name: &str,
    kind: &str,
    trusted: bool,
) -> anyhow::Result<(String, String)> {
    let mut command = scimitar(dir)?;
    command.args([
        "client",
        "create",
        "--name",
        name,
        "--kind",
        kind,
        "--database",
        "demo.db",
    ]);
    if trusted {
        command.arg("--trusted");
    }
    let output = command.output().context("cannot run client create")?;
    anyhow::ensure!(
        output.status.success(),
        "client create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value =
        serde_json::from_slice(&output.stdout).context("client create printed no JSON")?;
    let field = |key: &str| {
        created[key]
            .as_str()
            .map(String::from)
            .ok_or_else(|| anyhow!("no `{key}`"))
    };
    Ok((field("client_id")?, field("secret")?))
}

impl Demo {
    fn prepare(dir: &Path, server: &mut Child, pause: bool) -> anyhow::Result<Self> {
        let stdout = server
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no server output"))?;
        let (mut token, mut base) = (None, None);
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(t) = line.strip_prefix("SCIM bearer token: ") {
                token = Some(t.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("SCIM base URL (tenant URL for Okta or Entra): ") {
                base = Some(url.trim().to_string());
                break;
            }
        }
        let base = base.ok_or_else(|| anyhow!("the demo server did not start"))?;
        let scim_token = token.ok_or_else(|| anyhow!("the demo server printed no token"))?;
        let root = base.trim_end_matches(crate::http::SCIM_PATH).to_string();
        say(&format!(
            "1. Started `scimitar serve` at {root}. On first start it created the identity provider's SCIM credential (a bearer token, stored hashed)."
        ));
        say("   $ scimitar client create --name demo-admin --kind admin");
        let (_, admin_token) = create_client(dir, "demo-admin", "admin", false)?;
        say("   $ scimitar client create --name demo-app --kind app --trusted");
        let app = create_client(dir, "demo-app", "app", true)?;
        say("   An operator credential and a trusted app client now exist.\n");
        let http = reqwest::Client::builder()
            .tls_certs_only(Vec::<reqwest::Certificate>::new())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            base,
            root,
            scim_token,
            admin_token,
            app,
            http,
            pause,
            step: 1,
        })
    }

    fn next_step(&mut self, title: &str) {
        if self.pause {
            say("   [Enter to continue]");
            let _ = std::io::stdin().lock().lines().next();
        }
        self.step += 1;
        say(&format!("{}. {title}", self.step));
    }

    /// A SCIM request as the identity provider sends it: prints it and the answer's status
    /// and time, returns the body.
    async fn scim(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let shown = body.as_ref().map(|b| format!(" {b}")).unwrap_or_default();
        say(&format!("   IdP → {method} /scim/v2{path}{shown}"));
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.scim_token)
            .header("content-type", "application/scim+json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let started = Instant::now();
        let response = request.send().await?;
        let (status, elapsed) = (response.status(), started.elapsed());
        let text = response.text().await?;
        say(&format!(
            "   ← {status} in {:.1} ms",
            elapsed.as_secs_f64() * 1000.0
        ));
        anyhow::ensure!(status.is_success(), "the server answered {status}: {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn admin_get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}/admin/v1{path}", self.root))
            .bearer_auth(&self.admin_token)
            .send()
            .await?;
        response.json_value().await
    }

    async fn oauth(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let response = self
            .http
            .post(format!("{}/oauth2/{endpoint}", self.root))
            .basic_auth(&self.app.0, Some(&self.app.1))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form)?)
            .send()
            .await?;
        let status = response.status();
        Ok((status, response.json_value().await?))
    }

    async fn tokens_for(&self, user_id: &str) -> anyhow::Result<Value> {
        let form = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", user_id),
            (
                "subject_token_type",
                "urn:scimitar:params:oauth:token-type:scim-user",
            ),
        ];
        let (status, tokens) = self.oauth("token", &form).await?;
        anyhow::ensure!(status.is_success(), "token exchange failed: {tokens}");
        Ok(tokens)
    }

    async fn active(&self, token: &str) -> anyhow::Result<bool> {
        Ok(self.oauth("introspect", &[("token", token)]).await?.1["active"] == true)
    }

    async fn play(mut self) -> anyhow::Result<()> {
        self.next_step("The identity provider provisions two users (POST /Users).");
        let mut ids = Vec::new();
        for name in ["alice@example.com", "bob@example.com"] {
            let user = self.scim(reqwest::Method::POST, "/Users", Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": name, "active": true, "emails": [{"value": name, "type": "work", "primary": true}],
            }))).await?;
            ids.push(text(&user, "id"));
        }
        let (alice, bob) = (ids[0].clone(), ids[1].clone());

        self.next_step("It pushes a group with both as members (POST /Groups).");
        self.scim(
            reqwest::Method::POST,
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Engineering", "members": [{"value": alice}, {"value": bob}],
            })),
        )
        .await?;

        self.next_step("An operator maps the group to a role (POST /admin/v1/role-mappings).");
        let mapping = self
            .http
            .post(format!("{}/admin/v1/role-mappings", self.root))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/json")
            .body(json!({"group": "displayName:Engineering", "roles": ["engineer"]}).to_string())
            .send()
            .await?;
        say(&format!(
            "   ← {}: members of Engineering hold the role `engineer`",
            mapping.status()
        ));

        self.next_step(
            "The app gets tokens for both users (OAuth token exchange, POST /oauth2/token).",
        );
        let alice_tokens = self.tokens_for(&alice).await?;
        let bob_tokens = self.tokens_for(&bob).await?;
        let alice_access = text(&alice_tokens, "access_token");
        say(&format!(
            "   alice's access token carries {}",
            claims(&alice_access)
        ));
        say(
            "   alice: a session with an access token (JWT, 5 minutes) and a rotating refresh token; bob: the same.",
        );

        self.next_step("The app follows the live revocation stream (GET /events/v1/stream, server-sent events).");
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel::<(Instant, Value)>();
        let stream = self
            .http
            .get(format!("{}/events/v1/stream", self.root))
            .basic_auth(&self.app.0, Some(&self.app.1))
            .send()
            .await?;
        actix_web::rt::spawn(follow(stream, events));
        say("   connected; it will see every revocation the moment it commits.");

        self.next_step("The identity provider deactivates alice (PATCH /Users/{id}, active: false), as Okta does.");
        let sent = Instant::now();
        self.scim(
            reqwest::Method::PATCH,
            &format!("/Users/{alice}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": false}}],
            })),
        )
        .await?;
        let deadline = sent + Duration::from_secs(5);
        let mut disabled = false;
        while !disabled && Instant::now() < deadline {
            match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), received.recv())
                .await
            {
                Ok(Some((at, event))) => {
                    let kind = event["type"].as_str().unwrap_or_default().to_string();
                    say(&format!(
                        "   stream: {kind} (user {}{}) {:.1} ms after the PATCH was sent",
                        event["user"].as_str().unwrap_or("-"),
                        event["session"]
                            .as_str()
                            .map(|s| format!(", session {s}"))
                            .unwrap_or_default(),
                        (at - sent).as_secs_f64() * 1000.0
                    ));
                    disabled = kind == "user.disabled";
                }
                _ => break,
            }
        }
        anyhow::ensure!(disabled, "the stream did not report the deactivation");

        self.next_step("What the app sees now (introspection, refresh).");
        say(&format!(
            "   alice's access token active: {}",
            self.active(&alice_access).await?
        ));
        let refresh = [
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                alice_tokens["refresh_token"].as_str().unwrap_or_default(),
            ),
        ];
        let (status, answer) = self.oauth("token", &refresh).await?;
        say(&format!(
            "   alice's refresh: {status} {}",
            answer["error"].as_str().unwrap_or_default()
        ));
        say(&format!(
            "   bob's access token active: {}",
            self.active(&text(&bob_tokens, "access_token")).await?
        ));
        let (status, _) = self
            .oauth(
                "token",
                &[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", alice.as_str()),
                    (
                        "subject_token_type",
                        "urn:scimitar:params:oauth:token-type:scim-user",
                    ),
                ],
            )
            .await?;
        say(&format!(
            "   a new token for alice: {status} (refused while she is deactivated)"
        ));

        self.next_step(
            "The audit trail of alice, written in the same transactions (GET /admin/v1/audit).",
        );
        let trail = self
            .admin_get(&format!("/audit?resource={alice}&order=oldest"))
            .await?;
        let mut deactivation = None;
        for record in trail["records"].as_array().into_iter().flatten() {
            say(&format!(
                "   #{} {} by {} {}",
                record["seq"],
                text(record, "action"),
                record["actor"]["name"].as_str().unwrap_or("-"),
                record["details"]
            ));
            if record["details"]["active"]["to"] == false {
                deactivation = record["id"].as_str().map(String::from);
            }
        }
        if let Some(cause) = deactivation {
            let caused = self
                .admin_get(&format!("/audit?cause={cause}&order=oldest"))
                .await?;
            for record in caused["records"].as_array().into_iter().flatten() {
                say(&format!(
                    "     caused: #{} {} {}",
                    record["seq"],
                    text(record, "action"),
                    record["details"]
                ));
            }
        }
        say("   Every record is hash-chained: `scimitar audit verify` recomputes the chain.");

        self.next_step("Now with your own identity provider.");
        say(
            "   cargo run -- serve                   # prints the tenant URL and a bearer token, once",
        );
        say(
            "   Okta: Applications → your app → Provisioning → SCIM connector base URL = the tenant URL, Authentication = HTTP Header, the token (docs/okta.md)",
        );
        say(
            "   Entra: Enterprise applications → Provisioning → Tenant URL and Secret Token (docs/entra.md)",
        );
        say(
            "   Both push only to https://: add --tls-cert and --tls-key, or put Scimitar behind your proxy (docs/operations.md).",
        );
        Ok(())
    }
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

/// The claims of a JWT that matter here, decoded without verifying (the server verifies).
fn claims(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .unwrap_or(Value::Null);
    json!({"sub": decoded["sub"], "roles": decoded["roles"], "sid": decoded["sid"], "exp": decoded["exp"]}).to_string()
}

/// Reads server-sent events and hands each `data:` object on with its arrival time.
async fn follow(
    mut response: reqwest::Response,
    events: tokio::sync::mpsc::UnboundedSender<(Instant, Value)>,
) {
    let mut pending = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let at = Instant::now();
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            for data in block.lines().filter_map(|l| l.strip_prefix("data: ")) {
                if let Ok(event) = serde_json::from_str(data) {
                    let _ = events.send((at, event));
                }
            }
        }
    }
}

/// `Response::json` without reqwest's `json` feature.
trait JsonValue {
    async fn json_value(self) -> anyhow::Result<Value>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> anyhow::Result<Value> {
        let text = self.text().await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
