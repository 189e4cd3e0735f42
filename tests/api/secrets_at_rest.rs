//! Secrets at rest: the outbound credentials Scimitar must send again (a push stream's
//! `Authorization` header, a poll receiver's credential) are stored sealed, so a read of the
//! database yields nothing usable, and still reach their receiver; a sealed value moved to
//! another row does not open there. The files Scimitar writes (the SQLite database, its WAL,
//! backups) are owner-only, and a backup never overwrites a file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::group_commit::texts;
use crate::helpers::{TestApp, expect_status};
use crate::on_both_backends;

/// A push receiver on loopback recording the `Authorization` header of each delivery.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let router = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                record.lock().expect("lock").push(auth);
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

async fn create_push_stream(app: &TestApp, url: &str, authorization: &str) -> String {
    let admin = app.admin_token();
    let body = json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": url, "authorization_header": authorization},
        "events_requested": ["https://schemas.openid.net/secevent/ssf/event-type/verification"]});
    let response = app
        .client
        .post(format!("{}/ssf/streams", app.root))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .expect("create a stream");
    expect_status(response, StatusCode::CREATED).await["stream_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn verify(app: &TestApp, stream: &str) {
    let admin = app.admin_token();
    let response = app
        .client
        .post(format!("{}/ssf/verify", app.root))
        .bearer_auth(&admin)
        .json(&json!({"stream_id": stream, "state": "s"}))
        .send()
        .await
        .expect("verify");
    assert!(response.status().is_success(), "{}", response.status());
}

async fn deliveries(seen: &Arc<Mutex<Vec<String>>>, at_least: usize) -> Vec<String> {
    for _ in 0..100 {
        let got = seen.lock().expect("lock").clone();
        if got.len() >= at_least {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen.lock().expect("lock").clone()
}

on_both_backends! {
    async fn a_push_streams_authorization_header_is_stored_sealed_and_still_delivered(app) {
        let (url, seen) = receiver().await;
        let stream = create_push_stream(&app, &url, "Bearer push-secret-0123456789").await;
        let stored = texts(&app.store, "SELECT authorization_header AS text FROM ssf_streams");
        assert_eq!(stored.len(), 1);
        assert!(stored[0].starts_with("sealed:v1:"), "{stored:?}");
        assert!(!stored.iter().any(|s| s.contains("push-secret")), "no secret in the database");
        verify(&app, &stream).await;
        assert_eq!(deliveries(&seen, 1).await.first().map(String::as_str), Some("Bearer push-secret-0123456789"));

        // A sealed value moved to another stream's row does not open there: that stream's
        // deliveries carry no header rather than someone else's secret.
        let (other_url, other_seen) = receiver().await;
        let other = create_push_stream(&app, &other_url, "Bearer other-secret").await;
        let sql = format!("UPDATE ssf_streams SET authorization_header = (SELECT authorization_header FROM ssf_streams WHERE id = '{stream}') WHERE id = '{other}'");
        app.store.read(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query(sql).execute(&mut **conn).map_err(scimitar::store::StoreError::from)
        }).expect("move the sealed value");
        verify(&app, &other).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!other_seen.lock().expect("lock").iter().any(|a| a.contains("push-secret")), "the moved secret is never sent");

        // A stream whose endpoint is edited in the database sends its secret nowhere: the
        // sealed value is bound to the endpoint it was given for.
        let (thief_url, thief_seen) = receiver().await;
        let sql = format!("UPDATE ssf_streams SET endpoint_url = '{thief_url}' WHERE id = '{stream}'");
        app.store.read(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query(sql).execute(&mut **conn).map_err(scimitar::store::StoreError::from)
        }).expect("redirect the stream");
        verify(&app, &stream).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!thief_seen.lock().expect("lock").iter().any(|a| a.contains("push-secret")), "the secret does not follow an edited endpoint");
    }

    async fn a_poll_receivers_credential_is_stored_sealed(app) {
        let admin = app.admin_token();
        let body = json!({"issuer": "https://transmitter.example", "audience": "scimitar", "jwks": {"keys": []},
            "delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": "https://transmitter.example/poll", "authorization_header": "Bearer poll-secret-987"}});
        let response = app.admin(&admin, reqwest::Method::POST, "/signal-receivers")
            .header("content-type", "application/json").body(body.to_string()).send().await.expect("create");
        let created = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(created["delivery"]["authorization_header_set"], true, "{created}");
        let stored = texts(&app.store, "SELECT poll_authorization AS text FROM ssf_receivers");
        assert!(stored.iter().all(|s| s.starts_with("sealed:v1:") && !s.contains("poll-secret")), "{stored:?}");
        let receivers = scimitar::signals::receiver::manage::list(&app.store, &app.tenant_id).expect("list");
        let sealer = app.access.keys().sealer();
        let opened = scimitar::signals::receiver::manage::poll_authorization(&receivers[0], &sealer).expect("open");
        assert_eq!(opened.as_deref(), Some("Bearer poll-secret-987"));
    }

    async fn credentials_stored_in_clear_before_sealing_are_sealed_at_start(app) {
        let (url, seen) = receiver().await;
        let stream = create_push_stream(&app, &url, "Bearer placeholder").await;
        let sql = format!("UPDATE ssf_streams SET authorization_header = 'Bearer legacy-clear' WHERE id = '{stream}'");
        app.store.read(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query(sql).execute(&mut **conn).map_err(scimitar::store::StoreError::from)
        }).expect("a clear value, as an older version stored it");
        let sealer = app.access.keys().sealer();
        let sealed = scimitar::signals::ssf::seal_stored_authorizations(&app.store, &sealer).expect("seal");
        assert_eq!(sealed, 1);
        let stored = texts(&app.store, "SELECT authorization_header AS text FROM ssf_streams");
        assert!(stored[0].starts_with("sealed:v1:") && !stored[0].contains("legacy-clear"));
        verify(&app, &stream).await;
        assert_eq!(deliveries(&seen, 1).await.first().map(String::as_str), Some("Bearer legacy-clear"));
    }
}

