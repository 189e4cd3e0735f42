//! Growth benchmark (issue 14): is the per-request cost flat as a tenant grows? In process
//! through the SCIM service (no HTTP), on one database per backend that starts empty and grows
//! step by step; at each size, p50 / p99 of:
//! - `userName eq` and `externalId eq` lookups and get by id, of users drawn at random from the
//!   whole tenant;
//! - creates; deactivations (`PATCH` `active: false` of active users drawn at random);
//! - membership changes (one member added to, then removed from, a group of 10).
//!
//! Sizes up to `GROWTH_API_MAX` (100,000) are loaded through the SCIM service as an identity
//! provider's first sync does (`GROWTH_LOADERS` writers at once, default 4), and measured at
//! once: no restart, no `ANALYZE`, so plans made while the tables were small are the ones
//! measured. Postgres sizes beyond it are grown by cloning one user the API created with SQL
//! (`INSERT … SELECT` over `generate_series`: the user row with its stored and search
//! documents, its `match_values`, its `user.create` audit record, the kept `tenant_counts`),
//! then `ANALYZE`d (said so in the output). The cloned audit records break the audit chain of
//! the bench's tenant (appends still work; verification would fail): a throwaway database.
//!
//! Run: `cargo bench --bench growth`. Sizes: `GROWTH_SQLITE_SIZES` (default
//! `1000,10000,100000`), `GROWTH_POSTGRES_SIZES` (default `1000,10000,100000,1000000`);
//! `GROWTH_BACKENDS` (`sqlite,postgres`); `GROWTH_SAMPLES` lookups per measure (1,000; writes
//! take a fifth of it each). Postgres from SCIMITAR_TEST_POSTGRES_URL or the default test URL.
//! `GROWTH_SQLITE_SIZES=200,2000 GROWTH_POSTGRES_SIZES=200,2000,5000 GROWTH_API_MAX=2000
//! cargo bench --bench growth --profile dev` is a quick smoke run.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use scimitar::scim::list::{ListRequest, PageLimits};
use scimitar::scim::quirks::Quirks;
use scimitar::scim::resource::Precondition;
use scimitar::scim::schema::ResourceKind;
use scimitar::scim::{Context, ScimService};
use serde_json::{Value, json};

const LIMITS: PageLimits = PageLimits {
    default_count: 100,
    max_count: 1000,
};

const MEASURES: [&str; 8] = [
    "userName eq",
    "externalId eq",
    "get by id",
    "create",
    "deactivate (PATCH active false)",
    "membership add (group of 10)",
    "membership remove (group of 10)",
    "load: creates/s, or how the step was grown",
];

fn sizes(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let backends = std::env::var("GROWTH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let tables = std::cell::RefCell::new(Vec::new());
    support::on_each_backend(|backend, url| {
        if !backends.split(',').any(|b| b.trim() == backend) {
            return;
        }
        let steps = if backend == "sqlite" {
            sizes("GROWTH_SQLITE_SIZES", "1000,10000,100000")
        } else {
            sizes("GROWTH_POSTGRES_SIZES", "1000,10000,100000,1000000")
        };
        tables
            .borrow_mut()
            .push((backend.to_string(), run(backend, url, &steps)));
    });
    for (backend, columns) in tables.into_inner() {
        println!("\n{backend}: p50 / p99 in ms");
        print!("| Measure |");
        for (size, _) in &columns {
            print!(" {size} |");
        }
        print!("\n|---|");
        for _ in &columns {
            print!("---|");
        }
        println!();
        for (row, measure) in MEASURES.iter().enumerate() {
            print!("| {measure} |");
            for (_, cells) in &columns {
                print!(" {} |", cells[row]);
            }
            println!();
        }
    }
}

/// A small deterministic generator, so runs draw the same users.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn user_body(i: usize) -> Value {
    // The marker `uNNNNNNNx` is what the SQL clone replaces.
    json!({
        "userName": format!("u{i:07}x@example.com"), "externalId": format!("ext-u{i:07}x"),
        "title": "engineer", "name": {"givenName": "Given", "familyName": format!("F u{i:07}x")},
        "emails": [{"value": format!("u{i:07}x@example.com"), "type": "work", "primary": true}],
        "active": true,
    })
}

