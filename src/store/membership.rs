//! Conditions on group membership (a group's `members`, a user's `groups`), answered by the
//! membership table: `id IN (SELECT … FROM group_members …)`. The subquery is uncorrelated
//! and bound to the tenant, so both backends drive it from the membership indexes (the primary
//! key for a group's members, `group_members_user` for a user's groups, `groups_display_name`
//! for a group name): its cost follows the memberships it names, not the tenant or the group.

use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::{Bool, Text};

use super::filter::{Db, TextOp};

/// Pairs each row with the membership rows that name it (`owner`), in the rows' order: a
/// page read in two statements, put together as one would have read it.
pub fn pair_by_owner<R, M>(
    rows: Vec<R>,
    related: Vec<M>,
    id: impl Fn(&R) -> &str,
    owner: impl Fn(&M) -> &str,
) -> Vec<(R, Vec<M>)> {
    let mut by_owner: std::collections::HashMap<String, Vec<M>> = std::collections::HashMap::new();
    for item in related {
        by_owner
            .entry(owner(&item).to_string())
            .or_default()
            .push(item);
    }
    rows.into_iter()
        .map(|row| {
            let related = by_owner.remove(id(&row)).unwrap_or_default();
            (row, related)
        })
        .collect()
}

/// A column of one membership, as the resource on the other side shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberField {
    /// The member's id (a group's `members.value`).
    UserId,
    /// The group's id (a user's `groups.value`).
    GroupId,
    /// The group's folded `displayName` (a user's `groups.display`).
    GroupDisplayKey,
}

/// A condition on one membership row. Values are already in stored form (folded).
#[derive(Debug, Clone, PartialEq)]
pub enum MemberTest {
    /// A comparison; `op` is never one of the `LIKE` operators (see `Like`).
    Text {
        field: MemberField,
        op: TextOp,
        value: String,
    },
    /// A `LIKE` pattern, already escaped with `\`.
    Like {
        field: MemberField,
        pattern: String,
    },
    /// Present and not empty.
    Present(MemberField),
    Const(bool),
    And(Box<MemberTest>, Box<MemberTest>),
    Or(Box<MemberTest>, Box<MemberTest>),
    Not(Box<MemberTest>),
}

impl MemberTest {
    fn names(&self, wanted: MemberField) -> bool {
        match self {
            MemberTest::Text { field, .. }
            | MemberTest::Like { field, .. }
            | MemberTest::Present(field) => *field == wanted,
            MemberTest::Const(_) => false,
            MemberTest::And(a, b) | MemberTest::Or(a, b) => a.names(wanted) || b.names(wanted),
            MemberTest::Not(a) => a.names(wanted),
        }
    }
}

/// Which side of the membership the filtered table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Groups that have a member satisfying the test.
    Group,
    /// Users that belong to a group satisfying the test.
    User,
}

/// The rows of `side` with some membership satisfying `test`, in `tenant_id`.
#[derive(Debug, Clone)]
pub struct MemberPredicate {
    pub side: Side,
    pub tenant_id: String,
    pub test: MemberTest,
}

impl Expression for MemberPredicate {
    type SqlType = Bool;
}

impl<T> AppearsOnTable<T> for MemberPredicate {}
impl<T> SelectableExpression<T> for MemberPredicate {}

impl ValidGrouping<()> for MemberPredicate {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for MemberPredicate {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Db> for MemberPredicate {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Db>) -> QueryResult<()> {
        let postgres = matches!(out.backend(), Db::Postgres(_));
        let join = self.test.names(MemberField::GroupDisplayKey);
        out.push_sql(match self.side {
            Side::Group => "groups.id IN (SELECT m.group_id FROM group_members AS m",
            Side::User => "users.id IN (SELECT m.user_id FROM group_members AS m",
        });
        if join {
            out.push_sql(" JOIN groups AS g ON g.tenant_id = m.tenant_id AND g.id = m.group_id");
        }
        out.push_sql(" WHERE m.tenant_id = ");
        out.push_bind_param::<Text, _>(&self.tenant_id)?;
        if join {
            // Lets the name lookup use `groups_display_name (tenant_id, display_name_key)`.
            out.push_sql(" AND g.tenant_id = ");
            out.push_bind_param::<Text, _>(&self.tenant_id)?;
        }
        out.push_sql(" AND ");
        test(&self.test, postgres, &mut out)?;
        out.push_sql(")");
        Ok(())
    }
}

fn column(field: MemberField) -> &'static str {
    match field {
        MemberField::UserId => "m.user_id",
        MemberField::GroupId => "m.group_id",
        MemberField::GroupDisplayKey => "g.display_name_key",
    }
}

fn test<'b>(
    test_: &'b MemberTest,
    postgres: bool,
    out: &mut AstPass<'_, 'b, Db>,
) -> QueryResult<()> {
    match test_ {
        MemberTest::Const(value) => out.push_sql(if *value { "(1 = 1)" } else { "(1 = 0)" }),
        MemberTest::Present(field) => {
            out.push_sql(&format!("({} <> '')", column(*field)));
        }
        MemberTest::Text { field, op, value } => {
            // Byte order on both backends for ordering, as for every other text comparison;
            // not for equality, which needs none, and where a collation other than the
            // column's would keep Postgres off the membership indexes.
            let ordered = !matches!(op, TextOp::Eq | TextOp::Ne);
            let collate = if postgres && ordered {
                " COLLATE \"C\""
            } else {
                ""
            };
            let operator = match op {
                TextOp::Eq => " = ",
                TextOp::Ne => " <> ",
                TextOp::Gt => " > ",
                TextOp::Ge => " >= ",
                TextOp::Lt => " < ",
                TextOp::Le => " <= ",
                // Never built (`Like` is); kept total without a panic path.
                TextOp::Contains | TextOp::StartsWith | TextOp::EndsWith => " LIKE ",
            };
            out.push_sql(&format!("({}{collate}{operator}", column(*field)));
            out.push_bind_param::<Text, _>(value)?;
            out.push_sql(")");
        }
        MemberTest::Like { field, pattern } => {
            out.push_sql(&format!("({} LIKE ", column(*field)));
            out.push_bind_param::<Text, _>(pattern)?;
            out.push_sql(" ESCAPE '\\')");
        }
        MemberTest::And(a, b) | MemberTest::Or(a, b) => {
            out.push_sql("(");
            test(a, postgres, out)?;
            out.push_sql(if matches!(test_, MemberTest::And(..)) {
                " AND "
            } else {
                " OR "
            });
            test(b, postgres, out)?;
            out.push_sql(")");
        }
        MemberTest::Not(a) => {
            out.push_sql("NOT (");
            test(a, postgres, out)?;
            out.push_sql(")");
        }
    }
    Ok(())
}
