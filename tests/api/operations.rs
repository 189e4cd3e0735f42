//! The operator's commands: online backup and restore, the effective configuration, a check
//! of a configuration file, shell completions and manual pages.

use std::path::Path;
use std::process::{Command, Output};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestDb, expect_status};

fn scimitar(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimitar"));
    command.args(args).current_dir(dir);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
        command.env_remove(key);
    }
    command.output().expect("run scimitar")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// A `scimitar serve` started in `dir` on `database`: its base URL and its bootstrap token
/// (if it printed one).
async fn serve(dir: &Path, database: &str) -> (crate::serve::Served, String, Option<String>) {
    let served = crate::serve::Served::start(dir, database, "serve", &[]).await;
    let (base, token) = (format!("{}/scim/v2", served.root), served.token.clone());
    (served, base, token)
}

#[tokio::test]
async fn a_backup_of_a_live_sqlite_database_restores_and_verifies() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut server, base, token) = serve(dir.path(), "live.db").await;
    let token = token.expect("a bootstrap token");
    let client = crate::helpers::http_client();
    let create = |name: String| {
        client
            .post(format!("{base}/Users"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(serde_json::json!({"userName": name}).to_string())
            .send()
    };
    for name in ["alice", "bob", "carol"] {
        expect_status(
            create(name.into()).await.expect("POST"),
            StatusCode::CREATED,
        )
        .await;
    }
    // The server keeps taking writes while the copy is taken.
    let dir_path = dir.path().to_path_buf();
    let backup = tokio::task::spawn_blocking(move || {
        scimitar(&dir_path, &["backup", "copy.db", "--database", "live.db"])
    });
    let writes =
        futures_util::future::join_all((0..20).map(|i| create(format!("during{i}")))).await;
    assert!(
        writes
            .iter()
            .all(|w| w.as_ref().is_ok_and(|r| r.status() == StatusCode::CREATED))
    );
    let backup = backup.await.expect("backup ran");
    assert!(backup.status.success(), "{}", text(&backup.stderr));
    let again = scimitar(dir.path(), &["backup", "copy.db", "--database", "live.db"]);
    assert!(!again.status.success(), "a backup never overwrites a file");
    server.kill9().await;

    let verified = scimitar(dir.path(), &["audit", "verify", "--database", "copy.db"]);
    assert!(
        verified.status.success(),
        "{}{}",
        text(&verified.stdout),
        text(&verified.stderr)
    );
    assert!(text(&verified.stdout).contains("default: intact"));
    let (_restored, base, fresh_token) = serve(dir.path(), "copy.db").await;
    assert!(
        fresh_token.is_none(),
        "the restored database already has its credential"
    );
    let users = client
        .get(format!("{base}/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    let users = expect_status(users, StatusCode::OK).await;
    let total = users["totalResults"].as_i64().expect("total");
    assert!(
        (3..=23).contains(&total),
        "the copy holds the users of one moment: {total}"
    );
    assert_eq!(
        users["Resources"].as_array().map(Vec::len),
        Some(total as usize)
    );
}

#[test]
fn a_postgres_backup_is_refused_with_directions() {
    let Some(db) = TestDb::create(Backend::Postgres) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let target = dir.path().join("copy.db");
    let output = scimitar(
        dir.path(),
        &["backup", &target.to_string_lossy(), "--database", &db.url],
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("pg_dump"),
        "{}",
        text(&output.stderr)
    );
    assert!(!target.exists());
}

#[test]
fn config_show_names_each_source_and_config_check_validates_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("scimitar.toml"),
        "log_level = \"debug\"\n[tenants.acme]\nsession_hours = 8\n",
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimitar"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
        command.env_remove(key);
    }
    let shown = command
        .args([
            "config",
            "show",
            "--json",
            "--database",
            "postgres://scim:s3cret@db.internal/scim",
        ])
        .env("SCIMITAR_BURST_THRESHOLD", "7")
        .current_dir(dir.path())
        .output()
        .expect("config show");
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert!(
        !text(&shown.stdout).contains("s3cret"),
        "secrets are redacted"
    );
    let settings: Vec<Value> = serde_json::from_slice(&shown.stdout).expect("JSON");
    let source = |key: &str| {
        settings
            .iter()
            .find(|s| s["key"] == key)
            .map(|s| (s["value"].clone(), s["source"].clone()))
    };
    assert_eq!(
        source("database_url"),
        Some(("postgres://scim:***@db.internal/scim".into(), "flag".into()))
    );
    assert_eq!(source("burst_threshold"), Some((7.into(), "env".into())));
    assert_eq!(source("log_level"), Some(("debug".into(), "file".into())));
    assert_eq!(
        source("bind"),
        Some(("127.0.0.1:8080".into(), "default".into()))
    );
    assert!(
        !dir.path().join("scimitar.db").exists(),
        "config show opens no database"
    );

    let good = scimitar(dir.path(), &["config", "check", "scimitar.toml"]);
    assert!(good.status.success(), "{}", text(&good.stderr));
    assert!(text(&good.stdout).contains("is valid: 1 tenant section(s)"));
    std::fs::write(dir.path().join("bad.toml"), "sesion_hours = 8\n").expect("bad config");
    let bad = scimitar(dir.path(), &["config", "check", "bad.toml"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("sesion_hours"),
        "the error names the unknown key: {}",
        text(&bad.stderr)
    );
    std::fs::write(dir.path().join("zero.toml"), "max_page_size = 0\n").expect("invalid config");
    assert!(
        !scimitar(dir.path(), &["config", "check", "zero.toml"])
            .status
            .success()
    );
}

#[test]
fn completions_and_manual_pages_come_from_the_command_definition() {
    let dir = tempfile::tempdir().expect("dir");
    for shell in ["bash", "zsh", "fish"] {
        let script = scimitar(dir.path(), &["completions", shell]);
        assert!(script.status.success(), "{shell}");
        for command in ["serve", "backup", "audit"] {
            assert!(
                text(&script.stdout).contains(command),
                "{shell} completes `{command}`"
            );
        }
    }
    let pages = dir.path().join("man");
    let written = scimitar(dir.path(), &["man", "--dir", &pages.to_string_lossy()]);
    assert!(written.status.success(), "{}", text(&written.stderr));
    let serve = std::fs::read_to_string(pages.join("scimitar-serve.1")).expect("serve page");
    assert!(
        serve.contains(".TH") && serve.contains("public\\-url"),
        "{serve}"
    );
    assert!(pages.join("scimitar.1").exists() && pages.join("scimitar-backup.1").exists());
    assert!(
        !dir.path().join("scimitar.db").exists(),
        "no database is opened"
    );
}

/// The configuration table in the docs and the code cannot drift: every setting is in the
/// table with its environment variable and its default, and the table names nothing else.
#[test]
fn the_documented_configuration_table_matches_the_code() {
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .expect("docs/configuration.md");
    let mut documented = std::collections::BTreeMap::new();
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').skip(1).map(str::trim).collect();
        let (Some(key), Some(env)) = (cells.first(), cells.get(1)) else {
            continue;
        };
        if !env.starts_with("`SCIMITAR_") {
            continue;
        }
        let key = key.trim_matches('`').to_string();
        assert_eq!(
            *env,
            format!("`SCIMITAR_{}`", key.to_uppercase()),
            "the variable of `{key}`"
        );
        documented.insert(
            key,
            cells
                .get(3)
                .map(|d| d.trim_matches('`').to_string())
                .unwrap_or_default(),
        );
    }
    let settings = scimitar::config::Config::explain(None, &scimitar::config::Overrides::default())
        .expect("defaults");
    let in_code: std::collections::BTreeMap<String, String> = settings
        .into_iter()
        .filter(|s| s.key != "tenants")
        .map(|s| {
            let value = match s.value {
                Value::String(text) => text,
                Value::Null => "unset".into(),
                other => other.to_string(),
            };
            (s.key.to_string(), value)
        })
        .collect();
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        in_code.keys().collect::<Vec<_>>(),
        "the same settings"
    );
    for (key, default) in &in_code {
        let written = &documented[key];
        // `workers` defaults to the number of CPUs, computed at start.
        if key != "workers" {
            assert_eq!(written, default, "the documented default of `{key}`");
        }
    }
}

