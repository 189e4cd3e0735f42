//! The OpenID Shared Signals (SSF 1.0) transmitter. Receivers create streams; each stream
//! turns outbox events into Security Event Tokens (RFC 8417, signed with the published keys)
//! in a queue, delivered by push (RFC 8935, retried with backoff until accepted: at least
//! once) or by poll (RFC 8936, until acknowledged).
//!
//! - `sets`: which outbox events become which CAEP/RISC events, and the SETs themselves.
//! - `streams`: the stream management API's logic (create, read, update, delete, status,
//!   subjects, verification).
//! - `delivery`: the pump (outbox → queue), push delivery and poll.

pub mod delivery;
pub mod provisioning_events;
pub mod sets;
pub mod streams;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::access::keys::KeyRing;
use crate::clock::SharedClock;
use crate::egress::Egress;
use crate::metrics::Gauge;
use crate::sealing::Sealer;
use crate::store::{AnyConnection, Store, StoreError, outbox, ssf};

pub const PUSH: &str = "urn:ietf:rfc:8935";
pub const POLL: &str = "urn:ietf:rfc:8936";

/// What the transmitter needs: the store, the signing keys, the issuer and a clock.
#[derive(Clone)]
pub struct Transmitter {
    pub(crate) store: Store,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) issuer: String,
    pub(crate) clock: SharedClock,
    /// Push delivery, through the destination policy.
    pub(crate) egress: Egress,
    /// Push streams' `Authorization` headers are stored sealed.
    pub(crate) sealer: Sealer,
}

impl Transmitter {
    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        issuer: &str,
        clock: SharedClock,
        egress: Egress,
    ) -> Self {
        Self {
            sealer: keys.sealer(),
            store,
            keys,
            issuer: issuer.trim_end_matches('/').to_string(),
            clock,
            egress,
        }
    }

    /// Transmitter metadata (`/.well-known/ssf-configuration`).
    pub fn configuration(&self) -> Value {
        let issuer = &self.issuer;
        json!({
            "spec_version": "1_0",
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "delivery_methods_supported": [PUSH, POLL],
            "configuration_endpoint": format!("{issuer}/ssf/streams"),
            "status_endpoint": format!("{issuer}/ssf/status"),
            "add_subject_endpoint": format!("{issuer}/ssf/subjects:add"),
            "remove_subject_endpoint": format!("{issuer}/ssf/subjects:remove"),
            "verification_endpoint": format!("{issuer}/ssf/verify"),
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
            "default_subjects": "ALL",
        })
    }
}

/// Where a push stream's sealed `Authorization` header is stored and where it may be sent,
/// as its associated data: a sealed value moved to another row, or a row whose endpoint was
/// edited in the database, does not open.
pub(crate) fn authorization_place(stream_id: &str, endpoint: Option<&str>) -> String {
    format!(
        "ssf_streams.authorization_header:{stream_id}:{}",
        endpoint.unwrap_or_default()
    )
}

/// Seals the push streams' `Authorization` headers stored in clear before sealing existed
/// (at start, once); returns how many.
pub fn seal_stored_authorizations(store: &Store, sealer: &Sealer) -> Result<usize, StoreError> {
    store.write(|conn| {
        let mut sealed = 0;
        for mut stream in ssf::all(conn)? {
            let Some(header) = stream.authorization_header.clone() else {
                continue;
            };
            if Sealer::is_sealed(&header) {
                continue;
            }
            let place = authorization_place(&stream.id, stream.endpoint_url.as_deref());
            let value = sealer
                .seal(&header, &place)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            stream.authorization_header = Some(value);
            ssf::update(conn, &stream)?;
            sealed += 1;
        }
        Ok(sealed)
    })
}

/// Per stream: outbox events not yet turned into SETs, and SETs not yet delivered.
pub fn lag_gauges(conn: &mut AnyConnection) -> Result<Vec<Gauge>, StoreError> {
    let mut gauges = Vec::new();
    for stream in ssf::all(conn)? {
        let head = outbox::head(conn, &stream.tenant_id)?;
        let pending = ssf::count_pending(conn, &stream.id)?;
        let labels = vec![
            ("tenant", stream.tenant_id.clone()),
            ("stream", stream.id.clone()),
        ];
        gauges.push(Gauge {
            name: "scimitar_outbox_lag",
            labels: labels.clone(),
            value: (head - stream.cursor).max(0),
        });
        gauges.push(Gauge {
            name: "scimitar_ssf_pending_events",
            labels,
            value: pending,
        });
    }
    Ok(gauges)
}
