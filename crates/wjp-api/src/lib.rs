//! # wjp-api: the HTTP API
//!
//! The old FastAPI contract (`docs/legacy-api.md`) kept path for path and
//! field for field, the queue exposed over HTTP, and live updates as
//! Server-Sent Events. It talks to the engine through [`wjp_queue::Queue`]
//! only, and knows no job kind's internals: the domain endpoints turn a
//! request into a job payload and hand it to the kind's handler.
//!
//! ## How a request flows
//! - [`router`] builds every route ([`shop`]: the old endpoints; [`jobs`]:
//!   the queue; [`events`]: SSE; [`ws`]: the same events over WebSocket;
//!   [`ops`]: health, metrics, OpenAPI;
//!   [`dashboard`]: the operators' page at `/`) and wraps them in the layers
//!   of [`layers`]: JSON errors, metrics, panic catching, CORS, API key.
//! - A domain endpoint ([`shop`]) checks that its job kind is registered
//!   (501 otherwise), turns client paths into keys of the artefact store
//!   ([`files`]), then either runs the handler at once on the blocking pool
//!   (`run_inline`: sync requests) or enqueues a job (`async_mode=true`).
//!   When the backend is unreachable, an async request runs synchronously
//!   and is answered like a sync one, so clients keep working.
//! - [`serve`] serves a bound socket until its shutdown token is cancelled;
//!   then it stops accepting, ends event streams (closing WebSockets with a
//!   close frame) and lets requests in flight finish. Process wiring (in-process workers, signals) is the binary's.
//!
//! **Invariant**: no handler does CPU-heavy work on the async runtime, and
//! every error a client sees is JSON `{success: false, error, code}`.

pub mod body;
mod connections;
pub mod dashboard;
pub mod enqueue;
pub mod error;
pub mod events;
pub mod files;
pub mod history;
pub mod jobs;
pub mod layers;
pub mod materials;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod origin;
pub mod remnants;
pub mod schedules;
pub mod search;
pub mod shop;
pub mod steering;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wjp_queue::{Handlers, Queue};

use crate::connections::Connections;
use crate::files::Store;
use crate::metrics::Metrics;

