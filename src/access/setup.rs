//! From configuration to a running token service: expiry policies and trusted issuers per
//! tenant (named in the file, resolved to ids here), the signing keys, and the role mappings
//! of the file reconciled with the database at start.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::JwkSet;

use super::keys::{KeyRing, KeySecret};
use super::policy::{ExpiryPolicy, Policies, PolicyOverride, TenantPolicy};
use super::revocation_callers::{CallerKeys, RevocationCaller, RevocationCallers};
use super::roles::{self, ChangedBy, GroupSelector};
use super::upstream::TrustedIssuer;
use super::{AccessError, AccessService, AccessSettings};
use crate::clock::SharedClock;
use crate::config::{Config, PolicyConfig, RevocationCallerConfig, TrustedIssuerConfig};
use crate::store::roles::RoleMappingRow;
use crate::store::{Store, tenants};

/// Builds the token service for `serve`: settings, keys (created on first start, checked by a
/// self-test) and the file's role mappings.
pub fn start(
    config: &Config,
    store: &Store,
    clock: SharedClock,
    issuer: &str,
) -> Result<AccessService, AccessError> {
    let now = clock.now();
    let settings = settings(config, store, issuer)?;
    let secret = KeySecret::load_or_create(Path::new(&config.token_key_file))?;
    let keys = Arc::new(KeyRing::open(store, secret, now)?);
    sync_role_mappings(config, store, now)?;
    Ok(AccessService::new(store.clone(), clock, keys, settings))
}

/// The settings the configuration describes.
pub fn settings(
    config: &Config,
    store: &Store,
    issuer: &str,
) -> Result<AccessSettings, AccessError> {
    let mut policies = Policies {
        default: ExpiryPolicy {
            access_token: Duration::minutes(config.access_token_minutes as i64),
            session: Duration::hours(config.session_hours as i64),
            idle: Duration::minutes(config.idle_minutes as i64),
        },
        tenants: HashMap::new(),
    };
    let mut trusted_issuers = HashMap::new();
    let mut callers = Vec::new();
    for (name, tenant) in &config.tenants {
        let tenant_id = tenant_id(store, name)?;
        let policy = TenantPolicy {
            tenant: policy_override(&PolicyConfig {
                access_token_minutes: tenant.access_token_minutes,
                session_hours: tenant.session_hours,
                idle_minutes: tenant.idle_minutes,
            }),
            roles: tenant
                .role_policies
                .iter()
                .map(|(role, policy)| (role.clone(), policy_override(policy)))
                .collect(),
        };
        policies.tenants.insert(tenant_id.clone(), policy);
        for caller in &tenant.revocation_callers {
            callers.push(revocation_caller(name, &tenant_id, caller)?);
        }
        if let Some(issuer) = &tenant.trusted_issuer {
            trusted_issuers.insert(tenant_id, trusted_issuer(name, issuer)?);
        }
    }
    Ok(AccessSettings {
        issuer: issuer.trim_end_matches('/').to_string(),
        policies,
        refresh_retry_window: Duration::seconds(config.refresh_retry_seconds as i64),
        session_retention: Duration::days(config.session_retention_days as i64),
        trusted_issuers,
        revocation_callers: RevocationCallers::new(callers)?,
    })
}

fn tenant_id(store: &Store, name: &str) -> Result<String, AccessError> {
    store
        .read(|conn| tenants::find(conn, name))?
        .map(|t| t.id)
        .ok_or_else(|| {
            AccessError::Config(format!(
                "[tenants.{name}]: no such tenant (create it with `scimitar tenant create {name}`)"
            ))
        })
}

fn policy_override(policy: &PolicyConfig) -> PolicyOverride {
    PolicyOverride {
        access_token: policy
            .access_token_minutes
            .map(|m| Duration::minutes(m as i64)),
        session: policy.session_hours.map(|h| Duration::hours(h as i64)),
        idle: policy.idle_minutes.map(|m| Duration::minutes(m as i64)),
    }
}