/// `serve` says in one line what it is, in both log formats, and long commands draw no
/// progress when their output is not a terminal.
#[test]
fn serve_logs_one_start_up_summary_in_both_formats() {
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("stderr");
        let mut command = Command::new(env!("CARGO_BIN_EXE_scimitar"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
            command.env_remove(key);
        }
        let mut child = command
            .args(["serve", "--bind", "127.0.0.1:0", "--database", "s.db"])
            .env("SCIMITAR_LOG_FORMAT", format)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        assert!(
            lines.any(|l| l.is_ok_and(|l| l.starts_with("SCIM base URL"))),
            "the server starts"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        let _ = child.kill();
        let _ = child.wait();
        let logs = std::fs::read_to_string(&log).expect("logs");
        let summaries: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("Scimitar started"))
            .collect();
        assert_eq!(summaries.len(), 1, "{format}: {logs}");
        assert!(
            !logs.contains('\r') && !logs.contains('\u{1b}'),
            "no progress bar or colour in a file"
        );
        let summary = summaries[0];
        if format == "json" {
            let event: Value = serde_json::from_str(summary).expect("one JSON object");
            let fields = &event["fields"];
            assert_eq!(
                (fields["tenants"].clone(), fields["credentials"].clone()),
                (1.into(), 1.into())
            );
            assert_eq!(fields["database"], "s.db");
            assert!(
                fields["address"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("127.0.0.1:"))
            );
            assert_eq!(fields["audit_checkpoints"], "every 60 min");
        } else {
            for part in [
                "listening on 127.0.0.1:",
                "1 tenant(s)",
                "1 live credential(s)",
                "signing key(s)",
                "sweeper=",
            ] {
                assert!(summary.contains(part), "{part} in {summary}");
            }
        }
    }
}

/// `scimitar demo` runs to the end unattended, narrates every step and leaves nothing behind.
#[test]
fn the_demo_runs_unattended_narrates_each_step_and_cleans_up() {
    let dir = tempfile::tempdir().expect("dir");
    let started = std::time::Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimitar"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
        command.env_remove(key);
    }
    let output = command
        .arg("demo")
        .current_dir(dir.path())
        .env("TMPDIR", dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("demo");
    let narration = text(&output.stdout);
    assert!(
        output.status.success(),
        "{narration}{}",
        text(&output.stderr)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "well under a minute"
    );
    for step in [
        "provisions two users",
        "201 Created",
        "pushes a group",
        "maps the group to a role",
        "\"roles\":[\"engineer\"]",
        "live revocation stream",
        "deactivates alice",
        "stream: session.revoked",
        "stream: user.disabled",
        "alice's access token active: false",
        "invalid_grant",
        "bob's access token active: true",
        "audit trail",
        "caused: #",
        "session.revoke",
        "your own identity provider",
    ] {
        assert!(
            narration.contains(step),
            "the narration mentions `{step}`:\n{narration}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "the demo leaves nothing behind: {left:?}");
}