#[cfg(unix)]
#[test]
fn the_database_its_wal_and_backups_are_owner_only_and_a_backup_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_scimitar"))
            .current_dir(dir.path())
            .args(args)
            .env_remove("SCIMITAR_DATABASE_URL")
            .output()
            .expect("run scimitar")
    };
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    // An old database others could read is made owner-only at the next start.
    let created = run(&["client", "create", "--name", "x", "--database", "s.db"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert_eq!(mode("s.db"), Some(0o600));
    std::fs::set_permissions(
        dir.path().join("s.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    assert!(
        run(&["client", "list", "--database", "s.db"])
            .status
            .success()
    );
    assert_eq!(mode("s.db"), Some(0o600), "tightened");
    for name in ["s.db-wal", "s.db-shm"] {
        if let Some(mode) = mode(name) {
            assert_eq!(mode & 0o077, 0, "{name}");
        }
    }
    let backup = run(&["backup", "copy.db", "--database", "s.db"]);
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert_eq!(mode("copy.db"), Some(0o600));
    std::fs::write(dir.path().join("taken.db"), b"keep me").expect("write");
    let refused = run(&["backup", "taken.db", "--database", "s.db"]);
    assert!(!refused.status.success());
    assert_eq!(
        std::fs::read(dir.path().join("taken.db")).expect("read"),
        b"keep me"
    );
    std::os::unix::fs::symlink(dir.path().join("elsewhere.db"), dir.path().join("link.db"))
        .expect("symlink");
    assert!(
        !run(&["backup", "link.db", "--database", "s.db"])
            .status
            .success(),
        "not through a link"
    );
    assert!(!dir.path().join("elsewhere.db").exists());
}
