//! Provisioning facts: the one entry point through which a write reaches the cascade.
//!
//! A write path (a SCIM handler, the admin API, the CLI, a signal from the identity provider)
//! records its own audit record, then states what happened as one of the facts below, on the
//! connection of its own transaction. Each fact runs every step that fact implies, in the same
//! order every time (Kanidm's shape), and returns what it did; no caller runs the steps itself.
//!
//! | fact | sessions | outbox | counted |
//! |---|---|---|---|
//! | `user_written`, deactivated | all of the user's end | `user.disabled` | burst step, latency |
//! | `user_deleted` | all end | `user.disabled` if it was active | burst step, latency |
//! | `user_written`, reactivated | none revive | `user.enabled`, quick flag | — |
//! | `group_created` | — (waiting name rules bind) | — | — |
//! | `group_changed` | those carrying a lost role | roles changed; a flag if a rename moved roles | removals, latency |
//! | `members_changed`, `group_deleted` | those carrying a lost role | roles changed | removals, latency |
//! | `mapping_changed` | those carrying a lost role | roles changed | — |
//! | `direct_roles` | those carrying a lost role | roles changed | latency |
//! | `kill_switch`, `global_revocation`, `security_event` | all end | sessions revoked | — |
//!
//! In-memory counters (the burst window, metrics) change only after the commit
//! (`store::Write::after_commit`), so a rolled-back write counts nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::cascade::{EndReason, Origin, RoleShift, RoleWatch, end_user_sessions};
use super::catalog::{Unpublished, set_direct};
use super::roles::{RoleRules, bind_waiting_rules};
use crate::audit::{Actor, RequestInfo};
use crate::outbox::flags::{self, BurstWatch, FlagKind};
use crate::outbox::{self, Effect};
use crate::store::audit::{self as audit_rows, AuditQuery};
use crate::store::roles::GroupKeys;
use crate::store::{AnyConnection, StoreError, Write, from_stored, to_stored};

/// Default of `reactivation_alert_minutes`.
pub const DEFAULT_REACTIVATION_ALERT_MINUTES: i64 = 60;

/// Where a fact comes from: its tenant, the audit record that states it (every record of the
/// cascade points to it), who and which request, and when.
#[derive(Debug, Clone, Copy)]
pub struct Fact<'a> {
    pub tenant_id: &'a str,
    pub cause: &'a str,
    /// The credential whose request states the fact, if a request does.
    pub actor: Option<&'a Actor>,
    pub request: Option<&'a RequestInfo>,
    pub now: DateTime<Utc>,
    /// When the request carrying the fact arrived, for the deprovisioning latency.
    pub received: Option<Instant>,
}

impl<'a> Fact<'a> {
    /// Whom the cascade's records are attributed to.
    pub(super) fn origin(&self) -> Origin<'a> {
        Origin {
            actor: self.actor,
            request: self.request,
        }
    }
}

/// The roles a group write can move, read before the write (`Cascade::before_group_write`)
/// and settled after it (`group_changed`, `group_deleted`).
#[derive(Debug)]
pub struct GroupWrite {
    watch: RoleWatch,
}

/// A user write's `active` before and after, and how soon after a deactivation a
/// reactivation comes (`Cascade::before_user_write`, settled by `user_written`).
#[derive(Debug)]
pub struct UserWrite {
    user_id: String,
    was: bool,
    is: bool,
    quick: Option<i64>,
}

impl UserWrite {
    /// What the write's audit record says of the change of `active`, if it changes.
    pub fn record_details(&self) -> Option<Value> {
        if self.was == self.is {
            return None;
        }
        let mut details = json!({"active": {"from": self.was, "to": self.is}});
        if let Some(seconds) = self.quick {
            details["reactivation"] =
                json!({"severity": "high", "seconds_after_deactivation": seconds});
        }
        Some(details)
    }
}

/// What a fact did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub sessions_ended: Vec<String>,
    pub shifts: Vec<RoleShift>,
}

/// The cascade's state in this process: the deprovisioning-burst window and the
/// quick-reactivation window. Cheap to clone; clones share the window.
#[derive(Clone)]
pub struct Cascade {
    burst: Arc<BurstWatch>,
    reactivation_alert: Duration,
}

impl Default for Cascade {
    fn default() -> Self {
        Self {
            burst: Arc::default(),
            reactivation_alert: Duration::minutes(DEFAULT_REACTIVATION_ALERT_MINUTES),
        }
    }
}

impl Cascade {
    /// Flags a deprovisioning burst past `threshold` steps (deactivations and membership
    /// removals) within `window` in one tenant; 0 turns the flag off.
    pub fn with_burst_limit(mut self, threshold: usize, window: Duration) -> Self {
        self.burst = Arc::new(BurstWatch::new(threshold, window));
        self
    }

