//! Role mappings: a rule grants a role to the members of the groups it matches, by the
//! group's `id`, `externalId` or `displayName` (compared case-insensitively). A rule given by
//! display name binds to the group's stable id as soon as a group matches it (when the rule
//! is made, or when a group of that name is first pushed), so an IdP renaming the group keeps
//! its members' roles and renaming another group to that name grants nothing; following the
//! name on every change is an explicit choice (`follow_name`). A user's roles are the union
//! over their groups. Changing a rule goes through the same cascade as a group change:
//! members who lose a role lose the sessions that carry it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::AccessError;
use super::cascade::{Origin, RoleWatch};
use super::provisioning::Fact;
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::store::roles::{self as rows, GroupKeys, RoleMappingRow};
use crate::store::{AnyConnection, StoreError, Write, to_stored};
use crate::text::fold;

/// Which key of a group a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MatchBy {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "externalId")]
    ExternalId,
    #[serde(rename = "displayName")]
    DisplayName,
}

impl MatchBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchBy::Id => "id",
            MatchBy::ExternalId => "externalId",
            MatchBy::DisplayName => "displayName",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [MatchBy::Id, MatchBy::ExternalId, MatchBy::DisplayName]
            .into_iter()
            .find(|by| by.as_str().eq_ignore_ascii_case(name))
    }

    /// What is stored and compared: display names fold like SCIM's case-insensitive strings.
    fn key(self, value: &str) -> String {
        match self {
            MatchBy::DisplayName => fold(value),
            MatchBy::Id | MatchBy::ExternalId => value.to_string(),
        }
    }
}

/// A group selector as written in configuration and on the command line: `id:…`,
/// `externalId:…` or `displayName:…`; a bare value is a display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSelector {
    pub by: MatchBy,
    pub value: String,
    /// For a display name: match by name on every change instead of binding to the group.
    pub follow_name: bool,
}

impl GroupSelector {
    pub fn parse(text: &str) -> Result<Self, AccessError> {
        let (by, value) = match text.split_once(':') {
            Some((prefix, value)) if MatchBy::parse(prefix).is_some() => (
                MatchBy::parse(prefix).unwrap_or(MatchBy::DisplayName),
                value,
            ),
            _ => (MatchBy::DisplayName, text),
        };
        let value = value.trim();
        if value.is_empty() || value.len() > 1024 {
            return Err(AccessError::InvalidRequest(
                "a group selector needs a value of 1 to 1024 bytes".into(),
            ));
        }
        Ok(Self {
            by,
            value: value.to_string(),
            follow_name: false,
        })
    }

    /// The selector in words, as `describe_rule` says a rule.
    pub fn describe(&self) -> String {
        let matching = match self.by {
            MatchBy::DisplayName if self.follow_name => "name",
            MatchBy::DisplayName => "bound",
            other => other.as_str(),
        };
        describe_rule(self.by.as_str(), &self.value, matching)
    }

    /// The same selector, matching by name on every change when `follow_name` (display-name
    /// selectors only: an id or externalId is stable anyway).
    pub fn following_name(self, follow_name: bool) -> Self {
        Self {
            follow_name: follow_name && self.by == MatchBy::DisplayName,
            ..self
        }
    }
}

/// A role name: printable, no spaces (it travels in space-separated scopes and in claims).
pub fn check_role_name(role: &str) -> Result<(), AccessError> {
    match crate::text::role_name_problem(role) {
        Some(problem) => Err(AccessError::InvalidRequest(problem)),
        None => Ok(()),
    }
}

/// A tenant's rules, loaded once per change.
#[derive(Debug, Clone, Default)]
pub struct RoleRules {
    rules: Vec<RoleMappingRow>,
}

/// One role of a user and what grants it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleGrant {
    pub role: String,
    pub granted_by: Vec<Grant>,
    /// The identity provider assigned it directly (the user's `roles`): by whom, when.
    pub direct: Option<super::catalog::DirectGrant>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    pub group_id: String,
    pub group_display_name: String,
    pub rule_id: String,
    pub match_by: String,
    pub match_value: String,
    /// How the rule matches: `id`, `externalId`, `bound` (a display-name rule bound to this
    /// group's id) or `name` (a display-name rule that follows the name on every change).
    pub matching: &'static str,
}

