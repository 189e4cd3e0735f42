//! A property test over the shapes a PATCH value of a multi-valued attribute can take: a
//! list, a single object, a bare string, a number, a boolean, `{}`, `null`, nested lists.
//! Whatever the shape, a PATCH either does what it names or is refused: an `add` or a
//! `remove` that names values is never a silent no-op, a `replace` empties an attribute (or a
//! group) only when it says `[]`, and an explicit `null` is refused rather than read as
//! "everything". Group members are the case that revokes access: a
//! `replace` misread as "no members" ends every member's roles.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::group_members::Membership;
use super::normalize::normalize;
use super::patch;
use super::quirks::Quirks;
use super::schema::{Registry, ResourceKind};

/// One item of a generated value, and what it names when it is a value at all.
#[derive(Debug, Clone)]
enum Item {
    /// `{"value": s}`
    Object(String),
    /// A bare `s`: read as `{"value": s}` (Entra's bare ids).
    Bare(String),
    /// `{}`
    Empty,
    /// `{"display": s}`: no value
    NoValue(String),
    Number(i64),
    Bool(bool),
    Null,
    /// `[{"value": s}]` inside a list
    Nested(String),
}

impl Item {
    fn json(&self) -> Value {
        match self {
            Item::Object(s) => json!({"value": s}),
            Item::Bare(s) => json!(s),
            Item::Empty => json!({}),
            Item::NoValue(s) => json!({"display": s}),
            Item::Number(n) => json!(n),
            Item::Bool(b) => json!(b),
            Item::Null => Value::Null,
            Item::Nested(s) => json!([{"value": s}]),
        }
    }

