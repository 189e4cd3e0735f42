//! Configuration: built-in defaults, then an optional TOML file, then `SCIMITAR_*` environment
//! variables, then command-line flags; each later source overrides the earlier ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::store::PoolSettings;

/// File read when no `--config` / `SCIMITAR_CONFIG` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "scimitar.toml";

/// Every setting, with its default. Keys are the same in the file and, upper-cased after
/// `SCIMITAR_`, in the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port the server listens on.
    pub bind: String,
    /// A SQLite file path (or `sqlite://PATH`) or a `postgres://` URL.
    pub database_url: String,
    /// Public base URL (scheme and host, e.g. `https://scim.example.com`) used in `Location`
    /// and `meta.location`; when unset, taken from each request's `Host`.
    pub public_url: Option<String>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `scimitar=debug,actix_web=info`.
    pub log_level: String,
    /// Largest database pool.
    pub db_max_connections: u32,
    /// Seconds a request waits for a database connection before it gets 503.
    pub db_timeout_seconds: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Page size of a list request that gives no `count`.
    pub default_page_size: u32,
    /// Largest page a list request can ask for; advertised as `filter.maxResults`.
    pub max_page_size: u32,
    /// HTTP worker threads; the number of CPUs when unset.
    pub workers: Option<usize>,
    /// The Ed25519 key that signs audit checkpoints; created (owner-only) if missing. Keep it
    /// outside the database, and the same file on every replica.
    pub audit_key_file: String,
    /// Minutes between automatic audit checkpoints by `serve`; 0 turns them off.
    pub audit_checkpoint_minutes: u64,
    /// The secret the token-signing keys are derived from; created (owner-only) if missing.
    /// Keep it outside the database, and the same file on every replica.
    pub token_key_file: String,
    /// Days a signing key signs before the next one takes over.
    pub signing_key_rotation_days: u64,
    /// Default expiry policy: lifetime of an access token.
    pub access_token_minutes: u64,
    /// Default expiry policy: absolute lifetime of a session (a refresh-token family).
    pub session_hours: u64,
    /// Default expiry policy: a session unused for this long is dead.
    pub idle_minutes: u64,
    /// A used refresh token presented again within this many seconds, before its successor
    /// was used, is a retry after a lost response rather than a theft.
    pub refresh_retry_seconds: u64,
    /// Days ended sessions are kept before the sweeper purges them.
    pub session_retention_days: u64,
    /// Seconds between sweeps (expiry marking, last-use flush, purge).
    pub sweep_seconds: u64,
    /// Deactivations and membership removals in one tenant within `burst_window_minutes`
    /// beyond which a `deprovisioning_burst` flag is raised; 0 turns the check off.
    pub burst_threshold: usize,
    pub burst_window_minutes: u64,
    /// Per-tenant access settings, by tenant name: `[tenants.NAME]`.
    pub tenants: BTreeMap<String, TenantConfig>,
}

/// `[tenants.NAME]`: a tenant's expiry policy, role policies, role mappings and trusted issuer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantConfig {
    pub access_token_minutes: Option<u64>,
    pub session_hours: Option<u64>,
    pub idle_minutes: Option<u64>,
    /// `[tenants.NAME.role_policies.ROLE]`: stricter limits for sessions carrying a role.
    pub role_policies: BTreeMap<String, PolicyConfig>,
    /// `[[tenants.NAME.role_mappings]]`: `group = "externalId:00g1"`, `roles = ["admin"]`.
    pub role_mappings: Vec<RoleMappingConfig>,
    /// `[tenants.NAME.trusted_issuer]`: the IdP whose ID tokens a token exchange accepts.
    pub trusted_issuer: Option<TrustedIssuerConfig>,
    /// User attributes an IdP matches on, indexed beyond the built-in ones (`userName`,
    /// `externalId`, the e-mails): `match_attributes = ["urn:…:User:employeeNumber"]`.
    pub match_attributes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub access_token_minutes: Option<u64>,
    pub session_hours: Option<u64>,
    pub idle_minutes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMappingConfig {
    /// `id:…`, `externalId:…` or `displayName:…` (a bare value is a display name).
    pub group: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    /// The `iss` of the IdP's ID tokens, e.g. `https://acme.okta.com`.
    pub issuer: String,
    /// Accepted `aud` values: Scimitar's client id at the IdP.
    pub audience: Vec<String>,
    /// The IdP's JWKS as a file (downloaded from its `jwks_uri`), or …
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// … inline, as JSON text.
    #[serde(default)]
    pub jwks: Option<String>,
    /// The claim naming the user: `sub` (default), `oid` (Entra), `email`, …
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The user attribute it is compared with: `externalId` (default), `userName` or `id`.
    #[serde(default = "default_user_attribute")]
    pub user_attribute: crate::access::upstream::UserAttribute,
}

