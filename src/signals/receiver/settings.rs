//! A receiver's configuration: which transmitter (issuer, audiences, keys), how SETs arrive
//! (push or poll), how subjects map to users and what each event does. Read from and shown
//! as the admin API's JSON; stored in `ssf_receivers` (`settings` holds the mapping and
//! actions as JSON).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::stream_control::{Access, DEFAULT_EVENTS, ManagedStream, StreamRequest};
use super::{POLL, PUSH};
use crate::access::upstream::UserAttribute;
use crate::egress::Destinations;
use crate::signals::SignalsError;
use crate::store::from_stored;
use crate::store::receivers::ReceiverRow;

/// How each subject format maps to users. `iss_sub` (the transmitter's own user id) is
/// compared with `externalId` by default, which is what Okta and Entra provision; `email`
/// subjects are refused unless allowed, since addresses get recycled; `opaque` is refused
/// unless an attribute is named; `account` (`acct:` URIs, the `userName`) unless allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubjectRules {
    pub iss_sub: Option<UserAttribute>,
    pub email: bool,
    pub opaque: Option<UserAttribute>,
    pub account: bool,
}

impl Default for SubjectRules {
    fn default() -> Self {
        Self {
            iss_sub: Some(UserAttribute::ExternalId),
            email: false,
            opaque: None,
            account: false,
        }
    }
}

/// What CAEP `credential-change` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialChange {
    /// End the user's sessions (the default: a changed password or factor should log out).
    EndSessions,
    /// Record it and do nothing.
    Record,
}

/// What RISC `account-enabled` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountEnabled {
    /// Record it and raise a flag; the user stays deactivated (the default).
    Flag,
    /// Also reactivate the user, as a SCIM `active: true` would.
    Reactivate,
}

/// The stored settings of a receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub subjects: SubjectRules,
    pub credential_change: CredentialChange,
    pub account_enabled: AccountEnabled,
    /// Oldest `iat` accepted, in seconds before now.
    pub max_age_seconds: i64,
    /// Poll receivers: seconds between polls when the transmitter had nothing more.
    pub poll_interval_seconds: u64,
    /// Poll receivers: `maxEvents` of each poll.
    pub poll_max_events: u32,
}

/// Default of `max_age_seconds`: a day, so a transmitter's retries and a poll receiver's
/// outage are covered, while a SET older than the dedup records it could replay is refused.
pub const DEFAULT_MAX_AGE_SECONDS: i64 = 86_400;
/// Longest `max_age_seconds` accepted: received SETs are kept longer than this
/// (`manage::RECEIPT_RETENTION_DAYS`).
pub const MAX_MAX_AGE_SECONDS: i64 = 7 * 86_400;

impl Default for Settings {
    fn default() -> Self {
        Self {
            subjects: SubjectRules::default(),
            credential_change: CredentialChange::EndSessions,
            account_enabled: AccountEnabled::Flag,
            max_age_seconds: DEFAULT_MAX_AGE_SECONDS,
            poll_interval_seconds: 5,
            poll_max_events: 100,
        }
    }
}

impl Settings {
    /// The settings of a stored receiver (defaults for anything unreadable).
    pub fn of(row: &ReceiverRow) -> Self {
        serde_json::from_str(&row.settings).unwrap_or_default()
    }
}

/// A receiver as the admin API sends it (create and replace).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_uri: Option<String>,
    pub jwks: Option<String>,
    pub method: String,
    pub poll_endpoint: Option<String>,
    pub poll_authorization: Option<String>,
    pub settings: Settings,
    pub enabled: bool,
    /// A stream Scimitar creates and manages at the transmitter (`stream`); its `audience`,
    /// keys and poll endpoint are then learned from the transmitter.
    pub stream: Option<PartialStream>,
}

/// `stream` as given: its credential may be absent on a replacement (the stored one is kept).
#[derive(Debug, Clone, PartialEq)]
pub struct PartialStream {
    pub access: Option<Access>,
    pub events_requested: Vec<String>,
    pub description: Option<String>,
}

impl PartialStream {
    /// The request, with `stored` standing in for an absent credential.
    pub fn with_access(self, stored: Option<Access>) -> Result<StreamRequest, SignalsError> {
        let access = self.access.or(stored).ok_or_else(|| {
            SignalsError::InvalidValue(
                "`stream` needs `client_id` and `client_secret`, or `authorization_header`".into(),
            )
        })?;
        Ok(StreamRequest {
            access,
            events_requested: self.events_requested,
            description: self.description,
        })
    }
}

