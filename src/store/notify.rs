//! Commit notifications across replicas, the backend half of the outbox's doorbell. On
//! Postgres the publishing transaction sends `NOTIFY scimitar_outbox` (delivered at commit,
//! folded per transaction) and each replica's listener thread rings its own store's doorbell;
//! on SQLite (one process) there is nothing to relay. The same listener hears
//! `scimitar_credentials`, which triggers send when a credential is revoked or a tenant's
//! strictness changes, and makes this process forget its cached credentials.

use std::time::Duration;

use diesel::PgConnection;
use diesel::connection::SimpleConnection;

use super::credential_cache::credentials_changed;
use super::{AnyConnection, Store, StoreError};

/// The Postgres channel the outbox rings on.
pub const CHANNEL: &str = "scimitar_outbox";
/// The Postgres channel credential changes notify on (from triggers; `credential_cache`).
pub const CREDENTIALS_CHANNEL: &str = "scimitar_credentials";

/// The transaction's last statement before its commit when a write in it rang
/// (`Write::ring_after_commit`): Postgres delivers the notification to every replica at the
/// commit, and never if it rolls back; one per transaction, however many of its writes rang.
pub(super) fn before_commit(conn: &mut AnyConnection, rings: bool) -> Result<(), StoreError> {
    if let (true, AnyConnection::Postgres(pg)) = (rings, conn) {
        pg.batch_execute(&format!("NOTIFY {CHANNEL}"))?;
    }
    Ok(())
}

/// Starts the listener thread of a replica on Postgres: it holds one connection with
/// `LISTEN`, checks it every 20 ms (no query: it only reads what arrived), rings `store`'s
/// doorbell on each notification, and reconnects after a failure (ringing then, as it may
/// have missed some).
pub fn listen(store: Store) {
    if store.backend() != super::Backend::Postgres {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("outbox-listener".into())
        .spawn(move || {
            loop {
                match store.database_url().establish() {
                    Ok(AnyConnection::Sqlite(_)) => return,
                    Ok(AnyConnection::Postgres(mut conn)) => {
                        let listen = format!("LISTEN {CHANNEL}; LISTEN {CREDENTIALS_CHANNEL}");
                        if let Err(error) = conn.batch_execute(&listen) {
                            tracing::warn!(%error, "LISTEN failed");
                        } else {
                            tracing::info!("outbox listener is listening");
                            // Whatever was sent while not listening is unknown.
                            credentials_changed();
                            store.ring();
                            if let Err(error) = relay(&mut conn, &store) {
                                tracing::warn!(%error, "outbox listener lost its connection");
                            }
                        }
                    }
                    Err(error) => tracing::warn!(%error, "outbox listener cannot connect"),
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the outbox listener; replicas will poll once a second");
    }
}

fn relay(conn: &mut PgConnection, store: &Store) -> Result<(), diesel::result::Error> {
    loop {
        let mut rang = false;
        for notification in conn.notifications_iter() {
            if notification?.channel == CREDENTIALS_CHANNEL {
                credentials_changed();
            } else {
                rang = true;
            }
        }
        if rang {
            store.ring();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How far a commit's ring reaches, for the start-up summary.
pub fn reach(store: &Store) -> &'static str {
    match store.backend() {
        super::Backend::Postgres => "LISTEN across replicas",
        super::Backend::Sqlite => "in process",
    }
}
