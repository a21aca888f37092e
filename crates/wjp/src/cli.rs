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
        id: String,
        /// Print the whole job as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job (a running one stops within a few seconds).
    Cancel { id: String },
    /// Run a failed or cancelled job again.
    Retry { id: String },
    /// Show the backend, the jobs per queue and status, and the live workers.
    Info {
        #[arg(long)]
        json: bool,
    },
    /// List failed jobs, newest first.
    Failed {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Delete the jobs of a queue in one status.
    Purge {
        #[arg(long)]
        queue: String,
        #[arg(long)]
        status: String,
    },
    /// Measure end-to-end throughput and latency of no-op jobs.
    Bench(crate::bench::BenchArgs),
    /// Analyse a DXF drawing here and now: cut length, pierces, parts, time, cost.
    Analyze(AnalyzeArgs),
    /// Trace a picture (PNG, JPEG, BMP) into a cuttable DXF, here and now.
    Convert(ConvertArgs),
    /// Analyse a component CSV export here and now.
    Csv {
        file: PathBuf,
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

#[derive(Debug, clap::Args)]
pub struct RunJobArgs {
    #[arg(long)]
    pub kind: String,
    #[arg(long)]
    pub memory_budget_mb: u64,
}

#[derive(Debug, clap::Args)]
pub struct NestArgs {
    /// Drawings, each optionally with a quantity: `bracket.dxf:4`.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Sheet size in mm, `WIDTHxHEIGHT`.
    #[arg(long)]
    pub sheet: String,
    /// Gap between parts and to the sheet edge, kerf included (mm).
    #[arg(long, default_value_t = 3.0)]
    pub gap: f64,
    #[arg(long, default_value_t = 1.1)]
    pub kerf: f64,
    /// Allowed rotations in degrees.
    #[arg(long, value_delimiter = ',', default_value = "0,90,180,270")]
    pub rotations: Vec<f64>,
    /// Seconds to spend improving the layout.
    #[arg(long, default_value_t = 10.0)]
    pub time_limit: f64,
    /// Where to write one DXF and one SVG per sheet.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The drawing's units, when its header declares the wrong ones.
    #[arg(long, value_parser = crate::domain::UNITS.map(|(name, _)| name))]
    pub units: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct GcodeArgs {
    pub file: PathBuf,
    #[arg(long, default_value = "mild_steel")]
    pub material: String,
    #[arg(long, default_value_t = 6.0)]
    pub thickness: f64,
    #[arg(long, default_value_t = 1.1)]
    pub kerf: f64,
    #[arg(long, default_value_t = 3)]
    pub quality: u8,
    /// `linuxcnc` or `fanuc`.
    #[arg(long, default_value = "linuxcnc")]
    pub dialect: String,
    /// Where to write the program.
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
    pub image: PathBuf,
    /// Where to write the DXF.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Longer side of the drawing in millimetres (default: 1 pixel = 1 mm).
    #[arg(long)]
    pub size_mm: Option<f64>,
    /// Grey level 0-255 separating shapes from background (default: Otsu's).
    #[arg(long)]
    pub threshold: Option<u8>,
    /// Cut out the light parts instead of the dark ones.
    #[arg(long)]
    pub invert: bool,
    /// Drop specks enclosing fewer pixels than this.
    #[arg(long)]
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
    pub file: PathBuf,
    /// Material name or alias (mild_steel, stainless, aluminium, granite, glass, ...).
    #[arg(long)]
    pub material: Option<String>,
    #[arg(long)]
    pub thickness: Option<f64>,
    /// Cut quality, 1 (rough separation) to 5 (finest).
    #[arg(long)]
    pub quality: Option<u8>,
    #[arg(long)]
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
    #[arg(long)]
    pub queue: Option<String>,
    /// Higher runs first.
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Seconds to wait before the job may run.
    #[arg(long, allow_negative_numbers = true)]
    pub delay: Option<f64>,
    /// Seconds the job may run.
    #[arg(long, allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// How many times the job may run in all (first run included) when it
    /// fails; the kind's default when not given.
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// How many times the job is put back, without spending an attempt,
    /// when the worker running it dies (default 2).
    #[arg(long)]
    pub max_stalls: Option<u32>,
    /// A job id of your own; submitting it again returns the same job.
    #[arg(long)]
    pub job_id: Option<String>,
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
        Command::Analyze(args) => analyze(args),
        Command::Convert(args) => convert(args),
        Command::Csv { file, json } => csv(&file, json),
        Command::Nest(args) => nest(args),
        Command::Gcode(args) => gcode(args),
        // main() runs it before any runtime exists.
        Command::RunJob(_) => bail!("run-job is started by workers, not from here"),
        Command::Submit(args) => submit(&global.open_queue().await?, args).await,
        Command::Status { id, json } => {
            let queue = global.open_queue().await?;
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
            let queue = global.open_queue().await?;
            let outcome = queue.cancel(&JobId::parse(&id)?).await?;
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
            let queue = global.open_queue().await?;
            let job = queue.retry(&JobId::parse(&id)?).await?;
            println!("{} queued again on {}", job.id, job.queue);
            Ok(ExitCode::SUCCESS)
        }
        Command::Info { json } => {
            let queue = global.open_queue().await?;
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
            let queue = global.open_queue().await?;
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
            let queue = global.open_queue().await?;
            let status: Status = status.parse()?;
            let n = queue.purge(&q, status).await?;
            println!("deleted {n} {status} jobs from {q}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut options = wjp_geometry::AnalysisOptions::default();
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
    } else {
        print!("{}", report.summary_text());
    }
    Ok(ExitCode::SUCCESS)
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
            "{}: {} outlines kept of {} found ({} outer, {} holes), {} dropped; {:.1} x {:.1} mm; wrote {}",
            args.image.display(),
            r.contours_kept,
            r.contours_found,
            r.outer_count,
            r.hole_count,
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
        "{}: {} export, {} objects; cutting length {:.3} m, about {} pierces; viability {}",
        file.display(),
        value["format"].as_str().unwrap_or("?"),
        stats["total_objects"],
        summary["cutting_length_m"].as_f64().unwrap_or(0.0),
        summary["pierces_estimate"],
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

fn nest(args: NestArgs) -> anyhow::Result<ExitCode> {
    let (width, height) = args
        .sheet
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<f64>().ok()?, h.trim().parse::<f64>().ok()?)))
        .with_context(|| format!("--sheet {:?} is not WIDTHxHEIGHT in mm", args.sheet))?;
    let analysis = wjp_geometry::AnalysisOptions {
        units_override: units_code(args.units.as_deref())?,
        ..Default::default()
    };
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
            "{} parts placed on {} sheets, utilisation {:.1}%, {} did not fit",
            result.positioned_objects.len(),
            result.sheets_required,
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

fn gcode(args: GcodeArgs) -> anyhow::Result<ExitCode> {
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
            ..Default::default()
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
            "{}: {} pierces, cut {:.1} mm, rapid {:.1} mm, about {:.2} min; wrote {}",
            args.file.display(),
            s["pierces"],
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

async fn find(queue: &Queue, id: &str) -> anyhow::Result<Job> {
    let id = JobId::parse(id)?;
    queue
        .job(&id)
        .await?
        .with_context(|| format!("job {id} not found (it never existed, or its record expired)"))
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
        job_id: args.job_id,
        ..JobRequest::default()
    };
    let enqueued = queue.enqueue(request).await?;
    if !enqueued.created {
        eprintln!(
            "job {} already exists ({}); not submitted again",
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
            "{:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
            q.name, q.scheduled, q.queued, q.running, q.completed, q.failed, q.cancelled
        );
    }
    if info.workers.is_empty() {
        out += "\nno live workers\n";
    } else {
        out += &format!("\n{} live workers\n", info.workers.len());
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
