//! Error answers: a status, a JSON [`ErrorBody`], and `Retry-After` for
//! answers a client should retry.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cryptotl_he::HeError;

use crate::protocol::{ErrorBody, ErrorCode, PROTOCOL_VERSION};
use crate::sessions::Missing;
use cryptotl_protocol::ProtocolError as Error;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// The code (it decides the status).
    pub code: ErrorCode,
    /// A readable reason, without key or ciphertext bytes.
    pub message: String,
    /// `Retry-After` seconds, for retryable answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a message.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds `Retry-After`.
    pub(crate) fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The answer for a session id that does not resolve.
    pub(crate) fn missing_session(why: Missing) -> Self {
        match why {
            Missing::Unknown => Self::new(
                ErrorCode::UnknownSession,
                "no such session: open one with POST /v1/sessions",
            ),
            Missing::Expired => Self::new(
                ErrorCode::SessionExpired,
                "the session expired after its idle TTL: open a new one",
            ),
            Missing::Evicted => Self::new(
                ErrorCode::SessionEvicted,
                "the session was evicted to make room for newer sessions: open a new one",
            ),
        }
    }

    /// Maps a request error from the library: bad keys or batches are the
    /// client's fault (400); anything else is the server's (500).
    pub(crate) fn from_library(e: &Error, keys: bool) -> Self {
        let code = match e {
            Error::He(HeError::ForeignParameters { .. }) => ErrorCode::ForeignParameters,
            Error::He(_) | Error::InvalidRequest(_) if keys => ErrorCode::MalformedKeys,
            Error::He(_) | Error::InvalidRequest(_) => ErrorCode::MalformedRequest,
            Error::Graph(cryptotl_graph::GraphError::InvalidInput(_)) => {
                ErrorCode::MalformedRequest
            }
            _ => ErrorCode::Internal,
        };
        let what = if keys { "evaluation keys" } else { "batch" };
        let message = match code {
            ErrorCode::Internal => format!("the {what} could not be processed: {e}"),
            ErrorCode::ForeignParameters => format!(
                "the {what} were made for other HE parameters (fetch GET /v1/model and use its \
                 card): {e}"
            ),
            _ => format!("invalid {what}: {e}"),
        };
        Self::new(code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            protocol_version: PROTOCOL_VERSION,
            error: self.code,
            message: self.message,
        };
        let mut response = (status, axum::Json(body)).into_response();
        // For the request log.
        response.extensions_mut().insert(self.code);
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
