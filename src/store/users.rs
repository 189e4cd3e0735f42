//! Users. Indexed columns (`user_name_key`, `external_id`) serve lookups; `attributes` holds
//! the normalized SCIM document, the source of truth for everything else.

use chrono::NaiveDateTime;
use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::Text;

use super::filter::{
    self, Condition, CursorKey, Db, Predicate, Sort, after_predicate, nullable_text_predicate,
    order_by, order_by_nullable, order_predicate, text_predicate,
};
use super::membership::{MemberPredicate, Side, pair_by_owner};
use super::schema::{group_members, groups, users};
use super::{AnyConnection, StoreError};

/// The columns a filter on users can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserColumn {
    Id,
    /// `userName`, lower-cased: compared case-insensitively.
    UserNameKey,
    ExternalId,
    Created,
    LastModified,
}

fn leaf(condition: &Condition<UserColumn>, tenant_id: &str) -> Predicate<users::table> {
    use diesel::dsl::{not, sql};
    use diesel::sql_types::Bool;
    match condition {
        Condition::Text {
            column: UserColumn::Id,
            op,
            value,
        } => text_predicate!(users::id, op, value),
        Condition::Text {
            column: UserColumn::UserNameKey,
            op,
            value,
        } => text_predicate!(users::user_name_key, op, value),
        Condition::Text {
            column: UserColumn::ExternalId,
            op,
            value,
        } => nullable_text_predicate!(users::external_id, op, value),
        Condition::Time {
            column: UserColumn::Created,
            op,
            value,
        } => order_predicate!(users::created, op, value),
        Condition::Time {
            column: UserColumn::LastModified,
            op,
            value,
        } => order_predicate!(users::last_modified, op, value),
        Condition::Present(UserColumn::ExternalId) => Box::new(
            users::external_id
                .is_not_null()
                .and(users::external_id.assume_not_null().ne("")),
        ),
        Condition::Present(_) => Box::new(not(sql::<Bool>("1 = 0"))),
        Condition::After {
            column: None, id, ..
        } => Box::new(users::id.gt(id.clone())),
        Condition::After {
            column: Some(UserColumn::Id),
            descending,
            id,
            ..
        } => {
            if *descending {
                Box::new(users::id.lt(id.clone()))
            } else {
                Box::new(users::id.gt(id.clone()))
            }
        }
        Condition::After {
            column: Some(UserColumn::UserNameKey),
            descending,
            key: Some(CursorKey::Text(key)),
            id,
        } => {
            after_predicate!(users::user_name_key, key, users::id, id, *descending)
        }
        Condition::After {
            column: Some(UserColumn::Created),
            descending,
            key: Some(CursorKey::Time(key)),
            id,
        } => {
            after_predicate!(users::created, key, users::id, id, *descending)
        }
        Condition::After {
            column: Some(UserColumn::LastModified),
            descending,
            key: Some(CursorKey::Time(key)),
            id,
        } => {
            after_predicate!(users::last_modified, key, users::id, id, *descending)
        }
        Condition::Membership(test) => Box::new(MemberPredicate {
            side: Side::User,
            tenant_id: tenant_id.to_string(),
            test: test.clone(),
        }),
        Condition::Matches { attribute, value } => {
            super::match_values::users_with(tenant_id, attribute, value)
        }
        // The SCIM layer only builds the leaves above; anything else matches nothing.
        _ => Box::new(sql::<Bool>("1 = 0")),
    }
}

fn sorted(
    query: users::BoxedQuery<'static, Db>,
    sort: Option<Sort<UserColumn>>,
) -> users::BoxedQuery<'static, Db> {
    let Some(sort) = sort else {
        return query.order(users::id.asc());
    };
    let query = match sort.column {
        UserColumn::Id => order_by!(query, users::id, sort.descending),
        UserColumn::UserNameKey => order_by!(query, users::user_name_key, sort.descending),
        UserColumn::ExternalId => order_by_nullable!(query, users::external_id, sort.descending),
        UserColumn::Created => order_by!(query, users::created, sort.descending),
        UserColumn::LastModified => order_by!(query, users::last_modified, sort.descending),
    };
    query.then_order_by(users::id.asc())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub tenant_id: String,
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub attributes: String,
    pub version: i64,
    pub created: NaiveDateTime,
    pub last_modified: NaiveDateTime,
    /// The attributes as filters see them (`scim::search`).
    pub search: String,
}

