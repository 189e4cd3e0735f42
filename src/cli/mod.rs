//! The `scimitar` command: `serve`, `migrate`, `tenant …` and `client …`. Results that scripts
//! read go to stdout; everything meant for a person goes to stderr.

mod demo;
mod operate;
mod progress;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::access;
use crate::access::credentials::{self, CredentialKind, NewCredential};
use crate::audit::{self, Verification};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::config::{Config, Overrides};
use crate::http::{self, AppState, SCIM_PATH, ServerSettings};
use crate::scim::ScimService;
use crate::scim::list::PageLimits;
use crate::scim::schema::Registry;
use crate::store::{DatabaseUrl, Store};
use crate::{telemetry, tenancy};

#[derive(Debug, Parser)]
#[command(
    name = "scimitar",
    version,
    about = "SCIM 2.0 provisioning endpoint that cuts access the moment an identity provider says so"
)]
pub struct Cli {
    /// TOML configuration file [default: scimitar.toml in the working directory, if present]
    #[arg(long, global = true, env = "SCIMITAR_CONFIG")]
    config: Option<PathBuf>,
    /// Database: a SQLite file path or a postgres:// URL [env: SCIMITAR_DATABASE_URL] [default: scimitar.db]
    #[arg(long, global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (applies pending migrations first)
    Serve {
        /// Address to listen on [env: SCIMITAR_BIND] [default: 127.0.0.1:8080]
        #[arg(long)]
        bind: Option<String>,
        /// Public base URL used in Location headers, e.g. https://scim.example.com [env: SCIMITAR_PUBLIC_URL]
        #[arg(long)]
        public_url: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (reloaded when the file changes) [env: SCIMITAR_TLS_CERT_FILE]
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<String>,
        /// The PEM private key of --tls-cert [env: SCIMITAR_TLS_KEY_FILE]
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<String>,
    },
    /// Apply pending database migrations and exit
    Migrate,
    /// Manage tenants
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage credentials of identity providers and operators
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Inspect the audit log
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Map groups to roles
    Roles {
        #[command(subcommand)]
        command: RolesCommand,
    },
    /// End every session and token of a user now (the kill switch)
    Revoke {
        /// The user's SCIM id or userName
        #[arg(long)]
        user: String,
        /// Tenant name or id [default: the default tenant]
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Token-signing keys
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The effective configuration and where each value comes from, or a check of a file
    Config {
        #[command(subcommand)]
        command: operate::ConfigCommand,
    },
    /// Write a consistent copy of the live SQLite database to FILE (the server keeps serving)
    Backup {
        /// Where to write the copy; must not exist yet
        file: PathBuf,
    },
    /// Start a throwaway server, play an identity provider and an app against it, and narrate
    /// each step: provisioning, roles, tokens, the live stream, a deactivation and its audit
    Demo {
        /// Keep the demo's database and keys in this directory instead of removing them
        #[arg(long)]
        keep: Option<PathBuf>,
        /// Do not wait for Enter between steps (the default when input is not a terminal)
        #[arg(long)]
        no_pause: bool,
    },
    /// Print shell completions for bash, zsh, fish, elvish or powershell
    Completions {
        #[arg(value_enum)]
        shell: operate::Shell,
    },
    /// Print the manual page, or write one per command into --dir
    Man {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum RolesCommand {
    /// Grant roles to the members of a group; prints the new mappings as JSON
    Map {
        /// `id:…`, `externalId:…` or `displayName:…`; a bare value is a display name
        #[arg(long)]
        group: String,
        /// A role to grant; repeat for several
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Tenant name or id [default: the default tenant]
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List the mappings of a tenant
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a mapping; members who lose its role lose the sessions carrying it
    Unmap {
        /// The mapping's id (from `roles list`)
        id: String,
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// The published keys and their schedule, as JSON
    List,
    /// Start a new signing key (published 10 minutes before it signs, unless --now)
    Rotate {
        /// Sign with the new key at once (a key may be compromised)
        #[arg(long)]
        now: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain: report the first broken, missing or reordered record, or the
    /// verified count and head hash. Exits non-zero when a chain is broken.
    Verify {
        /// Tenant name or id [default: every tenant]
        #[arg(long)]
        tenant: Option<String>,
        /// Also check this exported checkpoint against the chain and the server's key
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Sign the current head of a tenant's chain; prints the checkpoint (JSON) to keep
    Checkpoint {
        /// Tenant name or id [default: the default tenant]
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Erase the personal data (names, addresses) of every record about one resource, on a
    /// data-subject request; the erasure is itself recorded, and `verify` reports it
    Erase {
        /// The SCIM id of the user or group
        #[arg(long)]
        resource: String,
        /// Tenant name or id [default: the default tenant]
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Retention: remove records older than --before, up to the newest checkpoint covering them
    Prune {
        /// RFC 3339 time
        #[arg(long)]
        before: String,
        /// Tenant name or id [default: the default tenant]
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Write records to stdout, oldest first, as JSON Lines or as OCSF events (one per line).
    /// The export itself is recorded in the log.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Only records at or after this RFC 3339 time
        #[arg(long)]
        since: Option<String>,
        /// Only records before this RFC 3339 time
        #[arg(long)]
        until: Option<String>,
        /// Tenant name or id [default: the default tenant]
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    Jsonl,
    Ocsf,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant; prints it as JSON
    Create { name: String },
    /// List tenants
    List {
        #[arg(long)]
        json: bool,
    },
    /// Strict mode on or off: refuse non-RFC input instead of applying quirk rules
    Strict { name: String, mode: OnOff },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Create a credential; prints {"client_id", "secret"} as JSON, the only time the secret is shown
    Create {
        #[arg(long)]
        name: String,
        /// Tenant name or id [default: the default tenant]
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_enum, default_value_t = KindArg::Scim)]
        kind: KindArg,
        /// An app client that may name users directly in a token exchange
        #[arg(long)]
        trusted: bool,
    },
    /// List credentials: name, kind, tenant, created, last used
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a credential; it stops working at once
    Revoke { client_id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    Scim,
    Admin,
    App,
}

impl From<KindArg> for CredentialKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Scim => CredentialKind::Scim,
            KindArg::Admin => CredentialKind::Admin,
            KindArg::App => CredentialKind::App,
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let overrides = match &cli.command {
        Command::Serve {
            bind,
            public_url,
            tls_cert,
            tls_key,
        } => Overrides {
            bind: bind.clone(),
            public_url: public_url.clone(),
            tls_cert_file: tls_cert.clone(),
            tls_key_file: tls_key.clone(),
            database_url: cli.database.clone(),
        },
        _ => Overrides {
            database_url: cli.database.clone(),
            ..Overrides::default()
        },
    };
    // Commands that need neither the configuration nor the database.
    match &cli.command {
        Command::Config { command } => {
            return operate::config_command(command.clone(), cli.config.as_deref(), &overrides);
        }
        Command::Completions { shell } => return operate::completions(*shell),
        Command::Man { dir } => return operate::man(dir.as_deref()),
        Command::Demo { keep, no_pause } => return demo::run(keep.clone(), *no_pause),
        _ => {}
    }
    let config =
        Config::load(cli.config.as_deref(), &overrides).context("invalid configuration")?;
    let serving = matches!(cli.command, Command::Serve { .. });
    telemetry::init(
        if serving { &config.log_level } else { "warn" },
        config.log_format,
    );
    let clock: SharedClock = Arc::new(SystemClock);
    let store = open_store(&config)?;
    match cli.command {
        Command::Serve { .. } => serve(&config, store, clock),
        Command::Migrate => {
            eprintln!("migrations are up to date");
            Ok(())
        }
        Command::Tenant { command } => tenant(command, &store, clock.as_ref()),
        Command::Client { command } => client(command, &store, clock.as_ref()),
        Command::Audit { command } => audit_command(command, &store, clock.as_ref(), &config),
        Command::Roles { command } => roles_command(command, &store, clock.as_ref()),
        Command::Revoke { user, tenant } => {
            let tenant_id = tenant_id(&store, tenant.as_deref())?;
            let ended =
                access::tokens::revoke_user(&store, clock.now(), &tenant_id, &user, None, None)?;
            println!("{}", json!({"sessions_revoked": ended}));
            eprintln!("{} session(s) of `{user}` revoked", ended.len());
            Ok(())
        }
        Command::Keys { command } => keys_command(command, &store, clock.as_ref(), &config),
        Command::Backup { file } => operate::backup(&store, &file),
        Command::Config { .. }
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Demo { .. } => Ok(()),
    }
}

fn tenant_id(store: &Store, tenant: Option<&str>) -> anyhow::Result<String> {
    let name = tenant.unwrap_or(crate::store::tenants::DEFAULT_TENANT);
    Ok(store
        .read(|conn| crate::store::tenants::find(conn, name))?
        .ok_or_else(|| anyhow::anyhow!("no tenant named or with id `{name}`"))?
        .id)
}

fn roles_command(command: RolesCommand, store: &Store, clock: &dyn Clock) -> anyhow::Result<()> {
    use crate::access::roles::{self, ChangedBy, GroupSelector, RoleMapping};
    let by = ChangedBy {
        actor: None,
        request: None,
        source: "api",
    };
    match command {
        RolesCommand::Map {
            group,
            roles: granted,
            tenant,
        } => {
            let tenant_id = tenant_id(store, tenant.as_deref())?;
            let selector = GroupSelector::parse(&group)?;
            let created = store.write(|conn| {
                roles::map_all(conn, &tenant_id, &selector, &granted, by, clock.now())
            })?;
            println!("{}", serde_json::to_value(&created)?);
            eprintln!("{} mapping(s) created", created.len());
        }
        RolesCommand::List { tenant, json } => {
            let tenant_id = tenant_id(store, tenant.as_deref())?;
            let mappings: Vec<RoleMapping> = store
                .read(|conn| crate::store::roles::list(conn, &tenant_id))?
                .into_iter()
                .map(RoleMapping::from)
                .collect();
            if json {
                println!("{}", serde_json::to_value(&mappings)?);
            } else {
                println!(
                    "{:<36}  {:<20}  {:<12}  {:<6}  GROUP",
                    "ID", "ROLE", "MATCH BY", "SOURCE"
                );
                for m in mappings {
                    println!(
                        "{:<36}  {:<20}  {:<12}  {:<6}  {}",
                        m.id, m.role, m.match_by, m.source, m.group
                    );
                }
            }
        }
        RolesCommand::Unmap { id, tenant } => {
            let tenant_id = tenant_id(store, tenant.as_deref())?;
            let removed =
                store.write(|conn| roles::unmap(conn, &tenant_id, &id, by, clock.now()))?;
            if !removed {
                anyhow::bail!("no mapping with id `{id}`");
            }
            eprintln!("mapping {id} removed");
        }
    }
    Ok(())
}

fn keys_command(
    command: KeysCommand,
    store: &Store,
    clock: &dyn Clock,
    config: &Config,
) -> anyhow::Result<()> {
    use crate::access::keys::{KeyRing, KeySecret};
    let secret = KeySecret::load_or_create(std::path::Path::new(&config.token_key_file))?;
    let ring = KeyRing::open(store, secret, clock.now())?;
    if let KeysCommand::Rotate { now } = command {
        let kid = ring.rotate(store, clock.now(), now, retain_after_rotation(config))?;
        eprintln!("new signing key {kid}");
    }
    println!("{}", serde_json::Value::Array(ring.schedule()));
    Ok(())
}

/// How long a replaced key stays published: longer than any access token it signed lives.
fn retain_after_rotation(config: &Config) -> chrono::Duration {
    let longest = config
        .tenants
        .values()
        .filter_map(|t| t.access_token_minutes)
        .chain([config.access_token_minutes])
        .max()
        .unwrap_or(config.access_token_minutes);
    chrono::Duration::minutes(longest as i64) + chrono::Duration::minutes(10)
}

/// Opens the database, applying pending migrations: every command does this first.
fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = DatabaseUrl::parse(&config.database_url).map_err(anyhow::Error::msg)?;
    let progress = progress::Progress::counting("migrating", "migrations");
    let store = Store::open_with(&url, &config.pool_settings(), &mut |name, index, count| {
        progress.update(index as u64, count as u64);
        tracing::info!(
            migration = name,
            "applying migration {} of {count}",
            index + 1
        );
    })
    .with_context(|| format!("cannot open the database {}", url.redacted()))?;
    progress.finish();
    Ok(store)
}

fn serve(config: &Config, store: Store, clock: SharedClock) -> anyhow::Result<()> {
    let registry = Arc::new(
        Registry::load()
            .map_err(anyhow::Error::msg)
            .context("embedded SCIM schemas")?,
    );
    let listener = TcpListener::bind(&config.bind)
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let address = listener.local_addr()?;
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(
            http::tls::server_config(
                http::tls::TlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                },
                std::time::Duration::from_secs(config.tls_reload_seconds.max(1)),
            )
            .context("cannot serve HTTPS")?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{address}"));
    let scim_url = format!("{}{SCIM_PATH}", public_url.trim_end_matches('/'));
    if let Some(credential) = credentials::bootstrap(&store, clock.now())? {
        print_bootstrap_credential(&credential, &scim_url);
    }
    let limits = PageLimits {
        default_count: config.default_page_size.into(),
        max_count: config.max_page_size.into(),
    };
    let access = access::setup::start(config, &store, clock.clone(), &public_url)
        .context("token service")?;
    let ssf = crate::events::ssf::Transmitter::new(
        store.clone(),
        access.keys_shared(),
        &public_url,
        clock.clone(),
    );
    let rate_limits = Arc::new(crate::access::limits::Limits::new(
        config.limit_settings(),
        clock.clone(),
    ));
    let state = AppState {
        scim: ScimService::new(store.clone(), registry, clock.clone(), limits)
            .with_burst_limit(
                config.burst_threshold,
                chrono::Duration::minutes(config.burst_window_minutes as i64),
            )
            .with_reactivation_alert(chrono::Duration::minutes(
                config.reactivation_alert_minutes as i64,
            )),
        store,
        clock,
        public_url: config.public_url.clone(),
        max_body_bytes: config.max_body_bytes,
        auth_failures: Arc::default(),
        limits: rate_limits,
        trust_forwarded_for: config.trust_forwarded_for,
        ssf,
        access,
    };
    let settings = ServerSettings {
        max_body_bytes: config.max_body_bytes,
        workers: config.workers,
        tls,
        request_timeout: std::time::Duration::from_secs(config.request_timeout_seconds),
        observer: None,
    };
    println!("Scimitar is listening on {scheme}://{address}");
    println!("SCIM base URL (tenant URL for Okta or Entra): {scim_url}");
    log_startup_summary(config, &state, address, &public_url)?;
    let checkpoints = periodic_checkpoints(config, state.store.clone(), state.clock.clone())?;
    let maintenance = token_maintenance(config, state.access.clone());
    let transmitter = state.ssf.clone();
    if state.store.backend() == crate::store::Backend::Postgres {
        // Commits on other replicas ring this one's doorbell (events::doorbell).
        crate::events::doorbell::listen(state.store.clone());
    }
    actix_web::rt::System::new().block_on(async move {
        if let Some(checkpoints) = checkpoints {
            actix_web::rt::spawn(checkpoints);
        }
        actix_web::rt::spawn(maintenance);
        actix_web::rt::spawn(transmitter.run());
        http::server(state, &settings, listener)?.await
    })?;
    Ok(())
}

/// One readable line (one JSON object in the JSON format) on what this server is: where it
/// listens, its database, tenants, credentials, signing keys and background jobs.
fn log_startup_summary(
    config: &Config,
    state: &AppState,
    address: std::net::SocketAddr,
    public_url: &str,
) -> anyhow::Result<()> {
    let tenants = tenancy::list(&state.store)?;
    let live = credentials::list(&state.store)?
        .into_iter()
        .filter(|c| c.revoked.is_none())
        .count();
    let keys = state.access.keys().schedule().len();
    let checkpoints = match config.audit_checkpoint_minutes {
        0 => "off".to_string(),
        n => format!("every {n} min"),
    };
    let doorbell = match state.store.backend() {
        crate::store::Backend::Postgres => "LISTEN across replicas",
        crate::store::Backend::Sqlite => "in process",
    };
    tracing::info!(
        %address,
        public_url,
        database = %crate::config::redact_password(&config.database_url),
        backend = ?state.store.backend(),
        tenants = tenants.len(),
        credentials = live,
        signing_keys = keys,
        audit_checkpoints = %checkpoints,
        sweeper = %format!("every {} s", config.sweep_seconds),
        shared_signals = "transmitter running",
        doorbell,
        "Scimitar started: listening on {address} ({public_url}), {} tenant(s), {live} live credential(s), {keys} signing key(s)",
        tenants.len(),
    );
    Ok(())
}

/// Every `audit_checkpoint_minutes`, a signed checkpoint of each tenant whose chain moved.
fn periodic_checkpoints(
    config: &Config,
    store: Store,
    clock: SharedClock,
) -> anyhow::Result<Option<impl std::future::Future<Output = ()> + 'static>> {
    use crate::audit::checkpoint;
    if config.audit_checkpoint_minutes == 0 {
        return Ok(None);
    }
    let key = checkpoint::load_or_create_key(std::path::Path::new(&config.audit_key_file))?;
    let every = std::time::Duration::from_secs(config.audit_checkpoint_minutes * 60);
    Ok(Some(async move {
        let mut interval = actix_web::rt::time::interval(every);
        interval.tick().await;
        loop {
            interval.tick().await;
            let (store, clock, key) = (store.clone(), clock.clone(), key.clone());
            let result = actix_web::web::block(move || -> anyhow::Result<()> {
                for tenant in tenancy::list(&store)? {
                    let head = store.read(|conn| crate::store::audit::head(conn, &tenant.id))?;
                    let last = store.read(|conn| {
                        crate::store::audit::latest_checkpoint(conn, &tenant.id, None)
                    })?;
                    if head.is_some_and(|h| last.is_none_or(|l| l.seq != h.seq)) {
                        checkpoint::create(&store, &tenant.id, &key, clock.now())?;
                    }
                }
                Ok(())
            })
            .await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "periodic audit checkpoint failed"),
                Err(error) => tracing::error!(%error, "periodic audit checkpoint failed"),
            }
        }
    }))
}

/// Every `sweep_seconds`: the sweeper (last uses flushed, expired sessions marked, old ones
/// purged) and the signing-key rotation when it is due.
fn token_maintenance(
    config: &Config,
    access: access::AccessService,
) -> impl std::future::Future<Output = ()> + 'static {
    let every = std::time::Duration::from_secs(config.sweep_seconds);
    let rotation = chrono::Duration::days(config.signing_key_rotation_days as i64);
    let retain = retain_after_rotation(config);
    async move {
        let mut interval = actix_web::rt::time::interval(every);
        interval.tick().await;
        loop {
            interval.tick().await;
            let access = access.clone();
            let result = actix_web::web::block(move || -> anyhow::Result<()> {
                let sweep = access::sweeper::sweep(&access)?;
                tracing::debug!(?sweep, "sweep");
                let now = access.clock().now();
                if let Some(kid) =
                    access
                        .keys()
                        .rotate_if_due(access.store(), now, rotation, retain)?
                {
                    tracing::info!(%kid, "signing key rotation scheduled");
                }
                Ok(())
            })
            .await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "token maintenance failed"),
                Err(error) => tracing::error!(%error, "token maintenance failed"),
            }
        }
    }
}

fn print_bootstrap_credential(credential: &NewCredential, scim_url: &str) {
    let token = credential.secret.expose();
    println!(
        "No credential existed, so a SCIM credential was created (client id {}).",
        credential.client_id
    );
    println!("It is shown only this once; store it in your identity provider now.");
    println!();
    println!("SCIM bearer token: {token}");
    println!();
    println!(
        "Okta / Entra: tenant URL {scim_url}, secret token as above (Authorization: Bearer <token>)."
    );
    println!("Try it: curl -H 'Authorization: Bearer {token}' {scim_url}/Users");
    println!(
        "Revoke it later with: scimitar client revoke {}",
        credential.client_id
    );
    println!();
}

fn tenant(command: TenantCommand, store: &Store, clock: &dyn Clock) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { name } => {
            let tenant = tenancy::create(store, &name, clock.now())?;
            println!("{}", json!({"id": tenant.id, "name": tenant.name}));
            eprintln!("tenant `{}` created", tenant.name);
        }
        TenantCommand::Strict { name, mode } => {
            let tenant = tenancy::set_strict(store, &name, matches!(mode, OnOff::On))?;
            eprintln!(
                "tenant `{}`: strict mode {}",
                tenant.name,
                if tenant.strict { "on" } else { "off" }
            );
        }
        TenantCommand::List { json } => {
            let tenants = tenancy::list(store)?;
            if json {
                let rows: Vec<_> = tenants
                    .iter()
                    .map(|t| json!({"id": t.id, "name": t.name, "created": t.created.and_utc().to_rfc3339(), "strict": t.strict}))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!("{:<36}  {:<24}  CREATED", "ID", "NAME");
                for t in tenants {
                    println!(
                        "{:<36}  {:<24}  {}",
                        t.id,
                        t.name,
                        t.created.and_utc().to_rfc3339()
                    );
                }
            }
        }
    }
    Ok(())
}

