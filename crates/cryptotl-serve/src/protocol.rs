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

/// `GET`: the model card and fingerprints ([`ModelInfo`]).
pub const MODEL_PATH: &str = "/v1/model";
/// `POST` evaluation keys: opens a session ([`SessionCreated`]).
pub const SESSIONS_PATH: &str = "/v1/sessions";
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

/// `GET /v1/model`: what a client needs to encrypt for this server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
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
            ErrorCode::UnknownSession | ErrorCode::NotFound => 404,
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
    fn peeking_short_or_foreign_bytes_gives_none() {
        assert_eq!(peek_batch_shape(&[]), None);
        assert_eq!(peek_batch_shape(&[0u8; 64]), None);
    }
}
