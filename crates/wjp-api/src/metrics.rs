//! `GET /metrics` in the Prometheus text format.
//!
//! HTTP requests and latencies are counted as they happen, keyed by the
//! route template (`/jobs/{job_id}`, never the raw path, so the series stay
//! bounded). Job counts per queue and status are read from the backend at
//! scrape time: a gauge kept by increments would drift. Job durations and
//! failures by kind come from following the engine's event stream
//! ([`follow_jobs`]): they count what this process saw since it started, as
//! Prometheus counters do.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wjp_queue::backend::QueueCounts;
use wjp_queue::{Event, Queue, Status};

use crate::connections::Refusal;

/// Upper bounds of the HTTP latency histogram, in seconds.
const HTTP_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Upper bounds of the job duration histogram, in seconds.
const JOB_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 3600.0,
];

/// Running attempts whose start is remembered at most; beyond, what is
/// remembered is dropped (those durations go unmeasured, nothing else).
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
struct Histogram {
    counts: [u64; 12],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64; 12], value: f64) {
        for (n, bound) in self.counts.iter_mut().zip(bounds) {
            if value <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += value;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64; 12]) {
        for (bound, n) in bounds.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
pub struct Metrics {
    /// (method, route, status) -> requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// (method, route) -> latency.
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    /// (kind, error kind) -> failed jobs.
    failures: Mutex<BTreeMap<(String, String), u64>>,
    /// (kind, final status) -> run time of attempts.
    durations: Mutex<BTreeMap<(String, String), Histogram>>,
    /// (job id, attempt) -> when it started running, in ms.
    started: Mutex<HashMap<(String, u32), i64>>,
    /// Connections answered 503 and closed at accept, by [`Refusal`].
    refused_connections: [AtomicU64; 2],
}

impl Metrics {
    pub fn record_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        *lock(&self.requests)
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        lock(&self.latency)
            .entry((method.to_owned(), route.to_owned()))
            .or_default()
            .observe(&HTTP_BUCKETS, elapsed.as_secs_f64());
    }

    pub(crate) fn record_connection_refused(&self, refusal: Refusal) {
        self.refused_connections[refusal as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes note of one engine event (see [`follow_jobs`]).
    pub fn record_event(&self, e: &Event) {
        let key = (e.job_id.to_string(), e.attempt);
        let mut started = lock(&self.started);
        match e.status {
            Status::Running => {
                if started.len() >= MAX_TRACKED {
                    started.clear();
                }
                // Progress events repeat `running`: the first one counts.
                started.entry(key).or_insert(e.at.millis());
            }
            Status::Completed | Status::Failed | Status::Cancelled => {
                if let Some(start) = started.remove(&key) {
                    let secs = (e.at.millis() - start).max(0) as f64 / 1000.0;
                    lock(&self.durations)
                        .entry((e.kind.to_string(), e.status.to_string()))
                        .or_default()
                        .observe(&JOB_BUCKETS, secs);
                }
                if e.status == Status::Failed {
                    let why = e.error_kind.map_or("unknown", |k| k.as_str());
                    *lock(&self.failures)
                        .entry((e.kind.to_string(), why.to_owned()))
                        .or_default() += 1;
                }
            }
            // An attempt that went back to wait (retry, lost lease), or a
            // job that waits for parents (it has not started).
            Status::Waiting | Status::Queued | Status::Scheduled => {
                started.remove(&key);
            }
        }
    }

    /// The whole exposition; `counts` is `None` when the backend did not
    /// answer this scrape.
    pub fn render(&self, counts: Option<&[QueueCounts]>) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "wjp_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route and status.",
        );
        for ((method, route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "wjp_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        header(
            &mut out,
            "wjp_http_request_duration_seconds",
            "histogram",
            "Time to answer HTTP requests (to the response head).",
        );
        for ((method, route), h) in lock(&self.latency).iter() {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            h.render(
                &mut out,
                "wjp_http_request_duration_seconds",
                &labels,
                &HTTP_BUCKETS,
            );
        }
        header(
            &mut out,
            "wjp_connections_refused_total",
            "counter",
            "Connections answered 503 and closed at once: their client address held \
             --max-connections-per-client (per_client), or only reserved slots were free \
             and it held too many to take one (reserve).",
        );
        for refusal in Refusal::ALL {
            let _ = writeln!(
                out,
                "wjp_connections_refused_total{{reason=\"{}\"}} {}",
                refusal.as_str(),
                self.refused_connections[refusal as usize].load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "wjp_job_failures_total",
            "counter",
            "Jobs that failed, by kind and reason, seen since this process started.",
        );
        for ((kind, why), n) in lock(&self.failures).iter() {
            let _ = writeln!(
                out,
                "wjp_job_failures_total{{kind=\"{}\",error_kind=\"{}\"}} {n}",
                escape(kind),
                escape(why)
            );
        }
        header(
            &mut out,
            "wjp_job_duration_seconds",
            "histogram",
            "Run time of job attempts, by kind and outcome, seen since this process started.",
        );
        for ((kind, status), h) in lock(&self.durations).iter() {
            let labels = format!("kind=\"{}\",status=\"{}\"", escape(kind), escape(status));
            h.render(&mut out, "wjp_job_duration_seconds", &labels, &JOB_BUCKETS);
        }
        header(
            &mut out,
            "wjp_backend_up",
            "gauge",
            "Whether the queue backend answered this scrape.",
        );
        let _ = writeln!(out, "wjp_backend_up {}", u8::from(counts.is_some()));
        if let Some(counts) = counts {
            header(
                &mut out,
                "wjp_jobs",
                "gauge",
                "Jobs in the backend, by queue and status, read at scrape time.",
            );
            for q in counts {
                for status in Status::ALL {
                    let _ = writeln!(
                        out,
                        "wjp_jobs{{queue=\"{}\",status=\"{status}\"}} {}",
                        escape(&q.name),
                        q.get(status)
                    );
                }
            }
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Follows the engine's events from now on and feeds job durations and
/// failures into `metrics`, until `shutdown`.
pub async fn follow_jobs(queue: Queue, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    // Start at the newest event: what happened before is not this
    // process's to count.
    let mut cursor = loop {
        match queue.last_event_id().await {
            Ok(c) => break c,
            Err(_) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = shutdown.cancelled() => return,
            },
        }
    };
    loop {
        let read = tokio::select! {
            r = queue.next_events(cursor.as_deref(), 500, Duration::from_secs(10)) => r,
            _ = shutdown.cancelled() => return,
        };
        match read {
            Ok(events) => {
                for e in &events {
                    metrics.record_event(e);
                }
                if let Some(last) = events.last() {
                    cursor = Some(last.id.clone());
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "job metrics: the backend did not answer");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_requests_histogram_and_job_gauges() {
        let m = Metrics::default();
        m.record_http("GET", "/jobs/{job_id}", 200, Duration::from_millis(3));
        m.record_http("GET", "/jobs/{job_id}", 200, Duration::from_millis(30));
        let mut counts = QueueCounts {
            name: "default".into(),
            ..QueueCounts::default()
        };
        counts.add(Status::Queued, 4);
        let text = m.render(Some(&[counts]));
        assert!(text.contains(
            "wjp_http_requests_total{method=\"GET\",route=\"/jobs/{job_id}\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "wjp_http_request_duration_seconds_bucket{method=\"GET\",route=\"/jobs/{job_id}\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "wjp_http_request_duration_seconds_bucket{method=\"GET\",route=\"/jobs/{job_id}\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("wjp_jobs{queue=\"default\",status=\"queued\"} 4"));
        assert!(text.contains("wjp_backend_up 1"));
        assert!(m.render(None).contains("wjp_backend_up 0"));
    }
}
