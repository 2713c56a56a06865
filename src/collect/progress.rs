//! Progress of a live scan on stderr: a bar when stderr is a terminal (and `--quiet` is off),
//! nothing otherwise. It never reaches the report. While the scan runs it counts account x
//! region pairs done, services and errors; once the rules have run, the bar stays on the
//! terminal as the scan's last line, with its findings; a scan that fails leaves none.

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
        Self::drawn_to(enabled.then(ProgressDrawTarget::stderr))
    }

    fn drawn_to(target: Option<ProgressDrawTarget>) -> Self {
        let bar = target.map(|target| {
            let bar = ProgressBar::with_draw_target(Some(0), target);
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

    /// The rules have run: the bar stays, with the findings and every error (evaluation's
    /// included).
    pub fn done(&self, findings: usize, errors: usize) {
        if let Some(bar) = &self.bar {
            bar.disable_steady_tick();
            bar.finish_with_message(format!(
                "services {} findings {findings} errors {errors}",
                self.services.load(Ordering::Relaxed)
            ));
        }
    }
}

impl Drop for Progress {
    /// A scan that ends without [`Progress::done`] (an error) leaves no bar behind.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_scopes_services_and_errors_then_findings() {
        let progress = Progress::drawn_to(Some(ProgressDrawTarget::hidden()));
        let bar = progress.bar.clone().unwrap();
        progress.start(3);
        progress.scope_done(4, 0);
        progress.scope_done(2, 1);
        progress.errors(2);
        assert_eq!((bar.position(), bar.length()), (2, Some(3)));
        assert_eq!(bar.message(), "services 6 errors 3");
        progress.scope_done(0, 0);
        progress.done(5, 4);
        assert!(bar.is_finished());
        assert_eq!(bar.position(), 3);
        assert_eq!(bar.message(), "services 6 findings 5 errors 4");
        // Disabled: nothing drawn, the counters still count.
        let silent = Progress::new(false);
        silent.scope_done(1, 1);
        silent.done(1, 1);
        assert!(silent.bar.is_none());
        // Dropped before `done` (the scan failed): no bar left behind.
        let failed = Progress::drawn_to(Some(ProgressDrawTarget::hidden()));
        let bar = failed.bar.clone().unwrap();
        failed.start(1);
        drop(failed);
        assert!(bar.is_finished());
    }
}
