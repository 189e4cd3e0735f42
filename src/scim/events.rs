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
use super::evaluate::field;
use super::filter::parse_path;
use super::patch::definition;
use super::schema::{
    AttributeDef, AttributeType, Mutability, ResourceKind, ResourceSchema, Returned,
};
use crate::outbox::{self, Effect, ProvisioningOperation};
use crate::store::{Write, ssf};

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
    pub data: Option<EventData>,
    pub version: i64,
}

/// Publishes `written` in the write's transaction, caused by its audit record, when a stream
/// of the tenant asked for provisioning events (one indexed read; nothing is written otherwise).
pub(super) fn publish(
    conn: &mut Write,
    tenant_id: &str,
    cause: &str,
    now: DateTime<Utc>,
    written: Written,
) -> Result<(), ScimError> {
    if !ssf::provisioning_events_for_write(conn, tenant_id)? {
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

/// What a `full` event's `data` is made of: the resource as Scimitar stored and answers it
/// (a create), or the request as the identity provider sent it (a PUT body or a PatchOp).
pub(super) enum EventData {
    Resource(Value),
    Request(Value),
}

/// Where data comes from decides what of it may be shown: a request's read-only attributes
/// (`id`, `meta`, `groups`) were ignored by the write, so they are not the IdP's statement.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Resource,
    Request,
}

/// `data` as a `full` event may carry it, by an allow-list: only what the schema knows and
/// would return, at every depth (sub-attributes of complex attributes included). Kept: a
/// resource's known `schemas`, its known, returnable attributes (bare, behind the core URN, or
/// in a known extension), and, for a stored resource, `id` and `meta`; a PatchOp's `schemas`
/// and each operation's `op`, `path` and `value`, the value kept only when the path names a
/// known, returnable attribute (an operation on a secret keeps `op` and `path`, so a receiver
/// learns that it was set, not to what), and a path-less or blank-path value filtered like a
/// resource. Everything else (unknown keys at any depth, a request's read-only attributes,
/// write-only or never-returned attributes, a `password` anywhere) is left out.
fn without_secrets(schema: &ResourceSchema, data: EventData) -> Value {
    let (source, data) = match data {
        EventData::Resource(data) => (Source::Resource, data),
        EventData::Request(data) => (Source::Request, data),
    };
    let Some(body) = data.as_object() else {
        return Value::Null;
    };
    match field(&data, "Operations") {
        Some(Value::Array(operations)) => {
            let mut out = Map::new();
            if let Some(schemas) = field(&data, "schemas") {
                out.insert("schemas".into(), known_schemas(schema, schemas));
            }
            let kept: Vec<Value> = operations
                .iter()
                .filter(|operation| operation.is_object())
                .map(|operation| Value::Object(kept_operation(schema, operation)))
                .collect();
            out.insert("Operations".into(), Value::Array(kept));
            Value::Object(out)
        }
        Some(_) => Value::Null,
        None => Value::Object(kept_resource(schema, body, source)),
    }
}

/// The URNs of `schemas` that name this resource's schemas or the PatchOp message.
fn known_schemas(schema: &ResourceSchema, schemas: &Value) -> Value {
    let known = |urn: &str| {
        urn.eq_ignore_ascii_case(&schema.core.id)
            || schema.extension(urn).is_some()
            || urn.eq_ignore_ascii_case(super::patch::PATCH_SCHEMA)
    };
    Value::Array(
        schemas
            .as_array()
            .into_iter()
            .flatten()
            .filter(|urn| urn.as_str().is_some_and(known))
            .cloned()
            .collect(),
    )
}

fn kept_operation(schema: &ResourceSchema, operation: &Value) -> Map<String, Value> {
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
            let kept =
                match (schema.extension(path), value) {
                    // A path naming an extension as a whole takes its attributes as the value.
                    (Some(extension), Some(Value::Object(fields))) => Some(Value::Object(
                        kept_fields(&extension.attributes, fields, Source::Request),
                    )),
                    (Some(_), _) => None,
                    (None, Some(value)) => kept_at_path(schema, path, value, Source::Request),
                    (None, None) => None,
                };
            if let Some(value) = kept {
                out.insert("value".into(), value);
            }
        }
        (None, Some(Value::Object(fields))) => {
            let kept = kept_resource(schema, fields, Source::Request);
            out.insert("value".into(), Value::Object(kept));
        }
        (None, _) => {}
    }
    out
}

