//! The service's error type.

use std::net::SocketAddr;
use std::path::PathBuf;

use cryptotl_protocol::ProtocolError;
use thiserror::Error;

/// Everything that can go wrong running the service or reaching one.
/// Causes are kept as sources (`io::Error`, rustls, ureq, serde_json).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// From the protocol (cards, keys, batches) and the layers below.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An I/O operation of the service failed (its local address, the
    /// server thread, the async runtime, reading a file).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server's background thread panicked.
    #[error("the server thread panicked")]
    ThreadPanicked,
    /// A PEM file (certificate chain, private key, CA) could not be read.
    #[error("cannot read the {what} {path}: {source}")]
    Pem {
        /// Which file (`TLS certificate chain`, `TLS private key`, `CA certificate`).
        what: &'static str,
        /// Its path (never its content).
        path: PathBuf,
        /// The cause.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A CA certificate file (PEM) that could not be parsed.
    #[error("CA file {path}: {source}")]
    CaFile {
        /// Its path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<ureq::Error>,
    },
    /// A PEM file held no certificate.
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    /// rustls refused the TLS configuration (certificate or key).
    #[error("TLS setup: {0}")]
    Tls(#[source] rustls::Error),
    /// A prepared server without the output noise its configuration asks
    /// for (serving it would be a silent privacy loss).
    #[error(
        "the configuration asks for output noise σ = {sigma}, κ = {kappa}, which the prepared \
         server does not add; prepare it with LowerServer::with_output_noise"
    )]
    NoiseMismatch {
        /// The σ asked for.
        sigma: f64,
        /// The κ asked for.
        kappa: u32,
    },
    /// A model name that is not 1 to 64 characters of `[a-z0-9._-]`
    /// starting with a letter or a digit
    /// ([`check_model_name`](crate::check_model_name)).
    #[error("invalid model name {name}: {reason}")]
    InvalidModelName {
        /// The name, quoted and escaped, cut to a few dozen characters.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Two served models with the same name.
    #[error("two models are named `{0}`: model names must be unique")]
    DuplicateModelName(String),
    /// A server asked to serve no model at all.
    #[error("a server needs at least one model to serve")]
    NoModel,
    /// A server URL that is not `http://` or `https://`.
    #[error("server URL `{0}` must start with http:// or https://")]
    InvalidUrl(String),
    /// The HTTP exchange failed (connection, TLS, timeout, reading the
    /// answer).
    #[error("{method} {path}: {source}")]
    Http {
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// The cause.
        #[source]
        source: Box<ureq::Error>,
    },
    /// Reading an answer's body failed.
    #[error("{method} {path}: reading the answer: {source}")]
    Read {
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An answer that is not the protocol's JSON.
    #[error("{what}: {source}")]
    Json {
        /// Which answer.
        what: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A server of another protocol version.
    #[error("the server speaks protocol version {server}, this client {client}")]
    ProtocolVersion {
        /// The server's version.
        server: u32,
        /// This client's version.
        client: u32,
    },
    /// The server's answer breaks the protocol (a malformed session id,
    /// fingerprints that disagree with its card).
    #[error("the server's answer breaks the protocol: {0}")]
    BadAnswer(&'static str),
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

impl ServeError {
    /// [`ServeError::InvalidModelName`] for `name`, which is shown quoted
    /// and escaped, and cut to 40 characters (never echoed whole).
    pub(crate) fn invalid_model_name(name: &str, reason: &'static str) -> Self {
        const SHOWN: usize = 40;
        let mut shown: String = name.chars().take(SHOWN).collect();
        let cut = shown.len() < name.len();
        shown = format!("{:?}", shown);
        if cut {
            shown.push('…');
        }
        ServeError::InvalidModelName {
            name: shown,
            reason,
        }
    }
}

impl From<ServeError> for ProtocolError {
    /// A service error as the protocol's transport error; a protocol error
    /// carried by the service comes back as itself.
    fn from(e: ServeError) -> Self {
        match e {
            ServeError::Protocol(p) => p,
            other => ProtocolError::transport(other),
        }
    }
}
