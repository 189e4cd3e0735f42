//! Configuration: built-in defaults, then an optional TOML file, then `SCIMITAR_*` environment
//! variables, then command-line flags; each later source overrides the earlier ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::egress::{Destinations, Egress};
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
    /// Serve HTTPS with this PEM certificate chain (and `tls_key_file`); plain HTTP if unset.
    pub tls_cert_file: Option<String>,
    /// The PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<String>,
    /// Seconds between checks of the certificate files for a renewal.
    pub tls_reload_seconds: u64,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `scimitar=debug,actix_web=info`.
    pub log_level: String,
    /// Largest database pool.
    pub db_max_connections: u32,
    /// Concurrent writes share one transaction and commit (decision 55); off, each write
    /// commits alone (for comparison, or a database that balks at savepoints).
    pub db_group_commit: bool,
    /// Seconds a request waits for a database connection before it gets 503.
    pub db_timeout_seconds: u64,
    /// Seconds a request may take to produce its response before it is answered 503 (a
    /// database that stopped answering must not hang clients).
    pub request_timeout_seconds: u64,
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
    /// A deactivated user switched back on within this many minutes of the deactivation
    /// raises a `quick_reactivation` flag (the reactivation is applied); 0 turns it off.
    pub reactivation_alert_minutes: u64,
    /// Failed authentications per client address per minute before they are answered 429;
    /// 0 turns the limit off. A valid credential is never refused for its address.
    pub rate_limit_failed_auth_per_minute: u32,
    /// Failing requests (wrong API, failed grants) per app or admin credential per minute
    /// before the credential is refused with 429 for a while; 0 turns the limit off. SCIM
    /// credentials are never limited.
    pub rate_limit_client_failures_per_minute: u32,
    /// OAuth requests (token, introspection, revocation) per second of an app client without
    /// a cap of its own (`scimitar client limit`); 0 (the default): no cap. Successful traffic
    /// of a valid credential is not limited unless a cap is set.
    pub rate_limit_oauth_per_second: u32,
    /// Behind a reverse proxy: take the client's address for rate limits from the last
    /// `X-Forwarded-For` entry instead of the peer address.
    pub trust_forwarded_for: bool,
    /// Serve `/metrics` and `/openapi.json` on this address only (a listener of their own,
    /// e.g. one the monitoring network reaches), not on `bind`.
    pub metrics_bind: Option<String>,
    /// Require `Authorization: Bearer T` on `/metrics` and `/openapi.json`, where this is the
    /// hex SHA-256 of T (the token itself is never stored).
    pub metrics_token_sha256: Option<String>,
    /// Internal networks that outbound requests (push delivery, key sets, polls) may reach,
    /// over https or plain http: `["10.0.0.0/8", "127.0.0.1"]`. Empty: public https only.
    pub outbound_allow: Vec<String>,
    /// The operator console: a signed-in session unused for this many minutes is over.
    pub console_idle_minutes: u64,
    /// The operator console: a session is over this many hours after sign-in, used or not.
    pub console_session_hours: u64,
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
    /// `[[tenants.NAME.revocation_callers]]`: identity providers that may call Global Token
    /// Revocation with a signed JWT (Okta Universal Logout).
    pub revocation_callers: Vec<RevocationCallerConfig>,
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
    /// A display name matched by name on every change, instead of binding to the group it
    /// names (the default: a rename in the IdP then keeps its members' roles).
    #[serde(default)]
    pub follow_name: bool,
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
    pub user_attribute: UserAttribute,
}

