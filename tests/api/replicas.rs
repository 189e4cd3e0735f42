//! Two `scimitar serve` processes on one Postgres database: a revocation committed through one
//! replica reaches the event stream of the other promptly (LISTEN/NOTIFY doorbell, outbox read).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::events::SseReader;
use crate::helpers::{Backend, TestDb, expect_status, http_client};

/// Runs a CLI command and returns its stdout as JSON.
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

/// Starts `serve` on a random port; returns the process and its root URL.
async fn replica(dir: &Path, database: &str) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimitar"))
        .current_dir(dir)
        .args(["serve", "--bind", "127.0.0.1:0", "--database", database])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let root = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("Scimitar is listening on ") {
                return url.trim().to_string();
            }
        }
        panic!("the replica did not start")
    })
    .await
    .expect("the replica starts");
    // Keep reading: a closed stdout would make the server's next line fail.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, root)
}

#[tokio::test]
async fn a_revocation_through_one_replica_reaches_the_stream_of_the_other() {
    let Some(db) = TestDb::create(Backend::Postgres) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let scim = cli(dir.path(), &db.url, &["client", "create", "--name", "idp"]);
    let app = cli(
        dir.path(),
        &db.url,
        &["client", "create", "--name", "rs", "--kind", "app"],
    );
    let (scim_token, app_id, app_secret) = (
        scim["secret"].as_str().expect("secret").to_string(),
        app["client_id"].as_str().expect("id").to_string(),
        app["secret"].as_str().expect("secret").to_string(),
    );
    let (_a, root_a) = replica(dir.path(), &db.url).await;
    let (_b, root_b) = replica(dir.path(), &db.url).await;
    let client = http_client();
    let stream = client
        .get(format!("{root_b}/events/v1/stream"))
        .basic_auth(&app_id, Some(&app_secret))
        .send()
        .await
        .expect("stream on B");
    assert_eq!(stream.status(), StatusCode::OK);
    let mut stream = SseReader::new(stream);
    let created = client
        .post(format!("{root_a}/scim/v2/Users"))
        .bearer_auth(&scim_token)
        .header("content-type", "application/scim+json")
        .body(json!({"userName": "alice"}).to_string())
        .send()
        .await
        .expect("create on A");
    let alice = expect_status(created, StatusCode::CREATED).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let started = Instant::now();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let patched = client
        .patch(format!("{root_a}/scim/v2/Users/{alice}"))
        .bearer_auth(&scim_token)
        .header("content-type", "application/scim+json")
        .body(patch.to_string())
        .send()
        .await
        .expect("deactivate on A");
    assert_eq!(patched.status(), StatusCode::OK);
    let (_, event) = stream
        .wait_for("user.disabled", Duration::from_secs(5))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(event["user"], json!(alice));
    assert!(
        elapsed < Duration::from_secs(2),
        "B saw A's revocation after {elapsed:?}"
    );
}

/// A credential in use on replica B, revoked through another process (the CLI), stops working
/// on B at once: the trigger's notification makes B forget its cached credentials, and B's
/// epoch reading catches it within 50 ms even without it.
#[tokio::test]
async fn a_credential_revoked_elsewhere_stops_working_on_a_replica_that_cached_it() {
    let Some(db) = TestDb::create(Backend::Postgres) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let scim = cli(dir.path(), &db.url, &["client", "create", "--name", "idp"]);
    let token = scim["secret"].as_str().expect("secret").to_string();
    let client_id = scim["client_id"].as_str().expect("id").to_string();
    let (_b, root_b) = replica(dir.path(), &db.url).await;
    let client = http_client();
    let users = || {
        client
            .get(format!("{root_b}/scim/v2/Users"))
            .bearer_auth(&token)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(users().await.expect("GET").status(), StatusCode::OK);
    }
    let revoke = std::process::Command::new(env!("CARGO_BIN_EXE_scimitar"))
        .current_dir(dir.path())
        .args(["client", "revoke", &client_id, "--database", &db.url])
        .output()
        .expect("revoke");
    assert!(revoke.status.success());
    let revoked = Instant::now();
    loop {
        let status = users().await.expect("GET").status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            revoked.elapsed() < Duration::from_millis(500),
            "B still accepted the revoked credential after {:?}",
            revoked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
