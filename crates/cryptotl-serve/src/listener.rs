//! Binding, the accept loop (plain or TLS), and graceful shutdown: stop
//! accepting, let every connection finish its in-flight request, wait for
//! running evaluations, within the drain timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use cryptotl_graph::QuantizedModel;
use cryptotl_protocol::LowerServer;

use crate::app::{self, AppState};
use crate::config::ServerConfig;
use crate::error::ServeError as Error;
use crate::protocol::{check_model_name, DEFAULT_MODEL_NAME};
use crate::tls;

/// Most connections open at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 512;

/// A server bound to its address, not yet serving.
pub struct BoundServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl BoundServer {
    /// Prepares the model ([`prepare`]), loads TLS files and binds the
    /// listening socket. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// A model that cannot be served, unreadable TLS files, or an address
    /// that cannot be bound.
    pub async fn bind(model: QuantizedModel, config: ServerConfig) -> Result<Self, Error> {
        let server = prepare(model, &config)?;
        Self::bind_prepared(server, config).await
    }

    /// Like [`BoundServer::bind`] with a server already prepared (its output
    /// noise planned), so that start-up plans nothing twice.
    /// `config.output_noise` is not applied again: if set, it must be the
    /// prepared server's noise.
    ///
    /// # Errors
    /// `config.output_noise` set but different from the server's, unreadable
    /// TLS files, or an address that cannot be bound.
    pub async fn bind_prepared(server: LowerServer, config: ServerConfig) -> Result<Self, Error> {
        Self::bind_prepared_many(vec![(DEFAULT_MODEL_NAME.to_owned(), server)], config).await
    }

    /// Like [`BoundServer::bind_prepared`] with several models, each
    /// prepared ([`prepare`], and the packing offer) and named: the first
    /// is the default (`GET /v1/model`, `POST /v1/sessions` without
    /// `?model=`); every one is reachable by name (`GET /v1/models/{name}`,
    /// `POST /v1/sessions?model={name}`). The models share the server's
    /// limits: one session store (the session memory and count caps hold
    /// for all models together), one evaluation semaphore.
    ///
    /// # Errors
    /// No model, an invalid or repeated name ([`check_model_names`]), a
    /// model without the output noise `config` asks for, unreadable TLS
    /// files, or an address that cannot be bound.
    pub async fn bind_prepared_many(
        models: Vec<(String, LowerServer)>,
        config: ServerConfig,
    ) -> Result<Self, Error> {
        check_model_names(models.iter().map(|(name, _)| name.as_str()))?;
        for (_, server) in &models {
            check_prepared(server, &config)?;
        }
        let tls = match &config.tls {
            Some(paths) => Some(TlsAcceptor::from(tls::server_config(paths)?)),
            None => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Io {
            context: "no local address".into(),
            source,
        })?;
        let state = Arc::new(AppState::new(models, config.limits, config.bearer_token));
        Ok(Self {
            listener,
            local_addr,
            state,
            tls,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then drains: no new connections,
    /// in-flight requests finish (up to the drain timeout), idle connections
    /// close.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let BoundServer {
            listener,
            local_addr,
            state,
            tls,
        } = self;
        let router = app::router(Arc::clone(&state));
        let limits = state.limits.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        // Every connection task holds a sender; `recv` returns `None` once
        // all have finished.
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tracing::info!(
            target: "cryptotl::serve",
            %local_addr,
            tls = tls.is_some(),
            model = %state.default_model().server.card().model_fingerprint,
            models = state.models.len(),
            "serving"
        );
        for served in &state.models {
            tracing::info!(
                target: "cryptotl::serve",
                name = %served.name,
                model = %served.server.card().model_fingerprint,
                "serving model"
            );
        }
        // Expired sessions are dropped on every store access; this also
        // frees their memory while no request comes.
        let sweeper = {
            let state = Arc::clone(&state);
            let every = (limits.session_idle_ttl / 2)
                .clamp(Duration::from_secs(1), Duration::from_secs(60));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    state.expire_sessions();
                }
            })
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off.
                            tracing::warn!(target: "cryptotl::serve", "accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                        state.metrics.rejection("too_many_connections");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let router = router.clone();
                    let tls = tls.clone();
                    let stop = stop_rx.clone();
                    let alive = alive_tx.clone();
                    let header_timeout = limits.header_timeout;
                    tokio::spawn(async move {
                        let _permit = permit;
                        let _alive = alive;
                        match tls {
                            None => serve_connection(stream, router, stop, header_timeout).await,
                            Some(acceptor) => {
                                match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                                    Ok(Ok(stream)) => {
                                        serve_connection(stream, router, stop, header_timeout).await;
                                    }
                                    Ok(Err(e)) => {
                                        tracing::debug!(target: "cryptotl::serve", "TLS handshake failed: {e}");
                                    }
                                    Err(_) => {
                                        tracing::debug!(target: "cryptotl::serve", "TLS handshake timed out");
                                    }
                                }
                            }
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        sweeper.abort();
        state.draining.store(true, Ordering::Relaxed);
        tracing::info!(
            target: "cryptotl::serve",
            in_flight = state.in_flight(),
            "shutting down: draining in-flight requests"
        );
        let deadline = Instant::now() + limits.drain_timeout;
        let _ = stop_tx.send(true);
        drop(alive_tx);
        let drained = tokio::time::timeout(limits.drain_timeout, alive_rx.recv()).await;
        // Evaluations whose request timed out still hold their slots.
        let all = u32::try_from(limits.max_concurrent_evaluations).unwrap_or(u32::MAX);
        let left = deadline.saturating_duration_since(Instant::now());
        let finished = tokio::time::timeout(left, state.slots.acquire_many(all)).await;
        if drained.is_err() || finished.is_err() {
            tracing::warn!(target: "cryptotl::serve", "drain timeout: abandoning unfinished work");
        }
        tracing::info!(target: "cryptotl::serve", "stopped");
        Ok(())
    }
}

/// Serves HTTP/1.1 on one connection until it closes, or until `stop`
/// flips, when the in-flight request finishes first.
async fn serve_connection<IO>(
    io: IO,
    router: Router,
    mut stop: watch::Receiver<bool>,
    header_timeout: Duration,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(target: "cryptotl::serve", "connection ended: {e}");
                }
                return;
            }
            changed = stop.changed() => {
                conn.as_mut().graceful_shutdown();
                if changed.is_err() {
                    // The server is gone: finish this request and stop.
                    if let Err(e) = conn.as_mut().await {
                        tracing::debug!(target: "cryptotl::serve", "connection ended: {e}");
                    }
                    return;
                }
            }
        }
    }
}

