//! The Shared Signals receiver, pushed to (RFC 8935): each event type acts through the
//! cascade, a replayed SET acts once, a forged or unmappable one acts zero times with its
//! RFC 8935 code and a flag, and a SET's records, events and ended sessions commit together.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use scimitar::clock::Clock;

use crate::helpers::{AppClient, TestApp, expect_status};
use crate::on_both_backends;
use crate::transmitter::*;

/// A push receiver of the fake transmitter: its id and the `Authorization` header to push with.
pub async fn push_receiver(
    app: &TestApp,
    admin: &str,
    tx: &Transmitter,
    extra: Value,
) -> (String, String) {
    let mut body =
        json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": format!("{}/jwks", tx.url)});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let response = app
        .admin(admin, Method::POST, "/signal-receivers")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("create");
    let created = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(created["delivery"]["method"], "urn:ietf:rfc:8935");
    let id = created["id"].as_str().expect("id").to_string();
    assert!(
        created["delivery"]["endpoint_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/ssf/v1/receive/{id}")))
    );
    (
        id,
        created["delivery"]["authorization_header"]
            .as_str()
            .expect("secret")
            .to_string(),
    )
}

pub async fn push(app: &TestApp, id: &str, authorization: &str, token: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/ssf/v1/receive/{id}", app.root))
        .header("authorization", authorization)
        .header("content-type", "application/secevent+jwt")
        .body(token.to_string())
        .send()
        .await
        .expect("push")
}

/// A provisioned user with `externalId` and a live session: (id, access token).
pub async fn user_with_session(app: &TestApp, client: &AppClient, body: Value) -> (String, String) {
    let user = expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await;
    let id = user["id"].as_str().expect("id").to_string();
    let tokens = app.tokens_for(client, &id).await;
    (
        id,
        tokens["access_token"].as_str().expect("token").to_string(),
    )
}

