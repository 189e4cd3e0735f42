//! Scimitar's signing keys from `/.well-known/jwks.json`, fetched again when a token names an
//! unknown `kid`, at most once per cooldown (so garbage `kid`s cannot hammer Scimitar).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use tokio::sync::Mutex;

use crate::decision::{Keys as ByKid, keys_from_jwks};
use crate::error::Rejection;

pub struct KeyCache {
    url: String,
    cooldown: Duration,
    state: Mutex<Keys>,
    fetches: AtomicU64,
}

#[derive(Default)]
struct Keys {
    by_kid: ByKid,
    fetched_at: Option<Instant>,
}

impl KeyCache {
    pub fn new(url: String, cooldown: Duration) -> Self {
        Self {
            url,
            cooldown,
            state: Mutex::new(Keys::default()),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the key set now (at start).
    pub async fn load(&self, http: &reqwest::Client) -> Result<(), Rejection> {
        let mut keys = self.state.lock().await;
        self.fetch(http, &mut keys).await
    }

    /// The key for `kid`, refreshing the set once if it is unknown and the cooldown allows.
    pub async fn get(&self, http: &reqwest::Client, kid: &str) -> Result<DecodingKey, Rejection> {
        // One lock for lookup and refresh: concurrent checks with the same new kid wait for a
        // single fetch instead of each starting one.
        let mut keys = self.state.lock().await;
        if let Some(key) = keys.by_kid.get(kid) {
            return Ok(key.clone());
        }
        let cooling = keys
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.cooldown);
        if !cooling {
            self.fetch(http, &mut keys).await?;
        }
        keys.by_kid
            .get(kid)
            .cloned()
            .ok_or_else(|| Rejection::UnknownKey(Some(kid.to_string())))
    }

    async fn fetch(&self, http: &reqwest::Client, keys: &mut Keys) -> Result<(), Rejection> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        // A failed fetch also starts the cooldown: an unreachable Scimitar is not hammered.
        keys.fetched_at = Some(Instant::now());
        let unavailable = |e: String| Rejection::Unavailable(format!("JWKS: {e}"));
        let response = http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(response.status().to_string()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        keys.by_kid = keys_from_jwks(&body).map_err(unavailable)?;
        Ok(())
    }
}
