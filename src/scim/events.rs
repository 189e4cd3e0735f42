//! RFC 9967's provisioning events: every SCIM write to a user or a group states, in its own
//! transaction, what it did (created, patched, replaced, deleted), with the attributes it
//! set and the resource or request a `full` event carries, as an outbox event whose cause is
//! the write's audit record (the SET's `txn`). The Shared Signals transmitter turns it into
//! the events a stream asked for (`signals::ssf::provisioning_events`). A tenant none of whose
//! streams asked for one gets no such outbox rows. A `full` event's data never carries what
//! the schema says is never returned (a `password`): it is taken out here, before the outbox
//! row is written, whatever path the write came by (POST, PUT, PATCH, Bulk).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{AttributeDef, Mutability, ResourceKind, ResourceSchema, Returned, Schema};
use crate::outbox::{self, Effect, ProvisioningOperation};
use crate::store::{AnyConnection, ssf};

/// What one write did to one resource.
pub(super) struct Written<'a> {
    /// The resource type's schemas, which say what data must not leave.
    pub schema: &'a ResourceSchema,
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
        resource_type: match written.schema.kind {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        },
        id: written.id.to_string(),
        external_id: written.external_id.map(String::from),
        operation: written.operation,
        attributes: written.attributes,
        data: written
            .data
            .map(|data| without_secrets(written.schema, data)),
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

/// `data` (a resource, a PUT body or a PatchOp) without the attributes that are write-only or
/// never returned, at any place a request may name them: a top-level key (bare or behind the
/// core schema's URN), an extension's key, a PatchOp path (its value is dropped, the path
/// kept, so a receiver learns that it was set but not to what) or a path-less value.
fn without_secrets(schema: &ResourceSchema, mut data: Value) -> Value {
    let Some(body) = data.as_object_mut() else {
        return data;
    };
    let operations = body
        .iter_mut()
        .find(|(key, _)| key.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, value)| value.as_array_mut());
    match operations {
        Some(operations) => {
            for operation in operations.iter_mut().filter_map(Value::as_object_mut) {
                scrub_operation(schema, operation);
            }
        }
        None => scrub_resource(schema, body),
    }
    data
}

fn scrub_operation(schema: &ResourceSchema, operation: &mut Map<String, Value>) {
    let path = operation
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("path"))
        .and_then(|(_, value)| value.as_str())
        .map(String::from);
    match path {
        Some(path) if names_secret(schema, &path) => {
            operation.retain(|key, _| !key.eq_ignore_ascii_case("value"));
        }
        Some(path) => {
            // A path naming an extension as a whole (`urn:…:enterprise:2.0:User`) takes its
            // attributes as the value.
            if let Some(extension) = schema.extension(&path)
                && let Some(Value::Object(value)) = value_of(operation)
            {
                scrub_keys(&extension.attributes, value);
            }
        }
        None => {
            if let Some(Value::Object(value)) = value_of(operation) {
                scrub_resource(schema, value);
            }
        }
    }
}

fn value_of(operation: &mut Map<String, Value>) -> Option<&mut Value> {
    operation
        .iter_mut()
        .find(|(key, _)| key.eq_ignore_ascii_case("value"))
        .map(|(_, value)| value)
}

/// A resource's (or a path-less value's) keys: its own, its core URN's and its extensions'.
fn scrub_resource(schema: &ResourceSchema, body: &mut Map<String, Value>) {
    body.retain(|key, _| !names_secret(schema, key));
    for (key, value) in body.iter_mut() {
        let Value::Object(fields) = value else {
            continue;
        };
        if let Some(extension) = schema.extension(key) {
            scrub_keys(&extension.attributes, fields);
        } else if key.eq_ignore_ascii_case(&schema.core.id) {
            scrub_keys(&schema.core.attributes, fields);
        }
    }
}

fn scrub_keys(attributes: &[AttributeDef], fields: &mut Map<String, Value>) {
    fields.retain(|key, _| !AttributeDef::find(attributes, key).is_some_and(is_secret));
}

/// Whether `path` (`password`, `urn:…:User:password`, `urn:…:enterprise:2.0:User:x.y`, with
/// any sub-attribute or filter) names a secret attribute.
fn names_secret(schema: &ResourceSchema, path: &str) -> bool {
    let (attributes, rest): (&[AttributeDef], &str) =
        if let Some((extension, rest)) = schema.split_extension_path(path) {
            (&extension.attributes, rest)
        } else if let Some(rest) = strip_urn(&schema.core, path) {
            (&schema.core.attributes, rest)
        } else {
            (&schema.core.attributes, path)
        };
    let name = rest.split(['[', '.']).next().unwrap_or(rest).trim();
    AttributeDef::find(attributes, name).is_some_and(is_secret)
}

fn strip_urn<'p>(schema: &Schema, path: &'p str) -> Option<&'p str> {
    let prefix = path.get(..schema.id.len())?;
    let rest = path.get(schema.id.len()..)?;
    prefix
        .eq_ignore_ascii_case(&schema.id)
        .then_some(rest)?
        .strip_prefix(':')
}

fn is_secret(attribute: &AttributeDef) -> bool {
    attribute.mutability == Mutability::WriteOnly || attribute.returned == Returned::Never
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::Registry;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn scrubbed(data: Value) -> Value {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        without_secrets(registry.resource(ResourceKind::User), data)
    }

    #[test]
    fn a_password_leaves_no_body_in_any_shape() {
        let put = scrubbed(
            json!({"userName": "a", "Password": "p1", CORE: {"password": "p2", "nickName": "n"}}),
        );
        assert_eq!(put, json!({"userName": "a", CORE: {"nickName": "n"}}));
        let patch = scrubbed(json!({"schemas": [], "Operations": [
            {"op": "replace", "path": "password", "value": "p3"},
            {"op": "Replace", "Path": format!("{CORE}:PASSWORD"), "Value": "p4"},
            {"op": "add", "value": {"password": "p5", "displayName": "d", CORE: {"password": "p6"}}},
            {"op": "replace", "path": "displayName", "value": "kept"},
        ]}));
        let text = patch.to_string();
        for secret in ["p3", "p4", "p5", "p6"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(
            patch["Operations"][0],
            json!({"op": "replace", "path": "password"})
        );
        assert_eq!(patch["Operations"][2]["value"]["displayName"], "d");
        assert_eq!(patch["Operations"][3]["value"], "kept");
    }
}
