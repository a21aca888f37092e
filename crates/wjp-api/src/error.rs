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

/// Every code the API answers with, and its HTTP status, in one table.
/// The engine's and the file store's errors keep their own codes
/// (`QueueError::code`, `PathError::code`) and get the status the API
/// gives them ([`Code::Queue`], [`Code::Store`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A JSON body or parameter that does not parse or has the wrong shape.
    InvalidJson,
    /// A query string that does not parse.
    InvalidQuery,
    /// A field (of a JSON body, a form or a query string) the endpoint does
    /// not know; the message names the closest known one.
    UnknownField,
    /// A number outside its range; the message names the bounds.
    OutOfRange,
    /// A value of the wrong type, or not one of the allowed values (which the
    /// message lists).
    InvalidValue,
    /// A multipart form that does not parse.
    InvalidMultipart,
    /// A multipart form without the file field the endpoint needs.
    MissingField,
    /// A request the framework refused before any handler saw it.
    BadRequest,
    /// One of the engine's test kinds, which this server does not serve over HTTP.
    KindNotServed,
    /// No API key on a request that needs one.
    MissingApiKey,
    /// A wrong API key.
    InvalidApiKey,
    /// No job with this id (or its record expired).
    JobNotFound,
    /// No schedule of this name.
    ScheduleNotFound,
    /// No remnant of this id in the inventory.
    RemnantNotFound,
    /// The remnant inventory holds as many as it may.
    RemnantInventoryFull,
    /// No managed folder of this name.
    FolderNotFound,
    /// The job's result lists no artefact of this name.
    ArtefactNotFound,
    /// The job has not completed, so its files do not exist yet.
    ArtefactNotReady,
    /// No dashboard asset of this name.
    AssetNotFound,
    /// No endpoint at this path.
    RouteNotFound,
    /// The endpoint exists, not with this method.
    MethodNotAllowed,
    /// The request body stalled.
    RequestBodyTimeout,
    /// A body or upload over its limit.
    PayloadTooLarge,
    /// A body of a type the endpoint does not read.
    UnsupportedMediaType,
    /// A bug or a failure of the server's own; logged.
    Internal,
    /// A shop job kind this build does not run.
    NotImplemented,
    /// A browser page of an origin that may not open a WebSocket here.
    OriginNotAllowed,
    /// A WebSocket endpoint asked without the upgrade headers.
    UpgradeRequired,
    /// Every slot for synchronous work is taken; comes with Retry-After.
    ServerBusy,
    /// The client holds too many connections; comes with Retry-After.
    TooManyConnections,
    /// An error of the queue engine, by its code.
    Queue(&'static str, StatusCode),
    /// A refused path of the managed folders, by its code.
    Store(&'static str, StatusCode),
}

impl Code {
    /// The stable name clients see in `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidJson => "invalid_json",
            Code::InvalidQuery => "invalid_query",
            Code::UnknownField => "unknown_field",
            Code::OutOfRange => "out_of_range",
            Code::InvalidValue => "invalid_value",
            Code::InvalidMultipart => "invalid_multipart",
            Code::MissingField => "missing_field",
            Code::BadRequest => "bad_request",
            Code::KindNotServed => "kind_not_served",
            Code::MissingApiKey => "missing_api_key",
            Code::InvalidApiKey => "invalid_api_key",
            Code::JobNotFound => "job_not_found",
            Code::ScheduleNotFound => "schedule_not_found",
            Code::RemnantNotFound => "remnant_not_found",
            Code::RemnantInventoryFull => "remnant_inventory_full",
            Code::FolderNotFound => "folder_not_found",
            Code::ArtefactNotFound => "artefact_not_found",
            Code::ArtefactNotReady => "artefact_not_ready",
            Code::AssetNotFound => "asset_not_found",
            Code::RouteNotFound => "route_not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::RequestBodyTimeout => "request_body_timeout",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::Internal => "internal_error",
            Code::NotImplemented => "not_implemented",
            Code::OriginNotAllowed => "origin_not_allowed",
            Code::UpgradeRequired => "upgrade_required",
            Code::ServerBusy => "server_busy",
            Code::TooManyConnections => "too_many_connections",
            Code::Queue(code, _) | Code::Store(code, _) => code,
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Code::InvalidJson
            | Code::InvalidQuery
            | Code::UnknownField
            | Code::OutOfRange
            | Code::InvalidValue
            | Code::InvalidMultipart
            | Code::MissingField
            | Code::BadRequest
            | Code::KindNotServed => StatusCode::BAD_REQUEST,
            Code::MissingApiKey | Code::InvalidApiKey => StatusCode::UNAUTHORIZED,
            Code::JobNotFound
            | Code::ScheduleNotFound
            | Code::RemnantNotFound
            | Code::FolderNotFound
            | Code::ArtefactNotFound
            | Code::ArtefactNotReady
            | Code::AssetNotFound
            | Code::RouteNotFound => StatusCode::NOT_FOUND,
            Code::RemnantInventoryFull => StatusCode::CONFLICT,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::OriginNotAllowed => StatusCode::FORBIDDEN,
            Code::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            Code::RequestBodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Code::ServerBusy | Code::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
            Code::Queue(_, status) | Code::Store(_, status) => status,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// Seconds after which the client may try again (`Retry-After`).
    pub retry_after_secs: Option<u32>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// Every slot for work done during a request is taken: 503, try again
    /// shortly.
    pub fn busy(message: impl Into<String>) -> Self {
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(Code::ServerBusy, message)
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(Code::Internal, message)
    }

    /// A job kind the clients know of that this build cannot run yet.
    pub fn not_implemented(kind: &str, what: &str) -> Self {
        ApiError::new(
            Code::NotImplemented,
            format!(
                "{what} is not available in this build: the job kind {kind:?} has no handler yet"
            ),
        )
    }

    pub fn too_large(limit: u64) -> Self {
        ApiError::new(
            Code::PayloadTooLarge,
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
        write!(
            f,
            "{} ({}): {}",
            self.status(),
            self.code.as_str(),
            self.message
        )
    }
}

/// The closest of `known` to `given`, when it is close enough to be what
/// was meant: the engine's one measure, so the API's suggestions and the
/// engine's agree.
pub use wjp_queue::suggest::closest;

/// The message of an unknown field, the same at every door:
/// `unknown field "materail"; did you mean "material"?`, or the known ones
/// when none is close.
pub fn unknown_field_message<'a>(
    given: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    match closest(given, known.clone()) {
        Some(near) => format!("unknown field {given:?}; did you mean {near:?}?"),
        None => {
            let mut names: Vec<&str> = known.into_iter().collect();
            names.sort_unstable();
            names.dedup();
            format!(
                "unknown field {given:?}; known fields: {}",
                names.join(", ")
            )
        }
    }
}

/// The JSON body of an error, shared with the middleware that turns
/// framework-made error responses into JSON.
pub fn error_body(message: &str, code: Code) -> serde_json::Value {
    json!({ "success": false, "error": message, "code": code.as_str() })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(%status, code = self.code.as_str(), error = %self.message, "request failed");
        }
        let mut response = (status, Json(error_body(&self.message, self.code))).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        ApiError::new(Code::Queue(e.code(), queue_error_status(&e)), e.to_string())
    }
}