fn run(backend: &str, url: &str, steps: &[usize]) -> Vec<(usize, Vec<String>)> {
    let bench = support::service::Bench::open(url, "growth", LIMITS);
    let service = &bench.service;
    let (context, lean) = (bench.context(), bench.lean());
    let api_max = number("GROWTH_API_MAX", 100_000);
    let loaders = number("GROWTH_LOADERS", 4).max(1);
    let samples = number("GROWTH_SAMPLES", 1000).max(10);
    let writes = (samples / 5).max(10);
    let mut draw = Draw(0x9e37_79b9_7f4a_7c15);
    let mut loaded = 0usize;
    let mut template: Option<String> = None;
    let mut group: Option<String> = None;
    let mut created = 0usize;
    let mut deactivated = std::collections::HashSet::new();
    let mut columns = Vec::new();

    for &size in steps {
        if size <= loaded {
            continue;
        }
        // Grow the tenant to `size` users.
        let started = Instant::now();
        let how = if size <= api_max || backend != "postgres" {
            let next = AtomicUsize::new(loaded);
            std::thread::scope(|scope| {
                for _ in 0..loaders {
                    scope.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= size {
                                break;
                            }
                            service
                                .create(ResourceKind::User, &context, &user_body(i))
                                .expect("create");
                        }
                    });
                }
            });
            let rate = (size - loaded) as f64 / started.elapsed().as_secs_f64();
            println!(
                "{backend}: loaded users {loaded}..{size} through the SCIM service ({loaders} at once): {rate:.0}/s"
            );
            format!("{rate:.0}/s, API")
        } else {
            let template = template.as_deref().expect("a user the API made");
            clone_users(url, &bench.tenant_id, template, loaded, size);
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{backend}: cloned users {loaded}..{size} with SQL and ran ANALYZE in {secs:.1} s"
            );
            format!("SQL clone + ANALYZE ({secs:.0} s)")
        };
        loaded = size;
        if template.is_none() {
            template = Some(lookup_id(service, &context, 0));
        }
        if group.is_none() {
            let members: Vec<Value> = (0..10)
                .map(|i| json!({"value": lookup_id(service, &context, i)}))
                .collect();
            group = Some(
                service
                    .create(
                        ResourceKind::Group,
                        &lean,
                        &json!({"displayName": "ten", "members": members}),
                    )
                    .expect("group")
                    .id,
            );
        }
        let group = group.as_deref().expect("group");

        // Lookups of users drawn from the whole tenant.
        let mut by_name = Vec::new();
        let mut by_external = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..samples {
            let i = draw.below(size);
            let (elapsed, id) = timed(|| {
                lookup(
                    service,
                    &context,
                    "userName",
                    &format!("u{i:07}x@example.com"),
                )
            });
            by_name.push(elapsed);
            ids.push(id);
            let i = draw.below(size);
            let (elapsed, _) =
                timed(|| lookup(service, &context, "externalId", &format!("ext-u{i:07}x")));
            by_external.push(elapsed);
        }
        let mut by_id = Vec::new();
        for _ in 0..samples {
            let id = &ids[draw.below(ids.len())];
            let (elapsed, found) =
                timed(|| service.get(ResourceKind::User, &context, id).expect("get"));
            assert_eq!(&found.id, id);
            by_id.push(elapsed);
        }

        // Writes.
        let mut creates = Vec::new();
        for _ in 0..writes {
            let body = json!({"userName": format!("new{created}@example.com"), "externalId": format!("new-{created}"),
                "emails": [{"value": format!("new{created}@example.com"), "type": "work", "primary": true}]});
            created += 1;
            let (elapsed, _) = timed(|| {
                service
                    .create(ResourceKind::User, &context, &body)
                    .expect("create")
            });
            creates.push(elapsed);
        }
        let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}]});
        let mut deactivations = Vec::new();
        for _ in 0..writes {
            // An active user: one not deactivated before (the users of the group stay active).
            let i = loop {
                let i = 10 + draw.below(size - 10);
                if deactivated.insert(i) {
                    break i;
                }
            };
            let id = lookup_id(service, &context, i);
            let (elapsed, _) = timed(|| {
                service
                    .patch(
                        ResourceKind::User,
                        &context,
                        &id,
                        &deactivate,
                        &Precondition::default(),
                    )
                    .expect("deactivate")
            });
            deactivations.push(elapsed);
        }
        let (mut adds, mut removes) = (Vec::new(), Vec::new());
        for _ in 0..writes {
            let id = &ids[draw.below(ids.len())];
            for (op, path, times) in [
                ("add", "members".to_string(), &mut adds),
                (
                    "remove",
                    format!("members[value eq \"{id}\"]"),
                    &mut removes,
                ),
            ] {
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": op, "path": path, "value": [{"value": id}]}]});
                let (elapsed, _) = timed(|| {
                    service
                        .patch(
                            ResourceKind::Group,
                            &lean,
                            group,
                            &body,
                            &Precondition::default(),
                        )
                        .expect("membership")
                });
                times.push(elapsed);
            }
        }

        let cells: Vec<String> = [
            &mut by_name,
            &mut by_external,
            &mut by_id,
            &mut creates,
            &mut deactivations,
            &mut adds,
            &mut removes,
        ]
        .into_iter()
        .map(|times| {
            times.sort();
            format!(
                "{} / {}",
                ms(times[times.len() / 2]),
                ms(times[(times.len() * 99 / 100).min(times.len() - 1)])
            )
        })
        .chain([how])
        .collect();
        for (measure, cell) in MEASURES.iter().zip(&cells) {
            println!("{backend} {size}: {measure}: {cell}");
        }
        columns.push((size, cells));
    }
    columns
}

