//! The fallback while the view is stale: ask Scimitar (RFC 7662) about one token.

use std::sync::atomic::Ordering;

use crate::error::Rejection;
use crate::view::Shared;

/// Whether Scimitar says the token is active.
pub async fn is_active(shared: &Shared, token: &str) -> Result<bool, Rejection> {
    shared.introspections.fetch_add(1, Ordering::Relaxed);
    let config = &shared.config;
    let unavailable = |e: String| Rejection::Unavailable(format!("introspection: {e}"));
    let body =
        serde_urlencoded::to_string([("token", token)]).map_err(|e| unavailable(e.to_string()))?;
    let response = shared
        .http
        .post(format!("{}/oauth2/introspect", config.issuer))
        .basic_auth(&config.client_id, Some(&config.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .timeout(config.request_timeout)
        .send()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unavailable(response.status().to_string()));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| unavailable(e.to_string()))?;
    Ok(answer.active)
}

#[derive(serde::Deserialize)]
struct Answer {
    active: bool,
}
