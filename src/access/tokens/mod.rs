//! The token service: sessions started by token exchange (`exchange`), refreshed with
//! one-time refresh tokens (`refresh`), checked by introspection (`introspect`), ended by
//! revocation (`revoke`) and explained to operators (`explain`). This file holds the service,
//! its settings and claims, and the steps those jobs share.
//!
//! Every minting path reads the user under a row lock inside its transaction, so it orders
//! with a deactivation of the same user: either the mint commits first and the deactivation
//! then ends the new session, or the deactivation commits first and the mint sees an inactive
//! user. No interleaving leaves a live token for an inactive user.

mod audiences;
mod client_credentials;
mod exchange;
mod explain;
mod introspect;
mod refresh;
mod revoke;

pub use audiences::AudienceDirectory;
pub use revoke::revoke_user;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AccessError;
use super::cascade::{self, EndReason, Origin};
use super::credentials::{self, Caller};
use super::keys::KeyRing;
use super::policy::Policies;
use super::revocation_callers::RevocationCallers;
use super::roles::{RoleGrant, RoleRules, roles_of_users};
use super::upstream::{TrustedIssuer, UserAttribute};
use super::usage::UsageLog;
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::clock::SharedClock;
use crate::outbox::flags::{self, FlagKind};
use crate::store::sessions::{self as rows, RefreshTokenRow, SessionRenewal, SessionRow};
use crate::store::users::{self as user_rows, UserColumn, UserRow};
use crate::store::{AnyConnection, Store, StoreError, Write, from_stored, to_stored};
use crate::text::fold;

pub const TOKEN_TYPE_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const TOKEN_TYPE_SCIM_USER: &str = "urn:scimitar:params:oauth:token-type:scim-user";
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub use client_credentials::{
    ClientTokenResponse, GRANT_CLIENT_CREDENTIALS, ManagementClaims, SCOPE_SSF_MANAGE,
    SCOPE_SSF_READ,
};
/// The JOSE `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
const REFRESH_PREFIX: &str = "scimitar_rt_";

/// Settings of the token service.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// `iss` of the tokens we sign, and the RFC 8414 issuer.
    pub issuer: String,
    pub policies: Policies,
    /// A refresh token presented again within this window, before its successor was used,
    /// is a retry after a lost response, not a theft.
    pub refresh_retry_window: Duration,
    /// Ended sessions are kept this long (for introspection answers and inspection), then purged.
    pub session_retention: Duration,
    /// Trusted ID-token issuers, by tenant id.
    pub trusted_issuers: HashMap<String, TrustedIssuer>,
    /// Who may call Global Token Revocation with a signed JWT, by issuer and client id.
    pub revocation_callers: RevocationCallers,
}

/// Access-token claims (RFC 9068, plus `sid`, `tid` and `roles`). Every field is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    /// The session (refresh-token family) this token belongs to.
    pub sid: String,
    /// The tenant.
    pub tid: String,
    pub roles: Vec<String>,
}

/// A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    pub roles: Vec<String>,
}

/// What a token exchange presents as the subject.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub subject_token: String,
    pub subject_token_type: String,
    /// `audience` or `resource`: whom the access tokens are for; the client itself if unset.
    pub audience: Option<String>,
}

