//! Applying a verified SET, in one transaction: the dedup check on `(tenant, iss, jti)`, the
//! subject mapped to users (every event's, before anything is done: a SET that cannot be
//! mapped is refused whole, never half-applied), per event and user a `signal.receive` audit
//! record that causes what follows (sessions ended through the cascade, a deactivation
//! through the SCIM service's own path, a flag), and the row of its receipt. A refusal is
//! recorded in a transaction of its own, with a flag.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::settings::Settings;
use super::stream_events;
use super::subjects::{self, Action};
use super::verify::{Claimed, VerifiedSet};
use super::{Delivery, Outcome, Receiver, Refusal};
use crate::access::provisioning::{self, Fact};
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::outbox::flags::{self, FlagKind};
use crate::scim::projection::Projection;
use crate::scim::quirks::Quirks;
use crate::scim::{Context, ScimError};
use crate::signals::SignalsError;
use crate::store::receivers::{self as rows, ReceivedRow, ReceiverRow};
use crate::store::users as user_rows;
use crate::store::{StoreError, Write, to_stored};

/// One SET to apply: where it came from and how.
pub struct Job<'a> {
    pub receiver: &'a ReceiverRow,
    pub settings: &'a Settings,
    pub delivery: Delivery,
    /// The push request; `None` for a polled SET.
    pub request: Option<&'a RequestInfo>,
}

/// Why a SET was not applied.
#[derive(Debug)]
pub enum Failure {
    Refused(Refusal),
    /// Another transaction recorded the same SET first: acknowledged, not acted on again.
    Replayed,
    Error(SignalsError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Error(SignalsError::Store(error))
    }
}

impl From<SignalsError> for Failure {
    fn from(error: SignalsError) -> Self {
        Failure::Error(error)
    }
}

impl From<ScimError> for Failure {
    fn from(error: ScimError) -> Self {
        Failure::Error(SignalsError::Scim(error))
    }
}

/// What a SET did, kept with its receipt.
#[derive(Debug, Default)]
struct Effects {
    users: BTreeSet<String>,
    sessions_ended: usize,
    deactivated: Vec<String>,
    reactivated: Vec<String>,
    flagged: Vec<String>,
}

/// The actor of a receiver's records: the receiver, named by its transmitter.
fn actor(receiver: &ReceiverRow) -> Actor {
    Actor {
        client_id: receiver.id.clone(),
        name: format!("ssf receiver ({})", receiver.issuer),
    }
}

/// A polled SET's stand-in for a request, for the records that need one.
fn poll_request(receiver: &ReceiverRow) -> RequestInfo {
    RequestInfo {
        id: uuid::Uuid::now_v7().to_string(),
        method: "POLL".into(),
        path: receiver.poll_endpoint.clone().unwrap_or_default(),
        received: Some(std::time::Instant::now()),
    }
}

