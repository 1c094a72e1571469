//! The axum application: shared state, routes, handlers and middleware
//! (bearer token, metrics and request logs).
//!
//! Logs carry sizes, statuses, durations and an 8-digit prefix of session
//! ids only: never key material, ciphertext bytes or full session ids.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api_error::ApiError;
use crate::config::Limits;
use crate::metrics::{Gauges, Metrics};
use crate::protocol::{
    self, ErrorCode, Health, ModelInfo, ModelList, ModelSummary, SessionCreated, MODEL_QUERY,
    OCTET_STREAM, PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use crate::sessions::{is_well_formed_id, Missing, Refused, SessionStore};
use crate::stream;
use cryptotl_protocol::{LowerServer, Session};

/// One served model.
pub(crate) struct Served {
    /// Its name (valid: see [`protocol::check_model_name`]).
    pub(crate) name: String,
    pub(crate) server: LowerServer,
    /// Its `GET /v1/models/{name}` answer.
    info: ModelInfo,
}

/// An open session and the model it was opened on.
pub(crate) struct OpenSession {
    /// Index into [`AppState::models`].
    model: usize,
    session: Session,
}

/// State shared by all handlers.
pub(crate) struct AppState {
    /// The served models, the default first (never empty; names valid and
    /// unique: checked by the listener before the state is built).
    pub(crate) models: Vec<Served>,
    pub(crate) limits: Limits,
    pub(crate) token: Option<Vec<u8>>,
    /// The sessions of all models: one store, so that the session caps are
    /// shared.
    pub(crate) sessions: Mutex<SessionStore<OpenSession>>,
    /// Evaluations running (one permit each).
    pub(crate) slots: Arc<Semaphore>,
    /// Evaluate requests admitted (uploading, queued or running).
    pub(crate) admission: Arc<Semaphore>,
    /// Session uploads in progress.
    pub(crate) uploads: Arc<Semaphore>,
    pub(crate) metrics: Metrics,
    pub(crate) draining: AtomicBool,
    /// The `GET /v1/models` answer.
    list: ModelList,
}

impl AppState {
    /// State for serving `models` (named, the default first; at least one,
    /// names valid and unique) under `limits`. Sessions share their
    /// server's model, so only their keys count against the session cap.
    pub(crate) fn new(
        models: Vec<(String, LowerServer)>,
        limits: Limits,
        token: Option<String>,
    ) -> Self {
        assert!(!models.is_empty(), "a server needs a model");
        let limits = Limits {
            max_concurrent_evaluations: limits.max_concurrent_evaluations.max(1),
            ..limits
        };
        let names: Vec<String> = models.iter().map(|(name, _)| name.clone()).collect();
        let models: Vec<Served> = models
            .into_iter()
            .map(|(name, server)| {
                let info = ModelInfo {
                    protocol_version: PROTOCOL_VERSION,
                    name: Some(name.clone()),
                    models: names.clone(),
                    model_fingerprint: server.card().model_fingerprint.clone(),
                    parameters_fingerprint: server.params().fingerprint().to_string(),
                    max_batch_samples: limits.max_batch_samples.min(server.params().degree()),
                    max_body_bytes: limits.max_body_bytes,
                    card: server.card().clone(),
                };
                Served { name, server, info }
            })
            .collect();
        let list = ModelList {
            protocol_version: PROTOCOL_VERSION,
            default: names[0].clone(),
            models: models
                .iter()
                .map(|m| ModelSummary {
                    name: m.name.clone(),
                    model_fingerprint: m.info.model_fingerprint.clone(),
                    input_dim: m.info.card.input_dim,
                    output_dim: m.info.card.output_dim,
                    sources: m.info.card.sources.clone(),
                })
                .collect(),
        };
        Self {
            sessions: Mutex::new(SessionStore::new(
                limits.session_idle_ttl,
                limits.max_session_bytes,
                limits.max_sessions,
            )),
            slots: Arc::new(Semaphore::new(limits.max_concurrent_evaluations)),
            admission: Arc::new(Semaphore::new(
                limits.max_concurrent_evaluations + limits.max_queued_evaluations,
            )),
            uploads: Arc::new(Semaphore::new(limits.max_concurrent_session_uploads.max(1))),
            metrics: Metrics::default(),
            draining: AtomicBool::new(false),
            token: token.map(String::into_bytes),
            models,
            limits,
            list,
        }
    }

    /// The default model (the first).
    pub(crate) fn default_model(&self) -> &Served {
        &self.models[0]
    }

    /// The index of the model called `name`, which must be valid.
    fn model_index(&self, name: &str) -> Result<usize, ApiError> {
        self.models
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| {
                // A valid name is short and plain: safe to repeat.
                self.reject(ApiError::new(
                    ErrorCode::UnknownModel,
                    format!("this server serves no model named `{name}` (see GET /v1/models)"),
                ))
            })
    }

    /// The model a `POST /v1/sessions` query asks for: the default without
    /// a query, else the one of `model=NAME`.
    fn model_of_query(&self, query: Option<&str>) -> Result<usize, ApiError> {
        match parse_model_query(query) {
            Ok(None) => Ok(0),
            Ok(Some(name)) => self.model_index(name),
            Err(reason) => Err(self.reject(ApiError::new(
                ErrorCode::MalformedRequest,
                format!("invalid query: {reason}"),
            ))),
        }
    }

    /// The session store, even if a panicking thread poisoned its lock (the
    /// store's invariants hold between its method calls).
    fn sessions(&self) -> MutexGuard<'_, SessionStore<OpenSession>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops sessions idle longer than their TTL.
    pub(crate) fn expire_sessions(&self) {
        self.sessions().expire(Instant::now());
    }

    /// Evaluations running now.
    pub(crate) fn in_flight(&self) -> usize {
        self.limits.max_concurrent_evaluations - self.slots.available_permits()
    }

    fn gauges(&self) -> Gauges {
        let s = self.sessions();
        Gauges {
            sessions: s.len(),
            session_bytes: s.bytes(),
            evaluations_in_flight: self.in_flight(),
            sessions_evicted_total: s.evicted_total(),
            sessions_expired_total: s.expired_total(),
        }
    }

    fn reject(&self, e: ApiError) -> ApiError {
        self.metrics.rejection(e.code.as_str());
        e
    }

    fn busy(&self, message: &str) -> ApiError {
        self.reject(
            ApiError::new(ErrorCode::ServerBusy, message)
                .retry_after(self.limits.retry_after_seconds),
        )
    }

    fn lookup(&self, id: &str) -> Result<Arc<OpenSession>, ApiError> {
        if !is_well_formed_id(id) {
            return Err(self.reject(ApiError::missing_session(Missing::Unknown)));
        }
        let found = self.sessions().get(id, Instant::now());
        found.map_err(|why| self.reject(ApiError::missing_session(why)))
    }
}

