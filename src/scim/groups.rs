//! Groups: create, replace and delete, and how a stored group is read and shown.
//! Members live in their own table; a write touches only the members that change.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::normalize::normalize;
use super::query::{ColumnKind, Filterable};
use super::resource::{self, Resource, Stamp, parse_attributes, render};
use super::schema::{GROUP_SCHEMA, ResourceKind};
use super::service::ScimService;
use super::stored::{StoredResource, related_of};
use crate::store::filter::Condition;
use crate::store::groups::{self as rows, GroupChanges, GroupColumn, GroupRow, Member};
use crate::store::{AnyConnection, StoreError, from_stored, to_stored, users};

/// A group's columns and its member ids, from the normalized attributes.
struct Columns {
    display_name: String,
    display_name_key: String,
    external_id: Option<String>,
    attributes: String,
    members: BTreeSet<String>,
}

impl Columns {
    fn from_attributes(mut attributes: Map<String, Value>) -> Result<Self, ScimError> {
        let members = member_ids(attributes.remove("members"))?;
        let text = |name: &str| {
            attributes
                .get(name)
                .and_then(Value::as_str)
                .map(String::from)
        };
        let display_name = text("displayName")
            .ok_or_else(|| ScimError::InvalidValue("`displayName` is required".into()))?;
        Ok(Self {
            display_name_key: display_name.to_lowercase(),
            external_id: text("externalId"),
            display_name,
            attributes: Value::Object(attributes).to_string(),
            members,
        })
    }
}

fn member_ids(members: Option<Value>) -> Result<BTreeSet<String>, ScimError> {
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
fn check_members_exist(
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

pub(super) fn create(
    service: &ScimService,
    tenant_id: &str,
    body: &Value,
    base: &str,
) -> Result<Resource, ScimError> {
    let normalized = normalize(service.registry.resource(ResourceKind::Group), body)?;
    let columns = Columns::from_attributes(normalized.attributes)?;
    let now = to_stored(service.clock.now());
    let row = GroupRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        display_name: columns.display_name,
        display_name_key: columns.display_name_key,
        external_id: columns.external_id,
        attributes: columns.attributes,
        version: 1,
        created: now,
        last_modified: now,
    };
    let new_members: Vec<String> = columns.members.into_iter().collect();
    let members = service.store.write(|conn| {
        check_members_exist(conn, tenant_id, &new_members)?;
        rows::insert(conn, &row)?;
        rows::add_members(conn, tenant_id, &row.id, &new_members)?;
        Ok::<_, ScimError>(related_of(conn, tenant_id, &row)?)
    })?;
    row.show(service, base, &members)
}

pub(super) fn replace(
    service: &ScimService,
    tenant_id: &str,
    id: &str,
    body: &Value,
    base: &str,
) -> Result<Resource, ScimError> {
    let normalized = normalize(service.registry.resource(ResourceKind::Group), body)?;
    let columns = Columns::from_attributes(normalized.attributes)?;
    let changes = GroupChanges {
        display_name: columns.display_name,
        display_name_key: columns.display_name_key,
        external_id: columns.external_id,
        attributes: columns.attributes,
        last_modified: to_stored(service.clock.now()),
    };
    let wanted = columns.members;
    let (row, members) = service.store.write(|conn| {
        let row = rows::update(conn, tenant_id, id, &changes)?.ok_or_else(|| not_found(id))?;
        let current: BTreeSet<String> =
            rows::member_ids(conn, tenant_id, id)?.into_iter().collect();
        let added: Vec<String> = wanted.difference(&current).cloned().collect();
        let removed: Vec<String> = current.difference(&wanted).cloned().collect();
        check_members_exist(conn, tenant_id, &added)?;
        rows::remove_members(conn, tenant_id, id, &removed)?;
        rows::add_members(conn, tenant_id, id, &added)?;
        let members = related_of(conn, tenant_id, &row)?;
        Ok::<_, ScimError>((row, members))
    })?;
    row.show(service, base, &members)
}

pub(super) fn delete(service: &ScimService, tenant_id: &str, id: &str) -> Result<(), ScimError> {
    service.store.write(|conn| {
        if rows::delete(conn, tenant_id, id)? {
            Ok(())
        } else {
            Err(not_found(id))
        }
    })
}

fn not_found(id: &str) -> ScimError {
    ScimError::NotFound(format!("no group with id `{id}`"))
}

/// The attributes a group filter can use: name, sub-attribute, column, storage.
const FILTERABLE: [Filterable<GroupColumn>; 5] = [
    ("id", None, GroupColumn::Id, ColumnKind::ExactText),
    (
        "displayName",
        None,
        GroupColumn::DisplayNameKey,
        ColumnKind::FoldedText,
    ),
    (
        "externalId",
        None,
        GroupColumn::ExternalId,
        ColumnKind::OptionalExactText,
    ),
    (
        "meta",
        Some("created"),
        GroupColumn::Created,
        ColumnKind::Time,
    ),
    (
        "meta",
        Some("lastModified"),
        GroupColumn::LastModified,
        ColumnKind::Time,
    ),
];

impl StoredResource for GroupRow {
    type Column = GroupColumn;
    type Related = Member;
    const SCHEMA: &'static str = GROUP_SCHEMA;
    const FILTERABLE: &'static [Filterable<GroupColumn>] = &FILTERABLE;

    fn id(&self) -> &str {
        &self.id
    }

    fn not_found(id: &str) -> ScimError {
        not_found(id)
    }

    fn fetch(
        conn: &mut AnyConnection,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<Self>, StoreError> {
        rows::get(conn, tenant_id, id)
    }

    fn count(
        conn: &mut AnyConnection,
        tenant_id: &str,
        condition: Option<&Condition<GroupColumn>>,
    ) -> Result<i64, StoreError> {
        rows::count(conn, tenant_id, condition)
    }

    fn page(
        conn: &mut AnyConnection,
        tenant_id: &str,
        condition: Option<&Condition<GroupColumn>>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        rows::page(conn, tenant_id, condition, offset, limit)
    }

    fn related(
        conn: &mut AnyConnection,
        tenant_id: &str,
        ids: &[String],
    ) -> Result<Vec<Member>, StoreError> {
        rows::members(conn, tenant_id, ids)
    }

    fn owner(related: &Member) -> &str {
        &related.group_id
    }

    /// A group with its `members`.
    fn show(
        &self,
        service: &ScimService,
        base: &str,
        members: &[Member],
    ) -> Result<Resource, ScimError> {
        let attributes = parse_attributes(&self.id, &self.attributes)?;
        let members: Vec<Value> = members
            .iter()
            .map(|m| {
                json!({
                    "value": m.user_id,
                    "$ref": resource::location(base, ResourceKind::User.endpoint(), &m.user_id),
                    "display": m.display_name.as_deref().unwrap_or(&m.user_name),
                    "type": "User",
                })
            })
            .collect();
        let stamp = Stamp {
            id: self.id.clone(),
            version: self.version,
            created: from_stored(self.created),
            last_modified: from_stored(self.last_modified),
        };
        Ok(render(
            service.registry.resource(ResourceKind::Group),
            base,
            &stamp,
            attributes,
            vec![("members", Value::Array(members))],
        ))
    }
}
