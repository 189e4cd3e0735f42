//! Which audiences a user's access token may carry, and whose they are.
//!
//! An access token's `aud` names the app it is for: the minting client itself or another
//! active app client of the same tenant, never a free string (RFC 8693 §2.2.2
//! `invalid_target`). Forward auth, which judges tokens from memory, asks here which tenant
//! an audience belongs to, so that a token of one tenant never opens another tenant's app;
//! the answer is memoised for a short while, so a request costs no database read.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::access::credentials::CredentialKind;

/// How long an answer is trusted: the longest a revoked app's tokens still pass forward auth.
const REMEMBERED: Duration = Duration::seconds(30);
/// Past this many remembered audiences the memo starts over; real deployments hold a handful.
const MAX_REMEMBERED: usize = 10_000;

/// An audience's tenant, if it is an active app client, and when that was read.
type Remembered = (Option<String>, DateTime<Utc>);

/// Audience (an app client's id) → what was last read of it.
#[derive(Default)]
pub struct AudienceDirectory {
    remembered: RwLock<HashMap<String, Remembered>>,
}

impl AccessService {
    /// The `aud` of tokens minted for `caller`: its own client id unless it asked for another
    /// app of its tenant.
    pub(super) fn audience_for(
        &self,
        caller: &Caller,
        requested: Option<&str>,
    ) -> Result<String, AccessError> {
        let Some(requested) = requested.filter(|r| *r != caller.client_id) else {
            return Ok(caller.client_id.clone());
        };
        match self.app_tenant_now(requested)? {
            Some(tenant) if tenant == caller.tenant_id => Ok(requested.to_string()),
            _ => Err(AccessError::InvalidTarget(
                "`audience` must be this client's id or that of another app client of its tenant"
                    .into(),
            )),
        }
    }

    /// What is remembered of `audience`, if read less than `REMEMBERED` ago: `Some(None)` for
    /// no active app client. Memory only, for the request path.
    pub fn remembered_audience(&self, audience: &str) -> Option<Option<String>> {
        let now = self.clock.now();
        let remembered = self.audiences.remembered.read().ok()?;
        let (tenant, read) = remembered.get(audience)?;
        (now - *read < REMEMBERED).then(|| tenant.clone())
    }

    /// The tenant of the active app client `audience`, read now and remembered; `None` when
    /// it is no active app client. A database read: off the async request path.
    pub fn audience_tenant(&self, audience: &str) -> Result<Option<String>, AccessError> {
        let now = self.clock.now();
        let tenant = self.app_tenant_now(audience)?;
        if let Ok(mut remembered) = self.audiences.remembered.write() {
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
            remembered.insert(audience.to_string(), (tenant.clone(), now));
        }
        Ok(tenant)
    }

    /// The tenant of the active app client `client_id`, read now.
    fn app_tenant_now(&self, client_id: &str) -> Result<Option<String>, AccessError> {
        Ok(credentials::active_caller(&self.store, client_id)?
            .filter(|caller| caller.kind == CredentialKind::App)
            .map(|caller| caller.tenant_id))
    }
}