/// Reads `stream`: the management credential (an OAuth client, or a fixed header; absent on
/// a replacement that keeps the stored one), the events requested and a description.
fn parse_stream(
    stream: &Value,
    destinations: &Destinations,
) -> Result<PartialStream, SignalsError> {
    let invalid = |why: &str| SignalsError::InvalidValue(format!("`stream`: {why}"));
    let Value::Object(fields) = stream else {
        return Err(invalid("an object"));
    };
    let known = [
        "client_id",
        "client_secret",
        "token_endpoint",
        "scope",
        "authorization_header",
        "events_requested",
        "description",
    ];
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(&format!("unknown field `{unknown}`")));
    }
    let text = |name: &str| -> Result<Option<String>, SignalsError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(_) => Err(invalid(&format!("`{name}` must be a non-empty string"))),
        }
    };
    let (client_id, secret, header) = (
        text("client_id")?,
        text("client_secret")?,
        text("authorization_header")?,
    );
    let token_endpoint = text("token_endpoint")?;
    if let Some(url) = &token_endpoint {
        check_url(destinations, url, "stream.token_endpoint")?;
    }
    let access = match (client_id, secret, header) {
        (Some(client_id), Some(client_secret), None) => Some(Access::ClientCredentials {
            client_id,
            client_secret,
            token_endpoint,
            scope: text("scope")?,
        }),
        (None, None, Some(authorization)) => Some(Access::Header { authorization }),
        (None, None, None) => None,
        _ => {
            return Err(invalid(
                "give `client_id` and `client_secret` (OAuth client credentials), or `authorization_header`",
            ));
        }
    };
    let events = match fields.get("events_requested") {
        None | Some(Value::Null) => DEFAULT_EVENTS.iter().map(|e| e.to_string()).collect(),
        Some(Value::Array(events)) => events
            .iter()
            .map(|e| e.as_str().filter(|e| !e.is_empty()).map(String::from))
            .collect::<Option<Vec<_>>>()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| invalid("`events_requested` is a non-empty array of event URIs"))?,
        Some(_) => return Err(invalid("`events_requested` is an array of event URIs")),
    };
    Ok(PartialStream {
        access,
        events_requested: events,
        description: text("description")?,
    })
}

