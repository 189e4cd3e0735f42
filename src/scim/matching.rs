//! The attributes identity providers match users on, indexed in `match_values` so a lookup
//! costs the same at a thousand users and at a million: every e-mail, the work e-mail
//! (Entra: `emails[type eq "work"].value eq "…"`), the primary e-mail, and the attributes a
//! tenant configures (`match_attributes` in `[tenants.NAME]`). `userName`, `externalId` and
//! `id` have columns of their own. Values are stored as the search document holds them
//! (folded unless case-exact), so an indexed lookup answers exactly what the document
//! condition it replaces would (`scim::evaluate` semantics).

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrPath, CompValue, CompareOp, Filter, parse_path};
use super::normalize::fold;
use super::schema::{AttributeDef, AttributeType, ResourceSchema};
use crate::store::filter::Condition;

/// Every e-mail value.
pub const EMAILS: &str = "emails.value";
/// The value of e-mails whose `type` is `work`.
pub const WORK_EMAIL: &str = "emails[type eq \"work\"].value";
/// The value of the primary e-mail.
pub const PRIMARY_EMAIL: &str = "emails[primary eq true].value";

/// Which items of a multi-valued attribute an attribute takes its values from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Select {
    All,
    Work,
    Primary,
}

/// A matching attribute: its name (the attribute path, canonical) and where its values are in
/// the search document.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchAttribute {
    pub name: String,
    /// Object keys from the document's root: the attribute, after its extension URN if any.
    keys: Vec<String>,
    /// The sub-attribute of a complex attribute.
    sub: Option<String>,
    select: Select,
}

/// The e-mail attributes every tenant indexes.
pub fn built_in() -> Vec<MatchAttribute> {
    [
        (EMAILS, Select::All),
        (WORK_EMAIL, Select::Work),
        (PRIMARY_EMAIL, Select::Primary),
    ]
    .into_iter()
    .map(|(name, select)| MatchAttribute {
        name: name.to_string(),
        keys: vec!["emails".into()],
        sub: Some("value".into()),
        select,
    })
    .collect()
}

/// The built-in attributes and the tenant's configured ones (names as stored; a name that no
/// longer resolves is skipped).
pub fn for_tenant(schema: &ResourceSchema, configured: &[String]) -> Vec<MatchAttribute> {
    let mut attributes = built_in();
    attributes.extend(
        configured
            .iter()
            .filter_map(|name| attribute(schema, name).ok()),
    );
    attributes
}

/// An attribute named in configuration: a path without a filter to a string attribute of
/// the user schema or an extension (`urn:…:enterprise:2.0:User:employeeNumber`, `nickName`,
/// `phoneNumbers.value`).
pub fn attribute(schema: &ResourceSchema, text: &str) -> Result<MatchAttribute, ScimError> {
    let invalid = |why: &str| ScimError::InvalidValue(format!("match attribute `{text}`: {why}"));
    let path = parse_path(text).map_err(|e| invalid(&e.to_string()))?;
    if path.filter.is_some() {
        return Err(invalid("name an attribute, without a filter"));
    }
    let path = AttrPath {
        uri: path.uri,
        name: path.name,
        sub: path.sub,
    };
    let (name, keys, sub, definition) =
        canonical(schema, &path).ok_or_else(|| invalid("no such attribute"))?;
    if !matches!(
        definition.kind,
        AttributeType::String | AttributeType::Reference
    ) {
        return Err(invalid("only string attributes can be matched on"));
    }
    Ok(MatchAttribute {
        name,
        keys,
        sub,
        select: Select::All,
    })
}

