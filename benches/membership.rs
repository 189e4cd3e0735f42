//! Membership benchmark: the queries and writes identity providers send about membership,
//! at growing directory sizes. For each size N of `MEMBERSHIP_SIZES` (default 1000, 10000,
//! 100000), a fresh tenant gets N users (each with a work e-mail), a group of all N and a
//! group of 10; measured in process through the SCIM service (no HTTP), p50 over many calls:
//! - Entra's member check: `id eq "G" and members eq "U"` with `attributes=id`, on the group
//!   of N;
//! - users by group: `groups[value eq "G"]` (a page of 100), on the group of 10 and the group
//!   of N (whose `totalResults` counts N memberships);
//! - Entra's work e-mail lookup: `emails[type eq "work"].value eq "…"`;
//! - a membership PATCH as Okta sends it (no `attributes`, remove and add one member), on
//!   the group of N.
//!
//! Postgres tables are vacuumed and analyzed after each load, as autovacuum would, and a
//! checkpoint flushes the load (otherwise it lands in the measurement and commits wait for its
//! I/O); SQLite runs without statistics, as Scimitar's own databases do.
//!
//! Run: `cargo bench --bench membership` (Postgres from SCIMITAR_TEST_POSTGRES_URL or the
//! default test URL; skipped if unreachable). Figures vary with the machine: compare sizes.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use scimitar::audit::{Actor, RequestInfo};
use scimitar::clock::SystemClock;
use scimitar::scim::list::{ListRequest, PageLimits};
use scimitar::scim::projection::Projection;
use scimitar::scim::quirks::Quirks;
use scimitar::scim::resource::Precondition;
use scimitar::scim::schema::{Registry, ResourceKind};
use scimitar::scim::{Context, ScimService};
use scimitar::store::{DatabaseUrl, PoolSettings, Store};
use serde_json::{Value, json};

const LIMITS: PageLimits = PageLimits {
    default_count: 100,
    max_count: 1000,
};

fn main() {
    let sizes: Vec<usize> = std::env::var("MEMBERSHIP_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    support::on_each_backend(|backend, url| {
        let store = Store::open(
            &DatabaseUrl::parse(url).expect("URL"),
            &PoolSettings::default(),
        )
        .expect("open");
        for &size in &sizes {
            run(backend, &store, size);
        }
    });
}

fn run(backend: &str, store: &Store, size: usize) {
    let registry = Arc::new(Registry::load().expect("schemas"));
    let service = ScimService::new(store.clone(), registry, Arc::new(SystemClock), LIMITS);
    let tenant =
        scimitar::tenancy::create(store, &format!("bench-{size}"), Utc::now()).expect("tenant");
    let actor = Actor {
        client_id: "bench".into(),
        name: "bench".into(),
    };
    let request = RequestInfo {
        id: "bench".into(),
        method: "PATCH".into(),
        path: "/scim/v2/Groups".into(),
        received: None,
    };
    let (all, only_id) = (
        Projection::Default,
        Projection::from_params(
            service.registry().resource(ResourceKind::Group),
            Some("id"),
            None,
        )
        .expect("projection"),
    );
    let quirks = Quirks::lenient();
    let context = Context {
        tenant_id: &tenant.id,
        base: "http://bench/scim/v2",
        projection: &all,
        actor: &actor,
        request: &request,
        quirks: &quirks,
    };
    let ids_only = Context {
        projection: &only_id,
        ..context
    };

    let started = Instant::now();
    let mut users = Vec::with_capacity(size);
    for i in 0..size {
        let body = json!({
            "userName": format!("user{i:07}@example.com"),
            "emails": [{"value": format!("user{i:07}@work.example"), "type": "work", "primary": true}],
        });
        let user = service.create(ResourceKind::User, &context, &body);
        users.push(user.expect("create").id);
    }
    let members: Vec<Value> = users.iter().map(|id| json!({"value": id})).collect();
    let big = service
        .create(
            ResourceKind::Group,
            &ids_only,
            &json!({"displayName": "Everyone", "members": members}),
        )
        .expect("group")
        .id;
    let small = service
        .create(
            ResourceKind::Group,
            &ids_only,
            &json!({"displayName": "Ten", "members": members[..10.min(size)]}),
        )
        .expect("group")
        .id;
    println!(
        "{backend} N={size}: loaded {size} users and a group of {size} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if backend == "postgres" {
        // What autovacuum does to a production database after a load: plans from real
        // counts, and pages whose visibility is settled (so measurements do not race it).
        use diesel::connection::SimpleConnection;
        store
            .read(|conn| {
                conn.batch_execute("VACUUM ANALYZE")
                    .and_then(|()| conn.batch_execute("CHECKPOINT"))
                    .map_err(scimitar::store::StoreError::from)
            })
            .expect("analyze");
    }
    let sample = |i: usize| &users[(i * 7919) % size];

    let check = p50(200, |i| {
        let filter = format!("id eq \"{big}\" and members eq \"{}\"", sample(i));
        let found = list(&service, &ids_only, ResourceKind::Group, &filter, 100);
        assert_eq!(found["totalResults"], json!(1));
    });
    let by_small = p50(200, |_| {
        let filter = format!("groups[value eq \"{small}\"]");
        let found = list(&service, &context, ResourceKind::User, &filter, 100);
        assert_eq!(found["totalResults"], json!(10.min(size)));
    });
    let by_big = p50(20, |_| {
        let filter = format!("groups[value eq \"{big}\"]");
        let found = list(&service, &context, ResourceKind::User, &filter, 100);
        assert_eq!(found["totalResults"], json!(size));
    });
    let email = p50(200, |i| {
        let n = (i * 7919) % size;
        let filter = format!("emails[type eq \"work\"].value eq \"USER{n:07}@work.example\"");
        let found = list(&service, &context, ResourceKind::User, &filter, 100);
        assert_eq!(found["totalResults"], json!(1));
    });
    // Okta's membership push: a PATCH without `attributes` that removes and adds a member.
    let patch = p50(100, |i| {
        let member = sample(i);
        let body = json!({"Operations": [
            {"op": "remove", "path": format!("members[value eq \"{member}\"]")},
            {"op": "add", "path": "members", "value": [{"value": member}]},
        ]});
        let answer = service
            .patch(
                ResourceKind::Group,
                &context,
                &big,
                &body,
                &Precondition::default(),
            )
            .expect("patch");
        assert_eq!(
            answer.no_content,
            size > 100,
            "answered 204 beyond 100 members"
        );
    });
    println!(
        "{backend} N={size}: member check {check} | users by group of 10 {by_small} | users by group of {size} (page of 100) {by_big} | work e-mail lookup {email} | membership PATCH on group of {size} {patch}"
    );
}

fn list(
    service: &ScimService,
    context: &Context,
    kind: ResourceKind,
    filter: &str,
    count: usize,
) -> Value {
    let count = count.to_string();
    let request = ListRequest::from_query(
        [("filter", filter), ("count", count.as_str())],
        LIMITS,
        &Quirks::lenient(),
    )
    .expect("request");
    service.list(kind, context, &request).expect("list")
}

/// The median time of `runs` calls of `work` (given the call's index), as milliseconds.
fn p50(runs: usize, mut work: impl FnMut(usize)) -> String {
    let mut times: Vec<Duration> = (0..runs)
        .map(|i| {
            let started = Instant::now();
            work(i);
            started.elapsed()
        })
        .collect();
    times.sort();
    format!("{:.3} ms", times[times.len() / 2].as_secs_f64() * 1000.0)
}
