//! The progress bar on stderr: drawn only on a terminal and never with `--quiet`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar over a known number of steps.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `total` steps (a counter when unknown) named by `unit` ("it", "frames"); hidden
    /// when `quiet`.
    pub fn new(total: Option<u64>, unit: &str, quiet: bool) -> Progress {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(total, target);
        let template = if total.is_some() {
            format!("{{elapsed_precise}} {{bar:30.cyan/blue}} {{pos}}/{{len}} {unit}  {{per_sec}}  ETA {{eta}}  {{msg}}")
        } else {
            format!("{{elapsed_precise}} {{spinner}} {{pos}} {unit}  {{per_sec}}  {{msg}}")
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
        }
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar }
    }

    /// Advances by one step and shows `message` beside the bar.
    pub fn step(&self, message: String) {
        self.bar.set_message(message);
        self.bar.inc(1);
    }

    /// Shows `message` beside the bar without advancing it.
    pub fn message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A line for the user on stderr (a file saved, a recording started).
pub fn notice(text: &str) {
    eprintln!("{text}");
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
