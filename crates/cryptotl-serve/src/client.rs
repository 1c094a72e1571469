//! The HTTP client transport: a blocking client (ureq, rustls) for a
//! `cryptotl serve` server, with timeouts, an optional bearer token, an
//! optional private CA, and retries with exponential backoff on 429/503
//! that honour `Retry-After`.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, SendBody};

use cryptotl_protocol::{EncryptedEvaluation, ModelCard, ProtocolError, Transfer};

use crate::error::ServeError as Error;
use crate::protocol::{
    self, ErrorBody, ModelInfo, ModelList, SessionCreated, OCTET_STREAM, PROTOCOL_VERSION,
};

/// Largest JSON answer read (cards are a few KB).
const MAX_JSON_BYTES: u64 = 16 << 20;
/// Largest binary answer read (a full d = 384 response is about 81 MB).
const MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// A reader that reports the running count of bytes read through it: wraps
/// request bodies (as ureq reads them to send) and response bodies (as they
/// arrive), for progress by bytes.
struct Counting<'a, R> {
    inner: R,
    count: u64,
    report: &'a mut dyn FnMut(u64),
}

impl<'a, R: Read> Counting<'a, R> {
    fn new(inner: R, report: &'a mut dyn FnMut(u64)) -> Self {
        Self {
            inner,
            count: 0,
            report,
        }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.count += n as u64;
            (self.report)(self.count);
        }
        Ok(n)
    }
}

/// When and how often to retry refused requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// First backoff; it doubles on each retry.
    pub initial_backoff: Duration,
    /// Longest wait between attempts (also caps `Retry-After`).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `attempt` (0-based): exponential
    /// backoff (`initial_backoff × 2^attempt`), but never less than the
    /// server's `Retry-After`; plus up to 50 % random jitter so that clients
    /// refused together do not come back together; at most `max_backoff`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX));
        let base = exponential.max(retry_after.unwrap_or_default());
        let jittered = base.mul_f64(1.0 + rand::random::<f64>() * 0.5);
        jittered.min(self.max_backoff)
    }
}

/// How to reach a server.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// PEM file of a CA to trust (instead of the public web roots) for
    /// `https://` servers with private certificates.
    pub ca_cert: Option<PathBuf>,
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time for one whole request, upload, evaluation and download included.
    pub request_timeout: Duration,
    /// Retries on 429/503 and on failed connections.
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("ca_cert", &self.ca_cert)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            bearer_token: None,
            ca_cert: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(900),
            retry: RetryPolicy::default(),
        }
    }
}

/// An HTTP connection to one server: the agent, the base URL and options.
#[derive(Debug, Clone)]
struct Transport {
    agent: Agent,
    base: String,
    options: ClientOptions,
}

/// One attempt's outcome.
enum Attempt {
    Done(Vec<u8>),
    Retry(Error, Option<Duration>),
}

