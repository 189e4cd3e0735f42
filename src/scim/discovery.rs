//! Discovery documents (RFC 7644 §4): the embedded documents, with absolute locations and the
//! limits this server really enforces.

use serde_json::{Value, json};

use super::bulk::MAX_OPERATIONS;
use super::error::ScimError;
use super::list::{PageLimits, list_response};
use super::schema::Registry;

pub fn service_provider_config(
    registry: &Registry,
    limits: PageLimits,
    max_payload: usize,
    security_events: Option<&[&str]>,
    base: &str,
) -> Value {
    let mut document = registry.service_provider_config.clone();
    document["filter"]["maxResults"] = json!(limits.max_count);
    // RFC 9865 §4: both methods; cursors are stateless, so they do not time out.
    document["pagination"] = json!({
        "cursor": true,
        "index": true,
        "defaultPaginationMethod": "index",
        "defaultPageSize": limits.default_count,
        "maxPageSize": limits.max_count,
    });
    document["bulk"] =
        json!({"supported": true, "maxOperations": MAX_OPERATIONS, "maxPayloadSize": max_payload});
    // RFC 9967 §4: requests are always answered synchronously.
    if let Some(uris) = security_events {
        document["securityEvents"] = json!({"asyncRequest": "none", "eventUris": uris});
    }
    absolute_location(document, base)
}

pub fn resource_types(registry: &Registry, base: &str) -> Value {
    let all: Vec<Value> = registry
        .resource_types
        .iter()
        .map(|rt| absolute_location(rt.clone(), base))
        .collect();
    list_response(all.len() as i64, 1, all)
}

pub fn resource_type(registry: &Registry, name: &str, base: &str) -> Result<Value, ScimError> {
    registry
        .resource_types
        .iter()
        .find(|rt| {
            rt["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(name))
        })
        .map(|rt| absolute_location(rt.clone(), base))
        .ok_or_else(|| ScimError::NotFound(format!("no resource type `{name}`")))
}

pub fn schemas(registry: &Registry, base: &str) -> Value {
    let all: Vec<Value> = registry
        .schemas
        .iter()
        .map(|s| absolute_location(s.document.clone(), base))
        .collect();
    list_response(all.len() as i64, 1, all)
}

pub fn schema(registry: &Registry, id: &str, base: &str) -> Result<Value, ScimError> {
    registry
        .schemas
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| absolute_location(s.document.clone(), base))
        .ok_or_else(|| ScimError::NotFound(format!("no schema `{id}`")))
}

/// The embedded documents carry locations relative to the SCIM base URL.
fn absolute_location(mut document: Value, base: &str) -> Value {
    if let Some(location) = document.pointer_mut("/meta/location")
        && let Some(relative) = location.as_str().filter(|l| l.starts_with('/'))
    {
        *location = Value::String(format!("{base}{relative}"));
    }
    document
}
