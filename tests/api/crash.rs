//! A crash (`kill -9`) at any moment during provisioning with live sessions: after a restart,
//! every acknowledged deactivation is applied with its revocations, audit records and outbox
//! events, every other one is applied whole or not at all, and `audit verify` passes. On
//! both backends, killed at several points of a run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestDb, http_client};
use crate::serve::{Served, audit_verifies, cli};

const USERS: usize = 16;
const SESSIONS: usize = 2;

struct Credentials {
    scim: String,
    admin: String,
    app: (String, String),
}

async fn oauth(
    root: &str,
    credentials: &Credentials,
    endpoint: &str,
    form: &[(&str, &str)],
) -> Value {
    let response = http_client()
        .post(format!("{root}/oauth2/{endpoint}"))
        .basic_auth(&credentials.app.0, Some(&credentials.app.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).expect("form"))
        .send()
        .await
        .expect("OAuth request");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("JSON")
}

/// Users, each with live sessions: their ids and access tokens.
async fn users_with_sessions(
    root: &str,
    credentials: &Credentials,
    round: usize,
) -> Vec<(String, Vec<String>)> {
    let client = http_client();
    let mut users = Vec::new();
    for i in 0..USERS {
        let created = client
            .post(format!("{root}/scim/v2/Users"))
            .bearer_auth(&credentials.scim)
            .header("content-type", "application/scim+json")
            .body(
                json!({"userName": format!("r{round}u{i}@example.com"), "active": true})
                    .to_string(),
            )
            .send()
            .await
            .expect("POST");
        assert_eq!(created.status(), StatusCode::CREATED);
        let id = created.json::<Value>().await.expect("JSON")["id"]
            .as_str()
            .expect("id")
            .to_string();
        let mut tokens = Vec::new();
        for _ in 0..SESSIONS {
            let form = [
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", id.as_str()),
                (
                    "subject_token_type",
                    "urn:scimitar:params:oauth:token-type:scim-user",
                ),
            ];
            let issued = oauth(root, credentials, "token", &form).await;
            tokens.push(issued["access_token"].as_str().expect("token").to_string());
        }
        users.push((id, tokens));
    }
    users
}

