//! The events a receiver acts on, and the subject of a SET mapped to the tenant's users.
//! Subjects are RFC 9493 identifiers, read by `access::global_revocation::Subject` (as
//! Global Token Revocation reads them) and resolved with its rules, restricted to the formats
//! the receiver allows.

use serde_json::{Map, Value};

use super::settings::{AccountEnabled, CredentialChange, Settings, SubjectRules};
use super::{ErrorCode, Refusal};
use crate::access::global_revocation::{Resolution, Subject};
use crate::access::upstream::UserAttribute;
use crate::signals::SignalsError;
use crate::store::AnyConnection;

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const ACCOUNT_ENABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
pub const SESSIONS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// What one event makes the receiver do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// End every session of the user (CAEP `session-revoked`, RISC `sessions-revoked`,
    /// CAEP `credential-change` by default).
    EndSessions,
    /// Deactivate the user as a SCIM deactivation does (RISC `account-disabled`).
    Deactivate,
    /// Record and flag; reactivate only where allowed (RISC `account-enabled`).
    Enabled { reactivate: bool },
    /// Record only: a verification event, `credential-change` set to `record`, or an
    /// event type this receiver does not know.
    Record,
}

impl Action {
    pub fn of(event_type: &str, settings: &Settings) -> Self {
        match event_type {
            SESSION_REVOKED | SESSIONS_REVOKED => Action::EndSessions,
            CREDENTIAL_CHANGE => match settings.credential_change {
                CredentialChange::EndSessions => Action::EndSessions,
                CredentialChange::Record => Action::Record,
            },
            ACCOUNT_DISABLED => Action::Deactivate,
            ACCOUNT_ENABLED => Action::Enabled {
                reactivate: settings.account_enabled == AccountEnabled::Reactivate,
            },
            _ => Action::Record,
        }
    }

    /// Whether the action needs the SET's subject mapped to users.
    pub fn needs_subject(self) -> bool {
        !matches!(self, Action::Record)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::EndSessions => "end_sessions",
            Action::Deactivate => "deactivate",
            Action::Enabled { reactivate: true } => "reactivate",
            Action::Enabled { reactivate: false } => "flag",
            Action::Record => "record",
        }
    }
}

/// A short name of an event type for metrics and logs (`session-revoked`, …, `other`).
pub fn short_name(event_type: &str) -> &'static str {
    match event_type {
        SESSION_REVOKED => "session-revoked",
        CREDENTIAL_CHANGE => "credential-change",
        ACCOUNT_DISABLED => "account-disabled",
        ACCOUNT_ENABLED => "account-enabled",
        SESSIONS_REVOKED => "sessions-revoked",
        VERIFICATION => "verification",
        _ => "other",
    }
}

/// The subject identifier of a SET: its `sub_id` claim (SSF 1.0), else the event's `subject`
/// (CAEP and RISC as first published); a `complex` subject names its user by `user`.
pub fn identifier<'a>(claims: &'a Map<String, Value>, event: &'a Value) -> Option<&'a Value> {
    let found = claims.get("sub_id").or_else(|| event.get("subject"))?;
    match found.get("format").and_then(Value::as_str) {
        Some("complex") => found.get("user"),
        _ => Some(found),
    }
}

/// The users of `tenant_id` that `identifier` names under `rules`, sorted; a refusal when the
/// identifier is missing, malformed, of a format the receiver does not accept, or names no
/// user.
pub fn users(
    conn: &mut AnyConnection,
    tenant_id: &str,
    issuer: &str,
    identifier: Option<&Value>,
    rules: &SubjectRules,
) -> Result<Result<Vec<String>, Refusal>, SignalsError> {
    let refuse = |why: String| Ok(Err(Refusal::new(ErrorCode::InvalidRequest, why)));
    let Some(identifier) = identifier else {
        return refuse("the SET names no subject (`sub_id`, or the event's `subject`)".into());
    };
    let subject = match Subject::from_identifier(identifier) {
        Ok(subject) => subject,
        Err(error) => return refuse(format!("the SET's subject cannot be read: {error}")),
    };
    let allowed = match &subject {
        Subject::IssSub { .. } => rules.iss_sub.is_some(),
        Subject::Email(_) => rules.email,
        Subject::Opaque(_) => rules.opaque.is_some(),
        Subject::Account(_) => rules.account,
    };
    if !allowed {
        return refuse(format!(
            "this receiver does not map `{}` subjects to users (see its `subjects` settings)",
            subject.format()
        ));
    }
    let resolution = Resolution {
        issuer: Some(issuer),
        iss_sub: rules.iss_sub.unwrap_or(UserAttribute::ExternalId),
        opaque: rules.opaque,
    };
    let users = subject.resolve(conn, tenant_id, &resolution)?;
    if users.is_empty() {
        return refuse(format!(
            "the `{}` subject names no user of this tenant",
            subject.format()
        ));
    }
    Ok(Ok(users))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_event_type_has_its_action_under_the_settings() {
        let mut settings = Settings::default();
        assert_eq!(Action::of(SESSION_REVOKED, &settings), Action::EndSessions);
        assert_eq!(Action::of(SESSIONS_REVOKED, &settings), Action::EndSessions);
        assert_eq!(
            Action::of(CREDENTIAL_CHANGE, &settings),
            Action::EndSessions
        );
        assert_eq!(Action::of(ACCOUNT_DISABLED, &settings), Action::Deactivate);
        assert_eq!(
            Action::of(ACCOUNT_ENABLED, &settings),
            Action::Enabled { reactivate: false }
        );
        assert_eq!(Action::of(VERIFICATION, &settings), Action::Record);
        assert_eq!(
            Action::of("https://example.test/x", &settings),
            Action::Record
        );
        settings.credential_change = CredentialChange::Record;
        settings.account_enabled = AccountEnabled::Reactivate;
        assert_eq!(Action::of(CREDENTIAL_CHANGE, &settings), Action::Record);
        assert_eq!(
            Action::of(ACCOUNT_ENABLED, &settings),
            Action::Enabled { reactivate: true }
        );
    }

    #[test]
    fn the_subject_is_sub_id_else_the_events_subject_and_a_complex_one_names_its_user() {
        let user = json!({"format": "iss_sub", "iss": "https://idp", "sub": "00u1"});
        let claims = json!({"sub_id": {"format": "complex", "user": user.clone()}});
        let claims = claims.as_object().cloned().unwrap_or_default();
        assert_eq!(identifier(&claims, &json!({})), Some(&user));
        let event = json!({"subject": user.clone()});
        assert_eq!(identifier(&Map::new(), &event), Some(&user));
        assert_eq!(identifier(&Map::new(), &json!({})), None);
    }
}
