//! Conditions and sort orders on indexed columns, compiled to SQL for both backends.
//!
//! The SCIM layer translates a filter into a `Condition` over a table's column enum; this module
//! turns it into a boxed diesel expression. Every leaf yields TRUE or FALSE, never NULL (a
//! comparison with an absent value is false), so `not` and `or` keep two-valued logic.

use chrono::NaiveDateTime;
use diesel::Connection;
use diesel::expression::BoxableExpression;
use diesel::sql_types::Bool;

use super::AnyConnection;
use super::document::{DocCondition, DocPredicate};
use super::membership::MemberTest;

pub type Db = <AnyConnection as Connection>::Backend;
pub type Predicate<T> = Box<dyn BoxableExpression<T, Db, SqlType = Bool>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Eq,
    Ne,
    Contains,
    StartsWith,
    EndsWith,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition<C> {
    Text {
        column: C,
        op: TextOp,
        value: String,
    },
    Time {
        column: C,
        op: OrderOp,
        value: NaiveDateTime,
    },
    Present(C),
    /// A condition on the JSON search document rather than on a column.
    Document(DocCondition),
    /// Some membership of the row (a group's members, a user's groups) passes the test.
    Membership(MemberTest),
    /// The user has `value` for the matching `attribute` (`store::match_values`).
    Matches {
        attribute: String,
        value: String,
    },
    /// Rows after a cursor position in the list's order: by `column` (then id), or by id.
    After {
        column: Option<C>,
        descending: bool,
        key: Option<CursorKey>,
        id: String,
    },
    And(Box<Condition<C>>, Box<Condition<C>>),
    Or(Box<Condition<C>>, Box<Condition<C>>),
    Not(Box<Condition<C>>),
    Const(bool),
}

/// The sort-column value of the last row a cursor points after.
#[derive(Debug, Clone, PartialEq)]
pub enum CursorKey {
    Text(String),
    Time(NaiveDateTime),
}

/// A sort order on one column; ties are broken by id, so pages stay stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<C> {
    pub column: C,
    pub descending: bool,
}

/// Compiles a condition tree; `leaf` compiles the column-specific leaves of one table.
pub fn compile<T: 'static, C>(
    condition: &Condition<C>,
    leaf: &dyn Fn(&Condition<C>) -> Predicate<T>,
) -> Predicate<T>
where
    diesel::dsl::And<Predicate<T>, Predicate<T>>: BoxableExpression<T, Db, SqlType = Bool>,
    diesel::dsl::Or<Predicate<T>, Predicate<T>>: BoxableExpression<T, Db, SqlType = Bool>,
    diesel::dsl::not<Predicate<T>>: BoxableExpression<T, Db, SqlType = Bool>,
    diesel::dsl::AsExprOf<bool, Bool>: BoxableExpression<T, Db, SqlType = Bool>,
    DocPredicate: BoxableExpression<T, Db, SqlType = Bool>,
{
    use diesel::BoolExpressionMethods;
    use diesel::IntoSql;
    match condition {
        Condition::And(a, b) => Box::new(compile(a, leaf).and(compile(b, leaf))),
        Condition::Or(a, b) => Box::new(compile(a, leaf).or(compile(b, leaf))),
        Condition::Not(a) => Box::new(diesel::dsl::not(compile(a, leaf))),
        Condition::Const(value) => Box::new((*value).into_sql::<Bool>()),
        Condition::Document(condition) => Box::new(DocPredicate(condition.clone())),
        other => leaf(other),
    }
}

/// A LIKE pattern that matches `value` literally, with `\` as the escape character.
pub fn like_pattern(prefix: &str, value: &str, suffix: &str) -> String {
    let mut pattern = String::with_capacity(value.len() + 2);
    pattern.push_str(prefix);
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(suffix);
    pattern
}

