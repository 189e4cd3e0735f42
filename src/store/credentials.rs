//! Credentials: who may call the SCIM and admin APIs. Only a digest of each secret is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{credentials, tenants};
use super::{AnyConnection, StoreError, Write};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials)]
pub struct CredentialRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub kind: String,
    pub secret_hash: String,
    pub created: NaiveDateTime,
    pub last_used: Option<NaiveDateTime>,
    pub revoked: Option<NaiveDateTime>,
    pub trusted: bool,
    /// The app client's own cap on OAuth requests per second; `None`: the server's default.
    pub oauth_per_second: Option<i32>,
}

pub fn insert(conn: &mut AnyConnection, row: &CredentialRow) -> Result<(), StoreError> {
    diesel::insert_into(credentials::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<CredentialRow>, StoreError> {
    Ok(credentials::table
        .filter(credentials::id.eq(id))
        .select(CredentialRow::as_select())
        .first(conn)
        .optional()?)
}

/// The unrevoked credential whose secret has this digest (an indexed lookup).
/// With it, whether its tenant is in strict mode: one indexed lookup serves a request.
pub fn find_active_by_hash(
    conn: &mut AnyConnection,
    secret_hash: &str,
) -> Result<Option<(CredentialRow, bool)>, StoreError> {
    Ok(credentials::table
        .inner_join(tenants::table)
        .filter(credentials::secret_hash.eq(secret_hash))
        .filter(credentials::revoked.is_null())
        .select((CredentialRow::as_select(), tenants::strict))
        .first(conn)
        .optional()?)
}

/// The unrevoked credential with this id, and whether its tenant is in strict mode.
pub fn find_active_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(CredentialRow, bool)>, StoreError> {
    Ok(credentials::table
        .inner_join(tenants::table)
        .filter(credentials::id.eq(id))
        .filter(credentials::revoked.is_null())
        .select((CredentialRow::as_select(), tenants::strict))
        .first(conn)
        .optional()?)
}

/// The credential, revoked or not, whose secret has this digest.
pub fn find_any_by_hash(
    conn: &mut AnyConnection,
    secret_hash: &str,
) -> Result<Option<CredentialRow>, StoreError> {
    Ok(credentials::table
        .filter(credentials::secret_hash.eq(secret_hash))
        .select(CredentialRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every credential with its tenant's name, oldest first.
pub fn list(conn: &mut AnyConnection) -> Result<Vec<(CredentialRow, String)>, StoreError> {
    Ok(credentials::table
        .inner_join(tenants::table)
        .order(credentials::created.asc())
        .select((CredentialRow::as_select(), tenants::name))
        .load(conn)?)
}

pub fn count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(credentials::table.count().get_result(conn)?)
}

/// Sets an unrevoked credential's OAuth cap; false when there is no such credential.
pub fn set_oauth_limit(
    conn: &mut AnyConnection,
    id: &str,
    per_second: Option<i32>,
) -> Result<bool, StoreError> {
    let changed = diesel::update(credentials::table)
        .filter(credentials::id.eq(id))
        .filter(credentials::revoked.is_null())
        .set(credentials::oauth_per_second.eq(per_second))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Marks a credential revoked; returns false when no unrevoked credential has this id.
pub fn revoke(write: &mut Write, id: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    let changed = diesel::update(credentials::table)
        .filter(credentials::id.eq(id))
        .filter(credentials::revoked.is_null())
        .set(credentials::revoked.eq(now))
        .execute(&mut **write)?;
    write.after_commit(super::credential_cache::credentials_changed);
    Ok(changed == 1)
}

/// Sets `last_used` if the credential was never used; true when this call did it, so
/// concurrent first requests record one first use.
pub fn touch_first(
    conn: &mut AnyConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let changed = diesel::update(credentials::table)
        .filter(credentials::id.eq(id))
        .filter(credentials::last_used.is_null())
        .set(credentials::last_used.eq(now))
        .execute(conn)?;
    Ok(changed == 1)
}

pub fn touch(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(credentials::table)
        .filter(credentials::id.eq(id))
        .set(credentials::last_used.eq(now))
        .execute(conn)?;
    Ok(())
}
