//! Scale benchmark: loads SCALE_USERS users (default 100,000) into a fresh database of each
//! backend and measures, in process through the SCIM service (no HTTP):
//! - creates per second while loading;
//! - `userName eq` lookups: p50 / p99 latency;
//! - a filter on an attribute without a column (`title eq`), which scans the search documents;
//! - a page deep in the list by `startIndex` versus by cursor, and whole walks by each;
//! - adding then removing one member of a 10,000-member group versus a 10-member group
//!   (PATCH with `excludedAttributes=members`, as an IdP's membership push).
//!
//! Run: `cargo bench --bench scale` (SCALE_LOADERS threads load the users, 1 by default) (Postgres from SCIMITAR_TEST_POSTGRES_URL or the default
//! test URL; skipped if unreachable). Figures vary with the machine: compare ratios.

mod support;

use std::time::{Duration, Instant};

use scimitar::scim::list::{ListRequest, PageLimits};
use scimitar::scim::quirks::Quirks;
use scimitar::scim::resource::Precondition;
use scimitar::scim::schema::ResourceKind;
use serde_json::{Value, json};

fn main() {
    let users: usize = std::env::var("SCALE_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    support::on_each_backend(|backend, url| run(backend, url, users));
}

fn run(backend: &str, url: &str, users: usize) {
    let limits = PageLimits {
        default_count: 100,
        max_count: 1000,
    };
    let bench = support::service::Bench::open(url, "bench", limits);
    let service = &bench.service;
    let (context, lean) = (bench.context(), bench.lean());
    let quirks = Quirks::lenient();

    // Load, from SCALE_LOADERS threads (1 by default: one writer).
    let loaders: usize = std::env::var("SCALE_LOADERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let started = Instant::now();
    let create = |i: usize| {
        let body = json!({
            "userName": format!("user{i:06}@example.com"), "externalId": format!("ext-{i}"),
            "title": format!("title {}", i % 1000), "name": {"givenName": "Given", "familyName": format!("F{i}")},
            "emails": [{"value": format!("user{i:06}@example.com"), "type": "work", "primary": true}],
        });
        service
            .create(ResourceKind::User, &context, &body)
            .expect("create")
            .id
    };
    let mut ids: Vec<String> = std::thread::scope(|scope| {
        let loading: Vec<_> = (0..loaders)
            .map(|loader| {
                let create = &create;
                scope.spawn(move || {
                    (loader..users)
                        .step_by(loaders)
                        .map(|i| (i, create(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ids: Vec<(usize, String)> = loading
            .into_iter()
            .flat_map(|loader| loader.join().expect("a loader"))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    });
    ids.truncate(users);
    let load = started.elapsed();
    println!(
        "{backend}: loaded {users} users in {:.1} s: {:.0} creates/s",
        load.as_secs_f64(),
        users as f64 / load.as_secs_f64()
    );

    // userName eq lookups.
    let mut latencies = Vec::new();
    for i in (0..users).step_by((users / 2000).max(1)) {
        let filter = format!("userName eq \"USER{i:06}@EXAMPLE.COM\"");
        let list = ListRequest::from_query([("filter", filter.as_str())], limits, &quirks)
            .expect("request");
        let started = Instant::now();
        let found = service
            .list(ResourceKind::User, &context, &list)
            .expect("list");
        latencies.push(started.elapsed());
        assert_eq!(found["totalResults"], json!(1));
    }
    println!(
        "{backend}: userName eq lookup over {} lookups: p50 {} / p99 {}",
        latencies.len(),
        percentile(&mut latencies, 50),
        percentile(&mut latencies, 99)
    );

    // A filter on an attribute without a column.
    let list = ListRequest::from_query(
        [("filter", "title eq \"TITLE 7\""), ("count", "10")],
        limits,
        &quirks,
    )
    .expect("request");
    let (elapsed, found) = timed(|| {
        service
            .list(ResourceKind::User, &context, &list)
            .expect("list")
    });
    println!(
        "{backend}: unindexed filter (title eq, {} matches): {}",
        found["totalResults"],
        ms(elapsed)
    );

    // A page deep in the list: startIndex versus cursor.
    let deep = (users.saturating_sub(100) + 1).to_string();
    let by_index = ListRequest::from_query(
        [("startIndex", deep.as_str()), ("count", "100")],
        limits,
        &quirks,
    )
    .expect("request");
    let (index_time, _) = timed(|| {
        service
            .list(ResourceKind::User, &context, &by_index)
            .expect("list")
    });
    let first = ListRequest::from_query([("startIndex", "1"), ("count", "100")], limits, &quirks)
        .expect("request");
    let (first_time, _) = timed(|| {
        service
            .list(ResourceKind::User, &context, &first)
            .expect("list")
    });
    let mut cursor = String::new();
    let mut pages = 0;
    let mut deepest;
    let walk = Instant::now();
    loop {
        let request = ListRequest::from_query(
            [("cursor", cursor.as_str()), ("count", "100")],
            limits,
            &quirks,
        )
        .expect("request");
        let (elapsed, page) = timed(|| {
            service
                .list(ResourceKind::User, &context, &request)
                .expect("list")
        });
        pages += 1;
        deepest = elapsed;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    println!(
        "{backend}: page of 100 at startIndex {deep}: {} (first page {}); by cursor, last of {pages} pages: {}; whole cursor walk {:.1} s",
        ms(index_time),
        ms(first_time),
        ms(deepest),
        walk.elapsed().as_secs_f64()
    );

    // The walk an identity provider's import makes: every page by startIndex, in order.
    let walk = Instant::now();
    let mut start = 1;
    let mut last_page;
    loop {
        let index = start.to_string();
        let request = ListRequest::from_query(
            [("startIndex", index.as_str()), ("count", "100")],
            limits,
            &quirks,
        )
        .expect("request");
        let (elapsed, page) = timed(|| {
            service
                .list(ResourceKind::User, &context, &request)
                .expect("list")
        });
        last_page = elapsed;
        let read = page["itemsPerPage"].as_u64().unwrap_or(0) as usize;
        start += read;
        if read < 100 {
            break;
        }
    }
    println!(
        "{backend}: whole walk by startIndex ({} users): {:.1} s, last page {}",
        start - 1,
        walk.elapsed().as_secs_f64(),
        ms(last_page)
    );

    // Membership PATCH on a big and a small group.
    for size in [10_000.min(users - 1), 10] {
        let members: Vec<Value> = ids[..size].iter().map(|id| json!({"value": id})).collect();
        let group = service
            .create(
                ResourceKind::Group,
                &lean,
                &json!({"displayName": format!("size {size}"), "members": members}),
            )
            .expect("group");
        let outsider = &ids[users - 1];
        let mut times = Vec::new();
        for _ in 0..20 {
            for (op, path) in [
                ("add", "members".to_string()),
                ("remove", format!("members[value eq \"{outsider}\"]")),
            ] {
                let body = json!({"Operations": [{"op": op, "path": path, "value": [{"value": outsider}]}]});
                let (elapsed, _) = timed(|| {
                    service
                        .patch(
                            ResourceKind::Group,
                            &lean,
                            &group.id,
                            &body,
                            &Precondition::default(),
                        )
                        .expect("patch")
                });
                times.push(elapsed);
            }
        }
        println!(
            "{backend}: add+remove one member, group of {size}: p50 {} per PATCH",
            percentile(&mut times, 50)
        );
    }
}

fn timed<T>(work: impl FnOnce() -> T) -> (Duration, T) {
    let started = Instant::now();
    let result = work();
    (started.elapsed(), result)
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn percentile(samples: &mut [Duration], p: usize) -> String {
    samples.sort();
    let index = ((samples.len() * p) / 100).min(samples.len().saturating_sub(1));
    ms(samples[index])
}
