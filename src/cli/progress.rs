//! Progress on a terminal for long work; nothing when stderr is redirected.

use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tf_strip::jobs::Progress;

/// A spinner showing the current step; hidden unless stderr is a terminal
/// and the job's inputs are big enough to be worth watching.
pub struct Steps {
    threshold: u64,
    bar: OnceLock<ProgressBar>,
}

impl Steps {
    /// Shown for jobs reading `threshold` bytes or more.
    pub fn for_bytes(threshold: u64) -> Self {
        Steps { threshold, bar: OnceLock::new() }
    }
}

impl Progress for Steps {
    fn begin(&self, input_bytes: u64) {
        self.bar.get_or_init(|| {
            let bar = if input_bytes >= self.threshold {
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
    }

    fn step(&self, msg: &'static str) {
        if let Some(bar) = self.bar.get() {
            bar.set_message(msg);
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
