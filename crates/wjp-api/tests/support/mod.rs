//! A real server for the tests: SQLite in a temp dir, in-process workers,
//! a socket on 127.0.0.1:0, and a reqwest client.
//!
//! The backend is wrapped in [`Switchable`], which delegates every call to
//! the real SQLite backend until the test switches it off; then every call
//! fails as an unreachable server would. The shop's job kinds are served by
//! stand-in handlers ([`shop_handlers`]) that read and write the files they
//! are given, so the API's wiring (paths, payloads, responses) is checked
//! without the real analysis.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clap::Parser;
use serde_json::{json, Value};
use wjp_queue::backend::sqlite::SqliteBackend;
use wjp_queue::backend::{
    Backend, BackendInfo, ClaimRequest, Inserted, JobPage, JobQuery, LeaseRef, LeaseState,
    ProgressUpdate, QueueCounts, WorkerRecord,
};
use wjp_queue::state::Transition;
use wjp_queue::{
    builtin, Catalog, Event, HandlerError, Handlers, Job, JobContext, JobId, Queue, QueueError,
    QueueName, Schedule, Status, Timestamp, Worker, WorkerConfig,
};

/// The real backend, with a switch that makes every call fail.
pub struct Switchable {
    inner: Arc<dyn Backend>,
    down: AtomicBool,
}

