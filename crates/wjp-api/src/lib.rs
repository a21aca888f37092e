//! The wjp HTTP API (placeholder: being built).

use std::path::PathBuf;

use wjp_queue::{Handlers, Queue};

/// Flags of `wjp api`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
}

/// Serves the API until SIGINT/SIGTERM.
pub async fn run(args: ApiArgs, queue: Queue, handlers: Handlers, data_dir: PathBuf) -> anyhow::Result<()> {
    let _ = (args, queue, handlers, data_dir);
    anyhow::bail!("the HTTP API is not built yet")
}
