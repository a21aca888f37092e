//! The command line: one subcommand per task, each a thin layer over the
//! engine's [`Queue`] API.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde_json::Value;
use wjp_queue::{Job, JobId, JobRequest, Queue, Status};

use crate::config::GlobalArgs;
use crate::domain::{suspicious_units, UnitsDoor};
use crate::shop_config::ShopConfig;

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
    /// Limit the queue across every worker on every machine: jobs running
    /// at once, claims per second or minute. A flag given replaces that
    /// limit and keeps the other; with no flag, shows the limits.
    Limit {
        /// The queue's name.
        queue: String,
        /// At most N of the queue's jobs running at once.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_running: Option<u32>,
        /// At most N claims of the queue's jobs per second (N/s) or minute (N/m).
        #[arg(long, value_name = "N/s|N/m", value_parser = parse_rate)]
        rate: Option<wjp_queue::Rate>,
        /// Remove both limits.
        #[arg(long, conflicts_with_all = ["max_running", "rate"])]
        clear: bool,
    },
}

fn parse_rate(text: &str) -> Result<wjp_queue::Rate, String> {
    text.parse()
        .map_err(|e: wjp_queue::QueueError| e.to_string())
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
    /// Delete the jobs of a queue in one status.
    Purge {
        /// The queue (analysis, conversion, nesting, gcode, default).
        #[arg(long)]
        queue: String,
        /// The status: queued, scheduled, completed, failed or cancelled.
        #[arg(long)]
        status: String,
    },
    /// Pause or resume a queue.
    #[command(subcommand)]
    Queue(QueueCommand),
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
    /// The shop's figures file the parent loaded.
    #[arg(long, conflicts_with = "no_shop_config")]
    pub shop_config: Option<PathBuf>,
    /// The parent loaded no file: use the compiled-in figures.
    #[arg(long)]
    pub no_shop_config: bool,
}

