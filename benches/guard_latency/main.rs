//! The last mile of revocation, end to end: a trigger is sent to a release `scimitar serve`,
//! and the time until the example app (`examples/guarded-app`, protected by
//! `scimitar-guard`) refuses that user's token with 401 is measured. Three triggers: a SCIM
//! PATCH deactivating the user, a Global Token Revocation call, and a pushed Security Event
//! Token (CAEP `session-revoked`). Three deployments: SQLite; Postgres; two replicas on one
//! Postgres, with every write sent to the first and the app following the second's stream.
//! The app checks tokens offline; the refusal comes from the revocation stream.
//!
//! Run: `cargo build --release --example guarded-app && cargo bench --bench guard_latency`
//! (`GUARD_SAMPLES` trials per trigger and deployment, default 200; `GUARD_DEPLOYMENTS`, a
//! comma-separated subset of `sqlite,postgres,replicas`; `GUARD_POLL_PAUSE_MS`, the rest
//! between two requests to the app while waiting for its 401, default 1, 0 for none).

mod deployment;
mod trigger;

use std::path::{Path, PathBuf};
use std::time::Duration;

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
    for name in wanted.split(',').map(str::trim) {
        let dir = tempfile::tempdir().expect("dir");
        let Some(deployment) = runtime.block_on(Deployment::start(name, dir.path(), &app_binary))
        else {
            println!("{name}: skipped (no Postgres)");
            continue;
        };
        for trigger in [Trigger::Scim, Trigger::Gtr, Trigger::Set] {
            let latencies = runtime.block_on(deployment.measure(trigger, samples));
            report(name, trigger, &latencies);
        }
        runtime.block_on(deployment.stop());
    }
}

/// p50, p99 and max, in milliseconds.
fn quantiles(mut times: Vec<Duration>) -> (f64, f64, f64) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(at(0.50)), ms(at(0.99)), ms(at(1.0)))
}

fn report(deployment: &str, trigger: Trigger, trials: &[Trial]) {
    let (p50, p99, max) = quantiles(trials.iter().map(|t| t.refused).collect());
    let (a50, a99, amax) = quantiles(trials.iter().map(|t| t.answered).collect());
    println!(
        "{deployment}: {} to the guarded app's 401 over {} trials: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms (the trigger's own answer: p50 {a50:.1} ms, p99 {a99:.1} ms, max {amax:.1} ms)",
        trigger.name(),
        trials.len(),
    );
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
