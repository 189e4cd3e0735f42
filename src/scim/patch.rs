//! PATCH (RFC 7644 §3.5.2) on a resource's attribute document.
//!
//! Operations are parsed and checked first, then applied in order to the stored document;
//! the result is normalized like any other write, so a PATCH cannot store what a PUT could
//! not. Liberal where identity providers deviate: op names in any case, path-less values
//! with dotted or URN-qualified keys, `add` (and `replace`) on a value filter that matches
//! nothing creates the entry, `remove` of a multi-valued attribute with a `value` list
//! removes exactly the listed values.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::evaluate::{Scope, field, matches};
use super::filter::{CompValue, CompareOp, Filter, PatchPath, parse_path};
use super::normalize::listed_values;
use super::quirks::{Quirks, Rule};
use super::schema::{
    AttributeDef, AttributeType, Mutability, ResourceKind, ResourceSchema, Schema,
};

pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Most operations accepted in one PATCH request.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: PatchOp,
    pub path: PatchPath,
    pub value: Option<Value>,
}

/// Reads a PatchOp request; path-less `add`/`replace` become one operation per attribute.
pub fn parse(
    resource: &ResourceSchema,
    body: &Value,
    quirks: &Quirks,
) -> Result<Vec<Operation>, ScimError> {
    if !body.is_object() {
        return Err(ScimError::InvalidSyntax(
            "the request body must be a JSON object".into(),
        ));
    }
    let operations = field(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::InvalidSyntax("a PATCH needs an `Operations` array".into()))?;
    if operations.is_empty() || operations.len() > MAX_OPERATIONS {
        return Err(ScimError::InvalidValue(format!(
            "a PATCH carries 1 to {MAX_OPERATIONS} operations"
        )));
    }
    let mut parsed = Vec::with_capacity(operations.len());
    for operation in operations {
        let op_name = field(operation, "op")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if ["add", "replace", "remove"]
            .iter()
            .any(|o| o.eq_ignore_ascii_case(op_name) && *o != op_name)
        {
            quirks.tolerate(Rule::EntraCapitalizedOps)?;
        }
        let op = match Some(op_name.to_ascii_lowercase()).as_deref() {
            Some("add") => PatchOp::Add,
            Some("replace") => PatchOp::Replace,
            Some("remove") => PatchOp::Remove,
            _ => {
                return Err(ScimError::InvalidSyntax(
                    "each operation needs an `op`: add, replace or remove".into(),
                ));
            }
        };
        // A `remove` names its values or none (no `value`: the whole attribute). An explicit
        // `null` is neither: refused rather than read as "remove everything".
        if op == PatchOp::Remove && field(operation, "value").is_some_and(Value::is_null) {
            return Err(ScimError::InvalidValue(
                "a `remove` with `\"value\": null` is ambiguous: name the values to remove, or \
                 leave `value` out to remove the whole attribute"
                    .into(),
            ));
        }
        let value = field(operation, "value").filter(|v| !v.is_null()).cloned();
        let path = field(operation, "path")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|p| !p.is_empty());
        if let Some(extension) = path.and_then(|p| resource.extension(p)) {
            parsed.extend(expand_extension(extension, op, value)?);
            continue;
        }
        match path {
            Some(path) => {
                let mut path =
                    parse_path(path).map_err(|e| ScimError::InvalidPath(e.to_string()))?;
                if path.uri.is_none() && resource.attribute(&path.name).is_none() {
                    // Entra: `"path": "manager"` for the enterprise extension's manager.
                    let owner = resource
                        .extensions
                        .iter()
                        .find(|e| AttributeDef::find(&e.attributes, &path.name).is_some());
                    if let Some(extension) = owner {
                        quirks.tolerate(Rule::EntraUnqualifiedExtensionPath)?;
                        path.uri = Some(extension.id.clone());
                    }
                }
                if op != PatchOp::Remove && value.is_none() {
                    return Err(ScimError::InvalidValue(format!(
                        "`{}` needs a `value`",
                        path.name
                    )));
                }
                parsed.push(Operation { op, path, value });
            }
            None if op == PatchOp::Remove => {
                return Err(ScimError::NoTarget("`remove` needs a `path`".into()));
            }
            None => parsed.extend(expand(resource, op, value, quirks)?),
        }
    }
    Ok(parsed)
}