impl Transport {
    fn new(url: &str, options: ClientOptions) -> Result<Self, Error> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::InvalidUrl(base));
        }
        let mut config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.request_timeout))
            .max_redirects(0)
            .user_agent(format!("cryptotl/{}", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &options.ca_cert {
            let pem = std::fs::read(path).map_err(|source| Error::Io {
                context: format!("reading the CA certificate {}", path.display()),
                source,
            })?;
            let certs = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<Certificate<'static>>, _>>()
                .map_err(|e| Error::CaFile {
                    path: path.clone(),
                    source: Box::new(e),
                })?;
            if certs.is_empty() {
                return Err(Error::NoCertificate(path.clone()));
            }
            config = config.tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::new_with_certs(&certs))
                    .build(),
            );
        }
        Ok(Self {
            agent: config.build().into(),
            base,
            options,
        })
    }

    /// Sends a request, retrying refused ones; returns the body of a 2xx.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        limit: u64,
    ) -> Result<Vec<u8>, Error> {
        self.request_with_progress(method, path, body, limit, &mut |_| {})
    }

    /// [`Transport::request`], reporting bytes uploaded and downloaded (of
    /// each attempt) to `progress`.
    fn request_with_progress(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        limit: u64,
        progress: &mut dyn FnMut(Transfer),
    ) -> Result<Vec<u8>, Error> {
        let policy = &self.options.retry;
        let mut attempt = 0;
        loop {
            match self.attempt(method, path, body, limit, progress)? {
                Attempt::Done(bytes) => return Ok(bytes),
                Attempt::Retry(e, retry_after) => {
                    if attempt >= policy.max_retries {
                        return Err(e);
                    }
                    std::thread::sleep(policy.delay(attempt, retry_after));
                    attempt += 1;
                }
            }
        }
    }

    fn attempt(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        limit: u64,
        progress: &mut dyn FnMut(Transfer),
    ) -> Result<Attempt, Error> {
        let url = format!("{}{path}", self.base);
        let auth = self
            .options
            .bearer_token
            .as_ref()
            .map(|t| format!("Bearer {t}"));
        let sent = match (method, body) {
            ("POST", Some(b)) => {
                // With `Expect: 100-continue` a refusal (busy, too large,
                // unknown session) arrives before the body is uploaded.
                let mut r = self
                    .agent
                    .post(&url)
                    .content_type(OCTET_STREAM)
                    .header("expect", "100-continue");
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                // The body goes through a counting reader (ureq reads it as
                // it sends); the explicit length keeps it a plain
                // `Content-Length` upload, not a chunked one.
                let total = b.len() as u64;
                let mut report = |sent| progress(Transfer::Upload { sent, total });
                let mut reader = Counting::new(b, &mut report);
                r.header("content-length", total.to_string())
                    .send(SendBody::from_reader(&mut reader))
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
        };
        let mut response = match sent {
            Ok(r) => r,
            // The server may be restarting or briefly unreachable: these are
            // worth another try (every request here is idempotent).
            Err(e @ (ureq::Error::ConnectionFailed | ureq::Error::Io(_))) => {
                return Ok(Attempt::Retry(http_error(method, path, e), None))
            }
            Err(e) => return Err(http_error(method, path, e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let read_limit = if (200..300).contains(&status) {
            limit
        } else {
            MAX_JSON_BYTES
        };
        let announced = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let success = (200..300).contains(&status);
        let mut report = |received| {
            if success {
                progress(Transfer::Download {
                    received,
                    total: announced,
                });
            }
        };
        // Reserve the announced length (within the limit) so that a large
        // answer is not copied while the vector grows.
        let reserve = announced.unwrap_or(0).min(read_limit);
        let mut bytes = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
        Counting::new(
            response.body_mut().with_config().limit(read_limit).reader(),
            &mut report,
        )
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read {
            method: static_method(method),
            path: path.to_owned(),
            source,
        })?;
        if success {
            return Ok(Attempt::Done(bytes));
        }
        let error = remote_error(status, &bytes);
        if status == 429 || status == 503 {
            Ok(Attempt::Retry(error, retry_after))
        } else {
            Err(error)
        }
    }
}

/// The error for a non-2xx answer, from its JSON body if it has one.
/// An HTTP failure of `method path`, its cause kept.
fn http_error(method: &str, path: &str, source: ureq::Error) -> Error {
    Error::Http {
        method: static_method(method),
        path: path.to_owned(),
        source: Box::new(source),
    }
}

/// The request methods this client sends, as `'static` names.
fn static_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "DELETE" => "DELETE",
        _ => "request",
    }
}

fn remote_error(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => Error::Remote {
            status,
            code: b.error.as_str().to_owned(),
            message: b.message,
        },
        Err(_) => Error::Remote {
            status,
            code: "unknown".into(),
            message: format!("not a cryptotl server answer ({} bytes)", body.len()),
        },
    }
}

