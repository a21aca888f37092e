//! Operations: `/health`, `/metrics`, `/openapi.json`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// The old health check; `degraded` when the queue backend does not answer
/// (requests are then served synchronously) or the artefact store does not
/// (jobs with files wait and retry).
async fn health(State(state): State<AppState>) -> Json<Value> {
    let (available, store) = tokio::join!(state.queue.is_available(), state.store.check());
    if let Err(e) = &store {
        tracing::warn!(error = %e, "health: the artefact store does not answer");
    }
    Json(json!({
        "status": if available && store.is_ok() { "healthy" } else { "degraded" },
        "service": "wjp",
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "backend": state.queue.backend_info().name,
        "backend_available": available,
        "store": state.store.kind(),
        "store_location": state.store.describe(),
        "store_available": store.is_ok(),
    }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let counts = match state.queue.counts().await {
        Ok(c) => {
            state.outage.succeeded();
            Some(c)
        }
        Err(e) => {
            state.outage.failed("metrics", &e);
            None
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(counts.as_deref()),
    )
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
