//! Homomorphic-encryption primitives for cryptotl, built on the BFV scheme of
//! [fhe.rs](https://docs.rs/fhe).
//!
//! This crate knows nothing about neural networks. It provides:
//!
//! - parameters ([`HeParameters`], [`Preset`]): presets (N = 8192 and 16384)
//!   that are checked against the HomomorphicEncryption.org 128-bit classical
//!   security table ([`check_security`]),
//! - keys: the client's secret key ([`ClientKeys`]: never serialized, never
//!   printed, zeroized on drop), the evaluation keys the server needs
//!   ([`EvaluationKeys`]) and the client's public key ([`PublicKey`], for
//!   noise flooding),
//! - batched packing, one SIMD slot per sample ([`EncryptedBatch`]),
//! - slot packing, one sample across the slots, with rotations
//!   ([`Rotation`], [`RotationKeys`]; hoisted key switching) and
//!   baby-step/giant-step matrix products ([`SlotTransform`]),
//! - families of parameters with several small plaintext primes whose
//!   results are recombined exactly by Chinese remaindering
//!   ([`CrtParameters`]),
//! - evaluation ([`Evaluator`]): integer-weighted sums, plaintext additions
//!   (per ciphertext or per slot), low-degree polynomials via ciphertext
//!   multiplication, modulus switching, and noise flooding (circuit privacy),
//! - [`wire`]: a versioned binary format for ciphertexts and keys whose
//!   loader never panics on hostile input,
//! - client-side noise-budget inspection ([`ClientKeys::noise_budget`]).
mod batch;
mod crt;
mod error;
mod eval;
mod kernel;
mod keys;
mod noise;
mod params;
mod slots;
pub mod wire;

pub use batch::EncryptedBatch;
pub use crt::{CrtParameterSpec, CrtParameters, MAX_PRODUCT_BITS};
pub use error::{HeError, Result};
pub use eval::{Evaluator, MAX_FLOOD_BITS};
pub use keys::{ClientKeys, EvaluationKeys, PublicKey};
pub use params::{
    check_security, max_log_q_128, Fingerprint, HeParameters, ParameterSpec, Preset,
    MAX_MODULUS_BITS, MAX_PLAINTEXT_BITS,
};
pub use slots::{
    add_rotated_batch, encode_slots, fold_batch, rotate_columns_right, transform_batch, Rotation,
    RotationKeys, SlotTransform, MAX_ROTATION_KEYS,
};
