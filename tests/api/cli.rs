//! The `scimitar` binary itself: what scripts and first-time users see.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{Backend, TestDb, expect_status};

/// Runs the binary in `dir` against `database`, with no `SCIMITAR_*` variables inherited.
fn scimitar(dir: &Path, database: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimitar"));
    command
        .current_dir(dir)
        .args(args)
        .arg("--database")
        .arg(database);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
        command.env_remove(key);
    }
    command.output().expect("run scimitar")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON value ({e}): {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

macro_rules! cli_on_both_backends {
    ($( fn $name:ident($db:ident, $dir:ident) $body:block )*) => {
        $(
            mod $name {
                use super::*;
                fn run($db: TestDb, $dir: &Path) $body

                #[test]
                fn sqlite() {
                    let dir = tempfile::tempdir().expect("dir");
                    if let Some(db) = TestDb::create(Backend::Sqlite) { run(db, dir.path()) }
                }

                #[test]
                fn postgres() {
                    let dir = tempfile::tempdir().expect("dir");
                    if let Some(db) = TestDb::create(Backend::Postgres) { run(db, dir.path()) }
                }
            }
        )*
    };
}

cli_on_both_backends! {
    fn app_clients_roles_keys_and_the_kill_switch_from_the_command_line(db, dir) {
        let app = stdout_json(&scimitar(dir, &db.url, &["client", "create", "--name", "portal", "--kind", "app", "--trusted"]));
        assert!(app["secret"].as_str().is_some_and(|s| s.starts_with("scimitar_")));
        let list = stdout_json(&scimitar(dir, &db.url, &["client", "list", "--json"]));
        assert!(list.as_array().is_some_and(|all| all.iter().any(|c| c["kind"] == "app" && c["client_id"] == app["client_id"])));
        let refused = scimitar(dir, &db.url, &["client", "create", "--name", "x", "--trusted"]);
        assert!(!refused.status.success(), "--trusted needs --kind app");

        let mapped = stdout_json(&scimitar(dir, &db.url, &["roles", "map", "--group", "externalId:00g-eng", "--role", "developer", "--role", "deployer"]));
        assert_eq!(mapped.as_array().map(Vec::len), Some(2));
        let listed = stdout_json(&scimitar(dir, &db.url, &["roles", "list", "--json"]));
        let roles: Vec<&str> = listed.as_array().map(|a| a.iter().filter_map(|m| m["role"].as_str()).collect()).unwrap_or_default();
        assert_eq!(roles, vec!["deployer", "developer"]);
        assert!(listed.as_array().is_some_and(|a| a.iter().all(|m| m["match_by"] == "externalId" && m["group"] == "00g-eng")));
        let id = listed[0]["id"].as_str().unwrap_or_default().to_string();
        assert!(scimitar(dir, &db.url, &["roles", "unmap", &id]).status.success());
        let listed = stdout_json(&scimitar(dir, &db.url, &["roles", "list", "--json"]));
        assert_eq!(listed.as_array().map(Vec::len), Some(1));
        assert!(!scimitar(dir, &db.url, &["roles", "unmap", &id]).status.success(), "already gone");

        let keys = stdout_json(&scimitar(dir, &db.url, &["keys", "rotate"]));
        assert_eq!(keys.as_array().map(Vec::len), Some(2), "the old key and the scheduled one: {keys}");
        assert!(keys[0]["retires"].is_string() && keys[1]["retires"].is_null());

        let unknown = scimitar(dir, &db.url, &["revoke", "--user", "nobody"]);
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user"));
    }
    fn client_create_prints_exactly_one_json_object_with_the_secret(db, dir) {
        let output = scimitar(dir, &db.url, &["client", "create", "--name", "okta"]);
        let created = stdout_json(&output);
        let keys: Vec<&String> = created.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        assert_eq!(keys, vec!["client_id", "secret"]);
        let secret = created["secret"].as_str().unwrap_or_default();
        assert!(secret.starts_with("scimitar_") && secret.len() >= 9 + 43, "{secret}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains(secret), "the secret goes to stdout only");
    }

    fn client_list_shows_name_kind_tenant_created_and_last_used_but_never_secrets(db, dir) {
        let created = stdout_json(&scimitar(dir, &db.url, &["client", "create", "--name", "entra", "--kind", "admin"]));
        let list = stdout_json(&scimitar(dir, &db.url, &["client", "list", "--json"]));
        let entry = list.as_array().and_then(|all| all.iter().find(|c| c["name"] == "entra")).cloned().unwrap_or(Value::Null);
        assert_eq!(entry["client_id"], created["client_id"]);
        assert_eq!(entry["kind"], "admin");
        assert_eq!(entry["tenant"], "default");
        assert!(entry["created"].is_string());
        assert_eq!(entry["last_used"], Value::Null);
        let table = scimitar(dir, &db.url, &["client", "list"]);
        let text = String::from_utf8_lossy(&table.stdout);
        assert!(text.contains("entra") && text.contains("LAST USED"), "{text}");
        assert!(!text.contains(created["secret"].as_str().unwrap_or("-")) && !list.to_string().contains(created["secret"].as_str().unwrap_or("-")));
    }

    fn client_revoke_marks_the_credential_revoked(db, dir) {
        let created = stdout_json(&scimitar(dir, &db.url, &["client", "create", "--name", "old"]));
        let client_id = created["client_id"].as_str().unwrap_or_default();
        assert!(scimitar(dir, &db.url, &["client", "revoke", client_id]).status.success());
        let list = stdout_json(&scimitar(dir, &db.url, &["client", "list", "--json"]));
        assert!(list[0]["revoked"].is_string(), "{list}");
        assert!(!scimitar(dir, &db.url, &["client", "revoke", client_id]).status.success(), "revoking twice fails");
    }

    fn tenants_are_created_listed_and_used_by_client_create(db, dir) {
        let tenant = stdout_json(&scimitar(dir, &db.url, &["tenant", "create", "acme"]));
        assert_eq!(tenant["name"], "acme");
        let tenants = stdout_json(&scimitar(dir, &db.url, &["tenant", "list", "--json"]));
        let names: Vec<&str> = tenants.as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(names, vec!["default", "acme"]);
        stdout_json(&scimitar(dir, &db.url, &["client", "create", "--name", "okta", "--tenant", "acme"]));
        let list = stdout_json(&scimitar(dir, &db.url, &["client", "list", "--json"]));
        assert_eq!(list[0]["tenant"], "acme");
        assert!(!scimitar(dir, &db.url, &["tenant", "create", "acme"]).status.success(), "duplicate tenant");
        assert!(!scimitar(dir, &db.url, &["tenant", "create", "bad name!"]).status.success(), "invalid name");
        let unknown = scimitar(dir, &db.url, &["client", "create", "--name", "x", "--tenant", "nope"]);
        assert!(!unknown.status.success() && unknown.stdout.is_empty());
    }

    fn a_revocation_caller_that_could_name_two_tenants_is_refused_at_start(db, dir) {
        stdout_json(&scimitar(dir, &db.url, &["tenant", "create", "acme"]));
        let caller = "issuer = \"https://acme.okta.example\"\nclient_id = \"0oa1\"\njwks_uri = \"https://acme.okta.example/oauth2/v1/keys\"\n";
        let config = format!(
            "bind = \"127.0.0.1:0\"\n[[tenants.default.revocation_callers]]\n{caller}[[tenants.acme.revocation_callers]]\n{caller}"
        );
        std::fs::write(dir.join("scimitar.toml"), config).expect("config");
        let output = scimitar(dir, &db.url, &["serve"]);
        assert!(!output.status.success(), "serve must refuse to start");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("configured twice"), "{stderr}");
        // The failed start spent nothing: the one-time bootstrap credential is still to come.
        assert!(!String::from_utf8_lossy(&output.stdout).contains("SCIM bearer token"));
        std::fs::remove_file(dir.join("scimitar.toml")).expect("remove the config");
        let listed = stdout_json(&scimitar(dir, &db.url, &["client", "list", "--json"]));
        assert_eq!(listed, json!([]), "no credential was created");
    }

    fn client_limit_sets_and_removes_an_app_clients_cap(db, dir) {
        let app = stdout_json(&scimitar(dir, &db.url, &["client", "create", "--name", "portal", "--kind", "app"]));
        let id = app["client_id"].as_str().expect("id").to_string();
        let set = scimitar(dir, &db.url, &["client", "limit", &id, "--oauth-per-second", "50"]);
        assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
        let listed = stdout_json(&scimitar(dir, &db.url, &["client", "list", "--json"]));
        assert_eq!(listed[0]["oauth_per_second"], 50);
        assert!(scimitar(dir, &db.url, &["client", "limit", &id, "--oauth-per-second", "none"]).status.success());
        let listed = stdout_json(&scimitar(dir, &db.url, &["client", "list", "--json"]));
        assert_eq!(listed[0]["oauth_per_second"], Value::Null);
        for bad in ["0", "-1", "lots"] {
            let refused = scimitar(dir, &db.url, &["client", "limit", &id, "--oauth-per-second", bad]);
            let code = refused.status.code();
            assert!(matches!(code, Some(1) | Some(2)), "{bad}: a clear error, not a panic ({code:?})");
        }
    }

    fn migrate_applies_migrations_and_is_idempotent(db, dir) {
        assert!(scimitar(dir, &db.url, &["migrate"]).status.success());
        assert!(scimitar(dir, &db.url, &["migrate"]).status.success());
    }
}

#[test]
fn an_unknown_database_scheme_is_refused_without_creating_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    let output = scimitar(dir.path(), "mysql://localhost/x", &["migrate"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported database scheme"));
    assert_eq!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

/// The README's first command: a fresh `serve` prints a token that works at once.
async fn first_start(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimitar"));
    command
        .current_dir(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--database", &db.url])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
        command.env_remove(key);
    }
    let mut child = command.spawn().expect("spawn scimitar serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut token, mut base) = (None, None);
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(t) = line.strip_prefix("SCIM bearer token: ") {
                token = Some(t.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("SCIM base URL (tenant URL for Okta or Entra): ") {
                base = Some(url.trim().to_string());
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the server starts");
    let (token, base) = (
        token.expect("a bootstrap token is printed"),
        base.expect("the base URL is printed"),
    );
    let client = crate::helpers::http_client();
    let created = client
        .post(format!("{base}/Users"))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(json!({"userName": "first@example.com", "password": "hunter2-Secret!"}).to_string())
        .send()
        .await
        .expect("POST");
    let created = expect_status(created, StatusCode::CREATED).await;
    let location = created["meta"]["location"]
        .as_str()
        .expect("location")
        .to_string();
    let read = client
        .get(&location)
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        expect_status(read, StatusCode::OK).await["userName"],
        "first@example.com"
    );
    // Hostile text in an id (echoed in the error, which is logged) and a credential in a
    // query string.
    for path in [
        "/Users/x%0A2026-01-01T00:00:00Z%20%20INFO%20forged%20line%1B%5B2J%0D",
        "/Users?access_token=LEAKED-IN-QUERY&filter=userName%20eq%20%22x%22",
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET");
        assert!(response.status().is_client_error() || response.status().is_success());
    }
    child.kill().await.expect("stop the server");

    let logs = std::fs::read_to_string(&log_path).expect("server log");
    assert!(
        !logs.contains('\u{1b}'),
        "no terminal escape when stderr is a file"
    );
    assert!(!logs.contains('\r'));
    assert!(
        !logs
            .lines()
            .any(|line| line.trim_start().starts_with("2026-01-01T00:00:00Z")),
        "user text never starts a log line of its own: {logs}"
    );
    assert!(
        !logs.contains("LEAKED-IN-QUERY"),
        "query strings are not logged"
    );
    // Every file `serve` created in the working directory is git-ignored.
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name == "server.log" {
            continue;
        }
        let ignored = std::process::Command::new("git")
            .args(["check-ignore", "--no-index", "-q", &name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("git");
        assert!(
            ignored.success(),
            "`{name}`, created by serve, is not git-ignored"
        );
    }
    assert!(
        logs.contains("/scim/v2/Users"),
        "requests are logged: {logs}"
    );
    assert!(
        !logs.contains(&token),
        "the bearer token never appears in logs"
    );
    assert!(
        !logs.contains("hunter2-Secret!"),
        "passwords never appear in logs"
    );

    let again = scimitar(dir.path(), &db.url, &["client", "list", "--json"]);
    assert_eq!(
        stdout_json(&again).as_array().map(Vec::len),
        Some(1),
        "one bootstrap credential, created once"
    );
}

#[tokio::test]
async fn a_fresh_serve_prints_a_token_that_works_at_once_on_sqlite() {
    first_start(Backend::Sqlite).await
}

#[tokio::test]
async fn a_fresh_serve_prints_a_token_that_works_at_once_on_postgres() {
    first_start(Backend::Postgres).await
}

cli_on_both_backends! {
    fn audit_checkpoints_are_signed_exported_and_checked_from_the_command_line(db, dir) {
        stdout_json(&scimitar(dir, &db.url, &["client", "create", "--name", "okta"]));
        let exported = scimitar(dir, &db.url, &["audit", "checkpoint"]);
        let checkpoint = stdout_json(&exported);
        assert_eq!(checkpoint["seq"], json!(1));
        assert!(dir.join("scimitar-audit.key").exists(), "the signing key is created beside, not inside, the database");
        let file = dir.join("checkpoint.json");
        std::fs::write(&file, checkpoint.to_string()).expect("write");
        let checked = scimitar(dir, &db.url, &["audit", "verify", "--checkpoint", file.to_str().unwrap_or_default()]);
        assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
        assert!(String::from_utf8_lossy(&checked.stdout).contains("holds"));
        let mut forged = checkpoint.clone();
        forged["hash"] = json!("0".repeat(64));
        std::fs::write(&file, forged.to_string()).expect("write");
        assert!(!scimitar(dir, &db.url, &["audit", "verify", "--checkpoint", file.to_str().unwrap_or_default()]).status.success());
        let pruned = scimitar(dir, &db.url, &["audit", "prune", "--before", "2999-01-01T00:00:00Z"]);
        assert!(pruned.status.success(), "{}", String::from_utf8_lossy(&pruned.stderr));
        assert!(scimitar(dir, &db.url, &["audit", "verify"]).status.success(), "the pruned chain still verifies");
    }
}

/// A password in a database URL, in any form libpq reads it, is never printed: not in the
/// "cannot open the database" error, not by `config show`.
#[test]
fn a_database_password_is_redacted_in_every_message() {
    let dir = tempfile::tempdir().expect("dir");
    let url = "postgres://u:hunter1@127.0.0.1:1/db?password=hunter2&sslpassword=hunter3&pass%77ord=hunter4&connect_timeout=2";
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimitar"));
    command
        .current_dir(dir.path())
        .env("SCIMITAR_DB_TIMEOUT_SECONDS", "1")
        .args(["migrate", "--database", url]);
    let failed = command.output().expect("run scimitar");
    assert!(!failed.status.success());
    let shown = scimitar(dir.path(), url, &["config", "show"]);
    // Pieces libpq quotes when it cannot read them, and a key/value string.
    let mut quoted = Command::new(env!("CARGO_BIN_EXE_scimitar"));
    quoted
        .current_dir(dir.path())
        .env("SCIMITAR_DB_TIMEOUT_SECONDS", "1")
        .args([
            "migrate",
            "--database",
            "postgres://u:Pw34%hunterX@127.0.0.1:1/db",
        ]);
    let quoted = quoted.output().expect("run scimitar");
    let at = scimitar(
        dir.path(),
        "postgres://u:Pw@hunterY@127.0.0.1:1/db",
        &["migrate"],
    );
    let conninfo = scimitar(
        dir.path(),
        "host=127.0.0.1 password=hunterZ dbname=x",
        &["config", "show"],
    );
    let refused = scimitar(
        dir.path(),
        "host=127.0.0.1 password=hunterZ dbname=x",
        &["migrate"],
    );
    assert!(
        !refused.status.success(),
        "a key/value string is not a SQLite file name"
    );
    assert_eq!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "no file created"
    );
    for output in [&failed, &shown, &quoted, &at, &conninfo, &refused] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!text.contains("hunter"), "{text}");
    }
}

/// `scimitar demo` interrupted by Ctrl-C (SIGINT) or `kill` (SIGTERM) stops its server and
/// removes its files; killed outright (SIGKILL), it still takes its server with it.
#[cfg(target_os = "linux")]
#[test]
fn an_interrupted_demo_leaves_no_server_and_no_files() {
    use std::io::BufRead;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGKILL] {
        let temp = tempfile::tempdir().expect("dir");
        let mut demo = Command::new(env!("CARGO_BIN_EXE_scimitar"))
            .args(["demo", "--no-pause"])
            .env("TMPDIR", temp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo");
        let mut lines = std::io::BufReader::new(demo.stdout.take().expect("stdout")).lines();
        let mut root = None;
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("1. Started `scimitar serve` at ") {
                root = rest
                    .split_whitespace()
                    .next()
                    .map(|r| r.trim_end_matches('.').to_string());
                break;
            }
        }
        let root = root.expect("the demo started its server");
        let address = root.trim_start_matches("http://").to_string();
        // SAFETY: a signal to the child this test started.
        unsafe {
            libc::kill(demo.id() as i32, signal);
        }
        let status = demo.wait().expect("the demo ends");
        assert!(!status.success(), "signal {signal}");
        let mut stopped = false;
        for _ in 0..50 {
            if std::net::TcpStream::connect(&address).is_err() {
                stopped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            stopped,
            "signal {signal}: the demo's server at {address} outlived it"
        );
        let left = || {
            std::fs::read_dir(temp.path())
                .map(|d| d.count())
                .unwrap_or(0)
        };
        if signal != libc::SIGKILL {
            assert_eq!(left(), 0, "signal {signal}: files left");
        } else {
            // What kill -9 left, the next demo removes before it starts.
            assert_eq!(left(), 1, "the killed demo's directory");
            let next = Command::new(env!("CARGO_BIN_EXE_scimitar"))
                .args(["demo", "--no-pause"])
                .env("TMPDIR", temp.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("the next demo");
            assert!(next.success());
            assert_eq!(
                left(),
                0,
                "the orphan and the next demo's own files are gone"
            );
        }
    }
}
