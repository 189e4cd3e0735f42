//! The client side of `benches/deprovision.sh` (issue 14's deprovisioning at scale), run by
//! that script against a release `scimitar serve` it started; alone it only says so.
//!
//! Against the server at `DEPROVISION_BASE`, for the users whose SCIM ids are in the file
//! `DEPROVISION_IDS` (one a line):
//! 1. one session each: a trusted app client's token exchange (`DEPROVISION_APP` is its
//!    `client_id:secret`), `DEPROVISION_CONCURRENCY` (16) requests in flight; then every access
//!    token introspected once, all must be active;
//! 2. the live stream (`/events/v1/stream`) opened with the app's credential, from its head;
//! 3. every user deactivated through SCIM with the bearer token `DEPROVISION_SCIM_TOKEN`,
//!    `DEPROVISION_CONCURRENCY` PATCHes in flight, in Okta's form (`replace` of
//!    `{"active": false}`) or, with `DEPROVISION_FORM=entra`, Entra's (`Replace`, path
//!    `active`, value `"False"`): deactivations/s, p50/p99/max, and the server's CPU per
//!    deactivation (utime+stime of `DEPROVISION_SERVER_PID`, `CLK_TCK` ticks a second);
//! 4. every access token and refresh token introspected again: any still active is a failure;
//!    and the stream read until every session's `session.revoked` has arrived (or
//!    `DEPROVISION_STREAM_TIMEOUT` seconds, 300): when the last arrived.
//!
//! The last line is tab-separated for the script's table.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

struct Setup {
    base: String,
    scim_auth: String,
    app_auth: String,
    concurrency: usize,
    client: reqwest::Client,
}

struct Session {
    access: String,
    refresh: String,
    sid: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn number(name: &str, default: u64) -> u64 {
    env(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(base) = env("DEPROVISION_BASE") else {
        println!("deprovision: run benches/deprovision.sh (it starts the server this drives)");
        return;
    };
    let basic = base64::engine::general_purpose::STANDARD
        .encode(env("DEPROVISION_APP").expect("DEPROVISION_APP"));
    let setup = Setup {
        base,
        scim_auth: format!(
            "Bearer {}",
            env("DEPROVISION_SCIM_TOKEN").expect("DEPROVISION_SCIM_TOKEN")
        ),
        app_auth: format!("Basic {basic}"),
        concurrency: number("DEPROVISION_CONCURRENCY", 16) as usize,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client"),
    };
    let ids: Vec<String> = std::fs::read_to_string(env("DEPROVISION_IDS").expect("IDS"))
        .expect("ids file")
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let server: u32 = env("DEPROVISION_SERVER_PID")
        .and_then(|v| v.parse().ok())
        .expect("DEPROVISION_SERVER_PID");
    let ticks = number("CLK_TCK", 100) as f64;
    let entra = env("DEPROVISION_FORM").as_deref() == Some("entra");
    let users = ids.len();

    // 1. One live session per user.
    let started = Instant::now();
    let sessions: Vec<Session> = stream::iter(ids.iter())
        .map(|id| exchange(&setup, id))
        .buffered(setup.concurrency)
        .collect()
        .await;
    let issued = started.elapsed();
    println!(
        "issued {users} sessions (token exchange) in {:.1} s: {:.0}/s",
        issued.as_secs_f64(),
        users as f64 / issued.as_secs_f64()
    );
    let active = count_active(&setup, sessions.iter().map(|s| s.access.as_str())).await;
    println!("before: {active} of {users} access tokens active on introspection");
    assert_eq!(
        active, users,
        "every token must be live before deactivation"
    );

    // 2. The live stream, from its head, read by its own task.
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut response = setup
        .client
        .get(format!("{}/events/v1/stream", setup.base))
        .header("Authorization", &setup.app_auth)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), 200, "stream");
    let opening = response.chunk().await.expect("stream opening");
    assert!(
        opening.is_some_and(|o| o.windows(6).any(|w| w == b"stream")),
        "stream opening"
    );
    let reader = tokio::spawn(read_stream(response, arrivals.clone()));

