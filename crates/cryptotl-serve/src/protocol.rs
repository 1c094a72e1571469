//! The HTTP protocol between a cryptotl client and `cryptotl serve`: paths,
//! headers, JSON messages and error codes, all in one place.
//!
//! Every endpoint lives under `/v1` ([`PROTOCOL_VERSION`] 1); every JSON
//! message carries a `protocol_version` field and every response a
//! [`PROTOCOL_HEADER`] header, so a client can refuse a server it does not
//! speak. Binary bodies (evaluation keys, ciphertext batches, encrypted
//! features) use the `cryptotl-he` wire format unchanged (its own 32-byte
//! header carries a format version and the HE parameter fingerprint).
//! docs/protocol.md documents the same in prose.

use serde::{Deserialize, Serialize};

use cryptotl_protocol::ModelCard;

/// Version of this protocol; the path prefix is `/v{PROTOCOL_VERSION}`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Response header carrying the protocol version.
pub const PROTOCOL_HEADER: &str = "x-cryptotl-protocol";

/// Content type of binary bodies (keys, batches, features).
pub const OCTET_STREAM: &str = "application/octet-stream";

/// `GET`: the default model's card and fingerprints ([`ModelInfo`]).
pub const MODEL_PATH: &str = "/v1/model";
/// `GET`: every served model ([`ModelList`]); `GET {MODELS_PATH}/{name}`:
/// one model's [`ModelInfo`] ([`model_path`]).
pub const MODELS_PATH: &str = "/v1/models";
/// `POST` evaluation keys: opens a session ([`SessionCreated`]) on the
/// default model, or on the model named by `?model=NAME`
/// ([`sessions_path_for`]).
pub const SESSIONS_PATH: &str = "/v1/sessions";
/// The query parameter of `POST /v1/sessions` that names the model.
pub const MODEL_QUERY: &str = "model";
/// The name a server serving a single model gives it.
pub const DEFAULT_MODEL_NAME: &str = "default";
/// Longest model name, in bytes (names are ASCII).
pub const MAX_MODEL_NAME_LEN: usize = 64;

/// Why a model name is not valid, or `Ok` for a valid one: 1 to
/// [`MAX_MODEL_NAME_LEN`] characters of `[a-z0-9._-]`, the first a letter or
/// a digit (so that a name is never `.` or `..`, which URL handling would
/// treat as a path step). Valid names need no escaping in paths, queries,
/// logs or metrics.
///
/// # Errors
/// A short reason (never the name itself).
pub fn check_model_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a model name must not be empty");
    }
    if name.len() > MAX_MODEL_NAME_LEN {
        return Err("a model name has at most 64 characters");
    }
    let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c);
    if !name.bytes().all(allowed) {
        return Err("a model name may only hold a-z, 0-9, `.`, `_` and `-`");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("a model name must start with a letter or a digit");
    }
    Ok(())
}

/// Whether `name` is a valid model name ([`check_model_name`]).
pub fn is_valid_model_name(name: &str) -> bool {
    check_model_name(name).is_ok()
}

/// A valid model name made from arbitrary text (a directory name, say):
/// lower-cased, every character outside `[a-z0-9._-]` replaced by `-`,
/// leading characters other than letters and digits dropped, cut to
/// [`MAX_MODEL_NAME_LEN`]; `model` if nothing is left.
pub fn sanitize_model_name(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(MAX_MODEL_NAME_LEN)
        .collect();
    if mapped.is_empty() {
        "model".to_owned()
    } else {
        mapped
    }
}

/// Path of one served model's description (`GET`, [`ModelInfo`]). The name
/// must be valid ([`check_model_name`]); valid names need no escaping.
pub fn model_path(name: &str) -> String {
    format!("{MODELS_PATH}/{name}")
}

/// Path that opens a session (`POST`): on the default model for `None`,
/// else on the named one (`/v1/sessions?model=NAME`; the name must be valid).
pub fn sessions_path_for(model: Option<&str>) -> String {
    match model {
        None => SESSIONS_PATH.to_owned(),
        Some(name) => format!("{SESSIONS_PATH}?{MODEL_QUERY}={name}"),
    }
}
/// `GET`: liveness and load ([`Health`]).
pub const HEALTH_PATH: &str = "/v1/health";
/// `GET`: Prometheus text metrics (not versioned, by convention).
pub const METRICS_PATH: &str = "/metrics";

