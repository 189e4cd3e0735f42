//! Users: create, replace, patch and delete, and how a stored user is read and shown.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::direct_roles;
use super::error::ScimError;
use super::events::{self, Written};
use super::matching::{self, MatchAttribute};
use super::membership_query::{MembershipFields, Shown};
use super::normalize::{Normalized, check_immutable, fold, normalize};
use super::patch;
use super::query::{ColumnKind, Filterable};
use super::resource::{self, Precondition, Resource, parse_attributes};
use super::schema::{ResourceKind, ResourceSchema, USER_SCHEMA};
use super::search::search_document;
use super::service::{Context, ScimService};
use super::stored::{StoredResource, related_for_response, related_of};
use crate::audit;
use crate::outbox::ProvisioningOperation;
use crate::store::filter::CursorKey;
use crate::store::membership::MemberField;
use crate::store::users::{self as rows, MembershipOfUser, UserChanges, UserColumn, UserRow};
use crate::store::{AnyConnection, StoreError, Write, groups, match_values, to_stored};

/// The indexed columns, derived from the normalized attributes in one place.
struct Columns {
    user_name: String,
    user_name_key: String,
    external_id: Option<String>,
    active: bool,
    attributes: String,
    search: String,
}

impl Columns {
    fn from_attributes(
        schema: &ResourceSchema,
        attributes: Map<String, Value>,
    ) -> Result<Self, ScimError> {
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
            search: Value::Object(search_document(schema, &attributes)).to_string(),
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
    context: &Context,
    body: &Value,
) -> Result<Resource, ScimError> {
    let schema = service.registry.resource(ResourceKind::User);
    let normalized = normalize(schema, body, context.quirks)?;
    let columns = Columns::from_attributes(schema, normalized.attributes.clone())?;
    let now = service.clock.now();
    let row = UserRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: context.tenant_id.to_string(),
        user_name: columns.user_name,
        user_name_key: columns.user_name_key,
        external_id: columns.external_id,
        active: columns.active,
        attributes: columns.attributes,
        search: columns.search,
        version: 1,
        created: to_stored(now),
        last_modified: to_stored(now),
    };
    service.store.write_in(context.tenant_id, |conn| {
        rows::insert(conn, &row).map_err(taken(&row.user_name))?;
        index_matching(conn, service, &row, Indexed::New)?;
        let details = json!({
            "attributes": normalized.attributes.keys().collect::<Vec<_>>(),
            "active": row.active,
            "password_set": normalized.write_only_supplied,
        });
        let personal = json!({"after": normalized.attributes});
        let event = context.event(
            "user.create",
            ResourceKind::User,
            &row.id,
            details,
            Some(personal),
        );
        let cause = audit::record(conn, context.tenant_id, now, event)?;
        let created = row.show(service, context.base, &[])?;
        let mut attributes: Vec<String> = vec!["id".into()];
        attributes.extend(normalized.attributes.keys().cloned());
        let written = Written {
            schema: service.registry.resource(ResourceKind::User),
            id: &row.id,
            external_id: row.external_id.as_deref(),
            operation: ProvisioningOperation::Create,
            attributes,
            data: Some(events::EventData::Resource(created.body.clone())),
            version: row.version,
        };
        events::publish(conn, context.tenant_id, &cause, now, written)?;
        let roles = direct_roles::roles_of(&normalized.attributes);
        let none = BTreeSet::new();
        let written = direct_roles::RolesWritten {
            before: &none,
            after: &roles,
            named: roles.clone(),
            active_after: row.active,
        };
        direct_roles::settle(service, conn, context, &row.id, written, &cause, now)?;
        Ok::<_, ScimError>(created)
    })
}

pub(super) fn replace(
    service: &ScimService,
    context: &Context,
    id: &str,
    body: &Value,
    precondition: &Precondition,
) -> Result<Resource, ScimError> {
    let normalized = normalize(
        service.registry.resource(ResourceKind::User),
        body,
        context.quirks,
    )?;
    update(
        service,
        context,
        ("user.replace", body),
        id,
        precondition,
        |current| Change::of(service, normalized, current),
    )
}

