//! `wjp history`: the audit log (`wjp_queue::audit`) at the command line,
//! as a table, JSON lines or the CSV the API exports.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use wjp_queue::audit::{AuditQuery, Outcome, MAX_PAGE};
use wjp_queue::{Kind, Queue};

/// `wjp history ...`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Entries at or after this date (2026-12-04, UTC) or RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Entries up to the end of this date, or before this RFC 3339 time.
    #[arg(long)]
    pub until: Option<String>,
    /// Only jobs of this kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only this queue.
    #[arg(long)]
    pub queue: Option<String>,
    /// Only jobs whose reference holds this text (any case).
    #[arg(long)]
    pub reference: Option<String>,
    /// Only this job (its id).
    #[arg(long)]
    pub job: Option<String>,
    /// Only entries with this outcome: submitted, completed, failed,
    /// retrying, stalled, handed_back, cancelled or retried.
    #[arg(long)]
    pub outcome: Option<String>,
    /// At most this many entries, newest first (default 100; any number).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Print CSV (formula-like cells start with an apostrophe).
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// Print one JSON object a line.
    #[arg(long)]
    pub json: bool,
}

/// The engine's query for the flags, every value checked.
fn query_of(queue: &Queue, args: &HistoryArgs) -> anyhow::Result<AuditQuery> {
    let time = |name: &str, v: &Option<String>, end_of_day: bool| {
        v.as_deref()
            .map(|t| wjp_api::history::parse_time(name, t, end_of_day))
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let kind = match &args.kind {
        Some(name) => {
            queue.catalog().kind(name)?;
            Some(Kind::parse(name)?)
        }
        None => None,
    };
    let queue_name = args
        .queue
        .as_deref()
        .map(|q| queue.catalog().queue(q))
        .transpose()?;
    Ok(AuditQuery {
        since: time("--since", &args.since, false)?,
        until: time("--until", &args.until, true)?,
        queue: queue_name,
        kind,
        job: args
            .job
            .as_deref()
            .map(wjp_queue::JobId::parse)
            .transpose()?,
        reference: args.reference.clone(),
        outcome: args
            .outcome
            .as_deref()
            .map(str::parse::<Outcome>)
            .transpose()?,
        limit: args.limit,
    })
}

pub(super) async fn history(queue: &Queue, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let mut query = query_of(queue, &args)?;
    // Pages of at most MAX_PAGE until the limit is reached or the range
    // ends; a page may hold a few entries more (it ends between
    // milliseconds), cut here.
    let wanted = query.limit;
    anyhow::ensure!(wanted >= 1, "--limit must be 1 or more, got 0");
    query.limit = wanted.min(MAX_PAGE);
    query.check()?;
    let mut entries = Vec::new();
    loop {
        let page = queue.history(&query).await.context("reading the history")?;
        entries.extend(page.entries);
        match page.next_until {
            Some(until) if entries.len() < wanted => query.until = Some(until),
            _ => break,
        }
    }
    entries.truncate(wanted);
    let mut out = std::io::stdout().lock();
    if args.csv {
        out.write_all(wjp_api::history::to_csv(&entries).as_bytes())?;
    } else if args.json {
        for e in &entries {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
    } else if entries.is_empty() {
        writeln!(out, "no entries")?;
    } else {
        for e in &entries {
            let mut line = format!(
                "{}  {:<11} {:<13} {}",
                e.at.to_rfc3339(),
                e.outcome.as_str(),
                e.kind,
                e.job_id
            );
            if let Some(r) = &e.reference {
                line += &format!("  ref {r:?}");
            }
            if e.attempt > 0 {
                line += &format!("  attempt {}", e.attempt);
            }
            if let Some(w) = &e.worker {
                line += &format!("  on {w}");
            }
            if let Some(o) = &e.origin {
                line += &format!("  by {o}");
            }
            if let (Some(k), Some(m)) = (e.error_kind, &e.message) {
                line += &format!("  {k}: {m}");
            }
            writeln!(out, "{line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
