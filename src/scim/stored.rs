//! What users and groups share when they are read: one by id, or a filtered page. Each
//! resource type says how its rows are fetched and shown; the flow is written once here.

use serde_json::{Value, json};

use super::cursor::{self, Position};
use super::error::ScimError;
use super::list::{ListRequest, list_response};
use super::matching::MatchAttribute;
use super::membership_query::MembershipFields;
use super::page_memo::{Continuation, PageKey};
use super::query::{Filterable, Target, resolve, to_condition, uses_indexed};
use super::resource::{self, Resource, parse_attributes};
use super::schema::LIST_RESPONSE_SCHEMA;
use super::schema::{ResourceKind, ResourceSchema};
use super::service::{Context, ScimService};
use crate::store::audit;
use crate::store::filter::{Condition, CursorKey, Sort};
use crate::store::from_stored;
use crate::store::{AnyConnection, ResourceTable, StoreError, WithRelated};

pub(super) trait StoredResource: ResourceTable {
    const KIND: ResourceKind;
    /// The core schema, which qualified attribute names in filters must name.
    const SCHEMA: &'static str;
    /// The attribute shown from the related rows (`groups`, `members`).
    const DERIVED: &'static str;
    /// The attributes a filter can use.
    const FILTERABLE: &'static [Filterable<Self::Column>];
    /// The sub-attributes of `DERIVED` a filter can use, from the membership table.
    const MEMBERSHIP: &'static MembershipFields;

    /// Attributes whose values are indexed for lookups (`scim::matching`).
    fn indexed(
        _conn: &mut AnyConnection,
        _tenant_id: &str,
        _schema: &ResourceSchema,
    ) -> Result<Vec<MatchAttribute>, StoreError> {
        Ok(Vec::new())
    }

    fn not_found(id: &str) -> ScimError;
    /// The value of the sort column that a cursor records (none when sorted by id); an error
    /// for a sort column cursors cannot follow.
    fn cursor_key(&self, column: Option<Self::Column>) -> Result<Option<CursorKey>, ScimError>;
    /// One related row as the representation shows it under `DERIVED`.
    fn shown_related(related: &Self::Related, base: &str) -> Value;
    /// The representation, given this resource's related rows only.
    fn show(
        &self,
        service: &ScimService,
        base: &str,
        related: &[Self::Related],
    ) -> Result<Resource, ScimError> {
        let attributes = parse_attributes(self.id(), self.document())?;
        let meta = self.meta();
        let stamp = resource::Stamp {
            id: self.id().to_string(),
            version: meta.version,
            created: from_stored(meta.created),
            last_modified: from_stored(meta.last_modified),
        };
        let shown = related
            .iter()
            .map(|r| Self::shown_related(r, base))
            .collect();
        Ok(resource::render(
            service.registry.resource(Self::KIND),
            base,
            &stamp,
            attributes,
            vec![(Self::DERIVED, Value::Array(shown))],
        ))
    }
}

/// The related rows of one resource, read in the caller's transaction.
pub(super) fn related_of<R: StoredResource>(
    conn: &mut AnyConnection,
    tenant_id: &str,
    row: &R,
) -> Result<Vec<R::Related>, StoreError> {
    R::related(conn, tenant_id, &[row.id().to_string()])
}

/// The related rows a write's response shows: none when the projection drops them, so a
/// membership PATCH with `excludedAttributes=members` never reads the member list.
pub(super) fn related_for_response<R: StoredResource>(
    conn: &mut AnyConnection,
    context: &Context,
    row: &R,
) -> Result<Vec<R::Related>, StoreError> {
    if context.projection.includes(R::DERIVED) {
        related_of(conn, context.tenant_id, row)
    } else {
        Ok(Vec::new())
    }
}

pub(super) fn get<R: StoredResource>(
    service: &ScimService,
    context: &Context,
    id: &str,
) -> Result<Resource, ScimError> {
    let tenant_id = context.tenant_id;
    let with_related = context.projection.includes(R::DERIVED);
    let (row, related) = service.store.read(|conn| {
        let found = if with_related {
            R::get_with_related(conn, tenant_id, id)?
        } else {
            R::get(conn, tenant_id, id)?.map(|row| (row, Vec::new()))
        };
        found.ok_or_else(|| R::not_found(id))
    })?;
    row.show(service, context.base, &related)
}

