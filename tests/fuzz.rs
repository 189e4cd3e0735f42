//! Fuzzing on stable Rust: property tests that feed the request parsers arbitrary and
//! grammar-shaped, near-valid input and require that nothing panics.
//!
//! Targets: the filter parser and its two consumers (the in-memory evaluator and the
//! translation to database conditions), PATCH paths, PATCH requests parsed and applied to a
//! stored document then normalized, and request bodies normalized (as JSON values and as
//! raw bytes). Each runs `SCIMITAR_FUZZ_CASES` cases (default 256, so the normal test run
//! stays fast); `benches/fuzz.sh` runs each with a million or more in release mode.
//! Inputs that ever made a target fail are kept in `regressions` below.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::Config;
use scimitar::scim::evaluate::{Scope, matches};
use scimitar::scim::filter::{self, Filter};
use scimitar::scim::normalize::normalize;
use scimitar::scim::patch;
use scimitar::scim::query::{ColumnKind, Filterable, Target, resolve, to_condition};
use scimitar::scim::quirks::Quirks;
use scimitar::scim::schema::{Registry, ResourceKind, ResourceSchema};
use serde_json::{Map, Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn config() -> Config {
    let cases = std::env::var("SCIMITAR_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        max_shrink_iters: 4096,
        ..Config::default()
    }
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::load().expect("the embedded schemas"))
}

fn resource(user: bool) -> &'static ResourceSchema {
    registry().resource(if user {
        ResourceKind::User
    } else {
        ResourceKind::Group
    })
}

fn quirks(strict: bool) -> Quirks {
    Quirks::new(strict, "fuzz")
}

// ---------------------------------------------------------------- generators

/// Every attribute and sub-attribute name of both resources, the schema URNs and
/// URN-qualified names: the words identity providers build paths and bodies from.
fn schema_words() -> &'static Vec<String> {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words = Vec::new();
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let resource = registry().resource(kind);
            for schema in std::iter::once(&resource.core).chain(&resource.extensions) {
                words.push(schema.id.clone());
                for attribute in schema.attributes.iter().chain(&resource.common) {
                    words.push(attribute.name.clone());
                    words.push(format!("{}:{}", schema.id, attribute.name));
                    for sub in &attribute.sub_attributes {
                        words.push(sub.name.clone());
                        words.push(format!("{}.{}", attribute.name, sub.name));
                    }
                }
            }
        }
        words.extend(
            [
                "schemas",
                "id",
                "meta",
                "meta.lastModified",
                "Operations",
                "op",
            ]
            .map(String::from),
        );
        words.sort();
        words.dedup();
        words
    })
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::sample::select(schema_words().clone()),
        1 => "[a-zA-Z$_][a-zA-Z0-9$_:.-]{0,10}",
        1 => Just(String::new()),
    ]
}

fn operator() -> impl Strategy<Value = String> {
    let ops = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "Eq"];
    prop_oneof![
        12 => (prop::sample::select(ops.to_vec()), any::<bool>())
            .prop_map(|(op, upper)| if upper { op.to_uppercase() } else { op.to_string() }),
        1 => prop::sample::select(vec!["pr", "xx", "=="]).prop_map(String::from),
    ]
}

