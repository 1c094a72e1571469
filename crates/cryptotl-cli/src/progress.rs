//! Progress on stderr: stage lines with elapsed time, and progress bars for
//! samples and for each batch's upload and download (indicatif). Silent
//! under `--quiet`.

use std::time::Instant;

use cryptotl::pipeline::Progress;
use cryptotl::{ExchangeProgress, Transfer};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Prints progress to stderr unless quiet.
pub(crate) struct Reporter {
    pub(crate) quiet: bool,
    started: Instant,
    bars: MultiProgress,
    /// Overall progress of a stage (samples, ...).
    bar: Option<ProgressBar>,
    /// Bytes of the request or response in transit, below `bar`.
    transfer: Option<TransferBar>,
    /// Requests of the exchange in progress.
    batches: usize,
}

/// The byte progress bar of one batch's upload or download.
struct TransferBar {
    bar: ProgressBar,
    batch: usize,
    download: bool,
}

impl Reporter {
    pub(crate) fn new(quiet: bool) -> Self {
        Self {
            quiet,
            started: Instant::now(),
            bars: MultiProgress::new(),
            bar: None,
            transfer: None,
            batches: 0,
        }
    }

    pub(crate) fn stage(&mut self, message: &str) {
        self.finish_bar();
        if !self.quiet {
            eprintln!("[{:>6.1}s] {message}", self.started.elapsed().as_secs_f64());
        }
    }

    pub(crate) fn bar(&mut self, done: usize, total: usize, unit: &str) {
        if self.quiet {
            return;
        }
        let bars = &self.bars;
        let bar = self.bar.get_or_insert_with(|| {
            let bar = bars.add(ProgressBar::new(total as u64));
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "          {{bar:30}} {{pos}}/{{len}} {unit} ({{elapsed}}, eta {{eta}})"
            )) {
                bar.set_style(style);
            }
            bar
        });
        bar.set_position(done as u64);
        if done >= total {
            self.finish_bar();
        }
    }

    /// Shows one batch's upload or download by bytes.
    pub(crate) fn transfer(&mut self, batch: usize, transfer: Transfer) {
        if self.quiet {
            return;
        }
        let download = matches!(transfer, Transfer::Download { .. });
        if self
            .transfer
            .as_ref()
            .is_some_and(|t| t.batch != batch || t.download != download)
        {
            self.finish_transfer();
        }
        let bars = &self.bars;
        let t = self.transfer.get_or_insert_with(|| {
            let bar = bars.add(ProgressBar::new(0));
            if let Ok(style) = ProgressStyle::with_template(
                "          {bar:30} {bytes}/{total_bytes} {msg} ({bytes_per_sec}, eta {eta})",
            ) {
                bar.set_style(style);
            }
            TransferBar {
                bar,
                batch,
                download,
            }
        });
        let of = format!("batch {}/{}", batch + 1, self.batches.max(batch + 1));
        match transfer {
            Transfer::Upload { sent, total } => {
                t.bar.set_length(total);
                t.bar.set_position(sent);
                t.bar.set_message(if sent >= total {
                    format!("{of}: uploaded, the server evaluates")
                } else {
                    format!("{of}: uploading")
                });
            }
            Transfer::Download { received, total } => {
                t.bar.set_length(total.unwrap_or(received));
                t.bar.set_position(received);
                t.bar.set_message(format!("{of}: downloading"));
            }
        }
    }

    pub(crate) fn exchange(&mut self, p: ExchangeProgress) {
        match p {
            ExchangeProgress::Started { samples, batches } => {
                self.batches = batches;
                self.bar(0, samples, "samples");
            }
            ExchangeProgress::Transfer { batch, transfer } => self.transfer(batch, transfer),
            ExchangeProgress::Samples { done, total } => {
                self.finish_transfer();
                self.bar(done, total, "samples");
            }
        }
    }

    pub(crate) fn finish_transfer(&mut self) {
        if let Some(t) = self.transfer.take() {
            t.bar.finish_and_clear();
        }
    }

    pub(crate) fn finish_bar(&mut self) {
        self.finish_transfer();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    pub(crate) fn progress(&mut self, p: Progress) {
        match p {
            Progress::Stage(s) => self.stage(&s),
            Progress::PretrainEpoch(e) => {
                if !self.quiet {
                    eprintln!(
                        "          epoch {:>3}: train loss {:.4}, validation loss {:.4}, accuracy {:.3}{}",
                        e.epoch,
                        e.train_loss,
                        e.validation_loss,
                        e.validation_accuracy,
                        if e.improved { " *" } else { "" }
                    );
                }
            }
            Progress::Encrypted { done, total } => self.bar(done, total, "samples"),
        }
    }
}
