//! Progress on a terminal for long work; nothing when stderr is redirected.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner showing the current step; hidden unless stderr is a terminal
/// and the job is big enough to be worth watching.
pub struct Steps {
    bar: ProgressBar,
}

impl Steps {
    pub fn new(big: bool) -> Self {
        let bar = if big {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        Steps { bar }
    }

    pub fn step(&self, msg: &'static str) {
        self.bar.set_message(msg);
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
