//! Verification of one Security Event Token (RFC 8417) against its receiver: a JWS (never
//! `none`, never HMAC) signed by a key of the transmitter's JWKS with the key's own algorithm,
//! `typ` `secevent+jwt` when present, `iss` the receiver's issuer, `aud` one of its audiences,
//! `iat` neither in the future (past a minute of skew) nor older than `max_age_seconds`, a
//! `jti`, and an `events` object. Anything else is refused with its RFC 8935 code.

use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::settings::Settings;
use super::{ErrorCode, Receiver, Refusal};
use crate::signals::SignalsError;
use crate::store::receivers::ReceiverRow;

/// Seconds of clock skew tolerated between the transmitter and us.
pub const SKEW_SECONDS: i64 = 60;
/// Longest `jti` accepted.
const MAX_JTI: usize = 256;

/// A verified SET.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedSet {
    pub issuer: String,
    pub jti: String,
    pub iat: i64,
    /// Every claim, for the subject (`sub_id`).
    pub claims: Map<String, Value>,
    /// Event type URI → event payload.
    pub events: Map<String, Value>,
}

/// What an unverified SET claims to be, for the record of its refusal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claimed {
    pub issuer: String,
    pub jti: String,
    pub event_types: Vec<String>,
}

impl Claimed {
    pub fn of(token: &str) -> Self {
        let Some(claims) = segment(token, 1) else {
            return Self::default();
        };
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(|s| s.chars().take(MAX_JTI).collect())
                .unwrap_or_default()
        };
        Self {
            issuer: text("iss"),
            jti: text("jti"),
            event_types: claims
                .get("events")
                .and_then(Value::as_object)
                .map(|events| events.keys().take(10).cloned().collect())
                .unwrap_or_default(),
        }
    }
}

/// One JSON segment of a compact JWS, unverified.
fn segment(token: &str, index: usize) -> Option<Map<String, Value>> {
    let part = token.split('.').nth(index)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Verifies `token`; `Ok(Err(_))` is a refusal, `Err` a failure to decide (keys unavailable).
pub async fn verify(
    receiver: &Receiver,
    row: &ReceiverRow,
    settings: &Settings,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Result<VerifiedSet, Refusal>, SignalsError> {
    let refuse = |code, why: &str| Ok(Err(Refusal::new(code, why)));
    let token = token.trim();
    if token.split('.').count() != 3 {
        return refuse(
            ErrorCode::InvalidRequest,
            "the SET is not a signed JWT (JWS compact form)",
        );
    }
    let Some(header) = segment(token, 0) else {
        return refuse(ErrorCode::InvalidRequest, "the SET's header is not JSON");
    };
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("none");
    if alg.eq_ignore_ascii_case("none") || alg.to_ascii_uppercase().starts_with("HS") {
        return refuse(
            ErrorCode::InvalidKey,
            "unsigned and HMAC-signed SETs are refused: sign with the transmitter's published key",
        );
    }
    if let Some(typ) = header.get("typ") {
        let typ_ok = typ.as_str().is_some_and(|t| {
            t.eq_ignore_ascii_case("secevent+jwt")
                || t.eq_ignore_ascii_case("application/secevent+jwt")
        });
        if !typ_ok {
            return refuse(
                ErrorCode::InvalidRequest,
                "the SET's `typ` is not `secevent+jwt`",
            );
        }
    }
    let Some(unverified) = segment(token, 1) else {
        return refuse(
            ErrorCode::InvalidRequest,
            "the SET's claims are not a JSON object",
        );
    };
    if unverified.get("iss").and_then(Value::as_str) != Some(row.issuer.as_str()) {
        return refuse(
            ErrorCode::InvalidIssuer,
            "the SET's `iss` is not this receiver's transmitter",
        );
    }
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return refuse(ErrorCode::InvalidRequest, "the SET's header cannot be read");
    };
    let jwk = match super::keys::key_for(receiver, row, header.kid.as_deref(), now).await? {
        Ok(jwk) => jwk,
        Err(refusal) => return Ok(Err(refusal)),
    };
    // The algorithm comes from the key, never from the SET's header alone.
    let algorithm = crate::access::upstream::key_algorithm(&jwk);
    if algorithm != Some(header.alg) || !asymmetric(header.alg) {
        return refuse(
            ErrorCode::InvalidKey,
            "the SET's algorithm is not its key's algorithm",
        );
    }
    let Ok(key) = DecodingKey::from_jwk(&jwk) else {
        return refuse(
            ErrorCode::InvalidKey,
            "the transmitter's key cannot be used",
        );
    };
    let mut validation = Validation::new(header.alg);
    validation.set_required_spec_claims::<&str>(&[]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = match jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation) {
        Ok(data) => data.claims,
        Err(_) => return refuse(ErrorCode::InvalidKey, "the SET's signature does not verify"),
    };
    Ok(check_claims(row, settings, claims, now))
}

fn asymmetric(algorithm: Algorithm) -> bool {
    !matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    )
}

/// The claims of a SET whose signature verified.
fn check_claims(
    row: &ReceiverRow,
    settings: &Settings,
    claims: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<VerifiedSet, Refusal> {
    let invalid = |why: &str| Refusal::new(ErrorCode::InvalidRequest, why);
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if issuer != row.issuer {
        return Err(Refusal::new(
            ErrorCode::InvalidIssuer,
            "the SET's `iss` is not this receiver's transmitter",
        ));
    }
    let accepted: Vec<String> = serde_json::from_str(&row.audiences).unwrap_or_default();
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => accepted.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| accepted.iter().any(|a| a == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err(Refusal::new(
            ErrorCode::InvalidAudience,
            "the SET's `aud` is not this receiver",
        ));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
        .ok_or_else(|| invalid("the SET needs a `jti` (a string of at most 256 characters)"))?;
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("the SET needs a numeric `iat`"))?;
    let now = now.timestamp();
    if iat > now.saturating_add(SKEW_SECONDS) {
        return Err(invalid("the SET's `iat` is in the future"));
    }
    if iat < now.saturating_sub(settings.max_age_seconds) {
        return Err(invalid(
            "the SET's `iat` is older than this receiver accepts (max_age_seconds)",
        ));
    }
    if let Some(exp) = claims.get("exp")
        && exp
            .as_i64()
            .is_none_or(|exp| exp.saturating_add(SKEW_SECONDS) <= now)
    {
        return Err(invalid("the SET has expired (`exp`)"));
    }
    let events = match claims.get("events") {
        Some(Value::Object(events)) if !events.is_empty() => events.clone(),
        _ => {
            return Err(invalid(
                "the SET needs an `events` object naming at least one event",
            ));
        }
    };
    Ok(VerifiedSet {
        issuer: issuer.to_string(),
        jti: jti.to_string(),
        iat,
        claims,
        events,
    })
}
