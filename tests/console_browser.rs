//! The operator console in a real browser: headless Chromium, driven through `chromedriver`
//! (Debian's `chromium` and `chromium-driver`), against the real `scimitar serve` on a fresh
//! SQLite database. An operator signs in, finds a person provisioned over SCIM, sees their
//! roles explained, watches a SCIM deactivation arrive in the Live view and on the person's
//! page, uses the kill switch, and is refused with a wrong credential and without a CSRF
//! token. Each page is saved as a screenshot to the folder the test prints.
//!
//! Without `chromedriver` the test is skipped with a message, except under `CI=true`, where it
//! fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long any one step may wait for the page.
const STEP: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_follows_a_deprovisioning_in_the_console() {
    let Some(driver_binary) = find_on_path("chromedriver") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but chromedriver is not installed (Debian: chromium chromium-driver)");
        }
        eprintln!(
            "\n*** chromedriver not found: the console browser test is SKIPPED. \
             Install Debian's chromium and chromium-driver to run it. ***\n"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let shots = screenshot_dir();
    eprintln!("console screenshots: {}", shots.display());
    let database = dir.path().join("console.db").display().to_string();
    let server = Server::start(dir.path(), &database).await;
    let world = provision(&server, dir.path(), &database).await;
    let (mut driver, port) = start_driver(&driver_binary).await;
    let browser = connect(port).await;
    let result = scenario(&browser, &server, &world, &shots).await;
    let _ = browser.close().await;
    let _ = driver.kill().await;
    if let Err(error) = result {
        panic!("{error}; screenshots so far in {}", shots.display());
    }
}

/// What the test provisioned: the people, the credentials and the live sessions.
struct World {
    admin: String,
    app_id: String,
    app_secret: String,
    ada: String,
    grace: String,
}

type Step = Result<(), String>;

