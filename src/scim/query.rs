//! From a parsed SCIM filter to a condition the database answers.
//!
//! Attributes with an indexed column (`userName`, `externalId`, `id`, `meta.*`, a group's
//! `displayName`) compile to conditions on that column; every other attribute of the schema,
//! extensions and multi-valued attributes included, compiles to a condition on the JSON search
//! document (`scim::search`). Nothing is filtered in memory: no list request loads a whole
//! tenant. The semantics match `scim::evaluate`, the in-memory reference.

use chrono::DateTime;

use super::error::ScimError;
use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::matching::{self, MatchAttribute};
use super::membership_query::{self, MembershipFields};
use super::normalize::fold;
use super::schema::{AttributeDef, AttributeType, Mutability, ResourceSchema, Returned};
use super::search::canonical_time;
use crate::store::document::{DocCondition, ItemCondition, JsonPath, Scalar, Test};
use crate::store::filter::{Condition, OrderOp, TextOp, like_pattern};
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
    /// A timestamp (`meta.created`, `meta.lastModified`).
    Time,
}

/// Maps an attribute path to its column, or `None` when it cannot be filtered on.
pub type Resolver<'a, C> = &'a dyn Fn(&AttrPath) -> Option<(C, ColumnKind)>;

/// What a filter is translated against: a resource type's columns and schema.
pub struct Target<'a, C> {
    pub columns: Resolver<'a, C>,
    pub schema: &'a ResourceSchema,
    /// The attribute computed at read time (`groups`, `members`), which has no stored value:
    /// filters on it are answered by the membership table, through these sub-attributes.
    pub derived: &'a str,
    pub membership: &'a MembershipFields,
    /// Attributes with indexed values (`scim::matching`): users only.
    pub indexed: &'a [MatchAttribute],
}

/// The definition of the membership attribute, when `path` names it.
fn membership<'a, C>(target: &Target<'a, C>, path: &AttrPath) -> Option<&'a AttributeDef> {
    let core = path
        .uri
        .as_deref()
        .is_none_or(|uri| uri.eq_ignore_ascii_case(&target.schema.core.id));
    if !(core && path.name.eq_ignore_ascii_case(target.derived)) {
        return None;
    }
    target.schema.attribute(&path.name)
}

/// Whether translating `filter` may consult the indexed attributes: only a comparison or a
/// value path on an attribute without a column can. A lookup by `userName`, `externalId` or
/// `id` (what an identity provider sends before each write) skips reading them.
pub fn uses_indexed<C>(filter: &Filter, columns: Resolver<'_, C>) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            uses_indexed(a, columns) || uses_indexed(b, columns)
        }
        Filter::Not(a) => uses_indexed(a, columns),
        Filter::Present(_) => false,
        Filter::Compare { path, .. } => columns(path).is_none(),
        Filter::ValuePath { .. } => true,
    }
}

pub fn to_condition<C: Copy>(
    filter: &Filter,
    target: &Target<'_, C>,
) -> Result<Condition<C>, ScimError> {
    let whole = filter;
    Ok(match filter {
        Filter::And(a, b) => Condition::And(
            Box::new(to_condition(a, target)?),
            Box::new(to_condition(b, target)?),
        ),
        Filter::Or(a, b) => Condition::Or(
            Box::new(to_condition(a, target)?),
            Box::new(to_condition(b, target)?),
        ),
        Filter::Not(a) => Condition::Not(Box::new(to_condition(a, target)?)),
        Filter::Present(path) => match (target.columns)(path) {
            Some((column, ColumnKind::OptionalExactText)) => Condition::Present(column),
            Some(_) => Condition::Const(true),
            None => match membership(target, path) {
                Some(definition) => {
                    membership_query::leaf(definition, target.membership, path, None)?
                }
                None => document_leaf(target, path, None)?,
            },
        },
        Filter::Compare { path, op, value } => match (target.columns)(path) {
            Some((column, kind)) => compare(column, kind, *op, value, path)?,
            None => match membership(target, path) {
                None if !target.indexed.is_empty() => {
                    match matching::lookup(whole, target.schema, target.indexed) {
                        Some(lookup) => lookup,
                        None => document_leaf(target, path, Some((*op, value)))?,
                    }
                }
                Some(definition) => {
                    membership_query::leaf(definition, target.membership, path, Some((*op, value)))?
                }
                None => document_leaf(target, path, Some((*op, value)))?,
            },
        },
        Filter::ValuePath { path, filter } => {
            if let Some(definition) = membership(target, path) {
                return membership_query::value_path(definition, target.membership, filter);
            }
            if let Some(lookup) = matching::lookup(whole, target.schema, target.indexed) {
                return Ok(lookup);
            }
            let attribute = document_attribute(target, path)?;
            if !(attribute.definition.multi_valued
                && attribute.definition.kind == AttributeType::Complex)
            {
                return Err(ScimError::InvalidFilter(format!(
                    "`{path}` is not a multi-valued complex attribute"
                )));
            }
            let item = item_condition(filter, &attribute.definition.sub_attributes)?;
            Condition::Document(DocCondition::AnyItem {
                path: JsonPath::new(attribute.keys),
                item: Box::new(item),
            })
        }
    })
}