/// An identity provider allowed to call `POST /oauth2/global-token-revocation` with a JWT
/// it signs (draft-parecki-oauth-global-token-revocation-06 §3.5). The tenant is the one
/// whose caller has the JWT's `iss` and `sub`; no two tenants may share a caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationCallerConfig {
    /// The JWT's `iss`: the IdP's issuer (Okta: the org URL, as in its ID tokens).
    pub issuer: String,
    /// The JWT's `sub`: Scimitar's client id (or app instance id) at the IdP.
    pub client_id: String,
    /// The IdP's key set (Okta: `https://ORG/oauth2/v1/keys`), fetched through the
    /// destination policy and cached, or …
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// … a file holding it.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// Longest lifetime (`exp` − `iat`) accepted, in seconds.
    #[serde(default = "default_revocation_lifetime")]
    pub max_lifetime_seconds: u64,
    /// The user attribute an `iss_sub` subject's `sub` names: `externalId` (default: what
    /// Okta provisions its user id as), `userName` or `id`.
    #[serde(default = "default_user_attribute")]
    pub user_attribute: UserAttribute,
    /// Accept a JWT without `typ: global-token-revocation+jwt` (or typed plain `JWT`), for
    /// a caller that follows the draft to the letter (it names no type). Other types are
    /// refused whatever this says.
    #[serde(default)]
    pub accept_untyped: bool,
    /// A Shared Signals stream of this caller at Scimitar's transmitter (its `stream_id`):
    /// once a revocation it asked for is done, a CAEP `session-revoked` naming its subject
    /// is sent there (draft-parecki-oauth-global-token-revocation-06 §5).
    #[serde(default)]
    pub completion_stream: Option<String>,
}

fn default_revocation_lifetime() -> u64 {
    300
}

fn default_user_claim() -> String {
    "sub".into()
}

fn default_user_attribute() -> UserAttribute {
    UserAttribute::ExternalId
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
            tls_cert_file: None,
            tls_key_file: None,
            tls_reload_seconds: 60,
            log_level: "info".into(),
            db_max_connections: 8,
            db_group_commit: true,
            db_timeout_seconds: 5,
            request_timeout_seconds: 60,
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
            reactivation_alert_minutes: 60,
            rate_limit_failed_auth_per_minute: 30,
            rate_limit_client_failures_per_minute: 60,
            rate_limit_oauth_per_second: 0,
            trust_forwarded_for: false,
            metrics_bind: None,
            metrics_token_sha256: None,
            outbound_allow: Vec::new(),
            console_idle_minutes: 30,
            console_session_hours: 12,
            tenants: BTreeMap::new(),
        }
    }
}

/// One setting as `config show` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    pub key: &'static str,
    pub value: serde_json::Value,
    pub source: &'static str,
}

/// A URL with its secrets replaced (`store::redact_password`): what `config show` and the
/// logs print of a database URL.
pub fn redact_password(text: &str) -> String {
    crate::store::redact_password(text)
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<String>,
}

const ENV_KEYS: [&str; 38] = [
    "bind",
    "database_url",
    "public_url",
    "tls_cert_file",
    "tls_key_file",
    "tls_reload_seconds",
    "log_format",
    "log_level",
    "db_max_connections",
    "db_group_commit",
    "db_timeout_seconds",
    "request_timeout_seconds",
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
    "reactivation_alert_minutes",
    "rate_limit_failed_auth_per_minute",
    "rate_limit_client_failures_per_minute",
    "rate_limit_oauth_per_second",
    "trust_forwarded_for",
    "metrics_bind",
    "metrics_token_sha256",
    "outbound_allow",
    "console_idle_minutes",
    "console_session_hours",
];

