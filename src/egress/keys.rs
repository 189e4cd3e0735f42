//! Key sets (JWKS) of the parties Scimitar verifies JWTs from (a Shared Signals transmitter,
//! a Global Token Revocation caller), fetched through the destination policy and cached per
//! source. A `kid` the cache does not hold fetches the set again, at most once per cooldown
//! (a failed fetch starts the cooldown too), and one fetch at a time per source: requests
//! that arrive while a fetch runs wait for it instead of starting their own, so a flood of
//! unknown `kid`s costs one fetch per cooldown, not one per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};

use super::{Egress, EgressError};

/// Least time between two fetches of one source's key set.
pub const COOLDOWN: Duration = Duration::seconds(30);

/// Largest key set read: a real one is a few kilobytes.
pub const MAX_KEY_SET_BYTES: usize = 256 * 1024;

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    Found(Box<Jwk>),
    /// The set was had (from cache or a fetch) but holds no such key.
    Unknown,
}

/// Why no key set could be had at all.
#[derive(Debug, thiserror::Error)]
#[error("the key set at {uri} could not be had: {why}")]
pub struct Unavailable {
    pub uri: String,
    pub why: String,
}

#[derive(Debug)]
struct Cached {
    uri: String,
    keys: Option<JwkSet>,
    fetched: DateTime<Utc>,
}

/// The cached key sets of this process, by source (a receiver id, a caller's name).
#[derive(Debug, Default)]
pub struct KeySets {
    entries: Mutex<HashMap<String, Cached>>,
    /// One lock per source, held while its set is fetched.
    fetching: Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    fetches: AtomicU64,
}

impl KeySets {
    /// Key-set fetches made by this process.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The key with `kid` (a set of one key may omit it) of the set at `uri`, for `source`.
    pub async fn key(
        &self,
        egress: &Egress,
        source: &str,
        uri: &str,
        kid: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Lookup, Unavailable> {
        if let Some(found) = self.cached_key(source, uri, kid) {
            return Ok(found);
        }
        let gate = {
            let mut fetching = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
            fetching.entry(source.to_string()).or_default().clone()
        };
        let _turn = gate.lock().await;
        // A fetch that ran while this request waited may have brought the key.
        if let Some(found) = self.cached_key(source, uri, kid) {
            return Ok(found);
        }
        let last_fetch = self.lookup(source, uri).map(|(_, fetched)| fetched);
        if last_fetch.is_some_and(|fetched| now - fetched < COOLDOWN) {
            return match self.lookup(source, uri) {
                Some((Some(_), _)) => Ok(Lookup::Unknown),
                _ => Err(Unavailable {
                    uri: uri.to_string(),
                    why: "the last fetch failed; retrying after the cooldown".into(),
                }),
            };
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match fetch(egress, uri).await {
            Ok(keys) => {
                let found = pick(&keys, kid);
                self.store(source, uri, Some(keys), now);
                Ok(found.map_or(Lookup::Unknown, |key| Lookup::Found(Box::new(key))))
            }
            Err(error) => {
                tracing::warn!(%source, %uri, %error, "key set fetch failed");
                self.store(source, uri, None, now);
                match self.lookup(source, uri) {
                    Some((Some(_), _)) => Ok(Lookup::Unknown),
                    _ => Err(Unavailable {
                        uri: uri.to_string(),
                        why: error.to_string(),
                    }),
                }
            }
        }
    }

    fn cached_key(&self, source: &str, uri: &str, kid: Option<&str>) -> Option<Lookup> {
        match self.lookup(source, uri) {
            Some((Some(keys), _)) => pick(&keys, kid).map(|key| Lookup::Found(Box::new(key))),
            _ => None,
        }
    }

    fn lookup(&self, source: &str, uri: &str) -> Option<(Option<JwkSet>, DateTime<Utc>)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(source)
            .filter(|cached| cached.uri == uri)
            .map(|cached| (cached.keys.clone(), cached.fetched))
    }

    fn store(&self, source: &str, uri: &str, keys: Option<JwkSet>, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let previous = entries.remove(source).filter(|c| c.uri == uri);
        // A failed fetch keeps the keys held before (and still starts the cooldown).
        let keys = keys.or(previous.and_then(|c| c.keys));
        entries.insert(
            source.to_string(),
            Cached {
                uri: uri.to_string(),
                keys,
                fetched: now,
            },
        );
    }
}

/// The key of a set with `kid`; without one, the only key of a set of one.
pub fn pick(keys: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    match kid {
        Some(kid) => keys.find(kid).cloned(),
        None if keys.keys.len() == 1 => keys.keys.first().cloned(),
        None => None,
    }
}

async fn fetch(egress: &Egress, uri: &str) -> Result<JwkSet, EgressError> {
    let reply = egress
        .get(uri, &[("accept", "application/json")], MAX_KEY_SET_BYTES)
        .await?;
    if !reply.is_success() {
        return Err(EgressError::Failed(format!("HTTP {}", reply.status)));
    }
    serde_json::from_slice(&reply.body)
        .map_err(|e| EgressError::Failed(format!("not a JWK set: {e}")))
}
