//! `wjp api`: the HTTP API, with workers in the same process unless told
//! otherwise, stopped by SIGINT/SIGTERM.
//!
//! On a signal the server stops accepting and ends its event streams; the
//! in-process workers get `--shutdown-grace-secs` to finish their jobs, then
//! hand back the rest. Each queue has workers of its own unless told
//! otherwise, so a busy queue never holds up another. A handler thread that
//! will not stop is abandoned and its worker goes on (the API process
//! cannot `exec` itself as `wjp worker` does without dropping its
//! clients); shop jobs run in processes of their own, which are killed, so
//! only the engine's test kind `spin` can leave a stuck thread behind.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use wjp_queue::{Handlers, Outage, Queue, QueueName, Worker, WorkerConfig, WorkerExit};

use crate::config::GlobalArgs;
use crate::service;

#[derive(Debug, clap::Args)]
pub struct ApiCommandArgs {
    #[command(flatten)]
    pub http: wjp_api::ApiArgs,
    /// In-process worker slots: per queue (`analysis=2,conversion=1,
    /// default=1`: each listed queue gets its own slots, unlisted queues
    /// none), or one number for slots shared by every queue, served
    /// strictly in order, shop queues first. Default: every queue its own
    /// slots, half the CPU cores each (at least one), so that work in one
    /// queue never holds up another.
    #[arg(long, conflicts_with = "no_workers")]
    pub workers: Option<String>,
    /// Run no in-process workers (separate `wjp worker` processes do the work).
    #[arg(long)]
    pub no_workers: bool,
    /// On shutdown, seconds running jobs of the in-process workers get to
    /// finish before they are handed back to the queue (0 to hand them back
    /// at once, at most 86400).
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    pub shutdown_grace_secs: f64,
}

pub async fn run(global: &GlobalArgs, args: ApiCommandArgs) -> anyhow::Result<ExitCode> {
    // Checked before the socket answers: the API and its workers must not
    // quote with figures they misread.
    let shop = global.shop()?;
    let mut http = args.http.clone();
    http.materials = crate::shop_config::material_entries(&shop);
    let addr = wjp_api::bind_address(&http)?;
    let queue = global.open_queue_tolerating_outage().await?;
    let handlers = global.handlers(&shop, &queue)?;
    let store = global.open_store()?;
    tracing::info!(store = %store.describe(), "artefact store");
    http.store = Some(store.clone());
    // Bound before any task starts: a port in use must end the command
    // with that error alone, not with tasks cut off in their first call.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(crate::sweep::periodically(
        store,
        queue.clone(),
        global.upload_ttl(),
        shutdown.clone().cancelled_owned(),
    ));
    let mut workers = Vec::new();
    // One for the HTTP side and all the in-process workers: an outage is
    // one line, not one per queue or side.
    let outage = Arc::new(Outage::new());
    http.outage = Some(outage.clone());
    for config in worker_configs(&args, &queue)? {
        // Checks the settings before the socket starts answering.
        Worker::new(queue.clone(), handlers.clone(), config.clone())?;
        workers.push(tokio::spawn(run_workers(
            queue.clone(),
            handlers.clone(),
            config,
            outage.clone(),
            shutdown.clone(),
        )));
    }
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        service::shutdown_signal().await;
        on_signal.cancel();
    });
    let served = wjp_api::serve(
        listener,
        &http,
        queue,
        handlers,
        &global.data_dir,
        shutdown.clone(),
    )
    .await;
    // Whatever ended the server ends the workers too.
    shutdown.cancel();
    for workers in workers {
        match workers.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the in-process workers failed"),
            Err(e) => tracing::error!(error = %e, "the in-process workers panicked"),
        }
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The in-process workers' settings: one worker per group of slots, none
/// with `--no-workers`.
fn worker_configs(args: &ApiCommandArgs, queue: &Queue) -> anyhow::Result<Vec<WorkerConfig>> {
    // Checked with or without workers: a flag given is a flag checked.
    let grace = service::grace_seconds("shutdown-grace-secs", args.shutdown_grace_secs)?;
    if args.no_workers {
        return Ok(Vec::new());
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let groups: Vec<(Vec<QueueName>, usize)> = match args.workers.as_deref().map(str::trim) {
        Some(n) if n.chars().all(|c| c.is_ascii_digit()) => {
            let n: usize = n
                .parse()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .with_context(|| format!("--workers must be from 1 to 1024, got {n}"))?;
            vec![(queue.catalog().queues().to_vec(), n)]
        }
        Some(list) => service::queue_numbers("workers", list, '=', 1024, queue)?
            .into_iter()
            .map(|(q, n)| (vec![q], n.unwrap_or(1) as usize))
            .collect(),
        None => queue
            .catalog()
            .queues()
            .iter()
            .map(|q| (vec![q.clone()], (cores / 2).max(1)))
            .collect(),
    };
    let base = format!(
        "api-{}.{}-{}",
        service::host_name(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let single = groups.len() == 1;
    Ok(groups
        .into_iter()
        .map(|(queues, slots)| {
            let name = if single {
                base.clone()
            } else {
                format!("{base}-{}", queues[0])
            };
            let mut config = WorkerConfig::new(name, queues);
            config.concurrency = slots;
            config.shutdown_grace = grace;
            // This process cannot replace itself without dropping its
            // clients: a stuck thread is abandoned, and the worker goes on.
            config.restart_when_stuck = false;
            config
        })
        .collect())
}

/// Runs in-process workers until shutdown, replacing one that fails (its
/// store unreachable for long) after a pause. `outage` is shared by every
/// generation and every queue's workers: a Redis outage that keeps them
/// from starting is one line, and the first success says it is over.
async fn run_workers(
    queue: Queue,
    handlers: Handlers,
    config: WorkerConfig,
    outage: Arc<Outage>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut generation = 0u32;
    loop {
        let mut config = config.clone();
        if generation > 0 {
            config.name = format!("{}-r{generation}", config.name);
        }
        let worker =
            Worker::new(queue.clone(), handlers.clone(), config)?.share_outage(outage.clone());
        match worker.run(shutdown.clone().cancelled_owned()).await {
            // Not asked for (`restart_when_stuck` is off), but harmless.
            Ok(WorkerExit::RestartNeeded) if !shutdown.is_cancelled() => generation += 1,
            Ok(_) => return Ok(()),
            Err(e) if !shutdown.is_cancelled() => {
                if e.is_client_error() {
                    tracing::error!(error = %e, "the in-process worker failed; restarting it shortly");
                } else {
                    outage.failed("starting the in-process worker", &e);
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = shutdown.cancelled() => return Ok(()),
                }
                generation += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
