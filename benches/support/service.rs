//! A SCIM service over a fresh tenant, and the request contexts the in-process benchmarks
//! call it with (`scale`, `growth`).
#![allow(dead_code)] // each benchmark includes `support` whole and uses a part of it

use std::sync::Arc;

use chrono::Utc;
use scimitar::audit::{Actor, RequestInfo};
use scimitar::clock::SystemClock;
use scimitar::scim::list::PageLimits;
use scimitar::scim::projection::Projection;
use scimitar::scim::quirks::Quirks;
use scimitar::scim::schema::{Registry, ResourceKind};
use scimitar::scim::{Context, ScimService};
use scimitar::store::{DatabaseUrl, PoolSettings, Store};

pub struct Bench {
    pub store: Store,
    pub service: ScimService,
    pub tenant_id: String,
    actor: Actor,
    request: RequestInfo,
    all: Projection,
    no_members: Projection,
    quirks: Quirks,
}

impl Bench {
    /// Opens the database at `url` and creates the tenant `tenant` in it.
    pub fn open(url: &str, tenant: &str, limits: PageLimits) -> Self {
        let store = Store::open(
            &DatabaseUrl::parse(url).expect("URL"),
            &PoolSettings::default(),
        )
        .expect("open");
        let registry = Arc::new(Registry::load().expect("schemas"));
        let service = ScimService::new(store.clone(), registry, Arc::new(SystemClock), limits);
        let tenant_id = scimitar::tenancy::create(&store, tenant, Utc::now())
            .expect("tenant")
            .id;
        let no_members = Projection::from_params(
            service.registry().resource(ResourceKind::Group),
            None,
            Some("members"),
        )
        .expect("projection");
        Self {
            store,
            service,
            tenant_id,
            actor: Actor {
                client_id: "bench".into(),
                name: "bench".into(),
            },
            request: RequestInfo {
                id: "bench".into(),
                method: "POST".into(),
                path: "/scim/v2/Users".into(),
                received: None,
            },
            all: Projection::Default,
            no_members,
            quirks: Quirks::lenient(),
        }
    }

    /// A request of the tenant's identity provider, answered with every attribute.
    pub fn context(&self) -> Context<'_> {
        Context {
            tenant_id: &self.tenant_id,
            base: "http://bench/scim/v2",
            projection: &self.all,
            actor: &self.actor,
            request: &self.request,
            quirks: &self.quirks,
        }
    }

    /// The same with `excludedAttributes=members`, as an identity provider's membership push.
    pub fn lean(&self) -> Context<'_> {
        Context {
            projection: &self.no_members,
            ..self.context()
        }
    }
}
