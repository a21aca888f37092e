//! `wjp bench`: throughput and latency of `noop` jobs through the configured
//! backend (a fresh temporary database unless `--keep-data-dir` or a Redis
//! server is given).
//!
//! Phases, each on idle queues:
//! 1. enqueue: `--single` jobs one call each, then `--jobs` in batches, with
//!    no worker running (on Redis, the server's memory per queued job);
//! 2. drain: workers take and complete all of them;
//! 3. end to end: the producer enqueues `--jobs` more while the workers run;
//! 4. latency: one job at a time, from enqueue until its `completed` event
//!    reaches a follower, as a client watching the job would see it.
//!
//! Workers run in this process (`--workers` runtimes sharing the producer's
//! backend handle, as `wjp api` does) or as `--processes` separate
//! `wjp worker` processes.

use std::process::{Child, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::json;
use wjp_queue::{JobRequest, Queue, Status, Worker, WorkerConfig, WorkerExit};

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
    /// Use the configured --data-dir instead of a fresh temporary database.
    #[arg(long)]
    pub keep_data_dir: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: String,
    jobs: usize,
    workers: String,
    concurrency: usize,
    batch: usize,
    enqueue_single_jobs_per_sec: f64,
    enqueue_batched_jobs_per_sec: f64,
    /// Server memory per queued job (Redis only).
    memory_bytes_per_queued_job: Option<f64>,
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
    let _temp_dir;
    let mut global = global.clone();
    if matches!(global.backend_choice(), BackendChoice::Sqlite(_)) && !args.keep_data_dir {
        let dir = tempfile::tempdir().context("creating a temporary data directory")?;
        global.data_dir = dir.path().to_owned();
        _temp_dir = dir;
    }
    let producer = global.open_queue().await?;
    let backend = producer.backend_info();
    let busy = producer
        .counts()
        .await?
        .iter()
        .any(|c| c.queued + c.running + c.scheduled > 0);
    if busy {
        bail!(
            "the backend at {} has jobs waiting or running; bench needs idle queues",
            backend.location
        );
    }
    let completed_before = completed(&producer).await?;
    let memory_before = redis_used_memory(&global)?;

    let start = Instant::now();
    for i in 0..args.single {
        producer
            .enqueue(JobRequest::new("noop", json!({ "i": i })))
            .await?;
    }
    let single_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    enqueue_all(&producer, args.jobs, args.batch).await?;
    let batched_secs = start.elapsed().as_secs_f64();
    let queued = (args.single + args.jobs) as f64;
    let memory_per_job = match (memory_before, redis_used_memory(&global)?) {
        (Some(before), Some(after)) => Some((after as f64 - before as f64) / queued),
        _ => None,
    };

    let start = Instant::now();
    let pool = WorkerPool::start(&producer, &args, &global)?;
    let mut target = completed_before + (args.single + args.jobs) as u64;
    wait_completed(&producer, target).await?;
    let drain_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    enqueue_all(&producer, args.jobs, args.batch).await?;
    target += args.jobs as u64;
    wait_completed(&producer, target).await?;
    let e2e_secs = start.elapsed().as_secs_f64();

    let mut latencies = measure_latency(&producer, args.latency_jobs).await?;
    pool.stop().await?;
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        latencies[((latencies.len() - 1) as f64 * q).round() as usize]
    };
    let report = Report {
        backend: format!("{} ({})", backend.name, backend.location),
        jobs: args.jobs,
        workers: if args.processes > 0 {
            format!("{} processes", args.processes)
        } else {
            format!("{} in-process", args.workers)
        },
        concurrency: args.concurrency,
        batch: args.batch,
        enqueue_single_jobs_per_sec: args.single as f64 / single_secs,
        enqueue_batched_jobs_per_sec: args.jobs as f64 / batched_secs,
        memory_bytes_per_queued_job: memory_per_job,
        drain_jobs_per_sec: queued / drain_secs,
        end_to_end_jobs_per_sec: args.jobs as f64 / e2e_secs,
        latency_jobs: latencies.len(),
        latency_p50_ms: pick(0.5),
        latency_p99_ms: pick(0.99),
        latency_max_ms: pick(1.0),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
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
    println!("drain        {:>10.0} jobs/s", r.drain_jobs_per_sec);
    println!("end to end   {:>10.0} jobs/s", r.end_to_end_jobs_per_sec);
    println!(
        "latency      p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} jobs)",
        r.latency_p50_ms, r.latency_p99_ms, r.latency_max_ms, r.latency_jobs
    );
}

/// Redis's `used_memory`, when the backend is Redis.
fn redis_used_memory(global: &GlobalArgs) -> anyhow::Result<Option<u64>> {
    let BackendChoice::Redis(url) = global.backend_choice() else {
        return Ok(None);
    };
    let mut conn = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .context("connecting to Redis to read its memory use")?;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut conn)
        .context("INFO memory")?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok()))
}

async fn enqueue_all(queue: &Queue, jobs: usize, batch: usize) -> anyhow::Result<()> {
    let mut left = jobs;
    while left > 0 {
        let n = left.min(batch);
        let requests = (0..n)
            .map(|i| JobRequest::new("noop", json!({ "i": i })))
            .collect();
        queue.enqueue_batch(requests).await?;
        left -= n;
    }
    Ok(())
}

async fn completed(queue: &Queue) -> anyhow::Result<u64> {
    let counts = queue.counts().await?;
    let default = counts
        .iter()
        .find(|c| c.name == "default")
        .context("no default queue")?;
    if default.failed > 0 {
        bail!("{} benchmark jobs failed", default.failed);
    }
    Ok(default.completed)
}

async fn wait_completed(queue: &Queue, target: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = completed(queue).await?;
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
    fn start(queue: &Queue, args: &BenchArgs, global: &GlobalArgs) -> anyhow::Result<Self> {
        let mut pool = WorkerPool {
            stops: Vec::new(),
            handles: Vec::new(),
            children: Vec::new(),
        };
        let name = |i: usize| format!("bench-{}-{i}", std::process::id());
        if args.processes > 0 {
            let exe = std::env::current_exe().context("finding the wjp binary")?;
            for i in 0..args.processes {
                let mut cmd = std::process::Command::new(&exe);
                cmd.args(["--data-dir".as_ref(), global.data_dir.as_os_str()]);
                if let BackendChoice::Redis(url) = global.backend_choice() {
                    cmd.args(["--redis-url", &url]);
                }
                let concurrency = args.concurrency.to_string();
                cmd.args(["worker", "--queues", "default", "--name", &name(i)])
                    .args(["--concurrency", &concurrency])
                    .env("RUST_LOG", "warn")
                    .stdin(std::process::Stdio::null());
                pool.children
                    .push(cmd.spawn().context("starting a worker process")?);
            }
            return Ok(pool);
        }
        for i in 0..args.workers {
            let mut config = WorkerConfig::new(name(i), queue.parse_queues("default")?);
            config.concurrency = args.concurrency;
            config.idle_wait = Duration::from_millis(100);
            let worker = Worker::new(queue.clone(), global.handlers()?, config)?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            pool.stops.push(tx);
            pool.handles.push(tokio::spawn(worker.run(async move {
                let _ = rx.await;
            })));
        }
        Ok(pool)
    }

    async fn stop(self) -> anyhow::Result<()> {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for handle in self.handles {
            handle.await.context("worker task")??;
        }
        for mut child in self.children {
            // SIGTERM: the worker finishes (it is idle) and deregisters.
            let _ = std::process::Command::new("kill")
                .arg(child.id().to_string())
                .status();
            child.wait().context("waiting for a worker process")?;
        }
        Ok(())
    }
}
