//! Reading the log: records as JSON, filtered pages with a cursor, a record with the chain of
//! records that caused it, and the OCSF mapping for SIEMs. Reads are not themselves recorded;
//! exports are (see `cli`).

use chrono::SecondsFormat;
use serde_json::{Value, json};

use crate::store::audit::{self as rows, AuditQuery, AuditRow};
use crate::store::{Store, StoreError};

/// Largest page of records an API read returns.
pub const MAX_PAGE: i64 = 1000;
/// How far a cause chain is followed; a chain never loops, this only bounds the work.
const MAX_CAUSE_DEPTH: usize = 32;

/// A record as the admin API and the JSON Lines export show it.
pub fn to_json(row: &AuditRow) -> Value {
    let parse =
        |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::String(text.to_string()));
    json!({
        "id": row.id,
        "seq": row.seq,
        "tenant": row.tenant_id,
        "occurred": row.occurred.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true),
        "action": row.action,
        "actor": row.actor_id.as_ref().map(|id| json!({"client_id": id, "name": row.actor_name})),
        "request": row.request_id.as_ref().map(|id| json!({"id": id, "method": row.method, "path": row.path})),
        "resource": row.resource_id.as_ref().map(|id| json!({"type": row.resource_type, "id": id})),
        "outcome": row.outcome,
        "cause": row.cause,
        "details": parse(&row.details),
        "personal": row.personal.as_deref().map(parse),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    })
}

/// One page of records and the cursor of the next, if any.
pub fn page(
    store: &Store,
    tenant_id: &str,
    query: &AuditQuery,
) -> Result<(Vec<Value>, Option<String>), StoreError> {
    let limit = query.limit.clamp(1, MAX_PAGE);
    let mut rows = store.read(|conn| {
        rows::query(
            conn,
            tenant_id,
            &AuditQuery {
                limit: limit + 1,
                ..query.clone()
            },
        )
    })?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok((rows.iter().map(to_json).collect(), next))
}

/// A record with the records that caused it, nearest first.
pub fn with_causes(store: &Store, tenant_id: &str, id: &str) -> Result<Option<Value>, StoreError> {
    store.read(|conn| {
        let Some(row) = rows::get(conn, tenant_id, id)? else {
            return Ok(None);
        };
        let mut causes = Vec::new();
        let mut next = row.cause.clone();
        while let Some(cause) = next {
            if causes.len() >= MAX_CAUSE_DEPTH {
                break;
            }
            let Some(parent) = rows::get(conn, tenant_id, &cause)? else {
                break;
            };
            next = parent.cause.clone();
            causes.push(to_json(&parent));
        }
        let mut record = to_json(&row);
        record["cause_chain"] = Value::Array(causes);
        Ok(Some(record))
    })
}

/// The record as an OCSF 1.x event: Account Change (3001) for users, Group Management (3006)
/// for groups, Authentication (3002) for a credential's first use, API Activity (6003) for
/// the rest. Scimitar's own fields (details, hashes) travel in `unmapped`.
pub fn to_ocsf(row: &AuditRow) -> Value {
    let (class_uid, class_name, category_uid) = match row.action.split('.').next() {
        Some("user") => (3001, "Account Change", 3),
        Some("group") => (3006, "Group Management", 3),
        _ if row.action == "credential.first_use" => (3002, "Authentication", 3),
        _ => (6003, "API Activity", 6),
    };
    let activity_id = match row.action.rsplit('.').next() {
        Some("create") => 1,
        Some("replace" | "patch") => 3,
        Some("delete" | "revoke") => 4,
        _ => 99,
    };
    let time = row.occurred.and_utc().timestamp_millis();
    json!({
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "activity_id": activity_id,
        "type_uid": class_uid * 100 + activity_id,
        "severity_id": 1,
        "status_id": if row.outcome == "success" { 1 } else { 2 },
        "time": time,
        "metadata": {"product": {"name": "Scimitar", "vendor_name": "Scimitar"}, "version": "1.5.0", "uid": row.id, "sequence": row.seq},
        "actor": {"user": {"uid": row.actor_id, "name": row.actor_name}},
        "api": {"operation": row.action, "request": {"uid": row.request_id}},
        "http_request": {"http_method": row.method, "url": {"path": row.path}},
        "resources": [{"type": row.resource_type, "uid": row.resource_id}],
        "unmapped": {
            "tenant": row.tenant_id,
            "cause": row.cause,
            "details": serde_json::from_str::<Value>(&row.details).unwrap_or(Value::Null),
            "hash": row.hash,
            "prev_hash": row.prev_hash,
        },
    })
}