/// Flags of `wjp api`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Address to listen on. Anything but loopback needs an API key (or
    /// --allow-public-without-key).
    #[arg(long, env = "WJP_API_HOST", default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, env = "WJP_API_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Key required on every endpoint but /health, as `X-API-Key: KEY` or
    /// `Authorization: Bearer KEY` (a browser's WebSocket: as the
    /// subprotocol `wjp.key.<KEY in base64url>`).
    #[arg(long, env = "WJP_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Listen on a non-loopback address without an API key.
    #[arg(long)]
    pub allow_public_without_key: bool,
    /// Origins allowed to call the API from a browser (repeat, or comma-separate;
    /// `*` for any). Default: same origin only.
    #[arg(long = "cors-origin", env = "WJP_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Largest upload (POST /upload, /convert-image, /csv/ai-analysis), in MB.
    #[arg(long, env = "WJP_MAX_UPLOAD_MB", default_value_t = 50.0)]
    pub max_upload_mb: f64,
    /// Largest JSON request body, in MB.
    #[arg(long, env = "WJP_MAX_BODY_MB", default_value_t = 5.0)]
    pub max_body_mb: f64,
    /// Domain requests run synchronously (without async_mode) at once; more
    /// are answered 503 with Retry-After (default: the number of CPU cores).
    #[arg(long, env = "WJP_MAX_INLINE_JOBS")]
    pub max_inline_jobs: Option<usize>,
    /// Serve the engine's test kinds (noop, sleep, spin, fail) over HTTP,
    /// for rehearsals. Off by default: `spin` burns a core on request.
    #[arg(long, env = "WJP_ENABLE_TEST_KINDS")]
    pub enable_test_kinds: bool,
    // 20 s: a request head is a few hundred bytes that an honest client
    // sends at once even over a poor link; a dashboard polling every few
    // seconds still reuses its connection; idle and trickling connections
    // give their slot back soon.
    /// Seconds a client gets to send a request's line and headers, counted
    /// from when the server starts waiting for them: on a new connection,
    /// and between the requests of a kept-alive one (so it is also how long
    /// an idle connection stays open). Then the connection is closed.
    #[arg(long, env = "WJP_HEADER_READ_TIMEOUT_SECS", default_value_t = 20.0)]
    pub header_read_timeout_secs: f64,
    // 30 s between pieces: a working upload never pauses that long. The
    // whole body is not bounded: 50 MB over a slow link may rightly take
    // minutes.
    /// Longest pause, in seconds, between two pieces of a request body (not
    /// the whole body: a large upload on a slow link keeps going as long as
    /// bytes keep arriving). A stalled body is answered 408.
    #[arg(long, env = "WJP_BODY_READ_TIMEOUT_SECS", default_value_t = 30.0)]
    pub body_read_timeout_secs: f64,
    // 30 s: a client that reads at all frees the buffers within a moment
    // even over a poor link; one that stopped reading (a dashboard tab put
    // to sleep, a stuck script) gives its slot back soon.
    /// Longest a response write may wait on a client that does not read it
    /// (the connection's buffers full), event streams included. Then the
    /// connection is closed. A slow reader that keeps reading is not cut.
    #[arg(long, env = "WJP_WRITE_STALL_TIMEOUT_SECS", default_value_t = 30.0)]
    pub write_stall_timeout_secs: f64,
    // 1024: far more than a shop's clients open (the web app, a few
    // dashboards each holding an event stream), few enough that a flood
    // costs a bounded amount of memory and file descriptors.
    /// Connections served at once (event streams included); further clients
    /// wait in the listen backlog until one closes. The last tenth is kept
    /// for clients holding few connections. Keep it below the open files
    /// limit (`ulimit -n`).
    #[arg(long, env = "WJP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    // 256 (DEFAULT_MAX_CONNECTIONS_PER_CLIENT): an honest client holds far
    // fewer (a browser opens up to 6 connections to one server, a web
    // app's pool a few dozen), but one address may be the shop's reverse
    // proxy, carrying every user's requests and every dashboard's event
    // stream; 256 covers a shop's proxy, while a flood from one address
    // still takes only a quarter of the default 1024 and the reserve keeps
    // room for everyone else.
    /// Connections one client address may hold at once (an IPv4-mapped
    /// IPv6 address counts as its IPv4 address); more are answered 503 and
    /// closed. Behind a reverse proxy every client has the proxy's address:
    /// raise this to what the proxy may open, up to --max-connections (even
    /// then one address cannot take the reserved last tenth of the slots).
    /// Default: 256, or --max-connections if lower.
    #[arg(long, env = "WJP_MAX_CONNECTIONS_PER_CLIENT")]
    pub max_connections_per_client: Option<usize>,
    /// Not a flag: the materials `GET /materials` lists, given by the
    /// program from the shop's figures (empty: none listed).
    #[arg(skip)]
    pub materials: Vec<materials::MaterialEntry>,
    /// Not a flag: the program's tracker of the queue store's outages, so
    /// that the API and the workers of one process report an outage once
    /// (a tracker of its own when `None`).
    #[arg(skip)]
    pub outage: Option<Arc<wjp_queue::Outage>>,
    /// Not a flag: the artefact store the program opened (the data
    /// directory's folders when `None`).
    #[arg(skip)]
    pub store: Option<Store>,
}

/// See `ApiArgs::max_connections_per_client`.
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 256;

/// What the router needs besides the queue: the safety settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub api_key: Option<String>,
    pub cors_origins: Vec<String>,
    pub max_upload_bytes: u64,
    pub max_body_bytes: usize,
    /// Interval of SSE keep-alive comments.
    pub keep_alive: Duration,
    /// How long a client may take to send a request's headers (and how long
    /// an idle connection is kept).
    pub header_read_timeout: Duration,
    /// Longest pause between two pieces of a request body.
    pub body_read_timeout: Duration,
    /// Longest a response write may wait for the client to read.
    pub write_stall_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one client address may hold at once (1 to
    /// `max_connections`).
    pub max_connections_per_client: usize,
    /// Synchronous domain requests running at once.
    pub max_inline_jobs: usize,
    /// Whether the engine's test kinds are served over HTTP.
    pub test_kinds: bool,
    /// What `GET /materials` lists.
    pub materials: Vec<materials::MaterialEntry>,
    /// Where the store's outages are reported (see `ApiArgs::outage`).
    pub outage: Arc<wjp_queue::Outage>,
    /// See `ApiArgs::store`.
    pub store: Option<Store>,
}

