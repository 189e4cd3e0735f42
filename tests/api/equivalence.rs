//! The SQL compilation of filters agrees with the in-memory reference evaluator: random users,
//! random filters, on both backends. Each case gets a tenant of its own in one database.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use scimitar::audit::{Actor, RequestInfo};
use scimitar::clock::SystemClock;
use scimitar::scim::evaluate::{Scope, matches};
use scimitar::scim::filter::parse;
use scimitar::scim::list::{ListRequest, PageLimits};
use scimitar::scim::projection::Projection;
use scimitar::scim::quirks::Quirks;
use scimitar::scim::schema::{ENTERPRISE_USER_SCHEMA, Registry, ResourceKind};
use scimitar::scim::{Context, ScimService};
use scimitar::store::{DatabaseUrl, PoolSettings, Store};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestDb};

/// Cases per backend; `EQUIVALENCE_CASES` raises it for a deeper run.
const CASES: u32 = 48;

fn string_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("eng".to_string()),
        Just("Eng".to_string()),
        Just("ENGINEER".to_string()),
        Just("école".to_string()),
        Just("ÉCOLE".to_string()),
        Just("a@x.org".to_string()),
        Just("A@X.org".to_string()),
        Just("b@y.net".to_string()),
        Just("e1".to_string()),
        Just("E1".to_string()),
        Just("50%_off".to_string()),
        Just(String::new()),
    ]
}

fn email() -> impl Strategy<Value = Value> {
    (
        string_value(),
        prop::option::of(prop_oneof![Just("work"), Just("home"), Just("Work")]),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(value, kind, primary)| {
            let mut email = json!({"value": value});
            if let Some(kind) = kind {
                email["type"] = json!(kind);
            }
            if let Some(primary) = primary {
                email["primary"] = json!(primary);
            }
            email
        })
}

fn user() -> impl Strategy<Value = Value> {
    (
        prop::option::of(string_value()),
        prop::option::of(string_value()),
        prop::option::of(string_value()),
        prop::option::of(any::<bool>()),
        prop::collection::vec(email(), 0..3),
        prop::option::of(string_value()),
        prop::option::of(0_i64..5),
    )
        .prop_map(
            |(title, nick, external_id, active, emails, department, rank)| {
                let mut user = json!({});
                let fields = [
                    ("title", title.map(Value::from)),
                    ("nickName", nick.map(Value::from)),
                    ("externalId", external_id.map(Value::from)),
                    ("active", active.map(Value::from)),
                ];
                for (name, value) in fields {
                    if let Some(value) = value {
                        user[name] = value;
                    }
                }
                if !emails.is_empty() {
                    user["emails"] = Value::Array(emails);
                }
                if let Some(department) = department {
                    user[ENTERPRISE_USER_SCHEMA] = json!({"department": department});
                }
                if let Some(rank) = rank {
                    user["x509Certificates"] = json!([{"value": format!("cert{rank}")}]);
                }
                user
            },
        )
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn string_op() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("eq"),
        Just("ne"),
        Just("co"),
        Just("sw"),
        Just("ew"),
        Just("gt"),
        Just("ge"),
        Just("lt"),
        Just("le")
    ]
}

fn item_filter() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (
            prop_oneof![Just("value"), Just("type")],
            string_op(),
            string_value()
        )
            .prop_map(|(a, op, v)| format!("{a} {op} {}", quoted(&v))),
        (prop_oneof![Just("eq"), Just("ne")], any::<bool>())
            .prop_map(|(op, b)| format!("primary {op} {b}")),
        prop_oneof![Just("type pr"), Just("primary pr"), Just("display pr")].prop_map(String::from),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

/// A user or group id, as a placeholder replaced once the case's resources exist (`{u3}` is
/// the fourth user's id; one past the last names nobody).
fn id_token() -> impl Strategy<Value = String> {
    prop_oneof![
        (0_usize..7).prop_map(|i| format!("{{u{i}}}")),
        (0_usize..4).prop_map(|i| format!("{{g{i}}}")),
    ]
}

fn group_name() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("Eng"),
        Just("eng"),
        Just("ÉCOLE"),
        Just("école"),
        Just("50%_off"),
        Just("Ops"),
    ]
}

