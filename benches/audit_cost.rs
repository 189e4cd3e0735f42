//! The cost of auditing a write: the same user insert, each in its own write transaction, with
//! and without its audit record (hash-chain append), on each backend.
//!
//! Run: `cargo bench --bench audit_cost` (AUDIT_WRITES writes per variant, default 5,000).

mod support;

use std::time::Instant;

use chrono::Utc;
use scimitar::audit::{self, Event};
use scimitar::store::users::{self, UserRow};
use scimitar::store::{DatabaseUrl, PoolSettings, Store, StoreError, to_stored};
use serde_json::json;

fn main() {
    let writes: usize = std::env::var("AUDIT_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    support::on_each_backend(|backend, url| run(backend, url, writes));
}

fn run(backend: &str, url: &str, writes: usize) {
    let store = Store::open(
        &DatabaseUrl::parse(url).expect("URL"),
        &PoolSettings::default(),
    )
    .expect("open");
    let tenant = scimitar::tenancy::create(&store, "bench", Utc::now())
        .expect("tenant")
        .id;
    let row = |prefix: &str, i: usize| {
        let now = to_stored(Utc::now());
        UserRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.clone(),
            user_name: format!("{prefix}{i}"),
            user_name_key: format!("{prefix}{i}"),
            external_id: None,
            active: true,
            attributes: json!({"userName": format!("{prefix}{i}")}).to_string(),
            version: 1,
            created: now,
            last_modified: now,
            search: json!({"userName": format!("{prefix}{i}")}).to_string(),
        }
    };
    let mut rates = Vec::new();
    for audited in [false, true] {
        let started = Instant::now();
        for i in 0..writes {
            let user = row(if audited { "with" } else { "without" }, i);
            store
                .write(|conn| {
                    users::insert(conn, &user)?;
                    if audited {
                        let details = json!({"attributes": ["userName"], "active": true, "password_set": false});
                        let event = Event { resource_type: Some("User"), resource_id: Some(user.id.clone()), ..Event::new("user.create", details) };
                        audit::record(conn, &tenant, Utc::now(), event)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .expect("write");
        }
        rates.push(writes as f64 / started.elapsed().as_secs_f64());
    }
    println!(
        "{backend}: {writes} user inserts, one transaction each: {:.0} writes/s without audit, {:.0} with; auditing costs {:.0}% of a write",
        rates[0],
        rates[1],
        (1.0 - rates[1] / rates[0]) * 100.0
    );
}
