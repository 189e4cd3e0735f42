//! What this replica knows of revocations, in memory, for forward auth: the revoked sessions
//! (`sid`), tokens (`jti`) and per-user `not_before` of every tenant, kept by the guard's own
//! `RevocationSet` (so the server, the Rust guard and the conformance vectors judge alike)
//! from the outbox. A follower reads each tenant's new events when the doorbell rings (a
//! commit here, or on another replica through Postgres `NOTIFY`) and at least once a second;
//! a request is then judged without a database read. At start it catches up on the events of
//! the last token lifetime. If it cannot read the outbox for longer than a bound, the view is
//! stale and every token is refused: revocations it has not heard of might exist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scimitar_guard::decision;
use scimitar_guard::{Claims, Rejection};
use scimitar_guard::{Event, RevocationSet};

use crate::clock::SharedClock;
use crate::store::outbox::{self as rows, OutboxRow};
use crate::store::{Store, StoreError, from_stored, to_stored};

/// How often the follower reads the outbox heads when no doorbell rang: the longest a
/// revocation that no doorbell announces (one committed by another process on the same
/// SQLite file, the CLI's kill switch or `client revoke`; a notification lost between
/// Postgres replicas) goes unseen. One small read each time.
const IDLE_SYNC: Duration = Duration::from_millis(100);

/// How long the view may go without a successful read before it refuses every token.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// Events read per query.
const PAGE: i64 = 1000;

/// The view shared by the follower and the requests. Cheap to clone.
#[derive(Clone)]
pub struct RevocationView {
    state: Arc<Mutex<State>>,
    clock: SharedClock,
}

struct State {
    set: RevocationSet,
    /// The last event applied, per tenant.
    cursors: HashMap<String, i64>,
    /// When the outbox was last read in full; `None` before the first catch-up.
    synced: Option<Instant>,
}

impl RevocationView {
    /// An empty view that forgets an entry once every token it covers has expired
    /// (`horizon`: the longest access-token lifetime plus the leeway).
    pub fn new(clock: SharedClock, horizon: Duration) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                set: RevocationSet::new(horizon),
                cursors: HashMap::new(),
                synced: None,
            })),
            clock,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses a verified token that a known revocation covers, or any token while the view
    /// is stale (never synced, or not for `STALE_AFTER`).
    pub fn judge(&self, claims: &Claims) -> Result<(), Rejection> {
        let now = self.clock.now();
        let state = self.state();
        let quiet_for = state.synced.map(|at| at.elapsed());
        decision::judge(&state.set, claims, now, quiet_for, STALE_AFTER)
    }

    /// Entries held, for `/metrics` and tests.
    pub fn entries(&self) -> usize {
        self.state().set.len()
    }

    /// Reads every tenant's events after its cursor (from the horizon on, for a tenant seen
    /// for the first time) and applies them. A failure leaves the view as it was.
    pub fn sync(&self, store: &Store, horizon: Duration) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let since = now - chrono::Duration::from_std(horizon).unwrap_or(chrono::Duration::hours(1));
        let heads = store.read(|conn| rows::heads(conn))?;
        let mut applied = 0;
        for (tenant_id, head) in heads {
            let known = self.state().cursors.get(&tenant_id).copied();
            let mut cursor = match known {
                Some(cursor) => cursor,
                None => store.read(|conn| rows::seq_before(conn, &tenant_id, to_stored(since)))?,
            };
            while cursor < head {
                let events = store.read(|conn| rows::after(conn, &tenant_id, cursor, PAGE))?;
                let Some(last) = events.last() else {
                    break;
                };
                cursor = last.seq;
                let mut state = self.state();
                for row in &events {
                    state.set.apply(&event_of(row), now);
                }
                applied += events.len();
            }
            self.state().cursors.insert(tenant_id, cursor);
        }
        let mut state = self.state();
        state.set.prune(now);
        state.synced = Some(Instant::now());
        Ok(applied)
    }

    /// Follows the outbox for as long as the server runs.
    pub async fn follow(self, store: Store, horizon: Duration) {
        let mut doorbell = store.doorbell();
        let mut rung = true;
        loop {
            let (view, reading) = (self.clone(), store.clone());
            let synced = tokio::task::spawn_blocking(move || view.sync(&reading, horizon)).await;
            match synced {
                // Events no doorbell announced came from another process: ring it, so the
                // event streams and the Shared Signals pump of this process hear them now.
                Ok(Ok(applied)) if applied > 0 && !rung => store.ring(),
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "revocation view: the outbox could not be read")
                }
                Err(error) => tracing::warn!(%error, "revocation view: the reader failed"),
            }
            rung = tokio::time::timeout(IDLE_SYNC, doorbell.changed())
                .await
                .is_ok();
        }
    }
}

/// An outbox event as the guard's revocation set reads it.
fn event_of(row: &OutboxRow) -> Event {
    Event {
        seq: row.seq,
        kind: row.kind.clone(),
        occurred: Some(from_stored(row.occurred)),
        user: row.user_id.clone(),
        session: row.session_id.clone(),
        jti: row.jti.clone(),
        not_before: row.not_before.map(from_stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    fn claims() -> Claims {
        Claims {
            iss: "https://scim.example".into(),
            sub: "u1".into(),
            aud: "app".into(),
            exp: i64::MAX,
            iat: 0,
            nbf: 0,
            jti: "j1".into(),
            client_id: "app".into(),
            sid: "s1".into(),
            tid: "t1".into(),
            roles: vec![],
        }
    }

    #[test]
    fn a_view_never_synced_refuses_every_token_and_a_known_revocation_refuses_its_token() {
        let clock = std::sync::Arc::new(crate::clock::ManualClock::new(chrono::Utc::now()));
        let view = RevocationView::new(clock.clone(), Duration::from_secs(600));
        assert!(
            matches!(view.judge(&claims()), Err(Rejection::Stale(None))),
            "fails closed"
        );
        {
            let mut state = view.state();
            state.synced = Some(Instant::now());
            let revoked = Event {
                seq: 1,
                kind: "session.revoked".into(),
                occurred: Some(clock.now()),
                user: Some("u1".into()),
                session: Some("s1".into()),
                jti: None,
                not_before: None,
            };
            state.set.apply(&revoked, clock.now());
        }
        assert_eq!(view.judge(&claims()), Err(Rejection::RevokedSession));
        let other = Claims {
            sid: "s2".into(),
            ..claims()
        };
        assert_eq!(view.judge(&other), Ok(()));
        view.state().synced = Some(Instant::now() - STALE_AFTER - Duration::from_secs(1));
        assert!(
            matches!(view.judge(&other), Err(Rejection::Stale(Some(_)))),
            "stale: fails closed"
        );
    }
}
