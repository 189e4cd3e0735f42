//! What users and groups share when they are read: one by id, or a filtered page. Each
//! resource type says how its rows are fetched and shown; the flow is written once here.

use serde_json::Value;

use super::error::ScimError;
use super::list::{ListRequest, group_by, list_response};
use super::query::{Filterable, resolve, to_condition};
use super::resource::Resource;
use super::schema::ResourceKind;
use super::service::{Context, ScimService};
use crate::store::filter::{Condition, Sort};
use crate::store::{AnyConnection, StoreError};

pub(super) trait StoredResource: Sized {
    type Column: Copy + 'static;
    /// Rows computed at read time (memberships), each naming the resource it belongs to.
    type Related;
    const KIND: ResourceKind;
    /// The core schema, which qualified attribute names in filters must name.
    const SCHEMA: &'static str;
    /// The attribute shown from the related rows (`groups`, `members`).
    const DERIVED: &'static str;
    /// The attributes a filter can use.
    const FILTERABLE: &'static [Filterable<Self::Column>];

    fn id(&self) -> &str;
    fn not_found(id: &str) -> ScimError;
    fn fetch(
        conn: &mut AnyConnection,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<Self>, StoreError>;
    fn count(
        conn: &mut AnyConnection,
        tenant_id: &str,
        condition: Option<&Condition<Self::Column>>,
    ) -> Result<i64, StoreError>;
    fn page(
        conn: &mut AnyConnection,
        tenant_id: &str,
        condition: Option<&Condition<Self::Column>>,
        sort: Option<Sort<Self::Column>>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError>;
    fn related(
        conn: &mut AnyConnection,
        tenant_id: &str,
        ids: &[String],
    ) -> Result<Vec<Self::Related>, StoreError>;
    fn owner(related: &Self::Related) -> &str;
    /// The representation, given this resource's related rows only.
    fn show(
        &self,
        service: &ScimService,
        base: &str,
        related: &[Self::Related],
    ) -> Result<Resource, ScimError>;
}

/// The related rows of one resource, read in the caller's transaction.
pub(super) fn related_of<R: StoredResource>(
    conn: &mut AnyConnection,
    tenant_id: &str,
    row: &R,
) -> Result<Vec<R::Related>, StoreError> {
    R::related(conn, tenant_id, &[row.id().to_string()])
}

pub(super) fn get<R: StoredResource>(
    service: &ScimService,
    context: &Context,
    id: &str,
) -> Result<Resource, ScimError> {
    let tenant_id = context.tenant_id;
    let with_related = context.projection.includes(R::DERIVED);
    let (row, related) = service.store.read(|conn| {
        let row = R::fetch(conn, tenant_id, id)?.ok_or_else(|| R::not_found(id))?;
        let related = if with_related {
            related_of(conn, tenant_id, &row)?
        } else {
            Vec::new()
        };
        Ok::<_, ScimError>((row, related))
    })?;
    row.show(service, context.base, &related)
}

/// A filtered page. Related rows (members) are read for the page only, and not at all when
/// the projection drops them (`excludedAttributes=members`).
pub(super) fn list<R: StoredResource>(
    service: &ScimService,
    context: &Context,
    request: &ListRequest,
) -> Result<Value, ScimError> {
    let tenant_id = context.tenant_id;
    let with_related = context.projection.includes(R::DERIVED);
    let filterable = |path: &_| resolve(path, R::SCHEMA, R::FILTERABLE);
    let condition = request
        .filter
        .as_ref()
        .map(|f| to_condition(f, &filterable))
        .transpose()?;
    let sort = match &request.sort_by {
        Some(path) => {
            let (column, _) = filterable(path)
                .ok_or_else(|| ScimError::InvalidValue(format!("cannot sort by `{path}`")))?;
            Some(Sort {
                column,
                descending: request.descending,
            })
        }
        None => None,
    };
    let (total, page, related) = service.store.read(|conn| {
        let total = R::count(conn, tenant_id, condition.as_ref())?;
        let page = R::page(
            conn,
            tenant_id,
            condition.as_ref(),
            sort,
            request.offset(),
            request.count,
        )?;
        let ids: Vec<String> = page.iter().map(|row| row.id().to_string()).collect();
        let related = if with_related {
            R::related(conn, tenant_id, &ids)?
        } else {
            Vec::new()
        };
        Ok::<_, ScimError>((total, page, related))
    })?;
    let by_owner = group_by(related, |r| R::owner(r).to_string());
    let schema = service.registry.resource(R::KIND);
    let resources = page
        .iter()
        .map(|row| {
            let related = by_owner.get(row.id()).map_or(&[][..], Vec::as_slice);
            let mut body = row.show(service, context.base, related)?.body;
            context.projection.apply(schema, &mut body);
            Ok(body)
        })
        .collect::<Result<Vec<_>, ScimError>>()?;
    Ok(list_response(total, request.start_index, resources))
}
