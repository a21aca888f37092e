//! Runs the real `wjp` binary against a fresh data directory.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

// The engine's harness, shared rather than copied; not all of it is used here.
#[allow(dead_code)]
#[path = "../../wjp-queue/tests/support/redis_server.rs"]
mod redis_server;

#[allow(dead_code)]
#[path = "../../wjp-queue/tests/support/redis_cluster.rs"]
mod redis_cluster;

pub use redis_cluster::RedisCluster;
pub use redis_server::RedisServer;

/// A fresh backend: the embedded one in a temporary directory, or a
/// private redis-server.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub redis: Option<RedisServer>,
    pub cluster: Option<RedisCluster>,
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
            redis: None,
            cluster: None,
        }
    }

    /// A private Redis Cluster of three primaries.
    pub fn redis_cluster() -> Self {
        Env {
            cluster: Some(RedisCluster::start(3, &[])),
            ..Env::new()
        }
    }

    pub fn redis() -> Self {
        Env {
            redis: Some(RedisServer::start(&[])),
            ..Env::new()
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wjp"));
        cmd.env("WJP_DATA_DIR", self.data_dir())
            .env_remove("REDIS_URL")
            .env_remove("REDIS_HOST")
            .env_remove("REDIS_CLUSTER_NODES")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        if let Some(redis) = &self.redis {
            cmd.env("REDIS_URL", redis.url(0));
        }
        if let Some(cluster) = &self.cluster {
            cmd.env("REDIS_CLUSTER_NODES", cluster.urls().join(","));
        }
        cmd
    }

    /// Runs `wjp ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run wjp")
    }

    /// Runs `wjp ARGS` to completion, at most `limit` (a bound on a hang:
    /// the process is killed and the test fails, naming `context` and
    /// showing the workers' log).
    pub fn run_within(&self, args: &[&str], limit: Duration, context: &str) -> Output {
        let mut child = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wjp");
        let deadline = Instant::now() + limit;
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collect output");
                panic!(
                    "wjp {args:?} did not finish within {limit:?} ({context}); stderr: {}\n\
                     workers' log: {}",
                    String::from_utf8_lossy(&out.stderr),
                    self.worker_log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("collect output")
    }

    /// Runs `wjp ARGS`, requires success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "wjp {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs `wjp ARGS`, requires failure, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "wjp {args:?} should have failed; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8 output")
    }

    pub fn submit(&self, args: &[&str]) -> String {
        let mut all = vec!["submit"];
        all.extend_from_slice(args);
        self.ok(&all).trim().to_owned()
    }

    pub fn job(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["status", id, "--json"])).expect("status JSON")
    }

    /// Polls the job until `done` holds (at most `limit`, a bound on a hang).
    pub fn wait_for(&self, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let job = self.job(id);
            if done(&job) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not reach the expected state in {limit:?}: {job:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts `wjp worker ARGS` in the background. Its log goes to a file
    /// (`worker_log`): a pipe nobody reads would stall a chatty worker.
    pub fn spawn_worker(&self, args: &[&str]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.worker_log())
            .expect("worker log file");
        self.command()
            .arg("worker")
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn worker")
    }

    /// Where the workers started by `spawn_worker` write their log.
    pub fn worker_log(&self) -> PathBuf {
        self.dir.path().join("workers.log")
    }

    /// The workers' log so far, for failure messages.
    pub fn worker_log_text(&self) -> String {
        std::fs::read_to_string(self.worker_log()).unwrap_or_default()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Puts a file in the data directory's `uploads/` folder, where jobs
    /// may read it (as `POST /upload` would); returns its path.
    pub fn upload(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let dir = self.data_dir().join("uploads");
        std::fs::create_dir_all(&dir).expect("create uploads/");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write upload");
        path
    }

    /// A shared fixture (`dxf/…`, `images/…`, `csv/…`) put in `uploads/`.
    pub fn upload_fixture(&self, path: &str) -> PathBuf {
        let bytes = std::fs::read(fixture(path)).expect("read fixture");
        let name = std::path::Path::new(path).file_name().expect("file name");
        self.upload(&name.to_string_lossy(), bytes)
    }
}

/// A file of the shared fixtures beside the checkout.
pub fn fixture(path: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(path)
}

/// Waits for a child to exit, at most `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// One queue's counts in `wjp info --json`.
pub fn queue_counts<'a>(info: &'a Value, name: &str) -> &'a Value {
    info["queues"]
        .as_array()
        .and_then(|queues| queues.iter().find(|q| q["name"] == name))
        .unwrap_or_else(|| panic!("no queue {name} in {info:#}"))
}

pub fn status_of(job: &Value) -> &str {
    job["status"].as_str().unwrap_or("?")
}

/// A `wjp api` process on a free port, killed when dropped.
pub struct Api {
    pub child: Child,
    pub port: u16,
}

impl Env {
    /// Starts `wjp api` with `args` and waits until it answers.
    pub fn spawn_api(&self, args: &[&str]) -> Api {
        self.spawn_api_logging(args, "warn")
    }

    /// `spawn_api`, logging at `rust_log` (`RUST_LOG`) to `api.log`.
    pub fn spawn_api_logging(&self, args: &[&str], rust_log: &str) -> Api {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = self
            .command()
            .args(["api", "--port", &port.to_string()])
            .args(args)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.path().join("api.log")).expect("api log"),
            ))
            .spawn()
            .expect("start wjp api");
        let api = Api { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.request("GET", "/health", &[], b"").is_err() {
            assert!(Instant::now() < deadline, "wjp api did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        api
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

impl Api {
    /// Sends one HTTP/1.1 request on a fresh connection and reads the whole
    /// answer (the server closes the connection after it).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        use std::io::Read;
        let mut stream = self.send(method, path, headers, body)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse_answer(&raw)
    }

    /// Sends a request and returns the open connection, answer unread.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<std::net::TcpStream> {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += "\r\n";
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        Ok(stream)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .expect("request")
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[], b"").expect("request")
    }

    /// The pids of the job processes (`wjp run-job`) this server runs now.
    pub fn job_processes(&self) -> Vec<u32> {
        descendants(self.child.id())
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains("run-job"))
                    .unwrap_or(false)
            })
            .collect()
    }

    /// Resident memory of the server and its job processes, in bytes.
    pub fn tree_rss(&self) -> u64 {
        let mut pids = descendants(self.child.id());
        pids.push(self.child.id());
        pids.iter().map(|pid| rss_bytes(*pid)).sum()
    }

    /// Waits until `done` holds, giving up after a minute.
    pub fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done() {
            assert!(Instant::now() < deadline, "gave up waiting: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_answer(raw: &[u8]) -> std::io::Result<Answer> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of head"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = unchunk(&body);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}

/// Every process below `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // The field after the command (which may hold spaces) in parens.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(parent) = parent {
            parents.entry(parent).or_default().push(child);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &c in parents.get(&p).into_iter().flatten() {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
