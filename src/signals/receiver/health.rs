//! A receiver's health, for the admin API, `/metrics` and the console: when it last received
//! a SET, when a verification last arrived (and whether one is awaited), its last error (a
//! refused SET, a failed poll or management call: the newest), and its stream's status.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::stream_control::ManagedStream;
use crate::metrics::Gauge;
use crate::store::receivers::{self as rows, ReceiverRow};
use crate::store::{AnyConnection, StoreError, from_stored};

#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub last_event: Option<DateTime<Utc>>,
    pub last_verification: Option<DateTime<Utc>>,
    /// A verification Scimitar asked for and has not received yet: since when.
    pub verification_pending_since: Option<DateTime<Utc>>,
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// A managed stream's status (`enabled`, `paused`, `disabled`) and reason.
    pub stream_status: Option<(String, Option<String>)>,
}

fn at(time: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    time.map(from_stored)
}

/// Reads a receiver's health (two indexed reads of its receipts).
pub fn of(conn: &mut AnyConnection, row: &ReceiverRow) -> Result<Health, StoreError> {
    let rows::LastReceipts {
        last_event,
        refused,
    } = rows::last_receipts(conn, &row.id)?;
    let transmitter_error = row.last_error_at.zip(row.last_error.clone());
    let refused = refused.map(|(when, what)| {
        let what = what.unwrap_or_default();
        (when, format!("a SET was refused: {what}"))
    });
    let last_error = match (transmitter_error, refused) {
        (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    let pending = row
        .verification_state
        .as_ref()
        .and(row.verification_requested);
    Ok(Health {
        last_event: at(last_event),
        last_verification: at(row.verified),
        verification_pending_since: at(pending),
        last_error: last_error.map(|(when, what)| (from_stored(when), what)),
        stream_status: ManagedStream::of(row).map(|s| (s.status, s.reason)),
    })
}

impl Health {
    pub fn to_json(&self) -> Value {
        json!({
            "last_event": self.last_event,
            "last_verification": self.last_verification,
            "verification_pending_since": self.verification_pending_since,
            "last_error": self.last_error.as_ref().map(|(when, what)| json!({"at": when, "message": what})),
            "stream_status": self.stream_status.as_ref().map(|(status, _)| status),
            "stream_status_reason": self.stream_status.as_ref().and_then(|(_, reason)| reason.clone()),
        })
    }
}

/// Per receiver: the times of its last event, verification and error (Unix seconds; absent
/// until there is one), and whether its stream delivers (1) or not (0, managed streams only).
pub fn gauges(conn: &mut AnyConnection) -> Result<Vec<Gauge>, StoreError> {
    let mut gauges = Vec::new();
    for row in rows::all(conn)? {
        let health = of(conn, &row)?;
        let labels = vec![
            ("tenant", row.tenant_id.clone()),
            ("receiver", row.id.clone()),
        ];
        let times = [
            (
                "scimitar_ssf_receiver_last_event_timestamp_seconds",
                health.last_event,
            ),
            (
                "scimitar_ssf_receiver_last_verification_timestamp_seconds",
                health.last_verification,
            ),
            (
                "scimitar_ssf_receiver_last_error_timestamp_seconds",
                health.last_error.as_ref().map(|e| e.0),
            ),
        ];
        for (name, time) in times {
            if let Some(time) = time {
                gauges.push(Gauge {
                    name,
                    labels: labels.clone(),
                    value: time.timestamp(),
                });
            }
        }
        if let Some((status, _)) = &health.stream_status {
            gauges.push(Gauge {
                name: "scimitar_ssf_receiver_stream_enabled",
                labels,
                value: i64::from(status == "enabled" && row.enabled),
            });
        }
    }
    Ok(gauges)
}
