//! Commands for running Scimitar rather than using it: the effective configuration and a check
//! of a file, an online backup, shell completions and the manual page. None of them starts
//! the server; `config`, `completions` and `man` do not even open the database.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{CommandFactory, Subcommand, ValueEnum};

use super::Cli;
use crate::config::{Config, Overrides};
use crate::store::Store;

#[derive(Debug, Clone, Subcommand)]
pub(super) enum ConfigCommand {
    /// The effective configuration: each setting, its value and its source (default, file,
    /// env or flag), secrets redacted
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Validate a configuration file without starting anything; exits non-zero on an error
    Check { file: PathBuf },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

pub(super) fn config_command(
    command: ConfigCommand,
    file: Option<&Path>,
    overrides: &Overrides,
) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Show { json } => {
            let settings = Config::explain(file, overrides).context("invalid configuration")?;
            if json {
                println!("{}", serde_json::to_value(&settings)?);
                return Ok(());
            }
            println!("{:<28}  {:<8}  VALUE", "SETTING", "SOURCE");
            for setting in settings {
                let value = match &setting.value {
                    serde_json::Value::String(text) => text.clone(),
                    serde_json::Value::Null => "(unset)".into(),
                    other => other.to_string(),
                };
                println!("{:<28}  {:<8}  {value}", setting.key, setting.source);
            }
        }
        ConfigCommand::Check { file } => {
            let config = Config::check_file(&file)
                .with_context(|| format!("{} is not a valid configuration", file.display()))?;
            println!(
                "{} is valid: {} tenant section(s), database {}",
                file.display(),
                config.tenants.len(),
                crate::config::redact_password(&config.database_url)
            );
        }
    }
    Ok(())
}

/// `scimitar backup FILE`: a consistent copy of a live SQLite database.
pub(super) fn backup(store: &Store, target: &Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    store
        .backup_to(target)
        .with_context(|| format!("backup to {} failed", target.display()))?;
    let bytes = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "backup written to {} ({bytes} bytes, {:.1} s); restore by starting scimitar on it",
        target.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(super) fn completions(shell: Shell) -> anyhow::Result<()> {
    use clap_complete::Shell as Target;
    let target = match shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
        Shell::Elvish => Target::Elvish,
        Shell::Powershell => Target::PowerShell,
    };
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(target, &mut command, "scimitar", &mut script);
    to_stdout(&script)
}

/// Writes `bytes` to stdout; a reader that went away (`| head`) is not an error.
fn to_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The manual pages (roff): `scimitar.1` on stdout, or with `dir` that page and one per
/// command (`scimitar-serve.1`, …) written there.
pub(super) fn man(dir: Option<&Path>) -> anyhow::Result<()> {
    let command = Cli::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        return to_stdout(&page);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![("scimitar".to_string(), command.clone())];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("scimitar-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        clap_mangen::Man::new(page).render(&mut file)?;
        file.flush()?;
        eprintln!("{}", path.display());
    }
    Ok(())
}