fn literal() -> impl Strategy<Value = String> {
    let odd = prop_oneof![
        any::<String>().prop_map(|s| json!(s).to_string()),
        Just("\"2026-11-29T10:00:00Z\"".to_string()),
        Just("\"2026-11-29T10:00:00.123456789+14:00\"".to_string()),
        Just("\"\\ud800\"".to_string()),
        Just("\"\\u0000\\\"\\\\\"".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        Just("1e999999".to_string()),
        Just("-0".to_string()),
        Just("123456789012345678901234567890".to_string()),
        prop::sample::select(vec!["true", "false", "null", "True", "NULL"]).prop_map(String::from),
    ];
    prop_oneof![
        2 => "[a-zA-Z0-9 @.:\\-]{0,12}".prop_map(|s| json!(s).to_string()),
        1 => odd,
    ]
}

/// A filter written from the grammar, sometimes wrongly.
fn grammar_filter() -> impl Strategy<Value = String> {
    let comparison = (word(), operator(), literal()).prop_map(|(a, o, v)| format!("{a} {o} {v}"));
    let present = word().prop_map(|a| format!("{a} pr"));
    let leaf = prop_oneof![3 => comparison, 1 => present];
    leaf.prop_recursive(5, 32, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.clone().prop_map(|a| format!("({a})")),
            (word(), inner.clone()).prop_map(|(p, a)| format!("{p}[{a}]")),
            (word(), inner.clone(), word()).prop_map(|(p, a, s)| format!("{p}[{a}].{s}")),
            (word(), inner, operator(), literal())
                .prop_map(|(p, a, o, v)| format!("{p}[{a}].value {o} {v}")),
        ]
    })
}

/// A PATCH path written from the grammar.
fn grammar_path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => word(),
        1 => (word(), word()).prop_map(|(a, s)| format!("{a}.{s}")),
        2 => (word(), grammar_filter()).prop_map(|(a, f)| format!("{a}[{f}]")),
        1 => (word(), grammar_filter(), word()).prop_map(|(a, f, s)| format!("{a}[{f}].{s}")),
    ]
}

/// One edit of a near-valid input: delete, insert or duplicate a stretch.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, char),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let special = prop::sample::select(vec![
        '"',
        '\\',
        '[',
        ']',
        '(',
        ')',
        '.',
        ':',
        ' ',
        '\0',
        '\n',
        '\u{FEFF}',
        'é',
        '\u{10FFFF}',
        '{',
        '}',
        ',',
        'e',
    ]);
    prop_oneof![
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), prop_oneof![special, any::<char>()])
            .prop_map(|(at, c)| Edit::Insert(at, c)),
        (any::<usize>(), 1usize..16).prop_map(|(at, n)| Edit::Duplicate(at, n)),
    ]
}

fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len();
        match *edit {
            Edit::Delete(at, n) if len > 0 => {
                let at = at % len;
                chars.drain(at..(at + n).min(len));
            }
            Edit::Insert(at, c) => chars.insert(at % (len + 1), c),
            Edit::Duplicate(at, n) if len > 0 => {
                let at = at % len;
                let copy: Vec<char> = chars[at..(at + n).min(len)].to_vec();
                chars.splice(at..at, copy);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Valid-looking text with a few edits, or none.
fn near(valid: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    let edits = prop_oneof![Just(Vec::new()), prop::collection::vec(edit(), 1..4)];
    (valid, edits).prop_map(|(text, edits)| mutate(&text, &edits))
}

/// Any JSON value, with keys from the schemas.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z0-9 @.:$\\-]{0,12}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "True",
            "false",
            "2026-11-29T10:00:00Z",
            "work",
            CORE_USER,
            ENTERPRISE
        ])
        .prop_map(|s| Value::String(s.into())),
        grammar_filter().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A resource body shaped like one: `schemas`, known attributes, some extension values.
fn resource_body() -> impl Strategy<Value = Value> {
    let schemas = prop_oneof![
        Just(json!([CORE_USER])),
        Just(json!([CORE_USER, ENTERPRISE])),
        Just(json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])),
        json_value(),
    ];
    (
        schemas,
        prop::collection::vec((word(), json_value()), 0..8),
        any::<bool>(),
    )
        .prop_map(|(schemas, attributes, with_schemas)| {
            let mut body = Map::new();
            if with_schemas {
                body.insert("schemas".into(), schemas);
            }
            for (key, value) in attributes {
                body.insert(key, value);
            }
            Value::Object(body)
        })
}

