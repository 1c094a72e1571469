//! The sentence embedder: WordPiece tokenizer, BERT or MPNet encoder
//! (candle, CPU, f32), mean pooling over real tokens, L2 normalization.

use std::fmt;
use std::fs;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use cryptotl_fetch::Sha256Digest;
use tokenizers::{Tokenizer, TruncationParams};

use crate::batching::{self, Batch};
use crate::cache::{CacheKey, EmbeddingCache};
use crate::error::{EmbedError, Result};
use crate::model::{FileDigests, ModelConfig, ModelDir};
use crate::mpnet::MpnetModel;
use crate::options::EmbedOptions;
use crate::pooling::{l2_normalize, mean_pool};
use crate::progress::sentence_bar;
use crate::EmbeddingModel;

/// Default truncation length in tokens of BERT models, including `[CLS]`
/// and `[SEP]` (what the tokenizer of all-MiniLM-L6-v2 is configured with).
/// MPNet models default to [`MPNET_MAX_TOKENS`](crate::MPNET_MAX_TOKENS).
pub const DEFAULT_MAX_TOKENS: usize = 128;

/// The transformer that turns token ids into hidden states.
enum Encoder {
    Bert(BertModel),
    Mpnet(MpnetModel),
}

impl Encoder {
    /// Hidden states `[batch, seq, dim]`.
    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Encoder::Bert(model) => model.forward(ids, type_ids, Some(mask))?,
            // MPNet has no token types.
            Encoder::Mpnet(model) => model.forward(ids, mask)?,
        })
    }
}

/// A text after tokenization, truncated to the maximum token count.
struct Tokens {
    ids: Vec<u32>,
    type_ids: Vec<u32>,
}

/// Turns sentences into unit-length vectors.
///
/// An `Embedder` is immutable once built and can be shared between threads;
/// one call to [`Embedder::embed`] already uses all cores (tokenization via
/// rayon, matrix products via candle's multithreaded CPU kernels).
pub struct Embedder {
    model: Encoder,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
    pad_id: u32,
    max_positions: usize,
    max_tokens: usize,
    fingerprint: Sha256Digest,
    options: EmbedOptions,
}

