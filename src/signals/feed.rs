//! The revocation feed: outbox events as a resource server reads them to keep a revocation
//! set. Each event names what to reject from now on: a session (`sid` claim), a token
//! (`jti`), or every token of a user issued before `not_before`. Provisioning events (RFC
//! 9967, which carry the resources written) and Global Token Revocation completions (owed to
//! one caller) are for Shared Signals streams only: the feed and the live stream skip them,
//! and keep counting past them.

use serde_json::{Value, json};

use crate::store::outbox::{self as rows, OutboxRow};
use crate::store::{AnyConnection, Store, StoreError, from_stored};

/// Largest page of the feed.
pub const MAX_PAGE: i64 = 1000;

/// One event as served, in the feed and on the stream.
pub fn to_json(row: &OutboxRow) -> Value {
    let details: Value = serde_json::from_str(&row.details).unwrap_or(Value::Null);
    json!({
        "seq": row.seq,
        "type": row.kind,
        "occurred": from_stored(row.occurred),
        "user": row.user_id,
        "session": row.session_id,
        "jti": row.jti,
        "not_before": row.not_before.map(from_stored),
        "cause": row.cause,
        "details": details,
    })
}

/// Events of a tenant after `after`, at most `limit`, with the cursor to continue from.
pub fn page(store: &Store, tenant_id: &str, after: i64, limit: i64) -> Result<Value, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let (events, head) = store.read(|conn| {
        Ok::<_, StoreError>((
            rows::after(conn, tenant_id, after, limit)?,
            rows::head(conn, tenant_id)?,
        ))
    })?;
    let next = events.last().map_or(after, |e| e.seq);
    Ok(json!({
        "events": events
            .iter()
            .filter(|e| crate::outbox::on_revocation_feed(&e.kind))
            .map(to_json)
            .collect::<Vec<_>>(),
        "next": next,
        "head": head,
        "more": next < head,
    }))
}

/// Events after `after` as server-sent events (`id` is the sequence number, so a client
/// resumes with `Last-Event-ID`), and the new cursor.
pub fn sse_chunk(store: &Store, tenant_id: &str, after: i64) -> Result<(String, i64), StoreError> {
    sse_chunk_with(store, tenant_id, after, |_, event| {
        Ok((event.kind.clone(), to_json(event).to_string()))
    })
}

/// `sse_chunk` with each event's name and data made by `render`, which may read more on the
/// same connection (the operator console renders an HTML row with the user's name).
pub fn sse_chunk_with(
    store: &Store,
    tenant_id: &str,
    after: i64,
    render: impl Fn(&mut AnyConnection, &OutboxRow) -> Result<(String, String), StoreError>,
) -> Result<(String, i64), StoreError> {
    store.read(|conn| {
        let events = rows::after(conn, tenant_id, after, MAX_PAGE)?;
        let mut text = String::new();
        for event in events
            .iter()
            .filter(|e| crate::outbox::on_revocation_feed(&e.kind))
        {
            let (name, data) = render(conn, event)?;
            text.push_str(&format!("id: {}\nevent: {name}\n", event.seq));
            for line in data.lines() {
                text.push_str(&format!("data: {line}\n"));
            }
            text.push('\n');
        }
        Ok((text, events.last().map_or(after, |e| e.seq)))
    })
}