/// A resource body's (or a path-less value's) keys that are known and may be shown.
fn kept_resource(
    schema: &ResourceSchema,
    body: &Map<String, Value>,
    source: Source,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in body {
        if key.eq_ignore_ascii_case("schemas") {
            out.insert(key.clone(), known_schemas(schema, value));
        } else if ["id", "meta"].iter().any(|k| key.eq_ignore_ascii_case(k)) {
            if source == Source::Resource {
                out.insert(key.clone(), value.clone());
            }
        } else if let Some(extension) = schema.extension(key) {
            if let Value::Object(fields) = value {
                let kept = kept_fields(&extension.attributes, fields, source);
                out.insert(key.clone(), Value::Object(kept));
            }
        } else if key.eq_ignore_ascii_case(&schema.core.id) {
            if let Value::Object(fields) = value {
                let kept = kept_fields(&schema.core.attributes, fields, source);
                out.insert(key.clone(), Value::Object(kept));
            }
        } else if let Some(value) = kept_at_path(schema, key, value, source).filter(|_| {
            source == Source::Resource || attribute_at(schema, key).is_some_and(writable)
        }) {
            out.insert(key.clone(), value);
        }
    }
    out
}

/// The fields of a complex value (or of an extension) that are known and may be shown, each
/// filtered by its own definition.
fn kept_fields(
    attributes: &[AttributeDef],
    fields: &Map<String, Value>,
    source: Source,
) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|(key, value)| {
            let attribute = AttributeDef::find(attributes, key)?;
            let shown =
                is_returned(attribute) && (source == Source::Resource || writable(attribute));
            shown.then(|| (key.clone(), kept_value(attribute, value, source)))
        })
        .collect()
}

/// A value of `attribute`: a complex one (or each item of a multi-valued one) keeps only its
/// known sub-attributes; anything else is kept as it is.
fn kept_value(attribute: &AttributeDef, value: &Value, source: Source) -> Value {
    if attribute.kind != AttributeType::Complex || attribute.sub_attributes.is_empty() {
        return value.clone();
    }
    let roles = attribute.name.eq_ignore_ascii_case("roles");
    let one = |item: &Value| match item {
        Value::Object(fields) => {
            let mut kept = kept_fields(&attribute.sub_attributes, fields, source);
            if roles && let Some(value) = kept.get_mut("value") {
                *value = role_value(value);
            }
            Value::Object(kept)
        }
        other if roles => role_value(other),
        other => other.clone(),
    };
    match value {
        Value::Array(items) => Value::Array(items.iter().map(one).collect()),
        other => one(other),
    }
}

/// A role value as it is stored: Entra's JSON text (`{"id":…,"value":"Admin",…}` inside a
/// string) becomes its inner `value`, and any other text that opens like JSON is left out
/// (null), so nothing the IdP packed inside it leaves in an event.
fn role_value(value: &Value) -> Value {
    match value {
        Value::String(text) if text.trim_start().starts_with('{') => {
            super::direct_roles::entra_role_value(text).map_or(Value::Null, Value::String)
        }
        other => other.clone(),
    }
}

