//! Signals: what the cascade tells the outside world, read from the outbox after commit.
//! This layer sits above the domain (`scim`, `access`) and below `http`; it never writes a
//! provisioning fact itself, it only serves what the outbox holds.
//!
//! - `feed`: outbox events as resource servers read them (`/events/v1/revocations`, the SSE
//!   stream).
//! - `gauges`: what `/metrics` reads from the database at scrape time.
//! - `ssf`: the OpenID Shared Signals transmitter (streams, SETs, push and poll delivery).

pub mod feed;
pub mod gauges;
pub mod ssf;

use crate::store::StoreError;

/// What the signals layer can fail with; `http::error` maps it to a response.
#[derive(Debug, thiserror::Error)]
pub enum SignalsError {
    #[error("{0}")]
    InvalidValue(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A background task failed (a blocking task panicked or was cancelled).
    #[error("internal error")]
    Internal,
}
