//! The Shared Signals receiver: a tenant's transmitters (its identity provider) send Security
//! Event Tokens by push (RFC 8935) or are polled for them (RFC 8936).
//!
//! - `settings`: a receiver's configuration (the admin API's JSON, stored per tenant).
//! - `keys`: the transmitter's JWKS, fetched and cached (refreshed on an unknown `kid`, at most
//!   once per cooldown) or configured inline.
//! - `verify`: signature, `typ`, `iss`, `aud`, `iat`, `jti` of one SET.
//! - `subjects`: the SET's subject, mapped to the tenant's users under the receiver's rules.
//! - `apply`: dedup on `(iss, jti)` and the actions, in one transaction; refusals and flags.
//! - `manage`: the admin API's receiver configuration (create, read, replace, delete) and
//!   received SETs.
//! - `poller`: the RFC 8936 poll loop (a tokio task started by `serve`).
//! - `stream_control`: a stream Scimitar manages at its transmitter (SSF 1.0 §7–8).
//! - `stream_events`: verification and stream-updated events, checked against that stream.
//! - `health`: last event, last verification, last error, for the admin API and `/metrics`.

pub mod apply;
pub mod health;
pub mod keys;
pub mod lifecycle;
pub mod manage;
pub mod poller;
pub mod settings;
pub mod stream_control;
pub mod stream_events;
pub mod subjects;
pub mod verify;

use std::sync::Arc;

use crate::audit::RequestInfo;
use crate::clock::SharedClock;
use crate::egress::Egress;
use crate::egress::keys::KeySets;
use crate::scim::ScimService;
use crate::sealing::Sealer;
use crate::store::Store;
use crate::store::receivers::ReceiverRow;

use super::SignalsError;

/// Delivery methods, as SSF names them.
pub const PUSH: &str = "urn:ietf:rfc:8935";
pub const POLL: &str = "urn:ietf:rfc:8936";

/// The RFC 8935 §2.3 error codes (also RFC 8936 `setErrs`), and SSF 1.0's `invalid_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidKey,
    InvalidIssuer,
    InvalidAudience,
    AuthenticationFailed,
    AccessDenied,
    /// A verification event whose `state` is not the one requested (SSF 1.0 §8.1.4).
    InvalidState,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::InvalidIssuer => "invalid_issuer",
            ErrorCode::InvalidAudience => "invalid_audience",
            ErrorCode::AuthenticationFailed => "authentication_failed",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::InvalidState => "invalid_state",
        }
    }
}

/// Why a SET was refused: its code and a description for the transmitter's operators.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub description: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// The RFC 8935 §2.3 error body (and the RFC 8936 `setErrs` entry).
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"err": self.code.as_str(), "description": self.description})
    }
}

/// How a SET arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Push,
    Poll,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Push => "push",
            Delivery::Poll => "poll",
        }
    }
}

/// What became of one SET.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Verified, mapped and acted on; the record of its receipt.
    Applied(String),
    /// Verified and recorded, but nothing to do (unknown event types, verification events,
    /// `credential-change` where the tenant does not end sessions for it).
    Ignored(String),
    /// Received before (same issuer and `jti`): acknowledged, not acted on again.
    Replayed,
    /// Not verified or not mapped: nothing was done, the refusal is recorded and flagged.
    Refused(Refusal),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied(_) => "applied",
            Outcome::Ignored(_) => "ignored",
            Outcome::Replayed => "replayed",
            Outcome::Refused(_) => "refused",
        }
    }
}

/// The receiver: verifies and applies SETs for every tenant. Cheap to clone.
#[derive(Clone)]
pub struct Receiver {
    pub(crate) store: Store,
    pub(crate) scim: ScimService,
    pub(crate) clock: SharedClock,
    /// The transmitters' fetched key sets.
    pub(crate) key_sets: Arc<KeySets>,
    /// Key-set fetches and polls, through the destination policy.
    pub(crate) egress: Egress,
    /// Poll receivers' credentials are stored sealed.
    pub(crate) sealer: Sealer,
    /// Access tokens for managed streams' transmitters.
    pub(crate) stream_tokens: Arc<stream_control::TokenCache>,
}

impl Receiver {
    pub fn new(scim: ScimService, egress: Egress, sealer: Sealer) -> Self {
        Self {
            store: scim.store().clone(),
            clock: scim.clock().clone(),
            scim,
            key_sets: Arc::default(),
            egress,
            sealer,
            stream_tokens: Arc::default(),
        }
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Key-set fetches made by this process.
    pub fn key_set_fetches(&self) -> u64 {
        self.key_sets.fetches()
    }

    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The receiver `id` names (enabled or not), read on a blocking thread.
    pub async fn find(&self, id: &str) -> Result<Option<ReceiverRow>, SignalsError> {
        let (store, id) = (self.store.clone(), id.to_string());
        blocking(move || Ok(store.read(|conn| crate::store::receivers::find(conn, &id))?)).await
    }

    /// Verifies `token` against `receiver`'s transmitter and applies it, or refuses it (and
    /// records the refusal with a flag). Network work (a JWKS fetch) runs on this task; the
    /// database work on a blocking thread.
    pub async fn receive(
        &self,
        receiver: &ReceiverRow,
        token: &str,
        delivery: Delivery,
        request: Option<RequestInfo>,
    ) -> Result<Outcome, SignalsError> {
        let now = self.clock.now();
        let config = settings::Settings::of(receiver);
        let verified = verify::verify(self, receiver, &config, token, now).await?;
        let (this, receiver) = (self.clone(), receiver.clone());
        let claimed = verify::Claimed::of(token);
        blocking(move || match verified {
            Ok(set) => {
                let job = apply::Job {
                    receiver: &receiver,
                    settings: &config,
                    delivery,
                    request: request.as_ref(),
                };
                match apply::apply(&this, &job, &set) {
                    Ok(outcome) => Ok(outcome),
                    Err(apply::Failure::Refused(refusal)) => {
                        apply::refuse(&this, &job, &claimed, refusal)
                    }
                    Err(apply::Failure::Replayed) => Ok(Outcome::Replayed),
                    Err(apply::Failure::Error(error)) => Err(error),
                }
            }
            Err(refusal) => {
                let job = apply::Job {
                    receiver: &receiver,
                    settings: &config,
                    delivery,
                    request: request.as_ref(),
                };
                apply::refuse(&this, &job, &claimed, refusal)
            }
        })
        .await
    }
}

/// Runs database work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SignalsError> + Send + 'static,
) -> Result<T, SignalsError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SignalsError::Store(crate::store::StoreError::Unavailable(e.to_string())))?
}