impl fmt::Debug for Embedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedder")
            .field("dim", &self.dim)
            .field("max_tokens", &self.max_tokens)
            .field("fingerprint", &self.model_fingerprint())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the model in `dir` on the CPU with its default truncation
    /// ([`DEFAULT_MAX_TOKENS`] for BERT,
    /// [`MPNET_MAX_TOKENS`](crate::MPNET_MAX_TOKENS) for MPNet) and
    /// default [`EmbedOptions`].
    ///
    /// Unverified directories ([`ModelDir::open`]) are fingerprinted by
    /// hashing their three files, for the embedding cache key.
    ///
    /// # Errors
    ///
    /// [`EmbedError::LoadWeights`] when the weights do not fit the config,
    /// [`EmbedError::LoadTokenizer`] for an unreadable tokenizer, I/O errors.
    pub fn load(dir: &ModelDir) -> Result<Self> {
        let weights_path = dir.weights_path();
        let weights = fs::read(&weights_path)
            .map_err(|e| EmbedError::io(format!("reading {}", weights_path.display()), e))?;
        let digests = match dir.digests() {
            Some(digests) => digests,
            None => FileDigests {
                weights: Sha256Digest::of_bytes(&weights),
                tokenizer: Sha256Digest::of_file(&dir.tokenizer_path())?,
                config: Sha256Digest::of_file(&dir.config_path())?,
            },
        };
        let device = Device::Cpu;
        let config = dir.config();
        let model_error = |source: candle_core::Error| EmbedError::LoadWeights {
            path: weights_path.clone(),
            source: Box::new(source),
        };
        let vars = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(model_error)?;
        let model = match config {
            ModelConfig::Bert(config) => {
                Encoder::Bert(BertModel::load(vars, config).map_err(model_error)?)
            }
            ModelConfig::Mpnet(config) => {
                Encoder::Mpnet(MpnetModel::load(vars, config).map_err(model_error)?)
            }
        };

        let tokenizer_path = dir.tokenizer_path();
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|source| EmbedError::LoadTokenizer {
                path: tokenizer_path.clone(),
                source,
            })?;
        // Padding is done per batch, below.
        tokenizer.with_padding(None);

        let default_max_tokens = config.default_max_tokens();
        let embedder = Embedder {
            model,
            tokenizer,
            device,
            dim: dir.hidden_size(),
            pad_id: u32::try_from(config.pad_token_id())
                .map_err(|_| EmbedError::InvalidInput("pad_token_id out of range".into()))?,
            max_positions: config.max_tokens(),
            max_tokens: default_max_tokens,
            fingerprint: digests.fingerprint(),
            options: EmbedOptions::default(),
        };
        embedder.with_max_tokens(default_max_tokens)
    }

    /// Fetches (if needed) and loads a built-in model from
    /// `<cache>/models/` — see [`ModelDir::ensure_builtin`].
    ///
    /// # Errors
    ///
    /// As for [`ModelDir::ensure_default`] and [`Embedder::load`].
    pub fn load_builtin(cache: &Path, model: EmbeddingModel) -> Result<Self> {
        Self::load(&ModelDir::ensure_builtin(cache, model)?)
    }

    /// Fetches (if needed) and loads the default model, all-MiniLM-L6-v2,
    /// from `<cache>/models/` — see [`ModelDir::ensure_default`].
    ///
    /// # Errors
    ///
    /// As for [`ModelDir::ensure_default`] and [`Embedder::load`].
    pub fn load_default(cache: &Path) -> Result<Self> {
        Self::load(&ModelDir::ensure_default(cache)?)
    }

    /// Truncates texts to `max_tokens` tokens (including `[CLS]` and
    /// `[SEP]`, or `<s>` and `</s>`). Changing it changes the embeddings of long texts, and the
    /// cache key.
    ///
    /// # Errors
    ///
    /// [`EmbedError::InvalidInput`] unless `2 <= max_tokens <=
    /// max_position_embeddings` of the model.
    pub fn with_max_tokens(mut self, max_tokens: usize) -> Result<Self> {
        if max_tokens < 2 || max_tokens > self.max_positions {
            return Err(EmbedError::InvalidInput(format!(
                "max_tokens must be between 2 and {}, got {max_tokens}",
                self.max_positions
            )));
        }
        self.tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(EmbedError::Tokenizer)?;
        self.max_tokens = max_tokens;
        Ok(self)
    }

    /// Replaces the run options used by [`Embedder::embed`].
    ///
    /// # Errors
    ///
    /// [`EmbedError::InvalidInput`] for a zero batch size.
    pub fn with_options(mut self, options: EmbedOptions) -> Result<Self> {
        check_options(&options)?;
        self.options = options;
        Ok(self)
    }

    /// The run options used by [`Embedder::embed`].
    pub fn options(&self) -> &EmbedOptions {
        &self.options
    }

    /// Embedding dimension (384 for all-MiniLM-L6-v2, 768 for
    /// all-mpnet-base-v2).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Truncation length in tokens.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Hex SHA-256 identifying the weights, tokenizer and config.
    pub fn model_fingerprint(&self) -> String {
        self.fingerprint.to_hex()
    }

    /// The embedding-cache key for `texts` under this model and truncation.
    pub fn cache_key<S: AsRef<str>>(&self, texts: &[S]) -> CacheKey {
        CacheKey::new(self.fingerprint.as_bytes(), self.max_tokens, texts)
    }

    /// Embeds `texts`, one unit-length vector of [`Embedder::dim`] values per
    /// text, in input order. An empty slice gives an empty result; an empty
    /// string is a valid text.
    ///
    /// # Errors
    ///
    /// [`EmbedError::Tokenizer`] or [`EmbedError::Model`] when a step fails.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        self.embed_with(texts, &self.options)
    }

    /// [`Embedder::embed`] with other run options.
    ///
    /// # Errors
    ///
    /// As for [`Embedder::embed`], and [`EmbedError::InvalidInput`] for a
    /// zero batch size.
    pub fn embed_with<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Vec<Vec<f32>>> {
        check_options(options)?;
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let tokens = self.tokenize(texts)?;
        let lengths: Vec<usize> = tokens.iter().map(|t| t.ids.len()).collect();
        let batches = batching::plan(
            &lengths,
            options.batch_size,
            options.padding,
            self.max_tokens,
        );

        let bar = sentence_bar(texts.len(), options.progress);
        let mut out = vec![Vec::new(); texts.len()];
        for batch in &batches {
            let rows = self.forward(&tokens, batch)?;
            for (&index, row) in batch.indices.iter().zip(rows) {
                out[index] = row;
            }
            bar.inc(batch.indices.len() as u64);
        }
        bar.finish_and_clear();
        Ok(out)
    }

    /// [`Embedder::embed`] through the embedding cache in
    /// `<cache>/embeddings/`: the first call computes and stores, later calls
    /// with the same texts (and model and truncation) read the file. A corrupt
    /// file is reported on stderr and recomputed.
    ///
    /// # Errors
    ///
    /// As for [`Embedder::embed`].
    pub fn embed_cached<S: AsRef<str>>(&self, texts: &[S], cache: &Path) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.cache_key(texts);
        EmbeddingCache::new(cache).get_or_compute(&key, texts.len(), self.dim, || self.embed(texts))
    }

    /// Tokenizes all texts in parallel, keeping only ids and type ids.
    fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Tokens>> {
        let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let encodings = self
            .tokenizer
            .encode_batch_fast(inputs, true)
            .map_err(EmbedError::Tokenizer)?;
        Ok(encodings
            .into_iter()
            .map(|e| Tokens {
                ids: e.get_ids().to_vec(),
                type_ids: e.get_type_ids().to_vec(),
            })
            .collect())
    }

    /// Runs one padded batch through the model; rows in batch order.
    fn forward(&self, tokens: &[Tokens], batch: &Batch) -> Result<Vec<Vec<f32>>> {
        let (rows, seq_len) = (batch.indices.len(), batch.seq_len);
        let mut ids = vec![self.pad_id; rows * seq_len];
        let mut type_ids = vec![0u32; rows * seq_len];
        let mut mask = vec![0u32; rows * seq_len];
        for (row, &index) in batch.indices.iter().enumerate() {
            let t = &tokens[index];
            let n = t.ids.len().min(seq_len);
            let start = row * seq_len;
            ids[start..start + n].copy_from_slice(&t.ids[..n]);
            type_ids[start..start + n].copy_from_slice(&t.type_ids[..n]);
            mask[start..start + n].fill(1);
        }
        let shape = (rows, seq_len);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let type_ids = Tensor::from_vec(type_ids, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let hidden = self.model.forward(&ids, &type_ids, &mask)?;
        let pooled = mean_pool(&hidden, &mask)?;
        Ok(l2_normalize(&pooled)?.to_vec2::<f32>()?)
    }
}

fn check_options(options: &EmbedOptions) -> Result<()> {
    if options.batch_size == 0 {
        return Err(EmbedError::InvalidInput(
            "batch_size must be positive".into(),
        ));
    }
    Ok(())
}