/// A list request turned into a condition and a sort order for one resource type.
struct Plan<C> {
    condition: Option<Condition<C>>,
    sort: Option<Sort<C>>,
}

fn plan<R: StoredResource>(
    service: &ScimService,
    context: &Context,
    request: &ListRequest,
) -> Result<Plan<R::Column>, ScimError> {
    let schema = service.registry.resource(R::KIND);
    let filterable = |path: &_| resolve(path, R::SCHEMA, R::FILTERABLE);
    let indexed = match &request.filter {
        Some(filter) if uses_indexed(filter, &filterable) => service
            .store
            .read(|conn| R::indexed(conn, context.tenant_id, schema))?,
        _ => Vec::new(),
    };
    let target = Target {
        columns: &filterable,
        schema,
        derived: R::DERIVED,
        membership: R::MEMBERSHIP,
        indexed: &indexed,
    };
    let condition = request
        .filter
        .as_ref()
        .map(|f| to_condition(f, &target))
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
    Ok(Plan { condition, sort })
}

fn count<R: StoredResource>(
    conn: &mut AnyConnection,
    tenant_id: &str,
    plan: &Plan<R::Column>,
) -> Result<i64, ScimError> {
    Ok(R::count(conn, tenant_id, plan.condition.as_ref())?)
}

/// One page, rendered and projected.
fn page<R: StoredResource>(
    conn: &mut AnyConnection,
    service: &ScimService,
    context: &Context,
    plan: &Plan<R::Column>,
    offset: i64,
    limit: i64,
) -> Result<Vec<Value>, ScimError> {
    let rows = read_page::<R>(
        conn,
        context,
        plan.condition.as_ref(),
        plan.sort,
        offset,
        limit,
    )?;
    render(service, context, &rows)
}

/// A page of rows with their related rows (members), read for these rows only, and not at
/// all when the projection drops them (`excludedAttributes=members`); nothing is read for a
/// page of no rows (`count=0` asks for the total alone).
fn read_page<R: StoredResource>(
    conn: &mut AnyConnection,
    context: &Context,
    condition: Option<&Condition<R::Column>>,
    sort: Option<Sort<R::Column>>,
    offset: i64,
    limit: i64,
) -> Result<Vec<WithRelated<R>>, StoreError> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let tenant_id = context.tenant_id;
    if context.projection.includes(R::DERIVED) {
        return R::page_with_related(conn, tenant_id, condition, sort, offset, limit);
    }
    let rows = R::page(conn, tenant_id, condition, sort, offset, limit)?;
    Ok(rows.into_iter().map(|row| (row, Vec::new())).collect())
}

/// Rows rendered and projected.
fn render<R: StoredResource>(
    service: &ScimService,
    context: &Context,
    rows: &[WithRelated<R>],
) -> Result<Vec<Value>, ScimError> {
    let schema = service.registry.resource(R::KIND);
    rows.iter()
        .map(|(row, related)| {
            let mut body = row.show(service, context.base, related)?.body;
            context.projection.apply(schema, &mut body);
            Ok(body)
        })
        .collect()
}