fn queue_error_status(e: &QueueError) -> StatusCode {
    match e {
        QueueError::NotFound(_) => StatusCode::NOT_FOUND,
        QueueError::PayloadRefused(refusal) if refusal.not_found => StatusCode::NOT_FOUND,
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
        let code = match &r {
            JsonRejection::MissingJsonContentType(_) => Code::UnsupportedMediaType,
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Code::PayloadTooLarge
            }
            _ => Code::InvalidJson,
        };
        ApiError::new(code, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(Code::InvalidQuery, r.body_text())
    }
}

/// The code of a multipart failure with the framework's status.
fn multipart_code(status: StatusCode) -> Code {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        s if s.is_server_error() => Code::Internal,
        _ => Code::InvalidMultipart,
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> Self {
        ApiError::new(multipart_code(e.status()), e.body_text())
    }
}

impl From<axum::extract::multipart::MultipartRejection> for ApiError {
    fn from(r: axum::extract::multipart::MultipartRejection) -> Self {
        ApiError::new(multipart_code(r.status()), r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_a_distinct_snake_case_name_with_an_error_status() {
        let codes = [
            Code::InvalidJson,
            Code::InvalidQuery,
            Code::UnknownField,
            Code::OutOfRange,
            Code::InvalidValue,
            Code::InvalidMultipart,
            Code::MissingField,
            Code::BadRequest,
            Code::KindNotServed,
            Code::MissingApiKey,
            Code::InvalidApiKey,
            Code::JobNotFound,
            Code::ScheduleNotFound,
            Code::RemnantNotFound,
            Code::RemnantInventoryFull,
            Code::FolderNotFound,
            Code::ArtefactNotFound,
            Code::ArtefactNotReady,
            Code::AssetNotFound,
            Code::RouteNotFound,
            Code::MethodNotAllowed,
            Code::RequestBodyTimeout,
            Code::PayloadTooLarge,
            Code::UnsupportedMediaType,
            Code::Internal,
            Code::NotImplemented,
            Code::ServerBusy,
            Code::TooManyConnections,
        ];
        let mut names: Vec<_> = codes.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), codes.len(), "two codes share a name");
        for code in codes {
            let name = code.as_str();
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{name}"
            );
        }
        let queue: ApiError = QueueError::InvalidJobId("x y".into()).into();
        assert_eq!(
            (queue.status(), queue.code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_job_id")
        );
    }

    #[test]
    fn quota_refusals_are_429_and_413_even_inside_a_batch() {
        use wjp_queue::catalog::{Quotas, WaitingQuota};
        let full = || QueueError::QueueFull {
            queue: "default".into(),
            quota: WaitingQuota::Jobs,
            current: 3,
            adding: 1,
            limit: 3,
        };
        let e = ApiError::from(full());
        assert_eq!(
            (e.status(), e.code.as_str()),
            (StatusCode::TOO_MANY_REQUESTS, "queue_full")
        );
        assert!(e.message.contains("--max-waiting-jobs"), "{}", e.message);
        let e = ApiError::from(QueueError::InBatch {
            position: 2,
            error: Box::new(full()),
        });
        assert_eq!(
            (e.status(), e.code.as_str()),
            (StatusCode::TOO_MANY_REQUESTS, "queue_full")
        );
        let big = Quotas::default().check_payload(5 << 20).unwrap_err();
        let e = ApiError::from(big);
        assert_eq!(
            (e.status(), e.code.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
        let e = ApiError::from(QueueError::InvalidRequest("x".into()));
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
