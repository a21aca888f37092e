//! The commands that talk to the queue: submitting and following jobs,
//! finding them by a beginning of their id, describing them, schedules.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use wjp_queue::schedule::Timing;
use wjp_queue::{Job, JobId, JobRequest, Queue, ScheduleRequest, Status};

use super::{plural, print_json, ScheduleCommand, SubmitArgs};

pub(super) async fn schedule(queue: &Queue, command: ScheduleCommand) -> anyhow::Result<ExitCode> {
    match command {
        ScheduleCommand::Add {
            name,
            kind,
            cron,
            every,
            payload,
            queue: q,
            timezone,
            skip_missed,
        } => {
            let payload = match payload {
                Some(text) => read_payload(&text)?,
                None => Value::Null,
            };
            let added = queue
                .add_schedule(ScheduleRequest {
                    name,
                    kind,
                    payload,
                    queue: q,
                    cron,
                    every,
                    timezone,
                    skip_missed,
                })
                .await?;
            println!(
                "schedule {} makes {} jobs in {}; next run {}",
                added.name,
                added.kind,
                added.queue,
                added.next_run.to_rfc3339()
            );
        }
        ScheduleCommand::List { json } => {
            let all = queue.schedules().await?;
            if json {
                print_json(&all)?;
            } else if all.is_empty() {
                println!("no schedules");
            } else {
                // Written, not printed: a closed pipe is an error to return.
                let mut out = std::io::stdout().lock();
                for s in all {
                    let timing = match &s.timing {
                        Timing::Cron { expr, timezone } => format!("cron \"{expr}\" {timezone}"),
                        Timing::Every { ms } => format!("every {}s", *ms as f64 / 1000.0),
                    };
                    let skip = if s.skip_missed { ", skips missed" } else { "" };
                    writeln!(
                        out,
                        "{}  {} in {}  {timing}{skip}  next {}  last job {}",
                        s.name,
                        s.kind,
                        s.queue,
                        s.next_run.to_rfc3339(),
                        s.last_job.as_deref().unwrap_or("-")
                    )?;
                }
            }
        }
        ScheduleCommand::Remove { name } => {
            if !queue.remove_schedule(&name).await? {
                bail!("no schedule named {name}; `wjp schedule list` shows them");
            }
            println!("removed schedule {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The shortest beginning of an id looked up among all jobs.
const MIN_ID_PREFIX: usize = 4;

/// The job `id` names: its whole id, or a beginning of it that only one
/// job's id has (the dashboard shows ids shortened). Ambiguous beginnings
/// are refused with the jobs they match.
pub(super) async fn find(queue: &Queue, id: &str) -> anyhow::Result<Job> {
    let id = JobId::parse(id.trim())?;
    if let Some(job) = queue.job(&id).await? {
        return Ok(job);
    }
    let not_found = || format!("job {id} not found (it never existed, or its record expired)");
    if id.as_str().len() < MIN_ID_PREFIX {
        bail!(
            "{}; give at least {MIN_ID_PREFIX} characters to look it up by the beginning of its id",
            not_found()
        );
    }
    // A prefix: page through every job (newest first). A one-shot command
    // on a queue whose records expire can afford it; the engine keeps no
    // index of id prefixes.
    let mut matches: Vec<Job> = Vec::new();
    let mut cursor = None;
    loop {
        let page = queue
            .list(wjp_queue::backend::JobQuery {
                queue: None,
                status: None,
                kind: None,
                limit: 1000,
                cursor,
            })
            .await?;
        matches.extend(
            page.jobs
                .into_iter()
                .filter(|j| j.id.as_str().starts_with(id.as_str())),
        );
        cursor = page.next_cursor;
        if cursor.is_none() || matches.len() > 10 {
            break;
        }
    }
    match matches.len() {
        0 => bail!("{}", not_found()),
        1 => Ok(matches.remove(0)),
        n => {
            let listed: Vec<String> = matches
                .iter()
                .take(10)
                .map(|j| format!("  {} {} {}", j.id, j.kind, j.status()))
                .collect();
            bail!(
                "{id} is the beginning of {} ids; give more of it:\n{}{}",
                if n > 10 {
                    "more than 10".to_owned()
                } else {
                    n.to_string()
                },
                listed.join("\n"),
                if n > 10 { "\n  ..." } else { "" }
            )
        }
    }
}

/// Who submits from the command line, as the audit log records it: `cli`
/// and the user's login name when the environment gives one.
fn cli_origin() -> String {
    match std::env::var("USER").or_else(|_| std::env::var("USERNAME")) {
        Ok(user) if !user.is_empty() => format!("cli {user}"),
        _ => "cli".to_owned(),
    }
}

/// Reads `--payload`: JSON text, or `@path` for a file holding it.
fn read_payload(text: &str) -> anyhow::Result<Value> {
    let (source, body) = match text.strip_prefix('@') {
        Some(path) => (
            format!("payload file {path}"),
            std::fs::read_to_string(path)
                .with_context(|| format!("reading payload file {path}"))?,
        ),
        None => ("--payload".to_owned(), text.to_owned()),
    };
    serde_json::from_str(&body).with_context(|| format!("{source} is not valid JSON"))
}

pub(super) async fn submit(queue: &Queue, args: SubmitArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.batch {
        let (lines, mut requests) = read_batch(path)?;
        for request in &mut requests {
            request.origin = Some(cli_origin());
        }
        let single = requests.len() == 1;
        // A refusal names the request by its line of the file, which the
        // user can find; the queue knows only its place in the batch.
        let out = queue.enqueue_batch(requests).await.map_err(|e| {
            let file = path.display();
            match e {
                wjp_queue::QueueError::InBatch { position, error } => {
                    match lines.get(position.wrapping_sub(1)) {
                        Some(line) => anyhow::anyhow!(
                            "{file} line {line} (job {position} of the batch): {error}"
                        ),
                        None => anyhow::Error::new(*error),
                    }
                }
                e if single && e.is_client_error() => match lines.first() {
                    Some(line) => anyhow::anyhow!("{file} line {line}: {e}"),
                    None => anyhow::Error::new(e),
                },
                e => anyhow::Error::new(e),
            }
        })?;
        let mut stdout = std::io::stdout().lock();
        for e in out {
            writeln!(stdout, "{}", e.job.id)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &args.flow {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading flow file {}", path.display()))?;
        let mut flow: wjp_queue::FlowRequest = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a flow ({{\"jobs\": [...]}})", path.display()))?;
        for node in &mut flow.jobs {
            node.job.origin = Some(cli_origin());
        }
        let jobs = queue.submit_flow(flow).await?;
        let mut stdout = std::io::stdout().lock();
        for j in jobs {
            writeln!(stdout, "{}\t{}\t{}", j.name, j.job.id, j.job.status())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let kind = args.kind.clone().unwrap_or_default();
    let request = JobRequest {
        kind,
        payload: read_payload(&args.payload)?,
        queue: args.queue,
        priority: args.priority,
        delay: args.delay,
        timeout: args.timeout,
        max_attempts: args.max_attempts,
        max_stalls: args.max_stalls,
        reference: args.reference,
        unique_key: args.unique_key,
        unique_for: args.unique_for,
        group: args.group,
        job_id: args.job_id,
        after: args.after,
        run_anyway: args.run_anyway,
        origin: Some(cli_origin()),
        ..JobRequest::default()
    };
    let enqueued = queue.enqueue(request).await?;
    if !enqueued.created {
        let holds = match &enqueued.job.unique_key {
            Some(key) => format!("holds unique key {key:?}"),
            None => "already exists".to_owned(),
        };
        eprintln!(
            "job {} {holds} ({}); not submitted again",
            enqueued.job.id,
            enqueued.job.status()
        );
    }
    if !args.wait {
        println!("{}", enqueued.job.id);
        return Ok(ExitCode::SUCCESS);
    }
    // stdout is kept for the job as it ends; the id is said at once, so a
    // wait that turns out long can be left and the job looked up later.
    if enqueued.created {
        eprintln!(
            "job {} submitted to queue {}; waiting for it to end",
            enqueued.job.id, enqueued.job.queue
        );
    }
    let job = follow(queue, &enqueued.job.id).await?;
    print_json(&job)?;
    Ok(if job.status() == Status::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The requests of a batch file, and the line (from 1) each is on.
fn read_batch(path: &PathBuf) -> anyhow::Result<(Vec<usize>, Vec<JobRequest>)> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening batch file {}", path.display()))?;
    let mut lines = Vec::new();
    let mut requests = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {} line {}", path.display(), n + 1))?;
        // Blank lines and comments (`#`, which no JSON line starts with)
        // are for the person who wrote the file.
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let request: JobRequest = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not a job request", path.display(), n + 1))?;
        lines.push(n + 1);
        requests.push(request);
    }
    if requests.is_empty() {
        bail!("batch file {} holds no jobs", path.display());
    }
    Ok((lines, requests))
}

/// Follows a job's events with a progress bar until it ends, saying (on
/// stderr) when no live worker serves its queue, as `wjp status` does.
async fn follow(queue: &Queue, id: &JobId) -> anyhow::Result<Job> {
    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {percent:>3}% {msg}")?
            .progress_chars("=> "),
    );
    let mut cursor = queue.last_event_id().await?;
    let mut job = find(queue, &id.to_string()).await?;
    // What was last said about a missing worker, so it is said once, and
    // again only if the workers that came went away.
    let mut said = None;
    while !job.status().is_terminal() {
        let no_worker = match queue.why_waiting(&job).await? {
            Some(reason @ wjp_queue::WaitReason::NoWorker { .. }) => Some(reason.describe()),
            _ => None,
        };
        if let Some(text) = &no_worker {
            if said.as_ref() != Some(text) {
                // Above the bar, which hides itself when stderr is not a
                // terminal (its own println would then print nothing).
                bar.suspend(|| eprintln!("job {id} waits: {text}"));
            }
        }
        said = no_worker;
        bar.set_position((job.state.progress.unwrap_or(0.0) * 1000.0) as u64);
        let message = job.state.progress_message.clone().unwrap_or_default();
        bar.set_message(format!("{} {}", job.status(), message));
        let events = queue
            .next_events(cursor.as_deref(), 1000, Duration::from_millis(500))
            .await?;
        if let Some(last) = events.last() {
            cursor = Some(last.id.clone());
        }
        // The job itself is the truth (events may have been pruned).
        job = find(queue, &id.to_string()).await?;
    }
    bar.finish_and_clear();
    Ok(job)
}

pub(super) fn describe(job: &Job) -> String {
    let s = &job.state;
    let mut out = format!(
        "job       {}\nkind      {}\nqueue     {}\nstatus    {}\nattempt   {} of {}\n",
        job.id, job.kind, job.queue, s.status, s.attempt, job.max_attempts
    );
    if let Some(reference) = &job.reference {
        out += &format!("reference {reference}\n");
    }
    if let Some(group) = &job.group {
        out += &format!("group     {group}\n");
    }
    if !job.after.is_empty() {
        let ids: Vec<&str> = job.after.iter().map(|id| id.as_str()).collect();
        let anyway = if job.run_anyway { " (runs anyway)" } else { "" };
        out += &format!("after     {}{anyway}\n", ids.join(", "));
    }
    if s.stalls > 0 {
        out += &format!(
            "stalls    {} of {} (its worker died under it)\n",
            s.stalls, job.max_stalls
        );
    }
    if let Some(p) = s.progress {
        out += &format!(
            "progress  {:.0}% {}\n",
            p * 100.0,
            s.progress_message.as_deref().unwrap_or("")
        );
    }
    out += &format!("created   {}\n", job.created_at.to_rfc3339());
    for (label, t) in [
        (
            "run at",
            Some(s.run_at).filter(|_| s.status == Status::Scheduled),
        ),
        ("started", s.started_at),
        ("ended", s.completed_at),
        ("expires", s.expires_at),
    ] {
        if let Some(t) = t {
            out += &format!("{label:<9} {}\n", t.to_rfc3339());
        }
    }
    if let Some(worker) = &s.worker {
        out += &format!("worker    {worker}\n");
    }
    if let Some(error) = &s.error {
        out += &format!("error     {}: {}\n", error.kind, error.message);
    }
    if let Some(result) = &s.result {
        out += &format!("result    {result}\n");
    }
    out
}

pub(super) fn describe_info(info: &wjp_queue::SystemInfo, store: &str) -> String {
    // A cluster is named by the nodes it was reached through; its
    // primaries are the ones that hold the queues.
    let primaries = match info.backend.details.get("cluster_primaries") {
        Some(serde_json::Value::Array(nodes)) => format!(
            "\nprimaries {}",
            nodes
                .iter()
                .filter_map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => String::new(),
    };
    let mut out = format!(
        "backend  {} at {}{primaries}\nstore    {store}\n\n{:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
        info.backend.name,
        info.backend.location,
        "queue",
        "waiting",
        "scheduled",
        "queued",
        "running",
        "completed",
        "failed",
        "cancelled"
    );
    for q in &info.queues {
        out += &format!(
            "{:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{}\n",
            q.name,
            q.waiting,
            q.scheduled,
            q.queued,
            q.running,
            q.completed,
            q.failed,
            q.cancelled,
            if q.paused { "  (paused)" } else { "" }
        );
        if !q.limits.is_none() {
            out += &format!("{:<12}limits: {}\n", "", q.limits.describe());
        }
    }
    if info.workers.is_empty() {
        out += "\nno live workers\n";
    } else {
        out += &format!("\n{}\n", plural(info.workers.len() as u64, "live worker"));
        for w in &info.workers {
            out += &format!(
                "  {} (pid {} on {}) queues {} running [{}], heartbeat {}\n",
                w.name,
                w.pid,
                w.host,
                w.queues.join(","),
                w.current_jobs.join(", "),
                w.heartbeat_at.to_rfc3339()
            );
        }
    }
    out
}
