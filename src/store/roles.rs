//! Role mappings, and the facts about a user's groups that the mappings are matched against.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{group_members, groups, role_mappings};
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = role_mappings)]
pub struct RoleMappingRow {
    pub id: String,
    pub tenant_id: String,
    pub match_by: String,
    pub match_value: String,
    pub match_key: String,
    pub role: String,
    pub source: String,
    pub created: NaiveDateTime,
    /// The group a display-name rule is bound to (its stable id), once a group matched it.
    pub bound_group_id: Option<String>,
    /// A display-name rule that matches by name on every change instead of binding.
    pub follow_name: bool,
}

impl RoleMappingRow {
    /// Whether this rule grants its role to members of `group`. A display-name rule bound to
    /// a group matches that group alone, whatever it is called now; an unbound one matches
    /// the group it is about to bind to; one that follows the name matches by name.
    pub fn matches(&self, group: &GroupKeys) -> bool {
        match (self.match_by.as_str(), &self.bound_group_id) {
            ("id", _) => self.match_key == group.id,
            ("externalId", _) => group.external_id.as_deref() == Some(self.match_key.as_str()),
            (_, Some(bound)) if !self.follow_name => *bound == group.id,
            _ => self.match_key == group.display_name_key,
        }
    }

    /// Whether this rule waits to bind to the first group of its name.
    pub fn binds_by_name(&self) -> bool {
        self.match_by == "displayName" && !self.follow_name && self.bound_group_id.is_none()
    }
}

/// A group as role mappings see it: the three keys a rule can match.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct GroupKeys {
    pub id: String,
    pub external_id: Option<String>,
    pub display_name: String,
    pub display_name_key: String,
}

pub fn list(conn: &mut AnyConnection, tenant_id: &str) -> Result<Vec<RoleMappingRow>, StoreError> {
    Ok(role_mappings::table
        .filter(role_mappings::tenant_id.eq(tenant_id))
        .order((role_mappings::role.asc(), role_mappings::id.asc()))
        .select(RoleMappingRow::as_select())
        .load(conn)?)
}

pub fn get(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
) -> Result<Option<RoleMappingRow>, StoreError> {
    Ok(role_mappings::table
        .filter(role_mappings::tenant_id.eq(tenant_id))
        .filter(role_mappings::id.eq(id))
        .select(RoleMappingRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts a mapping; `false` if the same rule already grants the same role.
pub fn insert(conn: &mut AnyConnection, row: &RoleMappingRow) -> Result<bool, StoreError> {
    match diesel::insert_into(role_mappings::table)
        .values(row)
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(error) => match StoreError::from(error) {
            StoreError::Conflict(_) => Ok(false),
            other => Err(other),
        },
    }
}

pub fn delete(conn: &mut AnyConnection, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(role_mappings::table)
        .filter(role_mappings::tenant_id.eq(tenant_id))
        .filter(role_mappings::id.eq(id))
        .execute(conn)?
        == 1)
}

/// The keys of one group.
pub fn group_keys(
    conn: &mut AnyConnection,
    tenant_id: &str,
    group_id: &str,
) -> Result<Option<GroupKeys>, StoreError> {
    Ok(groups::table
        .filter(groups::tenant_id.eq(tenant_id))
        .filter(groups::id.eq(group_id))
        .select((
            groups::id,
            groups::external_id,
            groups::display_name,
            groups::display_name_key,
        ))
        .first(conn)
        .optional()?)
}

/// The groups a rule matches now (by id, externalId, its bound group, or folded
/// displayName): an indexed lookup.
pub fn groups_matching(
    conn: &mut AnyConnection,
    rule: &RoleMappingRow,
) -> Result<Vec<String>, StoreError> {
    let query = groups::table
        .filter(groups::tenant_id.eq(&rule.tenant_id))
        .select(groups::id)
        .into_boxed();
    let query = match (rule.match_by.as_str(), &rule.bound_group_id) {
        ("id", _) => query.filter(groups::id.eq(&rule.match_key)),
        ("externalId", _) => query.filter(groups::external_id.eq(&rule.match_key)),
        (_, Some(bound)) if !rule.follow_name => query.filter(groups::id.eq(bound)),
        _ => query.filter(groups::display_name_key.eq(&rule.match_key)),
    };
    Ok(query.load(conn)?)
}

/// Binds an unbound display-name rule to a group; `false` if it was bound meanwhile.
pub fn bind(
    conn: &mut AnyConnection,
    tenant_id: &str,
    rule_id: &str,
    group_id: &str,
) -> Result<bool, StoreError> {
    Ok(diesel::update(role_mappings::table)
        .filter(role_mappings::tenant_id.eq(tenant_id))
        .filter(role_mappings::id.eq(rule_id))
        .filter(role_mappings::bound_group_id.is_null())
        .set(role_mappings::bound_group_id.eq(group_id))
        .execute(conn)?
        == 1)
}

/// Each of `user_ids` with the keys of every group it belongs to, one query per chunk.
pub fn groups_of_users(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_ids: &[String],
) -> Result<Vec<(String, GroupKeys)>, StoreError> {
    let mut found = Vec::new();
    for chunk in user_ids.chunks(super::MAX_BOUND_IDS) {
        found.extend(
            group_members::table
                .inner_join(groups::table.on(groups::id.eq(group_members::group_id)))
                .filter(group_members::tenant_id.eq(tenant_id))
                .filter(group_members::user_id.eq_any(chunk))
                .select((
                    group_members::user_id,
                    (
                        groups::id,
                        groups::external_id,
                        groups::display_name,
                        groups::display_name_key,
                    ),
                ))
                .load::<(String, GroupKeys)>(conn)?,
        );
    }
    Ok(found)
}
