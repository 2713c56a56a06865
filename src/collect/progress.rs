//! Progress of a live scan on stderr: a bar when stderr is a terminal (and `--quiet` is off),
//! nothing otherwise. It never reaches the report; the CLI prints one summary line at the end.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counters of a running scan, drawn as a bar when enabled.
pub struct Progress {
    bar: Option<ProgressBar>,
    services: AtomicUsize,
    errors: AtomicUsize,
}

impl Progress {
    /// A progress display on stderr if `enabled`; a silent counter otherwise.
    pub fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} accounts x regions {pos}/{len} [{bar:30}] {msg} ({elapsed})",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            services: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
        }
    }

    /// Sets the number of account x region pairs.
    pub fn start(&self, scopes: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(scopes as u64);
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            self.redraw();
        }
    }

    /// One account x region finished with `services` services and `errors` errors.
    pub fn scope_done(&self, services: usize, errors: usize) {
        self.services.fetch_add(services, Ordering::Relaxed);
        self.errors.fetch_add(errors, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(1);
            self.redraw();
        }
    }

    /// Errors found outside an account x region (keys, assumed roles).
    pub fn errors(&self, errors: usize) {
        self.errors.fetch_add(errors, Ordering::Relaxed);
        self.redraw();
    }

    fn redraw(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "services {} errors {}",
                self.services.load(Ordering::Relaxed),
                self.errors.load(Ordering::Relaxed)
            ));
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
