//! The transmitters' keys: an inline JWKS is read from the receiver's row; a `jwks_uri` is
//! fetched and cached per receiver, and fetched again when a SET names a `kid` the cache does
//! not hold, at most once per cooldown (a failed fetch starts the cooldown too), so rotated
//! keys are picked up and a flood of unknown `kid`s cannot hammer the transmitter.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};

use super::{ErrorCode, Receiver, Refusal};
use crate::signals::SignalsError;
use crate::store::receivers::ReceiverRow;

/// Least time between two fetches of one receiver's JWKS.
pub const COOLDOWN: Duration = Duration::seconds(30);

#[derive(Debug)]
struct Cached {
    uri: String,
    keys: Option<JwkSet>,
    fetched: DateTime<Utc>,
}

/// The fetched JWKS of each receiver, in this process.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, Cached>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl KeyCache {
    /// JWKS fetches made by this process.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lookup(&self, id: &str, uri: &str) -> Option<(Option<JwkSet>, DateTime<Utc>)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(id)
            .filter(|cached| cached.uri == uri)
            .map(|cached| (cached.keys.clone(), cached.fetched))
    }

    fn store(&self, id: &str, uri: &str, keys: Option<JwkSet>, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let previous = entries.remove(id).filter(|c| c.uri == uri);
        // A failed fetch keeps the keys held before (and still starts the cooldown).
        let keys = keys.or(previous.and_then(|c| c.keys));
        entries.insert(
            id.to_string(),
            Cached {
                uri: uri.to_string(),
                keys,
                fetched: now,
            },
        );
    }
}

/// The key that verifies a SET with `kid` (a JWKS of one key may omit it). `Ok(Err(_))` is a
/// verdict (no such key); `Err` means the keys could not be had at all.
pub async fn key_for(
    receiver: &Receiver,
    row: &ReceiverRow,
    kid: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<Jwk, Refusal>, SignalsError> {
    let unknown = || {
        Refusal::new(
            ErrorCode::InvalidKey,
            format!(
                "no key of the transmitter's JWKS matches kid {}",
                kid.unwrap_or("(none)")
            ),
        )
    };
    if let Some(inline) = &row.jwks {
        let keys: JwkSet = serde_json::from_str(inline)
            .map_err(|e| SignalsError::InvalidValue(format!("stored JWKS: {e}")))?;
        return Ok(pick(&keys, kid).ok_or_else(unknown));
    }
    let Some(uri) = &row.jwks_uri else {
        return Err(SignalsError::InvalidValue(
            "the receiver has no keys".into(),
        ));
    };
    let cache = &receiver.keys;
    let cached = cache.lookup(&row.id, uri);
    if let Some((Some(keys), _)) = &cached
        && let Some(key) = pick(keys, kid)
    {
        return Ok(Ok(key));
    }
    let may_fetch = cached
        .as_ref()
        .is_none_or(|(_, fetched)| now - *fetched >= COOLDOWN);
    if !may_fetch {
        return match cached {
            Some((Some(_), _)) => Ok(Err(unknown())),
            _ => Err(SignalsError::KeysUnavailable(format!(
                "the JWKS at {uri} could not be fetched; retrying after the cooldown"
            ))),
        };
    }
    cache
        .fetches
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match fetch(receiver.http(), uri).await {
        Ok(keys) => {
            let key = pick(&keys, kid);
            cache.store(&row.id, uri, Some(keys), now);
            Ok(key.ok_or_else(unknown))
        }
        Err(error) => {
            tracing::warn!(receiver = %row.id, %uri, %error, "transmitter JWKS fetch failed");
            cache.store(&row.id, uri, None, now);
            match cache.lookup(&row.id, uri) {
                Some((Some(_), _)) => Ok(Err(unknown())),
                _ => Err(SignalsError::KeysUnavailable(error)),
            }
        }
    }
}

fn pick(keys: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    match kid {
        Some(kid) => keys.find(kid).cloned(),
        None if keys.keys.len() == 1 => keys.keys.first().cloned(),
        None => None,
    }
}

async fn fetch(http: &reqwest::Client, uri: &str) -> Result<JwkSet, String> {
    let response = http
        .get(uri)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))
}
