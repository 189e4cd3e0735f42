//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which attributes a
//! response carries. `schemas` and `id` are always returned; `password` never is (it is not
//! even stored). Applied to every representation the API returns.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::parse_path;
use super::schema::{AttributeDef, ResourceSchema, Returned};

const ALWAYS: [&str; 2] = ["schemas", "id"];

#[derive(Debug, Clone, Default, PartialEq)]
pub enum Projection {
    #[default]
    Default,
    Only(Vec<Selector>),
    Exclude(Vec<Selector>),
    /// The answer carries no body (Bulk operations): nothing computed at read time, such as a
    /// group's members, is loaded, and only `schemas` and `id` are kept.
    Headers,
}

/// One entry of an attribute list: `name`, `name.sub`, an extension URN, or `URN:name[.sub]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The response key: a core attribute name, or an extension URN.
    key: String,
    /// Within an extension: the attribute; within a complex attribute: the sub-attribute.
    inner: Option<String>,
    sub: Option<String>,
}

impl Projection {
    /// From the two parameters; giving both is an error (RFC 7644 §3.4.2.5 allows one at a time).
    pub fn from_params(
        resource: &ResourceSchema,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Self, ScimError> {
        match (attributes, excluded) {
            (Some(_), Some(_)) => Err(ScimError::InvalidSyntax(
                "give `attributes` or `excludedAttributes`, not both".into(),
            )),
            (Some(list), None) => Ok(Projection::Only(selectors(resource, list)?)),
            (None, Some(list)) => Ok(Projection::Exclude(selectors(resource, list)?)),
            (None, None) => Ok(Projection::Default),
        }
    }

    /// Whether the request named the attributes it wants (`attributes`): RFC 7644 §3.5.2
    /// then requires a 200 with them rather than a 204.
    pub fn names_attributes(&self) -> bool {
        matches!(self, Projection::Only(_))
    }

    /// Whether the response will carry the top-level attribute `name`: lets a read skip
    /// loading what would be dropped (a group's members).
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Projection::Default => true,
            Projection::Headers => false,
            Projection::Only(selected) => selected.iter().any(|s| s.key.eq_ignore_ascii_case(name)),
            Projection::Exclude(excluded) => !excluded
                .iter()
                .any(|s| s.key.eq_ignore_ascii_case(name) && s.inner.is_none()),
        }
    }

    pub fn apply(&self, resource: &ResourceSchema, body: &mut Value) {
        let Value::Object(object) = body else { return };
        match self {
            Projection::Default => drop_request_only(resource, object),
            Projection::Headers => object.retain(|key, _| ALWAYS.contains(&key.as_str())),
            Projection::Only(selected) => {
                object.retain(|key, value| {
                    if ALWAYS.contains(&key.as_str()) || always_returned(resource, key) {
                        return true;
                    }
                    let picks: Vec<&Selector> = selected
                        .iter()
                        .filter(|s| s.key.eq_ignore_ascii_case(key))
                        .collect();
                    if picks.is_empty() {
                        return false;
                    }
                    if picks.iter().all(|s| s.inner.is_some()) {
                        keep_only(value, &picks);
                    }
                    true
                });
                keep_listed_schemas(object);
            }
            Projection::Exclude(excluded) => {
                drop_request_only(resource, object);
                for selector in excluded {
                    if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&selector.key)) {
                        continue;
                    }
                    let Some(key) = object
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case(&selector.key))
                        .cloned()
                    else {
                        continue;
                    };
                    match &selector.inner {
                        None => {
                            object.remove(&key);
                        }
                        Some(_) => {
                            if let Some(value) = object.get_mut(&key) {
                                drop_inner(value, selector);
                            }
                        }
                    }
                }
                keep_listed_schemas(object);
            }
        }
    }
}

fn selectors(resource: &ResourceSchema, list: &str) -> Result<Vec<Selector>, ScimError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| selector(resource, entry))
        .collect()
}

fn selector(resource: &ResourceSchema, entry: &str) -> Result<Selector, ScimError> {
    if let Some(extension) = resource.extension(entry) {
        return Ok(Selector {
            key: extension.id.clone(),
            inner: None,
            sub: None,
        });
    }
    let path =
        parse_path(entry).map_err(|e| ScimError::InvalidValue(format!("attribute list: {e}")))?;
    if path.filter.is_some() {
        return Err(ScimError::InvalidValue(format!(
            "attribute list: `{entry}` has a filter"
        )));
    }
    match path.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(&resource.core.id) => {
            let key = resource.extension(&uri).map_or(uri, |e| e.id.clone());
            Ok(Selector {
                key,
                inner: Some(path.name),
                sub: path.sub,
            })
        }
        _ => Ok(Selector {
            key: path.name,
            inner: path.sub,
            sub: None,
        }),
    }
}

/// Attributes `returned: request` appear only when `attributes` names them (RFC 7643 §7).
fn drop_request_only(resource: &ResourceSchema, object: &mut Map<String, Value>) {
    object.retain(|key, value| {
        if let (Some(extension), Value::Object(fields)) = (resource.extension(key), &mut *value) {
            fields.retain(|name, _| {
                AttributeDef::find(&extension.attributes, name)
                    .is_none_or(|a| a.returned != Returned::Request)
            });
            return true;
        }
        resource
            .attribute(key)
            .is_none_or(|a| a.returned != Returned::Request)
    });
}

fn always_returned(resource: &ResourceSchema, key: &str) -> bool {
    resource
        .attribute(key)
        .is_some_and(|a: &AttributeDef| a.returned == Returned::Always)
}

