//! The `scimitar` command: its definitions and dispatch. Each job has its file: `serve` (the
//! composition root), `admin` (tenants, credentials, roles, keys), `audit_log`, `operate`
//! (config, backup, completions, man), `demo`. Results that scripts read go to stdout;
//! everything meant for a person goes to stderr.

mod admin;
mod audit_log;
mod demo;
mod interrupt;
mod operate;
mod progress;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::access;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, Overrides};
use crate::store::{DatabaseUrl, Store};
use crate::telemetry;
use admin::{ClientCommand, KeysCommand, RolesCommand, TenantCommand};
use audit_log::AuditCommand;

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
        Command::Serve { .. } => serve::serve(&config, store, clock),
        Command::Migrate => {
            eprintln!("migrations are up to date");
            Ok(())
        }
        Command::Tenant { command } => admin::tenant(command, &store, clock.as_ref()),
        Command::Client { command } => admin::client(command, &store, clock.as_ref()),
        Command::Audit { command } => {
            audit_log::audit_command(command, &store, clock.as_ref(), &config)
        }
        Command::Roles { command } => admin::roles_command(command, &store, clock.as_ref()),
        Command::Revoke { user, tenant } => {
            let tenant_id = admin::tenant_id(&store, tenant.as_deref())?;
            let ended =
                access::tokens::revoke_user(&store, clock.now(), &tenant_id, &user, None, None)?;
            println!("{}", json!({"sessions_revoked": ended}));
            eprintln!("{} session(s) of `{user}` revoked", ended.len());
            Ok(())
        }
        Command::Keys { command } => admin::keys_command(command, &store, clock.as_ref(), &config),
        Command::Backup { file } => operate::backup(&store, &file),
        Command::Config { .. }
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Demo { .. } => Ok(()),
    }
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