impl RoleRules {
    pub fn load(conn: &mut AnyConnection, tenant_id: &str) -> Result<Self, StoreError> {
        Ok(Self {
            rules: rows::list(conn, tenant_id)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn matching<'a>(&'a self, group: &'a GroupKeys) -> impl Iterator<Item = &'a RoleMappingRow> {
        self.rules.iter().filter(move |rule| rule.matches(group))
    }

    /// Whether membership of this group grants any role.
    pub fn grants_any(&self, group: &GroupKeys) -> bool {
        self.matching(group).next().is_some()
    }

    /// The roles that membership of these groups grants.
    pub fn roles_of<'a>(
        &self,
        groups: impl IntoIterator<Item = &'a GroupKeys>,
    ) -> BTreeSet<String> {
        groups
            .into_iter()
            .flat_map(|group| self.matching(group).map(|rule| rule.role.clone()))
            .collect()
    }

    /// Each role with the groups and rules that grant it.
    pub fn explain(&self, groups: &[GroupKeys]) -> Vec<RoleGrant> {
        let mut grants: BTreeMap<String, Vec<Grant>> = BTreeMap::new();
        for group in groups {
            for rule in self.matching(group) {
                grants.entry(rule.role.clone()).or_default().push(Grant {
                    group_id: group.id.clone(),
                    group_display_name: group.display_name.clone(),
                    rule_id: rule.id.clone(),
                    match_by: rule.match_by.clone(),
                    match_value: rule.match_value.clone(),
                    matching: matching_of(rule),
                });
            }
        }
        grants
            .into_iter()
            .map(|(role, granted_by)| RoleGrant {
                role,
                granted_by,
                direct: None,
            })
            .collect()
    }
}

/// How a rule matches, as operators see it.
pub fn matching_of(rule: &RoleMappingRow) -> &'static str {
    match rule.match_by.as_str() {
        "id" => "id",
        "externalId" => "externalId",
        _ if rule.follow_name => "name",
        _ => "bound",
    }
}

/// A rule in words, for operators: `externalId:00g1`, `displayName:Eng (bound to its group)`
/// or `displayName:Eng (follows the name)`.
pub fn describe_rule(match_by: &str, match_value: &str, matching: &str) -> String {
    match matching {
        "bound" => format!("{match_by}:{match_value} (bound to its group)"),
        "name" => format!("{match_by}:{match_value} (follows the name)"),
        _ => format!("{match_by}:{match_value}"),
    }
}

/// The effective roles of each of `user_ids`: those `rules` grant through the groups they are
/// in now, and those the identity provider assigned them directly.
pub fn roles_of_users(
    conn: &mut AnyConnection,
    tenant_id: &str,
    rules: &RoleRules,
    user_ids: &[String],
) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
    let mut roles: BTreeMap<String, BTreeSet<String>> = user_ids
        .iter()
        .map(|id| (id.clone(), BTreeSet::new()))
        .collect();
    for direct in crate::store::role_catalog::direct_of_users(conn, tenant_id, user_ids)? {
        roles.entry(direct.user_id).or_default().insert(direct.role);
    }
    if rules.is_empty() {
        return Ok(roles);
    }
    for (user_id, group) in rows::groups_of_users(conn, tenant_id, user_ids)? {
        roles
            .entry(user_id)
            .or_default()
            .extend(rules.roles_of([&group]));
    }
    Ok(roles)
}

/// A mapping as shown to operators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleMapping {
    pub id: String,
    pub match_by: String,
    pub group: String,
    pub role: String,
    pub source: String,
    pub created: DateTime<Utc>,
    /// `id`, `externalId`, `bound` (a display-name rule bound to `bound_group_id`, or waiting
    /// for the first group of its name) or `name` (following the name on every change).
    pub matching: &'static str,
    pub bound_group_id: Option<String>,
}

impl From<RoleMappingRow> for RoleMapping {
    fn from(row: RoleMappingRow) -> Self {
        Self {
            matching: matching_of(&row),
            id: row.id,
            match_by: row.match_by,
            group: row.match_value,
            role: row.role,
            source: row.source,
            created: crate::store::from_stored(row.created),
            bound_group_id: row.bound_group_id,
        }
    }
}

/// Who changes a mapping, for the audit record.
#[derive(Debug, Clone, Copy)]
pub struct ChangedBy<'a> {
    pub actor: Option<&'a Actor>,
    pub request: Option<&'a RequestInfo>,
    /// `api` (admin API, operator console or CLI) or `config` (the configuration file at start).
    pub source: &'static str,
}

