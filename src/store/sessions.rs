//! Sessions (refresh-token families), their refresh tokens, and single revoked access tokens.
//! Every query that the cascade runs is bounded by the sessions it ends: it goes through
//! `sessions_live_by_user`, never through all the sessions stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::schema::{refresh_tokens, revoked_tokens, sessions, users};
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub client_id: String,
    pub audience: String,
    pub roles: String,
    pub created: NaiveDateTime,
    pub expires: NaiveDateTime,
    pub idle_seconds: i64,
    pub access_seconds: i64,
    pub last_used: NaiveDateTime,
    pub idle_expires: NaiveDateTime,
    pub ended: Option<NaiveDateTime>,
    pub end_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    pub hash: String,
    pub session_id: String,
    pub issued: NaiveDateTime,
    pub consumed: Option<NaiveDateTime>,
    pub successor: Option<String>,
}

/// A live session, as the cascade sees it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct LiveSession {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub roles: String,
}

pub fn insert(conn: &mut AnyConnection, row: &SessionRow) -> Result<(), StoreError> {
    diesel::insert_into(sessions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn insert_refresh_token(
    conn: &mut AnyConnection,
    row: &RefreshTokenRow,
) -> Result<(), StoreError> {
    diesel::insert_into(refresh_tokens::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A session with whether its user exists and is active (`None`: the user is gone).
pub fn get_with_user_state(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(SessionRow, Option<bool>)>, StoreError> {
    Ok(sessions::table
        .left_join(
            users::table.on(users::id
                .eq(sessions::user_id)
                .and(users::tenant_id.eq(sessions::tenant_id))),
        )
        .filter(sessions::id.eq(id))
        .select((SessionRow::as_select(), users::active.nullable()))
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(sessions::table
        .filter(sessions::id.eq(id))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?)
}

/// A refresh token and its session, the token locked for the rest of the transaction so two
/// refreshes with one token cannot both succeed.
pub fn refresh_token_for_update(
    conn: &mut AnyConnection,
    hash: &str,
) -> Result<Option<(RefreshTokenRow, SessionRow)>, StoreError> {
    super::lock_row(conn, "refresh_tokens", &[("hash", hash)])?;
    Ok(refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::hash.eq(hash))
        .select((RefreshTokenRow::as_select(), SessionRow::as_select()))
        .first(conn)
        .optional()?)
}

pub fn refresh_token(
    conn: &mut AnyConnection,
    hash: &str,
) -> Result<Option<RefreshTokenRow>, StoreError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::hash.eq(hash))
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Marks a refresh token used and names its successor.
pub fn consume_refresh_token(
    conn: &mut AnyConnection,
    hash: &str,
    now: NaiveDateTime,
    successor: &str,
) -> Result<(), StoreError> {
    diesel::update(refresh_tokens::table)
        .filter(refresh_tokens::hash.eq(hash))
        .set((
            refresh_tokens::consumed.eq(now),
            refresh_tokens::successor.eq(successor),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a refresh changes in its session.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = sessions)]
pub struct SessionRenewal {
    pub roles: String,
    pub expires: NaiveDateTime,
    pub idle_seconds: i64,
    pub access_seconds: i64,
    pub last_used: NaiveDateTime,
    pub idle_expires: NaiveDateTime,
}

pub fn renew(
    conn: &mut AnyConnection,
    id: &str,
    renewal: &SessionRenewal,
) -> Result<(), StoreError> {
    diesel::update(sessions::table)
        .filter(sessions::id.eq(id))
        .set(renewal)
        .execute(conn)?;
    Ok(())
}

/// The columns a `LiveSession` is read from.
const LIVE_SESSION: (
    sessions::id,
    sessions::user_id,
    sessions::client_id,
    sessions::roles,
) = (
    sessions::id,
    sessions::user_id,
    sessions::client_id,
    sessions::roles,
);

/// The live sessions of `user_ids`, through the index on live sessions by user.
pub fn live_of_users(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_ids: &[String],
) -> Result<Vec<LiveSession>, StoreError> {
    let mut found = Vec::new();
    for chunk in user_ids.chunks(super::MAX_BOUND_IDS) {
        found.extend(
            sessions::table
                .filter(sessions::tenant_id.eq(tenant_id))
                .filter(sessions::user_id.eq_any(chunk))
                .filter(sessions::ended.is_null())
                .order(sessions::id.asc())
                .select(LIVE_SESSION)
                .load::<LiveSession>(conn)?,
        );
    }
    Ok(found)
}

/// The live sessions an app client started, through the index on live sessions by client.
pub fn live_of_client(
    conn: &mut AnyConnection,
    client_id: &str,
) -> Result<Vec<LiveSession>, StoreError> {
    Ok(sessions::table
        .filter(sessions::client_id.eq(client_id))
        .filter(sessions::ended.is_null())
        .order(sessions::id.asc())
        .select(LIVE_SESSION)
        .load::<LiveSession>(conn)?)
}

/// The live sessions of one user in full (expiries included), through the same index.
pub fn live_of_user(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<SessionRow>, StoreError> {
    Ok(sessions::table
        .filter(sessions::tenant_id.eq(tenant_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended.is_null())
        .order(sessions::id.asc())
        .select(SessionRow::as_select())
        .load(conn)?)
}

/// Ends the sessions named that are still live; returns the ids it ended.
pub fn end(
    conn: &mut AnyConnection,
    ids: &[String],
    now: NaiveDateTime,
    reason: &str,
) -> Result<Vec<String>, StoreError> {
    let mut ended = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::MAX_BOUND_IDS) {
        ended.extend(
            diesel::update(sessions::table)
                .filter(sessions::id.eq_any(chunk))
                .filter(sessions::ended.is_null())
                .set((sessions::ended.eq(now), sessions::end_reason.eq(reason)))
                .returning(sessions::id)
                .get_results::<String>(conn)?,
        );
    }
    Ok(ended)
}

/// Live sessions past their absolute or idle expiry at `now`, at most `limit`, with which
/// limit each passed (`true`: absolute).
pub fn expired(
    conn: &mut AnyConnection,
    absolute_before: NaiveDateTime,
    idle_before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(SessionRow, bool)>, StoreError> {
    let rows: Vec<SessionRow> = sessions::table
        .filter(sessions::ended.is_null())
        .filter(
            sessions::expires
                .le(absolute_before)
                .or(sessions::idle_expires.le(idle_before)),
        )
        .order(sessions::id.asc())
        .limit(limit)
        .select(SessionRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let absolute = row.expires <= absolute_before;
            (row, absolute)
        })
        .collect())
}

/// Records uses seen in memory: `last_used` only moves forward.
pub fn record_use(
    conn: &mut AnyConnection,
    id: &str,
    used: NaiveDateTime,
    idle_expires: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(sessions::table)
        .filter(sessions::id.eq(id))
        .filter(sessions::last_used.lt(used))
        .set((
            sessions::last_used.eq(used),
            sessions::idle_expires.eq(idle_expires),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes sessions that ended before `cutoff` (their refresh tokens go with them), and
/// revoked-token entries past their expiry; returns the numbers removed.
pub fn purge(
    conn: &mut AnyConnection,
    cutoff: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(usize, usize), StoreError> {
    let ended = sessions::table
        .filter(sessions::ended.lt(cutoff))
        .select(sessions::id);
    diesel::delete(refresh_tokens::table)
        .filter(refresh_tokens::session_id.eq_any(ended))
        .execute(conn)?;
    let sessions_removed = diesel::delete(sessions::table)
        .filter(sessions::ended.lt(cutoff))
        .execute(conn)?;
    let tokens_removed = diesel::delete(revoked_tokens::table)
        .filter(revoked_tokens::expires.lt(now))
        .execute(conn)?;
    Ok((sessions_removed, tokens_removed))
}

/// Revokes one access token until it would have expired; `false` if it already was.
pub fn revoke_token(
    conn: &mut AnyConnection,
    jti: &str,
    tenant_id: &str,
    session_id: &str,
    expires: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let inserted = diesel::sql_query(
        "INSERT INTO revoked_tokens (jti, tenant_id, session_id, expires, revoked) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(jti)
    .bind::<Text, _>(tenant_id)
    .bind::<Text, _>(session_id)
    .bind::<diesel::sql_types::Timestamp, _>(expires)
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .execute(conn)?;
    Ok(inserted == 1)
}

pub fn is_token_revoked(conn: &mut AnyConnection, jti: &str) -> Result<bool, StoreError> {
    Ok(revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}
