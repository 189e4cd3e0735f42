//! The conformance vectors (`guard/vectors.json`) through the Rust guard's decision core:
//! each case's token, keys, received events, clock and configuration give the decision and
//! refusal code the case expects. The Python and Node guards run the same file, so the three
//! cannot drift apart (`guard/vectors/generate.py` writes it).

use std::time::Duration;

use chrono::{DateTime, Utc};
use scimitar_guard::decision::{Decision, decide, keys_from_jwks};
use scimitar_guard::{Config, Event, OnStale, Rejection, RevocationSet};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors.json");
    let text = std::fs::read_to_string(path).expect("guard/vectors.json");
    serde_json::from_str(&text).expect("vectors.json is JSON")
}

fn time(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().expect("a time");
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

fn seconds(config: &Value, name: &str) -> Duration {
    Duration::from_secs(config[name].as_u64().expect(name))
}

fn config(case: &Value) -> Config {
    let c = &case["config"];
    let audience = c["audience"]
        .as_array()
        .expect("audience")
        .iter()
        .map(|a| a.as_str().expect("audience").to_string())
        .collect();
    let on_stale = match c["on_stale"].as_str() {
        Some("refuse") => OnStale::Refuse,
        Some("introspect") => OnStale::Introspect,
        other => panic!("on_stale {other:?}"),
    };
    Config::new(c["issuer"].as_str().expect("issuer"), "app", "secret")
        .with_audience(audience)
        .with_leeway(seconds(c, "leeway_seconds"))
        .with_max_token_lifetime(seconds(c, "max_token_lifetime_seconds"))
        .with_stale_after(Duration::from_millis(
            c["stale_after_ms"].as_u64().expect("stale_after_ms"),
        ))
        .with_on_stale(on_stale)
}

/// The revocation view after the case's events, each applied when it was received. An event
/// the guard cannot read is skipped, as the stream follower does.
fn view(case: &Value, config: &Config) -> RevocationSet {
    let mut set = RevocationSet::new(config.max_token_lifetime + config.leeway);
    for received in case["events"].as_array().expect("events") {
        match serde_json::from_value::<Event>(received["event"].clone()) {
            Ok(event) => set.apply(&event, time(&received["received"])),
            Err(_) => continue,
        }
    }
    set
}

/// The case's decision: accepted (with the subject) or the refusal code, and whether
/// Scimitar was asked.
fn run(case: &Value) -> (Result<String, &'static str>, bool) {
    let config = config(case);
    let keys = keys_from_jwks(case["jwks"].to_string().as_bytes()).expect("JWKS");
    let set = view(case, &config);
    let now = time(&case["clock"]["now"]);
    let quiet_for = case["clock"]["quiet_for_ms"]
        .as_u64()
        .map(Duration::from_millis);
    let token = case["token"].as_str().expect("token");
    match decide(token, &keys, &set, now, quiet_for, &config) {
        Decision::Accept(claims) => (Ok(claims.sub), false),
        Decision::Refuse(rejection) => (Err(rejection.code()), false),
        Decision::Introspect(claims) => {
            let answer = match case["introspection"].as_str() {
                Some("active") => Ok(claims.sub),
                Some("inactive") => Err(Rejection::Inactive.code()),
                Some("unreachable") => Err(Rejection::Unavailable(String::new()).code()),
                other => panic!("introspection asked, but the case gives {other:?}"),
            };
            (answer, true)
        }
    }
}

#[test]
fn every_conformance_vector_gets_its_expected_decision() {
    let vectors = vectors();
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(cases.len() >= 40, "the vectors are all there");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let expect = &case["expect"];
        let wanted = match expect["decision"].as_str() {
            Some("accept") => Ok(expect["sub"].as_str().expect("sub").to_string()),
            Some("refuse") => Err(expect["code"].as_str().expect("code")),
            other => panic!("{name}: decision {other:?}"),
        };
        let introspected = expect["introspected"].as_bool().expect("introspected");
        let (got, asked) = run(case);
        if got.as_ref().map_err(|c| *c) != wanted.as_ref().map_err(|c| *c) || asked != introspected
        {
            failures.push(format!(
                "{name}: expected {wanted:?} (introspected {introspected}), got {got:?} (introspected {asked})"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Each refusal code the vectors expect is one the guard can give, and the vectors cover
/// every refusal `check` can decide offline.
#[test]
fn the_vectors_cover_every_offline_refusal() {
    let vectors = vectors();
    let expected: std::collections::BTreeSet<&str> = vectors["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter_map(|case| case["expect"]["code"].as_str())
        .collect();
    let offline = [
        Rejection::Malformed(String::new()),
        Rejection::WrongType(None),
        Rejection::WrongAlgorithm(String::new()),
        Rejection::UnknownKey(None),
        Rejection::BadSignature,
        Rejection::Expired,
        Rejection::NotYetValid,
        Rejection::WrongIssuer,
        Rejection::WrongAudience,
        Rejection::RevokedSession,
        Rejection::RevokedToken,
        Rejection::UserNotBefore(DateTime::<Utc>::MIN_UTC),
        Rejection::Stale(None),
        Rejection::Inactive,
        Rejection::Unavailable(String::new()),
    ];
    for rejection in &offline {
        assert!(
            expected.contains(rejection.code()),
            "no vector expects {}",
            rejection.code()
        );
    }
    assert!(
        expected
            .iter()
            .all(|code| offline.iter().any(|r| r.code() == *code)),
        "{expected:?}"
    );
}
