//! The transmitters' keys: an inline JWKS is read from the receiver's row; a `jwks_uri` is
//! fetched through the destination policy and cached per receiver (`egress::keys`: fetched
//! again when a SET names a `kid` the cache does not hold, at most once per cooldown and one
//! fetch at a time), so rotated keys are picked up and a flood of unknown `kid`s cannot
//! hammer the transmitter.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};

use super::{ErrorCode, Receiver, Refusal};
use crate::egress::keys::{Lookup, pick};
use crate::signals::SignalsError;
use crate::store::receivers::ReceiverRow;

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
    let source = format!("receiver:{}", row.id);
    match receiver
        .key_sets
        .key(&receiver.egress, &source, uri, kid, now)
        .await
    {
        Ok(Lookup::Found(key)) => Ok(Ok(*key)),
        Ok(Lookup::Unknown) => Ok(Err(unknown())),
        Err(unavailable) => Err(SignalsError::KeysUnavailable(unavailable.to_string())),
    }
}
