//! Forward auth (`/auth/v1/forward`) for reverse proxies: a bearer token judged from memory,
//! answered 200 with identity headers or 401 with a challenge; a deactivation, an RFC 7009
//! revocation or a forged, expired or foreign token is refused, on every replica.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppClient, Backend, Options, TestApp, TestDb, id_of};
use crate::on_both_backends;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn forward(
    app: &TestApp,
    method: Method,
    audience: Option<&str>,
    token: Option<&str>,
) -> reqwest::Response {
    let url = match audience {
        Some(audience) => format!("{}/auth/v1/forward?audience={audience}", app.root),
        None => format!("{}/auth/v1/forward", app.root),
    };
    let mut request = app.client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("forward auth")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Waits (bounded) until forward auth refuses `token`; returns the challenge.
async fn refused_soon(app: &TestApp, audience: &str, token: &str) -> String {
    for _ in 0..100 {
        let response = forward(app, Method::GET, Some(audience), Some(token)).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            return header(&response, "www-authenticate");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the token was not refused within 2 s")
}

async fn session(app: &TestApp, client: &AppClient, user: &str) -> (String, String) {
    let tokens = app.tokens_for(client, user).await;
    let text = |key: &str| tokens[key].as_str().unwrap_or_default().to_string();
    (text("access_token"), text("refresh_token"))
}

on_both_backends! {
    async fn a_valid_token_passes_with_its_identity_and_anything_else_is_refused(app) {
        let client = app.app_client(true);
        let alice = id_of(&app.create_user("alice").await);
        let group = id_of(&app.create_group("Ops", &[&alice]).await);
        let admin = app.admin_token();
        app.map_role(&admin, &format!("id:{group}"), &["operator"]).await;
        let (access, _) = session(&app, &client, &alice).await;
        for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let response = forward(&app, method.clone(), Some(&client.id), Some(&access)).await;
            assert_eq!(response.status(), StatusCode::OK, "{method}");
            assert_eq!(header(&response, "x-scimitar-user"), alice);
            assert_eq!(header(&response, "x-scimitar-roles"), "operator");
            assert_eq!(header(&response, "x-scimitar-client"), client.id);
            assert!(!header(&response, "x-scimitar-session").is_empty());
            assert_eq!(header(&response, "x-scimitar-tenant"), app.tenant_id);
        }
        // The proxy must name the app it protects.
        assert_eq!(forward(&app, Method::GET, None, Some(&access)).await.status(), StatusCode::BAD_REQUEST);
        let other = forward(&app, Method::GET, Some("another-app"), Some(&access)).await;
        assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
        assert!(header(&other, "www-authenticate").contains("wrong_audience"));
        let none = forward(&app, Method::GET, Some(&client.id), None).await;
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&none, "www-authenticate"), "Bearer");
        let forged_parts: Vec<&str> = access.split('.').collect();
        let tampered = format!("{}.{}.{}", forged_parts[0], crate::helpers::b64_json(&json!({"sub": "mallory"})), forged_parts[2]);
        for (why, token) in [
            ("garbage", "not-a-jwt".to_string()),
            ("alg none", format!("{}.{}.", crate::helpers::b64_json(&json!({"alg": "none", "typ": "at+jwt", "kid": "x"})), forged_parts[1])),
            ("tampered claims", tampered),
        ] {
            let response = forward(&app, Method::GET, Some(&client.id), Some(&token)).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
            assert!(header(&response, "www-authenticate").contains("invalid_token"), "{why}");
        }
        // Expired: ten seconds past its `exp` (forward auth allows replicas' skew only).
        let exp = crate::helpers::jwt_claims(&access)["exp"].as_i64().unwrap_or_default();
        let now = scimitar::clock::Clock::now(&*app.clock).timestamp();
        app.clock.advance(chrono::Duration::seconds(exp - now + 10));
        let expired = forward(&app, Method::GET, Some(&client.id), Some(&access)).await;
        assert!(header(&expired, "www-authenticate").contains("expired"));
    }

    async fn a_token_names_only_apps_of_its_own_tenant_and_opens_only_those(app) {
        let portal = app.app_client(true);
        let wiki = app.app_client(false);
        let alice = id_of(&app.create_user("alice").await);
        let now = chrono::Utc::now();
        scimitar::tenancy::create(&app.store, "other", now).expect("a second tenant");
        let foreign = scimitar::access::credentials::create_with(
            &app.store, Some("other"), "foreign-app", scimitar::access::credentials::CredentialKind::App, true, now,
        ).expect("another tenant's app");
        let idp = scimitar::access::credentials::create(
            &app.store, None, "idp", scimitar::access::credentials::CredentialKind::Scim, now,
        ).expect("a SCIM credential");
        let (app_ref, portal_ref, alice_ref) = (&app, &portal, &alice);
        let exchange = move |audience: String| {
            let (app, portal, alice) = (app_ref, portal_ref, alice_ref);
            async move {
                let form = [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                    ("subject_token", alice.as_str()),
                    ("subject_token_type", "urn:scimitar:params:oauth:token-type:scim-user"),
                    ("audience", audience.as_str()),
                ];
                app.oauth(portal, "token", &form).await
            }
        };
        // Another tenant's app, a free string, a credential that is no app: refused, no token.
        for audience in [foreign.client_id.clone(), "https://evil.example".into(), idp.client_id.clone(), "x".into()] {
            let response = exchange(audience.clone()).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{audience}");
            let body: Value = response.json().await.expect("an OAuth error");
            assert_eq!(body["error"], "invalid_target", "{audience}");
        }
        // Another app of its own tenant: allowed, and that app's door opens, no other.
        let response = exchange(wiki.id.clone()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let token = response.json::<Value>().await.expect("tokens")["access_token"].as_str().unwrap_or_default().to_string();
        assert_eq!(crate::helpers::jwt_claims(&token)["aud"], wiki.id);
        assert_eq!(forward(&app, Method::GET, Some(&wiki.id), Some(&token)).await.status(), StatusCode::OK);
        let portal_door = forward(&app, Method::GET, Some(&portal.id), Some(&token)).await;
        assert!(header(&portal_door, "www-authenticate").contains("wrong_audience"));
        // Once that app is revoked, its audience opens nothing (after the directory's memory).
        scimitar::access::credentials::revoke(&app.store, &wiki.id, chrono::Utc::now()).expect("revoke the app");
        app.clock.advance(chrono::Duration::seconds(31));
        let gone = forward(&app, Method::GET, Some(&wiki.id), Some(&token)).await;
        assert_eq!(gone.status(), StatusCode::UNAUTHORIZED);
        assert!(header(&gone, "www-authenticate").contains("wrong_audience"));
    }

    async fn a_revocation_committed_by_another_process_is_refused_within_a_fraction_of_a_second(app) {
        let client = app.app_client(true);
        let alice = id_of(&app.create_user("alice").await);
        let (access, _) = session(&app, &client, &alice).await;
        assert_eq!(forward(&app, Method::GET, Some(&client.id), Some(&access)).await.status(), StatusCode::OK);
        // The CLI's kill switch: another process, its own store on the same database, no
        // doorbell of this server rung.
        let url = scimitar::store::DatabaseUrl::parse(app.database_url()).expect("url");
        let other = scimitar::store::Store::open(&url, &scimitar::store::PoolSettings::default()).expect("another process's store");
        scimitar::access::tokens::revoke_user(&other, chrono::Utc::now(), &app.tenant_id, &alice, None, None).expect("kill switch");
        let started = std::time::Instant::now();
        refused_soon(&app, &client.id, &access).await;
        assert!(started.elapsed() < Duration::from_millis(600), "{:?}", started.elapsed());
    }

    async fn a_deactivation_and_an_rfc_7009_revocation_are_refused_at_once(app) {
        let client = app.app_client(true);
        let alice = id_of(&app.create_user("alice").await);
        let bob = id_of(&app.create_user("bob").await);
        let (alice_token, _) = session(&app, &client, &alice).await;
        let (bob_token, _) = session(&app, &client, &bob).await;
        let (bob_other, _) = session(&app, &client, &bob).await;
        let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
        assert_eq!(app.patch(&format!("/Users/{alice}"), &body).await.status(), StatusCode::OK);
        let challenge = refused_soon(&app, &client.id, &alice_token).await;
        assert!(challenge.contains("revoked_session") || challenge.contains("user_not_before"), "{challenge}");
        let revoked = app.oauth(&client, "revoke", &[("token", &bob_token)]).await;
        assert_eq!(revoked.status(), StatusCode::OK);
        let challenge = refused_soon(&app, &client.id, &bob_token).await;
        assert!(challenge.contains("revoked_session"), "its session ends with it: {challenge}");
        let still = forward(&app, Method::GET, Some(&client.id), Some(&bob_other)).await;
        assert_eq!(still.status(), StatusCode::OK, "bob's other token stands");
    }
}

