//! Every error the API answers: JSON `{success: false, error, code}` with a
//! stable machine-readable `code` and an HTTP status. `error` is the field
//! name the old service used for the message; clients read it.

use axum::extract::multipart::MultipartError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use wjp_queue::QueueError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// A job kind the clients know of that this build cannot run yet.
    pub fn not_implemented(kind: &str, what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            format!(
                "{what} is not available in this build: the job kind {kind:?} has no handler yet"
            ),
        )
    }

    pub fn too_large(limit: u64) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the upload is larger than the limit of {} bytes ({:.1} MB)",
                limit,
                limit as f64 / 1e6
            ),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

/// The JSON body of an error, shared with the middleware that turns
/// framework-made error responses into JSON.
pub fn error_body(message: &str, code: &str) -> serde_json::Value {
    json!({ "success": false, "error": message, "code": code })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code, error = %self.message, "request failed");
        }
        (self.status, Json(error_body(&self.message, self.code))).into_response()
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        ApiError::new(queue_error_status(&e), e.code(), e.to_string())
    }
}

fn queue_error_status(e: &QueueError) -> StatusCode {
    match e {
        QueueError::NotFound(_) => StatusCode::NOT_FOUND,
        QueueError::InvalidTransition { .. } => StatusCode::CONFLICT,
        QueueError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        QueueError::Storage(_) | QueueError::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        // A queue at its waiting quota: the client should come back later.
        QueueError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
        QueueError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        // The refused job of a batch answers for the batch.
        QueueError::InBatch { error, .. } => queue_error_status(error),
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = match &r {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "invalid_json",
        };
        ApiError::new(status, code, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> Self {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else {
            "invalid_multipart"
        };
        ApiError::new(status, code, e.body_text())
    }
}

impl From<axum::extract::multipart::MultipartRejection> for ApiError {
    fn from(r: axum::extract::multipart::MultipartRejection) -> Self {
        ApiError::new(r.status(), "invalid_multipart", r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wjp_queue::catalog::{Quotas, WaitingQuota};

    #[test]
    fn quota_refusals_are_429_and_413_even_inside_a_batch() {
        let full = || QueueError::QueueFull {
            queue: "default".into(),
            quota: WaitingQuota::Jobs,
            current: 3,
            adding: 1,
            limit: 3,
        };
        let e = ApiError::from(full());
        assert_eq!(
            (e.status, e.code),
            (StatusCode::TOO_MANY_REQUESTS, "queue_full")
        );
        assert!(e.message.contains("--max-waiting-jobs"), "{}", e.message);
        let e = ApiError::from(QueueError::InBatch {
            position: 2,
            error: Box::new(full()),
        });
        assert_eq!(
            (e.status, e.code),
            (StatusCode::TOO_MANY_REQUESTS, "queue_full")
        );
        let big = Quotas::default().check_payload(5 << 20).unwrap_err();
        let e = ApiError::from(big);
        assert_eq!(
            (e.status, e.code),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
        let e = ApiError::from(QueueError::InvalidRequest("x".into()));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
