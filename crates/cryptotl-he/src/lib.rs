//! Homomorphic-encryption primitives for cryptotl, built on the BFV scheme of
//! [fhe.rs](https://docs.rs/fhe).
//!
//! This crate knows nothing about neural networks. It provides:
//!
//! - [`params`]: parameter presets (N = 8192 and 16384) that are checked
//!   against the HomomorphicEncryption.org 128-bit classical security table,
//! - [`keys`]: the client's secret key (never serialized, never printed,
//!   zeroized on drop) and the evaluation keys the server needs,
//! - [`batch`]: batched packing, one SIMD slot per sample,
//! - [`eval`]: integer-weighted sums, plaintext additions, low-degree
//!   polynomials via ciphertext multiplication, and modulus switching,
//! - [`wire`]: a versioned binary format for ciphertexts and keys whose
//!   loader never panics on hostile input,
//! - [`noise`]: client-side noise-budget inspection.
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod batch;
pub mod error;
pub mod eval;
mod kernel;
pub mod keys;
pub mod noise;
pub mod params;
pub mod wire;

pub use batch::EncryptedBatch;
pub use error::HeError;
pub use eval::Evaluator;
pub use keys::{ClientKeys, EvaluationKeys};
pub use params::{HeParameters, ParameterSpec, Preset};
