//! `wjp worker`: runs the worker runtime and replaces its own process when
//! a handler thread is stuck (see `wjp_queue::worker` for why).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use wjp_queue::{QueueName, QueueOrder, Worker, WorkerConfig, WorkerExit};

use crate::config::GlobalArgs;
use crate::service;

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Comma-separated queues to take jobs from, strictly in this order: a
    /// queue's jobs are taken only while the queues before it have none
    /// ready (within a queue: priority, then age). With --weighted, a queue
    /// may carry a weight (`analysis:3,default:1`). Default: every queue,
    /// shop queues first and `default` last.
    #[arg(long)]
    pub queues: Option<String>,
    /// Draw the queues' order afresh for every claim, at random by their
    /// weights (1 when not given), so that no queue waits for another to
    /// empty.
    #[arg(long)]
    pub weighted: bool,
    /// Exit when no job is ready and none is running.
    #[arg(long)]
    pub burst: bool,
    /// The worker's name (default: HOST.PID); must be unique among live workers.
    #[arg(long)]
    pub name: Option<String>,
    /// Jobs run at the same time, 1 or more (default: the number of CPU cores).
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: Option<u32>,
    /// Seconds a job stays claimed without a heartbeat before another worker
    /// may take it over (more than 0, at most 86400).
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    pub lease_secs: f64,
    /// On SIGINT/SIGTERM, seconds running jobs get to finish before they are
    /// handed back to the queue (0 to hand them back at once, at most 86400).
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    pub shutdown_grace_secs: f64,
    /// For `wjp bench --processes`: take jobs from this benchmark queue
    /// only (a queue outside the shop's list).
    #[arg(long, hide = true, conflicts_with = "queues")]
    pub bench_queue: Option<String>,
}

pub async fn run(global: &GlobalArgs, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    // Checked before any job is taken: a worker must not price with
    // figures it misread.
    let shop = global.shop()?;
    let queue = global.open_queue().await?;
    let weighted: Vec<(QueueName, Option<u32>)> = match (&args.bench_queue, &args.queues) {
        (Some(bench), _) => vec![(QueueName::parse(bench)?, None)],
        (None, Some(list)) => service::queue_numbers("queues", list, ':', 1000, &queue)?,
        (None, None) => queue
            .catalog()
            .queues()
            .iter()
            .map(|q| (q.clone(), None))
            .collect(),
    };
    if !args.weighted {
        if let Some((q, _)) = weighted.iter().find(|(_, w)| w.is_some()) {
            anyhow::bail!("--queues: a weight (on {q}) needs --weighted");
        }
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}.{}", service::host_name(), std::process::id()));
    let queues = weighted.iter().map(|(q, _)| q.clone()).collect();
    let mut config = WorkerConfig::new(name, queues);
    if args.weighted {
        config.order = QueueOrder::Weighted(weighted.iter().map(|(_, w)| w.unwrap_or(1)).collect());
    }
    config.burst = args.burst;
    if let Some(n) = args.concurrency {
        config.concurrency = n as usize;
    }
    config.lease = service::seconds("lease-secs", args.lease_secs)?;
    // Renew well inside the lease, and at least once a second so
    // cancellations are seen quickly.
    config.heartbeat = (config.lease / 4).min(Duration::from_secs(1));
    config.shutdown_grace =
        service::grace_seconds("shutdown-grace-secs", args.shutdown_grace_secs)?;
    let store = global.open_store()?;
    tracing::info!(store = %store.describe(), "artefact store");
    tokio::spawn(crate::sweep::periodically(
        store,
        queue.clone(),
        global.upload_ttl(),
        std::future::pending(),
    ));
    let handlers = global.handlers(&shop, &queue)?;
    let worker = Worker::new(queue, handlers, config)?;
    match worker.run(service::shutdown_signal()).await? {
        WorkerExit::Drained | WorkerExit::Shutdown => Ok(ExitCode::SUCCESS),
        WorkerExit::RestartNeeded => restart_self(),
    }
}

/// Replaces this process with a fresh copy of itself (same arguments and
/// environment). Only the stuck handler thread is lost with the old image:
/// its job was already recorded as timed out or cancelled, and every other
/// job finished before the worker returned.
fn restart_self() -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("finding this program to restart it")?;
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    tracing::warn!("restarting the worker process to end a stuck handler thread");
    let err = std::process::Command::new(exe).args(args).exec();
    Err(err).context("restarting the worker process")
}
