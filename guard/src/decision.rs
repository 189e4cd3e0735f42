//! The guard's decision as a pure function of the token, the published keys, the revocation
//! view, the time and how long the stream has been quiet: accept, refuse, or ask Scimitar
//! (introspection, while the view is stale). `Guard::check` runs these steps around its two
//! network calls (a JWKS refresh for an unknown `kid`, an introspection); the conformance
//! vectors (`guard/vectors.json`) run them with an injected clock, here and in the Python and
//! Node guards, so the three cannot drift apart.
//!
//! The steps, in order (the first failing one names the refusal):
//! 1. [`key_id`]: the header parses, `typ` is `at+jwt`, `alg` is EdDSA, a `kid` is named;
//! 2. the key of that `kid` (unknown: `unknown_key`);
//! 3. [`Verifier::verify`]: the signature, the claims' shape, then `exp`, `nbf` (with leeway),
//!    `iss` and `aud`;
//! 4. [`judge`]: the revocation view (`sid`, `jti`, the user's `not_before`), then staleness.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::claims::Claims;
use crate::config::{Config, OnStale};
use crate::error::Rejection;
use crate::revocations::RevocationSet;

/// What to do with a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accept(Claims),
    Refuse(Rejection),
    /// The view is stale and the guard is configured to introspect: the token is valid
    /// offline, and Scimitar decides whether it is still active.
    Introspect(Claims),
}

/// The signing keys by `kid`, as published in a JWKS document.
pub type Keys = HashMap<String, DecodingKey>;

/// Reads a JWKS document. Keys without a `kid` are skipped, and so are keys that cannot be
/// used (logged); a document that is not a JWKS is an error.
pub fn keys_from_jwks(body: &[u8]) -> Result<Keys, String> {
    let set: JwkSet = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => {
                keys.insert(kid.clone(), key);
            }
            Err(error) => tracing::warn!(%kid, %error, "unusable key in JWKS; skipped"),
        }
    }
    Ok(keys)
}

/// Step 1: reads the header and returns the `kid` whose key verifies the token.
pub fn key_id(token: &str) -> Result<String, Rejection> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(Rejection::WrongType(header.typ));
    }
    if header.alg != Algorithm::EdDSA {
        return Err(Rejection::WrongAlgorithm(format!("{:?}", header.alg)));
    }
    header.kid.ok_or(Rejection::UnknownKey(None))
}

/// Step 3: the signature and the claims, against the configured issuer and audience.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// The signature only (EdDSA); the claims are checked here, against an injected clock.
    signature: Validation,
    issuer: String,
    audience: HashSet<String>,
    leeway: i64,
}

impl Verifier {
    pub fn new(config: &Config) -> Self {
        let mut signature = Validation::new(Algorithm::EdDSA);
        signature.required_spec_claims = HashSet::new();
        signature.validate_exp = false;
        signature.validate_nbf = false;
        signature.validate_aud = false;
        Self {
            signature,
            issuer: config.issuer.clone(),
            audience: config.audience.iter().cloned().collect(),
            leeway: i64::try_from(config.leeway.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// Accepts a token signed by `key` whose claims hold at `now`. The checks run in the
    /// order of `jsonwebtoken`'s own validation, so each token gets the refusal it always got.
    pub fn verify(
        &self,
        token: &str,
        key: &DecodingKey,
        now: DateTime<Utc>,
    ) -> Result<Claims, Rejection> {
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.signature)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => Rejection::BadSignature,
                _ => Rejection::Malformed(e.to_string()),
            })?;
        // `exp` and `nbf` are NumericDates: a negative one is not a valid claim.
        if claims.exp < 0 || claims.nbf < 0 {
            return Err(Rejection::Malformed("negative exp or nbf".into()));
        }
        let now = now.timestamp();
        if claims.exp < now.saturating_sub(self.leeway) {
            return Err(Rejection::Expired);
        }
        if claims.nbf > now.saturating_add(self.leeway) {
            return Err(Rejection::NotYetValid);
        }
        if claims.iss != self.issuer {
            return Err(Rejection::WrongIssuer);
        }
        if !self.audience.contains(&claims.aud) {
            return Err(Rejection::WrongAudience);
        }
        Ok(claims)
    }
}

/// Step 4: refuses a verified token that the view revokes at `now`; then `Stale` when
/// nothing was heard for longer than `stale_after` (`quiet_for: None`: never heard). A
/// revocation already known refuses the token even when stale: revocations are final.
pub fn judge(
    set: &RevocationSet,
    claims: &Claims,
    now: DateTime<Utc>,
    quiet_for: Option<Duration>,
    stale_after: Duration,
) -> Result<(), Rejection> {
    set.judge_at(claims, now)?;
    match quiet_for {
        Some(quiet) if quiet <= stale_after => Ok(()),
        _ => Err(Rejection::Stale(quiet_for)),
    }
}

/// The whole decision offline, with the keys at hand (an unknown `kid` is refused here;
/// `Guard::check` would first fetch the JWKS again, if its cooldown allows).
pub fn decide(
    token: &str,
    keys: &Keys,
    set: &RevocationSet,
    now: DateTime<Utc>,
    quiet_for: Option<Duration>,
    config: &Config,
) -> Decision {
    let verified = key_id(token).and_then(|kid| {
        let key = keys.get(&kid).ok_or(Rejection::UnknownKey(Some(kid)))?;
        Verifier::new(config).verify(token, key, now)
    });
    let claims = match verified {
        Ok(claims) => claims,
        Err(rejection) => return Decision::Refuse(rejection),
    };
    match judge(set, &claims, now, quiet_for, config.stale_after) {
        Ok(()) => Decision::Accept(claims),
        Err(Rejection::Stale(_)) if config.on_stale == OnStale::Introspect => {
            Decision::Introspect(claims)
        }
        Err(rejection) => Decision::Refuse(rejection),
    }
}
