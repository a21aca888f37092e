//! Steering many jobs, or one differently: a job run again with changed
//! options (`POST /jobs/{job_id}/rerun`, a new job through the same door
//! and checks as `POST /jobs`), and cancels and retries of many jobs at
//! once (`POST /bulk/cancel`, `POST /bulk/retry`).
//!
//! Bulk routes live under `/bulk`, not `/jobs/...`: a job may be named
//! `cancel` or `retry` by its client, and `/jobs/{job_id}` must keep
//! finding it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use wjp_queue::backend::JobQuery;
use wjp_queue::{CancelOutcome, JobId, JobRequest, QueueError, Status};

use crate::error::{ApiError, ApiResult, Code};
use crate::jobs::{check_kind, check_served, job_view, parse_id, ApiJson};
use crate::AppState;

/// Most ids one bulk request names.
pub const MAX_BULK_IDS: usize = 1000;
/// Most waiting jobs one `POST /bulk/cancel` of a whole queue cancels.
pub const MAX_QUEUE_CANCEL: usize = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs/{job_id}/rerun", post(rerun))
        .route("/bulk/cancel", post(bulk_cancel))
        .route("/bulk/retry", post(bulk_retry))
}

/// The body of `POST /jobs/{job_id}/rerun`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rerun {
    /// Fields that replace the old payload's (`null` removes one).
    #[serde(default)]
    payload: Map<String, Value>,
    /// The new job's reference; the old one's when absent.
    #[serde(default)]
    reference: Option<String>,
}

/// Runs a job again, as a new job, with some of its options changed: the
/// same kind, queue, priority, attempts, stalls and timeout, its payload
/// with the given fields replaced, checked as any new job is.
async fn rerun(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Rerun>,
) -> ApiResult<impl IntoResponse> {
    let id = parse_id(&id)?;
    let old = state
        .queue
        .job(&id)
        .await?
        .ok_or_else(|| QueueError::NotFound(id.clone()))?;
    let mut payload = match old.payload {
        Value::Object(fields) => fields,
        _ if body.payload.is_empty() => Map::new(),
        _ => {
            return Err(ApiError::new(
                Code::InvalidValue,
                format!("job {id}'s payload is not an object: its options cannot be changed"),
            ))
        }
    };
    for (name, value) in body.payload {
        if value.is_null() {
            payload.remove(&name);
        } else {
            payload.insert(name, value);
        }
    }
    check_served(&state, old.kind.as_str())?;
    check_kind(&state, old.kind.as_str())?;
    let origin = crate::origin::current().unwrap_or_else(|| "api".to_owned());
    let request = JobRequest {
        kind: old.kind.to_string(),
        payload: Value::Object(payload),
        queue: Some(old.queue.to_string()),
        priority: Some(old.priority),
        timeout: Some(old.timeout_ms as f64 / 1000.0),
        max_attempts: Some(old.max_attempts),
        max_stalls: Some(old.max_stalls),
        reference: body.reference.or(old.reference),
        group: old.group,
        origin: Some(format!("{origin}, re-run of {id}")),
        ..JobRequest::default()
    };
    let enqueued = state.enqueuer.enqueue(request).await?;
    let mut view = job_view(&enqueued.job);
    view["success"] = json!(true);
    view["created"] = json!(enqueued.created);
    view["rerun_of"] = json!(id);
    Ok((StatusCode::CREATED, Json(view)))
}

/// The body of the bulk endpoints: the jobs by id, or (cancel only) every
/// waiting job of a queue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bulk {
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    queue: Option<String>,
}

/// The ids of a bulk request, checked: 1 to [`MAX_BULK_IDS`], each one
/// that could exist.
fn bulk_ids(ids: Vec<String>) -> ApiResult<Vec<JobId>> {
    if ids.is_empty() || ids.len() > MAX_BULK_IDS {
        return Err(ApiError::new(
            Code::InvalidValue,
            format!(
                "ids must hold 1 to {MAX_BULK_IDS} job ids, got {}",
                ids.len()
            ),
        ));
    }
    ids.iter()
        .map(|id| {
            JobId::parse(id).map_err(|e| ApiError::new(Code::InvalidValue, format!("ids: {e}")))
        })
        .collect()
}

/// The waiting (queued or scheduled) jobs of a queue, newest first, up to
/// [`MAX_QUEUE_CANCEL`].
async fn waiting_jobs(state: &AppState, queue: &str) -> ApiResult<Vec<JobId>> {
    let queue = state.queue.catalog().queue(queue).map_err(|e| match e {
        QueueError::UnknownQueue { .. } => {
            ApiError::new(Code::Queue(e.code(), StatusCode::NOT_FOUND), e.to_string())
        }
        e => e.into(),
    })?;
    let mut ids = Vec::new();
    for status in [Status::Queued, Status::Scheduled] {
        let mut cursor = None;
        loop {
            let page = state
                .queue
                .list(JobQuery {
                    queue: Some(queue.clone()),
                    status: Some(status),
                    kind: None,
                    limit: 500,
                    cursor,
                })
                .await?;
            ids.extend(page.jobs.into_iter().map(|j| j.id));
            if ids.len() >= MAX_QUEUE_CANCEL {
                ids.truncate(MAX_QUEUE_CANCEL);
                return Ok(ids);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(ids)
}

/// Cancels many jobs: those named, or every waiting job of a queue.
async fn bulk_cancel(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Bulk>,
) -> ApiResult<Json<Value>> {
    let ids = match (body.ids, body.queue) {
        (Some(ids), None) => bulk_ids(ids)?,
        (None, Some(queue)) => waiting_jobs(&state, &queue).await?,
        _ => {
            return Err(ApiError::new(
                Code::InvalidValue,
                "give either ids (the jobs to cancel) or queue (to cancel its waiting jobs)",
            ))
        }
    };
    let (mut cancelled, mut requested, mut ended, mut missing) = (0u64, 0u64, 0u64, Vec::new());
    for id in ids {
        match state.queue.cancel(&id).await {
            Ok(CancelOutcome::Cancelled) => cancelled += 1,
            Ok(CancelOutcome::Requested) => requested += 1,
            Ok(CancelOutcome::AlreadyEnded(_)) => ended += 1,
            Err(QueueError::NotFound(id)) => missing.push(id),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(json!({
        "success": true,
        "cancelled": cancelled,
        "requested": requested,
        "already_ended": ended,
        "not_found": missing,
    })))
}

/// Runs many failed or cancelled jobs again; jobs in another status are
/// named with why they were left.
async fn bulk_retry(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Bulk>,
) -> ApiResult<Json<Value>> {
    if body.queue.is_some() {
        return Err(ApiError::new(
            Code::InvalidValue,
            "POST /bulk/retry takes ids; to retry every failed job of a queue, \
             POST /queues/{queue}/retry-failed",
        ));
    }
    let ids = bulk_ids(body.ids.unwrap_or_default())?;
    let mut retried = 0u64;
    let mut refused = Vec::new();
    for id in ids {
        match state.queue.retry(&id).await {
            Ok(_) => retried += 1,
            Err(e) if e.is_client_error() => {
                refused.push(json!({ "job_id": id, "code": e.code(), "error": e.to_string() }))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(
        json!({ "success": true, "retried": retried, "refused": refused }),
    ))
}
