//! ID tokens from the upstream identity provider, presented in a token exchange: verified
//! offline against the tenant's trusted issuer (its JWKS from a file or inline), then matched
//! to a provisioned user by one claim.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::AccessError;

/// Seconds of clock skew tolerated between the IdP and us.
const LEEWAY_SECONDS: i64 = 60;

pub use crate::config::UserAttribute;

/// A tenant's trusted issuer.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    pub issuer: String,
    /// Accepted `aud` values: Scimitar's client id(s) at the IdP.
    pub audiences: Vec<String>,
    pub keys: JwkSet,
    /// The claim naming the user (`sub` by default; `oid` suits Entra, `email` some set-ups).
    pub user_claim: String,
    pub user_attribute: UserAttribute,
}

/// The algorithm a published key verifies: its `alg`, or the usual one of its type (RS256,
/// ES256 or ES384 by curve, EdDSA). Symmetric keys have none: a public JWKS holds no secret.
pub fn key_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::EllipticCurve;
    let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
        (Some(alg), _) => alg.to_string().parse::<Algorithm>().ok()?,
        (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
        (None, AlgorithmParameters::EllipticCurve(ec)) if ec.curve == EllipticCurve::P384 => {
            Algorithm::ES384
        }
        (None, AlgorithmParameters::EllipticCurve(_)) => Algorithm::ES256,
        (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
        (None, _) => return None,
    };
    let symmetric = matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) || matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_));
    (!symmetric).then_some(algorithm)
}

/// The claims every ID token must carry, typed so a wrongly typed `exp` fails to parse
/// instead of being skipped.
#[derive(Debug, Deserialize)]
struct IdTokenClaims {
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

impl TrustedIssuer {
    /// Verifies `token` and returns the value of the user claim.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<String, AccessError> {
        let invalid =
            |why: &str| AccessError::InvalidGrant(format!("the ID token is not valid: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        let jwk = match &header.kid {
            Some(kid) => self.keys.find(kid),
            None if self.keys.keys.len() == 1 => self.keys.keys.first(),
            None => None,
        }
        .ok_or_else(|| invalid("signed by an unknown key"))?;
        // The algorithm comes from the key, never from the token's header alone.
        let algorithm = key_algorithm(jwk).ok_or_else(|| invalid("unsupported key"))?;
        if matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) || header.alg != algorithm
        {
            return Err(invalid("unexpected signing algorithm"));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("unusable key"))?;
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<IdTokenClaims>(token, &key, &validation)
            .map_err(|e| invalid(&e.to_string()))?
            .claims;
        let now = now.timestamp();
        if claims.exp.saturating_add(LEEWAY_SECONDS) <= now {
            return Err(invalid("expired"));
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECONDS))
        {
            return Err(invalid("not yet valid"));
        }
        match claims.other.get(&self.user_claim) {
            Some(Value::String(value)) if !value.is_empty() => Ok(value.clone()),
            _ => Err(invalid(&format!("no `{}` claim", self.user_claim))),
        }
    }
}
