//! The command line: one subcommand per task, each a thin layer over the
//! engine's [`wjp_queue::Queue`] API or a domain crate. This file holds the
//! commands' flags and the dispatch; `jobs.rs` the commands that talk to the
//! queue (submit, status, schedules, ...), `history.rs` the audit log,
//! `drawing.rs` those that work on a file here and now (analyze, convert,
//! csv, nest, gcode).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Parser, Subcommand};
use wjp_queue::Status;

mod drawing;
mod history;
mod jobs;
mod remnants;

use drawing::{analyze, convert, csv, gcode, nest};
pub use drawing::{AnalyzeArgs, ConvertArgs, GcodeArgs, NestArgs};
pub use history::HistoryArgs;
use jobs::{describe, describe_info, find, schedule, submit};

use crate::config::GlobalArgs;

#[derive(Debug, Parser)]
#[command(
    name = "wjp",
    version,
    about = "Job queue service for waterjet cutting shops"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// `wjp queue ...`: steering a queue.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Stop workers from taking the queue's jobs: it still takes new jobs,
    /// and jobs already running finish.
    Pause {
        /// The queue's name.
        queue: String,
    },
    /// Let workers take the queue's jobs again.
    Resume {
        /// The queue's name.
        queue: String,
    },
    /// Run every failed job of the queue again, each with all its attempts.
    RetryFailed {
        /// The queue's name.
        queue: String,
        /// At most this many jobs, newest first.
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
    },
    /// Limit the queue across every worker on every machine: jobs running
    /// at once, claims per second or minute, jobs of one group running at
    /// once. A flag given replaces that limit and keeps the others; with no
    /// flag, shows the limits.
    Limit {
        /// The queue's name.
        queue: String,
        /// At most N of the queue's jobs running at once.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_running: Option<u32>,
        /// At most N claims of the queue's jobs per second (N/s) or minute (N/m).
        #[arg(long, value_name = "N/s|N/m", value_parser = parse_rate)]
        rate: Option<wjp_queue::Rate>,
        /// At most N jobs of one group (`wjp submit --group`) running at
        /// once; jobs without a group are not held by it.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        per_group_max_running: Option<u32>,
        /// Remove every limit.
        #[arg(long, conflicts_with_all = ["max_running", "rate", "per_group_max_running"])]
        clear: bool,
    },
}

fn parse_rate(text: &str) -> Result<wjp_queue::Rate, String> {
    text.parse()
        .map_err(|e: wjp_queue::QueueError| e.to_string())
}