/// A server running on its own thread and tokio runtime (for tests,
/// benchmarks and a synchronous CLI). Dropping it shuts the server down
/// and waits for the drain.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

impl ServerHandle {
    /// Starts a server on a background thread; returns once it listens.
    ///
    /// # Errors
    /// As [`BoundServer::bind`], or if the runtime cannot start.
    pub fn spawn(model: QuantizedModel, config: ServerConfig) -> Result<Self, Error> {
        let server = prepare(model, &config)?;
        Self::spawn_prepared(server, config)
    }

    /// Like [`ServerHandle::spawn`] with a server already prepared (see
    /// [`BoundServer::bind_prepared`]).
    ///
    /// # Errors
    /// As [`BoundServer::bind_prepared`], or if the runtime cannot start.
    pub fn spawn_prepared(server: LowerServer, config: ServerConfig) -> Result<Self, Error> {
        Self::spawn_prepared_many(vec![(DEFAULT_MODEL_NAME.to_owned(), server)], config)
    }

    /// Like [`ServerHandle::spawn_prepared`] with several named models, the
    /// first the default (see [`BoundServer::bind_prepared_many`]).
    ///
    /// # Errors
    /// As [`BoundServer::bind_prepared_many`], or if the runtime cannot
    /// start.
    pub fn spawn_prepared_many(
        models: Vec<(String, LowerServer)>,
        config: ServerConfig,
    ) -> Result<Self, Error> {
        let tls = config.tls.is_some();
        let runtime = runtime()?;
        let bound = runtime.block_on(BoundServer::bind_prepared_many(models, config))?;
        let local_addr = bound.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cryptotl-serve".into())
            .spawn(move || {
                runtime.block_on(bound.serve(async {
                    let _ = stopped.await;
                }))
            })
            .map_err(|source| Error::Io {
                context: "cannot start the server thread".into(),
                source,
            })?;
        Ok(Self {
            local_addr,
            tls,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL (`http://127.0.0.1:PORT` or `https://…`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Stops accepting, drains in-flight work and waits for the server.
    ///
    /// # Errors
    /// If serving failed.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| Error::ThreadPanicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Prepares `model` for serving under `config`: checks its HE plan and, with
/// `config.output_noise`, plans the output noise (a calibration run),
/// re-planning the model's parameters when its plaintext modulus has no room
/// for the noise ([`LowerServer::with_output_noise_replanned`]). The result
/// can be served with [`BoundServer::bind_prepared`] or
/// [`ServerHandle::spawn_prepared`].
///
/// # Errors
/// As [`LowerServer::new`] and [`LowerServer::with_output_noise_replanned`].
pub fn prepare(model: QuantizedModel, config: &ServerConfig) -> Result<LowerServer, Error> {
    Ok(match config.output_noise {
        Some(noise) => LowerServer::with_output_noise_replanned(model, noise)?,
        None => LowerServer::new(model)?,
    })
}

/// Checks the names of the models to serve: at least one, each valid
/// ([`check_model_name`](crate::check_model_name): 1 to 64 characters of
/// `[a-z0-9._-]`, starting with a letter or a digit), no two alike.
///
/// # Errors
/// [`ServeError::NoModel`](Error::NoModel),
/// [`ServeError::InvalidModelName`](Error::InvalidModelName) or
/// [`ServeError::DuplicateModelName`](Error::DuplicateModelName).
pub fn check_model_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for name in names {
        check_model_name(name).map_err(|reason| Error::invalid_model_name(name, reason))?;
        if !seen.insert(name) {
            return Err(Error::DuplicateModelName(name.to_owned()));
        }
    }
    if seen.is_empty() {
        return Err(Error::NoModel);
    }
    Ok(())
}

/// Refuses a prepared server whose output noise is not the one `config`
/// asks for (serving without the requested noise would be a silent privacy
/// loss).
fn check_prepared(server: &LowerServer, config: &ServerConfig) -> Result<(), Error> {
    let Some(wanted) = config.output_noise else {
        return Ok(());
    };
    match server.output_noise() {
        Some(plan)
            if plan.sigma == wanted.sigma && plan.flooding_kappa == wanted.flooding_kappa =>
        {
            Ok(())
        }
        _ => Err(Error::NoiseMismatch {
            sigma: wanted.sigma,
            kappa: wanted.flooding_kappa,
        }),
    }
}

/// The runtime the server runs on: a few async threads (handlers only move
/// bytes), evaluations go to the blocking pool and rayon.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cryptotl-http")
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "cannot start the async runtime".into(),
            source,
        })
}
