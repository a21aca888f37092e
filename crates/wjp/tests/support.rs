//! Runs the real `wjp` binary against a fresh data directory.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

// The engine's harness, shared rather than copied; not all of it is used here.
#[allow(dead_code)]
#[path = "../../wjp-queue/tests/support/redis_server.rs"]
mod redis_server;

pub use redis_server::RedisServer;

/// A fresh backend: the embedded one in a temporary directory, or a
/// private redis-server.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub redis: Option<RedisServer>,
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
            redis: None,
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
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        if let Some(redis) = &self.redis {
            cmd.env("REDIS_URL", redis.url(0));
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

pub fn status_of(job: &Value) -> &str {
    job["status"].as_str().unwrap_or("?")
}
