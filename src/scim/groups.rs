//! Groups: create, replace, patch and delete, and how a stored group is read and shown.
//! Members live in their own table; a write touches only the members that change.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::events::{self, Written};
use super::group_members::{
    Membership, check_members_exist, keys_of, member_ids, names_members, roles_before,
};
use super::membership_query::{MembershipFields, Shown};
use super::normalize::{check_immutable, fold, normalize};
use super::patch;
use super::query::{ColumnKind, Filterable};
use super::resource::{self, Precondition, Resource, parse_attributes};
use super::schema::{GROUP_SCHEMA, ResourceKind, ResourceSchema};
use super::search::search_document;
use super::service::{Context, ScimService};
use super::stored::{StoredResource, related_for_response};
use crate::audit;
use crate::outbox::ProvisioningOperation;
use crate::store::filter::CursorKey;
use crate::store::groups::{self as rows, GroupChanges, GroupColumn, GroupRow, Member};
use crate::store::membership::MemberField;
use crate::store::{AnyConnection, StoreError, tenants, to_stored};

/// A group's columns and its member ids, from the normalized attributes.
struct Columns {
    display_name: String,
    display_name_key: String,
    external_id: Option<String>,
    /// The stored document: every attribute but `members`.
    document: Map<String, Value>,
    search: String,
    members: BTreeSet<String>,
}

impl Columns {
    fn from_attributes(
        schema: &ResourceSchema,
        mut attributes: Map<String, Value>,
    ) -> Result<Self, ScimError> {
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
            display_name_key: fold(&display_name),
            external_id: text("externalId"),
            display_name,
            search: Value::Object(search_document(schema, &attributes)).to_string(),
            document: attributes,
            members,
        })
    }
}

/// The name a group writing `display_name_key` holds in its tenant. Where names are unique:
/// the key, which the unique index guards against concurrent writers, or a 409 when another
/// group has the name; but a write that keeps its name while a duplicate from before
/// uniqueness exists keeps working, holding nothing. Where duplicates are allowed: nothing.
fn held_name(
    conn: &mut AnyConnection,
    tenant_id: &str,
    display_name: &str,
    display_name_key: &str,
    current: Option<&GroupRow>,
) -> Result<Option<String>, ScimError> {
    if !tenants::unique_group_names(conn, tenant_id)? {
        return Ok(None);
    }
    let this = current.map(|group| group.id.as_str());
    if !rows::name_taken(conn, tenant_id, display_name_key, this)? {
        return Ok(Some(display_name_key.to_string()));
    }
    match current {
        Some(group) if group.display_name_key == display_name_key => Ok(None),
        _ => Err(name_taken(display_name)),
    }
}

fn name_taken(display_name: &str) -> ScimError {
    ScimError::Uniqueness(format!(
        "a group named `{display_name}` already exists (names compare case-insensitively)"
    ))
}

/// A unique-index violation on a group write: a concurrent writer took the name.
fn taken(display_name: &str) -> impl FnOnce(StoreError) -> ScimError + '_ {
    move |error| match error {
        StoreError::Conflict(_) => name_taken(display_name),
        other => other.into(),
    }
}

