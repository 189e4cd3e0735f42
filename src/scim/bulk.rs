//! Bulk (RFC 7644 §3.7): many operations in one request. Each operation runs as its own
//! write, with its own transaction and audit record, exactly as if sent alone. `bulkId`
//! references (`"bulkId:qwerty"`) in paths and data are replaced by the ids of resources
//! created earlier in the same request; an operation whose references cannot be resolved
//! fails, and operations are taken in an order that resolves forward references.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::evaluate::field;
use super::projection::Projection;
use super::resource::{Precondition, Resource};
use super::schema::ResourceKind;
use super::service::{Context, ScimService};

pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// Most operations accepted in one Bulk request; advertised as `bulk.maxOperations`.
pub const MAX_OPERATIONS: usize = 1000;

struct Operation {
    method: String,
    bulk_id: Option<String>,
    version: Option<String>,
    path: String,
    data: Option<Value>,
}

/// Runs a BulkRequest and returns the BulkResponse.
pub fn run(service: &ScimService, context: &Context, body: &Value) -> Result<Value, ScimError> {
    if !body.is_object() {
        return Err(ScimError::InvalidSyntax(
            "a BulkRequest is a JSON object".into(),
        ));
    }
    let fail_on_errors =
        match field(body, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                ScimError::InvalidValue("failOnErrors is a positive integer".into())
            })?),
        };
    let operations = parse_operations(body)?;
    // Bulk responses carry locations and versions, never bodies: nothing is rendered, so a
    // membership change in a Bulk request never reads the member list either.
    let context = &Context {
        projection: &Projection::Headers,
        ..*context
    };
    let mut created: HashMap<String, String> = HashMap::new();
    let mut results: Vec<Option<Value>> = operations.iter().map(|_| None).collect();
    let mut errors = 0_u64;
    // Each pass runs every operation whose bulkId references are all resolved; a pass that
    // makes no progress leaves only unresolvable (missing or circular) references.
    loop {
        let mut progressed = false;
        for (index, operation) in operations.iter().enumerate() {
            if results[index].is_some() || !references_resolved(operation, &created) {
                continue;
            }
            if fail_on_errors.is_some_and(|limit| errors >= limit) {
                break;
            }
            let result = execute(service, context, operation, &created);
            if let (Ok(Some(resource)), Some(bulk_id), "POST") =
                (&result, &operation.bulk_id, operation.method.as_str())
            {
                created.insert(bulk_id.clone(), resource.id.clone());
            }
            if result.is_err() {
                errors += 1;
            }
            results[index] = Some(response_entry(operation, result));
            progressed = true;
        }
        if !progressed || fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
    }
    let stopped = fail_on_errors.is_some_and(|limit| errors >= limit);
    let entries: Vec<Value> = operations
        .iter()
        .zip(results)
        .filter_map(|(operation, result)| match result {
            Some(entry) => Some(entry),
            // Not run because failOnErrors stopped the request: not reported (RFC 7644 §3.7.3).
            None if stopped => None,
            None => Some(response_entry(
                operation,
                Err(ScimError::InvalidValue(
                    "a bulkId reference cannot be resolved (missing or circular)".into(),
                )),
            )),
        })
        .collect();
    Ok(json!({"schemas": [BULK_RESPONSE_SCHEMA], "Operations": entries}))
}