/// The model `query` (a raw `POST /v1/sessions` query string) names:
/// `None` without a query; the query may only be `model=NAME` with a valid
/// name (no escapes: valid names need none).
///
/// # Errors
/// A short reason, never repeating the query.
fn parse_model_query(query: Option<&str>) -> Result<Option<&str>, &'static str> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    let mut model = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((MODEL_QUERY, name)) => {
                if model.is_some() {
                    return Err("`model` is given more than once");
                }
                protocol::check_model_name(name)?;
                model = Some(name);
            }
            _ => return Err("the only query parameter understood is `model=NAME`"),
        }
    }
    Ok(model)
}

/// The routes, with auth, metrics and logging middleware.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route(protocol::MODEL_PATH, get(model_info))
        .route(protocol::MODELS_PATH, get(model_list))
        .route("/v1/models/{name}", get(named_model_info))
        .route(protocol::SESSIONS_PATH, post(open_session))
        .route("/v1/sessions/{id}", delete(close_session))
        .route("/v1/sessions/{id}/evaluate", post(evaluate))
        .route(protocol::METRICS_PATH, get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(protected)
        .route(protocol::HEALTH_PATH, get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts and logs every answer; adds the protocol header.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| endpoint_label(p.as_str()))
        .unwrap_or("other");
    let session = request
        .extensions()
        .get::<MatchedPath>()
        .filter(|p| p.as_str().contains("{id}"))
        .and_then(|_| request.uri().path().split('/').nth(3))
        .filter(|id| is_well_formed_id(id))
        .map(|id| id[..8].to_owned());
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        PROTOCOL_HEADER,
        HeaderValue::from_static(protocol_version_str()),
    );
    let status = response.status().as_u16();
    let error = response
        .extensions()
        .get::<ErrorCode>()
        .map_or("-", |c| c.as_str());
    let out = response.body().size_hint().exact().unwrap_or(0) as usize;
    state.metrics.request(endpoint, status);
    state.metrics.bytes_out(out);
    tracing::info!(
        target: "cryptotl::serve",
        %method,
        endpoint,
        session = session.as_deref().unwrap_or("-"),
        status,
        error,
        response_bytes = out,
        millis = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

fn protocol_version_str() -> &'static str {
    const _: () = assert!(PROTOCOL_VERSION == 1);
    "1"
}