/// A deactivation written through one replica is refused by the other's forward auth.
async fn another_replica_refuses_too(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let url = db.url.clone();
    let app = TestApp::start(db, Options::default());
    // Replicas behind one load balancer share their public URL, the tokens' issuer.
    let issuer = app.root.clone();
    let replica = TestApp::start(
        TestDb::create(backend).expect("a second handle"),
        Options {
            database_url: Some(url),
            access: Some(std::sync::Arc::new(move |settings, _| {
                settings.issuer = issuer.clone()
            })),
            ..Options::default()
        },
    );
    let client = app.app_client(true);
    let alice = id_of(&app.create_user("alice").await);
    let (token, _) = session(&app, &client, &alice).await;
    // The replica verifies with the same keys (the same key file, as in production).
    for _ in 0..100 {
        if forward(&replica, Method::GET, Some(&client.id), Some(&token))
            .await
            .status()
            == StatusCode::OK
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        forward(&replica, Method::GET, Some(&client.id), Some(&token))
            .await
            .status(),
        StatusCode::OK
    );
    let body: Value = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(
        app.patch(&format!("/Users/{alice}"), &body).await.status(),
        StatusCode::OK
    );
    refused_soon(&replica, &client.id, &token).await;
}

#[tokio::test]
async fn another_replica_refuses_too_on_sqlite() {
    another_replica_refuses_too(Backend::Sqlite).await
}

#[tokio::test]
async fn another_replica_refuses_too_on_postgres() {
    another_replica_refuses_too(Backend::Postgres).await
}