/// Path of one session (`DELETE` closes it).
pub fn session_path(id: &str) -> String {
    format!("{SESSIONS_PATH}/{id}")
}

/// Path that evaluates one batch for a session (`POST`, binary body).
pub fn evaluate_path(id: &str) -> String {
    format!("{SESSIONS_PATH}/{id}/evaluate")
}

/// `GET /v1/model` (the default model) and `GET /v1/models/{name}`: what a
/// client needs to encrypt for one served model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The name this model is served under (`None` from servers older than
    /// model names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The names of every model the server serves, the default first
    /// (empty from servers older than model names).
    #[serde(default)]
    pub models: Vec<String>,
    /// SHA-256 of the served model (hex), as in the card.
    pub model_fingerprint: String,
    /// Fingerprint of the HE parameters (hex), as in every wire header.
    pub parameters_fingerprint: String,
    /// Largest number of samples one evaluate request may hold.
    pub max_batch_samples: usize,
    /// Largest request body the server accepts, in bytes.
    pub max_body_bytes: usize,
    /// The model card (never weights).
    pub card: ModelCard,
}

/// One entry of `GET /v1/models` ([`ModelList`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// The name to use in `GET /v1/models/{name}` and
    /// `POST /v1/sessions?model={name}`.
    pub name: String,
    /// SHA-256 of the served model (hex), as in its card.
    pub model_fingerprint: String,
    /// Number of input features.
    pub input_dim: usize,
    /// Number of output features.
    pub output_dim: usize,
    /// The public data sets the model was pretrained on, from its card
    /// (`card.sources`; empty when the model does not say).
    #[serde(default)]
    pub sources: Vec<String>,
}

/// `GET /v1/models` answer: every served model, the default first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelList {
    /// [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The default model's name (the one `GET /v1/model` describes and
    /// `POST /v1/sessions` without `?model=` opens sessions on).
    pub default: String,
    /// The served models, the default first.
    pub models: Vec<ModelSummary>,
}

/// `POST /v1/sessions` answer (status 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    /// [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The session id: 128 random bits, hex. Treat it as a secret.
    pub session_id: String,
    /// The session expires after this many seconds without use.
    pub idle_ttl_seconds: u64,
}

/// `GET /v1/health` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// `"ok"`, or `"draining"` during shutdown.
    pub status: String,
    /// Open sessions.
    pub sessions: usize,
    /// Evaluations running now.
    pub evaluations_in_flight: usize,
}

/// The body of every error response (4xx and 5xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// Machine-readable code.
    pub error: ErrorCode,
    /// Human-readable reason.
    pub message: String,
}

