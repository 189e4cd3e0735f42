//! From a parsed SCIM filter to a condition on stored columns.
//!
//! Each resource type says which attributes it can filter on and how they are stored; the
//! translation here is shared. Attributes that are not (yet) indexed are refused with
//! `invalidFilter` rather than filtered in memory: no list request loads a whole tenant.

use chrono::DateTime;

use super::error::ScimError;
use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::normalize::fold;
use crate::store::filter::{Condition, OrderOp, TextOp};
use crate::store::to_stored;

/// How a filterable attribute is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Case-sensitive text that is always present (`id`).
    ExactText,
    /// Case-sensitive text that may be absent (`externalId`).
    OptionalExactText,
    /// Case-insensitive text stored lower-cased (`userName`, group `displayName`).
    FoldedText,
    Bool,
    /// A timestamp (`meta.created`, `meta.lastModified`).
    Time,
}

/// Maps an attribute path to its column, or `None` when it cannot be filtered on.
pub type Resolver<'a, C> = &'a dyn Fn(&AttrPath) -> Option<(C, ColumnKind)>;

pub fn to_condition<C: Copy>(
    filter: &Filter,
    resolve: Resolver<'_, C>,
) -> Result<Condition<C>, ScimError> {
    Ok(match filter {
        Filter::And(a, b) => Condition::And(
            Box::new(to_condition(a, resolve)?),
            Box::new(to_condition(b, resolve)?),
        ),
        Filter::Or(a, b) => Condition::Or(
            Box::new(to_condition(a, resolve)?),
            Box::new(to_condition(b, resolve)?),
        ),
        Filter::Not(a) => Condition::Not(Box::new(to_condition(a, resolve)?)),
        Filter::Present(path) => {
            let (column, kind) = column(path, resolve)?;
            match kind {
                ColumnKind::OptionalExactText => Condition::Present(column),
                _ => Condition::Const(true),
            }
        }
        Filter::Compare { path, op, value } => {
            let (column, kind) = column(path, resolve)?;
            compare(column, kind, *op, value, path)?
        }
        Filter::ValuePath { path, .. } => {
            return Err(ScimError::InvalidFilter(format!(
                "filtering on `{path}` is not supported yet"
            )));
        }
    })
}

fn column<C>(path: &AttrPath, resolve: Resolver<'_, C>) -> Result<(C, ColumnKind), ScimError> {
    resolve(path)
        .ok_or_else(|| ScimError::InvalidFilter(format!("filtering on `{path}` is not supported")))
}

fn compare<C: Copy>(
    column: C,
    kind: ColumnKind,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
) -> Result<Condition<C>, ScimError> {
    let invalid = |why: &str| ScimError::InvalidFilter(format!("`{path}`: {why}"));
    if *value == CompValue::Null {
        // `eq null` asks for absence, `ne null` for presence (RFC 7644 §3.4.2.2 `pr`).
        let present = match kind {
            ColumnKind::OptionalExactText => Condition::Present(column),
            _ => Condition::Const(true),
        };
        return match op {
            CompareOp::Eq => Ok(Condition::Not(Box::new(present))),
            CompareOp::Ne => Ok(present),
            _ => Err(invalid("null can only be compared with eq or ne")),
        };
    }
    match kind {
        ColumnKind::ExactText | ColumnKind::OptionalExactText | ColumnKind::FoldedText => {
            let CompValue::String(text) = value else {
                return Err(invalid("compare with a string"));
            };
            let text = if kind == ColumnKind::FoldedText {
                fold(text)
            } else {
                text.clone()
            };
            Ok(Condition::Text {
                column,
                op: text_op(op),
                value: text,
            })
        }
        ColumnKind::Bool => {
            let wanted = match value {
                CompValue::Bool(b) => *b,
                CompValue::String(s) if s.eq_ignore_ascii_case("true") => true,
                CompValue::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => return Err(invalid("compare with true or false")),
            };
            match op {
                CompareOp::Eq => Ok(Condition::Bool {
                    column,
                    value: wanted,
                }),
                CompareOp::Ne => Ok(Condition::Bool {
                    column,
                    value: !wanted,
                }),
                _ => Err(invalid("booleans can only be compared with eq or ne")),
            }
        }
        ColumnKind::Time => {
            let CompValue::String(text) = value else {
                return Err(invalid("compare with an RFC 3339 date-time"));
            };
            let time = DateTime::parse_from_rfc3339(text)
                .map_err(|_| invalid("not an RFC 3339 date-time"))?;
            let op =
                order_op(op).ok_or_else(|| invalid("date-times take eq, ne, gt, ge, lt or le"))?;
            Ok(Condition::Time {
                column,
                op,
                value: to_stored(time.to_utc()),
            })
        }
    }
}

fn text_op(op: CompareOp) -> TextOp {
    match op {
        CompareOp::Eq => TextOp::Eq,
        CompareOp::Ne => TextOp::Ne,
        CompareOp::Co => TextOp::Contains,
        CompareOp::Sw => TextOp::StartsWith,
        CompareOp::Ew => TextOp::EndsWith,
        CompareOp::Gt => TextOp::Gt,
        CompareOp::Ge => TextOp::Ge,
        CompareOp::Lt => TextOp::Lt,
        CompareOp::Le => TextOp::Le,
    }
}

fn order_op(op: CompareOp) -> Option<OrderOp> {
    Some(match op {
        CompareOp::Eq => OrderOp::Eq,
        CompareOp::Ne => OrderOp::Ne,
        CompareOp::Gt => OrderOp::Gt,
        CompareOp::Ge => OrderOp::Ge,
        CompareOp::Lt => OrderOp::Lt,
        CompareOp::Le => OrderOp::Le,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => return None,
    })
}

/// A filterable attribute: name, sub-attribute, column and how the column stores it.
pub type Filterable<C> = (&'static str, Option<&'static str>, C, ColumnKind);

/// Looks `path` up in a resource type's table of filterable attributes. Names compare
/// case-insensitively; a schema URI, if given, must be the resource's core schema.
pub fn resolve<C: Copy>(
    path: &AttrPath,
    schema: &str,
    table: &[Filterable<C>],
) -> Option<(C, ColumnKind)> {
    if path
        .uri
        .as_deref()
        .is_some_and(|uri| !uri.eq_ignore_ascii_case(schema))
    {
        return None;
    }
    table
        .iter()
        .find(|(name, sub, ..)| {
            path.name.eq_ignore_ascii_case(name)
                && match (path.sub.as_deref(), sub) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    _ => false,
                }
        })
        .map(|(_, _, column, kind)| (*column, *kind))
}
