//! A small MPNet encoder on candle (inference only), for
//! sentence-transformers' all-mpnet-base-v2.
//!
//! candle-transformers has no MPNet. The architecture is BERT's with three
//! differences, all reproduced here from Hugging Face's `modeling_mpnet.py`:
//!
//! - no token-type embeddings; absolute positions start at
//!   `pad_token_id + 1` and padding tokens get position `pad_token_id`
//!   (RoBERTa's `create_position_ids_from_input_ids`),
//! - the self-attention projections are named `attn.q`, `attn.k`, `attn.v`
//!   and `attn.o` (the output projection lives inside the attention block),
//! - a **relative position bias**: one learned scalar per head and per
//!   bucket of the signed distance between key and query
//!   ([`relative_position_bucket`]: 32 buckets, exact up to distance 7, then
//!   logarithmic up to 128), computed once per forward pass, shared by all
//!   layers and added to the attention scores before the mask and softmax.
//!
//! Tensor names are those of the Hugging Face checkpoint without the
//! `mpnet.` prefix (`embeddings.*`, `encoder.layer.N.*`,
//! `encoder.relative_attention_bias.weight`); a prefixed checkpoint
//! (`MPNetForMaskedLM`) loads too. Dropout is omitted (inference only).

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, Activation, Embedding, LayerNorm, Linear};
use candle_nn::{ops::softmax_last_dim, VarBuilder};
use serde::Deserialize;

/// Relative distance from which all larger distances share one bucket, as
/// in Hugging Face's MPNet.
pub(crate) const RELATIVE_MAX_DISTANCE: usize = 128;

/// The fields of an MPNet `config.json` that inference needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub(crate) struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states (768 for mpnet-base).
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation (`"gelu"` is the exact, erf-based GELU).
    #[serde(default)]
    pub hidden_act: Activation,
    /// Size of the absolute position table, including the `pad_token_id + 1`
    /// unused leading positions.
    pub max_position_embeddings: usize,
    /// Epsilon of the layer norms.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token (also the padding index of the positions).
    #[serde(default = "default_pad_token_id")]
    pub pad_token_id: usize,
    /// Number of relative-position buckets.
    #[serde(default = "default_relative_buckets")]
    pub relative_attention_num_buckets: usize,
    /// `"mpnet"` for MPNet checkpoints.
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_layer_norm_eps() -> f64 {
    1e-5
}

fn default_pad_token_id() -> usize {
    1
}

fn default_relative_buckets() -> usize {
    32
}

impl Config {
    /// Longest token sequence the position table allows
    /// (`max_position_embeddings - pad_token_id - 1`: 512 for mpnet-base).
    pub(crate) fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.pad_token_id + 1)
    }

    /// Why the config cannot describe a model this module runs, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.hidden_size == 0
            || self.num_attention_heads == 0
            || self.num_hidden_layers == 0
            || self.intermediate_size == 0
        {
            return Some(
                "hidden_size, intermediate_size, num_attention_heads and num_hidden_layers \
                 must be positive"
                    .into(),
            );
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Some(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.pad_token_id >= self.vocab_size {
            return Some(format!(
                "pad_token_id {} is outside the vocabulary of {} tokens",
                self.pad_token_id, self.vocab_size
            ));
        }
        if self.max_tokens() < 2 {
            return Some(format!(
                "max_position_embeddings {} leaves fewer than 2 positions after the \
                 padding index {}",
                self.max_position_embeddings, self.pad_token_id
            ));
        }
        if self.relative_attention_num_buckets < 4
            || !self.relative_attention_num_buckets.is_multiple_of(2)
        {
            return Some(format!(
                "relative_attention_num_buckets must be an even number of at least 4, got {}",
                self.relative_attention_num_buckets
            ));
        }
        None
    }
}

