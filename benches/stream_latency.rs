//! Revocation latency as a resource server sees it: from sending a SCIM PATCH that
//! deactivates a user to receiving the `user.disabled` event on the live stream
//! (`/events/v1/stream`), against release `scimitar serve` processes. Scenarios: SQLite with
//! one replica; Postgres with one replica; Postgres with two replicas, writes to the first
//! and the stream read from the second (LISTEN/NOTIFY doorbell).
//!
//! Run: `cargo bench --bench stream_latency` (STREAM_SAMPLES deactivations per scenario,
//! default 200; Postgres as for the other benches).

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

fn main() {
    let samples: usize = std::env::var("STREAM_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    support::on_each_backend(|backend, url| {
        let replicas: &[usize] = if backend == "postgres" { &[1, 2] } else { &[1] };
        // One working directory per database: replicas share its token-key file.
        let dir = tempfile::tempdir().expect("dir");
        for &count in replicas {
            let latencies = runtime.block_on(measure(dir.path(), url, count, samples));
            report(backend, count, &latencies);
        }
    });
}

fn report(backend: &str, replicas: usize, latencies: &[Duration]) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at =
        |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{backend}, {replicas} replica(s): PATCH to stream event over {} deactivations: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
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

async fn replica(dir: &Path, database: &str) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimitar"))
        .current_dir(dir)
        .args(["serve", "--bind", "127.0.0.1:0", "--database", database])
        .env("SCIMITAR_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.strip_prefix("Scimitar is listening on ") {
            // Keep reading: a closed stdout would make the server's next line fail.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, url.trim().to_string());
        }
    }
    panic!("the replica did not start")
}

async fn measure(dir: &Path, database: &str, replicas: usize, samples: usize) -> Vec<Duration> {
    let scim = cli(dir, database, &["client", "create", "--name", "idp"]);
    let app = cli(
        dir,
        database,
        &["client", "create", "--name", "rs", "--kind", "app"],
    );
    let token = scim["secret"].as_str().expect("secret").to_string();
    let (id, secret) = (
        app["client_id"].as_str().expect("id"),
        app["secret"].as_str().expect("secret"),
    );
    let mut servers = Vec::new();
    for _ in 0..replicas {
        servers.push(replica(dir, database).await);
    }
    let writer = servers[0].1.clone();
    let reader = servers[replicas - 1].1.clone();
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!("{reader}/events/v1/stream"))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .expect("stream");
    let mut buffer = String::new();
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let created: Value = client
            .post(format!("{writer}/scim/v2/Users"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(json!({"userName": format!("user{replicas}-{i}@example.com")}).to_string())
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let user = created["id"].as_str().expect("id").to_string();
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]});
        let started = Instant::now();
        let sent = client
            .patch(format!("{writer}/scim/v2/Users/{user}"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(patch.to_string());
        let wait = async {
            loop {
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if block.contains("event: user.disabled") && block.contains(&user) {
                        return started.elapsed();
                    }
                }
                let chunk = stream.chunk().await.expect("stream").expect("stream open");
                buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        let (response, latency) = tokio::join!(
            sent.send(),
            tokio::time::timeout(Duration::from_secs(10), wait)
        );
        assert!(response.expect("PATCH").status().is_success());
        latencies.push(latency.expect("the event arrives"));
    }
    latencies
}