/// The value an operation at `path` (`title`, `urn:…:User:title`, `emails[type eq "work"]`,
/// `name.givenName`, `urn:…:enterprise:2.0:User:manager.value`) may show, if any. The path is
/// read as PATCH reads it (`filter::parse_path`, `patch::definition`).
fn kept_at_path(
    schema: &ResourceSchema,
    path: &str,
    value: &Value,
    source: Source,
) -> Option<Value> {
    let parsed = parse_path(path).ok()?;
    let attribute = definition(schema, &parsed)
        .ok()
        .filter(|a| is_returned(a))?;
    match &parsed.sub {
        Some(sub) => {
            let sub = AttributeDef::find(&attribute.sub_attributes, sub)?;
            is_returned(sub).then(|| value.clone())
        }
        None => Some(kept_value(attribute, value, source)),
    }
}

/// The attribute `path` names, read as PATCH reads it.
fn attribute_at<'s>(schema: &'s ResourceSchema, path: &str) -> Option<&'s AttributeDef> {
    definition(schema, &parse_path(path).ok()?).ok()
}

fn is_returned(attribute: &AttributeDef) -> bool {
    attribute.mutability != Mutability::WriteOnly && attribute.returned != Returned::Never
}

/// A request may set it (a read-only attribute in a request was ignored by the write).
fn writable(attribute: &AttributeDef) -> bool {
    attribute.mutability != Mutability::ReadOnly
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::Registry;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn scrubbed(data: Value) -> Value {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        without_secrets(
            registry.resource(ResourceKind::User),
            EventData::Request(data),
        )
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

    #[test]
    fn unknown_keys_go_at_every_depth_and_a_requests_read_only_attributes_too() {
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let put = scrubbed(json!({
            "schemas": [CORE, "urn:example:unknown"], "id": "forged", "meta": {"version": "W/\"9\""},
            "groups": [{"value": "g"}], "userName": "a",
            "name": {"givenName": "Ada", "password": "n1"},
            "emails": [{"value": "a@example.com", "type": "work", "secret": "n2"}],
            "roles": [{"value": "r", "extra": "n3"}],
            enterprise: {"manager": {"value": "m", "password": "n4"}, "department": "R&D"},
        }));
        assert_eq!(
            put,
            json!({
                "schemas": [CORE], "userName": "a", "name": {"givenName": "Ada"},
                "emails": [{"value": "a@example.com", "type": "work"}], "roles": [{"value": "r"}],
                enterprise: {"manager": {"value": "m"}, "department": "R&D"},
            })
        );
        let patch = scrubbed(json!({"schemas": [], "Operations": [
            {"op": "add", "path": "emails", "value": [{"value": "b@example.com", "hidden": "n5"}]},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "c@example.com"},
            {"op": "replace", "path": "name.password", "value": "n6"},
            {"op": "replace", "path": format!("{enterprise}:manager"), "value": {"value": "m", "x": "n7"}},
        ]}));
        assert_eq!(
            patch["Operations"][0]["value"],
            json!([{"value": "b@example.com"}])
        );
        assert_eq!(patch["Operations"][1]["value"], "c@example.com");
        assert!(patch["Operations"][2].get("value").is_none());
        assert_eq!(patch["Operations"][3]["value"], json!({"value": "m"}));
        // A stored resource keeps what Scimitar itself answers with.
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        let created = json!({"schemas": [CORE], "id": "u1", "meta": {"version": "W/\"1\""}, "userName": "a", "groups": [{"value": "g", "display": "G"}]});
        let shown = without_secrets(
            registry.resource(ResourceKind::User),
            EventData::Resource(created.clone()),
        );
        assert_eq!(shown, created);
    }

    #[test]
    fn entra_json_text_roles_show_only_their_inner_value() {
        let text = "{\"id\":\"06b\",\"value\":\"Admin\",\"password\":\"n8\"}";
        let put =
            scrubbed(json!({"roles": [{"value": text}, text, {"value": "{not json \"n9\""}]}));
        assert_eq!(
            put,
            json!({"roles": [{"value": "Admin"}, "Admin", {"value": null}]})
        );
        let patch = scrubbed(
            json!({"Operations": [{"op": "add", "path": "roles", "value": [{"value": text}]}]}),
        );
        assert_eq!(patch["Operations"][0]["value"], json!([{"value": "Admin"}]));
    }
}