/// A whole extension as the path: one operation per attribute of it.
fn expand_extension(
    extension: &Schema,
    op: PatchOp,
    value: Option<Value>,
) -> Result<Vec<Operation>, ScimError> {
    let fields: Vec<(String, Option<Value>)> = match (op, value) {
        (PatchOp::Remove, _) => extension
            .attributes
            .iter()
            .map(|a| (a.name.clone(), None))
            .collect(),
        // Names the extension does not define (a `schemas` copied into the value) are ignored.
        (_, Some(Value::Object(fields))) => fields
            .into_iter()
            .filter(|(k, v)| !v.is_null() && AttributeDef::find(&extension.attributes, k).is_some())
            .map(|(k, v)| (k, Some(v)))
            .collect(),
        _ => {
            return Err(ScimError::InvalidValue(format!(
                "`{}` takes an object",
                extension.id
            )));
        }
    };
    fields
        .into_iter()
        .map(|(name, value)| {
            let path = parse_path(&format!("{}:{name}", extension.id))
                .map_err(|e| ScimError::InvalidPath(e.to_string()))?;
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// A path-less `add`/`replace`: each key of the value object is a path of its own.
fn expand(
    resource: &ResourceSchema,
    op: PatchOp,
    value: Option<Value>,
    quirks: &Quirks,
) -> Result<Vec<Operation>, ScimError> {
    let Some(Value::Object(fields)) = value else {
        return Err(ScimError::InvalidValue(
            "an operation without `path` needs an object `value`".into(),
        ));
    };
    let mut operations = Vec::new();
    for (key, value) in fields {
        if key.eq_ignore_ascii_case("id") {
            // Okta sends the group's own id with every rename.
            quirks.tolerate(Rule::OktaRenameWithId)?;
            continue;
        }
        if value.is_null()
            && resource.kind == ResourceKind::Group
            && key.eq_ignore_ascii_case("members")
        {
            // Null members would empty the group (and end every member's roles), or be ignored:
            // too much rides on the reading to guess.
            return Err(ScimError::InvalidValue(
                "`members: null` is ambiguous: send `[]` to empty the group".into(),
            ));
        }
        if value.is_null()
            || ["schemas", "meta"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&key))
        {
            continue;
        }
        if let Some(extension) = resource.extension(&key) {
            operations.extend(expand_extension(extension, op, Some(value))?);
            continue;
        }
        let path = parse_path(&key).map_err(|e| ScimError::InvalidPath(e.to_string()))?;
        if path.sub.is_some() || path.uri.is_some() {
            // Entra: `{"name.givenName": …}`, `{"urn:…:User:department": …}` as path-less keys.
            quirks.tolerate(Rule::EntraDottedPathlessKeys)?;
        }
        // As in a POST, unknown attributes in a path-less value are ignored; a read-only one
        // (`groups`) is refused as its path form is, rather than silently dropped.
        match definition(resource, &path) {
            Ok(definition) if definition.mutability == Mutability::ReadOnly => {
                return Err(ScimError::Mutability(format!(
                    "`{}` is read-only",
                    definition.name
                )));
            }
            Ok(_) => {}
            Err(_) => continue,
        }
        operations.push(Operation {
            op,
            path,
            value: Some(value),
        });
    }
    Ok(operations)
}

/// The definition a path names, core or extension.
pub fn definition<'a>(
    resource: &'a ResourceSchema,
    path: &PatchPath,
) -> Result<&'a AttributeDef, ScimError> {
    let unknown = || ScimError::InvalidPath(format!("no attribute `{}`", path.name));
    match &path.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(&resource.core.id) => {
            let extension = resource.extension(uri).ok_or_else(unknown)?;
            AttributeDef::find(&extension.attributes, &path.name).ok_or_else(unknown)
        }
        _ => resource.attribute(&path.name).ok_or_else(unknown),
    }
}

/// Applies the operations in order to `document`.
pub fn apply_all(
    resource: &ResourceSchema,
    document: &mut Map<String, Value>,
    operations: &[Operation],
    quirks: &Quirks,
) -> Result<(), ScimError> {
    for operation in operations {
        apply(resource, document, operation, quirks)?;
    }
    Ok(())
}

