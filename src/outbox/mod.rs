//! The transactional outbox: every effect of a change on access (a session ended, a user
//! disabled, a role lost), written in the change's own transaction and numbered per tenant,
//! so it commits with the change or not at all. It sits below `access`, which publishes into
//! it, and above `store` and `audit`; the `signals` layer reads it after commit.
//!
//! - `publish` (here): effects into the outbox. `flags`: flagged activity (bursts, quick
//!   reactivations), raised in the same transaction. `doorbell`: wakes readers after commit.

pub mod doorbell;
pub mod flags;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::store::outbox::{self as rows, OutboxRow};
use crate::store::{StoreError, Write, to_stored};

/// One effect of a change on access.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A session (and every token of it) ended.
    SessionRevoked {
        user_id: String,
        session_id: String,
        client_id: String,
        reason: &'static str,
        roles: Value,
    },
    /// A user's roles moved; `roles` is the set now held.
    RolesChanged {
        user_id: String,
        gained: Vec<String>,
        lost: Vec<String>,
        roles: Vec<String>,
    },
    /// A user deactivated or deleted: no token issued before `not_before` is valid.
    UserDisabled {
        user_id: String,
        reason: &'static str,
    },
    /// A user reactivated (old tokens stay dead).
    UserEnabled { user_id: String },
    /// A SCIM write to a user or group (RFC 9967's provisioning events): which resource, what
    /// was done (`create`, `patch`, `put`, `delete`), the attributes it set, the resource or
    /// request for the `full` form (none when there is none), and its version.
    Provisioned {
        resource_type: &'static str,
        id: String,
        external_id: Option<String>,
        operation: ProvisioningOperation,
        attributes: Vec<String>,
        data: Option<Value>,
        version: i64,
    },
    /// A Global Token Revocation is done: its caller's completion stream is told, with the
    /// subject as the caller named it (draft-parecki-oauth-global-token-revocation-06 §5).
    RevocationCompleted { stream_id: String, subject: Value },
    /// Activity flagged for a human to look at.
    FlagRaised {
        flag_id: String,
        kind: &'static str,
        severity: &'static str,
        subject: String,
    },
}

impl Effect {
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::SessionRevoked { .. } => "session.revoked",
            Effect::RolesChanged { .. } => "user.roles_changed",
            Effect::UserDisabled { .. } => "user.disabled",
            Effect::UserEnabled { .. } => "user.enabled",
            Effect::RevocationCompleted { .. } => REVOCATION_COMPLETED,
            Effect::Provisioned { operation, .. } => operation.kind(),
            Effect::FlagRaised { .. } => "flag.raised",
        }
    }
}

/// The SCIM operations of RFC 9967's provisioning events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningOperation {
    Create,
    Patch,
    Put,
    Delete,
}

impl ProvisioningOperation {
    /// The outbox kind; the feed and the live stream, which are about revocations, skip these.
    pub fn kind(self) -> &'static str {
        match self {
            ProvisioningOperation::Create => "scim.create",
            ProvisioningOperation::Patch => "scim.patch",
            ProvisioningOperation::Put => "scim.put",
            ProvisioningOperation::Delete => "scim.delete",
        }
    }
}

/// The kind of the note that a Global Token Revocation caller's stream is owed a completion.
pub const REVOCATION_COMPLETED: &str = "global_token_revocation.completed";

/// Whether an outbox kind is served on the revocation feed and the live stream, which every
/// app of the tenant reads. Provisioning events (the directory) and a GTR completion (one
/// caller's subject, owed to that caller's stream alone) are for Shared Signals streams only.
pub fn on_revocation_feed(kind: &str) -> bool {
    !kind.starts_with("scim.") && kind != REVOCATION_COMPLETED
}

/// Appends `effects` to the tenant's outbox in the caller's transaction, and rings the
/// doorbell once it commits (in this process at once; other replicas through NOTIFY).
pub fn publish(
    conn: &mut Write,
    tenant_id: &str,
    effects: Vec<Effect>,
    cause: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if effects.is_empty() {
        return Ok(());
    }
    let mut seq = rows::lock_head(conn, tenant_id)?;
    let occurred = to_stored(now);
    let rows: Vec<OutboxRow> = effects
        .into_iter()
        .map(|effect| {
            seq += 1;
            let kind = effect.kind().to_string();
            let mut row = OutboxRow {
                tenant_id: tenant_id.to_string(),
                seq,
                kind,
                user_id: None,
                session_id: None,
                jti: None,
                not_before: None,
                details: String::new(),
                cause: cause.map(String::from),
                occurred,
            };
            let details = match effect {
                Effect::SessionRevoked {
                    user_id,
                    session_id,
                    client_id,
                    reason,
                    roles,
                } => {
                    row.user_id = Some(user_id);
                    row.session_id = Some(session_id);
                    json!({"reason": reason, "client_id": client_id, "roles": roles})
                }
                Effect::RolesChanged {
                    user_id,
                    gained,
                    lost,
                    roles,
                } => {
                    row.user_id = Some(user_id);
                    json!({"gained": gained, "lost": lost, "roles": roles})
                }
                Effect::UserDisabled { user_id, reason } => {
                    row.user_id = Some(user_id);
                    row.not_before = Some(occurred);
                    json!({"reason": reason})
                }
                Effect::UserEnabled { user_id } => {
                    row.user_id = Some(user_id);
                    json!({})
                }
                Effect::RevocationCompleted { stream_id, subject } => {
                    json!({"stream": stream_id, "subject": subject})
                }
                Effect::Provisioned {
                    resource_type,
                    id,
                    external_id,
                    attributes,
                    data,
                    version,
                    ..
                } => {
                    // A user's events name the user, so streams that list subjects can filter.
                    if resource_type == "User" {
                        row.user_id = Some(id.clone());
                    }
                    json!({"resource_type": resource_type, "id": id, "external_id": external_id,
                           "attributes": attributes, "data": data, "version": version})
                }
                Effect::FlagRaised {
                    flag_id,
                    kind,
                    severity,
                    subject,
                } => {
                    json!({"flag": flag_id, "kind": kind, "severity": severity, "subject": subject})
                }
            };
            row.details = details.to_string();
            row
        })
        .collect();
    rows::append_all(conn, &rows)?;
    conn.ring_after_commit();
    Ok(())
}