/// Whether an error says the session is gone (expired, evicted, unknown).
fn session_gone(e: &Error) -> bool {
    matches!(e, Error::Remote { code, .. }
        if ["unknown_session", "session_expired", "session_evicted"].contains(&code.as_str()))
}

/// A server reached over HTTP, with the checked card of the model it
/// evaluates for this client: the server's default model
/// ([`RemoteServer::connect`]) or a named one
/// ([`RemoteServer::connect_model`]).
#[derive(Debug, Clone)]
pub struct RemoteServer {
    transport: Transport,
    info: ModelInfo,
    /// The model named at connection (sessions are opened with
    /// `?model=NAME`); `None` for the default model.
    model: Option<String>,
}

impl RemoteServer {
    /// Connects to `url` (`http://host:port` or `https://…`), fetches
    /// `GET /v1/model` (the server's default model) and validates the card
    /// (protocol version, 128-bit security, fingerprints).
    ///
    /// # Errors
    /// Transport failures, refusals, or a card that cannot be used.
    pub fn connect(url: &str, options: ClientOptions) -> Result<Self, Error> {
        let transport = Transport::new(url, options)?;
        let info = fetch_info(&transport, protocol::MODEL_PATH)?;
        Ok(Self {
            transport,
            info,
            model: None,
        })
    }

    /// Connects to the model the server at `url` serves as `name` (one of
    /// [`RemoteServer::models`]): checks the name locally
    /// ([`check_model_name`](crate::check_model_name)), fetches
    /// `GET /v1/models/{name}` and validates the card as
    /// [`RemoteServer::connect`] does. Its sessions are opened on that
    /// model (`POST /v1/sessions?model={name}`), re-opened ones too.
    ///
    /// Each model a client uses costs one session, hence one upload of its
    /// evaluation keys.
    ///
    /// # Errors
    /// An invalid name ([`ServeError::InvalidModelName`](Error::InvalidModelName),
    /// before any request), a name the server does not serve (`404
    /// unknown_model`; `404 not_found` from a server older than model
    /// names), and as [`RemoteServer::connect`].
    pub fn connect_model(url: &str, name: &str, options: ClientOptions) -> Result<Self, Error> {
        protocol::check_model_name(name)
            .map_err(|reason| Error::invalid_model_name(name, reason))?;
        let transport = Transport::new(url, options)?;
        let info = fetch_info(&transport, &protocol::model_path(name))?;
        if info.name.as_deref() != Some(name) {
            return Err(Error::BadAnswer(
                "the server described another model than the one asked for",
            ));
        }
        Ok(Self {
            transport,
            info,
            model: Some(name.to_owned()),
        })
    }

    /// The card of this client's model.
    pub fn card(&self) -> &ModelCard {
        &self.info.card
    }

    /// Everything `GET /v1/model` (or `GET /v1/models/{name}`) answered
    /// (limits included).
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The names of every model the server serves, its default first
    /// (empty for a server older than model names, which serves one).
    pub fn models(&self) -> &[String] {
        &self.info.models
    }

    /// The name of this client's model: the one given to
    /// [`RemoteServer::connect_model`], or, after
    /// [`RemoteServer::connect`], the name the server gives its default
    /// model (`None` for a server older than model names).
    pub fn model_name(&self) -> Option<&str> {
        self.model.as_deref().or(self.info.name.as_deref())
    }

    /// `GET /v1/models`: every served model with its fingerprint,
    /// dimensions and pretraining sources (without fetching each card).
    ///
    /// # Errors
    /// Transport failures or refusals (`404 not_found` from a server older
    /// than model names), or an answer that is not a valid model list.
    pub fn list_models(&self) -> Result<ModelList, Error> {
        let body = self
            .transport
            .request("GET", protocol::MODELS_PATH, None, MAX_JSON_BYTES)?;
        let list: ModelList = serde_json::from_slice(&body).map_err(|source| Error::Json {
            what: format!("GET {}: not a model list", protocol::MODELS_PATH),
            source,
        })?;
        if list.protocol_version != PROTOCOL_VERSION {
            return Err(Error::ProtocolVersion {
                server: list.protocol_version,
                client: PROTOCOL_VERSION,
            });
        }
        if !list
            .models
            .iter()
            .all(|m| protocol::is_valid_model_name(&m.name))
            || list.models.first().map(|m| &m.name) != Some(&list.default)
        {
            return Err(Error::BadAnswer("a malformed model list"));
        }
        Ok(list)
    }