/// A PatchOp request shaped like one.
fn patch_body() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        8 => prop::sample::select(vec!["add", "replace", "remove", "Add", "REPLACE", "Remove"]),
        1 => prop::sample::select(vec!["copy", "", "move"]),
    ];
    let known = prop::sample::select(vec![
        "active",
        "title",
        "emails",
        "emails[type eq \"work\"].value",
        "emails[primary eq true]",
        "name.givenName",
        "name",
        "externalId",
        "userName",
        "roles",
        "displayName",
        "members[value eq \"00u2\"]",
        "addresses[type eq \"work\"].streetAddress",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    ])
    .prop_map(String::from);
    let path = prop_oneof![
        4 => near(prop_oneof![known, grammar_path()]).prop_map(Some),
        1 => Just(None),
    ];
    let simple = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        "[a-zA-Z0-9 @.:\\-]{0,12}".prop_map(Value::String),
        ("[a-z@.]{1,10}", any::<bool>()).prop_map(|(v, p)| json!([{"value": v, "primary": p}])),
        ("[a-z]{1,8}", "[a-z]{1,8}").prop_map(|(v, t)| json!({"value": v, "type": t})),
    ];
    let value =
        prop_oneof![3 => simple.prop_map(Some), 3 => json_value().prop_map(Some), 1 => Just(None)];
    let operation = (op, path, value).prop_map(|(op, path, value)| {
        let mut operation = Map::new();
        operation.insert("op".into(), json!(op));
        if let Some(path) = path {
            operation.insert("path".into(), json!(path));
        }
        if let Some(value) = value {
            operation.insert("value".into(), value);
        }
        Value::Object(operation)
    });
    prop_oneof![1 => Just(Vec::new()), 8 => prop::collection::vec(operation, 1..4)].prop_map(|operations| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
    })
}

/// The stored document a PATCH applies to: a full user, or a group.
fn stored(user: bool) -> Map<String, Value> {
    let body = if user {
        json!({"schemas": [CORE_USER, ENTERPRISE], "userName": "alice@example.com",
            "name": {"givenName": "Alice", "familyName": "Liddell"}, "active": true,
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true},
                       {"value": "a@home.example", "type": "home"}],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
            "addresses": [{"streetAddress": "1 Main St", "type": "work", "primary": true}],
            "roles": [{"value": "admin"}], "title": "Engineer", "externalId": "00u1",
            ENTERPRISE: {"employeeNumber": "42", "manager": {"value": "00u2"}, "department": "R&D"}})
    } else {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering",
            "externalId": "00g1"})
    };
    normalize(resource(user), &body, &Quirks::lenient())
        .expect("the stored document normalizes")
        .attributes
}

// ---------------------------------------------------------------- targets

/// Parses a filter and, when it parses, evaluates it against a stored user and translates it
/// to database conditions: none of the three may panic.
fn exercise_filter(input: &str) {
    let Ok(parsed) = filter::parse(input) else {
        return;
    };
    let user = resource(true);
    let document = Value::Object(stored(true));
    let _ = matches(&parsed, &document, Scope::Resource(user));
    let _ = filter::parse_reporting(input);
    for with_columns in [false, true] {
        let table: [Filterable<u8>; 4] = [
            ("id", None, 0, ColumnKind::ExactText),
            ("externalId", None, 1, ColumnKind::OptionalExactText),
            ("userName", None, 2, ColumnKind::FoldedText),
            ("meta", Some("lastModified"), 3, ColumnKind::Time),
        ];
        let columns = |path: &filter::AttrPath| {
            if with_columns {
                resolve(path, CORE_USER, &table)
            } else {
                None
            }
        };
        let target = Target {
            columns: &columns,
            schema: user,
            derived: "groups",
            membership: &[],
            indexed: &[],
        };
        let _ = to_condition(&parsed, &target);
    }
    let _: &Filter = &parsed;
}

fn exercise_path(input: &str) {
    if let Ok(path) = filter::parse_path(input) {
        let _ = patch::definition(resource(true), &path);
        let _ = patch::definition(resource(false), &path);
    }
}

