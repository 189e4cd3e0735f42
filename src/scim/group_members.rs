//! A group's members as writes change them: member lists read from requests, the change a
//! PUT or PATCH makes (whole list, or only the members it names, so a write costs in
//! proportion to the members it names and not to the size of the group), and which users'
//! roles a group write can move.

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::ScimError;
use super::filter::{CompValue, CompareOp, Filter, PatchPath};
use super::normalize::listed_values;
use super::patch::{Operation, PatchOp};
use super::quirks::{Quirks, Rule};
use super::schema::{AttributeDef, GROUP_SCHEMA};
use crate::access::provisioning::{Cascade, GroupWrite};
use crate::store::groups::{self as rows, GroupChanges, GroupRow};
use crate::store::roles::GroupKeys;
use crate::store::{AnyConnection, StoreError, users};

pub(super) fn member_ids(members: Option<Value>) -> Result<BTreeSet<String>, ScimError> {
    let mut ids = BTreeSet::new();
    for member in members
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = member.get("value").and_then(Value::as_str) else {
            return Err(ScimError::InvalidValue(
                "every member needs a `value`: the member's id".into(),
            ));
        };
        if member
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.eq_ignore_ascii_case("User"))
        {
            return Err(ScimError::InvalidValue(format!(
                "member `{id}`: only users can be group members"
            )));
        }
        ids.insert(id.to_string());
    }
    Ok(ids)
}

/// Fails unless every id names a user of this tenant.
pub(super) fn check_members_exist(
    conn: &mut AnyConnection,
    tenant_id: &str,
    ids: &[String],
) -> Result<(), ScimError> {
    if ids.is_empty() {
        return Ok(());
    }
    let found: BTreeSet<String> = users::existing_ids(conn, tenant_id, ids)?
        .into_iter()
        .collect();
    match ids.iter().find(|id| !found.contains(*id)) {
        Some(missing) => Err(ScimError::InvalidValue(format!(
            "member `{missing}` is not a user of this tenant"
        ))),
        None => Ok(()),
    }
}

pub(super) fn names_members(path: &PatchPath) -> bool {
    path.name.eq_ignore_ascii_case("members")
        && path
            .uri
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA))
}

/// How a write changes the member list: replaced whole (PUT), or by the members it names,
/// which costs in proportion to them and not to the size of the group.
pub(super) enum Membership {
    Replace(BTreeSet<String>),
    Change {
        add: BTreeSet<String>,
        remove: BTreeSet<String>,
    },
}

impl Membership {
    /// Applies one PATCH operation on `members` (`definition`). A single member is read as
    /// a list of one; a value that names no member (`{}`, a number) is refused, so that an
    /// `add` or `remove` is never a silent no-op and a `replace` never empties the group by
    /// mistake.
    pub(super) fn apply(
        &mut self,
        operation: &Operation,
        definition: &AttributeDef,
        quirks: &Quirks,
    ) -> Result<(), ScimError> {
        if operation.path.sub.is_some() {
            return Err(ScimError::Mutability(
                "members are added or removed whole".into(),
            ));
        }
        let listed = || {
            let value = operation.value.as_ref().unwrap_or(&Value::Null);
            let values = listed_values(definition, value, "members", quirks)?;
            member_ids(Some(Value::Array(values)))
        };
        match (operation.op, &operation.path.filter, &operation.value) {
            (PatchOp::Add, None, _) => self.add(listed()?),
            (PatchOp::Replace, None, _) => *self = Membership::Replace(listed()?),
            (PatchOp::Remove, None, None) => *self = Membership::Replace(BTreeSet::new()),
            // Entra: remove exactly the members listed in `value`, never all of them.
            (PatchOp::Remove, None, Some(_)) => {
                quirks.tolerate(Rule::EntraRemoveMembersWithValue)?;
                self.remove(listed()?)
            }
            (PatchOp::Remove, Some(filter), _) => self.remove(filtered_ids(filter)?),
            (PatchOp::Add | PatchOp::Replace, Some(_), _) => {
                return Err(ScimError::InvalidPath(
                    "add members by value, without a filter".into(),
                ));
            }
        }
        Ok(())
    }

