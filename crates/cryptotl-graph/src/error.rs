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
    /// A model file's JSON manifest could not be encoded or decoded.
    #[error("malformed model file: {context}: {source}")]
    ModelJson {
        /// What was being encoded or decoded.
        context: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A model file's weights (safetensors) could not be encoded or decoded.
    #[error("malformed model file: {context}: {source}")]
    ModelTensors {
        /// What was being encoded or decoded.
        context: &'static str,
        /// The safetensors error.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// A model file describes a layer or an input quantizer that the
    /// quantization crate refuses.
    #[error("malformed model file: {context}: {source}")]
    ModelQuant {
        /// Where in the file (`"input quantizer"`, `"layer 2 (linear)"`).
        context: String,
        /// The quantization crate's error (boxed: it is large).
        #[source]
        source: Box<QuantError>,
    },
    /// The server's output noise cannot be sampled or accounted for (the
    /// differential-privacy crate refused its parameters).
    #[error("invalid input: {context}: {source}")]
    Dp {
        /// What was being done (`"output noise"`, `"privacy accounting"`).
        context: &'static str,
        /// The differential-privacy crate's error.
        #[source]
        source: cryptotl_dp::DpError,
    },
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
    /// Slot packing was asked for ([`PackingChoice::Fixed`] with
    /// [`Packing::Slots`]) but the model has no slot plan.
    ///
    /// [`PackingChoice::Fixed`]: crate::PackingChoice::Fixed
    /// [`Packing::Slots`]: crate::Packing::Slots
    #[error(
        "packing: slot packing is not available for this model (it needs a Dense → quadratic \
         → Dense network that fits one ciphertext, and no server output noise)"
    )]
    SlotPackingUnavailable,
    /// An error reported by the HE crate (parameters, keys, evaluation).
    #[error("homomorphic encryption: {0}")]
    He(#[from] cryptotl_he::HeError),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, GraphError>;
