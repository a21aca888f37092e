//! The queue over HTTP: submit any job kind, list the history, look at one
//! job (the old `GET /jobs/{job_id}` shape plus more), cancel, retry, counts
//! per queue, live workers.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use wjp_queue::backend::JobQuery;
use wjp_queue::{CancelOutcome, Job, JobId, JobRequest, Status};

use crate::error::{ApiError, ApiResult, Code};
use crate::AppState;

/// Longest page of `GET /jobs`.
pub const MAX_PAGE: usize = 500;

pub use crate::body::ApiJson;

/// `Query` whose rejection is our JSON error.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The names a query string may hold, for [`CheckedQuery`].
pub trait QueryFields {
    const FIELDS: &'static [&'static str];
}

/// A query string parsed into `T` after every name in it was found among
/// `T`'s fields: a misspelt parameter is refused (400 `unknown_field`,
/// naming the closest known one), never silently ignored; a value that does
/// not parse is 400 `invalid_value`.
pub struct CheckedQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for CheckedQuery<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + QueryFields,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).map_err(|e| {
            ApiError::new(
                Code::InvalidQuery,
                format!("the query string does not parse: {e}"),
            )
        })?;
        for (name, _) in &pairs {
            if !T::FIELDS.contains(&name.as_str()) {
                return Err(ApiError::new(
                    Code::UnknownField,
                    crate::error::unknown_field_message(name, T::FIELDS.iter().copied()),
                ));
            }
        }
        serde_urlencoded::from_str(raw)
            .map(CheckedQuery)
            .map_err(|e| {
                let text = e.to_string();
                let code = if text.starts_with("missing field") {
                    Code::MissingField
                } else {
                    Code::InvalidValue
                };
                ApiError::new(code, format!("query: {text}"))
            })
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", post(submit).get(list))
        .route("/flows", post(submit_flow))
        .route("/jobs/{job_id}", get(show))
        .route("/jobs/{job_id}/cancel", post(cancel))
        .route("/jobs/{job_id}/retry", post(retry))
        .route("/jobs/{job_id}/artifacts/{name}", get(artefact))
        .route("/queues", get(queues))
        .route("/queues/{queue}/pause", post(pause))
        .route("/queues/{queue}/resume", post(resume))
        .route("/queues/{queue}/retry-failed", post(retry_failed))
        .route("/queues/{queue}/limits", put(set_limits))
        .route("/workers", get(workers))
}

/// A job as clients see it: the old fields first (`job_id`, `status`,
/// `progress`, `result`, `error` as a message, `created_at`,
/// `completed_at`), then the new ones.
pub fn job_view(job: &Job) -> Value {
    let s = &job.state;
    json!({
        "job_id": job.id,
        "status": s.status,
        "progress": s.progress,
        "result": s.result,
        "error": s.error.as_ref().map(|e| e.message.clone()),
        "created_at": job.created_at,
        "completed_at": s.completed_at,
        "kind": job.kind,
        "queue": job.queue,
        "attempt": s.attempt,
        "max_attempts": job.max_attempts,
        "reference": job.reference,
        "unique_key": job.unique_key,
        "group": job.group,
        "after": job.after,
        "run_anyway": job.run_anyway,
        "stalls": s.stalls,
        "max_stalls": job.max_stalls,
        "priority": job.priority,
        "started_at": s.started_at,
        "enqueued_at": s.enqueued_at,
        "run_at": s.run_at,
        "progress_message": s.progress_message,
        "progress_detail": s.progress_detail,
        "error_kind": s.error.as_ref().map(|e| e.kind),
        "worker": s.worker,
        "cancel_requested": s.cancel_requested,
        "timeout": job.timeout_ms as f64 / 1000.0,
        "payload": job.payload,
    })
}

/// Refuses a shop kind this build cannot run with 501 (rather than 400:
/// the shop's clients know it).
pub fn check_kind(state: &AppState, kind: &str) -> ApiResult<()> {
    match crate::shop::SHOP_JOBS.iter().find(|job| job.kind == kind) {
        Some(job) => crate::shop::require_kind(state, *job),
        None => Ok(()),
    }
}

/// A job id from a URL: one that cannot exist is simply not found.
pub fn parse_id(text: &str) -> ApiResult<JobId> {
    JobId::parse(text).map_err(|_| {
        ApiError::new(
            Code::JobNotFound,
            format!(
                "job {:?} not found (it never existed, or its record expired)",
                text.chars().take(200).collect::<String>()
            ),
        )
    })
}

/// Refuses the engine's test kinds (`spin` burns a core for as long as it
/// is told) unless the server was started with `--enable-test-kinds`.
pub fn check_served(state: &AppState, kind: &str) -> ApiResult<()> {
    if !state.config.test_kinds && wjp_queue::builtin::KINDS.contains(&kind) {
        return Err(ApiError::new(
            Code::KindNotServed,
            format!(
                "the test kind {kind:?} is not served over HTTP by this server; \
                 start wjp api with --enable-test-kinds to rehearse with it"
            ),
        ));
    }
    Ok(())
}