/// A filtered, sorted page of one resource type, by index or (RFC 9865) by cursor.
pub(super) fn list<R: StoredResource>(
    service: &ScimService,
    context: &Context,
    request: &ListRequest,
) -> Result<Value, ScimError> {
    let plan = plan::<R>(service, context, request)?;
    if let Some(cursor) = &request.cursor {
        return list_by_cursor::<R>(service, context, request, plan, cursor);
    }
    let remembers = !request.is_point_lookup() && request.count > 0;
    let (total, resources) = service.store.read(|conn| {
        // A point lookup remembers nothing: it reads no head and computes no digest.
        let memo = match remembers {
            true => Some(Stamp {
                tenant_id: context.tenant_id,
                query: query_fingerprint::<R>(request),
                version: audit::head(conn, context.tenant_id)?.map(|head| head.hash),
            }),
            false => None,
        };
        let offset = request.offset();
        let continued = memo.as_ref().and_then(|memo| {
            let key = memo.key(offset);
            service.pages.continuation(&key, memo.version.as_deref())
        });
        let rows = match &continued {
            Some(continuation) => {
                let after = after_position(&plan, request, continuation.position.clone());
                read_page::<R>(conn, context, after.as_ref(), plan.sort, 0, request.count)?
            }
            None => read_page::<R>(
                conn,
                context,
                plan.condition.as_ref(),
                plan.sort,
                offset,
                request.count,
            )?,
        };
        let total = match (known_total(offset, request.count, rows.len()), &continued) {
            (Some(total), _) => total,
            (None, Some(continuation)) => continuation.total,
            (None, None) => count::<R>(conn, context.tenant_id, &plan)?,
        };
        if let Some(memo) = memo
            && rows.len() as i64 == request.count
            && let Some((last, _)) = rows.last()
            && let Ok(key) = last.cursor_key(plan.sort.map(|s| s.column))
        {
            let position = Position {
                id: last.id().to_string(),
                key,
            };
            let next = memo.key(offset + request.count);
            let version = memo.version;
            let continuation = Continuation {
                position,
                total,
                version,
            };
            service.pages.remember(next, continuation);
        }
        Ok::<_, ScimError>((total, render(service, context, &rows)?))
    })?;
    Ok(list_response(total, request.start_index, resources))
}

/// A list as the page memo knows it: tenant, query digest, and the tenant's audit head
/// (its hash) read before the page.
struct Stamp<'a> {
    tenant_id: &'a str,
    query: String,
    version: Option<String>,
}

impl Stamp<'_> {
    fn key(&self, offset: i64) -> PageKey {
        PageKey {
            tenant_id: self.tenant_id.to_string(),
            query: self.query.clone(),
            offset,
        }
    }
}

/// What defines a list's order and content, as a short digest: a cursor or a remembered
/// page continues only the query that made it.
fn query_fingerprint<R: StoredResource>(request: &ListRequest) -> String {
    let query = format!(
        "{:?}|{:?}|{:?}|{}",
        R::KIND,
        request.filter,
        request.sort_by,
        request.descending
    );
    cursor::fingerprint(&query)
}

/// The plan's condition and the rows after `position` in its order.
fn after_position<C: Copy>(
    plan: &Plan<C>,
    request: &ListRequest,
    position: Position,
) -> Option<Condition<C>> {
    let after = Condition::After {
        column: plan.sort.map(|s| s.column),
        descending: request.descending,
        key: position.key,
        id: position.id,
    };
    match plan.condition.clone() {
        Some(filter) => Some(Condition::And(Box::new(filter), Box::new(after))),
        None => Some(after),
    }
}

/// The total a page already tells, without counting: a page shorter than asked is the end of
/// the list, so the total is the rows before it plus its own (at the start, a lookup that
/// matched one user or none). A full page, or an empty one past the start (the offset may lie
/// beyond the end), needs a count.
fn known_total(offset: i64, count: i64, rows: usize) -> Option<i64> {
    let rows = rows as i64;
    (count > 0 && rows < count && (offset == 0 || rows > 0)).then_some(offset + rows)
}

