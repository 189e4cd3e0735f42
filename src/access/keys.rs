//! The keys that sign access tokens (EdDSA, Ed25519), their rotation and their JWKS.
//!
//! Only public keys are stored, in `signing_keys`, so every replica publishes the same set.
//! Each private key is derived from a 32-byte secret kept in a file outside the database
//! (the same file on every replica) and the key id: a copy of the database signs nothing.
//!
//! Rotation: a new key is published `PUBLISH_AHEAD` before it starts signing, so resource
//! servers that cache the JWKS know it before they meet it; the key it replaces stays
//! published until every token it signed has expired.

use std::path::Path;
use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AccessError;
use crate::store::keys::{self as rows, SigningKeyRow};
use crate::store::{Store, from_stored, to_stored};

/// How long a new key is published before it signs.
pub const PUBLISH_AHEAD: Duration = Duration::minutes(10);
/// How long the published set is cached in memory before it is read again.
const RELOAD_AFTER: Duration = Duration::seconds(30);
const ALGORITHM: &str = "EdDSA";
/// PKCS#8 v1 prefix of an Ed25519 private key; the 32-byte seed follows.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The secret that private keys are derived from.
pub struct KeySecret([u8; 32]);

impl KeySecret {
    /// Reads the secret file, or creates it (owner-only) on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, AccessError> {
        // Same file format as the audit key: 32 random bytes, hex.
        let key = crate::audit::checkpoint::load_or_create_key(path)
            .map_err(|e| AccessError::Keys(e.to_string()))?;
        Ok(Self(key.to_bytes()))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key outbound credentials are sealed with at rest (`sealing`): derived from the
    /// same file as the signing keys, so a copy of the database alone opens nothing.
    fn sealing_key(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"scimitar outbound credential sealing key\0");
        hasher.update(self.0);
        hasher.finalize().into()
    }

    fn seed(&self, kid: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"scimitar token signing key\0");
        hasher.update(self.0);
        hasher.update(kid.as_bytes());
        hasher.finalize().into()
    }
}

#[derive(Debug, Clone)]
struct PublishedKey {
    row: SigningKeyRow,
    decoding: DecodingKey,
}

struct Cache {
    keys: Vec<PublishedKey>,
    loaded: DateTime<Utc>,
}

/// The signing keys of this server.
pub struct KeyRing {
    secret: KeySecret,
    cache: RwLock<Cache>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(***)")
    }
}

impl KeyRing {
    /// Seals and opens the outbound credentials stored in the database.
    pub fn sealer(&self) -> crate::sealing::Sealer {
        crate::sealing::Sealer::new(self.secret.sealing_key())
    }

    /// Loads the published keys, creating the first one if there is none, and checks that a
    /// token signed now verifies (a wrong crypto set-up fails at start, not at first use).
    pub fn open(store: &Store, secret: KeySecret, now: DateTime<Utc>) -> Result<Self, AccessError> {
        let ring = Self {
            secret,
            cache: RwLock::new(Cache {
                keys: Vec::new(),
                loaded: DateTime::<Utc>::MIN_UTC,
            }),
        };
        store.write(|conn| {
            rows::lock(conn)?;
            let published = rows::published(conn, to_stored(now))?;
            if !published.iter().any(|k| k.retires.is_none()) {
                rows::insert(conn, &ring.new_key(now, now))?;
            }
            Ok::<_, AccessError>(())
        })?;
        ring.reload(store, now)?;
        ring.self_test(now)?;
        Ok(ring)
    }

    fn new_key(&self, created: DateTime<Utc>, activates: DateTime<Utc>) -> SigningKeyRow {
        let kid = uuid::Uuid::now_v7().simple().to_string();
        let public = SigningKey::from_bytes(&self.secret.seed(&kid))
            .verifying_key()
            .to_bytes();
        SigningKeyRow {
            kid,
            algorithm: ALGORITHM.to_string(),
            public_key: URL_SAFE_NO_PAD.encode(public),
            created: to_stored(created),
            activates: to_stored(activates),
            retires: None,
            removes: None,
        }
    }

    /// Starts a new key. Scheduled: it signs from `now + PUBLISH_AHEAD`. Immediate (a key
    /// may be compromised): it signs from now. Either way the old key stays published for
    /// `retain` after it stops signing, so the tokens it signed keep verifying.
    pub fn rotate(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        immediate: bool,
        retain: Duration,
    ) -> Result<String, AccessError> {
        let activates = if immediate { now } else { now + PUBLISH_AHEAD };
        let new = self.new_key(now, activates);
        let kid = new.kid.clone();
        store.write(|conn| {
            rows::lock(conn)?;
            for current in rows::published(conn, to_stored(now))?
                .into_iter()
                .filter(|k| k.retires.is_none())
            {
                rows::retire(
                    conn,
                    &current.kid,
                    to_stored(activates),
                    to_stored(activates + retain),
                )?;
            }
            rows::insert(conn, &new)?;
            Ok::<_, AccessError>(())
        })?;
        self.reload(store, now)?;
        Ok(kid)
    }

