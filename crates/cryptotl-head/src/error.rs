//! The error type of this crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in `cryptotl-head`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HeadError {
    /// A [`HeadConfig`](crate::HeadConfig) is inconsistent (zero input
    /// dimension, fewer than two classes, dropout outside `[0, 1)`, ...).
    #[error("invalid head configuration: {0}")]
    InvalidConfig(String),
    /// [`TrainOptions`](crate::TrainOptions) or k-fold parameters are
    /// unusable (zero batch size, non-positive learning rate, ...).
    #[error("invalid training options: {0}")]
    InvalidOptions(String),
    /// Features or labels do not fit the head: wrong dimension, non-finite
    /// values, labels out of range, mismatched lengths, empty sets.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Training produced a non-finite loss (for example a learning rate far
    /// too high).
    #[error("training diverged at epoch {epoch}: the {which} loss is not finite")]
    Diverged {
        /// Epoch (1-based) where it happened.
        epoch: usize,
        /// `"training"` or `"validation"`.
        which: &'static str,
    },
    /// An error reported by candle (tensor shapes, autodiff, ...).
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
    /// Reading or writing a head file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A head file has a format version this build does not read.
    #[error("unsupported head file format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version found in the file.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },
    /// A head file is malformed: truncated, garbled, foreign, or inconsistent
    /// with its own configuration.
    #[error("malformed head file: {0}")]
    MalformedFile(String),
    /// A head or ensemble file's safetensors structure could not be encoded
    /// or decoded.
    #[error("malformed head file: {context}: {source}")]
    MalformedTensors {
        /// What was being encoded or decoded (a tensor name, or what failed).
        context: String,
        /// The safetensors error.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// A head file's JSON manifest could not be encoded or decoded.
    #[error("malformed head file: {context}: {source}")]
    MalformedManifest {
        /// What was being encoded or decoded.
        context: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The differential-privacy options cannot be met (calibration or
    /// DP-SGD configuration refused by `cryptotl-dp`).
    #[error("invalid training options: differential privacy: {0}")]
    Dp(#[source] cryptotl_dp::DpError),
    /// A per-example gradient could not be clipped (DP-SGD).
    #[error("invalid input: per-example gradient {index}: {source}")]
    ExampleGradient {
        /// The example's position in the batch.
        index: usize,
        /// The error of `cryptotl-dp`.
        #[source]
        source: cryptotl_dp::DpError,
    },
}

impl HeadError {
    /// A safetensors error, with what was being done.
    pub(crate) fn tensors(
        context: impl Into<String>,
    ) -> impl FnOnce(safetensors::SafeTensorError) -> Self {
        let context = context.into();
        move |source| HeadError::MalformedTensors { context, source }
    }

    /// A JSON error on the manifest, with what was being done.
    pub(crate) fn manifest(context: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Self {
        let context = context.into();
        move |source| HeadError::MalformedManifest { context, source }
    }

    /// Prefixes the context of a malformed-file error with `prefix` (a
    /// member of an ensemble); other errors are returned unchanged.
    pub(crate) fn in_member(self, prefix: &str) -> Self {
        match self {
            HeadError::MalformedFile(m) => HeadError::MalformedFile(format!("{prefix}: {m}")),
            HeadError::MalformedTensors { context, source } => HeadError::MalformedTensors {
                context: format!("{prefix}: {context}"),
                source,
            },
            HeadError::MalformedManifest { context, source } => HeadError::MalformedManifest {
                context: format!("{prefix}: {context}"),
                source,
            },
            other => other,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, HeadError>;
