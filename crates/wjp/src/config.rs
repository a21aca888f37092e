//! Configuration shared by every command: where the data lives (SQLite
//! directory or Redis server) and how to log. Flags override environment
//! variables; with no Redis setting, the embedded backend is used.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use wjp_queue::backend::redis::{redact_url, redis_url, RedisBackend};
use wjp_queue::backend::sqlite::{SqliteBackend, SqliteOptions};
use wjp_queue::backend::Backend;
use wjp_queue::Queue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Directory of the embedded database (used when no Redis is configured).
    #[arg(
        long,
        global = true,
        env = "WJP_DATA_DIR",
        default_value = "./wjp-data"
    )]
    pub data_dir: PathBuf,

    /// The shop's figures (material table, prices, currency, machine
    /// calibration), a TOML file. Default: wjp.toml in the data directory
    /// if it exists, else the compiled-in figures (`wjp config show`).
    #[arg(long, global = true, env = "WJP_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Create the data directory if it is missing. Commands that look at or
    /// change jobs that already exist (history, status, info, failed,
    /// cancel, retry, purge) refuse a missing one without it, so a mistyped
    /// --data-dir is an error, not an empty queue; api, worker, submit and
    /// bench create it anyway.
    #[arg(long, global = true)]
    pub init: bool,

    /// Where files live: nothing for the data directory's folders,
    /// `s3://BUCKET/PREFIX` for an S3-compatible bucket every machine of a
    /// shop shares (with AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION; an http:// endpoint is allowed),
    /// or `file:///PATH` for another folder.
    #[arg(long, global = true, env = "WJP_STORAGE_URL", value_name = "URL")]
    pub storage_url: Option<String>,

    /// Days an upload is kept before the sweep deletes it.
    #[arg(long, global = true, env = "WJP_UPLOAD_TTL_DAYS", default_value_t = 7,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub upload_ttl_days: u64,

    /// Redis server URL (redis:// or rediss://, may carry a password). Setting
    /// it, or REDIS_HOST, selects the Redis backend.
    #[arg(long, global = true, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Some nodes of a Redis Cluster, comma-separated redis:// or rediss://
    /// URLs (the others are learnt from them). Selects the Redis backend in
    /// cluster mode; not together with --redis-url or --redis-host.
    #[arg(
        long,
        global = true,
        env = "REDIS_CLUSTER_NODES",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub redis_cluster_nodes: Vec<String>,

    /// Redis host name or address (with --redis-port and --redis-db, when
    /// no --redis-url is given).
    #[arg(long, global = true, env = "REDIS_HOST")]
    pub redis_host: Option<String>,

    /// Redis TCP port.
    #[arg(
        long,
        global = true,
        env = "REDIS_PORT",
        default_value_t = 6379,
        allow_negative_numbers = true
    )]
    pub redis_port: u16,

    /// Redis database number (0-15 on a default server).
    #[arg(
        long,
        global = true,
        env = "REDIS_DB",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub redis_db: u32,

    /// Memory a job of a shop kind may use, in MB: each runs in a process
    /// of its own, which ends when it asks for more (the job fails with a
    /// message saying so). A service's peak is about its job slots (worker
    /// concurrency, plus --max-inline-jobs for the API) times this.
    #[arg(
        long,
        global = true,
        env = "WJP_JOB_MEMORY_MB",
        default_value_t = 256,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u64).range(64..=1_048_576)
    )]
    pub job_memory_mb: u64,

    /// Cores a job of a shop kind may use: a nest that asks for more
    /// searches side by side (`threads`) runs this many, and says so
    /// (warning `threads_capped`). A service's cores in use are about its
    /// job slots times this.
    #[arg(
        long,
        global = true,
        env = "WJP_JOB_THREADS",
        default_value_t = 1,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(wjp_cam::nest::MAX_THREADS))
    )]
    pub job_threads: u32,

    /// Waiting (queued, scheduled, or waiting for parents) jobs a queue may hold; beyond, an
    /// enqueue is refused (HTTP 429).
    #[arg(long, global = true, env = "WJP_MAX_WAITING_JOBS", default_value_t = 100_000,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_waiting_jobs: u64,

    /// Payload of the waiting jobs of a queue, all together, in MB.
    #[arg(long, global = true, env = "WJP_MAX_WAITING_PAYLOAD_MB", default_value_t = 256,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub max_waiting_payload_mb: u64,

    /// Payload of one job, in MB (HTTP 413 beyond).
    #[arg(long, global = true, env = "WJP_MAX_PAYLOAD_MB", default_value_t = 4,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_payload_mb: u64,

    /// Longest delay before a job runs, in days.
    #[arg(long, global = true, env = "WJP_MAX_DELAY_DAYS", default_value_t = 30,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=366))]
    pub max_delay_days: u64,

    /// Most jobs one job may wait for (`after`).
    #[arg(long, global = true, env = "WJP_MAX_PARENTS", default_value_t = 100,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_parents: u64,

    /// Most jobs one flow may hold (`POST /flows`, `wjp submit --flow`).
    #[arg(long, global = true, env = "WJP_MAX_FLOW_JOBS", default_value_t = 1000,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_flow_jobs: u64,

    /// Days the audit log keeps each job's history (`wjp history`, GET
    /// /history), counted from each step.
    #[arg(long, global = true, env = "WJP_HISTORY_DAYS", default_value_t = 90,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=3660))]
    pub history_days: u64,

    /// Most entries the audit log keeps (SQLite: in all; Redis: per queue,
    /// an entry holding the steps of one write); the oldest go first.
    #[arg(long, global = true, env = "WJP_HISTORY_MAX_ENTRIES", default_value_t = 2_000_000,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1_000..=1_000_000_000))]
    pub history_max_entries: u64,

    /// Log lines as text or JSON (one object a line) on standard error.
    #[arg(
        long,
        global = true,
        env = "WJP_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// Which backend the settings select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendChoice {
    Sqlite(PathBuf),
    Redis(String),
    RedisCluster(Vec<String>),
}