impl Config {
    /// Loads the configuration. `file` is required to exist when given explicitly.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, Box<figment::Error>> {
        Self::from_figment(&Self::sources(file, overrides, true))
    }

    /// Checks a configuration file on its own (defaults, then the file): `config check`.
    pub fn check_file(file: &Path) -> Result<Self, Box<figment::Error>> {
        Self::from_figment(&Self::sources(Some(file), &Overrides::default(), false))
    }

    fn from_figment(figment: &Figment) -> Result<Self, Box<figment::Error>> {
        let config: Config = figment.extract()?;
        config
            .validate()
            .map_err(|e| Box::new(figment::Error::from(e)))?;
        Ok(config)
    }

    /// The layered sources: defaults, the file, the environment (when `environment`), flags.
    fn sources(file: Option<&Path>, overrides: &Overrides, environment: bool) -> Figment {
        let toml = match file {
            Some(path) => Toml::file_exact(path),
            None => Toml::file_exact(PathBuf::from(DEFAULT_CONFIG_FILE)),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if file.is_some() || Path::new(DEFAULT_CONFIG_FILE).exists() {
            figment = figment.merge(toml);
        }
        if environment {
            figment = figment.merge(Env::prefixed("SCIMITAR_").only(&ENV_KEYS));
        }
        figment.merge(Serialized::defaults(overrides))
    }

    /// Every top-level setting with its effective value and where it came from (`default`,
    /// `file`, `env` or `flag`), secrets redacted: `config show`.
    pub fn explain(
        file: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Vec<Setting>, Box<figment::Error>> {
        let figment = Self::sources(file, overrides, true);
        let config = Self::from_figment(&figment)?;
        let values =
            serde_json::to_value(&config).map_err(|e| figment::Error::from(e.to_string()))?;
        let keys = ENV_KEYS.iter().copied().chain(["tenants"]);
        Ok(keys
            .map(|key| {
                let source = match figment.find_metadata(key).map(|m| m.name.as_ref()) {
                    Some(name) if name.ends_with("::Overrides") => "flag",
                    Some(name) if name.contains("environment") => "env",
                    Some(name) if name.contains("file") => "file",
                    _ => "default",
                };
                let mut value = values.get(key).cloned().unwrap_or_default();
                if let serde_json::Value::String(text) = &value {
                    value = serde_json::Value::String(redact_password(text));
                }
                Setting { key, value, source }
            })
            .collect())
    }

    fn validate(&self) -> Result<(), String> {
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err("tls_cert_file and tls_key_file go together: set both or neither".into());
        }
        if self.max_page_size == 0 || self.default_page_size == 0 {
            return Err("page sizes must be at least 1".into());
        }
        if self.access_token_minutes == 0 || self.session_hours == 0 || self.idle_minutes == 0 {
            return Err(
                "access_token_minutes, session_hours and idle_minutes must be at least 1".into(),
            );
        }
        if self.signing_key_rotation_days == 0
            || self.sweep_seconds == 0
            || self.request_timeout_seconds == 0
        {
            return Err(
                "signing_key_rotation_days, sweep_seconds and request_timeout_seconds must be \
                 at least 1"
                    .into(),
            );
        }
        if self.console_idle_minutes == 0 || self.console_session_hours == 0 {
            return Err("console_idle_minutes and console_session_hours must be at least 1".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes must be at least 1024".into());
        }
        self.destinations().map_err(|e| e.to_string())?;
        if let Some(digest) = &self.metrics_token_sha256
            && !(digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(
                "metrics_token_sha256 is the hex SHA-256 of the token (64 hex digits)".into(),
            );
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "public_url `{url}` must start with http:// or https://"
            ));
        }
        // Role names are judged here as the server judges them, so `config check` and
        // `serve` agree.
        for (name, tenant) in &self.tenants {
            let mapped = tenant.role_mappings.iter().flat_map(|m| m.roles.iter());
            for role in mapped.chain(tenant.role_policies.keys()) {
                if let Some(problem) = crate::text::role_name_problem(role) {
                    return Err(format!("tenants.{name}: {problem}"));
                }
            }
        }
        Ok(())
    }

    /// Where outbound requests may go (`outbound_allow`).
    pub fn destinations(&self) -> Result<Destinations, crate::egress::PolicyError> {
        Destinations::allowing(&self.outbound_allow)
    }

    /// The outbound client every request out of Scimitar goes through.
    pub fn egress(&self) -> Result<Egress, crate::egress::PolicyError> {
        Ok(Egress::new(self.destinations()?, Duration::from_secs(10)))
    }

    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.db_max_connections,
            group_commit: self.db_group_commit,
            acquire_timeout: Duration::from_secs(self.db_timeout_seconds.max(1)),
            ..PoolSettings::default()
        }
    }
}

