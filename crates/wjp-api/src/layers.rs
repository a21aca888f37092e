//! The layers around every route, outermost first:
//! 1. **JSON errors**: any error response the framework made itself (404 of
//!    an unknown path, 405, 413 of a body limit) becomes the JSON error shape;
//! 2. **metrics**: requests and latencies by route template;
//! 3. **body pace**: a request body that stalls longer than
//!    `--body-read-timeout-secs` fails, and is answered 408;
//! 4. **panic catching**: a panicking handler answers 500 JSON, never a
//!    dropped connection;
//! 5. **CORS** (only with configured origins: the default is same origin);
//! 6. **API key**, on everything but `/health`, the dashboard page and its
//!    assets (they hold no data; the page sends the key itself), and CORS
//!    preflights;
//! 7. the **body limit** of JSON requests (upload routes set their own).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::timeout::{TimeoutBody, TimeoutError};

use crate::error::{error_body, ApiError, Code};
use crate::AppState;

pub fn apply(routes: Router<AppState>, state: AppState) -> anyhow::Result<Router<AppState>> {
    let mut router = routes
        .fallback(not_found)
        // Upload routes raise this for themselves (see `shop::routes`).
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::origin::record_origin,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), require_key));
    if let Some(cors) = cors(&state.config.cors_origins)? {
        router = router.layer(cors);
    }
    Ok(router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), body_pace))
        .layer(middleware::from_fn_with_state(state, record_metrics))
        .layer(middleware::from_fn(json_errors)))
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        Code::RouteNotFound,
        format!(
            "no endpoint {method} {}; GET /openapi.json lists them",
            uri.path()
        ),
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal("the server hit a bug while answering; the error was logged").into_response()
}

fn cors(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("last-event-id"),
        ]);
    if origins.iter().any(|o| o == "*") {
        return Ok(Some(layer.allow_origin(Any)));
    }
    let list = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o).with_context(|| format!("CORS origin {o:?} is not valid"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(layer.allow_origin(AllowOrigin::list(list))))
}

/// Compares without stopping at the first differing byte, so response time
/// tells nothing about how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

async fn require_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(key) = state.config.api_key.as_deref() else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    let public_page = request.method() == Method::GET && crate::dashboard::is_public(path);
    if path == "/health" || public_page || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let headers = request.headers();
    // Browsers cannot set headers on a WebSocket: its key may come as a
    // subprotocol (see `ws`). Never logged, as no key is.
    let in_protocols = crate::ws::key_in_protocols(headers);
    let given = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_token)
        })
        .or(in_protocols.as_deref());
    match given {
        Some(g) if same_secret(g.as_bytes(), key.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(Code::InvalidApiKey, "the API key is wrong").into_response(),
        None => {
            let mut response = ApiError::new(
                Code::MissingApiKey,
                "this endpoint needs the API key: send it as `X-API-Key: KEY` or \
                 `Authorization: Bearer KEY` (a browser's WebSocket: offer the \
                 subprotocols `wjp` and `wjp.key.<KEY in base64url>`)",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// The token of an `Authorization: Bearer TOKEN` header. The scheme's name
/// is case-insensitive (RFC 7235, section 2.1): `bearer` and `BEARER` are
/// `Bearer`.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' ').trim())
}

/// Bounds how slowly a request body may arrive. tower-http's `TimeoutBody`
/// fails a body that sends nothing for the timeout while it is being read
/// (time the handler spends between reads, writing to disk, does not
/// count), so uploads of any size keep going while bytes flow. Whatever
/// extractor read the body (JSON, multipart) turns the failure into its own
/// 400; the flag makes the answer a 408 that says what happened, and the
/// connection is closed since the rest of the body was never read.
async fn body_pace(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let timeout = state.config.body_read_timeout;
    let stalled = Arc::new(AtomicBool::new(false));
    let seen = stalled.clone();
    let request = request.map(|body| {
        Body::new(TimeoutBody::new(timeout, body).map_err(move |e| {
            if e.is::<TimeoutError>() {
                seen.store(true, Ordering::Relaxed);
            }
            e
        }))
    });
    let response = next.run(request).await;
    if !stalled.load(Ordering::Relaxed) {
        return response;
    }
    let mut response = ApiError::new(
        Code::RequestBodyTimeout,
        format!(
            "the request body stalled: nothing arrived for {} s",
            timeout.as_secs_f64()
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics
        .record_http(&method, &route, response.status().as_u16(), start.elapsed());
    response
}

/// Most error bodies the framework writes are short plain text; a longer
/// one is cut.
const MAX_ERROR_TEXT: usize = 4096;

async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_ERROR_TEXT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    } else {
        text
    };
    let code = match status {
        StatusCode::NOT_FOUND => Code::RouteNotFound,
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        StatusCode::REQUEST_TIMEOUT => Code::RequestBodyTimeout,
        s if s.is_server_error() => Code::Internal,
        _ => Code::BadRequest,
    };
    let mut response =
        Response::from_parts(parts, Body::from(error_body(&message, code).to_string()));
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_json() {
        let dir = tempfile::tempdir().unwrap();
        let backend =
            wjp_queue::backend::sqlite::SqliteBackend::open_dir(dir.path(), Default::default())
                .unwrap();
        let queue =
            wjp_queue::Queue::new(std::sync::Arc::new(backend), wjp_queue::Catalog::default());
        let state = AppState {
            enqueuer: crate::enqueue::Enqueuer::start(queue.clone()),
            queue,
            handlers: Default::default(),
            store: crate::files::Store::local(dir.path()).unwrap(),
            inline_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
            config: Default::default(),
            metrics: Default::default(),
            shutdown: Default::default(),
            sockets: Default::default(),
            outage: Default::default(),
        };
        let routes: Router<AppState> =
            Router::new().route("/boom", get(|| async { panic!("bug") as &'static str }));
        let app = apply(routes, state.clone()).unwrap().with_state(state);
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 10_000)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["success"], false);
        assert_eq!(body["code"], "internal_error");
    }
}