fn client(command: ClientCommand, store: &Store, clock: &dyn Clock) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create {
            name,
            tenant,
            kind,
            trusted,
        } => {
            if trusted && !matches!(kind, KindArg::App) {
                anyhow::bail!("--trusted applies to app clients only (--kind app)");
            }
            let created = credentials::create_with(
                store,
                tenant.as_deref(),
                &name,
                kind.into(),
                trusted,
                clock.now(),
            )?;
            println!(
                "{}",
                json!({"client_id": created.client_id, "secret": created.secret.expose()})
            );
            eprintln!("credential `{name}` created; the secret is shown only this once");
        }
        ClientCommand::List { json } => {
            let all = credentials::list(store)?;
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|c| {
                        json!({
                            "client_id": c.client_id, "name": c.name, "kind": c.kind, "tenant": c.tenant,
                            "created": c.created.to_rfc3339(), "last_used": when(c.last_used),
                            "revoked": when(c.revoked),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!(
                    "{:<36}  {:<20}  {:<5}  {:<16}  {:<25}  {:<25}  STATUS",
                    "CLIENT ID", "NAME", "KIND", "TENANT", "CREATED", "LAST USED"
                );
                for c in all {
                    println!(
                        "{:<36}  {:<20}  {:<5}  {:<16}  {:<25}  {:<25}  {}",
                        c.client_id,
                        c.name,
                        c.kind,
                        c.tenant,
                        c.created.to_rfc3339(),
                        when(c.last_used).unwrap_or_else(|| "never".into()),
                        if c.revoked.is_some() {
                            "revoked"
                        } else {
                            "active"
                        },
                    );
                }
            }
        }
        ClientCommand::Revoke { client_id } => {
            credentials::revoke(store, &client_id, clock.now())?;
            eprintln!("credential {client_id} revoked");
        }
    }
    Ok(())
}

