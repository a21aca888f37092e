//! The API on the Redis backend: the async flow, live progress, cancel and
//! the synchronous fallback; and two API processes sharing one Redis, one
//! taking requests and streaming events, the other running the jobs.
//! Needs a real `redis-server` (CI installs Debian's package; set
//! WJP_REDIS_SERVER to use another binary).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wjp_queue::backend::redis::RedisBackend;

use crate::support::{Options, Server};

struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> RedisServer {
        let binary = std::env::var_os("WJP_REDIS_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/redis-server"));
        assert!(
            binary.exists(),
            "{} not found: these tests need redis-server (Debian package `redis-server`)",
            binary.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        RedisServer {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Connects, waiting for the server to accept (a hang guard).
    async fn backend(&self) -> Arc<RedisBackend> {
        let mut last = String::new();
        for _ in 0..200 {
            match RedisBackend::connect(&self.url()).await {
                Ok(b) => return Arc::new(b),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start: {last}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_on_redis() {
    let redis = RedisServer::start();
    let s = Server::with(Options {
        backend: Some(redis.backend().await),
        ..Options::default()
    })
    .await;
    let (_, health) = s.get("/health").await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["backend"], "redis");

    // Async flow of a shop endpoint.
    let up = s.upload("part.dxf", b"0\nSECTION\n0\nEOF\n").await;
    let (status, body) = s
        .post(
            "/analyze-dxf?async_mode=true",
            json!({ "dxf_path": up["relative_path"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let job = s.wait_completed(body["job_id"].as_str().unwrap()).await;
    assert_eq!(job["result"]["bytes"], 16);

    // Cancel a running job.
    let (status, job) = s
        .post(
            "/jobs",
            json!({ "kind": "sleep", "payload": { "seconds": 60 } }),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap().to_owned();
    s.wait_job(&id, |j| j["status"] == "running").await;
    let (_, body) = s.post(&format!("/jobs/{id}/cancel"), json!(null)).await;
    assert_eq!(body["outcome"], "requested");
    s.wait_job(&id, |j| j["status"] == "cancelled").await;

    // The history and counts.
    let (_, page) = s.get("/jobs?limit=1").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(page["jobs"][0]["job_id"], id.as_str());
    assert!(page["next_cursor"].is_string(), "{page}");
    let (_, queues) = s.get("/queues").await;
    assert_eq!(queues["queues"][0]["cancelled"], 1, "{queues}");

    // Redis down: async requests are answered synchronously.
    s.backend.set_down(true);
    let (status, body) = s
        .post(
            "/analyze-dxf?async_mode=true",
            json!({ "dxf_path": up["relative_path"] }),
        )
        .await;
    assert_eq!(
        (status, body["success"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(body["report"]["bytes"], 16);
    s.backend.set_down(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_processes_on_redis() {
    let redis = RedisServer::start();
    // The front takes requests and streams events; the back runs the jobs.
    let front = Server::with(Options {
        backend: Some(redis.backend().await),
        workers: false,
        ..Options::default()
    })
    .await;
    let _back = Server::with(Options {
        backend: Some(redis.backend().await),
        ..Options::default()
    })
    .await;
    let (status, job) = front
        .post(
            "/jobs",
            json!({ "kind": "sleep", "payload": { "seconds": 2 } }),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap().to_owned();
    let r = front
        .client
        .get(front.url(&format!("/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(180), r.text())
        .await
        .expect("the stream ends when the job does")
        .unwrap();
    let events: Vec<serde_json::Value> = text
        .split("\n\n")
        .filter_map(|block| {
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            (!data.is_empty()).then(|| serde_json::from_str(&data).unwrap())
        })
        .collect();
    assert_eq!(events.last().unwrap()["status"], "completed", "{text}");
    assert!(
        events.iter().any(|e| e["status"] == "running"
            && e["progress"].as_f64().is_some_and(|p| p > 0.0 && p < 1.0)),
        "no progress seen across processes: {text}"
    );
}
