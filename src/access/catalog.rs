//! The roles a tenant publishes to its identity provider, and the roles the identity provider
//! assigns directly.
//!
//! Published roles are those an admin described (`role_catalog`: display name, description,
//! whether the identity provider may assign it directly, the entitlements it carries) and
//! those a mapping names (published as not directly assignable). Entitlements are the
//! permissions roles carry, published with the roles that carry them.
//!
//! A user's direct roles are the `roles` the identity provider writes on the user: a second
//! source beside group mappings. Only published, assignable roles can be newly assigned (a role
//! already held may stay after it stops being assignable); `direct_roles` is run by the
//! provisioning fact of the write, so a role lost this way ends the sessions that carry it like
//! a role lost through a group, in the write's transaction.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::AccessError;
use super::provisioning::Fact;
use super::roles::check_role_name;
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::store::role_catalog::{self as rows, CatalogRow, UserRoleRow};
use crate::store::{AnyConnection, StoreError, Write, from_stored, to_stored};

/// A published role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedRole {
    pub value: String,
    pub display_name: String,
    pub description: Option<String>,
    /// Whether the identity provider may assign it to a user directly.
    pub assignable: bool,
    pub entitlements: Vec<String>,
    /// Whether a mapping grants it through groups.
    pub mapped: bool,
    /// Whether an admin described it.
    pub described: bool,
}

/// A published entitlement: a permission, with the roles that carry it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedEntitlement {
    pub value: String,
    pub contained_by: Vec<String>,
}

/// Every role the tenant publishes, by value.
pub fn published(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> Result<BTreeMap<String, PublishedRole>, StoreError> {
    let mut roles: BTreeMap<String, PublishedRole> = BTreeMap::new();
    for row in rows::list(conn, tenant_id)? {
        roles.insert(
            row.value.clone(),
            PublishedRole {
                entitlements: serde_json::from_str(&row.entitlements).unwrap_or_default(),
                value: row.value,
                display_name: row.display_name,
                description: row.description,
                assignable: row.assignable,
                mapped: false,
                described: true,
            },
        );
    }
    for mapping in crate::store::roles::list(conn, tenant_id)? {
        roles
            .entry(mapping.role.clone())
            .or_insert_with(|| PublishedRole {
                value: mapping.role.clone(),
                display_name: mapping.role.clone(),
                description: None,
                assignable: false,
                entitlements: Vec::new(),
                mapped: true,
                described: false,
            })
            .mapped = true;
    }
    Ok(roles)
}

/// Every entitlement the published roles carry.
pub fn entitlements(roles: &BTreeMap<String, PublishedRole>) -> Vec<PublishedEntitlement> {
    let mut carried: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for role in roles.values() {
        for entitlement in &role.entitlements {
            carried
                .entry(entitlement)
                .or_default()
                .push(role.value.clone());
        }
    }
    carried
        .into_iter()
        .map(|(value, contained_by)| PublishedEntitlement {
            value: value.to_string(),
            contained_by,
        })
        .collect()
}

/// What an admin says of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub assignable: bool,
    pub entitlements: Vec<String>,
}

fn check_text(name: &str, text: &str, max: usize) -> Result<(), AccessError> {
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(AccessError::InvalidRequest(format!(
            "`{name}` is at most {max} characters, without control characters"
        )));
    }
    Ok(())
}

/// Describes (or re-describes) a role, with an audit record. Making a role not assignable
/// leaves the users who hold it directly as they are; the identity provider removes it.
pub fn describe(
    conn: &mut Write,
    tenant_id: &str,
    value: &str,
    description: Description,
    (actor, request): (Option<&Actor>, Option<&RequestInfo>),
    now: DateTime<Utc>,
) -> Result<PublishedRole, AccessError> {
    check_role_name(value)?;
    if let Some(name) = &description.display_name {
        check_text("displayName", name, 255)?;
    }
    if let Some(text) = &description.description {
        check_text("description", text, 1000)?;
    }
    for entitlement in &description.entitlements {
        check_role_name(entitlement).map_err(|_| {
            AccessError::InvalidRequest(format!(
                "entitlement `{entitlement}` is not valid: 1 to 200 printable characters without spaces"
            ))
        })?;
    }
    let existing = rows::get(conn, tenant_id, value)?;
    if existing.is_none() && rows::count(conn, tenant_id)? >= rows::MAX_DESCRIBED {
        return Err(AccessError::InvalidRequest(format!(
            "a tenant describes at most {} roles",
            rows::MAX_DESCRIBED
        )));
    }
    let entitlements: BTreeSet<&String> = description.entitlements.iter().collect();
    let row = CatalogRow {
        tenant_id: tenant_id.to_string(),
        value: value.to_string(),
        display_name: description
            .display_name
            .clone()
            .unwrap_or_else(|| value.to_string()),
        description: description.description.clone(),
        assignable: description.assignable,
        entitlements: json!(entitlements).to_string(),
        created: existing.as_ref().map_or(to_stored(now), |e| e.created),
        updated: to_stored(now),
    };
    rows::put(conn, &row)?;
    let event = Event {
        actor,
        request,
        resource_type: Some("Role"),
        resource_id: Some(value.to_string()),
        ..Event::new(
            "role.describe",
            json!({"display_name": row.display_name, "description": row.description,
                   "assignable": row.assignable, "entitlements": entitlements}),
        )
    };
    audit::record(conn, tenant_id, now, event)?;
    published(conn, tenant_id)?
        .remove(value)
        .ok_or_else(|| AccessError::InvalidRequest("the role vanished".into()))
}