    /// Rotates when the signing key is older than `every` and no successor is scheduled.
    pub fn rotate_if_due(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        every: Duration,
        retain: Duration,
    ) -> Result<Option<String>, AccessError> {
        self.reload(store, now)?;
        let due = {
            let cache = self.read_cache();
            let unretired: Vec<&PublishedKey> = cache
                .keys
                .iter()
                .filter(|k| k.row.retires.is_none())
                .collect();
            unretired.len() == 1
                && unretired
                    .iter()
                    .all(|k| from_stored(k.row.activates) + every <= now)
        };
        if due {
            return self.rotate(store, now, false, retain).map(Some);
        }
        Ok(None)
    }

    fn reload(&self, store: &Store, now: DateTime<Utc>) -> Result<(), AccessError> {
        let rows = store.read(|conn| rows::published(conn, to_stored(now)))?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let decoding = DecodingKey::from_ed_components(&row.public_key)
                .map_err(|e| AccessError::Keys(format!("key {}: {e}", row.kid)))?;
            keys.push(PublishedKey { row, decoding });
        }
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        *cache = Cache { keys, loaded: now };
        Ok(())
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the key set again when the cached copy is stale.
    pub fn refresh_if_stale(&self, store: &Store, now: DateTime<Utc>) -> Result<(), AccessError> {
        let stale = self.read_cache().loaded + RELOAD_AFTER <= now;
        if stale {
            self.reload(store, now)?;
        }
        Ok(())
    }

    /// Signs `claims` as a JWT of type `typ` with the key that signs at `now`.
    pub fn sign<T: Serialize>(
        &self,
        typ: &str,
        claims: &T,
        now: DateTime<Utc>,
    ) -> Result<String, AccessError> {
        let kid = {
            let cache = self.read_cache();
            let now = to_stored(now);
            cache
                .keys
                .iter()
                .filter(|k| k.row.activates <= now && k.row.retires.is_none_or(|r| r > now))
                .max_by_key(|k| k.row.activates)
                .map(|k| k.row.kid.clone())
                .ok_or_else(|| AccessError::Keys("no signing key is active".into()))?
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.to_string());
        header.kid = Some(kid.clone());
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&self.secret.seed(&kid));
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der))
            .map_err(|e| AccessError::Keys(format!("signing failed: {e}")))
    }

    /// Verifies a JWT of type `typ` signed by one of our published keys and issued by
    /// `issuer`; the algorithm is pinned, and `exp`, `iss`, `aud` and `sub` must be present.
    /// Expiry is the caller's to judge, against its clock. `None`: not a valid token of ours.
    pub fn verify<T: DeserializeOwned>(&self, token: &str, typ: &str, issuer: &str) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let typ_matches = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(typ) || t.eq_ignore_ascii_case(&format!("application/{typ}"))
        });
        if header.alg != Algorithm::EdDSA || !typ_matches {
            return None;
        }
        let kid = header.kid?;
        let decoding = {
            let cache = self.read_cache();
            cache
                .keys
                .iter()
                .find(|k| k.row.kid == kid)?
                .decoding
                .clone()
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[issuer]);
        validation.validate_exp = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<T>(token, &decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The published key with `kid`, from memory: what verifies an access token offline.
    pub fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        self.read_cache()
            .keys
            .iter()
            .find(|k| k.row.kid == kid)
            .map(|k| k.decoding.clone())
    }

    /// The published keys as a JWK Set (RFC 7517).
    pub fn jwks(&self) -> Value {
        let cache = self.read_cache();
        let keys: Vec<Value> = cache
            .keys
            .iter()
            .map(|k| {
                json!({"kty": "OKP", "crv": "Ed25519", "x": k.row.public_key, "kid": k.row.kid, "use": "sig", "alg": k.row.algorithm})
            })
            .collect();
        json!({ "keys": keys })
    }

    /// The published keys with their schedule, for operators.
    pub fn schedule(&self) -> Vec<Value> {
        self.read_cache()
            .keys
            .iter()
            .map(|k| {
                json!({
                    "kid": k.row.kid,
                    "algorithm": k.row.algorithm,
                    "created": from_stored(k.row.created),
                    "activates": from_stored(k.row.activates),
                    "retires": k.row.retires.map(from_stored),
                    "removes": k.row.removes.map(from_stored),
                })
            })
            .collect()
    }

    fn self_test(&self, now: DateTime<Utc>) -> Result<(), AccessError> {
        let claims = json!({"iss": "self-test", "sub": "self-test", "aud": "self-test", "exp": now.timestamp() + 60});
        let token = self.sign("self-test+jwt", &claims, now)?;
        match self.verify::<Value>(&token, "self-test+jwt", "self-test") {
            Some(verified) if verified == claims => Ok(()),
            _ => Err(AccessError::Keys(
                "start-up self-test: a token signed now does not verify; every replica needs \
                 the same token_key_file as the one that created the keys"
                    .into(),
            )),
        }
    }
}
