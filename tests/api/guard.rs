//! The resource-server guard (`scimitar-guard`) against the real server: tokens accepted
//! offline, revocations applied from the stream without introspection, JWKS refresh with a
//! cooldown, resumption after a cut stream, and failing closed when the stream stalls.

use std::time::Duration;

use reqwest::StatusCode;
use scimitar::clock::Clock;
use scimitar_guard::{Claims, Config, Guard, OnStale, Rejection};
use serde_json::{Value, json};

use crate::helpers::{AppClient, Backend, TestApp, expect_status};
use crate::proxy::TcpProxy;

fn deactivation() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]})
}

fn config(app: &TestApp, client: &AppClient) -> Config {
    Config::new(&app.root, &client.id, &client.secret)
}

async fn server() -> (TestApp, AppClient) {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("SQLite always runs");
    let client = app.app_client(true);
    (app, client)
}

/// A new user and an access token for them.
async fn user_token(app: &TestApp, client: &AppClient, name: &str) -> (String, String) {
    let user = app.create_user(name).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let token = access_token(app, client, &user).await;
    (user, token)
}

async fn access_token(app: &TestApp, client: &AppClient, user: &str) -> String {
    app.tokens_for(client, user).await["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}

/// Checks until the guard refuses the token; panics after `within`.
async fn until_refused(guard: &Guard, token: &str, within: Duration) -> (Rejection, Duration) {
    let start = tokio::time::Instant::now();
    loop {
        if let Err(rejection) = guard.check(token).await {
            return (rejection, start.elapsed());
        }
        assert!(start.elapsed() < within, "still accepted after {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Checks until the guard accepts the token; panics after `within`.
async fn until_accepted(guard: &Guard, token: &str, within: Duration) -> Claims {
    let start = tokio::time::Instant::now();
    loop {
        match guard.check(token).await {
            Ok(claims) => return claims,
            Err(rejection) => assert!(
                start.elapsed() < within,
                "still refused after {within:?}: {rejection}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_valid_token_is_accepted_offline_and_refused_soon_after_its_user_is_deactivated() {
    let (app, client) = server().await;
    let guard = Guard::start(config(&app, &client)).await.expect("start");
    let (user, token) = user_token(&app, &client, "ada").await;
    let claims = guard
        .check(&token)
        .await
        .expect("a valid token is accepted");
    assert_eq!(claims.sub, user);
    assert_eq!(claims.aud, client.id);
    expect_status(
        app.patch(&format!("/Users/{user}"), &deactivation()).await,
        StatusCode::OK,
    )
    .await;
    let (rejection, after) = until_refused(&guard, &token, Duration::from_secs(3)).await;
    assert!(
        matches!(
            rejection,
            Rejection::RevokedSession | Rejection::UserNotBefore(_)
        ),
        "{rejection:?}"
    );
    assert!(
        after < Duration::from_secs(2),
        "refused only after {after:?}"
    );
    let status = guard.status();
    assert_eq!(status.introspections, 0, "no introspection: {status:?}");
    assert_eq!(status.jwks_fetches, 1);
    assert!(status.fresh && status.entries > 0);
    // The other checks of a token, offline.
    assert_eq!(
        guard
            .check("nonsense")
            .await
            .map(|_| ())
            .map_err(|r| r.code()),
        Err("malformed")
    );
    let other = Guard::start(config(&app, &client).with_audience(vec!["another-app".into()]))
        .await
        .expect("start");
    let (_, fresh_token) = user_token(&app, &client, "grace").await;
    assert_eq!(
        other.check(&fresh_token).await,
        Err(Rejection::WrongAudience)
    );
}

#[tokio::test]
async fn a_revocation_seen_before_the_guard_started_is_applied_from_the_feed() {
    let (app, client) = server().await;
    let (user, token) = user_token(&app, &client, "ada").await;
    expect_status(
        app.patch(&format!("/Users/{user}"), &deactivation()).await,
        StatusCode::OK,
    )
    .await;
    let guard = Guard::start(config(&app, &client)).await.expect("start");
    assert!(guard.check(&token).await.is_err());
    assert_eq!(guard.status().introspections, 0);
}

#[tokio::test]
async fn an_rfc7009_revocation_refuses_that_tokens_session_without_introspection() {
    let (app, client) = server().await;
    let guard = Guard::start(config(&app, &client)).await.expect("start");
    let (user, revoked) = user_token(&app, &client, "ada").await;
    let kept = access_token(&app, &client, &user).await;
    guard.check(&revoked).await.expect("accepted before");
    let response = app.oauth(&client, "revoke", &[("token", &revoked)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (rejection, after) = until_refused(&guard, &revoked, Duration::from_secs(3)).await;
    assert_eq!(
        rejection,
        Rejection::RevokedSession,
        "the token's session ends with it"
    );
    assert!(
        after < Duration::from_secs(2),
        "refused only after {after:?}"
    );
    guard
        .check(&kept)
        .await
        .expect("the user's other token stays valid");
    assert_eq!(guard.status().introspections, 0);
}

/// The token with its header's `kid` replaced (the signature no longer matches, but the key
/// is looked up first).
fn with_kid(token: &str, kid: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (header, rest) = token.split_once('.').expect("a JWT");
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("JSON");
    header["kid"] = json!(kid);
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

#[tokio::test]
async fn an_unknown_kid_refreshes_the_jwks_once_per_cooldown_and_a_rotated_key_is_picked_up() {
    let (app, client) = server().await;
    let guard = Guard::start(config(&app, &client).with_jwks_cooldown(Duration::from_millis(500)))
        .await
        .expect("start");
    let (user, token) = user_token(&app, &client, "ada").await;
    assert_eq!(guard.status().jwks_fetches, 1);
    // The fetch at start counts towards the cooldown too.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for n in 0..20 {
        let forged = with_kid(&token, &format!("unknown-{n}"));
        assert!(matches!(
            guard.check(&forged).await,
            Err(Rejection::UnknownKey(Some(_)))
        ));
    }
    assert_eq!(
        guard.status().jwks_fetches,
        2,
        "one refresh, then the cooldown"
    );
    // A key rotated in: its first token waits out the cooldown, then one refresh finds it.
    app.access
        .keys()
        .rotate(
            &app.store,
            app.clock.now(),
            true,
            chrono::Duration::hours(1),
        )
        .expect("rotate");
    let rotated = access_token(&app, &client, &user).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    guard.check(&rotated).await.expect("the new key is fetched");
    guard
        .check(&token)
        .await
        .expect("the old key stays published");
    assert_eq!(guard.status().jwks_fetches, 3);
    // A tampered signature with a known kid is a bad signature, not a refresh.
    let (head, _) = token.rsplit_once('.').expect("a JWT");
    let forged = format!("{head}.{}", "A".repeat(86));
    assert_eq!(guard.check(&forged).await, Err(Rejection::BadSignature));
    assert_eq!(guard.status().jwks_fetches, 3);
}

#[tokio::test]
async fn a_cut_stream_is_resumed_with_last_event_id_and_loses_no_revocation() {
    let (app, client) = server().await;
    let proxy = TcpProxy::start(&app.root);
    let guard = Guard::start(
        config(&app, &client)
            .with_events_url(proxy.url(&app.root))
            .with_max_backoff(Duration::from_millis(200)),
    )
    .await
    .expect("start");
    let (first, first_token) = user_token(&app, &client, "ada").await;
    let (second, second_token) = user_token(&app, &client, "grace").await;
    guard.check(&first_token).await.expect("accepted");
    proxy.stop();
    // Revocations while the guard is cut off.
    for user in [&first, &second] {
        expect_status(
            app.patch(&format!("/Users/{user}"), &deactivation()).await,
            StatusCode::OK,
        )
        .await;
    }
    proxy.restore();
    until_refused(&guard, &first_token, Duration::from_secs(5)).await;
    until_refused(&guard, &second_token, Duration::from_secs(5)).await;
    let status = guard.status();
    assert!(status.reconnects > 0, "{status:?}");
    assert_eq!(status.introspections, 0);
}

async fn stalled_guard(app: &TestApp, client: &AppClient, on_stale: OnStale) -> (Guard, TcpProxy) {
    let proxy = TcpProxy::start(&app.root);
    let guard = Guard::start(
        config(app, client)
            .with_events_url(proxy.url(&app.root))
            .with_stale_after(Duration::from_secs(1))
            .with_on_stale(on_stale)
            .with_max_backoff(Duration::from_millis(200)),
    )
    .await
    .expect("start");
    (guard, proxy)
}

#[tokio::test]
async fn a_stream_that_stops_beyond_the_bound_makes_the_guard_refuse_every_token() {
    let (app, client) = server().await;
    let (guard, proxy) = stalled_guard(&app, &client, OnStale::Refuse).await;
    let (_, token) = user_token(&app, &client, "ada").await;
    // A quiet but live stream stays fresh: the guard reconnects rather than waiting out
    // Scimitar's 15-second heartbeat.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    guard
        .check(&token)
        .await
        .expect("fresh while the stream lives");
    proxy.stall();
    let (rejection, after) = until_refused(&guard, &token, Duration::from_secs(3)).await;
    assert!(
        matches!(rejection, Rejection::Stale(Some(_))),
        "{rejection:?}"
    );
    assert!(
        after >= Duration::from_millis(400),
        "refused too early: {after:?}"
    );
    assert!(!guard.status().fresh);
    assert_eq!(
        guard.status().introspections,
        0,
        "refusing never introspects"
    );
    proxy.restore();
    until_accepted(&guard, &token, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stream_that_stops_beyond_the_bound_makes_the_guard_introspect_when_configured() {
    let (app, client) = server().await;
    let (guard, proxy) = stalled_guard(&app, &client, OnStale::Introspect).await;
    let (user, token) = user_token(&app, &client, "ada").await;
    let revoked = access_token(&app, &client, &user).await;
    guard.check(&token).await.expect("fresh");
    let response = app.oauth(&client, "revoke", &[("token", &revoked)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    until_refused(&guard, &revoked, Duration::from_secs(3)).await;
    assert_eq!(guard.status().introspections, 0);
    proxy.stall();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!guard.status().fresh);
    // What the view already knows is refused without asking.
    assert_eq!(guard.check(&revoked).await, Err(Rejection::RevokedSession));
    assert_eq!(guard.status().introspections, 0);
    guard
        .check(&token)
        .await
        .expect("introspection says active");
    assert_eq!(guard.status().introspections, 1);
    // Deactivated while the stream is stalled: introspection knows at once.
    expect_status(
        app.patch(&format!("/Users/{user}"), &deactivation()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(guard.check(&token).await, Err(Rejection::Inactive));
    drop(proxy);
}

/// The actix-web middleware: one `wrap`, 401 with a Bearer challenge, claims for handlers.
#[tokio::test]
async fn the_actix_middleware_admits_accepted_tokens_and_answers_401_with_a_challenge() {
    use actix_web::{App, HttpResponse, test, web};
    let (app, client) = server().await;
    let guard = Guard::start(config(&app, &client)).await.expect("start");
    let (user, token) = user_token(&app, &client, "ada").await;
    let service = test::init_service(App::new().wrap(guard.actix()).route(
        "/me",
        web::get().to(|claims: web::ReqData<Claims>| async move {
            HttpResponse::Ok().body(claims.sub.clone())
        }),
    ))
    .await;
    let get = |auth: Option<String>| {
        let mut request = test::TestRequest::get().uri("/me");
        if let Some(auth) = auth {
            request = request.insert_header(("authorization", auth));
        }
        request.to_request()
    };
    let response = test::call_service(&service, get(Some(format!("Bearer {token}")))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(test::read_body(response).await, user.as_bytes());
    let response = test::call_service(&service, get(None)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let response = test::call_service(&service, get(Some("Bearer nonsense".into()))).await;
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .expect("a challenge");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
}

/// The tower layer (what axum's `Router::layer` takes), around a plain service.
#[tokio::test]
async fn the_tower_layer_admits_accepted_tokens_and_answers_401_with_a_challenge() {
    use tower_layer::Layer;
    use tower_service::Service;
    #[derive(Clone)]
    struct Echo;
    impl Service<http::Request<()>> for Echo {
        type Response = http::Response<String>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, request: http::Request<()>) -> Self::Future {
            let sub = request.extensions().get::<Claims>().map(|c| c.sub.clone());
            std::future::ready(Ok(http::Response::new(sub.unwrap_or_default())))
        }
    }
    let (app, client) = server().await;
    let guard = Guard::start(config(&app, &client)).await.expect("start");
    let (user, token) = user_token(&app, &client, "ada").await;
    let mut service = guard.layer().layer(Echo);
    // What axum's `Router::layer` asks of a layered service, besides the `Service` bounds.
    fn shareable<T: Clone + Send + Sync + 'static>(_: &T) {}
    shareable(&guard.layer());
    shareable(&service);
    let request = |auth: &str| {
        http::Request::builder()
            .header("authorization", auth)
            .body(())
            .expect("request")
    };
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .expect("ready");
    let response = service
        .call(request(&format!("Bearer {token}")))
        .await
        .expect("infallible");
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), &user);
    expect_status(
        app.patch(&format!("/Users/{user}"), &deactivation()).await,
        StatusCode::OK,
    )
    .await;
    until_refused(&guard, &token, Duration::from_secs(3)).await;
    let response = service
        .call(request(&format!("Bearer {token}")))
        .await
        .expect("infallible");
    assert_eq!(response.status(), 401);
    assert!(response.body().is_empty());
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("text");
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"revoked_session\""
    );
}

/// The tower layer in a real axum router, served over TCP: the README's one line.
#[tokio::test]
async fn an_axum_router_with_the_guard_layer_admits_accepted_tokens_and_refuses_revoked_ones() {
    use axum::routing::get;
    use axum::{Extension, Router};
    let (app, client) = server().await;
    let guard = Guard::start(config(&app, &client)).await.expect("start");
    let (user, token) = user_token(&app, &client, "ada").await;
    let router = Router::new()
        .route(
            "/me",
            get(|Extension(claims): Extension<Claims>| async move { claims.sub }),
        )
        .layer(guard.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/me", listener.local_addr().expect("address"));
    let served = tokio::spawn(async move { axum::serve(listener, router).await });
    let http = crate::helpers::http_client();
    let get = |auth: Option<String>| {
        let mut request = http.get(&url);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let response = get(Some(format!("Bearer {token}"))).await.expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), user);
    let response = get(None).await.expect("GET");
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    expect_status(
        app.patch(&format!("/Users/{user}"), &deactivation()).await,
        StatusCode::OK,
    )
    .await;
    until_refused(&guard, &token, Duration::from_secs(3)).await;
    let response = get(Some(format!("Bearer {token}"))).await.expect("GET");
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("text")
        .to_string();
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"revoked_session\""
    );
    served.abort();
}
