//! `wjp bench`: throughput and latency of `noop` jobs through the configured
//! backend (a fresh temporary database unless `--keep-data-dir` or a Redis
//! server is given).
//!
//! A run never touches the shop's data: its jobs go to a queue of its own,
//! `bench_<random>`, that no shop worker reads, and when the run ends (done,
//! failed, or stopped by SIGINT/SIGTERM) everything it made is deleted: the
//! temporary database, or on Redis every key of its queue and of its
//! workers (see [`Site::clean_up`]).
//!
//! Phases, each on the run's own, idle queue:
//! 1. enqueue: `--single` jobs one call each, then `--jobs` in batches, with
//!    no worker running (on Redis, the server's memory per queued job);
//! 2. drain: workers take and complete all of them;
//! 3. end to end: the producer enqueues `--jobs` more while the workers run;
//! 4. latency: one job at a time, from enqueue until its `completed` event
//!    reaches a follower, as a client watching the job would see it.
//!
//! `--rate` measures a rate-limited drain instead, and `--groups N` a drain
//! of jobs spread over N fairness groups beside a plain drain of as many.
//!
//! Workers run in this process (`--workers` runtimes sharing the producer's
//! backend handle, as `wjp api` does) or as `--processes` separate
//! `wjp worker` processes.

use std::process::{Child, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde::Serialize;
use serde_json::json;
use wjp_queue::{
    builtin, Catalog, JobRequest, Queue, QueueName, Status, Worker, WorkerConfig, WorkerExit,
};

use crate::config::{BackendChoice, GlobalArgs};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Jobs per throughput phase.
    #[arg(long, default_value_t = 20_000)]
    pub jobs: usize,
    /// Worker runtimes in this process, sharing its backend handle.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Run this many `wjp worker` processes instead of in-process workers.
    #[arg(long, default_value_t = 0)]
    pub processes: usize,
    /// Jobs each worker runs at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Jobs per enqueue call.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Jobs enqueued one call each, before the batches.
    #[arg(long, default_value_t = 2_000)]
    pub single: usize,
    /// Jobs in the latency phase.
    #[arg(long, default_value_t = 1_000)]
    pub latency_jobs: usize,
    /// Give every job's payload a `file` string of this many bytes beside
    /// its number (0: none): a shop's drawing path and options weigh about
    /// 100-200 bytes, and payload size changes what Redis memory a job
    /// costs (compact encodings hold only short values).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=65_536))]
    pub payload_bytes: u32,
    /// Use the configured --data-dir instead of a fresh temporary database.
    #[arg(long)]
    pub keep_data_dir: bool,
    #[arg(long)]
    pub json: bool,
    /// Instead of the phases: limit the run's queue to this rate (N/s or
    /// N/m), drain --jobs jobs, and report the claims per second the limit
    /// let through in the full windows of the drain.
    #[arg(long, value_name = "N/s|N/m", value_parser = parse_rate)]
    pub rate: Option<wjp_queue::Rate>,
    /// Instead of the phases: drain --jobs jobs without a group, then
    /// --jobs jobs spread over this many fairness groups (claimed in
    /// turns), and report the claims per second of each drain.
    #[arg(long, value_name = "N", conflicts_with = "rate",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub groups: Option<u32>,
}

fn parse_rate(text: &str) -> Result<wjp_queue::Rate, String> {
    text.parse()
        .map_err(|e: wjp_queue::QueueError| e.to_string())
}

/// What a run measured: the phases, or (`--rate`) a limited drain.
enum Measured {
    Phases(Report),
    Rate(RateReport),
    Groups(GroupsReport),
}

/// What `--groups` measures: claims per second (each job is one claim of
/// a `noop`) of a drain without groups and of one with them, same run.
#[derive(Debug, Serialize)]
struct GroupsReport {
    backend: String,
    jobs: usize,
    groups: u32,
    workers: String,
    concurrency: usize,
    plain_drain_claims_per_sec: f64,
    grouped_drain_claims_per_sec: f64,
}

