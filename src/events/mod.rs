//! Signals: what the cascade tells the outside world.
//!
//! - `outbox`: every cascade effect, written in the change's transaction, numbered per tenant.
//! - `doorbell`: wakes readers when events commit (in process, and across replicas through
//!   Postgres LISTEN/NOTIFY); the outbox stays the source of truth.
//! - `feed`: events as resource servers read them (`/events/v1/revocations`, the SSE stream).
//! - `flags`: flagged activity. `ssf`: the OpenID Shared Signals transmitter.

pub mod doorbell;
pub mod feed;
pub mod flags;
pub mod outbox;
pub mod ssf;
