//! `wjp`: the waterjet job-queue service in one binary.
//!
//! This crate wires the pieces together: it parses the command line, opens
//! the configured backend, registers the job kinds with their handlers, and
//! runs a command. The queue engine (`wjp-queue`) and the geometry
//! (`wjp-geometry`) know nothing of each other; only this crate sees both.

mod api_cmd;
mod bench;
mod child;
mod cli;
mod config;
mod domain;
mod kinds;
mod remnants;
mod service;
mod shop_config;
mod sweep;
mod worker_cmd;

use clap::Parser;

// glibc's malloc took a fifth of a worker's CPU in the queue benchmark
// (small, short-lived allocations crossing threads); mimalloc is built for
// exactly that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // A job's own process: no runtime, no logging, just the job.
    if let cli::Command::RunJob(job) = &args.command {
        return child::serve(&child::JobProcess {
            kind: &job.kind,
            data_dir: &args.global.data_dir,
            storage_url: args.global.storage_url.as_deref(),
            work_dir: &job.work_dir,
            memory_budget_mb: job.memory_budget_mb,
            shop_config: job.shop_config.as_deref(),
        });
    }
    let service = args.command.is_service();
    config::init_logging(&args.global, service);
    let mut builder = if args.command.runs_on_one_thread() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(cli::run(args));
    // Handler threads that ignored a timeout may still be spinning; the
    // process is ending, so don't wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(code) => code,
        // The reader of a one-shot command's output went away (`wjp history
        // | head`): it has all it wanted, so the command ends quietly, as a
        // shell tool does. A service's broken pipe is a real failure.
        Err(e) if !service && closed_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether `error` came from writing to a pipe whose reader had closed it.
fn closed_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == BrokenPipe)
            // serde_json wraps the write error of a JSON written out.
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(BrokenPipe)
    })
}
