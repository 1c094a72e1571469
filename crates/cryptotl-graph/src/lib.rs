//! Neural-network graphs for cryptotl.
//!
//! This crate describes the networks that cryptotl evaluates, in the clear and
//! (through the integer form) under BFV encryption:
//!
//! - layers: [`Conv1d`], [`Dense`], polynomial activations, [`AvgPool1d`]
//!   and `Flatten` ([`Layer`]), on `(channels, length)` `f32` tensors
//!   ([`Shape`]),
//! - [`Graph`] with shape inference and validation, and the default
//!   architecture [`Graph::cryptotl_lower`] (CryptoTL's lower network
//!   generalized to input dimension `d`),
//! - the `f32` reference evaluator ([`Graph::evaluate`],
//!   [`Graph::evaluate_batch`]),
//! - the fusion pass ([`fuse`]): merges adjacent affine layers into one dense
//!   layer, so that the default architecture becomes
//!   `Dense → Activation → Dense`,
//! - [`QuantizedGraph`], the integer network built from a fused graph with
//!   `cryptotl-quant`, its exact integer evaluator, the plaintext-modulus
//!   bound analysis and the float-vs-quantized error bound,
//! - the encrypted evaluator ([`EncryptedEvaluator`]), bit-exact against the
//!   integer evaluator, and HE planning ([`plan`]),
//! - the server's output noise (discrete Gaussian noise on the features and
//!   noise flooding: [`OutputNoise`], [`plan_output_noise`]),
//! - the cost model that picks batch or slot packing per request
//!   ([`CostModel`], [`PackingChoice`]),
//! - slot-packed encrypted evaluation (one sample per ciphertext, CRT
//!   pipelines: [`SlotEvaluator`], [`plan_slots`]) for low single-sample
//!   latency, with [`SlotLayout`]: where one sample's values sit in the slots,
//! - model files (safetensors weights + a JSON manifest) for float and
//!   quantized graphs ([`Model`], [`FloatModel`], [`QuantizedModel`]), with
//!   the optional HE plan ([`HePlan`]).

mod encrypted;
mod error;
mod float_eval;
mod fusion;
mod graph;
mod layers;
mod model_file;
mod output_noise;
mod packing;
mod quantize;
mod slot_eval;
mod slot_layout;

pub use encrypted::{plan, widest_quantization, EncryptedEvaluator, MIN_OUTPUT_BUDGET_BITS};
pub use error::{GraphError, Result};
pub use fusion::{fuse, is_fused, FusedGraph};
pub use graph::{Graph, LowerNetworkParams, LOWER_CONV_KERNEL, LOWER_POOL_WINDOW};
pub use layers::{AvgPool1d, Conv1d, Dense, Layer, Shape};
pub use model_file::{
    FloatModel, HePlan, Model, ModelBytes, QuantizedModel, FORMAT_NAME, FORMAT_VERSION,
    MANIFEST_FILE, WEIGHTS_FILE,
};
pub use output_noise::{
    plan_output_noise, plan_with_output_noise, NoisePlan, OutputNoise, DEFAULT_FLOODING_KAPPA,
    NOISE_FAILURE_PROBABILITY,
};
pub use packing::{BatchShape, CostModel, Packing, PackingChoice, PackingDecision, SlotOperations};
pub use quantize::QuantizedGraph;
pub use slot_eval::{plan_slots, prepare_slots, SlotClient, SlotEvaluator, SlotKeys, SlotPlan};
pub use slot_layout::SlotLayout;
