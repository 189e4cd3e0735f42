//! Tenants: independent directories in one Scimitar. Every stored record belongs to one, and a
//! request's tenant is its credential's. Single-IdP installs only ever see the default tenant.

use chrono::{DateTime, Utc};

use crate::store::groups;
use crate::store::tenants::{self, Tenant};
use crate::store::{Store, StoreError, to_stored};

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("a tenant name is 1 to 64 characters: letters, digits, `.`, `_` or `-`")]
    InvalidName,
    #[error("a tenant named `{0}` already exists")]
    Exists(String),
    #[error("no tenant named or with id `{0}`")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn create(store: &Store, name: &str, now: DateTime<Utc>) -> Result<Tenant, TenantError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(TenantError::InvalidName);
    }
    let tenant = Tenant {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_string(),
        created: to_stored(now),
        strict: false,
        unique_group_names: true,
    };
    store
        .write(|conn| tenants::insert(conn, &tenant))
        .map_err(|error| match error {
            StoreError::Conflict(_) => TenantError::Exists(name.to_string()),
            other => TenantError::Store(other),
        })?;
    Ok(tenant)
}

pub fn list(store: &Store) -> Result<Vec<Tenant>, StoreError> {
    store.read(|conn| tenants::list(conn))
}

/// Puts a tenant (by id or name) in strict mode, or takes it out.
pub fn set_strict(store: &Store, tenant: &str, strict: bool) -> Result<Tenant, TenantError> {
    store.write(|conn| {
        let found =
            tenants::find(conn, tenant)?.ok_or_else(|| TenantError::Unknown(tenant.to_string()))?;
        tenants::set_strict(conn, &found.id, strict)?;
        Ok(Tenant { strict, ..found })
    })
}

/// Makes group `displayName`s unique in a tenant (case-insensitively), or allows duplicates.
/// Turned on, the oldest group of each name holds it; existing duplicates keep working and
/// must be renamed before they hold a name of their own.
pub fn set_unique_group_names(
    store: &Store,
    tenant: &str,
    unique: bool,
) -> Result<Tenant, TenantError> {
    store.write(|conn| {
        let found =
            tenants::find(conn, tenant)?.ok_or_else(|| TenantError::Unknown(tenant.to_string()))?;
        tenants::set_unique_group_names(conn, &found.id, unique)?;
        if unique {
            groups::claim_names(conn, &found.id)?;
        }
        Ok(Tenant {
            unique_group_names: unique,
            ..found
        })
    })
}
