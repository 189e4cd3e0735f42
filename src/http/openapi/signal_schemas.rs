//! Schemas of the Shared Signals receiver's push endpoint and admin API (written out, as in
//! `schemas`, and kept in step with the `json!` bodies by the contract check).

use serde_json::{Value, json};

pub fn components() -> Value {
    let string = json!({"type": "string"});
    let nullable_string = json!({"type": ["string", "null"]});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let time = json!({"type": "string", "format": "date-time"});
    let attribute = json!({"enum": ["externalId", "userName", "id", null]});
    let subjects = json!({
        "type": "object",
        "description": "How subject formats map to users: `iss_sub` and `opaque` name the attribute compared (null: refused), `email` and `account` whether they are accepted",
        "properties": {"iss_sub": attribute, "email": {"type": "boolean"}, "opaque": attribute, "account": {"type": "boolean"}},
        "additionalProperties": false,
    });
    let method = json!({"enum": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"]});
    let nullable_time = json!({"type": ["string", "null"], "format": "date-time"});
    let managed_stream = json!({
        "type": ["object", "null"],
        "description": "The stream Scimitar manages at the transmitter (null for a receiver configured by hand)",
        "required": ["stream_id", "status", "events_requested", "events_delivered", "credential"],
        "properties": {
            "stream_id": string,
            "status": {"enum": ["enabled", "paused", "disabled"]},
            "reason": nullable_string,
            "events_requested": strings,
            "events_delivered": strings,
            "description": nullable_string,
            "configuration_endpoint": string,
            "credential": {"type": "object", "description": "The management credential without its secret: `client_id`, `client_secret_set`, `token_endpoint`, `scope`, or `authorization_header_set`"},
        },
    });
    let health = json!({
        "type": "object",
        "description": "When the receiver last received a SET, last got a verification event (and since when one it asked for is awaited), its last error (a refused SET, a failed poll or management call), and its managed stream's status",
        "required": ["last_event", "last_verification", "verification_pending_since", "last_error", "stream_status"],
        "properties": {
            "last_event": nullable_time,
            "last_verification": nullable_time,
            "verification_pending_since": nullable_time,
            "last_error": {"type": ["object", "null"], "required": ["at", "message"], "properties": {"at": time, "message": string}},
            "stream_status": {"enum": ["enabled", "paused", "disabled", null]},
            "stream_status_reason": nullable_string,
        },
    });
    let receiver = json!({
        "type": "object",
        "required": ["id", "issuer", "audience", "delivery", "subjects", "credential_change", "account_enabled", "max_age_seconds", "enabled", "created", "updated", "stream", "health"],
        "properties": {
            "id": string,
            "issuer": string,
            "stream": managed_stream,
            "health": health,
            "audience": strings,
            "jwks_uri": nullable_string,
            "jwks": {"type": ["object", "null"]},
            "delivery": {
                "type": "object",
                "required": ["method"],
                "properties": {
                    "method": method,
                    "endpoint_url": nullable_string,
                    "authorization_header": {"type": "string", "description": "Push receivers, in the answer that made the secret only"},
                    "authorization_header_set": {"type": "boolean"},
                    "interval_seconds": {"type": "integer"},
                    "max_events": {"type": "integer"},
                },
            },
            "subjects": subjects,
            "credential_change": {"enum": ["end_sessions", "record"]},
            "account_enabled": {"enum": ["flag", "reactivate"]},
            "max_age_seconds": {"type": "integer"},
            "enabled": {"type": "boolean"},
            "created": time,
            "updated": time,
        },
    });
    json!({
        "SetError": {
            "description": "RFC 8935 §2.3 error body of the push endpoint (also an RFC 8936 `setErrs` entry).",
            "type": "object",
            "required": ["err", "description"],
            "properties": {
                "err": {"enum": ["invalid_request", "invalid_key", "invalid_issuer", "invalid_audience", "authentication_failed", "access_denied", "invalid_state"]},
                "description": string,
            },
        },
        "SignalReceiver": receiver,
        "SignalReceivers": {
            "type": "object",
            "required": ["receivers"],
            "properties": {"receivers": {"type": "array", "items": {"$ref": "#/components/schemas/SignalReceiver"}}},
        },
        "SignalReceiverRequest": {
            "type": "object",
            "description": "A receiver configured by hand needs `audience` and `jwks_uri` or `jwks`; one given `stream` learns them from its transmitter",
            "required": ["issuer"],
            "properties": {
                "issuer": string,
                "stream": {
                    "type": "object",
                    "description": "Scimitar creates and manages the stream at the transmitter (SSF 1.0 §7-8), authenticating with OAuth client credentials or a fixed header",
                    "additionalProperties": false,
                    "properties": {
                        "client_id": string,
                        "client_secret": string,
                        "token_endpoint": {"type": "string", "description": "Default: the issuer's RFC 8414 metadata"},
                        "scope": {"type": "string", "description": "Default: `ssf.manage ssf.read`"},
                        "authorization_header": string,
                        "events_requested": strings,
                        "description": string,
                    },
                },
                "audience": {"oneOf": [string, strings]},
                "jwks_uri": string,
                "jwks": {"type": "object"},
                "delivery": {
                    "type": "object",
                    "properties": {
                        "method": method,
                        "endpoint_url": string,
                        "authorization_header": string,
                        "interval_seconds": {"type": "integer", "minimum": 1, "maximum": 3600},
                        "max_events": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                },
                "subjects": subjects,
                "credential_change": {"enum": ["end_sessions", "record"]},
                "account_enabled": {"enum": ["flag", "reactivate"]},
                "max_age_seconds": {"type": "integer", "minimum": 60, "maximum": 604800},
                "enabled": {"type": "boolean"},
                "rotate_secret": {"type": "boolean"},
            },
        },
        "ReceivedSets": {
            "type": "object",
            "required": ["sets"],
            "properties": {"sets": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "receiver", "issuer", "jti", "delivery", "event_types", "outcome", "received"],
                "properties": {
                    "id": string, "receiver": string, "issuer": string, "jti": string,
                    "delivery": {"enum": ["push", "poll"]},
                    "event_types": strings,
                    "outcome": {"enum": ["applied", "ignored", "refused"]},
                    "err": nullable_string, "description": nullable_string,
                    "effects": {"type": "object"},
                    "cause": nullable_string,
                    "received": time,
                },
            }}},
        },
    })
}
