//! The protocol's error type.

use thiserror::Error;

/// Everything that can go wrong between a client and a server of the
/// protocol: a card that cannot be used, keys or batches that do not fit
/// the model, an error of the layers below, or of the transport that
/// carried a request.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// From the HE primitives (malformed, foreign or truncated keys and
    /// ciphertexts among them).
    #[error(transparent)]
    He(#[from] cryptotl_he::HeError),
    /// From graphs, evaluators and model files.
    #[error(transparent)]
    Graph(#[from] cryptotl_graph::GraphError),
    /// From quantization (inputs out of the quantizer's domain, scales).
    #[error(transparent)]
    Quant(#[from] cryptotl_quant::QuantError),
    /// A model card that cannot be used.
    #[error("invalid model card: {0}")]
    InvalidCard(String),
    /// Bytes that are not a model card's JSON.
    #[error("not a model card: {0}")]
    CardJson(#[source] serde_json::Error),
    /// A card whose slot-packing parameters are not secure or consistent.
    #[error("invalid model card: slot parameters: {0}")]
    SlotParameters(#[source] cryptotl_he::HeError),
    /// A card whose slot layout is not the one its dimensions imply.
    #[error("invalid model card: slot layout: {0}")]
    SlotLayout(#[source] cryptotl_graph::GraphError),
    /// A sample whose dimension is not the model's input dimension.
    #[error("sample {sample} has {got} features, the model expects {expected}")]
    SampleDimension {
        /// Index of the sample.
        sample: usize,
        /// Its dimension.
        got: usize,
        /// The model's input dimension.
        expected: usize,
    },
    /// A request, response or key upload that does not fit the session or
    /// the model (counts, layouts, packings).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The transport that carried a request failed (for example the HTTP
    /// client of `cryptotl-serve`); the cause is kept as the source.
    #[error(transparent)]
    Transport(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl ProtocolError {
    /// Wraps a transport's error. An error that already is a
    /// [`ProtocolError`] boxed elsewhere is not wrapped twice by callers
    /// that convert back with [`ProtocolError::into_transport`].
    pub fn transport(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Transport(Box::new(error))
    }

    /// The transport's error of type `E`, if this is one; otherwise the
    /// error itself back.
    ///
    /// # Errors
    /// `self` when it is not a [`ProtocolError::Transport`] holding an `E`.
    pub fn into_transport<E: std::error::Error + 'static>(self) -> Result<E, Self> {
        match self {
            Self::Transport(boxed) => match boxed.downcast::<E>() {
                Ok(e) => Ok(*e),
                Err(boxed) => Err(Self::Transport(boxed)),
            },
            other => Err(other),
        }
    }
}
