//! Operator sessions of the browser console: an admin credential, presented once at sign-in,
//! opens a session whose secret lives in the browser's cookie and whose SHA-256 digest lives
//! in the database (any replica answers it; a copy of the database signs no one in).
//!
//! A session ends at sign-out, when unused for the idle timeout, at its absolute lifetime, and
//! as soon as its credential is revoked. Its CSRF token is derived from the secret, so it
//! needs no storage and means nothing without the cookie. Sign-in and sign-out are audited
//! under the credential, like its API calls.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::AccessError;
use super::credentials::{Caller, CredentialKind};
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::hashing::sha256_hex;
use crate::store::console_sessions::{self as rows, ConsoleSessionRow};
use crate::store::{Store, StoreError, from_stored, to_stored};

/// `last_seen` is written at most this often (or a quarter of the idle timeout, if shorter),
/// so most requests of a session are reads.
const LAST_SEEN_RESOLUTION: Duration = Duration::seconds(60);

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// A session unused for this long is over.
    pub idle: Duration,
    /// A session is over this long after sign-in, used or not.
    pub lifetime: Duration,
}

impl SessionLimits {
    /// The limits the configuration file sets.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            idle: chrono::Duration::minutes(config.console_idle_minutes as i64),
            lifetime: chrono::Duration::hours(config.console_session_hours as i64),
        }
    }
}

/// A signed-in operator, as each console request finds them.
#[derive(Debug, Clone)]
pub struct Operator {
    pub client_id: String,
    pub name: String,
    pub tenant_id: String,
    /// The digest the session is stored under.
    session: String,
    /// The CSRF token every state-changing form of this session must carry.
    csrf: String,
}

