//! Receivers as the admin API manages them, per tenant: created, read, replaced and deleted
//! with an audit record each. A push receiver gets a secret, shown once, that its
//! transmitter sends as `Authorization: Bearer …` (only its SHA-256 is stored).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::settings::Request;
use super::stream_control::ManagedStream;
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::hashing::sha256_hex;
use crate::sealing::Sealer;
use crate::signals::SignalsError;
use crate::store::receivers::{self as rows, ReceivedQuery, ReceivedRow, ReceiverRow};
use crate::store::{Store, to_stored};

/// Who changed a receiver, for its audit record.
#[derive(Debug, Clone, Copy)]
pub struct ChangedBy<'a> {
    pub actor: &'a Actor,
    pub request: &'a RequestInfo,
}

/// A push receiver's new secret, and the header its transmitter must send.
pub fn push_authorization(secret: &str) -> String {
    format!("Bearer {secret}")
}

fn new_secret() -> Result<String, SignalsError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SignalsError::Randomness(e.to_string()))?;
    Ok(format!(
        "ssfpush_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Whether `presented` (an `Authorization` header value) is the receiver's push secret.
pub fn push_authorized(row: &ReceiverRow, presented: Option<&str>) -> bool {
    let (Some(digest), Some(presented)) = (&row.push_secret_digest, presented) else {
        return false;
    };
    let Some((scheme, secret)) = presented.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && bool::from(
            sha256_hex(secret.trim().as_bytes())
                .as_bytes()
                .ct_eq(digest.as_bytes()),
        )
}

/// Where a poll receiver's sealed credential is stored, as its associated data.
/// The associated data names the row and the endpoint: a sealed credential moved to another
/// row, or a row whose poll endpoint was edited in the database, does not open.
pub(crate) fn poll_authorization_place(receiver_id: &str, endpoint: Option<&str>) -> String {
    format!(
        "ssf_receivers.poll_authorization:{receiver_id}:{}",
        endpoint.unwrap_or_default()
    )
}

/// A poll receiver's stored credential, opened (one stored before sealing existed is used as
/// it is until `seal_stored_credentials` seals it).
pub fn poll_authorization(
    row: &ReceiverRow,
    sealer: &Sealer,
) -> Result<Option<String>, SignalsError> {
    let Some(stored) = &row.poll_authorization else {
        return Ok(None);
    };
    if !Sealer::is_sealed(stored) {
        return Ok(Some(stored.clone()));
    }
    sealer
        .open(
            stored,
            &poll_authorization_place(&row.id, row.poll_endpoint.as_deref()),
        )
        .map(Some)
        .map_err(|e| SignalsError::InvalidValue(e.to_string()))
}

/// Seals the poll receivers' credentials stored in clear before sealing existed (at start,
/// once); returns how many.
pub fn seal_stored_credentials(store: &Store, sealer: &Sealer) -> Result<usize, SignalsError> {
    store.write(|conn| {
        let mut sealed = 0;
        for mut row in rows::all(conn)? {
            let Some(stored) = row.poll_authorization.clone() else {
                continue;
            };
            if Sealer::is_sealed(&stored) {
                continue;
            }
            let place = poll_authorization_place(&row.id, row.poll_endpoint.as_deref());
            row.poll_authorization = Some(
                sealer
                    .seal(&stored, &place)
                    .map_err(|e| SignalsError::Randomness(e.to_string()))?,
            );
            rows::update(conn, &row)?;
            sealed += 1;
        }
        Ok(sealed)
    })
}

/// Writes a parsed request into a row (not the stream Scimitar manages: `lifecycle` does).
pub fn fill(row: &mut ReceiverRow, request: &Request, sealer: &Sealer) -> Result<(), SignalsError> {
    row.issuer = request.issuer.clone();
    row.audiences = json!(request.audiences).to_string();
    row.jwks_uri = request.jwks_uri.clone();
    row.jwks = request.jwks.clone();
    row.delivery_method = request.method.clone();
    row.poll_endpoint = request.poll_endpoint.clone();
    let place = poll_authorization_place(&row.id, row.poll_endpoint.as_deref());
    row.poll_authorization = request
        .poll_authorization
        .as_ref()
        .map(|credential| sealer.seal(credential, &place))
        .transpose()
        .map_err(|e| SignalsError::Randomness(e.to_string()))?;
    row.settings = serde_json::to_string(&request.settings)
        .map_err(|e| SignalsError::InvalidValue(e.to_string()))?;
    row.enabled = request.enabled;
    Ok(())
}

fn record(
    conn: &mut crate::store::Write,
    row: &ReceiverRow,
    action: &'static str,
    by: ChangedBy,
    now: DateTime<Utc>,
    extra: Value,
) -> Result<(), SignalsError> {
    let mut details =
        json!({"issuer": row.issuer, "delivery": row.delivery_method, "enabled": row.enabled});
    if let Some(stream) = ManagedStream::of(row) {
        details["stream_id"] = json!(stream.stream_id);
    }
    if let (Value::Object(details), Value::Object(extra)) = (&mut details, extra) {
        details.extend(extra);
    }
    let event = Event {
        actor: Some(by.actor),
        request: Some(by.request),
        resource_type: Some("SignalReceiver"),
        resource_id: Some(row.id.clone()),
        ..Event::new(action, details)
    };
    audit::record(conn, &row.tenant_id, now, event)?;
    Ok(())
}

/// A new push receiver's secret (shown once) and the digest that is stored.
pub fn new_push_secret() -> Result<(String, String), SignalsError> {
    let secret = new_secret()?;
    let digest = sha256_hex(secret.as_bytes());
    Ok((secret, digest))
}

/// An empty row for a new receiver of `tenant_id`.
pub fn new_row(id: String, tenant_id: &str, now: DateTime<Utc>) -> ReceiverRow {
    ReceiverRow {
        id,
        tenant_id: tenant_id.to_string(),
        issuer: String::new(),
        audiences: String::new(),
        jwks_uri: None,
        jwks: None,
        delivery_method: String::new(),
        push_secret_digest: None,
        poll_endpoint: None,
        poll_authorization: None,
        settings: String::new(),
        enabled: true,
        created: to_stored(now),
        updated: to_stored(now),
        stream: None,
        stream_credential: None,
        verification_state: None,
        verification_requested: None,
        verified: None,
        last_error: None,
        last_error_at: None,
    }
}

/// Stores a new receiver with its audit record.
pub fn insert(
    store: &Store,
    row: &ReceiverRow,
    by: ChangedBy,
    now: DateTime<Utc>,
) -> Result<(), SignalsError> {
    store.write(|conn| {
        rows::insert(conn, row)?;
        record(conn, row, "signal_receiver.create", by, now, json!({}))
    })?;
    // A new poll receiver is polled at once (the poller sleeps on the doorbell when idle).
    store.ring();
    Ok(())
}

/// Stores a changed receiver with its audit record (`action`, with `extra` details).
pub fn save(
    store: &Store,
    row: &ReceiverRow,
    action: &'static str,
    by: ChangedBy,
    now: DateTime<Utc>,
    extra: Value,
) -> Result<(), SignalsError> {
    store.write(|conn| {
        if !rows::update(conn, row)? {
            return Err(SignalsError::NotFound("no such receiver".into()));
        }
        record(conn, row, action, by, now, extra)
    })?;
    // A receiver turned to poll (or enabled again) is polled at once.
    store.ring();
    Ok(())
}

/// Deletes a receiver with its audit record (`extra`: what became of its stream).
pub fn delete(
    store: &Store,
    row: &ReceiverRow,
    by: ChangedBy,
    now: DateTime<Utc>,
    extra: Value,
) -> Result<(), SignalsError> {
    store.write(|conn| {
        if !rows::delete(conn, &row.tenant_id, &row.id)? {
            return Err(SignalsError::NotFound("no such receiver".into()));
        }
        record(conn, row, "signal_receiver.delete", by, now, extra)
    })
}

pub fn get(store: &Store, tenant_id: &str, id: &str) -> Result<ReceiverRow, SignalsError> {
    store
        .read(|conn| rows::get(conn, tenant_id, id))?
        .ok_or_else(|| SignalsError::NotFound("no such receiver".into()))
}

pub fn list(store: &Store, tenant_id: &str) -> Result<Vec<ReceiverRow>, SignalsError> {
    Ok(store.read(|conn| rows::list(conn, tenant_id))?)
}

pub fn received(
    store: &Store,
    tenant_id: &str,
    query: &ReceivedQuery,
) -> Result<Vec<ReceivedRow>, SignalsError> {
    Ok(store.read(|conn| rows::received(conn, tenant_id, query))?)
}

/// How long receipts of SETs are kept: well past the oldest SET verification accepts
/// (`max_age_seconds` is at most seven days, plus the clock skew), so a SET whose receipt is
/// purged would be refused as too old, and can never act twice.
pub const RECEIPT_RETENTION_DAYS: i64 = 30;

/// Removes receipts older than `RECEIPT_RETENTION_DAYS` (run by `serve`'s maintenance).
pub fn purge_receipts(store: &Store, now: DateTime<Utc>) -> Result<usize, SignalsError> {
    let cutoff = to_stored(now - chrono::Duration::days(RECEIPT_RETENTION_DAYS));
    Ok(store.write(|conn| rows::purge_before(conn, cutoff))?)
}
