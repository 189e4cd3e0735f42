//! Audit records and previews as the pages show them: a record with the chain of records that
//! caused it, a person's trail, and the sessions a preview report says would end. Everything
//! is read through `audit::reading`, the admin API's reader.

use std::collections::HashMap;

use serde_json::Value;

use super::view;
use crate::audit::reading;
use crate::store::audit::AuditQuery;
use crate::store::{Store, StoreError};

/// A record that caused another, as a link.
pub struct CauseLink {
    pub id: String,
    pub action: String,
    pub actor: String,
    pub when: String,
}

/// One audit record as a row.
pub struct TrailEntry {
    pub id: String,
    pub seq: i64,
    pub when: String,
    pub action: String,
    pub actor: String,
    pub resource: String,
    pub outcome: String,
    pub summary: String,
    /// Nearest cause first.
    pub causes: Vec<CauseLink>,
}

impl TrailEntry {
    pub fn failed(&self) -> bool {
        self.outcome != "success"
    }
}

/// A record as `reading::to_json` (or `with_causes`) gives it.
pub fn entry(record: &Value) -> TrailEntry {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let actor = |r: &Value| match r["actor"]["name"].as_str() {
        Some(name) => name.to_string(),
        None => "(system)".into(),
    };
    let mut summary = match &record["details"] {
        Value::Object(map) if map.is_empty() => String::new(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if summary.chars().count() > 180 {
        summary = summary.chars().take(180).chain("…".chars()).collect();
    }
    let resource = match (
        record["resource"]["type"].as_str(),
        record["resource"]["id"].as_str(),
    ) {
        (Some(kind), Some(id)) => format!("{kind} {id}"),
        (None, Some(id)) => id.to_string(),
        _ => String::new(),
    };
    TrailEntry {
        id: text(&record["id"]),
        seq: record["seq"].as_i64().unwrap_or_default(),
        when: view::when_text(&text(&record["occurred"])),
        action: text(&record["action"]),
        actor: actor(record),
        resource,
        outcome: text(&record["outcome"]),
        summary,
        causes: record["cause_chain"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|cause| CauseLink {
                id: text(&cause["id"]),
                action: text(&cause["action"]),
                actor: actor(cause),
                when: view::when_text(&text(&cause["occurred"])),
            })
            .collect(),
    }
}

/// The newest `limit` records about `resource_id` (a person), each with its cause chain.
pub fn trail(
    store: &Store,
    tenant_id: &str,
    resource_id: &str,
    limit: i64,
) -> Result<Vec<TrailEntry>, StoreError> {
    let query = AuditQuery {
        resource_id: Some(resource_id.to_string()),
        newest_first: true,
        limit,
        ..AuditQuery::default()
    };
    let (records, _) = reading::page(store, tenant_id, &query)?;
    with_chains(store, tenant_id, &records)
}

/// Rows for `records`, with the cause chain of those that have a cause (bounded per record).
pub fn with_chains(
    store: &Store,
    tenant_id: &str,
    records: &[Value],
) -> Result<Vec<TrailEntry>, StoreError> {
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let id = record["id"].as_str().unwrap_or_default();
        let full = match record["cause"] {
            Value::String(_) => reading::with_causes(store, tenant_id, id)?,
            _ => None,
        };
        rows.push(entry(full.as_ref().unwrap_or(record)));
    }
    Ok(rows)
}

/// (session, app, roles) of each session a preview report would revoke.
pub fn sessions_in(
    report: &Value,
    apps: &HashMap<String, String>,
) -> Vec<(String, String, String)> {
    report["sessionsRevoked"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let client = s["client"].as_str().unwrap_or_default().to_string();
            let roles = s["roles"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let id = s["id"].as_str().unwrap_or_default().to_string();
            (id, apps.get(&client).cloned().unwrap_or(client), roles)
        })
        .collect()
}

/// An id as one path segment of a link.
pub fn path_segment(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '.' | '~' => c.to_string(),
            other => {
                let mut buffer = [0u8; 4];
                other
                    .encode_utf8(&mut buffer)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}
