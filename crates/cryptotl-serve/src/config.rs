//! Server configuration: where to listen, limits, TLS and the bearer token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Limits that keep one server's memory and CPU bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes (keys or one batch). A full batch at
    /// d = 384, N = 8192 is about 84 MB; the default leaves room for 128 MiB.
    pub max_body_bytes: usize,
    /// Largest evaluation-key upload in bytes (relinearization keys are
    /// about 872 KB at N = 8192; with slot packing the rotation keys add
    /// about 16 MB at d = 384 and 25 MB at d = 768). Default 64 MiB.
    pub max_key_bytes: usize,
    /// Session uploads (`POST /v1/sessions`) handled at once; more get 503.
    pub max_concurrent_session_uploads: usize,
    /// Largest number of samples in one evaluate request (at most N).
    pub max_batch_samples: usize,
    /// Evaluations running at once (each holds its request, response and
    /// evaluator buffers in memory).
    pub max_concurrent_evaluations: usize,
    /// Evaluate requests allowed to wait for a slot (uploading or queued)
    /// beyond the running ones; more are refused at once with 503.
    pub max_queued_evaluations: usize,
    /// How long a queued evaluate request waits for a slot before 503.
    pub queue_timeout: Duration,
    /// Sessions expire after this long without use.
    pub session_idle_ttl: Duration,
    /// Server-wide cap on the memory held by sessions: their evaluation
    /// keys as parsed in memory ([`cryptotl_protocol::Session::key_bytes`], about 4 MiB
    /// per session at N = 8192, several times the upload); the model is
    /// shared and not counted per session. The least recently used sessions
    /// are evicted to make room.
    pub max_session_bytes: usize,
    /// Most sessions open at once (new ones evict the least recently used).
    pub max_sessions: usize,
    /// Time to receive a whole request body.
    pub body_timeout: Duration,
    /// Time for one evaluation (the request then fails with 503; the
    /// computation itself runs to completion and frees its slot).
    pub evaluation_timeout: Duration,
    /// Responses of at least this many bytes are streamed: serialized and
    /// sent one ciphertext at a time instead of built whole in memory first
    /// (the bytes on the wire are the same).
    pub stream_response_bytes: usize,
    /// Longest wait for a client to take the next piece of a streamed
    /// response; a client that stops reading longer is cut off (freeing the
    /// response's memory and admission place).
    pub send_timeout: Duration,
    /// Time to receive request headers, and for a TLS handshake.
    pub header_timeout: Duration,
    /// On shutdown, how long in-flight requests may take to finish.
    pub drain_timeout: Duration,
    /// `Retry-After` seconds sent with 429 and 503 answers.
    pub retry_after_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 128 << 20,
            max_key_bytes: 64 << 20,
            max_concurrent_session_uploads: 8,
            max_batch_samples: usize::MAX,
            max_concurrent_evaluations: 2,
            max_queued_evaluations: 2,
            queue_timeout: Duration::from_secs(30),
            session_idle_ttl: Duration::from_secs(15 * 60),
            max_session_bytes: 1 << 30,
            max_sessions: 1024,
            body_timeout: Duration::from_secs(120),
            evaluation_timeout: Duration::from_secs(600),
            stream_response_bytes: 1 << 20,
            send_timeout: Duration::from_secs(120),
            header_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(60),
            retry_after_seconds: 1,
        }
    }
}

/// PEM files for TLS (rustls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// Certificate chain, leaf first (PEM).
    pub cert_chain: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
}

/// Everything `cryptotl serve` needs besides the model.
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Limits.
    pub limits: Limits,
    /// Serve HTTPS with these files; plain HTTP when `None`.
    pub tls: Option<TlsPaths>,
    /// Require `Authorization: Bearer <token>` on every endpoint except
    /// health and metrics.
    pub bearer_token: Option<String>,
    /// Discrete Gaussian output noise and noise flooding added to every
    /// response (advertised in the model card); `None` for exact features.
    /// The model's plaintext modulus must have room for it
    /// ([`cryptotl_protocol::plan_model_for_noise`]).
    pub output_noise: Option<cryptotl_graph::OutputNoise>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .field("tls", &self.tls)
            .field("output_noise", &self.output_noise)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ServerConfig {
    /// Defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            limits: Limits::default(),
            tls: None,
            bearer_token: None,
            output_noise: None,
        }
    }
}