/// The bucket of a signed relative position `key - query`, exactly as
/// Hugging Face's `MPNetEncoder.relative_position_bucket`.
///
/// Half of the buckets are for keys before or at the query (`n = query -
/// key >= 0`), half for keys after it (offset by `num_buckets / 2`). Within
/// a half of `h = num_buckets / 2` buckets, distances below `h / 2` have a
/// bucket each; larger distances `n` get `h/2 + floor(log(n / (h/2)) /
/// log(max_distance / (h/2)) * h/2)`, at most `h - 1`. The logarithm is
/// evaluated in `f32` like PyTorch does, which matters only for distances
/// that fall exactly on a bucket boundary.
///
/// `num_buckets` must be even and at least 4 (see [`Config::problem`]),
/// `max_distance` larger than `num_buckets / 4`.
pub(crate) fn relative_position_bucket(
    relative_position: i64,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let half = num_buckets / 2;
    let max_exact = half / 2;
    let n = -relative_position;
    let offset = if n < 0 { half } else { 0 };
    let n = n.unsigned_abs();
    if n < max_exact as u64 {
        // n < max_exact, a usize: no truncation.
        return offset + n as usize;
    }
    // PyTorch: torch.log(n.float() / max_exact) / math.log(max_distance /
    // max_exact) * (num_buckets - max_exact), in float32, truncated.
    let scaled = (n as f32 / max_exact as f32).ln()
        / ((max_distance as f64 / max_exact as f64).ln() as f32)
        * (half - max_exact) as f32;
    // `scaled` is finite and non-negative here (n >= max_exact >= 1).
    let large = max_exact + scaled as usize;
    offset + large.min(half - 1)
}

/// The relative-position bucket of every (query, key) pair of a sequence of
/// `len` tokens, row-major `[query][key]`.
fn bucket_matrix(len: usize, num_buckets: usize) -> Vec<u32> {
    let mut buckets = Vec::with_capacity(len * len);
    for query in 0..len as i64 {
        for key in 0..len as i64 {
            // A bucket is below num_buckets, which is a small config value.
            buckets.push(
                relative_position_bucket(key - query, num_buckets, RELATIVE_MAX_DISTANCE) as u32,
            );
        }
    }
    buckets
}

/// Absolute position ids as in Hugging Face's MPNet: `pad_id + 1, pad_id +
/// 2, ...` over the non-padding tokens of each row, `pad_id` on padding.
pub(crate) fn position_ids(ids: &[u32], seq_len: usize, pad_id: u32) -> Vec<u32> {
    let mut positions = Vec::with_capacity(ids.len());
    for row in ids.chunks(seq_len.max(1)) {
        let mut count = 0u32;
        for &id in row {
            if id == pad_id {
                positions.push(pad_id);
            } else {
                count += 1;
                positions.push(pad_id + count);
            }
        }
    }
    positions
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    layer_norm: LayerNorm,
    pad_id: u32,
}

impl Embeddings {
    fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let pad_id = u32::try_from(config.pad_token_id)
            .map_err(|_| candle_core::Error::Msg("pad_token_id out of range".into()))?;
        Ok(Embeddings {
            word: embedding(
                config.vocab_size,
                config.hidden_size,
                vb.pp("word_embeddings"),
            )?,
            position: embedding(
                config.max_position_embeddings,
                config.hidden_size,
                vb.pp("position_embeddings"),
            )?,
            layer_norm: layer_norm(
                config.hidden_size,
                config.layer_norm_eps,
                vb.pp("LayerNorm"),
            )?,
            pad_id,
        })
    }

    fn forward(&self, input_ids: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, seq_len) = input_ids.dims2()?;
        let ids = input_ids.flatten_all()?.to_vec1::<u32>()?;
        let positions = position_ids(&ids, seq_len, self.pad_id);
        let positions = Tensor::from_vec(positions, (rows, seq_len), input_ids.device())?;
        let x = (self.word.forward(input_ids)? + self.position.forward(&positions)?)?;
        self.layer_norm.forward(&x)
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    layer_norm: LayerNorm,
    heads: usize,
    head_size: usize,
}

