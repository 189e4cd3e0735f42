//! Signals: what identity providers tell Scimitar, and what Scimitar tells the outside world.
//! Sits above `scim` and `access` (it drives their cascades) and below `http`.
//!
//! - `receiver`: the Shared Signals (SSF 1.0) receiver. A tenant's transmitters push Security
//!   Event Tokens (RFC 8935) or are polled for them (RFC 8936); each SET is verified against
//!   the transmitter's keys, deduplicated on `(iss, jti)`, mapped to a user and acted on
//!   (CAEP `session-revoked`, `credential-change`; RISC `account-disabled`, `account-enabled`,
//!   `sessions-revoked`) in one transaction with its audit records and outbox events.

pub mod receiver;

use crate::scim::ScimError;
use crate::store::StoreError;

/// What can go wrong in the signals layer. A refused SET is not an error here: it is an
/// `receiver::Outcome::Refused`, recorded and answered with its RFC 8935 code.
#[derive(Debug, thiserror::Error)]
pub enum SignalsError {
    /// A receiver configuration the admin API cannot accept.
    #[error("{0}")]
    InvalidConfig(String),
    #[error("no such receiver")]
    NotFound,
    /// The transmitter's keys could not be fetched: retry later (no verdict on the SET).
    #[error("the transmitter's keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// The system's random number generator failed.
    #[error("randomness: {0}")]
    Randomness(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The SCIM service refused an action (its deactivation path).
    #[error(transparent)]
    Scim(ScimError),
}

impl From<ScimError> for SignalsError {
    fn from(error: ScimError) -> Self {
        SignalsError::Scim(error)
    }
}

impl From<crate::access::AccessError> for SignalsError {
    fn from(error: crate::access::AccessError) -> Self {
        match error {
            crate::access::AccessError::Store(error) => SignalsError::Store(error),
            other => SignalsError::InvalidConfig(other.to_string()),
        }
    }
}
