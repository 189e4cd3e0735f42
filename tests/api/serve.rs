//! `scimitar serve` as a child process, for the tests that cut its database away or kill it,
//! and a reader of its live event stream that reconnects from its cursor.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::http_client;

/// Runs a CLI command against `database` and returns its stdout as JSON.
pub fn cli(dir: &Path, database: &str, args: &[&str]) -> Value {
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
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// Runs `scimitar audit verify`; returns whether it passed, and its output.
pub fn audit_verifies(dir: &Path, database: &str) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_scimitar"))
        .current_dir(dir)
        .args(["audit", "verify", "--database", database])
        .output()
        .expect("run scimitar");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A running `scimitar serve`.
pub struct Served {
    pub child: tokio::process::Child,
    /// Scheme, host and port.
    pub root: String,
    /// Its log (stderr).
    pub log: PathBuf,
    /// The SCIM bearer token a first start prints, once.
    pub token: Option<String>,
    /// The observability listener (`SCIMITAR_METRICS_BIND`), when one was asked for.
    pub metrics: Option<String>,
}

impl Served {
    /// Starts `serve` on a random port in `dir` with extra `SCIMITAR_*` settings.
    pub async fn start(dir: &Path, database: &str, name: &str, env: &[(&str, &str)]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimitar"));
        command
            .current_dir(dir)
            .args(["serve", "--bind", "127.0.0.1:0", "--database", database])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
            command.env_remove(key);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("spawn serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut token = None;
        let root = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(printed) = line.strip_prefix("SCIM bearer token: ") {
                    token = Some(printed.trim().to_string());
                }
                if let Some(url) = line.strip_prefix("Scimitar is listening on ") {
                    return url.trim().to_string();
                }
            }
            panic!("serve did not start")
        })
        .await
        .expect("serve starts");
        let mut metrics = None;
        if env.iter().any(|(key, _)| *key == "SCIMITAR_METRICS_BIND")
            && let Ok(Some(line)) = lines.next_line().await
        {
            metrics = line
                .strip_prefix("Metrics and OpenAPI (metrics_bind) on ")
                .map(|url| url.trim().to_string());
        }
        // Keep reading: a closed stdout would make the server's next line fail.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            root,
            log,
            token,
            metrics,
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would, and waits for it to go.
    pub async fn kill9(&mut self) {
        self.child.kill().await.expect("kill -9");
    }

    /// How many lines of its log contain `text`.
    pub fn log_count(&self, text: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(text))
            .count()
    }
}

/// One event as the stream delivered it.
#[derive(Debug, Clone)]
pub struct Received {
    pub seq: i64,
    pub data: Value,
}

/// Follows `GET /events/v1/stream` from `after`, reconnecting from the last id it saw when
/// the connection ends, as a resource server does; collects every event.
pub struct StreamFollower {
    pub events: Arc<Mutex<Vec<Received>>>,
    pub reconnects: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl StreamFollower {
    pub fn start(root: &str, client_id: &str, secret: &str, after: i64) -> Self {
        let events: Arc<Mutex<Vec<Received>>> = Arc::default();
        let reconnects: Arc<Mutex<usize>> = Arc::default();
        let (url, id, secret) = (
            format!("{root}/events/v1/stream"),
            client_id.to_string(),
            secret.to_string(),
        );
        let (seen, count) = (events.clone(), reconnects.clone());
        let task = tokio::spawn(async move {
            let client = http_client();
            let mut last = after;
            loop {
                let response = client
                    .get(&url)
                    .basic_auth(&id, Some(&secret))
                    .header("last-event-id", last.to_string())
                    .send()
                    .await;
                if let Ok(mut response) = response
                    && response.status().is_success()
                {
                    let mut buffer = String::new();
                    while let Ok(Some(chunk)) = response.chunk().await {
                        buffer.push_str(&String::from_utf8_lossy(&chunk));
                        while let Some(end) = buffer.find("\n\n") {
                            let block: String = buffer.drain(..end + 2).collect();
                            let field = |name: &str| {
                                block
                                    .lines()
                                    .find_map(|l| l.strip_prefix(name))
                                    .map(|v| v.trim().to_string())
                            };
                            if let (Some(seq), Some(data)) = (field("id:"), field("data:")) {
                                let seq: i64 = seq.parse().expect("a numeric id");
                                let data = serde_json::from_str(&data).expect("JSON data");
                                last = seq;
                                seen.lock().expect("lock").push(Received { seq, data });
                            }
                        }
                    }
                }
                *count.lock().expect("lock") += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self {
            events,
            reconnects,
            task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.events.lock().expect("lock").clone()
    }

    /// Waits until the stream has delivered event `seq`, or `within` passes.
    pub async fn wait_for_seq(&self, seq: i64, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.received().iter().any(|e| e.seq >= seq) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

impl Drop for StreamFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}
