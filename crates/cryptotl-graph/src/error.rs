//! Errors returned by graph construction, evaluation, fusion, quantization
//! and model files.

use std::path::PathBuf;

use cryptotl_quant::QuantError;
use thiserror::Error;

/// Everything that can go wrong in `cryptotl-graph`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A layer is malformed or does not fit the shape it receives.
    #[error("layer {index} ({kind}): {reason}")]
    InvalidLayer {
        /// Position of the layer in the graph.
        index: usize,
        /// Kind of the layer (`conv1d`, `dense`, ...).
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The graph as a whole is malformed (for example a zero input dimension).
    #[error("invalid graph: {0}")]
    InvalidGraph(String),
    /// Input data does not fit the graph (dimension, non-finite values, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A layer that quantization cannot handle is still present: run the
    /// fusion pass first.
    #[error(
        "layer {index} ({kind}) cannot be quantized: only dense and activation layers can; \
         fuse the graph first"
    )]
    NotFused {
        /// Position of the layer in the graph.
        index: usize,
        /// Kind of the layer.
        kind: &'static str,
    },
    /// An error reported by the quantization crate.
    #[error("quantization: {0}")]
    Quant(#[from] QuantError),
    /// Reading or writing a model file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A model file has an unsupported format version.
    #[error(
        "unsupported model file format version {found} (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// Version found in the manifest.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },
    /// A model file is malformed: truncated, garbled, foreign, or
    /// inconsistent with its manifest.
    #[error("malformed model file: {0}")]
    MalformedModel(String),
    /// The server's output noise does not fit the plaintext modulus next to
    /// the bound of the output layer: `2 (bound + noise_bound) ≥ t`, so a
    /// noisy feature could wrap around.
    #[error(
        "output noise does not fit at layer {layer}: |value| <= {bound} plus noise <= {noise_bound} \
         needs a plaintext modulus above {}, have {modulus} (lower sigma or raise t)",
        2 * (bound + u128::from(*noise_bound))
    )]
    NoiseDoesNotFit {
        /// The output layer's name.
        layer: String,
        /// Largest absolute output value from the bound analysis.
        bound: u128,
        /// Tail bound `B` of the noise.
        noise_bound: u64,
        /// The plaintext modulus `t`.
        modulus: u64,
    },
    /// An error reported by the HE crate (parameters, keys, evaluation).
    #[error("homomorphic encryption: {0}")]
    He(#[from] cryptotl_he::HeError),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, GraphError>;