/// `wjp schedule ...`: jobs made on a timetable.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule (or replace the one of that name): a job of KIND
    /// at each tick, made once however many workers run.
    #[command(group(clap::ArgGroup::new("timing").required(true).args(["cron", "every"])))]
    Add {
        /// The schedule's name (lowercase letters, digits, '_').
        name: String,
        /// The kind of job it makes.
        kind: String,
        /// A cron expression with seconds: "SEC MIN HOUR DOM MON DOW"
        /// (for example "0 30 6 * * MON-FRI").
        #[arg(long)]
        cron: Option<String>,
        /// The interval between ticks, with its unit: 30s, 5m, 2h or 1d (at
        /// least 1 s; a bare number is refused).
        #[arg(long, value_parser = duration_seconds)]
        every: Option<f64>,
        /// The job's payload: JSON text, or @file.
        #[arg(long)]
        payload: Option<String>,
        /// The job's queue (default: the kind's).
        #[arg(long)]
        queue: Option<String>,
        /// The IANA time zone of --cron (default UTC), e.g. Europe/Berlin.
        #[arg(long, requires = "cron")]
        timezone: Option<String>,
        /// After downtime, make no job for a tick more than a minute late
        /// (default: one job for the latest missed tick).
        #[arg(long)]
        skip_missed: bool,
    },
    /// List the schedules with their next run and last job.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a schedule: it makes no more jobs.
    Remove {
        /// The schedule's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and dashboard (with in-process workers on the
    /// embedded backend).
    Api(crate::api_cmd::ApiCommandArgs),
    /// Run a worker that takes jobs from the queues and runs them.
    Worker(crate::worker_cmd::WorkerArgs),
    /// Submit a job (or a batch of jobs) and print its id.
    Submit(SubmitArgs),
    /// Show a job.
    Status {
        /// The job's id, or a unique beginning of it (as the dashboard
        /// shows it; at least 4 characters).
        id: String,
        /// Print the whole job as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job (a running one stops within a few seconds).
    Cancel {
        /// The job's id, or a unique beginning of it (at least 4 characters).
        id: String,
    },
    /// Run a failed or cancelled job again.
    Retry {
        /// The job's id, or a unique beginning of it (at least 4 characters).
        id: String,
    },
    /// Show the backend, the jobs per queue and status, and the live workers.
    Info {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List failed jobs, newest first.
    Failed {
        /// Only this queue's (default: every queue's).
        #[arg(long)]
        queue: Option<String>,
        /// At most this many jobs (a whole number, 1 or more).
        #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = count)]
        limit: usize,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The audit log, newest first: who submitted each job, when, with what
    /// options, and each attempt's worker and outcome, kept after the
    /// job's record expired.
    History(HistoryArgs),
    /// Delete the jobs of a queue in one status.
    Purge {
        /// The queue (analysis, conversion, nesting, gcode, default).
        #[arg(long)]
        queue: String,
        /// The status: queued, scheduled, completed, failed or cancelled
        /// (waiting jobs are cancelled, not purged).
        #[arg(long)]
        status: String,
    },
    /// Pause or resume a queue.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Add, list or remove schedules (jobs made on a timetable).
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// List, add or remove the remnants that nests use before full sheets.
    #[command(subcommand)]
    Remnants(remnants::RemnantsCommand),
    /// The shop's figures: material table, prices, machine calibration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Measure end-to-end throughput and latency of no-op jobs.
    Bench(crate::bench::BenchArgs),
    /// Analyse a DXF drawing here and now: cut length, pierces, parts, time, cost.
    Analyze(AnalyzeArgs),
    /// Trace a picture (PNG, JPEG, BMP) into a cuttable DXF, here and now.
    Convert(ConvertArgs),
    /// Analyse a component CSV export here and now.
    Csv {
        /// The CSV file.
        file: PathBuf,
        /// Print the analysis as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Nest the parts of DXF drawings on sheets, here and now.
    Nest(NestArgs),
    /// Write the G-code program of a DXF drawing, here and now.
    Gcode(GcodeArgs),
    /// Run one job of a shop kind, read from standard input (the process
    /// workers start for each such job).
    #[command(hide = true)]
    RunJob(RunJobArgs),
}

/// The ids of every job of `queue` in `status`.
async fn ids_of(
    queue: &wjp_queue::Queue,
    name: &str,
    status: Status,
) -> anyhow::Result<std::collections::HashSet<String>> {
    let mut ids = std::collections::HashSet::new();
    let mut cursor = None;
    loop {
        let page = queue
            .list(wjp_queue::backend::JobQuery {
                queue: Some(queue.catalog().queue(name)?),
                status: Some(status),
                kind: None,
                limit: 1000,
                cursor,
            })
            .await?;
        ids.extend(page.jobs.iter().map(|j| j.id.to_string()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(ids),
        }
    }
}

/// `wjp config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the figures in force, each with its unit and where it came
    /// from (the default, or FILE:LINE).
    Show,
}

#[derive(Debug, clap::Args)]
pub struct RunJobArgs {
    /// The shop kind to run.
    #[arg(long)]
    pub kind: String,
    /// Memory the job may use, in MB.
    #[arg(long)]
    pub memory_budget_mb: u64,
    /// The private directory the parent made for the job's files.
    #[arg(long)]
    pub work_dir: PathBuf,
    /// The shop's figures file the parent loaded.
    #[arg(long, conflicts_with = "no_shop_config")]
    pub shop_config: Option<PathBuf>,
    /// The parent loaded no file: use the compiled-in figures.
    #[arg(long)]
    pub no_shop_config: bool,
}

impl Command {
    /// Long-running commands log at info level by default.
    pub fn is_service(&self) -> bool {
        matches!(self, Command::Worker(_) | Command::Api(_))
    }

    /// A worker's async work is coordination (claims, outcome writes,
    /// heartbeats) while its handlers run on the blocking pool: on one
    /// runtime thread it skips the cross-thread wake-ups that cost half of
    /// its CPU per `noop` job. Everything else serves many clients at once.
    pub fn runs_on_one_thread(&self) -> bool {
        matches!(self, Command::Worker(_))
    }
}

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The job kind (noop, sleep, analyze_dxf, ...). Not used with --batch
    /// or --flow.
    #[arg(required_unless_present_any = ["batch", "flow"])]
    pub kind: Option<String>,
    /// The payload: JSON text, or @FILE to read it from a file.
    #[arg(long, default_value = "{}")]
    pub payload: String,
    /// The queue (default: the kind's).
    #[arg(long)]
    pub queue: Option<String>,
    /// Higher runs first (a whole number; negative runs later than 0).
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Seconds to wait before the job may run (0 or more).
    #[arg(long, allow_negative_numbers = true)]
    pub delay: Option<f64>,
    /// Seconds the job may run, up to the kind's cap (default: the kind's).
    #[arg(long, allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// How many times the job may run in all (first run included) when it
    /// fails; the kind's default when not given.
    #[arg(long, allow_negative_numbers = true)]
    pub max_attempts: Option<u32>,
    /// How many times the job is put back, without spending an attempt,
    /// when the worker running it dies (default 2).
    #[arg(long, allow_negative_numbers = true)]
    pub max_stalls: Option<u32>,
    /// A job id of your own; submitting it again returns the same job.
    #[arg(long)]
    pub job_id: Option<String>,
    /// Your own text kept with the job and shown beside it (a customer, an
    /// order, a drawing number).
    #[arg(long)]
    pub reference: Option<String>,
    /// A key that keeps the job unique in its queue: while a job with this
    /// key waits or runs, submitting another returns that job.
    #[arg(long)]
    pub unique_key: Option<String>,
    /// Seconds after submission during which the unique key holds even
    /// once the job has ended (needs --unique-key).
    #[arg(long, requires = "unique_key")]
    pub unique_for: Option<f64>,
    /// The job's fairness group in its queue (a customer, an order): claims
    /// take the queue's groups in turns, so one group's many jobs cannot
    /// starve another's few. 1 to 64 letters, digits or . _ - : @.
    #[arg(long)]
    pub group: Option<String>,
    /// Jobs this one waits for (ids, comma-separated): it runs once every
    /// one has completed, and is cancelled (dependency_failed) when one
    /// fails or is cancelled.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub after: Vec<String>,
    /// With --after: run once every parent has ended, however it ended.
    #[arg(long, requires = "after")]
    pub run_anyway: bool,
    /// Wait for the job to end, showing its progress, then print it as JSON.
    #[arg(long)]
    pub wait: bool,
    /// A JSON Lines file of jobs: {"kind", "payload", ...} one a line
    /// (blank lines and lines starting with # skipped). Stored all or
    /// none: a refusal names the file's line.
    #[arg(long, conflicts_with_all = ["kind", "wait", "job_id", "flow"])]
    pub batch: Option<PathBuf>,
    /// A flow: a JSON file {"jobs": [{"name", "kind", "payload", "after":
    /// [names], ...}]}, stored whole (or refused whole, naming the node).
    /// Prints one line per node: name, job id, status.
    #[arg(long, conflicts_with_all = ["kind", "wait", "job_id", "after"])]
    pub flow: Option<PathBuf>,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Worker(args) => crate::worker_cmd::run(&global, args).await,
        Command::Api(args) => crate::api_cmd::run(&global, args).await,
        Command::Bench(args) => crate::bench::run(&global, args).await,
        Command::Analyze(args) => analyze(&global.shop()?, args),
        Command::Convert(args) => convert(args),
        Command::Csv { file, json } => csv(&file, json),
        Command::Nest(args) => nest(&global.shop()?, args),
        Command::Gcode(args) => gcode(&global.shop()?, args),
        Command::Config(ConfigCommand::Show) => {
            print!("{}", global.shop()?.show());
            Ok(ExitCode::SUCCESS)
        }
        // main() runs it before any runtime exists.
        Command::RunJob(_) => bail!("run-job is started by workers, not from here"),
        Command::Submit(args) => submit(&global.open_queue().await?, args).await,
        Command::History(args) => {
            history::history(&global.open_existing_queue().await?, args).await
        }
        Command::Status { id, json } => {
            let queue = global.open_existing_queue().await?;
            let job = find(&queue, &id).await?;
            let waiting = queue.why_waiting(&job).await?;
            if json {
                let mut value = serde_json::to_value(&job)?;
                if let Some(reason) = &waiting {
                    value["waiting"] =
                        serde_json::json!({ "message": reason.describe(), "detail": reason });
                }
                print_json(&value)?;
            } else {
                print!("{}", describe(&job));
                if let Some(reason) = &waiting {
                    println!("waiting   {}", reason.describe());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Cancel { id } => {
            let queue = global.open_existing_queue().await?;
            let id = find(&queue, &id).await?.id;
            let outcome = queue.cancel(&id).await?;
            match outcome {
                wjp_queue::CancelOutcome::Cancelled => println!("{id} cancelled"),
                wjp_queue::CancelOutcome::Requested => {
                    println!("{id} is running; its worker was told to stop it")
                }
                wjp_queue::CancelOutcome::AlreadyEnded(status) => {
                    println!("{id} had already ended ({status}); nothing to cancel")
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Retry { id } => {
            let queue = global.open_existing_queue().await?;
            let id = find(&queue, &id).await?.id;
            let job = queue.retry(&id).await?;
            println!("{} queued again on {}", job.id, job.queue);
            Ok(ExitCode::SUCCESS)
        }
        Command::Info { json } => {
            let queue = global.open_existing_queue().await?;
            let info = queue.info().await?;
            let store = global.open_store()?;
            if json {
                let mut value = serde_json::to_value(&info)?;
                value["store"] = serde_json::json!({
                    "kind": store.kind(),
                    "location": store.describe(),
                });
                print_json(&value)?;
            } else {
                print!("{}", describe_info(&info, &store.describe()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Failed {
            queue: q,
            limit,
            json,
        } => {
            let queue = global.open_existing_queue().await?;
            let jobs = queue.failed_jobs(q.as_deref(), limit).await?;
            if json {
                print_json(&jobs)?;
            } else if jobs.is_empty() {
                println!("no failed jobs");
            } else {
                // Written, not printed: a closed pipe (`| head`) is an
                // error to return, where println! would panic.
                let mut out = std::io::stdout().lock();
                for job in jobs {
                    let error = job.state.error.as_ref();
                    writeln!(
                        out,
                        "{}  {}  {}  {}: {}",
                        job.id,
                        job.kind,
                        job.state
                            .completed_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default(),
                        error.map_or("unknown", |e| e.kind.as_str()),
                        error.map_or("", |e| e.message.as_str()),
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge { queue: q, status } => {
            let queue = global.open_existing_queue().await?;
            let status: Status = status.parse()?;
            // The ids first: once purged, nothing says whose files are whose.
            let ids = ids_of(&queue, &q, status).await?;
            let n = queue.purge(&q, status).await?;
            println!("deleted {} from {q}", plural(n, &format!("{status} job")));
            let files = crate::sweep::artefacts_of(&global.open_store()?, &ids).await?;
            if files > 0 {
                println!("deleted {} of theirs", plural(files as u64, "stored file"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Queue(command) => {
            let queue = global.open_queue().await?;
            let message = match command {
                QueueCommand::Pause { queue: q } => match queue.pause(&q).await? {
                    true => format!("paused {q}: its jobs wait until `wjp queue resume {q}`"),
                    false => format!("{q} was already paused"),
                },
                QueueCommand::Resume { queue: q } => match queue.resume(&q).await? {
                    true => format!("resumed {q}"),
                    false => format!("{q} was not paused"),
                },
                QueueCommand::RetryFailed { queue: q, limit } => {
                    let n = queue.retry_failed(&q, limit).await?;
                    format!("queued {} of {q} again", plural(n, "failed job"))
                }
                QueueCommand::Limit {
                    queue: q,
                    max_running,
                    rate,
                    per_group_max_running,
                    clear,
                } => {
                    let current = queue
                        .limits()
                        .await?
                        .into_iter()
                        .find(|(name, _)| *name == q)
                        .map(|(_, limits)| limits);
                    if !clear
                        && max_running.is_none()
                        && rate.is_none()
                        && per_group_max_running.is_none()
                    {
                        // Only a look; an unknown queue is refused as a change would be.
                        let limits = match current {
                            Some(limits) => limits,
                            None => {
                                queue.set_limits(&q, Default::default()).await?;
                                Default::default()
                            }
                        };
                        format!("limits of {q}: {}", limits.describe())
                    } else {
                        let mut limits = if clear {
                            wjp_queue::QueueLimits::default()
                        } else {
                            current.unwrap_or_default()
                        };
                        limits.max_running = max_running.or(limits.max_running);
                        limits.rate = rate.or(limits.rate);
                        limits.per_group_max_running =
                            per_group_max_running.or(limits.per_group_max_running);
                        queue.set_limits(&q, limits).await?;
                        format!("limits of {q}: {}", limits.describe())
                    }
                }
            };
            println!("{message}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Schedule(command) => schedule(&global.open_queue().await?, command).await,
        Command::Remnants(command) => {
            // Only an added remnant's material is looked up: listing and
            // removing work whatever state the shop's file is in.
            let materials = match command {
                remnants::RemnantsCommand::Add { .. } => {
                    crate::shop_config::material_entries(&global.shop()?)
                }
                _ => Vec::new(),
            };
            remnants::remnants(&global.open_queue().await?, &materials, command).await
        }
    }
}

/// `n` and its noun, the noun plural unless `n` is 1 (`1 sheet`, `2 sheets`).
fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else if noun.ends_with('s') || noun.ends_with("sh") || noun.ends_with("ch") {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

/// The forms `--every` takes, for its messages.
const EVERY_FORMS: &str = "a number above 0 with its unit, s, m, h or d: 30s, 5m, 2h or 1d";

/// An interval for `--every`, in seconds: a number with its unit, s, m, h
/// or d. A bare number is refused: `5` could mean seconds or minutes, and
/// a schedule that ticks 60 times too often is a costly misreading.
fn duration_seconds(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let Some((i, _)) = text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) else {
        return Err(format!("{text:?} has no unit: use {EVERY_FORMS}"));
    };
    let (number, unit) = text.split_at(i);
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("{text:?}: use {EVERY_FORMS}")),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n * scale),
        _ => Err(format!("{text:?}: use {EVERY_FORMS}")),
    }
}

/// A number above 0 (a size, a time), for flags.
fn positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        Ok(n) => Err(format!("must be more than 0, got {n}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// A number of 0 or more (a gap, an area), for flags.
fn non_negative(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        Ok(n) => Err(format!("must be 0 or more, got {n}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// A whole number of 1 or more, for flags.
fn count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n >= 1 => usize::try_from(n).map_err(|e| e.to_string()),
        Ok(n) => Err(format!("must be 1 or more, got {n}")),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
