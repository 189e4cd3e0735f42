//! The doorbell: tells readers of the outbox that events were committed. A reader always
//! reads the outbox from its own cursor; the doorbell only says when to look, so a lost ring
//! costs latency (readers also look once a second), never an event.
//!
//! A write that publishes events asks for a ring (`store::Write::ring_after_commit`): in
//! process it rings at once after the commit; across replicas the store relays it through the
//! database (`store::notify`), the only part that differs by backend.

use crate::store::{Store, notify};

/// Starts this replica's listener: commits on other replicas ring this one's doorbell
/// (nothing to start on SQLite, where every writer is in this process).
pub fn listen(store: Store) {
    notify::listen(store);
}

/// How far a commit's ring reaches: "in process", or "LISTEN across replicas".
pub fn reach(store: &Store) -> &'static str {
    notify::reach(store)
}
