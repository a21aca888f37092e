//! Schedules over HTTP: list them, put one under a name (added or
//! replaced), delete one. The engine checks everything at the put
//! (`Queue::add_schedule`); the same refusals as `POST /jobs` apply first
//! (test kinds, shop kinds this build cannot run).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use wjp_queue::ScheduleRequest;

use crate::error::{ApiError, ApiResult, Code};
use crate::jobs::{check_kind, check_served, ApiJson};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/schedules", get(list))
        .route("/schedules/{name}", axum::routing::put(put).delete(remove))
}

/// The body of `PUT /schedules/{name}`: a [`ScheduleRequest`] without the
/// name, which the path gives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    kind: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    every: Option<f64>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    skip_missed: bool,
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let schedules = state.queue.schedules().await?;
    Ok(Json(json!({ "success": true, "schedules": schedules })))
}

async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<Json<Value>> {
    check_served(&state, &body.kind)?;
    check_kind(&state, &body.kind)?;
    let schedule = state
        .queue
        .add_schedule(ScheduleRequest {
            name,
            kind: body.kind,
            payload: body.payload,
            queue: body.queue,
            cron: body.cron,
            every: body.every,
            timezone: body.timezone,
            skip_missed: body.skip_missed,
        })
        .await?;
    let mut view = json!(schedule);
    view["success"] = json!(true);
    Ok(Json(view))
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        Code::ScheduleNotFound,
        format!(
            "schedule {:?} not found; GET /schedules lists them",
            name.chars().take(200).collect::<String>()
        ),
    )
}

async fn remove(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    if wjp_queue::schedule::check_name(&name).is_err() {
        return Err(not_found(&name));
    }
    if !state.queue.remove_schedule(&name).await? {
        return Err(not_found(&name));
    }
    Ok(Json(
        json!({ "success": true, "name": name, "removed": true }),
    ))
}