/// What a replace writes; the version is incremented by the database itself, so two
/// concurrent writers can never produce the same version.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserChanges {
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub attributes: String,
    pub search: String,
    pub last_modified: NaiveDateTime,
}

/// A group a user belongs to, for the user's read-only `groups` attribute.
#[derive(Debug, Clone, Queryable)]
pub struct MembershipOfUser {
    pub user_id: String,
    pub group_id: String,
    pub group_display_name: String,
}

super::resource_table::resource_table!(
    users, UserRow, UserChanges, UserColumn,
    related: memberships -> MembershipOfUser by user_id,
    with_related: page_with_groups, get_with_groups
);

/// One page of a tenant's users that match `condition`, in a stable order (ids are
/// time-ordered UUIDv7). The users of one group are read in the membership index's order
/// (`group_users`), so such a page costs the page, however large the group.
pub fn page(
    conn: &mut AnyConnection,
    tenant_id: &str,
    condition: Option<&Condition<UserColumn>>,
    sort: Option<Sort<UserColumn>>,
    offset: i64,
    limit: i64,
) -> Result<Vec<UserRow>, StoreError> {
    if let Some(query) = super::group_users::one_group(condition, sort) {
        return query.page(conn, tenant_id, offset, limit);
    }
    page_matching(conn, tenant_id, condition, sort, offset, limit)
}

/// How many of a tenant's users match `condition`; the users of one group are counted from
/// the group's kept member count.
pub fn count(
    conn: &mut AnyConnection,
    tenant_id: &str,
    condition: Option<&Condition<UserColumn>>,
) -> Result<i64, StoreError> {
    if let Some(query) = super::group_users::one_group(condition, None) {
        return query.count(conn, tenant_id);
    }
    count_matching(conn, tenant_id, condition)
}

/// Those of `ids` that name users of this tenant.
pub fn existing_ids(
    conn: &mut AnyConnection,
    tenant_id: &str,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::MAX_BOUND_IDS) {
        found.extend(
            users::table
                .filter(users::tenant_id.eq(tenant_id))
                .filter(users::id.eq_any(chunk))
                .select(users::id)
                .load::<String>(conn)?,
        );
    }
    Ok(found)
}

/// A user's groups on Postgres, as one JSON text column beside the user's own:
/// `[[id, displayName], …]` in id order, so a lookup and its groups are one statement and one
/// round trip. Written as an expression of its own, not `dsl::sql`, because diesel keeps no
/// prepared statement for a query holding literal SQL: each lookup would be parsed and
/// planned anew. `COLLATE "default"`: `users.id` is in the C collation and the membership
/// index in the default one; compared in C, the index could not serve it and every lookup
/// would scan the memberships (decision 64).
#[derive(Debug, Clone, Copy)]
struct GroupsAsJson;

impl Expression for GroupsAsJson {
    type SqlType = Text;
}
impl AppearsOnTable<users::table> for GroupsAsJson {}
impl SelectableExpression<users::table> for GroupsAsJson {}
impl ValidGrouping<()> for GroupsAsJson {
    type IsAggregate = is_aggregate::Never;
}
impl QueryId for GroupsAsJson {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}
impl QueryFragment<Db> for GroupsAsJson {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Db>) -> QueryResult<()> {
        out.push_sql(
            "(SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name) ORDER BY g.id)::text, '[]') \
             FROM group_members gm JOIN groups g ON g.id = gm.group_id \
             WHERE gm.tenant_id = users.tenant_id AND gm.user_id = users.id COLLATE \"default\")",
        );
        Ok(())
    }
}

