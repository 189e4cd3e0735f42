//! The operator console over HTTP, on both backends: signing in and out, the cookie, CSRF,
//! the idle timeout, every page for a provisioned person (with hostile input escaped), the
//! kill switch, role mappings through their preview, flags, paging, and the console's place
//! outside the OpenAPI document. The browser test is `tests/console_browser.rs`.

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use scimitar::access::credentials;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, id_of};
use crate::on_both_backends;

/// A browser as far as the console can tell: a cookie jar of one session, no redirects
/// followed.
pub(crate) struct Browser {
    http: reqwest::Client,
    root: String,
    cookies: Vec<(String, String)>,
    /// The `Set-Cookie` headers of the last response.
    set_cookies: Vec<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            root: app.root.clone(),
            cookies: Vec::new(),
            set_cookies: Vec::new(),
        }
    }

    fn remember(&mut self, response: &reqwest::Response) {
        self.set_cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect();
        for header in &self.set_cookies {
            let pair = header.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.retain(|(n, _)| n != name);
                if !value.is_empty() {
                    self.cookies.push((name.to_string(), value.to_string()));
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        pairs.join("; ")
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub(crate) async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.root))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.remember(&response);
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }

    /// A GET whose body is read as it comes (an event stream).
    async fn open(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.root))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET")
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.root))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("form"))
            .send()
            .await
            .expect("POST");
        self.remember(&response);
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = response.text().await.unwrap_or_default();
        (status, location.unwrap_or(body))
    }

    /// Signs in with `secret`: the status and the redirect target or page.
    async fn sign_in_with(&mut self, secret: &str) -> (StatusCode, String) {
        let (status, page) = self.get("/console/sign-in").await;
        assert_eq!(status, StatusCode::OK);
        let token = csrf(&page);
        self.post("/console/sign-in", &[("secret", secret), ("csrf", &token)])
            .await
    }

    /// Signs in as a new admin credential; returns the page of `/console`.
    pub(crate) async fn signed_in(app: &TestApp) -> (Self, String) {
        let mut browser = Browser::new(app);
        let (status, location) = browser.sign_in_with(&app.admin_token()).await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/console")
        );
        let (status, page) = browser.get("/console").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        (browser, page)
    }
}