async fn scenario(browser: &Client, server: &Server, world: &World, shots: &Path) -> Step {
    let root = &server.root;
    // Signing in: a wrong secret and an app credential are refused, an admin one is not.
    browser
        .goto(&format!("{root}/console"))
        .await
        .map_err(text)?;
    wait_for(browser, "#sign-in").await?;
    shot(browser, shots, "01-sign-in").await?;
    sign_in(browser, "scimitar_not-a-real-secret").await?;
    expect_text(browser, "#problem", "not a valid credential").await?;
    sign_in(browser, &world.app_secret).await?;
    expect_text(browser, "#problem", "Only an admin credential").await?;
    shot(browser, shots, "02-sign-in-refused").await?;
    sign_in(browser, &world.admin).await?;
    wait_for(browser, "#active-users").await?;
    shot(browser, shots, "03-overview").await?;

    // A role mapping, added through its preview.
    browser
        .goto(&format!("{root}/console/groups"))
        .await
        .map_err(text)?;
    fill(browser, "#mapping-group", "displayName:Engineering").await?;
    fill(browser, "#mapping-role", "developer").await?;
    click(browser, "#add-mapping button").await?;
    expect_text(browser, "#role-changes", "ada@example.com").await?;
    shot(browser, shots, "04-mapping-preview").await?;
    click(browser, "#apply button").await?;
    expect_text(browser, "#mapping-rules", "developer").await?;
    shot(browser, shots, "05-groups").await?;
    // The app signs Ada in again: this session's tokens carry the new role.
    server.exchange(world, &world.ada).await?;

    // Finding a person provisioned over SCIM, and why they have access.
    browser
        .goto(&format!("{root}/console/people"))
        .await
        .map_err(text)?;
    fill(browser, "#q", "ada").await?;
    expect_text(browser, "#results", "Ada Lovelace").await?;
    click(browser, "#results a").await?;
    expect_text(browser, "#roles", "developer").await?;
    expect_text(browser, "#roles", "Engineering").await?;
    expect_text(browser, "#sessions", "reports-app").await?;
    shot(browser, shots, "06-person").await?;

    // A SCIM deactivation, watched live.
    browser
        .goto(&format!("{root}/console/live"))
        .await
        .map_err(text)?;
    wait_for(browser, "#live-events").await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.deactivate(&world.ada).await?;
    expect_text(browser, "#live-events", "user.disabled").await?;
    expect_text(browser, "#live-events", "session.revoked").await?;
    expect_text(browser, "#live-events", "ada@example.com").await?;
    shot(browser, shots, "07-live").await?;
    browser
        .goto(&format!("{root}/console/people/{}", world.ada))
        .await
        .map_err(text)?;
    expect_text(browser, "#status", "inactive").await?;
    wait_for(browser, "#no-sessions").await?;
    expect_text(browser, "#trail", "user.patch").await?;
    shot(browser, shots, "08-person-deactivated").await?;

    // The kill switch, confirmed through its preview.
    browser
        .goto(&format!("{root}/console/people/{}", world.grace))
        .await
        .map_err(text)?;
    click(browser, "#kill-switch").await?;
    expect_text(browser, "#ending", "reports-app").await?;
    shot(browser, shots, "09-kill-switch-preview").await?;
    click(browser, "#confirm-kill-switch button").await?;
    expect_text(browser, "#ended", "1 session(s) ended").await?;
    wait_for(browser, "#no-sessions").await?;
    shot(browser, shots, "10-after-kill-switch").await?;

    // The audit log, with the kill switch's record at the top.
    browser
        .goto(&format!("{root}/console/audit"))
        .await
        .map_err(text)?;
    expect_text(browser, "#records", "user.revoke_access").await?;
    shot(browser, shots, "11-audit").await?;

    // A form without its CSRF token is refused, and changes nothing.
    browser
        .goto(&format!("{root}/console/people/{}/kill-switch", world.ada))
        .await
        .map_err(text)?;
    browser
        .execute(
            "document.querySelector('#confirm-kill-switch input[name=csrf]').remove()",
            vec![],
        )
        .await
        .map_err(text)?;
    click(browser, "#confirm-kill-switch button").await?;
    expect_text(browser, "#problem", "security token").await?;
    shot(browser, shots, "12-csrf-refused").await?;
    browser
        .goto(&format!("{root}/console/audit?action=user.revoke_access"))
        .await
        .map_err(text)?;
    let records = browser
        .find_all(Locator::Css("#records tbody tr"))
        .await
        .map_err(text)?;
    if records.len() != 1 {
        return Err(format!("one kill switch recorded, not {}", records.len()));
    }
    browser
        .goto(&format!("{root}/console"))
        .await
        .map_err(text)?;
    expect_text(browser, "#inactive-users", "1").await?;
    shot(browser, shots, "13-overview-after").await
}

/// The folder screenshots go to, emptied first.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn shot(browser: &Client, dir: &Path, name: &str) -> Step {
    let png = browser.screenshot().await.map_err(text)?;
    std::fs::write(dir.join(format!("{name}.png")), png).map_err(text)
}

async fn sign_in(browser: &Client, secret: &str) -> Step {
    fill(browser, "#secret", secret).await?;
    click(browser, "#sign-in button").await
}

async fn fill(browser: &Client, css: &str, value: &str) -> Step {
    let field = browser
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css(css))
        .await
        .map_err(text)?;
    field.clear().await.map_err(text)?;
    field.send_keys(value).await.map_err(text)
}

async fn click(browser: &Client, css: &str) -> Step {
    let element = browser
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css(css))
        .await
        .map_err(text)?;
    element.click().await.map_err(text)
}

async fn wait_for(browser: &Client, css: &str) -> Step {
    browser
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css(css))
        .await
        .map(|_| ())
        .map_err(|e| format!("{css}: {e}"))
}