/// One page of users with each one's groups (what `page` and `memberships` read together).
/// On Postgres one statement (`GroupsAsJson`); on SQLite, where a statement costs no round
/// trip, the page and then the groups of its users, each compiled once.
pub fn page_with_groups(
    conn: &mut AnyConnection,
    tenant_id: &str,
    condition: Option<&Condition<UserColumn>>,
    sort: Option<Sort<UserColumn>>,
    offset: i64,
    limit: i64,
) -> Result<Vec<(UserRow, Vec<MembershipOfUser>)>, StoreError> {
    let one_group = super::group_users::one_group(condition, sort).is_some();
    if one_group || matches!(conn, AnyConnection::Sqlite(_)) {
        let rows = page(conn, tenant_id, condition, sort, offset, limit)?;
        return with_groups(conn, tenant_id, rows);
    }
    let query =
        sorted(matching(tenant_id, condition), sort).select((UserRow::as_select(), GroupsAsJson));
    let rows: Vec<(UserRow, String)> =
        super::paging::Literal::new(query, offset, limit).load(conn)?;
    rows.into_iter()
        .map(|(row, groups)| {
            let groups = groups_from_json(&row.id, &groups)?;
            Ok((row, groups))
        })
        .collect()
}

/// A user by id with their groups, as `page_with_groups` reads them.
pub fn get_with_groups(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
) -> Result<Option<(UserRow, Vec<MembershipOfUser>)>, StoreError> {
    let by_id = Condition::Text {
        column: UserColumn::Id,
        op: filter::TextOp::Eq,
        value: id.to_string(),
    };
    Ok(page_with_groups(conn, tenant_id, Some(&by_id), None, 0, 1)?
        .into_iter()
        .next())
}

/// Rows paired with their groups, read in one statement per chunk of ids.
fn with_groups(
    conn: &mut AnyConnection,
    tenant_id: &str,
    rows: Vec<UserRow>,
) -> Result<Vec<(UserRow, Vec<MembershipOfUser>)>, StoreError> {
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let groups = memberships(conn, tenant_id, &ids)?;
    Ok(pair_by_owner(rows, groups, |r| &r.id, |m| &m.user_id))
}

fn groups_from_json(user_id: &str, text: &str) -> Result<Vec<MembershipOfUser>, StoreError> {
    let pairs: Vec<(String, String)> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("the groups of user {user_id}: {e}")))?;
    Ok(pairs
        .into_iter()
        .map(|(group_id, group_display_name)| MembershipOfUser {
            user_id: user_id.to_string(),
            group_id,
            group_display_name,
        })
        .collect())
}

/// The groups of each of `user_ids`, in one query per chunk of ids.
pub fn memberships(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_ids: &[String],
) -> Result<Vec<MembershipOfUser>, StoreError> {
    // One user (a lookup's answer) on SQLite: a statement of fixed shape, compiled once and
    // kept (an `IN` list is compiled anew each time). SQLite plans without table sizes, so a
    // kept plan cannot go stale as tables grow; on Postgres the list form, planned each time
    // for the tables as they are, serves one user as well (decision 61).
    if let ([user_id], AnyConnection::Sqlite(_)) = (user_ids, &*conn) {
        return Ok(group_members::table
            .inner_join(groups::table.on(groups::id.eq(group_members::group_id)))
            .filter(group_members::tenant_id.eq(tenant_id))
            .filter(group_members::user_id.eq(user_id))
            .order(groups::id.asc())
            .select((group_members::user_id, groups::id, groups::display_name))
            .load::<MembershipOfUser>(conn)?);
    }
    let mut found = Vec::new();
    for chunk in user_ids.chunks(super::MAX_BOUND_IDS) {
        found.extend(
            group_members::table
                .inner_join(groups::table.on(groups::id.eq(group_members::group_id)))
                .filter(group_members::tenant_id.eq(tenant_id))
                .filter(group_members::user_id.eq_any(chunk))
                .order((group_members::user_id.asc(), groups::id.asc()))
                .select((group_members::user_id, groups::id, groups::display_name))
                .load::<MembershipOfUser>(conn)?,
        );
    }
    Ok(found)
}

/// The users whose `column` equals `value` (at most two: a caller wants exactly one).
pub fn find_by(
    conn: &mut AnyConnection,
    tenant_id: &str,
    column: UserColumn,
    value: &str,
) -> Result<Vec<UserRow>, StoreError> {
    let query = users::table
        .filter(users::tenant_id.eq(tenant_id))
        .select(UserRow::as_select())
        .limit(2)
        .into_boxed();
    let query = match column {
        UserColumn::ExternalId => query.filter(users::external_id.eq(value)),
        UserColumn::UserNameKey => query.filter(users::user_name_key.eq(value)),
        _ => query.filter(users::id.eq(value)),
    };
    Ok(query.load(conn)?)
}