fn apply(
    resource: &ResourceSchema,
    document: &mut Map<String, Value>,
    operation: &Operation,
    quirks: &Quirks,
) -> Result<(), ScimError> {
    let definition = definition(resource, &operation.path)?;
    if definition.mutability == Mutability::ReadOnly {
        return Err(ScimError::Mutability(format!(
            "`{}` is read-only",
            definition.name
        )));
    }
    let container = match &operation.path.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(&resource.core.id) => {
            let extension = resource
                .extension(uri)
                .map(|e| e.id.clone())
                .unwrap_or_default();
            let entry = document
                .entry(extension)
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry {
                Value::Object(map) => map,
                _ => return Err(ScimError::Internal),
            }
        }
        _ => document,
    };
    let key = definition.name.as_str();
    let path = &operation.path;
    let value = operation.value.as_ref();
    match (&path.filter, &path.sub) {
        (None, None) => apply_to_attribute(container, key, definition, operation.op, value, quirks),
        (None, Some(sub)) => apply_to_sub(container, key, definition, operation.op, sub, value),
        (Some(filter), sub) => {
            if !(definition.multi_valued && definition.kind == AttributeType::Complex) {
                return Err(ScimError::InvalidPath(format!(
                    "`{key}` is not a multi-valued complex attribute"
                )));
            }
            apply_to_matches(
                container,
                definition,
                (filter, sub.as_deref()),
                operation,
                quirks,
            )
        }
    }
}