fn default_user_claim() -> String {
    "sub".into()
}

fn default_user_attribute() -> crate::access::upstream::UserAttribute {
    crate::access::upstream::UserAttribute::ExternalId
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: "scimitar.db".into(),
            public_url: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            db_max_connections: 8,
            db_timeout_seconds: 5,
            max_body_bytes: 2 * 1024 * 1024,
            default_page_size: 100,
            max_page_size: 1000,
            workers: None,
            audit_key_file: "scimitar-audit.key".into(),
            audit_checkpoint_minutes: 60,
            token_key_file: "scimitar-token.key".into(),
            signing_key_rotation_days: 30,
            access_token_minutes: 5,
            session_hours: 168,
            idle_minutes: 720,
            refresh_retry_seconds: 10,
            session_retention_days: 30,
            sweep_seconds: 60,
            burst_threshold: 100,
            burst_window_minutes: 5,
            tenants: BTreeMap::new(),
        }
    }
}

/// Values given on the command line; only those present override.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

const ENV_KEYS: [&str; 23] = [
    "bind",
    "database_url",
    "public_url",
    "log_format",
    "log_level",
    "db_max_connections",
    "db_timeout_seconds",
    "max_body_bytes",
    "default_page_size",
    "max_page_size",
    "workers",
    "audit_key_file",
    "audit_checkpoint_minutes",
    "token_key_file",
    "signing_key_rotation_days",
    "access_token_minutes",
    "session_hours",
    "idle_minutes",
    "refresh_retry_seconds",
    "session_retention_days",
    "sweep_seconds",
    "burst_threshold",
    "burst_window_minutes",
];

impl Config {
    /// Loads the configuration. `file` is required to exist when given explicitly.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, Box<figment::Error>> {
        let toml = match file {
            Some(path) => Toml::file_exact(path),
            None => Toml::file_exact(PathBuf::from(DEFAULT_CONFIG_FILE)),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if file.is_some() || Path::new(DEFAULT_CONFIG_FILE).exists() {
            figment = figment.merge(toml);
        }
        let config: Config = figment
            .merge(Env::prefixed("SCIMITAR_").only(&ENV_KEYS))
            .merge(Serialized::defaults(overrides))
            .extract()?;
        config
            .validate()
            .map_err(|e| Box::new(figment::Error::from(e)))?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_page_size == 0 || self.default_page_size == 0 {
            return Err("page sizes must be at least 1".into());
        }
        if self.access_token_minutes == 0 || self.session_hours == 0 || self.idle_minutes == 0 {
            return Err(
                "access_token_minutes, session_hours and idle_minutes must be at least 1".into(),
            );
        }
        if self.signing_key_rotation_days == 0 || self.sweep_seconds == 0 {
            return Err("signing_key_rotation_days and sweep_seconds must be at least 1".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes must be at least 1024".into());
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "public_url `{url}` must start with http:// or https://"
            ));
        }
        Ok(())
    }

    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_secs(self.db_timeout_seconds.max(1)),
            ..PoolSettings::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        Jail::expect_with(|_jail| {
            let config = Config::load(None, &Overrides::default()).map_err(|e| *e)?;
            assert_eq!(config, Config::default());
            assert_eq!(config.bind, "127.0.0.1:8080");
            assert_eq!(config.database_url, "scimitar.db");
            Ok(())
        });
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "bind = \"0.0.0.0:1\"\ndatabase_url = \"file.db\"\nlog_level = \"debug\"",
            )?;
            jail.set_env("SCIMITAR_DATABASE_URL", "env.db");
            jail.set_env("SCIMITAR_BIND", "0.0.0.0:2");
            let overrides = Overrides {
                bind: Some("0.0.0.0:3".into()),
                ..Overrides::default()
            };
            let config = Config::load(None, &overrides).map_err(|e| *e)?;
            assert_eq!(config.bind, "0.0.0.0:3");
            assert_eq!(config.database_url, "env.db");
            assert_eq!(config.log_level, "debug");
            Ok(())
        });
    }

    #[test]
    fn an_explicit_config_file_must_exist() {
        Jail::expect_with(|_jail| {
            assert!(Config::load(Some(Path::new("missing.toml")), &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors_not_silently_ignored() {
        Jail::expect_with(|jail| {
            jail.create_file("c.toml", "databse_url = \"typo.db\"")?;
            assert!(Config::load(Some(Path::new("c.toml")), &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn unrelated_scimitar_variables_are_not_read_as_settings() {
        Jail::expect_with(|jail| {
            jail.set_env("SCIMITAR_TEST_POSTGRES_URL", "postgres://x");
            assert!(Config::load(None, &Overrides::default()).is_ok());
            Ok(())
        });
    }
}
