//! Live updates as Server-Sent Events: `GET /jobs/{job_id}/events` (one
//! job, ending once it has ended) and `GET /events` (every job, optionally
//! one queue).
//!
//! Each SSE message carries the engine's event id as its `id`, so a client
//! that reconnects with `Last-Event-ID` (browsers do it by themselves)
//! resumes right after the last event it saw. A job stream opened without
//! it starts with a snapshot of the job as it is now. Streams follow the
//! backend with [`wjp_queue::Queue::next_events`], send keep-alive comments,
//! and end on server shutdown.
//!
//! [`Follow`] is that following, written once: [`follow_all`] and
//! [`follow_job`] check a request and give the stream of events; this
//! module frames it as SSE, [`crate::ws`] as WebSocket messages.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::Stream;
use serde::Deserialize;
use wjp_queue::{Event, JobId, Queue, Timestamp};

use crate::error::{ApiError, ApiResult, Code};
use crate::jobs::{parse_id, ApiQuery};
use crate::AppState;

/// Longest wait of one backend read; bounds how late a shutdown is seen by
/// a backend that cannot be interrupted.
const FOLLOW_WAIT: Duration = Duration::from_secs(10);
const BATCH: usize = 200;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(all_events))
        .route("/jobs/{job_id}/events", get(job_events))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Resume after this event id (same as the `Last-Event-ID` header).
    last_event_id: Option<String>,
    /// Only events of this queue (`/events` only).
    queue: Option<String>,
}

/// The event id to resume after, checked before the stream starts: a bad
/// one is a 400, not an error in the middle of a 200 stream.
async fn resume_point(
    state: &AppState,
    headers: &HeaderMap,
    query: &EventsQuery,
) -> ApiResult<Option<String>> {
    let given = given_resume_point(headers, query);
    if let Some(cursor) = &given {
        state.queue.events_after(Some(cursor), 1).await?;
    }
    Ok(given)
}

fn given_resume_point(headers: &HeaderMap, query: &EventsQuery) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or_else(|| query.last_event_id.clone().filter(|v| !v.is_empty()))
}

async fn all_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let follow = follow_all(&state, &headers, &query).await?;
    Ok(sse(&state, follow))
}

async fn job_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let follow = follow_job(&state, &id, &headers, &query).await?;
    Ok(sse(&state, follow))
}

/// The SSE framing of a followed stream.
fn sse(state: &AppState, follow: Follow) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    use futures_util::StreamExt;
    let messages = follow.into_stream().map(|item| {
        Ok(match item {
            Followed::Event(e) => message(&e),
            Followed::Error(e) => SseEvent::default()
                .event("error")
                .json_data(crate::error::error_body(&e.message, e.code))
                .unwrap_or_default(),
        })
    });
    Sse::new(messages).keep_alive(KeepAlive::new().interval(state.config.keep_alive))
}

/// Every job's events (or one queue's), from the request's resume point
/// or, without one, from now on. Checked before the response starts.
pub(crate) async fn follow_all(
    state: &AppState,
    headers: &HeaderMap,
    query: &EventsQuery,
) -> ApiResult<Follow> {
    let queue = query
        .queue
        .as_deref()
        .filter(|q| !q.is_empty())
        .map(|q| state.queue.catalog().queue(q))
        .transpose()?;
    let cursor = match resume_point(state, headers, query).await? {
        Some(c) => Some(c),
        // Only what happens from now on.
        None => state.queue.last_event_id().await?,
    };
    let mut follow = Follow::new(state, cursor);
    follow.queue_filter = queue.map(|q| q.to_string());
    Ok(follow)
}

/// One job's events until it ends: without a resume point, a snapshot of
/// the job first. Checked before the response starts (an unknown job is a
/// 404, not an empty stream).
pub(crate) async fn follow_job(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    query: &EventsQuery,
) -> ApiResult<Follow> {
    let id = parse_id(id)?;
    if query.queue.is_some() {
        return Err(ApiError::new(
            Code::InvalidQuery,
            "queue is a filter of GET /events and GET /ws only",
        ));
    }
    let resume = resume_point(state, headers, query).await?;
    // The cursor is read before the job, so nothing between the snapshot
    // and the first followed event is lost (at worst an event repeats it).
    let cursor = match &resume {
        Some(c) => Some(c.clone()),
        None => state.queue.last_event_id().await?,
    };
    let job = state
        .queue
        .job(&id)
        .await?
        .ok_or_else(|| wjp_queue::QueueError::NotFound(id.clone()))?;
    let mut follow = Follow::new(state, cursor.clone());
    follow.job = Some(id);
    follow.no_wait = job.status().is_terminal();
    if resume.is_none() {
        let mut snapshot = Event::of(&job, Timestamp::now());
        snapshot.id = cursor.unwrap_or_default();
        follow.done = job.status().is_terminal();
        follow.first = Some(snapshot);
    }
    Ok(follow)
}

