//! Progress of long work (verifying, exporting or pruning a large audit log, migrating) on a
//! terminal: records done, rate and time left. When stderr is not a terminal nothing is
//! drawn, so piped and logged output stays machine-readable.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(super) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `what` (e.g. "verifying acme") counting records, drawn only on a terminal.
    pub(super) fn new(what: &str) -> Self {
        Self::counting(what, "records")
    }

    /// A bar counting `unit`s.
    pub(super) fn counting(what: &str, unit: &str) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        let style = ProgressStyle::with_template(&format!(
            "{{msg}} {{wide_bar}} {{human_pos}}/{{human_len}} {unit}, {{per_sec}}, {{eta}} left"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        Self { bar }
    }

    /// Records done out of `total`, as the work's callbacks report them.
    pub(super) fn update(&self, done: u64, total: u64) {
        self.bar.set_length(total.max(done));
        self.bar.set_position(done);
    }

    pub(super) fn finish(self) {
        self.bar.finish_and_clear();
    }
}
