//! Neural-network graphs for cryptotl.
//!
//! This crate describes the networks that cryptotl evaluates, in the clear and
//! (through the integer form) under BFV encryption:
//!
//! - [`layers`]: [`Conv1d`], [`Dense`], polynomial activations,
//!   [`AvgPool1d`] and `Flatten`, on `(channels, length)` `f32` tensors,
//! - [`graph`]: [`Graph`] with shape inference and validation, and the default
//!   architecture [`Graph::cryptotl_lower`] (CryptoTL's lower network
//!   generalized to input dimension `d`),
//! - [`float_eval`]: the `f32` reference evaluator ([`Graph::evaluate`],
//!   [`Graph::evaluate_batch`]),
//! - [`fusion`]: merges adjacent affine layers into one dense layer, so that
//!   the default architecture becomes `Dense → Activation → Dense`,
//! - [`quantize`]: [`QuantizedGraph`], the integer network built from a fused
//!   graph with `cryptotl-quant`, its exact integer evaluator, the
//!   plaintext-modulus bound analysis and the float-vs-quantized error bound,
//! - [`encrypted`]: the encrypted evaluator ([`EncryptedEvaluator`]), bit-exact
//!   against the integer evaluator, and HE planning ([`plan`]),
//! - [`output_noise`]: the server's output noise (discrete Gaussian noise on
//!   the features and noise flooding, [`plan_output_noise`]),
//! - [`packing`]: the cost model that picks batch or slot packing per request,
//! - [`slot_eval`]: slot-packed encrypted evaluation (one sample per
//!   ciphertext, CRT pipelines, [`plan_slots`]) for low single-sample latency,
//! - [`slot_layout`]: where one sample's values sit in the slots for
//!   slot-packed evaluation (one sample per ciphertext, rotations),
//! - [`model_file`]: model files (safetensors weights + a JSON manifest) for
//!   float and quantized graphs, with the optional HE plan ([`HePlan`]).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod encrypted;
pub mod error;
pub mod float_eval;
pub mod fusion;
pub mod graph;
pub mod layers;
pub mod model_file;
pub mod output_noise;
pub mod packing;
pub mod quantize;
pub mod slot_eval;
pub mod slot_layout;

pub use encrypted::{plan, widest_quantization, EncryptedEvaluator};
pub use error::{GraphError, Result};
pub use fusion::{fuse, is_fused, FusedGraph};
pub use graph::{Graph, LowerNetworkParams};
pub use layers::{AvgPool1d, Conv1d, Dense, Layer, Shape};
pub use model_file::{FloatModel, HePlan, Model, ModelBytes, QuantizedModel, FORMAT_VERSION};
pub use output_noise::{plan_output_noise, plan_with_output_noise, NoisePlan, OutputNoise};
pub use packing::{CostModel, Packing, PackingChoice, PackingDecision};
pub use quantize::QuantizedGraph;
pub use slot_eval::{plan_slots, prepare_slots, SlotClient, SlotEvaluator, SlotKeys, SlotPlan};
pub use slot_layout::SlotLayout;