/// A fixed label for a route pattern (metrics labels must not carry ids).
fn endpoint_label(pattern: &str) -> &'static str {
    match pattern {
        protocol::MODEL_PATH => protocol::MODEL_PATH,
        protocol::MODELS_PATH => protocol::MODELS_PATH,
        "/v1/models/{name}" => "/v1/models/{name}",
        protocol::SESSIONS_PATH => protocol::SESSIONS_PATH,
        "/v1/sessions/{id}" => "/v1/sessions/{id}",
        "/v1/sessions/{id}/evaluate" => "/v1/sessions/{id}/evaluate",
        protocol::HEALTH_PATH => protocol::HEALTH_PATH,
        protocol::METRICS_PATH => protocol::METRICS_PATH,
        _ => "other",
    }
}

/// Checks `Authorization: Bearer <token>` in constant time when a token is
/// configured.
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or_default();
        // `ct_eq` on slices of different lengths is false without comparing
        // contents; the length of the token is not secret.
        if !bool::from(given.ct_eq(expected.as_slice())) {
            let reason = if given.is_empty() {
                "this server requires an `Authorization: Bearer <token>` header"
            } else {
                "the bearer token is wrong"
            };
            return state
                .reject(ApiError::new(ErrorCode::Unauthorized, reason))
                .into_response();
        }
    }
    next.run(request).await
}

async fn model_info(State(state): State<Arc<AppState>>) -> Json<ModelInfo> {
    Json(state.default_model().info.clone())
}

async fn model_list(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    Json(state.list.clone())
}

async fn named_model_info(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<ModelInfo>, ApiError> {
    let name = match &name {
        Ok(Path(name)) => protocol::check_model_name(name).map(|()| name.as_str()),
        Err(_) => Err("the model name is not valid UTF-8"),
    }
    .map_err(|reason| {
        state.reject(ApiError::new(
            ErrorCode::MalformedRequest,
            format!("invalid model name: {reason}"),
        ))
    })?;
    let index = state.model_index(name)?;
    Ok(Json(state.models[index].info.clone()))
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    let g = state.gauges();
    let status = if state.draining.load(Ordering::Relaxed) {
        "draining"
    } else {
        "ok"
    };
    Json(Health {
        protocol_version: PROTOCOL_VERSION,
        status: status.into(),
        sessions: g.sessions,
        evaluations_in_flight: g.evaluations_in_flight,
    })
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.metrics.render(state.gauges()),
    )
}

async fn not_found(State(state): State<Arc<AppState>>) -> ApiError {
    state.reject(ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint (this server speaks protocol v1: see GET /v1/model)",
    ))
}

async fn method_not_allowed(State(state): State<Arc<AppState>>) -> ApiError {
    state.reject(ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not accept that method",
    ))
}

/// Refuses requests during shutdown.
fn check_not_draining(state: &AppState) -> Result<(), ApiError> {
    if state.draining.load(Ordering::Relaxed) {
        return Err(state.reject(
            ApiError::new(ErrorCode::ShuttingDown, "the server is shutting down")
                .retry_after(state.limits.retry_after_seconds),
        ));
    }
    Ok(())
}

/// Requires an octet-stream (or absent) content type.
fn check_binary(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(header::CONTENT_TYPE) {
        None => Ok(()),
        Some(v) if v.as_bytes().starts_with(OCTET_STREAM.as_bytes()) => Ok(()),
        Some(_) => Err(state.reject(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("send the binary message as `Content-Type: {OCTET_STREAM}`"),
        ))),
    }
}

/// Most bytes reserved for a body before it arrives.
const PREALLOCATE: usize = 4 << 20;

