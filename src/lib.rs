//! Scimitar: a SCIM 2.0 provisioning endpoint that cuts access the moment an identity provider
//! says so. Modules by domain: `scim` (protocol), `store` (persistence), `access` (credentials),
//! `tenancy`, `signals` (what identity providers signal in), `http` (routes and middleware),
//! `cli` (commands), plus `config`, `clock` and `telemetry`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod access;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod events;
pub mod hashing;
pub mod http;
pub mod metrics;
pub mod scim;
pub mod signals;
pub mod store;
pub mod telemetry;
pub mod tenancy;
