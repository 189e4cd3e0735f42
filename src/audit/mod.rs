//! The audit log: the one place where every security-relevant event is written. A record is
//! appended in the same transaction as the change it describes, so both commit or neither
//! does. Records of a tenant form a hash chain with gapless sequence numbers: editing,
//! deleting or reordering a record breaks the chain, and `verify` says where.
//!
//! Personal data (names, e-mail addresses) goes in `personal`, outside the hash, so it can be
//! erased; the hashed part commits to it through a salted digest, so an edit is detected and
//! an erasure (`erase`, itself recorded) is reported by `verify` as such. `details` (hashed)
//! holds what changed without personal values: attribute names, ids, flags.

pub mod checkpoint;
pub mod reading;
mod verify;

pub use verify::{OnProgress, Verification, verify, verify_with};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::hashing::sha256_hex;
use crate::store::audit::{self as rows, AuditRow};
use crate::store::{Store, StoreError, Write, tenants, to_stored};

/// Who caused an event: a credential.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub client_id: String,
    pub name: String,
}

/// The request that caused an event.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestInfo {
    pub id: String,
    pub method: String,
    pub path: String,
    /// When the request arrived, for the deprovisioning-latency metric.
    pub received: Option<std::time::Instant>,
}

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// What happened, as `noun.verb`: `user.create`, `group.patch`, `credential.revoke`, …
    pub action: &'static str,
    pub actor: Option<&'a Actor>,
    pub request: Option<&'a RequestInfo>,
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<String>,
    /// Id of the record of the change that caused this one (a revocation's cause).
    pub cause: Option<String>,
    /// What changed, without personal data; hashed.
    pub details: Value,
    /// Personal data of the change; erasable, not hashed.
    pub personal: Option<Value>,
    /// `success`, or `failure` for a refused request.
    pub outcome: &'static str,
}

impl<'a> Event<'a> {
    pub fn new(action: &'static str, details: Value) -> Self {
        Self {
            action,
            actor: None,
            request: None,
            resource_type: None,
            resource_id: None,
            cause: None,
            details,
            personal: None,
            outcome: "success",
        }
    }
}

/// Appends `event` to the tenant's chain in the caller's transaction; returns the record id.
pub fn record(
    conn: &mut Write,
    tenant_id: &str,
    occurred: DateTime<Utc>,
    event: Event<'_>,
) -> Result<String, StoreError> {
    let ids = record_all(conn, tenant_id, occurred, vec![event])?;
    ids.into_iter().next().ok_or(StoreError::NotFound)
}

/// Appends several events in order, locking the chain head once: a cascade that ends a
/// thousand sessions writes a thousand records without a thousand head updates.
pub fn record_all(
    conn: &mut Write,
    tenant_id: &str,
    occurred: DateTime<Utc>,
    events: Vec<Event<'_>>,
) -> Result<Vec<String>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut head = rows::lock_head(conn, tenant_id)?;
    let mut appended = Vec::with_capacity(events.len());
    for event in events {
        let mut row = AuditRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.to_string(),
            seq: head.seq + 1,
            occurred: to_stored(occurred),
            action: event.action.to_string(),
            actor_id: event.actor.map(|a| a.client_id.clone()),
            actor_name: event.actor.map(|a| a.name.clone()),
            request_id: event.request.map(|r| r.id.clone()),
            method: event.request.map(|r| r.method.clone()),
            path: event.request.map(|r| r.path.clone()),
            resource_type: event.resource_type.map(String::from),
            resource_id: event.resource_id,
            outcome: event.outcome.to_string(),
            cause: event.cause,
            details: event.details.to_string(),
            personal: None,
            personal_salt: None,
            personal_digest: None,
            prev_hash: head.hash,
            hash: String::new(),
        };
        if let Some(personal) = event.personal {
            let personal = personal.to_string();
            let salt = uuid::Uuid::new_v4().simple().to_string();
            row.personal_digest = Some(personal_digest(&salt, &personal));
            row.personal_salt = Some(salt);
            row.personal = Some(personal);
        }
        row.hash = hash(&row);
        head = rows::Head {
            seq: row.seq,
            hash: row.hash.clone(),
        };
        appended.push(row);
    }
    rows::append_all(conn, &appended)?;
    Ok(appended.into_iter().map(|row| row.id).collect())
}

/// The commitment to a record's personal data: salted, so that once data and salt are erased
/// the digest cannot be matched against guessed names or addresses.
pub fn personal_digest(salt: &str, personal: &str) -> String {
    sha256_hex(format!("{salt}\n{personal}").as_bytes())
}

/// Erases the personal data of every record of a tenant about one resource (a user's names
/// and addresses, on request), and records the erasure with the sequence numbers it covered,
/// so that `verify` tells an erasure from tampering. Returns those sequence numbers.
pub fn erase(
    store: &Store,
    tenant: &str,
    resource_id: &str,
    actor: Option<&Actor>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, AuditError> {
    let tenant_id = store
        .read(|conn| tenants::find(conn, tenant))?
        .ok_or_else(|| AuditError::UnknownTenant(tenant.to_string()))?
        .id;
    store.write(|conn| {
        let seqs = rows::erase_personal(conn, &tenant_id, resource_id)?;
        // The resource as a provisioning event carried it (RFC 9967 `full`), too.
        crate::store::outbox::erase_provisioning_data(conn, &tenant_id, resource_id)?;
        let event = Event {
            actor,
            resource_id: Some(resource_id.to_string()),
            ..Event::new(
                "audit.erase",
                serde_json::json!({"resource_id": resource_id, "seqs": seqs}),
            )
        };
        record(conn, &tenant_id, now, event)?;
        Ok::<_, AuditError>(seqs)
    })
}

/// The hashed form of a record: every column but `personal`, its salt and `hash`, in a fixed
/// order. Records written before personal data had a digest hash without the field.
#[derive(Serialize)]
struct Canonical<'a> {
    id: &'a str,
    tenant_id: &'a str,
    seq: i64,
    occurred: String,
    action: &'a str,
    actor_id: Option<&'a str>,
    actor_name: Option<&'a str>,
    request_id: Option<&'a str>,
    method: Option<&'a str>,
    path: Option<&'a str>,
    resource_type: Option<&'a str>,
    resource_id: Option<&'a str>,
    outcome: &'a str,
    cause: Option<&'a str>,
    details: &'a str,
    prev_hash: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    personal_digest: Option<&'a str>,
}

