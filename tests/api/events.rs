//! Signals end to end: the revocation feed and stream, metrics, and flagged activity.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppClient, Backend, Options, TestApp, expect_status, id_of};
use crate::on_both_backends;

fn deactivation() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]})
}

async fn user_with_sessions(
    app: &TestApp,
    client: &AppClient,
    name: &str,
    sessions: usize,
) -> (String, Vec<Value>) {
    let id = app.create_user(name).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let mut issued = Vec::new();
    for _ in 0..sessions {
        issued.push(app.tokens_for(client, &id).await);
    }
    (id, issued)
}

async fn feed(app: &TestApp, client: &AppClient, after: i64) -> Value {
    expect_status(
        app.get_as_app(client, &format!("/events/v1/revocations?after={after}"))
            .await,
        StatusCode::OK,
    )
    .await
}

fn kinds(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str().map(String::from))
        .collect()
}

/// A server-sent-event stream being read, with what arrived but was not consumed yet.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// Reads until an event of `kind` arrives; returns its `id:` and data, or panics after
    /// `within`. Events of other kinds before it are skipped.
    pub async fn wait_for(&mut self, kind: &str, within: Duration) -> (i64, Value) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::trim)
                        .map(String::from)
                };
                if field("event:").as_deref() == Some(kind) {
                    let id = field("id:").and_then(|i| i.parse().ok()).expect("an id");
                    let data =
                        serde_json::from_str(&field("data:").expect("data")).expect("JSON data");
                    return (id, data);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no `{kind}` event within {within:?}; pending: {}",
                        self.buffer
                    )
                })
                .expect("stream")
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