    /// Uploads serialized evaluation keys and opens a session on this
    /// client's model.
    ///
    /// # Errors
    /// Transport failures or refusals (malformed or foreign keys: 400).
    pub fn open_session(&self, evaluation_keys: &[u8]) -> Result<RemoteSession, Error> {
        let sessions_path = protocol::sessions_path_for(self.model.as_deref());
        let id = create_session(&self.transport, &sessions_path, evaluation_keys)?;
        Ok(RemoteSession {
            transport: self.transport.clone(),
            sessions_path,
            keys: evaluation_keys.to_vec(),
            id: Mutex::new(id),
            max_batch_samples: self.info.max_batch_samples,
            closed: false,
        })
    }

    /// `GET /v1/health`, as JSON text.
    ///
    /// # Errors
    /// Transport failures or refusals.
    pub fn health(&self) -> Result<protocol::Health, Error> {
        let body = self
            .transport
            .request("GET", protocol::HEALTH_PATH, None, MAX_JSON_BYTES)?;
        serde_json::from_slice(&body).map_err(|source| Error::Json {
            what: "health".into(),
            source,
        })
    }
}

/// Fetches and checks a model description (`GET /v1/model` or
/// `GET /v1/models/{name}`): protocol version, the card (128-bit security),
/// fingerprints against the card, and well-formed model names.
fn fetch_info(transport: &Transport, path: &str) -> Result<ModelInfo, Error> {
    let body = transport.request("GET", path, None, MAX_JSON_BYTES)?;
    let info: ModelInfo = serde_json::from_slice(&body).map_err(|source| Error::Json {
        what: format!("GET {path}: not a model description"),
        source,
    })?;
    if info.protocol_version != PROTOCOL_VERSION {
        return Err(Error::ProtocolVersion {
            server: info.protocol_version,
            client: PROTOCOL_VERSION,
        });
    }
    let params = info.card.validate()?;
    if info.model_fingerprint != info.card.model_fingerprint
        || info.parameters_fingerprint != params.fingerprint().to_string()
    {
        return Err(Error::BadAnswer(
            "the server's fingerprints disagree with its card",
        ));
    }
    let names_valid = info
        .models
        .iter()
        .chain(&info.name)
        .all(|n| protocol::is_valid_model_name(n));
    let name_listed = match &info.name {
        Some(name) => info.models.is_empty() || info.models.contains(name),
        None => true,
    };
    if !names_valid || !name_listed {
        return Err(Error::BadAnswer("malformed model names"));
    }
    Ok(info)
}

/// Opens a session at `path` (`/v1/sessions`, with `?model=NAME` for a
/// named model).
fn create_session(transport: &Transport, path: &str, keys: &[u8]) -> Result<String, Error> {
    let body = transport.request("POST", path, Some(keys), MAX_JSON_BYTES)?;
    let created: SessionCreated = serde_json::from_slice(&body).map_err(|source| Error::Json {
        what: format!("POST {path}: not a session"),
        source,
    })?;
    if !crate::sessions::is_well_formed_id(&created.session_id) {
        return Err(Error::BadAnswer("a malformed session id"));
    }
    Ok(created.session_id)
}