pub fn apply(rx: &Receiver, job: &Job, set: &VerifiedSet) -> Result<Outcome, Failure> {
    let receiver = job.receiver;
    let tenant_id = receiver.tenant_id.as_str();
    let now = rx.clock.now();
    let actor = actor(receiver);
    let request = job
        .request
        .cloned()
        .unwrap_or_else(|| poll_request(receiver));
    let (projection, quirks) = (Projection::default(), Quirks::new(true, &request.id));
    let context = Context {
        tenant_id,
        base: "",
        projection: &projection,
        actor: &actor,
        request: &request,
        quirks: &quirks,
    };
    let result = rx.store.write(|conn| {
        if rows::accepted(conn, tenant_id, &set.issuer, &set.jti)?.is_some() {
            return Err(Failure::Replayed);
        }
        // The stream's state as stored now (a verification asked for after this receiver was
        // read, by the poller or the push handler, must be found).
        let current = rows::get(conn, tenant_id, &receiver.id)?;
        let current = current.as_ref().unwrap_or(receiver);
        let stream_notes = stream_events::check(current, set).map_err(Failure::Refused)?;
        // Every event's users first: a SET that cannot be mapped does nothing at all.
        let mut plans = Vec::with_capacity(set.events.len());
        for (event_type, event) in &set.events {
            let action = Action::of(event_type, job.settings);
            let users = if action.needs_subject() {
                let identifier = subjects::identifier(&set.claims, event);
                let rules = &job.settings.subjects;
                subjects::users(conn, tenant_id, &set.issuer, identifier, rules)?
                    .map_err(Failure::Refused)?
            } else {
                Vec::new()
            };
            plans.push((event_type.as_str(), action, users));
        }
        // The lock order of every access write: user rows (sorted), the audit head, sessions.
        let mut effects = Effects {
            users: plans.iter().flat_map(|p| p.2.iter().cloned()).collect(),
            ..Effects::default()
        };
        for user in &effects.users {
            user_rows::get_for_update(conn, tenant_id, user)?;
        }
        let mut first_cause = None;
        for (event_type, action, users) in &plans {
            let details = json!({
                "receiver": receiver.id, "issuer": set.issuer, "jti": set.jti,
                "event_type": event_type, "delivery": job.delivery.as_str(),
                "action": action.as_str(),
            });
            let record = |user: Option<&String>| Event {
                actor: Some(&actor),
                request: Some(&request),
                resource_type: user.map(|_| "User"),
                resource_id: user.cloned(),
                ..Event::new("signal.receive", details.clone())
            };
            if users.is_empty() {
                let cause = audit::record(conn, tenant_id, now, record(None))?;
                first_cause.get_or_insert(cause);
                continue;
            }
            for user in users {
                let cause = audit::record(conn, tenant_id, now, record(Some(user)))?;
                first_cause.get_or_insert(cause.clone());
                match action {
                    Action::EndSessions => {
                        let fact = Fact {
                            tenant_id,
                            cause: &cause,
                            actor: Some(&actor),
                            request: Some(&request),
                            now,
                            received: None,
                        };
                        let ended = provisioning::security_event(conn, &fact, user)?;
                        effects.sessions_ended += ended.sessions_ended.len();
                    }
                    Action::Deactivate => {
                        if rx.scim.set_active_in(conn, &context, user, false, &cause)? == Some(true)
                        {
                            effects.deactivated.push(user.clone());
                        }
                    }
                    Action::Enabled { reactivate } => {
                        let reactivated = *reactivate
                            && rx.scim.set_active_in(conn, &context, user, true, &cause)?
                                == Some(true);
                        let details = json!({
                            "receiver": receiver.id, "issuer": set.issuer, "jti": set.jti,
                            "user_id": user, "reactivated": reactivated, "cause": cause,
                        });
                        let kind = FlagKind::SecurityEventAccountEnabled;
                        flags::raise(conn, tenant_id, kind, user, details, now)?;
                        effects.flagged.push(user.clone());
                        if reactivated {
                            effects.reactivated.push(user.clone());
                        }
                    }
                    Action::Record => {}
                }
            }
        }
        stream_events::record(conn, current, &stream_notes, now)?;
        let acted = plans.iter().any(|p| p.1.needs_subject());
        let outcome = if acted { "applied" } else { "ignored" };
        let row = ReceivedRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.to_string(),
            receiver_id: receiver.id.clone(),
            issuer: set.issuer.clone(),
            jti: set.jti.clone(),
            delivery: job.delivery.as_str().to_string(),
            event_types: json!(set.events.keys().collect::<Vec<_>>()).to_string(),
            outcome: outcome.to_string(),
            error: None,
            description: None,
            effects: json!({
                "users": effects.users, "sessions_ended": effects.sessions_ended,
                "deactivated": effects.deactivated, "reactivated": effects.reactivated,
                "flagged": effects.flagged,
            })
            .to_string(),
            cause: first_cause,
            received: to_stored(now),
        };
        match rows::record(conn, &row) {
            Err(StoreError::Conflict(_)) => return Err(Failure::Replayed),
            other => other?,
        }
        count_events(conn, tenant_id, &plans);
        count(conn, tenant_id, job.delivery, outcome);
        Ok(if acted {
            Outcome::Applied(row.id)
        } else {
            Outcome::Ignored(row.id)
        })
    });
    match result {
        Err(Failure::Replayed) => {
            crate::metrics::inc(
                "scimitar_ssf_received_total",
                &[
                    ("tenant", tenant_id),
                    ("delivery", job.delivery.as_str()),
                    ("outcome", "replayed"),
                ],
            );
            Ok(Outcome::Replayed)
        }
        other => other,
    }
}