on_both_backends! {
    async fn the_feed_lists_each_cascade_effect_in_order_from_a_cursor(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let (alice, _) = user_with_sessions(&app, &client, "alice", 2).await;
        let start = feed(&app, &client, 0).await["next"].as_i64().expect("next");
        expect_status(app.patch(&format!("/Users/{alice}"), &deactivation()).await, StatusCode::OK).await;
        let page = feed(&app, &client, start).await;
        assert_eq!(kinds(&page), vec!["session.revoked", "session.revoked", "user.disabled"]);
        let events = page["events"].as_array().expect("events");
        assert!(events.iter().all(|e| e["user"] == json!(alice)));
        assert!(events[0]["session"].is_string() && events[0]["details"]["reason"] == "user_deactivated");
        assert!(events[2]["not_before"].is_string(), "a per-user not-before time");
        let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
        assert_eq!(seqs, vec![start + 1, start + 2, start + 3]);
        let cause = events[0]["cause"].as_str().expect("cause");
        let record = app.admin(&admin, Method::GET, &format!("/audit/{cause}")).send().await.expect("audit");
        assert!(expect_status(record, StatusCode::OK).await.to_string().contains("user.patch"));
        let next = page["next"].as_i64().expect("next");
        assert_eq!(kinds(&feed(&app, &client, next).await), Vec::<String>::new());

        let on = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": true}]});
        expect_status(app.patch(&format!("/Users/{alice}"), &on).await, StatusCode::OK).await;
        let (bob, issued) = user_with_sessions(&app, &client, "bob", 1).await;
        let revoked = app.oauth(&client, "revoke", &[("token", issued[0]["access_token"].as_str().expect("token"))]).await;
        assert_eq!(revoked.status(), StatusCode::OK);
        let group = app.create_group("Ops", &[&bob]).await["id"].as_str().expect("id").to_string();
        app.map_role(&admin, "Ops", &["operator"]).await;
        expect_status(app.delete(&format!("/Groups/{group}")).await, StatusCode::NO_CONTENT).await;
        let page = feed(&app, &client, next).await;
        // A reactivation this soon after the deactivation is also flagged.
        // RFC 7009 revocation of an access token ends its session: every channel hears it.
        assert_eq!(kinds(&page), vec!["user.enabled", "flag.raised", "session.revoked", "user.roles_changed", "user.roles_changed"]);
        let events = page["events"].as_array().expect("events");
        assert_eq!(events[2]["details"]["reason"], "revoked_by_client");
        assert_eq!(events[3]["details"]["roles"], json!(["operator"]));
        assert_eq!(events[4]["details"]["lost"], json!(["operator"]));
    }

    async fn the_feed_is_for_app_and_admin_credentials_of_the_tenant_only(app) {
        let client = app.app_client(false);
        let url = format!("{}/events/v1/revocations", app.root);
        let scim = app.client.get(&url).bearer_auth(&app.token).send().await.expect("GET");
        assert_eq!(scim.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.client.get(&url).send().await.expect("GET").status(), StatusCode::UNAUTHORIZED);
        let admin = app.client.get(&url).bearer_auth(app.admin_token()).send().await.expect("GET");
        assert_eq!(admin.status(), StatusCode::OK);
        let bearer = app.client.get(&url).bearer_auth(&client.secret).send().await.expect("GET");
        assert_eq!(bearer.status(), StatusCode::OK, "an app's secret as a bearer token works too");
        let alice = app.create_user("alice").await["id"].as_str().expect("id").to_string();
        expect_status(app.patch(&format!("/Users/{alice}"), &deactivation()).await, StatusCode::OK).await;
        app.token_for_new_tenant("other");
        let created = scimitar::access::credentials::create(&app.store, Some("other"), "other-app", scimitar::access::credentials::CredentialKind::App, chrono::Utc::now()).expect("client");
        let stranger = AppClient { id: created.client_id, secret: created.secret.expose().to_string() };
        assert_eq!(kinds(&feed(&app, &stranger, 0).await), Vec::<String>::new());
        assert_eq!(kinds(&feed(&app, &client, 0).await), vec!["user.disabled"]);
    }

    async fn the_stream_delivers_a_revocation_at_once_and_resumes_from_last_event_id(app) {
        let client = app.app_client(true);
        let (alice, _) = user_with_sessions(&app, &client, "alice", 1).await;
        let url = format!("{}/events/v1/stream", app.root);
        let live = app.client.get(&url).basic_auth(&client.id, Some(&client.secret)).send().await.expect("stream");
        assert_eq!(live.status(), StatusCode::OK);
        assert!(live.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
        let mut live = SseReader::new(live);
        let started = std::time::Instant::now();
        expect_status(app.patch(&format!("/Users/{alice}"), &deactivation()).await, StatusCode::OK).await;
        let (first, data) = live.wait_for("session.revoked", Duration::from_secs(2)).await;
        assert_eq!(data["user"], json!(alice));
        let (_, disabled) = live.wait_for("user.disabled", Duration::from_secs(2)).await;
        assert!(started.elapsed() < Duration::from_secs(1), "within a second of the PATCH: {:?}", started.elapsed());
        assert_eq!(disabled["user"], json!(alice));
        drop(live);
        let resumed = app.client.get(&url).basic_auth(&client.id, Some(&client.secret))
            .header("last-event-id", first.to_string()).send().await.expect("stream");
        let (id, _) = SseReader::new(resumed).wait_for("user.disabled", Duration::from_secs(2)).await;
        assert_eq!(id, first + 1);
    }

    async fn an_open_stream_ends_once_its_credential_is_revoked(app) {
        let (reader, client) = (app.app_client(false), app.app_client(true));
        let (alice, _) = user_with_sessions(&app, &client, "alice", 1).await;
        let url = format!("{}/events/v1/stream", app.root);
        let mut live = app.client.get(&url).basic_auth(&reader.id, Some(&reader.secret)).send().await.expect("stream");
        assert_eq!(live.status(), StatusCode::OK);
        scimitar::access::credentials::revoke(&app.store, &reader.id, chrono::Utc::now()).expect("revoke");
        // At once: nothing written after the revocation is sent.
        expect_status(app.patch(&format!("/Users/{alice}"), &deactivation()).await, StatusCode::OK).await;
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, live.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => break,
                Err(_) => panic!("the stream of a revoked credential is still open: {text}"),
            }
        }
        assert!(!text.contains("session.revoked") && !text.contains(&alice), "{text}");
    }

    async fn metrics_expose_requests_tokens_revocations_latency_and_counts(app) {
        let client = app.app_client(true);
        let (alice, issued) = user_with_sessions(&app, &client, "metrics-alice", 1).await;
        app.introspect(&client, issued[0]["access_token"].as_str().expect("token")).await;
        expect_status(app.patch(&format!("/Users/{alice}"), &deactivation()).await, StatusCode::OK).await;
        let response = app.client.get(format!("{}/metrics", app.root)).send().await.expect("metrics");
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.expect("text");
        let tenant = &app.tenant_id;
        for expected in [
            format!("scimitar_scim_requests_total{{tenant=\"{tenant}\",resource=\"User\",operation=\"create\",status=\"201\"}}"),
            format!("scimitar_scim_request_duration_seconds_count{{tenant=\"{tenant}\",resource=\"User\",operation=\"patch\"}}"),
            format!("scimitar_tokens_issued_total{{tenant=\"{tenant}\",grant=\"token_exchange\"}}"),
            format!("scimitar_tokens_introspected_total{{tenant=\"{tenant}\",active=\"true\"}}"),
            format!("scimitar_sessions_ended_total{{tenant=\"{tenant}\",reason=\"user_deactivated\"}}"),
            format!("scimitar_deprovisioning_latency_seconds_count{{tenant=\"{tenant}\"}} 1"),
            format!("scimitar_users{{tenant=\"{tenant}\"}} 1"),
            format!("scimitar_outbox_head{{tenant=\"{tenant}\"}} 2"),
            "scimitar_quirk_rules_fired_total{rule=\"entra.string_booleans\"}".to_string(),
            "# TYPE scimitar_ssf_delivery_failures_total counter".to_string(),
        ] {
            assert!(text.contains(&expected), "missing {expected} in\n{text}");
        }
    }

    async fn presenting_a_revoked_token_or_reusing_a_refresh_token_or_a_token_of_an_inactive_user_is_flagged(app) {
        let admin = app.admin_token();
        let client = app.app_client(true);
        let (_, issued) = user_with_sessions(&app, &client, "alice", 2).await;
        let access = issued[0]["access_token"].as_str().expect("token");
        app.oauth(&client, "revoke", &[("token", access)]).await;
        assert!(!app.is_active(&client, access).await);
        let first = issued[1]["refresh_token"].as_str().expect("token");
        expect_status(app.refresh(&client, first).await, StatusCode::OK).await;
        app.clock.advance(chrono::Duration::seconds(11));
        app.refresh(&client, first).await;
        let (bob, bobs) = user_with_sessions(&app, &client, "bob", 1).await;
        expect_status(app.patch(&format!("/Users/{bob}"), &deactivation()).await, StatusCode::OK).await;
        assert!(!app.is_active(&client, bobs[0]["access_token"].as_str().expect("token")).await);
        let response = app.admin(&admin, Method::GET, "/flags").send().await.expect("flags");
        let flags = expect_status(response, StatusCode::OK).await;
        let mut raised: Vec<(String, String)> = flags["flags"].as_array().expect("flags").iter()
            .map(|f| (f["kind"].as_str().unwrap_or_default().to_string(), f["severity"].as_str().unwrap_or_default().to_string()))
            .collect();
        raised.sort();
        assert_eq!(raised, vec![
            ("refresh_token_reuse".to_string(), "high".to_string()),
            ("revoked_token_presented".to_string(), "medium".to_string()),
            ("token_for_inactive_user".to_string(), "high".to_string()),
        ]);
        let audit = app.admin(&admin, Method::GET, "/audit?action=flag.raise").send().await.expect("audit");
        assert_eq!(expect_status(audit, StatusCode::OK).await["records"].as_array().map(Vec::len), Some(3));
        assert!(kinds(&feed(&app, &client, 0).await).contains(&"flag.raised".to_string()));
        let id = flags["flags"][0]["id"].as_str().expect("id").to_string();
        let ack = app.admin(&admin, Method::POST, &format!("/flags/{id}/acknowledge")).send().await.expect("ack");
        assert_eq!(ack.status(), StatusCode::NO_CONTENT);
        let open = expect_status(app.admin(&admin, Method::GET, "/flags").send().await.expect("flags"), StatusCode::OK).await;
        assert_eq!(open["flags"].as_array().map(Vec::len), Some(2));
        let again = app.admin(&admin, Method::POST, &format!("/flags/{id}/acknowledge")).send().await.expect("ack");
        assert_eq!(again.status(), StatusCode::NOT_FOUND);
    }
}

