//! The cascade: what a provisioning change does to the sessions and tokens already issued.
//! Its steps are private to `access`; write paths reach them through the facts of
//! `access::provisioning`, so no path can run some steps and forget others.
//! Everything here runs inside the transaction of the change that causes it, so the change,
//! the revocations and their audit records commit together or not at all.
//!
//! - A user deactivated or deleted loses every session (`end_user_sessions`).
//! - Every effect is also published to the outbox (`outbox`), in the same transaction.
//! - A change that can move roles (membership, a group's keys, a group deleted, a rule
//!   changed) is bracketed by a `RoleWatch`: the roles of the users it can affect are read
//!   before and after, and sessions carrying a role its user lost are ended. Sessions whose
//!   roles are all still held stay valid; gained roles arrive with the next token.
//!
//! Cost follows the change: only the users named by the change are read, and only their live
//! sessions (through an index), whatever the total number of sessions stored.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::roles::{RoleRules, roles_of_users};
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::outbox::{self, Effect};
use crate::store::sessions::{self, LiveSession};
use crate::store::{AnyConnection, StoreError, Write, to_stored};

/// Why a session ended; recorded, and reported by the sweeper and (later) by metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    UserDeactivated,
    UserDeleted,
    RoleLost,
    RefreshReuse,
    RevokedByClient,
    RevokedByAdmin,
    /// The app client the session was issued to was revoked.
    ClientRevoked,
    /// The identity provider asked for it (Global Token Revocation).
    GlobalTokenRevocation,
    /// A Security Event Token from the tenant's transmitter said so (Shared Signals).
    SecurityEvent,
    ExpiredAbsolute,
    ExpiredIdle,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::UserDeactivated => "user_deactivated",
            EndReason::UserDeleted => "user_deleted",
            EndReason::RoleLost => "role_lost",
            EndReason::RefreshReuse => "refresh_token_reuse",
            EndReason::RevokedByClient => "revoked_by_client",
            EndReason::RevokedByAdmin => "revoked_by_admin",
            EndReason::ClientRevoked => "client_revoked",
            EndReason::GlobalTokenRevocation => "global_token_revocation",
            EndReason::SecurityEvent => "security_event",
            EndReason::ExpiredAbsolute => "expired_absolute",
            EndReason::ExpiredIdle => "expired_idle",
        }
    }
}

/// Who and which request a cascade's records are attributed to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub actor: Option<&'a Actor>,
    pub request: Option<&'a RequestInfo>,
}

/// Ends every live session of a user; returns their ids.
pub(super) fn end_user_sessions(
    conn: &mut Write,
    tenant_id: &str,
    user_id: &str,
    reason: EndReason,
    cause: Option<&str>,
    origin: Origin,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let live = sessions::live_of_users(conn, tenant_id, &[user_id.to_string()])?;
    end_sessions(conn, tenant_id, &live, reason, cause, origin, now)
}

/// Ends the given live sessions, with one audit record each; returns the ids ended.
pub(super) fn end_sessions(
    conn: &mut Write,
    tenant_id: &str,
    live: &[LiveSession],
    reason: EndReason,
    cause: Option<&str>,
    origin: Origin,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    if live.is_empty() {
        return Ok(Vec::new());
    }
    // Every writer takes the tenant's audit head before session rows, so a cascade and a
    // refresh that ends the same session cannot deadlock.
    crate::store::audit::lock_head(conn, tenant_id)?;
    let ids: Vec<String> = live.iter().map(|s| s.id.clone()).collect();
    let ended: std::collections::BTreeSet<String> =
        sessions::end(conn, &ids, to_stored(now), reason.as_str())?
            .into_iter()
            .collect();
    // A session another transaction ended meanwhile is not ended (nor recorded) twice.
    let live: Vec<&LiveSession> = live.iter().filter(|s| ended.contains(&s.id)).collect();
    let ids: Vec<String> = live.iter().map(|s| s.id.clone()).collect();
    let events = live
        .iter()
        .map(|session| {
            let roles: serde_json::Value =
                serde_json::from_str(&session.roles).unwrap_or_else(|_| json!([]));
            Event {
                actor: origin.actor,
                request: origin.request,
                resource_type: Some("Session"),
                resource_id: Some(session.id.clone()),
                cause: cause.map(String::from),
                ..Event::new(
                    "session.revoke",
                    json!({"user_id": session.user_id, "client_id": session.client_id, "reason": reason.as_str(), "roles": roles}),
                )
            }
        })
        .collect();
    audit::record_all(conn, tenant_id, now, events)?;
    let effects = live
        .iter()
        .map(|session| Effect::SessionRevoked {
            user_id: session.user_id.clone(),
            session_id: session.id.clone(),
            client_id: session.client_id.clone(),
            reason: reason.as_str(),
            roles: serde_json::from_str(&session.roles).unwrap_or_else(|_| json!([])),
        })
        .collect();
    outbox::publish(conn, tenant_id, effects, cause, now)?;
    let (tenant, ended) = (tenant_id.to_string(), ids.len() as u64);
    conn.after_commit(move || {
        crate::metrics::add(
            "scimitar_sessions_ended_total",
            &[("tenant", &tenant), ("reason", reason.as_str())],
            ended,
        );
    });
    Ok(ids)
}

