//! Rate limits against abuse, all GCRA limiters from `governor` run on the injected clock:
//!
//! - failed authentications per client address: past the budget, a failed authentication is
//!   answered 429 (and costs no audit write) instead of 401;
//! - failing requests per credential (a credential of the wrong kind, an OAuth grant that
//!   fails): past the budget, the credential is refused with 429 until the limiter lets it
//!   through again;
//! - OAuth requests (token, introspection, revocation) per app client.
//!
//! A request with a valid credential is never refused for its address's failures, and SCIM
//! credentials (identity providers) are never limited at all: a deprovisioning write from
//! a valid identity-provider credential always goes through.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use governor::clock::{Clock as GovernorClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::clock::SharedClock;

/// How often (in checks) idle keys are dropped from the limiters' maps.
const PRUNE_EVERY: u64 = 4096;

/// The configured budgets; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// Failed authentications per client address per minute.
    pub failed_auth_per_minute: u32,
    /// Failing requests per credential per minute (SCIM credentials are exempt).
    pub client_failures_per_minute: u32,
    /// OAuth requests per app client per second.
    pub oauth_per_second: u32,
}

impl LimitSettings {
    /// The budgets the configuration file sets.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            failed_auth_per_minute: config.rate_limit_failed_auth_per_minute,
            client_failures_per_minute: config.rate_limit_client_failures_per_minute,
            oauth_per_second: config.rate_limit_oauth_per_second,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            failed_auth_per_minute: 30,
            client_failures_per_minute: 60,
            oauth_per_second: 200,
        }
    }
}

/// Whole seconds to wait before retrying, at least 1: the `Retry-After` of a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// The limiters of this process.
pub struct Limits {
    clock: Ticks,
    addresses: Option<Keyed<IpAddr>>,
    failures: Option<Keyed<String>>,
    oauth: Option<Keyed<String>>,
    /// Credentials refused until a time: their failing requests ran out of budget.
    blocked: Mutex<HashMap<String, DateTime<Utc>>>,
    checks: AtomicU64,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").finish_non_exhaustive()
    }
}

type Keyed<K> = RateLimiter<K, HashMapStateStore<K>, Ticks, NoOpMiddleware<Tick>>;

impl Limits {
    pub fn new(settings: LimitSettings, clock: SharedClock) -> Self {
        let ticks = Ticks(clock);
        Self {
            addresses: keyed(per_minute(settings.failed_auth_per_minute), &ticks),
            failures: keyed(per_minute(settings.client_failures_per_minute), &ticks),
            oauth: keyed(
                NonZeroU32::new(settings.oauth_per_second).map(Quota::per_second),
                &ticks,
            ),
            blocked: Mutex::default(),
            checks: AtomicU64::new(0),
            clock: ticks,
        }
    }

    /// No limits at all.
    pub fn unlimited(clock: SharedClock) -> Self {
        Self::new(
            LimitSettings {
                failed_auth_per_minute: 0,
                client_failures_per_minute: 0,
                oauth_per_second: 0,
            },
            clock,
        )
    }

    /// A failed authentication from `address`: `Err` when the address is past its budget
    /// (answer 429, and record nothing more).
    pub fn failed_authentication(&self, address: Option<IpAddr>) -> Result<(), RetryAfter> {
        match (address, &self.addresses) {
            (Some(address), Some(limiter)) => self.take(limiter, &address),
            _ => Ok(()),
        }
    }

    /// Whether an authenticated credential may be served now: `Err` while its failing
    /// requests are over budget.
    pub fn credential_admitted(&self, credential_id: &str) -> Result<(), RetryAfter> {
        let now = self.clock.0.now();
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        match blocked.get(credential_id) {
            Some(until) if *until > now => Err(seconds_until(*until, now)),
            _ => Ok(()),
        }
    }

    /// A request of an authenticated credential failed: `Err` (and the credential refused
    /// until the limiter lets it through again) when that was one failure too many.
    pub fn credential_failed(&self, credential_id: &str) -> Result<(), RetryAfter> {
        let Some(limiter) = &self.failures else {
            return Ok(());
        };
        let key = credential_id.to_string();
        self.take(limiter, &key).inspect_err(|wait| {
            let now = self.clock.0.now();
            let until = now + chrono::Duration::seconds(wait.0 as i64);
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            blocked.retain(|_, until| *until > now);
            blocked.insert(key.clone(), until);
        })
    }