pub(super) fn create(
    service: &ScimService,
    context: &Context,
    body: &Value,
) -> Result<Resource, ScimError> {
    let schema = service.registry.resource(ResourceKind::Group);
    let columns =
        Columns::from_attributes(schema, normalize(schema, body, context.quirks)?.attributes)?;
    let tenant_id = context.tenant_id;
    let now = service.clock.now();
    let row = GroupRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        display_name: columns.display_name,
        display_name_key: columns.display_name_key,
        external_id: columns.external_id,
        attributes: Value::Object(columns.document.clone()).to_string(),
        search: columns.search.clone(),
        version: 1,
        created: to_stored(now),
        last_modified: to_stored(now),
        display_name_unique: None,
    };
    let new_members: Vec<String> = columns.members.into_iter().collect();
    service.store.write_in(context.tenant_id, |conn| {
        check_members_exist(conn, tenant_id, &new_members)?;
        let row = GroupRow {
            display_name_unique: held_name(
                conn,
                tenant_id,
                &row.display_name,
                &row.display_name_key,
                None,
            )?,
            ..row
        };
        rows::insert(conn, &row).map_err(taken(&row.display_name))?;
        rows::add_members(conn, tenant_id, &row.id, &new_members)?;
        let details = json!({"attributes": columns.document.keys().collect::<Vec<_>>(), "members_added": new_members});
        let personal = json!({"after": columns.document});
        let event = context.event("group.create", ResourceKind::Group, &row.id, details, Some(personal));
        let cause = audit::record(conn, tenant_id, now, event)?;
        let fact = context.fact(&cause, now);
        service.cascade.group_created(conn, &fact, &keys_of(&row))?;
        let members = related_for_response(conn, context, &row)?;
        let created = row.show(service, context.base, &members)?;
        let mut attributes: Vec<String> = vec!["id".into()];
        attributes.extend(columns.document.keys().cloned());
        if !new_members.is_empty() {
            attributes.push("members".into());
        }
        let written = Written {
            schema: service.registry.resource(ResourceKind::Group),
            id: &row.id,
            external_id: row.external_id.as_deref(),
            operation: ProvisioningOperation::Create,
            attributes,
            data: Some(events::EventData::Resource(created.body.clone())),
            version: row.version,
        };
        events::publish(conn, tenant_id, &cause, now, written)?;
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
    let schema = service.registry.resource(ResourceKind::Group);
    let columns =
        Columns::from_attributes(schema, normalize(schema, body, context.quirks)?.attributes)?;
    let membership = Membership::Replace(columns.members.clone());
    let answer = Answer::Whole;
    update(
        service,
        context,
        ("group.replace", body),
        id,
        precondition,
        answer,
        |_| Ok((columns, membership)),
    )
}

pub(super) fn patch(
    service: &ScimService,
    context: &Context,
    id: &str,
    body: &Value,
    precondition: &Precondition,
) -> Result<Resource, ScimError> {
    let schema = service.registry.resource(ResourceKind::Group);
    let (member_operations, other_operations): (Vec<_>, Vec<_>) =
        patch::parse(schema, body, context.quirks)?
            .into_iter()
            .partition(|o| names_members(&o.path));
    let mut membership = Membership::Change {
        add: BTreeSet::new(),
        remove: BTreeSet::new(),
    };
    let members = schema.attribute("members").ok_or(ScimError::Internal)?;
    for operation in &member_operations {
        membership.apply(operation, members, context.quirks)?;
    }
    update(
        service,
        context,
        ("group.patch", body),
        id,
        precondition,
        Answer::Bounded,
        |current| {
            let mut document = parse_attributes(&current.id, &current.attributes)?;
            patch::apply_all(schema, &mut document, &other_operations, context.quirks)?;
            let columns = Columns::from_attributes(
                schema,
                normalize(schema, &Value::Object(document), context.quirks)?.attributes,
            )?;
            Ok((columns, membership))
        },
    )
}

/// Most members a PATCH answer renders. A larger group is answered 204 No Content (RFC 7644
/// §3.5.2 allows it unless `attributes` was given), so a membership change costs the same
/// however large the group: Okta and Entra send no projection, and both accept 204.
const PATCH_ANSWER_MAX_MEMBERS: usize = 100;

/// How a write answers: with the whole group (PUT, which carries every member anyway), or
/// with a body bounded in size (PATCH).
#[derive(Clone, Copy)]
enum Answer {
    Whole,
    Bounded,
}

/// The members a write's answer shows; `None` for a bounded answer of a group with more
/// members than it may render, which then has no body.
fn members_for_answer(
    conn: &mut AnyConnection,
    context: &Context,
    row: &GroupRow,
    answer: Answer,
) -> Result<Option<Vec<Member>>, StoreError> {
    let asked_for = context.projection.names_attributes();
    if matches!(answer, Answer::Whole) || asked_for || !context.projection.includes("members") {
        return related_for_response(conn, context, row).map(Some);
    }
    let limit = PATCH_ANSWER_MAX_MEMBERS as i64 + 1;
    let members = rows::members_up_to(conn, context.tenant_id, &row.id, limit)?;
    Ok((members.len() <= PATCH_ANSWER_MAX_MEMBERS).then_some(members))
}

/// Read-modify-write of one group and its members in one transaction, under `If-Match`,
/// with its audit record.
fn update(
    service: &ScimService,
    context: &Context,
    (action, request): (&'static str, &Value),
    id: &str,
    precondition: &Precondition,
    answer: Answer,
    change: impl FnOnce(&GroupRow) -> Result<(Columns, Membership), ScimError>,
) -> Result<Resource, ScimError> {
    let tenant_id = context.tenant_id;
    let now = service.clock.now();
    let (row, members) = service.store.write_in(context.tenant_id, |conn| {
        let current = rows::get_for_update(conn, tenant_id, id)?.ok_or_else(|| not_found(id))?;
        precondition.check(current.version)?;
        let before = parse_attributes(&current.id, &current.attributes)?;
        let (columns, membership) = change(&current)?;
        check_immutable(
            service.registry.resource(ResourceKind::Group),
            &before,
            &columns.document,
        )?;
        let display_name_unique = held_name(
            conn,
            tenant_id,
            &columns.display_name,
            &columns.display_name_key,
            Some(&current),
        )?;
        let changes = GroupChanges {
            display_name: columns.display_name,
            display_name_key: columns.display_name_key,
            external_id: columns.external_id,
            attributes: Value::Object(columns.document.clone()).to_string(),
            search: columns.search.clone(),
            last_modified: to_stored(now),
            display_name_unique,
        };
        let roles = roles_before(
            &service.cascade,
            conn,
            tenant_id,
            &current,
            &changes,
            &membership,
        )?;
        let row = rows::update(conn, tenant_id, id, &changes)
            .map_err(taken(&changes.display_name))?
            .ok_or_else(|| not_found(id))?;
        let (added, removed) = membership.store(conn, tenant_id, id)?;
        let diff = audit::diff(&before, &columns.document);
        let details =
            json!({"changed": diff.changed, "members_added": added, "members_removed": removed});
        let personal = json!({"before": diff.before, "after": diff.after});
        let cause = audit::record(
            conn,
            tenant_id,
            now,
            context.event(action, ResourceKind::Group, id, details, Some(personal)),
        )?;
        let mut attributes = diff.changed.clone();
        if !added.is_empty() || !removed.is_empty() {
            attributes.push("members".into());
        }
        let written = Written {
            schema: service.registry.resource(ResourceKind::Group),
            id,
            external_id: row.external_id.as_deref(),
            operation: events::operation_of(action),
            attributes,
            data: Some(events::EventData::Request(request.clone())),
            version: row.version,
        };
        events::publish(conn, tenant_id, &cause, now, written)?;
        let fact = context.fact(&cause, now);
        let keys = (&keys_of(&current), &keys_of(&row));
        service
            .cascade
            .group_changed(conn, &fact, keys, roles, removed.len())?;
        let members = members_for_answer(conn, context, &row, answer)?;
        Ok::<_, ScimError>((row, members))
    })?;
    match members {
        Some(members) => row.show(service, context.base, &members),
        None => Ok(Resource {
            no_content: true,
            ..row.show(service, context.base, &[])?
        }),
    }
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
        // Every member loses this group: the record names them, and members who lose a role
        // with it lose the sessions carrying that role.
        let removed = rows::member_ids(conn, tenant_id, id)?;
        let keys = keys_of(&current);
        let roles = service
            .cascade
            .before_group_write(conn, tenant_id, (&keys, &keys), |_| Ok(removed.clone()))?;
        rows::delete(conn, tenant_id, id)?;
        let details = json!({"members_removed": removed});
        let personal = json!({"displayName": current.display_name});
        let cause = audit::record(
            conn,
            tenant_id,
            now,
            context.event(
                "group.delete",
                ResourceKind::Group,
                id,
                details,
                Some(personal),
            ),
        )?;
        let written = Written {
            schema: service.registry.resource(ResourceKind::Group),
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
            .group_deleted(conn, &fact, roles, removed.len())?;
        Ok(())
    })
}

fn not_found(id: &str) -> ScimError {
    ScimError::NotFound(format!("no group with id `{id}`"))
}

/// The attributes a group filter finds through an indexed column: name, sub-attribute,
/// column, storage. Every other attribute is filtered on the search document.
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
    const KIND: ResourceKind = ResourceKind::Group;
    const DERIVED: &'static str = "members";
    const SCHEMA: &'static str = GROUP_SCHEMA;
    const FILTERABLE: &'static [Filterable<GroupColumn>] = &FILTERABLE;
    const MEMBERSHIP: &'static MembershipFields = &[
        ("value", Shown::Column(MemberField::UserId)),
        ("type", Shown::Constant("User")),
        ("display", Shown::Absent),
    ];

    fn not_found(id: &str) -> ScimError {
        not_found(id)
    }

    fn cursor_key(&self, column: Option<GroupColumn>) -> Result<Option<CursorKey>, ScimError> {
        match column {
            None | Some(GroupColumn::Id) => Ok(None),
            Some(GroupColumn::DisplayNameKey) => {
                Ok(Some(CursorKey::Text(self.display_name_key.clone())))
            }
            Some(GroupColumn::Created) => Ok(Some(CursorKey::Time(self.created))),
            Some(GroupColumn::LastModified) => Ok(Some(CursorKey::Time(self.last_modified))),
            Some(_) => Err(ScimError::InvalidValue(
                "cursor pagination cannot follow this sortBy".into(),
            )),
        }
    }

    /// A member: the user's id and location.
    fn shown_related(member: &Member, base: &str) -> Value {
        json!({
            "value": member.user_id,
            "$ref": resource::location(base, ResourceKind::User.endpoint(), &member.user_id),
            "type": "User",
        })
    }
}
