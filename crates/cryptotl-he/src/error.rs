//! Errors returned by the HE primitives.

use thiserror::Error;

/// Everything that can go wrong in `cryptotl-he`.
///
/// Errors never contain key material or ciphertext bytes.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HeError {
    /// The parameters would give less than 128 bits of classical security.
    #[error(
        "insecure parameters: log2(q) = {log_q} bits exceeds the HomomorphicEncryption.org \
         128-bit classical bound of {max_log_q} bits for N = {degree}"
    )]
    Insecure {
        /// Polynomial degree.
        degree: usize,
        /// Total ciphertext modulus size in bits (sum of the moduli bit lengths).
        log_q: u32,
        /// Largest allowed modulus size for this degree.
        max_log_q: u32,
    },
    /// The parameters are malformed or unsupported.
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
    /// No plaintext modulus or ciphertext moduli could be found for a request.
    #[error("no parameters available: {0}")]
    NoParameters(String),
    /// Input data does not fit the operation (dimensions, batch size, value range).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Two objects were created under different parameters.
    #[error("parameter mismatch: {0}")]
    ParameterMismatch(String),
    /// An operation needs an evaluation key that was not provided.
    #[error("missing evaluation key: {0}")]
    MissingKey(&'static str),
    /// Bytes could not be decoded (truncated, garbled, wrong version or kind).
    #[error("malformed data: {0}")]
    Malformed(String),
    /// The data was produced under other parameters (fingerprint mismatch).
    #[error("foreign parameters: data fingerprint {found} does not match the expected {expected}")]
    ForeignParameters {
        /// Fingerprint found in the data (hex).
        found: String,
        /// Fingerprint of the parameters in use (hex).
        expected: String,
    },
    /// An error reported by fhe.rs.
    #[error("fhe.rs: {0}")]
    Fhe(#[from] fhe::Error),
    /// An error reported by fhe.rs's polynomial arithmetic (`fhe-math`).
    #[error("fhe.rs: {0}")]
    FheMath(#[from] fhe_math::Error),
    /// fhe.rs produced output this crate cannot use (a broken expectation
    /// about the dependency, not about the input).
    #[error("fhe.rs: {0}")]
    FheOutput(&'static str),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, HeError>;
