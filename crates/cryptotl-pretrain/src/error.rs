//! [`PretrainError`]: everything that can go wrong while pretraining or
//! exporting the lower network.

use thiserror::Error;

/// Errors of `cryptotl-pretrain`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PretrainError {
    /// The training data is unusable: empty, ragged, non-finite values,
    /// labels out of range, or too small to split.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The configured activation polynomial is invalid.
    #[error("invalid configuration: activation: {0}")]
    InvalidActivation(#[source] cryptotl_quant::QuantError),
    /// The trained network needs a larger plaintext modulus than the preset
    /// allows at the bit widths the caller asked for.
    #[error(
        "at {input_bits} input bits and {weight_bits} weight bits the trained network needs a \
         {required}-bit plaintext modulus; the preset allows {allowed} (ask for smaller bit \
         widths or leave them to the default)"
    )]
    PlaintextTooWide {
        /// Input bit width used.
        input_bits: u32,
        /// Weight bit width used.
        weight_bits: u32,
        /// Plaintext modulus size the bound analysis requires.
        required: u32,
        /// Largest plaintext modulus size of the preset.
        allowed: u32,
    },
    /// Training diverged (a non-finite loss).
    #[error(
        "training diverged at epoch {epoch}: the loss is not finite (lower the learning rate)"
    )]
    Diverged {
        /// The epoch (1-based) in which the loss became non-finite.
        epoch: usize,
    },
    /// An error from the graph crate (construction, fusion, quantization,
    /// HE planning).
    #[error(transparent)]
    Graph(#[from] cryptotl_graph::GraphError),
    /// An error from the quantization crate.
    #[error(transparent)]
    Quant(#[from] cryptotl_quant::QuantError),
    /// An error from candle (tensor shapes, autograd).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, PretrainError>;
