//! Flagged activity: uses of access that a security team should look at. A flag is an audit
//! record with a severity, an outbox event (so it reaches the stream), a metric, and a row an
//! admin lists and acknowledges. Repeats of an open flag (same kind and subject) only count.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{self as outbox, Effect};
use crate::audit::{self, Event};
use crate::store::flags::{self as rows, FlagRow};
use crate::store::{StoreError, Write, to_stored};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// A revoked or expired token presented for introspection or refresh.
    RevokedTokenPresented,
    /// A used refresh token presented again: possible theft.
    RefreshTokenReuse,
    /// A token presented for a user who is inactive or deleted.
    TokenForInactiveUser,
    /// More deactivations and membership removals in a tenant than the configured threshold
    /// within the window: a misconfigured IdP can deprovision a whole company.
    DeprovisioningBurst,
    /// A deactivated user switched back on soon after the deactivation: possibly a stale
    /// write replayed by the identity provider. Applied (RFC 7644), but worth a look.
    QuickReactivation,
    /// A Security Event Token that could not be verified or mapped to a user was refused.
    SecurityEventRefused,
    /// A transmitter said an account was enabled again: recorded, and reactivated only where
    /// the tenant's receiver allows it.
    SecurityEventAccountEnabled,
    /// A group's rename (or new externalId) moved someone's roles: it left a rule that
    /// follows names or matches its externalId, or took the name of a rule waiting to bind.
    GroupRenameMovedRoles,
    /// A transmitter paused or disabled a stream Scimitar receives on: its signals stop
    /// arriving until it is enabled again.
    SignalStreamInterrupted,
}

impl FlagKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::RevokedTokenPresented => "revoked_token_presented",
            FlagKind::RefreshTokenReuse => "refresh_token_reuse",
            FlagKind::TokenForInactiveUser => "token_for_inactive_user",
            FlagKind::DeprovisioningBurst => "deprovisioning_burst",
            FlagKind::QuickReactivation => "quick_reactivation",
            FlagKind::SecurityEventRefused => "security_event_refused",
            FlagKind::SecurityEventAccountEnabled => "security_event_account_enabled",
            FlagKind::GroupRenameMovedRoles => "group_rename_moved_roles",
            FlagKind::SignalStreamInterrupted => "signal_stream_interrupted",
        }
    }

    pub fn severity(self) -> &'static str {
        match self {
            FlagKind::RevokedTokenPresented | FlagKind::SecurityEventAccountEnabled => "medium",
            FlagKind::RefreshTokenReuse
            | FlagKind::TokenForInactiveUser
            | FlagKind::QuickReactivation
            | FlagKind::SecurityEventRefused
            | FlagKind::GroupRenameMovedRoles
            | FlagKind::SignalStreamInterrupted => "high",
            FlagKind::DeprovisioningBurst => "critical",
        }
    }
}

/// Raises a flag in the caller's transaction, or counts a repeat of the open one.
pub fn raise(
    conn: &mut Write,
    tenant_id: &str,
    kind: FlagKind,
    subject: &str,
    details: Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    raise_counted(conn, tenant_id, kind, subject, details, 1, now)
}

/// `raise` for `occurrences` at once (repeats counted in memory meanwhile, `BurstWatch`).
pub fn raise_counted(
    conn: &mut Write,
    tenant_id: &str,
    kind: FlagKind,
    subject: &str,
    details: Value,
    occurrences: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let stored_now = to_stored(now);
    if rows::repeat(
        conn,
        tenant_id,
        kind.as_str(),
        subject,
        occurrences,
        stored_now,
    )? {
        return Ok(());
    }
    let row = FlagRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        kind: kind.as_str().to_string(),
        severity: kind.severity().to_string(),
        subject: subject.to_string(),
        details: details.to_string(),
        raised: to_stored(now),
        last_seen: to_stored(now),
        occurrences,
        acknowledged: None,
        acknowledged_by: None,
    };
    rows::insert(conn, &row)?;
    let event = Event {
        resource_type: Some("Flag"),
        resource_id: Some(row.id.clone()),
        ..Event::new(
            "flag.raise",
            json!({"kind": row.kind, "severity": row.severity, "subject": subject, "details": details}),
        )
    };
    let cause = audit::record(conn, tenant_id, now, event)?;
    let raised = Effect::FlagRaised {
        flag_id: row.id.clone(),
        kind: kind.as_str(),
        severity: kind.severity(),
        subject: subject.to_string(),
    };
    outbox::publish(conn, tenant_id, vec![raised], Some(&cause), now)?;
    let tenant = tenant_id.to_string();
    conn.after_commit(move || {
        crate::metrics::inc(
            "scimitar_flags_raised_total",
            &[
                ("tenant", &tenant),
                ("kind", kind.as_str()),
                ("severity", kind.severity()),
            ],
        );
        tracing::warn!(tenant = %tenant, kind = kind.as_str(), severity = kind.severity(), "activity flagged");
    });
    Ok(())
}