/// The canonical name of a path, its document keys, its sub-attribute and the definition of
/// the value compared (a complex attribute compares its `value`).
fn canonical<'a>(
    schema: &'a ResourceSchema,
    path: &AttrPath,
) -> Option<(String, Vec<String>, Option<String>, &'a AttributeDef)> {
    let (prefix, mut keys, definition) = match &path.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(&schema.core.id) => {
            let extension = schema.extension(uri)?;
            let definition = AttributeDef::find(&extension.attributes, &path.name)?;
            (
                format!("{}:", extension.id),
                vec![extension.id.clone()],
                definition,
            )
        }
        _ => (String::new(), Vec::new(), schema.attribute(&path.name)?),
    };
    keys.push(definition.name.clone());
    let complex = definition.kind == AttributeType::Complex;
    match (complex, path.sub.as_deref()) {
        (true, sub) => {
            let field = AttributeDef::find(&definition.sub_attributes, sub.unwrap_or("value"))?;
            let name = format!("{prefix}{}.{}", definition.name, field.name);
            Some((name, keys, Some(field.name.clone()), field))
        }
        (false, None) => Some((
            format!("{prefix}{}", definition.name),
            keys,
            None,
            definition,
        )),
        (false, Some(_)) => None,
    }
}

/// The (attribute, value) rows of a user, from its search document.
pub fn values(attributes: &[MatchAttribute], search: &Map<String, Value>) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for attribute in attributes {
        let Some(value) = at_path(search, &attribute.keys) else {
            continue;
        };
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for item in items {
            let selected = match attribute.select {
                Select::All => true,
                Select::Work => item.get("type").and_then(Value::as_str) == Some("work"),
                Select::Primary => item.get("primary") == Some(&Value::Bool(true)),
            };
            let value = match &attribute.sub {
                Some(sub) => item.get(sub),
                None => Some(item),
            };
            if let (true, Some(Value::String(text))) = (selected, value) {
                let row = (attribute.name.clone(), text.clone());
                if !rows.contains(&row) {
                    rows.push(row);
                }
            }
        }
    }
    rows
}

fn at_path<'a>(search: &'a Map<String, Value>, keys: &[String]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    rest.iter()
        .try_fold(search.get(first)?, |value, key| value.get(key))
}

/// The indexed lookup a filter amounts to, if it is one: `attr eq "v"` (or `ne`) on an
/// indexed attribute, `emails[value eq "v"]`, or a work or primary e-mail lookup in either
/// of its forms (`emails[type eq "work"].value eq "v"`, `emails[type eq "work" and value eq
/// "v"]`).
pub fn lookup<C>(
    filter: &Filter,
    schema: &ResourceSchema,
    indexed: &[MatchAttribute],
) -> Option<Condition<C>> {
    let is_indexed = |name: &str| indexed.iter().any(|a| a.name == name);
    match filter {
        Filter::Compare {
            path,
            op: op @ (CompareOp::Eq | CompareOp::Ne),
            value: CompValue::String(text),
        } => {
            let (name, _, _, definition) = canonical(schema, path)?;
            if !is_indexed(&name) {
                return None;
            }
            let matches = Condition::Matches {
                attribute: name,
                value: stored(definition, text),
            };
            Some(match op {
                CompareOp::Ne => Condition::Not(Box::new(matches)),
                _ => matches,
            })
        }
        Filter::ValuePath { path, filter } => {
            let (name, ..) = canonical(schema, path)?;
            if name != EMAILS {
                return None;
            }
            let (select, text) = email_lookup(filter)?;
            let attribute = match select {
                Select::All => EMAILS,
                Select::Work => WORK_EMAIL,
                Select::Primary => PRIMARY_EMAIL,
            };
            is_indexed(attribute).then(|| Condition::Matches {
                attribute: attribute.to_string(),
                value: fold(text),
            })
        }
        _ => None,
    }
}

/// `value eq "v"`, alone or with `type eq "work"` or `primary eq true`, in an e-mail filter.
fn email_lookup(filter: &Filter) -> Option<(Select, &str)> {
    fn value(filter: &Filter) -> Option<&str> {
        match filter {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::String(text),
            } if is_sub(path, "value") => Some(text.as_str()),
            _ => None,
        }
    }
    let select = |filter: &Filter| match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(kind),
        } if is_sub(path, "type") && fold(kind) == "work" => Some(Select::Work),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Bool(true),
        } if is_sub(path, "primary") => Some(Select::Primary),
        _ => None,
    };
    match filter {
        Filter::And(a, b) => match (select(a), value(b), select(b), value(a)) {
            (Some(kind), Some(text), ..) | (.., Some(kind), Some(text)) => Some((kind, text)),
            _ => None,
        },
        single => value(single).map(|text| (Select::All, text)),
    }
}

