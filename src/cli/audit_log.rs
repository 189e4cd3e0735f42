//! `scimitar audit …`: verify (with or without a checkpoint), checkpoint, erase, prune, export.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::progress;
use crate::audit::{self, Verification};
use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;
use crate::tenancy;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
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
pub(super) enum ExportFormat {
    Jsonl,
    Ocsf,
}

pub(super) fn audit_command(
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

pub(super) fn export(
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