/// Acknowledges an open flag, with its audit record, in one transaction: what the admin API
/// and the console both do. `false` when there is no open flag with this id.
pub fn acknowledge(
    store: &crate::store::Store,
    tenant_id: &str,
    flag_id: &str,
    actor: &audit::Actor,
    request: &audit::RequestInfo,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    store.write(|conn| {
        let done = rows::acknowledge(conn, tenant_id, flag_id, &actor.client_id, to_stored(now))?;
        if done {
            let event = Event {
                actor: Some(actor),
                request: Some(request),
                resource_type: Some("Flag"),
                resource_id: Some(flag_id.to_string()),
                ..Event::new("flag.acknowledge", json!({}))
            };
            audit::record(conn, tenant_id, now, event)?;
        }
        Ok(done)
    })
}

/// As a JSON object for the admin API.
pub fn to_json(row: &FlagRow) -> Value {
    use crate::store::from_stored;
    json!({
        "id": row.id,
        "kind": row.kind,
        "severity": row.severity,
        "subject": row.subject,
        "details": serde_json::from_str::<Value>(&row.details).unwrap_or(Value::Null),
        "raised": from_stored(row.raised),
        "last_seen": from_stored(row.last_seen),
        "occurrences": row.occurrences,
        "acknowledged": row.acknowledged.map(from_stored),
        "acknowledged_by": row.acknowledged_by,
    })
}

/// How often, at most, a burst that goes on writes its open flag row: every deactivation
/// past the threshold is a repeat, and one write per repeat would make every deactivation of
/// the tenant update the same row (one more statement each, and on Postgres a dead row
/// version each until vacuum). Repeats in between are counted here and added at the next write.
const FLAG_WRITE_INTERVAL: Duration = Duration::seconds(1);

/// Counts deprovisioning steps per tenant over a sliding window, in this process.
#[derive(Debug)]
pub struct BurstWatch {
    threshold: usize,
    window: Duration,
    seen: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
    /// Per tenant: when its burst flag row was last written, and repeats not written since.
    written: Mutex<HashMap<String, FlagWrite>>,
}

#[derive(Debug, Clone, Copy)]
struct FlagWrite {
    at: DateTime<Utc>,
    unwritten: i64,
}

impl BurstWatch {
    /// `threshold` 0 turns the check off.
    pub fn new(threshold: usize, window: Duration) -> Self {
        Self {
            threshold,
            window,
            seen: Mutex::default(),
            written: Mutex::default(),
        }
    }

    /// What the window would hold with `steps` more deactivations or membership removals in
    /// the tenant now: `Some(count)` when that passes the threshold. Changes nothing, so a
    /// write can decide on its flag inside its transaction and `record` only once it commits.
    pub fn peek(&self, tenant_id: &str, steps: usize, now: DateTime<Utc>) -> Option<usize> {
        if self.threshold == 0 || steps == 0 {
            return None;
        }
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let recent = seen.get(tenant_id).map_or(0, |times| {
            times.iter().filter(|t| **t + self.window > now).count()
        });
        let count = (recent + steps).min(self.threshold + 1);
        (count > self.threshold).then_some(count)
    }

