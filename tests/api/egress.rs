//! The outbound destination policy (`scimitar::egress`), against a peer the test serves:
//! internal addresses refused unless allow-listed (also when reached through a name), plain
//! http only towards allow-listed destinations, redirects not followed, bodies capped, and
//! one key-set fetch for a burst of unknown `kid`s. And end to end: an app credential cannot
//! point a push stream at an internal address.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode as AxumStatus, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use reqwest::StatusCode;
use scimitar::egress::keys::{KeySets, Lookup};
use scimitar::egress::{Destinations, Egress, EgressError};
use serde_json::json;

use crate::helpers::{Options, TestApp, expect_status};

/// Hits on each route of the peer.
#[derive(Default)]
struct Hits {
    keys: AtomicUsize,
    internal: AtomicUsize,
}

struct Peer {
    /// `http://127.0.0.1:PORT`
    root: String,
    port: u16,
    hits: Arc<Hits>,
}

const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

async fn peer() -> Peer {
    let hits = Arc::new(Hits::default());
    let (keys, internal) = (hits.clone(), hits.clone());
    let router = Router::new()
        .route(
            "/keys",
            get(move || {
                let hits = keys.clone();
                async move {
                    hits.keys.fetch_add(1, Ordering::SeqCst);
                    // Slow enough that concurrent lookups overlap with the fetch.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    ([(header::CONTENT_TYPE, "application/json")], JWKS)
                }
            }),
        )
        .route(
            "/huge",
            get(|| async {
                // 300 MB, chunked, with no length announced.
                let chunk = bytes_of(1024 * 1024);
                let stream = futures_util::stream::iter(
                    (0..300).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                );
                Response::new(Body::from_stream(stream))
            }),
        )
        .route(
            "/redirect",
            post(|| async {
                (
                    AxumStatus::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/internal")],
                )
            }),
        )
        .route(
            "/internal",
            post(move || {
                let hits = internal.clone();
                async move {
                    hits.internal.fetch_add(1, Ordering::SeqCst);
                    AxumStatus::ACCEPTED.into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Peer {
        root: format!("http://127.0.0.1:{port}"),
        port,
        hits,
    }
}

fn bytes_of(n: usize) -> axum::body::Bytes {
    axum::body::Bytes::from(vec![b'x'; n])
}

fn loopback_allowed() -> Egress {
    let allowed = Destinations::allowing(&["127.0.0.0/8"]).expect("a list");
    Egress::new(allowed, Duration::from_secs(10))
}

#[tokio::test]
async fn internal_destinations_are_refused_unless_allow_listed_even_by_name() {
    let peer = peer().await;
    let public_only = Egress::new(Destinations::public_only(), Duration::from_secs(5));
    for url in [
        format!("{}/keys", peer.root),
        format!("https://127.0.0.1:{}/keys", peer.port),
        format!("https://localhost:{}/keys", peer.port),
        format!("http://localhost:{}/keys", peer.port),
        format!("https://[::ffff:127.0.0.1]:{}/keys", peer.port),
        "https://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let refused = public_only.get(&url, &[], 1024).await;
        assert!(
            matches!(refused, Err(EgressError::Refused(_))),
            "{url}: {refused:?}"
        );
    }
    assert_eq!(
        peer.hits.keys.load(Ordering::SeqCst),
        0,
        "nothing reached the peer"
    );
    let reply = loopback_allowed()
        .get(&format!("http://localhost:{}/keys", peer.port), &[], 1024)
        .await
        .expect("allow-listed");
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn redirects_are_not_followed_so_a_body_never_reaches_another_path() {
    let peer = peer().await;
    let reply = loopback_allowed()
        .post(
            &format!("{}/redirect", peer.root),
            &[],
            b"secret body".to_vec(),
            1024,
        )
        .await
        .expect("an answer");
    assert_eq!(reply.status, 307);
    assert!(!reply.is_success());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(peer.hits.internal.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_body_larger_than_the_cap_is_refused_without_being_read_whole() {
    let peer = peer().await;
    let started = std::time::Instant::now();
    let result = loopback_allowed()
        .get(&format!("{}/huge", peer.root), &[], 256 * 1024)
        .await;
    assert!(
        matches!(result, Err(EgressError::TooLarge(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped at the cap"
    );
}

#[tokio::test]
async fn twenty_concurrent_unknown_kids_cause_one_key_set_fetch() {
    let peer = peer().await;
    let egress = loopback_allowed();
    let key_sets = Arc::new(KeySets::default());
    let uri = format!("{}/keys", peer.root);
    let now = Utc::now();
    let lookups = (0..20).map(|i| {
        let (egress, key_sets, uri) = (egress.clone(), key_sets.clone(), uri.clone());
        tokio::spawn(async move {
            let kid = format!("unknown-{i}");
            key_sets.key(&egress, "caller", &uri, Some(&kid), now).await
        })
    });
    for lookup in futures_util::future::join_all(lookups).await {
        assert!(matches!(lookup.expect("task"), Ok(Lookup::Unknown)));
    }
    assert_eq!(peer.hits.keys.load(Ordering::SeqCst), 1);
    assert_eq!(key_sets.fetches(), 1);
    // The known key comes from the cache, and another unknown kid waits for the cooldown.
    let known = key_sets.key(&egress, "caller", &uri, Some("k1"), now).await;
    assert!(matches!(known, Ok(Lookup::Found(_))));
    let later = now + chrono::Duration::seconds(5);
    let again = key_sets
        .key(&egress, "caller", &uri, Some("other"), later)
        .await;
    assert!(matches!(again, Ok(Lookup::Unknown)));
    assert_eq!(peer.hits.keys.load(Ordering::SeqCst), 1);
}

/// An app credential may create a push stream only to a public https endpoint.
#[tokio::test]
async fn an_app_credential_cannot_point_a_push_stream_at_an_internal_address() {
    let options = Options {
        outbound: Destinations::public_only(),
        ..Options::default()
    };
    let Some(app) = TestApp::spawn_with(crate::helpers::Backend::Sqlite, options).await else {
        return;
    };
    let client = app.app_client(false);
    for url in [
        "http://127.0.0.1:9/events",
        "https://127.0.0.1/events",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "http://receiver.example.com/events",
        "file:///etc/passwd",
    ] {
        let body = json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": url}});
        let response = app
            .client
            .post(format!("{}/ssf/streams", app.root))
            .basic_auth(&client.id, Some(&client.secret))
            .json(&body)
            .send()
            .await
            .expect("create a stream");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
    }
    let body = json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "https://receiver.example.com/events"}});
    let response = app
        .client
        .post(format!("{}/ssf/streams", app.root))
        .basic_auth(&client.id, Some(&client.secret))
        .json(&body)
        .send()
        .await
        .expect("create a stream");
    expect_status(response, StatusCode::CREATED).await;
}