impl Attention {
    fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        let attn = vb.pp("attn");
        Ok(Attention {
            q: linear(h, h, attn.pp("q"))?,
            k: linear(h, h, attn.pp("k"))?,
            v: linear(h, h, attn.pp("v"))?,
            o: linear(h, h, attn.pp("o"))?,
            layer_norm: layer_norm(h, config.layer_norm_eps, vb.pp("LayerNorm"))?,
            heads: config.num_attention_heads,
            head_size: h / config.num_attention_heads,
        })
    }

    /// `[batch, seq, hidden]` to `[batch, heads, seq, head_size]`.
    fn split_heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        x.reshape((b, s, self.heads, self.head_size))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// `bias`: position bias plus mask, broadcastable to `[batch, heads,
    /// seq, seq]`.
    fn forward(&self, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let q = self.split_heads(&self.q.forward(x)?)?;
        let k = self.split_heads(&self.k.forward(x)?)?;
        let v = self.split_heads(&self.v.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (self.head_size as f64).sqrt())?;
        let probs = softmax_last_dim(&scores.broadcast_add(bias)?)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.flatten_from(D::Minus2)?;
        let out = self.o.forward(&context)?;
        self.layer_norm.forward(&(out + x)?)
    }
}

struct Layer {
    attention: Attention,
    intermediate: Linear,
    activation: Activation,
    output: Linear,
    layer_norm: LayerNorm,
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        Ok(Layer {
            attention: Attention::load(vb.pp("attention"), config)?,
            intermediate: linear(h, i, vb.pp("intermediate").pp("dense"))?,
            activation: config.hidden_act,
            output: linear(i, h, vb.pp("output").pp("dense"))?,
            layer_norm: layer_norm(h, config.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
        })
    }

    fn forward(&self, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let attended = self.attention.forward(x, bias)?;
        let hidden = self
            .activation
            .forward(&self.intermediate.forward(&attended)?)?;
        let out = self.output.forward(&hidden)?;
        self.layer_norm.forward(&(out + attended)?)
    }
}

/// The MPNet encoder: embeddings and transformer layers, without the pooler.
pub(crate) struct MpnetModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    relative_attention_bias: Embedding,
    num_buckets: usize,
    max_tokens: usize,
}

impl MpnetModel {
    /// Loads the weights from `vb` (Hugging Face names, with or without the
    /// `mpnet.` prefix).
    ///
    /// # Errors
    ///
    /// When the config is unusable ([`Config::problem`]) or a tensor is
    /// missing or has the wrong shape.
    pub(crate) fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        if let Some(problem) = config.problem() {
            candle_core::bail!("unsupported MPNet config: {problem}");
        }
        let vb = if vb.contains_tensor("mpnet.embeddings.word_embeddings.weight") {
            vb.pp("mpnet")
        } else {
            vb
        };
        let encoder = vb.pp("encoder");
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(encoder.pp(format!("layer.{i}")), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(MpnetModel {
            embeddings: Embeddings::load(vb.pp("embeddings"), config)?,
            layers,
            relative_attention_bias: embedding(
                config.relative_attention_num_buckets,
                config.num_attention_heads,
                encoder.pp("relative_attention_bias"),
            )?,
            num_buckets: config.relative_attention_num_buckets,
            max_tokens: config.max_tokens(),
        })
    }

    /// The relative position bias `[1, heads, seq, seq]`.
    fn position_bias(&self, seq_len: usize, device: &Device) -> candle_core::Result<Tensor> {
        let buckets = Tensor::from_vec(
            bucket_matrix(seq_len, self.num_buckets),
            (seq_len, seq_len),
            device,
        )?;
        // [seq, seq, heads] -> [heads, seq, seq]
        self.relative_attention_bias
            .forward(&buckets)?
            .permute((2, 0, 1))?
            .unsqueeze(0)
    }

