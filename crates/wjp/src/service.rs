//! What the long-running commands (`wjp api`, `wjp worker`) share: the
//! signals that stop them, the names their workers go by, and the flags of
//! a shutdown's grace.

use std::time::Duration;

use anyhow::Context;

/// Completes on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutdown requested: finishing running jobs");
}

/// This machine's name, as worker names carry it: letters, digits, `-`,
/// `.` and `_` only, at most 64 characters.
pub fn host_name() -> String {
    let name: String = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(64)
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// The longest any seconds flag may be: a day.
const MAX_FLAG_SECS: u64 = 86_400;

/// A positive number of seconds up to a day, from a flag (a lease of 0
/// would expire as it is taken).
pub fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(MAX_FLAG_SECS))
        .with_context(|| {
            format!("--{flag} must be more than 0 and at most {MAX_FLAG_SECS} seconds, got {value}")
        })
}

/// The seconds running jobs get to finish on shutdown, from 0 (handed back
/// to the queue at once) up to a day; the same for `wjp worker` and the
/// in-process workers of `wjp api`.
pub fn grace_seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| *d <= Duration::from_secs(MAX_FLAG_SECS))
        .with_context(|| {
            format!("--{flag} must be between 0 and {MAX_FLAG_SECS} seconds, got {value}")
        })
}

/// A comma-separated list of queues, each with an optional number after
/// `separator` (`analysis:3,default` for weights, `analysis=2,default=1`
/// for slots), checked against the catalog: unknown queues, repeated
/// queues, and numbers that are not whole numbers from 1 to `max` are
/// refused, naming the flag.
pub fn queue_numbers(
    flag: &str,
    list: &str,
    separator: char,
    max: u32,
    queue: &wjp_queue::Queue,
) -> anyhow::Result<Vec<(wjp_queue::QueueName, Option<u32>)>> {
    let mut out: Vec<(wjp_queue::QueueName, Option<u32>)> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, number) = match entry.split_once(separator) {
            Some((name, number)) => {
                let n = number
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .with_context(|| {
                        format!(
                            "--{flag}: the number after {name:?} must be a whole number \
                             from 1 to {max}, got {number:?}"
                        )
                    })?;
                (name.trim(), Some(n))
            }
            None => (entry, None),
        };
        let name = queue
            .catalog()
            .queue(name)
            .with_context(|| format!("--{flag}"))?;
        anyhow::ensure!(
            out.iter().all(|(q, _)| *q != name),
            "--{flag}: queue {name} is listed twice"
        );
        out.push((name, number));
    }
    anyhow::ensure!(!out.is_empty(), "--{flag}: no queue given");
    Ok(out)
}
