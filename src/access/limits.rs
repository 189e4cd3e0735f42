//! Rate limits against abuse, all GCRA limiters from `governor` run on the injected clock.
//! They aim at what an attacker controls, never at what deprovisioning causes:
//!
//! - failed authentications per client address (wrong or unknown secrets): past the budget,
//!   a failed authentication is answered 429 (and costs no audit write) instead of 401;
//! - failing requests per credential and kind of failure (a credential on the wrong API; a
//!   malformed request or an unknown token): past a kind's budget, requests that fail that
//!   way are answered 429 instead of their error. Nothing else of the credential is refused:
//!   a throttled kind of failure never turns away its valid requests. A refused refresh or
//!   exchange of a token whose session the cascade ended is not a failure of the client at
//!   all (`AccessError::EndedGrant`), so a mass offboarding cannot spend an app's budget;
//! - OAuth requests per app client: only where a cap is set, for that client (`client limit`)
//!   or for every app (`rate_limit_oauth_per_second`, off by default).
//!
//! SCIM credentials (identity providers) are never limited at all: a deprovisioning write
//! from a valid identity-provider credential always goes through.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock as GovernorClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::SharedClock;

/// How often (in checks) idle keys are dropped from the limiters' maps.
const PRUNE_EVERY: u64 = 4096;

/// Most per-client OAuth limiters kept; past it the map is cleared (they refill anyway).
const MAX_CLIENT_LIMITERS: usize = 100_000;

/// The configured budgets; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// Failed authentications per client address per minute.
    pub failed_auth_per_minute: u32,
    /// Failing requests per credential and kind of failure per minute (SCIM credentials are
    /// exempt).
    pub client_failures_per_minute: u32,
    /// OAuth requests per second of an app client without a cap of its own; 0: no cap.
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
            oauth_per_second: 0,
        }
    }
}

/// A kind of failure a credential's holder controls, each with a budget of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// A credential used on an API of another kind.
    WrongApi,
    /// A malformed request, an unknown or forged token, a grant the client may not make.
    BadRequest,
}

/// Whole seconds to wait before retrying, at least 1: the `Retry-After` of a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// The limiters of this process.
pub struct Limits {
    clock: Ticks,
    addresses: Option<Keyed<IpAddr>>,
    failures: Option<Keyed<(String, FailureKind)>>,
    default_oauth_cap: u32,
    /// Per app client with a cap: its cap and its limiter.
    oauth: Mutex<HashMap<String, (u32, Direct)>>,
    checks: AtomicU64,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").finish_non_exhaustive()
    }
}

type Keyed<K> = RateLimiter<K, HashMapStateStore<K>, Ticks, NoOpMiddleware<Tick>>;
type Direct = RateLimiter<NotKeyed, InMemoryState, Ticks, NoOpMiddleware<Tick>>;

impl Limits {
    pub fn new(settings: LimitSettings, clock: SharedClock) -> Self {
        let ticks = Ticks(clock);
        Self {
            addresses: keyed(per_minute(settings.failed_auth_per_minute), &ticks),
            failures: keyed(per_minute(settings.client_failures_per_minute), &ticks),
            default_oauth_cap: settings.oauth_per_second,
            oauth: Mutex::default(),
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

    /// A request of an authenticated credential failed in a way its holder controls: `Err`
    /// when that kind of failure is past its budget (answer this request 429 instead).
    pub fn credential_failed(
        &self,
        credential_id: &str,
        kind: FailureKind,
    ) -> Result<(), RetryAfter> {
        match &self.failures {
            Some(limiter) => self.take(limiter, &(credential_id.to_string(), kind)),
            None => Ok(()),
        }
    }

    /// An OAuth request of an authenticated app client whose own cap is `cap` (requests per
    /// second; `None`: the server's default, off unless configured).
    pub fn oauth_request(&self, client_id: &str, cap: Option<u32>) -> Result<(), RetryAfter> {
        let Some(cap) = NonZeroU32::new(cap.unwrap_or(self.default_oauth_cap)) else {
            return Ok(());
        };
        let mut limiters = self.oauth.lock().unwrap_or_else(|p| p.into_inner());
        if limiters.len() >= MAX_CLIENT_LIMITERS && !limiters.contains_key(client_id) {
            limiters.clear();
        }
        let (held_cap, limiter) = limiters.entry(client_id.to_string()).or_insert_with(|| {
            (
                cap.get(),
                RateLimiter::direct_with_clock(Quota::per_second(cap), self.clock.clone()),
            )
        });
        if *held_cap != cap.get() {
            *held_cap = cap.get();
            *limiter = RateLimiter::direct_with_clock(Quota::per_second(cap), self.clock.clone());
        }
        limiter.check().map_err(|not_until| self.wait(not_until))
    }

    fn take<K: Hash + Eq + Clone>(&self, limiter: &Keyed<K>, key: &K) -> Result<(), RetryAfter> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| self.wait(not_until))
    }

    fn wait(&self, not_until: governor::NotUntil<Tick>) -> RetryAfter {
        let wait = not_until.wait_time_from(self.clock.now());
        RetryAfter(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).at_least_one()
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
    use chrono::Utc;

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
    fn a_kind_of_failure_past_its_budget_is_refused_and_nothing_else_is() {
        let (limits, clock) = limits(LimitSettings {
            client_failures_per_minute: 2,
            ..LimitSettings::default()
        });
        let bad = FailureKind::BadRequest;
        assert_eq!(limits.credential_failed("app", bad), Ok(()));
        assert_eq!(limits.credential_failed("app", bad), Ok(()));
        assert_eq!(limits.credential_failed("app", bad), Err(RetryAfter(30)));
        // Another kind, another credential, and the credential's OAuth requests go on.
        assert_eq!(
            limits.credential_failed("app", FailureKind::WrongApi),
            Ok(())
        );
        assert_eq!(limits.credential_failed("other", bad), Ok(()));
        for _ in 0..1000 {
            assert_eq!(
                limits.oauth_request("app", None),
                Ok(()),
                "no cap by default"
            );
        }
        clock.advance(chrono::Duration::seconds(30));
        assert_eq!(limits.credential_failed("app", bad), Ok(()));
    }

    #[test]
    fn oauth_requests_are_limited_per_client_and_zero_turns_limits_off() {
        let (limits, _clock) = limits(LimitSettings {
            oauth_per_second: 2,
            ..LimitSettings::default()
        });
        assert!(limits.oauth_request("a", None).is_ok());
        assert!(limits.oauth_request("a", None).is_ok());
        assert_eq!(limits.oauth_request("a", None), Err(RetryAfter(1)));
        assert!(limits.oauth_request("b", None).is_ok());
        // A client's own cap beats the default, up or down.
        for _ in 0..5 {
            assert!(limits.oauth_request("c", Some(5)).is_ok());
        }
        assert!(limits.oauth_request("c", Some(5)).is_err());
        assert!(limits.oauth_request("d", Some(1)).is_ok());
        assert!(limits.oauth_request("d", Some(1)).is_err());
        let off = Limits::unlimited(Arc::new(ManualClock::new(Utc::now())));
        for _ in 0..1000 {
            assert!(off.failed_authentication(ADDRESS).is_ok());
            assert!(off.credential_failed("a", FailureKind::BadRequest).is_ok());
            assert!(off.oauth_request("a", None).is_ok());
        }
    }
}
