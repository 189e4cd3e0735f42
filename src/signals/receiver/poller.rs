//! RFC 8936 poll delivery: for each enabled poll receiver, Scimitar POSTs to the
//! transmitter's endpoint `{"maxEvents", "returnImmediately": true, "ack", "setErrs"}`,
//! applies each SET it gets, and acknowledges it in the next request (`ack` for SETs applied,
//! ignored or replayed; `setErrs` with the RFC 8935 code for refused ones; neither for a SET
//! that could not be decided, which the transmitter sends again). It polls again at once while
//! `moreAvailable` is true or acknowledgements are owed, else after the receiver's interval;
//! a failed poll backs off 1 s, 2 s, 4 s, … up to 5 minutes. Runs as one tokio task (started
//! by `serve`): HTTP on the task, database work on blocking threads.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::settings::Settings;
use super::{Delivery, Outcome, POLL, Receiver, blocking, stream_control};
use crate::store::receivers::{self as rows, ReceiverRow};

/// Longest wait after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often the list of poll receivers is read again while there are some.
const RELOAD: Duration = Duration::from_secs(1);
/// How often it is read while there are none: an idle server without poll receivers issues
/// one statement per half minute for them. A receiver created or changed on this replica
/// rings the store's doorbell and is polled at once; one created on another replica is
/// picked up within this interval.
const IDLE_RELOAD: Duration = Duration::from_secs(30);
/// Polls in a row for one receiver before the others get their turn.
const MAX_ROUNDS: usize = 20;

/// One receiver's poll state in this process.
#[derive(Debug)]
struct PollState {
    acks: Vec<String>,
    errors: Map<String, Value>,
    failures: u32,
    next: Instant,
}

impl Default for PollState {
    fn default() -> Self {
        Self {
            acks: Vec::new(),
            errors: Map::new(),
            failures: 0,
            next: Instant::now(),
        }
    }
}

/// The wait after `failures` failed polls in a row.
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.clamp(1, 10) - 1;
    (Duration::from_secs(1) * (1u32 << exponent)).min(MAX_BACKOFF)
}

/// Polls every enabled poll receiver, forever.
pub async fn run(receiver: Receiver) {
    let mut states: HashMap<String, PollState> = HashMap::new();
    let mut bell = receiver.store.doorbell();
    loop {
        let store = receiver.store.clone();
        let listed =
            blocking(move || Ok(store.read(|conn| rows::enabled_by_method(conn, POLL))?)).await;
        let receivers = match listed {
            Ok(receivers) => receivers,
            Err(error) => {
                tracing::warn!(%error, "cannot list poll receivers");
                tokio::time::sleep(RELOAD * 5).await;
                continue;
            }
        };
        states.retain(|id, _| receivers.iter().any(|r| &r.id == id));
        let now = Instant::now();
        let mut due: Vec<(ReceiverRow, PollState)> = Vec::new();
        for row in receivers {
            if states.get(&row.id).is_none_or(|s| s.next <= now) {
                let state = states.remove(&row.id).unwrap_or_default();
                due.push((row, state));
            }
        }
        let polled = futures_util::future::join_all(
            due.into_iter()
                .map(|(row, state)| poll(&receiver, row, state)),
        )
        .await;
        states.extend(polled);
        let next = states.values().map(|s| s.next).min();
        if states.is_empty() {
            let _ = tokio::time::timeout(IDLE_RELOAD, bell.changed()).await;
            continue;
        }
        let wake = next.map_or(RELOAD, |n| n.saturating_duration_since(Instant::now()));
        tokio::time::sleep(wake.min(RELOAD)).await;
    }
}

/// Records a failed poll as the receiver's last error (its health).
async fn note_error(rx: &Receiver, row: &ReceiverRow, error: &str) {
    let (store, now) = (rx.store.clone(), crate::store::to_stored(rx.clock.now()));
    let (tenant, id, error) = (
        row.tenant_id.clone(),
        row.id.clone(),
        format!("poll: {error}"),
    );
    let noted =
        blocking(
            move || Ok(store.write(|conn| rows::note_error(conn, &tenant, &id, &error, now))?),
        )
        .await;
    if let Err(error) = noted {
        tracing::warn!(%error, "cannot record a receiver's poll failure");
    }
}

