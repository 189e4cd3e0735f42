//! Users: create, read, replace, delete and list, on the store.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::filter::AttrPath;
use super::list::{ListRequest, group_by, list_response};
use super::normalize::normalize;
use super::query::{ColumnKind, Filterable, resolve, to_condition};
use super::resource::{self, Resource, Stamp, parse_attributes, render};
use super::schema::{ResourceKind, USER_SCHEMA};
use super::service::ScimService;
use crate::store::users::{self as rows, MembershipOfUser, UserChanges, UserColumn, UserRow};
use crate::store::{AnyConnection, StoreError, from_stored, groups, to_stored};

/// The indexed columns, derived from the normalized attributes in one place.
struct Columns {
    user_name: String,
    user_name_key: String,
    external_id: Option<String>,
    display_name: Option<String>,
    active: bool,
    attributes: String,
}

impl Columns {
    fn from_attributes(mut attributes: Map<String, Value>) -> Result<Self, ScimError> {
        let text = |attributes: &Map<String, Value>, name: &str| {
            attributes
                .get(name)
                .and_then(Value::as_str)
                .map(String::from)
        };
        let user_name = text(&attributes, "userName")
            .ok_or_else(|| ScimError::InvalidValue("`userName` is required".into()))?;
        // `active` has no default in RFC 7643; a user provisioned without it is active.
        let active = attributes
            .entry("active")
            .or_insert(Value::Bool(true))
            .as_bool()
            .unwrap_or(true);
        Ok(Self {
            user_name_key: user_name_key(&user_name),
            external_id: text(&attributes, "externalId"),
            display_name: text(&attributes, "displayName"),
            user_name,
            active,
            attributes: Value::Object(attributes).to_string(),
        })
    }
}

/// `userName` is unique per tenant regardless of case (RFC 7643 `caseExact: false`).
pub fn user_name_key(user_name: &str) -> String {
    user_name.to_lowercase()
}

fn taken(user_name: &str) -> impl FnOnce(StoreError) -> ScimError + '_ {
    move |error| match error {
        StoreError::Conflict(_) => {
            ScimError::Uniqueness(format!("userName `{user_name}` is already taken"))
        }
        other => other.into(),
    }
}

pub(super) fn create(
    service: &ScimService,
    tenant_id: &str,
    body: &Value,
    base: &str,
) -> Result<Resource, ScimError> {
    let normalized = normalize(service.registry.resource(ResourceKind::User), body)?;
    let columns = Columns::from_attributes(normalized.attributes)?;
    let now = to_stored(service.clock.now());
    let row = UserRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        user_name: columns.user_name,
        user_name_key: columns.user_name_key,
        external_id: columns.external_id,
        display_name: columns.display_name,
        active: columns.active,
        attributes: columns.attributes,
        version: 1,
        created: now,
        last_modified: now,
    };
    service
        .store
        .write(|conn| rows::insert(conn, &row).map_err(taken(&row.user_name)))?;
    show(service, base, &row, &[])
}

pub(super) fn get(
    service: &ScimService,
    tenant_id: &str,
    id: &str,
    base: &str,
) -> Result<Resource, ScimError> {
    let (row, memberships) = service.store.read(|conn| {
        let row = find(conn, tenant_id, id)?;
        let memberships = rows::memberships(conn, tenant_id, std::slice::from_ref(&row.id))?;
        Ok::<_, ScimError>((row, memberships))
    })?;
    show(service, base, &row, &memberships)
}

pub(super) fn replace(
    service: &ScimService,
    tenant_id: &str,
    id: &str,
    body: &Value,
    base: &str,
) -> Result<Resource, ScimError> {
    let normalized = normalize(service.registry.resource(ResourceKind::User), body)?;
    let columns = Columns::from_attributes(normalized.attributes)?;
    let changes = UserChanges {
        user_name: columns.user_name,
        user_name_key: columns.user_name_key,
        external_id: columns.external_id,
        display_name: columns.display_name,
        active: columns.active,
        attributes: columns.attributes,
        last_modified: to_stored(service.clock.now()),
    };
    let (row, memberships) = service.store.write(|conn| {
        let row = rows::update(conn, tenant_id, id, &changes)
            .map_err(taken(&changes.user_name))?
            .ok_or_else(|| not_found(id))?;
        let memberships = rows::memberships(conn, tenant_id, std::slice::from_ref(&row.id))?;
        Ok::<_, ScimError>((row, memberships))
    })?;
    show(service, base, &row, &memberships)
}

pub(super) fn delete(service: &ScimService, tenant_id: &str, id: &str) -> Result<(), ScimError> {
    let now = to_stored(service.clock.now());
    service.store.write(|conn| {
        groups::touch_groups_of_member(conn, tenant_id, id, now)?;
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
    let (total, page, memberships) = service.store.read(|conn| {
        let total = rows::count(conn, tenant_id, condition.as_ref())?;
        let page = rows::page(
            conn,
            tenant_id,
            condition.as_ref(),
            request.offset(),
            request.count,
        )?;
        let ids: Vec<String> = page.iter().map(|row| row.id.clone()).collect();
        let memberships = rows::memberships(conn, tenant_id, &ids)?;
        Ok::<_, ScimError>((total, page, memberships))
    })?;
    let by_owner = group_by(memberships, |m| m.user_id.clone());
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

fn find(conn: &mut AnyConnection, tenant_id: &str, id: &str) -> Result<UserRow, ScimError> {
    rows::get(conn, tenant_id, id)?.ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ScimError {
    ScimError::NotFound(format!("no user with id `{id}`"))
}

/// Renders a user; `memberships` are this user's groups.
fn show(
    service: &ScimService,
    base: &str,
    row: &UserRow,
    memberships: &[MembershipOfUser],
) -> Result<Resource, ScimError> {
    let attributes = parse_attributes(&row.id, &row.attributes)?;
    let groups: Vec<Value> = memberships
        .iter()
        .map(|m| {
            json!({
                "value": m.group_id,
                "$ref": resource::location(base, ResourceKind::Group.endpoint(), &m.group_id),
                "display": m.group_display_name,
                "type": "direct",
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
        service.registry.resource(ResourceKind::User),
        base,
        &stamp,
        attributes,
        vec![("groups", Value::Array(groups))],
    ))
}

/// The attributes a user filter can use: name, sub-attribute, column, storage.
const FILTERABLE: [Filterable<UserColumn>; 6] = [
    ("id", None, UserColumn::Id, ColumnKind::ExactText),
    (
        "userName",
        None,
        UserColumn::UserNameKey,
        ColumnKind::FoldedText,
    ),
    (
        "externalId",
        None,
        UserColumn::ExternalId,
        ColumnKind::OptionalExactText,
    ),
    ("active", None, UserColumn::Active, ColumnKind::Bool),
    (
        "meta",
        Some("created"),
        UserColumn::Created,
        ColumnKind::Time,
    ),
    (
        "meta",
        Some("lastModified"),
        UserColumn::LastModified,
        ColumnKind::Time,
    ),
];

fn filterable(path: &AttrPath) -> Option<(UserColumn, ColumnKind)> {
    resolve(path, USER_SCHEMA, &FILTERABLE)
}
