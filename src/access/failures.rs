//! Failed authentications, recorded in the audit log without letting a flood fill it: per
//! tenant and reason, the first failure of each minute is recorded at once, and the rest of
//! that minute are summed into one record written when the next minute's first failure
//! arrives. A bad token that matches no credential is recorded in the default tenant; a
//! revoked one in its own tenant.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::audit::{self, Event};
use crate::store::credentials as rows;
use crate::store::{Store, StoreError, tenants};

/// How long failures are summed before a new record is written.
pub const WINDOW: Duration = Duration::seconds(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The token matches no credential.
    Unknown,
    /// The token belongs to a revoked credential.
    Revoked,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Unknown => "unknown_token",
            Reason::Revoked => "revoked_credential",
        }
    }
}

#[derive(Debug)]
struct Window {
    started: DateTime<Utc>,
    /// Failures after the first, not yet recorded.
    unrecorded: u64,
}

/// The open windows of this process.
#[derive(Debug, Default)]
pub struct FailureLog {
    windows: Mutex<HashMap<(String, Reason), Window>>,
}

impl FailureLog {
    /// Records a failed authentication with `presented_hash` (the digest of the bad token).
    pub fn record(
        &self,
        store: &Store,
        presented_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (tenant_id, reason, client_id) =
            match store.read(|conn| rows::find_any_by_hash(conn, presented_hash))? {
                Some(row) => (row.tenant_id, Reason::Revoked, Some(row.id)),
                None => match store.read(|conn| tenants::find(conn, tenants::DEFAULT_TENANT))? {
                    Some(tenant) => (tenant.id, Reason::Unknown, None),
                    None => return Ok(()),
                },
            };
        let mut summary = None;
        let first = {
            let mut windows = self
                .windows
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let key = (tenant_id.clone(), reason);
            match windows.get_mut(&key) {
                Some(window) if now < window.started + WINDOW => {
                    window.unrecorded += 1;
                    false
                }
                previous => {
                    if let Some(window) = previous.filter(|w| w.unrecorded > 0) {
                        summary = Some((window.started, window.unrecorded));
                    }
                    windows.insert(
                        key,
                        Window {
                            started: now,
                            unrecorded: 0,
                        },
                    );
                    true
                }
            }
        };
        if !first {
            return Ok(());
        }
        store.write(|conn| {
            if let Some((started, count)) = summary {
                let details = json!({"reason": reason.as_str(), "count": count, "window_start": started.to_rfc3339(), "window_seconds": WINDOW.num_seconds(), "summary": true});
                audit::record(conn, &tenant_id, now, Event::new("auth.failure", details))?;
            }
            let details = json!({"reason": reason.as_str(), "count": 1, "client_id": client_id});
            audit::record(conn, &tenant_id, now, Event::new("auth.failure", details)).map(|_| ())
        })
    }
}