    /// Counts `steps` committed deactivations or membership removals in the tenant now.
    pub fn record(&self, tenant_id: &str, steps: usize, now: DateTime<Utc>) {
        if self.threshold == 0 || steps == 0 {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let times = seen.entry(tenant_id.to_string()).or_default();
        while times.front().is_some_and(|t| *t + self.window <= now) {
            times.pop_front();
        }
        // Keep at most threshold + 1 entries: enough to know the threshold is passed.
        for _ in 0..steps.min(self.threshold + 1) {
            times.push_back(now);
        }
        while times.len() > self.threshold + 1 {
            times.pop_front();
        }
    }

    /// `peek` then `record`, for one step that is already committed.
    pub fn count(&self, tenant_id: &str, steps: usize, now: DateTime<Utc>) -> Option<usize> {
        let passed = self.peek(tenant_id, steps, now);
        self.record(tenant_id, steps, now);
        passed
    }

    /// Whether a burst repeat now should write the tenant's flag row, and if so how many
    /// occurrences to add (this one and those counted since the last write); `None`: count
    /// it with `flag_deferred` once its write commits.
    pub fn flag_due(&self, tenant_id: &str, now: DateTime<Utc>) -> Option<i64> {
        let written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        match written.get(tenant_id) {
            Some(last) if last.at <= now && now < last.at + FLAG_WRITE_INTERVAL => None,
            Some(last) => Some(1 + last.unwritten),
            None => Some(1),
        }
    }

    /// The flag row was written with `occurrences` (from `flag_due`) by a write that committed.
    pub fn flag_written(&self, tenant_id: &str, occurrences: i64, now: DateTime<Utc>) {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let entry = written.entry(tenant_id.to_string()).or_insert(FlagWrite {
            at: now,
            unwritten: 0,
        });
        entry.at = now;
        entry.unwritten = (entry.unwritten - (occurrences - 1)).max(0);
    }

    /// A repeat that committed without writing the flag row: added at the next write.
    pub fn flag_deferred(&self, tenant_id: &str) {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = written.get_mut(tenant_id) {
            entry.unwritten += 1;
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn threshold(&self) -> usize {
        self.threshold
    }
}

impl Default for BurstWatch {
    /// 100 steps in five minutes.
    fn default() -> Self {
        Self::new(100, Duration::minutes(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeking_counts_nothing() {
        let watch = BurstWatch::new(2, Duration::minutes(5));
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        for _ in 0..5 {
            assert_eq!(
                watch.peek("t", 2, t0),
                None,
                "two steps are no burst, however often asked"
            );
        }
        watch.record("t", 2, t0);
        assert_eq!(watch.peek("t", 1, t0), Some(3));
        assert_eq!(
            watch.peek("t", 1, t0 + Duration::minutes(6)),
            None,
            "the window moved on"
        );
    }

    #[test]
    fn the_flag_row_is_written_at_most_once_a_second_and_no_repeat_is_lost() {
        let watch = BurstWatch::new(3, Duration::minutes(5));
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(watch.flag_due("t", t0), Some(1), "the first repeat writes");
        assert_eq!(
            watch.flag_due("t", t0),
            Some(1),
            "until that write commits, the next one writes too"
        );
        watch.flag_written("t", 1, t0);
        assert_eq!(watch.flag_due("t", t0 + Duration::milliseconds(999)), None);
        watch.flag_deferred("t");
        watch.flag_deferred("t");
        assert_eq!(watch.flag_due("other", t0), Some(1), "tenants apart");
        let due = watch.flag_due("t", t0 + Duration::seconds(1));
        assert_eq!(due, Some(3), "this one and the two counted in memory");
        watch.flag_deferred("t");
        watch.flag_written("t", 3, t0 + Duration::seconds(1));
        assert_eq!(
            watch.flag_due("t", t0 + Duration::seconds(2)),
            Some(2),
            "a repeat counted while the write was in flight is kept"
        );
        assert_eq!(
            watch.flag_due("t", t0 - Duration::seconds(5)),
            Some(2),
            "a clock set back does not hold the row back"
        );
    }

    #[test]
    fn a_burst_is_reported_past_the_threshold_within_the_window_only() {
        let watch = BurstWatch::new(3, Duration::minutes(5));
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(watch.count("t", 2, t0), None);
        assert_eq!(watch.count("t", 1, t0 + Duration::minutes(1)), None);
        assert!(watch.count("t", 1, t0 + Duration::minutes(2)).is_some());
        assert_eq!(
            watch.count("other", 3, t0),
            None,
            "tenants are counted apart"
        );
        assert_eq!(
            watch.count("t", 1, t0 + Duration::minutes(20)),
            None,
            "the window slid"
        );
    }
}
