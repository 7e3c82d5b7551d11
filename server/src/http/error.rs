//! `AppError`: every REST failure by its cause, and the one place HTTP status codes are chosen.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::docs::DocError;
use crate::storage::StorageError;

/// An error answered as JSON `{ "error": "…" }`, named by its cause (the status follows).
#[derive(Debug)]
pub enum AppError {
    /// No such thing, or one the caller may not know exists (404).
    Missing(String),
    /// The request itself is malformed or out of bounds (400).
    Invalid(String),
    /// The request no longer fits what is stored: it exists already, changed since it was
    /// read, or would leave a spec without an owner (409).
    Conflict(String),
    /// No, malformed, expired or revoked credentials (401).
    NotSignedIn(String),
    /// Signed in, but not allowed (or a cookie from another origin) (403).
    NotAllowed(String),
    /// A share link that expired or was revoked (410).
    Expired(String),
    /// Slow down; retry after this many seconds (429).
    RateLimited(String, u64),
    /// The server's own failure; details are logged, the client gets a generic message (500).
    Internal(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::Missing(m) => (StatusCode::NOT_FOUND, m),
            AppError::Invalid(m) => (StatusCode::BAD_REQUEST, m),
            AppError::Conflict(m) => (StatusCode::CONFLICT, m),
            AppError::NotSignedIn(m) => (StatusCode::UNAUTHORIZED, m),
            AppError::NotAllowed(m) => (StatusCode::FORBIDDEN, m),
            AppError::Expired(m) => (StatusCode::GONE, m),
            AppError::RateLimited(m, secs) => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, secs.to_string())],
                    Json(serde_json::json!({ "error": m })),
                )
                    .into_response()
            }
            AppError::Internal(detail) => {
                tracing::error!("internal error: {detail}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal server error".to_owned(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<DocError> for AppError {
    fn from(e: DocError) -> Self {
        match e {
            DocError::NotFound => AppError::Missing("no such spec".into()),
            DocError::AlreadyExists => AppError::Conflict(e.to_string()),
            DocError::LastOwner => AppError::Conflict(e.to_string()),
            DocError::Forbidden(m) => AppError::NotAllowed(m),
            DocError::BadVersion(m) => AppError::Invalid(m),
            DocError::Conflict(m) => AppError::Conflict(m),
            DocError::NoSuchItem(m) => AppError::Missing(m),
            other => AppError::Internal(other.to_string()),
        }
    }
}
