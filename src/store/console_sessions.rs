//! Operator console sessions: one row per signed-in browser, keyed by the SHA-256 digest of
//! the session secret its cookie holds (the secret itself is never stored).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::credentials::CredentialRow;
use super::schema::{console_sessions, credentials};
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions)]
pub struct ConsoleSessionRow {
    pub id_hash: String,
    pub tenant_id: String,
    pub client_id: String,
    pub created: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub expires: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, row: &ConsoleSessionRow) -> Result<(), StoreError> {
    diesel::insert_into(console_sessions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The session with this digest and the credential it was opened with (revoked or not).
pub fn find(
    conn: &mut AnyConnection,
    id_hash: &str,
) -> Result<Option<(ConsoleSessionRow, CredentialRow)>, StoreError> {
    Ok(console_sessions::table
        .inner_join(credentials::table)
        .filter(console_sessions::id_hash.eq(id_hash))
        .select((ConsoleSessionRow::as_select(), CredentialRow::as_select()))
        .first(conn)
        .optional()?)
}

/// Marks the session as used now.
pub fn touch(
    conn: &mut AnyConnection,
    id_hash: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(console_sessions::table)
        .filter(console_sessions::id_hash.eq(id_hash))
        .set(console_sessions::last_seen.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Ends one session; `false` if there was none.
pub fn delete(conn: &mut AnyConnection, id_hash: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(console_sessions::table)
        .filter(console_sessions::id_hash.eq(id_hash))
        .execute(conn)?
        > 0)
}

/// Removes sessions past their absolute expiry or idle since before `idle_before` (both
/// indexed); returns how many.
pub fn purge(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    idle_before: NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(console_sessions::table)
        .filter(
            console_sessions::expires
                .le(now)
                .or(console_sessions::last_seen.le(idle_before)),
        )
        .execute(conn)?)
}
