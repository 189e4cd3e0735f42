//! The doorbell: tells readers of the outbox that events were committed. A reader always
//! reads the outbox from its own cursor; the doorbell only says when to look, so a lost ring
//! costs latency (readers also look once a second), never an event.
//!
//! In process, a commit that published events rings at once; across replicas the store
//! relays the ring through the database (`store::notify`), the only part that differs by
//! backend.

use crate::store::{Store, StoreError, Write, notify};

/// Rings when the current transaction commits, here and on every replica listening.
pub(super) fn ring_on_commit(conn: &mut Write) -> Result<(), StoreError> {
    notify::ring_on_commit(conn)
}

/// Starts this replica's listener: commits on other replicas ring this one's doorbell
/// (nothing to start on SQLite, where every writer is in this process).
pub fn listen(store: Store) {
    notify::listen(store);
}

/// How far a commit's ring reaches: "in process", or "LISTEN across replicas".
pub fn reach(store: &Store) -> &'static str {
    notify::reach(store)
}
