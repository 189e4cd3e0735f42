//! The sweeper: marks sessions past their absolute or idle expiry as ended (with an audit
//! record each), purges sessions that ended longer ago than the retention period, and outbox
//! events and delivered Security Event Tokens older than a week. The
//! audit log keeps their story after the rows are gone. Introspection and refresh judge
//! expiry themselves; the sweeper only makes the stored state and the log say so.

use std::collections::BTreeMap;

use chrono::Duration;

use super::cascade::{self, EndReason, Origin};
use super::tokens::AccessService;
use crate::store::sessions::{self as rows, LiveSession};
use crate::store::{StoreError, to_stored};

/// Uses seen by another replica reach the database within this; idle sessions are marked
/// only once it has passed, so such a use is never missed.
pub const IDLE_GRACE: Duration = Duration::minutes(2);
const BATCH: i64 = 500;
/// How long outbox events and delivered Security Event Tokens are kept.
pub const OUTBOX_RETENTION: Duration = Duration::days(7);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    pub uses_flushed: usize,
    pub expired_absolute: usize,
    pub expired_idle: usize,
    pub sessions_purged: usize,
    pub revoked_tokens_purged: usize,
    pub outbox_events_purged: usize,
    /// Spent Global Token Revocation `jti`s whose JWTs have expired.
    pub revocation_jtis_purged: usize,
}

pub fn sweep(service: &AccessService) -> Result<Sweep, StoreError> {
    let mut report = Sweep {
        uses_flushed: service.flush_usage()?,
        ..Sweep::default()
    };
    let now = service.clock().now();
    let store = service.store();
    loop {
        let expired = store
            .read(|conn| rows::expired(conn, to_stored(now), to_stored(now - IDLE_GRACE), BATCH))?;
        if expired.is_empty() {
            break;
        }
        let mut by_tenant: BTreeMap<(String, bool), Vec<LiveSession>> = BTreeMap::new();
        for (session, absolute) in &expired {
            by_tenant
                .entry((session.tenant_id.clone(), *absolute))
                .or_default()
                .push(LiveSession {
                    id: session.id.clone(),
                    user_id: session.user_id.clone(),
                    client_id: session.client_id.clone(),
                    roles: session.roles.clone(),
                });
        }
        store.write(|conn| {
            for ((tenant_id, absolute), sessions) in &by_tenant {
                let reason = if *absolute {
                    EndReason::ExpiredAbsolute
                } else {
                    EndReason::ExpiredIdle
                };
                let ended = cascade::end_sessions(
                    conn,
                    tenant_id,
                    sessions,
                    reason,
                    None,
                    Origin::default(),
                    now,
                )?;
                if *absolute {
                    report.expired_absolute += ended.len();
                } else {
                    report.expired_idle += ended.len();
                }
            }
            Ok::<_, StoreError>(())
        })?;
        if (expired.len() as i64) < BATCH {
            break;
        }
    }
    let retention = service.settings().session_retention;
    let (sessions, tokens) =
        store.write(|conn| rows::purge(conn, to_stored(now - retention), to_stored(now)))?;
    report.sessions_purged = sessions;
    report.revoked_tokens_purged = tokens;
    // Outbox events and delivered SETs are kept for a week: long enough for a resource server
    // or receiver to catch up after an outage, short enough that the tables stay small.
    let outbox_cutoff = to_stored(now - OUTBOX_RETENTION);
    report.outbox_events_purged = store.write(|conn| {
        crate::store::ssf::prune_delivered(conn, outbox_cutoff)?;
        crate::store::outbox::prune(conn, outbox_cutoff)
    })?;
    report.revocation_jtis_purged =
        store.write(|conn| crate::store::revocation_assertions::purge(conn, to_stored(now)))?;
    Ok(report)
}