impl GlobalArgs {
    pub fn backend_choice(&self) -> BackendChoice {
        let nodes: Vec<String> = self
            .redis_cluster_nodes
            .iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        if !nodes.is_empty() {
            return BackendChoice::RedisCluster(nodes);
        }
        if let Some(url) = self.redis_url.as_deref().filter(|u| !u.trim().is_empty()) {
            return BackendChoice::Redis(url.trim().to_owned());
        }
        if let Some(host) = self.redis_host.as_deref().filter(|h| !h.trim().is_empty()) {
            return BackendChoice::Redis(redis_url(host.trim(), self.redis_port, self.redis_db));
        }
        BackendChoice::Sqlite(self.data_dir.clone())
    }

    /// Opens the chosen backend. With `tolerate_outage`, an unreachable
    /// Redis is not an error: the backend reconnects by itself later.
    pub async fn open_backend(&self, tolerate_outage: bool) -> anyhow::Result<Arc<dyn Backend>> {
        match self.backend_choice() {
            BackendChoice::Sqlite(dir) => {
                let backend = SqliteBackend::open_dir(&dir, SqliteOptions::default())
                    .with_context(|| {
                        format!("opening the embedded backend in {}", dir.display())
                    })?;
                Ok(Arc::new(backend))
            }
            BackendChoice::Redis(url) => open_redis(&url, tolerate_outage).await,
            BackendChoice::RedisCluster(nodes) => {
                let single = [&self.redis_url, &self.redis_host]
                    .into_iter()
                    .flatten()
                    .any(|v| !v.trim().is_empty());
                anyhow::ensure!(
                    !single,
                    "both a Redis Cluster (--redis-cluster-nodes, REDIS_CLUSTER_NODES) and \
                     one Redis server (--redis-url/REDIS_URL or --redis-host/REDIS_HOST) are \
                     set: keep the one wjp should use"
                );
                open_redis_cluster(&nodes, tolerate_outage).await
            }
        }
    }

