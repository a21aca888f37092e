//! `wjp bench`: end-to-end throughput and latency of `noop` jobs through the
//! configured backend, with the producer and the workers in this process (a fresh temporary database unless `--data-dir` or a
//! Redis server is given).
//!
//! Phases, each on an empty queue:
//! 1. enqueue: N jobs in batches, no worker running;
//! 2. drain: workers take and complete those N jobs;
//! 3. end to end: producers enqueue N more while the workers run;
//! 4. latency: one job at a time, from enqueue until its `completed` event
//!    reaches a follower, as a client watching the job would see it.

use std::process::ExitCode;
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
    /// Worker runtimes in this process, sharing its backend connection.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Jobs each worker runs at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Jobs per enqueue call.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
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
    workers: usize,
    concurrency: usize,
    batch: usize,
    enqueue_jobs_per_sec: f64,
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
    let backend = producer.backend().info();
    if producer
        .counts()
        .await?
        .iter()
        .any(|c| c.queued + c.running + c.scheduled > 0)
    {
        bail!(
            "the backend at {} has jobs waiting or running; bench needs idle queues",
            backend.location
        );
    }
    // Producer and workers share one backend handle, as `wjp api` and its
    // in-process workers do: SQLite has one writer at a time, and a process
    // queues its writes on one connection.
    let workers = vec![producer.clone(); args.workers];

    let enqueue_start = Instant::now();
    enqueue_all(&producer, args.jobs, args.batch).await?;
    let enqueue_secs = enqueue_start.elapsed().as_secs_f64();

    let drain_start = Instant::now();
    let pool = WorkerPool::start(&workers, &args, &global)?;
    wait_completed(&producer, args.jobs as u64).await?;
    let drain_secs = drain_start.elapsed().as_secs_f64();

    let e2e_start = Instant::now();
    enqueue_all(&producer, args.jobs, args.batch).await?;
    wait_completed(&producer, 2 * args.jobs as u64).await?;
    let e2e_secs = e2e_start.elapsed().as_secs_f64();

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
        workers: args.workers,
        concurrency: args.concurrency,
        batch: args.batch,
        enqueue_jobs_per_sec: args.jobs as f64 / enqueue_secs,
        drain_jobs_per_sec: args.jobs as f64 / drain_secs,
        end_to_end_jobs_per_sec: args.jobs as f64 / e2e_secs,
        latency_jobs: latencies.len(),
        latency_p50_ms: pick(0.5),
        latency_p99_ms: pick(0.99),
        latency_max_ms: pick(1.0),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "backend      {}\njobs         {} per phase, {} workers x {} concurrency, batches of {}\n\
             enqueue      {:>10.0} jobs/s\ndrain        {:>10.0} jobs/s\n\
             end to end   {:>10.0} jobs/s\nlatency      p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} jobs)",
            report.backend,
            report.jobs,
            report.workers,
            report.concurrency,
            report.batch,
            report.enqueue_jobs_per_sec,
            report.drain_jobs_per_sec,
            report.end_to_end_jobs_per_sec,
            report.latency_p50_ms,
            report.latency_p99_ms,
            report.latency_max_ms,
            report.latency_jobs
        );
    }
    Ok(ExitCode::SUCCESS)
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

async fn wait_completed(queue: &Queue, target: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let counts = queue.counts().await?;
        let default = counts
            .iter()
            .find(|c| c.name == "default")
            .context("no default queue")?;
        if default.failed > 0 {
            bail!("{} benchmark jobs failed", default.failed);
        }
        if default.completed >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {target} jobs completed in 10 minutes",
                default.completed
            );
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

struct WorkerPool {
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    handles: Vec<tokio::task::JoinHandle<wjp_queue::error::Result<WorkerExit>>>,
}

impl WorkerPool {
    fn start(queues: &[Queue], args: &BenchArgs, global: &GlobalArgs) -> anyhow::Result<Self> {
        let mut pool = WorkerPool {
            stops: Vec::new(),
            handles: Vec::new(),
        };
        for (i, queue) in queues.iter().enumerate() {
            let names = queue.parse_queues("default")?;
            let mut config = WorkerConfig::new(format!("bench-{}-{i}", std::process::id()), names);
            config.concurrency = args.concurrency;
            config.idle_wait = Duration::from_millis(100);
            let worker = Worker::new(
                queue.clone(),
                crate::kinds::handlers(&global.data_dir),
                config,
            )?;
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
        Ok(())
    }
}
