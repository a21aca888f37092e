//! `wjp api`: the HTTP API, with workers in the same process unless told
//! otherwise, stopped by SIGINT/SIGTERM.
//!
//! On a signal the server stops accepting and ends its event streams; the
//! in-process workers get `--shutdown-grace-secs` to finish their jobs, then
//! hand back the rest. A worker whose handler thread is stuck is replaced
//! by a fresh one (the API process cannot `exec` itself as `wjp worker`
//! does without dropping its clients); shop jobs run in processes of their
//! own, which are killed, so only the engine's test kind `spin` can leave
//! a stuck thread behind.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use wjp_queue::{Handlers, Outage, Queue, Worker, WorkerConfig, WorkerExit};

use crate::config::GlobalArgs;
use crate::service;

#[derive(Debug, clap::Args)]
pub struct ApiCommandArgs {
    #[command(flatten)]
    pub http: wjp_api::ApiArgs,
    /// In-process worker slots running jobs of every queue (default: the
    /// number of CPU cores).
    #[arg(long, conflicts_with = "no_workers")]
    pub workers: Option<usize>,
    /// Run no in-process workers (separate `wjp worker` processes do the work).
    #[arg(long)]
    pub no_workers: bool,
    /// On shutdown, seconds running jobs of the in-process workers get to
    /// finish before they are handed back to the queue.
    #[arg(long, default_value_t = 30.0)]
    pub shutdown_grace_secs: f64,
}

pub async fn run(global: &GlobalArgs, args: ApiCommandArgs) -> anyhow::Result<ExitCode> {
    let addr = wjp_api::bind_address(&args.http)?;
    let queue = global.open_queue_tolerating_outage().await?;
    let handlers = global.handlers()?;
    let shutdown = CancellationToken::new();
    let workers = match worker_config(&args, &queue)? {
        Some(config) => {
            // Checks the settings before the socket starts answering.
            Worker::new(queue.clone(), handlers.clone(), config.clone())?;
            Some(tokio::spawn(run_workers(
                queue.clone(),
                handlers.clone(),
                config,
                shutdown.clone(),
            )))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        service::shutdown_signal().await;
        on_signal.cancel();
    });
    let served = wjp_api::serve(
        listener,
        &args.http,
        queue,
        handlers,
        &global.data_dir,
        shutdown.clone(),
    )
    .await;
    // Whatever ended the server ends the workers too.
    shutdown.cancel();
    if let Some(workers) = workers {
        match workers.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the in-process workers failed"),
            Err(e) => tracing::error!(error = %e, "the in-process workers panicked"),
        }
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The in-process workers' settings, or `None` with `--no-workers`.
fn worker_config(args: &ApiCommandArgs, queue: &Queue) -> anyhow::Result<Option<WorkerConfig>> {
    if args.no_workers {
        return Ok(None);
    }
    let name = format!(
        "api-{}.{}-{}",
        service::host_name(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let mut config = WorkerConfig::new(name, queue.catalog().queues().to_vec());
    if let Some(n) = args.workers {
        config.concurrency = n;
    }
    config.shutdown_grace = if args.shutdown_grace_secs == 0.0 {
        Duration::ZERO
    } else {
        service::seconds("shutdown-grace-secs", args.shutdown_grace_secs)?
    };
    Ok(Some(config))
}

/// Runs the in-process workers until shutdown. A worker that needs a
/// restart (a handler thread would not stop) is replaced by a fresh one: the
/// stuck thread is lost, the service goes on.
async fn run_workers(
    queue: Queue,
    handlers: Handlers,
    config: WorkerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut generation = 0u32;
    // Shared by every generation: a Redis outage that keeps the worker
    // from starting is one line, and its first success says it is over.
    let outage = Arc::new(Outage::new());
    loop {
        let mut config = config.clone();
        if generation > 0 {
            config.name = format!("{}-r{generation}", config.name);
        }
        let worker =
            Worker::new(queue.clone(), handlers.clone(), config)?.share_outage(outage.clone());
        match worker.run(shutdown.clone().cancelled_owned()).await {
            Ok(WorkerExit::RestartNeeded) if !shutdown.is_cancelled() => {
                tracing::warn!("a handler thread is stuck; starting a fresh in-process worker");
                generation += 1;
            }
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