fn lookup(service: &ScimService, context: &Context, attribute: &str, value: &str) -> String {
    let filter = format!("{attribute} eq \"{value}\"");
    let list = ListRequest::from_query([("filter", filter.as_str())], LIMITS, &Quirks::lenient())
        .expect("request");
    let found = service
        .list(ResourceKind::User, context, &list)
        .expect("list");
    assert_eq!(found["totalResults"], json!(1), "{filter}");
    found["Resources"][0]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn lookup_id(service: &ScimService, context: &Context, i: usize) -> String {
    lookup(
        service,
        context,
        "userName",
        &format!("u{i:07}x@example.com"),
    )
}

/// Grows the tenant from `from` to `to` users by cloning `template` (user 0, made through the
/// API) in one transaction, then `ANALYZE`.
fn clone_users(url: &str, tenant: &str, template: &str, from: usize, to: usize) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let count = to - from;
    let marker = "u0000000x";
    let sql = format!(
        r#"
BEGIN;
CREATE TEMPORARY TABLE clones ON COMMIT DROP AS
    SELECT g, md5('growth-user-' || g)::uuid::text AS id, md5('growth-audit-' || g)::uuid::text AS audit_id,
           'u' || lpad(g::text, 7, '0') || 'x' AS mark
    FROM generate_series({from}, {last}) AS g;
-- The kept counts are moved once below instead of once per row by the trigger.
ALTER TABLE users DISABLE TRIGGER users_counted;
INSERT INTO users (id, tenant_id, user_name, user_name_key, external_id, active, attributes,
                   version, created, last_modified, search)
SELECT c.id, t.tenant_id, replace(t.user_name, '{marker}', c.mark),
       replace(t.user_name_key, '{marker}', c.mark), replace(t.external_id, '{marker}', c.mark),
       t.active, replace(replace(t.attributes, t.id, c.id), '{marker}', c.mark), t.version,
       t.created, t.last_modified, replace(replace(t.search, t.id, c.id), '{marker}', c.mark)
FROM clones AS c, users AS t WHERE t.id = '{template}';
ALTER TABLE users ENABLE TRIGGER users_counted;
UPDATE tenant_counts SET active_users = active_users + {count} WHERE tenant_id = '{tenant}';
INSERT INTO match_values (tenant_id, attribute, value, user_id)
SELECT m.tenant_id, m.attribute, replace(m.value, '{marker}', c.mark), c.id
FROM clones AS c, match_values AS m WHERE m.user_id = '{template}';
INSERT INTO audit_records (id, tenant_id, seq, occurred, action, actor_id, actor_name, request_id,
                           method, path, resource_type, resource_id, outcome, cause, details,
                           personal, prev_hash, hash, personal_salt, personal_digest)
SELECT c.audit_id, a.tenant_id, h.seq + (c.g - {from} + 1), a.occurred, a.action, a.actor_id,
       a.actor_name, a.request_id, a.method, a.path, a.resource_type, c.id, a.outcome, a.cause,
       replace(replace(a.details, '{template}', c.id), '{marker}', c.mark),
       replace(replace(a.personal, '{template}', c.id), '{marker}', c.mark),
       a.prev_hash, a.hash, a.personal_salt, a.personal_digest
FROM clones AS c, audit_records AS a, audit_heads AS h
WHERE a.resource_id = '{template}' AND a.action = 'user.create' AND h.tenant_id = a.tenant_id;
UPDATE audit_heads SET seq = seq + {count} WHERE tenant_id = '{tenant}';
COMMIT;
ANALYZE;
"#,
        last = to - 1
    );
    conn.batch_execute(&sql).expect("clone users");
    let total: Vec<Count> = diesel::sql_query(format!(
        "SELECT active_users + inactive_users AS n FROM tenant_counts WHERE tenant_id = '{tenant}'"
    ))
    .load(&mut conn)
    .expect("count");
    println!("postgres: tenant_counts says {} users", total[0].n);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn timed<T>(work: impl FnOnce() -> T) -> (Duration, T) {
    let started = Instant::now();
    let result = work();
    (started.elapsed(), result)
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}