#[derive(Debug, clap::Args)]
pub struct NestArgs {
    /// Drawings, each optionally with a quantity: `bracket.dxf:4`.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Sheet size in mm, `WIDTHxHEIGHT`.
    #[arg(long)]
    pub sheet: String,
    /// Gap between parts and to the sheet edge, kerf included, in mm (0 or more).
    #[arg(long, default_value_t = 3.0, allow_negative_numbers = true, value_parser = non_negative)]
    pub gap: f64,
    /// Width of the cut, in mm (more than 0).
    #[arg(long, default_value_t = 1.1, allow_negative_numbers = true, value_parser = positive)]
    pub kerf: f64,
    /// Allowed rotations in degrees, comma-separated (negative turns clockwise).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,90,180,270",
        allow_hyphen_values = true
    )]
    pub rotations: Vec<f64>,
    /// Seconds to spend improving the layout (more than 0).
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true, value_parser = positive)]
    pub time_limit: f64,
    /// Directory to write one DXF and one SVG per sheet to.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The drawing's units, when its header declares the wrong ones.
    #[arg(long, value_parser = crate::domain::UNITS.map(|(name, _)| name))]
    pub units: Option<String>,
    /// Print the layout as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct GcodeArgs {
    /// The DXF drawing.
    pub file: PathBuf,
    /// Material name or alias of the shop's table (`wjp config show`).
    #[arg(long, default_value = "mild_steel")]
    pub material: String,
    /// Sheet thickness, in mm (more than 0).
    #[arg(long, default_value_t = 6.0, allow_negative_numbers = true, value_parser = positive)]
    pub thickness: f64,
    /// Width of the cut, in mm (more than 0).
    #[arg(long, default_value_t = 1.1, allow_negative_numbers = true, value_parser = positive)]
    pub kerf: f64,
    /// Cut quality, 1 (rough separation) to 5 (finest).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u8).range(1..=5))]
    pub quality: u8,
    /// `linuxcnc` or `fanuc`.
    #[arg(long, default_value = "linuxcnc")]
    pub dialect: String,
    /// File to write the program to.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The drawing's units, when its header declares the wrong ones.
    #[arg(long, value_parser = crate::domain::UNITS.map(|(name, _)| name))]
    pub units: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The picture (PNG, JPEG, BMP).
    pub image: PathBuf,
    /// File to write the DXF to.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Longer side of the drawing, in mm (default: 1 pixel = 1 mm).
    #[arg(long, allow_negative_numbers = true, value_parser = positive)]
    pub size_mm: Option<f64>,
    /// Grey level 0-255 separating shapes from background (default: Otsu's).
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<u8>,
    /// Cut out the light parts instead of the dark ones.
    #[arg(long)]
    pub invert: bool,
    /// Drop specks enclosing fewer than this many pixels (0 or more).
    #[arg(long, allow_negative_numbers = true, value_parser = non_negative)]
    pub min_area: Option<f64>,
    /// Also write an SVG preview to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Print the conversion report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The DXF drawing.
    pub file: PathBuf,
    /// Material name or alias of the shop's table (mild_steel, stainless,
    /// aluminium, granite, glass, ...; `wjp config show` lists them).
    #[arg(long)]
    pub material: Option<String>,
    /// Sheet thickness, in mm (more than 0; default 6).
    #[arg(long, allow_negative_numbers = true, value_parser = positive)]
    pub thickness: Option<f64>,
    /// Cut quality, 1 (rough separation) to 5 (finest; default 3).
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub quality: Option<u8>,
    /// Width of the cut, in mm (more than 0; default 1.1).
    #[arg(long, allow_negative_numbers = true, value_parser = positive)]
    pub kerf: Option<f64>,
    /// The drawing's units, when its header declares the wrong ones.
    #[arg(long, value_parser = crate::domain::UNITS.map(|(name, _)| name))]
    pub units: Option<String>,
    /// Print the whole report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write an SVG picture of the drawing to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
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
    /// The job kind (noop, sleep, analyze_dxf, ...). Not used with --batch.
    #[arg(required_unless_present = "batch")]
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
    /// A key that keeps the job unique in its queue: while a job with this
    /// key waits or runs, submitting another returns that job.
    #[arg(long)]
    pub unique_key: Option<String>,
    /// Seconds after submission during which the unique key holds even
    /// once the job has ended (needs --unique-key).
    #[arg(long, requires = "unique_key")]
    pub unique_for: Option<f64>,
    /// Wait for the job to end, showing its progress, then print it as JSON.
    #[arg(long)]
    pub wait: bool,
    /// A JSON Lines file of jobs: {"kind", "payload", ...} one a line.
    #[arg(long, conflicts_with_all = ["kind", "wait", "job_id"])]
    pub batch: Option<PathBuf>,
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
            if json {
                print_json(&info)?;
            } else {
                print!("{}", describe_info(&info));
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
                for job in jobs {
                    let error = job.state.error.as_ref();
                    println!(
                        "{}  {}  {}  {}: {}",
                        job.id,
                        job.kind,
                        job.state
                            .completed_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default(),
                        error.map_or("unknown", |e| e.kind.as_str()),
                        error.map_or("", |e| e.message.as_str()),
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge { queue: q, status } => {
            let queue = global.open_existing_queue().await?;
            let status: Status = status.parse()?;
            let n = queue.purge(&q, status).await?;
            println!("deleted {} from {q}", plural(n, &format!("{status} job")));
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
                QueueCommand::Limit {
                    queue: q,
                    max_running,
                    rate,
                    clear,
                } => {
                    let current = queue
                        .limits()
                        .await?
                        .into_iter()
                        .find(|(name, _)| *name == q)
                        .map(|(_, limits)| limits);
                    if !clear && max_running.is_none() && rate.is_none() {
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
                        queue.set_limits(&q, limits).await?;
                        format!("limits of {q}: {}", limits.describe())
                    }
                }
            };
            println!("{message}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn analyze(shop: &ShopConfig, args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut options = shop.analysis_options();
    if let Some(m) = args.material {
        options.material = m;
    }
    if let Some(t) = args.thickness {
        options.thickness_mm = t;
    }
    if let Some(q) = args.quality {
        options.quality = q;
    }
    if let Some(k) = args.kerf {
        options.kerf_mm = k;
    }
    options.units_override = units_code(args.units.as_deref())?;
    let report = wjp_geometry::analyze_dxf_file(&args.file, &options, &mut |_, _| {})
        .with_context(|| format!("analysing {}", args.file.display()))?;
    if let Some(svg) = &args.svg {
        std::fs::write(svg, report.to_svg())
            .with_context(|| format!("writing {}", svg.display()))?;
    }
    if args.json {
        print_json(&report)?;
    } else if is_empty(&report) {
        print!("{}", empty_summary(&report));
    } else {
        print!("{}", report.summary_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// A drawing with nothing to cut: no contour, no chain.
fn is_empty(report: &wjp_geometry::AnalysisReport) -> bool {
    let m = &report.metrics;
    m.pierce_count == 0 && m.closed_contours == 0 && m.open_chains == 0
}

/// What an empty drawing is, said plainly: its file and units, that
/// there is nothing to cut, and its warnings. No length, time or quote,
/// which would be zeros (or "-0.00") that read like a result.
fn empty_summary(report: &wjp_geometry::AnalysisReport) -> String {
    let mut out: String = report
        .summary_text()
        .lines()
        .take_while(|l| !l.starts_with("Size:"))
        .map(|l| format!("{l}\n"))
        .collect();
    out += "Empty drawing: nothing to cut (no contours, no open chains); no time or quote.\n";
    for w in &report.warnings {
        out += &format!("Warning: {} ({}): {}\n", w.code, w.count, w.message);
    }
    out
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

fn convert(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let mut options = wjp_convert::ConvertOptions {
        size_mm: args.size_mm,
        threshold: args.threshold,
        invert: args.invert,
        ..Default::default()
    };
    if let Some(area) = args.min_area {
        options.min_area_px = area;
    }
    let bytes =
        std::fs::read(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let conversion = wjp_convert::image_to_dxf(&bytes, &options)
        .with_context(|| format!("converting {}", args.image.display()))?;
    std::fs::write(&args.output, &conversion.dxf)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if let Some(svg) = &args.svg {
        std::fs::write(svg, &conversion.svg)
            .with_context(|| format!("writing {}", svg.display()))?;
    }
    let r = &conversion.report;
    if args.json {
        print_json(r)?;
    } else {
        println!(
            "{}: {} kept of {} found ({} outer, {}), {} dropped; {:.1} x {:.1} mm; wrote {}",
            args.image.display(),
            plural(r.contours_kept as u64, "outline"),
            r.contours_found,
            r.outer_count,
            plural(r.hole_count as u64, "hole"),
            r.contours_dropped,
            r.size_mm[0],
            r.size_mm[1],
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn csv(file: &PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let analysis = wjp_convert::analyze_components_csv(&bytes, &Default::default())
        .with_context(|| format!("analysing {}", file.display()))?;
    let value = serde_json::to_value(&analysis)?;
    if json {
        print_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let stats = &value["statistics"];
    let summary = &value["summary"];
    println!(
        "{}: {} export, {}; cutting length {:.3} m, about {}; viability {}",
        file.display(),
        value["format"].as_str().unwrap_or("?"),
        plural(stats["total_objects"].as_u64().unwrap_or(0), "object"),
        summary["cutting_length_m"].as_f64().unwrap_or(0.0),
        plural(summary["pierces_estimate"].as_u64().unwrap_or(0), "pierce"),
        value["recommendations"]["viability_score"]
    );
    for w in value["recommendations"]["warnings"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  - {}: {}",
            w["type"].as_str().unwrap_or("?"),
            w["message"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn nest(shop: &ShopConfig, args: NestArgs) -> anyhow::Result<ExitCode> {
    let (width, height) = args
        .sheet
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<f64>().ok()?, h.trim().parse::<f64>().ok()?)))
        .with_context(|| format!("--sheet {:?} is not WIDTHxHEIGHT in mm", args.sheet))?;
    let mut analysis = shop.analysis_options();
    analysis.units_override = units_code(args.units.as_deref())?;
    let mut parts = Vec::new();
    for spec in &args.files {
        let (path, quantity) = match spec.rsplit_once(':') {
            Some((p, q)) if q.parse::<u32>().is_ok() => (p, q.parse::<u32>()?),
            _ => (spec.as_str(), 1),
        };
        let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        if analysis.units_override.is_none() {
            let drawing = wjp_geometry::load_drawing(&bytes, &analysis, &mut |_, _| {})
                .with_context(|| format!("reading {path}"))?;
            if let Some(note) = drawing
                .units
                .note
                .as_deref()
                .filter(|_| drawing.units.suspicious)
            {
                bail!("{path}: {}", suspicious_units(note, UnitsDoor::CommandLine));
            }
        }
        let name = std::path::Path::new(path)
            .file_stem()
            .map_or_else(|| "part".into(), |s| s.to_string_lossy().into_owned());
        parts.extend(
            wjp_cam::PartInput::from_dxf(&name, &bytes, quantity, &analysis)
                .with_context(|| format!("reading the parts of {path}"))?,
        );
    }
    let options = wjp_cam::NestOptions {
        sheet_width: width,
        sheet_height: height,
        gap: args.gap,
        kerf: args.kerf,
        rotations: args.rotations,
        time_limit_s: args.time_limit,
        ..Default::default()
    };
    let result = wjp_cam::nest(&parts, &options, &mut |_, _| {}, &|| false).context("nesting")?;
    if let Some(dir) = &args.output {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for sheet in &result.sheets {
            for (ext, text) in [("dxf", &sheet.dxf), ("svg", &sheet.svg)] {
                let path = dir.join(format!("sheet{}.{ext}", sheet.sheet));
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    if args.json {
        let mut value = serde_json::to_value(&result)?;
        value["svg"] = Value::Null;
        for sheet in value["sheets"].as_array_mut().into_iter().flatten() {
            sheet["dxf"] = Value::Null;
            sheet["svg"] = Value::Null;
        }
        print_json(&value)?;
    } else {
        println!(
            "{} placed on {}, utilisation {:.1}%, {} did not fit",
            plural(result.positioned_objects.len() as u64, "part"),
            plural(result.sheets_required as u64, "sheet"),
            result.final_utilization,
            result.failed_objects.len()
        );
        for failed in &result.failed_objects {
            println!("  - {}: {}", failed.part, failed.reason);
        }
        print_warnings(&result.warnings);
    }
    Ok(ExitCode::SUCCESS)
}

fn gcode(shop: &ShopConfig, args: GcodeArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let options = wjp_cam::GcodeOptions {
        material: args.material,
        thickness_mm: args.thickness,
        kerf_mm: args.kerf,
        quality: args.quality,
        dialect: args.dialect,
        analysis: wjp_geometry::AnalysisOptions {
            units_override: units_code(args.units.as_deref())?,
            ..shop.analysis_options()
        },
        ..Default::default()
    };
    let program = wjp_cam::generate_gcode(&bytes, &options)
        .with_context(|| format!("writing the G-code of {}", args.file.display()))?;
    if options.analysis.units_override.is_none() {
        if let Some(w) = program
            .warnings
            .iter()
            .find(|w| w.code == "units_suspicious")
        {
            bail!(
                "{}: {}",
                args.file.display(),
                suspicious_units(&w.message, UnitsDoor::CommandLine)
            );
        }
    }
    std::fs::write(&args.output, &program.program)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if args.json {
        print_json(
            &serde_json::json!({ "summary": program.summary, "warnings": program.warnings }),
        )?;
    } else {
        let s = serde_json::to_value(&program.summary)?;
        println!(
            "{}: {}, cut {:.1} mm, rapid {:.1} mm, about {:.2} min; wrote {}",
            args.file.display(),
            plural(s["pierces"].as_u64().unwrap_or(0), "pierce"),
            s["cut_length_mm"].as_f64().unwrap_or(0.0),
            s["rapid_length_mm"].as_f64().unwrap_or(0.0),
            s["estimated_time_min"].as_f64().unwrap_or(0.0),
            args.output.display()
        );
        print_warnings(&program.warnings);
    }
    Ok(ExitCode::SUCCESS)
}

/// The `$INSUNITS` code of `--units` (clap has checked the name).
fn units_code(units: Option<&str>) -> anyhow::Result<Option<i64>> {
    Ok(crate::domain::units_field(units, "--units")?)
}

/// Text mode shows what JSON mode lists under `warnings`.
fn print_warnings(warnings: &[wjp_geometry::Warning]) {
    for w in warnings {
        println!("  warning {}: {}", w.code, w.message);
    }
}

/// The shortest beginning of an id looked up among all jobs.
const MIN_ID_PREFIX: usize = 4;

/// The job `id` names: its whole id, or a beginning of it that only one
/// job's id has (the dashboard shows ids shortened). Ambiguous beginnings
/// are refused with the jobs they match.
async fn find(queue: &Queue, id: &str) -> anyhow::Result<Job> {
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

async fn submit(queue: &Queue, args: SubmitArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.batch {
        let requests = read_batch(path)?;
        let out = queue.enqueue_batch(requests).await?;
        let mut stdout = std::io::stdout().lock();
        for e in out {
            writeln!(stdout, "{}", e.job.id)?;
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
        unique_key: args.unique_key,
        unique_for: args.unique_for,
        job_id: args.job_id,
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
    let job = follow(queue, &enqueued.job.id).await?;
    print_json(&job)?;
    Ok(if job.status() == Status::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_batch(path: &PathBuf) -> anyhow::Result<Vec<JobRequest>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening batch file {}", path.display()))?;
    let mut requests = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {} line {}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let request: JobRequest = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not a job request", path.display(), n + 1))?;
        requests.push(request);
    }
    if requests.is_empty() {
        bail!("batch file {} holds no jobs", path.display());
    }
    Ok(requests)
}

/// Follows a job's events with a progress bar until it ends.
async fn follow(queue: &Queue, id: &JobId) -> anyhow::Result<Job> {
    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {percent:>3}% {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let mut cursor = queue.last_event_id().await?;
    let mut job = find(queue, &id.to_string()).await?;
    while !job.status().is_terminal() {
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

fn describe(job: &Job) -> String {
    let s = &job.state;
    let mut out = format!(
        "job       {}\nkind      {}\nqueue     {}\nstatus    {}\nattempt   {} of {}\n",
        job.id, job.kind, job.queue, s.status, s.attempt, job.max_attempts
    );
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

fn describe_info(info: &wjp_queue::SystemInfo) -> String {
    let mut out = format!(
        "backend  {} at {}\n\n{:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
        info.backend.name,
        info.backend.location,
        "queue",
        "scheduled",
        "queued",
        "running",
        "completed",
        "failed",
        "cancelled"
    );
    for q in &info.queues {
        out += &format!(
            "{:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{}\n",
            q.name,
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
