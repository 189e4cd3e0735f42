//! End-to-end tests: each starts a real server on a random port with a fresh database, and
//! most run twice, on SQLite and on Postgres (see `helpers::on_both_backends`).

mod contract;
mod helpers;

mod access;
mod audit;
mod audit_proof;
mod auth;
mod bulk;
mod cli;
mod console;
mod crash;
mod discovery;
mod equivalence;
mod errors;
mod events;
mod filters;
mod fixtures;
mod group_commit;
mod groups;
mod gtr;
mod guard;
mod hardening;
mod health;
mod https;
mod limits;
mod lookups;
mod openapi;
mod operations;
mod outage;
mod patch;
mod projection;
mod proxy;
mod quirks;
mod replicas;
mod schema_parity;
mod serve;
mod signals;
mod signals_poll;
mod sorting;
mod ssf;
mod tenancy;
mod tls;
mod transmitter;
mod users;
mod wal;
