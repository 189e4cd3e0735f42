//! Audit records and the per-tenant head of their hash chain. The log is append-only: the
//! only changes to a stored record are retention (pruning behind a signed checkpoint) and the
//! erasure of its personal data, each recorded in the chain itself.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::{audit_heads, audit_records};
use super::{AnyConnection, Session, StoreError, Write};

/// The hash a chain starts from.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_records)]
pub struct AuditRow {
    pub id: String,
    pub tenant_id: String,
    pub seq: i64,
    pub occurred: NaiveDateTime,
    pub action: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub request_id: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub cause: Option<String>,
    pub details: String,
    pub personal: Option<String>,
    /// Random salt of `personal_digest`; erased with `personal`.
    pub personal_salt: Option<String>,
    /// Commits to `personal` inside the hashed part of the record.
    pub personal_digest: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The last sequence number and hash of a tenant's chain.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Head {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub hash: String,
}

/// Locks the tenant's chain head for the rest of the transaction and returns it, creating it
/// at the genesis on first use. Postgres: the row lock serialises appends of one tenant;
/// SQLite: write transactions are already serialised (`BEGIN IMMEDIATE`).
/// A transaction that already holds the head takes its copy (`heads`).
pub fn lock_head(write: &mut Write, tenant_id: &str) -> Result<Head, StoreError> {
    let (conn, held) = write.held();
    if let Some(head) = held.audit(tenant_id) {
        return Ok(head);
    }
    let head = match select_head_for_update(conn, tenant_id)? {
        Some(head) => head,
        None => {
            diesel::sql_query(
                "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING",
            )
            .bind::<Text, _>(tenant_id)
            .bind::<Text, _>(GENESIS_HASH)
            .execute(conn)?;
            select_head_for_update(conn, tenant_id)?.ok_or(StoreError::NotFound)?
        }
    };
    held.keep_audit(tenant_id, &head);
    Ok(head)
}

fn select_head_for_update(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> Result<Option<Head>, StoreError> {
    let lock = super::lock_clause(conn);
    Ok(diesel::sql_query(format!(
        "SELECT seq, hash FROM audit_heads WHERE tenant_id = $1{lock}"
    ))
    .bind::<Text, _>(tenant_id)
    .get_result::<Head>(conn)
    .optional()?)
}

/// Appends records (already chained, in order) and moves the head to the last, in the
/// caller's transaction. A write that holds the head (`lock_head`) keeps them with its copy of
/// it and inserts them just before its commit (`heads`); otherwise they go in now with the row.
pub fn append_all(write: &mut Write, rows: &[AuditRow]) -> Result<(), StoreError> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let (conn, held) = write.held();
    if held.append_audit(rows) {
        return Ok(());
    }
    insert(conn, rows)?;
    let head = Head {
        seq: last.seq,
        hash: last.hash.clone(),
    };
    set_head(conn, &last.tenant_id, &head)
}

/// Inserts records as they are.
pub(super) fn insert(conn: &mut AnyConnection, rows: &[AuditRow]) -> Result<(), StoreError> {
    super::insert_in_batches!(conn, audit_records::table, rows);
    Ok(())
}

/// Writes the tenant's head row.
pub(super) fn set_head(
    conn: &mut AnyConnection,
    tenant_id: &str,
    head: &Head,
) -> Result<(), StoreError> {
    diesel::update(audit_heads::table)
        .filter(audit_heads::tenant_id.eq(tenant_id))
        .set((
            audit_heads::seq.eq(head.seq),
            audit_heads::hash.eq(&head.hash),
        ))
        .execute(conn)?;
    Ok(())
}

/// The head as stored, without locking; `None` when the tenant has no records yet.
pub fn head(conn: &mut AnyConnection, tenant_id: &str) -> Result<Option<Head>, StoreError> {
    Ok(audit_heads::table
        .filter(audit_heads::tenant_id.eq(tenant_id))
        .select((audit_heads::seq, audit_heads::hash))
        .first::<(i64, String)>(conn)
        .optional()?
        .map(|(seq, hash)| Head { seq, hash }))
}

