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

/// `data` (a resource, a PUT body or a PatchOp) as a `full` event may carry it: only what
/// the schema knows and would return. Kept: a resource's `schemas`, `id`, `meta`, `externalId` and
/// its known, returnable attributes (bare, behind the core URN, or in a known extension); a
/// PatchOp's `schemas` and each operation's `op`, `path` and `value`, the value kept only
/// when the path names a known, returnable attribute (an operation on a secret keeps `op`
/// and `path` so a receiver learns that it was set, not to what), and a path-less or
/// blank-path value (read, like the parser reads it, as a path-less one) kept as a resource.
/// Everything else (unknown keys, write-only or never-returned attributes, a `password`
/// anywhere) is left out: an allow-list, so a form nobody thought of leaks nothing.
fn without_secrets(schema: &ResourceSchema, data: Value) -> Value {
    let Value::Object(body) = data else {
        return Value::Null;
    };
    let operations = body
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("Operations"))
        .map(|(_, value)| value.clone());
    match operations {
        Some(Value::Array(operations)) => {
            let mut out = Map::new();
            if let Some(schemas) = field(&body, "schemas") {
                out.insert("schemas".into(), schemas.clone());
            }
            let kept: Vec<Value> = operations
                .iter()
                .filter_map(Value::as_object)
                .map(|operation| Value::Object(kept_operation(schema, operation)))
                .collect();
            out.insert("Operations".into(), Value::Array(kept));
            Value::Object(out)
        }
        Some(_) => Value::Null,
        None => Value::Object(kept_resource(schema, &body)),
    }
}

fn field<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

fn kept_operation(schema: &ResourceSchema, operation: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(op) = field(operation, "op") {
        out.insert("op".into(), op.clone());
    }
    let path = field(operation, "path")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let value = field(operation, "value");
    match (path, value) {
        (Some(path), value) => {
            out.insert("path".into(), Value::String(path.to_string()));
            let kept = match (schema.extension(path), value) {
                // A path naming an extension as a whole takes its attributes as the value.
                (Some(extension), Some(Value::Object(fields))) => {
                    Some(Value::Object(kept_fields(&extension.attributes, fields)))
                }
                (Some(_), _) => None,
                (None, value) => value.filter(|_| path_is_returned(schema, path)).cloned(),
            };
            if let Some(value) = kept {
                out.insert("value".into(), value);
            }
        }
        (None, Some(Value::Object(fields))) => {
            out.insert("value".into(), Value::Object(kept_resource(schema, fields)));
        }
        (None, _) => {}
    }
    out
}

/// A resource body's (or a path-less value's) keys that are known and returned.
fn kept_resource(schema: &ResourceSchema, body: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in body {
        if ["schemas", "id", "meta"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k))
        {
            out.insert(key.clone(), value.clone());
        } else if let Some(extension) = schema.extension(key) {
            if let Value::Object(fields) = value {
                out.insert(
                    key.clone(),
                    Value::Object(kept_fields(&extension.attributes, fields)),
                );
            }
        } else if key.eq_ignore_ascii_case(&schema.core.id) {
            if let Value::Object(fields) = value {
                out.insert(
                    key.clone(),
                    Value::Object(kept_fields(&schema.core.attributes, fields)),
                );
            }
        } else if path_is_returned(schema, key) {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

fn kept_fields(attributes: &[AttributeDef], fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter(|(key, _)| AttributeDef::find(attributes, key).is_some_and(is_returned))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Whether `path` (`title`, `urn:…:User:title`, `urn:…:enterprise:2.0:User:x.y`, with any
/// sub-attribute or filter) names a known attribute whose value may be shown.
fn path_is_returned(schema: &ResourceSchema, path: &str) -> bool {
    let (attributes, rest): (Vec<&AttributeDef>, &str) =
        if let Some((extension, rest)) = schema.split_extension_path(path) {
            (extension.attributes.iter().collect(), rest)
        } else if let Some(rest) = strip_urn(&schema.core, path) {
            (schema.core.attributes.iter().collect(), rest)
        } else {
            (
                schema
                    .common
                    .iter()
                    .chain(&schema.core.attributes)
                    .collect(),
                path,
            )
        };
    let name = rest.split(['[', '.']).next().unwrap_or(rest).trim();
    attributes
        .into_iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .is_some_and(is_returned)
}

fn strip_urn<'p>(schema: &Schema, path: &'p str) -> Option<&'p str> {
    let prefix = path.get(..schema.id.len())?;
    let rest = path.get(schema.id.len()..)?;
    prefix
        .eq_ignore_ascii_case(&schema.id)
        .then_some(rest)?
        .strip_prefix(':')
}

fn is_returned(attribute: &AttributeDef) -> bool {
    attribute.mutability != Mutability::WriteOnly && attribute.returned != Returned::Never
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
            json!({"userName": "a", "Password": "p1", CORE: {"password": "p2", "nickName": "n"}, "stray": "s"}),
        );
        assert_eq!(put, json!({"userName": "a", CORE: {"nickName": "n"}}));
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let patch = scrubbed(json!({"schemas": [], "extra": "x", "Operations": [
            {"op": "replace", "path": "password", "value": "p3"},
            {"op": "Replace", "Path": format!("{CORE}:PASSWORD"), "Value": "p4", "note": "n"},
            {"op": "add", "value": {"password": "p5", "displayName": "d", CORE: {"password": "p6"}}},
            {"op": "replace", "path": "displayName", "value": "kept"},
            {"op": "replace", "path": "", "value": {"password": "p7", "title": "t"}},
            {"op": "replace", "path": "  ", "value": {format!("{CORE}:password"): "p8"}},
            {"op": "replace", "path": enterprise, "value": {"password": "p9", "department": "R&D"}},
            {"op": "replace", "value": {enterprise: {"password": "p10", "department": "R&D"}}},
            {"op": "replace", "path": "unknownThing", "value": "p11"},
        ]}));
        let text = patch.to_string();
        for secret in [
            "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "extra", "note",
        ] {
            assert!(
                !text.contains(&format!("\"{secret}\"")),
                "{secret} in {text}"
            );
        }
        assert_eq!(
            patch["Operations"][0],
            json!({"op": "replace", "path": "password"})
        );
        assert_eq!(patch["Operations"][2]["value"]["displayName"], "d");
        assert_eq!(patch["Operations"][3]["value"], "kept");
        assert_eq!(
            patch["Operations"][4],
            json!({"op": "replace", "value": {"title": "t"}})
        );
        assert_eq!(
            patch["Operations"][6]["value"],
            json!({"department": "R&D"})
        );
        assert_eq!(
            patch["Operations"][7]["value"],
            json!({enterprise: {"department": "R&D"}})
        );
        assert!(scrubbed(json!("not an object")).is_null());
    }
}