async fn submit(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<JobRequest>,
) -> ApiResult<impl IntoResponse> {
    check_served(&state, &request.kind)?;
    check_kind(&state, &request.kind)?;
    let enqueued = state.enqueuer.enqueue(request).await?;
    let status = if enqueued.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut view = job_view(&enqueued.job);
    view["success"] = json!(true);
    view["created"] = json!(enqueued.created);
    Ok((status, Json(view)))
}

/// `POST /flows`: a graph of named jobs, stored whole or refused whole.
async fn submit_flow(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Box<serde_json::value::RawValue>>,
) -> ApiResult<impl IntoResponse> {
    // A node's misspelt field is named as a job's is on `POST /jobs`.
    let mut request: wjp_queue::FlowRequest = crate::body::parse_body(body.get(), &|raw| {
        crate::body::unknown_item_field::<JobRequest>(raw, "jobs", &["name"])
    })?;
    let origin = crate::origin::current();
    for node in &mut request.jobs {
        check_served(&state, &node.job.kind)?;
        check_kind(&state, &node.job.kind)?;
        // Recorded as `POST /jobs` records a job: who sent it.
        node.job.origin.clone_from(&origin);
    }
    let jobs = state.queue.submit_flow(request).await?;
    let created = jobs.iter().any(|j| j.created);
    let views: Vec<Value> = jobs
        .iter()
        .map(|j| {
            let mut view = job_view(&j.job);
            view["name"] = json!(j.name);
            view["created"] = json!(j.created);
            view
        })
        .collect();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "success": true, "jobs": views }))))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    queue: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    /// Search text: the start of an id, or part of a reference or file name.
    q: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

impl QueryFields for ListQuery {
    const FIELDS: &'static [&'static str] = &[
        "queue", "status", "kind", "limit", "cursor", "q", "since", "until",
    ];
}

/// The search part of a list query, checked.
fn search_of(q: &ListQuery) -> ApiResult<crate::search::JobSearch> {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let time = |name: &str, v: &Option<String>, end: bool| {
        given(v)
            .map(|t| crate::history::parse_time(name, &t, end))
            .transpose()
            .map_err(|m| ApiError::new(Code::InvalidQuery, m))
    };
    let text = given(&q.q).map(|t| t.to_lowercase());
    if let Some(t) = &text {
        if t.chars().count() > crate::search::MAX_TEXT || t.chars().any(char::is_control) {
            return Err(ApiError::new(
                Code::InvalidQuery,
                format!(
                    "q must be 1 to {} characters, none of them control characters",
                    crate::search::MAX_TEXT
                ),
            ));
        }
    }
    let search = crate::search::JobSearch {
        text,
        since: time("since", &q.since, false)?,
        until: time("until", &q.until, true)?,
    };
    if let (Some(since), Some(until)) = (search.since, search.until) {
        if since >= until {
            return Err(ApiError::new(
                Code::InvalidQuery,
                "since must be before until",
            ));
        }
    }
    Ok(search)
}

