//! The outbox: cascade effects numbered per tenant, read by cursor.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::{outbox, outbox_heads};
use super::{AnyConnection, Session, StoreError, Write};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub tenant_id: String,
    pub seq: i64,
    pub kind: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub jti: Option<String>,
    pub not_before: Option<NaiveDateTime>,
    pub details: String,
    pub cause: Option<String>,
    pub occurred: NaiveDateTime,
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

/// The tenant's last number, locked until the transaction ends (created at 0 on first use):
/// appends of one tenant are serialised, so numbers commit in order.
/// A transaction that already holds the head takes its copy (`heads`).
pub fn lock_head(write: &mut Write, tenant_id: &str) -> Result<i64, StoreError> {
    let (conn, held) = write.held();
    if let Some(seq) = held.outbox(tenant_id) {
        return Ok(seq);
    }
    let lock = super::lock_clause(conn);
    let select = format!("SELECT seq FROM outbox_heads WHERE tenant_id = $1{lock}");
    let found = diesel::sql_query(&select)
        .bind::<Text, _>(tenant_id)
        .get_result::<Seq>(conn)
        .optional()?;
    let seq = match found {
        Some(head) => head.seq,
        None => {
            diesel::sql_query(
                "INSERT INTO outbox_heads (tenant_id, seq) VALUES ($1, 0) ON CONFLICT DO NOTHING",
            )
            .bind::<Text, _>(tenant_id)
            .execute(conn)?;
            diesel::sql_query(&select)
                .bind::<Text, _>(tenant_id)
                .get_result::<Seq>(conn)?
                .seq
        }
    };
    held.keep_outbox(tenant_id, seq);
    Ok(seq)
}

/// Appends rows (numbered after the locked head, in order) and moves the head. A write that
/// holds the head (`lock_head`) keeps them with its copy of it and inserts them just before its
/// commit (`heads`); otherwise they go in now with the row.
pub fn append_all(write: &mut Write, rows: &[OutboxRow]) -> Result<(), StoreError> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let (conn, held) = write.held();
    if held.append_outbox(rows) {
        return Ok(());
    }
    insert(conn, rows)?;
    set_head(conn, &last.tenant_id, last.seq)
}

/// Inserts events as they are.
pub(super) fn insert(conn: &mut AnyConnection, rows: &[OutboxRow]) -> Result<(), StoreError> {
    super::insert_in_batches!(conn, outbox::table, rows);
    Ok(())
}

/// Writes the tenant's head row.
pub(super) fn set_head(
    conn: &mut AnyConnection,
    tenant_id: &str,
    seq: i64,
) -> Result<(), StoreError> {
    diesel::update(outbox_heads::table)
        .filter(outbox_heads::tenant_id.eq(tenant_id))
        .set(outbox_heads::seq.eq(seq))
        .execute(conn)?;
    Ok(())
}

/// Events of a tenant after `after_seq`, in order, at most `limit`.
pub fn after(
    session: &mut impl Session,
    tenant_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let conn = session.visible()?;
    Ok(outbox::table
        .filter(outbox::tenant_id.eq(tenant_id))
        .filter(outbox::seq.gt(after_seq))
        .order(outbox::seq.asc())
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)?)
}

/// The last number of a tenant's events before `since` (0 when none): where a reader that
/// needs only the events from `since` on starts (an indexed read by time).
pub fn seq_before(
    session: &mut impl Session,
    tenant_id: &str,
    since: NaiveDateTime,
) -> Result<i64, StoreError> {
    let conn = session.visible()?;
    let first: Option<i64> = outbox::table
        .filter(outbox::tenant_id.eq(tenant_id))
        .filter(outbox::occurred.ge(since))
        .select(diesel::dsl::min(outbox::seq))
        .first(conn)?;
    Ok(first.map_or_else(|| head(conn, tenant_id).unwrap_or(0), |seq| seq - 1))
}

/// The tenant's last number, without locking (0 when it has no events).
pub fn head(conn: &mut AnyConnection, tenant_id: &str) -> Result<i64, StoreError> {
    Ok(outbox_heads::table
        .filter(outbox_heads::tenant_id.eq(tenant_id))
        .select(outbox_heads::seq)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// Every tenant's last number.
pub fn heads(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(outbox_heads::table
        .select((outbox_heads::tenant_id, outbox_heads::seq))
        .load(conn)?)
}

/// Erases the resource a provisioning event carries (RFC 9967's `full` data) from the
/// tenant's events about `resource_id`, and drops the Security Event Tokens made of them that
/// no receiver has taken yet: what `audit erase` does to the outbox. Returns how many events.
pub fn erase_provisioning_data(
    write: &mut Write,
    tenant_id: &str,
    resource_id: &str,
) -> Result<usize, StoreError> {
    use super::schema::{ssf_queue, ssf_streams};
    let conn = write.visible()?;
    let candidates: Vec<OutboxRow> = outbox::table
        .filter(outbox::tenant_id.eq(tenant_id))
        .filter(outbox::kind.like("scim.%"))
        .filter(
            outbox::user_id
                .eq(resource_id)
                .or(outbox::details.like(format!("%{resource_id}%"))),
        )
        .select(OutboxRow::as_select())
        .load(conn)?;
    let mut erased = Vec::new();
    for row in candidates {
        let mut details: serde_json::Value =
            serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null);
        if details["id"].as_str() != Some(resource_id) {
            continue;
        }
        details["data"] = serde_json::Value::Null;
        diesel::update(outbox::table)
            .filter(outbox::tenant_id.eq(tenant_id))
            .filter(outbox::seq.eq(row.seq))
            .set(outbox::details.eq(details.to_string()))
            .execute(conn)?;
        erased.push(row.seq);
    }
    if !erased.is_empty() {
        let streams = ssf_streams::table
            .filter(ssf_streams::tenant_id.eq(tenant_id))
            .select(ssf_streams::id);
        diesel::delete(ssf_queue::table)
            .filter(ssf_queue::stream_id.eq_any(streams))
            .filter(ssf_queue::seq.eq_any(&erased))
            .filter(ssf_queue::delivered.is_null())
            .execute(conn)?;
    }
    Ok(erased.len())
}

/// Removes events older than `before`; the head keeps its number.
pub fn prune(write: &mut Write, before: NaiveDateTime) -> Result<usize, StoreError> {
    let conn = write.visible()?;
    Ok(diesel::delete(outbox::table)
        .filter(outbox::occurred.lt(before))
        .execute(conn)?)
}