/// Largest poll answer read: `poll_max_events` SETs of a few kilobytes each.
const MAX_POLL_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Polls one receiver until the transmitter has nothing more and nothing is owed.
async fn poll(rx: &Receiver, row: ReceiverRow, mut state: PollState) -> (String, PollState) {
    let settings = Settings::of(&row);
    for _ in 0..MAX_ROUNDS {
        match round(rx, &row, &settings, &mut state).await {
            Ok(true) => continue,
            Ok(false) => {
                state.failures = 0;
                state.next = Instant::now() + Duration::from_secs(settings.poll_interval_seconds);
                return (row.id, state);
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                state.next = Instant::now() + backoff(state.failures);
                tracing::warn!(receiver = %row.id, %error, failures = state.failures, "poll failed");
                crate::metrics::inc(
                    "scimitar_ssf_poll_failures_total",
                    &[("tenant", &row.tenant_id), ("receiver", &row.id)],
                );
                note_error(rx, &row, &error).await;
                return (row.id, state);
            }
        }
    }
    state.next = Instant::now();
    (row.id, state)
}

/// The poll's `Authorization`: a managed stream's access token (or header), or the one
/// configured by hand.
async fn authorization(rx: &Receiver, row: &ReceiverRow) -> Result<Option<String>, String> {
    match stream_control::open_access(&rx.sealer, row).map_err(|e| e.to_string())? {
        Some(access) => {
            let transmitter = stream_control::Transmitter {
                rx,
                receiver_id: &row.id,
                issuer: &row.issuer,
                access: &access,
            };
            let header = transmitter.poll_authorization().await;
            header.map(Some).map_err(|e| e.to_string())
        }
        None => super::manage::poll_authorization(row, &rx.sealer).map_err(|e| e.to_string()),
    }
}

/// One poll request and the SETs it returned; `Ok(true)` when another should follow at once.
async fn round(
    rx: &Receiver,
    row: &ReceiverRow,
    settings: &Settings,
    state: &mut PollState,
) -> Result<bool, String> {
    let endpoint = row.poll_endpoint.as_deref().ok_or("no poll endpoint")?;
    let mut body = json!({
        "maxEvents": settings.poll_max_events,
        "returnImmediately": true,
        "ack": state.acks,
    });
    if !state.errors.is_empty() {
        body["setErrs"] = Value::Object(state.errors.clone());
    }
    let body = body.to_string().into_bytes();
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    let authorization = authorization(rx, row).await?;
    if let Some(authorization) = &authorization {
        headers.push(("authorization", authorization.as_str()));
    }
    let reply = rx
        .egress
        .post(endpoint, &headers, body, MAX_POLL_RESPONSE_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    if !reply.is_success() {
        if reply.status == 401 {
            // A managed stream's access token expired early: the next poll gets a new one.
            rx.stream_tokens.forget(&row.id);
        }
        return Err(format!("the transmitter answered {}", reply.status));
    }
    // What was sent is acknowledged now.
    state.acks.clear();
    state.errors.clear();
    let answer: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("the poll response is not JSON: {e}"))?;
    let sets = answer
        .get("sets")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let more = answer.get("moreAvailable").and_then(Value::as_bool) == Some(true);
    for (jti, token) in &sets {
        let Some(token) = token.as_str() else {
            let refusal = super::Refusal::new(super::ErrorCode::InvalidRequest, "not a JWT");
            state.errors.insert(jti.clone(), refusal.body());
            continue;
        };
        match rx.receive(row, token, Delivery::Poll, None).await {
            Ok(Outcome::Refused(refusal)) => {
                state.errors.insert(jti.clone(), refusal.body());
            }
            Ok(_) => state.acks.push(jti.clone()),
            // Undecided (keys or database unavailable): not acknowledged, so it comes again.
            Err(error) => {
                tracing::warn!(receiver = %row.id, %jti, %error, "polled SET not applied")
            }
        }
    }
    Ok(more || !state.acks.is_empty() || !state.errors.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_polls_back_off_exponentially_up_to_five_minutes() {
        let waits: Vec<u64> = [1, 2, 3, 4, 9, 10, 50]
            .map(|f| backoff(f).as_secs())
            .to_vec();
        assert_eq!(waits, vec![1, 2, 4, 8, 256, 300, 300]);
        assert_eq!(backoff(0), Duration::from_secs(1));
    }
}