/// A session on a remote server: evaluates batches over HTTP. If the
/// server lost the session (idle TTL, eviction, another replica), the
/// session is opened again with the same keys, on the same model, and the
/// request repeated, once. Dropping it deletes the session on the server
/// (best effort).
#[derive(Debug)]
pub struct RemoteSession {
    transport: Transport,
    /// Where sessions are opened (with the model's `?model=NAME`, if named).
    sessions_path: String,
    keys: Vec<u8>,
    id: Mutex<String>,
    max_batch_samples: usize,
    closed: bool,
}

impl RemoteSession {
    /// The current session id (a secret: it lets its holder use the keys).
    pub fn id(&self) -> String {
        self.id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Most samples the server evaluates per request.
    pub fn max_batch_samples(&self) -> usize {
        self.max_batch_samples
    }

    /// Deletes the session on the server.
    ///
    /// # Errors
    /// Transport failures or refusals.
    pub fn close(mut self) -> Result<(), Error> {
        let path = protocol::session_path(&self.id());
        self.closed = true;
        self.transport
            .request("DELETE", &path, None, MAX_JSON_BYTES)
            .map(drop)
    }

    fn evaluate_once(
        &self,
        request: &[u8],
        progress: &mut dyn FnMut(Transfer),
    ) -> Result<Vec<u8>, Error> {
        let path = protocol::evaluate_path(&self.id());
        self.transport.request_with_progress(
            "POST",
            &path,
            Some(request),
            MAX_RESPONSE_BYTES,
            progress,
        )
    }
}

impl EncryptedEvaluation for RemoteSession {
    fn evaluate_request(&self, request: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        self.evaluate_request_with_progress(request, &mut |_| {})
    }

    /// Reports the upload as ureq sends the body and the download as the
    /// (streamed) response arrives; a retried attempt reports from zero.
    fn evaluate_request_with_progress(
        &self,
        request: &[u8],
        progress: &mut dyn FnMut(Transfer),
    ) -> Result<Vec<u8>, ProtocolError> {
        match self.evaluate_once(request, progress) {
            Err(e) if session_gone(&e) => {
                let id = create_session(&self.transport, &self.sessions_path, &self.keys)?;
                *self
                    .id
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = id;
                Ok(self.evaluate_once(request, progress)?)
            }
            other => Ok(other?),
        }
    }

    fn max_batch_samples(&self) -> Option<usize> {
        Some(RemoteSession::max_batch_samples(self))
    }
}

impl Drop for RemoteSession {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let path = protocol::session_path(&self.id());
        let _ = self
            .transport
            .attempt("DELETE", &path, None, MAX_JSON_BYTES, &mut |_| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_honours_retry_after() {
        let p = RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let within = |d: Duration, lo: u64, hi: u64| {
            d >= Duration::from_millis(lo) && d <= Duration::from_millis(hi)
        };
        assert!(within(p.delay(0, None), 100, 150));
        assert!(within(p.delay(2, None), 400, 600));
        assert_eq!(p.delay(30, None), Duration::from_secs(1));
        // Retry-After is a lower bound, the cap still applies.
        assert!(within(
            p.delay(0, Some(Duration::from_millis(600))),
            600,
            900
        ));
        assert!(within(
            p.delay(3, Some(Duration::from_millis(300))),
            800,
            1000
        ));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(60))),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn urls_must_be_http() {
        assert!(Transport::new("ftp://x", ClientOptions::default()).is_err());
        assert!(Transport::new("http://127.0.0.1:1/", ClientOptions::default()).is_ok());
    }

    #[test]
    fn error_bodies_become_remote_errors() {
        let e = remote_error(
            503,
            br#"{"protocol_version":1,"error":"server_busy","message":"busy"}"#,
        );
        assert!(matches!(e, Error::Remote { status: 503, ref code, .. } if code == "server_busy"));
        let e = remote_error(502, b"<html>");
        assert!(matches!(e, Error::Remote { status: 502, .. }));
        assert!(session_gone(&remote_error(
            410,
            br#"{"protocol_version":1,"error":"session_expired","message":"x"}"#
        )));
    }
}
