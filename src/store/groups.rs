//! Groups and their membership table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::filter::{
    self, Condition, CursorKey, Db, Predicate, Sort, after_predicate, nullable_text_predicate,
    order_by, order_by_nullable, order_predicate, text_predicate,
};
use super::membership::{MemberPredicate, Side};
use super::schema::{group_members, groups};
use super::{AnyConnection, StoreError};

/// The columns a filter on groups can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupColumn {
    Id,
    /// `displayName`, lower-cased: compared case-insensitively.
    DisplayNameKey,
    ExternalId,
    Created,
    LastModified,
}

fn leaf(condition: &Condition<GroupColumn>, tenant_id: &str) -> Predicate<groups::table> {
    use diesel::dsl::{not, sql};
    use diesel::sql_types::Bool;
    match condition {
        Condition::Text {
            column: GroupColumn::Id,
            op,
            value,
        } => text_predicate!(groups::id, op, value),
        Condition::Text {
            column: GroupColumn::DisplayNameKey,
            op,
            value,
        } => {
            text_predicate!(groups::display_name_key, op, value)
        }
        Condition::Text {
            column: GroupColumn::ExternalId,
            op,
            value,
        } => {
            nullable_text_predicate!(groups::external_id, op, value)
        }
        Condition::Time {
            column: GroupColumn::Created,
            op,
            value,
        } => order_predicate!(groups::created, op, value),
        Condition::Time {
            column: GroupColumn::LastModified,
            op,
            value,
        } => {
            order_predicate!(groups::last_modified, op, value)
        }
        Condition::Present(GroupColumn::ExternalId) => Box::new(
            groups::external_id
                .is_not_null()
                .and(groups::external_id.assume_not_null().ne("")),
        ),
        Condition::Present(_) => Box::new(not(sql::<Bool>("1 = 0"))),
        Condition::After {
            column: None, id, ..
        } => Box::new(groups::id.gt(id.clone())),
        Condition::After {
            column: Some(GroupColumn::Id),
            descending,
            id,
            ..
        } => {
            if *descending {
                Box::new(groups::id.lt(id.clone()))
            } else {
                Box::new(groups::id.gt(id.clone()))
            }
        }
        Condition::After {
            column: Some(GroupColumn::DisplayNameKey),
            descending,
            key: Some(CursorKey::Text(key)),
            id,
        } => {
            after_predicate!(groups::display_name_key, key, groups::id, id, *descending)
        }
        Condition::After {
            column: Some(GroupColumn::Created),
            descending,
            key: Some(CursorKey::Time(key)),
            id,
        } => {
            after_predicate!(groups::created, key, groups::id, id, *descending)
        }
        Condition::After {
            column: Some(GroupColumn::LastModified),
            descending,
            key: Some(CursorKey::Time(key)),
            id,
        } => {
            after_predicate!(groups::last_modified, key, groups::id, id, *descending)
        }
        Condition::Membership(test) => Box::new(MemberPredicate {
            side: Side::Group,
            tenant_id: tenant_id.to_string(),
            test: test.clone(),
        }),
        // The SCIM layer only builds the leaves above; anything else matches nothing.
        _ => Box::new(sql::<Bool>("1 = 0")),
    }
}

fn sorted(
    query: groups::BoxedQuery<'static, Db>,
    sort: Option<Sort<GroupColumn>>,
) -> groups::BoxedQuery<'static, Db> {
    let Some(sort) = sort else {
        return query.order(groups::id.asc());
    };
    let query = match sort.column {
        GroupColumn::Id => order_by!(query, groups::id, sort.descending),
        GroupColumn::DisplayNameKey => order_by!(query, groups::display_name_key, sort.descending),
        GroupColumn::ExternalId => order_by_nullable!(query, groups::external_id, sort.descending),
        GroupColumn::Created => order_by!(query, groups::created, sort.descending),
        GroupColumn::LastModified => order_by!(query, groups::last_modified, sort.descending),
    };
    query.then_order_by(groups::id.asc())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = groups)]
pub struct GroupRow {
    pub id: String,
    pub tenant_id: String,
    pub display_name: String,
    pub display_name_key: String,
    pub external_id: Option<String>,
    pub attributes: String,
    pub version: i64,
    pub created: NaiveDateTime,
    pub last_modified: NaiveDateTime,
    /// The attributes as filters see them (`scim::search`).
    pub search: String,
    /// `display_name_key` when the group holds its name in the tenant (unique index), `None`
    /// when it does not: duplicates are allowed, or it predates uniqueness.
    pub display_name_unique: Option<String>,
}

#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = groups, treat_none_as_null = true)]
pub struct GroupChanges {
    pub display_name: String,
    pub display_name_key: String,
    pub external_id: Option<String>,
    pub attributes: String,
    pub search: String,
    pub last_modified: NaiveDateTime,
    pub display_name_unique: Option<String>,
}

/// One membership, as rendered in the group's `members` attribute.
#[derive(Debug, Clone, Queryable)]
pub struct Member {
    pub group_id: String,
    pub user_id: String,
}

super::resource_table::resource_table!(
    groups, GroupRow, GroupChanges, GroupColumn,
    related: members -> Member by group_id
);

/// One page of a tenant's groups that match `condition`, in a stable order.
pub fn page(
    conn: &mut AnyConnection,
    tenant_id: &str,
    condition: Option<&Condition<GroupColumn>>,
    sort: Option<Sort<GroupColumn>>,
    offset: i64,
    limit: i64,
) -> Result<Vec<GroupRow>, StoreError> {
    page_matching(conn, tenant_id, condition, sort, offset, limit)
}