    // 3. Deactivate everyone.
    let body = if entra {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
    } else {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "value": {"active": false}}]})
    }
    .to_string();
    let cpu_before = cpu_ticks(server);
    let started = Instant::now();
    let results: Vec<(u16, Duration)> = stream::iter(ids.iter())
        .map(|id| deactivate(&setup, id, &body))
        .buffer_unordered(setup.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let finished = Instant::now();
    let cpu = (cpu_ticks(server) - cpu_before) as f64 / ticks;
    let failed = results.iter().filter(|(status, _)| *status >= 300).count();
    let mut latencies: Vec<Duration> = results.iter().map(|(_, t)| *t).collect();
    latencies.sort();
    let rate = users as f64 / elapsed.as_secs_f64();
    let (p50, p99, max) = (
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        ms(*latencies.last().expect("latencies")),
    );
    let cpu_each = cpu * 1000.0 / users as f64;
    println!(
        "deactivated {users} users ({} form, {} in flight) in {:.1} s: {rate:.0}/s, p50 {p50} / p99 {p99} / max {max} ms, server CPU {cpu_each:.3} ms each; {failed} not 2xx",
        if entra { "Entra" } else { "Okta" },
        setup.concurrency,
        elapsed.as_secs_f64(),
    );

    // 4. Every token dead, every revocation on the stream.
    let alive_access = count_active(&setup, sessions.iter().map(|s| s.access.as_str())).await;
    let alive_refresh = count_active(&setup, sessions.iter().map(|s| s.refresh.as_str())).await;
    println!(
        "after: {alive_access} access tokens and {alive_refresh} refresh tokens of {users} active on introspection{}",
        if alive_access + alive_refresh > 0 {
            "  <-- FAILURE: tokens alive after deactivation"
        } else {
            ""
        }
    );
    let expected: HashSet<&str> = sessions.iter().map(|s| s.sid.as_str()).collect();
    let deadline = Instant::now() + Duration::from_secs(number("DEPROVISION_STREAM_TIMEOUT", 300));
    let (seen, last) = loop {
        let (seen, last) = {
            let arrivals = arrivals.lock().expect("arrivals");
            let seen = expected
                .iter()
                .filter(|sid| arrivals.contains_key(**sid))
                .count();
            (seen, arrivals.values().max().copied())
        };
        if seen == expected.len() || Instant::now() > deadline {
            break (seen, last);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    reader.abort();
    let (after_start, after_end) = match last {
        Some(last) => (
            format!("{:.2}", (last - started).as_secs_f64()),
            format!(
                "{:.1}",
                last.saturating_duration_since(finished).as_secs_f64() * 1000.0
            ),
        ),
        None => ("-".into(), "-".into()),
    };
    println!(
        "stream: {seen} of {users} sessions' session.revoked arrived{}; the last {after_start} s after the first PATCH was sent, {after_end} ms after the last PATCH was answered",
        if seen < users {
            "  <-- FAILURE: revocations missing"
        } else {
            ""
        }
    );
    println!(
        "result\t{users}\t{rate:.0}\t{p50}\t{p99}\t{max}\t{cpu_each:.3}\t{failed}\t{}\t{seen}\t{after_start}\t{after_end}",
        alive_access + alive_refresh
    );
}

async fn exchange(setup: &Setup, id: &str) -> Session {
    let form = serde_urlencoded::to_string([
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "subject_token_type",
            "urn:scimitar:params:oauth:token-type:scim-user",
        ),
        ("subject_token", id),
    ])
    .expect("form");
    let answer = post_form(setup, "/oauth2/token", form).await;
    let access = answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("token exchange for {id}: {answer}"))
        .to_string();
    let claims = access.split('.').nth(1).expect("JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .expect("base64"),
    )
    .expect("claims");
    Session {
        sid: claims["sid"].as_str().expect("sid").to_string(),
        refresh: answer["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_string(),
        access,
    }
}

async fn post_form(setup: &Setup, path: &str, form: String) -> Value {
    setup
        .client
        .post(format!("{}{path}", setup.base))
        .header("Authorization", &setup.app_auth)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON answer")
}

/// How many of the tokens introspection calls active.
async fn count_active<'a>(setup: &Setup, tokens: impl Iterator<Item = &'a str>) -> usize {
    stream::iter(tokens)
        .map(|token| async move {
            let form = serde_urlencoded::to_string([("token", token)]).expect("form");
            let answer = post_form(setup, "/oauth2/introspect", form).await;
            match answer["active"].as_bool() {
                Some(active) => active,
                None => panic!("introspection: {answer}"),
            }
        })
        .buffer_unordered(setup.concurrency)
        .filter(|active| std::future::ready(*active))
        .count()
        .await
}

async fn deactivate(setup: &Setup, id: &str, body: &str) -> (u16, Duration) {
    let started = Instant::now();
    let response = setup
        .client
        .patch(format!("{}/scim/v2/Users/{id}", setup.base))
        .header("Authorization", &setup.scim_auth)
        .header("Content-Type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("PATCH");
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    (status, started.elapsed())
}

/// Notes when each session's `session.revoked` arrives on the stream.
async fn read_stream(
    mut response: reqwest::Response,
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
) {
    let mut pending = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let now = Instant::now();
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if !event.lines().any(|l| l == "event: session.revoked") {
                continue;
            }
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            if let Some(sid) = serde_json::from_str::<Value>(&data)
                .ok()
                .and_then(|d| d["session"].as_str().map(String::from))
            {
                arrivals.lock().expect("arrivals").entry(sid).or_insert(now);
            }
        }
    }
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("server's /proc stat");
    let fields: Vec<&str> = stat.rsplit_once(") ").expect("stat").1.split(' ').collect();
    // After the command: state is field 3 of proc(5); utime and stime are 14 and 15.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[Duration], p: usize) -> String {
    let index = ((sorted.len() * p) / 100).min(sorted.len().saturating_sub(1));
    ms(sorted[index])
}