/// Deactivates every user, four at a time, while also creating users and groups (provisioning
/// goes on around the deactivations); returns the users whose deactivation was acknowledged.
fn provision(
    root: &str,
    scim: &str,
    users: &[(String, Vec<String>)],
    acked: Arc<Mutex<Vec<String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for lane in 0..4 {
        let (root, scim, acked) = (root.to_string(), scim.to_string(), acked.clone());
        let mine: Vec<String> = users
            .iter()
            .skip(lane)
            .step_by(4)
            .map(|(id, _)| id.clone())
            .collect();
        tasks.push(tokio::spawn(async move {
            let client = http_client();
            for (n, id) in mine.into_iter().enumerate() {
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": false}]});
                let Ok(response) = client
                    .patch(format!("{root}/scim/v2/Users/{id}"))
                    .bearer_auth(&scim)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                else {
                    return;
                };
                if response.status() == StatusCode::OK {
                    acked.lock().expect("lock").push(id);
                }
                let side =
                    json!({"displayName": format!("lane{lane}-{n}-{}", uuid::Uuid::new_v4())});
                if client
                    .post(format!("{root}/scim/v2/Groups"))
                    .bearer_auth(&scim)
                    .header("content-type", "application/scim+json")
                    .body(side.to_string())
                    .send()
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }));
    }
    tasks
}

/// Whole or nothing, for one user: active with live sessions and no events, or inactive with
/// every session revoked, one `user.disabled`, one `session.revoked` per session, and the
/// audit records of the change and of each revocation.
async fn check_user(
    root: &str,
    credentials: &Credentials,
    feed: &[Value],
    id: &str,
    tokens: &[String],
) -> bool {
    let client = http_client();
    let user: Value = client
        .get(format!("{root}/scim/v2/Users/{id}"))
        .bearer_auth(&credentials.scim)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    let active = user["active"] != json!(false);
    let mut live = 0;
    for token in tokens {
        let answer = oauth(root, credentials, "introspect", &[("token", token)]).await;
        live += usize::from(answer["active"] == json!(true));
    }
    let of = |kind: &str| -> Vec<&Value> {
        feed.iter()
            .filter(|e| e["type"] == kind && e["user"] == json!(id))
            .collect()
    };
    let (disabled, revoked) = (of("user.disabled"), of("session.revoked"));
    if active {
        assert_eq!(
            (live, disabled.len(), revoked.len()),
            (SESSIONS, 0, 0),
            "active user is untouched: {user}"
        );
        return false;
    }
    assert_eq!(
        (live, disabled.len(), revoked.len()),
        (0, 1, SESSIONS),
        "inactive user is whole: {user}"
    );
    let cause = disabled[0]["cause"].as_str().expect("a cause");
    let audit = |query: String| {
        let client = client.clone();
        async move {
            let page: Value = client
                .get(format!("{root}/admin/v1/audit?{query}"))
                .bearer_auth(&credentials.admin)
                .send()
                .await
                .expect("audit")
                .json()
                .await
                .expect("JSON");
            page["records"].as_array().cloned().unwrap_or_default()
        }
    };
    let change = audit(format!("action=user.patch&user={id}")).await;
    assert!(
        change.iter().any(|r| r["id"] == json!(cause)),
        "the change's audit record of {id}"
    );
    let revocations = audit(format!("action=session.revoke&cause={cause}")).await;
    assert_eq!(
        revocations.len(),
        SESSIONS,
        "a revocation record per session of {id}"
    );
    true
}

async fn crash_rounds(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    let secret = |v: &Value, key: &str| v[key].as_str().expect("field").to_string();
    let (scim, admin, app) = (
        cli(dir, &db.url, &["client", "create", "--name", "idp"]),
        cli(
            dir,
            &db.url,
            &["client", "create", "--name", "ops", "--kind", "admin"],
        ),
        cli(
            dir,
            &db.url,
            &[
                "client",
                "create",
                "--name",
                "rs",
                "--kind",
                "app",
                "--trusted",
            ],
        ),
    );
    let credentials = Credentials {
        scim: secret(&scim, "secret"),
        admin: secret(&admin, "secret"),
        app: (secret(&app, "client_id"), secret(&app, "secret")),
    };
    // One issuer across restarts (it defaults to the listening address, a random port here).
    let settings = [
        ("SCIMITAR_AUDIT_CHECKPOINT_MINUTES", "0"),
        ("SCIMITAR_PUBLIC_URL", "http://scimitar.test"),
    ];
    let mut figures = Vec::new();
    // Killed after the first, the sixth and the eleventh acknowledgement: early, mid, late.
    for (round, kill_after) in [1usize, 6, 11].into_iter().enumerate() {
        let mut served = Served::start(dir, &db.url, &format!("round{round}"), &settings).await;
        let users = users_with_sessions(&served.root, &credentials, round).await;
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let started = Instant::now();
        let tasks = provision(&served.root, &credentials.scim, &users, acked.clone());
        while acked.lock().expect("lock").len() < kill_after {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "deactivations stalled"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        served.kill9().await;
        let killed_at = started.elapsed();
        for task in tasks {
            let _ = task.await;
        }
        let acknowledged = acked.lock().expect("lock").clone();

        let restarted = Instant::now();
        let mut served = Served::start(dir, &db.url, &format!("restart{round}"), &settings).await;
        let restart = restarted.elapsed();
        let feed: Value = http_client()
            .get(format!(
                "{}/events/v1/revocations?after=0&limit=5000",
                served.root
            ))
            .basic_auth(&credentials.app.0, Some(&credentials.app.1))
            .send()
            .await
            .expect("feed")
            .json()
            .await
            .expect("JSON");
        let feed = feed["events"].as_array().expect("events").clone();
        let mut applied = 0;
        for (id, tokens) in &users {
            let inactive = check_user(&served.root, &credentials, &feed, id, tokens).await;
            assert!(
                inactive || !acknowledged.contains(id),
                "acknowledged deactivation of {id} was lost"
            );
            applied += usize::from(inactive);
        }
        served.kill9().await;
        let (verified, report) = audit_verifies(dir, &db.url);
        assert!(verified, "audit verify after the crash: {report}");
        figures.push(format!(
            "round {round}: killed at {killed_at:?} with {} acknowledged, {applied} of {USERS} applied \
             (so {} unacknowledged ones committed whole), restart {restart:?}",
            acknowledged.len(),
            applied - acknowledged.len()
        ));
    }
    eprintln!("kill -9 on {backend:?}: {}", figures.join("; "));
}

#[tokio::test]
async fn a_kill_9_during_provisioning_loses_no_acknowledged_deactivation_on_sqlite() {
    crash_rounds(Backend::Sqlite).await
}

#[tokio::test]
async fn a_kill_9_during_provisioning_loses_no_acknowledged_deactivation_on_postgres() {
    crash_rounds(Backend::Postgres).await
}
