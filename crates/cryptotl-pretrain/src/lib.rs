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
//! # Multi-source pretraining and the objective
//!
//! Features trained by cross-entropy on one source keep mostly what
//! separates that source's classes, and transfer badly to other tasks.
//! [`pretrain_multi`] trains one lower network on several labeled
//! [`Source`]s at once, with one temporary head per source (its own class
//! count): minibatches are drawn from the union of the sources and each
//! sample's loss goes through its own source's head; `validation_fraction`
//! of each source is held out (stratified by source) and early stopping
//! watches the combined validation loss. The input quantizer and the bit
//! widths are fitted on the union of the training parts, the export is the
//! single-source one, and the served [`cryptotl_graph::QuantizedModel`]
//! records the source names ([`QuantizedModel::sources`](cryptotl_graph::QuantizedModel::sources)).
//! The result, a [`MultiPretrained`], reports each source's accuracies
//! ([`SourceReport`]). With one source it is bit for bit what [`pretrain`]
//! trains.
//!
//! Knobs of [`PretrainConfig`] that shape what the features keep, all
//! inside the exactness constraints (the same quadratic activation, bit
//! widths and 128-bit parameters; nothing of them is served), and all off
//! by default (the defaults reproduce the trainer as it was before they
//! existed):
//!
//! - [`source_weighting`](PretrainConfig::source_weighting): per-sample mean
//!   or every source weighted equally ([`SourceWeighting`]);
//! - [`label_smoothing`](PretrainConfig::label_smoothing): each head's
//!   cross-entropy against `(1 − ε) · one-hot + ε / k`;
//! - [`reconstruction`](PretrainConfig::reconstruction): an auxiliary
//!   linear decoder from the output features back to the standardized
//!   input embedding, its mean squared error added with weight `λ` (the
//!   decoder is discarded at export);
//! - [`weight_decay`](PretrainConfig::weight_decay): decoupled weight decay
//!   (AdamW).
//!
//! The first layer is not widened: CryptoTL's lower network is `d → d` by
//! construction ([`cryptotl_graph::Graph::cryptotl_lower_with`] and
//! [`cryptotl_graph::LowerNetworkParams`]); a wider one would change the
//! graph crate, the model file's shapes and the served feature dimension.
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
//!
//! Two sources, each with its own head, every source weighted equally and a
//! reconstruction term:
//!
//! ```no_run
//! use cryptotl_pretrain::{pretrain_multi, PretrainConfig, Source, SourceWeighting};
//!
//! # fn main() -> Result<(), cryptotl_pretrain::PretrainError> {
//! # let (reviews, sentiment): (Vec<Vec<f32>>, Vec<usize>) = (vec![], vec![]);
//! # let (messages, spam): (Vec<Vec<f32>>, Vec<usize>) = (vec![], vec![]);
//! let sources = [
//!     Source { name: "rotten-tomatoes".into(), inputs: &reviews, labels: &sentiment, classes: 2 },
//!     Source { name: "sms-spam".into(), inputs: &messages, labels: &spam, classes: 2 },
//! ];
//! let config = PretrainConfig {
//!     source_weighting: SourceWeighting::EqualSources,
//!     reconstruction: 0.5,
//!     ..PretrainConfig::default()
//! };
//! let trained = pretrain_multi(&sources, &config, &mut |_| {})?;
//! for s in &trained.sources {
//!     eprintln!("{}: quantized accuracy {:.3}", s.name, s.quantized_validation_accuracy);
//! }
//! assert_eq!(trained.model.sources, ["rotten-tomatoes", "sms-spam"]);
//! trained.model.save(std::path::Path::new("model/"))?;
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
mod multi;
mod train;

pub use config::{ActivationInit, PretrainConfig, QuantBits, SourceWeighting, TrainingMode};
pub use data::{Labeled, LabeledSet, MIN_INPUT_DIM};
pub use error::{PretrainError, Result};
pub use export::{BitsSource, Exported};
pub use head::Head;
pub use multi::{pretrain_multi, MultiPretrained, Source, SourceReport};
pub use train::{
    fit_input_quantizer, float_features, pretrain, pretrain_with_validation, quantized_features,
    EpochReport, PretrainReport, Pretrained,
};