/// Tenant, flag kind and subject.
type FlagKey = (String, &'static str, String);

/// A token presentation worth a flag: its kind, subject and details.
type Presentation = (FlagKind, String, Value);

#[derive(Clone)]
pub struct AccessService {
    store: Store,
    clock: SharedClock,
    keys: Arc<KeyRing>,
    settings: Arc<AccessSettings>,
    usage: Arc<UsageLog>,
    /// When this process last wrote a flag, by tenant, kind and subject.
    recent_flags: Arc<Mutex<HashMap<FlagKey, DateTime<Utc>>>>,
    /// Whose apps the audiences of tokens are, remembered briefly for forward auth.
    audiences: Arc<AudienceDirectory>,
}

/// A session's state as introspection and refresh judge it.
enum SessionState {
    Live,
    Ended,
    Expired(EndReason),
}

impl AccessService {
    pub fn new(
        store: Store,
        clock: SharedClock,
        keys: Arc<KeyRing>,
        settings: AccessSettings,
    ) -> Self {
        Self {
            store,
            clock,
            keys,
            settings: Arc::new(settings),
            usage: Arc::default(),
            recent_flags: Arc::default(),
            audiences: Arc::default(),
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The signing keys, for the other signers of this server (Shared Signals).
    pub fn keys_shared(&self) -> Arc<KeyRing> {
        self.keys.clone()
    }

    pub fn settings(&self) -> &AccessSettings {
        &self.settings
    }

    pub fn usage(&self) -> &UsageLog {
        &self.usage
    }

    /// An app client authenticating with HTTP Basic.
    pub fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Caller, AccessError> {
        match credentials::authenticate_client(&self.store, client_id, secret, self.clock.now())? {
            Some(caller) if caller.kind == credentials::CredentialKind::App => Ok(caller),
            _ => Err(AccessError::InvalidClient),
        }
    }

    fn verify_access_token(&self, token: &str) -> Option<AccessClaims> {
        if let Err(error) = self.keys.refresh_if_stale(&self.store, self.clock.now()) {
            tracing::warn!(%error, "could not reload the signing keys");
        }
        self.keys
            .verify(token, ACCESS_TOKEN_TYP, &self.settings.issuer)
    }

    fn session_state(&self, session: &SessionRow, now: DateTime<Utc>) -> SessionState {
        if session.ended.is_some() {
            return SessionState::Ended;
        }
        if from_stored(session.expires) <= now {
            return SessionState::Expired(EndReason::ExpiredAbsolute);
        }
        let last_use = self
            .usage
            .last_use(&session.id)
            .map_or(from_stored(session.last_used), |seen| {
                seen.max(from_stored(session.last_used))
            });
        if last_use + Duration::seconds(session.idle_seconds) <= now {
            return SessionState::Expired(EndReason::ExpiredIdle);
        }
        SessionState::Live
    }

    fn access_token(
        &self,
        session: &SessionRow,
        roles: &BTreeSet<String>,
        refresh_token: String,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, AccessError> {
        let expires =
            (now + Duration::seconds(session.access_seconds)).min(from_stored(session.expires));
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: session.user_id.clone(),
            aud: session.audience.clone(),
            exp: expires.timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: uuid::Uuid::now_v7().to_string(),
            client_id: session.client_id.clone(),
            sid: session.id.clone(),
            tid: session.tenant_id.clone(),
            roles: roles.iter().cloned().collect(),
        };
        Ok(TokenResponse {
            access_token: self.keys.sign(ACCESS_TOKEN_TYP, &claims, now)?,
            token_type: "Bearer",
            expires_in: (expires - now).num_seconds().max(0),
            refresh_token,
            issued_token_type: None,
            roles: claims.roles,
        })
    }

    fn find_user(
        &self,
        tenant_id: &str,
        attribute: UserAttribute,
        value: &str,
    ) -> Result<String, AccessError> {
        let (column, value) = match attribute {
            UserAttribute::ExternalId => (UserColumn::ExternalId, value.to_string()),
            UserAttribute::UserName => (UserColumn::UserNameKey, fold(value)),
            UserAttribute::Id => (UserColumn::Id, value.to_string()),
        };
        let found = self
            .store
            .read(|conn| user_rows::find_by(conn, tenant_id, column, &value))?;
        match found.as_slice() {
            [user] => Ok(user.id.clone()),
            [] => Err(AccessError::InvalidGrant(
                "no provisioned user matches the subject".into(),
            )),
            _ => Err(AccessError::InvalidGrant(
                "several provisioned users match the subject".into(),
            )),
        }
    }

    fn find_user_by_id_or_name(
        &self,
        tenant_id: &str,
        subject: &str,
    ) -> Result<String, AccessError> {
        self.find_user(tenant_id, UserAttribute::Id, subject)
            .or_else(|_| self.find_user(tenant_id, UserAttribute::UserName, subject))
    }

    /// Marks the uses remembered in memory in the database (called by the sweeper).
    pub fn flush_usage(&self) -> Result<usize, StoreError> {
        let uses = self.usage.drain();
        let count = uses.len();
        if count > 0 {
            self.store.write(|conn| {
                for (id, at, idle) in &uses {
                    rows::record_use(
                        conn,
                        id,
                        to_stored(*at),
                        to_stored(*at + Duration::seconds(*idle)),
                    )?;
                }
                Ok::<_, StoreError>(())
            })?;
        }
        Ok(count)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }
}

/// The user, locked for the transaction; refused unless it exists and is active.
fn live_user(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<UserRow, AccessError> {
    match user_rows::get_for_update(conn, tenant_id, user_id)? {
        Some(user) if user.active => Ok(user),
        Some(_) => Err(AccessError::EndedGrant("the user is not active".into())),
        None => Err(AccessError::EndedGrant(
            "no provisioned user matches the subject".into(),
        )),
    }
}

fn current_roles(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<BTreeSet<String>, StoreError> {
    let rules = RoleRules::load(conn, tenant_id)?;
    Ok(
        roles_of_users(conn, tenant_id, &rules, &[user_id.to_string()])?
            .remove(user_id)
            .unwrap_or_default(),
    )
}

fn roles_json(roles: &BTreeSet<String>) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[]".into())
}

fn new_refresh_token(
    conn: &mut AnyConnection,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<String, AccessError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AccessError::Keys(format!("randomness: {e}")))?;
    let token = format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    rows::insert_refresh_token(
        conn,
        &RefreshTokenRow {
            hash: credentials::digest(&token),
            session_id: session_id.to_string(),
            issued: to_stored(now),
            consumed: None,
            successor: None,
        },
    )?;
    Ok(token)
}

fn end_one(
    conn: &mut Write,
    session: &SessionRow,
    reason: EndReason,
    cause: Option<&str>,
    origin: Origin,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let live = crate::store::sessions::LiveSession {
        id: session.id.clone(),
        user_id: session.user_id.clone(),
        client_id: session.client_id.clone(),
        roles: session.roles.clone(),
    };
    cascade::end_sessions(
        conn,
        &session.tenant_id,
        &[live],
        reason,
        cause,
        origin,
        now,
    )?;
    Ok(())
}

/// Counts an issued access token once its transaction commits.
fn count_issued(conn: &mut Write, tenant_id: &str, grant: &'static str) {
    let tenant = tenant_id.to_string();
    conn.after_commit(move || issued_metric(&tenant, grant));
}

/// Counts an issued access token now.
fn issued_metric(tenant_id: &str, grant: &'static str) {
    crate::metrics::inc(
        "scimitar_tokens_issued_total",
        &[("tenant", tenant_id), ("grant", grant)],
    );
}

fn actor_of(caller: &Caller) -> Actor {
    Actor {
        client_id: caller.client_id.clone(),
        name: caller.name.clone(),
    }
}
