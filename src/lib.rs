//! Scimitar: a SCIM 2.0 provisioning endpoint that cuts access the moment an identity provider
//! says so. Modules by domain, each importing only those below it (docs/architecture.md,
//! checked by tests/layering.rs), bottom to top:
//!
//! - foundation: `clock` (injected time), `hashing`, `metrics`, `text` (case folding),
//!   `sealing` (outbound secrets encrypted at rest);
//! - `store`: persistence, the only module that knows there are two backends; `egress`:
//!   every outbound request, through one destination policy;
//! - `config`, `tenancy`, `telemetry`: the file, tenants, logging;
//! - `audit`: the tamper-evident log; `outbox`: effects written in the change's transaction;
//! - `access`: credentials, roles, tokens and the cascade, reached through
//!   `access::provisioning`;
//! - `scim`: the protocol; `signals`: the feed, the stream and Shared Signals;
//! - `http`: the web face (the only module that knows actix, with the CLI); `cli`: commands
//!   and the composition root of `serve`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod access;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod egress;
pub mod hashing;
pub mod http;
pub mod metrics;
pub mod outbox;
pub mod scim;
pub mod sealing;
pub mod signals;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod text;
