//! The cryptotl network service (`cryptotl serve`) and its HTTP client
//! transport, on the protocol of `cryptotl-protocol`.
//!
//! **Server.** [`run`] (async), [`run_until_signal`] (blocking, for the CLI)
//! or [`ServerHandle::spawn`] (a background thread, for tests) serve a
//! [`QuantizedModel`] over HTTP/1.1 with axum and tokio, plain or TLS
//! (rustls): `GET /v1/model`, `GET /v1/models`, `GET /v1/models/{name}`,
//! `POST /v1/sessions`, `DELETE /v1/sessions/{id}`, `POST
//! /v1/sessions/{id}/evaluate`, `GET /v1/health`, `GET /metrics` (see
//! [`ModelInfo`], [`ErrorBody`] and docs/protocol.md). Evaluations run on
//! the blocking pool (and rayon inside the evaluator), never on the async
//! threads; a semaphore bounds how many run, and excess requests get 503
//! with `Retry-After` instead of queueing without bound. Large responses are
//! streamed, serialized one ciphertext at a time (the same bytes, with
//! `Content-Length`). Sessions share the model and hold only their keys. A
//! server prepared beforehand ([`prepare`], [`LowerServer`]) can be
//! served as is ([`BoundServer::bind_prepared`],
//! [`ServerHandle::spawn_prepared`], [`run_prepared_until_signal`]), so
//! that its output noise is planned once.
//!
//! **Several models.** [`BoundServer::bind_prepared_many`],
//! [`ServerHandle::spawn_prepared_many`] and
//! [`run_prepared_many_until_signal`] serve several prepared models, each
//! under a name ([`check_model_name`]), the first the default: `GET
//! /v1/models` lists them ([`ModelList`]), `GET /v1/models/{name}` describes
//! one, `POST /v1/sessions?model={name}` opens a session on one. The
//! single-model functions serve their model as [`DEFAULT_MODEL_NAME`].
//! Sessions, their caps and the evaluation slots are shared by all models.
//!
//! **Client.** [`RemoteServer::connect`] fetches and checks the (default)
//! model's card, [`RemoteServer::connect_model`] a named model's;
//! [`RemoteServer::open_session`] uploads evaluation keys; the returned
//! [`RemoteSession`] implements [`EncryptedEvaluation`](cryptotl_protocol::EncryptedEvaluation),
//! so [`encrypted_features`](cryptotl_protocol::encrypted_features) works over the
//! network unchanged. Requests refused with 429/503 are retried with
//! exponential backoff, honouring `Retry-After`. Uploads and downloads
//! report progress by bytes
//! ([`encrypted_features_with_progress`](cryptotl_protocol::encrypted_features_with_progress)).
//!
//! ```no_run
//! use cryptotl_serve::{ClientOptions, RemoteServer, ServerConfig, ServerHandle};
//! use cryptotl_protocol::LowerClient;
//! # fn demo(model: cryptotl_graph::QuantizedModel, xs: Vec<Vec<f32>>) -> Result<(), cryptotl_serve::ServeError> {
//! let server = ServerHandle::spawn(model, ServerConfig::new("127.0.0.1:0".parse().unwrap()))?;
//! let remote = RemoteServer::connect(&server.url(), ClientOptions::default())?;
//! let client = LowerClient::new(remote.card())?;
//! let session = remote.open_session(&client.evaluation_key_bytes()?)?;
//! let (features, stats) = cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |_, _| {})?;
//! # Ok(()) }
//! ```
//!
//! Logging goes through `tracing` (target `cryptotl::serve`): statuses,
//! sizes, durations and session id prefixes, never keys or ciphertexts.
//! [`install_stderr_logger`] installs a plain stderr subscriber.

mod api_error;
mod app;
mod client;
mod config;
mod error;
mod listener;
mod metrics;
mod protocol;
mod sessions;
mod stream;
mod tls;

use std::future::Future;

pub use client::{ClientOptions, RemoteServer, RemoteSession, RetryPolicy};
pub use config::{Limits, ServerConfig, TlsPaths};
pub use error::ServeError;
pub use listener::{check_model_names, prepare, BoundServer, ServerHandle};
pub use protocol::{
    check_model_name, evaluate_path, is_valid_model_name, model_path, peek_batch_shape,
    sanitize_model_name, session_path, sessions_path_for, ErrorBody, ErrorCode, Health, ModelInfo,
    ModelList, ModelSummary, SessionCreated, DEFAULT_MODEL_NAME, HEALTH_PATH, MAX_MODEL_NAME_LEN,
    METRICS_PATH, MODELS_PATH, MODEL_PATH, MODEL_QUERY, OCTET_STREAM, PROTOCOL_HEADER,
    PROTOCOL_VERSION, SESSIONS_PATH,
};

use cryptotl_graph::QuantizedModel;
use cryptotl_protocol::LowerServer;

use crate::error::ServeError as Error;

/// Serves `model` until `shutdown` completes, then drains in-flight work.
/// Must run inside a tokio runtime.
///
/// # Errors
/// A model that cannot be served, unreadable TLS files, or an address that
/// cannot be bound.
pub async fn run(
    model: QuantizedModel,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    BoundServer::bind(model, config)
        .await?
        .serve(shutdown)
        .await
}

/// Serves `model` on a runtime of its own until Ctrl-C or SIGTERM, then
/// drains in-flight work. `on_listening` is called with the bound address
/// once the server accepts connections.
///
/// # Errors
/// As [`run`].
pub fn run_until_signal(
    model: QuantizedModel,
    config: ServerConfig,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), Error> {
    let server = prepare(model, &config)?;
    run_prepared_until_signal(server, config, on_listening)
}

/// [`run_until_signal`] with a server already prepared ([`prepare`],
/// [`LowerServer::with_output_noise`]), so that nothing is planned twice:
/// what `cryptotl serve` calls.
///
/// # Errors
/// As [`BoundServer::bind_prepared`].
pub fn run_prepared_until_signal(
    server: LowerServer,
    config: ServerConfig,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), Error> {
    run_prepared_many_until_signal(
        vec![(DEFAULT_MODEL_NAME.to_owned(), server)],
        config,
        on_listening,
    )
}

/// [`run_prepared_until_signal`] with several named models, the first the
/// default (see [`BoundServer::bind_prepared_many`]): what `cryptotl serve
/// --model A --model B` calls.
///
/// # Errors
/// As [`BoundServer::bind_prepared_many`].
pub fn run_prepared_many_until_signal(
    models: Vec<(String, LowerServer)>,
    config: ServerConfig,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), Error> {
    let runtime = listener::runtime()?;
    runtime.block_on(async {
        let bound = BoundServer::bind_prepared_many(models, config).await?;
        on_listening(bound.local_addr());
        bound.serve(shutdown_signal()).await
    })
}

/// Completes on Ctrl-C, or on SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!(target: "cryptotl::serve", "shutdown signal received");
}

/// Installs a plain-text `tracing` subscriber writing to stderr at INFO
/// level (or DEBUG with `verbose`); does nothing if one is already set.
pub fn install_stderr_logger(verbose: bool) {
    let level = if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .try_init();
}
