//! Preview (`Scimitar-Preview: true`): a write runs in full, cascade included, inside a
//! transaction that is then rolled back. The report is built from the audit records the write
//! would have appended, so it shows exactly what the real write would do and record.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::service::ScimService;
use crate::store::audit::{self, AuditRow};
use crate::store::{RolledBack, Store, StoreError, Write};

/// Schema URI of the preview report.
pub const PREVIEW_SCHEMA: &str = "urn:scimitar:api:messages:2.0:Preview";

/// What the writes through a previewing store would have recorded in one tenant's chain.
#[derive(Debug, Default)]
pub struct Preview {
    tenant_id: String,
    /// Where the tenant's chain stood when the write running now began.
    start: Mutex<i64>,
    records: Mutex<Vec<AuditRow>>,
}

impl Preview {
    /// A store whose writes run in full and are rolled back, and the preview that collects
    /// the records they would have appended to `tenant_id`'s chain.
    pub fn of(store: &Store, tenant_id: &str) -> (Store, Arc<Preview>) {
        let preview = Arc::new(Preview {
            tenant_id: tenant_id.to_string(),
            ..Default::default()
        });
        (store.rolled_back(preview.clone()), preview)
    }

    /// The audit records the previewed writes would have appended, in order.
    pub fn records(&self) -> Vec<AuditRow> {
        self.records
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
}

impl RolledBack for Preview {
    fn before(&self, write: &mut Write) -> Result<(), StoreError> {
        let start = audit::head(write, &self.tenant_id)?.map_or(0, |head| head.seq);
        if let Ok(mut at) = self.start.lock() {
            *at = start;
        }
        Ok(())
    }

    fn after(&self, write: &mut Write) -> Result<(), StoreError> {
        let start = self.start.lock().map_or(0, |at| *at);
        let appended = audit::chain(write, &self.tenant_id, start, i64::MAX)?;
        if let Ok(mut records) = self.records.lock() {
            records.extend(appended);
        }
        Ok(())
    }
}

impl ScimService {
    /// A service whose writes for `tenant_id` are previewed, and where their records land.
    pub fn previewing(&self, tenant_id: &str) -> (ScimService, Arc<Preview>) {
        let (store, preview) = Preview::of(&self.store, tenant_id);
        let mut service = self.clone();
        service.store = store;
        (service, preview)
    }
}

/// The report: the answer the write would have given, the changes it would record, the roles
/// gained and lost per user, and the sessions that would be revoked.
pub fn report(status: u16, resource: Option<&Value>, records: &[AuditRow]) -> Value {
    let details =
        |row: &AuditRow| serde_json::from_str::<Value>(&row.details).unwrap_or(Value::Null);
    let mut changes = Vec::new();
    let mut roles = Vec::new();
    let mut sessions = Vec::new();
    for row in records {
        match row.action.as_str() {
            "session.revoke" => {
                let details = details(row);
                sessions.push(json!({
                    "id": row.resource_id,
                    "user": details.get("user_id"),
                    "client": details.get("client_id"),
                    "roles": details.get("roles"),
                    "reason": details.get("reason"),
                }));
            }
            "user.roles_change" => {
                let details = details(row);
                roles.push(json!({
                    "user": row.resource_id,
                    "gained": details.get("gained"),
                    "lost": details.get("lost"),
                }));
            }
            _ => changes.push(json!({
                "action": row.action,
                "outcome": row.outcome,
                "resourceType": row.resource_type,
                "resourceId": row.resource_id,
                "details": details(row),
                "values": row.personal.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
            })),
        }
    }
    json!({
        "schemas": [PREVIEW_SCHEMA],
        "preview": true,
        "status": status,
        "resource": resource,
        "changes": changes,
        "roles": roles,
        "sessionsRevoked": sessions,
    })
}
