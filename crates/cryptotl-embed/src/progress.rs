//! Progress bar on stderr.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting `total` sentences; hidden when `enabled` is false or
/// stderr is not a terminal (logs, CI, captured test output).
pub(crate) fn sentence_bar(total: usize, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "embedding {wide_bar} {human_pos}/{human_len} sentences [{elapsed_precise}, {per_sec}, eta {eta}]",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
        .with_style(style)
}
