//! Cascade benchmark: what deprovisioning costs when users hold live sessions, in process
//! through the SCIM and token services (no HTTP), on a fresh database of each backend:
//! - token issuance (a trusted client's token exchange): sessions per second, one caller;
//! - deactivating a user who holds 1,000 live sessions (latency of the PATCH, median of three
//!   users), first with few sessions stored, then with ~13,000 more sessions of other users
//!   stored, and a user with 100 sessions: the ratios show the cost follows the sessions
//!   revoked, not the sessions stored;
//! - deleting a role-granting group of 10,000 members, each with a live session.
//!
//! Run: `cargo bench --bench cascade` (Postgres from SCIMITAR_TEST_POSTGRES_URL or the default
//! test URL; skipped if unreachable). CASCADE_MEMBERS changes the group size.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use scimitar::access::credentials::{self, Caller, CredentialKind};
use scimitar::access::keys::{KeyRing, KeySecret};
use scimitar::access::policy::Policies;
use scimitar::access::roles::{self, ChangedBy, GroupSelector};
use scimitar::access::tokens::{Exchange, TOKEN_TYPE_SCIM_USER};
use scimitar::access::{AccessService, AccessSettings};
use scimitar::audit::{Actor, RequestInfo};
use scimitar::clock::{SharedClock, SystemClock};
use scimitar::scim::list::PageLimits;
use scimitar::scim::projection::Projection;
use scimitar::scim::quirks::Quirks;
use scimitar::scim::resource::Precondition;
use scimitar::scim::schema::{Registry, ResourceKind};
use scimitar::scim::{Context, ScimService};
use scimitar::store::{DatabaseUrl, PoolSettings, Store};
use serde_json::json;

fn main() {
    let members: usize = std::env::var("CASCADE_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    support::on_each_backend(|backend, url| run(backend, url, members));
}

struct Bench {
    scim: ScimService,
    access: AccessService,
    caller: Caller,
}

impl Bench {
    /// `count` sessions for `user`; returns the seconds it took.
    fn sessions(&self, user: &str, count: usize) -> Duration {
        let started = Instant::now();
        for _ in 0..count {
            let exchange = Exchange {
                subject_token: user.to_string(),
                subject_token_type: TOKEN_TYPE_SCIM_USER.into(),
                audience: None,
            };
            self.access
                .exchange(&self.caller, &exchange)
                .expect("exchange");
        }
        started.elapsed()
    }
}

fn run(backend: &str, url: &str, members: usize) {
    let store = Store::open(
        &DatabaseUrl::parse(url).expect("URL"),
        &PoolSettings::default(),
    )
    .expect("open");
    let clock: SharedClock = Arc::new(SystemClock);
    let registry = Arc::new(Registry::load().expect("schemas"));
    let limits = PageLimits {
        default_count: 100,
        max_count: 1000,
    };
    let scim = ScimService::new(store.clone(), registry, clock.clone(), limits);
    let app =
        credentials::create_with(&store, None, "bench", CredentialKind::App, true, Utc::now())
            .expect("app client");
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("randomness");
    let keys = KeyRing::open(&store, KeySecret::from_bytes(secret), Utc::now()).expect("keys");
    let settings = AccessSettings {
        issuer: "http://bench".into(),
        policies: Policies::default(),
        refresh_retry_window: chrono::Duration::seconds(10),
        session_retention: chrono::Duration::days(30),
        trusted_issuers: Default::default(),
        revocation_callers: Default::default(),
    };
    let access = AccessService::new(store.clone(), clock, Arc::new(keys), settings);
    let caller = access
        .authenticate_client(&app.client_id, app.secret.expose())
        .expect("client");
    let bench = Bench {
        scim,
        access,
        caller,
    };
    let tenant_id = bench.caller.tenant_id.clone();
    let actor = Actor {
        client_id: "bench".into(),
        name: "bench".into(),
    };
    let request = RequestInfo {
        id: "bench".into(),
        method: "PATCH".into(),
        path: "/scim/v2/Users".into(),
        received: None,
    };
    let quirks = Quirks::lenient();
    let context = Context {
        tenant_id: &tenant_id,
        base: "http://bench/scim/v2",
        projection: &Projection::Default,
        actor: &actor,
        request: &request,
        quirks: &quirks,
    };
    let create_user = |name: &str| {
        bench
            .scim
            .create(ResourceKind::User, &context, &json!({"userName": name}))
            .expect("create user")
            .body["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let deactivate = |id: &str| {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]});
        let started = Instant::now();
        bench
            .scim
            .patch(
                ResourceKind::User,
                &context,
                id,
                &body,
                &Precondition::if_match(None),
            )
            .expect("deactivate");
        started.elapsed()
    };

    // Users with 1,000 sessions (and with 100), and little else stored.
    let median_deactivation = |label: &str, sessions: usize| {
        let mut times: Vec<Duration> = (0..3)
            .map(|i| {
                let id = create_user(&format!("{label}{i}@example.com"));
                bench.sessions(&id, sessions);
                deactivate(&id)
            })
            .collect();
        times.sort();
        times[1]
    };
    let first = create_user("first@example.com");
    let issuing = bench.sessions(&first, 1000);
    let small = median_deactivation("small", 100);
    let alone = median_deactivation("alone", 1000);
    let stored_before = 1000 + 3 * 100 + 3 * 1000;

    // Background: a role-granting group of `members` users, each with a live session.
    let ids: Vec<String> = (0..members)
        .map(|i| create_user(&format!("member{i:06}@example.com")))
        .collect();
    let group_members: Vec<_> = ids.iter().map(|id| json!({"value": id})).collect();
    let group = bench
        .scim
        .create(
            ResourceKind::Group,
            &context,
            &json!({"displayName": "Role Group", "members": group_members}),
        )
        .expect("group")
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    let by = ChangedBy {
        actor: None,
        request: None,
        source: "api",
    };
    let selector = GroupSelector::parse(&format!("id:{group}")).expect("selector");
    store
        .write(|conn| roles::map(conn, &tenant_id, &selector, "member", by, Utc::now()))
        .expect("map");
    let started = Instant::now();
    for id in &ids {
        bench.sessions(id, 1);
    }
    let background = started.elapsed();

    // The same deactivation with the background stored.
    let crowded = median_deactivation("crowded", 1000);

    let started = Instant::now();
    bench
        .scim
        .delete(
            ResourceKind::Group,
            &context,
            &group,
            &Precondition::if_match(None),
        )
        .expect("delete group");
    let group_delete = started.elapsed();

    let per_second = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("== {backend}");
    println!(
        "token issuance, 1,000 sessions of one user: {:.0} per second",
        per_second(1000, issuing)
    );
    println!(
        "token issuance, {members} users in a mapped group: {:.0} per second",
        per_second(members, background)
    );
    println!(
        "deactivate a user with 100 live sessions, {stored_before} sessions stored: {:.1} ms",
        ms(small)
    );
    println!(
        "deactivate a user with 1,000 live sessions, {stored_before} sessions stored: {:.1} ms (ratio to 100 sessions: {:.2})",
        ms(alone),
        alone.as_secs_f64() / small.as_secs_f64()
    );
    println!(
        "deactivate a user with 1,000 live sessions, {} sessions stored: {:.1} ms (ratio to fewer stored: {:.2})",
        stored_before + members + 3000,
        ms(crowded),
        crowded.as_secs_f64() / alone.as_secs_f64()
    );
    println!(
        "delete a role-granting group of {members} members, one live session each: {:.1} ms",
        ms(group_delete)
    );
}