/// Reads the admin API's JSON.
pub fn parse(body: &Value, destinations: &Destinations) -> Result<Request, SignalsError> {
    let invalid = |why: &str| SignalsError::InvalidValue(why.to_string());
    let text = |name: &str| -> Result<Option<String>, SignalsError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(_) => Err(invalid(&format!("`{name}` must be a non-empty string"))),
        }
    };
    let issuer = text("issuer")?.ok_or_else(|| invalid("`issuer` is required"))?;
    let stream = body
        .get("stream")
        .filter(|s| !s.is_null())
        .map(|s| parse_stream(s, destinations))
        .transpose()?;
    let managed = stream.is_some();
    let audiences = match body.get("audience") {
        None | Some(Value::Null) if managed => Vec::new(),
        Some(_) if managed => {
            return Err(invalid(
                "a managed stream's `audience` is the one its transmitter assigns: leave it out",
            ));
        }
        Some(Value::String(one)) if !one.is_empty() => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .map(|a| a.as_str().filter(|a| !a.is_empty()).map(String::from))
            .collect::<Option<Vec<_>>>()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| invalid("`audience` must be a string or an array of strings"))?,
        _ => {
            return Err(invalid(
                "`audience` (the `aud` the transmitter sends) is required",
            ));
        }
    };
    let jwks_uri = text("jwks_uri")?;
    let jwks = match body.get("jwks") {
        None | Some(Value::Null) => None,
        Some(jwks) => {
            serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(jwks.clone())
                .map_err(|e| invalid(&format!("`jwks` is not a JWK set: {e}")))?;
            Some(jwks.to_string())
        }
    };
    if jwks_uri.is_some() && jwks.is_some() || !managed && jwks_uri.is_none() && jwks.is_none() {
        return Err(invalid(
            "give the transmitter's keys as `jwks_uri` or `jwks` (one of them)",
        ));
    }
    if let Some(uri) = &jwks_uri {
        check_url(destinations, uri, "jwks_uri")?;
    }
    let delivery = body.get("delivery").cloned().unwrap_or_else(|| json!({}));
    let method = delivery
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or(PUSH);
    let (method, poll_endpoint, poll_authorization) = match method {
        PUSH => (PUSH.to_string(), None, None),
        POLL if managed => {
            if delivery.get("endpoint_url").is_some()
                || delivery.get("authorization_header").is_some()
            {
                return Err(invalid(
                    "a managed poll stream's `endpoint_url` comes from its transmitter, and polls send the stream's credential: leave them out",
                ));
            }
            (POLL.to_string(), None, None)
        }
        POLL => {
            let endpoint = delivery
                .get("endpoint_url")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("a poll receiver needs `delivery.endpoint_url`"))?;
            check_url(destinations, endpoint, "delivery.endpoint_url")?;
            let authorization = delivery
                .get("authorization_header")
                .and_then(Value::as_str)
                .map(String::from);
            (POLL.to_string(), Some(endpoint.to_string()), authorization)
        }
        other => {
            return Err(invalid(&format!(
                "delivery method `{other}` is not supported: use {PUSH} or {POLL}"
            )));
        }
    };
    let mut settings = Settings::default();
    if let Some(subjects) = body.get("subjects") {
        settings.subjects = serde_json::from_value(subjects.clone())
            .map_err(|e| invalid(&format!("`subjects`: {e}")))?;
    }
    if let Some(value) = body.get("credential_change") {
        settings.credential_change = serde_json::from_value(value.clone())
            .map_err(|_| invalid("`credential_change` is `end_sessions` or `record`"))?;
    }
    if let Some(value) = body.get("account_enabled") {
        settings.account_enabled = serde_json::from_value(value.clone())
            .map_err(|_| invalid("`account_enabled` is `flag` or `reactivate`"))?;
    }
    if let Some(value) = body.get("max_age_seconds") {
        settings.max_age_seconds = value
            .as_i64()
            .filter(|s| (60..=MAX_MAX_AGE_SECONDS).contains(s))
            .ok_or_else(|| invalid("`max_age_seconds` is from 60 to 604800"))?;
    }
    if let Some(value) = delivery.get("interval_seconds") {
        settings.poll_interval_seconds = value
            .as_u64()
            .filter(|s| (1..=3600).contains(s))
            .ok_or_else(|| invalid("`delivery.interval_seconds` is from 1 to 3600"))?;
    }
    if let Some(value) = delivery.get("max_events") {
        settings.poll_max_events = value
            .as_u64()
            .filter(|n| (1..=1000).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| invalid("`delivery.max_events` is from 1 to 1000"))?;
    }
    let enabled = match body.get("enabled") {
        None => true,
        Some(Value::Bool(enabled)) => *enabled,
        Some(_) => return Err(invalid("`enabled` is a boolean")),
    };
    Ok(Request {
        issuer,
        audiences,
        jwks_uri,
        jwks,
        method,
        poll_endpoint,
        poll_authorization,
        settings,
        enabled,
        stream,
    })
}

/// A URL Scimitar will fetch, checked against the destination policy now (and again, once
/// resolved, at each request).
fn check_url(destinations: &Destinations, url: &str, name: &str) -> Result<(), SignalsError> {
    destinations
        .check_url(url)
        .map(|_| ())
        .map_err(|e| SignalsError::InvalidValue(format!("`{name}`: {e}")))
}

/// A receiver as the admin API shows it; secrets are never shown (`push_url` is where its
/// transmitter pushes, for push receivers).
pub fn show(row: &ReceiverRow, push_url: &str) -> Value {
    let settings = Settings::of(row);
    let audiences: Value = serde_json::from_str(&row.audiences).unwrap_or_else(|_| json!([]));
    let jwks: Value = row
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or(Value::Null);
    let delivery = if row.delivery_method == POLL {
        json!({
            "method": POLL,
            "endpoint_url": row.poll_endpoint,
            "authorization_header_set": row.poll_authorization.is_some(),
            "interval_seconds": settings.poll_interval_seconds,
            "max_events": settings.poll_max_events,
        })
    } else {
        json!({"method": PUSH, "endpoint_url": push_url})
    };
    let stream = ManagedStream::of(row).map(|s| {
        json!({
            "stream_id": s.stream_id, "status": s.status, "reason": s.reason,
            "events_requested": s.events_requested, "events_delivered": s.events_delivered,
            "description": s.description, "credential": s.credential,
            "configuration_endpoint": s.configuration_endpoint,
        })
    });
    json!({
        "id": row.id,
        "issuer": row.issuer,
        "stream": stream,
        "audience": audiences,
        "jwks_uri": row.jwks_uri,
        "jwks": jwks,
        "delivery": delivery,
        "subjects": settings.subjects,
        "credential_change": settings.credential_change,
        "account_enabled": settings.account_enabled,
        "max_age_seconds": settings.max_age_seconds,
        "enabled": row.enabled,
        "created": from_stored(row.created),
        "updated": from_stored(row.updated),
    })
}
