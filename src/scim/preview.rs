//! Preview (`Scimitar-Preview: true`): a write runs in full, cascade included, inside a
//! transaction that is then rolled back. The report is built from the audit records the write
//! would have appended, so it shows exactly what the real write would do and record.

use std::sync::Arc;

use serde_json::{Value, json};

use super::service::ScimService;
use crate::store::Preview;
use crate::store::audit::AuditRow;

/// Schema URI of the preview report.
pub const PREVIEW_SCHEMA: &str = "urn:scimitar:api:messages:2.0:Preview";

impl ScimService {
    /// A service whose writes for `tenant_id` are previewed, and where their records land.
    pub fn previewing(&self, tenant_id: &str) -> (ScimService, Arc<Preview>) {
        let (store, preview) = self.store.previewing(tenant_id);
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
