//! Filters evaluated in memory, against a JSON object described by attribute definitions.
//! Used for PATCH value filters (`emails[type eq "work"]`) on the items of one resource;
//! the reference against which the SQL compilation of list filters can be checked.

use std::cmp::Ordering;

use serde_json::Value;

use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::schema::{AttributeDef, AttributeType};

/// Whether `object` matches `filter`. Attribute names compare case-insensitively; strings
/// compare case-insensitively unless the attribute is `caseExact`. A multi-valued attribute
/// matches when any of its values does.
pub fn matches(filter: &Filter, object: &Value, attributes: &[AttributeDef]) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, object, attributes) && matches(b, object, attributes),
        Filter::Or(a, b) => matches(a, object, attributes) || matches(b, object, attributes),
        Filter::Not(a) => !matches(a, object, attributes),
        Filter::Present(path) => values(object, path, attributes)
            .iter()
            .any(|(v, _)| is_present(v)),
        Filter::Compare { path, op, value } => values(object, path, attributes)
            .iter()
            .any(|(v, definition)| compare(v, *op, value, *definition)),
        Filter::ValuePath { path, filter } => {
            let definition = AttributeDef::find(attributes, &path.name);
            let subs = definition.map_or(&[][..], |d| d.sub_attributes.as_slice());
            field(object, &path.name)
                .map(as_items)
                .unwrap_or_default()
                .iter()
                .any(|item| matches(filter, item, subs))
        }
    }
}

/// The values a path names in `object`, each with its definition when known.
fn values<'a>(
    object: &'a Value,
    path: &AttrPath,
    attributes: &'a [AttributeDef],
) -> Vec<(&'a Value, Option<&'a AttributeDef>)> {
    let definition = AttributeDef::find(attributes, &path.name);
    let Some(found) = field(object, &path.name) else {
        return Vec::new();
    };
    match &path.sub {
        None => as_items(found)
            .into_iter()
            .map(|v| (v, definition))
            .collect(),
        Some(sub) => {
            let sub_definition =
                definition.and_then(|d| AttributeDef::find(&d.sub_attributes, sub));
            as_items(found)
                .into_iter()
                .filter_map(|item| field(item, sub))
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

fn compare(
    actual: &Value,
    op: CompareOp,
    expected: &CompValue,
    definition: Option<&AttributeDef>,
) -> bool {
    let case_exact = definition.is_some_and(|d| d.case_exact);
    let is_time = definition.is_some_and(|d| d.kind == AttributeType::DateTime);
    match (actual, expected) {
        (_, CompValue::Null) => match op {
            CompareOp::Eq => !is_present(actual),
            CompareOp::Ne => is_present(actual),
            _ => false,
        },
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
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                _ => ordered(a.cmp(&e), op),
            }
        }
        (Value::Bool(a), CompValue::Bool(e)) => match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        },
        (Value::Number(a), CompValue::Number(e)) => match (a.as_f64(), e.as_f64()) {
            (Some(a), Some(e)) => a.partial_cmp(&e).is_some_and(|o| ordered(o, op)),
            _ => false,
        },
        _ => op == CompareOp::Ne,
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
    use crate::scim::schema::{Registry, ResourceKind};

    fn emails() -> Vec<AttributeDef> {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        let user = registry.resource(ResourceKind::User);
        user.attribute("emails")
            .map(|a| a.sub_attributes.clone())
            .unwrap_or_default()
    }

    fn check(filter: &str, item: Value) -> bool {
        matches(
            &parse(filter).unwrap_or_else(|e| panic!("{e}")),
            &item,
            &emails(),
        )
    }

    #[test]
    fn item_filters_compare_like_the_schema_says() {
        let work = json!({"value": "Alice@Example.com", "type": "work", "primary": true});
        assert!(
            check(r#"type eq "WORK""#, work.clone()),
            "type is not case-exact"
        );
        assert!(check(r#"value co "example""#, work.clone()));
        assert!(check(r#"type eq "work" and primary eq true"#, work.clone()));
        assert!(!check(r#"type eq "home""#, work.clone()));
        assert!(check(r#"not (type eq "home")"#, work.clone()));
        assert!(check("display pr or value pr", work.clone()));
        assert!(!check("display pr", work.clone()));
        assert!(check(r#"TYPE ne "home""#, work));
    }
}