    /// Hidden states `[batch, seq, hidden]` for `input_ids` (`[batch, seq]`,
    /// `u32`) and `attention_mask` (`[batch, seq]`, non-zero = real token).
    ///
    /// # Errors
    ///
    /// Shape mismatches, or sequences longer than [`Config::max_tokens`].
    pub(crate) fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (_, seq_len) = input_ids.dims2()?;
        if seq_len > self.max_tokens {
            candle_core::bail!(
                "sequence of {seq_len} tokens is longer than the model's {} positions",
                self.max_tokens
            );
        }
        if attention_mask.dims() != input_ids.dims() {
            candle_core::bail!(
                "attention mask {:?} does not match input ids {:?}",
                attention_mask.dims(),
                input_ids.dims()
            );
        }
        let mut x = self.embeddings.forward(input_ids)?;
        let dtype = x.dtype();
        // (1 - mask) * finfo(dtype).min, broadcast over heads and queries.
        let keep = attention_mask
            .to_dtype(DType::F32)?
            .ne(0f32)?
            .to_dtype(DType::F32)?;
        let mask = ((1.0 - keep)? * f64::from(f32::MIN))?
            .to_dtype(dtype)?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        let bias = self
            .position_bias(seq_len, input_ids.device())?
            .to_dtype(dtype)?
            .broadcast_add(&mask)?;
        for layer in &self.layers {
            x = layer.forward(&x, &bias)?;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(relative: i64) -> usize {
        relative_position_bucket(relative, 32, 128)
    }

    #[test]
    fn buckets_of_keys_before_or_at_the_query() {
        // n = query - key >= 0: exact buckets below 8, then
        // 8 + floor(8 * ln(n/8) / ln(16)) = 8 + floor(2 * log2(n/8)), at most 15.
        let cases = [
            (0, 0),
            (-1, 1),
            (-7, 7),
            (-8, 8),   // 2*log2(1)     = 0
            (-11, 8),  // 2*log2(1.375) = 0.92
            (-12, 9),  // 2*log2(1.5)   = 1.17
            (-15, 9),  // 2*log2(1.875) = 1.81
            (-16, 10), // 2*log2(2)     = 2 exactly
            (-22, 10), // 2*log2(2.75)  = 2.92
            (-23, 11), // 2*log2(2.875) = 3.05
            (-31, 11), // 2*log2(3.875) = 3.91
            (-32, 12), // 2*log2(4)     = 4 exactly
            (-45, 12), // 2*log2(5.625) = 4.98
            (-46, 13), // 2*log2(5.75)  = 5.05
            (-63, 13), // 2*log2(7.875) = 5.95
            (-64, 14), // 2*log2(8)     = 6 exactly
            (-90, 14), // 2*log2(11.25) = 6.98
            (-91, 15), // 2*log2(11.375)= 7.01
            (-128, 15),
            (-513, 15),
        ];
        for (relative, expected) in cases {
            assert_eq!(bucket(relative), expected, "relative position {relative}");
        }
    }

    #[test]
    fn keys_after_the_query_use_the_upper_half() {
        for (relative, expected) in [
            (1, 17),
            (7, 23),
            (8, 24),
            (12, 25),
            (16, 26),
            (64, 30),
            (90, 30),
            (91, 31),
            (513, 31),
        ] {
            assert_eq!(bucket(relative), expected, "relative position {relative}");
        }
        // Symmetric apart from the offset, except at 0 (the query itself).
        for n in 1..600 {
            assert_eq!(bucket(n), bucket(-n) + 16, "distance {n}");
        }
    }

    #[test]
    fn buckets_are_monotone_and_in_range() {
        let mut previous = 0;
        for n in 0..1000 {
            let b = bucket(-n);
            assert!(b >= previous && b < 16, "distance {n}: bucket {b}");
            previous = b;
        }
    }

    /// The buckets of relative positions -600..=600 as computed by Hugging
    /// Face's `MPNetEncoder.relative_position_bucket` (PyTorch 2.15, float32),
    /// printed by tests/fixtures/mpnet_reference.py.
    #[test]
    fn buckets_match_the_pytorch_table() {
        let table: Vec<usize> = include_str!("../tests/fixtures/mpnet_buckets.txt")
            .split_whitespace()
            .map(|b| b.parse().unwrap())
            .collect();
        assert_eq!(table.len(), 1201);
        for (relative, &expected) in (-600i64..=600).zip(&table) {
            assert_eq!(bucket(relative), expected, "relative position {relative}");
        }
    }

    #[test]
    fn bucket_matrix_is_indexed_query_then_key() {
        let m = bucket_matrix(3, 32);
        // Row 0 (query 0): keys 0, 1, 2 are at +0, +1, +2.
        assert_eq!(&m[0..3], &[0, 17, 18]);
        // Row 2 (query 2): keys at -2, -1, 0.
        assert_eq!(&m[6..9], &[2, 1, 0]);
    }

    #[test]
    fn positions_start_after_the_padding_index() {
        // Two rows of 4 tokens, pad id 1; the second row is padded.
        let ids = [0, 9, 8, 2, 0, 7, 2, 1];
        assert_eq!(position_ids(&ids, 4, 1), vec![2, 3, 4, 5, 2, 3, 4, 1]);
    }

    #[test]
    fn config_of_all_mpnet_base_v2_parses() {
        let config: Config = serde_json::from_str(
            r#"{"attention_probs_dropout_prob": 0.1, "bos_token_id": 0, "eos_token_id": 2,
                "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
                "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
                "max_position_embeddings": 514, "model_type": "mpnet",
                "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1,
                "relative_attention_num_buckets": 32, "vocab_size": 30527}"#,
        )
        .unwrap();
        assert_eq!(config.hidden_act, Activation::Gelu);
        assert_eq!(config.max_tokens(), 512);
        assert_eq!(config.problem(), None);
        let odd = Config {
            relative_attention_num_buckets: 31,
            ..config.clone()
        };
        assert!(odd.problem().is_some());
        let heads = Config {
            num_attention_heads: 7,
            ..config
        };
        assert!(heads.problem().is_some());
    }