/// The CSRF token in a page's first form.
fn csrf(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a CSRF field") + marker.len();
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A user with a live session (from a trusted app's token exchange); returns the user's id.
async fn user_with_session(app: &TestApp, user_name: &str) -> String {
    let user = id_of(&app.create_user(user_name).await);
    let client = app.app_client(true);
    app.tokens_for(&client, &user).await;
    user
}

fn live_sessions(app: &TestApp, user: &str) -> usize {
    let explained = app.access.explain(&app.tenant_id, user).expect("explain");
    explained["live_sessions"].as_array().map_or(0, Vec::len)
}

fn audit_actions(app: &TestApp, action: &str) -> Vec<Value> {
    let query = scimitar::store::audit::AuditQuery {
        action: Some(action.to_string()),
        limit: 100,
        ..Default::default()
    };
    scimitar::audit::reading::page(&app.store, &app.tenant_id, &query)
        .expect("audit")
        .0
}

on_both_backends! {
    async fn an_admin_signs_in_with_a_strict_http_only_cookie_and_out_again(app) {
        let mut browser = Browser::new(&app);
        assert_eq!(browser.get("/console").await.0, StatusCode::SEE_OTHER, "no session, no page");
        let (_, page) = browser.get("/console/sign-in").await;
        let before_sign_in = "fixated-by-an-attacker".to_string();
        browser.cookies.push(("scimitar-console".into(), before_sign_in.clone()));
        let (status, location) = browser
            .post("/console/sign-in", &[("secret", &app.admin_token()), ("csrf", &csrf(&page))])
            .await;
        assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/console"));
        let cookie = browser
            .set_cookies
            .iter()
            .find(|c| c.starts_with("scimitar-console="))
            .cloned()
            .expect("a session cookie");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
        let session = browser.cookie("scimitar-console").expect("session");
        assert_ne!(session, before_sign_in, "a new session id at sign-in");
        assert_eq!(session.len(), 43, "256 random bits");
        let stored: Vec<String> = app
            .store
            .read(|conn| {
                use diesel::prelude::*;
                use scimitar::store::schema::console_sessions::dsl::*;
                console_sessions
                    .select(id_hash)
                    .load::<String>(&mut **conn)
                    .map_err(scimitar::store::StoreError::from)
            })
            .expect("sessions");
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains(&session), "only a digest is stored");
        let (status, page) = browser.get("/console").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Signed in as <strong>test-admin</strong>"), "{page}");
        assert_eq!(audit_actions(&app, "console.sign_in").len(), 1);

        let (status, location) = browser.post("/console/sign-out", &[("csrf", &csrf(&page))]).await;
        assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/console/sign-in"));
        assert_eq!(audit_actions(&app, "console.sign_out").len(), 1);
        browser.cookies.push(("scimitar-console".into(), session));
        assert_eq!(browser.get("/console").await.0, StatusCode::SEE_OTHER, "the old cookie signs no one in");
    }

    async fn the_live_view_ends_with_its_session(app) {
        let (mut browser, page) = Browser::signed_in(&app).await;
        let mut live = browser.open("/console/live/stream").await;
        assert_eq!(live.status(), StatusCode::OK);
        let (status, _) = browser.post("/console/sign-out", &[("csrf", &csrf(&page))]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let user = crate::helpers::id_of(&app.create_user("after-sign-out").await);
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, live.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => break,
                Err(_) => panic!("the live view outlived its session: {text}"),
            }
        }
        assert!(!text.contains(&user), "{text}");
    }

    async fn wrong_app_and_scim_credentials_cannot_sign_in(app) {
        let mut browser = Browser::new(&app);
        let (status, page) = browser.sign_in_with("scimitar_wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(page.contains("not a valid credential"), "{page}");
        let client = app.app_client(false);
        let (status, page) = browser.sign_in_with(&client.secret).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(page.contains("Only an admin credential"), "{page}");
        let (status, _) = browser.sign_in_with(&app.token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a SCIM credential");
        assert!(browser.cookie("scimitar-console").is_none());
        let revoked = app.admin_token();
        let (_, _) = browser.sign_in_with(&revoked).await;
        let client_id = app.store.read(|conn| scimitar::store::credentials::list(conn)).expect("list")
            .into_iter().find(|(c, _)| c.kind == "admin").map(|(c, _)| c.id).expect("admin");
        credentials::revoke(&app.store, &client_id, Utc::now()).expect("revoke");
        assert_eq!(browser.get("/console").await.0, StatusCode::SEE_OTHER, "a revoked credential's session ends");
    }

    async fn forms_without_the_session_csrf_token_are_refused_and_change_nothing(app) {
        let user = user_with_session(&app, "victim").await;
        let (mut browser, _) = Browser::signed_in(&app).await;
        let path = format!("/console/people/{user}/kill-switch");
        for form in [vec![], vec![("csrf", "0".repeat(64))]] {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, page) = browser.post(&path, &form).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
            assert!(page.contains("security token"), "{page}");
        }
        assert_eq!(live_sessions(&app, &user), 1, "nothing ended");
        assert!(audit_actions(&app, "user.revoke_access").is_empty());
        // Describing a role from the console needs the token too.
        for form in [vec![("value", "forged"), ("assignable", "on")], vec![("value", "forged"), ("csrf", "guess")]] {
            let (status, _) = browser.post("/console/roles", &form).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        assert!(audit_actions(&app, "role.describe").is_empty(), "no role was described");
        let mut stranger = Browser::new(&app);
        let (status, _) = stranger
            .post("/console/sign-in", &[("secret", &app.admin_token()), ("csrf", "guess")])
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "sign-in needs its double-submit token");
        assert!(stranger.cookie("scimitar-console").is_none());
    }

    async fn an_idle_session_ends_after_the_idle_timeout(app) {
        let (mut browser, _) = Browser::signed_in(&app).await;
        app.clock.advance(chrono::Duration::minutes(20));
        assert_eq!(browser.get("/console/people").await.0, StatusCode::OK, "used within the timeout");
        app.clock.advance(chrono::Duration::minutes(20));
        assert_eq!(browser.get("/console/people").await.0, StatusCode::OK, "use keeps it alive");
        app.clock.advance(chrono::Duration::minutes(31));
        let (status, _) = browser.get("/console/people").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "idle past 30 minutes");
    }

    async fn a_deactivated_persons_page_says_they_have_no_access_since_when_and_by_whom(app) {
        let user = id_of(&app.create_user("leaver").await);
        let group = id_of(&app.create_group("Ops", &[&user]).await);
        let admin = app.admin_token();
        app.map_role(&admin, &format!("id:{group}"), &["operator"]).await;
        let (mut browser, _) = Browser::signed_in(&app).await;
        let (_, active) = browser.get(&format!("/console/people/{user}")).await;
        assert!(active.contains("Who has access, and why") && !active.contains("No access"));
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]});
        crate::helpers::expect_status(app.patch(&format!("/Users/{user}"), &body).await, StatusCode::OK).await;
        let (status, page) = browser.get(&format!("/console/people/{user}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!page.contains("Who has access, and why"), "{page}");
        assert!(page.contains("id=\"no-access\"") && page.contains("Deactivated since"), "{page}");
        assert!(page.contains("by test-idp"), "the identity provider's request: {page}");
        assert!(page.contains("Roles a reactivation would give back") && page.contains("operator"), "{page}");
        let record = audit_actions(&app, "user.patch")[0]["id"].as_str().expect("id").to_string();
        assert!(page.contains(&format!("/console/audit/{record}")), "the record that says so");
        let explained = app.admin(&admin, reqwest::Method::GET, &format!("/users/{user}/access")).send().await.expect("GET");
        let explained = crate::helpers::expect_status(explained, StatusCode::OK).await;
        assert_eq!(explained["has_access"], false);
        assert_eq!(explained["deactivated"]["record"], json!(record));
        assert_eq!(explained["deactivated"]["by"]["name"], "test-idp");
    }

    async fn every_page_renders_a_person_and_escapes_what_the_idp_sent(app) {
        let hostile = "<script>alert(1)</script>";
        let user = app
            .post("/Users", &json!({"userName": format!("mallory{hostile}"), "externalId": "x\"><img src=x>",
                "name": {"formatted": hostile}, "emails": [{"value": "m@example.com", "primary": true}]}))
            .await;
        let user = id_of(&crate::helpers::expect_status(user, StatusCode::CREATED).await);
        let group = id_of(&app.create_group(&format!("Ops{hostile}"), &[&user]).await);
        let admin = app.admin_token();
        app.map_role(&admin, &format!("id:{group}"), &["operator"]).await;
        let client = app.app_client(true);
        app.tokens_for(&client, &user).await;
        let (mut browser, _) = Browser::signed_in(&app).await;
        let record = audit_actions(&app, "user.create")[0]["id"].as_str().expect("id").to_string();
        let pages = [
            "/console".to_string(),
            "/console/people".into(),
            "/console/people?q=mallory".into(),
            "/console/people?q=m%40example.com".into(),
            format!("/console/people/{user}"),
            format!("/console/people/{user}/kill-switch"),
            "/console/groups".into(),
            format!("/console/groups/{group}"),
            "/console/audit".into(),
            format!("/console/audit?resource={user}&action=user.*"),
            format!("/console/audit/{record}"),
            "/console/audit/verify".into(),
            "/console/live".into(),
        ];
        for path in pages {
            let (status, page) = browser.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {page}");
            assert!(!page.contains("<script>alert"), "{path} escapes the userName");
            assert!(!page.contains("<img src=x>"), "{path} escapes the externalId");
        }
        let (_, person) = browser.get(&format!("/console/people/{user}")).await;
        assert!(
            person.contains("&lt;script&gt;") || person.contains("&#60;script&#62;"),
            "shown, escaped"
        );
        assert!(person.contains("operator") && person.contains("id:"), "the role and its rule");
        assert!(person.contains("test-app"), "the session's app");
        let (_, found) = browser.get("/console/people?q=m%40example.com").await;
        assert!(found.contains(&user), "found by e-mail");
        let (status, page) = browser.get("/console/people?q=userName%20eq").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a broken filter is explained");
        assert!(page.contains("id=\"problem\""), "{page}");
        let (_, verified) = browser.get("/console/audit/verify").await;
        assert!(verified.contains("Intact"), "{verified}");
        let (status, export) = browser.get(&format!("/console/audit/export.jsonl?resource={user}")).await;
        assert_eq!(status, StatusCode::OK);
        let lines: Vec<Value> = export.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
        assert!(lines.iter().all(|r| r["resource"]["id"] == json!(user)) && !lines.is_empty());
        let (_, ocsf) = browser.get("/console/audit/export.ocsf").await;
        assert!(ocsf.lines().all(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["class_uid"].is_number())));
        assert_eq!(audit_actions(&app, "audit.export").len(), 2, "exports are recorded");
        let (status, _) = browser.get("/console/people/no-such-person").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn the_kill_switch_previews_then_ends_every_session_with_an_audit_record(app) {
        let user = user_with_session(&app, "leaver").await;
        let client = app.app_client(true);
        app.tokens_for(&client, &user).await;
        let (mut browser, _) = Browser::signed_in(&app).await;
        let path = format!("/console/people/{user}/kill-switch");
        let (_, preview) = browser.get(&path).await;
        assert_eq!(preview.matches("<td class=\"mono muted\">").count(), 2, "two sessions would end: {preview}");
        assert_eq!(live_sessions(&app, &user), 2, "the preview ends nothing");
        assert!(audit_actions(&app, "user.revoke_access").is_empty(), "nor records anything");
        let (status, location) = browser.post(&path, &[("csrf", &csrf(&preview))]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location, format!("/console/people/{user}?ended=2"));
        assert_eq!(live_sessions(&app, &user), 0);
        let records = audit_actions(&app, "user.revoke_access");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["actor"]["name"], "test-admin", "under the operator's credential");
        assert_eq!(records[0]["request"]["path"], json!(path));
        let ended = audit_actions(&app, "session.revoke");
        assert!(ended.iter().all(|r| r["cause"] == records[0]["id"]), "the cascade points to it");
    }

    async fn a_mapping_is_previewed_then_added_and_removed(app) {
        let user = user_with_session(&app, "engineer").await;
        app.create_group("Engineering", &[&user]).await;
        let (mut browser, _) = Browser::signed_in(&app).await;
        let (_, groups) = browser.get("/console/groups").await;
        let token = csrf(&groups);
        let form = [("csrf", token.as_str()), ("group", "displayName:engineering"), ("role", "developer")];
        let (status, preview) = browser.post("/console/mappings/preview", &form).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert!(preview.contains("engineer") && preview.contains("developer"), "who gains what: {preview}");
        assert!(app.store.read(|c| scimitar::store::roles::list(c, &app.tenant_id)).expect("rules").is_empty(), "a preview adds nothing");
        let (status, _) = browser.post("/console/mappings", &form).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let rules = app.store.read(|c| scimitar::store::roles::list(c, &app.tenant_id)).expect("rules");
        assert_eq!(rules.len(), 1);
        assert_eq!(audit_actions(&app, "role_mapping.create")[0]["actor"]["name"], "test-admin");
        // A session that carries the role, then the removal: its preview names the session.
        let client = app.app_client(true);
        app.tokens_for(&client, &user).await;
        let remove = format!("/console/mappings/{}/remove", rules[0].id);
        let (status, preview) = browser.get(&remove).await;
        assert_eq!(status, StatusCode::OK);
        assert!(preview.contains("id=\"ending-sessions\">1<"), "{preview}");
        assert_eq!(live_sessions(&app, &user), 2, "the preview ended nothing");
        let (status, _) = browser.post(&remove, &[("csrf", &token)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(live_sessions(&app, &user), 1, "the session carrying the role ended");
        assert_eq!(audit_actions(&app, "role_mapping.delete").len(), 1);
    }

    async fn a_flag_is_acknowledged_from_the_live_view(app) {
        let flag = app
            .store
            .write(|conn| {
                use scimitar::outbox::flags::{FlagKind, raise};
                raise(conn, &app.tenant_id, FlagKind::RefreshTokenReuse, "someone", json!({}), Utc::now())
            })
            .map(|_| ())
            .map_err(|e: scimitar::store::StoreError| e.to_string());
        assert!(flag.is_ok(), "{flag:?}");
        let (mut browser, overview) = Browser::signed_in(&app).await;
        assert!(overview.contains("id=\"open-flags\">1<"), "{overview}");
        let (_, live) = browser.get("/console/live").await;
        assert!(live.contains("refresh_token_reuse"), "{live}");
        let start = live.find("/console/flags/").expect("an acknowledge form") + "/console/flags/".len();
        let id = live[start..].split('/').next().expect("id").to_string();
        let (status, _) = browser.post(&format!("/console/flags/{id}/acknowledge"), &[("csrf", &csrf(&live))]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, live) = browser.get("/console/live").await;
        assert!(live.contains("No open flags"), "{live}");
        assert_eq!(audit_actions(&app, "flag.acknowledge")[0]["actor"]["name"], "test-admin");
    }

    async fn people_and_members_are_paged_by_cursor(app) {
        let mut ids = Vec::new();
        for n in 0..30 {
            ids.push(id_of(&app.create_user(&format!("person{n:02}")).await));
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let group = id_of(&app.create_group("Everyone", &refs).await);
        let (mut browser, _) = Browser::signed_in(&app).await;
        let (_, first) = browser.get("/console/people").await;
        assert!(first.contains("id=\"total\">30<"), "{first}");
        assert!(first.contains("person00") && !first.contains("person29"), "25 to a page");
        let next = |page: &str| {
            let start = page.find("id=\"next-page\" href=\"").expect("a next page") + "id=\"next-page\" href=\"".len();
            page[start..].split('"').next().expect("href").replace("&amp;", "&")
        };
        let (status, second) = browser.get(&next(&first)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(second.contains("person29") && !second.contains("person00"), "{second}");
        assert!(!second.contains("id=\"next-page\""), "the last page");
        let (_, members) = browser.get(&format!("/console/groups/{group}")).await;
        assert!(members.contains("Members (30)") && members.contains("person29"), "50 to a page: {members}");
        let (_, groups) = browser.get("/console/groups").await;
        assert!(groups.contains("<td>30</td>"), "the member count: {groups}");
    }
}

/// Behind a proxy that says the browser came over HTTPS, the cookie is `Secure` and
/// `__Host-` prefixed.
#[tokio::test]
async fn behind_https_the_cookie_is_secure_and_host_prefixed() {
    let options = Options {
        trust_forwarded_for: true,
        ..Options::default()
    };
    let Some(app) = TestApp::spawn_with(crate::helpers::Backend::Sqlite, options).await else {
        return;
    };
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let form_page = http
        .get(format!("{}/console/sign-in", app.root))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("GET");
    let pre = form_page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        pre.starts_with("__Host-scimitar-console-sign-in=") && pre.contains("; Secure"),
        "{pre}"
    );
    let pre_value = pre.split(';').next().unwrap_or_default().to_string();
    let page = form_page.text().await.expect("page");
    let body = serde_urlencoded::to_string([("secret", app.admin_token()), ("csrf", csrf(&page))])
        .expect("form");
    let response = http
        .post(format!("{}/console/sign-in", app.root))
        .header("x-forwarded-proto", "https")
        .header("cookie", pre_value)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-scimitar-console=")
                && c.contains("; Secure")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Strict")),
        "{cookies:?}"
    );
}

/// The console is a browser interface, not an API: it is neither in the route registry the
/// OpenAPI document is checked against nor in the document.
#[test]
fn the_console_is_outside_the_api_registry_and_document() {
    assert!(
        scimitar::http::api_routes()
            .iter()
            .all(|(_, path)| !path.starts_with("/console"))
    );
    let document = scimitar::http::openapi_document();
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.keys().all(|path| !path.starts_with("/console")));
}
