//! `GET /history`: the audit log (`wjp_queue::audit`) over HTTP, as JSON
//! pages or as a CSV export, filtered by time, kind, queue, job,
//! reference and outcome. The CSV's text cells are made inert for
//! spreadsheets, as every CSV export of the service is.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use wjp_queue::audit::{AuditEntry, AuditQuery, Outcome};
use wjp_queue::{JobId, Kind, Timestamp};

use crate::error::{ApiError, ApiResult, Code};
use crate::jobs::{CheckedQuery, QueryFields};
use crate::AppState;

/// Entries of a JSON page when the query names no limit.
const DEFAULT_LIMIT: usize = 100;
/// Most rows of one CSV export; a larger range is cut, and says so.
pub const MAX_CSV_ROWS: usize = 100_000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/history", get(history))
}

/// The query string of `GET /history`.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    since: Option<String>,
    until: Option<String>,
    kind: Option<String>,
    queue: Option<String>,
    job: Option<String>,
    reference: Option<String>,
    outcome: Option<String>,
    limit: Option<usize>,
    format: Option<String>,
}

impl QueryFields for HistoryQuery {
    const FIELDS: &'static [&'static str] = &[
        "since",
        "until",
        "kind",
        "queue",
        "job",
        "reference",
        "outcome",
        "limit",
        "format",
    ];
}

/// A time of the query: RFC 3339 (`2026-12-04T08:00:00Z`) or a date
/// (`2026-12-04`, UTC). A date as `until` means the end of that day, so
/// `since=D&until=D` is the whole day D.
pub fn parse_time(name: &str, text: &str, end_of_day: bool) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Timestamp(t.timestamp_millis()));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!(
            "{name} must be a date (2026-12-04) or an RFC 3339 time \
             (2026-12-04T08:00:00Z), got {:?}",
            text.chars().take(40).collect::<String>()
        )
    })?;
    let day = if end_of_day {
        date.succ_opt()
            .ok_or_else(|| format!("{name} is past the last date this server knows"))?
    } else {
        date
    };
    let midnight = day
        .and_hms_opt(0, 0, 0)
        .map(|t| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc))
        .ok_or_else(|| format!("{name} is not a time"))?;
    Ok(Timestamp(midnight.timestamp_millis()))
}

/// Turns the query string into an engine query; every value checked.
fn audit_query(state: &AppState, q: &HistoryQuery) -> ApiResult<AuditQuery> {
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let time = |name: &str, v: &Option<String>, end: bool| {
        given(v)
            .map(|t| parse_time(name, t, end))
            .transpose()
            .map_err(|m| ApiError::new(Code::InvalidQuery, m))
    };
    let kind = given(&q.kind)
        .map(|name| {
            state.queue.catalog().kind(name)?;
            Kind::parse(name)
        })
        .transpose()?;
    let queue = given(&q.queue)
        .map(|name| state.queue.catalog().queue(name))
        .transpose()?;
    let job = given(&q.job)
        .map(|id| {
            JobId::parse(id).map_err(|e| ApiError::new(Code::InvalidQuery, format!("job: {e}")))
        })
        .transpose()?;
    let outcome = given(&q.outcome).map(str::parse::<Outcome>).transpose()?;
    let query = AuditQuery {
        since: time("since", &q.since, false)?,
        until: time("until", &q.until, true)?,
        queue,
        kind,
        job,
        reference: given(&q.reference).map(str::to_owned),
        outcome,
        limit: q.limit.unwrap_or(DEFAULT_LIMIT),
    };
    query
        .check()
        .map_err(|e| ApiError::new(Code::InvalidQuery, e.to_string()))?;
    Ok(query)
}

async fn history(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<HistoryQuery>,
) -> ApiResult<Response> {
    let mut query = audit_query(&state, &q)?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => {
            let page = state.queue.history(&query).await?;
            Ok(Json(json!({
                "success": true,
                "entries": page.entries,
                "next_until": page.next_until,
            }))
            .into_response())
        }
        "csv" => {
            // The whole range, page after page, up to MAX_CSV_ROWS.
            query.limit = wjp_queue::audit::MAX_PAGE;
            let mut entries = Vec::new();
            let mut cut = false;
            loop {
                let page = state.queue.history(&query).await?;
                entries.extend(page.entries);
                match page.next_until {
                    Some(_) if entries.len() >= MAX_CSV_ROWS => {
                        cut = true;
                        break;
                    }
                    Some(until) => query.until = Some(until),
                    None => break,
                }
            }
            entries.truncate(MAX_CSV_ROWS);
            let mut response = (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"wjp-history.csv\"",
                    ),
                ],
                to_csv(&entries),
            )
                .into_response();
            if cut {
                response.headers_mut().insert(
                    "x-history-truncated",
                    header::HeaderValue::from_static("true"),
                );
            }
            Ok(response)
        }
        other => Err(ApiError::new(
            Code::InvalidQuery,
            format!(
                "format must be json or csv, got {:?}",
                other.chars().take(20).collect::<String>()
            ),
        )),
    }
}

/// A text cell made inert for spreadsheets: a cell that starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return would be read as a formula
/// (references, error messages, layer and part names come from clients and
/// their drawings; the binary's CSV exports use it too),
/// so it gets a leading apostrophe, which spreadsheets show as text.
pub fn inert_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// The columns of the CSV export, in order.
pub const CSV_COLUMNS: [&str; 14] = [
    "at",
    "job_id",
    "queue",
    "kind",
    "outcome",
    "reference",
    "attempt",
    "worker",
    "started_at",
    "error_kind",
    "message",
    "stalls",
    "origin",
    "options",
];

/// Entries as CSV text, a header row first (RFC 4180 quoting).
pub fn to_csv(entries: &[AuditEntry]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail but for a bug: such a row is left out.
    let _ = writer.write_record(CSV_COLUMNS);
    let text = |v: Option<&str>| inert_cell(v.unwrap_or(""));
    for e in entries {
        let row = [
            e.at.to_rfc3339(),
            e.job_id.to_string(),
            e.queue.to_string(),
            e.kind.to_string(),
            e.outcome.as_str().to_owned(),
            text(e.reference.as_deref()),
            e.attempt.to_string(),
            text(e.worker.as_deref()),
            e.started_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            e.error_kind
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default(),
            text(e.message.as_deref()),
            e.stalls.to_string(),
            text(e.origin.as_deref()),
            inert_cell(
                &e.options
                    .as_ref()
                    .map(|o| o.to_string())
                    .unwrap_or_default(),
            ),
        ];
        let _ = writer.write_record(&row);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_parse_and_absurd_ones_are_refused() {
        let day = parse_time("since", "2026-12-04", false).unwrap();
        let end = parse_time("until", "2026-12-04", true).unwrap();
        assert_eq!(end.0 - day.0, 24 * 3600 * 1000);
        assert_eq!(
            parse_time("since", "2026-12-04T01:00:00+01:00", false).unwrap(),
            day
        );
        for bad in [
            "99999-01-01",
            "yesterday",
            "2026-13-01",
            "",
            "+262143-12-31",
        ] {
            assert!(parse_time("since", bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_inert() {
        let entry = AuditEntry::from_line(
            r#"{"t":0,"j":"a","q":"default","k":"noop","o":"submitted","r":"=HYPERLINK(\"x\")","by":"@evil"}"#,
        )
        .unwrap();
        let csv = to_csv(&[entry]);
        let row = csv.lines().nth(1).unwrap();
        assert!(row.contains("'=HYPERLINK"), "{row}");
        assert!(row.contains("'@evil"), "{row}");
    }
}
