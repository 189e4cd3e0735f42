//! Shared Signals streams, their subjects and their queues of signed events.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::schema::{ssf_queue, ssf_streams, ssf_subjects};
use super::{AnyConnection, StoreError, Write};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ssf_streams, treat_none_as_null = true)]
pub struct StreamRow {
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub audience: String,
    pub delivery_method: String,
    pub endpoint_url: Option<String>,
    pub authorization_header: Option<String>,
    pub events_requested: String,
    pub description: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub default_subjects: String,
    pub cursor: i64,
    pub created: NaiveDateTime,
    pub updated: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ssf_queue)]
pub struct QueuedRow {
    pub stream_id: String,
    pub jti: String,
    pub seq: i64,
    pub token: String,
    pub created: NaiveDateTime,
    pub attempts: i64,
    pub next_attempt: NaiveDateTime,
    pub delivered: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

impl QueuedRow {
    /// A SET waiting for its first delivery attempt, due at once.
    pub fn new(stream_id: &str, jti: String, seq: i64, token: String, now: NaiveDateTime) -> Self {
        Self {
            stream_id: stream_id.to_string(),
            jti,
            seq,
            token,
            created: now,
            attempts: 0,
            next_attempt: now,
            delivered: None,
            last_error: None,
        }
    }
}

/// Adds a stream. It takes its tenant's audit head first, as a change of what the tenant's
/// streams ask for must (`provisioning_events_for_write`).
pub fn insert(write: &mut Write, row: &StreamRow) -> Result<(), StoreError> {
    super::audit::lock_head(write, &row.tenant_id)?;
    diesel::insert_into(ssf_streams::table)
        .values(row)
        .execute(&mut **write)?;
    Ok(())
}

pub fn get(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
) -> Result<Option<StreamRow>, StoreError> {
    Ok(ssf_streams::table
        .filter(ssf_streams::tenant_id.eq(tenant_id))
        .filter(ssf_streams::id.eq(id))
        .select(StreamRow::as_select())
        .first(conn)
        .optional()?)
}

/// A stream, locked until the transaction ends (Postgres; SQLite writers are serialised).
pub fn get_for_update(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
) -> Result<Option<StreamRow>, StoreError> {
    super::lock_row(conn, "ssf_streams", &[("id", id)])?;
    get(conn, tenant_id, id)
}

/// A tenant's streams (of one client, when given).
pub fn list(
    conn: &mut AnyConnection,
    tenant_id: &str,
    client_id: Option<&str>,
) -> Result<Vec<StreamRow>, StoreError> {
    let mut query = ssf_streams::table
        .filter(ssf_streams::tenant_id.eq(tenant_id))
        .order(ssf_streams::created.asc())
        .select(StreamRow::as_select())
        .into_boxed();
    if let Some(client_id) = client_id {
        query = query.filter(ssf_streams::client_id.eq(client_id));
    }
    Ok(query.load(conn)?)
}

/// How many streams a tenant has.
pub fn count(conn: &mut AnyConnection, tenant_id: &str) -> Result<i64, StoreError> {
    Ok(ssf_streams::table
        .filter(ssf_streams::tenant_id.eq(tenant_id))
        .count()
        .get_result(conn)?)
}

/// Whether any stream of the tenant asked for an RFC 9967 provisioning event: writes publish
/// them only then, so a tenant that does not use them pays no outbox row per write.
pub fn requests_provisioning_events(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> Result<bool, StoreError> {
    let found: Option<String> = ssf_streams::table
        .filter(ssf_streams::tenant_id.eq(tenant_id))
        .filter(ssf_streams::events_requested.like("%urn:ietf:params:scim:event:prov:%"))
        .select(ssf_streams::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// `requests_provisioning_events` as a write needs it: read once per transaction, under the
/// tenant's audit head (taken here if the write has not yet), which every write that adds
/// or changes a stream takes too. So a batch asks once, not once per member, and no write
/// that read "no stream asks" can commit after a stream that asks was added.
pub fn provisioning_events_for_write(
    write: &mut Write,
    tenant_id: &str,
) -> Result<bool, StoreError> {
    if let Some(requested) = write.held().1.provisioning_events(tenant_id) {
        return Ok(requested);
    }
    super::audit::lock_head(write, tenant_id)?;
    let requested = requests_provisioning_events(write, tenant_id)?;
    write
        .held()
        .1
        .keep_provisioning_events(tenant_id, requested);
    Ok(requested)
}

/// Every stream of every tenant, for the transmitter's pump and the metrics.
pub fn all(conn: &mut AnyConnection) -> Result<Vec<StreamRow>, StoreError> {
    Ok(ssf_streams::table
        .order(ssf_streams::created.asc())
        .select(StreamRow::as_select())
        .load(conn)?)
}

/// Writes a stream back, under its tenant's audit head (see `insert`).
pub fn update(write: &mut Write, row: &StreamRow) -> Result<(), StoreError> {
    super::audit::lock_head(write, &row.tenant_id)?;
    diesel::update(ssf_streams::table.filter(ssf_streams::id.eq(&row.id)))
        .set(row)
        .execute(&mut **write)?;
    Ok(())
}

/// Disables every stream `client_id` owns, saying why; how many were not disabled before.
pub fn disable_of_client(
    conn: &mut AnyConnection,
    client_id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(diesel::update(ssf_streams::table)
        .filter(ssf_streams::client_id.eq(client_id))
        .filter(ssf_streams::status.ne("disabled"))
        .set((
            ssf_streams::status.eq("disabled"),
            ssf_streams::status_reason.eq(reason),
            ssf_streams::updated.eq(now),
        ))
        .execute(conn)?)
}

pub fn delete(conn: &mut AnyConnection, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
    diesel::delete(ssf_queue::table.filter(ssf_queue::stream_id.eq(id))).execute(conn)?;
    diesel::delete(ssf_subjects::table.filter(ssf_subjects::stream_id.eq(id))).execute(conn)?;
    Ok(diesel::delete(ssf_streams::table)
        .filter(ssf_streams::tenant_id.eq(tenant_id))
        .filter(ssf_streams::id.eq(id))
        .execute(conn)?
        == 1)
}

pub fn add_subject(
    conn: &mut AnyConnection,
    stream_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    diesel::sql_query(
        "INSERT INTO ssf_subjects (stream_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(stream_id)
    .bind::<Text, _>(user_id)
    .execute(conn)?;
    Ok(())
}

pub fn remove_subject(
    conn: &mut AnyConnection,
    stream_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    diesel::delete(ssf_subjects::table)
        .filter(ssf_subjects::stream_id.eq(stream_id))
        .filter(ssf_subjects::user_id.eq(user_id))
        .execute(conn)?;
    Ok(())
}

/// Those of `user_ids` that were added as subjects of the stream.
pub fn subjects_among(
    conn: &mut AnyConnection,
    stream_id: &str,
    user_ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::new();
    for chunk in user_ids.chunks(super::MAX_BOUND_IDS) {
        found.extend(
            ssf_subjects::table
                .filter(ssf_subjects::stream_id.eq(stream_id))
                .filter(ssf_subjects::user_id.eq_any(chunk))
                .select(ssf_subjects::user_id)
                .load::<String>(conn)?,
        );
    }
    Ok(found)
}

/// Queues signed events; a stream's cursor moves in the same transaction.
pub fn enqueue(conn: &mut AnyConnection, rows: &[QueuedRow]) -> Result<(), StoreError> {
    super::insert_in_batches!(conn, ssf_queue::table, rows);
    Ok(())
}

/// Undelivered events of a stream, oldest first.
pub fn pending(
    conn: &mut AnyConnection,
    stream_id: &str,
    limit: i64,
) -> Result<Vec<QueuedRow>, StoreError> {
    Ok(ssf_queue::table
        .filter(ssf_queue::stream_id.eq(stream_id))
        .filter(ssf_queue::delivered.is_null())
        .order(ssf_queue::seq.asc())
        .limit(limit)
        .select(QueuedRow::as_select())
        .load(conn)?)
}

pub fn count_pending(conn: &mut AnyConnection, stream_id: &str) -> Result<i64, StoreError> {
    Ok(ssf_queue::table
        .filter(ssf_queue::stream_id.eq(stream_id))
        .filter(ssf_queue::delivered.is_null())
        .count()
        .get_result(conn)?)
}

/// Marks events delivered (pushed and accepted, or polled and acknowledged).
pub fn mark_delivered(
    conn: &mut AnyConnection,
    stream_id: &str,
    jtis: &[String],
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let mut done = 0;
    for chunk in jtis.chunks(super::MAX_BOUND_IDS) {
        done += diesel::update(ssf_queue::table)
            .filter(ssf_queue::stream_id.eq(stream_id))
            .filter(ssf_queue::jti.eq_any(chunk))
            .filter(ssf_queue::delivered.is_null())
            .set(ssf_queue::delivered.eq(now))
            .execute(conn)?;
    }
    Ok(done)
}

/// Events of enabled `method` streams due at `now`, oldest first, at most `limit` (a read).
pub fn due(
    conn: &mut AnyConnection,
    method: &str,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(QueuedRow, StreamRow)>, StoreError> {
    Ok(ssf_queue::table
        .inner_join(ssf_streams::table)
        .filter(ssf_queue::delivered.is_null())
        .filter(ssf_queue::next_attempt.le(now))
        .filter(ssf_streams::delivery_method.eq(method))
        .filter(ssf_streams::status.eq("enabled"))
        .order(ssf_queue::seq.asc())
        .limit(limit)
        .select((QueuedRow::as_select(), StreamRow::as_select()))
        .load(conn)?)
}

/// The events `due` finds, each claimed by moving its next attempt to `lease_until`: the
/// update re-checks that it is still due, so of two replicas claiming at once (Postgres
/// re-reads a row another transaction updated), only one gets it.
pub fn claim_due(
    conn: &mut AnyConnection,
    method: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(QueuedRow, StreamRow)>, StoreError> {
    let due = due(conn, method, now, limit)?;
    let mut claimed = Vec::with_capacity(due.len());
    for (queued, stream) in due {
        let updated = diesel::update(ssf_queue::table)
            .filter(ssf_queue::stream_id.eq(&queued.stream_id))
            .filter(ssf_queue::jti.eq(&queued.jti))
            .filter(ssf_queue::next_attempt.le(now))
            .filter(ssf_queue::delivered.is_null())
            .set(ssf_queue::next_attempt.eq(lease_until))
            .execute(conn)?;
        if updated == 1 {
            claimed.push((queued, stream));
        }
    }
    Ok(claimed)
}

/// Records a failed push attempt and when to try again.
pub fn failed(
    conn: &mut AnyConnection,
    stream_id: &str,
    jti: &str,
    attempts: i64,
    next_attempt: NaiveDateTime,
    error: &str,
) -> Result<(), StoreError> {
    diesel::update(ssf_queue::table)
        .filter(ssf_queue::stream_id.eq(stream_id))
        .filter(ssf_queue::jti.eq(jti))
        .set((
            ssf_queue::attempts.eq(attempts),
            ssf_queue::next_attempt.eq(next_attempt),
            ssf_queue::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes SETs delivered before `before`.
pub fn prune_delivered(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(ssf_queue::table)
        .filter(ssf_queue::delivered.lt(before))
        .execute(conn)?)
}