    /// Flags a reactivation that comes within `window` of the user's deactivation.
    pub fn with_reactivation_alert(mut self, window: Duration) -> Self {
        self.reactivation_alert = window;
        self
    }

    /// A user write's change of `active`, read before the write's audit record: the record
    /// carries what it says (`UserWrite::record_details`) and `user_written` settles it. A
    /// reactivation soon after a deactivation (within `reactivation_alert`) may be a stale PUT
    /// replayed by the identity provider: it is found here, before the reactivation's own
    /// record, and flagged when settled.
    pub fn before_user_write(
        &self,
        conn: &mut Write,
        tenant_id: &str,
        user_id: &str,
        active: (bool, bool),
        now: DateTime<Utc>,
    ) -> Result<UserWrite, StoreError> {
        let (was, is) = active;
        let quick = match !was && is && self.reactivation_alert > Duration::zero() {
            true => last_deactivation(
                conn,
                tenant_id,
                user_id,
                Some(now - self.reactivation_alert),
            )?
            .map(|record| (now - from_stored(record.occurred)).num_seconds()),
            false => None,
        };
        Ok(UserWrite {
            user_id: user_id.to_string(),
            was,
            is,
            quick,
        })
    }

    /// A user write settled: a deactivation ends every session and the outbox says the user
    /// is disabled; a reactivation revives no session, the outbox says enabled and a quick
    /// one raises a flag; anything else changes no access here.
    pub fn user_written(
        &self,
        conn: &mut Write,
        fact: &Fact,
        write: UserWrite,
    ) -> Result<Outcome, StoreError> {
        match (write.was, write.is) {
            (true, false) => {
                self.deprovision(conn, fact, &write.user_id, EndReason::UserDeactivated)
            }
            (false, true) => self.user_re_enabled(conn, fact, &write.user_id, write.quick),
            _ => Ok(Outcome::default()),
        }
    }

    /// A user re-enabled by an explicit act: no session revives; the outbox says enabled,
    /// and a quick reactivation raises a flag.
    fn user_re_enabled(
        &self,
        conn: &mut Write,
        fact: &Fact,
        user_id: &str,
        quick: Option<i64>,
    ) -> Result<Outcome, StoreError> {
        let enabled = Effect::UserEnabled {
            user_id: user_id.to_string(),
        };
        outbox::publish(
            conn,
            fact.tenant_id,
            vec![enabled],
            Some(fact.cause),
            fact.now,
        )?;
        if let Some(seconds) = quick {
            let details = json!({"user_id": user_id, "seconds_after_deactivation": seconds, "cause": fact.cause});
            let kind = FlagKind::QuickReactivation;
            flags::raise(conn, fact.tenant_id, kind, user_id, details, fact.now)?;
        }
        Ok(Outcome::default())
    }

    /// A user deleted: every session ends; the outbox says disabled if they were active.
    pub fn user_deleted(
        &self,
        conn: &mut Write,
        fact: &Fact,
        user_id: &str,
        was_active: bool,
    ) -> Result<Outcome, StoreError> {
        // A deleted user's direct roles go with them (their sessions end below anyway).
        crate::store::role_catalog::unassign_all(conn, fact.tenant_id, user_id)?;
        if was_active {
            return self.deprovision(conn, fact, user_id, EndReason::UserDeleted);
        }
        end_all(conn, fact, user_id, EndReason::UserDeleted)
    }

    /// A group created: display-name rules waiting for a group of its name bind to it.
    pub fn group_created(
        &self,
        conn: &mut Write,
        fact: &Fact,
        group: &GroupKeys,
    ) -> Result<Outcome, StoreError> {
        bind_waiting_rules(
            conn,
            fact.tenant_id,
            group,
            fact.cause,
            fact.origin(),
            fact.now,
        )?;
        Ok(Outcome::default())
    }

    /// Before a group write, from the group's keys before and after it and the users it
    /// names (members added or removed; read only when a rule matches the group): whose roles can move, with their roles now. Nobody,
    /// when no rule matches the group before or after; the users named, when the group's
    /// keys keep their roles; every member too, when a rename or a new externalId moves the
    /// group in or out of a rule. A deletion passes the same keys twice and every member.
    pub fn before_group_write(
        &self,
        conn: &mut AnyConnection,
        tenant_id: &str,
        (before, after): (&GroupKeys, &GroupKeys),
        named: impl FnOnce(&mut AnyConnection) -> Result<Vec<String>, StoreError>,
    ) -> Result<GroupWrite, StoreError> {
        let rules = RoleRules::load(conn, tenant_id)?;
        if !rules.grants_any(before) && !rules.grants_any(after) {
            return Ok(GroupWrite {
                watch: RoleWatch::none(tenant_id),
            });
        }
        let mut named = named(conn)?;
        if rules.roles_of([before]) != rules.roles_of([after]) {
            named.extend(crate::store::groups::member_ids(
                conn, tenant_id, &before.id,
            )?);
        }
        named.sort();
        named.dedup();
        Ok(GroupWrite {
            watch: RoleWatch::start(conn, tenant_id, &rules, named)?,
        })
    }