pub(super) fn patch(
    service: &ScimService,
    context: &Context,
    id: &str,
    body: &Value,
    precondition: &Precondition,
) -> Result<Resource, ScimError> {
    let schema = service.registry.resource(ResourceKind::User);
    let operations = patch::parse(schema, body, context.quirks)?;
    update(
        service,
        context,
        ("user.patch", body),
        id,
        precondition,
        patched(service, context, operations),
    )
}

/// The change a parsed PATCH makes to the current user.
fn patched<'a>(
    service: &'a ScimService,
    context: &'a Context,
    operations: Vec<patch::Operation>,
) -> impl FnOnce(&UserRow) -> Result<Change, ScimError> + 'a {
    move |current| {
        let schema = service.registry.resource(ResourceKind::User);
        let mut document = parse_attributes(&current.id, &current.attributes)?;
        patch::apply_all(schema, &mut document, &operations, context.quirks)?;
        Change::of(
            service,
            normalize(schema, &Value::Object(document), context.quirks)?,
            current,
        )
    }
}

/// Switches a user's `active` in the caller's transaction, exactly as a SCIM PATCH replacing
/// `active` would (its `user.patch` record, the deactivation cascade or the reactivation
/// event and flag), except that the record and the cascade are caused by `cause`. `None`
/// when no such user exists, `Some(false)` when it already was in that state (nothing written).
pub(super) fn set_active_in(
    service: &ScimService,
    conn: &mut Write,
    context: &Context,
    id: &str,
    active: bool,
    cause: &str,
) -> Result<Option<bool>, ScimError> {
    let Some(current) = rows::get_for_update(conn, context.tenant_id, id)? else {
        return Ok(None);
    };
    if current.active == active {
        return Ok(Some(false));
    }
    let body = json!({
        "schemas": [patch::PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "active", "value": active}],
    });
    let schema = service.registry.resource(ResourceKind::User);
    let operations = patch::parse(schema, &body, context.quirks)?;
    let change = patched(service, context, operations);
    let precondition = Precondition::default();
    let write = UserChange {
        action: "user.patch",
        request: &body,
        id,
        precondition: &precondition,
        caused_by: Some(cause),
    };
    update_in(service, conn, context, write, change)?;
    Ok(Some(true))
}

/// A validated new state of a user: the row's changes and, for the audit record, the
/// attributes and whether a password came with it.
struct Change {
    row: UserChanges,
    attributes: Map<String, Value>,
    password_set: bool,
}

impl Change {
    /// `current` is the stored user the change applies to. A deactivated user stays
    /// deactivated unless the new state says `active: true` explicitly: a PUT that leaves
    /// `active` out, or a PATCH that removes it, must not restore access by omission.
    fn of(
        service: &ScimService,
        mut normalized: Normalized,
        current: &UserRow,
    ) -> Result<Self, ScimError> {
        if !current.active && !normalized.attributes.contains_key("active") {
            normalized
                .attributes
                .insert("active".into(), Value::Bool(false));
        }
        let columns = Columns::from_attributes(
            service.registry.resource(ResourceKind::User),
            normalized.attributes.clone(),
        )?;
        let row = UserChanges {
            user_name: columns.user_name,
            user_name_key: columns.user_name_key,
            external_id: columns.external_id,
            active: columns.active,
            attributes: columns.attributes,
            search: columns.search,
            last_modified: to_stored(service.clock.now()),
        };
        Ok(Self {
            row,
            attributes: normalized.attributes,
            password_set: normalized.write_only_supplied,
        })
    }
}

/// Read-modify-write of one user in one transaction, under `If-Match`, with its audit record.
fn update(
    service: &ScimService,
    context: &Context,
    (action, request): (&'static str, &Value),
    id: &str,
    precondition: &Precondition,
    change: impl FnOnce(&UserRow) -> Result<Change, ScimError>,
) -> Result<Resource, ScimError> {
    let (row, memberships) = service.store.write_in(context.tenant_id, |conn| {
        let write = UserChange {
            action,
            request,
            id,
            precondition,
            caused_by: None,
        };
        let row = update_in(service, conn, context, write, change)?;
        let memberships = related_for_response(conn, context, &row)?;
        Ok::<_, ScimError>((row, memberships))
    })?;
    row.show(service, context.base, &memberships)
}

/// One user write: its audit action, the user, the `If-Match`, and the record that caused it
/// (none for a SCIM request, which is its own cause).
struct UserChange<'a> {
    action: &'static str,
    /// The PatchOp or PUT body: what a `full` provisioning event carries.
    request: &'a Value,
    id: &'a str,
    precondition: &'a Precondition,
    caused_by: Option<&'a str>,
}