fn apply_to_attribute(
    container: &mut Map<String, Value>,
    key: &str,
    definition: &AttributeDef,
    op: PatchOp,
    value: Option<&Value>,
    quirks: &Quirks,
) -> Result<(), ScimError> {
    match (op, value) {
        (PatchOp::Remove, None) => {
            container.remove(key);
        }
        (PatchOp::Remove, Some(listed)) if definition.multi_valued => {
            // Entra: remove exactly the listed values, never the whole attribute.
            quirks.tolerate(Rule::EntraRemoveMembersWithValue)?;
            let listed = listed_values(definition, listed, key, quirks)?;
            if let Some(Value::Array(current)) = container.get_mut(key) {
                current.retain(|item| !listed.iter().any(|l| same_value(item, l)));
            }
        }
        (PatchOp::Remove, Some(_)) => {
            container.remove(key);
        }
        (PatchOp::Add, Some(value)) if definition.multi_valued => {
            let listed = listed_values(definition, value, key, quirks)?;
            let entry = container
                .entry(key.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !entry.is_array() {
                *entry = Value::Array(Vec::new());
            }
            if let Value::Array(current) = entry {
                for item in listed {
                    match current
                        .iter_mut()
                        .find(|existing| same_value(existing, &item))
                    {
                        Some(existing) => merge(existing, &item),
                        None => current.push(item),
                    }
                }
            }
        }
        (PatchOp::Replace, Some(value)) if definition.multi_valued => {
            let listed = listed_values(definition, value, key, quirks)?;
            container.insert(key.to_string(), Value::Array(listed));
        }
        (_, Some(value)) if definition.kind == AttributeType::Complex && value.is_object() => {
            // add and replace on a single complex attribute set the sub-attributes given.
            let entry = container
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            merge(entry, value);
        }
        (_, Some(value)) => {
            container.insert(key.to_string(), value.clone());
        }
        (_, None) => return Err(ScimError::InvalidValue(format!("`{key}` needs a `value`"))),
    }
    Ok(())
}

fn apply_to_sub(
    container: &mut Map<String, Value>,
    key: &str,
    definition: &AttributeDef,
    op: PatchOp,
    sub: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let sub_definition = AttributeDef::find(&definition.sub_attributes, sub)
        .ok_or_else(|| ScimError::InvalidPath(format!("no sub-attribute `{key}.{sub}`")))?;
    if sub_definition.mutability == Mutability::ReadOnly {
        return Err(ScimError::Mutability(format!("`{key}.{sub}` is read-only")));
    }
    let sub = sub_definition.name.as_str();
    if definition.multi_valued {
        let entry = container
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(current) = entry {
            if current.is_empty() && op != PatchOp::Remove {
                current.push(Value::Object(Map::new()));
            }
            for item in current.iter_mut() {
                set_field(item, sub, op, value);
            }
        }
        return Ok(());
    }
    if op == PatchOp::Remove {
        if let Some(parent) = container.get_mut(key) {
            set_field(parent, sub, op, value);
        }
        return Ok(());
    }
    let parent = container
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !parent.is_object() {
        *parent = Value::Object(Map::new());
    }
    set_field(parent, sub, op, value);
    Ok(())
}

/// An operation on the values of `definition` that `filter` selects (and their `sub`).
fn apply_to_matches(
    container: &mut Map<String, Value>,
    definition: &AttributeDef,
    (filter, sub): (&Filter, Option<&str>),
    operation: &Operation,
    quirks: &Quirks,
) -> Result<(), ScimError> {
    let (key, op, value) = (
        definition.name.as_str(),
        operation.op,
        operation.value.as_ref(),
    );
    let sub = match sub {
        Some(sub) => {
            let found = AttributeDef::find(&definition.sub_attributes, sub)
                .ok_or_else(|| ScimError::InvalidPath(format!("no sub-attribute `{key}.{sub}`")))?;
            if found.mutability == Mutability::ReadOnly {
                return Err(ScimError::Mutability(format!("`{key}.{sub}` is read-only")));
            }
            Some(found.name.as_str())
        }
        None => None,
    };
    let entry = container
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    let Value::Array(items) = entry else {
        return Err(ScimError::Internal);
    };
    let matching: Vec<usize> = (0..items.len())
        .filter(|i| matches(filter, &items[*i], Scope::Item(&definition.sub_attributes)))
        .collect();
    match op {
        PatchOp::Remove => {
            match sub {
                Some(sub) => matching
                    .iter()
                    .for_each(|i| set_field(&mut items[*i], sub, op, None)),
                None => {
                    let mut index = 0;
                    items.retain(|_| {
                        let keep = !matching.contains(&index);
                        index += 1;
                        keep
                    });
                }
            }
            Ok(())
        }
        PatchOp::Add | PatchOp::Replace if matching.is_empty() => {
            // Entra: a value filter that matches nothing yet creates the entry it describes.
            quirks.tolerate(Rule::EntraAddCreatesFilteredValue)?;
            let mut created = Value::Object(equalities(filter).ok_or_else(|| {
                ScimError::NoTarget(format!("no value of `{key}` matches the filter"))
            })?);
            match sub {
                Some(sub) => set_field(&mut created, sub, op, value),
                None => merge(&mut created, value.unwrap_or(&Value::Null)),
            }
            keeps_its_value(definition, &created)?;
            items.push(created);
            Ok(())
        }
        PatchOp::Add | PatchOp::Replace => {
            for i in matching {
                match (sub, op) {
                    (Some(sub), _) => set_field(&mut items[i], sub, op, value),
                    (None, PatchOp::Replace) => items[i] = value.cloned().unwrap_or(Value::Null),
                    (None, _) => merge(&mut items[i], value.unwrap_or(&Value::Null)),
                }
                keeps_its_value(definition, &items[i])?;
            }
            Ok(())
        }
    }
}

/// An item of an attribute identified by `value` (e-mails, roles, members) must still name
/// one after a filtered `add` or `replace`: `{}` or `{"type": "work"}` would store an item
/// that names nothing, or drop the one the filter found.
fn keeps_its_value(definition: &AttributeDef, item: &Value) -> Result<(), ScimError> {
    let keyed = AttributeDef::find(&definition.sub_attributes, "value").is_some();
    if keyed && !super::normalize::names_a_value(item) {
        return Err(ScimError::InvalidValue(format!(
            "each value of `{}` needs its `value`",
            definition.name
        )));
    }
    Ok(())
}

/// The `attr eq value` terms of an `and` chain, as the fields of a new item.
fn equalities(filter: &Filter) -> Option<Map<String, Value>> {
    let mut fields = Map::new();
    let mut pending = vec![filter];
    while let Some(next) = pending.pop() {
        match next {
            Filter::And(a, b) => {
                pending.push(a);
                pending.push(b);
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.sub.is_none() => {
                let value = match value {
                    CompValue::String(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return None,
                };
                fields.insert(path.name.clone(), value);
            }
            _ => return None,
        }
    }
    Some(fields)
}

/// Two values of a multi-valued attribute are the same when their `value`s are (any case),
/// or, without a `value`, when they are equal.
fn same_value(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Object(_) => field(v, "value")
            .and_then(Value::as_str)
            .map(str::to_lowercase),
        _ => None,
    };
    match (text(a), text(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// Sets or replaces each field of `update` in `target`, matching names case-insensitively.
fn merge(target: &mut Value, update: &Value) {
    let (Value::Object(target), Value::Object(update)) = (target, update) else {
        return;
    };
    for (name, value) in update {
        if let Some(existing) = target
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
        {
            target.remove(&existing);
        }
        target.insert(name.clone(), value.clone());
    }
}

fn set_field(target: &mut Value, name: &str, op: PatchOp, value: Option<&Value>) {
    let Value::Object(object) = target else {
        return;
    };
    if let Some(existing) = object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
    {
        object.remove(&existing);
    }
    if let (PatchOp::Add | PatchOp::Replace, Some(value)) = (op, value) {
        object.insert(name.to_string(), value.clone());
    }
}
