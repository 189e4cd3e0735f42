//! Security Event Tokens: which outbox events a stream carries and how each reads.
//! Subjects are RFC 9493 identifiers: `iss_sub` for the user (`sub` is the user's SCIM id,
//! as in our access tokens), inside a `complex` subject with the session when there is one.

use serde_json::{Map, Value, json};

use super::provisioning_events as prov;
use crate::store::from_stored;
use crate::store::outbox::OutboxRow;

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const TOKEN_CLAIMS_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const ACCOUNT_ENABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// The event types a stream can request: CAEP and RISC, and RFC 9967's provisioning events.
pub const SUPPORTED: [&str; 13] = [
    SESSION_REVOKED,
    TOKEN_CLAIMS_CHANGE,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    prov::CREATE_FULL,
    prov::CREATE_NOTICE,
    prov::PATCH_FULL,
    prov::PATCH_NOTICE,
    prov::PUT_FULL,
    prov::PUT_NOTICE,
    prov::DELETE,
    prov::ACTIVATE,
    prov::DEACTIVATE,
];

/// The outbox event of a finished Global Token Revocation: a SET for its caller's stream
/// only (`for_stream`), naming the subject as the caller did.
pub const COMPLETION: &str = crate::outbox::REVOCATION_COMPLETED;

/// Whether `event` goes to the stream `stream_id` at all: a completion goes to its caller's
/// stream alone; every other event to every stream that asked for its type.
pub fn for_stream(event: &OutboxRow, stream_id: &str) -> bool {
    if event.kind != COMPLETION {
        return true;
    }
    serde_json::from_str::<Value>(&event.details)
        .is_ok_and(|details| details["stream"].as_str() == Some(stream_id))
}

/// The JOSE `typ` of a SET.
pub const SET_TYP: &str = "secevent+jwt";

/// The event types an outbox event becomes on a stream that requested `requested`: its
/// CAEP or RISC event, and its RFC 9967 provisioning event (a deactivation is both RISC
/// `account-disabled` and `prov:deactivate`), each its own SET.
pub fn event_types(event: &OutboxRow, requested: impl Fn(&str) -> bool) -> Vec<&'static str> {
    let mut types: Vec<&'static str> = event_type(&event.kind)
        .filter(|t| requested(t))
        .into_iter()
        .collect();
    types.extend(prov::event_type(event, &requested));
    types
}

/// The CAEP or RISC event type an outbox event becomes, if any.
fn event_type(kind: &str) -> Option<&'static str> {
    match kind {
        "session.revoked" => Some(SESSION_REVOKED),
        "user.roles_changed" => Some(TOKEN_CLAIMS_CHANGE),
        "user.disabled" => Some(ACCOUNT_DISABLED),
        "user.enabled" => Some(ACCOUNT_ENABLED),
        COMPLETION => Some(SESSION_REVOKED),
        _ => None,
    }
}

/// Who started a change, in CAEP's terms, from the reason the cascade recorded.
fn initiating_entity(reason: &str) -> &'static str {
    match reason {
        "user_deactivated"
        | "user_deleted"
        | "revoked_by_admin"
        | "client_revoked"
        | "global_token_revocation" => "admin",
        "role_lost" => "policy",
        "revoked_by_client" => "user",
        _ => "system",
    }
}

fn reason_text(reason: &str) -> String {
    match reason {
        "user_deactivated" => "The identity provider deactivated the account.".into(),
        "user_deleted" => "The identity provider deleted the account.".into(),
        "role_lost" => "A role the session carried was removed.".into(),
        "revoked_by_admin" => "An administrator revoked every session of the account.".into(),
        "client_revoked" => "An administrator revoked the app the session was issued to.".into(),
        "global_token_revocation" => {
            "The identity provider revoked every session of the account (global token revocation)."
                .into()
        }
        "refresh_token_reuse" => {
            "A refresh token was used twice; the session may be stolen.".into()
        }
        other => other.replace('_', " "),
    }
}

/// The claims of the SET for `event` (the caller signs them), or `None` when the event
/// carries nothing for streams.
pub fn claims(
    event: &OutboxRow,
    event_type: &str,
    issuer: &str,
    audience: &str,
    jti: &str,
    iat: i64,
) -> Option<Value> {
    if prov::is_provisioning(event_type) {
        let (sub_id, payload) = prov::subject_and_payload(event, event_type)?;
        return Some(json!({
            "iss": issuer, "jti": jti, "iat": iat, "aud": audience, "txn": event.cause,
            "sub_id": sub_id,
            "events": {event_type: payload},
        }));
    }
    let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    if event.kind == COMPLETION {
        let body = json!({
            "event_timestamp": from_stored(event.occurred).timestamp(),
            "initiating_entity": "admin",
            "reason_admin": {"en": "The global token revocation you asked for is complete: every session and token of the subject has ended."},
        });
        return Some(json!({
            "iss": issuer, "jti": jti, "iat": iat, "aud": audience,
            "sub_id": details["subject"],
            "events": {event_type: body},
        }));
    }
    let user = event.user_id.as_deref()?;
    let reason = details["reason"].as_str().unwrap_or("policy");
    let mut body = Map::new();
    body.insert(
        "event_timestamp".into(),
        json!(from_stored(event.occurred).timestamp()),
    );
    let user_subject = json!({"format": "iss_sub", "iss": issuer, "sub": user});
    let sub_id = match &event.session_id {
        Some(session) if event.kind == "session.revoked" => {
            json!({"format": "complex", "user": user_subject, "session": {"format": "opaque", "id": session}})
        }
        _ => json!({"format": "complex", "user": user_subject}),
    };
    match event_type {
        TOKEN_CLAIMS_CHANGE => {
            body.insert("initiating_entity".into(), json!("policy"));
            body.insert("claims".into(), json!({"roles": details["roles"]}));
        }
        ACCOUNT_ENABLED => {
            body.insert("initiating_entity".into(), json!("admin"));
        }
        _ => {
            body.insert("initiating_entity".into(), json!(initiating_entity(reason)));
            body.insert("reason_admin".into(), json!({"en": reason_text(reason)}));
        }
    }
    Some(json!({
        "iss": issuer,
        "jti": jti,
        "iat": iat,
        "aud": audience,
        "txn": event.cause,
        "sub_id": sub_id,
        "events": {event_type: Value::Object(body)},
    }))
}

/// The claims of a verification event (SSF 1.0 §8.1.4), echoing the receiver's `state`.
pub fn verification(
    issuer: &str,
    audience: &str,
    stream_id: &str,
    state: Option<&str>,
    jti: &str,
    iat: i64,
) -> Value {
    let mut body = Map::new();
    if let Some(state) = state {
        body.insert("state".into(), json!(state));
    }
    json!({
        "iss": issuer,
        "jti": jti,
        "iat": iat,
        "aud": audience,
        "sub_id": {"format": "opaque", "id": stream_id},
        "events": {VERIFICATION: Value::Object(body)},
    })
}
