//! RFC 9967 (SCIM Profile for Security Event Tokens): what a SCIM write did to a user or a
//! group, as SETs on the existing push and poll streams. Each SCIM write publishes a
//! `scim.create`, `scim.patch`, `scim.put` or `scim.delete` outbox event in its own
//! transaction (`scim::events`); a deactivation and a reactivation are the cascade's
//! `user.disabled` and `user.enabled`. A stream asks for the event URIs below in
//! `events_requested`: a create, patch or put goes out in its `full` form (the resource, the
//! PatchOp, the PUT body, in `data`) when the stream asked for it and the write had data, and
//! in its `notice` form (the attributes changed) otherwise. The subject is RFC 9967's `scim`
//! format (`uri` relative to the SCIM base, `id`, `externalId`), and `txn` is the audit record
//! of the change. Asynchronous requests (RFC 9967 §2.5.1) are not offered: the
//! ServiceProviderConfig says `asyncRequest: "none"`.

use serde_json::{Map, Value, json};

use crate::store::outbox::OutboxRow;

const PREFIX: &str = "urn:ietf:params:scim:event:prov:";
pub const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
pub const CREATE_NOTICE: &str = "urn:ietf:params:scim:event:prov:create:notice";
pub const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
pub const PATCH_NOTICE: &str = "urn:ietf:params:scim:event:prov:patch:notice";
pub const PUT_FULL: &str = "urn:ietf:params:scim:event:prov:put:full";
pub const PUT_NOTICE: &str = "urn:ietf:params:scim:event:prov:put:notice";
pub const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
pub const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
pub const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";

/// Every RFC 9967 event this transmitter sends (the feed and async events are not offered).
pub const URIS: [&str; 9] = [
    CREATE_FULL,
    CREATE_NOTICE,
    PATCH_FULL,
    PATCH_NOTICE,
    PUT_FULL,
    PUT_NOTICE,
    DELETE,
    ACTIVATE,
    DEACTIVATE,
];

/// Whether `uri` is one of RFC 9967's provisioning events.
pub fn is_provisioning(uri: &str) -> bool {
    uri.starts_with(PREFIX)
}

/// The RFC 9967 event `event` becomes on a stream that requested `requested`, if any.
pub fn event_type(event: &OutboxRow, requested: impl Fn(&str) -> bool) -> Option<&'static str> {
    let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    let has_data = details.get("data").is_some_and(|d| !d.is_null());
    let pick = |full: &'static str, notice: &'static str| {
        if has_data && requested(full) {
            Some(full)
        } else if requested(notice) {
            Some(notice)
        } else {
            None
        }
    };
    match event.kind.as_str() {
        "scim.create" => pick(CREATE_FULL, CREATE_NOTICE),
        "scim.patch" => pick(PATCH_FULL, PATCH_NOTICE),
        "scim.put" => pick(PUT_FULL, PUT_NOTICE),
        "scim.delete" => Some(DELETE).filter(|t| requested(t)),
        "user.enabled" => Some(ACTIVATE).filter(|t| requested(t)),
        // A deletion is its own event (RFC 9967 §2.4.4), not also a deactivation.
        "user.disabled" if details["reason"] != "user_deleted" => {
            Some(DEACTIVATE).filter(|t| requested(t))
        }
        _ => None,
    }
}

/// The `scim` subject (RFC 9967 §2.1) and the event payload of `event` as `event_type`.
pub fn subject_and_payload(event: &OutboxRow, event_type: &str) -> Option<(Value, Value)> {
    let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    let (resource_type, id) = match event.kind.as_str() {
        "user.enabled" | "user.disabled" => ("User", event.user_id.clone()?),
        _ => (
            details["resource_type"].as_str()?,
            details["id"].as_str()?.to_string(),
        ),
    };
    let endpoint = if resource_type == "Group" {
        "Groups"
    } else {
        "Users"
    };
    let mut subject = Map::new();
    subject.insert("format".into(), json!("scim"));
    subject.insert("uri".into(), json!(format!("/{endpoint}/{id}")));
    subject.insert("id".into(), json!(id));
    if let Some(external_id) = details["external_id"].as_str() {
        subject.insert("externalId".into(), json!(external_id));
    }
    let mut payload = Map::new();
    if event_type.ends_with(":full") {
        payload.insert("data".into(), details["data"].clone());
    } else if event_type.ends_with(":notice") {
        payload.insert("attributes".into(), details["attributes"].clone());
    }
    if let Some(version) = details["version"].as_i64()
        && event_type != DELETE
    {
        payload.insert("version".into(), json!(format!("W/\"{version}\"")));
    }
    Some((Value::Object(subject), Value::Object(payload)))
}
