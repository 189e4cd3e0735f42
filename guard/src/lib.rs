//! `scimitar-guard`: lets an app behind Scimitar accept or reject access tokens without a
//! network call per request.
//!
//! A [`Guard`] verifies tokens offline against Scimitar's JWKS (EdDSA, `typ: at+jwt`, `iss`,
//! `aud`, `exp`, `nbf`), and follows Scimitar's revocation stream to keep an in-memory set of
//! revoked sessions (`sid`), tokens (`jti`) and per-user `not_before`, so a revoked token is
//! refused within milliseconds of the revocation. When the stream has been silent for longer
//! than a bound, the guard fails closed: it refuses every token, or introspects each one, as
//! configured. Middleware for actix-web ([`Guard::actix`]) and tower/axum ([`Guard::layer`])
//! answers 401 with `WWW-Authenticate: Bearer error="invalid_token"`.

mod claims;
mod config;
pub mod decision;
mod error;
mod introspect;
mod keys;
mod revocations;
mod stream;
mod view;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "tower")]
pub mod tower;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use claims::Claims;
pub use config::{Config, OnStale};
pub use error::Rejection;
pub use revocations::{Event, RevocationSet};

use decision::Verifier;

use view::Shared;

/// Checks Scimitar access tokens. Cheap to clone; the stream follower stops when the last
/// clone is dropped.
#[derive(Clone)]
pub struct Guard {
    shared: Arc<Shared>,
    verifier: Arc<Verifier>,
    _follower: Arc<Follower>,
}

/// What the guard knows, for health checks and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Whether revocations are judged offline (the view is fresh).
    pub fresh: bool,
    /// Time since Scimitar was last heard from on the stream.
    pub quiet_for: Option<Duration>,
    /// The last event applied (`Last-Event-ID` of the next connection).
    pub cursor: i64,
    /// Revocation entries held (bounded by the token lifetime).
    pub entries: usize,
    pub jwks_fetches: u64,
    pub introspections: u64,
    pub reconnects: u64,
}

struct Follower(tokio::task::JoinHandle<()>);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Guard {
    /// Fetches the keys, catches up on the retained revocation events, and starts following
    /// the stream (on the current tokio runtime). Fails if Scimitar cannot be reached.
    pub async fn start(config: Config) -> Result<Self, Rejection> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|e| Rejection::Unavailable(e.to_string()))?;
        let verifier = Verifier::new(&config);
        let shared = Arc::new(Shared::new(config, http));
        shared.keys.load(&shared.http).await?;
        stream::catch_up(&shared).await?;
        let follower = Follower(tokio::spawn(stream::follow(shared.clone())));
        Ok(Self {
            shared,
            verifier: Arc::new(verifier),
            _follower: Arc::new(follower),
        })
    }

    /// `check` of the bearer token in an `Authorization` header value: what both middlewares do.
    pub async fn check_header(&self, authorization: Option<&str>) -> Result<Claims, Rejection> {
        self.check(bearer(authorization)?).await
    }

    /// Accepts a valid, unrevoked access token and returns its claims.
    pub async fn check(&self, token: &str) -> Result<Claims, Rejection> {
        let claims = self.verify(token).await?;
        match self.shared.judge(&claims) {
            Err(Rejection::Stale(_)) if self.shared.config.on_stale == OnStale::Introspect => {
                if introspect::is_active(&self.shared, token).await? {
                    Ok(claims)
                } else {
                    Err(Rejection::Inactive)
                }
            }
            Err(rejection) => Err(rejection),
            Ok(()) => Ok(claims),
        }
    }

    /// Signature and claims, offline (a JWKS fetch only for an unknown `kid`).
    async fn verify(&self, token: &str) -> Result<Claims, Rejection> {
        let kid = decision::key_id(token)?;
        let key = self.shared.keys.get(&self.shared.http, &kid).await?;
        self.verifier.verify(token, &key, chrono::Utc::now())
    }

    pub fn status(&self) -> Status {
        let quiet_for = self.shared.quiet_for();
        Status {
            fresh: quiet_for.is_some_and(|q| q <= self.shared.config.stale_after),
            quiet_for,
            cursor: self.shared.cursor(),
            entries: self.shared.entries(),
            jwks_fetches: self.shared.keys.fetches(),
            introspections: self.shared.introspections.load(Ordering::Relaxed),
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
        }
    }
}

/// The token of an `Authorization: Bearer …` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, Rejection> {
    let value = header.ok_or(Rejection::Missing)?;
    let (scheme, token) = value.split_once(' ').ok_or(Rejection::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Rejection::Missing);
    }
    Ok(token.trim())
}