    fn add(&mut self, ids: BTreeSet<String>) {
        match self {
            Membership::Replace(members) => members.extend(ids),
            Membership::Change { add, remove } => {
                for id in ids {
                    remove.remove(&id);
                    add.insert(id);
                }
            }
        }
    }

    fn remove(&mut self, ids: BTreeSet<String>) {
        match self {
            Membership::Replace(members) => members.retain(|m| !ids.contains(m)),
            Membership::Change { add, remove } => {
                for id in ids {
                    add.remove(&id);
                    remove.insert(id);
                }
            }
        }
    }

    /// The users whose membership this may change: those it names, and for a whole
    /// replacement, the current members too.
    fn affected(
        &self,
        conn: &mut AnyConnection,
        tenant_id: &str,
        group_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut users: BTreeSet<String> = match self {
            Membership::Replace(wanted) => {
                let mut users = wanted.clone();
                users.extend(rows::member_ids(conn, tenant_id, group_id)?);
                users
            }
            Membership::Change { add, remove } => add.union(remove).cloned().collect(),
        };
        users.retain(|id| !id.is_empty());
        Ok(users.into_iter().collect())
    }

    /// Writes the change and returns the members really added and removed. Only a whole
    /// replacement reads the current member list; a change looks up the ids it names.
    pub(super) fn store(
        self,
        conn: &mut AnyConnection,
        tenant_id: &str,
        group_id: &str,
    ) -> Result<(Vec<String>, Vec<String>), ScimError> {
        let (added, removed): (Vec<String>, Vec<String>) = match self {
            Membership::Replace(wanted) => {
                let current: BTreeSet<String> = rows::member_ids(conn, tenant_id, group_id)?
                    .into_iter()
                    .collect();
                (
                    wanted.difference(&current).cloned().collect(),
                    current.difference(&wanted).cloned().collect(),
                )
            }
            Membership::Change { add, remove } => {
                let named: Vec<String> = add.iter().chain(&remove).cloned().collect();
                let present: BTreeSet<String> =
                    rows::members_among(conn, tenant_id, group_id, &named)?
                        .into_iter()
                        .collect();
                (
                    add.into_iter().filter(|id| !present.contains(id)).collect(),
                    remove
                        .into_iter()
                        .filter(|id| present.contains(id))
                        .collect(),
                )
            }
        };
        check_members_exist(conn, tenant_id, &added)?;
        rows::remove_members(conn, tenant_id, group_id, &removed)?;
        rows::add_members(conn, tenant_id, group_id, &added)?;
        Ok((added, removed))
    }
}

/// The ids a `members[value eq "…" or value eq "…"]` filter names.
fn filtered_ids(filter: &Filter) -> Result<BTreeSet<String>, ScimError> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(id),
        } if path.name.eq_ignore_ascii_case("value") && path.sub.is_none() => {
            Ok(BTreeSet::from([id.clone()]))
        }
        Filter::Or(a, b) => Ok(filtered_ids(a)?
            .into_iter()
            .chain(filtered_ids(b)?)
            .collect()),
        _ => Err(ScimError::InvalidFilter(
            "select members with `value eq \"id\"` (joined by `or`)".into(),
        )),
    }
}

pub(super) fn keys_of(group: &GroupRow) -> GroupKeys {
    GroupKeys {
        id: group.id.clone(),
        external_id: group.external_id.clone(),
        display_name: group.display_name.clone(),
        display_name_key: group.display_name_key.clone(),
    }
}

/// Reads, before a group write, the roles it can move (the cascade decides whose, from the
/// group's keys before and after and the members the write names).
pub(super) fn roles_before(
    cascade: &Cascade,
    conn: &mut AnyConnection,
    tenant_id: &str,
    current: &GroupRow,
    changes: &GroupChanges,
    membership: &Membership,
) -> Result<GroupWrite, StoreError> {
    let before = keys_of(current);
    let after = GroupKeys {
        external_id: changes.external_id.clone(),
        display_name: changes.display_name.clone(),
        display_name_key: changes.display_name_key.clone(),
        ..before.clone()
    };
    cascade.before_group_write(conn, tenant_id, (&before, &after), |conn| {
        membership.affected(conn, tenant_id, &current.id)
    })
}
