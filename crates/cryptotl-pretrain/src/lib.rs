//! Server-side pretraining for cryptotl: quantization-aware training (QAT)
//! of CryptoTL's lower network in [candle](https://docs.rs/candle-core),
//! exported as the quantized model file the server serves.
//!
//! The server evaluates its *lower network* on encrypted client embeddings,
//! so the network must be trained before it is served, on a large public
//! labeled data set. This crate trains it with a temporary classification
//! head and exports:
//!
//! - the float graph ([`cryptotl_graph::Graph`], unfused: `Conv1d(k = 9) →
//!   Dense(d → d) → a0 + a1 y + a2 y² → AvgPool1d(3) → Dense(d−2 → d−2)`),
//! - the served [`cryptotl_graph::QuantizedModel`]: the graph fused to
//!   `Dense → activation → Dense`, quantized (inputs min-max to `b_x` bits
//!   with the quantizer fitted on the training split, weights symmetric
//!   `b_w` bits per output channel, the activation as per-neuron integer
//!   polynomials) and planned for the HE preset ([`cryptotl_graph::plan`]),
//! - the head and a [`PretrainReport`] whose accuracies are measured on the
//!   exported artifacts (the float graph evaluator and the exact integer
//!   evaluator), not on the training model.
//!
//! # How training matches deployment
//!
//! The candle model (module `model`) holds exactly the parameters of the graph
//! layers, so export is lossless, and computes the *fused* maps `W1 · Conv`
//! and `W2 · Pool` inside the autograd graph (in `O(k d²)`, using their
//! banded structure). In [`TrainingMode::QuantizationAware`] its forward pass
//! reproduces the integer network in real units: integer input levels, the
//! input scale folded into the first layer, per-row weight grids, the
//! activation's per-neuron integer coefficients and the second layer's grid
//! relative to the activation's output scale. Every rounding decision is
//! made in `f64` on the values the fusion pass produces, in the same order
//! as `cryptotl-quant` makes it, so the trained network's forward pass
//! equals the exported integer network up to `f32` arithmetic; gradients
//! pass the roundings straight through (module `fake_quant`).
//! [`TrainingMode::FloatOnly`] trains the float network (the baseline to
//! compare QAT against).
//!
//! The bit widths come from [`PretrainConfig::bits`] or, by default, from
//! [`cryptotl_graph::widest_quantization`] for the initial network at the
//! preset.
//!
//! # Usage
//!
//! ```no_run
//! use cryptotl_pretrain::{pretrain, PretrainConfig};
//!
//! # fn main() -> Result<(), cryptotl_pretrain::PretrainError> {
//! # let (embeddings, labels): (Vec<Vec<f32>>, Vec<usize>) = (vec![], vec![]);
//! // 384-d L2-normalized sentence embeddings and their class indices.
//! let config = PretrainConfig { classes: 2, max_epochs: 30, ..PretrainConfig::default() };
//! let trained = pretrain(&embeddings, &labels, &config, &mut |epoch| {
//!     eprintln!("epoch {}: val loss {:.4}", epoch.epoch, epoch.validation_loss);
//! })?;
//! let r = &trained.report;
//! eprintln!(
//!     "{} epochs, b_x = {}, b_w = {}, accuracy float {:.3} / quantized {:.3}",
//!     r.epochs_run, r.export_bits.input, r.export_bits.weight,
//!     r.float_validation_accuracy, r.quantized_validation_accuracy,
//! );
//! trained.model.save(std::path::Path::new("model/"))?; // what the server serves
//! # Ok(())
//! # }
//! ```

mod config;
mod data;
mod error;
mod export;
mod fake_quant;
mod head;
mod model;
mod train;

pub use config::{ActivationInit, PretrainConfig, QuantBits, TrainingMode};
pub use data::{Labeled, LabeledSet, MIN_INPUT_DIM};
pub use error::{PretrainError, Result};
pub use export::{BitsSource, Exported};
pub use head::Head;
pub use train::{
    fit_input_quantizer, float_features, pretrain, pretrain_with_validation, quantized_features,
    EpochReport, PretrainReport, Pretrained,
};
