//! Rate limits: failed authentication per client address, failing requests per credential,
//! OAuth requests per app client; 429 with `Retry-After`; never a deprovisioning write from a
//! valid identity-provider credential.

use reqwest::{Method, Response, StatusCode};
use scimitar::access::limits::LimitSettings;
use serde_json::{Value, json};

use crate::helpers::{Backend, Options, TestApp, expect_scim_error, expect_status};

async fn app(backend: Backend, limits: LimitSettings) -> Option<TestApp> {
    let options = Options {
        limits: Some(limits),
        ..Options::default()
    };
    TestApp::spawn_with(backend, options).await
}

fn retry_after(response: &Response) -> Option<u64> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn deactivation() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]})
}

fn reactivation() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": true}]})
}

async fn bad_bearer(app: &TestApp) -> Response {
    app.request_as("scimitar_not-a-real-token", Method::GET, "/Users")
        .send()
        .await
        .expect("GET")
}

/// An address past its budget of failed authentications gets 429 with `Retry-After`, on SCIM
/// and OAuth alike; the identity provider's valid credential, from the same address, keeps
/// deprovisioning (with its cascade) however many writes it sends.
async fn failed_authentication_is_limited_per_address(backend: Backend) {
    let limits = LimitSettings {
        failed_auth_per_minute: 3,
        ..LimitSettings::default()
    };
    let Some(app) = app(backend, limits).await else {
        return;
    };
    let client = app.app_client(true);
    let user = app.create_user("limited@example.com").await;
    let id = user["id"].as_str().expect("id").to_string();
    let tokens = app.tokens_for(&client, &id).await;
    let access_token = tokens["access_token"].as_str().expect("token").to_string();

    for _ in 0..3 {
        expect_scim_error(bad_bearer(&app).await, StatusCode::UNAUTHORIZED, None).await;
    }
    let refused = bad_bearer(&app).await;
    assert_eq!(
        retry_after(&refused),
        Some(20),
        "one failure per 20 s refills"
    );
    let body = expect_scim_error(refused, StatusCode::TOO_MANY_REQUESTS, None).await;
    assert_eq!(body["status"], json!("429"));
    let missing = app
        .client
        .get(format!("{}/Users", app.base))
        .send()
        .await
        .expect("GET");
    expect_scim_error(missing, StatusCode::TOO_MANY_REQUESTS, None).await;
    let wrong_secret = crate::helpers::AppClient {
        id: client.id.clone(),
        secret: "scimitar_wrong".into(),
    };
    let oauth = app
        .oauth(&wrong_secret, "introspect", &[("token", &access_token)])
        .await;
    assert_eq!(oauth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&oauth).is_some_and(|s| s >= 1));
    assert_eq!(
        oauth.json::<Value>().await.expect("JSON")["error"],
        json!("temporarily_unavailable")
    );

    // The identity provider, behind the same address, is never limited.
    let path = format!("/Users/{id}");
    expect_status(app.patch(&path, &deactivation()).await, StatusCode::OK).await;
    assert!(
        !app.is_active(&client, &access_token).await,
        "the deactivation revoked the session"
    );
    for _ in 0..20 {
        expect_status(app.patch(&path, &reactivation()).await, StatusCode::OK).await;
        expect_status(app.patch(&path, &deactivation()).await, StatusCode::OK).await;
    }
    let user = expect_status(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(user["active"], json!(false));

    app.clock.advance(chrono::Duration::seconds(20));
    expect_scim_error(bad_bearer(&app).await, StatusCode::UNAUTHORIZED, None).await;
    expect_scim_error(bad_bearer(&app).await, StatusCode::TOO_MANY_REQUESTS, None).await;
}

#[tokio::test]
async fn failed_authentication_is_limited_per_address_on_sqlite() {
    failed_authentication_is_limited_per_address(Backend::Sqlite).await
}

#[tokio::test]
async fn failed_authentication_is_limited_per_address_on_postgres() {
    failed_authentication_is_limited_per_address(Backend::Postgres).await
}