/// What `--rate` measures.
#[derive(Debug, Serialize)]
struct RateReport {
    backend: String,
    rate: String,
    jobs: usize,
    /// Full windows of the rate's period from the first claim, before the
    /// window of the last claim.
    windows: u64,
    /// Claims in those windows.
    claims_in_windows: u64,
    /// Claims per second in those windows.
    claims_per_sec: f64,
    /// The rate set, per second.
    rate_per_sec: f64,
    /// (claims_per_sec - rate_per_sec) / rate_per_sec, in percent.
    deviation_percent: f64,
    /// The most claims in one of those windows.
    max_claims_in_a_window: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: String,
    jobs: usize,
    workers: String,
    concurrency: usize,
    batch: usize,
    /// `--payload-bytes`.
    payload_bytes: u32,
    enqueue_single_jobs_per_sec: f64,
    enqueue_batched_jobs_per_sec: f64,
    /// Server memory per queued job (Redis only).
    memory_bytes_per_queued_job: Option<f64>,
    /// Server memory per completed job the queue retains (until its
    /// result TTL), measured once the queued jobs were drained (Redis
    /// only).
    memory_bytes_per_completed_job: Option<f64>,
    drain_jobs_per_sec: f64,
    end_to_end_jobs_per_sec: f64,
    latency_jobs: usize,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
}