    /// A group's members, name or externalId changed (`removed` members left it): rules
    /// waiting for a group of its new name bind to it, the roles `write` saw before the
    /// change are settled, removals count towards a burst, and a rename that moved anyone's
    /// roles raises a flag with the counts.
    pub fn group_changed(
        &self,
        conn: &mut Write,
        fact: &Fact,
        (before, after): (&GroupKeys, &GroupKeys),
        write: GroupWrite,
        removed: usize,
    ) -> Result<Outcome, StoreError> {
        bind_waiting_rules(
            conn,
            fact.tenant_id,
            after,
            fact.cause,
            fact.origin(),
            fact.now,
        )?;
        let outcome = self.members_changed(conn, fact, write.watch, removed)?;
        let renamed = before.display_name_key != after.display_name_key
            || before.external_id != after.external_id;
        let gained = outcome
            .shifts
            .iter()
            .filter(|s| !s.gained.is_empty())
            .count();
        let lost = outcome.shifts.iter().filter(|s| !s.lost.is_empty()).count();
        if renamed && gained + lost > 0 {
            let details = json!({
                "group_id": after.id, "cause": fact.cause,
                "display_name": {"from": before.display_name, "to": after.display_name},
                "external_id": {"from": before.external_id, "to": after.external_id},
                "users_gaining_roles": gained, "users_losing_roles": lost,
                "sessions_ended": outcome.sessions_ended.len(),
            });
            let kind = FlagKind::GroupRenameMovedRoles;
            flags::raise(conn, fact.tenant_id, kind, &after.id, details, fact.now)?;
        }
        Ok(outcome)
    }

    /// A group's members changed (`removed` members left it): the roles `watch` saw before
    /// the change are settled, and removals count towards a burst.
    fn members_changed(
        &self,
        conn: &mut Write,
        fact: &Fact,
        watch: RoleWatch,
        removed: usize,
    ) -> Result<Outcome, StoreError> {
        let outcome = mapping_changed(conn, fact, watch)?;
        self.deprovisioning_steps(conn, fact, removed)?;
        if !outcome.sessions_ended.is_empty() {
            deprovisioning_committed(conn, fact);
        }
        Ok(outcome)
    }

    /// The identity provider wrote a user's `roles`: their direct roles become `wanted`. A
    /// newly assigned role must be published and assignable (`Err(Unpublished)`: nothing is
    /// written); a role lost this way, and held through no group, ends the sessions carrying it.
    pub fn direct_roles(
        &self,
        conn: &mut Write,
        fact: &Fact,
        user_id: &str,
        wanted: &BTreeSet<String>,
        assigned_by: &str,
    ) -> Result<Result<Outcome, Unpublished>, StoreError> {
        let rules = RoleRules::load(conn, fact.tenant_id)?;
        let watch = RoleWatch::start(conn, fact.tenant_id, &rules, vec![user_id.to_string()])?;
        let set = set_direct(conn, fact, user_id, wanted, assigned_by)?;
        if let Err(unpublished) = set {
            return Ok(Err(unpublished));
        }
        let outcome = mapping_changed(conn, fact, watch)?;
        if !outcome.sessions_ended.is_empty() {
            deprovisioning_committed(conn, fact);
        }
        Ok(Ok(outcome))
    }

    /// A group deleted: every member (`removed`) left it.
    pub fn group_deleted(
        &self,
        conn: &mut Write,
        fact: &Fact,
        write: GroupWrite,
        removed: usize,
    ) -> Result<Outcome, StoreError> {
        self.members_changed(conn, fact, write.watch, removed)
    }

    fn deprovision(
        &self,
        conn: &mut Write,
        fact: &Fact,
        user_id: &str,
        reason: EndReason,
    ) -> Result<Outcome, StoreError> {
        let outcome = end_all(conn, fact, user_id, reason)?;
        let disabled = Effect::UserDisabled {
            user_id: user_id.to_string(),
            reason: reason.as_str(),
        };
        outbox::publish(
            conn,
            fact.tenant_id,
            vec![disabled],
            Some(fact.cause),
            fact.now,
        )?;
        self.deprovisioning_steps(conn, fact, 1)?;
        deprovisioning_committed(conn, fact);
        Ok(outcome)
    }