/// `update`'s work inside the caller's transaction.
fn update_in(
    service: &ScimService,
    conn: &mut crate::store::Write,
    context: &Context,
    write: UserChange,
    change: impl FnOnce(&UserRow) -> Result<Change, ScimError>,
) -> Result<UserRow, ScimError> {
    let UserChange {
        action,
        request,
        id,
        precondition,
        caused_by,
    } = write;
    let tenant_id = context.tenant_id;
    let current = rows::get_for_update(conn, tenant_id, id)?.ok_or_else(|| not_found(id))?;
    precondition.check(current.version)?;
    let before = parse_attributes(&current.id, &current.attributes)?;
    let change = change(&current)?;
    check_immutable(
        service.registry.resource(ResourceKind::User),
        &before,
        &change.attributes,
    )?;
    let row = rows::update(conn, tenant_id, id, &change.row)
        .map_err(taken(&change.row.user_name))?
        .ok_or_else(|| not_found(id))?;
    index_matching(conn, service, &row, Indexed::Replacing(&current.search))?;
    let diff = audit::diff(&before, &change.attributes);
    let mut details = json!({"changed": diff.changed, "password_changed": change.password_set});
    let now = service.clock.now();
    let active = (current.active, row.active);
    let user_write = service
        .cascade
        .before_user_write(conn, tenant_id, id, active, now)?;
    if let (Some(Value::Object(about_active)), Some(details)) =
        (user_write.record_details(), details.as_object_mut())
    {
        details.extend(about_active);
    }
    let personal = json!({"before": diff.before, "after": diff.after});
    let mut event = context.event(action, ResourceKind::User, id, details, Some(personal));
    event.cause = caused_by.map(String::from);
    let recorded = audit::record(conn, tenant_id, now, event)?;
    let written = Written {
        schema: service.registry.resource(ResourceKind::User),
        id,
        external_id: row.external_id.as_deref(),
        operation: events::operation_of(action),
        attributes: diff.changed.clone(),
        data: Some(events::EventData::Request(request.clone())),
        version: row.version,
    };
    events::publish(conn, tenant_id, &recorded, now, written)?;
    // What the change causes is caused by what caused the change, when something did.
    let cause = caused_by.map_or(recorded, String::from);
    // Deactivation ends every session in this transaction; reactivation revives none.
    let fact = context.fact(&cause, now);
    service.cascade.user_written(conn, &fact, user_write)?;
    let roles = (
        direct_roles::roles_of(&before),
        direct_roles::roles_of(&change.attributes),
    );
    let written = direct_roles::RolesWritten {
        before: &roles.0,
        after: &roles.1,
        named: direct_roles::named_role_values(request),
        active_after: row.active,
    };
    direct_roles::settle(service, conn, context, id, written, &cause, now)?;
    Ok(row)
}

pub(super) fn delete(
    service: &ScimService,
    context: &Context,
    id: &str,
    precondition: &Precondition,
) -> Result<(), ScimError> {
    let tenant_id = context.tenant_id;
    let now = service.clock.now();
    service.store.write_in(context.tenant_id, |conn| {
        let current = rows::get_for_update(conn, tenant_id, id)?.ok_or_else(|| not_found(id))?;
        precondition.check(current.version)?;
        let groups_left: Vec<String> = related_of(conn, tenant_id, &current)?
            .into_iter()
            .map(|m| m.group_id)
            .collect();
        groups::touch_groups_of_member(conn, tenant_id, id, to_stored(now))?;
        rows::delete(conn, tenant_id, id)?;
        let details = json!({"groups_left": groups_left, "was_active": current.active});
        let personal = json!({"userName": current.user_name});
        let event = context.event(
            "user.delete",
            ResourceKind::User,
            id,
            details,
            Some(personal),
        );
        let cause = audit::record(conn, tenant_id, now, event)?;
        let written = Written {
            schema: service.registry.resource(ResourceKind::User),
            id,
            external_id: current.external_id.as_deref(),
            operation: ProvisioningOperation::Delete,
            attributes: Vec::new(),
            data: None,
            version: current.version,
        };
        events::publish(conn, tenant_id, &cause, now, written)?;
        let fact = context.fact(&cause, now);
        service
            .cascade
            .user_deleted(conn, &fact, id, current.active)?;
        Ok(())
    })
}

