//! The last mile of revocation: from sending a SCIM PATCH that deactivates a user to the
//! example app (`examples/guarded-app`, protected by `scimitar-guard`) refusing that user's
//! token with 401, against a release `scimitar serve` on SQLite. The app checks tokens
//! offline; the refusal comes from the revocation stream.
//!
//! Run: `cargo build --release --example guarded-app && cargo bench --bench guard_latency`
//! (GUARD_SAMPLES deactivations, default 200).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

fn main() {
    let samples: usize = std::env::var("GUARD_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let app_binary = example_binary();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let latencies = runtime.block_on(measure(dir.path(), &app_binary, samples));
    let mut sorted = latencies.clone();
    sorted.sort();
    let at =
        |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "sqlite: PATCH to the guarded app's 401 over {} deactivations: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
}

/// The release build of `examples/guarded-app`, next to the server binary.
fn example_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_scimitar"))
        .parent()
        .expect("target directory")
        .join("examples")
        .join("guarded-app");
    assert!(
        path.exists(),
        "build the example first: cargo build --release --example guarded-app"
    );
    path
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
async fn spawn(
    mut command: tokio::process::Command,
    ready: &str,
) -> (tokio::process::Child, String) {
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

async fn measure(dir: &Path, app_binary: &Path, samples: usize) -> Vec<Duration> {
    let database = dir.join("scimitar.db").display().to_string();
    let scim = cli(dir, &database, &["client", "create", "--name", "idp"]);
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
    let token = scim["secret"].as_str().expect("secret").to_string();
    let (id, secret) = (
        app["client_id"].as_str().expect("id"),
        app["secret"].as_str().expect("secret"),
    );
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimitar"));
    serve
        .current_dir(dir)
        .args(["serve", "--bind", "127.0.0.1:0", "--database", &database])
        .env("SCIMITAR_LOG_LEVEL", "warn");
    let (_server, scimitar) = spawn(serve, "Scimitar is listening on ").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut guarded = tokio::process::Command::new(app_binary);
    guarded
        .env("SCIMITAR_URL", &scimitar)
        .env("CLIENT_ID", id)
        .env("CLIENT_SECRET", secret)
        .env("BIND", format!("127.0.0.1:{port}"));
    let (_app, _) = spawn(guarded, "guarded-app listening on ").await;
    let me = format!("http://127.0.0.1:{port}/me");
    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let created: Value = client
            .post(format!("{scimitar}/scim/v2/Users"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(json!({"userName": format!("user{i}@example.com")}).to_string())
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let user = created["id"].as_str().expect("id").to_string();
        let form = serde_urlencoded::to_string([
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", user.as_str()),
            (
                "subject_token_type",
                "urn:scimitar:params:oauth:token-type:scim-user",
            ),
        ])
        .expect("form");
        let issued: Value = client
            .post(format!("{scimitar}/oauth2/token"))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let access = issued["access_token"]
            .as_str()
            .expect("access token")
            .to_string();
        let status = client
            .get(&me)
            .bearer_auth(&access)
            .send()
            .await
            .expect("GET");
        assert_eq!(status.status(), 200, "the app accepts a fresh token");
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]});
        let started = Instant::now();
        let sent = client
            .patch(format!("{scimitar}/scim/v2/Users/{user}"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(patch.to_string())
            .send();
        // The app is asked again and again until it refuses: the resolution is one request.
        let refused = async {
            loop {
                let response = client
                    .get(&me)
                    .bearer_auth(&access)
                    .send()
                    .await
                    .expect("GET");
                if response.status() == 401 {
                    return started.elapsed();
                }
            }
        };
        let (response, latency) =
            tokio::join!(sent, tokio::time::timeout(Duration::from_secs(10), refused));
        assert!(response.expect("PATCH").status().is_success());
        latencies.push(latency.expect("the app refuses within 10 s"));
    }
    latencies
}
