//! Who may call Global Token Revocation with a JWT, and how that JWT is checked
//! (draft-parecki-oauth-global-token-revocation-06 §3.5, RFC 8725 §3.11–3.12).
//!
//! A caller is an identity provider configured for one tenant by its issuer (`iss`) and
//! Scimitar's client id there (`sub`); the pair names the tenant, and no two tenants may
//! share it. Its JWT must be typed `global-token-revocation+jwt` (as Okta sends it), so that
//! no other JWT of the same issuer and keys (an ID token) can stand in for it; its `aud`
//! must be the endpoint's exact URL; `iss`, `sub`, `jti`, `iat` and `exp` are required and
//! the lifetime is bounded. The signature is checked with the caller's keys, the algorithm
//! taken from the key. A `jti` is then recorded in the revocation's own transaction, so a
//! replay is refused on every replica (`store::revocation_assertions`).

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::AccessError;
use super::upstream::{UserAttribute, key_algorithm};

/// The type the JWT must carry (RFC 8725 §3.11 explicit typing; Okta's value).
pub const ASSERTION_TYPE: &str = "global-token-revocation+jwt";

/// Longest `jti` kept for the replay check (as for Security Event Tokens).
const MAX_JTI_BYTES: usize = 256;

/// Clock skew tolerated on `iat`, `nbf` and `exp`.
const LEEWAY_SECONDS: i64 = 60;

/// Where a caller's keys come from.
#[derive(Debug, Clone)]
pub enum CallerKeys {
    /// Fetched and cached (`egress::keys`).
    Uri(String),
    /// Read from a file at start.
    Set(JwkSet),
}

/// One configured caller.
#[derive(Debug, Clone)]
pub struct RevocationCaller {
    pub tenant_id: String,
    pub issuer: String,
    pub client_id: String,
    pub keys: CallerKeys,
    pub max_lifetime: Duration,
    pub user_attribute: UserAttribute,
    pub accept_untyped: bool,
    /// Where the completion notification goes (a stream id of Scimitar's transmitter).
    pub completion_stream: Option<String>,
}

/// Every configured caller, by (`iss`, `sub`).
#[derive(Debug, Clone, Default)]
pub struct RevocationCallers {
    by_issuer_and_client: HashMap<(String, String), RevocationCaller>,
}

impl RevocationCallers {
    /// Fails when two callers share an issuer and client id, in one tenant or two: a JWT
    /// must name exactly one tenant.
    pub fn new(callers: Vec<RevocationCaller>) -> Result<Self, AccessError> {
        let mut by_issuer_and_client = HashMap::new();
        for caller in callers {
            let key = (caller.issuer.clone(), caller.client_id.clone());
            if let Some(other) = by_issuer_and_client.insert(key, caller) {
                return Err(AccessError::Config(format!(
                    "revocation_callers: issuer {} with client_id {} is configured twice (a JWT \
                     would not name one tenant): give each tenant's integration its own client id",
                    other.issuer, other.client_id
                )));
            }
        }
        Ok(Self {
            by_issuer_and_client,
        })
    }

    /// The caller a JWT's `iss` and `sub` name, compared exactly.
    pub fn find(&self, issuer: &str, client_id: &str) -> Option<&RevocationCaller> {
        self.by_issuer_and_client
            .get(&(issuer.to_string(), client_id.to_string()))
    }

    pub fn is_empty(&self) -> bool {
        self.by_issuer_and_client.is_empty()
    }
}

/// What a JWT claims before it is verified: only to pick the caller and its key.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub header: Header,
    pub issuer: String,
    pub subject: String,
}

/// Reads the header and the unverified `iss` and `sub` of a JWT.
pub fn claimed(jwt: &str) -> Result<Claimed, AccessError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| AccessError::InvalidClient)?;
    let claims = unverified_claims(jwt).ok_or(AccessError::InvalidClient)?;
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or(AccessError::InvalidClient)
    };
    Ok(Claimed {
        issuer: text("iss")?,
        subject: text("sub")?,
        header,
    })
}

/// A verified JWT: what the replay check records.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub issuer: String,
    pub jti: String,
    /// Until when the JWT could be accepted (its `exp` plus the leeway).
    pub valid_until: DateTime<Utc>,
}

/// The claims the JWT must carry, typed so a wrongly typed one fails to parse.
#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Value,
    jti: String,
    iat: i64,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
}

impl RevocationCaller {
    /// Verifies `jwt`, signed with `key`, for the endpoint at `endpoint`.
    pub fn verify(
        &self,
        jwt: &str,
        key: &Jwk,
        endpoint: &str,
        now: DateTime<Utc>,
    ) -> Result<Assertion, AccessError> {
        let refuse = |why: &str| {
            tracing::warn!(issuer = %self.issuer, why, "global token revocation JWT refused");
            AccessError::InvalidClient
        };
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| refuse("malformed"))?;
        let typed = header.typ.as_deref().map(|t| {
            let t = t.to_ascii_lowercase();
            t.strip_prefix("application/")
                .map(String::from)
                .unwrap_or(t)
        });
        match typed.as_deref() {
            Some(ASSERTION_TYPE) => {}
            None | Some("jwt") if self.accept_untyped => {}
            _ => return Err(refuse("not typed global-token-revocation+jwt")),
        }
        // The algorithm comes from the key, never from the token's header alone.
        let algorithm = key_algorithm(key).ok_or_else(|| refuse("unsupported key"))?;
        if matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) || header.alg != algorithm
        {
            return Err(refuse("unexpected signing algorithm"));
        }
        let decoding = DecodingKey::from_jwk(key).map_err(|_| refuse("unusable key"))?;
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims::<&str>(&[]);
        validation.validate_exp = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<AssertionClaims>(jwt, &decoding, &validation)
            .map_err(|_| refuse("bad signature or claims"))?
            .claims;
        if claims.iss != self.issuer || claims.sub != self.client_id {
            return Err(refuse("iss or sub is not the caller's"));
        }
        let audience_is_endpoint = match &claims.aud {
            Value::String(aud) => aud == endpoint,
            Value::Array(auds) => auds.len() == 1 && auds[0].as_str() == Some(endpoint),
            _ => false,
        };
        if !audience_is_endpoint {
            return Err(refuse("aud is not the endpoint's exact URL"));
        }
        if claims.jti.trim().is_empty() || claims.jti.len() > MAX_JTI_BYTES {
            return Err(refuse("empty or overlong jti"));
        }
        let now = now.timestamp();
        if claims.exp.saturating_add(LEEWAY_SECONDS) <= now {
            return Err(refuse("expired"));
        }
        if claims.iat > now.saturating_add(LEEWAY_SECONDS)
            || claims
                .nbf
                .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECONDS))
        {
            return Err(refuse("issued in the future"));
        }
        // Checked arithmetic: a huge `exp` or a very negative `iat` must not overflow (a panic)
        // nor wrap below the bound.
        let lifetime = claims.exp.checked_sub(claims.iat);
        if lifetime
            .is_none_or(|lifetime| lifetime < 0 || lifetime > self.max_lifetime.num_seconds())
        {
            return Err(refuse("lifetime longer than allowed"));
        }
        let valid_until = Utc
            .timestamp_opt(claims.exp.saturating_add(LEEWAY_SECONDS), 0)
            .single()
            .ok_or_else(|| refuse("exp out of range"))?;
        Ok(Assertion {
            issuer: claims.iss,
            jti: claims.jti,
            valid_until,
        })
    }
}

/// The claims of a JWT read without verifying it.
fn unverified_claims(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