/// Records a refused SET and raises (or counts a repeat of) the receiver's refusal flag, in
/// one transaction; nothing else is done.
pub fn refuse(
    rx: &Receiver,
    job: &Job,
    claimed: &Claimed,
    refusal: Refusal,
) -> Result<Outcome, SignalsError> {
    let receiver = job.receiver;
    let tenant_id = receiver.tenant_id.as_str();
    let now = rx.clock.now();
    tracing::warn!(
        receiver = %receiver.id, tenant = %tenant_id, jti = %claimed.jti,
        err = refusal.code.as_str(), description = %refusal.description,
        "security event token refused"
    );
    rx.store.write(|conn| {
        let row = ReceivedRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.to_string(),
            receiver_id: receiver.id.clone(),
            issuer: claimed.issuer.clone(),
            jti: claimed.jti.clone(),
            delivery: job.delivery.as_str().to_string(),
            event_types: json!(claimed.event_types).to_string(),
            outcome: "refused".into(),
            error: Some(refusal.code.as_str().to_string()),
            description: Some(refusal.description.clone()),
            effects: "{}".into(),
            cause: None,
            received: to_stored(now),
        };
        rows::record(conn, &row)?;
        let details = json!({
            "receiver": receiver.id, "issuer": claimed.issuer, "jti": claimed.jti,
            "delivery": job.delivery.as_str(), "err": refusal.code.as_str(),
            "description": refusal.description,
        });
        let kind = FlagKind::SecurityEventRefused;
        flags::raise(conn, tenant_id, kind, &receiver.id, details, now)?;
        count(conn, tenant_id, job.delivery, "refused");
        let (tenant, code) = (tenant_id.to_string(), refusal.code.as_str());
        conn.after_commit(move || {
            crate::metrics::inc(
                "scimitar_ssf_refused_total",
                &[("tenant", &tenant), ("err", code)],
            );
        });
        Ok::<_, SignalsError>(())
    })?;
    Ok(Outcome::Refused(refusal))
}

/// Counts a receipt once its transaction commits.
fn count(conn: &mut Write, tenant_id: &str, delivery: Delivery, outcome: &'static str) {
    let tenant = tenant_id.to_string();
    conn.after_commit(move || {
        crate::metrics::inc(
            "scimitar_ssf_received_total",
            &[
                ("tenant", &tenant),
                ("delivery", delivery.as_str()),
                ("outcome", outcome),
            ],
        );
    });
}

fn count_events(conn: &mut Write, tenant_id: &str, plans: &[(&str, Action, Vec<String>)]) {
    let counted: Vec<(&'static str, &'static str)> = plans
        .iter()
        .map(|(event_type, action, _)| (subjects::short_name(event_type), action.as_str()))
        .collect();
    let tenant = tenant_id.to_string();
    conn.after_commit(move || {
        for (event, action) in counted {
            crate::metrics::inc(
                "scimitar_ssf_received_events_total",
                &[("tenant", &tenant), ("event", event), ("action", action)],
            );
        }
    });
}

/// A received SET as the admin API shows it.
pub fn to_json(row: &ReceivedRow) -> Value {
    json!({
        "id": row.id,
        "receiver": row.receiver_id,
        "issuer": row.issuer,
        "jti": row.jti,
        "delivery": row.delivery,
        "event_types": serde_json::from_str::<Value>(&row.event_types).unwrap_or(Value::Null),
        "outcome": row.outcome,
        "err": row.error,
        "description": row.description,
        "effects": serde_json::from_str::<Value>(&row.effects).unwrap_or(Value::Null),
        "cause": row.cause,
        "received": crate::store::from_stored(row.received),
    })
}
