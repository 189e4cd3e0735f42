//! RFC 9967's provisioning events: every SCIM write to a user or a group states, in its own
//! transaction, what it did (created, patched, replaced, deleted), with the attributes it
//! set and the resource or request a `full` event carries, as an outbox event whose cause is
//! the write's audit record (the SET's `txn`). The Shared Signals transmitter turns it into
//! the events a stream asked for (`signals::ssf::provisioning_events`). A tenant none of whose
//! streams asked for one gets no such outbox rows.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::ScimError;
use super::schema::ResourceKind;
use crate::outbox::{self, Effect, ProvisioningOperation};
use crate::store::{AnyConnection, ssf};

/// What one write did to one resource.
pub(super) struct Written<'a> {
    pub kind: ResourceKind,
    pub id: &'a str,
    pub external_id: Option<&'a str>,
    pub operation: ProvisioningOperation,
    /// The attributes created or changed (a `notice` event's `attributes`).
    pub attributes: Vec<String>,
    /// The resource as created, or the PatchOp or PUT body (a `full` event's `data`).
    pub data: Option<Value>,
    pub version: i64,
}

/// Publishes `written` in the write's transaction, caused by its audit record, when a stream
/// of the tenant asked for provisioning events (one indexed read; nothing is written otherwise).
pub(super) fn publish(
    conn: &mut AnyConnection,
    tenant_id: &str,
    cause: &str,
    now: DateTime<Utc>,
    written: Written,
) -> Result<(), ScimError> {
    if !ssf::requests_provisioning_events(conn, tenant_id)? {
        return Ok(());
    }
    let effect = Effect::Provisioned {
        resource_type: match written.kind {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        },
        id: written.id.to_string(),
        external_id: written.external_id.map(String::from),
        operation: written.operation,
        attributes: written.attributes,
        data: written.data,
        version: written.version,
    };
    outbox::publish(conn, tenant_id, vec![effect], Some(cause), now)?;
    Ok(())
}

/// The operation an update's audit action names.
pub(super) fn operation_of(action: &str) -> ProvisioningOperation {
    if action.ends_with(".replace") {
        ProvisioningOperation::Put
    } else {
        ProvisioningOperation::Patch
    }
}