/// Reads a whole body of at most `limit` bytes within the body timeout.
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = |n: Option<usize>| {
        let size = n.map_or_else(|| "more".to_owned(), |n| n.to_string());
        state.reject(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the body holds {size} bytes; this server accepts at most {limit}"),
        ))
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = announced.filter(|&n| n > limit) {
        return Err(too_large(Some(n)));
    }
    let read = async {
        let mut body = body;
        // Trust the announced length only so far: the body may never come.
        let mut buf = Vec::with_capacity(announced.unwrap_or(0).min(limit).min(PREALLOCATE));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                state.reject(ApiError::new(
                    ErrorCode::MalformedRequest,
                    format!("the request body could not be read: {e}"),
                ))
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(too_large(None));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(buf))
    };
    match tokio::time::timeout(state.limits.body_timeout, read).await {
        Ok(r) => {
            let bytes = r?;
            state.metrics.bytes_in(bytes.len());
            Ok(bytes)
        }
        Err(_) => Err(state.reject(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                state.limits.body_timeout.as_secs()
            ),
        ))),
    }
}

/// Longest time spent discarding the body of a refused request.
const DISCARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Returns `error` for a request refused before its body was read. A client
/// that sent `Expect: 100-continue` has not uploaded the body (hyper only
/// asks for it once the handler reads it), so the answer goes out at once.
/// Any other client is still writing: a body within the size limit is read
/// and discarded first (streamed, not stored; for at most 10 s), so that the
/// client reads the refusal instead of a reset connection.
async fn refuse_unread(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    error: ApiError,
) -> ApiError {
    let expects_continue = headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if !expects_continue && announced.is_some_and(|n| n <= state.limits.max_body_bytes) {
        let discard = async {
            let mut body = body;
            while let Some(Ok(_)) = body.frame().await {}
        };
        let _ = tokio::time::timeout(DISCARD_TIMEOUT, discard).await;
    }
    error
}

/// Runs CPU-heavy work on the blocking pool within `timeout`.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let task = tokio::task::spawn_blocking(work);
    match tokio::time::timeout(state.limits.evaluation_timeout, task).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(target: "cryptotl::serve", "evaluation task failed: {e}");
            Err(state.reject(ApiError::new(ErrorCode::Internal, "the evaluation failed")))
        }
        Err(_) => Err(state.reject(
            ApiError::new(
                ErrorCode::EvaluationTimeout,
                format!(
                    "the evaluation took longer than {} s",
                    state.limits.evaluation_timeout.as_secs()
                ),
            )
            .retry_after(state.limits.retry_after_seconds),
        )),
    }
}

async fn open_session(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    let early = check_not_draining(&state)
        .and_then(|()| check_binary(&state, &headers))
        .and_then(|()| state.model_of_query(query.as_deref()))
        .and_then(|model| {
            Arc::clone(&state.uploads)
                .try_acquire_owned()
                .map(|permit| (model, permit))
                .map_err(|_| state.busy("too many sessions are being opened at once; retry later"))
        });
    let (model, _uploading) = match early {
        Ok(v) => v,
        Err(e) => return Err(refuse_unread(&state, &headers, body, e).await),
    };
    let keys = read_body(&state, &headers, body, state.limits.max_key_bytes).await?;
    let key_bytes = keys.len();
    let worker = Arc::clone(&state);
    let session = blocking(&state, move || {
        worker.models[model].server.open_session(&keys)
    })
    .await?
    .map_err(|e| state.reject(ApiError::from_library(&e, true)))?;
    // The session refers to its server's model (no copy of the weights):
    // its keys, as held in memory, are what it costs.
    let resident = session.key_bytes();
    let open = OpenSession { model, session };
    let inserted = state.sessions().insert(open, resident, Instant::now());
    let (id, evicted) = inserted.map_err(|Refused::TooLarge { bytes, cap }| {
        state.reject(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!(
                "a session needs {bytes} bytes, more than the server's session memory cap of {cap}"
            ),
        ))
    })?;
    state.metrics.session_opened();
    for old in &evicted {
        tracing::info!(target: "cryptotl::serve", session = &old[..8], "session evicted");
    }
    tracing::info!(
        target: "cryptotl::serve",
        session = &id[..8],
        model = %state.models[model].name,
        key_bytes,
        resident_bytes = resident,
        "session opened"
    );
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            protocol_version: PROTOCOL_VERSION,
            session_id: id,
            idle_ttl_seconds: state.limits.session_idle_ttl.as_secs(),
        }),
    ))
}