    /// An OAuth request of an authenticated app client.
    pub fn oauth_request(&self, client_id: &str) -> Result<(), RetryAfter> {
        match &self.oauth {
            Some(limiter) => self.take(limiter, &client_id.to_string()),
            None => Ok(()),
        }
    }

    fn take<K: Hash + Eq + Clone>(&self, limiter: &Keyed<K>, key: &K) -> Result<(), RetryAfter> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            RetryAfter(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).at_least_one()
        })
    }
}

impl RetryAfter {
    fn at_least_one(self) -> Self {
        RetryAfter(self.0.max(1))
    }
}

fn keyed<K: Hash + Eq + Clone>(quota: Option<Quota>, ticks: &Ticks) -> Option<Keyed<K>> {
    quota.map(|quota| RateLimiter::hashmap_with_clock(quota, ticks.clone()))
}

fn per_minute(budget: u32) -> Option<Quota> {
    NonZeroU32::new(budget).map(Quota::per_minute)
}

fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> RetryAfter {
    let millis = (until - now).num_milliseconds().max(0) as u64;
    RetryAfter(millis.div_ceil(1000)).at_least_one()
}

/// The injected clock as governor sees it: nanoseconds since the Unix epoch.
#[derive(Clone)]
struct Ticks(SharedClock);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Tick(u64);

impl std::ops::Add<Nanos> for Tick {
    type Output = Tick;

    fn add(self, other: Nanos) -> Tick {
        Tick(self.0.saturating_add(other.as_u64()))
    }
}

impl Reference for Tick {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_sub(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        Tick(self.0.saturating_sub(duration.as_u64()))
    }
}

impl GovernorClock for Ticks {
    type Instant = Tick;

    fn now(&self) -> Tick {
        let nanos = self.0.now().timestamp_nanos_opt().unwrap_or(0);
        Tick(u64::try_from(nanos).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    fn limits(settings: LimitSettings) -> (Limits, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        (Limits::new(settings, clock.clone()), clock)
    }

    const ADDRESS: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn an_address_gets_its_budget_of_failures_then_waits_for_the_next() {
        let (limits, clock) = limits(LimitSettings {
            failed_auth_per_minute: 3,
            ..LimitSettings::default()
        });
        for _ in 0..3 {
            assert_eq!(limits.failed_authentication(ADDRESS), Ok(()));
        }
        assert_eq!(limits.failed_authentication(ADDRESS), Err(RetryAfter(20)));
        let other = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(limits.failed_authentication(other), Ok(()));
        clock.advance(chrono::Duration::seconds(20));
        assert_eq!(limits.failed_authentication(ADDRESS), Ok(()));
        assert!(limits.failed_authentication(ADDRESS).is_err());
    }

    #[test]
    fn a_credential_over_its_failure_budget_is_refused_until_it_may_fail_again() {
        let (limits, clock) = limits(LimitSettings {
            client_failures_per_minute: 2,
            ..LimitSettings::default()
        });
        assert_eq!(limits.credential_failed("app"), Ok(()));
        assert_eq!(limits.credential_failed("app"), Ok(()));
        assert_eq!(limits.credential_admitted("app"), Ok(()));
        assert_eq!(limits.credential_failed("app"), Err(RetryAfter(30)));
        assert_eq!(limits.credential_admitted("app"), Err(RetryAfter(30)));
        assert_eq!(limits.credential_admitted("other"), Ok(()));
        clock.advance(chrono::Duration::seconds(30));
        assert_eq!(limits.credential_admitted("app"), Ok(()));
    }

    #[test]
    fn oauth_requests_are_limited_per_client_and_zero_turns_limits_off() {
        let (limits, _clock) = limits(LimitSettings {
            oauth_per_second: 2,
            ..LimitSettings::default()
        });
        assert!(limits.oauth_request("a").is_ok());
        assert!(limits.oauth_request("a").is_ok());
        assert_eq!(limits.oauth_request("a"), Err(RetryAfter(1)));
        assert!(limits.oauth_request("b").is_ok());
        let off = Limits::unlimited(Arc::new(ManualClock::new(Utc::now())));
        for _ in 0..1000 {
            assert!(off.failed_authentication(ADDRESS).is_ok());
            assert!(off.credential_failed("a").is_ok());
            assert!(off.oauth_request("a").is_ok());
        }
    }
}