/// Which user attribute a trusted issuer's chosen claim is compared with (the file names it;
/// `access::upstream` uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum UserAttribute {
    #[serde(rename = "externalId")]
    ExternalId,
    #[serde(rename = "userName")]
    UserName,
    #[serde(rename = "id")]
    Id,
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
    fn a_role_name_the_server_would_refuse_fails_the_file() {
        for (why, section) in [
            (
                "a mapping",
                "[[tenants.acme.role_mappings]]\ngroup = \"Ops\"\nroles = [\"a,b\"]",
            ),
            (
                "a policy",
                "[tenants.acme.role_policies.\"\\u00ADx\"]\nsession_hours = 1",
            ),
            (
                "a policy",
                "[tenants.acme.role_policies.\"..\"]\nsession_hours = 1",
            ),
        ] {
            Jail::expect_with(|jail| {
                jail.create_file("c.toml", section)?;
                let checked = Config::check_file(std::path::Path::new("c.toml"));
                assert!(checked.is_err(), "{why}: {section}");
                // The same file with a valid name passes.
                let valid = section
                    .replace("a,b", "reader")
                    .replace("\\u00ADx", "reader")
                    .replace("..", "reader");
                jail.create_file("c.toml", &valid)?;
                assert!(
                    Config::check_file(std::path::Path::new("c.toml")).is_ok(),
                    "{valid}"
                );
                Ok(())
            });
        }
    }

    #[test]
    fn group_commit_is_on_by_default_and_the_environment_turns_it_off() {
        Jail::expect_with(|jail| {
            let config = Config::load(None, &Overrides::default()).map_err(|e| *e)?;
            assert!(config.pool_settings().group_commit);
            jail.set_env("SCIMITAR_DB_GROUP_COMMIT", "false");
            let config = Config::load(None, &Overrides::default()).map_err(|e| *e)?;
            assert!(!config.pool_settings().group_commit);
            Ok(())
        });
    }

    #[test]
    fn each_setting_is_shown_with_its_source_and_secrets_redacted() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "log_level = \"debug\"\n[tenants.acme]\nsession_hours = 8",
            )?;
            jail.set_env(
                "SCIMITAR_DATABASE_URL",
                "postgres://app:hunter2@db:5432/scim",
            );
            let overrides = Overrides {
                bind: Some("0.0.0.0:3".into()),
                ..Overrides::default()
            };
            let shown = Config::explain(Some(Path::new("c.toml")), &overrides).map_err(|e| *e)?;
            let of = |key: &str| shown.iter().find(|s| s.key == key).cloned();
            let setting = |key: &str, value: serde_json::Value, source: &str| {
                assert_eq!(
                    of(key).map(|s| (s.value, s.source)),
                    Some((value, source)),
                    "{key}"
                )
            };
            setting("bind", "0.0.0.0:3".into(), "flag");
            setting(
                "database_url",
                "postgres://app:***@db:5432/scim".into(),
                "env",
            );
            setting("log_level", "debug".into(), "file");
            setting("max_page_size", 1000.into(), "default");
            assert_eq!(of("tenants").map(|s| s.source), Some("file"));
            assert_eq!(shown.len(), ENV_KEYS.len() + 1, "every setting is shown");
            Ok(())
        });
    }

    #[test]
    fn a_password_in_a_url_is_redacted_and_nothing_else_is() {
        assert_eq!(
            redact_password("postgres://u:p@h/db?x=1"),
            "postgres://u:***@h/db?x=1"
        );
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_password("scimitar.db"), "scimitar.db");
        assert_eq!(
            redact_password("postgres://h/db?user=a:b@c"),
            "postgres://h/db?user=a:b@c"
        );
        assert_eq!(
            redact_password("postgres://u:p@h/db?password=q&sslmode=require"),
            "postgres://u:***@h/db?password=***&sslmode=require"
        );
        // Every form libpq reads a password from: sslpassword, another case, a
        // percent-encoded name, repeated, and a password holding `@`, `&` or `?`.
        assert_eq!(
            redact_password("postgres://h/db?sslpassword=a&password=b"),
            "postgres://h/db?sslpassword=***&password=***"
        );
        assert_eq!(
            redact_password("postgres://h/db?pass%77ord=c&PASSWORD=d&%70assword=e"),
            "postgres://h/db?pass%77ord=***&PASSWORD=***&%70assword=***"
        );
        assert_eq!(
            redact_password("postgresql://u:p%40ss@h:5432/db?application_name=x"),
            "postgresql://u:***@h:5432/db?application_name=x"
        );
        assert_eq!(
            redact_password("postgres://u:a@b@h/db"),
            "postgres://u:***@h/db"
        );
        for url in [
            "postgres://u:hunter2@h/db",
            "postgres://h/db?password=hunter2",
            "postgres://h/db?sslpassword=hunter2",
            "postgres://h/db?pass%77ord=hunter2",
            "postgres://h/db?x=1&Password=hunter2#frag",
        ] {
            assert!(!redact_password(url).contains("hunter2"), "{url}");
        }
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
