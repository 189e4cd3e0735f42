//! Moving events to receivers. The pump turns a stream's outbox events into signed SETs in
//! its queue and moves its cursor, in one transaction. Push sends due SETs and retries with
//! exponential backoff until the receiver accepts them (at least once: receivers dedupe on
//! `jti`). Poll hands out unacknowledged SETs and marks acknowledged ones delivered.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::{Map, Value, json};

use super::sets::{self, SUPPORTED};
use super::{POLL, PUSH, Transmitter};
use crate::access::credentials::{Caller, CredentialKind};
use crate::sealing::Sealer;
use crate::signals::SignalsError;
use crate::store::outbox::OutboxRow;
use crate::store::ssf::{self as rows, QueuedRow, StreamRow};
use crate::store::{StoreError, outbox, to_stored};

/// Outbox events read per pump step.
const PUMP_BATCH: i64 = 500;
/// How long a push attempt holds its events before another replica may try them.
const LEASE: Duration = Duration::seconds(30);
/// Longest wait between two attempts.
const MAX_BACKOFF_SECONDS: i64 = 3600;
/// Longest a poll request waits for events when asked to.
const LONG_POLL: StdDuration = StdDuration::from_secs(15);

/// The wait before attempt `attempts + 1`: 1 s, 2 s, 4 s, … up to an hour.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = attempts.clamp(1, 12) - 1;
    Duration::seconds((1_i64 << exponent).min(MAX_BACKOFF_SECONDS))
}

impl Transmitter {
    /// Turns new outbox events of every stream into queued SETs; returns how many.
    pub fn pump_all(&self) -> Result<usize, StoreError> {
        Ok(self.pump_all_streams()?.0)
    }

    /// `pump_all`, also telling how many streams exist (none: the transmitter can sleep).
    fn pump_all_streams(&self) -> Result<(usize, usize), StoreError> {
        let (streams, heads) = self
            .store
            .read(|conn| Ok::<_, StoreError>((rows::all(conn)?, outbox::heads(conn)?)))?;
        let heads: std::collections::HashMap<String, i64> = heads.into_iter().collect();
        let mut queued = 0;
        let count = streams.len();
        // Most rounds find every stream caught up: only those behind take a write transaction.
        for stream in streams {
            if heads
                .get(&stream.tenant_id)
                .is_some_and(|head| *head > stream.cursor)
            {
                queued += self.pump(&stream.tenant_id, &stream.id)?;
            }
        }
        Ok((queued, count))
    }

