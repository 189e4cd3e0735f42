//! Users. Indexed columns (`user_name_key`, `external_id`) serve lookups; `attributes` holds
//! the normalized SCIM document, the source of truth for everything else.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{group_members, groups, users};
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub tenant_id: String,
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub attributes: String,
    pub version: i64,
    pub created: NaiveDateTime,
    pub last_modified: NaiveDateTime,
}

/// What a replace writes; the version is incremented by the database itself, so two
/// concurrent writers can never produce the same version.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserChanges {
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub attributes: String,
    pub last_modified: NaiveDateTime,
}

/// A group a user belongs to, for the user's read-only `groups` attribute.
#[derive(Debug, Clone, Queryable)]
pub struct MembershipOfUser {
    pub user_id: String,
    pub group_id: String,
    pub group_display_name: String,
}

pub fn insert(conn: &mut AnyConnection, row: &UserRow) -> Result<(), StoreError> {
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn get(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant_id))
        .filter(users::id.eq(id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Applies `changes` and increments the version; `None` when the user does not exist.
pub fn update(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
    changes: &UserChanges,
) -> Result<Option<UserRow>, StoreError> {
    Ok(diesel::update(users::table)
        .filter(users::tenant_id.eq(tenant_id))
        .filter(users::id.eq(id))
        .set((changes, users::version.eq(users::version + 1)))
        .returning(users::all_columns)
        .get_result::<UserRow>(conn)
        .optional()?)
}

pub fn delete(conn: &mut AnyConnection, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
    let deleted = diesel::delete(users::table)
        .filter(users::tenant_id.eq(tenant_id))
        .filter(users::id.eq(id))
        .execute(conn)?;
    Ok(deleted == 1)
}

/// One page of a tenant's users in a stable order (ids are time-ordered UUIDv7).
pub fn page(
    conn: &mut AnyConnection,
    tenant_id: &str,
    offset: i64,
    limit: i64,
) -> Result<Vec<UserRow>, StoreError> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant_id))
        .order(users::id.asc())
        .offset(offset)
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)?)
}

pub fn count(conn: &mut AnyConnection, tenant_id: &str) -> Result<i64, StoreError> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant_id))
        .count()
        .get_result(conn)?)
}

/// Those of `ids` that name users of this tenant.
pub fn existing_ids(
    conn: &mut AnyConnection,
    tenant_id: &str,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::MAX_BOUND_IDS) {
        found.extend(
            users::table
                .filter(users::tenant_id.eq(tenant_id))
                .filter(users::id.eq_any(chunk))
                .select(users::id)
                .load::<String>(conn)?,
        );
    }
    Ok(found)
}

/// The groups of each of `user_ids`, in one query per chunk of ids.
pub fn memberships(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_ids: &[String],
) -> Result<Vec<MembershipOfUser>, StoreError> {
    let mut found = Vec::new();
    for chunk in user_ids.chunks(super::MAX_BOUND_IDS) {
        found.extend(
            group_members::table
                .inner_join(groups::table.on(groups::id.eq(group_members::group_id)))
                .filter(group_members::tenant_id.eq(tenant_id))
                .filter(group_members::user_id.eq_any(chunk))
                .order((group_members::user_id.asc(), groups::id.asc()))
                .select((group_members::user_id, groups::id, groups::display_name))
                .load::<MembershipOfUser>(conn)?,
        );
    }
    Ok(found)
}
