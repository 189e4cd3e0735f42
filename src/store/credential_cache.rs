//! Active credentials kept in memory, so that authenticating a request costs no statement, no
//! pool checkout and no hop to the blocking pool. Only credentials found active are kept; an
//! unknown or revoked secret always goes to the database.
//!
//! A cached answer is only as good as its invalidation, which comes three ways:
//! - a commit of this process that revokes a credential or changes a tenant's strictness moves
//!   `GENERATION` once it has committed (`credentials::revoke`, `tenants::set_strict`), and every
//!   cache of the process forgets at its next use;
//! - on Postgres the same commit notifies `scimitar_credentials` (a trigger), and each replica's
//!   listener (`store::notify`) moves its `GENERATION`;
//! - triggers also move the `cache_epochs` row, which a cache re-reads before trusting any entry
//!   once its last reading is older than `EPOCH_CHECK`: this covers another process writing the
//!   same SQLite file (the CLI) and a replica whose listener lost notifications.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::credentials::CredentialRow;
use super::schema::cache_epochs;
use super::{AnyConnection, StoreError};

/// How stale the epoch reading may be before an entry is trusted again: the longest a change
/// made by another process can go unseen while this one serves traffic.
const EPOCH_CHECK: Duration = Duration::milliseconds(50);
/// Entries past this many are dropped all at once; real deployments hold a handful.
const MAX_ENTRIES: usize = 10_000;

/// Moved after every committed change that cached credentials depend on, here or (relayed by
/// the listener) on another replica. Process-wide: a change clears every store's cache of the
/// process, which costs a few extra lookups and never a stale answer.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Forgets every cached credential of the process (after a commit that changed them).
pub fn credentials_changed() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// An active credential as the request path needs it: the row and its tenant's strictness.
pub type ActiveCredential = (CredentialRow, bool);

#[derive(Default)]
pub struct CredentialCache {
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// The `GENERATION` the entries were read under.
    generation: u64,
    /// The `cache_epochs` value the entries were read under, and when it was last read.
    epoch: Option<(i64, DateTime<Utc>)>,
    entries: HashMap<String, ActiveCredential>,
}

/// Taken before a database read; the read's answer is kept only if nothing changed meanwhile.
pub struct FillTicket {
    generation: u64,
}

impl CredentialCache {
    /// The active credential with this secret digest, from memory; `None` when it is not
    /// cached or the cache must first re-read the epoch (`lookup` does both).
    pub fn get(&self, digest: &str, now: DateTime<Utc>) -> Option<ActiveCredential> {
        let state = self.state.read().ok()?;
        let fresh = state.generation == GENERATION.load(Ordering::SeqCst)
            && state
                .epoch
                .is_some_and(|(_, read)| now < read + EPOCH_CHECK && read <= now);
        if !fresh {
            return None;
        }
        state.entries.get(digest).cloned()
    }

    /// Reads the epoch when the last reading is stale, forgetting every entry if it moved, and
    /// returns the ticket under which a credential read next may be kept.
    pub fn refresh(
        &self,
        conn: &mut AnyConnection,
        now: DateTime<Utc>,
    ) -> Result<FillTicket, StoreError> {
        let generation = GENERATION.load(Ordering::SeqCst);
        let stale = self.state.read().map_or(true, |state| {
            state.generation != generation
                || state
                    .epoch
                    .is_none_or(|(_, read)| now >= read + EPOCH_CHECK || read > now)
        });
        if stale {
            let epoch = read_epoch(conn)?;
            if let Ok(mut state) = self.state.write() {
                let moved = state.epoch.is_none_or(|(seen, _)| seen != epoch);
                if moved || state.generation != generation {
                    state.entries.clear();
                }
                state.generation = generation;
                state.epoch = Some((epoch, now));
            }
        }
        Ok(FillTicket { generation })
    }

    /// Keeps a credential just read as active, unless a change was committed since `ticket`.
    pub fn fill(&self, ticket: FillTicket, digest: &str, credential: ActiveCredential) {
        if let Ok(mut state) = self.state.write() {
            if state.generation != ticket.generation
                || GENERATION.load(Ordering::SeqCst) != ticket.generation
            {
                return;
            }
            if state.entries.len() >= MAX_ENTRIES {
                state.entries.clear();
            }
            state.entries.insert(digest.to_string(), credential);
        }
    }

    /// Records a use written to the database, so the next check does not write it again.
    pub fn used(&self, digest: &str, at: NaiveDateTime) {
        if let Ok(mut state) = self.state.write()
            && let Some((row, _)) = state.entries.get_mut(digest)
        {
            row.last_used = Some(at);
        }
    }
}

fn read_epoch(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(cache_epochs::table
        .filter(cache_epochs::name.eq("credentials"))
        .select(cache_epochs::epoch)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

impl super::Store {
    /// The active credential with this secret digest, from memory only: what a request can
    /// check without leaving its worker thread. `None` sends it to `active_credential`.
    pub fn cached_credential(&self, digest: &str, now: DateTime<Utc>) -> Option<ActiveCredential> {
        self.credentials.get(digest, now)
    }

    /// The active credential with this secret digest, from memory or read (and then kept).
    pub fn active_credential(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveCredential>, StoreError> {
        if let Some(found) = self.cached_credential(digest, now) {
            return Ok(Some(found));
        }
        self.read(|conn| {
            let ticket = self.credentials.refresh(conn, now)?;
            // An epoch that did not move leaves the entry kept: no second statement.
            if let Some(found) = self.credentials.get(digest, now) {
                return Ok(Some(found));
            }
            let found = super::credentials::find_active_by_hash(conn, digest)?;
            if let Some(found) = &found {
                self.credentials.fill(ticket, digest, found.clone());
            }
            Ok(found)
        })
    }

    /// Notes in memory a use of the credential just written to the database.
    pub fn credential_used(&self, digest: &str, at: NaiveDateTime) {
        self.credentials.used(digest, at);
    }
}
