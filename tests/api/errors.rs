//! Every failure is an RFC 7644 §3.12 error body with the right status and `scimType`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, Options, TestApp, TestDb, expect_scim_error, expect_status};
use crate::on_both_backends;
use crate::proxy::TcpProxy;

on_both_backends! {
    async fn bad_requests_of_every_kind_get_scim_error_bodies(app) {
        // (method, path, content type, body, status, scimType)
        type Case = (Method, &'static str, Option<&'static str>, &'static str, StatusCode, Option<&'static str>);
        let cases: Vec<Case> = vec![
            (Method::POST, "/Users", Some("application/scim+json"), "{\"userName\":", StatusCode::BAD_REQUEST, Some("invalidSyntax")),
            (Method::POST, "/Users", Some("application/scim+json"), "[1, 2]", StatusCode::BAD_REQUEST, Some("invalidSyntax")),
            (Method::POST, "/Users", Some("application/scim+json"), "", StatusCode::BAD_REQUEST, Some("invalidSyntax")),
            (Method::POST, "/Users", Some("application/scim+json"), "{\"userName\": true}", StatusCode::BAD_REQUEST, Some("invalidValue")),
            (Method::POST, "/Users", Some("application/scim+json"), "{\"displayName\": \"no userName\"}", StatusCode::BAD_REQUEST, Some("invalidValue")),
            (Method::POST, "/Users", Some("application/scim+json"), "{\"userName\": \"a\", \"schemas\": \"x\"}", StatusCode::BAD_REQUEST, Some("invalidSyntax")),
            (Method::POST, "/Users", Some("text/plain"), "{\"userName\": \"a\"}", StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
            (Method::POST, "/Users", Some("application/xml"), "<user/>", StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
            (Method::GET, "/Users?count=ten", None, "", StatusCode::BAD_REQUEST, Some("invalidValue")),
            (Method::GET, "/Users?filter=userName%20eq", None, "", StatusCode::BAD_REQUEST, Some("invalidFilter")),
            (Method::GET, "/Nope", None, "", StatusCode::NOT_FOUND, None),
            (Method::PATCH, "/Users/some-id", Some("application/scim+json"), "{}", StatusCode::BAD_REQUEST, Some("invalidSyntax")),
            (Method::PUT, "/Users", Some("application/scim+json"), "{}", StatusCode::METHOD_NOT_ALLOWED, None),
            (Method::POST, "/Users/some-id", Some("application/scim+json"), "{}", StatusCode::METHOD_NOT_ALLOWED, None),
            (Method::DELETE, "/Users", None, "", StatusCode::METHOD_NOT_ALLOWED, None),
        ];
        for (method, path, content_type, body, status, scim_type) in cases {
            let mut request = app.request(method.clone(), path).body(body.to_string());
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), status, "{method} {path} {body}");
            expect_scim_error(response, status, scim_type).await;
        }
    }

    async fn trailing_and_doubled_slashes_are_tolerated(app) {
        expect_status(app.get("/Users/").await, StatusCode::OK).await;
        expect_status(app.get("//Groups").await, StatusCode::OK).await;
    }

    async fn unknown_routes_outside_the_scim_api_are_scim_errors_too(app) {
        let response = app.client.get(format!("{}/nowhere", app.root)).send().await.expect("GET");
        expect_scim_error(response, StatusCode::NOT_FOUND, None).await;
    }

    async fn plain_json_and_a_missing_content_type_are_accepted(app) {
        for (name, content_type) in [("json", Some("application/json")), ("charset", Some("application/scim+json; charset=utf-8")), ("none", None)] {
            let mut request = app.request(Method::POST, "/Users").body(json!({"userName": name}).to_string());
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            expect_status(request.send().await.expect("POST"), StatusCode::CREATED).await;
        }
    }

    async fn a_rejected_write_leaves_nothing_behind(app) {
        let response = app.post("/Users", &json!({"userName": "x", "emails": [{"value": "x@y", "primary": "maybe"}]})).await;
        expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
        assert_eq!(expect_status(app.get("/Users").await, StatusCode::OK).await["totalResults"], json!(0));
    }
}

mod an_oversized_body {
    use super::*;

    async fn run(backend: Backend) {
        let options = Options {
            max_body_bytes: 4096,
            ..Options::default()
        };
        let Some(app) = TestApp::spawn_with(backend, options).await else {
            return;
        };
        let response = app
            .post(
                "/Users",
                &json!({"userName": "big", "title": "x".repeat(10_000)}),
            )
            .await;
        expect_scim_error(response, StatusCode::PAYLOAD_TOO_LARGE, None).await;
        assert_eq!(
            expect_status(app.get("/Users").await, StatusCode::OK).await["totalResults"],
            json!(0)
        );
    }

    #[tokio::test]
    async fn gets_413_on_sqlite() {
        run(Backend::Sqlite).await
    }

    #[tokio::test]
    async fn gets_413_on_postgres() {
        run(Backend::Postgres).await
    }
}

/// A database that goes away: only Postgres can be cut off over the network. The proxy
/// forwards to the test database until it is stopped, then refuses and drops connections.
#[tokio::test]
async fn an_unreachable_postgres_gives_503_not_a_hang_or_a_panic() {
    let Some(db) = TestDb::create(Backend::Postgres) else {
        return;
    };
    let proxy = TcpProxy::start(&db.url);
    let through_proxy = proxy.url(&db.url);
    let options = Options {
        database_url: Some(through_proxy),
        db_timeout: Duration::from_secs(1),
        ..Options::default()
    };
    let app = TestApp::start(db, options);
    expect_status(app.get("/Users").await, StatusCode::OK).await;

    proxy.stop();
    let started = std::time::Instant::now();
    let response = app.get("/Users").await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let body = expect_scim_error(response, StatusCode::SERVICE_UNAVAILABLE, None).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert!(
        !body.to_string().to_lowercase().contains("select"),
        "no SQL leaks: {body}"
    );
    expect_scim_error(
        app.post("/Users", &json!({"userName": "later"})).await,
        StatusCode::SERVICE_UNAVAILABLE,
        None,
    )
    .await;
    let ready = app
        .client
        .get(format!("{}/health/ready", app.root))
        .send()
        .await
        .expect("GET");
    expect_scim_error(ready, StatusCode::SERVICE_UNAVAILABLE, None).await;
}