fn revocation_caller(
    tenant: &str,
    tenant_id: &str,
    config: &RevocationCallerConfig,
) -> Result<RevocationCaller, AccessError> {
    let bad = |why: String| {
        AccessError::Config(format!("[[tenants.{tenant}.revocation_callers]]: {why}"))
    };
    let keys = match (&config.jwks_uri, &config.jwks_file) {
        (Some(uri), None) => CallerKeys::Uri(uri.clone()),
        (None, Some(file)) => {
            let text =
                std::fs::read_to_string(file).map_err(|e| bad(format!("jwks_file {file}: {e}")))?;
            let keys: JwkSet = serde_json::from_str(&text)
                .map_err(|e| bad(format!("the JWKS is not valid: {e}")))?;
            CallerKeys::Set(keys)
        }
        _ => return Err(bad("give exactly one of jwks_uri and jwks_file".into())),
    };
    if config.issuer.trim().is_empty() || config.client_id.trim().is_empty() {
        return Err(bad("issuer and client_id are required".into()));
    }
    if !(1..=3600).contains(&config.max_lifetime_seconds) {
        return Err(bad("max_lifetime_seconds is from 1 to 3600".into()));
    }
    Ok(RevocationCaller {
        tenant_id: tenant_id.to_string(),
        issuer: config.issuer.clone(),
        client_id: config.client_id.clone(),
        keys,
        max_lifetime: Duration::seconds(config.max_lifetime_seconds as i64),
        user_attribute: config.user_attribute,
        accept_untyped: config.accept_untyped,
        completion_stream: config.completion_stream.clone(),
    })
}

fn trusted_issuer(
    tenant: &str,
    config: &TrustedIssuerConfig,
) -> Result<TrustedIssuer, AccessError> {
    let bad =
        |why: String| AccessError::Config(format!("[tenants.{tenant}.trusted_issuer]: {why}"));
    let text = match (&config.jwks_file, &config.jwks) {
        (Some(file), None) => {
            std::fs::read_to_string(file).map_err(|e| bad(format!("jwks_file {file}: {e}")))?
        }
        (None, Some(inline)) => inline.clone(),
        _ => return Err(bad("give exactly one of jwks_file and jwks".into())),
    };
    let keys: JwkSet =
        serde_json::from_str(&text).map_err(|e| bad(format!("the JWKS is not valid: {e}")))?;
    if keys.keys.is_empty() || config.audience.is_empty() {
        return Err(bad("the JWKS and the audience must not be empty".into()));
    }
    Ok(TrustedIssuer {
        issuer: config.issuer.clone(),
        audiences: config.audience.clone(),
        keys,
        user_claim: config.user_claim.clone(),
        user_attribute: config.user_attribute,
    })
}

/// Makes the database's file-sourced mappings equal to the file's: adds the new ones and
/// removes those no longer in the file (with the cascade a removal causes). Mappings made
/// through the admin API or the CLI are left alone.
pub fn sync_role_mappings(
    config: &Config,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<(), AccessError> {
    let by = ChangedBy {
        actor: None,
        request: None,
        source: "config",
    };
    for tenant in store.read(|conn| tenants::list(conn))? {
        let wanted = config
            .tenants
            .get(&tenant.name)
            .map(|t| t.role_mappings.clone())
            .unwrap_or_default();
        // Each (group selector, role) the file asks for.
        let mut desired: Vec<(GroupSelector, String)> = Vec::new();
        for mapping in &wanted {
            let selector =
                GroupSelector::parse(&mapping.group)?.following_name(mapping.follow_name);
            for role in &mapping.roles {
                roles::check_role_name(role)?;
                desired.push((selector.clone(), role.clone()));
            }
        }
        let matches = |row: &RoleMappingRow, (selector, role): &(GroupSelector, String)| {
            row.match_by == selector.by.as_str()
                && row.match_value == selector.value
                && row.follow_name == selector.follow_name
                && &row.role == role
        };
        let tenant_id = tenant.id;
        store.write(|conn| {
            let existing = crate::store::roles::list(conn, &tenant_id)?;
            for row in existing.iter().filter(|r| r.source == "config") {
                if !desired.iter().any(|wanted| matches(row, wanted)) {
                    roles::unmap(conn, &tenant_id, &row.id, by, now)?;
                }
            }
            for wanted in &desired {
                if !existing.iter().any(|row| matches(row, wanted)) {
                    roles::map(conn, &tenant_id, &wanted.0, &wanted.1, by, now)?;
                }
            }
            Ok::<_, AccessError>(())
        })?;
    }
    Ok(())
}
