//! Searching the job list (`GET /jobs` with `q`, `since` or `until`): by
//! a file name, a reference or the start of an id, and by creation time,
//! done here over the engine's pages, never by handing the browser every
//! job.
//!
//! The engine lists jobs newest first in pages with exact cursors. A
//! search asks it for pages of at most the matches still missing, so a
//! search page never holds more than its `limit` and its `next_cursor` is
//! the engine's own (no job shown twice, none skipped); it stops after
//! [`MAX_READS`] pages and says where to go on.

use serde_json::Value;
use wjp_queue::backend::{JobPage, JobQuery};
use wjp_queue::{Job, Timestamp};

use crate::error::ApiResult;
use crate::AppState;

/// Most engine pages one search page reads: a search that matches little
/// costs a bounded read, and the client pages on.
pub const MAX_READS: usize = 40;
/// Longest search text, in characters.
pub const MAX_TEXT: usize = 200;

/// What a search looks for besides the engine's own filters.
#[derive(Debug, Default)]
pub struct JobSearch {
    /// Lowercased text: the start of the id, or part of the reference or
    /// of an input file's name.
    pub text: Option<String>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
}

impl JobSearch {
    /// Whether anything beyond the engine's filters is asked for.
    pub fn is_empty(&self) -> bool {
        self.text.is_none() && self.since.is_none() && self.until.is_none()
    }

    fn matches(&self, job: &Job) -> bool {
        if self.since.is_some_and(|t| job.created_at < t)
            || self.until.is_some_and(|t| job.created_at >= t)
        {
            return false;
        }
        let Some(text) = &self.text else {
            return true;
        };
        job.id.as_str().to_lowercase().starts_with(text.as_str())
            || job
                .reference
                .as_ref()
                .is_some_and(|r| r.to_lowercase().contains(text.as_str()))
            || file_names(&job.payload).any(|name| name.to_lowercase().contains(text.as_str()))
    }
}

/// The names (last path parts) of the files a payload names, in the
/// fields the shop's kinds read them from.
fn file_names(payload: &Value) -> impl Iterator<Item = &str> {
    let direct = ["dxf_path", "image_path", "csv_path"]
        .into_iter()
        .filter_map(|field| payload.get(field).and_then(Value::as_str));
    let in_files = payload
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("dxf_path").and_then(Value::as_str));
    let in_report = payload
        .get("report")
        .and_then(|r| r.get("dxf_path"))
        .and_then(Value::as_str);
    direct
        .chain(in_files)
        .chain(in_report)
        .map(|path| path.rsplit('/').next().unwrap_or(path))
}

/// One page of the jobs the engine query and the search both select,
/// newest first.
pub async fn search_page(
    state: &AppState,
    mut query: JobQuery,
    search: &JobSearch,
) -> ApiResult<JobPage> {
    let limit = query.limit;
    let mut jobs = Vec::new();
    for _ in 0..MAX_READS {
        query.limit = limit - jobs.len();
        let page = state.queue.list(query.clone()).await?;
        // Jobs come newest first by creation: once one is older than
        // `since`, so are all after it.
        let past_since = page
            .jobs
            .last()
            .is_some_and(|j| search.since.is_some_and(|t| j.created_at < t));
        jobs.extend(page.jobs.into_iter().filter(|j| search.matches(j)));
        match page.next_cursor {
            Some(next) if !past_since && jobs.len() < limit => query.cursor = Some(next),
            Some(next) if !past_since => {
                return Ok(JobPage {
                    jobs,
                    next_cursor: Some(next),
                })
            }
            _ => {
                return Ok(JobPage {
                    jobs,
                    next_cursor: None,
                })
            }
        }
    }
    Ok(JobPage {
        jobs,
        next_cursor: query.cursor,
    })
}