/// OAuth requests are limited per app client only where a cap is set (the server's default
/// here, then a client's own); a client whose requests keep failing gets 429 for those
/// failing requests only, and its valid requests go on; other clients are untouched.
async fn oauth_endpoints_are_limited_per_client(backend: Backend) {
    let limits = LimitSettings {
        oauth_per_second: 5,
        client_failures_per_minute: 3,
        ..LimitSettings::default()
    };
    let Some(app) = app(backend, limits).await else {
        return;
    };
    let (busy, failing, other) = (
        app.app_client(true),
        app.app_client(true),
        app.app_client(true),
    );
    let id = app.create_user("oauth@example.com").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let token = app.tokens_for(&other, &id).await["access_token"]
        .as_str()
        .expect("token")
        .to_string();

    for _ in 0..5 {
        let answer = app.oauth(&busy, "introspect", &[("token", &token)]).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let refused = app.oauth(&busy, "introspect", &[("token", &token)]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused), Some(1));
    assert!(
        app.is_active(&other, &token).await,
        "other clients are untouched"
    );
    app.clock.advance(chrono::Duration::seconds(1));
    assert!(app.is_active(&busy, &token).await);
    // A client's own cap replaces the default: raised for busy, which then runs at 20/s.
    scimitar::access::credentials::set_oauth_limit(
        &app.store,
        &busy.id,
        Some(20),
        chrono::Utc::now(),
    )
    .expect("set a cap");
    app.clock.advance(chrono::Duration::seconds(1));
    for _ in 0..20 {
        let answer = app.oauth(&busy, "introspect", &[("token", &token)]).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let refused = app.oauth(&busy, "introspect", &[("token", &token)]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);

    for _ in 0..3 {
        let answer = app.refresh(&failing, "not-a-refresh-token").await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    }
    let refused = app.refresh(&failing, "not-a-refresh-token").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused), Some(20));
    // Past its failure budget, the client's valid requests are served as ever (a second
    // later, so the default cap of 5 a second is not what answers).
    app.clock.advance(chrono::Duration::seconds(1));
    assert!(
        app.is_active(&failing, &token).await,
        "introspection goes on"
    );
    let minted = app.tokens_for(&failing, &id).await;
    assert!(minted["access_token"].is_string(), "minting goes on");
    expect_status(
        app.get_as_app(&failing, "/events/v1/revocations").await,
        StatusCode::OK,
    )
    .await;
    app.clock.advance(chrono::Duration::seconds(19));
    let answer = app.refresh(&failing, "not-a-refresh-token").await;
    assert_eq!(
        answer.status(),
        StatusCode::BAD_REQUEST,
        "the budget refilled"
    );
}

#[tokio::test]
async fn oauth_endpoints_are_limited_per_client_on_sqlite() {
    oauth_endpoints_are_limited_per_client(Backend::Sqlite).await
}

#[tokio::test]
async fn oauth_endpoints_are_limited_per_client_on_postgres() {
    oauth_endpoints_are_limited_per_client(Backend::Postgres).await
}

/// Behind a trusted proxy, the address is the last `X-Forwarded-For` entry (the one the proxy
/// added): addresses have budgets of their own, and what a client writes before it is ignored.
async fn forwarded_addresses_have_budgets_of_their_own(backend: Backend) {
    let options = Options {
        limits: Some(LimitSettings {
            failed_auth_per_minute: 2,
            ..LimitSettings::default()
        }),
        trust_forwarded_for: true,
        ..Options::default()
    };
    let Some(app) = TestApp::spawn_with(backend, options).await else {
        return;
    };
    let from = |forwarded: &'static str| {
        app.request_as("scimitar_bad", Method::GET, "/Users")
            .header("x-forwarded-for", forwarded)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            from("10.0.0.1").await.expect("GET").status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from("10.0.0.1").await.expect("GET").status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        from("10.0.0.1, 10.0.0.2").await.expect("GET").status(),
        StatusCode::UNAUTHORIZED,
        "the proxy's entry counts, not the client's"
    );
    assert_eq!(
        from("10.0.0.2").await.expect("GET").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        from("10.0.0.2").await.expect("GET").status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn forwarded_addresses_have_budgets_of_their_own_on_sqlite() {
    forwarded_addresses_have_budgets_of_their_own(Backend::Sqlite).await
}

#[tokio::test]
async fn forwarded_addresses_have_budgets_of_their_own_on_postgres() {
    forwarded_addresses_have_budgets_of_their_own(Backend::Postgres).await
}

/// An admin or app credential used on an API it may not call fails (403) against its own
/// budget; past it, 429 for those requests only. An identity provider's credential on the
/// wrong API is never limited.
async fn a_credential_on_the_wrong_api_runs_out_of_failures(backend: Backend) {
    let Some(app) = app(
        backend,
        LimitSettings {
            client_failures_per_minute: 2,
            ..LimitSettings::default()
        },
    )
    .await
    else {
        return;
    };
    let client = app.app_client(false);
    let admin_api = || {
        app.client
            .get(format!("{}/admin/v1/flags", app.root))
            .bearer_auth(&client.secret)
            .send()
    };
    for _ in 0..2 {
        expect_scim_error(admin_api().await.expect("GET"), StatusCode::FORBIDDEN, None).await;
    }
    let refused = admin_api().await.expect("GET");
    assert_eq!(retry_after(&refused), Some(30));
    expect_scim_error(refused, StatusCode::TOO_MANY_REQUESTS, None).await;
    // Its own API still answers it: a throttled kind of failure refuses nothing else.
    expect_status(
        app.get_as_app(&client, "/events/v1/revocations").await,
        StatusCode::OK,
    )
    .await;
    for _ in 0..10 {
        let response = app
            .admin(&app.token, Method::GET, "/flags")
            .send()
            .await
            .expect("GET");
        expect_scim_error(response, StatusCode::FORBIDDEN, None).await;
    }
    expect_status(app.get("/Users").await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_credential_on_the_wrong_api_runs_out_of_failures_on_sqlite() {
    a_credential_on_the_wrong_api_runs_out_of_failures(Backend::Sqlite).await
}

#[tokio::test]
async fn a_credential_on_the_wrong_api_runs_out_of_failures_on_postgres() {
    a_credential_on_the_wrong_api_runs_out_of_failures(Backend::Postgres).await
}
