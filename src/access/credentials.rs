//! Credentials: creation, listing, revocation and the bearer-token check.
//!
//! A secret is 256 random bits, shown once. Only its SHA-256 digest is stored: the secret has
//! full entropy, so a slow password hash would add nothing but a CPU cost an attacker controls.
//! The tenant of a request is the tenant of its credential, and nothing else.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::audit::{self, Actor, Event};
use crate::hashing::sha256_hex;
use crate::store::credentials::{self as rows, CredentialRow};
use crate::store::{self, Store, StoreError, tenants};

/// Prefix that lets secret scanners recognise a leaked Scimitar secret.
const SECRET_PREFIX: &str = "scimitar_";
/// `last_used` is written at most this often per credential, so checks stay reads.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An identity provider pushing users and groups.
    Scim,
    /// An operator using the admin API.
    Admin,
    /// An application that obtains tokens for its users and checks them (`/oauth2/*`).
    App,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Scim => "scim",
            CredentialKind::Admin => "admin",
            CredentialKind::App => "app",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "scim" => Some(CredentialKind::Scim),
            "admin" => Some(CredentialKind::Admin),
            "app" => Some(CredentialKind::App),
            _ => None,
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("no tenant named or with id `{0}`")]
    UnknownTenant(String),
    #[error("no active credential with client id `{0}`")]
    UnknownCredential(String),
    #[error("a credential name must be 1 to 100 printable characters")]
    InvalidName,
    #[error("the system's random number generator failed: {0}")]
    Randomness(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A secret as handed to its owner once; never stored, never logged.
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A credential just created: the only moment its secret exists in clear.
#[derive(Debug)]
pub struct NewCredential {
    pub client_id: String,
    pub tenant_id: String,
    pub secret: Secret,
}

/// A credential as listed to an operator.
#[derive(Debug, Clone)]
pub struct CredentialInfo {
    pub client_id: String,
    pub name: String,
    pub kind: String,
    pub tenant: String,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
    pub revoked: Option<DateTime<Utc>>,
    pub trusted: bool,
    /// An app client's own cap on OAuth requests per second (`None`: the server's default).
    pub oauth_per_second: Option<u32>,
}

/// The caller of a request, established from its bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
    pub name: String,
    pub kind: CredentialKind,
    pub tenant_id: String,
    /// The tenant refuses non-RFC input (`scim::quirks`).
    pub strict: bool,
    /// An app client trusted to name users directly in a token exchange.
    pub trusted: bool,
    /// An app client's own cap on OAuth requests per second (`None`: the server's default).
    pub oauth_per_second: Option<u32>,
}

/// Creates a credential in the tenant named by id or name (the default tenant when `None`).
pub fn create(
    store: &Store,
    tenant: Option<&str>,
    name: &str,
    kind: CredentialKind,
    now: DateTime<Utc>,
) -> Result<NewCredential, CredentialError> {
    create_with(store, tenant, name, kind, false, now)
}

/// As `create`; `trusted` lets an app client name users directly in a token exchange.
pub fn create_with(
    store: &Store,
    tenant: Option<&str>,
    name: &str,
    kind: CredentialKind,
    trusted: bool,
    now: DateTime<Utc>,
) -> Result<NewCredential, CredentialError> {
    let trusted = trusted && kind == CredentialKind::App;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(CredentialError::InvalidName);
    }
    let secret = generate_secret()?;
    let tenant_ref = tenant.unwrap_or(tenants::DEFAULT_TENANT);
    store.write(|conn| {
        let tenant = tenants::find(conn, tenant_ref)?
            .ok_or_else(|| CredentialError::UnknownTenant(tenant_ref.to_string()))?;
        let row = CredentialRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.id.clone(),
            name: name.to_string(),
            kind: kind.as_str().to_string(),
            secret_hash: digest(&secret),
            created: store::to_stored(now),
            last_used: None,
            revoked: None,
            trusted,
            oauth_per_second: None,
        };
        rows::insert(conn, &row)?;
        let details =
            json!({"client_id": row.id, "name": row.name, "kind": row.kind, "trusted": trusted});
        let event = Event {
            resource_type: Some("Credential"),
            resource_id: Some(row.id.clone()),
            ..Event::new("credential.create", details)
        };
        audit::record(conn, &tenant.id, now, event)?;
        Ok(NewCredential {
            client_id: row.id,
            tenant_id: tenant.id,
            secret: Secret(secret),
        })
    })
}