async fn feed(app: &TestApp, client: &AppClient, after: i64) -> Value {
    expect_status(
        app.get_as_app(
            client,
            &format!("/events/v1/revocations?after={after}&limit=1000"),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

async fn head(app: &TestApp, client: &AppClient) -> i64 {
    feed(app, client, 0).await["head"].as_i64().unwrap_or(0)
}

async fn admin_get(app: &TestApp, admin: &str, path: &str) -> Value {
    expect_status(
        app.admin(admin, Method::GET, path)
            .send()
            .await
            .expect("GET"),
        StatusCode::OK,
    )
    .await
}

fn now(app: &TestApp) -> i64 {
    app.clock.now().timestamp()
}

on_both_backends! {
    async fn each_pushed_event_type_acts_through_the_cascade_and_a_replay_acts_once(app) {
        let tx = Transmitter::start();
        let (admin, client) = (app.admin_token(), app.app_client(true));
        let (receiver, auth) = push_receiver(&app, &admin, &tx, json!({})).await;
        let (alice, alice_token) = user_with_session(&app, &client, json!({"userName": "alice", "externalId": "00u-alice"})).await;
        let (_, bob_token) = user_with_session(&app, &client, json!({"userName": "bob", "externalId": "00u-bob"})).await;
        let start = head(&app, &client).await;

        // CAEP session-revoked (ES256): the session ends, the user stays active.
        let set = tx.ec.sign(&set_claims("jti-1", now(&app), SESSION_REVOKED, iss_sub("00u-alice")));
        assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED);
        assert!(!app.is_active(&client, &alice_token).await);
        assert!(app.is_active(&client, &bob_token).await, "nobody else lost access");
        let events = feed(&app, &client, start).await["events"].as_array().cloned().unwrap_or_default();
        let revoked: Vec<&Value> = events.iter().filter(|e| e["type"] == "session.revoked").collect();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0]["details"]["reason"], "security_event");
        // The event's cause is the record of the SET: its jti, issuer, event type and action.
        let cause = revoked[0]["cause"].as_str().expect("cause");
        let record = admin_get(&app, &admin, &format!("/audit/{cause}")).await;
        assert_eq!(record["action"], "signal.receive");
        assert_eq!(record["details"]["jti"], "jti-1");
        assert_eq!(record["details"]["issuer"], ISSUER);
        assert_eq!(record["details"]["event_type"], SESSION_REVOKED);
        assert_eq!(record["details"]["action"], "end_sessions");
        let user = expect_status(app.get(&format!("/Users/{alice}")).await, StatusCode::OK).await;
        assert_ne!(user["active"], false);

        // The same SET again (a replay, or the transmitter's retry): accepted, acts no more.
        let before = head(&app, &client).await;
        let again = app.tokens_for(&client, &alice).await["access_token"].as_str().expect("token").to_string();
        for _ in 0..3 {
            assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED);
        }
        assert!(app.is_active(&client, &again).await, "the replay ended nothing");
        assert_eq!(head(&app, &client).await, before, "no event for a replay");
        let received = admin_get(&app, &admin, "/received-sets?jti=jti-1").await;
        assert_eq!(received["sets"].as_array().map(Vec::len), Some(1), "received once: {received}");
        assert_eq!(received["sets"][0]["outcome"], "applied");
        assert_eq!(received["sets"][0]["effects"]["sessions_ended"], 1);

        // RISC sessions-revoked (RS256) and CAEP credential-change (ends sessions by default).
        for (jti, event) in [("jti-2", SESSIONS_REVOKED), ("jti-3", CREDENTIAL_CHANGE)] {
            let token = app.tokens_for(&client, &alice).await["access_token"].as_str().expect("token").to_string();
            let set = sign_rs256(&set_claims(jti, now(&app), event, iss_sub("00u-alice")));
            assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED, "{event}");
            assert!(!app.is_active(&client, &token).await, "{event}");
        }

        // RISC account-disabled: deactivated exactly as SCIM would, with its whole cascade.
        let token = app.tokens_for(&client, &alice).await["access_token"].as_str().expect("token").to_string();
        let before = head(&app, &client).await;
        let set = tx.ec.sign(&set_claims("jti-4", now(&app), ACCOUNT_DISABLED, iss_sub("00u-alice")));
        assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED);
        assert!(!app.is_active(&client, &token).await);
        let user = expect_status(app.get(&format!("/Users/{alice}")).await, StatusCode::OK).await;
        assert_eq!(user["active"], false);
        let events = feed(&app, &client, before).await["events"].as_array().cloned().unwrap_or_default();
        let disabled = events.iter().find(|e| e["type"] == "user.disabled").expect("user.disabled");
        let cause = disabled["cause"].as_str().expect("cause");
        assert_eq!(admin_get(&app, &admin, &format!("/audit/{cause}")).await["details"]["event_type"], ACCOUNT_DISABLED);
        let patch = admin_get(&app, &admin, &format!("/audit?action=user.patch&resource={alice}")).await;
        assert_eq!(patch["records"][0]["cause"], cause, "the SCIM deactivation record is caused by the SET");
        assert_eq!(patch["records"][0]["details"]["active"], json!({"from": true, "to": false}));

        // RISC account-enabled: recorded and flagged; no reactivation by default.
        let set = tx.ec.sign(&set_claims("jti-5", now(&app), ACCOUNT_ENABLED, iss_sub("00u-alice")));
        assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED);
        let user = expect_status(app.get(&format!("/Users/{alice}")).await, StatusCode::OK).await;
        assert_eq!(user["active"], false, "account-enabled does not reactivate by default");
        let flags = admin_get(&app, &admin, "/flags").await;
        assert!(flags["flags"].as_array().into_iter().flatten().any(|f| f["kind"] == "security_event_account_enabled" && f["subject"] == alice), "{flags}");

        // An unknown event type is recorded and ignored.
        let set = tx.ec.sign(&set_claims("jti-6", now(&app), "https://example.test/event-type/unknown", iss_sub("00u-bob")));
        assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED);
        assert!(app.is_active(&client, &bob_token).await);
        let received = admin_get(&app, &admin, "/received-sets?jti=jti-6").await;
        assert_eq!(received["sets"][0]["outcome"], "ignored");
        // An `exp` at the end of time is judged (valid), never overflowed.
        let mut far = set_claims("jti-7", now(&app), "https://example.test/event-type/unknown", iss_sub("00u-bob"));
        far["exp"] = json!(i64::MAX);
        assert_eq!(push(&app, &receiver, &auth, &tx.ec.sign(&far)).await.status(), StatusCode::ACCEPTED);

        let metrics = app.client.get(format!("{}/metrics", app.root)).send().await.expect("metrics").text().await.expect("text");
        let counted = |outcome: &str| metrics.lines().any(|l| l.starts_with("scimitar_ssf_received_total{") && l.contains("delivery=\"push\"") && l.contains(&format!("outcome=\"{outcome}\"")));
        assert!(counted("applied") && counted("replayed") && counted("ignored"), "{metrics}");
        assert!(metrics.contains("scimitar_ssf_received_events_total"), "{metrics}");
        assert!(metrics.contains("reason=\"security_event\""), "{metrics}");
    }

    async fn forged_and_unmappable_sets_act_zero_times_and_are_refused_with_their_code_and_a_flag(app) {
        let tx = Transmitter::start();
        let (admin, client) = (app.admin_token(), app.app_client(true));
        let (receiver, auth) = push_receiver(&app, &admin, &tx, json!({})).await;
        let (_, token) = user_with_session(&app, &client, json!({"userName": "alice@example.com", "externalId": "00u-alice", "emails": [{"value": "alice@example.com"}]})).await;
        let start = head(&app, &client).await;
        let t = now(&app);
        let good = |jti: &str| set_claims(jti, t, SESSION_REVOKED, iss_sub("00u-alice"));
        let with = |jti: &str, key: &str, value: Value| {
            let mut claims = good(jti);
            claims[key] = value;
            claims
        };
        let mut missing_sub = good("f-9");
        missing_sub.as_object_mut().expect("object").remove("sub_id");
        let other_key = EcKey::new("tx-1");
        let unknown_kid = EcKey::new("tx-unknown");
        let cases = [
            ("signed by another key", other_key.sign(&good("f-1")), "invalid_key"),
            ("unpublished kid", unknown_kid.sign(&good("f-2")), "invalid_key"),
            ("alg none", unsigned(&good("f-3")), "invalid_key"),
            ("HS256", sign_hs256(&good("f-4"), b"a shared secret"), "invalid_key"),
            ("wrong issuer", tx.ec.sign(&with("f-5", "iss", json!("https://evil.example.test"))), "invalid_issuer"),
            ("wrong audience", tx.ec.sign(&with("f-6", "aud", json!("https://someone-else.example.test"))), "invalid_audience"),
            ("iat two days old", tx.ec.sign(&with("f-7", "iat", json!(t - 2 * 86_400))), "invalid_request"),
            ("iat in the future", tx.ec.sign(&with("f-8", "iat", json!(t + 3_600))), "invalid_request"),
            ("no subject", tx.ec.sign(&missing_sub), "invalid_request"),
            ("unknown subject", tx.ec.sign(&with("f-10", "sub_id", iss_sub("00u-nobody"))), "invalid_request"),
            ("e-mail subject not allowed", tx.ec.sign(&with("f-11", "sub_id", json!({"format": "email", "email": "alice@example.com"}))), "invalid_request"),
            ("another issuer's iss_sub", tx.ec.sign(&with("f-12", "sub_id", json!({"format": "iss_sub", "iss": "https://evil.example.test", "sub": "00u-alice"}))), "invalid_request"),
            ("no jti", tx.ec.sign(&with("f-13", "jti", Value::Null)), "invalid_request"),
            ("not a JWT", "garbage".to_string(), "invalid_request"),
        ];
        for (why, set, code) in &cases {
            let response = push(&app, &receiver, &auth, set).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
            assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"), "{why}");
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(body["err"], *code, "{why}: {body}");
            assert!(body["description"].as_str().is_some_and(|d| !d.is_empty()), "{why}");
        }
        // The wrong typ, and the wrong content type.
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("tx-rsa".into());
        header.typ = Some("JWT".into());
        let rsa: Value = serde_json::from_str(include_str!("../fixtures/signals/transmitter-rsa.json")).expect("fixture");
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(rsa["private_key_pem"].as_str().expect("pem").as_bytes()).expect("key");
        let wrong_typ = jsonwebtoken::encode(&header, &good("f-14"), &key).expect("sign");
        let body: Value = push(&app, &receiver, &auth, &wrong_typ).await.json().await.expect("JSON");
        assert_eq!(body["err"], "invalid_request");
        let response = app.client.post(format!("{}/ssf/v1/receive/{receiver}", app.root)).header("authorization", &auth)
            .header("content-type", "application/json").body(tx.ec.sign(&good("f-15"))).send().await.expect("push");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        // Authentication: no secret, a wrong one, an unknown receiver.
        for (id, authorization) in [(receiver.as_str(), "Bearer nope"), (receiver.as_str(), ""), ("no-such-receiver", auth.as_str())] {
            let response = push(&app, id, authorization, &tx.ec.sign(&good("f-16"))).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(body["err"], "authentication_failed");
        }

        // Zero acts: the session lives, and the only events are the refusal flag's.
        assert!(app.is_active(&client, &token).await);
        let events = feed(&app, &client, start).await["events"].as_array().cloned().unwrap_or_default();
        assert!(events.iter().all(|e| e["type"] == "flag.raised"), "{events:?}");
        let flags = admin_get(&app, &admin, "/flags").await;
        let flag = flags["flags"].as_array().into_iter().flatten().find(|f| f["kind"] == "security_event_refused").cloned().expect("a refusal flag");
        assert_eq!(flag["subject"], receiver.as_str());
        assert_eq!(flag["severity"], "high");
        let refused = admin_get(&app, &admin, "/received-sets?outcome=refused&limit=1000").await;
        assert_eq!(refused["sets"].as_array().map(Vec::len), Some(cases.len() + 1), "{refused}");
        assert!(refused["sets"].as_array().into_iter().flatten().any(|s| s["jti"] == "f-5" && s["err"] == "invalid_issuer"));
        // A forged SET does not take its jti: the genuine SET with the same jti still acts.
        let genuine = tx.ec.sign(&good("f-1"));
        assert_eq!(push(&app, &receiver, &auth, &genuine).await.status(), StatusCode::ACCEPTED);
        assert!(!app.is_active(&client, &token).await);
    }

    async fn a_set_that_cannot_be_mapped_whole_is_not_half_applied_and_an_applied_one_commits_together(app) {
        let tx = Transmitter::start();
        let (admin, client) = (app.admin_token(), app.app_client(true));
        let (receiver, auth) = push_receiver(&app, &admin, &tx, json!({})).await;
        let (alice, alice_token) = user_with_session(&app, &client, json!({"userName": "alice", "externalId": "00u-alice"})).await;
        let start = head(&app, &client).await;
        // Two events, each with its own subject (the pre-SSF form): the second names nobody.
        let claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "jti": "two", "iat": now(&app),
            "events": {
                SESSION_REVOKED: {"subject": iss_sub("00u-alice")},
                ACCOUNT_DISABLED: {"subject": iss_sub("00u-nobody")},
            },
        });
        let response = push(&app, &receiver, &auth, &tx.ec.sign(&claims)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(app.is_active(&client, &alice_token).await, "the first event was not applied either");
        let events = feed(&app, &client, start).await["events"].as_array().cloned().unwrap_or_default();
        assert!(events.iter().all(|e| e["type"] == "flag.raised"), "{events:?}");

        // Applied: the SET's record, the session's end, its record and its event, together.
        let second = app.tokens_for(&client, &alice).await["access_token"].as_str().expect("token").to_string();
        let before = head(&app, &client).await;
        let set = tx.ec.sign(&set_claims("one", now(&app), SESSION_REVOKED, iss_sub("00u-alice")));
        assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED);
        let received = admin_get(&app, &admin, "/received-sets?jti=one").await;
        let cause = received["sets"][0]["cause"].as_str().expect("cause").to_string();
        let caused = admin_get(&app, &admin, &format!("/audit?cause={cause}")).await;
        let ended: Vec<&Value> = caused["records"].as_array().into_iter().flatten().filter(|r| r["action"] == "session.revoke").collect();
        assert_eq!(ended.len(), 2, "both sessions: {caused}");
        let events = feed(&app, &client, before).await["events"].as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e["type"] == "session.revoked" && e["cause"] == cause.as_str()));
        assert!(!app.is_active(&client, &second).await);
    }
}

