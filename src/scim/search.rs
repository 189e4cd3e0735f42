//! Search documents: a resource's attributes as filters see them. Strings of attributes that
//! are not `caseExact` are folded (NFKC, lower case) and date-times are written in one fixed
//! UTC format, by the application, so a filter on any attribute compares stored JSON values
//! exactly, byte for byte, and SQLite and Postgres give the same answers.

use chrono::DateTime;
use serde_json::{Map, Value};

use super::normalize::fold;
use super::schema::{AttributeDef, AttributeType, ResourceSchema};

pub fn search_document(
    resource: &ResourceSchema,
    attributes: &Map<String, Value>,
) -> Map<String, Value> {
    attributes
        .iter()
        .map(|(key, value)| {
            let searchable = match (resource.extension(key), value) {
                (Some(extension), Value::Object(fields)) => {
                    Value::Object(fold_fields(&extension.attributes, fields))
                }
                _ => match resource.attribute(key) {
                    Some(definition) => searchable_value(definition, value),
                    None => value.clone(),
                },
            };
            (key.clone(), searchable)
        })
        .collect()
}

fn fold_fields(definitions: &[AttributeDef], fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .map(|(name, value)| {
            let searchable = match AttributeDef::find(definitions, name) {
                Some(definition) => searchable_value(definition, value),
                None => value.clone(),
            };
            (name.clone(), searchable)
        })
        .collect()
}

fn searchable_value(definition: &AttributeDef, value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| searchable_single(definition, item))
                .collect(),
        ),
        single => searchable_single(definition, single),
    }
}

fn searchable_single(definition: &AttributeDef, value: &Value) -> Value {
    match (definition.kind, value) {
        (AttributeType::Complex, Value::Object(fields)) => {
            Value::Object(fold_fields(&definition.sub_attributes, fields))
        }
        (AttributeType::DateTime, Value::String(text)) => Value::String(canonical_time(text)),
        (
            AttributeType::String | AttributeType::Reference | AttributeType::Binary,
            Value::String(text),
        ) if !definition.case_exact => Value::String(fold(text)),
        _ => value.clone(),
    }
}

/// A date-time as `YYYY-MM-DDTHH:MM:SS.ffffffZ`: fixed width, so text order is time order.
pub fn canonical_time(text: &str) -> String {
    match DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.to_utc().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, Registry, ResourceKind};

    #[test]
    fn case_insensitive_strings_fold_and_case_exact_ones_do_not() {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        let user = registry.resource(ResourceKind::User);
        let Value::Object(attributes) = json!({
            "userName": "Alice", "externalId": "AbC", "title": "CTO", "active": true,
            "emails": [{"value": "A@X.ORG", "type": "Work", "primary": true}],
            ENTERPRISE_USER_SCHEMA: {"department": "R&D", "manager": {"value": "MgrId"}},
        }) else {
            panic!()
        };
        let document = search_document(user, &attributes);
        assert_eq!(
            Value::Object(document),
            json!({
                "userName": "alice", "externalId": "AbC", "title": "cto", "active": true,
                "emails": [{"value": "a@x.org", "type": "work", "primary": true}],
                ENTERPRISE_USER_SCHEMA: {"department": "r&d", "manager": {"value": "MgrId"}},
            })
        );
    }

    #[test]
    fn canonical_times_order_as_text_like_the_instants_they_name() {
        let times = [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.5Z",
            "2026-01-01T01:00:00+02:00",
        ];
        let mut canonical: Vec<String> = times.iter().map(|t| canonical_time(t)).collect();
        canonical.sort();
        assert_eq!(
            canonical,
            vec![
                "2025-12-31T23:00:00.000000Z",
                "2026-01-01T00:00:00.000000Z",
                "2026-01-01T00:00:00.500000Z"
            ]
        );
    }
}
