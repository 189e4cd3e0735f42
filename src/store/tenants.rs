//! Tenants: every other record belongs to one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::tenants;
use super::{AnyConnection, StoreError, Write};

/// Name of the tenant created at first start, used when nothing else is said.
pub const DEFAULT_TENANT: &str = "default";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub created: NaiveDateTime,
    /// Refuse non-RFC input instead of applying quirk rules.
    pub strict: bool,
    /// Group `displayName`s are unique in the tenant, case-insensitively.
    pub unique_group_names: bool,
}

pub fn insert(conn: &mut AnyConnection, tenant: &Tenant) -> Result<(), StoreError> {
    diesel::insert_into(tenants::table)
        .values(tenant)
        .execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<Tenant>, StoreError> {
    Ok(tenants::table
        .order(tenants::created.asc())
        .select(Tenant::as_select())
        .load(conn)?)
}

/// Finds a tenant by id or by name.
pub fn find(conn: &mut AnyConnection, id_or_name: &str) -> Result<Option<Tenant>, StoreError> {
    Ok(tenants::table
        .filter(tenants::id.eq(id_or_name).or(tenants::name.eq(id_or_name)))
        .select(Tenant::as_select())
        .first(conn)
        .optional()?)
}

/// Creates the default tenant unless it exists; safe when several replicas start at once.
pub fn ensure_default(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<(), StoreError> {
    if find(conn, DEFAULT_TENANT)?.is_some() {
        return Ok(());
    }
    let tenant = Tenant {
        id: uuid::Uuid::now_v7().to_string(),
        name: DEFAULT_TENANT.into(),
        created: now,
        strict: false,
        unique_group_names: true,
    };
    match insert(conn, &tenant) {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Switches strict mode; false when no tenant has this id.
pub fn set_strict(write: &mut Write, id: &str, strict: bool) -> Result<bool, StoreError> {
    let changed = diesel::update(tenants::table)
        .filter(tenants::id.eq(id))
        .set(tenants::strict.eq(strict))
        .execute(&mut **write)?;
    // Cached credentials carry their tenant's strictness.
    write.after_commit(super::credential_cache::credentials_changed);
    Ok(changed == 1)
}

/// Whether the tenant's group names are unique (true for an unknown tenant: the safe side).
pub fn unique_group_names(conn: &mut AnyConnection, id: &str) -> Result<bool, StoreError> {
    Ok(tenants::table
        .filter(tenants::id.eq(id))
        .select(tenants::unique_group_names)
        .first(conn)
        .optional()?
        .unwrap_or(true))
}

/// Switches unique group names; false when no tenant has this id.
pub fn set_unique_group_names(
    conn: &mut AnyConnection,
    id: &str,
    unique: bool,
) -> Result<bool, StoreError> {
    let changed = diesel::update(tenants::table)
        .filter(tenants::id.eq(id))
        .set(tenants::unique_group_names.eq(unique))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Users per tenant (for the metrics gauges), from the counts triggers keep.
pub fn users_per_tenant(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, StoreError> {
    use super::schema::tenant_counts;
    Ok(tenant_counts::table
        .select((
            tenant_counts::tenant_id,
            tenant_counts::active_users + tenant_counts::inactive_users,
        ))
        .order(tenant_counts::tenant_id)
        .load(conn)?)
}

/// Groups per tenant (for the metrics gauges), from the counts triggers keep.
pub fn groups_per_tenant(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, StoreError> {
    use super::schema::tenant_counts;
    Ok(tenant_counts::table
        .select((tenant_counts::tenant_id, tenant_counts::groups))
        .order(tenant_counts::tenant_id)
        .load(conn)?)
}