/// An attribute as stored in the search document.
struct DocumentAttribute<'a> {
    /// Object keys from the root: the name, after the extension URN for extension attributes.
    keys: Vec<String>,
    definition: &'a AttributeDef,
}

fn document_attribute<'a, C>(
    target: &Target<'a, C>,
    path: &AttrPath,
) -> Result<DocumentAttribute<'a>, ScimError> {
    let unknown = || ScimError::InvalidFilter(format!("no attribute `{path}`"));
    let (mut keys, definition) = match &path.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(&target.schema.core.id) => {
            let extension = target.schema.extension(uri).ok_or_else(unknown)?;
            let definition =
                AttributeDef::find(&extension.attributes, &path.name).ok_or_else(unknown)?;
            (vec![extension.id.clone()], definition)
        }
        _ => (
            Vec::new(),
            target.schema.attribute(&path.name).ok_or_else(unknown)?,
        ),
    };
    if definition.returned == Returned::Never || definition.mutability == Mutability::WriteOnly {
        // RFC 7644 §3.12 `sensitive`: secrets are never matched, and never belong in a URI.
        return Err(ScimError::Sensitive(format!(
            "`{path}` is write-only and cannot be filtered on"
        )));
    }
    if definition.name.eq_ignore_ascii_case(target.derived) {
        // Reached only through an extension URN naming it; the core name goes to the
        // membership table (`membership_query`).
        return Err(ScimError::InvalidFilter(format!("no attribute `{path}`")));
    }
    keys.push(definition.name.clone());
    Ok(DocumentAttribute { keys, definition })
}

/// A comparison (or presence, when `comparison` is `None`) on a document attribute. On a
/// multi-valued attribute it holds when some value does; a negated test (`ne`, `eq null`)
/// holds when no value passes the test.
fn document_leaf<C>(
    target: &Target<'_, C>,
    path: &AttrPath,
    comparison: Option<(CompareOp, &CompValue)>,
) -> Result<Condition<C>, ScimError> {
    let attribute = document_attribute(target, path)?;
    let definition = attribute.definition;
    let complex = definition.kind == AttributeType::Complex;
    // A complex attribute compared as a whole means its `value` (RFC 7644 §3.4.2.2).
    let sub_name = path
        .sub
        .clone()
        .or_else(|| complex.then(|| "value".to_string()));
    let field = match &sub_name {
        Some(sub) if complex => Some(
            AttributeDef::find(&definition.sub_attributes, sub)
                .ok_or_else(|| ScimError::InvalidFilter(format!("no sub-attribute `{path}`")))?,
        ),
        Some(_) => {
            return Err(ScimError::InvalidFilter(format!(
                "`{}` has no sub-attributes",
                definition.name
            )));
        }
        None => None,
    };
    let value_definition = field.unwrap_or(definition);
    if definition.multi_valued {
        let sub = field.map(|f| JsonPath::new(vec![f.name.clone()]));
        let item = |test: Test| ItemCondition::Field {
            sub: sub.clone(),
            test,
        };
        let any = |condition: ItemCondition| {
            Condition::Document(DocCondition::AnyItem {
                path: JsonPath::new(attribute.keys.clone()),
                item: Box::new(condition),
            })
        };
        return Ok(match comparison {
            None => any(item(Test::Present)),
            Some((op, value)) => match leaf_test(value_definition, op, value, path)? {
                Negation::No(test) => any(item(test)),
                Negation::Not(test) => Condition::Not(Box::new(any(item(test)))),
            },
        });
    }
    let mut keys = attribute.keys.clone();
    keys.extend(field.map(|f| f.name.clone()));
    let value = |test: Test| {
        Condition::Document(DocCondition::Value {
            path: JsonPath::new(keys.clone()),
            test,
        })
    };
    Ok(match comparison {
        None => value(Test::Present),
        Some((op, compared)) => match leaf_test(value_definition, op, compared, path)? {
            Negation::No(test) => value(test),
            Negation::Not(test) => Condition::Not(Box::new(value(test))),
        },
    })
}