/// What the user's matching values were before this write.
enum Indexed<'a> {
    /// A user created in this write: there is nothing to replace.
    New,
    /// A user written before, whose search document was this: its values are replaced when
    /// they change (a deactivation or a `title` change leaves them as they are, and pays no
    /// statement for them).
    Replacing(&'a str),
}

/// Writes the values of the user's matching attributes (`scim::matching`), in the write's
/// transaction: the built-in e-mails and the tenant's configured attributes.
fn index_matching(
    conn: &mut crate::store::Write,
    service: &ScimService,
    row: &UserRow,
    indexed: Indexed<'_>,
) -> Result<(), ScimError> {
    let schema = service.registry.resource(ResourceKind::User);
    let configured: Vec<String> = match_values::configured_for_write(conn, &row.tenant_id)?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let attributes = matching::for_tenant(schema, &configured);
    let values_of = |search: &str| match serde_json::from_str::<Value>(search) {
        Ok(Value::Object(search)) => Ok(matching::values(&attributes, &search)),
        _ => Err(ScimError::Internal),
    };
    let values = values_of(&row.search)?;
    match indexed {
        Indexed::New => match_values::insert(conn, &row.tenant_id, &row.id, &values)?,
        Indexed::Replacing(before) if values_of(before)? == values => {}
        Indexed::Replacing(_) => match_values::replace(conn, &row.tenant_id, &row.id, &values)?,
    }
    Ok(())
}

fn not_found(id: &str) -> ScimError {
    ScimError::NotFound(format!("no user with id `{id}`"))
}

/// The attributes a user filter finds through an indexed column: name, sub-attribute,
/// column, storage. Every other attribute is filtered on the search document.
const FILTERABLE: [Filterable<UserColumn>; 5] = [
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
    const KIND: ResourceKind = ResourceKind::User;
    const DERIVED: &'static str = "groups";
    const SCHEMA: &'static str = USER_SCHEMA;
    const FILTERABLE: &'static [Filterable<UserColumn>] = &FILTERABLE;
    const MEMBERSHIP: &'static MembershipFields = &[
        ("value", Shown::Column(MemberField::GroupId)),
        ("display", Shown::Column(MemberField::GroupDisplayKey)),
        ("type", Shown::Constant("direct")),
    ];

    fn indexed(
        conn: &mut AnyConnection,
        tenant_id: &str,
        schema: &ResourceSchema,
    ) -> Result<Vec<MatchAttribute>, StoreError> {
        // Lookups use a configured attribute once every user's values are in.
        let ready: Vec<String> = match_values::configured(conn, tenant_id)?
            .into_iter()
            .filter_map(|(name, ready)| ready.then_some(name))
            .collect();
        Ok(matching::for_tenant(schema, &ready))
    }

    fn not_found(id: &str) -> ScimError {
        not_found(id)
    }

    fn cursor_key(&self, column: Option<UserColumn>) -> Result<Option<CursorKey>, ScimError> {
        match column {
            None | Some(UserColumn::Id) => Ok(None),
            Some(UserColumn::UserNameKey) => Ok(Some(CursorKey::Text(self.user_name_key.clone()))),
            Some(UserColumn::Created) => Ok(Some(CursorKey::Time(self.created))),
            Some(UserColumn::LastModified) => Ok(Some(CursorKey::Time(self.last_modified))),
            Some(_) => Err(ScimError::InvalidValue(
                "cursor pagination cannot follow this sortBy".into(),
            )),
        }
    }

    /// A group of the user's: its id, location and name.
    fn shown_related(membership: &MembershipOfUser, base: &str) -> Value {
        json!({
            "value": membership.group_id,
            "$ref": resource::location(base, ResourceKind::Group.endpoint(), &membership.group_id),
            "display": membership.group_display_name,
            "type": "direct",
        })
    }
}
