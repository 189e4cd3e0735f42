//! Start-up reconciliation of each tenant's configured matching attributes
//! (`[tenants.NAME] match_attributes`) with the database: a new attribute is recorded (so
//! every write maintains it from then on), its values are filled in for the existing users
//! page by page, and only then is it marked ready for lookups; an attribute no longer
//! configured is forgotten with its values.

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::ScimError;
use super::matching::{self, MatchAttribute};
use super::schema::{Registry, ResourceKind};
use crate::store::{Store, match_values, tenants};

/// Users read and indexed per transaction while filling in a new attribute.
const PAGE: i64 = 1000;

/// Makes every tenant's configured attributes those `wanted` names (by tenant name).
pub fn sync(
    store: &Store,
    registry: &Registry,
    wanted: &BTreeMap<String, Vec<String>>,
) -> Result<(), ScimError> {
    let schema = registry.resource(ResourceKind::User);
    for tenant in store.read(|conn| tenants::list(conn))? {
        let attributes = wanted
            .get(&tenant.name)
            .into_iter()
            .flatten()
            .map(|text| matching::attribute(schema, text))
            .collect::<Result<Vec<_>, _>>()?;
        let existing = store.read(|conn| match_values::configured(conn, &tenant.id))?;
        for (name, _) in &existing {
            if !attributes.iter().any(|a| &a.name == name) {
                store.write(|conn| match_values::remove_configured(conn, &tenant.id, name))?;
            }
        }
        for attribute in &attributes {
            let ready = existing
                .iter()
                .any(|(name, ready)| *name == attribute.name && *ready);
            if !ready {
                fill(store, &tenant.id, attribute)?;
                tracing::info!(tenant = %tenant.name, attribute = %attribute.name, "matching attribute indexed");
            }
        }
    }
    Ok(())
}

fn fill(store: &Store, tenant_id: &str, attribute: &MatchAttribute) -> Result<(), ScimError> {
    store.write(|conn| match_values::add_configured(conn, tenant_id, &attribute.name))?;
    // A write that read the attributes before this one was recorded may still be running:
    // the walk starts once it has committed, or it could commit a user behind the walk.
    store.write(|conn| match_values::wait_for_writes(conn, tenant_id))?;
    let only = std::slice::from_ref(attribute);
    let mut after = String::new();
    loop {
        let page = store.write(|conn| {
            let page = match_values::documents_for_update(conn, tenant_id, &after, PAGE)?;
            for (id, search) in &page {
                let Ok(Value::Object(search)) = serde_json::from_str::<Value>(search) else {
                    return Err(ScimError::Internal);
                };
                match_values::insert(conn, tenant_id, id, &matching::values(only, &search))?;
            }
            Ok::<_, ScimError>(page)
        })?;
        match page.last() {
            Some((last, _)) if page.len() as i64 == PAGE => after = last.clone(),
            _ => break,
        }
    }
    store.write(|conn| match_values::set_ready(conn, tenant_id, &attribute.name))?;
    Ok(())
}
