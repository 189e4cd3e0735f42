//! Groups: create, read, replace, delete and list. Members live in their own table; a write
//! touches only the members that change.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::filter::AttrPath;
use super::list::{ListRequest, group_by, list_response};
use super::normalize::normalize;
use super::query::{ColumnKind, Filterable, resolve, to_condition};
use super::resource::{self, Resource, Stamp, parse_attributes, render};
use super::schema::{GROUP_SCHEMA, ResourceKind};
use super::service::ScimService;
use crate::store::groups::{self as rows, GroupChanges, GroupColumn, GroupRow, Member};
use crate::store::{AnyConnection, from_stored, to_stored, users};

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
        Ok::<_, ScimError>(rows::members(
            conn,
            tenant_id,
            std::slice::from_ref(&row.id),
        )?)
    })?;
    show(service, base, &row, &members)
}

pub(super) fn get(
    service: &ScimService,
    tenant_id: &str,
    id: &str,
    base: &str,
) -> Result<Resource, ScimError> {
    let (row, members) = service.store.read(|conn| {
        let row = rows::get(conn, tenant_id, id)?.ok_or_else(|| not_found(id))?;
        let members = rows::members(conn, tenant_id, std::slice::from_ref(&row.id))?;
        Ok::<_, ScimError>((row, members))
    })?;
    show(service, base, &row, &members)
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
        let members = rows::members(conn, tenant_id, std::slice::from_ref(&row.id))?;
        Ok::<_, ScimError>((row, members))
    })?;
    show(service, base, &row, &members)
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

pub(super) fn list(
    service: &ScimService,
    tenant_id: &str,
    request: &ListRequest,
    base: &str,
) -> Result<Value, ScimError> {
    let condition = request
        .filter
        .as_ref()
        .map(|f| to_condition(f, &filterable))
        .transpose()?;
    let (total, page, members) = service.store.read(|conn| {
        let total = rows::count(conn, tenant_id, condition.as_ref())?;
        let page = rows::page(
            conn,
            tenant_id,
            condition.as_ref(),
            request.offset(),
            request.count,
        )?;
        let ids: Vec<String> = page.iter().map(|row| row.id.clone()).collect();
        let members = rows::members(conn, tenant_id, &ids)?;
        Ok::<_, ScimError>((total, page, members))
    })?;
    let by_owner = group_by(members, |m| m.group_id.clone());
    let resources = page
        .iter()
        .map(|row| {
            show(
                service,
                base,
                row,
                by_owner.get(&row.id).map_or(&[][..], Vec::as_slice),
            )
            .map(|r| r.body)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(list_response(total, request.start_index, resources))
}

fn not_found(id: &str) -> ScimError {
    ScimError::NotFound(format!("no group with id `{id}`"))
}

/// Renders a group; `members` are this group's members.
fn show(
    service: &ScimService,
    base: &str,
    row: &GroupRow,
    members: &[Member],
) -> Result<Resource, ScimError> {
    let attributes = parse_attributes(&row.id, &row.attributes)?;
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
        id: row.id.clone(),
        version: row.version,
        created: from_stored(row.created),
        last_modified: from_stored(row.last_modified),
    };
    Ok(render(
        service.registry.resource(ResourceKind::Group),
        base,
        &stamp,
        attributes,
        vec![("members", Value::Array(members))],
    ))
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

fn filterable(path: &AttrPath) -> Option<(GroupColumn, ColumnKind)> {
    resolve(path, GROUP_SCHEMA, &FILTERABLE)
}
