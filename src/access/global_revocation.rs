//! Global Token Revocation (draft-parecki-oauth-global-token-revocation, what Okta Universal
//! Logout sends): the identity provider names a user as an RFC 9493 subject identifier, and
//! every session and token of that user ends, in one transaction, with an audit record and
//! outbox events caused by the request, exactly as the kill switch does. The user is not
//! deactivated: they may sign in again and get new tokens.
//!
//! Subjects are resolved within the caller's tenant: `iss_sub` by the caller's issuer (its
//! `sub` compared with the attribute configured for it, `externalId` by default),
//! `email` against `userName` and every e-mail address, `opaque` against the SCIM `id` and
//! `externalId`, `account` (`acct:` URI) against `userName`. A subject that names several
//! users ends the sessions of each: the reading that keeps access cut.

use serde_json::{Value, json};

use super::AccessError;
use super::provisioning::{self, Fact};
use super::revocation_callers::Assertion;
use super::upstream::UserAttribute;
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::outbox::{self, Effect};
use crate::store::users::{self as user_rows, UserColumn};
use crate::store::{AnyConnection, Store, match_values, revocation_assertions};
use crate::text::fold;

/// The indexed attribute holding every e-mail address of a user (`scim::matching`).
const EMAILS: &str = "emails.value";

/// A subject identifier (RFC 9493) as the request names it.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Email(String),
    IssSub { iss: String, sub: String },
    Opaque(String),
    Account(String),
}

impl Subject {
    /// Reads `{"sub_id": {"format": …, …}}` (draft -06), or `{"subject": {…}}` as drafts
    /// before -03 and Okta's and Auth0's older documentation write it; both at once, an
    /// unknown format or a missing member is a 400.
    pub fn from_request(body: &Value) -> Result<Self, AccessError> {
        let identifier = match (body.get("sub_id"), body.get("subject")) {
            (Some(sub_id), None) => sub_id,
            (None, Some(subject)) => subject,
            (Some(_), Some(_)) => {
                return Err(AccessError::InvalidRequest(
                    "give the subject once, as `sub_id` (or the older `subject`), not both".into(),
                ));
            }
            (None, None) => {
                return Err(AccessError::InvalidRequest(
                    "the body needs a `sub_id` object (RFC 9493)".into(),
                ));
            }
        };
        Self::from_identifier(identifier)
    }

    /// Reads one RFC 9493 subject identifier (`{"format": …, …}`), as a request's `sub_id`
    /// or a Security Event Token's subject carries it.
    pub fn from_identifier(sub_id: &Value) -> Result<Self, AccessError> {
        let invalid = |why: String| AccessError::InvalidRequest(why);
        let sub_id = sub_id
            .as_object()
            .ok_or_else(|| invalid("the body needs a `sub_id` object (RFC 9493)".into()))?;
        let member = |name: &str| {
            sub_id
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
                .ok_or_else(|| invalid(format!("a `{name}` member is required")))
        };
        match sub_id.get("format").and_then(Value::as_str) {
            Some("email") => Ok(Subject::Email(member("email")?)),
            Some("iss_sub") => Ok(Subject::IssSub {
                iss: member("iss")?,
                sub: member("sub")?,
            }),
            Some("opaque") => Ok(Subject::Opaque(member("id")?)),
            Some("account") => {
                let uri = member("uri")?;
                let name = uri
                    .strip_prefix("acct:")
                    .ok_or_else(|| invalid("an `account` URI starts with `acct:`".into()))?;
                Ok(Subject::Account(name.to_string()))
            }
            Some(other) => Err(invalid(format!(
                "subject format `{other}` is not supported: use email, iss_sub, opaque or account"
            ))),
            None => Err(invalid("`sub_id` needs a `format`".into())),
        }
    }

