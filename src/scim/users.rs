//! Users: create, replace, patch and delete, and how a stored user is read and shown.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::normalize::{fold, normalize};
use super::patch;
use super::query::{ColumnKind, Filterable};
use super::resource::{self, Precondition, Resource, Stamp, parse_attributes, render};
use super::schema::{ResourceKind, USER_SCHEMA};
use super::service::ScimService;
use super::stored::{StoredResource, related_of};
use crate::store::filter::{Condition, Sort};
use crate::store::users::{self as rows, MembershipOfUser, UserChanges, UserColumn, UserRow};
use crate::store::{AnyConnection, StoreError, from_stored, groups, to_stored};

/// The indexed columns, derived from the normalized attributes in one place.
struct Columns {
    user_name: String,
    user_name_key: String,
    external_id: Option<String>,
    active: bool,
    attributes: String,
}

impl Columns {
    fn from_attributes(attributes: Map<String, Value>) -> Result<Self, ScimError> {
        let text = |attributes: &Map<String, Value>, name: &str| {
            attributes
                .get(name)
                .and_then(Value::as_str)
                .map(String::from)
        };
        let user_name = text(&attributes, "userName")
            .ok_or_else(|| ScimError::InvalidValue("`userName` is required".into()))?;
        // `active` has no default in RFC 7643 and stays absent if not sent; a user without it
        // has not been deactivated, so it counts as active for access decisions.
        let active = attributes
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        Ok(Self {
            user_name_key: user_name_key(&user_name),
            external_id: text(&attributes, "externalId"),
            user_name,
            active,
            attributes: Value::Object(attributes).to_string(),
        })
    }
}

/// `userName` is unique per tenant regardless of case and width (RFC 7643 `caseExact: false`).
pub fn user_name_key(user_name: &str) -> String {
    fold(user_name)
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
        active: columns.active,
        attributes: columns.attributes,
        version: 1,
        created: now,
        last_modified: now,
    };
    service
        .store
        .write(|conn| rows::insert(conn, &row).map_err(taken(&row.user_name)))?;
    row.show(service, base, &[])
}

pub(super) fn replace(
    service: &ScimService,
    tenant_id: &str,
    id: &str,
    body: &Value,
    precondition: &Precondition,
    base: &str,
) -> Result<Resource, ScimError> {
    let normalized = normalize(service.registry.resource(ResourceKind::User), body)?;
    let changes = changes(service, normalized.attributes)?;
    update(service, tenant_id, id, precondition, base, |_| Ok(changes))
}

pub(super) fn patch(
    service: &ScimService,
    tenant_id: &str,
    id: &str,
    body: &Value,
    precondition: &Precondition,
    base: &str,
) -> Result<Resource, ScimError> {
    let schema = service.registry.resource(ResourceKind::User);
    let operations = patch::parse(schema, body)?;
    update(service, tenant_id, id, precondition, base, |current| {
        let mut document = parse_attributes(&current.id, &current.attributes)?;
        patch::apply_all(schema, &mut document, &operations)?;
        let normalized = normalize(schema, &Value::Object(document))?;
        changes(service, normalized.attributes)
    })
}

fn changes(
    service: &ScimService,
    attributes: Map<String, Value>,
) -> Result<UserChanges, ScimError> {
    let columns = Columns::from_attributes(attributes)?;
    Ok(UserChanges {
        user_name: columns.user_name,
        user_name_key: columns.user_name_key,
        external_id: columns.external_id,
        active: columns.active,
        attributes: columns.attributes,
        last_modified: to_stored(service.clock.now()),
    })
}

/// Read-modify-write of one user in one transaction, under `If-Match`.
fn update(
    service: &ScimService,
    tenant_id: &str,
    id: &str,
    precondition: &Precondition,
    base: &str,
    change: impl FnOnce(&UserRow) -> Result<UserChanges, ScimError>,
) -> Result<Resource, ScimError> {
    let (row, memberships) = service.store.write(|conn| {
        let current = rows::get_for_update(conn, tenant_id, id)?.ok_or_else(|| not_found(id))?;
        precondition.check(current.version)?;
        let changes = change(&current)?;
        let row = rows::update(conn, tenant_id, id, &changes)
            .map_err(taken(&changes.user_name))?
            .ok_or_else(|| not_found(id))?;
        let memberships = related_of(conn, tenant_id, &row)?;
        Ok::<_, ScimError>((row, memberships))
    })?;
    row.show(service, base, &memberships)
}

pub(super) fn delete(
    service: &ScimService,
    tenant_id: &str,
    id: &str,
    precondition: &Precondition,
) -> Result<(), ScimError> {
    let now = to_stored(service.clock.now());
    service.store.write(|conn| {
        let current = rows::get_for_update(conn, tenant_id, id)?.ok_or_else(|| not_found(id))?;
        precondition.check(current.version)?;
        groups::touch_groups_of_member(conn, tenant_id, id, now)?;
        rows::delete(conn, tenant_id, id)?;
        Ok(())
    })
}

fn not_found(id: &str) -> ScimError {
    ScimError::NotFound(format!("no user with id `{id}`"))
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

impl StoredResource for UserRow {
    type Column = UserColumn;
    type Related = MembershipOfUser;
    const KIND: ResourceKind = ResourceKind::User;
    const DERIVED: &'static str = "groups";
    const SCHEMA: &'static str = USER_SCHEMA;
    const FILTERABLE: &'static [Filterable<UserColumn>] = &FILTERABLE;

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
        condition: Option<&Condition<UserColumn>>,
    ) -> Result<i64, StoreError> {
        rows::count(conn, tenant_id, condition)
    }

    fn page(
        conn: &mut AnyConnection,
        tenant_id: &str,
        condition: Option<&Condition<UserColumn>>,
        sort: Option<Sort<UserColumn>>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        rows::page(conn, tenant_id, condition, sort, offset, limit)
    }

    fn related(
        conn: &mut AnyConnection,
        tenant_id: &str,
        ids: &[String],
    ) -> Result<Vec<MembershipOfUser>, StoreError> {
        rows::memberships(conn, tenant_id, ids)
    }

    fn owner(related: &MembershipOfUser) -> &str {
        &related.user_id
    }

    /// A user with its read-only `groups`.
    fn show(
        &self,
        service: &ScimService,
        base: &str,
        memberships: &[MembershipOfUser],
    ) -> Result<Resource, ScimError> {
        let attributes = parse_attributes(&self.id, &self.attributes)?;
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
            id: self.id.clone(),
            version: self.version,
            created: from_stored(self.created),
            last_modified: from_stored(self.last_modified),
        };
        Ok(render(
            service.registry.resource(ResourceKind::User),
            base,
            &stamp,
            attributes,
            vec![("groups", Value::Array(groups))],
        ))
    }
}