/// Adds a rule granting `role` to the groups `selector` matches; members gain the role in
/// their next token. Returns the mapping, or `None` when the same rule already exists.
pub fn map(
    conn: &mut Write,
    tenant_id: &str,
    selector: &GroupSelector,
    role: &str,
    by: ChangedBy,
    now: DateTime<Utc>,
) -> Result<Option<RoleMapping>, AccessError> {
    check_role_name(role)?;
    let mut row = RoleMappingRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        match_by: selector.by.as_str().to_string(),
        match_value: selector.value.clone(),
        match_key: selector.by.key(&selector.value),
        role: role.to_string(),
        source: by.source.to_string(),
        created: to_stored(now),
        bound_group_id: None,
        follow_name: selector.follow_name,
    };
    if row.binds_by_name() {
        // Bound at once to the group of that name, if there is one.
        match rows::groups_matching(conn, &row)?.as_slice() {
            [] => {}
            [group] => row.bound_group_id = Some(group.clone()),
            _ => {
                return Err(AccessError::InvalidRequest(format!(
                    "several groups are named `{}`: map one by `id:` or `externalId:`, or \
                     match by name explicitly (follow_name)",
                    selector.value
                )));
            }
        }
    }
    let changed = change_rule(conn, &row, "role_mapping.create", by, now, |conn| {
        rows::insert(conn, &row)
    })?;
    if !changed {
        return Ok(None);
    }
    Ok(Some(row.into()))
}

/// `map` for each of `roles`: the mappings created (rules that already existed are skipped).
pub fn map_all(
    conn: &mut Write,
    tenant_id: &str,
    selector: &GroupSelector,
    roles: &[String],
    by: ChangedBy,
    now: DateTime<Utc>,
) -> Result<Vec<RoleMapping>, AccessError> {
    let mut created = Vec::new();
    for role in roles {
        created.extend(map(conn, tenant_id, selector, role, by, now)?);
    }
    Ok(created)
}

/// Removes a rule; members who no longer hold its role lose the sessions carrying it.
/// `false` when there is no such rule.
pub fn unmap(
    conn: &mut Write,
    tenant_id: &str,
    rule_id: &str,
    by: ChangedBy,
    now: DateTime<Utc>,
) -> Result<bool, AccessError> {
    let Some(row) = rows::get(conn, tenant_id, rule_id)? else {
        return Ok(false);
    };
    change_rule(conn, &row, "role_mapping.delete", by, now, |conn| {
        rows::delete(conn, tenant_id, rule_id)
    })?;
    Ok(true)
}

/// Adds or removes a rule (`change`, which returns whether it changed anything) between a
/// role watch over the members of the groups it matches and its settlement, with the audit
/// record that the cascade's records point to.
fn change_rule(
    conn: &mut Write,
    row: &RoleMappingRow,
    action: &'static str,
    by: ChangedBy,
    now: DateTime<Utc>,
    change: impl FnOnce(&mut AnyConnection) -> Result<bool, StoreError>,
) -> Result<bool, AccessError> {
    let tenant_id = &row.tenant_id;
    let groups = rows::groups_matching(conn, row)?;
    let members = members_of(conn, tenant_id, &groups)?;
    let rules = RoleRules::load(conn, tenant_id)?;
    let watch = RoleWatch::start(conn, tenant_id, &rules, members)?;
    if !change(conn)? {
        return Ok(false);
    }
    let details = json!({"rule": row.id, "match_by": row.match_by, "group": row.match_value, "role": row.role, "source": row.source, "matching": matching_of(row), "bound_group_id": row.bound_group_id, "groups_matched": groups});
    let cause = record(conn, tenant_id, action, &row.id, details, by, now)?;
    let fact = Fact {
        tenant_id,
        cause: &cause,
        actor: by.actor,
        request: by.request,
        now,
        received: None,
    };
    super::provisioning::mapping_changed(conn, &fact, watch)?;
    Ok(true)
}

/// Binds every display-name rule still waiting for a group of this name to `group` (created,
/// or renamed to the name), each with a `role_mapping.bind` audit record caused by `cause`.
/// The roles its members gain are the same whether the rule is bound yet or not (an unbound
/// rule matches the group it is about to bind to). Returns the rules bound.
pub fn bind_waiting_rules(
    conn: &mut Write,
    tenant_id: &str,
    group: &GroupKeys,
    cause: &str,
    origin: Origin,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let rules = RoleRules::load(conn, tenant_id)?;
    let mut bound = Vec::new();
    for rule in rules
        .rules
        .iter()
        .filter(|r| r.binds_by_name() && r.matches(group))
    {
        if !rows::bind(conn, tenant_id, &rule.id, &group.id)? {
            continue;
        }
        let event = Event {
            actor: origin.actor,
            request: origin.request,
            resource_type: Some("RoleMapping"),
            resource_id: Some(rule.id.clone()),
            cause: Some(cause.to_string()),
            ..Event::new(
                "role_mapping.bind",
                json!({"rule": rule.id, "group": rule.match_value, "role": rule.role, "bound_group_id": group.id}),
            )
        };
        audit::record(conn, tenant_id, now, event)?;
        bound.push(rule.id.clone());
    }
    Ok(bound)
}

