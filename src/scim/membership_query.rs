//! Filters on membership: a group's `members` (`members eq "U"`, `members[value eq "U"]`,
//! `members.value eq "U"`) and a user's `groups` (`groups[value eq "G"]`,
//! `groups.display eq "Engineering"`). These attributes are computed at read time from the
//! membership table, so they translate to conditions on that table (`store::membership`),
//! with the semantics of `scim::evaluate` on the rendered resource: a comparison holds when
//! some membership satisfies it, `ne` when none is equal.

use serde_json::Value;

use super::error::ScimError;
use super::evaluate::compare;
use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::normalize::fold;
use super::schema::AttributeDef;
use crate::store::filter::{Condition, TextOp, like_pattern};
use crate::store::membership::{MemberField, MemberTest};

/// How a sub-attribute of a membership is shown.
#[derive(Debug, Clone, Copy)]
pub enum Shown {
    /// From a column of the membership (or of its group).
    Column(MemberField),
    /// The same text on every membership (`type`).
    Constant(&'static str),
    /// Never shown (a member's `display`).
    Absent,
}

/// The sub-attributes of a membership that filters can use; any other (`$ref`, which
/// depends on the request's base URL) cannot be filtered on.
pub type MembershipFields = [(&'static str, Shown)];

/// A test, or the negation of one (`ne`, `eq null`).
enum Negation {
    No(MemberTest),
    Not(MemberTest),
}

/// `members op value`, `members.sub op value` or `members pr` (a `comparison` of `None`).
pub fn leaf<C>(
    definition: &AttributeDef,
    fields: &MembershipFields,
    path: &AttrPath,
    comparison: Option<(CompareOp, &CompValue)>,
) -> Result<Condition<C>, ScimError> {
    // A complex attribute compared as a whole means its `value` (RFC 7644 §3.4.2.2).
    let sub = path.sub.as_deref().unwrap_or("value");
    let (shown, sub_definition) = field(definition, fields, path, sub)?;
    Ok(match comparison {
        None => Condition::Membership(present(shown)),
        Some((op, value)) => match test(shown, sub_definition, op, value, path)? {
            Negation::No(test) => Condition::Membership(test),
            Negation::Not(test) => Condition::Not(Box::new(Condition::Membership(test))),
        },
    })
}

/// `members[filter]`: some membership satisfies `filter`.
pub fn value_path<C>(
    definition: &AttributeDef,
    fields: &MembershipFields,
    filter: &Filter,
) -> Result<Condition<C>, ScimError> {
    Ok(Condition::Membership(item(definition, fields, filter)?))
}

fn item(
    definition: &AttributeDef,
    fields: &MembershipFields,
    filter: &Filter,
) -> Result<MemberTest, ScimError> {
    let nested = |path: &AttrPath| {
        ScimError::InvalidFilter(format!(
            "`{path}`: name a sub-attribute inside a value filter"
        ))
    };
    Ok(match filter {
        Filter::And(a, b) => MemberTest::And(
            Box::new(item(definition, fields, a)?),
            Box::new(item(definition, fields, b)?),
        ),
        Filter::Or(a, b) => MemberTest::Or(
            Box::new(item(definition, fields, a)?),
            Box::new(item(definition, fields, b)?),
        ),
        Filter::Not(a) => MemberTest::Not(Box::new(item(definition, fields, a)?)),
        Filter::Present(path) if path.uri.is_none() && path.sub.is_none() => {
            present(field(definition, fields, path, &path.name)?.0)
        }
        Filter::Compare { path, op, value } if path.uri.is_none() && path.sub.is_none() => {
            let (shown, sub_definition) = field(definition, fields, path, &path.name)?;
            match test(shown, sub_definition, *op, value, path)? {
                Negation::No(test) => test,
                Negation::Not(test) => MemberTest::Not(Box::new(test)),
            }
        }
        Filter::Present(path) | Filter::Compare { path, .. } => return Err(nested(path)),
        Filter::ValuePath { path, .. } => {
            return Err(ScimError::InvalidFilter(format!(
                "`{path}`: value filters do not nest"
            )));
        }
    })
}

fn field<'a>(
    definition: &'a AttributeDef,
    fields: &MembershipFields,
    path: &AttrPath,
    sub: &str,
) -> Result<(Shown, &'a AttributeDef), ScimError> {
    let sub_definition = AttributeDef::find(&definition.sub_attributes, sub)
        .ok_or_else(|| ScimError::InvalidFilter(format!("no sub-attribute `{path}`")))?;
    let shown = fields
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(sub))
        .map(|(_, shown)| *shown)
        .ok_or_else(|| {
            ScimError::InvalidFilter(format!(
                "`{}.{}` cannot be filtered on",
                definition.name, sub_definition.name
            ))
        })?;
    Ok((shown, sub_definition))
}

fn present(shown: Shown) -> MemberTest {
    match shown {
        Shown::Column(field) => MemberTest::Present(field),
        Shown::Constant(text) => MemberTest::Const(!text.is_empty()),
        Shown::Absent => MemberTest::Const(false),
    }
}

fn test(
    shown: Shown,
    definition: &AttributeDef,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
) -> Result<Negation, ScimError> {
    let invalid = |why: &str| ScimError::InvalidFilter(format!("`{path}`: {why}"));
    if *value == CompValue::Null {
        return match op {
            CompareOp::Eq => Ok(Negation::Not(present(shown))),
            CompareOp::Ne => Ok(Negation::No(present(shown))),
            _ => Err(invalid("null can only be compared with eq or ne")),
        };
    }
    let CompValue::String(text) = value else {
        return Err(invalid("the value does not have the attribute's type"));
    };
    // `ne` holds when no membership is equal: the negation of `eq`.
    let (negated, op) = match op {
        CompareOp::Ne => (true, CompareOp::Eq),
        other => (false, other),
    };
    let test = match shown {
        // Computed values compare in memory, exactly as the reference evaluator does.
        Shown::Constant(constant) => MemberTest::Const(compare(
            &Value::String(constant.to_string()),
            op,
            value,
            Some(definition),
        )),
        Shown::Absent => MemberTest::Const(false),
        Shown::Column(field) => {
            // Ids are stored as generated (lower case, unchanged by folding) and group names
            // folded, so a folded value compares like the evaluator's folded strings.
            let text = if definition.case_exact {
                text.clone()
            } else {
                fold(text)
            };
            let like = |prefix: &str, suffix: &str| MemberTest::Like {
                field,
                pattern: like_pattern(prefix, &text, suffix),
            };
            let text_op = match op {
                CompareOp::Co => return Ok(wrap(negated, like("%", "%"))),
                CompareOp::Sw => return Ok(wrap(negated, like("", "%"))),
                CompareOp::Ew => return Ok(wrap(negated, like("%", ""))),
                CompareOp::Eq | CompareOp::Ne => TextOp::Eq,
                CompareOp::Gt => TextOp::Gt,
                CompareOp::Ge => TextOp::Ge,
                CompareOp::Lt => TextOp::Lt,
                CompareOp::Le => TextOp::Le,
            };
            MemberTest::Text {
                field,
                op: text_op,
                value: text.clone(),
            }
        }
    };
    Ok(wrap(negated, test))
}

fn wrap(negated: bool, test: MemberTest) -> Negation {
    if negated {
        Negation::Not(test)
    } else {
        Negation::No(test)
    }
}
