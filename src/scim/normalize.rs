//! Turns what an identity provider sends into what Scimitar stores: attribute names in their
//! canonical case, values checked against the schema and converted where the intent is clear
//! (`"False"` for a boolean, a bare id for a complex `manager`), read-only attributes dropped,
//! unknown attributes ignored (RFC 7644 §3.3 lets a provider ignore what it does not define).

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value};

use super::error::ScimError;
use super::identifiers::check_identifiers;
use super::quirks::{Quirks, Rule};
use super::schema::{
    AttributeDef, AttributeType, Mutability, ResourceKind, ResourceSchema, Schema,
};

pub use crate::text::fold;

/// Keys that a client may send but never sets.
const SERVER_KEYS: [&str; 3] = ["schemas", "id", "meta"];

/// A resource as it will be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// Core and common attributes by canonical name; extension attributes under their URN.
    pub attributes: Map<String, Value>,
    /// A write-only attribute (`password`) was supplied; its value is not kept.
    pub write_only_supplied: bool,
}

pub fn normalize(
    resource: &ResourceSchema,
    input: &Value,
    quirks: &Quirks,
) -> Result<Normalized, ScimError> {
    let Some(object) = input.as_object() else {
        return Err(ScimError::InvalidSyntax(
            "the request body must be a JSON object".into(),
        ));
    };
    check_schemas(object.get("schemas"))?;
    let mut out = Normalized {
        attributes: Map::new(),
        write_only_supplied: false,
    };
    for (key, value) in object {
        if SERVER_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        if value.is_null() {
            quirks.tolerate(Rule::IdpNullValues)?;
            continue;
        }
        if resource.kind == ResourceKind::User && key.eq_ignore_ascii_case("groups") {
            quirks.tolerate(Rule::OktaPutIgnoresGroups)?;
        }
        if let Some(extension) = resource.extension(key) {
            let Value::Object(fields) = value else {
                return Err(ScimError::InvalidSyntax(format!(
                    "`{}` must be an object",
                    extension.id
                )));
            };
            for (name, value) in fields {
                put_extension_attribute(&mut out, extension, name, value, quirks)?;
            }
        } else if let Some((extension, name)) = resource.split_extension_path(key) {
            put_extension_attribute(&mut out, extension, name, value, quirks)?;
        } else if let Some(attribute) = resource.attribute(key) {
            put_attribute(
                &mut out.attributes,
                &mut out.write_only_supplied,
                attribute,
                value,
                &attribute.name,
                quirks,
            )?;
        }
    }
    for attribute in resource
        .common
        .iter()
        .chain(&resource.core.attributes)
        .filter(|a| a.required)
    {
        let present = match out.attributes.get(&attribute.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
            None => false,
        };
        if !present {
            return Err(ScimError::InvalidValue(format!(
                "`{}` is required",
                attribute.name
            )));
        }
    }
    check_identifiers(resource.kind, &out.attributes)?;
    Ok(out)
}

