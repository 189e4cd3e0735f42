//! Signals: what identity providers tell Scimitar, and what Scimitar tells the outside world.
//! This layer sits above the domain (`scim`, `access`) and below `http`. Outgoing signals are
//! read from the outbox after commit; incoming ones drive the domain's own write paths (and
//! so the cascade, through `access::provisioning`), never the cascade's steps.
//!
//! - `feed`: outbox events as resource servers read them (`/events/v1/revocations`, the SSE
//!   stream).
//! - `gauges`: what `/metrics` reads from the database at scrape time.
//! - `ssf`: the OpenID Shared Signals transmitter (streams, SETs, push and poll delivery).
//! - `receiver`: the Shared Signals (SSF 1.0) receiver. A tenant's transmitters push Security
//!   Event Tokens (RFC 8935) or are polled for them (RFC 8936); each SET is verified against
//!   the transmitter's keys, deduplicated on `(iss, jti)` per tenant, mapped to a user and
//!   acted on (CAEP `session-revoked`, `credential-change`; RISC `account-disabled`,
//!   `account-enabled`, `sessions-revoked`) in one transaction with its audit records and
//!   outbox events.

pub mod feed;
pub mod gauges;
pub mod receiver;
pub mod revocation_view;
pub mod ssf;

use crate::scim::ScimError;
use crate::store::StoreError;

/// What the signals layer can fail with; `http::error` maps it to a response. A refused SET
/// is not an error here: it is a `receiver::Outcome::Refused`, recorded and answered with
/// its RFC 8935 code.
#[derive(Debug, thiserror::Error)]
pub enum SignalsError {
    /// A request or a receiver configuration that cannot be accepted.
    #[error("{0}")]
    InvalidValue(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
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
    /// A transmitter's management API (or its metadata or token endpoint) failed or answered
    /// what a receiver cannot use.
    #[error("the transmitter: {0}")]
    Transmitter(String),
    /// A background task failed (a blocking task panicked or was cancelled).
    #[error("internal error")]
    Internal,
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
            other => SignalsError::InvalidValue(other.to_string()),
        }
    }
}
