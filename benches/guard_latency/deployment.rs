//! The processes of one deployment: one or two `scimitar serve` on one database, the
//! credentials the triggers need, a push receiver with an inline ES256 key, and the protected
//! apps (`apps`) following, or asking, the last replica.

use std::path::Path;
use std::process::Stdio;

use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct Deployment {
    /// Where writes go (the first replica).
    pub writer: String,
    /// Each protected app and its `/me`.
    pub apps: Vec<(crate::apps::Guard, String)>,
    pub scim_token: String,
    pub app_id: String,
    pub app_secret: String,
    /// The push receiver's URL and `Authorization` header.
    pub push_url: String,
    pub push_auth: String,
    pub signer: crate::trigger::Signer,
    pub client: reqwest::Client,
    processes: Vec<Child>,
    /// Tasks of this process that apps need (nginx's upstream).
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The Postgres database to drop at the end.
    postgres: Option<(String, String)>,
}

fn cli(dir: &Path, database: &str, args: &[&str]) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_scimitar"))
        .current_dir(dir)
        .args(args)
        .args(["--database", database])
        .output()
        .expect("run scimitar");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// Spawns a process and waits for the stdout line starting with `ready`; returns the rest.
pub async fn spawn(mut command: Command, ready: &str) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.strip_prefix(ready) {
            // Keep reading: a closed stdout would make the process's next line fail.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, rest.trim().to_string());
        }
    }
    panic!("{ready:?} never printed")
}

/// `serve` on `port`; `public_url` is the issuer of its tokens (replicas share one, as they
/// would behind a load balancer).
async fn serve(dir: &Path, database: &str, port: u16, public_url: &str) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimitar"));
    command
        .current_dir(dir)
        .args(["serve", "--database", database, "--public-url", public_url])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .env("SCIMITAR_LOG_LEVEL", "warn");
    let (child, _) = spawn(command, "Scimitar is listening on ").await;
    (child, format!("http://127.0.0.1:{port}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A fresh Postgres database: (admin URL, name, its URL), or `None` without Postgres.
fn postgres_database() -> Option<(String, String, String)> {
    let admin =
        std::env::var("SCIMITAR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
    let mut conn = PgConnection::establish(&admin).ok()?;
    let name = format!("scimitar_bench_{}", uuid::Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .expect("create database");
    let server = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(server, _)| server);
    let url = format!("{server}/{name}");
    Some((admin, name, url))
}

impl Deployment {
    /// `sqlite`, `postgres` or `replicas` (two on Postgres); `None` when Postgres is missing.
    pub async fn start(name: &str, dir: &Path, app_binary: &Path) -> Option<Self> {
        let (database, postgres) = match name {
            "sqlite" => (dir.join("scimitar.db").display().to_string(), None),
            "postgres" | "replicas" => {
                let (admin, db, url) = postgres_database()?;
                (url, Some((admin, db)))
            }
            other => panic!("unknown deployment {other}"),
        };
        let scim = cli(dir, &database, &["client", "create", "--name", "idp"]);
        let admin = cli(
            dir,
            &database,
            &["client", "create", "--name", "ops", "--kind", "admin"],
        );
        let app = cli(
            dir,
            &database,
            &[
                "client",
                "create",
                "--name",
                "rs",
                "--kind",
                "app",
                "--trusted",
            ],
        );
        // The app follows the last replica; with two, every write goes to the first.
        let ports: Vec<u16> = match name {
            "replicas" => vec![free_port(), free_port()],
            _ => vec![free_port()],
        };
        let follower = format!("http://127.0.0.1:{}", ports[ports.len() - 1]);
        let mut processes = Vec::new();
        let mut urls = Vec::new();
        for port in &ports {
            let (process, url) = serve(dir, &database, *port, &follower).await;
            processes.push(process);
            urls.push(url);
        }
        let writer = urls[0].clone();
        let (app_id, app_secret) = (
            app["client_id"].as_str().expect("id").to_string(),
            app["secret"].as_str().expect("secret").to_string(),
        );
        let setting = crate::apps::Setting {
            scimitar: &follower,
            client_id: &app_id,
            client_secret: &app_secret,
            dir,
            rust_binary: app_binary,
        };
        let mut apps = Vec::new();
        let mut tasks = Vec::new();
        for guard in crate::apps::Guard::wanted() {
            if let Some(running) = crate::apps::start(guard, &setting).await {
                processes.extend(running.processes);
                tasks.extend(running.tasks);
                apps.push((guard, running.me));
            }
        }
        let client = reqwest::Client::new();
        let signer = crate::trigger::Signer::new();
        let body = json!({
            "issuer": crate::trigger::ISSUER, "audience": crate::trigger::AUDIENCE,
            "jwks": {"keys": [signer.jwk.clone()]},
        });
        let receiver: Value = client
            .post(format!("{writer}/admin/v1/signal-receivers"))
            .bearer_auth(admin["secret"].as_str().expect("admin secret"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("create a receiver")
            .json()
            .await
            .expect("JSON");
        let id = receiver["id"].as_str().expect("receiver id");
        Some(Self {
            push_url: format!("{writer}/ssf/v1/receive/{id}"),
            push_auth: receiver["delivery"]["authorization_header"]
                .as_str()
                .expect("push secret")
                .to_string(),
            writer,
            apps,
            scim_token: scim["secret"].as_str().expect("secret").to_string(),
            app_id,
            app_secret,
            signer,
            client,
            processes,
            tasks,
            postgres,
        })
    }

    /// Stops the processes and drops the Postgres database.
    pub async fn stop(mut self) {
        for process in &mut self.processes {
            let _ = process.kill().await;
        }
        for task in &self.tasks {
            task.abort();
        }
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}
