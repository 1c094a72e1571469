//! The facade's error type.

use cryptotl_protocol::ProtocolError;
use thiserror::Error;

/// Everything that can go wrong in the cryptotl facade: one variant per
/// crate it puts together (those of disabled features are absent), and the
/// pipeline's own.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// From the protocol (cards, keys, batches, the exchange).
    #[error(transparent)]
    Protocol(ProtocolError),
    /// From the HE primitives.
    #[error(transparent)]
    He(#[from] cryptotl_he::HeError),
    /// From graphs, evaluators and model files.
    #[error(transparent)]
    Graph(#[from] cryptotl_graph::GraphError),
    /// From quantization.
    #[error(transparent)]
    Quant(#[from] cryptotl_quant::QuantError),
    /// From differential privacy (accountant, calibration, noise).
    #[error(transparent)]
    Dp(#[from] cryptotl_dp::DpError),
    /// From the network service or its client transport.
    #[cfg(feature = "serve")]
    #[error(transparent)]
    Serve(cryptotl_serve::ServeError),
    /// From the sentence embedder.
    #[cfg(feature = "embed")]
    #[error(transparent)]
    Embed(#[from] cryptotl_embed::EmbedError),
    /// From data set fetching and loading.
    #[cfg(feature = "data")]
    #[error(transparent)]
    Data(#[from] cryptotl_data::DataError),
    /// From the client's head.
    #[cfg(feature = "train")]
    #[error(transparent)]
    Head(#[from] cryptotl_head::HeadError),
    /// From server pretraining.
    #[cfg(feature = "train")]
    #[error(transparent)]
    Pretrain(#[from] cryptotl_pretrain::PretrainError),
    /// Reading or writing a file.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Decrypted results that differ from the quantized plaintext model (a
    /// bug: the bound analysis rules it out).
    #[error("encrypted evaluation is not exact: {0}")]
    NotExact(String),
    /// Input that the pipeline cannot use (empty or one-class data sets,
    /// dimensions, folds).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl From<ProtocolError> for Error {
    /// A protocol error; one that carries a service error (the remote
    /// transport's) becomes [`Error::Serve`].
    fn from(e: ProtocolError) -> Self {
        #[cfg(feature = "serve")]
        let e = match e.into_transport::<cryptotl_serve::ServeError>() {
            Ok(serve) => return Self::from(serve),
            Err(e) => e,
        };
        Self::Protocol(e)
    }
}

#[cfg(feature = "serve")]
impl From<cryptotl_serve::ServeError> for Error {
    /// A service error; one that only carries a protocol error becomes
    /// [`Error::Protocol`].
    fn from(e: cryptotl_serve::ServeError) -> Self {
        match e {
            cryptotl_serve::ServeError::Protocol(p) => Self::Protocol(p),
            other => Self::Serve(other),
        }
    }
}