/// An `immutable` attribute may be set once and never changed (RFC 7643 §7): compares a
/// resource's stored attributes with their replacement.
pub fn check_immutable(
    resource: &ResourceSchema,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Result<(), ScimError> {
    let changed = |attributes: &[AttributeDef],
                   old: &Map<String, Value>,
                   new: Option<&Map<String, Value>>| {
        attributes
            .iter()
            .filter(|a| a.mutability == Mutability::Immutable)
            .find(|a| {
                old.get(&a.name)
                    .is_some_and(|value| new.and_then(|n| n.get(&a.name)) != Some(value))
            })
            .map(|a| ScimError::Mutability(format!("`{}` is immutable once set", a.name)))
    };
    let core = resource
        .common
        .iter()
        .chain(&resource.core.attributes)
        .cloned()
        .collect::<Vec<_>>();
    if let Some(error) = changed(&core, before, Some(after)) {
        return Err(error);
    }
    for extension in &resource.extensions {
        if let Some(Value::Object(old)) = before.get(&extension.id) {
            let new = after.get(&extension.id).and_then(Value::as_object);
            if let Some(error) = changed(&extension.attributes, old, new) {
                return Err(error);
            }
        }
    }
    Ok(())
}

fn check_schemas(schemas: Option<&Value>) -> Result<(), ScimError> {
    match schemas {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(ScimError::InvalidSyntax(
            "`schemas` must be an array of schema URIs".into(),
        )),
    }
}

fn put_extension_attribute(
    out: &mut Normalized,
    extension: &Schema,
    name: &str,
    value: &Value,
    quirks: &Quirks,
) -> Result<(), ScimError> {
    let Some(attribute) = AttributeDef::find(&extension.attributes, name) else {
        return Ok(());
    };
    let path = format!("{}:{}", extension.id, attribute.name);
    let mut fields = match out.attributes.remove(&extension.id) {
        Some(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    put_attribute(
        &mut fields,
        &mut out.write_only_supplied,
        attribute,
        value,
        &path,
        quirks,
    )?;
    if !fields.is_empty() {
        out.attributes
            .insert(extension.id.clone(), Value::Object(fields));
    }
    Ok(())
}

fn put_attribute(
    into: &mut Map<String, Value>,
    write_only_supplied: &mut bool,
    attribute: &AttributeDef,
    value: &Value,
    path: &str,
    quirks: &Quirks,
) -> Result<(), ScimError> {
    match attribute.mutability {
        Mutability::ReadOnly => Ok(()),
        Mutability::WriteOnly => {
            if normalize_value(attribute, value, path, quirks)?.is_some() {
                *write_only_supplied = true;
            }
            Ok(())
        }
        Mutability::ReadWrite | Mutability::Immutable => {
            if let Some(normalized) = normalize_value(attribute, value, path, quirks)? {
                into.insert(attribute.name.clone(), normalized);
            }
            Ok(())
        }
    }
}

/// The normalized value, or `None` when it amounts to no value (null, empty list or object).
fn normalize_value(
    attribute: &AttributeDef,
    value: &Value,
    path: &str,
    quirks: &Quirks,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if !attribute.multi_valued {
        return match value {
            // Entra sends `manager` as a one-element list. Only a complex value is unwrapped:
            // `[false]` for `active` is not guessed at.
            Value::Array(items) if items.len() == 1 && attribute.kind == AttributeType::Complex => {
                quirks.tolerate(Rule::EntraManagerBareId)?;
                normalize_single(attribute, &items[0], path, quirks)
            }
            Value::Array(_) => Err(ScimError::InvalidValue(format!(
                "`{path}` takes a single value, not a list"
            ))),
            single => normalize_single(attribute, single, path, quirks),
        };
    }
    let parsed = unwrap_json_text(attribute, value, quirks)?;
    let value = parsed.as_ref().unwrap_or(value);
    let mut values = Vec::new();
    for item in each_item(value) {
        if let Some(normalized) = normalize_single(attribute, item, path, quirks)? {
            values.push(normalized);
        }
    }
    keep_one_primary(&mut values);
    Ok(if values.is_empty() {
        None
    } else {
        Some(Value::Array(values))
    })
}

/// The values a write names for a multi-valued attribute, each normalized: a list, or a
/// single value read as a list of one (as a PUT reads it). A value that amounts to nothing
/// (`{}`, `null` in a list, an item without the `value` that identifies it) is refused rather than
/// dropped, so that a PATCH naming values never becomes a silent no-op, or a `replace` that
/// empties the attribute. Only an explicit `[]` names no values.
pub(super) fn listed_values(
    attribute: &AttributeDef,
    value: &Value,
    path: &str,
    quirks: &Quirks,
) -> Result<Vec<Value>, ScimError> {
    let parsed = unwrap_json_text(attribute, value, quirks)?;
    let value = parsed.as_ref().unwrap_or(value);
    let mut values = Vec::new();
    let keyed = AttributeDef::find(&attribute.sub_attributes, "value").is_some();
    for item in each_item(value) {
        // An item is identified by its `value`: a non-empty string as sent (a number, or
        // "", names nothing and is not read as one).
        let named = !keyed || names_a_value(item);
        match normalize_single(attribute, item, path, quirks)? {
            Some(normalized) if named && (!keyed || normalized.get("value").is_some()) => {
                values.push(normalized)
            }
            _ => {
                return Err(ScimError::InvalidValue(format!(
                    "`{path}`: {item} is not a value (give a list of values, or one value)"
                )));
            }
        }
    }
    Ok(values)
}

/// Whether an item as sent names its `value` (any case of the key) with a non-empty string,
/// or is one (a bare value, read as `{"value": …}`).
pub(super) fn names_a_value(item: &Value) -> bool {
    let text = match item {
        Value::Object(fields) => fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("value"))
            .map(|(_, v)| v),
        other => Some(other),
    };
    text.and_then(Value::as_str)
        .is_some_and(|t| !t.trim().is_empty())
}

/// The items of a multi-valued attribute's value: a list's items, or a single value.
fn each_item(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    }
}

/// Entra can send a multi-valued complex attribute as JSON text inside a string: the parsed
/// value, if so.
fn unwrap_json_text(
    attribute: &AttributeDef,
    value: &Value,
    quirks: &Quirks,
) -> Result<Option<Value>, ScimError> {
    match value {
        Value::String(text)
            if attribute.kind == AttributeType::Complex
                && text.trim_start().starts_with(['[', '{']) =>
        {
            match serde_json::from_str::<Value>(text) {
                Ok(inner) => {
                    quirks.tolerate(Rule::EntraRolesAsJsonText)?;
                    Ok(Some(inner))
                }
                Err(_) => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

fn normalize_single(
    attribute: &AttributeDef,
    value: &Value,
    path: &str,
    quirks: &Quirks,
) -> Result<Option<Value>, ScimError> {
    let wrong = |expected: &str| ScimError::InvalidValue(format!("`{path}` must be {expected}"));
    let normalized = match (attribute.kind, value) {
        (_, Value::Null) => return Ok(None),
        (
            AttributeType::String | AttributeType::Reference | AttributeType::Binary,
            Value::String(s),
        ) => Value::String(s.clone()),
        (AttributeType::String, Value::Number(n)) => Value::String(n.to_string()),
        (AttributeType::Boolean, Value::Bool(b)) => Value::Bool(*b),
        (AttributeType::Boolean, Value::String(s)) => {
            quirks.tolerate(Rule::EntraStringBooleans)?;
            match s.trim().to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(wrong("a boolean")),
            }
        }
        (AttributeType::Integer, Value::Number(n)) if n.is_i64() => Value::Number(n.clone()),
        (AttributeType::Integer, Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| wrong("an integer"))?,
        (AttributeType::Decimal, Value::Number(n)) => Value::Number(n.clone()),
        (AttributeType::Decimal, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| wrong("a decimal number"))?,
        (AttributeType::DateTime, Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| Value::String(t.to_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)))
            .map_err(|_| wrong("an RFC 3339 date-time"))?,
        (AttributeType::Complex, Value::Object(fields)) => {
            // Entra's app-role assignments: the item as JSON text inside its `value`.
            if let Some(Value::String(text)) = fields.get("value")
                && text.trim_start().starts_with('{')
                && let Ok(Value::Object(inner)) = serde_json::from_str::<Value>(text)
            {
                quirks.tolerate(Rule::EntraRolesAsJsonText)?;
                let mut merged = fields.clone();
                merged.remove("value");
                merged.extend(inner);
                return normalize_complex(attribute, &merged, path, quirks);
            }
            return normalize_complex(attribute, fields, path, quirks);
        }
        // A bare value for a complex attribute with a `value` sub-attribute (Entra's `manager`).
        (AttributeType::Complex, Value::String(_))
            if AttributeDef::find(&attribute.sub_attributes, "value").is_some() =>
        {
            quirks.tolerate(Rule::EntraManagerBareId)?;
            let mut fields = Map::new();
            fields.insert("value".into(), value.clone());
            return normalize_complex(attribute, &fields, path, quirks);
        }
        (AttributeType::String | AttributeType::Reference | AttributeType::Binary, _) => {
            return Err(wrong("a string"));
        }
        (AttributeType::Boolean, _) => return Err(wrong("a boolean")),
        (AttributeType::Integer, _) => return Err(wrong("an integer")),
        (AttributeType::Decimal, _) => return Err(wrong("a decimal number")),
        (AttributeType::DateTime, _) => return Err(wrong("an RFC 3339 date-time string")),
        (AttributeType::Complex, _) => return Err(wrong("an object")),
    };
    Ok(Some(normalized))
}

fn normalize_complex(
    attribute: &AttributeDef,
    fields: &Map<String, Value>,
    path: &str,
    quirks: &Quirks,
) -> Result<Option<Value>, ScimError> {
    let mut out = Map::new();
    let mut ignored = false;
    for (name, value) in fields {
        let Some(sub) = AttributeDef::find(&attribute.sub_attributes, name) else {
            continue;
        };
        let sub_path = format!("{path}.{}", sub.name);
        put_attribute(&mut out, &mut ignored, sub, value, &sub_path, quirks)?;
    }
    if out.is_empty() {
        return Ok(None);
    }
    if let Some(missing) = attribute
        .sub_attributes
        .iter()
        .find(|s| s.required && !out.contains_key(&s.name))
    {
        return Err(ScimError::InvalidValue(format!(
            "`{path}.{}` is required",
            missing.name
        )));
    }
    Ok(Some(Value::Object(out)))
}

/// At most one value of a multi-valued attribute is primary (RFC 7643 §2.4): the first wins.
fn keep_one_primary(values: &mut [Value]) {
    let mut seen = false;
    for value in values.iter_mut() {
        if let Some(primary) = value.get_mut("primary")
            && *primary == Value::Bool(true)
        {
            if seen {
                *primary = Value::Bool(false);
            }
            seen = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, Registry, ResourceKind};

    fn normalize_user(input: Value) -> Result<Normalized, ScimError> {
        let registry = Registry::load().map_err(ScimError::InvalidSyntax)?;
        normalize(
            registry.resource(ResourceKind::User),
            &input,
            &Quirks::lenient(),
        )
    }

    fn attributes(input: Value) -> Value {
        match normalize_user(input) {
            Ok(n) => Value::Object(n.attributes),
            Err(e) => panic!("expected the input to be accepted: {e:?}"),
        }
    }

    #[test]
    fn folding_merges_case_and_width_variants() {
        for variant in ["alice", "ALICE", "Alice", "ＡＬＩＣＥ", "ａｌｉｃｅ"] {
            assert_eq!(fold(variant), "alice", "{variant}");
        }
        assert_eq!(fold("ΣΟΦΊΑ"), fold("σοφία"));
        assert_ne!(fold("alice"), fold("alíce"));
    }

    #[test]
    fn attribute_names_are_matched_case_insensitively_and_stored_canonically() {
        let stored = attributes(
            json!({"USERNAME": "alice", "Name": {"GivenName": "Alice"}, "EXTERNALID": "e1"}),
        );
        assert_eq!(
            stored,
            json!({"userName": "alice", "name": {"givenName": "Alice"}, "externalId": "e1"})
        );
    }

    #[test]
    fn booleans_sent_as_strings_become_booleans() {
        for (sent, stored) in [("False", false), ("TRUE", true), ("false", false)] {
            assert_eq!(
                attributes(json!({"userName": "a", "active": sent}))["active"],
                json!(stored),
                "{sent}"
            );
        }
        assert!(matches!(
            normalize_user(json!({"userName": "a", "active": "nope"})),
            Err(ScimError::InvalidValue(_))
        ));
    }

    #[test]
    fn values_of_the_wrong_type_are_invalid_values() {
        let cases = [
            json!({"userName": true}),
            json!({"userName": "a", "active": 1}),
            json!({"userName": "a", "name": "Alice"}),
            json!({"userName": "a", "emails": [{"value": {"x": 1}}]}),
            json!({"userName": "a", "displayName": ["a", "b"]}),
        ];
        for input in cases {
            assert!(
                matches!(
                    normalize_user(input.clone()),
                    Err(ScimError::InvalidValue(_))
                ),
                "{input}"
            );
        }
    }

    #[test]
    fn a_missing_or_blank_user_name_is_rejected() {
        for input in [
            json!({}),
            json!({"userName": "  "}),
            json!({"userName": null}),
        ] {
            assert!(
                matches!(
                    normalize_user(input.clone()),
                    Err(ScimError::InvalidValue(_))
                ),
                "{input}"
            );
        }
    }

    #[test]
    fn the_body_must_be_an_object_with_a_list_of_schemas() {
        assert!(matches!(
            normalize_user(json!(["userName"])),
            Err(ScimError::InvalidSyntax(_))
        ));
        assert!(matches!(
            normalize_user(json!({"schemas": "x", "userName": "a"})),
            Err(ScimError::InvalidSyntax(_))
        ));
    }

    #[test]
    fn read_only_server_and_unknown_attributes_are_not_stored() {
        let stored = attributes(json!({
            "userName": "a", "id": "chosen-by-client", "meta": {"version": "x"},
            "groups": [{"value": "g1"}], "favouriteColour": "blue",
        }));
        assert_eq!(stored, json!({"userName": "a"}));
    }

    #[test]
    fn passwords_are_noted_but_never_stored() {
        let Ok(normalized) = normalize_user(json!({"userName": "a", "password": "hunter2"})) else {
            panic!()
        };
        assert!(normalized.write_only_supplied);
        assert!(
            !Value::Object(normalized.attributes)
                .to_string()
                .contains("hunter2")
        );
    }

    #[test]
    fn nulls_and_empty_lists_mean_no_value() {
        assert_eq!(
            attributes(json!({"userName": "a", "title": null, "emails": [], "name": {}})),
            json!({"userName": "a"})
        );
    }

    #[test]
    fn enterprise_attributes_are_accepted_nested_or_as_urn_paths() {
        let nested = attributes(
            json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"Department": "R&D", "manager": "m1"}}),
        );
        let flat = attributes(json!({
            "userName": "a",
            format!("{ENTERPRISE_USER_SCHEMA}:department"): "R&D",
            format!("{ENTERPRISE_USER_SCHEMA}:manager"): {"value": "m1"},
        }));
        let expected = json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"department": "R&D", "manager": {"value": "m1"}}});
        assert_eq!(nested, expected);
        assert_eq!(flat, expected);
    }

    #[test]
    fn only_the_first_primary_value_stays_primary() {
        let stored = attributes(json!({"userName": "a", "emails": [
            {"value": "a@x", "primary": true}, {"value": "b@x", "primary": "True"}
        ]}));
        assert_eq!(stored["emails"][0]["primary"], json!(true));
        assert_eq!(stored["emails"][1]["primary"], json!(false));
    }

    #[test]
    fn date_times_are_validated_and_stored_in_utc() {
        let attribute: AttributeDef = match serde_json::from_value(json!({
            "name": "when", "type": "dateTime", "multiValued": false, "required": false, "caseExact": false,
            "mutability": "readWrite", "returned": "default", "uniqueness": "none"
        })) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            normalize_value(
                &attribute,
                &json!("2026-11-29T10:00:00+01:00"),
                "when",
                &Quirks::lenient()
            ),
            Ok(Some(json!("2026-11-29T09:00:00Z")))
        );
        assert!(
            normalize_value(&attribute, &json!("yesterday"), "when", &Quirks::lenient()).is_err()
        );
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-zA-Z0-9 :.$\\-]{0,12}".prop_map(Value::String),
            prop_oneof![Just("True"), Just("false"), Just("2026-11-29T10:00:00Z")]
                .prop_map(|s| Value::String(s.into())),
        ];
        let keys = prop_oneof![
            Just("userName".to_string()),
            Just("name".to_string()),
            Just("emails".to_string()),
            Just("active".to_string()),
            Just("value".to_string()),
            Just("primary".to_string()),
            Just("givenName".to_string()),
            Just("manager".to_string()),
            Just("schemas".to_string()),
            Just(format!("{ENTERPRISE_USER_SCHEMA}:manager")),
            Just(ENTERPRISE_USER_SCHEMA.to_string()),
            "[a-zA-Z]{1,8}",
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn an_immutable_attribute_can_be_set_once_but_not_changed() {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        let mut user = registry.resource(ResourceKind::User).clone();
        if let Some(title) = user.core.attributes.iter_mut().find(|a| a.name == "title") {
            title.mutability = Mutability::Immutable;
        }
        let map = |v: Value| v.as_object().cloned().unwrap_or_default();
        let unset = map(json!({"userName": "a"}));
        let set = map(json!({"userName": "a", "title": "T"}));
        assert_eq!(
            check_immutable(&user, &unset, &set),
            Ok(()),
            "setting it the first time"
        );
        assert_eq!(check_immutable(&user, &set, &set), Ok(()), "keeping it");
        assert!(matches!(
            check_immutable(&user, &set, &map(json!({"userName": "a", "title": "U"}))),
            Err(ScimError::Mutability(_))
        ));
        assert!(matches!(
            check_immutable(&user, &set, &unset),
            Err(ScimError::Mutability(_))
        ));
    }

    proptest! {
        /// Whatever an identity provider sends, the result is an error or a stored document
        /// that normalizes to itself.
        #[test]
        fn normalizing_never_panics_and_is_idempotent(input in arbitrary_json()) {
            if let Ok(first) = normalize_user(input) {
                let again = normalize_user(Value::Object(first.attributes.clone()));
                prop_assert_eq!(again.map(|n| n.attributes), Ok(first.attributes));
            }
        }
    }
}