/// Creates a SCIM credential in the default tenant if no credential exists at all, so a fresh
/// install can be used at once. Returns it when one was created.
pub fn bootstrap(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Option<NewCredential>, CredentialError> {
    if store.read(|conn| rows::count(conn))? > 0 {
        return Ok(None);
    }
    create(store, None, "bootstrap", CredentialKind::Scim, now).map(Some)
}

pub fn list(store: &Store) -> Result<Vec<CredentialInfo>, CredentialError> {
    let rows = store.read(|conn| rows::list(conn))?;
    Ok(rows
        .into_iter()
        .map(|(row, tenant)| CredentialInfo {
            client_id: row.id,
            name: row.name,
            kind: row.kind,
            tenant,
            created: store::from_stored(row.created),
            last_used: row.last_used.map(store::from_stored),
            revoked: row.revoked.map(store::from_stored),
            trusted: row.trusted,
            oauth_per_second: row.oauth_per_second.and_then(|n| u32::try_from(n).ok()),
        })
        .collect())
}

/// Sets an app client's own cap on OAuth requests per second (`None`: the server's default,
/// no cap unless `rate_limit_oauth_per_second` is set), with an audit record. Every replica
/// sees it at its next credential check (the change moves the credential cache's epoch).
pub fn set_oauth_limit(
    store: &Store,
    client_id: &str,
    per_second: Option<u32>,
    now: DateTime<Utc>,
) -> Result<(), CredentialError> {
    let stored = per_second.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    store.write(|conn| {
        let row = rows::get(conn, client_id)?
            .filter(|row| row.revoked.is_none() && row.kind == CredentialKind::App.as_str())
            .ok_or_else(|| CredentialError::UnknownCredential(client_id.to_string()))?;
        rows::set_oauth_limit(conn, client_id, stored)?;
        let details =
            json!({"client_id": row.id, "name": row.name, "oauth_per_second": per_second});
        let event = Event {
            resource_type: Some("Credential"),
            resource_id: Some(row.id.clone()),
            ..Event::new("credential.limit", details)
        };
        audit::record(conn, &row.tenant_id, now, event)?;
        Ok(())
    })
}

pub fn revoke(store: &Store, client_id: &str, now: DateTime<Utc>) -> Result<(), CredentialError> {
    store.write(|conn| {
        let row = rows::get(conn, client_id)?
            .filter(|row| row.revoked.is_none())
            .ok_or_else(|| CredentialError::UnknownCredential(client_id.to_string()))?;
        rows::revoke(conn, client_id, store::to_stored(now))?;
        // Its Shared Signals streams stop with it: nothing more is queued or pushed to the
        // receiver it named, and what was queued is not sent.
        let streams = store::ssf::disable_of_client(
            conn,
            client_id,
            "the stream's credential was revoked",
            store::to_stored(now),
        )?;
        let live = store::sessions::live_of_client(conn, client_id)?;
        let details = json!({"client_id": row.id, "name": row.name, "kind": row.kind, "streams_disabled": streams, "sessions_ended": live.len()});
        let event = Event {
            resource_type: Some("Credential"),
            resource_id: Some(row.id.clone()),
            ..Event::new("credential.revoke", details)
        };
        let cause = audit::record(conn, &row.tenant_id, now, event)?;
        // Every session the app started ends with it, so no token it minted (for itself or
        // for a sibling app's audience) outlives the revocation: each is recorded and
        // published like any other session's end.
        super::cascade::end_sessions(
            conn,
            &row.tenant_id,
            &live,
            super::cascade::EndReason::ClientRevoked,
            Some(&cause),
            super::cascade::Origin::default(),
            now,
        )?;
        Ok(())
    })
}

/// The caller a presented secret belongs to, or `None` for an unknown or revoked secret.
/// Active credentials are kept in memory by the store (`store::credential_cache`), which
/// forgets them on any revocation; a use is written at most once a minute.
pub fn authenticate(
    store: &Store,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, StoreError> {
    let presented_hash = digest(presented);
    let Some((row, strict)) = store.active_credential(&presented_hash, now)? else {
        return Ok(None);
    };
    let Some(caller) = checked_caller(&row, strict, &presented_hash)? else {
        return Ok(None);
    };
    match row.last_used {
        None => first_use(store, &row, now)?,
        Some(used) if !used_recently(used, now) => {
            store.read(|conn| rows::touch(conn, &row.id, store::to_stored(now)))?;
        }
        Some(_) => return Ok(Some(caller)),
    }
    store.credential_used(&presented_hash, store::to_stored(now));
    Ok(Some(caller))
}

/// The caller a presented secret belongs to, from memory alone: `Some` only when its
/// credential is cached and was used within the last minute, so nothing needs writing. What
/// a request checks without leaving its worker thread; `None` means ask `authenticate`.
pub fn authenticate_from_memory(
    store: &Store,
    presented: &str,
    now: DateTime<Utc>,
) -> Option<Caller> {
    let presented_hash = digest(presented);
    let (row, strict) = store.cached_credential(&presented_hash, now)?;
    if !row.last_used.is_some_and(|used| used_recently(used, now)) {
        return None;
    }
    checked_caller(&row, strict, &presented_hash).ok().flatten()
}

fn used_recently(used: chrono::NaiveDateTime, now: DateTime<Utc>) -> bool {
    let used = store::from_stored(used);
    used <= now && now < used + LAST_USED_RESOLUTION
}

/// The caller of an active credential found by the digest of the presented secret.
fn checked_caller(
    row: &CredentialRow,
    strict: bool,
    presented_hash: &str,
) -> Result<Option<Caller>, StoreError> {
    // The lookup is by digest; the comparison below keeps the final check constant-time
    // whatever index or cache serves the lookup.
    if !bool::from(row.secret_hash.as_bytes().ct_eq(presented_hash.as_bytes())) {
        return Ok(None);
    }
    let Some(kind) = CredentialKind::parse(&row.kind) else {
        return Err(StoreError::Corrupt(format!(
            "credential {} has unknown kind",
            row.id
        )));
    };
    Ok(Some(Caller {
        client_id: row.id.clone(),
        name: row.name.clone(),
        kind,
        tenant_id: row.tenant_id.clone(),
        strict,
        trusted: row.trusted,
        oauth_per_second: row.oauth_per_second.and_then(|n| u32::try_from(n).ok()),
    }))
}

/// The caller of an unrevoked credential, by its client id (a token it was issued names it).
pub fn active_caller(store: &Store, client_id: &str) -> Result<Option<Caller>, StoreError> {
    let Some((row, strict)) = store.read(|conn| rows::find_active_by_id(conn, client_id))? else {
        return Ok(None);
    };
    let Some(kind) = CredentialKind::parse(&row.kind) else {
        return Ok(None);
    };
    Ok(Some(Caller {
        client_id: row.id.clone(),
        name: row.name.clone(),
        kind,
        tenant_id: row.tenant_id.clone(),
        strict,
        trusted: row.trusted,
        oauth_per_second: row.oauth_per_second.and_then(|n| u32::try_from(n).ok()),
    }))
}

/// An app client authenticating with its client id and secret (HTTP Basic): the secret must
/// belong to that very client.
pub fn authenticate_client(
    store: &Store,
    client_id: &str,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, StoreError> {
    Ok(authenticate(store, presented, now)?.filter(|caller| caller.client_id == client_id))
}

/// The first successful use of a credential is an audit event (the IdP is connected).
fn first_use(store: &Store, row: &CredentialRow, now: DateTime<Utc>) -> Result<(), StoreError> {
    store.write(|conn| {
        if !rows::touch_first(conn, &row.id, store::to_stored(now))? {
            return Ok(());
        }
        let details = json!({"client_id": row.id, "name": row.name, "kind": row.kind});
        let actor = Actor {
            client_id: row.id.clone(),
            name: row.name.clone(),
        };
        let event = Event {
            actor: Some(&actor),
            resource_type: Some("Credential"),
            resource_id: Some(row.id.clone()),
            ..Event::new("credential.first_use", details)
        };
        audit::record(conn, &row.tenant_id, now, event).map(|_| ())
    })
}

fn generate_secret() -> Result<String, CredentialError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| CredentialError::Randomness(e.to_string()))?;
    Ok(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The stored form of a secret: its SHA-256 digest, hex.
pub fn digest(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_256_random_bits_behind_a_recognisable_prefix() {
        let a = generate_secret().map_err(|e| e.to_string());
        let b = generate_secret().map_err(|e| e.to_string());
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("no randomness")
        };
        assert!(a.starts_with(SECRET_PREFIX));
        let encoded = &a[SECRET_PREFIX.len()..];
        assert_eq!(
            URL_SAFE_NO_PAD.decode(encoded).map(|v| v.len()).ok(),
            Some(32)
        );
        assert_ne!(a, b);
    }

    #[test]
    fn the_digest_is_sha256_hex_and_never_the_secret() {
        let d = digest("scimitar_abc");
        assert_eq!(d.len(), 64);
        assert!(!d.contains("abc"));
        assert_eq!(d, digest("scimitar_abc"));
        assert_ne!(d, digest("scimitar_abd"));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        assert_eq!(format!("{:?}", Secret("scimitar_x".into())), "Secret(***)");
    }
}
