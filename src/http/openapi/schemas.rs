//! Response schemas of the non-SCIM APIs (JSON Schema 2020-12, as OpenAPI 3.1 uses). Most of
//! these bodies are built with `json!` in the services, so their shapes are written out here;
//! the tests validate every response the suite receives against them, which is what keeps
//! the two in step.

use serde_json::{Value, json};

/// `#/components/schemas` of the document.
pub fn components() -> Value {
    let string = json!({"type": "string"});
    let nullable_string = json!({"type": ["string", "null"]});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let subject_identifier = json!({
        "type": "object",
        "required": ["format"],
        "properties": {
            "format": {"enum": ["email", "iss_sub", "opaque", "account"]},
            "email": string, "iss": string, "sub": string, "id": string, "uri": string,
        },
    });
    let time = json!({"type": "string", "format": "date-time"});
    json!({
        "ScimError": {
            "description": "RFC 7644 §3.12 error body; every error of the admin, events, SSF and health APIs, and every framework error (unknown route, wrong method, oversized body, rate limit, outage), has this shape.",
            "type": "object",
            "required": ["schemas", "status", "detail"],
            "properties": {
                "schemas": {"type": "array", "items": {"const": "urn:ietf:params:scim:api:messages:2.0:Error"}},
                "status": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
                "detail": string,
                "scimType": string,
            },
        },
        "TokenRefusal": {
            "description": "RFC 6750 §3.1: forward auth's refusal; `error_description` is the guard's refusal code (`revoked_session`, `expired`, `wrong_audience`, …).",
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {"error": {"const": "invalid_token"}, "error_description": string},
        },
        "OAuthError": {
            "description": "RFC 6749 §5.2 error body of the OAuth endpoints.",
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"enum": ["invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "unsupported_token_type", "invalid_scope", "invalid_target", "temporarily_unavailable", "server_error"]},
                "error_description": string,
            },
        },
        "TokenRequest": {
            "description": "RFC 8693 token exchange, RFC 6749 §6 refresh or §4.4 client credentials (stream management, `scope` ssf.read and/or ssf.manage), as form fields.",
            "type": "object",
            "required": ["grant_type"],
            "properties": {
                "grant_type": {"enum": ["urn:ietf:params:oauth:grant-type:token-exchange", "refresh_token", "client_credentials"]},
                "scope": string,
                "subject_token": string,
                "subject_token_type": {"enum": ["urn:ietf:params:oauth:token-type:id_token", "urn:scimitar:params:oauth:token-type:scim-user"]},
                "audience": string,
                "resource": string,
                "requested_token_type": {"const": "urn:ietf:params:oauth:token-type:access_token"},
                "refresh_token": string,
            },
        },
        "IntrospectOrRevokeRequest": {
            "description": "RFC 7662 / RFC 7009 request, as form fields.",
            "type": "object",
            "required": ["token"],
            "properties": {"token": string, "token_type_hint": {"enum": ["access_token", "refresh_token"]}},
        },
        "HealthStatus": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"enum": ["ok", "ready"]}},
        },
        "TokenResponse": {
            "description": "RFC 6749 §5.1 / RFC 8693 §2.2.1 token response: a user's tokens (exchange, refresh), or a stream-management token (client credentials: `scope`, no refresh token).",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["access_token", "token_type", "expires_in", "refresh_token", "roles"],
                    "properties": {
                        "access_token": string,
                        "token_type": {"const": "Bearer"},
                        "expires_in": {"type": "integer"},
                        "refresh_token": string,
                        "issued_token_type": string,
                        "roles": strings,
                    },
                },
                {
                    "type": "object",
                    "required": ["access_token", "token_type", "expires_in", "scope"],
                    "properties": {
                        "access_token": string,
                        "token_type": {"const": "Bearer"},
                        "expires_in": {"type": "integer"},
                        "scope": string,
                    },
                    "not": {"required": ["refresh_token"]},
                },
            ],
        },
        "Introspection": {
            "description": "RFC 7662 §2.2: `{\"active\": false}`, or the claims of an active token.",
            "type": "object",
            "required": ["active"],
            "properties": {
                "active": {"type": "boolean"},
                "iss": string, "sub": string, "aud": string, "jti": string,
                "client_id": string, "sid": string, "tid": string,
                "exp": {"type": "integer"}, "iat": {"type": "integer"}, "nbf": {"type": "integer"},
                "roles": strings,
                "token_type": string,
                "scope": string,
            },
        },
        "Jwks": {
            "type": "object",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": {
                "type": "object",
                "required": ["kty", "crv", "x", "kid", "use", "alg"],
                "properties": {"kty": {"const": "OKP"}, "crv": {"const": "Ed25519"}, "x": string, "kid": string, "use": {"const": "sig"}, "alg": string},
            }}},
        },
        "GlobalTokenRevocationRequest": {
            "description": "draft-parecki-oauth-global-token-revocation-06: an RFC 9493 subject identifier as `sub_id`, or as `subject` (drafts before -03; one of the two).",
            "type": "object",
            "properties": {"sub_id": subject_identifier.clone(), "subject": subject_identifier},
        },
        "AuthorizationServerMetadata": {
            "description": "RFC 8414 metadata.",
            "type": "object",
            "required": ["issuer", "token_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri", "grant_types_supported"],
            "properties": {
                "issuer": string, "token_endpoint": string, "introspection_endpoint": string,
                "revocation_endpoint": string, "jwks_uri": string,
                "global_token_revocation_endpoint": string,
                "global_token_revocation_endpoint_auth_methods_supported": strings,
                "grant_types_supported": strings, "response_types_supported": strings,
                "token_endpoint_auth_methods_supported": strings,
                "introspection_endpoint_auth_methods_supported": strings,
                "revocation_endpoint_auth_methods_supported": strings,
                "subject_token_types_supported": strings,
                "access_token_signing_alg_values_supported": strings,
                "scopes_supported": strings,
            },
        },
        "AuditRecord": {
            "type": "object",
            "required": ["id", "seq", "tenant", "occurred", "action", "outcome", "hash"],
            "properties": {
                "id": string, "seq": {"type": "integer"}, "tenant": string, "occurred": time,
                "action": string,
                "actor": {"type": ["object", "null"], "properties": {"client_id": string, "name": nullable_string}},
                "request": {"type": ["object", "null"], "properties": {"id": string, "method": nullable_string, "path": nullable_string}},
                "resource": {"type": ["object", "null"], "properties": {"type": nullable_string, "id": string}},
                "outcome": string, "cause": nullable_string, "details": {},
                "personal": {}, "prev_hash": nullable_string, "hash": string,
                "cause_chain": {"type": "array", "items": {"$ref": "#/components/schemas/AuditRecord"}},
            },
        },
        "AuditPage": {
            "type": "object",
            "required": ["records", "next_cursor"],
            "properties": {
                "records": {"type": "array", "items": {"$ref": "#/components/schemas/AuditRecord"}},
                "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last."},
            },
        },
        "RoleMappings": {
            "type": "object",
            "required": ["mappings"],
            "properties": {"mappings": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "match_by", "group", "role", "source", "created", "matching"],
                "properties": {"id": string, "match_by": string, "group": string, "role": string, "source": string, "created": time,
                    "matching": {"enum": ["id", "externalId", "bound", "name"], "description": "`bound`: a display-name rule bound to `bound_group_id` (or waiting for the first group of its name); `name`: following the name on every change"},
                    "bound_group_id": nullable_string},
            }}},
        },
        "RoleMappingRequest": {
            "type": "object",
            "required": ["group"],
            "properties": {
                "group": {"type": "string", "description": "`id:…`, `externalId:…` or `displayName:…`"},
                "roles": strings,
                "role": string,
                "follow_name": {"type": "boolean", "description": "A display name matched by name on every change instead of binding to its group (default false)"},
            },
        },
        "UserAccess": {
            "type": "object",
            "required": ["user", "roles", "groups", "policy", "live_sessions", "checked_at"],
            "properties": {
                "user": {"type": "object", "required": ["id", "userName", "active"], "properties": {"id": string, "userName": string, "active": {"type": "boolean"}}},
                "roles": {"type": "array", "items": {"type": "object", "required": ["role", "granted_by", "direct"], "properties": {"role": string, "granted_by": {"type": "array", "items": {"type": "object"}}, "direct": {"type": ["object", "null"], "description": "Assigned directly by the identity provider (the user's `roles`): `assigned_by` (credential), `assigned_at`, `cause` (the audit record of the write)"}}}},
                "groups": {"type": "array", "items": {"type": "object", "required": ["id", "displayName"], "properties": {"id": string, "displayName": string, "externalId": nullable_string}}},
                "policy": {"type": "object", "properties": {"access_token_seconds": {"type": "integer"}, "session_seconds": {"type": "integer"}, "idle_seconds": {"type": "integer"}}},
                "live_sessions": {"type": "array", "items": {"type": "object", "required": ["id", "client_id", "expires", "idle_expires"], "properties": {"id": string, "client_id": string, "roles": {}, "created": time, "expires": time, "idle_expires": time}}},
                "checked_at": time,
                "has_access": {"type": "boolean", "description": "false for an inactive user: `roles` are then those a reactivation would give back"},
                "deactivated": {"type": ["object", "null"], "description": "An inactive user: the record of their deactivation", "properties": {
                    "at": {"type": ["string", "null"], "format": "date-time"}, "record": nullable_string, "request_id": nullable_string,
                    "by": {"type": ["object", "null"], "properties": {"client_id": nullable_string, "name": nullable_string}}}},
            },
        },
        "SessionsRevoked": {
            "type": "object",
            "required": ["sessions_revoked"],
            "properties": {"sessions_revoked": {"description": "Ids of the sessions ended", "type": "array", "items": {"type": "string"}}},
        },
        "Flags": {
            "type": "object",
            "required": ["flags"],
            "properties": {"flags": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "kind", "severity", "raised", "last_seen", "occurrences"],
                "properties": {
                    "id": string, "kind": string, "severity": string, "subject": nullable_string,
                    "details": {}, "raised": time, "last_seen": time,
                    "occurrences": {"type": "integer"},
                    "acknowledged": {"type": ["string", "null"], "format": "date-time"},
                    "acknowledged_by": nullable_string,
                },
            }}},
        },
        "RevocationPage": {
            "type": "object",
            "required": ["events", "next", "head", "more"],
            "properties": {
                "events": {"type": "array", "items": {
                    "type": "object",
                    "required": ["seq", "type", "occurred"],
                    "properties": {
                        "seq": {"type": "integer"}, "type": string, "occurred": time,
                        "user": nullable_string, "session": nullable_string, "jti": nullable_string,
                        "not_before": {"type": ["string", "null"], "format": "date-time"},
                        "cause": nullable_string, "details": {},
                    },
                }},
                "next": {"type": "integer"}, "head": {"type": "integer"}, "more": {"type": "boolean"},
            },
        },
        "SsfConfiguration": {
            "description": "Shared Signals Framework transmitter metadata.",
            "type": "object",
            "required": ["spec_version", "issuer", "jwks_uri", "delivery_methods_supported", "configuration_endpoint"],
            "properties": {
                "spec_version": string, "issuer": string, "jwks_uri": string,
                "delivery_methods_supported": strings, "configuration_endpoint": string,
                "status_endpoint": string, "add_subject_endpoint": string,
                "remove_subject_endpoint": string, "verification_endpoint": string,
                "authorization_schemes": {"type": "array", "items": {"type": "object"}},
                "default_subjects": string,
            },
        },
        "StreamConfiguration": {
            "type": "object",
            "required": ["stream_id", "iss", "aud", "delivery", "events_supported", "events_requested", "events_delivered"],
            "properties": {
                "stream_id": string, "iss": string,
                "aud": {"type": ["string", "array"], "items": {"type": "string"}},
                "delivery": {"type": "object", "required": ["method"], "properties": {"method": string, "endpoint_url": nullable_string}},
                "events_supported": strings, "events_requested": strings, "events_delivered": strings,
                "description": nullable_string,
            },
        },
        "StreamConfigurations": {
            "description": "One stream when `stream_id` is given, else all of the caller's.",
            "oneOf": [
                {"$ref": "#/components/schemas/StreamConfiguration"},
                {"type": "array", "items": {"$ref": "#/components/schemas/StreamConfiguration"}},
            ],
        },
        "StreamStatus": {
            "type": "object",
            "required": ["stream_id", "status"],
            "properties": {"stream_id": string, "status": {"enum": ["enabled", "paused", "disabled"]}, "reason": nullable_string},
        },
        "PollResponse": {
            "description": "RFC 8936 §2.2: SETs by `jti`.",
            "type": "object",
            "required": ["sets", "moreAvailable"],
            "properties": {"sets": {"type": "object", "additionalProperties": {"type": "string"}}, "moreAvailable": {"type": "boolean"}},
        },
    })
}