    /// A tiny random model: the forward pass runs, padding does not change
    /// the real tokens' states, and the prefixed checkpoint layout loads.
    #[test]
    fn tiny_model_forward_ignores_padding() {
        use candle_nn::VarMap;
        let config = Config {
            vocab_size: 12,
            hidden_size: 8,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 16,
            hidden_act: Activation::Gelu,
            max_position_embeddings: 20,
            layer_norm_eps: 1e-5,
            pad_token_id: 1,
            relative_attention_num_buckets: 32,
            model_type: Some("mpnet".into()),
        };
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let model = MpnetModel::load(vb.pp("mpnet"), &config).unwrap();
        let dev = Device::Cpu;
        let short = Tensor::new(&[[0u32, 5, 6, 2]], &dev).unwrap();
        let padded = Tensor::new(&[[0u32, 5, 6, 2, 1, 1]], &dev).unwrap();
        let a = model
            .forward(&short, &Tensor::new(&[[1u32, 1, 1, 1]], &dev).unwrap())
            .unwrap();
        let b = model
            .forward(
                &padded,
                &Tensor::new(&[[1u32, 1, 1, 1, 0, 0]], &dev).unwrap(),
            )
            .unwrap();
        assert_eq!(a.dims(), &[1, 4, 8]);
        let b = b.narrow(1, 0, 4).unwrap();
        let diff = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "padding changed real tokens by {diff}");

        // The whole varmap (prefixed names) loads through the prefix probe.
        let prefixed = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        assert!(MpnetModel::load(prefixed, &config).is_ok());

        let too_long = Tensor::zeros((1, 19), DType::U32, &dev).unwrap();
        assert!(model.forward(&too_long, &too_long).is_err());
    }
}