/// A condition on one membership: `value`, `display`, `type` (and `$ref`, never).
fn membership_item(display: bool) -> impl Strategy<Value = String> {
    let name = prop_oneof![group_name().prop_map(String::from), string_value()];
    let leaf = prop_oneof![
        (string_op(), id_token()).prop_map(|(op, v)| format!("value {op} {}", quoted(&v))),
        (string_op(), name).prop_map(move |(op, v)| {
            let attribute = if display { "display" } else { "type" };
            format!("{attribute} {op} {}", quoted(&v))
        }),
        (
            string_op(),
            prop_oneof![Just("direct"), Just("User"), Just("user")]
        )
            .prop_map(|(op, v)| format!("type {op} {}", quoted(v))),
        prop_oneof![Just("value pr"), Just("display pr"), Just("type pr")].prop_map(String::from),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

/// A filter on the membership attribute (`groups` of users, `members` of groups).
fn membership_leaf(attribute: &'static str, display: bool) -> impl Strategy<Value = String> {
    prop_oneof![
        membership_item(display).prop_map(move |f| format!("{attribute}[{f}]")),
        (string_op(), id_token())
            .prop_map(move |(op, v)| format!("{attribute} {op} {}", quoted(&v))),
        (string_op(), id_token())
            .prop_map(move |(op, v)| format!("{attribute}.value {op} {}", quoted(&v))),
        (string_op(), group_name())
            .prop_map(move |(op, v)| format!("{attribute}.display {op} {}", quoted(v))),
        prop_oneof![Just("pr"), Just("eq null"), Just("ne null")]
            .prop_map(move |test| format!("{attribute} {test}")),
    ]
}

fn group_filter() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        membership_leaf("members", false),
        (string_op(), group_name()).prop_map(|(op, v)| format!("displayName {op} {}", quoted(v))),
        id_token().prop_map(|v| format!("id eq {}", quoted(&v))),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn filter() -> impl Strategy<Value = String> {
    let string_attribute = prop_oneof![
        Just("userName".to_string()),
        Just("title".to_string()),
        Just("nickName".to_string()),
        Just("externalId".to_string()),
        Just("emails".to_string()),
        Just("emails.value".to_string()),
        Just("emails.type".to_string()),
        Just("x509Certificates.value".to_string()),
        Just(format!("{ENTERPRISE_USER_SCHEMA}:department")),
    ];
    let leaf = prop_oneof![
        (string_attribute.clone(), string_op(), string_value())
            .prop_map(|(a, op, v)| format!("{a} {op} {}", quoted(&v))),
        (
            string_attribute.clone(),
            prop_oneof![Just("eq"), Just("ne")]
        )
            .prop_map(|(a, op)| format!("{a} {op} null")),
        string_attribute.prop_map(|a| format!("{a} pr")),
        (
            prop_oneof![Just("active"), Just("emails.primary")],
            prop_oneof![Just("eq"), Just("ne")],
            any::<bool>()
        )
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        Just("active pr".to_string()),
        item_filter().prop_map(|f| format!("emails[{f}]")),
        (item_filter(), string_op(), string_value())
            .prop_map(|(f, op, v)| format!("emails[{f}].value {op} {}", quoted(&v))),
        membership_leaf("groups", true),
        // The indexed lookups (`scim::matching`) in the forms identity providers send.
        (
            prop_oneof![
                Just("emails[type eq \"work\"].value eq"),
                Just("emails[type eq \"WORK\"].value ne"),
                Just("emails[primary eq true].value eq"),
                Just("emails.value eq"),
                Just("emails ne"),
            ],
            string_value()
        )
            .prop_map(|(lookup, v)| format!("{lookup} {}", quoted(&v))),
        string_value()
            .prop_map(|v| format!("emails[value eq {} and type eq \"Work\"]", quoted(&v))),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn check_backend(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let store = Store::open(
        &DatabaseUrl::parse(&db.url).expect("URL"),
        &PoolSettings::default(),
    )
    .expect("store");
    let registry = Arc::new(Registry::load().expect("schemas"));
    let limits = PageLimits {
        default_count: 1000,
        max_count: 1000,
    };
    let service = ScimService::new(
        store.clone(),
        registry.clone(),
        Arc::new(SystemClock),
        limits,
    );
    let quirks = Quirks::lenient();
    let (actor, request, projection) = (
        Actor {
            client_id: "test".into(),
            name: "test".into(),
        },
        RequestInfo {
            id: "r".into(),
            method: "POST".into(),
            path: "/scim/v2/Users".into(),
            received: None,
        },
        Projection::Default,
    );
    let mut runner = TestRunner::new(Config {
        cases: std::env::var("EQUIVALENCE_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        ..Config::default()
    });
    let groups = prop::collection::vec(
        (group_name(), prop::collection::btree_set(0_usize..7, 0..4)),
        0..4,
    );
    let strategy = (
        prop::collection::vec(user(), 1..7),
        groups,
        prop::collection::vec(filter(), 1..6),
        prop::collection::vec(group_filter(), 1..4),
    );
    let result = runner.run(&strategy, |(users, groups, filters, group_filters)| {
        let tenant = scimitar::tenancy::create(
            &store,
            &format!("case-{}", uuid::Uuid::new_v4().simple()),
            Utc::now(),
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let context = Context {
            tenant_id: &tenant.id,
            base: "http://test/scim/v2",
            projection: &projection,
            actor: &actor,
            request: &request,
            quirks: &quirks,
        };
        // Group names repeat across cases on purpose (folding); duplicates are allowed here.
        scimitar::tenancy::set_unique_group_names(&store, &tenant.name, false)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let fail = |e: scimitar::scim::ScimError| TestCaseError::fail(format!("{e:?}"));
        let mut user_ids = Vec::new();
        for (index, mut body) in users.into_iter().enumerate() {
            body["userName"] = json!(format!("user{index}"));
            let resource = service
                .create(ResourceKind::User, &context, &body)
                .map_err(|e| TestCaseError::fail(format!("{e:?} for {body}")))?;
            user_ids.push(resource.id);
        }
        let mut group_ids = Vec::new();
        for (name, members) in groups {
            let members: Vec<Value> = members
                .iter()
                .filter_map(|i| user_ids.get(*i))
                .map(|id| json!({"value": id}))
                .collect();
            let body = json!({"displayName": name, "members": members});
            group_ids.push(
                service
                    .create(ResourceKind::Group, &context, &body)
                    .map_err(fail)?
                    .id,
            );
        }
        // Bodies as the evaluator sees them: with their memberships.
        let read = |kind, ids: &[String]| -> Result<Vec<Value>, TestCaseError> {
            ids.iter()
                .map(|id| Ok(service.get(kind, &context, id).map_err(fail)?.body))
                .collect()
        };
        let created = read(ResourceKind::User, &user_ids)?;
        let created_groups = read(ResourceKind::Group, &group_ids)?;
        let resolve = |text: &str| {
            let mut text = text.to_string();
            for (prefix, ids) in [("u", &user_ids), ("g", &group_ids)] {
                for i in 0..7 {
                    let id = ids
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("nobody-{prefix}{i}"));
                    text = text.replace(&format!("{{{prefix}{i}}}"), &id);
                }
            }
            text
        };
        let cases = filters
            .iter()
            .map(|f| (ResourceKind::User, f))
            .chain(group_filters.iter().map(|f| (ResourceKind::Group, f)));
        for (kind, text) in cases {
            let text = resolve(text);
            let (bodies, key) = match kind {
                ResourceKind::User => (&created, "userName"),
                ResourceKind::Group => (&created_groups, "id"),
            };
            let filter = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let scope = Scope::Resource(registry.resource(kind));
            let expected: BTreeSet<String> = bodies
                .iter()
                .filter(|body| matches(&filter, body, scope))
                .filter_map(|body| body[key].as_str().map(String::from))
                .collect();
            let request = ListRequest::from_query([("filter", text.as_str())], limits, &quirks)
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let list = service
                .list(kind, &context, &request)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e:?}")))?;
            let actual: BTreeSet<String> = list["Resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|body| body[key].as_str().map(String::from))
                .collect();
            prop_assert_eq!(&actual, &expected, "filter {} on {:?}", text, bodies);
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

#[test]
fn sql_filters_agree_with_the_reference_evaluator_on_sqlite() {
    check_backend(Backend::Sqlite);
}

#[test]
fn sql_filters_agree_with_the_reference_evaluator_on_postgres() {
    check_backend(Backend::Postgres);
}
