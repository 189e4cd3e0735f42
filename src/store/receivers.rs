//! Shared Signals receivers of a tenant, and the Security Event Tokens they received.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{ssf_received, ssf_receivers};
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ssf_receivers, treat_none_as_null = true)]
pub struct ReceiverRow {
    pub id: String,
    pub tenant_id: String,
    pub issuer: String,
    pub audiences: String,
    pub jwks_uri: Option<String>,
    pub jwks: Option<String>,
    pub delivery_method: String,
    pub push_secret_digest: Option<String>,
    pub poll_endpoint: Option<String>,
    pub poll_authorization: Option<String>,
    pub settings: String,
    pub enabled: bool,
    pub created: NaiveDateTime,
    pub updated: NaiveDateTime,
    /// The stream Scimitar manages at the transmitter (JSON), if it manages one.
    pub stream: Option<String>,
    /// The sealed credential for the transmitter's management API.
    pub stream_credential: Option<String>,
    pub verification_state: Option<String>,
    pub verification_requested: Option<NaiveDateTime>,
    pub verified: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub last_error_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ssf_received)]
pub struct ReceivedRow {
    pub id: String,
    pub tenant_id: String,
    pub receiver_id: String,
    pub issuer: String,
    pub jti: String,
    pub delivery: String,
    pub event_types: String,
    pub outcome: String,
    pub error: Option<String>,
    pub description: Option<String>,
    pub effects: String,
    pub cause: Option<String>,
    pub received: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, row: &ReceiverRow) -> Result<(), StoreError> {
    diesel::insert_into(ssf_receivers::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A receiver by id alone: the push endpoint names it in its URL.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<ReceiverRow>, StoreError> {
    Ok(ssf_receivers::table
        .filter(ssf_receivers::id.eq(id))
        .select(ReceiverRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
) -> Result<Option<ReceiverRow>, StoreError> {
    Ok(find(conn, id)?.filter(|row| row.tenant_id == tenant_id))
}

pub fn list(conn: &mut AnyConnection, tenant_id: &str) -> Result<Vec<ReceiverRow>, StoreError> {
    Ok(ssf_receivers::table
        .filter(ssf_receivers::tenant_id.eq(tenant_id))
        .order(ssf_receivers::created.asc())
        .select(ReceiverRow::as_select())
        .load(conn)?)
}

/// Every receiver of every tenant.
pub fn all(conn: &mut AnyConnection) -> Result<Vec<ReceiverRow>, StoreError> {
    Ok(ssf_receivers::table
        .order(ssf_receivers::created.asc())
        .select(ReceiverRow::as_select())
        .load(conn)?)
}

/// The enabled receivers of one delivery method, of every tenant (the poller's work list).
pub fn enabled_by_method(
    conn: &mut AnyConnection,
    method: &str,
) -> Result<Vec<ReceiverRow>, StoreError> {
    Ok(ssf_receivers::table
        .filter(ssf_receivers::delivery_method.eq(method))
        .filter(ssf_receivers::enabled.eq(true))
        .order(ssf_receivers::created.asc())
        .select(ReceiverRow::as_select())
        .load(conn)?)
}

pub fn update(conn: &mut AnyConnection, row: &ReceiverRow) -> Result<bool, StoreError> {
    Ok(diesel::update(
        ssf_receivers::table
            .filter(ssf_receivers::tenant_id.eq(&row.tenant_id))
            .filter(ssf_receivers::id.eq(&row.id)),
    )
    .set(row)
    .execute(conn)?
        == 1)
}

pub fn delete(conn: &mut AnyConnection, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(ssf_receivers::table)
        .filter(ssf_receivers::tenant_id.eq(tenant_id))
        .filter(ssf_receivers::id.eq(id))
        .execute(conn)?
        == 1)
}

/// Stores the state of the verification just requested (before the request is sent, so a
/// verification event that arrives at once finds it).
pub fn expect_verification(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
    state: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(
        ssf_receivers::table
            .filter(ssf_receivers::tenant_id.eq(tenant_id))
            .filter(ssf_receivers::id.eq(id)),
    )
    .set((
        ssf_receivers::verification_state.eq(state),
        ssf_receivers::verification_requested.eq(at),
    ))
    .execute(conn)?;
    Ok(())
}

/// Stores the managed stream's description (its status, events delivered).
pub fn set_stream(conn: &mut AnyConnection, row: &ReceiverRow) -> Result<(), StoreError> {
    diesel::update(
        ssf_receivers::table
            .filter(ssf_receivers::tenant_id.eq(&row.tenant_id))
            .filter(ssf_receivers::id.eq(&row.id)),
    )
    .set(ssf_receivers::stream.eq(&row.stream))
    .execute(conn)?;
    Ok(())
}

/// A verification event arrived; a requested one (`matched`) clears the expected state.
pub fn verified(
    conn: &mut AnyConnection,
    row: &ReceiverRow,
    matched: bool,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let target = ssf_receivers::table
        .filter(ssf_receivers::tenant_id.eq(&row.tenant_id))
        .filter(ssf_receivers::id.eq(&row.id));
    if matched {
        diesel::update(target)
            .set((
                ssf_receivers::verified.eq(at),
                ssf_receivers::verification_state.eq(None::<String>),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set(ssf_receivers::verified.eq(at))
            .execute(conn)?;
    }
    Ok(())
}

/// The last failure talking to a receiver's transmitter (a poll, a management call).
pub fn note_error(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
    error: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let error: String = error.chars().take(500).collect();
    diesel::update(
        ssf_receivers::table
            .filter(ssf_receivers::tenant_id.eq(tenant_id))
            .filter(ssf_receivers::id.eq(id)),
    )
    .set((
        ssf_receivers::last_error.eq(error),
        ssf_receivers::last_error_at.eq(at),
    ))
    .execute(conn)?;
    Ok(())
}

/// When a receiver last received a SET, and its last refused one (time and description).
#[derive(Debug, Clone, PartialEq)]
pub struct LastReceipts {
    pub last_event: Option<NaiveDateTime>,
    pub refused: Option<(NaiveDateTime, Option<String>)>,
}

pub fn last_receipts(
    conn: &mut AnyConnection,
    receiver_id: &str,
) -> Result<LastReceipts, StoreError> {
    let last = ssf_received::table
        .filter(ssf_received::receiver_id.eq(receiver_id))
        .order(ssf_received::received.desc())
        .select(ssf_received::received)
        .first(conn)
        .optional()?;
    let refused = ssf_received::table
        .filter(ssf_received::receiver_id.eq(receiver_id))
        .filter(ssf_received::outcome.eq("refused"))
        .order(ssf_received::received.desc())
        .select((ssf_received::received, ssf_received::description))
        .first(conn)
        .optional()?;
    Ok(LastReceipts {
        last_event: last,
        refused,
    })
}

/// Records a received SET. One that holds its (tenant, issuer, jti) key (any outcome but
/// `refused`) fails with `StoreError::Conflict` when that SET was received before.
pub fn record(conn: &mut AnyConnection, row: &ReceivedRow) -> Result<(), StoreError> {
    diesel::insert_into(ssf_received::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Removes the receipts recorded before `cutoff`; returns how many.
pub fn purge_before(conn: &mut AnyConnection, cutoff: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(ssf_received::table.filter(ssf_received::received.lt(cutoff)))
            .execute(conn)?,
    )
}

/// The earlier, accepted receipt of this SET, if any.
pub fn accepted(
    conn: &mut AnyConnection,
    tenant_id: &str,
    issuer: &str,
    jti: &str,
) -> Result<Option<ReceivedRow>, StoreError> {
    Ok(ssf_received::table
        .filter(ssf_received::tenant_id.eq(tenant_id))
        .filter(ssf_received::issuer.eq(issuer))
        .filter(ssf_received::jti.eq(jti))
        .filter(ssf_received::outcome.ne("refused"))
        .select(ReceivedRow::as_select())
        .first(conn)
        .optional()?)
}

/// Which received SETs to list.
#[derive(Debug, Clone, Default)]
pub struct ReceivedQuery {
    pub receiver_id: Option<String>,
    pub outcome: Option<String>,
    pub jti: Option<String>,
    pub limit: i64,
}

/// A tenant's received SETs, newest first.
pub fn received(
    conn: &mut AnyConnection,
    tenant_id: &str,
    query: &ReceivedQuery,
) -> Result<Vec<ReceivedRow>, StoreError> {
    let mut select = ssf_received::table
        .filter(ssf_received::tenant_id.eq(tenant_id))
        .order((ssf_received::received.desc(), ssf_received::id.desc()))
        .limit(query.limit.clamp(1, 1000))
        .select(ReceivedRow::as_select())
        .into_boxed();
    if let Some(receiver) = &query.receiver_id {
        select = select.filter(ssf_received::receiver_id.eq(receiver.clone()));
    }
    if let Some(outcome) = &query.outcome {
        select = select.filter(ssf_received::outcome.eq(outcome.clone()));
    }
    if let Some(jti) = &query.jti {
        select = select.filter(ssf_received::jti.eq(jti.clone()));
    }
    Ok(select.load(conn)?)
}