async fn app_with_burst_limit(backend: Backend) -> Option<TestApp> {
    let options = Options {
        burst: Some((3, chrono::Duration::minutes(5))),
        ..Options::default()
    };
    TestApp::spawn_with(backend, options).await
}

async fn a_burst_of_deprovisioning_is_flagged(app: TestApp) {
    let admin = app.admin_token();
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(
            app.create_user(&format!("u{i}")).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let group = app.create_group("Everyone", &refs).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    expect_status(
        app.patch(&format!("/Users/{}", members[0]), &deactivation())
            .await,
        StatusCode::OK,
    )
    .await;
    let none = expect_status(
        app.admin(&admin, Method::GET, "/flags")
            .send()
            .await
            .expect("flags"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        none["flags"].as_array().map(Vec::len),
        Some(0),
        "one step is no burst"
    );
    expect_status(
        app.delete(&format!("/Groups/{group}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let flags = expect_status(
        app.admin(&admin, Method::GET, "/flags")
            .send()
            .await
            .expect("flags"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(flags["flags"][0]["kind"], "deprovisioning_burst");
    assert_eq!(flags["flags"][0]["severity"], "critical");
    assert_eq!(flags["flags"][0]["details"]["threshold"], 3);
}

/// The open burst flag as the admin API lists it.
async fn burst_flags(app: &TestApp, admin: &str) -> Vec<Value> {
    let flags = expect_status(
        app.admin(admin, Method::GET, "/flags")
            .send()
            .await
            .expect("flags"),
        StatusCode::OK,
    )
    .await;
    flags["flags"].as_array().cloned().unwrap_or_default()
}

/// A burst that goes on writes its flag row at most once a second of the service's clock,
/// yet every repeat is counted: those in between are added at the next write.
async fn a_burst_that_goes_on_counts_every_repeat(app: TestApp) {
    let admin = app.admin_token();
    let mut users = Vec::new();
    for i in 0..10 {
        users.push(id_of(&app.create_user(&format!("b{i}")).await));
    }
    let deactivate = |id: &String| {
        let path = format!("/Users/{id}");
        let app = &app;
        async move { app.patch(&path, &deactivation()).await }
    };
    for id in &users[..4] {
        expect_status(deactivate(id).await, StatusCode::OK).await;
    }
    let flags = burst_flags(&app, &admin).await;
    assert_eq!(
        flags.len(),
        1,
        "the fourth step past a threshold of 3 raises the flag"
    );
    assert_eq!(flags[0]["occurrences"], 1);
    for id in &users[4..8] {
        expect_status(deactivate(id).await, StatusCode::OK).await;
    }
    let flags = burst_flags(&app, &admin).await;
    assert_eq!(flags.len(), 1);
    assert_eq!(
        flags[0]["occurrences"], 1,
        "repeats within a second of the write are counted in memory"
    );
    let last_seen = flags[0]["last_seen"].clone();

    app.clock.advance(chrono::Duration::seconds(2));
    expect_status(deactivate(&users[8]).await, StatusCode::OK).await;
    let flags = burst_flags(&app, &admin).await;
    assert_eq!(flags.len(), 1, "still the one flag");
    assert_eq!(
        flags[0]["occurrences"], 6,
        "the first, the four in between and this one"
    );
    assert_ne!(flags[0]["last_seen"], last_seen);

    // Acknowledged, the burst that goes on raises a new flag at its next write.
    let flag_id = flags[0]["id"].as_str().expect("flag id").to_string();
    expect_status(
        app.admin(
            &admin,
            Method::POST,
            &format!("/flags/{flag_id}/acknowledge"),
        )
        .send()
        .await
        .expect("ack"),
        StatusCode::NO_CONTENT,
    )
    .await;
    app.clock.advance(chrono::Duration::seconds(2));
    expect_status(deactivate(&users[9]).await, StatusCode::OK).await;
    let open = burst_flags(&app, &admin).await;
    assert_eq!(open.len(), 1, "a new open flag: {open:?}");
    assert_ne!(open[0]["id"], flag_id);
}

#[tokio::test]
async fn a_burst_that_goes_on_counts_every_repeat_on_sqlite() {
    if let Some(app) = app_with_burst_limit(Backend::Sqlite).await {
        a_burst_that_goes_on_counts_every_repeat(app).await
    }
}

#[tokio::test]
async fn a_burst_that_goes_on_counts_every_repeat_on_postgres() {
    if let Some(app) = app_with_burst_limit(Backend::Postgres).await {
        a_burst_that_goes_on_counts_every_repeat(app).await
    }
}

#[tokio::test]
async fn a_burst_of_deprovisioning_is_flagged_on_sqlite() {
    if let Some(app) = app_with_burst_limit(Backend::Sqlite).await {
        a_burst_of_deprovisioning_is_flagged(app).await
    }
}

#[tokio::test]
async fn a_burst_of_deprovisioning_is_flagged_on_postgres() {
    if let Some(app) = app_with_burst_limit(Backend::Postgres).await {
        a_burst_of_deprovisioning_is_flagged(app).await
    }
}

on_both_backends! {
    async fn a_reader_never_sees_a_later_event_before_an_earlier_one_commits(app) {
        use scimitar::outbox::{Effect, publish};
        use scimitar::store::{StoreError, outbox};
        let tenant = app.tenant_id.clone();
        let base = app.store.read(|conn| outbox::head(conn, &tenant)).expect("head");
        let effect = |user: &str| vec![Effect::UserEnabled { user_id: user.to_string() }];
        let (published, wait_for_first) = std::sync::mpsc::channel();
        let (store_a, tenant_a) = (app.store.clone(), tenant.clone());
        // A publishes, then holds its transaction open; B publishes meanwhile.
        let slow = std::thread::spawn(move || {
            store_a.write(|conn| {
                publish(conn, &tenant_a, effect("first"), None, chrono::Utc::now())?;
                let _ = published.send(());
                std::thread::sleep(Duration::from_millis(400));
                Ok::<_, StoreError>(())
            })
        });
        wait_for_first.recv().expect("A published");
        let (store_b, tenant_b) = (app.store.clone(), tenant.clone());
        let fast = std::thread::spawn(move || {
            store_b.write(|conn| publish(conn, &tenant_b, effect("second"), None, chrono::Utc::now()))
        });
        let mut seen_any = false;
        for _ in 0..100 {
            let visible: Vec<i64> = app.store.read(|conn| outbox::after(conn, &tenant, base, 10)).expect("read").iter().map(|e| e.seq).collect();
            let expected: Vec<i64> = (base + 1..=base + visible.len() as i64).collect();
            assert_eq!(visible, expected, "a gap: a later event is visible before an earlier one");
            seen_any |= !visible.is_empty();
            if visible.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        slow.join().expect("A").expect("A commits");
        fast.join().expect("B").expect("B commits");
        assert!(seen_any);
        let users: Vec<Option<String>> = app.store.read(|conn| outbox::after(conn, &tenant, base, 10)).expect("read").into_iter().map(|e| e.user_id).collect();
        assert_eq!(users, vec![Some("first".to_string()), Some("second".to_string())], "numbered in commit order");
    }
}

/// Deactivations that roll back are no burst: only committed steps count. The failure is
/// injected at the commit itself (a deferred constraint trigger, Postgres only), after every
/// step of the cascade has run.
#[tokio::test]
async fn deprovisioning_rolled_back_at_commit_does_not_count_towards_a_burst() {
    let Some(app) = app_with_burst_limit(Backend::Postgres).await else {
        return;
    };
    let admin = app.admin_token();
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(
            app.create_user(&format!("u{i}")).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    for statement in [
        "CREATE FUNCTION refuse_at_commit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected commit failure'; END $$ LANGUAGE plpgsql",
        "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON outbox DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()",
    ] {
        crate::audit::tamper(&app, statement);
    }
    for user in &users {
        let failed = app.patch(&format!("/Users/{user}"), &deactivation()).await;
        assert!(
            failed.status().is_server_error(),
            "the write rolls back at commit"
        );
    }
    crate::audit::tamper(&app, "DROP TRIGGER refuse_at_commit ON outbox");
    for user in &users {
        expect_status(
            app.patch(&format!("/Users/{user}"), &deactivation()).await,
            StatusCode::OK,
        )
        .await;
    }
    let flags = expect_status(
        app.admin(&admin, Method::GET, "/flags")
            .send()
            .await
            .expect("flags"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        flags["flags"].as_array().map(Vec::len),
        Some(0),
        "three committed steps are no burst past 3: {flags}"
    );
}
