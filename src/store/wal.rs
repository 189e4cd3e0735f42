//! SQLite's WAL checkpoints, off the request path. By default SQLite checkpoints inside
//! whichever commit takes the log past 1,000 pages, so one request in many pays for copying
//! the log into the database file and its fsync. `serve` starts a thread that checkpoints
//! (`PASSIVE`: it never waits for readers or writers) every second on a connection of its
//! own; a request still checkpoints if the log reaches `REQUEST_CHECKPOINT_PAGES`, so the log
//! stays bounded should that thread fall behind or stop. Postgres has nothing to do here.

use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::{AnyConnection, Store};

/// Pages after which a commit checkpoints by itself (about 40 MB of log with 4 KiB pages):
/// the backstop behind the background checkpoints.
pub const REQUEST_CHECKPOINT_PAGES: u32 = 10_000;

/// How often the background thread checkpoints.
pub const EVERY: Duration = Duration::from_secs(1);

/// Starts the background checkpoints of a SQLite store (nothing for Postgres). The thread
/// lives as long as the process; a failed checkpoint is logged and tried again.
pub fn start_checkpoints(store: &Store, every: Duration) {
    if store.backend() != super::Backend::Sqlite {
        return;
    }
    let url = store.database_url().clone();
    let spawned = std::thread::Builder::new()
        .name("wal-checkpoints".into())
        .spawn(move || {
            let mut conn = None;
            loop {
                std::thread::sleep(every);
                if conn.is_none() {
                    conn = match url.establish() {
                        Ok(AnyConnection::Sqlite(c)) => Some(c),
                        Ok(AnyConnection::Postgres(_)) => return,
                        Err(error) => {
                            tracing::warn!(%error, "WAL checkpoint thread cannot connect");
                            None
                        }
                    };
                }
                if let Some(c) = conn.as_mut()
                    && let Err(error) = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")
                {
                    tracing::warn!(%error, "WAL checkpoint failed; trying again");
                    conn = None;
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the WAL checkpoint thread; commits checkpoint instead");
    }
}
