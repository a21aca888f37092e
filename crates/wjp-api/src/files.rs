//! The artefact store ([`wjp_store::Store`]) as the API uses it: client
//! names checked into keys, the store's refusals and faults as API errors,
//! and stored files served as responses (streamed, with their content
//! type, `Content-Disposition` and byte ranges), from any node of a shop.
//!
//! **Invariant**: every name a client gives becomes a [`Key`] through
//! [`Store::client_key`] before the store sees it; files the service writes
//! are named by the service ([`unique_name`], a job's artefact).

pub use wjp_store::{tagged_name, unique_name, ByteRange, Key, PathError, Store, StoreError};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiResult, Code};

impl From<PathError> for ApiError {
    fn from(e: PathError) -> Self {
        let status = match e {
            PathError::NotFound { .. } => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(Code::Store(e.code(), status), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::Refused(path) => return ApiError::from(path.clone()),
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            StoreError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            StoreError::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Config(_) | StoreError::Local { .. } => {
                tracing::error!(error = %e, "the artefact store failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut error = ApiError::new(Code::Store(e.code(), status), e.to_string());
        if e.is_retryable() {
            error.retry_after_secs = Some(5);
        }
        error
    }
}

/// The key of an input a client names in `field`, which must be in the
/// store (404 `file_not_found` otherwise, before any job exists).
pub async fn input_key(store: &Store, field: &str, text: &str) -> ApiResult<Key> {
    let key = store.client_key(field, text)?;
    match store.head(&key).await {
        Ok(_) => Ok(key),
        Err(StoreError::NotFound { .. }) => Err(PathError::NotFound {
            field: field.to_owned(),
            given: text.chars().take(200).collect(),
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// The media type of a stored file, by its extension.
pub fn content_type_of(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "dxf" => "application/dxf",
        "csv" => "text/csv; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "nc" | "gcode" | "ngc" | "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The one range of a `Range` header, `None` when there is none or it is
/// one this server ignores (several ranges, another unit, bad syntax: the
/// whole file is sent then, as HTTP allows).
pub fn requested_range(headers: &HeaderMap) -> Option<ByteRange> {
    let value = headers.get(header::RANGE)?.to_str().ok()?.trim();
    let spec = value.strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, false) => Some(ByteRange::Last(number(end)?)),
        (false, true) => Some(ByteRange::From(number(start)?)),
        (false, false) => Some(ByteRange::Inclusive(number(start)?, number(end)?)),
        (true, true) => None,
    }
}

/// A stored file as the response, downloaded as `name`: streamed chunk by
/// chunk (never whole in memory), the part a `Range` header asks for with
/// 206, or 416 for a range outside the file.
pub async fn serve(
    store: &Store,
    key: &Key,
    name: &str,
    content_type: &'static str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let download = match store.get(key, requested_range(headers)).await {
        Ok(download) => download,
        Err(StoreError::RangeNotSatisfiable { size }) => {
            let mut response =
                ApiError::from(StoreError::RangeNotSatisfiable { size }).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    };
    let length = download.range.end - download.range.start;
    let mut response = Body::from_stream(download.chunks).into_response();
    if download.partial {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let range = format!(
            "bytes {}-{}/{}",
            download.range.start,
            download.range.end.saturating_sub(1),
            download.stored.size
        );
        if let Ok(v) = HeaderValue::from_str(&range) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        disposition_name(name)
    )) {
        out.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// A file name safe inside a quoted `Content-Disposition` parameter.
fn disposition_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str) -> Option<ByteRange> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        requested_range(&headers)
    }

    #[test]
    fn one_byte_range_is_read_and_others_are_ignored() {
        assert_eq!(range("bytes=0-99"), Some(ByteRange::Inclusive(0, 99)));
        assert_eq!(range("bytes=100-"), Some(ByteRange::From(100)));
        assert_eq!(range("bytes=-5"), Some(ByteRange::Last(5)));
        for ignored in ["bytes=0-1,5-6", "items=0-1", "bytes=a-b", "bytes=-", "0-1"] {
            assert_eq!(range(ignored), None, "{ignored}");
        }
        assert_eq!(disposition_name("a\"b\\c\u{e9}.dxf"), "a_b_c_.dxf");
    }
}
