//! The progress bar of `dqc diff` on stderr: the current pass, rows read of the total known
//! from the ORC/Parquet footers, rate and time left. Drawn only when stderr is a terminal, so
//! pipes, files and CI logs stay clean.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use verifier::{NoProgress, Pass, Progress};

/// A progress bar on the terminal.
#[derive(Debug)]
pub(crate) struct TerminalProgress {
    bar: ProgressBar,
}

impl TerminalProgress {
    /// A bar when stderr is a terminal, else `None`.
    pub(crate) fn when_interactive() -> Option<Arc<Self>> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let style = ProgressStyle::with_template("{msg:>16} [{bar:30}] {human_pos}/{human_len} rows, eta {eta}")
            .map(|style| style.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        Some(Arc::new(Self { bar: ProgressBar::new(0).with_style(style) }))
    }

    /// Removes the bar before the report is printed.
    pub(crate) fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// Runs `work` with a progress bar on the terminal (or none when stderr is not one), and
/// removes the bar before the caller prints its outcome.
pub(crate) async fn with_progress<T, F: Future<Output = T>>(work: impl FnOnce(Arc<dyn Progress>) -> F) -> T {
    let bar = TerminalProgress::when_interactive();
    let progress: Arc<dyn Progress> = bar.clone().map_or_else(|| Arc::new(NoProgress) as _, |b| b as _);
    let outcome = work(progress).await;
    if let Some(bar) = bar {
        bar.clear();
    }
    outcome
}

impl Progress for TerminalProgress {
    fn start_pass(&self, pass: Pass, total_rows: u64) {
        self.bar.reset();
        self.bar.set_length(total_rows);
        self.bar.set_message(format!("{pass} pass"));
    }

    fn add_rows(&self, rows: u64) {
        self.bar.inc(rows);
    }
}
