//! Filters evaluated in memory, against a resource or against one item of a multi-valued
//! attribute. Used for PATCH value filters (`emails[type eq "work"]`), and as the reference
//! that the SQL compilation of list filters must agree with (`tests/api/equivalence.rs`).
//!
//! Semantics, shared with `scim::query`: names compare case-insensitively; strings compare
//! folded (`normalize::fold`) unless the attribute is `caseExact`; date-times compare as
//! instants; a complex attribute compared as a whole means its `value`; on a multi-valued
//! attribute a comparison holds when some value satisfies it, and `ne` holds when no value
//! is equal (so an absent attribute is `ne` anything).

use std::cmp::Ordering;

use serde_json::Value;

use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::normalize::fold;
use super::schema::{AttributeDef, AttributeType, ResourceSchema};

/// What a filter's attribute names refer to.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    /// A whole resource: core, common and extension attributes.
    Resource(&'a ResourceSchema),
    /// One item of a multi-valued complex attribute: its sub-attributes.
    Item(&'a [AttributeDef]),
}

impl<'a> Scope<'a> {
    /// The attribute `path` names: its value in `object` (if any) and its definition.
    fn resolve<'v>(
        &self,
        object: &'v Value,
        path: &AttrPath,
    ) -> (Option<&'v Value>, Option<&'a AttributeDef>) {
        match self {
            Scope::Item(attributes) => (
                field(object, &path.name),
                AttributeDef::find(attributes, &path.name),
            ),
            Scope::Resource(schema) => match &path.uri {
                Some(uri) if !uri.eq_ignore_ascii_case(&schema.core.id) => {
                    match schema.extension(uri) {
                        Some(extension) => (
                            field(object, &extension.id).and_then(|ext| field(ext, &path.name)),
                            AttributeDef::find(&extension.attributes, &path.name),
                        ),
                        None => (None, None),
                    }
                }
                _ => (field(object, &path.name), schema.attribute(&path.name)),
            },
        }
    }
}

pub fn matches(filter: &Filter, object: &Value, scope: Scope<'_>) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, object, scope) && matches(b, object, scope),
        Filter::Or(a, b) => matches(a, object, scope) || matches(b, object, scope),
        Filter::Not(a) => !matches(a, object, scope),
        Filter::Present(path) => values(object, path, scope)
            .iter()
            .any(|(v, _)| is_present(v)),
        Filter::Compare { path, op, value } => {
            let found = values(object, path, scope);
            match (op, value) {
                (CompareOp::Eq, CompValue::Null) => !found.iter().any(|(v, _)| is_present(v)),
                (CompareOp::Ne, CompValue::Null) => found.iter().any(|(v, _)| is_present(v)),
                (CompareOp::Ne, _) => !found
                    .iter()
                    .any(|(v, d)| compare(v, CompareOp::Eq, value, *d)),
                _ => found.iter().any(|(v, d)| compare(v, *op, value, *d)),
            }
        }
        Filter::ValuePath { path, filter } => {
            let (found, definition) = scope.resolve(object, path);
            let subs = definition.map_or(&[][..], |d| d.sub_attributes.as_slice());
            found
                .map(as_items)
                .unwrap_or_default()
                .iter()
                .any(|item| matches(filter, item, Scope::Item(subs)))
        }
    }
}

/// The values a path names, each with its definition when known.
fn values<'a>(
    object: &'a Value,
    path: &AttrPath,
    scope: Scope<'a>,
) -> Vec<(&'a Value, Option<&'a AttributeDef>)> {
    let (found, definition) = scope.resolve(object, path);
    let Some(found) = found else {
        return Vec::new();
    };
    let complex = definition.is_some_and(|d| d.kind == AttributeType::Complex);
    let sub = path
        .sub
        .clone()
        .or_else(|| complex.then(|| "value".to_string()));
    match sub {
        None => as_items(found)
            .into_iter()
            .map(|v| (v, definition))
            .collect(),
        Some(sub) => {
            let sub_definition =
                definition.and_then(|d| AttributeDef::find(&d.sub_attributes, &sub));
            as_items(found)
                .into_iter()
                .filter_map(|item| field(item, &sub))
                .flat_map(as_items)
                .map(|v| (v, sub_definition))
                .collect()
        }
    }
}