fn audit_command(
    command: AuditCommand,
    store: &Store,
    clock: &dyn Clock,
    config: &Config,
) -> anyhow::Result<()> {
    use crate::audit::checkpoint::{self, CheckpointCheck};
    let default_tenant = || crate::store::tenants::DEFAULT_TENANT.to_string();
    match command {
        AuditCommand::Checkpoint { tenant } => {
            let key = checkpoint::load_or_create_key(std::path::Path::new(&config.audit_key_file))?;
            let signed = checkpoint::create(
                store,
                &tenant.unwrap_or_else(default_tenant),
                &key,
                clock.now(),
            )?;
            println!("{}", serde_json::to_string(&signed)?);
        }
        AuditCommand::Erase { resource, tenant } => {
            let tenant = tenant.unwrap_or_else(default_tenant);
            let seqs = audit::erase(store, &tenant, &resource, None, clock.now())?;
            println!("{}", serde_json::json!({"erased_records": seqs}));
        }
        AuditCommand::Prune { before, tenant } => {
            let before = chrono::DateTime::parse_from_rfc3339(&before)
                .map_err(|_| anyhow::anyhow!("--before takes an RFC 3339 time"))?;
            let progress = progress::Progress::new("pruning");
            let removed = checkpoint::prune_with(
                store,
                &tenant.unwrap_or_else(default_tenant),
                before.to_utc(),
                clock.now(),
                &mut |done, total| progress.update(done, total),
            )?;
            progress.finish();
            eprintln!("{removed} records pruned");
        }
        AuditCommand::Verify {
            tenant,
            checkpoint: Some(file),
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let exported: checkpoint::Checkpoint =
                serde_json::from_str(text.trim()).context("not a checkpoint file")?;
            let key = checkpoint::load_or_create_key(std::path::Path::new(&config.audit_key_file))?;
            if let Some(tenant) = tenant {
                let id = store
                    .read(|conn| crate::store::tenants::find(conn, &tenant))?
                    .map(|t| t.id);
                anyhow::ensure!(
                    id.as_deref() == Some(exported.tenant.as_str()),
                    "the checkpoint is not of tenant `{tenant}`"
                );
            }
            let progress = progress::Progress::new("verifying the chain");
            let checked = checkpoint::check_with(
                store,
                &exported,
                &key.verifying_key(),
                &mut |done, total| progress.update(done, total),
            )?;
            progress.finish();
            match checked {
                CheckpointCheck::Holds => println!(
                    "checkpoint at record {} holds, head {}; the chain verifies from its anchor to its head",
                    exported.seq, exported.hash
                ),
                CheckpointCheck::Fails(reason) => {
                    anyhow::bail!("checkpoint at record {} FAILS: {reason}", exported.seq)
                }
            }
        }
        AuditCommand::Verify {
            tenant,
            checkpoint: None,
        } => {
            let tenants = match tenant {
                Some(tenant) => vec![tenant],
                None => tenancy::list(store)?.into_iter().map(|t| t.name).collect(),
            };
            let mut broken = 0;
            for tenant in tenants {
                let progress = progress::Progress::new(&format!("verifying {tenant}"));
                let verified = audit::verify_with(store, &tenant, &mut |done, total| {
                    progress.update(done, total)
                })?;
                progress.finish();
                match verified {
                    Verification::Intact {
                        records,
                        head,
                        erased,
                    } => {
                        let erasures = match erased {
                            0 => String::new(),
                            n => format!(", personal data of {n} records erased (recorded)"),
                        };
                        println!("{tenant}: intact, {records} records, head {head}{erasures}");
                    }
                    Verification::Broken { seq, reason } => {
                        broken += 1;
                        println!("{tenant}: BROKEN at record {seq}: {reason}");
                    }
                }
            }
            if broken > 0 {
                anyhow::bail!("{broken} audit chain(s) broken");
            }
        }
        AuditCommand::Export {
            format,
            since,
            until,
            tenant,
        } => {
            let tenant =
                tenant.unwrap_or_else(|| crate::store::tenants::DEFAULT_TENANT.to_string());
            let exported = export(
                store,
                &tenant,
                format,
                since.as_deref(),
                until.as_deref(),
                clock,
            )?;
            eprintln!("{exported} records exported");
        }
    }
    Ok(())
}