async fn close_session(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !is_well_formed_id(&id) {
        return Err(state.reject(ApiError::missing_session(Missing::Unknown)));
    }
    let removed = state.sessions().remove(&id, Instant::now());
    removed.map_err(|why| state.reject(ApiError::missing_session(why)))?;
    tracing::info!(target: "cryptotl::serve", session = &id[..8], "session closed");
    Ok(StatusCode::NO_CONTENT)
}

async fn evaluate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let early = check_not_draining(&state)
        .and_then(|()| state.lookup(&id))
        .and_then(|session| check_binary(&state, &headers).map(|()| session))
        .and_then(|session| {
            // Admission before the upload: bounded memory for bodies in flight.
            Arc::clone(&state.admission)
                .try_acquire_owned()
                .map(|admitted| (session, admitted))
                .map_err(|_| {
                    state.busy("all evaluation slots and queue places are taken; retry later")
                })
        });
    let (open, admitted): (Arc<OpenSession>, OwnedSemaphorePermit) = match early {
        Ok(v) => v,
        Err(e) => return Err(refuse_unread(&state, &headers, body, e).await),
    };
    let request = read_body(&state, &headers, body, state.limits.max_body_bytes).await?;
    let served = &state.models[open.model];
    let max_batch_samples = served.info.max_batch_samples;
    if let Some((samples, _)) = protocol::peek_batch_shape(&request) {
        if samples > max_batch_samples {
            return Err(state.reject(ApiError::new(
                ErrorCode::BatchTooLarge,
                format!(
                    "the batch holds {samples} samples; this server evaluates at most \
                     {max_batch_samples} per request"
                ),
            )));
        }
    }
    let model_name = served.name.clone();
    let slot = tokio::time::timeout(
        state.limits.queue_timeout,
        Arc::clone(&state.slots).acquire_owned(),
    )
    .await
    .map_err(|_| state.busy("no evaluation slot became free in time; retry later"))?
    .map_err(|_| state.busy("the server is shutting down"))?;
    let request_bytes = request.len();
    let started = Instant::now();
    let stream_from = state.limits.stream_response_bytes;
    let (result, admitted) = blocking(&state, move || {
        let _slot = slot;
        let session = &open.session;
        let evaluated = match session.slot_request(&request) {
            // Slot-packed: a few small ciphertexts, sent whole.
            Ok(Some(_)) => session.evaluate(&request).map(Evaluated::Whole),
            Ok(None) => session.evaluate_to_batch(&request).map(|batch| {
                if batch.serialized_len() >= stream_from {
                    Evaluated::Stream(batch)
                } else {
                    Evaluated::Whole(batch.to_bytes())
                }
            }),
            Err(e) => Err(e),
        };
        // The admission place is held until the response is sent (streamed
        // ones) or built: it bounds the memory of responses in flight too.
        (evaluated, admitted)
    })
    .await?;
    let took = started.elapsed();
    state.metrics.evaluation(took);
    let evaluated = result.map_err(|e| state.reject(ApiError::from_library(&e, false)))?;
    let (body, response_bytes, streamed) = match evaluated {
        Evaluated::Whole(bytes) => {
            drop(admitted);
            let n = bytes.len();
            (Body::from(bytes), n, false)
        }
        Evaluated::Stream(batch) => {
            let n = batch.serialized_len();
            state.metrics.response_streamed();
            let body = stream::stream_batch(batch, admitted, state.limits.send_timeout);
            (Body::new(body), n, true)
        }
    };
    tracing::info!(
        target: "cryptotl::serve",
        session = &id[..8],
        model = %model_name,
        request_bytes,
        response_bytes,
        streamed,
        millis = took.as_millis() as u64,
        "batch evaluated"
    );
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))],
        body,
    )
        .into_response())
}

/// An evaluation's result: serialized whole (small responses), or to be
/// streamed ciphertext by ciphertext.
enum Evaluated {
    Whole(Vec<u8>),
    Stream(cryptotl_he::EncryptedBatch),
}