/// One slot per core: synchronous work beyond that only waits for a core.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            api_key: None,
            cors_origins: Vec::new(),
            max_upload_bytes: 50_000_000,
            max_body_bytes: 5_000_000,
            keep_alive: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(20),
            body_read_timeout: Duration::from_secs(30),
            write_stall_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            max_inline_jobs: cores(),
            test_kinds: false,
            materials: Vec::new(),
            outage: Arc::new(wjp_queue::Outage::new()),
            store: None,
        }
    }
}

impl ApiConfig {
    pub fn from_args(args: &ApiArgs) -> anyhow::Result<Self> {
        let mb = |name: &str, v: f64| -> anyhow::Result<u64> {
            if !v.is_finite() || v <= 0.0 || v > 1e6 {
                bail!("--{name} must be a positive number of MB, got {v}");
            }
            Ok((v * 1e6) as u64)
        };
        // Zero would close every connection at once, and more than an hour
        // is no protection at all: both are mistakes worth refusing.
        let secs = |name: &str, v: f64| -> anyhow::Result<Duration> {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero() && *d <= Duration::from_secs(3600))
                .with_context(|| {
                    format!("--{name} must be more than 0 and at most 3600 seconds, got {v}")
                })
        };
        if !(1..=1_000_000).contains(&args.max_connections) {
            bail!(
                "--max-connections must be between 1 and 1000000, got {}",
                args.max_connections
            );
        }
        let max_connections_per_client = match args.max_connections_per_client {
            None => DEFAULT_MAX_CONNECTIONS_PER_CLIENT.min(args.max_connections),
            Some(n) if (1..=args.max_connections).contains(&n) => n,
            Some(n) => bail!(
                "--max-connections-per-client must be between 1 and --max-connections ({}), \
                 got {n}",
                args.max_connections
            ),
        };
        let max_inline_jobs = args.max_inline_jobs.unwrap_or_else(cores);
        if !(1..=4096).contains(&max_inline_jobs) {
            bail!("--max-inline-jobs must be between 1 and 4096, got {max_inline_jobs}");
        }
        Ok(ApiConfig {
            api_key: args
                .api_key
                .as_deref()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned),
            cors_origins: args
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            max_upload_bytes: mb("max-upload-mb", args.max_upload_mb)?,
            max_body_bytes: usize::try_from(mb("max-body-mb", args.max_body_mb)?)?,
            keep_alive: Duration::from_secs(15),
            header_read_timeout: secs("header-read-timeout-secs", args.header_read_timeout_secs)?,
            body_read_timeout: secs("body-read-timeout-secs", args.body_read_timeout_secs)?,
            write_stall_timeout: secs("write-stall-timeout-secs", args.write_stall_timeout_secs)?,
            max_connections: args.max_connections,
            max_connections_per_client,
            max_inline_jobs,
            test_kinds: args.enable_test_kinds,
            materials: args.materials.clone(),
            outage: args.outage.clone().unwrap_or_default(),
            store: args.store.clone(),
        })
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub queue: Queue,
    pub handlers: Handlers,
    /// Where every file is: uploads, inputs, artefacts.
    pub store: Store,
    pub config: Arc<ApiConfig>,
    pub metrics: Arc<Metrics>,
    /// Writes enqueues in groups (see [`enqueue`]).
    pub enqueuer: enqueue::Enqueuer,
    /// One permit per synchronous domain request that may run at once.
    pub inline_slots: Arc<tokio::sync::Semaphore>,
    /// Cancelled on shutdown: ends event streams so the server can stop.
    pub shutdown: CancellationToken,
    /// The open WebSockets, which outlive the HTTP connections that
    /// carried their upgrade: [`serve`] waits for them to close.
    pub sockets: TaskTracker,
    /// Whether the queue store answers: every request that finds it down
    /// reports here, so an outage is one log line, not one per request.
    pub outage: Arc<wjp_queue::Outage>,
}