/// One user's roles moved by a change.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleShift {
    pub user_id: String,
    pub gained: BTreeSet<String>,
    pub lost: BTreeSet<String>,
}

/// What a change did to roles and sessions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settlement {
    pub shifts: Vec<RoleShift>,
    pub sessions_ended: Vec<String>,
}

/// The roles of the users a change can affect, read before the change.
#[derive(Debug)]
pub struct RoleWatch {
    tenant_id: String,
    before: BTreeMap<String, BTreeSet<String>>,
}

impl RoleWatch {
    /// Reads the roles of `users` under `rules` (the tenant's rules as they are now, before
    /// the change).
    pub fn start(
        conn: &mut AnyConnection,
        tenant_id: &str,
        rules: &RoleRules,
        users: Vec<String>,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            tenant_id: tenant_id.to_string(),
            before: roles_of_users(conn, tenant_id, rules, &users)?,
        })
    }

    /// A watch over nobody: for changes that cannot move roles.
    pub fn none(tenant_id: &str) -> Self {
        Self {
            tenant_id: tenant_id.to_string(),
            before: BTreeMap::new(),
        }
    }

    /// After the change: compares roles, records each user's shift, and ends the sessions
    /// that carry a role their user lost.
    pub(super) fn settle(
        self,
        conn: &mut Write,
        cause: &str,
        origin: Origin,
        now: DateTime<Utc>,
    ) -> Result<Settlement, StoreError> {
        if self.before.is_empty() {
            return Ok(Settlement::default());
        }
        let users: Vec<String> = self.before.keys().cloned().collect();
        let rules = RoleRules::load(conn, &self.tenant_id)?;
        let after = roles_of_users(conn, &self.tenant_id, &rules, &users)?;
        let empty = BTreeSet::new();
        let shifts: Vec<RoleShift> = self
            .before
            .iter()
            .filter_map(|(user_id, before)| {
                let after = after.get(user_id).unwrap_or(&empty);
                let shift = RoleShift {
                    user_id: user_id.clone(),
                    gained: after.difference(before).cloned().collect(),
                    lost: before.difference(after).cloned().collect(),
                };
                (!shift.gained.is_empty() || !shift.lost.is_empty()).then_some(shift)
            })
            .collect();
        let events = shifts
            .iter()
            .map(|shift| Event {
                actor: origin.actor,
                request: origin.request,
                resource_type: Some("User"),
                resource_id: Some(shift.user_id.clone()),
                cause: Some(cause.to_string()),
                ..Event::new(
                    "user.roles_change",
                    json!({"gained": shift.gained, "lost": shift.lost}),
                )
            })
            .collect();
        audit::record_all(conn, &self.tenant_id, now, events)?;
        let effects = shifts
            .iter()
            .map(|shift| Effect::RolesChanged {
                user_id: shift.user_id.clone(),
                gained: shift.gained.iter().cloned().collect(),
                lost: shift.lost.iter().cloned().collect(),
                roles: after
                    .get(&shift.user_id)
                    .map(|roles| roles.iter().cloned().collect())
                    .unwrap_or_default(),
            })
            .collect();
        outbox::publish(conn, &self.tenant_id, effects, Some(cause), now)?;
        let lost_by_user: BTreeMap<&str, &BTreeSet<String>> = shifts
            .iter()
            .filter(|s| !s.lost.is_empty())
            .map(|s| (s.user_id.as_str(), &s.lost))
            .collect();
        let losers: Vec<String> = lost_by_user.keys().map(|u| u.to_string()).collect();
        let carrying_lost_role: Vec<LiveSession> =
            sessions::live_of_users(conn, &self.tenant_id, &losers)?
                .into_iter()
                .filter(|session| {
                    let Some(lost) = lost_by_user.get(session.user_id.as_str()) else {
                        return false;
                    };
                    // A role set that cannot be read is treated as carrying the lost role.
                    serde_json::from_str::<Vec<String>>(&session.roles)
                        .map_or(true, |roles| roles.iter().any(|r| lost.contains(r)))
                })
                .collect();
        let sessions_ended = end_sessions(
            conn,
            &self.tenant_id,
            &carrying_lost_role,
            EndReason::RoleLost,
            Some(cause),
            origin,
            now,
        )?;
        Ok(Settlement {
            shifts,
            sessions_ended,
        })
    }
}