/// Machine-readable error codes, each with one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: a body that is not a valid message (truncated, garbled, wrong kind).
    MalformedRequest,
    /// 400: evaluation keys that do not parse or do not fit the parameters.
    MalformedKeys,
    /// 400: data made under other HE parameters (fingerprint mismatch).
    ForeignParameters,
    /// 401: missing or wrong bearer token.
    Unauthorized,
    /// 404: no such session (never opened, or deleted).
    UnknownSession,
    /// 404: the server serves no model of that name.
    UnknownModel,
    /// 404: no such endpoint.
    NotFound,
    /// 405: wrong method for the endpoint.
    MethodNotAllowed,
    /// 408: the request body did not arrive in time.
    RequestTimeout,
    /// 410: the session expired (idle longer than its TTL).
    SessionExpired,
    /// 410: the session was evicted to make room (server memory cap).
    SessionEvicted,
    /// 413: the body is larger than the server's limit.
    BodyTooLarge,
    /// 413: the batch holds more samples than the server's limit.
    BatchTooLarge,
    /// 415: wrong content type.
    UnsupportedMediaType,
    /// 429: too many sessions are open; retry later.
    TooManySessions,
    /// 503: all evaluation slots are busy; retry after `Retry-After` seconds.
    ServerBusy,
    /// 503: the server is shutting down.
    ShuttingDown,
    /// 503: the evaluation did not finish within the server's time limit.
    EvaluationTimeout,
    /// 500: a server-side failure.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::MalformedRequest
            | ErrorCode::MalformedKeys
            | ErrorCode::ForeignParameters => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::UnknownSession | ErrorCode::UnknownModel | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::SessionExpired | ErrorCode::SessionEvicted => 410,
            ErrorCode::BodyTooLarge | ErrorCode::BatchTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::TooManySessions => 429,
            ErrorCode::ServerBusy | ErrorCode::ShuttingDown | ErrorCode::EvaluationTimeout => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The code as it appears in JSON (`"server_busy"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::MalformedKeys => "malformed_keys",
            ErrorCode::ForeignParameters => "foreign_parameters",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnknownSession => "unknown_session",
            ErrorCode::UnknownModel => "unknown_model",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::SessionExpired => "session_expired",
            ErrorCode::SessionEvicted => "session_evicted",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::BatchTooLarge => "batch_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::TooManySessions => "too_many_sessions",
            ErrorCode::ServerBusy => "server_busy",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::EvaluationTimeout => "evaluation_timeout",
            ErrorCode::Internal => "internal",
        }
    }

    /// Whether a client may retry the same request later (after
    /// `Retry-After`).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::TooManySessions | ErrorCode::ServerBusy | ErrorCode::ShuttingDown
        )
    }

    /// Whether the session is gone: a client holding its keys can open a new
    /// one and repeat the request.
    pub fn session_gone(self) -> bool {
        matches!(
            self,
            ErrorCode::UnknownSession | ErrorCode::SessionExpired | ErrorCode::SessionEvicted
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Size of the wire header plus the batch body's fixed prefix
/// (`samples: u32, count: u32, level: u8, 3 reserved`).
const BATCH_PREFIX_LEN: usize = cryptotl_he::wire::HEADER_LEN + 12;

/// The `(samples, ciphertexts)` a serialized batch announces, read from its
/// headers without parsing it; `None` if the bytes are too short or not a
/// ciphertext batch (full validation happens later and reports why).
pub fn peek_batch_shape(bytes: &[u8]) -> Option<(usize, usize)> {
    if bytes.len() < BATCH_PREFIX_LEN
        || bytes[0..4] != cryptotl_he::wire::MAGIC
        || bytes[6] != cryptotl_he::wire::Kind::CiphertextBatch as u8
    {
        return None;
    }
    let h = cryptotl_he::wire::HEADER_LEN;
    let word = |at: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&bytes[at..at + 4]);
        u32::from_le_bytes(w) as usize
    };
    Some((word(h), word(h + 4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_their_names() {
        for code in [
            ErrorCode::MalformedRequest,
            ErrorCode::ServerBusy,
            ErrorCode::SessionExpired,
            ErrorCode::BatchTooLarge,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert_eq!(ErrorCode::ServerBusy.status(), 503);
        assert!(ErrorCode::ServerBusy.is_retryable());
        assert!(!ErrorCode::MalformedKeys.is_retryable());
    }

    #[test]
    fn model_names_are_checked_strictly() {
        for good in ["default", "a", "0", "minilm-l6.v2_x", &"a".repeat(64)] {
            assert_eq!(check_model_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "-a",
            "_a",
            ".hidden",
            "A",
            "Model",
            "a b",
            "a/b",
            "a%2fb",
            "a?b",
            "a=b",
            "a&b",
            "é",
            "a\u{0}",
            &"a".repeat(65),
        ] {
            assert!(check_model_name(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            ErrorCode::UnknownModel.as_str(),
            serde_json::to_value(ErrorCode::UnknownModel).unwrap()
        );
        assert_eq!(ErrorCode::UnknownModel.status(), 404);
        assert_eq!(model_path("b"), "/v1/models/b");
        assert_eq!(sessions_path_for(None), "/v1/sessions");
        assert_eq!(sessions_path_for(Some("b")), "/v1/sessions?model=b");
    }

    #[test]
    fn sanitized_names_are_valid() {
        assert_eq!(sanitize_model_name("MiniLM L6"), "minilm-l6");
        assert_eq!(sanitize_model_name("..//x"), "x");
        assert_eq!(sanitize_model_name("café"), "caf-");
        assert_eq!(sanitize_model_name(""), "model");
        assert_eq!(sanitize_model_name("..."), "model");
        assert_eq!(sanitize_model_name(&"Z".repeat(100)), "z".repeat(64));
        for raw in [
            "",
            "-",
            "Ünïcødé/../..",
            "a b c",
            "x\u{0}y",
            &"ß".repeat(80),
        ] {
            let name = sanitize_model_name(raw);
            assert!(is_valid_model_name(&name), "{raw:?} gave {name:?}");
        }
    }

    #[test]
    fn peeking_short_or_foreign_bytes_gives_none() {
        assert_eq!(peek_batch_shape(&[]), None);
        assert_eq!(peek_batch_shape(&[0u8; 64]), None);
    }
}
