//! The accept loop: header-read and write-stall timeouts, a cap on
//! connections served at once, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::ApiConfig;

/// The accept loop. `axum::serve` sets no header-read timeout and takes
/// every connection it is offered, so a client trickling header bytes (or
/// sending none) would hold a connection and a task for ever, and enough
/// of them would exhaust the open files limit. Neither it nor hyper bounds
/// a write, so a client that stops reading would do the same: each
/// connection's writes are bounded here.
pub(crate) struct Connections {
    http: hyper::server::conn::http1::Builder,
    slots: Arc<tokio::sync::Semaphore>,
    write_stall_timeout: Duration,
}

impl Connections {
    pub(crate) fn of(config: &ApiConfig) -> Connections {
        let mut http = hyper::server::conn::http1::Builder::new();
        // hyper's timeout starts whenever it waits for a request head: on a
        // new connection that sends nothing, mid-header, and between the
        // requests of a kept-alive connection. It needs a timer to run.
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        Connections {
            http,
            slots: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
            write_stall_timeout: config.write_stall_timeout,
        }
    }

    /// Serves until `shutdown` is cancelled; then stops accepting and
    /// waits for the open connections: requests in flight finish, idle
    /// connections close, event streams end on `shutdown` themselves.
    pub(crate) async fn serve(
        self,
        listener: tokio::net::TcpListener,
        app: Router,
        shutdown: &CancellationToken,
    ) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            // A free slot first, then a connection. When every slot is
            // taken the server stops accepting: new clients wait in the
            // kernel's listen backlog (bounded by the kernel, costing this
            // process nothing) and are served as soon as a connection
            // closes, which the header-read timeout makes happen soon for
            // idle ones. Accepting and closing at once instead would turn
            // a burst of honest clients into errors and retry storms.
            let slot = tokio::select! {
                slot = self.slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break, // never closed
                },
                _ = shutdown.cancelled() => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        accept_failed(e, shutdown).await;
                        continue;
                    }
                },
                _ = shutdown.cancelled() => break,
            };
            // The timer runs only while a write waits for room in the
            // buffers: slow but steady readers, and idle event streams
            // between events, never meet it.
            let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
            stream.set_write_timeout(Some(self.write_stall_timeout));
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            let connection = graceful.watch(
                self.http
                    .serve_connection(hyper_util::rt::TokioIo::new(Box::pin(stream)), service),
            );
            tokio::spawn(async move {
                // Timeouts, resets and malformed requests end here; they
                // are the client's business, not worth more than a trace.
                if let Err(e) = connection.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        }
        // No new connections from here on.
        drop(listener);
        graceful.shutdown().await;
    }
}

/// Each connection is a file descriptor: with a cap above the process's
/// open files limit, a flood would meet "too many open files" (accepts
/// failing, and the database too) before the cap. Said at start-up, when it
/// can be fixed, rather than found during the flood.
pub(crate) fn warn_if_files_run_out(max_connections: usize) {
    // Files the server holds besides connections: database, logs, uploads.
    const SPARE: usize = 64;
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        });
    if let Some(limit) = limit.filter(|l| max_connections + SPARE > *l) {
        tracing::warn!(
            max_connections,
            open_files_limit = limit,
            "--max-connections is near or above the open files limit: raise the limit \
             (ulimit -n, LimitNOFILE=) or lower --max-connections"
        );
    }
}

/// After a failed accept: errors of one connection (the client gave up
/// before it was accepted) are skipped; others (out of file descriptors)
/// are logged and retried after a pause rather than spinning.
async fn accept_failed(e: std::io::Error, shutdown: &CancellationToken) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections; retrying in a second");
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        _ = shutdown.cancelled() => {}
    }
}