async fn list(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let queue = q
        .queue
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|name| state.queue.catalog().queue(name))
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<Status>)
        .transpose()?;
    // A kind this build does not know is refused by name, like a queue.
    let kind = q
        .kind
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|name| {
            state.queue.catalog().kind(name)?;
            wjp_queue::Kind::parse(name)
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::new(
            Code::InvalidQuery,
            format!("limit must be between 1 and {MAX_PAGE}, got {limit}"),
        ));
    }
    let search = search_of(&q)?;
    let query = JobQuery {
        queue,
        status,
        kind,
        limit,
        cursor: q.cursor.filter(|c| !c.is_empty()),
    };
    let page = if search.is_empty() {
        state.queue.list(query).await?
    } else {
        crate::search::search_page(&state, query, &search).await?
    };
    Ok(Json(json!({
        "success": true,
        "jobs": page.jobs.iter().map(job_view).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let Some(job) = state.queue.job(&id).await? else {
        return Err(wjp_queue::QueueError::NotFound(id).into());
    };
    let mut view = job_view(&job);
    // Only here, not in lists: it costs a read of the workers' records.
    if let Some(reason) = state.queue.why_waiting(&job).await? {
        view["waiting"] = json!({ "message": reason.describe(), "detail": reason });
    }
    Ok(Json(view))
}

async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let outcome = state.queue.cancel(&id).await?;
    let (word, message) = match outcome {
        CancelOutcome::Cancelled => (
            "cancelled",
            "the job was cancelled before it ran".to_owned(),
        ),
        CancelOutcome::Requested => (
            "requested",
            "the job is running; its worker was told to stop it".to_owned(),
        ),
        CancelOutcome::AlreadyEnded(status) => (
            "already_ended",
            format!("the job had already ended ({status}); nothing to cancel"),
        ),
    };
    let job = state.queue.job(&id).await?;
    Ok(Json(json!({
        "success": true,
        "job_id": id,
        "outcome": word,
        "message": message,
        "status": job.as_ref().map(|j| j.status()),
        "job": job.as_ref().map(job_view),
    })))
}

async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let job = state.queue.retry(&id).await?;
    let mut view = job_view(&job);
    view["success"] = json!(true);
    Ok(Json(view))
}

async fn queues(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let counts = state.queue.counts().await?;
    Ok(Json(json!({
        "success": true,
        "backend": state.queue.backend_info(),
        "queues": counts,
    })))
}

/// A queue named in a URL that does not exist is not found (404), as an
/// unknown job is, with the engine's code and message.
fn queue_in_path(e: wjp_queue::QueueError) -> ApiError {
    match e {
        wjp_queue::QueueError::UnknownQueue { .. } => {
            ApiError::new(Code::Queue(e.code(), StatusCode::NOT_FOUND), e.to_string())
        }
        e => e.into(),
    }
}

/// Stops workers from taking a queue's jobs; new jobs are still taken.
async fn pause(State(state): State<AppState>, Path(queue): Path<String>) -> ApiResult<Json<Value>> {
    let changed = state.queue.pause(&queue).await.map_err(queue_in_path)?;
    Ok(Json(
        json!({ "success": true, "queue": queue, "paused": true, "changed": changed }),
    ))
}

/// Lets workers take a paused queue's jobs again.
async fn resume(
    State(state): State<AppState>,
    Path(queue): Path<String>,
) -> ApiResult<Json<Value>> {
    let changed = state.queue.resume(&queue).await.map_err(queue_in_path)?;
    Ok(Json(
        json!({ "success": true, "queue": queue, "paused": false, "changed": changed }),
    ))
}

/// The most failed jobs one call runs again.
const RETRY_FAILED_MAX: usize = 10_000;

/// Runs again every failed job of a queue (up to [`RETRY_FAILED_MAX`]).
async fn retry_failed(
    State(state): State<AppState>,
    Path(queue): Path<String>,
) -> ApiResult<Json<Value>> {
    let retried = state
        .queue
        .retry_failed(&queue, RETRY_FAILED_MAX)
        .await
        .map_err(queue_in_path)?;
    Ok(Json(
        json!({ "success": true, "queue": queue, "retried": retried }),
    ))
}

/// Sets a queue's limits (`{}` clears them): running jobs at once, claims
/// per second or minute, and one group's running jobs at once, across every
/// worker.
async fn set_limits(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    ApiJson(mut body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    // JSON Schema counts 3.0 as an integer: so does this endpoint.
    for field in ["max_running", "per_group_max_running"] {
        if let Some(n) = body.get(field).and_then(Value::as_f64) {
            if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
                body[field] = json!(n as u64);
            }
        }
    }
    // An object only: serde would also read a struct from an array.
    if !body.is_object() {
        return Err(ApiError::new(
            Code::InvalidJson,
            "the body must be a JSON object: {\"max_running\": N, \"rate\": \"N/s\"}, or {} to clear",
        ));
    }
    let limits: wjp_queue::QueueLimits = serde_json::from_value(body)
        .map_err(|e| ApiError::new(Code::InvalidValue, format!("invalid limits: {e}")))?;
    state
        .queue
        .set_limits(&queue, limits)
        .await
        .map_err(queue_in_path)?;
    Ok(Json(
        json!({ "success": true, "queue": queue, "limits": limits }),
    ))
}

async fn workers(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let workers = state.queue.workers().await?;
    Ok(Json(json!({ "success": true, "workers": workers })))
}

/// The key of artefact `name` of a completed job's result (`artifacts`
/// lists them, as keys in the store's `output/`).
pub fn artefact_key(result: &Value, name: &str) -> ApiResult<crate::files::Key> {
    let not_listed = || {
        ApiError::new(
            Code::ArtefactNotFound,
            format!("the job's result lists no artefact {name:?}"),
        )
    };
    let text = result["artifacts"][name].as_str().ok_or_else(not_listed)?;
    // A result is the job's own, but its payload was a client's: the key is
    // checked like any client name, and must be an artefact.
    let key = crate::files::Key::from_client("artefact", text, None)?;
    if key.folder() != "output" {
        return Err(not_listed());
    }
    Ok(key)
}

/// `GET /jobs/{id}/artifacts/{name}`: a file a completed job wrote.
async fn artefact(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> ApiResult<axum::response::Response> {
    let id = parse_id(&id)?;
    let job = state
        .queue
        .job(&id)
        .await?
        .ok_or(wjp_queue::QueueError::NotFound(id))?;
    if job.status() != Status::Completed {
        return Err(ApiError::new(
            Code::ArtefactNotReady,
            format!(
                "job {} is {}; its files exist once it completed",
                job.id,
                job.status()
            ),
        ));
    }
    let result = job.state.result.unwrap_or(Value::Null);
    let key = artefact_key(&result, &name)?;
    let file_name = key.file_name().to_owned();
    crate::files::serve(
        &state.store,
        &key,
        &file_name,
        crate::files::content_type_of(&file_name),
        &headers,
    )
    .await
}
