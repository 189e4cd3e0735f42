//! The users of one group, as identity providers page them (`GET /Users?filter=groups.value
//! eq "G"`): read in the order of the membership table's primary key (group, user) and
//! joined to users by their key, so a page costs its own rows however large the group; the
//! total comes from the count that triggers keep per group (`group_member_counts`). A filter
//! that asks anything more than one group's members takes the general path (`users::page`).

use diesel::prelude::*;

use super::filter::{Condition, Sort, TextOp};
use super::membership::{MemberField, MemberTest};
use super::schema::{group_member_counts, group_members, groups, users};
use super::users::{UserColumn, UserRow};
use super::{AnyConnection, StoreError};

/// A query for the members of one group, after a cursor's user id when paging by cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct OneGroup<'a> {
    group_id: &'a str,
    after: Option<&'a str>,
}

/// The one-group query `condition` asks, if it asks exactly that, in id order: the members of
/// one group by id, optionally after a cursor position in ascending id order.
pub fn one_group<'a>(
    condition: Option<&'a Condition<UserColumn>>,
    sort: Option<Sort<UserColumn>>,
) -> Option<OneGroup<'a>> {
    if sort.is_some_and(|s| s.column != UserColumn::Id || s.descending) {
        return None;
    }
    match condition? {
        Condition::And(a, b) => match (group_of(a), after_of(b)) {
            (Some(group_id), Some(after)) => Some(OneGroup {
                group_id,
                after: Some(after),
            }),
            _ => None,
        },
        other => group_of(other).map(|group_id| OneGroup {
            group_id,
            after: None,
        }),
    }
}

fn group_of(condition: &Condition<UserColumn>) -> Option<&str> {
    match condition {
        Condition::Membership(MemberTest::Text {
            field: MemberField::GroupId,
            op: TextOp::Eq,
            value,
        }) => Some(value),
        _ => None,
    }
}

fn after_of(condition: &Condition<UserColumn>) -> Option<&str> {
    match condition {
        Condition::After {
            column: None | Some(UserColumn::Id),
            descending: false,
            id,
            ..
        } => Some(id),
        _ => None,
    }
}

impl OneGroup<'_> {
    /// One page of the group's members in this tenant, by id.
    pub fn page(
        &self,
        conn: &mut AnyConnection,
        tenant_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<UserRow>, StoreError> {
        let mut query = group_members::table
            .inner_join(
                users::table.on(users::id
                    .eq(group_members::user_id)
                    .and(users::tenant_id.eq(group_members::tenant_id))),
            )
            .filter(group_members::tenant_id.eq(tenant_id.to_string()))
            .filter(group_members::group_id.eq(self.group_id.to_string()))
            .select(UserRow::as_select())
            .into_boxed();
        if let Some(after) = self.after {
            query = query.filter(group_members::user_id.gt(after.to_string()));
        }
        let query = query.order(group_members::user_id.asc());
        Ok(super::paging::Literal::new(query, offset, limit).load(conn)?)
    }

    /// How many members the group has in this tenant (0 for a group of another tenant).
    pub fn count(&self, conn: &mut AnyConnection, tenant_id: &str) -> Result<i64, StoreError> {
        let kept = group_member_counts::table
            .inner_join(groups::table.on(groups::id.eq(group_member_counts::group_id)))
            .filter(groups::tenant_id.eq(tenant_id))
            .filter(group_member_counts::group_id.eq(self.group_id))
            .select(group_member_counts::members)
            .first::<i64>(conn)
            .optional()?;
        Ok(kept.unwrap_or(0))
    }
}
