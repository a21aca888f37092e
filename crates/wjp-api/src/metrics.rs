//! `GET /metrics` in the Prometheus text format.
//!
//! HTTP requests and latencies are counted as they happen, keyed by the
//! route template (`/jobs/{job_id}`, never the raw path, so the series stay
//! bounded). Job counts per queue and status are read from the backend at
//! scrape time: a gauge kept by increments would drift.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use wjp_queue::backend::QueueCounts;
use wjp_queue::Status;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct HttpMetrics {
    /// (method, route, status) -> requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// (method, route) -> latency histogram.
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl HttpMetrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let secs = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = latency
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The whole exposition: the HTTP series, then the job gauges (or a
    /// `wjp_backend_up 0` when the backend did not answer).
    pub fn render(&self, counts: Option<&[QueueCounts]>) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP wjp_http_requests_total HTTP requests answered, by method, route and status.\n",
        );
        out.push_str("# TYPE wjp_http_requests_total counter\n");
        for ((method, route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "wjp_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        out.push_str("# HELP wjp_http_request_duration_seconds Time to answer HTTP requests (to the first byte of the body).\n");
        out.push_str("# TYPE wjp_http_request_duration_seconds histogram\n");
        for ((method, route), h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "wjp_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "wjp_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "wjp_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "wjp_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP wjp_backend_up Whether the queue backend answered this scrape.\n");
        out.push_str("# TYPE wjp_backend_up gauge\n");
        let _ = writeln!(out, "wjp_backend_up {}", u8::from(counts.is_some()));
        if let Some(counts) = counts {
            out.push_str(
                "# HELP wjp_jobs Jobs in the backend, by queue and status, read at scrape time.\n",
            );
            out.push_str("# TYPE wjp_jobs gauge\n");
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
        let m = HttpMetrics::default();
        m.record("GET", "/jobs/{job_id}", 200, Duration::from_millis(3));
        m.record("GET", "/jobs/{job_id}", 200, Duration::from_millis(30));
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
