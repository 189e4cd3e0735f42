//! Access: who may call Scimitar, and the tokens Scimitar issues to the apps behind it.
//!
//! - `credentials`: secrets of identity providers (SCIM), operators (admin) and apps.
//! - `roles`: group-to-role mappings and a user's effective roles.
//! - `provisioning`: the facts (user disabled, deleted, re-enabled, members changed, group
//!   deleted, mapping changed, kill switch, global revocation), the only entry point to
//!   `cascade`: what those facts do to sessions, inside their transaction.
//! - `tokens`: the token service (exchange, refresh, introspection, revocation).
//! - `keys`: signing keys, rotation and the JWKS; `upstream`: the IdP's ID tokens.
//! - `operator_sessions`: the browser console's signed-in operators.
//! - `policy`: expiry policies; `usage`: last use kept in memory; `sweeper`: expiry and purge.

mod cascade;
pub mod catalog;
pub mod credentials;
pub mod failures;
pub mod global_revocation;
pub mod keys;
pub mod limits;
pub mod operator_sessions;
pub mod policy;
pub mod provisioning;
pub mod revocation_callers;
pub mod roles;
pub mod setup;
pub mod sweeper;
pub mod tokens;
pub mod upstream;
pub mod usage;

pub use tokens::{AccessService, AccessSettings};

use crate::store::StoreError;

/// What can go wrong in access operations; `http::oauth` maps each to an OAuth error
/// response and `http::error` to a SCIM one for the admin API.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("client authentication failed")]
    InvalidClient,
    /// A grant the client may not make: an unknown, forged or malformed token, another
    /// client's token, an unknown subject. Counted against the client's failure budget.
    #[error("{0}")]
    InvalidGrant(String),
    /// A grant Scimitar issued that has ended: its session was revoked or expired, its user
    /// deactivated or deleted, its refresh token reused. Answered `invalid_grant` like the
    /// other, but the expected consequence of deprovisioning, not abuse: never counted.
    #[error("{0}")]
    EndedGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("grant type `{0}` is not supported")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    UnsupportedTokenType(String),
    /// A scope the client may not have (RFC 6749 §5.2 `invalid_scope`).
    #[error("{0}")]
    InvalidScope(String),
    /// An audience the client may not mint tokens for (RFC 8693 §2.2.2 `invalid_target`).
    #[error("{0}")]
    InvalidTarget(String),
    #[error("{0}")]
    NotFound(String),
    #[error("signing keys: {0}")]
    Keys(String),
    /// A caller's keys could not be fetched (its key set is unreachable or refused).
    #[error("keys unavailable: {0}")]
    KeysUnavailable(String),
    #[error("configuration: {0}")]
    Config(String),
    /// A rate limit refused the request; the number is the `Retry-After`, in seconds.
    #[error("too many requests; retry after {0} seconds")]
    RateLimited(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AccessError {
    /// A refusal caused by what the client sent (counted against its failure budget), not
    /// by the server or the store.
    pub fn is_clients_fault(&self) -> bool {
        matches!(
            self,
            AccessError::InvalidRequest(_)
                | AccessError::InvalidGrant(_)
                | AccessError::UnauthorizedClient(_)
                | AccessError::UnsupportedGrantType(_)
                | AccessError::UnsupportedTokenType(_)
                | AccessError::InvalidScope(_)
                | AccessError::InvalidTarget(_)
                | AccessError::NotFound(_)
        )
    }
}
