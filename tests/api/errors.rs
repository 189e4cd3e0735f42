//! Every failure is an RFC 7644 §3.12 error body with the right status and `scimType`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    Backend, Options, TestApp, TestDb, expect_scim_error, expect_status, replace_database,
};
use crate::on_both_backends;

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
    let proxy = proxy::TcpProxy::start(&db.url);
    let through_proxy = replace_host(&db.url, &format!("127.0.0.1:{}", proxy.port()));
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

fn replace_host(url: &str, host_port: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let path_start = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..path_start];
    let userinfo = authority
        .rsplit_once('@')
        .map(|(u, _)| format!("{u}@"))
        .unwrap_or_default();
    let database = rest[path_start..].trim_start_matches('/');
    replace_database(&format!("{scheme}://{userinfo}{host_port}/x"), database)
}

mod proxy {
    use std::io::{ErrorKind, copy};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread;
    use std::time::Duration;

    /// A loopback TCP forwarder that can be cut.
    pub struct TcpProxy {
        port: u16,
        stopped: Arc<AtomicBool>,
        streams: Arc<Mutex<Vec<TcpStream>>>,
    }

    impl TcpProxy {
        pub fn start(postgres_url: &str) -> Self {
            let target = target_address(postgres_url);
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.set_nonblocking(true).expect("non-blocking");
            let port = listener.local_addr().expect("address").port();
            let stopped = Arc::new(AtomicBool::new(false));
            let streams = Arc::new(Mutex::new(Vec::new()));
            let (stop, open) = (stopped.clone(), streams.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let _ = client.set_nonblocking(false);
                            let Ok(server) = TcpStream::connect(&target) else {
                                continue;
                            };
                            let mut list = open.lock().expect("lock");
                            for stream in [&client, &server] {
                                if let Ok(clone) = stream.try_clone() {
                                    list.push(clone);
                                }
                            }
                            pipe(&client, &server);
                            pipe(&server, &client);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => break,
                    }
                }
                // The listener is dropped here: new connections are refused.
            });
            Self {
                port,
                stopped,
                streams,
            }
        }

        pub fn port(&self) -> u16 {
            self.port
        }

        pub fn stop(&self) {
            self.stopped.store(true, Ordering::SeqCst);
            for stream in self.streams.lock().expect("lock").drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn pipe(from: &TcpStream, to: &TcpStream) {
        let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
            return;
        };
        thread::spawn(move || {
            let _ = copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
        });
    }

    fn target_address(url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:5432")
        }
    }
}