/// Parses a PATCH, applies it to a stored document and normalizes the result, as a write does.
fn exercise_patch(body: &Value, user: bool, strict: bool) {
    let (resource, quirks) = (resource(user), quirks(strict));
    let Ok(operations) = patch::parse(resource, body, &quirks) else {
        return;
    };
    let mut document = stored(user);
    if patch::apply_all(resource, &mut document, &operations, &quirks).is_ok() {
        let _ = normalize(resource, &Value::Object(document), &quirks);
    }
}

/// Normalizes a body; what it accepts must normalize to itself.
fn exercise_body(body: &Value, user: bool, strict: bool) {
    let (resource, quirks) = (resource(user), quirks(strict));
    if let Ok(first) = normalize(resource, body, &quirks) {
        let again = normalize(resource, &Value::Object(first.attributes.clone()), &quirks);
        assert_eq!(again.map(|n| n.attributes).ok(), Some(first.attributes));
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn filter_parser_on_arbitrary_text(input in any::<String>()) {
        exercise_filter(&input);
    }

    #[test]
    fn filter_parser_on_near_valid_filters(input in near(grammar_filter())) {
        exercise_filter(&input);
    }

    #[test]
    fn patch_paths_arbitrary_and_near_valid(
        input in prop_oneof![any::<String>(), near(grammar_path())]
    ) {
        exercise_path(&input);
    }

    #[test]
    fn patch_requests_parsed_applied_and_normalized(
        body in prop_oneof![4 => patch_body(), 1 => json_value()],
        user in any::<bool>(),
        strict in any::<bool>(),
    ) {
        exercise_patch(&body, user, strict);
    }

    #[test]
    fn request_bodies_normalized(
        body in prop_oneof![3 => resource_body(), 1 => json_value()],
        user in any::<bool>(),
        strict in any::<bool>(),
    ) {
        exercise_body(&body, user, strict);
    }

    #[test]
    fn raw_request_bytes_parsed_and_normalized(
        text in near(prop_oneof![
            resource_body().prop_map(|b| b.to_string()),
            patch_body().prop_map(|b| b.to_string()),
        ]),
        user in any::<bool>(),
    ) {
        if let Ok(body) = serde_json::from_str::<Value>(&text) {
            exercise_body(&body, user, false);
            exercise_patch(&body, user, false);
        }
    }
}

/// Inputs the fuzz targets found or that once broke a parser, kept as regression tests.
mod regressions {
    use super::*;

    #[test]
    fn known_inputs_do_not_panic() {
        for input in [
            "",
            "[",
            "emails[",
            "emails[type eq \"work\"",
            "emails[type eq \"work\"].",
            "not",
            "not (",
            "a eq \"\\ud800\"",
            "a eq 1e999999",
            "a eq -",
            "urn:",
            "urn:ietf:params:scim:schemas:core:2.0:User:",
            "é eq 1",
            "\u{0} eq \"x\"",
        ] {
            exercise_filter(input);
            exercise_path(input);
        }
    }
}

/// The grammar-shaped generators must reach past the parsers: most of what they write parses.
#[test]
fn grammar_shaped_inputs_mostly_parse() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (filters, paths, patches) = (grammar_filter(), grammar_path(), patch_body());
    let (mut parsed_filters, mut parsed_paths, mut applied) = (0, 0, 0);
    for _ in 0..500 {
        let text = filters.new_tree(&mut runner).expect("a filter").current();
        parsed_filters += usize::from(filter::parse(&text).is_ok());
        let text = paths.new_tree(&mut runner).expect("a path").current();
        parsed_paths += usize::from(filter::parse_path(&text).is_ok());
        let body = patches.new_tree(&mut runner).expect("a patch").current();
        let operations = patch::parse(resource(true), &body, &Quirks::lenient());
        applied += usize::from(operations.is_ok_and(|ops| {
            let mut document = stored(true);
            patch::apply_all(resource(true), &mut document, &ops, &Quirks::lenient()).is_ok()
        }));
    }
    eprintln!(
        "of 500: {parsed_filters} filters parse, {parsed_paths} paths parse, {applied} patches apply"
    );
    assert!(parsed_filters > 100 && parsed_paths > 100 && applied > 30);
}
