//! The roles a tenant publishes to its identity provider (`role_catalog`), and the roles the
//! identity provider assigned to users directly (`user_roles`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{role_catalog, user_roles};
use super::{AnyConnection, StoreError};

/// A role an admin described.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = role_catalog, treat_none_as_null = true)]
pub struct CatalogRow {
    pub tenant_id: String,
    pub value: String,
    pub display_name: String,
    pub description: Option<String>,
    pub assignable: bool,
    /// A JSON array of entitlement values the role carries.
    pub entitlements: String,
    pub created: NaiveDateTime,
    pub updated: NaiveDateTime,
}

/// A role assigned to a user directly.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_roles)]
pub struct UserRoleRow {
    pub tenant_id: String,
    pub user_id: String,
    pub role: String,
    pub assigned_by: String,
    pub assigned_at: NaiveDateTime,
    pub cause: Option<String>,
}

/// At most this many described roles per tenant: the catalog is read whole.
pub const MAX_DESCRIBED: i64 = 10_000;

pub fn list(conn: &mut AnyConnection, tenant_id: &str) -> Result<Vec<CatalogRow>, StoreError> {
    Ok(role_catalog::table
        .filter(role_catalog::tenant_id.eq(tenant_id))
        .order(role_catalog::value.asc())
        .limit(MAX_DESCRIBED)
        .select(CatalogRow::as_select())
        .load(conn)?)
}

pub fn get(
    conn: &mut AnyConnection,
    tenant_id: &str,
    value: &str,
) -> Result<Option<CatalogRow>, StoreError> {
    Ok(role_catalog::table
        .filter(role_catalog::tenant_id.eq(tenant_id))
        .filter(role_catalog::value.eq(value))
        .select(CatalogRow::as_select())
        .first(conn)
        .optional()?)
}

/// Whether the tenant publishes any role the identity provider may assign directly.
pub fn any_assignable(conn: &mut AnyConnection, tenant_id: &str) -> Result<bool, StoreError> {
    let found: Option<String> = role_catalog::table
        .filter(role_catalog::tenant_id.eq(tenant_id))
        .filter(role_catalog::assignable.eq(true))
        .select(role_catalog::value)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

pub fn count(conn: &mut AnyConnection, tenant_id: &str) -> Result<i64, StoreError> {
    Ok(role_catalog::table
        .filter(role_catalog::tenant_id.eq(tenant_id))
        .count()
        .get_result(conn)?)
}

/// Inserts or replaces a description.
pub fn put(conn: &mut AnyConnection, row: &CatalogRow) -> Result<(), StoreError> {
    let updated = diesel::update(
        role_catalog::table
            .filter(role_catalog::tenant_id.eq(&row.tenant_id))
            .filter(role_catalog::value.eq(&row.value)),
    )
    .set((
        role_catalog::display_name.eq(&row.display_name),
        role_catalog::description.eq(&row.description),
        role_catalog::assignable.eq(row.assignable),
        role_catalog::entitlements.eq(&row.entitlements),
        role_catalog::updated.eq(row.updated),
    ))
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(role_catalog::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn delete(conn: &mut AnyConnection, tenant_id: &str, value: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        role_catalog::table
            .filter(role_catalog::tenant_id.eq(tenant_id))
            .filter(role_catalog::value.eq(value)),
    )
    .execute(conn)?
        == 1)
}

/// The direct roles of each of `user_ids`: (user, role) pairs.
pub fn direct_of_users(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_ids: &[String],
) -> Result<Vec<UserRoleRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in user_ids.chunks(500) {
        rows.extend(
            user_roles::table
                .filter(user_roles::tenant_id.eq(tenant_id))
                .filter(user_roles::user_id.eq_any(chunk))
                .order((user_roles::user_id.asc(), user_roles::role.asc()))
                .select(UserRoleRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}

pub fn assign(conn: &mut AnyConnection, row: &UserRoleRow) -> Result<(), StoreError> {
    diesel::insert_into(user_roles::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn unassign(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
    role: &str,
) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        user_roles::table
            .filter(user_roles::tenant_id.eq(tenant_id))
            .filter(user_roles::user_id.eq(user_id))
            .filter(user_roles::role.eq(role)),
    )
    .execute(conn)?
        == 1)
}

/// Removes every direct role of a deleted user.
pub fn unassign_all(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        user_roles::table
            .filter(user_roles::tenant_id.eq(tenant_id))
            .filter(user_roles::user_id.eq(user_id)),
    )
    .execute(conn)?)
}

/// Who holds `role` directly (at most `limit`), and how many do.
pub fn holders(
    conn: &mut AnyConnection,
    tenant_id: &str,
    role: &str,
    limit: i64,
) -> Result<(Vec<UserRoleRow>, i64), StoreError> {
    let base = user_roles::table
        .filter(user_roles::tenant_id.eq(tenant_id))
        .filter(user_roles::role.eq(role));
    let total = base.count().get_result(conn)?;
    let rows = base
        .order(user_roles::user_id.asc())
        .limit(limit)
        .select(UserRoleRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}
