//! The token service: sessions started by token exchange, refreshed with one-time refresh
//! tokens, checked by introspection and ended by revocation.
//!
//! Every minting path reads the user under a row lock inside its transaction, so it orders
//! with a deactivation of the same user: either the mint commits first and the deactivation
//! then ends the new session, or the deactivation commits first and the mint sees an inactive
//! user. No interleaving leaves a live token for an inactive user.

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
use super::roles::{RoleGrant, RoleRules, roles_of_users};
use super::upstream::{TrustedIssuer, UserAttribute};
use super::usage::UsageLog;
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::clock::SharedClock;
use crate::events::flags::{self, FlagKind};
use crate::events::outbox::{self, Effect};
use crate::scim::normalize::fold;
use crate::store::sessions::{self as rows, RefreshTokenRow, SessionRenewal, SessionRow};
use crate::store::users::{self as user_rows, UserColumn, UserRow};
use crate::store::{AnyConnection, Store, StoreError, from_stored, to_stored};

pub const TOKEN_TYPE_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const TOKEN_TYPE_SCIM_USER: &str = "urn:scimitar:params:oauth:token-type:scim-user";
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
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

    /// Token exchange (RFC 8693): a session for the user the subject token names.
    pub fn exchange(
        &self,
        caller: &Caller,
        exchange: &Exchange,
    ) -> Result<TokenResponse, AccessError> {
        let now = self.clock.now();
        let user_id = match exchange.subject_token_type.as_str() {
            TOKEN_TYPE_ID_TOKEN => {
                let issuer = self
                    .settings
                    .trusted_issuers
                    .get(&caller.tenant_id)
                    .ok_or_else(|| {
                        AccessError::InvalidRequest(
                            "this tenant has no trusted ID-token issuer configured".into(),
                        )
                    })?;
                let value = issuer.verify(&exchange.subject_token, now)?;
                self.find_user(&caller.tenant_id, issuer.user_attribute, &value)?
            }
            TOKEN_TYPE_SCIM_USER if caller.trusted => {
                self.find_user_by_id_or_name(&caller.tenant_id, &exchange.subject_token)?
            }
            TOKEN_TYPE_SCIM_USER => {
                return Err(AccessError::UnauthorizedClient(
                    "only trusted app clients may name users directly".into(),
                ));
            }
            other => {
                return Err(AccessError::InvalidRequest(format!(
                    "subject_token_type `{other}` is not supported"
                )));
            }
        };
        let audience = exchange
            .audience
            .clone()
            .unwrap_or_else(|| caller.client_id.clone());
        let actor = actor_of(caller);
        self.store.write(|conn| {
            let user = live_user(conn, &caller.tenant_id, &user_id)?;
            let roles = current_roles(conn, &caller.tenant_id, &user.id)?;
            let policy = self.settings.policies.for_session(&caller.tenant_id, &roles);
            let session = SessionRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: caller.tenant_id.clone(),
                user_id: user.id.clone(),
                client_id: caller.client_id.clone(),
                audience,
                roles: roles_json(&roles),
                created: to_stored(now),
                expires: to_stored(now + policy.session),
                idle_seconds: policy.idle.num_seconds(),
                access_seconds: policy.access_token.num_seconds(),
                last_used: to_stored(now),
                idle_expires: to_stored(now + policy.idle),
                ended: None,
                end_reason: None,
            };
            rows::insert(conn, &session)?;
            let refresh_token = new_refresh_token(conn, &session.id, now)?;
            let event = Event {
                actor: Some(&actor),
                resource_type: Some("Session"),
                resource_id: Some(session.id.clone()),
                ..Event::new(
                    "session.start",
                    json!({"user_id": user.id, "client_id": caller.client_id, "roles": roles, "grant": exchange.subject_token_type, "expires": from_stored(session.expires)}),
                )
            };
            audit::record(conn, &caller.tenant_id, now, event)?;
            count_issued(&caller.tenant_id, "token_exchange");
            let mut response = self.access_token(&session, &roles, refresh_token, now)?;
            response.issued_token_type = Some(TOKEN_TYPE_ACCESS_TOKEN);
            Ok(response)
        })
    }

    /// Refresh (RFC 6749 §6) with rotation: each refresh token works once. A used token
    /// presented again ends its whole session, unless it is a retry within the retry window
    /// whose successor was never used (the response was lost).
    pub fn refresh(&self, caller: &Caller, presented: &str) -> Result<TokenResponse, AccessError> {
        let now = self.clock.now();
        let hash = credentials::digest(presented);
        let invalid = || AccessError::InvalidGrant("the refresh token is not valid".into());
        // The closure commits what it did (a session ended on reuse) and returns the verdict.
        self.store.write(
            |conn| -> Result<Result<TokenResponse, AccessError>, AccessError> {
                let Some((token, session)) = rows::refresh_token_for_update(conn, &hash)? else {
                    return Ok(Err(invalid()));
                };
                if session.client_id != caller.client_id || session.tenant_id != caller.tenant_id {
                    return Ok(Err(invalid()));
                }
                let flag = |conn: &mut AnyConnection, kind: FlagKind, why: &str| {
                    let details = json!({"session": session.id, "user_id": session.user_id, "why": why, "client_id": caller.client_id});
                    flags::raise(conn, &session.tenant_id, kind, &session.id, details, now)
                };
                match self.session_state(&session, now) {
                    SessionState::Live => {}
                    SessionState::Ended => {
                        flag(conn, FlagKind::RevokedTokenPresented, "refresh of an ended session")?;
                        return Ok(Err(invalid()));
                    }
                    SessionState::Expired(reason) => {
                        end_one(conn, &session, reason, None, Origin::default(), now)?;
                        flag(conn, FlagKind::RevokedTokenPresented, "refresh of an expired session")?;
                        return Ok(Err(invalid()));
                    }
                }
                if let Some(consumed) = token.consumed {
                    let successor_unused = match &token.successor {
                        Some(successor) => rows::refresh_token(conn, successor)?
                            .is_some_and(|s| s.consumed.is_none()),
                        None => false,
                    };
                    let retry = successor_unused
                        && from_stored(consumed) + self.settings.refresh_retry_window >= now;
                    if !retry {
                        let actor = actor_of(caller);
                        let origin = Origin {
                            actor: Some(&actor),
                            request: None,
                        };
                        end_one(conn, &session, EndReason::RefreshReuse, None, origin, now)?;
                        flag(conn, FlagKind::RefreshTokenReuse, "a used refresh token presented again")?;
                        return Ok(Err(AccessError::InvalidGrant(
                            "the refresh token was already used: its session is revoked".into(),
                        )));
                    }
                    // The unused successor is replaced by the token issued now.
                    if let Some(successor) = &token.successor {
                        rows::consume_refresh_token(conn, successor, to_stored(now), "superseded")?;
                    }
                }
                let Some(user) =
                    user_rows::get_for_update(conn, &session.tenant_id, &session.user_id)?
                else {
                    end_one(
                        conn,
                        &session,
                        EndReason::UserDeleted,
                        None,
                        Origin::default(),
                        now,
                    )?;
                    flag(conn, FlagKind::TokenForInactiveUser, "the user is deleted")?;
                    return Ok(Err(invalid()));
                };
                if !user.active {
                    end_one(
                        conn,
                        &session,
                        EndReason::UserDeactivated,
                        None,
                        Origin::default(),
                        now,
                    )?;
                    flag(conn, FlagKind::TokenForInactiveUser, "the user is inactive")?;
                    return Ok(Err(invalid()));
                }
                let roles = current_roles(conn, &session.tenant_id, &user.id)?;
                let policy = self
                    .settings
                    .policies
                    .for_session(&session.tenant_id, &roles);
                // A stricter policy (a new role) can shorten a session; nothing lengthens one.
                let expires = session
                    .expires
                    .min(to_stored(from_stored(session.created) + policy.session));
                let renewal = SessionRenewal {
                    roles: roles_json(&roles),
                    expires,
                    idle_seconds: policy.idle.num_seconds(),
                    access_seconds: policy.access_token.num_seconds(),
                    last_used: to_stored(now),
                    idle_expires: to_stored(now + policy.idle),
                };
                rows::renew(conn, &session.id, &renewal)?;
                let refresh_token = new_refresh_token(conn, &session.id, now)?;
                rows::consume_refresh_token(
                    conn,
                    &hash,
                    to_stored(now),
                    &credentials::digest(&refresh_token),
                )?;
                count_issued(&session.tenant_id, "refresh_token");
                let renewed = SessionRow {
                    roles: renewal.roles.clone(),
                    expires,
                    access_seconds: renewal.access_seconds,
                    ..session
                };
                Ok(Ok(self.access_token(
                    &renewed,
                    &roles,
                    refresh_token,
                    now,
                )?))
            },
        )?
    }

    /// Introspection (RFC 7662): the claims of an active token, or `{"active": false}` for a
    /// token that is unknown, expired, revoked, idle, of another tenant, or whose user is
    /// inactive or gone. Marks the token's session used. A revoked or expired token, or one
    /// of an inactive user, is also flagged: someone is still trying to use it.
    pub fn introspect(&self, caller: &Caller, token: &str) -> Result<Value, AccessError> {
        let now = self.clock.now();
        let (answer, flag) = self.judge(caller, token, now)?;
        let active = answer["active"] == json!(true);
        let tenant = caller.tenant_id.clone();
        crate::metrics::inc(
            "scimitar_tokens_introspected_total",
            &[
                ("tenant", &tenant),
                ("active", if active { "true" } else { "false" }),
            ],
        );
        if let Some((kind, subject, details)) = flag {
            self.flag(&caller.tenant_id, kind, &subject, details, now);
        }
        Ok(answer)
    }

    /// The introspection answer, and the flag the presentation deserves, if any.
    fn judge(
        &self,
        caller: &Caller,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Value, Option<Presentation>), AccessError> {
        let inactive = json!({"active": false});
        let presented = |kind: FlagKind, session: &str, user: &str, why: &str| {
            let details = json!({"session": session, "user_id": user, "why": why, "client_id": caller.client_id});
            Some((kind, session.to_string(), details))
        };
        if let Some(claims) = self.verify_access_token(token) {
            if claims.tid != caller.tenant_id {
                return Ok((inactive, None));
            }
            let flag = |why| {
                presented(
                    FlagKind::RevokedTokenPresented,
                    &claims.sid,
                    &claims.sub,
                    why,
                )
            };
            if claims.exp <= now.timestamp() {
                return Ok((inactive, flag("expired")));
            }
            if self
                .store
                .read(|conn| rows::is_token_revoked(conn, &claims.jti))?
            {
                return Ok((inactive, flag("revoked")));
            }
            let Some((session, user_active)) = self
                .store
                .read(|conn| rows::get_with_user_state(conn, &claims.sid))?
            else {
                return Ok((inactive, flag("session purged")));
            };
            if user_active != Some(true) {
                let flag = presented(
                    FlagKind::TokenForInactiveUser,
                    &session.id,
                    &session.user_id,
                    "user inactive or deleted",
                );
                return Ok((inactive, flag));
            }
            if !matches!(self.session_state(&session, now), SessionState::Live) {
                return Ok((inactive, flag("session ended or expired")));
            }
            self.usage.touch(&session.id, now, session.idle_seconds);
            let mut answer = serde_json::to_value(&claims).unwrap_or_else(|_| json!({}));
            answer["active"] = json!(true);
            answer["token_type"] = json!("Bearer");
            answer["scope"] = json!(claims.roles.join(" "));
            return Ok((answer, None));
        }
        let hash = credentials::digest(token);
        let Some(found) = self.store.read(|conn| rows::refresh_token(conn, &hash))? else {
            return Ok((inactive, None));
        };
        let Some((session, user_active)) = self
            .store
            .read(|conn| rows::get_with_user_state(conn, &found.session_id))?
        else {
            return Ok((inactive, None));
        };
        if session.tenant_id != caller.tenant_id {
            return Ok((inactive, None));
        }
        if user_active != Some(true) {
            let flag = presented(
                FlagKind::TokenForInactiveUser,
                &session.id,
                &session.user_id,
                "user inactive or deleted",
            );
            return Ok((inactive, flag));
        }
        if found.consumed.is_some()
            || !matches!(self.session_state(&session, now), SessionState::Live)
        {
            let flag = presented(
                FlagKind::RevokedTokenPresented,
                &session.id,
                &session.user_id,
                "refresh token used, revoked or expired",
            );
            return Ok((inactive, flag));
        }
        self.usage.touch(&session.id, now, session.idle_seconds);
        let roles: Vec<String> = serde_json::from_str(&session.roles).unwrap_or_default();
        Ok((
            json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": session.client_id,
                "sub": session.user_id,
                "sid": session.id,
                "tid": session.tenant_id,
                "iss": self.settings.issuer,
                "exp": from_stored(session.expires).timestamp(),
                "iat": from_stored(found.issued).timestamp(),
                "roles": roles,
            }),
            None,
        ))
    }

    /// Raises a flag outside any other write (introspection is a read), at most once a minute
    /// per kind and subject from this process: repeats are counted, not written each time.
    fn flag(
        &self,
        tenant_id: &str,
        kind: FlagKind,
        subject: &str,
        details: Value,
        now: DateTime<Utc>,
    ) {
        {
            let mut recent = self.recent_flags.lock().unwrap_or_else(|e| e.into_inner());
            let key = (tenant_id.to_string(), kind.as_str(), subject.to_string());
            if recent
                .get(&key)
                .is_some_and(|at| *at + Duration::minutes(1) > now)
            {
                return;
            }
            if recent.len() > 10_000 {
                recent.retain(|_, at| *at + Duration::minutes(1) > now);
            }
            recent.insert(key, now);
        }
        if let Err(error) = self
            .store
            .write(|conn| flags::raise(conn, tenant_id, kind, subject, details, now))
        {
            tracing::warn!(%error, "could not record a flag");
        }
    }

    /// Revocation (RFC 7009). An access token is revoked alone; a refresh token ends its
    /// session and with it every access token of the session. Unknown tokens are not an
    /// error; a store that cannot record the revocation is (never a false success).
    pub fn revoke(
        &self,
        caller: &Caller,
        token: &str,
        hint: Option<&str>,
    ) -> Result<(), AccessError> {
        if let Some(hint) = hint
            && !matches!(hint, "access_token" | "refresh_token")
        {
            return Err(AccessError::UnsupportedTokenType(format!(
                "token_type_hint `{hint}` is not supported"
            )));
        }
        let now = self.clock.now();
        let actor = actor_of(caller);
        let not_yours =
            || AccessError::UnauthorizedClient("the token was issued to another client".into());
        if let Some(claims) = self.verify_access_token(token) {
            if claims.tid != caller.tenant_id {
                return Ok(());
            }
            if claims.client_id != caller.client_id {
                return Err(not_yours());
            }
            let expires = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
            return self.store.write(|conn| {
                if rows::revoke_token(conn, &claims.jti, &claims.tid, &claims.sid, to_stored(expires), to_stored(now))? {
                    let event = Event {
                        actor: Some(&actor),
                        resource_type: Some("AccessToken"),
                        resource_id: Some(claims.jti.clone()),
                        ..Event::new("token.revoke", json!({"session": claims.sid, "user_id": claims.sub, "client_id": claims.client_id, "reason": EndReason::RevokedByClient.as_str()}))
                    };
                    let cause = audit::record(conn, &claims.tid, now, event)?;
                    let revoked = Effect::TokenRevoked {
                        user_id: claims.sub.clone(),
                        session_id: claims.sid.clone(),
                        jti: claims.jti.clone(),
                    };
                    outbox::publish(conn, &claims.tid, vec![revoked], Some(&cause), now)?;
                    let tenant = claims.tid.clone();
                    crate::store::after_commit(move || {
                        crate::metrics::inc("scimitar_access_tokens_revoked_total", &[("tenant", &tenant)]);
                    });
                }
                Ok(())
            });
        }
        let hash = credentials::digest(token);
        self.store.write(|conn| {
            let Some((_, session)) = rows::refresh_token_for_update(conn, &hash)? else {
                return Ok(());
            };
            if session.tenant_id != caller.tenant_id {
                return Ok(());
            }
            if session.client_id != caller.client_id {
                return Err(not_yours());
            }
            if session.ended.is_none() {
                let origin = Origin {
                    actor: Some(&actor),
                    request: None,
                };
                end_one(
                    conn,
                    &session,
                    EndReason::RevokedByClient,
                    None,
                    origin,
                    now,
                )?;
            }
            Ok(())
        })
    }

    /// The kill switch: ends every session of a user now.
    pub fn revoke_user(
        &self,
        tenant_id: &str,
        user_id: &str,
        actor: Option<&Actor>,
        request: Option<&RequestInfo>,
    ) -> Result<Vec<String>, AccessError> {
        revoke_user(
            &self.store,
            self.clock.now(),
            tenant_id,
            user_id,
            actor,
            request,
        )
    }

    /// A user's roles, each with the groups and rules granting it, and their live sessions.
    pub fn explain(&self, tenant_id: &str, user_id: &str) -> Result<Value, AccessError> {
        let now = self.clock.now();
        self.store.read(|conn| {
            let user = user_rows::get(conn, tenant_id, user_id)?
                .ok_or_else(|| AccessError::NotFound(format!("no user with id `{user_id}`")))?;
            let rules = RoleRules::load(conn, tenant_id)?;
            let groups: Vec<_> = crate::store::roles::groups_of_users(conn, tenant_id, std::slice::from_ref(&user.id))?
                .into_iter()
                .map(|(_, group)| group)
                .collect();
            let roles: Vec<RoleGrant> = rules.explain(&groups);
            let sessions: Vec<Value> = rows::live_of_user(conn, tenant_id, &user.id)?
                .into_iter()
                .map(|s| json!({
                    "id": s.id,
                    "client_id": s.client_id,
                    "roles": serde_json::from_str::<Value>(&s.roles).unwrap_or(Value::Null),
                    "created": from_stored(s.created),
                    "expires": from_stored(s.expires),
                    "idle_expires": from_stored(s.idle_expires),
                }))
                .collect();
            let policy = self.settings.policies.for_session(tenant_id, &roles.iter().map(|r| r.role.clone()).collect());
            Ok(json!({
                "user": {"id": user.id, "userName": user.user_name, "active": user.active},
                "roles": roles,
                "groups": groups.iter().map(|g| json!({"id": g.id, "displayName": g.display_name, "externalId": g.external_id})).collect::<Vec<_>>(),
                "policy": {
                    "access_token_seconds": policy.access_token.num_seconds(),
                    "session_seconds": policy.session.num_seconds(),
                    "idle_seconds": policy.idle.num_seconds(),
                },
                "live_sessions": sessions,
                "checked_at": now,
            }))
        })
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

/// The kill switch: ends every session of a user (named by id or userName) now, with an
/// audit record that the revocations point to. Returns the sessions ended.
pub fn revoke_user(
    store: &Store,
    now: DateTime<Utc>,
    tenant_id: &str,
    user: &str,
    actor: Option<&Actor>,
    request: Option<&RequestInfo>,
) -> Result<Vec<String>, AccessError> {
    store.write(|conn| {
        let found = match user_rows::get_for_update(conn, tenant_id, user)? {
            Some(found) => Some(found),
            None => user_rows::find_by(conn, tenant_id, UserColumn::UserNameKey, &fold(user))?
                .into_iter()
                .next(),
        };
        let user = found.ok_or_else(|| AccessError::NotFound(format!("no user `{user}`")))?;
        let event = Event {
            actor,
            request,
            resource_type: Some("User"),
            resource_id: Some(user.id.clone()),
            ..Event::new("user.revoke_access", json!({"active": user.active}))
        };
        let cause = audit::record(conn, tenant_id, now, event)?;
        let origin = Origin { actor, request };
        Ok(cascade::end_user_sessions(
            conn,
            tenant_id,
            &user.id,
            EndReason::RevokedByAdmin,
            Some(&cause),
            origin,
            now,
        )?)
    })
}

/// The user, locked for the transaction; refused unless it exists and is active.
fn live_user(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<UserRow, AccessError> {
    match user_rows::get_for_update(conn, tenant_id, user_id)? {
        Some(user) if user.active => Ok(user),
        Some(_) => Err(AccessError::InvalidGrant("the user is not active".into())),
        None => Err(AccessError::InvalidGrant(
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
    conn: &mut AnyConnection,
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
fn count_issued(tenant_id: &str, grant: &'static str) {
    let tenant = tenant_id.to_string();
    crate::store::after_commit(move || {
        crate::metrics::inc(
            "scimitar_tokens_issued_total",
            &[("tenant", &tenant), ("grant", grant)],
        );
    });
}

fn actor_of(caller: &Caller) -> Actor {
    Actor {
        client_id: caller.client_id.clone(),
        name: caller.name.clone(),
    }
}
