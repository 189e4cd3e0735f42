//! Expiry policies: how long access tokens and sessions live, and how long a session may sit
//! unused. Set per tenant and per role; where several apply, the strictest value of each
//! limit wins, so granting an extra role can only shorten a session.

use std::collections::{BTreeSet, HashMap};

use chrono::Duration;

/// The three limits, all of which apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// Lifetime of one access token.
    pub access_token: Duration,
    /// Absolute lifetime of a session (a refresh-token family), from its start.
    pub session: Duration,
    /// A session not used (refreshed or introspected) for this long is dead.
    pub idle: Duration,
}

impl Default for ExpiryPolicy {
    /// Short access tokens bound what a resource server that never checks back can miss;
    /// sessions last a week and die after twelve hours unused.
    fn default() -> Self {
        Self {
            access_token: Duration::minutes(5),
            session: Duration::days(7),
            idle: Duration::hours(12),
        }
    }
}

/// A policy that sets only some limits (a role's policy usually tightens one or two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyOverride {
    pub access_token: Option<Duration>,
    pub session: Option<Duration>,
    pub idle: Option<Duration>,
}

impl ExpiryPolicy {
    /// This policy tightened by `other`: each limit is the smaller of the two.
    pub fn tightened(self, other: &PolicyOverride) -> Self {
        let min = |current: Duration, other: Option<Duration>| match other {
            Some(other) if other < current => other,
            _ => current,
        };
        Self {
            access_token: min(self.access_token, other.access_token),
            session: min(self.session, other.session),
            idle: min(self.idle, other.idle),
        }
    }
}

/// A tenant's policy and the policies of its roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPolicy {
    pub tenant: PolicyOverride,
    pub roles: HashMap<String, PolicyOverride>,
}

/// Every tenant's policy over the server default; tenants without one get the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    pub default: ExpiryPolicy,
    /// By tenant id.
    pub tenants: HashMap<String, TenantPolicy>,
}

impl Policies {
    /// The policy for a session of a user holding `roles` in a tenant.
    pub fn for_session(&self, tenant_id: &str, roles: &BTreeSet<String>) -> ExpiryPolicy {
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return self.default;
        };
        roles
            .iter()
            .filter_map(|role| tenant.roles.get(role))
            .fold(self.default.tightened(&tenant.tenant), |policy, role| {
                policy.tightened(role)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn policies() -> Policies {
        let mut role_policies = HashMap::new();
        role_policies.insert(
            "admin".to_string(),
            PolicyOverride {
                session: Some(Duration::hours(8)),
                idle: Some(Duration::minutes(30)),
                ..PolicyOverride::default()
            },
        );
        role_policies.insert(
            "auditor".to_string(),
            PolicyOverride {
                access_token: Some(Duration::minutes(2)),
                idle: Some(Duration::hours(1)),
                ..PolicyOverride::default()
            },
        );
        let mut tenants = HashMap::new();
        tenants.insert(
            "t1".to_string(),
            TenantPolicy {
                tenant: PolicyOverride {
                    idle: Some(Duration::hours(2)),
                    ..PolicyOverride::default()
                },
                roles: role_policies,
            },
        );
        Policies {
            default: ExpiryPolicy::default(),
            tenants,
        }
    }

    #[test]
    fn a_tenant_without_a_policy_gets_the_server_default() {
        assert_eq!(
            policies().for_session("other", &roles(&["admin"])),
            ExpiryPolicy::default()
        );
    }

    #[test]
    fn the_strictest_limit_of_tenant_and_roles_wins_for_each_limit() {
        let policy = policies().for_session("t1", &roles(&["admin", "auditor", "viewer"]));
        assert_eq!(policy.access_token, Duration::minutes(2), "from auditor");
        assert_eq!(policy.session, Duration::hours(8), "from admin");
        assert_eq!(
            policy.idle,
            Duration::minutes(30),
            "admin beats tenant and auditor"
        );
    }

    #[test]
    fn a_role_cannot_loosen_the_tenant_policy() {
        let mut policies = policies();
        if let Some(tenant) = policies.tenants.get_mut("t1") {
            tenant.roles.insert(
                "lax".into(),
                PolicyOverride {
                    idle: Some(Duration::days(30)),
                    ..PolicyOverride::default()
                },
            );
        }
        assert_eq!(
            policies.for_session("t1", &roles(&["lax"])).idle,
            Duration::hours(2)
        );
    }
}