/// Waits until the element's text contains `wanted`.
async fn expect_text(browser: &Client, css: &str, wanted: &str) -> Step {
    let deadline = Instant::now() + STEP;
    let mut seen = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            seen = element.text().await.unwrap_or_default();
            if seen.contains(wanted) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = browser
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    Err(format!(
        "`{wanted}` never appeared in {css} on {url}; it showed: {seen}"
    ))
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// `chromedriver` on a free port, once it answers.
async fn start_driver(binary: &Path) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let status = format!("http://127.0.0.1:{port}/status");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(&status)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (child, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

async fn connect(port: u16) -> Client {
    let mut options = json!({"args": [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1366,900", "--hide-scrollbars", "--force-device-scale-factor=1",
    ]});
    if let Some(chromium) = find_on_path("chromium") {
        options["binary"] = Value::String(chromium.display().to_string());
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver")
}

/// `scimitar serve` on a random port, and what it printed.
struct Server {
    _child: Child,
    root: String,
    token: String,
    http: reqwest::Client,
}

impl Server {
    async fn start(dir: &Path, database: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_scimitar"));
        command
            .current_dir(dir)
            .args(["serve", "--bind", "127.0.0.1:0", "--database", database])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCIMITAR_")) {
            command.env_remove(key);
        }
        let mut child = command.spawn().expect("spawn serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut token, mut root) = (None, None);
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("serve printed its address in time")
        {
            if let Some(printed) = line.strip_prefix("SCIM bearer token: ") {
                token = Some(printed.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("Scimitar is listening on ") {
                root = Some(url.trim().to_string());
                break;
            }
        }
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            _child: child,
            root: root.expect("the listening address"),
            token: token.expect("the bootstrap token"),
            http: reqwest::Client::new(),
        }
    }

    async fn scim(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}/scim/v2{path}", self.root))
            .bearer_auth(&self.token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("SCIM request");
        assert!(
            response.status().is_success(),
            "SCIM {path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    /// A session for `user`, started by the app client (a trusted token exchange).
    async fn exchange(&self, world: &World, user: &str) -> Step {
        let form = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", user),
            (
                "subject_token_type",
                "urn:scimitar:params:oauth:token-type:scim-user",
            ),
        ];
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.root))
            .basic_auth(&world.app_id, Some(&world.app_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).map_err(text)?)
            .send()
            .await
            .map_err(text)?;
        match response.status().is_success() {
            true => Ok(()),
            false => Err(format!("token exchange: {}", response.status())),
        }
    }

    async fn deactivate(&self, user_id: &str) -> Step {
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]});
        self.scim(reqwest::Method::PATCH, &format!("/Users/{user_id}"), patch)
            .await;
        Ok(())
    }
}

/// Two people in a group, an admin and an app credential, and a live session for each person.
async fn provision(server: &Server, dir: &Path, database: &str) -> World {
    let cli = |args: &[&str]| -> Value {
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
    };
    let admin = cli(&[
        "client",
        "create",
        "--name",
        "security-team",
        "--kind",
        "admin",
    ]);
    let app = cli(&[
        "client",
        "create",
        "--name",
        "reports-app",
        "--kind",
        "app",
        "--trusted",
    ]);
    let person = |user_name: &str, formatted: &str, external_id: &str| {
        json!({"userName": user_name, "externalId": external_id, "name": {"formatted": formatted},
            "emails": [{"value": user_name, "type": "work", "primary": true}]})
    };
    let post = reqwest::Method::POST;
    let ada = server
        .scim(
            post.clone(),
            "/Users",
            person("ada@example.com", "Ada Lovelace", "00u-ada"),
        )
        .await;
    let grace = server
        .scim(
            post.clone(),
            "/Users",
            person("grace@example.com", "Grace Hopper", "00u-grace"),
        )
        .await;
    let id = |v: &Value| v["id"].as_str().expect("an id").to_string();
    let (ada, grace) = (id(&ada), id(&grace));
    let members = json!([{"value": ada}, {"value": grace}]);
    server
        .scim(
            post,
            "/Groups",
            json!({"displayName": "Engineering", "externalId": "00g-eng", "members": members}),
        )
        .await;
    let world = World {
        admin: admin["secret"].as_str().expect("secret").to_string(),
        app_id: app["client_id"].as_str().expect("client id").to_string(),
        app_secret: app["secret"].as_str().expect("secret").to_string(),
        ada,
        grace,
    };
    for user in [&world.ada, &world.grace] {
        server.exchange(&world, user).await.expect("token exchange");
    }
    world
}