pub async fn run(global: &GlobalArgs, args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.jobs == 0 || args.workers == 0 || args.concurrency == 0 || args.batch == 0 {
        bail!("--jobs, --workers, --concurrency and --batch must be at least 1");
    }
    let site = Site::open(global, &args).await?;
    // The workers live outside the measured phases, so that whatever ends
    // the run (a signal, an error) stops them before the clean-up: a
    // worker still running would write keys again after it.
    let mut pool = None;
    let measured = tokio::select! {
        report = async {
            match (args.rate, args.groups) {
                (Some(rate), _) => {
                    measure_rate(&site, &args, rate, &mut pool).await.map(Measured::Rate)
                }
                (None, Some(groups)) => {
                    measure_groups(&site, &args, groups, &mut pool).await.map(Measured::Groups)
                }
                (None, None) => measure(&site, &args, &mut pool).await.map(Measured::Phases),
            }
        } => report,
        () = crate::service::shutdown_signal() => Err(anyhow!("interrupted; cleaning up")),
    };
    let stopped = match pool.take() {
        Some(pool) => pool.stop().await,
        None => Ok(()),
    };
    let cleaned = site.clean_up().await;
    let report = match measured {
        Ok(report) => {
            stopped?;
            cleaned?;
            report
        }
        Err(e) => {
            // The run's own error comes first; a failed clean-up too must
            // be seen, since it leaves data behind.
            for also in [stopped.err(), cleaned.err()].into_iter().flatten() {
                eprintln!("error: {also:#}");
            }
            return Err(e);
        }
    };
    match report {
        Measured::Phases(report) if args.json => {
            println!("{}", serde_json::to_string(&report)?)
        }
        Measured::Phases(report) => print_report(&report),
        Measured::Rate(rated) if args.json => println!("{}", serde_json::to_string(&rated)?),
        Measured::Rate(r) => println!(
            "{} at {}: {} claims in {} full windows: {:.1} claims/s ({:+.2}% of {:.1}/s), \
             at most {} in one window",
            r.backend,
            r.rate,
            r.claims_in_windows,
            r.windows,
            r.claims_per_sec,
            r.deviation_percent,
            r.rate_per_sec,
            r.max_claims_in_a_window
        ),
        Measured::Groups(g) if args.json => println!("{}", serde_json::to_string(&g)?),
        Measured::Groups(g) => println!(
            "{}: {} jobs, {} workers x {}: {:.0} claims/s without groups, {:.0} claims/s \
             over {} groups",
            g.backend,
            g.jobs,
            g.workers,
            g.concurrency,
            g.plain_drain_claims_per_sec,
            g.grouped_drain_claims_per_sec,
            g.groups
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--groups`: `--jobs` jobs without a group drained, then as many spread
/// over `groups` groups (job i in group i mod groups), each drain timed
/// from the workers' start to the last completion.
async fn measure_groups(
    site: &Site,
    args: &BenchArgs,
    groups: u32,
    pool: &mut Option<WorkerPool>,
) -> anyhow::Result<GroupsReport> {
    let mut drains = Vec::new();
    for grouped in [false, true] {
        let target = completed(site).await? + args.jobs as u64;
        let mut left = args.jobs;
        while left > 0 {
            let n = left.min(args.batch);
            let requests = (0..n)
                .map(|i| {
                    let mut r = JobRequest::new("noop", payload(args, i));
                    if grouped {
                        r.group = Some(format!("g{}", (left - i) % groups as usize));
                    }
                    r
                })
                .collect();
            site.queue.enqueue_batch(requests).await?;
            left -= n;
        }
        let start = Instant::now();
        *pool = Some(WorkerPool::start(site, args)?);
        wait_completed(site, target).await?;
        drains.push(args.jobs as f64 / start.elapsed().as_secs_f64());
        if let Some(pool) = pool.take() {
            pool.stop().await?;
        }
    }
    let backend = site.queue.backend_info();
    Ok(GroupsReport {
        backend: format!("{} ({})", backend.name, backend.location),
        jobs: args.jobs,
        groups,
        workers: if args.processes > 0 {
            format!("{} processes", args.processes)
        } else {
            format!("{} in-process", args.workers)
        },
        concurrency: args.concurrency,
        plain_drain_claims_per_sec: drains[0],
        grouped_drain_claims_per_sec: drains[1],
    })
}

/// `--rate`: the run's queue limited to `rate`, `--jobs` jobs drained; the
/// claims (each job's start) counted in the windows of the rate's period
/// from the first claim.
async fn measure_rate(
    site: &Site,
    args: &BenchArgs,
    rate: wjp_queue::Rate,
    pool: &mut Option<WorkerPool>,
) -> anyhow::Result<RateReport> {
    let queue = &site.queue;
    queue
        .set_limits(
            site.name.as_str(),
            wjp_queue::QueueLimits {
                rate: Some(rate),
                ..wjp_queue::QueueLimits::default()
            },
        )
        .await?;
    let target = completed(site).await? + args.jobs as u64;
    enqueue_all(queue, args).await?;
    *pool = Some(WorkerPool::start(site, args)?);
    wait_completed(site, target).await?;
    if let Some(pool) = pool.take() {
        pool.stop().await?;
    }
    let mut starts = Vec::with_capacity(args.jobs);
    let mut cursor = None;
    loop {
        let page = queue
            .list(wjp_queue::backend::JobQuery {
                queue: Some(site.name.clone()),
                status: Some(wjp_queue::Status::Completed),
                kind: None,
                limit: 500,
                cursor,
            })
            .await?;
        starts.extend(
            page.jobs
                .iter()
                .filter_map(|j| j.state.started_at.map(|t| t.0)),
        );
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    starts.sort_unstable();
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        bail!("no claims to count");
    };
    let period = rate.per.millis();
    let windows = ((last - first) / period).max(0) as u64;
    if windows == 0 {
        bail!("the drain fit in one window: give more --jobs than the rate's count");
    }
    let mut per_window = vec![0u64; windows as usize];
    for t in &starts {
        let w = ((t - first) / period) as usize;
        if let Some(n) = per_window.get_mut(w) {
            *n += 1;
        }
    }
    let claims: u64 = per_window.iter().sum();
    let seconds = (windows as i64 * period) as f64 / 1000.0;
    let claims_per_sec = claims as f64 / seconds;
    let rate_per_sec = f64::from(rate.count) * 1000.0 / period as f64;
    Ok(RateReport {
        backend: {
            let b = queue.backend_info();
            format!("{} ({})", b.name, b.location)
        },
        rate: rate.to_string(),
        jobs: starts.len(),
        windows,
        claims_in_windows: claims,
        claims_per_sec,
        rate_per_sec,
        deviation_percent: (claims_per_sec - rate_per_sec) / rate_per_sec * 100.0,
        max_claims_in_a_window: per_window.iter().copied().max().unwrap_or(0),
    })
}

/// Where a run keeps its jobs: a queue of its own on the configured
/// backend (in a temporary database on SQLite, unless `--keep-data-dir`).
struct Site {
    global: GlobalArgs,
    queue: Queue,
    /// `bench_<random>`: the run's queue, and the start of its workers'
    /// names.
    name: QueueName,
    temp_dir: Option<tempfile::TempDir>,
}

impl Site {
    async fn open(global: &GlobalArgs, args: &BenchArgs) -> anyhow::Result<Site> {
        let mut global = global.clone();
        let mut temp_dir = None;
        if matches!(global.backend_choice(), BackendChoice::Sqlite(_)) && !args.keep_data_dir {
            let dir = tempfile::tempdir().context("creating a temporary data directory")?;
            global.data_dir = dir.path().to_owned();
            temp_dir = Some(dir);
        }
        // Six hex digits: enough to keep concurrent runs apart, and short
        // enough that a job's key stays in the allocator size class a
        // shop queue's (`default`, `analysis`) has, so the memory per
        // queued job measured here is the shop's.
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let name = QueueName::parse(&format!("bench_{tag}"))?;
        // `default` is in every catalog, but no `noop` of this run goes
        // there: the kind is routed to the run's queue.
        let mut catalog = Catalog::new(&[name.as_str()])?;
        builtin::register(&mut catalog)?;
        catalog.register("noop", name.as_str(), None)?;
        catalog.quotas = global.quotas();
        let queue = Queue::new(global.open_backend(false).await?, catalog);
        Ok(Site {
            global,
            queue,
            name,
            temp_dir,
        })
    }

    /// Deletes what the run made. SQLite: the temporary database, or (with
    /// `--keep-data-dir`) the run's jobs and audit entries. Redis: every key of the run's
    /// queue and of its workers, and the queue's name in the list of
    /// queues, so the shop's maintenance never visits it again.
    async fn clean_up(self) -> anyhow::Result<()> {
        let Site {
            global,
            queue,
            name,
            temp_dir,
        } = self;
        match global.backend_choice() {
            BackendChoice::Sqlite(_) => {
                if let Some(dir) = temp_dir {
                    drop(queue);
                    return dir.close().context("removing the temporary database");
                }
                for status in Status::ALL {
                    if status != Status::Running {
                        queue.purge(name.as_str(), status).await?;
                    }
                }
                // Its audit entries too: a benchmark is no job's history.
                queue.forget_history(name.as_str()).await?;
                Ok(())
            }
            BackendChoice::Redis(_) | BackendChoice::RedisCluster(_) => {
                let Some(redis) = global.redis_backend().await? else {
                    return Ok(());
                };
                redis
                    .delete_queue(&name)
                    .await
                    .with_context(|| format!("deleting the benchmark's queue {name}"))?;
                // Their records expire by themselves; gone now, they never
                // show in `wjp info` after the run.
                let prefix = format!("{name}-");
                for worker in queue.workers().await? {
                    if worker.name.starts_with(&prefix) {
                        wjp_queue::backend::Backend::remove_worker(&redis, &worker.name).await?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The four phases; the workers it starts go to `pool`, for the caller to
/// stop.
async fn measure(
    site: &Site,
    args: &BenchArgs,
    pool: &mut Option<WorkerPool>,
) -> anyhow::Result<Report> {
    let (producer, global) = (&site.queue, &site.global);
    let backend = producer.backend_info();
    let completed_before = completed(site).await?;
    let memory_before = redis_used_memory(global).await?;

    let start = Instant::now();
    for i in 0..args.single {
        producer
            .enqueue(JobRequest::new("noop", payload(args, i)))
            .await?;
    }
    let single_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    enqueue_all(producer, args).await?;
    let batched_secs = start.elapsed().as_secs_f64();
    let queued = (args.single + args.jobs) as f64;
    let per_job_since_start = |after: Option<u64>| match (memory_before, after) {
        (Some(before), Some(after)) => Some((after as f64 - before as f64) / queued),
        _ => None,
    };
    let memory_per_job = per_job_since_start(redis_used_memory(global).await?);

    let start = Instant::now();
    *pool = Some(WorkerPool::start(site, args)?);
    let mut target = completed_before + (args.single + args.jobs) as u64;
    wait_completed(site, target).await?;
    let drain_secs = start.elapsed().as_secs_f64();
    let memory_per_completed_job = per_job_since_start(redis_used_memory(global).await?);

    let start = Instant::now();
    enqueue_all(producer, args).await?;
    target += args.jobs as u64;
    wait_completed(site, target).await?;
    let e2e_secs = start.elapsed().as_secs_f64();

    let mut latencies = measure_latency(producer, args.latency_jobs).await?;
    if let Some(pool) = pool.take() {
        pool.stop().await?;
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        latencies[((latencies.len() - 1) as f64 * q).round() as usize]
    };
    Ok(Report {
        backend: format!("{} ({})", backend.name, backend.location),
        jobs: args.jobs,
        workers: if args.processes > 0 {
            format!("{} processes", args.processes)
        } else {
            format!("{} in-process", args.workers)
        },
        concurrency: args.concurrency,
        batch: args.batch,
        payload_bytes: args.payload_bytes,
        enqueue_single_jobs_per_sec: args.single as f64 / single_secs,
        enqueue_batched_jobs_per_sec: args.jobs as f64 / batched_secs,
        memory_bytes_per_queued_job: memory_per_job,
        memory_bytes_per_completed_job: memory_per_completed_job,
        drain_jobs_per_sec: queued / drain_secs,
        end_to_end_jobs_per_sec: args.jobs as f64 / e2e_secs,
        latency_jobs: latencies.len(),
        latency_p50_ms: pick(0.5),
        latency_p99_ms: pick(0.99),
        latency_max_ms: pick(1.0),
    })
}

fn print_report(r: &Report) {
    println!("backend      {}", r.backend);
    println!(
        "jobs         {} per phase, workers: {} x {} concurrency, batches of {}",
        r.jobs, r.workers, r.concurrency, r.batch
    );
    println!(
        "enqueue      {:>10.0} jobs/s one at a time, {:>10.0} jobs/s batched",
        r.enqueue_single_jobs_per_sec, r.enqueue_batched_jobs_per_sec
    );
    if let Some(bytes) = r.memory_bytes_per_queued_job {
        println!("memory       {bytes:>10.0} bytes per queued job (Redis used_memory)");
    }
    if let Some(bytes) = r.memory_bytes_per_completed_job {
        println!("             {bytes:>10.0} bytes per retained completed job");
    }
    println!("drain        {:>10.0} jobs/s", r.drain_jobs_per_sec);
    println!("end to end   {:>10.0} jobs/s", r.end_to_end_jobs_per_sec);
    println!(
        "latency      p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} jobs)",
        r.latency_p50_ms, r.latency_p99_ms, r.latency_max_ms, r.latency_jobs
    );
}

/// Redis's `used_memory` (summed over a cluster's primaries), when the
/// backend is Redis.
async fn redis_used_memory(global: &GlobalArgs) -> anyhow::Result<Option<u64>> {
    match global.redis_backend().await? {
        Some(redis) => Ok(Some(
            redis
                .used_memory()
                .await
                .context("reading Redis's memory use")?,
        )),
        None => Ok(None),
    }
}

/// The payload of the run's job `i` (see `--payload-bytes`).
fn payload(args: &BenchArgs, i: usize) -> serde_json::Value {
    match args.payload_bytes {
        0 => json!({ "i": i }),
        n => json!({ "i": i, "file": "f".repeat(n as usize) }),
    }
}

/// `--jobs` jobs enqueued in calls of `--batch`.
async fn enqueue_all(queue: &Queue, args: &BenchArgs) -> anyhow::Result<()> {
    let mut left = args.jobs;
    while left > 0 {
        let n = left.min(args.batch);
        let requests = (0..n)
            .map(|i| JobRequest::new("noop", payload(args, i)))
            .collect();
        queue.enqueue_batch(requests).await?;
        left -= n;
    }
    Ok(())
}

/// Completed jobs of the run's queue; an error once one failed.
async fn completed(site: &Site) -> anyhow::Result<u64> {
    let counts = site.queue.counts().await?;
    let ours = counts
        .iter()
        .find(|c| c.name == site.name.as_str())
        .context("the benchmark's queue is missing from the counts")?;
    if ours.failed > 0 {
        bail!("{} benchmark jobs failed", ours.failed);
    }
    Ok(ours.completed)
}

async fn wait_completed(site: &Site, target: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = completed(site).await?;
        if done >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {done} of {target} jobs completed in 10 minutes");
        }
        // Counting is not free: poll often enough for a fair timing, no more.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn measure_latency(queue: &Queue, jobs: usize) -> anyhow::Result<Vec<f64>> {
    let mut cursor = queue.last_event_id().await?;
    let mut latencies = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let start = Instant::now();
        let id = queue
            .enqueue(JobRequest::new("noop", json!({})))
            .await?
            .job
            .id;
        'wait: loop {
            let events = queue
                .next_events(cursor.as_deref(), 1000, Duration::from_secs(10))
                .await?;
            if events.is_empty() {
                bail!("job {id} did not complete within 10 s");
            }
            cursor = events.last().map(|e| e.id.clone());
            for e in &events {
                if e.job_id == id && e.status == Status::Completed {
                    break 'wait;
                }
            }
        }
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(latencies)
}

/// The workers of a run: runtimes in this process, or child processes.
struct WorkerPool {
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    handles: Vec<tokio::task::JoinHandle<wjp_queue::error::Result<WorkerExit>>>,
    children: Vec<Child>,
}

impl WorkerPool {
    fn start(site: &Site, args: &BenchArgs) -> anyhow::Result<Self> {
        let (queue, global) = (&site.queue, &site.global);
        let mut pool = WorkerPool {
            stops: Vec::new(),
            handles: Vec::new(),
            children: Vec::new(),
        };
        // Named after the run's queue, so the clean-up finds their records.
        let name = |i: usize| format!("{}-{i}", site.name);
        if args.processes > 0 {
            let exe = std::env::current_exe().context("finding the wjp binary")?;
            for i in 0..args.processes {
                let mut cmd = std::process::Command::new(&exe);
                cmd.args(["--data-dir".as_ref(), global.data_dir.as_os_str()]);
                match global.backend_choice() {
                    BackendChoice::Redis(url) => {
                        cmd.args(["--redis-url", &url]);
                    }
                    BackendChoice::RedisCluster(nodes) => {
                        cmd.args(["--redis-cluster-nodes", &nodes.join(",")]);
                    }
                    BackendChoice::Sqlite(_) => {}
                }
                let concurrency = args.concurrency.to_string();
                cmd.args([
                    "worker",
                    "--bench-queue",
                    site.name.as_str(),
                    "--name",
                    &name(i),
                ])
                .args(["--concurrency", &concurrency])
                .env("RUST_LOG", "warn")
                .stdin(std::process::Stdio::null());
                pool.children
                    .push(cmd.spawn().context("starting a worker process")?);
            }
            return Ok(pool);
        }
        for i in 0..args.workers {
            let mut config = WorkerConfig::new(name(i), vec![site.name.clone()]);
            config.concurrency = args.concurrency;
            config.idle_wait = Duration::from_millis(100);
            // Noop jobs end at once; a stop is never long.
            config.shutdown_grace = Duration::from_secs(5);
            let handlers = global.handlers(&global.shop()?, queue)?;
            let worker = Worker::new(queue.clone(), handlers, config)?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            pool.stops.push(tx);
            pool.handles.push(tokio::spawn(worker.run(async move {
                let _ = rx.await;
            })));
        }
        Ok(pool)
    }

    /// Stops every worker, even after one of them failed (the clean-up
    /// comes next and must not race a live worker); the first error is
    /// returned.
    async fn stop(self) -> anyhow::Result<()> {
        for stop in self.stops {
            let _ = stop.send(());
        }
        let mut first_error = None;
        for handle in self.handles {
            let ended = match handle.await {
                Ok(exit) => exit.map(|_| ()).map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::Error::from(e).context("worker task")),
            };
            if let Err(e) = ended {
                first_error.get_or_insert(e);
            }
        }
        for mut child in self.children {
            // SIGTERM: the worker finishes (it is idle) and deregisters.
            let _ = std::process::Command::new("kill")
                .arg(child.id().to_string())
                .status();
            if let Err(e) = child.wait() {
                first_error.get_or_insert(anyhow::Error::from(e).context("waiting for a worker"));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
