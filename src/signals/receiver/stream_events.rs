//! The events about the stream itself (SSF 1.0 §8.1.4–8.1.5): a verification, and a
//! transmitter's change of the stream's status. For a managed stream they must name that
//! stream (`sub_id`: `opaque`, the stream id), and a verification carrying a `state` must carry
//! the one Scimitar asked for (`invalid_state` otherwise); one without a `state` is the
//! transmitter's own and is acknowledged. Receipt marks the receiver verified, or records the
//! stream's new status, raising `signal_stream_interrupted` when it stops delivering.

use serde_json::{Value, json};

use super::stream_control::{ManagedStream, STREAM_UPDATED, VERIFICATION};
use super::verify::VerifiedSet;
use super::{ErrorCode, Refusal};
use crate::outbox::flags::{self, FlagKind};
use crate::store::receivers::{self as rows, ReceiverRow};
use crate::store::{StoreError, Write, to_stored};

/// What a SET says about the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamNote {
    /// A verification event; `requested` when it carried the state Scimitar asked for.
    Verified { requested: bool },
    /// The transmitter changed the stream's status.
    Status {
        status: String,
        reason: Option<String>,
    },
}

/// The stream a SET's subject names: `sub_id` (or the event's `subject`), `opaque`.
fn named_stream<'a>(set: &'a VerifiedSet, event: &'a Value) -> Option<&'a str> {
    let subject = set.claims.get("sub_id").or_else(|| event.get("subject"))?;
    (subject.get("format").and_then(Value::as_str) == Some("opaque"))
        .then(|| subject.get("id").and_then(Value::as_str))
        .flatten()
}

/// Checks the stream events of a SET against the receiver's stream; a SET that fails is
/// refused whole.
pub fn check(receiver: &ReceiverRow, set: &VerifiedSet) -> Result<Vec<StreamNote>, Refusal> {
    let stream = ManagedStream::of(receiver);
    let mut notes = Vec::new();
    for (event_type, event) in &set.events {
        let is_verification = event_type == VERIFICATION;
        if !is_verification && event_type != STREAM_UPDATED {
            continue;
        }
        if let Some(stream) = &stream
            && named_stream(set, event) != Some(stream.stream_id.as_str())
        {
            return Err(Refusal::new(
                ErrorCode::InvalidRequest,
                "the event does not name this receiver's stream (`sub_id`: opaque, the stream id)",
            ));
        }
        if is_verification {
            let state = event.get("state").and_then(Value::as_str);
            let requested = match (state, &receiver.verification_state) {
                (None, _) => false,
                (Some(state), Some(expected)) if state == expected => true,
                // A manual receiver cannot know what its administrator asked for.
                (Some(_), _) if stream.is_none() => false,
                (Some(_), _) => {
                    return Err(Refusal::new(
                        ErrorCode::InvalidState,
                        "the verification's `state` is not the one this receiver requested",
                    ));
                }
            };
            notes.push(StreamNote::Verified { requested });
        } else {
            let status = event.get("status").and_then(Value::as_str);
            let Some(status) = status.filter(|s| matches!(*s, "enabled" | "paused" | "disabled"))
            else {
                return Err(Refusal::new(
                    ErrorCode::InvalidRequest,
                    "a stream-updated event's `status` is enabled, paused or disabled",
                ));
            };
            notes.push(StreamNote::Status {
                status: status.to_string(),
                reason: event
                    .get("reason")
                    .and_then(Value::as_str)
                    .map(String::from),
            });
        }
    }
    Ok(notes)
}

/// Records the notes, in the SET's transaction.
pub fn record(
    conn: &mut Write,
    receiver: &ReceiverRow,
    notes: &[StreamNote],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    for note in notes {
        match note {
            StreamNote::Verified { requested } => {
                rows::verified(conn, receiver, *requested, to_stored(now))?;
            }
            StreamNote::Status { status, reason } => {
                let mut row = receiver.clone();
                if let Some(mut stream) = ManagedStream::of(receiver) {
                    stream.status = status.clone();
                    stream.reason = reason.clone();
                    row.stream = Some(stream.stored());
                    rows::set_stream(conn, &row)?;
                }
                if status != "enabled" {
                    let details = json!({
                        "receiver": receiver.id, "issuer": receiver.issuer,
                        "status": status, "reason": reason,
                    });
                    let kind = FlagKind::SignalStreamInterrupted;
                    flags::raise(conn, &receiver.tenant_id, kind, &receiver.id, details, now)?;
                }
            }
        }
    }
    Ok(())
}