/// Removes a role's description; refused while anyone holds it directly (the identity
/// provider removes it first, through the cascade).
pub fn forget(
    conn: &mut Write,
    tenant_id: &str,
    value: &str,
    (actor, request): (Option<&Actor>, Option<&RequestInfo>),
    now: DateTime<Utc>,
) -> Result<(), AccessError> {
    let (_, held) = rows::holders(conn, tenant_id, value, 0)?;
    if held > 0 {
        return Err(AccessError::InvalidRequest(format!(
            "{held} users hold `{value}` directly: the identity provider removes it first"
        )));
    }
    if !rows::delete(conn, tenant_id, value)? {
        return Err(AccessError::NotFound(format!(
            "no described role `{value}`"
        )));
    }
    let event = Event {
        actor,
        request,
        resource_type: Some("Role"),
        resource_id: Some(value.to_string()),
        ..Event::new("role.forget", json!({}))
    };
    audit::record(conn, tenant_id, now, event)?;
    Ok(())
}

/// A direct role as explanations show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectGrant {
    pub role: String,
    pub assigned_by: String,
    pub assigned_at: DateTime<Utc>,
    /// The audit record of the write that assigned it.
    pub cause: Option<String>,
}

impl From<UserRoleRow> for DirectGrant {
    fn from(row: UserRoleRow) -> Self {
        Self {
            role: row.role,
            assigned_by: row.assigned_by,
            assigned_at: from_stored(row.assigned_at),
            cause: row.cause,
        }
    }
}

/// A user's direct roles.
pub fn direct_of(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<DirectGrant>, StoreError> {
    Ok(
        rows::direct_of_users(conn, tenant_id, &[user_id.to_string()])?
            .into_iter()
            .map(DirectGrant::from)
            .collect(),
    )
}

/// Why a user's `roles` cannot be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Unpublished(pub Vec<String>);

/// Makes the user's direct roles `wanted`: checks that every newly assigned role is
/// published and assignable (nothing is written otherwise), then writes what changed with an
/// audit record per role (`role.assign`, `role.unassign`) caused by the write. Returns the
/// roles gained and lost directly. The caller's `RoleWatch` settles the cascade.
pub(super) fn set_direct(
    conn: &mut Write,
    fact: &Fact,
    user_id: &str,
    wanted: &BTreeSet<String>,
    assigned_by: &str,
) -> Result<Result<(), Unpublished>, StoreError> {
    let (tenant_id, cause, now) = (fact.tenant_id, fact.cause, fact.now);
    let (actor, request) = (fact.actor, fact.request);
    let held: BTreeSet<String> = rows::direct_of_users(conn, tenant_id, &[user_id.to_string()])?
        .into_iter()
        .map(|row| row.role)
        .collect();
    let added: Vec<&String> = wanted.difference(&held).collect();
    let removed: Vec<&String> = held.difference(wanted).collect();
    if !added.is_empty() {
        let published = published(conn, tenant_id)?;
        let refused: Vec<String> = added
            .iter()
            .filter(|role| !published.get(role.as_str()).is_some_and(|p| p.assignable))
            .map(|role| role.to_string())
            .collect();
        if !refused.is_empty() {
            return Ok(Err(Unpublished(refused)));
        }
    }
    let mut events = Vec::new();
    for role in &added {
        rows::assign(
            conn,
            &UserRoleRow {
                tenant_id: tenant_id.to_string(),
                user_id: user_id.to_string(),
                role: role.to_string(),
                assigned_by: assigned_by.to_string(),
                assigned_at: to_stored(now),
                cause: Some(cause.to_string()),
            },
        )?;
        events.push(("role.assign", role.to_string()));
    }
    for role in &removed {
        rows::unassign(conn, tenant_id, user_id, role)?;
        events.push(("role.unassign", role.to_string()));
    }
    let records = events
        .into_iter()
        .map(|(action, role)| Event {
            actor,
            request,
            resource_type: Some("User"),
            resource_id: Some(user_id.to_string()),
            cause: Some(cause.to_string()),
            ..Event::new(action, json!({"role": role, "source": "direct"}))
        })
        .collect();
    audit::record_all(conn, tenant_id, now, records)?;
    Ok(Ok(()))
}
