//! The admin subcommands: tenants, credentials, role mappings, signing keys.

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use crate::access::credentials::{self, CredentialKind};
use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;
use crate::tenancy;

#[derive(Debug, Subcommand)]
pub(super) enum RolesCommand {
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
        /// A display name matched by name on every change, instead of binding to the group
        /// it names (a rename then moves the role with the name)
        #[arg(long)]
        follow_name: bool,
    },
    /// List the mappings of a tenant
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Describe a role the identity provider sees at /Roles (and may assign, with --assignable);
    /// prints it as JSON
    Describe {
        /// The role's name (its id at /Roles, its value in users' roles and in tokens)
        value: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// The identity provider may assign it to users directly (their `roles`)
        #[arg(long)]
        assignable: bool,
        /// An entitlement (permission) the role carries; repeat for several
        #[arg(long = "entitlement")]
        entitlements: Vec<String>,
        #[arg(long)]
        tenant: Option<String>,
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
pub(super) enum KeysCommand {
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
pub(super) enum TenantCommand {
    /// Create a tenant; prints it as JSON
    Create { name: String },
    /// List tenants
    List {
        #[arg(long)]
        json: bool,
    },
    /// Strict mode on or off: refuse non-RFC input instead of applying quirk rules
    Strict { name: String, mode: OnOff },
    /// Unique group displayNames on (409 on a duplicate, the default) or off (duplicates allowed)
    UniqueGroupNames { name: String, mode: OnOff },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub(super) enum ClientCommand {
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
    /// Cap an app client's OAuth requests (token, introspection, revocation) per second;
    /// `none` removes its cap (the server's `rate_limit_oauth_per_second` then applies, off
    /// by default)
    Limit {
        client_id: String,
        /// Requests per second, or `none`
        #[arg(long)]
        oauth_per_second: String,
    },
}

/// `none`, or a number of requests per second of at least 1.
fn parse_per_second(text: &str) -> Result<Option<u32>, String> {
    match text {
        "none" => Ok(None),
        number => match number.parse::<u32>() {
            Ok(0) | Err(_) => Err("a number of requests per second (at least 1), or `none`".into()),
            Ok(n) => Ok(Some(n)),
        },
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum KindArg {
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

pub(super) fn tenant_id(store: &Store, tenant: Option<&str>) -> anyhow::Result<String> {
    let name = tenant.unwrap_or(crate::store::tenants::DEFAULT_TENANT);
    Ok(store
        .read(|conn| crate::store::tenants::find(conn, name))?
        .ok_or_else(|| anyhow::anyhow!("no tenant named or with id `{name}`"))?
        .id)
}

pub(super) fn roles_command(
    command: RolesCommand,
    store: &Store,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
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
            follow_name,
        } => {
            let tenant_id = tenant_id(store, tenant.as_deref())?;
            let selector = GroupSelector::parse(&group)?.following_name(follow_name);
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
                    "{:<36}  {:<20}  {:<6}  RULE (a display name is bound to its group's id unless it follows the name)",
                    "ID", "ROLE", "SOURCE"
                );
                for m in mappings {
                    let rule = roles::describe_rule(&m.match_by, &m.group, m.matching);
                    let bound = match (&m.bound_group_id, m.matching) {
                        (Some(group), _) => format!(" → group {group}"),
                        (None, "bound") => " → waiting for a group of that name".to_string(),
                        _ => String::new(),
                    };
                    println!(
                        "{:<36}  {:<20}  {:<6}  {rule}{bound}",
                        m.id, m.role, m.source
                    );
                }
            }
        }
        RolesCommand::Describe {
            value,
            display_name,
            description,
            assignable,
            entitlements,
            tenant,
        } => {
            let tenant_id = tenant_id(store, tenant.as_deref())?;
            let description = crate::access::catalog::Description {
                display_name,
                description,
                assignable,
                entitlements,
            };
            let role = store.write(|conn| {
                crate::access::catalog::describe(
                    conn,
                    &tenant_id,
                    &value,
                    description,
                    (None, None),
                    clock.now(),
                )
            })?;
            println!("{}", serde_json::to_value(&role)?);
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

pub(super) fn keys_command(
    command: KeysCommand,
    store: &Store,
    clock: &dyn Clock,
    config: &Config,
) -> anyhow::Result<()> {
    use crate::access::keys::{KeyRing, KeySecret};
    let secret = KeySecret::load_or_create(std::path::Path::new(&config.token_key_file))?;
    let ring = KeyRing::open(store, secret, clock.now())?;
    if let KeysCommand::Rotate { now } = command {
        let kid = ring.rotate(
            store,
            clock.now(),
            now,
            super::serve::retain_after_rotation(config),
        )?;
        eprintln!("new signing key {kid}");
    }
    println!("{}", serde_json::Value::Array(ring.schedule()));
    Ok(())
}

pub(super) fn tenant(
    command: TenantCommand,
    store: &Store,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
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
        TenantCommand::UniqueGroupNames { name, mode } => {
            let unique = matches!(mode, OnOff::On);
            let tenant = tenancy::set_unique_group_names(store, &name, unique)?;
            eprintln!(
                "tenant `{}`: unique group names {}",
                tenant.name,
                if tenant.unique_group_names {
                    "on"
                } else {
                    "off"
                }
            );
        }
        TenantCommand::List { json } => {
            let tenants = tenancy::list(store)?;
            if json {
                let rows: Vec<_> = tenants
                    .iter()
                    .map(|t| json!({"id": t.id, "name": t.name, "created": t.created.and_utc().to_rfc3339(), "strict": t.strict, "unique_group_names": t.unique_group_names}))
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

pub(super) fn client(
    command: ClientCommand,
    store: &Store,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
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
                            "revoked": when(c.revoked), "oauth_per_second": c.oauth_per_second,
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
        ClientCommand::Limit {
            client_id,
            oauth_per_second,
        } => {
            let cap = parse_per_second(&oauth_per_second).map_err(anyhow::Error::msg)?;
            credentials::set_oauth_limit(store, &client_id, cap, clock.now())?;
            match cap {
                Some(n) => {
                    eprintln!("app client {client_id}: at most {n} OAuth requests per second")
                }
                None => eprintln!("app client {client_id}: no cap of its own"),
            }
        }
    }
    Ok(())
}