/// The condition inside a value filter, on the sub-attributes of one item.
fn item_condition(
    filter: &Filter,
    sub_attributes: &[AttributeDef],
) -> Result<ItemCondition, ScimError> {
    let field = |path: &AttrPath| -> Result<&AttributeDef, ScimError> {
        if path.uri.is_some() || path.sub.is_some() {
            return Err(ScimError::InvalidFilter(format!(
                "`{path}`: name a sub-attribute inside a value filter"
            )));
        }
        AttributeDef::find(sub_attributes, &path.name)
            .ok_or_else(|| ScimError::InvalidFilter(format!("no sub-attribute `{path}`")))
    };
    Ok(match filter {
        Filter::And(a, b) => ItemCondition::And(
            Box::new(item_condition(a, sub_attributes)?),
            Box::new(item_condition(b, sub_attributes)?),
        ),
        Filter::Or(a, b) => ItemCondition::Or(
            Box::new(item_condition(a, sub_attributes)?),
            Box::new(item_condition(b, sub_attributes)?),
        ),
        Filter::Not(a) => ItemCondition::Not(Box::new(item_condition(a, sub_attributes)?)),
        Filter::Present(path) => {
            let definition = field(path)?;
            ItemCondition::Field {
                sub: Some(JsonPath::new(vec![definition.name.clone()])),
                test: Test::Present,
            }
        }
        Filter::Compare { path, op, value } => {
            let definition = field(path)?;
            let sub = Some(JsonPath::new(vec![definition.name.clone()]));
            match leaf_test(definition, *op, value, path)? {
                Negation::No(test) => ItemCondition::Field { sub, test },
                Negation::Not(test) => {
                    ItemCondition::Not(Box::new(ItemCondition::Field { sub, test }))
                }
            }
        }
        Filter::ValuePath { path, .. } => {
            return Err(ScimError::InvalidFilter(format!(
                "`{path}`: value filters do not nest"
            )));
        }
    })
}

/// A test, or the negation of one (`ne`, `eq null`).
enum Negation {
    No(Test),
    Not(Test),
}

/// The test `op value` on a value of `definition`'s type, in searchable form.
fn leaf_test(
    definition: &AttributeDef,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
) -> Result<Negation, ScimError> {
    let invalid = |why: &str| ScimError::InvalidFilter(format!("`{path}`: {why}"));
    if *value == CompValue::Null {
        return match op {
            CompareOp::Eq => Ok(Negation::Not(Test::Present)),
            CompareOp::Ne => Ok(Negation::No(Test::Present)),
            _ => Err(invalid("null can only be compared with eq or ne")),
        };
    }
    let scalar = match (definition.kind, value) {
        (
            AttributeType::String | AttributeType::Reference | AttributeType::Binary,
            CompValue::String(text),
        ) => {
            let text = if definition.case_exact {
                text.clone()
            } else {
                fold(text)
            };
            let like = |prefix: &str, suffix: &str| {
                Ok(Negation::No(Test::Like(like_pattern(
                    prefix, &text, suffix,
                ))))
            };
            match op {
                CompareOp::Co => return like("%", "%"),
                CompareOp::Sw => return like("", "%"),
                CompareOp::Ew => return like("%", ""),
                _ => Scalar::Text(text),
            }
        }
        (AttributeType::DateTime, CompValue::String(text)) => {
            DateTime::parse_from_rfc3339(text).map_err(|_| invalid("not an RFC 3339 date-time"))?;
            Scalar::Text(canonical_time(text))
        }
        (AttributeType::Boolean, CompValue::Bool(flag)) => Scalar::Bool(*flag),
        (AttributeType::Boolean, CompValue::String(text)) if text.eq_ignore_ascii_case("true") => {
            Scalar::Bool(true)
        }
        (AttributeType::Boolean, CompValue::String(text)) if text.eq_ignore_ascii_case("false") => {
            Scalar::Bool(false)
        }
        (AttributeType::Integer | AttributeType::Decimal, CompValue::Number(number)) => {
            Scalar::Number(
                number
                    .as_f64()
                    .ok_or_else(|| invalid("number out of range"))?,
            )
        }
        (AttributeType::Complex, _) => return Err(invalid("compare a sub-attribute")),
        _ => return Err(invalid("the value does not have the attribute's type")),
    };
    let ordered = !matches!(scalar, Scalar::Bool(_));
    Ok(match op {
        CompareOp::Eq => Negation::No(Test::Eq(scalar)),
        CompareOp::Ne => Negation::Not(Test::Eq(scalar)),
        CompareOp::Gt if ordered => Negation::No(Test::Gt(scalar)),
        CompareOp::Ge if ordered => Negation::No(Test::Ge(scalar)),
        CompareOp::Lt if ordered => Negation::No(Test::Lt(scalar)),
        CompareOp::Le if ordered => Negation::No(Test::Le(scalar)),
        _ => {
            return Err(invalid(
                "this operator does not apply to the attribute's type",
            ));
        }
    })
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