fn export(
    store: &Store,
    tenant: &str,
    format: ExportFormat,
    since: Option<&str>,
    until: Option<&str>,
    clock: &dyn Clock,
) -> anyhow::Result<u64> {
    use std::io::Write;

    use crate::audit::reading;
    use crate::store::audit::{self as rows, AuditQuery};

    let tenant_id = store
        .read(|conn| crate::store::tenants::find(conn, tenant))?
        .ok_or_else(|| anyhow::anyhow!("no tenant named or with id `{tenant}`"))?
        .id;
    let time = |value: Option<&str>| -> anyhow::Result<_> {
        value
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(v).map(|t| crate::store::to_stored(t.to_utc()))
            })
            .transpose()
            .map_err(|_| anyhow::anyhow!("--since and --until take RFC 3339 date-times"))
    };
    let mut query = AuditQuery {
        since: time(since)?,
        until: time(until)?,
        limit: 1000,
        ..AuditQuery::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut exported = 0_u64;
    // A reader that stops early (`| head`) closes the pipe: the export ends quietly there.
    let closed = |result: std::io::Result<()>| match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(e),
        Ok(()) => Ok(false),
    };
    let mut reader_left = false;
    let progress = progress::Progress::new("exporting");
    let total = store
        .read(|conn| rows::head(conn, &tenant_id))?
        .map_or(0, |h| h.seq.max(0) as u64);
    'pages: loop {
        let batch = store.read(|conn| rows::query(conn, &tenant_id, &query))?;
        for row in &batch {
            let line = match format {
                ExportFormat::Jsonl => reading::to_json(row),
                ExportFormat::Ocsf => reading::to_ocsf(row),
            };
            if closed(writeln!(out, "{line}"))? {
                reader_left = true;
                break 'pages;
            }
            exported += 1;
        }
        progress.update(exported, total);
        match batch.last() {
            Some(last) if batch.len() as i64 == query.limit => query.after_seq = Some(last.seq),
            _ => break,
        }
    }
    progress.finish();
    reader_left = reader_left || closed(out.flush())?;
    let details = json!({"format": format!("{format:?}").to_lowercase(), "since": since, "until": until, "records": exported, "reader_closed_early": reader_left});
    store.write(|conn| {
        audit::record(
            conn,
            &tenant_id,
            clock.now(),
            audit::Event::new("audit.export", details),
        )
    })?;
    Ok(exported)
}
