//! The gauges of `/metrics` that the database knows: users and groups per tenant, outbox
//! heads, Shared Signals stream lag and receivers' health, read at scrape time.

use crate::metrics::Gauge;
use crate::store::{Store, StoreError, outbox, tenants};

/// Every database gauge, read in one snapshot.
pub fn read(store: &Store) -> Result<Vec<Gauge>, StoreError> {
    store.read(|conn| {
        let mut gauges = Vec::new();
        let counts = [
            ("scimitar_users", tenants::users_per_tenant(conn)?),
            ("scimitar_groups", tenants::groups_per_tenant(conn)?),
        ];
        for (name, rows) in counts {
            for (tenant, count) in rows {
                gauges.push(Gauge {
                    name,
                    labels: vec![("tenant", tenant)],
                    value: count,
                });
            }
        }
        for (tenant, seq) in outbox::heads(conn)? {
            gauges.push(Gauge {
                name: "scimitar_outbox_head",
                labels: vec![("tenant", tenant)],
                value: seq,
            });
        }
        gauges.extend(super::ssf::lag_gauges(conn)?);
        gauges.extend(super::receiver::health::gauges(conn)?);
        Ok(gauges)
    })
}
