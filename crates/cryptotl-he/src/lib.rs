//! Homomorphic-encryption primitives for cryptotl, built on the BFV scheme of
//! [fhe.rs](https://docs.rs/fhe).
//!
//! This crate knows nothing about neural networks. It provides:
//!
//! - [`params`]: parameter presets (N = 8192 and 16384) that are checked
//!   against the HomomorphicEncryption.org 128-bit classical security table,
//! - [`keys`]: the client's secret key (never serialized, never printed,
//!   zeroized on drop), the evaluation keys the server needs and the
//!   client's public key (for noise flooding),
//! - [`batch`]: batched packing, one SIMD slot per sample,
//! - [`slots`]: slot packing, one sample across the slots, with rotations
//!   (hoisted key switching) and baby-step/giant-step matrix products,
//! - [`crt`]: families of parameters with several small plaintext primes
//!   whose results are recombined exactly (Chinese remaindering),
//! - [`eval`]: integer-weighted sums, plaintext additions (per ciphertext or
//!   per slot), low-degree polynomials via ciphertext multiplication, modulus
//!   switching, and noise flooding (circuit privacy),
//! - [`wire`]: a versioned binary format for ciphertexts and keys whose
//!   loader never panics on hostile input,
//! - [`noise`]: client-side noise-budget inspection.
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod batch;
pub mod crt;
pub mod error;
pub mod eval;
mod kernel;
pub mod keys;
pub mod noise;
pub mod params;
pub mod slots;
pub mod wire;

pub use batch::EncryptedBatch;
pub use error::HeError;
pub use eval::Evaluator;
pub use keys::{ClientKeys, EvaluationKeys, PublicKey};
pub use params::{HeParameters, ParameterSpec, Preset};
