//! Schemas of the published roles' admin API (written out, as in `schemas`, and kept in step
//! with the `json!` bodies by the contract check).

use serde_json::{Value, json};

pub fn components() -> Value {
    let string = json!({"type": "string"});
    let nullable_string = json!({"type": ["string", "null"]});
    let time = json!({"type": "string", "format": "date-time"});
    json!({
        "PublishedRole": {
            "type": "object",
            "required": ["value", "display_name", "assignable", "entitlements", "mapped", "described", "direct_holders"],
            "properties": {
                "value": string, "display_name": string, "description": nullable_string,
                "assignable": {"type": "boolean", "description": "Whether the identity provider may assign it directly (the user's `roles`)"},
                "entitlements": {"type": "array", "items": string},
                "mapped": {"type": "boolean", "description": "A group mapping grants it"},
                "described": {"type": "boolean", "description": "An admin described it"},
                "direct_holders": {"type": "integer"},
            },
        },
        "PublishedRoles": {
            "type": "object",
            "required": ["roles"],
            "properties": {"roles": {"type": "array", "items": {"$ref": "#/components/schemas/PublishedRole"}}},
        },
        "RoleDescription": {
            "type": "object",
            "properties": {
                "display_name": string,
                "description": {"type": "string", "maxLength": 1000},
                "assignable": {"type": "boolean", "description": "Default false"},
                "entitlements": {"type": "array", "items": string},
            },
        },
        "RoleHolders": {
            "type": "object",
            "required": ["holders", "total"],
            "properties": {
                "holders": {"type": "array", "items": {"type": "object", "required": ["user_id", "assigned_by", "assigned_at"],
                    "properties": {"user_id": string, "assigned_by": string, "assigned_at": time, "cause": nullable_string}}},
                "total": {"type": "integer"},
            },
        },
    })
}