on_both_backends! {
    async fn receipts_are_purged_after_their_retention_and_a_purged_set_never_acts_again(app) {
        let tx = Transmitter::start();
        let (admin, client) = (app.admin_token(), app.app_client(true));
        let (receiver, auth) = push_receiver(&app, &admin, &tx, json!({})).await;
        let (alice, _) = user_with_session(&app, &client, json!({"userName": "alice", "externalId": "00u-alice"})).await;
        let set = tx.ec.sign(&set_claims("jti-old", now(&app), SESSION_REVOKED, iss_sub("00u-alice")));
        assert_eq!(push(&app, &receiver, &auth, &set).await.status(), StatusCode::ACCEPTED);
        let purge = |app: &TestApp| scimitar::signals::receiver::manage::purge_receipts(&app.store, app.clock.now()).expect("purge");

        // Within the retention nothing is purged.
        app.clock.advance(chrono::Duration::days(29));
        assert_eq!(purge(&app), 0);
        let received = admin_get(&app, &admin, "/received-sets?jti=jti-old").await;
        assert_eq!(received["sets"].as_array().map(Vec::len), Some(1));

        // Past it, the receipt goes; the same SET pushed again is too old to verify, so it
        // acts zero times even without its receipt.
        app.clock.advance(chrono::Duration::days(2));
        assert_eq!(purge(&app), 1);
        let token = app.tokens_for(&client, &alice).await["access_token"].as_str().expect("token").to_string();
        let replay = push(&app, &receiver, &auth, &set).await;
        assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
        assert!(app.is_active(&client, &token).await, "the purged SET ended nothing");
    }
}