fn is_sub(path: &AttrPath, name: &str) -> bool {
    path.uri.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case(name)
}

/// A value as the search document stores it.
fn stored(definition: &AttributeDef, text: &str) -> String {
    if definition.case_exact {
        text.to_string()
    } else {
        fold(text)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::filter::parse;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, Registry, ResourceKind};

    fn schema() -> ResourceSchema {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        registry.resource(ResourceKind::User).clone()
    }

    fn lookup_of(filter: &str, indexed: &[MatchAttribute]) -> Option<Condition<()>> {
        let filter = parse(filter).unwrap_or_else(|e| panic!("{e}"));
        lookup(&filter, &schema(), indexed)
    }

    fn matches(attribute: &str, value: &str) -> Option<Condition<()>> {
        Some(Condition::Matches {
            attribute: attribute.into(),
            value: value.into(),
        })
    }

    #[test]
    fn the_forms_identity_providers_send_are_indexed_lookups() {
        let indexed = built_in();
        for (filter, expected) in [
            (
                r#"emails[type eq "work"].value eq "Ann@X.org""#,
                matches(WORK_EMAIL, "ann@x.org"),
            ),
            (
                r#"emails[value eq "a@x.org" and type eq "Work"]"#,
                matches(WORK_EMAIL, "a@x.org"),
            ),
            (
                r#"emails[primary eq true].value eq "a@x.org""#,
                matches(PRIMARY_EMAIL, "a@x.org"),
            ),
            (r#"emails.value eq "A@x.org""#, matches(EMAILS, "a@x.org")),
            (r#"emails eq "a@x.org""#, matches(EMAILS, "a@x.org")),
            (r#"emails[value eq "a@x.org"]"#, matches(EMAILS, "a@x.org")),
        ] {
            assert_eq!(lookup_of(filter, &indexed), expected, "{filter}");
        }
        for unindexed in [
            r#"emails[type eq "home"].value eq "a@x.org""#,
            r#"emails.value co "x""#,
            r#"title eq "x""#,
            r#"emails[type eq "work" or value eq "a"]"#,
        ] {
            assert_eq!(lookup_of(unindexed, &indexed), None, "{unindexed}");
        }
        let negated = lookup_of(r#"emails.value ne "a@x.org""#, &indexed);
        assert_eq!(
            negated,
            Some(Condition::Not(Box::new(Condition::Matches {
                attribute: EMAILS.into(),
                value: "a@x.org".into()
            })))
        );
    }

    #[test]
    fn a_configured_attribute_is_canonical_and_keeps_case_where_the_schema_says() {
        let schema = schema();
        let employee = attribute(&schema, &format!("{ENTERPRISE_USER_SCHEMA}:EMPLOYEENUMBER"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            employee.name,
            format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber")
        );
        assert!(
            attribute(&schema, "active").is_err(),
            "booleans are not matched on"
        );
        assert!(attribute(&schema, "emails[type eq \"work\"]").is_err());
        let indexed = vec![employee];
        let filter = format!(r#"{ENTERPRISE_USER_SCHEMA}:employeeNumber eq "E7""#);
        let expected = format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber");
        assert_eq!(lookup_of(&filter, &indexed), matches(&expected, "e7"));
        let document = json!({
            "emails": [{"value": "a@x.org", "type": "work"}, {"value": "b@y.net", "primary": true}],
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "e7"},
        });
        let Value::Object(document) = document else {
            return;
        };
        let mut all = built_in();
        all.extend(indexed);
        let rows = values(&all, &document);
        assert_eq!(
            rows,
            vec![
                (EMAILS.to_string(), "a@x.org".to_string()),
                (EMAILS.to_string(), "b@y.net".to_string()),
                (WORK_EMAIL.to_string(), "a@x.org".to_string()),
                (PRIMARY_EMAIL.to_string(), "b@y.net".to_string()),
                (expected, "e7".to_string()),
            ]
        );
    }
}