/// What a followed stream yields.
pub(crate) enum Followed {
    /// A job's state after a change; its `id` is the cursor to resume after.
    Event(Event),
    /// The stream cannot go on (a resume point the backend no longer
    /// knows); always the last item.
    Error(ApiError),
}

/// Follows the backend's events from a cursor: the one loop behind both
/// framings of live updates (SSE here, WebSocket in [`crate::ws`]). Ends on
/// server shutdown, after the last event of a followed job, or after an
/// [`Followed::Error`]; rides out store outages (logged once through the
/// shared [`wjp_queue::Outage`]), retrying each second.
pub(crate) struct Follow {
    queue: Queue,
    cursor: Option<String>,
    buffer: VecDeque<Event>,
    job: Option<JobId>,
    queue_filter: Option<String>,
    /// Sent before anything else (the job snapshot).
    first: Option<Event>,
    /// No more events after the buffered ones.
    done: bool,
    /// The first read returns at once, even with nothing new.
    no_wait: bool,
    shutdown: tokio_util::sync::CancellationToken,
    outage: std::sync::Arc<wjp_queue::Outage>,
}

impl Follow {
    fn new(state: &AppState, cursor: Option<String>) -> Follow {
        Follow {
            queue: state.queue.clone(),
            cursor,
            buffer: VecDeque::new(),
            job: None,
            queue_filter: None,
            first: None,
            done: false,
            no_wait: false,
            shutdown: state.shutdown.clone(),
            outage: state.outage.clone(),
        }
    }

    /// The followed events as a stream. Polling its `next()` and dropping
    /// that future loses nothing (the read in progress lives in the
    /// stream), so a framing may race it against other work.
    pub(crate) fn into_stream(self) -> impl Stream<Item = Followed> {
        futures_util::stream::unfold(self, |mut f| async move {
            let item = f.next().await?;
            Some((item, f))
        })
    }

    fn wanted(&self, e: &Event) -> bool {
        self.job.as_ref().is_none_or(|id| &e.job_id == id)
            && self
                .queue_filter
                .as_deref()
                .is_none_or(|q| e.queue.as_str() == q)
    }

    async fn next(&mut self) -> Option<Followed> {
        if let Some(first) = self.first.take() {
            return Some(Followed::Event(first));
        }
        loop {
            if let Some(e) = self.buffer.pop_front() {
                if self.job.is_some() && e.status.is_terminal() {
                    // The job ended: this is the last event of its stream.
                    self.buffer.clear();
                    self.done = true;
                }
                return Some(Followed::Event(e));
            }
            if self.done || self.shutdown.is_cancelled() {
                return None;
            }
            // A resumed stream of an ended job looks without waiting.
            let wait = if std::mem::take(&mut self.no_wait) {
                Duration::ZERO
            } else {
                FOLLOW_WAIT
            };
            let read = tokio::select! {
                r = self.queue.next_events(self.cursor.as_deref(), BATCH, wait) => r,
                _ = self.shutdown.cancelled() => return None,
            };
            if read.is_ok() {
                self.outage.succeeded();
            }
            match read {
                Ok(events) => {
                    let caught_up = events.len() < BATCH;
                    if let Some(last) = events.last() {
                        self.cursor = Some(last.id.clone());
                    }
                    let wanted: Vec<Event> =
                        events.into_iter().filter(|e| self.wanted(e)).collect();
                    self.buffer.extend(wanted);
                    if caught_up && self.buffer.is_empty() {
                        if let Some(last) = self.check_job_ended().await {
                            return Some(last);
                        }
                    }
                }
                Err(e) if e.is_client_error() => {
                    // A cursor the backend does not know: say so and end.
                    self.done = true;
                    let message = e.to_string();
                    let code = ApiError::from(e).code;
                    return Some(Followed::Error(ApiError::new(code, message)));
                }
                Err(e) => {
                    self.outage.failed("event stream", &e);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = self.shutdown.cancelled() => return None,
                    }
                }
            }
        }
    }
}

impl Follow {
    /// With nothing new for a job stream: whether the job ended anyway (a
    /// stream resumed after its last event, or events pruned). If so, its
    /// state is the stream's last message.
    async fn check_job_ended(&mut self) -> Option<Followed> {
        let id = self.job.as_ref()?;
        match self.queue.job(id).await {
            Ok(Some(job)) if job.status().is_terminal() => {
                self.done = true;
                let mut e = Event::of(&job, Timestamp::now());
                e.id = self.cursor.clone().unwrap_or_default();
                Some(Followed::Event(e))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            _ => None,
        }
    }
}

/// One event as an SSE message: `id` for resuming, the event as JSON data.
fn message(e: &Event) -> SseEvent {
    let mut sse = SseEvent::default()
        .json_data(e)
        .unwrap_or_else(|_| SseEvent::default().data("{}"));
    // An id with a line break cannot be sent (and never comes from a backend).
    if !e.id.is_empty() && !e.id.contains(['\n', '\r', '\0']) {
        sse = sse.id(e.id.clone());
    }
    sse
}