impl Operator {
    /// The operator as audit records name an actor: their admin credential.
    pub fn actor(&self) -> Actor {
        Actor {
            client_id: self.client_id.clone(),
            name: self.name.clone(),
        }
    }

    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// Whether `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        !presented.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// A session just opened: the secret for the cookie (shown to no one else) and its operator.
pub struct OpenedSession {
    pub secret: String,
    pub operator: Operator,
}

/// Opens a session for an authenticated admin credential. The session named by `replacing`
/// (the cookie the browser came with, if any) is ended first, so a session id planted before
/// sign-in never becomes a signed-in one.
pub fn open(
    store: &Store,
    caller: &Caller,
    replacing: Option<&str>,
    request: &RequestInfo,
    limits: SessionLimits,
    now: DateTime<Utc>,
) -> Result<OpenedSession, AccessError> {
    if caller.kind != CredentialKind::Admin {
        return Err(AccessError::UnauthorizedClient(
            "only an admin credential can sign in to the console".into(),
        ));
    }
    let secret = new_secret()?;
    let row = ConsoleSessionRow {
        id_hash: digest(&secret),
        tenant_id: caller.tenant_id.clone(),
        client_id: caller.client_id.clone(),
        created: to_stored(now),
        last_seen: to_stored(now),
        expires: to_stored(now + limits.lifetime),
    };
    let actor = Actor {
        client_id: caller.client_id.clone(),
        name: caller.name.clone(),
    };
    store.write(|conn| {
        if let Some(old) = replacing {
            rows::delete(conn, &digest(old))?;
        }
        rows::purge(conn, to_stored(now), to_stored(now - limits.idle))?;
        rows::insert(conn, &row)?;
        let event = Event {
            actor: Some(&actor),
            request: Some(request),
            resource_type: Some("ConsoleSession"),
            resource_id: Some(handle(&row.id_hash)),
            ..Event::new(
                "console.sign_in",
                json!({"idle_seconds": limits.idle.num_seconds(), "expires": from_stored(row.expires)}),
            )
        };
        audit::record(conn, &caller.tenant_id, now, event)?;
        Ok::<_, StoreError>(())
    })?;
    let operator = operator(&row, &caller.name, &secret);
    Ok(OpenedSession { secret, operator })
}

/// The operator of the session whose secret the browser presents, or `None` when there is no
/// such session or it is over (idle, past its lifetime, its credential revoked); an over
/// session is removed.
pub fn resume(
    store: &Store,
    secret: &str,
    limits: SessionLimits,
    now: DateTime<Utc>,
) -> Result<Option<Operator>, StoreError> {
    let id_hash = digest(secret);
    let Some((row, credential)) = store.read(|conn| rows::find(conn, &id_hash))? else {
        return Ok(None);
    };
    let last_seen = from_stored(row.last_seen);
    let over = from_stored(row.expires) <= now
        || last_seen + limits.idle <= now
        || credential.revoked.is_some()
        || credential.kind != CredentialKind::Admin.as_str()
        || credential.tenant_id != row.tenant_id;
    if over {
        store.write(|conn| rows::delete(conn, &id_hash))?;
        return Ok(None);
    }
    let resolution = LAST_SEEN_RESOLUTION.min(limits.idle / 4);
    if last_seen + resolution <= now {
        store.write(|conn| rows::touch(conn, &id_hash, to_stored(now)))?;
    }
    Ok(Some(operator(&row, &credential.name, secret)))
}

/// Whether `operator`'s console session is still open: not signed out, not past its expiry
/// or its idle limit, its credential still an active admin one. A read only: a live view
/// left open is not activity, so it ends with the session's idle limit.
pub fn still_open(
    store: &Store,
    operator: &Operator,
    limits: SessionLimits,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some((row, credential)) = store.read(|conn| rows::find(conn, &operator.session))? else {
        return Ok(false);
    };
    Ok(from_stored(row.expires) > now
        && from_stored(row.last_seen) + limits.idle > now
        && credential.revoked.is_none()
        && credential.kind == CredentialKind::Admin.as_str()
        && credential.tenant_id == row.tenant_id)
}

/// Signs the operator out: the session ends on every replica at once.
pub fn close(
    store: &Store,
    operator: &Operator,
    request: &RequestInfo,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let actor = operator.actor();
    store.write(|conn| {
        if rows::delete(conn, &operator.session)? {
            let event = Event {
                actor: Some(&actor),
                request: Some(request),
                resource_type: Some("ConsoleSession"),
                resource_id: Some(handle(&operator.session)),
                ..Event::new("console.sign_out", json!({}))
            };
            audit::record(conn, &operator.tenant_id, now, event)?;
        }
        Ok(())
    })
}

fn operator(row: &ConsoleSessionRow, name: &str, secret: &str) -> Operator {
    Operator {
        client_id: row.client_id.clone(),
        name: name.to_string(),
        tenant_id: row.tenant_id.clone(),
        session: row.id_hash.clone(),
        csrf: csrf_token(secret),
    }
}

/// How audit records name a session: a prefix of its digest, which reveals nothing usable.
fn handle(id_hash: &str) -> String {
    id_hash.chars().take(16).collect()
}

/// The stored form of a session secret.
fn digest(secret: &str) -> String {
    sha256_hex(format!("scimitar-console-session\0{secret}").as_bytes())
}

/// The CSRF token of a session: derived from its secret under another label, so it differs
/// from the stored digest and cannot be computed without the cookie.
fn csrf_token(secret: &str) -> String {
    sha256_hex(format!("scimitar-console-csrf\0{secret}").as_bytes())
}

/// 256 random bits.
pub fn new_secret() -> Result<String, AccessError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AccessError::Keys(format!("randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_and_the_stored_digest_differ_and_depend_on_the_secret() {
        assert_ne!(csrf_token("a"), digest("a"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(csrf_token("a").len(), 64);
    }

    #[test]
    fn an_empty_or_wrong_csrf_token_never_matches() {
        let row = ConsoleSessionRow {
            id_hash: digest("s"),
            tenant_id: "t".into(),
            client_id: "c".into(),
            created: chrono::DateTime::<Utc>::UNIX_EPOCH.naive_utc(),
            last_seen: chrono::DateTime::<Utc>::UNIX_EPOCH.naive_utc(),
            expires: chrono::DateTime::<Utc>::UNIX_EPOCH.naive_utc(),
        };
        let operator = operator(&row, "ops", "s");
        assert!(operator.csrf_matches(&csrf_token("s")));
        assert!(!operator.csrf_matches(""));
        assert!(!operator.csrf_matches(&csrf_token("t")));
    }
}