    /// The ids of the tenant's users it names under `rules`, sorted (GTR and the Shared
    /// Signals receiver both resolve subjects here).
    pub fn resolve(
        &self,
        conn: &mut AnyConnection,
        tenant_id: &str,
        rules: &Resolution,
    ) -> Result<Vec<String>, AccessError> {
        let by = |conn: &mut AnyConnection, column, value: &str| {
            Ok::<_, AccessError>(
                user_rows::find_by(conn, tenant_id, column, value)?
                    .into_iter()
                    .map(|u| u.id)
                    .collect::<Vec<_>>(),
            )
        };
        let by_attribute = |conn: &mut AnyConnection, attribute, value: &str| match attribute {
            UserAttribute::ExternalId => by(conn, UserColumn::ExternalId, value),
            UserAttribute::UserName => by(conn, UserColumn::UserNameKey, &fold(value)),
            UserAttribute::Id => by(conn, UserColumn::Id, value),
        };
        let mut ids = match self {
            Subject::IssSub { iss, sub } => {
                if rules.issuer.is_some_and(|issuer| issuer != iss) {
                    return Ok(Vec::new());
                }
                by_attribute(conn, rules.iss_sub, sub)?
            }
            Subject::Opaque(id) if rules.opaque.is_some() => {
                let attribute = rules.opaque.unwrap_or(UserAttribute::ExternalId);
                by_attribute(conn, attribute, id)?
            }
            Subject::Email(email) => {
                let mut ids = by(conn, UserColumn::UserNameKey, &fold(email))?;
                ids.extend(match_values::user_ids_with(
                    conn,
                    tenant_id,
                    EMAILS,
                    &fold(email),
                )?);
                ids
            }
            Subject::Opaque(id) => {
                let mut ids = by(conn, UserColumn::Id, id)?;
                ids.extend(by(conn, UserColumn::ExternalId, id)?);
                ids
            }
            Subject::Account(name) => by(conn, UserColumn::UserNameKey, &fold(name))?,
        };
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

/// How subjects map to a tenant's users.
#[derive(Debug, Clone, Copy)]
pub struct Resolution<'a> {
    /// The only issuer whose `iss_sub` subjects name users (`None`: any).
    pub issuer: Option<&'a str>,
    /// The attribute an `iss_sub` subject's `sub` is compared with.
    pub iss_sub: UserAttribute,
    /// The attribute an `opaque` id is compared with; `None`: the SCIM `id` or `externalId`.
    pub opaque: Option<UserAttribute>,
}

/// What a revocation did.
#[derive(Debug, Clone, PartialEq)]
pub enum Revoked {
    /// The users named and the sessions ended (none if they had none).
    Users {
        users: Vec<String>,
        sessions: Vec<String>,
    },
    /// No user of the tenant matches the subject.
    UnknownSubject,
}

/// Who asked for a revocation, as the revocation records it.
#[derive(Debug, Clone, Copy)]
pub struct RevocationRequest<'a> {
    pub actor: Option<&'a Actor>,
    pub request: Option<&'a RequestInfo>,
    /// A caller's JWT, whose `jti` is recorded in the same transaction (a replay fails it).
    pub assertion: Option<&'a Assertion>,
    /// The caller's completion stream: told when the revocation is done (draft -06 §5).
    pub completion_stream: Option<&'a str>,
}

/// Ends every session of the users `subject` names (under `rules`), in one transaction: one
/// `user.global_token_revocation` record per user, and the cascade's records and events
/// caused by it. A JWT's `jti` already recorded makes it fail with `InvalidClient`.
pub fn revoke(
    store: &Store,
    now: chrono::DateTime<chrono::Utc>,
    tenant_id: &str,
    subject: &Subject,
    rules: &Resolution,
    by: RevocationRequest,
) -> Result<Revoked, AccessError> {
    let RevocationRequest {
        actor,
        request,
        assertion,
        completion_stream,
    } = by;
    store.write(|conn| {
        if let Some(assertion) = assertion {
            let expires = crate::store::to_stored(assertion.valid_until);
            let first_use = revocation_assertions::record(
                conn,
                &assertion.issuer,
                &assertion.jti,
                tenant_id,
                expires,
            )?;
            if !first_use {
                tracing::warn!(issuer = %assertion.issuer, "a global token revocation JWT was replayed");
                return Err(AccessError::InvalidClient);
            }
        }
        let named = subject.resolve(conn, tenant_id, rules)?;
        // The lock order of every access write: user rows (all of them, sorted), then the
        // audit head, then sessions (decision 29).
        let mut users = Vec::with_capacity(named.len());
        for id in named {
            if let Some(user) = user_rows::get_for_update(conn, tenant_id, &id)? {
                users.push(user.id);
            }
        }
        // Done, whether anyone matched or not (telling only found subjects apart would tell
        // the caller who exists): its completion stream hears of it after the commit.
        if let Some(stream_id) = completion_stream {
            let completed = Effect::RevocationCompleted {
                stream_id: stream_id.to_string(),
                subject: subject.identifier(),
            };
            outbox::publish(conn, tenant_id, vec![completed], None, now)?;
        }
        if users.is_empty() {
            return Ok(Revoked::UnknownSubject);
        }
        let mut sessions = Vec::new();
        for user in &users {
            let event = Event {
                actor,
                request,
                resource_type: Some("User"),
                resource_id: Some(user.clone()),
                ..Event::new(
                    "user.global_token_revocation",
                    json!({"subject_format": subject.format()}),
                )
            };
            let cause = audit::record(conn, tenant_id, now, event)?;
            let fact = Fact {
                tenant_id,
                cause: &cause,
                actor,
                request,
                now,
                received: request.and_then(|r| r.received),
            };
            sessions.extend(provisioning::global_revocation(conn, &fact, user)?.sessions_ended);
        }
        Ok(Revoked::Users { users, sessions })
    })
}