    /// Counts deprovisioning steps once the write commits; if they take the window past the
    /// threshold, raises the burst flag in the write's transaction.
    fn deprovisioning_steps(
        &self,
        conn: &mut Write,
        fact: &Fact,
        steps: usize,
    ) -> Result<(), StoreError> {
        let (burst, tenant, now) = (self.burst.clone(), fact.tenant_id.to_string(), fact.now);
        conn.after_commit(move || burst.record(&tenant, steps, now));
        let Some(count) = self.burst.peek(fact.tenant_id, steps, fact.now) else {
            return Ok(());
        };
        let (burst, tenant) = (self.burst.clone(), fact.tenant_id.to_string());
        // A burst that goes on writes its flag row at most once a second (`BurstWatch`).
        let Some(occurrences) = self.burst.flag_due(fact.tenant_id, fact.now) else {
            conn.after_commit(move || burst.flag_deferred(&tenant));
            return Ok(());
        };
        let details = json!({
            "steps": count,
            "threshold": self.burst.threshold(),
            "window_minutes": self.burst.window().num_minutes(),
            "last_cause": fact.cause,
        });
        let kind = FlagKind::DeprovisioningBurst;
        flags::raise_counted(
            conn,
            fact.tenant_id,
            kind,
            fact.tenant_id,
            details,
            occurrences,
            fact.now,
        )?;
        conn.after_commit(move || burst.flag_written(&tenant, occurrences, now));
        Ok(())
    }
}

/// A role mapping added or removed: the roles `watch` saw before are settled.
pub(super) fn mapping_changed(
    conn: &mut Write,
    fact: &Fact,
    watch: RoleWatch,
) -> Result<Outcome, StoreError> {
    let settled = watch.settle(conn, fact.cause, fact.origin(), fact.now)?;
    Ok(Outcome {
        sessions_ended: settled.sessions_ended,
        shifts: settled.shifts,
    })
}

/// The audit record of the user's latest deactivation (since `since`, if given): who
/// switched them off, when, by which request. Among their latest 200 `user.*` records.
pub fn last_deactivation(
    conn: &mut impl crate::store::Session,
    tenant_id: &str,
    user_id: &str,
    since: Option<DateTime<Utc>>,
) -> Result<Option<audit_rows::AuditRow>, StoreError> {
    let query = AuditQuery {
        since: since.map(to_stored),
        action: Some("user.*".into()),
        resource_id: Some(user_id.to_string()),
        newest_first: true,
        limit: 200,
        ..Default::default()
    };
    Ok(audit_rows::query(conn, tenant_id, &query)?
        .into_iter()
        .find(|record| {
            serde_json::from_str::<Value>(&record.details).is_ok_and(|details| {
                details["active"]["to"] == Value::Bool(false)
                    || (record.action == "user.create" && details["active"] == Value::Bool(false))
            })
        }))
}

/// The kill switch: an operator ends every session of a user now.
pub fn kill_switch(conn: &mut Write, fact: &Fact, user_id: &str) -> Result<Outcome, StoreError> {
    end_all(conn, fact, user_id, EndReason::RevokedByAdmin)
}

/// A security event received from the identity provider (CAEP `session-revoked`,
/// `credential-change`, RISC `sessions-revoked`): every session of the user ends; the user
/// stays active.
pub fn security_event(conn: &mut Write, fact: &Fact, user_id: &str) -> Result<Outcome, StoreError> {
    end_all(conn, fact, user_id, EndReason::SecurityEvent)
}

/// Global Token Revocation: the identity provider ends every session of a user; the user
/// stays active and may sign in again.
pub fn global_revocation(
    conn: &mut Write,
    fact: &Fact,
    user_id: &str,
) -> Result<Outcome, StoreError> {
    end_all(conn, fact, user_id, EndReason::GlobalTokenRevocation)
}

fn end_all(
    conn: &mut Write,
    fact: &Fact,
    user_id: &str,
    reason: EndReason,
) -> Result<Outcome, StoreError> {
    let sessions_ended = end_user_sessions(
        conn,
        fact.tenant_id,
        user_id,
        reason,
        Some(fact.cause),
        fact.origin(),
        fact.now,
    )?;
    Ok(Outcome {
        sessions_ended,
        ..Outcome::default()
    })
}

/// Measures, once the write commits, the time from the request's arrival to the commit of
/// the revocations it caused.
fn deprovisioning_committed(conn: &mut Write, fact: &Fact) {
    if let Some(received) = fact.received {
        let tenant = fact.tenant_id.to_string();
        conn.after_commit(move || {
            crate::metrics::observe(
                "scimitar_deprovisioning_latency_seconds",
                &[("tenant", &tenant)],
                received.elapsed().as_secs_f64(),
            );
        });
    }
}
