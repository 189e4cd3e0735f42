//! The last mile of revocation, end to end: a trigger is sent to a release `scimitar serve`,
//! and the time until a protected app refuses that user's token with 401 is measured. The
//! apps (`apps`): the Rust guard's example (`examples/guarded-app`), the Python guard's and
//! the Node guard's examples, each checking tokens offline and refusing from the revocation
//! stream, and nginx asking Scimitar's forward auth (`docs/proxies/nginx.conf`) in front of a
//! trivial app. Three triggers, sent to the Rust guard's app: a SCIM PATCH deactivating the
//! user, a Global Token Revocation call, and a pushed Security Event Token (CAEP
//! `session-revoked`); the other apps get the SCIM deactivation. Three deployments: SQLite;
//! Postgres; two replicas on one Postgres, with every write sent to the first and the apps
//! following (nginx asking) the second.
//!
//! Run: `cargo build --release --example guarded-app && cargo bench --bench guard_latency`
//! (`GUARD_SAMPLES` trials per trigger, app and deployment, default 200; `GUARD_DEPLOYMENTS`,
//! a comma-separated subset of `sqlite,postgres,replicas`; `GUARD_APPS`, a subset of
//! `rust,python,node,nginx`; `GUARD_POLL_PAUSE_MS`, the rest between two requests to the app
//! while waiting for its 401, default 1, 0 for none). A table of every figure ends the output.

mod apps;
mod deployment;
mod trigger;

use std::path::{Path, PathBuf};
use std::time::Duration;

use apps::Guard;
use deployment::Deployment;
use trigger::{Trial, Trigger};

fn main() {
    let samples: usize = std::env::var("GUARD_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let wanted =
        std::env::var("GUARD_DEPLOYMENTS").unwrap_or_else(|_| "sqlite,postgres,replicas".into());
    let app_binary = example_binary();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut table = Vec::new();
    for name in wanted.split(',').map(str::trim) {
        let dir = tempfile::tempdir().expect("dir");
        let Some(deployment) = runtime.block_on(Deployment::start(name, dir.path(), &app_binary))
        else {
            println!("{name}: skipped (no Postgres)");
            continue;
        };
        for (guard, me) in &deployment.apps {
            let triggers: &[Trigger] = match guard {
                Guard::Rust => &[Trigger::Scim, Trigger::Gtr, Trigger::Set],
                _ => &[Trigger::Scim],
            };
            for &trigger in triggers {
                let latencies = runtime.block_on(deployment.measure(trigger, me, samples));
                table.push(report(name, *guard, trigger, &latencies));
            }
        }
        runtime.block_on(deployment.stop());
    }
    println!();
    println!("| Deployment | App | Trigger | Trials | p50 | p99 | max | trigger's own p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    for row in table {
        println!("{row}");
    }
}

/// p50, p99 and max, in milliseconds.
fn quantiles(mut times: Vec<Duration>) -> (f64, f64, f64) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(at(0.50)), ms(at(0.99)), ms(at(1.0)))
}

/// Prints one line; returns the table's row.
fn report(deployment: &str, guard: Guard, trigger: Trigger, trials: &[Trial]) -> String {
    let (p50, p99, max) = quantiles(trials.iter().map(|t| t.refused).collect());
    let (a50, a99, amax) = quantiles(trials.iter().map(|t| t.answered).collect());
    println!(
        "{deployment}: {} to the {}'s 401 over {} trials: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms (the trigger's own answer: p50 {a50:.1} ms, p99 {a99:.1} ms, max {amax:.1} ms)",
        trigger.name(),
        guard.name(),
        trials.len(),
    );
    format!(
        "| {deployment} | {} | {} | {} | {p50:.1} ms | {p99:.1} ms | {max:.1} ms | {a99:.1} ms |",
        guard.name(),
        trigger.name(),
        trials.len(),
    )
}

/// The release build of `examples/guarded-app`, next to the server binary.
fn example_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_scimitar"))
        .parent()
        .expect("target directory")
        .join("examples")
        .join("guarded-app");
    assert!(
        path.exists(),
        "build the example first: cargo build --release --example guarded-app"
    );
    path
}