/// Compiles a text comparison on a NOT NULL column.
macro_rules! text_predicate {
    ($column:expr, $op:expr, $value:expr) => {{
        use diesel::{ExpressionMethods, TextExpressionMethods};
        use $crate::store::filter::{TextOp, like_pattern};
        let value: String = $value.clone();
        let predicate: $crate::store::filter::Predicate<_> = match $op {
            TextOp::Eq => Box::new($column.eq(value)),
            TextOp::Ne => Box::new($column.ne(value)),
            TextOp::Contains => Box::new($column.like(like_pattern("%", &value, "%")).escape('\\')),
            TextOp::StartsWith => {
                Box::new($column.like(like_pattern("", &value, "%")).escape('\\'))
            }
            TextOp::EndsWith => Box::new($column.like(like_pattern("%", &value, "")).escape('\\')),
            TextOp::Gt => Box::new($column.gt(value)),
            TextOp::Ge => Box::new($column.ge(value)),
            TextOp::Lt => Box::new($column.lt(value)),
            TextOp::Le => Box::new($column.le(value)),
        };
        predicate
    }};
}

/// Compiles a text comparison on a nullable column: an absent value matches only `ne`.
macro_rules! nullable_text_predicate {
    ($column:expr, $op:expr, $value:expr) => {{
        use diesel::{BoolExpressionMethods, ExpressionMethods, NullableExpressionMethods};
        use $crate::store::filter::TextOp;
        let present =
            $crate::store::filter::text_predicate!($column.assume_not_null(), $op, $value);
        let predicate: $crate::store::filter::Predicate<_> = match $op {
            TextOp::Ne => Box::new($column.is_null().or(present)),
            _ => Box::new($column.is_not_null().and(present)),
        };
        predicate
    }};
}

/// Compiles an ordered comparison (timestamps) on a NOT NULL column.
macro_rules! order_predicate {
    ($column:expr, $op:expr, $value:expr) => {{
        use diesel::ExpressionMethods;
        use $crate::store::filter::OrderOp;
        let value = *$value;
        let predicate: $crate::store::filter::Predicate<_> = match $op {
            OrderOp::Eq => Box::new($column.eq(value)),
            OrderOp::Ne => Box::new($column.ne(value)),
            OrderOp::Gt => Box::new($column.gt(value)),
            OrderOp::Ge => Box::new($column.ge(value)),
            OrderOp::Lt => Box::new($column.lt(value)),
            OrderOp::Le => Box::new($column.le(value)),
        };
        predicate
    }};
}

/// Orders a boxed query by a NOT NULL column.
macro_rules! order_by {
    ($query:expr, $column:expr, $descending:expr) => {{
        use diesel::{ExpressionMethods, QueryDsl};
        if $descending {
            $query.order($column.desc())
        } else {
            $query.order($column.asc())
        }
    }};
}

/// Orders a boxed query by a nullable column; absent values sort as if greatest (last when
/// ascending), the same on both backends.
macro_rules! order_by_nullable {
    ($query:expr, $column:expr, $descending:expr) => {{
        use diesel::{ExpressionMethods, QueryDsl};
        if $descending {
            $query.order(($column.is_null().desc(), $column.desc()))
        } else {
            $query.order(($column.is_null().asc(), $column.asc()))
        }
    }};
}

/// Rows after `(key, id)` in the order `column` (ascending or descending), then id ascending.
macro_rules! after_predicate {
    ($column:expr, $key:expr, $id_column:expr, $id:expr, $descending:expr) => {{
        use diesel::{BoolExpressionMethods, ExpressionMethods};
        let (key, id) = ($key.clone(), $id.clone());
        let predicate: $crate::store::filter::Predicate<_> = if $descending {
            Box::new(
                $column
                    .lt(key.clone())
                    .or($column.eq(key).and($id_column.gt(id))),
            )
        } else {
            Box::new(
                $column
                    .gt(key.clone())
                    .or($column.eq(key).and($id_column.gt(id))),
            )
        };
        predicate
    }};
}

pub(crate) use {
    after_predicate, nullable_text_predicate, order_by, order_by_nullable, order_predicate,
    text_predicate,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("%", "50%_off\\", "%"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("", "plain", "%"), "plain%");
    }
}