/// Keyset pagination: the page after the cursor's position, and a cursor for the next one
/// unless this is the last page. A page deep in the list costs what the first one costs.
fn list_by_cursor<R: StoredResource>(
    service: &ScimService,
    context: &Context,
    request: &ListRequest,
    plan: Plan<R::Column>,
    cursor: &str,
) -> Result<Value, ScimError> {
    let fingerprint = query_fingerprint::<R>(request);
    let column = plan.sort.map(|s| s.column);
    let position = if cursor.trim().is_empty() {
        None
    } else {
        Some(cursor::decode(cursor, &fingerprint)?)
    };
    let first_page = position.is_none();
    let condition = match position {
        Some(position) => after_position(&plan, request, position),
        None => plan.condition.clone(),
    };
    let (total, resources, next) = service.store.read(|conn| {
        // The list's total, kept at the audit head it was counted at (read only when the
        // page does not tell the total itself).
        let total_of = |conn: &mut AnyConnection| {
            let stamp = Stamp {
                tenant_id: context.tenant_id,
                query: fingerprint.clone(),
                version: audit::head(conn, context.tenant_id)?.map(|head| head.hash),
            };
            let key = stamp.key(0);
            match service.pages.total(&key, stamp.version.as_deref()) {
                Some(total) => Ok::<_, ScimError>(total),
                None => {
                    let total = count::<R>(conn, context.tenant_id, &plan)?;
                    service.pages.remember_total(key, total, stamp.version);
                    Ok(total)
                }
            }
        };
        if request.count == 0 {
            let total = total_of(conn)?;
            return Ok::<_, ScimError>((total, Vec::new(), None));
        }
        let mut rows = read_page::<R>(
            conn,
            context,
            condition.as_ref(),
            plan.sort,
            0,
            request.count + 1,
        )?;
        let more = rows.len() as i64 > request.count;
        rows.truncate(request.count as usize);
        let next = match rows.last() {
            Some((last, _)) if more => {
                let position = Position {
                    id: last.id().to_string(),
                    key: last.cursor_key(column)?,
                };
                Some(cursor::encode(&position, &fingerprint))
            }
            _ => None,
        };
        // The first page without a next one holds the whole list.
        let total = match (first_page, &next) {
            (true, None) => rows.len() as i64,
            _ => total_of(conn)?,
        };
        Ok((total, render(service, context, &rows)?, next))
    })?;
    let mut response = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if let Some(next) = next {
        response["nextCursor"] = Value::String(next);
    }
    Ok(response)
}

/// A plan, or `None` when the request names attributes this type does not have.
fn applicable<C>(result: Result<Plan<C>, ScimError>) -> Result<Option<Plan<C>>, ScimError> {
    match result {
        Ok(plan) => Ok(Some(plan)),
        Err(ScimError::InvalidFilter(_) | ScimError::InvalidValue(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// `POST /.search` at the root (RFC 7644 §3.4.3): users, then groups, paged as one list. A
/// type whose attributes the filter does not have contributes nothing.
pub(super) fn search_all<U: StoredResource, G: StoredResource>(
    service: &ScimService,
    context: &Context,
    request: &ListRequest,
) -> Result<Value, ScimError> {
    let (users, groups) = (
        applicable(plan::<U>(service, context, request))?,
        applicable(plan::<G>(service, context, request))?,
    );
    if users.is_none() && groups.is_none() {
        // Neither type can answer: report why, as for a single type.
        plan::<U>(service, context, request)?;
    }
    let (total, resources) = service.store.read(|conn| {
        let user_total = users
            .as_ref()
            .map(|p| count::<U>(conn, context.tenant_id, p))
            .transpose()?
            .unwrap_or(0);
        let group_total = groups
            .as_ref()
            .map(|p| count::<G>(conn, context.tenant_id, p))
            .transpose()?
            .unwrap_or(0);
        let (offset, limit) = (request.offset(), request.count);
        let mut resources = match &users {
            Some(plan) => page::<U>(
                conn,
                service,
                context,
                plan,
                offset,
                limit.min(user_total - offset),
            )?,
            None => Vec::new(),
        };
        let remaining = limit - resources.len() as i64;
        if let Some(plan) = &groups {
            let group_offset = (offset - user_total).max(0);
            resources.extend(page::<G>(
                conn,
                service,
                context,
                plan,
                group_offset,
                remaining,
            )?);
        }
        Ok::<_, ScimError>((user_total + group_total, resources))
    })?;
    Ok(list_response(total, request.start_index, resources))
}

#[cfg(test)]
mod tests {
    use super::known_total;

    #[test]
    fn a_short_page_tells_the_total_and_a_full_or_empty_deep_one_does_not() {
        assert_eq!(known_total(0, 100, 1), Some(1), "a lookup that matched one");
        assert_eq!(
            known_total(0, 100, 0),
            Some(0),
            "a lookup that matched none"
        );
        assert_eq!(known_total(200, 100, 7), Some(207), "the last page");
        assert_eq!(
            known_total(0, 100, 100),
            None,
            "a full page: there may be more"
        );
        assert_eq!(
            known_total(500, 100, 0),
            None,
            "past the end: the total is unknown"
        );
        assert_eq!(
            known_total(0, 0, 0),
            None,
            "count=0 asks for the total alone"
        );
    }
}
