//! The facade's error type.

use thiserror::Error;

/// Everything that can go wrong in the cryptotl facade.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// From the HE primitives.
    #[error(transparent)]
    He(#[from] cryptotl_he::HeError),
    /// From graphs, evaluators and model files.
    #[error(transparent)]
    Graph(#[from] cryptotl_graph::GraphError),
    /// From quantization.
    #[error(transparent)]
    Quant(#[from] cryptotl_quant::QuantError),
    /// A model card that cannot be used.
    #[error("invalid model card: {0}")]
    InvalidCard(String),
    /// Input that does not fit the model (dimensions, sizes).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