fn members_of(
    conn: &mut AnyConnection,
    tenant_id: &str,
    groups: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut members: Vec<String> = crate::store::groups::members(conn, tenant_id, groups)?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    members.sort();
    members.dedup();
    Ok(members)
}

fn record(
    conn: &mut Write,
    tenant_id: &str,
    action: &'static str,
    rule_id: &str,
    details: serde_json::Value,
    by: ChangedBy,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let event = Event {
        actor: by.actor,
        request: by.request,
        resource_type: Some("RoleMapping"),
        resource_id: Some(rule_id.to_string()),
        ..Event::new(action, details)
    };
    audit::record(conn, tenant_id, now, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_name_cannot_be_split_or_hidden() {
        for bad in [
            "",
            "a,b",
            "a b",
            "a\tb",
            "a\u{7}",
            "\u{200b}admin",
            "ad\u{00ad}min",
            "..",
            "-",
            "a;b",
            "a<b>",
            &"r".repeat(201),
        ] {
            assert!(check_role_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "reader",
            "reports.read",
            "app:admin",
            "Admin-2",
            "team/lead",
            "ops@eu",
            "Buchhalter_in",
            "経理",
        ] {
            assert!(check_role_name(good).is_ok(), "{good}");
        }
    }

    fn rule(id: &str, by: MatchBy, value: &str, role: &str) -> RoleMappingRow {
        RoleMappingRow {
            id: id.into(),
            tenant_id: "t".into(),
            match_by: by.as_str().into(),
            match_value: value.into(),
            match_key: by.key(value),
            role: role.into(),
            source: "api".into(),
            created: chrono::DateTime::<Utc>::UNIX_EPOCH.naive_utc(),
            bound_group_id: None,
            follow_name: false,
        }
    }

    fn group(id: &str, external_id: Option<&str>, name: &str) -> GroupKeys {
        GroupKeys {
            id: id.into(),
            external_id: external_id.map(String::from),
            display_name: name.into(),
            display_name_key: fold(name),
        }
    }

    fn rules() -> RoleRules {
        RoleRules {
            rules: vec![
                rule("r1", MatchBy::DisplayName, "Engineering", "developer"),
                rule("r2", MatchBy::ExternalId, "00g-admins", "admin"),
                rule("r3", MatchBy::Id, "g-3", "auditor"),
                rule("r4", MatchBy::DisplayName, "Admins", "developer"),
            ],
        }
    }

    #[test]
    fn a_rule_matches_by_id_external_id_or_case_folded_display_name() {
        let rules = rules();
        let groups = [
            group("g-1", None, "ENGINEERING"),
            group("g-2", Some("00g-admins"), "Admins"),
            group("g-3", None, "Other"),
        ];
        let roles: Vec<String> = rules.roles_of(&groups).into_iter().collect();
        assert_eq!(roles, vec!["admin", "auditor", "developer"]);
        assert!(!rules.grants_any(&group("g-9", Some("00g-ADMINS"), "Engineers")));
    }

    #[test]
    fn explain_lists_every_group_and_rule_behind_a_role() {
        let groups = [
            group("g-1", None, "Engineering"),
            group("g-2", Some("00g-admins"), "Admins"),
        ];
        let explained = rules().explain(&groups);
        let developer = explained.iter().find(|g| g.role == "developer");
        let rules_behind: Vec<&str> = developer
            .map(|g| g.granted_by.iter().map(|x| x.rule_id.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(rules_behind, vec!["r1", "r4"]);
    }

    #[test]
    fn a_selector_names_its_key_or_defaults_to_the_display_name() {
        let parsed = |t: &str| GroupSelector::parse(t).map(|s| (s.by, s.value)).ok();
        assert_eq!(
            parsed("externalId:00g1"),
            Some((MatchBy::ExternalId, "00g1".into()))
        );
        assert_eq!(parsed("id:abc"), Some((MatchBy::Id, "abc".into())));
        assert_eq!(
            parsed("Sales: EMEA"),
            Some((MatchBy::DisplayName, "Sales: EMEA".into()))
        );
        assert_eq!(parsed("externalId:"), None);
    }
}
