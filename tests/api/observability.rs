//! `/metrics` and `/openapi.json` for deployments without a proxy: on a listener of their own
//! (`metrics_bind`, and then not on the main one), behind a bearer token whose SHA-256 is
//! configured (`metrics_token_sha256`), or both. Anyone else gets 404 or 401.

use reqwest::StatusCode;

use crate::helpers::http_client;
use crate::serve::Served;

/// The token the tests configure, and its digest.
const TOKEN: &str = "metrics-token-of-the-test";

fn digest() -> String {
    use sha2::Digest;
    base16ct::lower::encode_string(&sha2::Sha256::digest(TOKEN.as_bytes()))
}

async fn status(url: &str, bearer: Option<&str>) -> StatusCode {
    let mut request = http_client().get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("GET").status()
}

#[tokio::test]
async fn on_their_own_listener_behind_a_token_and_nowhere_else() {
    let dir = tempfile::tempdir().expect("dir");
    let digest = digest();
    let env = [
        ("SCIMITAR_METRICS_BIND", "127.0.0.1:0"),
        ("SCIMITAR_METRICS_TOKEN_SHA256", digest.as_str()),
    ];
    let served = Served::start(dir.path(), "s.db", "observability", &env).await;
    let metrics = served
        .metrics
        .clone()
        .expect("the metrics listener is printed");
    let main = &served.root;
    for path in ["/metrics", "/openapi.json"] {
        assert_eq!(
            status(&format!("{main}{path}"), Some(TOKEN)).await,
            StatusCode::NOT_FOUND,
            "main {path}"
        );
        assert_eq!(
            status(&format!("{metrics}{path}"), None).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            status(&format!("{metrics}{path}"), Some("wrong")).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            status(&format!("{metrics}{path}"), Some(TOKEN)).await,
            StatusCode::OK,
            "{path}"
        );
    }
    // Percent-encoded and otherwise disguised paths reach the same handlers, and the same check.
    for path in [
        "/%6Detrics",
        "/m%65trics",
        "/metric%73",
        "/%6Fpenapi.json",
        "/openapi%2ejson",
    ] {
        assert_eq!(
            status(&format!("{main}{path}"), Some(TOKEN)).await,
            StatusCode::NOT_FOUND,
            "main {path}"
        );
        assert_eq!(
            status(&format!("{metrics}{path}"), None).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    // Nothing else is served on the metrics listener; the main one serves the rest.
    assert_eq!(
        status(&format!("{metrics}/scim/v2/Users"), Some(TOKEN)).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(&format!("{metrics}/health/live"), None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(&format!("{main}/health/live"), None).await,
        StatusCode::OK
    );
    let body = http_client()
        .get(format!("{metrics}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    assert!(body.contains("scimitar_"), "Prometheus text");
}

#[tokio::test]
async fn behind_a_token_on_the_main_listener() {
    let dir = tempfile::tempdir().expect("dir");
    let digest = digest();
    let served = Served::start(
        dir.path(),
        "s.db",
        "observability",
        &[("SCIMITAR_METRICS_TOKEN_SHA256", digest.as_str())],
    )
    .await;
    let main = &served.root;
    for path in ["/metrics", "/openapi.json"] {
        assert_eq!(
            status(&format!("{main}{path}"), None).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            status(&format!("{main}{path}"), Some(TOKEN)).await,
            StatusCode::OK,
            "{path}"
        );
    }
}