fn parse_operations(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let items = field(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::InvalidSyntax("a BulkRequest needs an `Operations` array".into())
        })?;
    if items.len() > MAX_OPERATIONS {
        return Err(ScimError::PayloadTooLarge(format!(
            "a Bulk request carries at most {MAX_OPERATIONS} operations"
        )));
    }
    items
        .iter()
        .map(|item| {
            let text = |name: &str| field(item, name).and_then(Value::as_str).map(String::from);
            let method = text("method")
                .map(|m| m.to_ascii_uppercase())
                .filter(|m| ["POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
                .ok_or_else(|| {
                    ScimError::InvalidSyntax(
                        "each operation needs a `method`: POST, PUT, PATCH or DELETE".into(),
                    )
                })?;
            let path = text("path")
                .ok_or_else(|| ScimError::InvalidSyntax("each operation needs a `path`".into()))?;
            let bulk_id = text("bulkId");
            if method == "POST" && bulk_id.is_none() {
                return Err(ScimError::InvalidSyntax(
                    "a POST operation needs a `bulkId`".into(),
                ));
            }
            Ok(Operation {
                method,
                bulk_id,
                version: text("version"),
                path,
                data: field(item, "data").cloned(),
            })
        })
        .collect()
}

/// `bulkId:…` references an operation depends on, in its path and anywhere in its data.
fn references(operation: &Operation) -> Vec<String> {
    let mut found = Vec::new();
    collect_references(&Value::String(operation.path.clone()), &mut found);
    if let Some(data) = &operation.data {
        collect_references(data, &mut found);
    }
    found
}

fn collect_references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            for segment in text.split('/') {
                if let Some(id) = segment.strip_prefix("bulkId:") {
                    found.push(id.to_string());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, found)),
        Value::Object(map) => map.values().for_each(|v| collect_references(v, found)),
        _ => {}
    }
}

fn references_resolved(operation: &Operation, created: &HashMap<String, String>) -> bool {
    references(operation)
        .iter()
        .all(|r| created.contains_key(r))
}

fn resolve(value: &Value, created: &HashMap<String, String>) -> Value {
    match value {
        Value::String(text) => Value::String(
            text.split('/')
                .map(|segment| {
                    match segment
                        .strip_prefix("bulkId:")
                        .and_then(|id| created.get(id))
                    {
                        Some(id) => id.as_str(),
                        None => segment,
                    }
                })
                .collect::<Vec<_>>()
                .join("/"),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, created)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve(v, created)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// Runs one operation; returns the resource it created or changed (none for a delete).
fn execute(
    service: &ScimService,
    context: &Context,
    operation: &Operation,
    created: &HashMap<String, String>,
) -> Result<Option<Resource>, ScimError> {
    let path = match resolve(&Value::String(operation.path.clone()), created) {
        Value::String(path) => path,
        _ => return Err(ScimError::Internal),
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let kind = match segments.first().copied() {
        Some("Users") => ResourceKind::User,
        Some("Groups") => ResourceKind::Group,
        _ => {
            return Err(ScimError::InvalidValue(format!(
                "`{}` is not a Users or Groups path",
                operation.path
            )));
        }
    };
    let id = segments.get(1).copied();
    let data = operation.data.as_ref().map(|d| resolve(d, created));
    let data = || {
        data.clone()
            .ok_or_else(|| ScimError::InvalidSyntax("this operation needs `data`".into()))
    };
    let precondition = Precondition::if_match(operation.version.as_deref());
    match (operation.method.as_str(), id) {
        ("POST", None) => service.create(kind, context, &data()?).map(Some),
        ("PUT", Some(id)) => service
            .replace(kind, context, id, &data()?, &precondition)
            .map(Some),
        ("PATCH", Some(id)) => service
            .patch(kind, context, id, &data()?, &precondition)
            .map(Some),
        ("DELETE", Some(id)) => service
            .delete(kind, context, id, &precondition)
            .map(|()| None),
        _ => Err(ScimError::InvalidValue(format!(
            "{} cannot be applied to `{}`",
            operation.method, operation.path
        ))),
    }
}

fn response_entry(operation: &Operation, result: Result<Option<Resource>, ScimError>) -> Value {
    let mut entry = Map::new();
    entry.insert("method".into(), Value::String(operation.method.clone()));
    if let Some(bulk_id) = &operation.bulk_id {
        entry.insert("bulkId".into(), Value::String(bulk_id.clone()));
    }
    match result {
        Ok(resource) => {
            if let Some(resource) = resource {
                entry.insert("location".into(), Value::String(resource.location.clone()));
                entry.insert("version".into(), Value::String(resource.etag()));
            }
            let status = match operation.method.as_str() {
                "POST" => "201",
                "DELETE" => "204",
                _ => "200",
            };
            entry.insert("status".into(), Value::String(status.into()));
        }
        Err(error) => {
            entry.insert("status".into(), Value::String(error.status().to_string()));
            entry.insert("response".into(), error.body());
        }
    }
    Value::Object(entry)
}