/// SHA-256 over the canonical form, which includes the previous record's hash.
pub fn hash(row: &AuditRow) -> String {
    let canonical = Canonical {
        id: &row.id,
        tenant_id: &row.tenant_id,
        seq: row.seq,
        occurred: row
            .occurred
            .and_utc()
            .to_rfc3339_opts(SecondsFormat::Micros, true),
        action: &row.action,
        actor_id: row.actor_id.as_deref(),
        actor_name: row.actor_name.as_deref(),
        request_id: row.request_id.as_deref(),
        method: row.method.as_deref(),
        path: row.path.as_deref(),
        resource_type: row.resource_type.as_deref(),
        resource_id: row.resource_id.as_deref(),
        outcome: &row.outcome,
        cause: row.cause.as_deref(),
        details: &row.details,
        prev_hash: &row.prev_hash,
        personal_digest: row.personal_digest.as_deref(),
    };
    // Serializing a struct of strings and integers cannot fail.
    sha256_hex(&serde_json::to_vec(&canonical).unwrap_or_default())
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("no tenant named or with id `{0}`")]
    UnknownTenant(String),
    #[error("signing key: {0}")]
    Key(String),
    #[error("no checkpoint covers these records: create one first (`scimitar audit checkpoint`)")]
    NoCheckpoint,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The top-level attributes that differ between two versions of a resource, with their
/// values before and after (the values are personal data; the names are not).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDiff {
    pub changed: Vec<String>,
    pub before: serde_json::Map<String, Value>,
    pub after: serde_json::Map<String, Value>,
}

pub fn diff(
    before: &serde_json::Map<String, Value>,
    after: &serde_json::Map<String, Value>,
) -> AttributeDiff {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    let mut result = AttributeDiff {
        changed: Vec::new(),
        before: Default::default(),
        after: Default::default(),
    };
    for name in names {
        let (old, new) = (before.get(name), after.get(name));
        if old != new {
            result.changed.push(name.clone());
            if let Some(old) = old {
                result.before.insert(name.clone(), old.clone());
            }
            if let Some(new) = new {
                result.after.insert(name.clone(), new.clone());
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::audit::GENESIS_HASH;

    #[test]
    fn the_diff_names_added_removed_and_changed_attributes_only() {
        let before = json!({"userName": "a", "title": "Eng", "nickName": "A"});
        let after = json!({"userName": "a", "title": "Boss", "active": false});
        let (Value::Object(before), Value::Object(after)) = (before, after) else {
            panic!()
        };
        let diff = diff(&before, &after);
        assert_eq!(diff.changed, vec!["active", "nickName", "title"]);
        assert_eq!(
            Value::Object(diff.before),
            json!({"nickName": "A", "title": "Eng"})
        );
        assert_eq!(
            Value::Object(diff.after),
            json!({"active": false, "title": "Boss"})
        );
    }

    #[test]
    fn the_hash_covers_every_field_but_personal_data() {
        let row = AuditRow {
            id: "r1".into(),
            tenant_id: "t".into(),
            seq: 1,
            occurred: chrono::DateTime::<Utc>::UNIX_EPOCH.naive_utc(),
            action: "user.create".into(),
            actor_id: Some("c".into()),
            actor_name: Some("okta".into()),
            request_id: Some("q".into()),
            method: Some("POST".into()),
            path: Some("/scim/v2/Users".into()),
            resource_type: Some("User".into()),
            resource_id: Some("u".into()),
            outcome: "success".into(),
            cause: None,
            details: "{}".into(),
            personal: Some("{\"userName\":\"alice\"}".into()),
            personal_salt: Some("salt".into()),
            personal_digest: Some(personal_digest("salt", "{\"userName\":\"alice\"}")),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        let original = hash(&row);
        let erased = AuditRow {
            personal: None,
            ..row.clone()
        };
        assert_eq!(
            hash(&erased),
            original,
            "erasing personal data keeps the hash"
        );
        for edited in [
            AuditRow {
                action: "user.delete".into(),
                ..row.clone()
            },
            AuditRow {
                seq: 2,
                ..row.clone()
            },
            AuditRow {
                details: "{\"x\":1}".into(),
                ..row.clone()
            },
            AuditRow {
                prev_hash: "f".repeat(64),
                ..row.clone()
            },
            AuditRow {
                actor_id: None,
                ..row.clone()
            },
            AuditRow {
                personal_digest: Some(personal_digest("salt", "{\"userName\":\"mallory\"}")),
                ..row.clone()
            },
        ] {
            assert_ne!(hash(&edited), original, "{edited:?}");
        }
    }
}
