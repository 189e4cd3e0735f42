//! What a guard needs to know: where Scimitar is, who the app is, and how strict to be.

use std::time::Duration;

/// What `check` does once the revocation view is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStale {
    /// Refuse every token (`Rejection::Stale`) until the stream is heard again.
    Refuse,
    /// Ask Scimitar (`/oauth2/introspect`) about each token until the stream is heard again.
    Introspect,
}

/// Guard settings. `Config::new` sets sensible defaults; adjust with the `with_*` methods.
#[derive(Debug, Clone)]
pub struct Config {
    /// Scimitar's issuer URL: the expected `iss`, and where its endpoints are.
    pub issuer: String,
    /// Accepted `aud` values (by default, the app's client id).
    pub audience: Vec<String>,
    /// The app client's credentials, for the stream, the feed and introspection.
    pub client_id: String,
    pub client_secret: String,
    /// Base URL of the feed and stream when they are reached another way (default: `issuer`).
    pub events_url: Option<String>,
    /// The view is stale when nothing (event or heartbeat) was heard for this long. Scimitar
    /// sends a heartbeat every 15 s; the default is 45 s.
    pub stale_after: Duration,
    pub on_stale: OnStale,
    /// The longest access-token lifetime of the tenant: a revocation is forgotten this long
    /// (plus `leeway`) after it happened, when every token it covers has expired.
    pub max_token_lifetime: Duration,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Least time between two JWKS fetches caused by unknown `kid`s.
    pub jwks_cooldown: Duration,
    /// Longest wait between two reconnection attempts to the stream.
    pub max_backoff: Duration,
    /// Timeout of each request to Scimitar (JWKS, feed, introspection).
    pub request_timeout: Duration,
}

impl Config {
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let client_id = client_id.into();
        Self {
            issuer: issuer.into().trim_end_matches('/').to_string(),
            audience: vec![client_id.clone()],
            client_id,
            client_secret: client_secret.into(),
            events_url: None,
            stale_after: Duration::from_secs(45),
            on_stale: OnStale::Refuse,
            max_token_lifetime: Duration::from_secs(3600),
            leeway: Duration::from_secs(60),
            jwks_cooldown: Duration::from_secs(30),
            max_backoff: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
        }
    }

    pub fn with_audience(mut self, audience: Vec<String>) -> Self {
        self.audience = audience;
        self
    }

    pub fn with_events_url(mut self, url: impl Into<String>) -> Self {
        self.events_url = Some(url.into().trim_end_matches('/').to_string());
        self
    }

    pub fn with_stale_after(mut self, bound: Duration) -> Self {
        self.stale_after = bound;
        self
    }

    pub fn with_on_stale(mut self, on_stale: OnStale) -> Self {
        self.on_stale = on_stale;
        self
    }

    pub fn with_max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    pub fn with_jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks_cooldown = cooldown;
        self
    }

    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    pub(crate) fn events_base(&self) -> &str {
        self.events_url.as_deref().unwrap_or(&self.issuer)
    }
}