/// The whole API, for [`run`] and for tests. Creates the managed folders
/// under `data_dir`. Event streams end when `shutdown` is cancelled. Call
/// within a Tokio runtime (it starts the enqueue loop).
pub fn router(
    queue: Queue,
    handlers: Handlers,
    data_dir: &Path,
    config: ApiConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Router> {
    build(
        queue,
        handlers,
        data_dir,
        config,
        shutdown,
        Arc::new(Metrics::default()),
        TaskTracker::new(),
    )
}

fn build(
    queue: Queue,
    handlers: Handlers,
    data_dir: &Path,
    config: ApiConfig,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    sockets: TaskTracker,
) -> anyhow::Result<Router> {
    let store = match &config.store {
        Some(store) => store.clone(),
        None => Store::local(data_dir).with_context(|| {
            format!(
                "creating the managed folders (uploads, data, output) in {}",
                data_dir.display()
            )
        })?,
    };
    let outage = config.outage.clone();
    let state = AppState {
        queue: queue.clone(),
        handlers,
        store,
        inline_slots: Arc::new(tokio::sync::Semaphore::new(config.max_inline_jobs)),
        config: Arc::new(config),
        metrics,
        enqueuer: enqueue::Enqueuer::start(queue.clone()),
        shutdown,
        sockets,
        outage,
    };
    let routes = Router::new()
        .merge(ops::routes())
        .merge(shop::routes(&state.config))
        .merge(jobs::routes())
        .merge(schedules::routes())
        .merge(remnants::routes())
        .merge(history::routes())
        .merge(steering::routes())
        .merge(materials::routes())
        .merge(events::routes())
        .merge(ws::routes())
        .merge(dashboard::routes());
    layers::apply(routes, state.clone()).map(|r| r.with_state(state))
}

/// Checks the listen address against the key policy.
pub fn bind_address(args: &ApiArgs) -> anyhow::Result<SocketAddr> {
    let ip: IpAddr = if args.host == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        args.host
            .parse()
            .with_context(|| format!("--host {:?} is not an IP address", args.host))?
    };
    let has_key = args
        .api_key
        .as_deref()
        .is_some_and(|k| !k.trim().is_empty());
    if !ip.is_loopback() && !has_key && !args.allow_public_without_key {
        bail!(
            "refusing to listen on {ip} without an API key: anyone on the network could submit \
             and cancel jobs. Set WJP_API_KEY (or --api-key), or pass \
             --allow-public-without-key if the network is trusted"
        );
    }
    Ok(SocketAddr::new(ip, args.port))
}

/// Serves on `listener` until `shutdown` is cancelled; then stops
/// accepting, ends event streams, and lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    args: &ApiArgs,
    queue: Queue,
    handlers: Handlers,
    data_dir: &Path,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = ApiConfig::from_args(args)?;
    let metrics = Arc::new(Metrics::default());
    let connections = Connections::of(&config, metrics.clone());
    connections::warn_if_files_run_out(config.max_connections);
    let sockets = TaskTracker::new();
    let app = build(
        queue.clone(),
        handlers,
        data_dir,
        config,
        shutdown.clone(),
        metrics.clone(),
        sockets.clone(),
    )?;
    tokio::spawn(metrics::follow_jobs(queue, metrics, shutdown.clone()));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, auth = args.api_key.is_some(), "serving the HTTP API");
    connections.serve(listener, app, &shutdown).await;
    // WebSockets close on `shutdown` themselves; their close frames are
    // sent (each write bounded by the write-stall timeout) before `serve`
    // returns and the process may exit.
    sockets.close();
    sockets.wait().await;
    tracing::info!("the HTTP API stopped");
    Ok(())
}