impl Switchable {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            Err(QueueError::Unavailable(
                "connection refused (switched off by the test)".into(),
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Backend for Switchable {
    fn info(&self) -> BackendInfo {
        self.inner.info()
    }
    async fn ping(&self) -> Result<(), QueueError> {
        self.check()?;
        self.inner.ping().await
    }
    async fn insert(&self, jobs: Vec<Job>) -> Result<Vec<Inserted>, QueueError> {
        self.check()?;
        self.inner.insert(jobs).await
    }
    async fn insert_within(
        &self,
        jobs: Vec<Job>,
        quotas: &wjp_queue::catalog::Quotas,
    ) -> Result<Vec<Inserted>, QueueError> {
        self.check()?;
        self.inner.insert_within(jobs, quotas).await
    }
    async fn insert_recorded(
        &self,
        jobs: Vec<Job>,
        quotas: &wjp_queue::catalog::Quotas,
        origins: Vec<String>,
    ) -> Result<Vec<Inserted>, QueueError> {
        self.check()?;
        self.inner.insert_recorded(jobs, quotas, origins).await
    }
    async fn audit_entries(
        &self,
        query: &wjp_queue::AuditQuery,
    ) -> Result<wjp_queue::AuditPage, QueueError> {
        self.check()?;
        self.inner.audit_entries(query).await
    }
    async fn trim_audit(
        &self,
        now: wjp_queue::Timestamp,
        retention: &wjp_queue::AuditRetention,
    ) -> Result<u64, QueueError> {
        self.check()?;
        self.inner.trim_audit(now, retention).await
    }
    async fn forget_audit(&self, queue: &wjp_queue::QueueName) -> Result<(), QueueError> {
        self.check()?;
        self.inner.forget_audit(queue).await
    }
    async fn get(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn list(&self, query: &JobQuery) -> Result<JobPage, QueueError> {
        self.check()?;
        self.inner.list(query).await
    }
    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>, QueueError> {
        self.check()?;
        self.inner.claim(request).await
    }
    async fn apply(&self, transitions: Vec<Transition>) -> Result<Vec<bool>, QueueError> {
        self.check()?;
        self.inner.apply(transitions).await
    }
    async fn renew_leases(
        &self,
        leases: &[LeaseRef],
        until: Timestamp,
    ) -> Result<Vec<LeaseState>, QueueError> {
        self.check()?;
        self.inner.renew_leases(leases, until).await
    }
    async fn set_progress(&self, updates: Vec<ProgressUpdate>) -> Result<(), QueueError> {
        self.check()?;
        self.inner.set_progress(updates).await
    }
    async fn request_cancel(&self, id: &JobId) -> Result<bool, QueueError> {
        self.check()?;
        self.inner.request_cancel(id).await
    }
    async fn expired_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>, QueueError> {
        self.check()?;
        self.inner.expired_leases(now, limit).await
    }
    async fn due_scheduled(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>, QueueError> {
        self.check()?;
        self.inner.due_scheduled(now, limit).await
    }
    async fn delete_expired(&self, now: Timestamp) -> Result<u64, QueueError> {
        self.check()?;
        self.inner.delete_expired(now).await
    }
    async fn put_schedule(&self, schedule: &Schedule) -> Result<bool, QueueError> {
        self.check()?;
        self.inner.put_schedule(schedule).await
    }
    async fn remove_schedule(&self, name: &str) -> Result<bool, QueueError> {
        self.check()?;
        self.inner.remove_schedule(name).await
    }
    async fn schedules(&self) -> Result<Vec<Schedule>, QueueError> {
        self.check()?;
        self.inner.schedules().await
    }
    async fn advance_schedule(
        &self,
        schedule: &Schedule,
        expect_next: Timestamp,
    ) -> Result<bool, QueueError> {
        self.check()?;
        self.inner.advance_schedule(schedule, expect_next).await
    }
    async fn stock_add(
        &self,
        pool: &str,
        id: &str,
        body: &str,
        max_items: usize,
    ) -> Result<bool, QueueError> {
        self.check()?;
        self.inner.stock_add(pool, id, body, max_items).await
    }
    async fn stock_items(&self, pool: &str) -> Result<Vec<wjp_queue::StockItem>, QueueError> {
        self.check()?;
        self.inner.stock_items(pool).await
    }
    async fn stock_take(
        &self,
        pool: &str,
        ids: &[String],
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<String>, QueueError> {
        self.check()?;
        self.inner.stock_take(pool, ids, holder, until, now).await
    }
    async fn stock_settle(
        &self,
        pool: &str,
        holder: &str,
        used: &[String],
        released: &[String],
    ) -> Result<(), QueueError> {
        self.check()?;
        self.inner.stock_settle(pool, holder, used, released).await
    }
    async fn stock_remove(&self, pool: &str, id: &str) -> Result<bool, QueueError> {
        self.check()?;
        self.inner.stock_remove(pool, id).await
    }
    async fn counts(&self, queues: &[QueueName]) -> Result<Vec<QueueCounts>, QueueError> {
        self.check()?;
        self.inner.counts(queues).await
    }
    async fn set_paused(&self, queue: &QueueName, paused: bool) -> Result<bool, QueueError> {
        self.check()?;
        self.inner.set_paused(queue, paused).await
    }
    async fn set_limits(
        &self,
        queue: &QueueName,
        limits: wjp_queue::QueueLimits,
    ) -> Result<(), QueueError> {
        self.check()?;
        self.inner.set_limits(queue, limits).await
    }
    async fn purge(&self, queue: &QueueName, status: Status) -> Result<u64, QueueError> {
        self.check()?;
        self.inner.purge(queue, status).await
    }
    async fn register_worker(&self, worker: &WorkerRecord) -> Result<(), QueueError> {
        self.check()?;
        self.inner.register_worker(worker).await
    }
    async fn remove_worker(&self, name: &str) -> Result<(), QueueError> {
        self.check()?;
        self.inner.remove_worker(name).await
    }
    async fn workers(&self, now: Timestamp) -> Result<Vec<WorkerRecord>, QueueError> {
        self.check()?;
        self.inner.workers(now).await
    }
    async fn events_after(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>, QueueError> {
        self.check()?;
        self.inner.events_after(cursor, limit).await
    }
    async fn last_event_id(&self) -> Result<Option<String>, QueueError> {
        self.check()?;
        self.inner.last_event_id().await
    }
    async fn wait_for_jobs(
        &self,
        queues: &[QueueName],
        claimed_at: std::time::Instant,
        max_wait: Duration,
    ) -> Result<(), QueueError> {
        self.check()?;
        self.inner.wait_for_jobs(queues, claimed_at, max_wait).await
    }
    async fn wait_for_events(
        &self,
        after: Option<&str>,
        max_wait: Duration,
    ) -> Result<(), QueueError> {
        self.check()?;
        self.inner.wait_for_events(after, max_wait).await
    }
}

/// The kinds of the shop, routed as the binary routes them.
pub const SHOP_KINDS: [(&str, &str); 8] = [
    ("analyze_dxf", "analysis"),
    ("calculate_cost", "analysis"),
    ("convert_image", "conversion"),
    ("analyze_csv", "default"),
    ("nest", "nesting"),
    ("generate_gcode", "gcode"),
    ("export_components_csv", "default"),
    ("export_layered_dxf", "default"),
];

/// The local file of the input `field` names: payloads name inputs by
/// their key in the store, the data directory's folders here.
fn path_of(ctx: &JobContext, data_dir: &Path, field: &str) -> Result<PathBuf, HandlerError> {
    ctx.job().payload[field]
        .as_str()
        .map(|key| data_dir.join(key))
        .ok_or_else(|| HandlerError::InvalidPayload(format!("{field} is missing")))
}

fn read(path: &Path) -> Result<String, HandlerError> {
    std::fs::read_to_string(path)
        .map_err(|e| HandlerError::Failed(format!("{}: {e}", path.display())))
}

/// Writes an artefact as the real handlers do: `output/<folder>/<job
/// id>.<ext>` of the data directory; returns its path below it.
fn write_artefact(
    ctx: &JobContext,
    data_dir: &Path,
    folder: &str,
    ext: &str,
    text: &str,
) -> Result<String, HandlerError> {
    let relative = format!("output/{folder}/{}.{ext}", ctx.job().id);
    let path = data_dir.join(&relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text)
        .map_err(|e| HandlerError::Failed(format!("{}: {e}", path.display())))?;
    Ok(relative)
}

/// Stand-ins for the shop's handlers: each reads what it is given and
/// answers something derived from it.
fn analyze(ctx: &JobContext, data_dir: &Path) -> Result<Value, HandlerError> {
    let path = path_of(ctx, data_dir, "dxf_path")?;
    let text = read(&path)?;
    if text.starts_with("BAD") {
        return Err(HandlerError::Failed("not a DXF file".into()));
    }
    Ok(json!({ "bytes": text.len(), "dxf_path": path, "payload": ctx.job().payload }))
}

pub fn shop_handlers(handlers: &mut Handlers, data_dir: &Path) {
    let dir = data_dir.to_path_buf();
    handlers
        .add("analyze_dxf", move |ctx: &JobContext| analyze(ctx, &dir))
        .unwrap();
    let dir = data_dir.to_path_buf();
    handlers
        .add("calculate_cost", move |ctx: &JobContext| {
            let text = read(&path_of(ctx, &dir, "dxf_path")?)?;
            Ok(json!({ "total": text.len() as f64 * 0.5, "currency": "EUR" }))
        })
        .unwrap();
    let dir = data_dir.to_path_buf();
    handlers
        .add("convert_image", move |ctx: &JobContext| {
            let image = read(&path_of(ctx, &dir, "image_path")?)?;
            let dxf = format!("0\nSECTION\n999\n{image}\n0\nEOF\n");
            let artefact = write_artefact(ctx, &dir, "conversions", "dxf", &dxf)?;
            Ok(json!({ "artifacts": { "dxf": artefact } }))
        })
        .unwrap();
    let dir = data_dir.to_path_buf();
    handlers
        .add("analyze_csv", move |ctx: &JobContext| {
            let text = read(&path_of(ctx, &dir, "csv_path")?)?;
            Ok(json!({ "rows": text.lines().count() - 1, "report": ctx.job().payload["report"] }))
        })
        .unwrap();
    handlers
        .add("nest", |ctx: &JobContext| {
            Ok(json!({ "nested": ctx.job().payload }))
        })
        .unwrap();
    handlers
        .add("generate_gcode", |ctx: &JobContext| {
            Ok(json!({ "gcode_for": ctx.job().payload }))
        })
        .unwrap();
    for (kind, ext) in [
        ("export_components_csv", "csv"),
        ("export_layered_dxf", "dxf"),
    ] {
        let dir = data_dir.to_path_buf();
        handlers
            .add(kind, move |ctx: &JobContext| {
                let parts = ctx.job().payload["report"]["parts"].as_u64().unwrap_or(0);
                let text = format!("Area_mm2,Perimeter_mm\n{parts},1\n");
                let artefact = write_artefact(ctx, &dir, "exports", ext, &text)?;
                Ok(json!({ "artifacts": { ext: artefact } }))
            })
            .unwrap();
    }
}

pub struct Options {
    /// Register the shop's kinds (stand-in handlers); otherwise only the
    /// engine's built-in kinds exist, as in a build without them.
    pub shop: bool,
    pub workers: bool,
    pub args: Vec<String>,
    /// The backend to serve (default: SQLite in the server's temp dir).
    pub backend: Option<Arc<dyn Backend>>,
    /// Registers more kinds and handlers (after the built-in and shop
    /// ones), given the data directory.
    pub configure: Option<fn(&mut Catalog, &mut Handlers, &Path)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            shop: true,
            workers: true,
            args: Vec::new(),
            backend: None,
            configure: None,
        }
    }
}

/// The flags of `wjp api`: the HTTP ones, and the in-process workers the
/// binary wires beside the server (as the harness does here).
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    api: wjp_api::ApiArgs,
    #[arg(long)]
    workers: Option<usize>,
    #[arg(long)]
    no_workers: bool,
    #[arg(long, default_value_t = 0.5)]
    shutdown_grace_secs: f64,
}

pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub backend: Arc<Switchable>,
    pub queue: Queue,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub async fn start() -> Server {
        Server::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Backend> = match options.backend {
            Some(b) => b,
            None => Arc::new(
                SqliteBackend::open_dir(&dir.path().join("db"), Default::default()).unwrap(),
            ),
        };
        let backend = Arc::new(Switchable {
            inner,
            down: AtomicBool::new(false),
        });
        let mut catalog =
            Catalog::new(&["default", "analysis", "conversion", "nesting", "gcode"]).unwrap();
        builtin::register(&mut catalog).unwrap();
        let mut handlers = Handlers::new();
        builtin::add_handlers(&mut handlers).unwrap();
        if options.shop {
            for (kind, queue) in SHOP_KINDS {
                catalog.register(kind, queue, None).unwrap();
            }
            shop_handlers(&mut handlers, dir.path());
        }
        if let Some(configure) = options.configure {
            configure(&mut catalog, &mut handlers, dir.path());
        }
        let queue = Queue::new(backend.clone(), catalog);
        // The tests rehearse with the engine's test kinds.
        let mut argv = vec!["wjp-api".to_owned(), "--enable-test-kinds".into()];
        if !options.workers {
            argv.push("--no-workers".into());
        }
        argv.extend(options.args);
        let cli = Cli::try_parse_from(argv).unwrap();
        let args = cli.api;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let data_dir = dir.path().to_path_buf();
        let q = queue.clone();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let on_stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = stopped.await;
            on_stop.cancel();
        });
        let workers = (!cli.no_workers).then(|| {
            let mut config = WorkerConfig::new(
                format!("api-test-{}", std::process::id()),
                q.catalog().queues().to_vec(),
            );
            if let Some(n) = cli.workers {
                config.concurrency = n;
            }
            config.shutdown_grace = Duration::from_secs_f64(cli.shutdown_grace_secs);
            let worker = Worker::new(q.clone(), handlers.clone(), config).unwrap();
            tokio::spawn(worker.run(shutdown.clone().cancelled_owned()))
        });
        let task = tokio::spawn(async move {
            let served =
                wjp_api::serve(listener, &args, q, handlers, &data_dir, shutdown.clone()).await;
            shutdown.cancel();
            if let Some(workers) = workers {
                workers.await??;
            }
            served
        });
        // The socket is bound already; one answer means the router (and
        // the managed folders) exist.
        let client = reqwest::Client::new();
        let health = client.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        Server {
            base,
            client,
            dir,
            backend,
            queue,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn uploads(&self) -> PathBuf {
        self.dir.path().join("uploads")
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        status_json(r).await
    }

    /// The body of a GET as text, whatever its type.
    pub async fn get_text(&self, path: &str) -> String {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        r.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .put(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// Sends a multipart form; the raw response, for file answers.
    pub async fn send_form(&self, path: &str, form: reqwest::multipart::Form) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Sends a multipart form and reads a JSON answer.
    pub async fn post_form(&self, path: &str, form: reqwest::multipart::Form) -> (u16, Value) {
        status_json(self.send_form(path, form).await).await
    }

    /// Asserts that no job exists: a refused request queued nothing.
    pub async fn assert_nothing_queued(&self) {
        let (_, page) = self.get("/jobs").await;
        assert!(
            page["jobs"].as_array().is_some_and(|jobs| jobs.is_empty()),
            "{page}"
        );
    }

    /// Waits for a job to complete and returns it.
    pub async fn wait_completed(&self, id: &str) -> Value {
        self.wait_job(id, |j| j["status"] == "completed").await
    }

    /// Stores a file in the uploads folder through POST /upload; returns
    /// the response body.
    pub async fn upload(&self, name: &str, content: &[u8]) -> Value {
        let part = reqwest::multipart::Part::bytes(content.to_vec()).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        let (status, body) = self.post_form("/upload", form).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls a job until `done` holds (a hang guard of a few minutes, not a
    /// timing assertion).
    pub async fn wait_job(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..3000 {
            let (status, job) = self.get(&format!("/jobs/{id}")).await;
            assert_eq!(status, 200, "{job}");
            if done(&job) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} never reached the expected state");
    }

    /// Stops the server as SIGTERM would, and returns what `serve` returned.
    pub async fn stop(mut self) -> (anyhow::Result<()>, tempfile::TempDir, Queue) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = self.task.take().unwrap().await.unwrap();
        (
            result,
            std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()),
            self.queue.clone(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
    (status, body)
}

/// Asserts the JSON error shape and returns its code.
pub fn error_code(body: &Value) -> &str {
    assert_eq!(body["success"], false, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {body}"))
}