    /// The value it names, or `None` when it names none (and must be refused).
    fn named(&self) -> Option<String> {
        match self {
            Item::Object(s) | Item::Bare(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// A PATCH value: one item alone, or a list of items.
#[derive(Debug, Clone)]
enum Shape {
    Single(Item),
    List(Vec<Item>),
}

impl Shape {
    fn json(&self) -> Value {
        match self {
            Shape::Single(item) => item.json(),
            Shape::List(items) => Value::Array(items.iter().map(Item::json).collect()),
        }
    }

    /// What the value names: `Some(values)` when every item is a value, else `None`.
    fn named(&self) -> Option<BTreeSet<String>> {
        match self {
            Shape::Single(Item::Null) => None,
            // A list of one, written as a list.
            Shape::Single(Item::Nested(s)) => Some(BTreeSet::from([s.clone()])),
            Shape::Single(item) => item.named().map(|v| BTreeSet::from([v])),
            Shape::List(items) => items.iter().map(Item::named).collect(),
        }
    }

    fn is_empty_list(&self) -> bool {
        matches!(self, Shape::List(items) if items.is_empty())
    }
}

fn item() -> impl Strategy<Value = Item> {
    let name = "[a-z]{1,6}@y";
    prop_oneof![
        4 => name.prop_map(Item::Object),
        2 => name.prop_map(Item::Bare),
        1 => Just(Item::Empty),
        1 => name.prop_map(Item::NoValue),
        1 => any::<i64>().prop_map(Item::Number),
        1 => any::<bool>().prop_map(Item::Bool),
        1 => Just(Item::Null),
        1 => name.prop_map(Item::Nested),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        item().prop_map(Shape::Single),
        prop::collection::vec(item(), 0..4).prop_map(Shape::List),
    ]
}

fn op() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("add"), Just("replace"), Just("remove")]
}

/// The multi-valued attributes of a user whose items are identified by `value`.
const USER_ATTRIBUTES: [&str; 7] = [
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "roles",
    "entitlements",
    "x509Certificates",
];

/// The values of `attribute` in a stored document.
fn values_of(document: &Map<String, Value>, attribute: &str) -> BTreeSet<String> {
    document
        .get(attribute)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("value").and_then(Value::as_str))
        .map(str::to_lowercase)
        .collect()
}

/// A user PATCH as the service runs it: parse, apply to the stored document, normalize.
fn patch_user(
    registry: &Registry,
    attribute: &str,
    op: &str,
    value: &Value,
) -> Result<Map<String, Value>, super::ScimError> {
    let schema = registry.resource(ResourceKind::User);
    let quirks = Quirks::lenient();
    let stored = json!({"userName": "u", attribute: [{"value": "keep@x"}]});
    let mut document = normalize(schema, &stored, &quirks)?.attributes;
    let body = json!({
        "schemas": [patch::PATCH_SCHEMA],
        "Operations": [{"op": op, "path": attribute, "value": value}],
    });
    let operations = patch::parse(schema, &body, &quirks)?;
    patch::apply_all(schema, &mut document, &operations, &quirks)?;
    Ok(normalize(schema, &Value::Object(document), &quirks)?.attributes)
}

/// A group PATCH on `members`: the membership change it makes.
fn patch_members(
    registry: &Registry,
    op: &str,
    value: &Value,
) -> Result<Membership, super::ScimError> {
    let schema = registry.resource(ResourceKind::Group);
    let quirks = Quirks::lenient();
    let body = json!({
        "schemas": [patch::PATCH_SCHEMA],
        "Operations": [{"op": op, "path": "members", "value": value}],
    });
    let definition = schema
        .attribute("members")
        .ok_or(super::ScimError::Internal)?;
    let mut membership = Membership::Change {
        add: BTreeSet::new(),
        remove: BTreeSet::new(),
    };
    for operation in patch::parse(schema, &body, &quirks)? {
        membership.apply(&operation, definition, &quirks)?;
    }
    Ok(membership)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_user_patch_does_what_its_value_names_or_is_refused(
        attribute in prop::sample::select(USER_ATTRIBUTES.to_vec()),
        op in op(),
        shape in shape(),
    ) {
        let registry = Registry::load().map_err(TestCaseError::fail)?;
        let result = patch_user(&registry, attribute, op, &shape.json());
        let named = shape.named();
        match (result, named) {
            (Err(_), _) => {}
            (Ok(_), None) => prop_assert!(false, "{op} of {} was accepted", shape.json()),
            (Ok(after), Some(named)) => {
                let after = values_of(&after, attribute);
                prop_assert!(!named.is_empty() || shape.is_empty_list(), "{op} of nothing");
                match op {
                    "add" => {
                        prop_assert!(after.contains("keep@x"));
                        prop_assert!(named.is_subset(&after), "{named:?} not in {after:?}");
                    }
                    "replace" => prop_assert_eq!(&after, &named),
                    _ => {
                        prop_assert!(after.contains("keep@x"));
                        prop_assert!(named.is_disjoint(&after), "{named:?} still in {after:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_member_patch_changes_the_members_it_names_or_is_refused(
        op in op(),
        shape in shape(),
    ) {
        let registry = Registry::load().map_err(TestCaseError::fail)?;
        let result = patch_members(&registry, op, &shape.json());
        match (result, shape.named()) {
            (Err(_), _) => {}
            (Ok(_), None) => prop_assert!(false, "{op} of {} was accepted", shape.json()),
            (Ok(membership), Some(named)) => {
                prop_assert!(!named.is_empty() || shape.is_empty_list(), "{op} of nothing");
                match (op, membership) {
                    ("add", Membership::Change { add, remove }) => {
                        prop_assert_eq!(add, named);
                        prop_assert!(remove.is_empty());
                    }
                    ("replace", Membership::Replace(members)) => prop_assert_eq!(members, named),
                    ("remove", Membership::Change { add, remove }) => {
                        prop_assert_eq!(remove, named);
                        prop_assert!(add.is_empty());
                    }
                    (op, _) => prop_assert!(false, "{op} made the wrong kind of change"),
                }
            }
        }
    }
}

#[test]
fn a_single_member_object_is_a_list_of_one_and_a_number_or_empty_object_is_refused() {
    let registry = Registry::load().expect("schemas");
    let change = patch_members(&registry, "replace", &json!({"value": "u1"}));
    assert!(
        matches!(change, Ok(Membership::Replace(m)) if m == BTreeSet::from(["u1".to_string()]))
    );
    for refused in [
        json!({}),
        json!(7),
        json!(true),
        json!([{}]),
        json!([[{"value": "u1"}]]),
    ] {
        for op in ["add", "replace", "remove"] {
            assert!(
                patch_members(&registry, op, &refused).is_err(),
                "{op} {refused}"
            );
        }
    }
}