    /// A Redis backend of its own, for what only Redis does (a throwaway
    /// queue deleted whole, memory read); `None` on the embedded backend.
    pub async fn redis_backend(&self) -> anyhow::Result<Option<RedisBackend>> {
        Ok(match self.backend_choice() {
            BackendChoice::Sqlite(_) => None,
            BackendChoice::Redis(url) => Some(RedisBackend::connect(&url).await?),
            BackendChoice::RedisCluster(nodes) => {
                Some(RedisBackend::connect_cluster(&nodes).await?)
            }
        })
    }

    pub async fn open_queue(&self) -> anyhow::Result<Queue> {
        Ok(Queue::new(self.open_backend(false).await?, self.catalog()?))
    }

    /// [`Self::open_queue`] for commands that only read or change existing
    /// jobs: a missing data directory is refused (unless `--init`) instead
    /// of becoming a new, empty database under a mistyped name.
    pub async fn open_existing_queue(&self) -> anyhow::Result<Queue> {
        if let BackendChoice::Sqlite(dir) = self.backend_choice() {
            anyhow::ensure!(
                self.init || dir.is_dir(),
                "no data directory at {}: check --data-dir (or WJP_DATA_DIR); \
                 pass --init to create an empty one there",
                dir.display()
            );
        }
        self.open_queue().await
    }

    /// Where the shop's figures come from: --config (or WJP_CONFIG), else
    /// wjp.toml in the data directory if there is one.
    pub fn shop_config_path(&self) -> Option<PathBuf> {
        if let Some(path) = &self.config {
            return Some(path.clone());
        }
        let default = self.data_dir.join(crate::shop_config::FILE_NAME);
        default.is_file().then_some(default)
    }

    /// The shop's figures, read and checked.
    pub fn shop(&self) -> anyhow::Result<crate::shop_config::ShopConfig> {
        match self.shop_config_path() {
            Some(path) => Ok(crate::shop_config::ShopConfig::load(&path)?),
            None => Ok(crate::shop_config::ShopConfig::default()),
        }
    }

    /// The artefact store these settings name (nothing is read or written
    /// yet: an unreachable bucket is found when used).
    pub fn open_store(&self) -> anyhow::Result<wjp_store::Store> {
        Ok(wjp_store::Store::open(
            self.storage_url.as_deref(),
            &self.data_dir,
        )?)
    }

    /// How long an upload is kept.
    pub fn upload_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.upload_ttl_days * 86_400)
    }

    /// The shop's catalog under this configuration's quotas, checking
    /// payloads against the shop's materials.
    fn catalog(&self) -> anyhow::Result<wjp_queue::Catalog> {
        let mut catalog = crate::kinds::catalog(
            &self.data_dir,
            self.storage_url.clone(),
            self.shop()?.materials,
        )?;
        catalog.quotas = self.quotas();
        catalog.history = wjp_queue::AuditRetention {
            max_age: std::time::Duration::from_secs(self.history_days * 24 * 3600),
            max_entries: self.history_max_entries,
        };
        Ok(catalog)
    }

    /// The storage quotas these settings ask for.
    pub fn quotas(&self) -> wjp_queue::Quotas {
        const MB: u64 = 1024 * 1024;
        wjp_queue::Quotas {
            max_waiting_jobs: self.max_waiting_jobs,
            max_waiting_payload_bytes: self.max_waiting_payload_mb * MB,
            max_payload_bytes: self.max_payload_mb * MB,
            max_delay: std::time::Duration::from_secs(self.max_delay_days * 24 * 3600),
            max_parents: self.max_parents as usize,
            max_flow_jobs: self.max_flow_jobs as usize,
        }
    }

    /// The handlers of every kind, shop kinds under this configuration's
    /// memory budget.
    /// `shop` is the figures this process loaded: each job's process is
    /// given the same file.
    /// `queue` keeps the remnant inventory that nests use first.
    pub fn handlers(
        &self,
        shop: &crate::shop_config::ShopConfig,
        queue: &Queue,
    ) -> anyhow::Result<wjp_queue::Handlers> {
        Ok(crate::kinds::handlers(
            &self.data_dir,
            self.storage_url.as_deref(),
            self.job_memory_mb,
            self.job_threads,
            shop.path.as_deref(),
            Some(wjp_api::remnants::Inventory::new(
                queue.clone(),
                &crate::shop_config::material_entries(shop),
            )),
        )?)
    }

    /// For services that must start even while Redis is down.
    pub async fn open_queue_tolerating_outage(&self) -> anyhow::Result<Queue> {
        Ok(Queue::new(self.open_backend(true).await?, self.catalog()?))
    }
}