/// Keeps only the picked inner names (sub-attributes, or an extension's attributes).
fn keep_only(value: &mut Value, picks: &[&Selector]) {
    let keep = |object: &mut Map<String, Value>| {
        object.retain(|name, inner| {
            let chosen: Vec<&&Selector> = picks
                .iter()
                .filter(|s| {
                    s.inner
                        .as_deref()
                        .is_some_and(|i| i.eq_ignore_ascii_case(name))
                })
                .collect();
            if chosen.is_empty() {
                return false;
            }
            if let (Value::Object(fields), true) =
                (&mut *inner, chosen.iter().all(|s| s.sub.is_some()))
            {
                fields.retain(|f, _| {
                    chosen.iter().any(|s| {
                        s.sub
                            .as_deref()
                            .is_some_and(|sub| sub.eq_ignore_ascii_case(f))
                    })
                });
            }
            true
        })
    };
    match value {
        Value::Object(object) => keep(object),
        Value::Array(items) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(keep),
        _ => {}
    }
}

fn drop_inner(value: &mut Value, selector: &Selector) {
    let Some(inner) = selector.inner.as_deref() else {
        return;
    };
    let drop = |object: &mut Map<String, Value>| match &selector.sub {
        None => object.retain(|name, _| !name.eq_ignore_ascii_case(inner)),
        Some(sub) => {
            if let Some(Value::Object(fields)) = object
                .iter_mut()
                .find(|(name, _)| name.eq_ignore_ascii_case(inner))
                .map(|(_, v)| v)
            {
                fields.retain(|f, _| !f.eq_ignore_ascii_case(sub));
            }
        }
    };
    match value {
        Value::Object(object) => drop(object),
        Value::Array(items) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(drop),
        _ => {}
    }
}

/// `schemas` lists only the extensions still present.
fn keep_listed_schemas(object: &mut Map<String, Value>) {
    let present: Vec<String> = object
        .keys()
        .filter(|k| k.starts_with("urn:"))
        .cloned()
        .collect();
    if let Some(Value::Array(schemas)) = object.get_mut("schemas") {
        let mut first = true;
        schemas.retain(|s| {
            let keep = first || s.as_str().is_some_and(|s| present.iter().any(|p| p == s));
            first = false;
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, Registry, ResourceKind};

    fn project(attributes: Option<&str>, excluded: Option<&str>, body: Value) -> Value {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        let user = registry.resource(ResourceKind::User);
        let projection =
            Projection::from_params(user, attributes, excluded).unwrap_or_else(|e| panic!("{e}"));
        let mut body = body;
        projection.apply(user, &mut body);
        body
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_SCHEMA],
            "id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x", "type": "work"}],
            ENTERPRISE_USER_SCHEMA: {"department": "D", "costCenter": "C"},
            "meta": {"resourceType": "User"},
        })
    }

    #[test]
    fn attributes_keeps_only_the_listed_ones_and_the_always_returned() {
        let body = project(Some("userName,name.givenName,emails.value"), None, user());
        assert_eq!(
            body,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "1", "userName": "a", "name": {"givenName": "A"}, "emails": [{"value": "a@x"}],
            })
        );
    }

    #[test]
    fn extension_attributes_are_selected_by_urn() {
        let body = project(
            Some(&format!("{ENTERPRISE_USER_SCHEMA}:department")),
            None,
            user(),
        );
        assert_eq!(body[ENTERPRISE_USER_SCHEMA], json!({"department": "D"}));
        let whole = project(Some(ENTERPRISE_USER_SCHEMA), None, user());
        assert_eq!(
            whole[ENTERPRISE_USER_SCHEMA],
            json!({"department": "D", "costCenter": "C"})
        );
    }

    #[test]
    fn excluded_attributes_are_dropped_but_never_id_or_schemas() {
        let body = project(None, Some("ID,schemas,name.familyName,emails,meta"), user());
        assert_eq!(body["id"], "1");
        assert_eq!(body["name"], json!({"givenName": "A"}));
        assert!(body.get("emails").is_none() && body.get("meta").is_none());
        let no_extension = project(None, Some(ENTERPRISE_USER_SCHEMA), user());
        assert_eq!(
            no_extension["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
        );
    }

    #[test]
    fn request_only_attributes_appear_only_when_asked_for() {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        let mut user = registry.resource(ResourceKind::User).clone();
        if let Some(title) = user.core.attributes.iter_mut().find(|a| a.name == "title") {
            title.returned = Returned::Request;
        }
        let body = json!({"schemas": [], "id": "1", "userName": "a", "title": "T"});
        let project = |projection: Projection| {
            let mut body = body.clone();
            projection.apply(&user, &mut body);
            body
        };
        assert!(project(Projection::Default).get("title").is_none());
        assert!(
            project(Projection::from_params(&user, None, Some("userName")).unwrap_or_default())
                .get("title")
                .is_none()
        );
        assert_eq!(
            project(Projection::from_params(&user, Some("title"), None).unwrap_or_default())["title"],
            "T"
        );
    }

    #[test]
    fn includes_tells_whether_an_attribute_survives() {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        let group = registry.resource(ResourceKind::Group);
        let excluded = Projection::from_params(group, None, Some("members")).unwrap_or_default();
        assert!(!excluded.includes("members") && excluded.includes("displayName"));
        let only = Projection::from_params(group, Some("displayName"), None).unwrap_or_default();
        assert!(!only.includes("members"));
        assert!(Projection::Default.includes("members"));
        assert!(Projection::from_params(group, Some("a"), Some("b")).is_err());
    }
}