impl Subject {
    /// The RFC 9493 identifier, as a request names it.
    pub fn identifier(&self) -> Value {
        match self {
            Subject::Email(email) => json!({"format": "email", "email": email}),
            Subject::IssSub { iss, sub } => json!({"format": "iss_sub", "iss": iss, "sub": sub}),
            Subject::Opaque(id) => json!({"format": "opaque", "id": id}),
            Subject::Account(name) => json!({"format": "account", "uri": format!("acct:{name}")}),
        }
    }

    /// The RFC 9493 format name, for the audit record (the identifier itself is personal).
    pub fn format(&self) -> &'static str {
        match self {
            Subject::Email(_) => "email",
            Subject::IssSub { .. } => "iss_sub",
            Subject::Opaque(_) => "opaque",
            Subject::Account(_) => "account",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_supported_format_is_read_and_anything_else_is_a_clear_400() {
        let read = |v: Value| Subject::from_request(&json!({"sub_id": v}));
        assert_eq!(
            read(json!({"format": "email", "email": "a@example.com"})).ok(),
            Some(Subject::Email("a@example.com".into()))
        );
        assert_eq!(
            read(json!({"format": "iss_sub", "iss": "https://idp", "sub": "00u1"})).ok(),
            Some(Subject::IssSub {
                iss: "https://idp".into(),
                sub: "00u1".into()
            })
        );
        assert_eq!(
            read(json!({"format": "opaque", "id": "x"})).ok(),
            Some(Subject::Opaque("x".into()))
        );
        assert_eq!(
            read(json!({"format": "account", "uri": "acct:a@example.com"})).ok(),
            Some(Subject::Account("a@example.com".into()))
        );
        for bad in [
            json!({"format": "email"}),
            json!({"format": "email", "email": ""}),
            json!({"format": "iss_sub", "iss": "https://idp"}),
            json!({"format": "phone_number", "phone_number": "+1"}),
            json!({"format": "account", "uri": "mailto:a@example.com"}),
            json!({"email": "a@example.com"}),
            json!("a@example.com"),
        ] {
            assert!(
                matches!(read(bad.clone()), Err(AccessError::InvalidRequest(_))),
                "{bad}"
            );
        }
        assert!(Subject::from_request(&json!({})).is_err());
        // The older body (drafts before -03, Okta's and Auth0's older documentation).
        let older = json!({"subject": {"format": "email", "email": "a@example.com"}});
        assert_eq!(
            Subject::from_request(&older).ok(),
            Some(Subject::Email("a@example.com".into()))
        );
        let both = json!({"sub_id": {"format": "opaque", "id": "x"}, "subject": {"format": "opaque", "id": "y"}});
        assert!(Subject::from_request(&both).is_err(), "ambiguous: refused");
    }
}

/// Who sent a revocation request.
#[derive(Debug, Clone)]
pub enum Requester {
    /// The tenant's identity provider by its SCIM credential: it may list the tenant's users
    /// anyway, so it is told when a subject is unknown.
    IdentityProvider(crate::access::credentials::Caller),
    /// A configured caller, by a JWT it signed: told nothing about who exists.
    Caller {
        tenant_id: String,
        client_id: String,
        user_attribute: UserAttribute,
        assertion: Assertion,
        completion_stream: Option<String>,
    },
}

impl Requester {
    pub fn tenant_id(&self) -> &str {
        match self {
            Requester::IdentityProvider(caller) => &caller.tenant_id,
            Requester::Caller { tenant_id, .. } => tenant_id,
        }
    }
}

impl crate::access::AccessService {
    /// Global token revocation for `requester`'s tenant. A JWT caller's `iss_sub` subjects
    /// must name its own issuer; a SCIM credential's are read with the tenant's trusted
    /// issuer, if any (`externalId` otherwise: what Okta provisions its user id as).
    pub fn revoke_subject(
        &self,
        requester: &Requester,
        subject: &Subject,
        actor: Option<&Actor>,
        request: Option<&RequestInfo>,
    ) -> Result<Revoked, AccessError> {
        let tenant_id = requester.tenant_id();
        let trusted = self.settings().trusted_issuers.get(tenant_id);
        let (rules, assertion, completion_stream) = match requester {
            Requester::IdentityProvider(_) => (
                Resolution {
                    issuer: trusted.map(|t| t.issuer.as_str()),
                    iss_sub: trusted.map_or(UserAttribute::ExternalId, |t| t.user_attribute),
                    opaque: None,
                },
                None,
                None,
            ),
            Requester::Caller {
                user_attribute,
                assertion,
                completion_stream,
                ..
            } => (
                Resolution {
                    issuer: Some(assertion.issuer.as_str()),
                    iss_sub: *user_attribute,
                    opaque: None,
                },
                Some(assertion),
                completion_stream.as_deref(),
            ),
        };
        let by = RevocationRequest {
            actor,
            request,
            assertion,
            completion_stream,
        };
        revoke(
            self.store(),
            self.clock().now(),
            tenant_id,
            subject,
            &rules,
            by,
        )
    }
}