async fn open_redis(url: &str, tolerate_outage: bool) -> anyhow::Result<Arc<dyn Backend>> {
    match RedisBackend::connect(url).await {
        Ok(backend) => Ok(Arc::new(backend)),
        Err(e) if tolerate_outage && !e.is_client_error() => {
            // The API keeps serving (degraded, processing requests itself)
            // and the connection is made by itself when Redis answers.
            tracing::warn!(error = %e, "Redis is unreachable; starting degraded");
            Ok(Arc::new(RedisBackend::connect_lazy(url)?))
        }
        Err(e) => Err(e).with_context(|| format!("connecting to Redis at {}", redact_url(url))),
    }
}

async fn open_redis_cluster(
    nodes: &[String],
    tolerate_outage: bool,
) -> anyhow::Result<Arc<dyn Backend>> {
    match RedisBackend::connect_cluster(nodes).await {
        Ok(backend) => Ok(Arc::new(backend)),
        Err(e) if tolerate_outage && !e.is_client_error() => {
            tracing::warn!(error = %e, "the Redis Cluster is unreachable; starting degraded");
            Ok(Arc::new(RedisBackend::connect_cluster_lazy(nodes)?))
        }
        Err(e) => Err(e).context("connecting to the Redis Cluster"),
    }
}

pub fn init_logging(args: &GlobalArgs, service: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    // Services log their life at info; one-shot commands only what goes wrong.
    let default = if service { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Escape codes are for eyes: a file, a pipe or journald gets them as
    // noise, and shippers choke on them.
    let ansi = args.log_format == LogFormat::Text
        && std::io::stderr().is_terminal()
        && colour_allowed(std::env::var_os("NO_COLOR").as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Whether `NO_COLOR` (its value, if set) allows colour: any non-empty
/// value turns it off (no-color.org).
fn colour_allowed(no_color: Option<&std::ffi::OsStr>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        global: GlobalArgs,
    }

    fn parse(args: &[&str]) -> GlobalArgs {
        let mut argv = vec!["probe"];
        argv.extend_from_slice(args);
        Probe::parse_from(argv).global
    }

    #[test]
    fn no_color_with_any_value_turns_colour_off() {
        assert!(colour_allowed(None));
        assert!(colour_allowed(Some("".as_ref())));
        assert!(!colour_allowed(Some("1".as_ref())));
        assert!(!colour_allowed(Some("0".as_ref())), "any value, even 0");
    }

    #[test]
    fn log_format_is_text_or_json_and_nothing_else() {
        assert_eq!(parse(&[]).log_format, LogFormat::Text);
        assert_eq!(parse(&["--log-format", "json"]).log_format, LogFormat::Json);
        let refused = Probe::try_parse_from(["probe", "--log-format", "xml"])
            .err()
            .expect("xml is refused");
        let text = refused.to_string();
        assert!(
            text.contains("xml") && text.contains("text") && text.contains("json"),
            "{text}"
        );
    }

    #[test]
    fn redis_is_chosen_by_url_or_host_and_flags_build_the_url() {
        let g = parse(&[
            "--redis-host",
            "cache",
            "--redis-port",
            "6380",
            "--redis-db",
            "2",
        ]);
        assert_eq!(
            g.backend_choice(),
            BackendChoice::Redis("redis://cache:6380/2".into())
        );
        let g = parse(&[
            "--redis-url",
            "rediss://:pw@cache:6380/1",
            "--redis-host",
            "x",
        ]);
        assert_eq!(
            g.backend_choice(),
            BackendChoice::Redis("rediss://:pw@cache:6380/1".into())
        );
    }
}