/// Records of a tenant in chain order, from `after_seq` (exclusive), at most `limit`.
pub fn chain(
    session: &mut impl Session,
    tenant_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let conn = session.visible()?;
    Ok(audit_records::table
        .filter(audit_records::tenant_id.eq(tenant_id))
        .filter(audit_records::seq.gt(after_seq))
        .order(audit_records::seq.asc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}

/// Filters for reading the log; every one optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub actor_id: Option<String>,
    /// An exact action, or a prefix ending in `*` (`user.*`).
    pub action: Option<String>,
    pub resource_id: Option<String>,
    pub cause: Option<String>,
    pub newest_first: bool,
    /// Continue after this sequence number (in the query's order).
    pub after_seq: Option<i64>,
    pub limit: i64,
}

/// Records of a tenant matching `query`, in sequence order (or its reverse).
pub fn query(
    session: &mut impl Session,
    tenant_id: &str,
    query: &AuditQuery,
) -> Result<Vec<AuditRow>, StoreError> {
    let conn = session.visible()?;
    let mut select = audit_records::table
        .into_boxed::<super::filter::Db>()
        .filter(audit_records::tenant_id.eq(tenant_id.to_string()));
    if let Some(since) = query.since {
        select = select.filter(audit_records::occurred.ge(since));
    }
    if let Some(until) = query.until {
        select = select.filter(audit_records::occurred.lt(until));
    }
    if let Some(actor) = &query.actor_id {
        select = select.filter(audit_records::actor_id.eq(actor.clone()));
    }
    if let Some(action) = &query.action {
        select = match action.strip_suffix('*') {
            Some(prefix) => select.filter(
                audit_records::action
                    .like(super::filter::like_pattern("", prefix, "%"))
                    .escape('\\'),
            ),
            None => select.filter(audit_records::action.eq(action.clone())),
        };
    }
    if let Some(resource) = &query.resource_id {
        select = select.filter(audit_records::resource_id.eq(resource.clone()));
    }
    if let Some(cause) = &query.cause {
        select = select.filter(audit_records::cause.eq(cause.clone()));
    }
    select = match (query.newest_first, query.after_seq) {
        (true, Some(seq)) => select
            .filter(audit_records::seq.lt(seq))
            .order(audit_records::seq.desc()),
        (true, None) => select.order(audit_records::seq.desc()),
        (false, Some(seq)) => select
            .filter(audit_records::seq.gt(seq))
            .order(audit_records::seq.asc()),
        (false, None) => select.order(audit_records::seq.asc()),
    };
    Ok(select
        .limit(query.limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}

pub fn get(
    session: &mut impl Session,
    tenant_id: &str,
    id: &str,
) -> Result<Option<AuditRow>, StoreError> {
    let conn = session.visible()?;
    Ok(audit_records::table
        .filter(audit_records::tenant_id.eq(tenant_id))
        .filter(audit_records::id.eq(id))
        .select(AuditRow::as_select())
        .first(conn)
        .optional()?)
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::audit_checkpoints)]
pub struct CheckpointRow {
    pub id: String,
    pub tenant_id: String,
    pub seq: i64,
    pub hash: String,
    pub created: NaiveDateTime,
    pub public_key: String,
    pub signature: String,
}

pub fn insert_checkpoint(conn: &mut AnyConnection, row: &CheckpointRow) -> Result<(), StoreError> {
    diesel::insert_into(super::schema::audit_checkpoints::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The newest checkpoint of a tenant at or before `seq` (any, when `None`).
pub fn latest_checkpoint(
    conn: &mut AnyConnection,
    tenant_id: &str,
    at_or_before: Option<i64>,
) -> Result<Option<CheckpointRow>, StoreError> {
    use super::schema::audit_checkpoints::dsl as c;
    let mut query = c::audit_checkpoints
        .into_boxed::<super::filter::Db>()
        .filter(c::tenant_id.eq(tenant_id.to_string()));
    if let Some(seq) = at_or_before {
        query = query.filter(c::seq.le(seq));
    }
    Ok(query
        .order(c::seq.desc())
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()?)
}

/// The record with sequence number `seq`.
pub fn at_seq(
    session: &mut impl Session,
    tenant_id: &str,
    seq: i64,
) -> Result<Option<AuditRow>, StoreError> {
    let conn = session.visible()?;
    Ok(audit_records::table
        .filter(audit_records::tenant_id.eq(tenant_id))
        .filter(audit_records::seq.eq(seq))
        .select(AuditRow::as_select())
        .first(conn)
        .optional()?)
}

/// Retention: removes the records up to and including `through_seq` and returns how many.
/// The only deletion of audit records there is; the caller ensures a checkpoint covers them.
pub fn prune_through(
    write: &mut Write,
    tenant_id: &str,
    through_seq: i64,
) -> Result<usize, StoreError> {
    let conn = write.visible()?;
    Ok(diesel::delete(audit_records::table)
        .filter(audit_records::tenant_id.eq(tenant_id))
        .filter(audit_records::seq.le(through_seq))
        .execute(conn)?)
}

/// Erases the personal data of a tenant's records about `resource_id` (data and salt; the
/// digest stays in the chain), in the caller's transaction. Returns the sequence numbers of
/// the records erased, for the erasure's own record.
pub fn erase_personal(
    write: &mut Write,
    tenant_id: &str,
    resource_id: &str,
) -> Result<Vec<i64>, StoreError> {
    let conn = write.visible()?;
    let about = audit_records::table
        .filter(audit_records::tenant_id.eq(tenant_id))
        .filter(audit_records::resource_id.eq(resource_id))
        .filter(audit_records::personal.is_not_null());
    let seqs: Vec<i64> = about
        .select(audit_records::seq)
        .order(audit_records::seq.asc())
        .load(conn)?;
    diesel::update(about)
        .set((
            audit_records::personal.eq(None::<String>),
            audit_records::personal_salt.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(seqs)
}