    /// Pumps one stream until its cursor reaches the outbox head.
    pub fn pump(&self, tenant_id: &str, stream_id: &str) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let (queued, more) = self
                .store
                .write(|conn| self.pump_step(conn, tenant_id, stream_id))?;
            total += queued;
            if !more {
                return Ok(total);
            }
        }
    }

    fn pump_step(
        &self,
        conn: &mut crate::store::Write,
        tenant_id: &str,
        stream_id: &str,
    ) -> Result<(usize, bool), StoreError> {
        let Some(mut stream) = rows::get_for_update(conn, tenant_id, stream_id)? else {
            return Ok((0, false));
        };
        let events = outbox::after(conn, tenant_id, stream.cursor, PUMP_BATCH)?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok((0, false));
        };
        let more = events.len() as i64 == PUMP_BATCH;
        stream.cursor = last;
        if stream.status == "disabled" {
            // A disabled stream drops what happens meanwhile; a paused one keeps it.
            rows::update(conn, &stream)?;
            return Ok((0, more));
        }
        let requested: BTreeSet<String> =
            serde_json::from_str(&stream.events_requested).unwrap_or_default();
        let asked = |t: &str| requested.contains(t) && SUPPORTED.contains(&t);
        let mut wanted: Vec<(&OutboxRow, &'static str)> = events
            .iter()
            .filter(|e| sets::for_stream(e, &stream.id))
            .flat_map(|e| sets::event_types(e, asked).into_iter().map(move |t| (e, t)))
            .collect();
        if stream.default_subjects == "NONE" {
            let users: Vec<String> = wanted
                .iter()
                .filter_map(|(e, _)| e.user_id.clone())
                .collect();
            let subjects: BTreeSet<String> = rows::subjects_among(conn, &stream.id, &users)?
                .into_iter()
                .collect();
            wanted.retain(|(e, _)| {
                e.kind == sets::COMPLETION
                    || e.user_id.as_ref().is_some_and(|u| subjects.contains(u))
            });
        }
        let now = self.clock.now();
        let mut queue = Vec::with_capacity(wanted.len());
        for (event, event_type) in wanted {
            let jti = uuid::Uuid::now_v7().to_string();
            let Some(claims) = sets::claims(
                event,
                event_type,
                &self.issuer,
                &stream.audience,
                &jti,
                now.timestamp(),
            ) else {
                continue;
            };
            let token = self
                .keys
                .sign(sets::SET_TYP, &claims, now)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            queue.push(QueuedRow::new(
                &stream.id,
                jti,
                event.seq,
                token,
                to_stored(now),
            ));
        }
        rows::enqueue(conn, &queue)?;
        rows::update(conn, &stream)?;
        Ok((queue.len(), more))
    }

    /// Sends the push events that are due; returns how many were accepted.
    pub async fn push_due(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let store = self.store.clone();
        let claimed = tokio::task::spawn_blocking(move || {
            store.write(|conn| {
                rows::claim_due(conn, PUSH, to_stored(now), to_stored(now + LEASE), 100)
            })
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))??;
        let mut accepted = 0;
        for (queued, stream) in claimed {
            let outcome = self.send(&queued, &stream).await;
            let store = self.store.clone();
            let now = self.clock.now();
            let recorded = tokio::task::spawn_blocking(move || match outcome {
                Ok(()) => store.write(|conn| rows::mark_delivered(conn, &stream.id, std::slice::from_ref(&queued.jti), to_stored(now)).map(|_| true)),
                Err(error) => {
                    let attempts = queued.attempts + 1;
                    crate::metrics::inc("scimitar_ssf_delivery_failures_total", &[("tenant", &stream.tenant_id), ("stream", &stream.id)]);
                    tracing::warn!(stream = %stream.id, attempts, %error, "SSF push delivery failed; will retry");
                    store
                        .write(|conn| rows::failed(conn, &stream.id, &queued.jti, attempts, to_stored(now + backoff(attempts)), &error))
                        .map(|_| false)
                }
            })
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))??;
            accepted += usize::from(recorded);
        }
        Ok(accepted)
    }

    /// One push (RFC 8935): accepted on any 2xx (202 by the RFC).
    async fn send(&self, queued: &QueuedRow, stream: &StreamRow) -> Result<(), String> {
        let url = stream
            .endpoint_url
            .as_deref()
            .ok_or("the stream has no endpoint")?;
        let mut headers = vec![
            ("content-type", "application/secevent+jwt"),
            ("accept", "application/json"),
        ];
        let authorization = stream
            .authorization_header
            .as_deref()
            .map(|stored| self.open_authorization(stored, stream))
            .transpose()?;
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization.as_str()));
        }
        // The receiver's answer matters only for its status (and a short error text).
        let reply = self
            .egress
            .post(url, &headers, queued.token.clone().into_bytes(), 64 * 1024)
            .await
            .map_err(|e| e.to_string())?;
        if reply.is_success() {
            return Ok(());
        }
        let body = String::from_utf8_lossy(&reply.body);
        Err(format!(
            "{}: {}",
            reply.status,
            body.chars().take(200).collect::<String>()
        ))
    }

    /// A push stream's stored `Authorization` header, opened (one stored before sealing
    /// existed is used as it is until `seal_stored_authorizations` seals it).
    fn open_authorization(&self, stored: &str, stream: &StreamRow) -> Result<String, String> {
        if !Sealer::is_sealed(stored) {
            return Ok(stored.to_string());
        }
        self.sealer
            .open(
                stored,
                &super::authorization_place(&stream.id, stream.endpoint_url.as_deref()),
            )
            .map_err(|e| e.to_string())
    }

    /// Poll (RFC 8936): acknowledges `ack` (and `setErrs`, which are logged), then returns up
    /// to `maxEvents` unacknowledged SETs, waiting for some unless `returnImmediately`.
    pub async fn poll(
        &self,
        caller: Caller,
        stream_id: String,
        body: Value,
    ) -> Result<Value, SignalsError> {
        let max_events = body
            .get("maxEvents")
            .and_then(Value::as_i64)
            .unwrap_or(100)
            .clamp(0, 1000);
        let immediately = body
            .get("returnImmediately")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let acks: Vec<String> = body
            .get("ack")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|j| j.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let errors: Map<String, Value> = body
            .get("setErrs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let deadline = tokio::time::Instant::now() + LONG_POLL;
        let mut bell = self.store.doorbell();
        let mut first = true;
        loop {
            let this = self.clone();
            let (caller, stream_id) = (caller.clone(), stream_id.clone());
            let (acks, errors) = if first {
                (acks.clone(), errors.clone())
            } else {
                (Vec::new(), Map::new())
            };
            let answer = tokio::task::spawn_blocking(move || {
                this.poll_once(&caller, &stream_id, max_events, &acks, &errors)
            })
            .await
            .map_err(|_| SignalsError::Internal)??;
            first = false;
            let empty = answer["sets"].as_object().is_none_or(Map::is_empty);
            if !empty || immediately || max_events == 0 || tokio::time::Instant::now() >= deadline {
                return Ok(answer);
            }
            let _ = tokio::time::timeout_at(deadline, bell.changed()).await;
        }
    }

    fn poll_once(
        &self,
        caller: &Caller,
        stream_id: &str,
        max_events: i64,
        acks: &[String],
        errors: &Map<String, Value>,
    ) -> Result<Value, SignalsError> {
        let now = to_stored(self.clock.now());
        let stream = self
            .store
            .read(|conn| rows::get(conn, &caller.tenant_id, stream_id))?
            .ok_or_else(|| SignalsError::NotFound(format!("no stream `{stream_id}`")))?;
        if caller.kind != CredentialKind::Admin && stream.client_id != caller.client_id {
            return Err(SignalsError::Forbidden(
                "this stream belongs to another client".into(),
            ));
        }
        if stream.delivery_method != POLL {
            return Err(SignalsError::InvalidValue(
                "this stream is delivered by push".into(),
            ));
        }
        for (jti, error) in errors {
            tracing::warn!(stream = %stream.id, %jti, %error, "the receiver rejected a SET");
        }
        let done: Vec<String> = acks.iter().cloned().chain(errors.keys().cloned()).collect();
        self.store
            .write(|conn| rows::mark_delivered(conn, &stream.id, &done, now))?;
        self.pump(&stream.tenant_id, &stream.id)?;
        if stream.status != "enabled" {
            return Ok(json!({"sets": {}, "moreAvailable": false}));
        }
        let (pending, total) = self.store.read(|conn| {
            Ok::<_, StoreError>((
                rows::pending(conn, &stream.id, max_events)?,
                rows::count_pending(conn, &stream.id)?,
            ))
        })?;
        let sets: Map<String, Value> = pending
            .iter()
            .map(|q| (q.jti.clone(), json!(q.token)))
            .collect();
        Ok(json!({"sets": sets, "moreAvailable": total > pending.len() as i64}))
    }

    /// The transmitter's loop: on each doorbell ring (or every second), pump every stream and
    /// push what is due; with no stream at all, only on a ring. Runs for the life of the server.
    pub async fn run(self) {
        let mut bell = self.store.doorbell();
        loop {
            let this = self.clone();
            let streams = match tokio::task::spawn_blocking(move || this.pump_all_streams()).await {
                Ok(Ok((_, streams))) => streams,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "SSF pump failed");
                    1
                }
                Err(error) => {
                    tracing::warn!(%error, "SSF pump failed");
                    1
                }
            };
            if streams == 0 {
                // No stream, so nothing is queued: an idle server issues no statement for
                // Shared Signals until a commit rings (a new stream's first events do).
                let _ = bell.changed().await;
                continue;
            }
            if let Err(error) = self.push_due().await {
                tracing::warn!(%error, "SSF push failed");
            }
            let _ = tokio::time::timeout(StdDuration::from_secs(1), bell.changed()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_an_hour() {
        let seconds: Vec<i64> = [1, 2, 3, 4, 12, 40]
            .iter()
            .map(|a| backoff(*a).num_seconds())
            .collect();
        assert_eq!(seconds, vec![1, 2, 4, 8, 2048, 2048]);
        assert!(backoff(100) <= Duration::seconds(MAX_BACKOFF_SECONDS));
    }
}