/// A member of an object by case-insensitive name.
pub fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn as_items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// One value compared as the evaluator compares it (also used for membership sub-attributes
/// whose value is the same on every membership, `scim::membership_query`).
pub(super) fn compare(
    actual: &Value,
    op: CompareOp,
    expected: &CompValue,
    definition: Option<&AttributeDef>,
) -> bool {
    let case_exact = definition.is_some_and(|d| d.case_exact);
    let is_time = definition.is_some_and(|d| d.kind == AttributeType::DateTime);
    match (actual, expected) {
        (Value::String(a), CompValue::String(e)) => {
            if is_time
                && let (Ok(a), Ok(e)) = (
                    chrono::DateTime::parse_from_rfc3339(a),
                    chrono::DateTime::parse_from_rfc3339(e),
                )
            {
                return ordered(a.cmp(&e), op);
            }
            let (a, e) = if case_exact {
                (a.clone(), e.clone())
            } else {
                (fold(a), fold(e))
            };
            match op {
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                _ => ordered(a.cmp(&e), op),
            }
        }
        (Value::Bool(a), CompValue::Bool(e)) => op == CompareOp::Eq && a == e,
        (Value::Number(a), CompValue::Number(e)) => match (a.as_f64(), e.as_f64()) {
            (Some(a), Some(e)) => a.partial_cmp(&e).is_some_and(|o| ordered(o, op)),
            _ => false,
        },
        _ => false,
    }
}

fn ordered(ordering: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::filter::parse;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, Registry, ResourceKind};

    fn registry() -> Registry {
        Registry::load().unwrap_or_else(|e| panic!("{e}"))
    }

    fn check_item(filter: &str, item: Value) -> bool {
        let registry = registry();
        let emails = registry
            .resource(ResourceKind::User)
            .attribute("emails")
            .map(|a| a.sub_attributes.clone())
            .unwrap_or_default();
        matches(
            &parse(filter).unwrap_or_else(|e| panic!("{e}")),
            &item,
            Scope::Item(&emails),
        )
    }

    fn check_user(filter: &str, user: &Value) -> bool {
        let registry = registry();
        matches(
            &parse(filter).unwrap_or_else(|e| panic!("{e}")),
            user,
            Scope::Resource(registry.resource(ResourceKind::User)),
        )
    }

    #[test]
    fn item_filters_compare_like_the_schema_says() {
        let work = json!({"value": "Alice@Example.com", "type": "work", "primary": true});
        assert!(
            check_item(r#"type eq "WORK""#, work.clone()),
            "type is not case-exact"
        );
        assert!(check_item(r#"value co "example""#, work.clone()));
        assert!(check_item(
            r#"type eq "work" and primary eq true"#,
            work.clone()
        ));
        assert!(!check_item(r#"type eq "home""#, work.clone()));
        assert!(check_item(r#"not (type eq "home")"#, work.clone()));
        assert!(check_item("display pr or value pr", work.clone()));
        assert!(!check_item("display pr", work.clone()));
        assert!(
            check_item(r#"display ne "x""#, work),
            "an absent value is ne anything"
        );
    }

    #[test]
    fn resource_filters_reach_extensions_multi_valued_and_complex_values() {
        let user = json!({
            "userName": "Ann", "externalId": "E1",
            "emails": [{"value": "a@x.org", "type": "work"}, {"value": "b@y.net"}],
            ENTERPRISE_USER_SCHEMA: {"department": "R&D"},
        });
        assert!(check_user(r#"USERNAME eq "ann""#, &user));
        assert!(
            !check_user(r#"externalId eq "e1""#, &user),
            "externalId is case-exact"
        );
        assert!(
            check_user(r#"emails co "y.net""#, &user),
            "a complex attribute compares its value"
        );
        assert!(check_user(
            r#"emails[type eq "work" and value sw "a"]"#,
            &user
        ));
        assert!(check_user(
            &format!(r#"{ENTERPRISE_USER_SCHEMA}:department eq "r&d""#),
            &user
        ));
        assert!(check_user(r#"emails.type ne "home""#, &user));
        assert!(!check_user(
            r#"emails.value ne "a@x.org" and emails.value ne "b@y.net""#,
            &user
        ));
        assert!(check_user(r#"title ne "x""#, &user) && !check_user("title pr", &user));
    }
}