/// How many of a tenant's groups match `condition`.
pub fn count(
    conn: &mut AnyConnection,
    tenant_id: &str,
    condition: Option<&Condition<GroupColumn>>,
) -> Result<i64, StoreError> {
    count_matching(conn, tenant_id, condition)
}

/// The members of each of `group_ids`, ordered by group then user.
pub fn members(
    conn: &mut AnyConnection,
    tenant_id: &str,
    group_ids: &[String],
) -> Result<Vec<Member>, StoreError> {
    let mut found = Vec::new();
    for chunk in group_ids.chunks(super::MAX_BOUND_IDS) {
        found.extend(
            group_members::table
                .filter(group_members::tenant_id.eq(tenant_id))
                .filter(group_members::group_id.eq_any(chunk))
                .order((group_members::group_id.asc(), group_members::user_id.asc()))
                .select((group_members::group_id, group_members::user_id))
                .load::<Member>(conn)?,
        );
    }
    Ok(found)
}

/// The first `limit` members of one group (by user id): a bounded read of any group.
pub fn members_up_to(
    conn: &mut AnyConnection,
    tenant_id: &str,
    group_id: &str,
    limit: i64,
) -> Result<Vec<Member>, StoreError> {
    Ok(group_members::table
        .filter(group_members::tenant_id.eq(tenant_id))
        .filter(group_members::group_id.eq(group_id))
        .order(group_members::user_id.asc())
        .limit(limit)
        .select((group_members::group_id, group_members::user_id))
        .load::<Member>(conn)?)
}

/// Ids of the current members of one group.
pub fn member_ids(
    conn: &mut AnyConnection,
    tenant_id: &str,
    group_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(group_members::table
        .filter(group_members::tenant_id.eq(tenant_id))
        .filter(group_members::group_id.eq(group_id))
        .select(group_members::user_id)
        .load(conn)?)
}

/// Those of `user_ids` that are members of the group (cost in proportion to the ids given).
pub fn members_among(
    conn: &mut AnyConnection,
    tenant_id: &str,
    group_id: &str,
    user_ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::new();
    for chunk in user_ids.chunks(super::MAX_BOUND_IDS) {
        found.extend(
            group_members::table
                .filter(group_members::tenant_id.eq(tenant_id))
                .filter(group_members::group_id.eq(group_id))
                .filter(group_members::user_id.eq_any(chunk))
                .select(group_members::user_id)
                .load::<String>(conn)?,
        );
    }
    Ok(found)
}

/// Adds members; a member already present is left as it is (concurrent adds do not fail).
pub fn add_members(
    conn: &mut AnyConnection,
    tenant_id: &str,
    group_id: &str,
    user_ids: &[String],
) -> Result<(), StoreError> {
    use diesel::sql_types::Text;
    for user_id in user_ids {
        diesel::sql_query(
            "INSERT INTO group_members (tenant_id, group_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(tenant_id)
        .bind::<Text, _>(group_id)
        .bind::<Text, _>(user_id)
        .execute(conn)?;
    }
    Ok(())
}

pub fn remove_members(
    conn: &mut AnyConnection,
    tenant_id: &str,
    group_id: &str,
    user_ids: &[String],
) -> Result<(), StoreError> {
    for chunk in user_ids.chunks(super::MAX_BOUND_IDS) {
        diesel::delete(group_members::table)
            .filter(group_members::tenant_id.eq(tenant_id))
            .filter(group_members::group_id.eq(group_id))
            .filter(group_members::user_id.eq_any(chunk))
            .execute(conn)?;
    }
    Ok(())
}

/// Marks every group that `user_id` belongs to as changed: its member list is about to change.
pub fn touch_groups_of_member(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let of_member = group_members::table
        .filter(group_members::tenant_id.eq(tenant_id))
        .filter(group_members::user_id.eq(user_id))
        .select(group_members::group_id);
    diesel::update(groups::table)
        .filter(groups::tenant_id.eq(tenant_id))
        .filter(groups::id.eq_any(of_member))
        .set((
            groups::version.eq(groups::version + 1),
            groups::last_modified.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether a group other than `except` has this folded name (held or not).
pub fn name_taken(
    conn: &mut AnyConnection,
    tenant_id: &str,
    display_name_key: &str,
    except: Option<&str>,
) -> Result<bool, StoreError> {
    let mut query = groups::table
        .filter(groups::tenant_id.eq(tenant_id))
        .filter(groups::display_name_key.eq(display_name_key))
        .select(groups::id)
        .into_boxed();
    if let Some(except) = except {
        query = query.filter(groups::id.ne(except));
    }
    Ok(query.first::<String>(conn).optional()?.is_some())
}

/// Gives each group name of the tenant that no group holds to its oldest group, so
/// uniqueness binds from now on; younger duplicates stay unkeyed until renamed. The same
/// statement as the migration that introduced the column.
pub fn claim_names(conn: &mut AnyConnection, tenant_id: &str) -> Result<(), StoreError> {
    use diesel::sql_types::Text;
    diesel::sql_query(
        "UPDATE groups SET display_name_unique = display_name_key \
         WHERE tenant_id = $1 AND display_name_unique IS NULL AND NOT EXISTS ( \
             SELECT 1 FROM groups AS other \
             WHERE other.tenant_id = groups.tenant_id \
               AND other.display_name_key = groups.display_name_key \
               AND (other.id < groups.id OR other.display_name_unique IS NOT NULL))",
    )
    .bind::<Text, _>(tenant_id)
    .execute(conn)?;
    Ok(())
}
