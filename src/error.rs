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
    /// From the sentence embedder.
    #[error(transparent)]
    Embed(#[from] cryptotl_embed::EmbedError),
    /// From data set fetching and loading.
    #[error(transparent)]
    Data(#[from] cryptotl_data::DataError),
    /// From the client's head.
    #[error(transparent)]
    Head(#[from] cryptotl_head::HeadError),
    /// From server pretraining.
    #[error(transparent)]
    Pretrain(#[from] cryptotl_pretrain::PretrainError),
    /// Reading or writing a file.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Decrypted results that differ from the quantized plaintext model (a
    /// bug: the bound analysis rules it out).
    #[error("encrypted evaluation is not exact: {0}")]
    NotExact(String),
    /// A model card that cannot be used.
    #[error("invalid model card: {0}")]
    InvalidCard(String),
    /// Input that does not fit the model (dimensions, sizes).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The network service could not start or run (bind, TLS setup, runtime).
    #[error("server: {0}")]
    Serve(String),
    /// Reaching a remote server failed (connection, TLS, timeout, or an
    /// answer that is not the protocol's).
    #[error("HTTP transport: {0}")]
    Http(String),
    /// A remote server refused a request.
    #[error("the server answered {status} ({code}): {message}")]
    Remote {
        /// HTTP status.
        status: u16,
        /// The protocol's error code (`server_busy`, `malformed_request`, ...).
        code: String,
        /// The server's reason.
        message: String,
    },
}
