//! The accept loop, and what one client may hold.
//!
//! Every connection holds one of `--max-connections` slots from its accept
//! until it closes, counted before any request is read (so before the API
//! key is checked). When all slots are taken the server stops accepting:
//! new clients wait in the kernel's listen backlog and are served when a
//! connection closes. So that one client cannot hold every slot and make
//! everyone else wait, each connection is also counted against its client's
//! address ([`Admission`]):
//! - an address holds at most `--max-connections-per-client` connections;
//! - the last slots (a tenth of them, at least one) are a reserve: only an
//!   address that holds few connections, or none, may take one.
//!
//! A connection over either limit is answered `503` with `Retry-After` and
//! closed at once, before its request is read: a flood from one address
//! fails that address, and the server keeps accepting everyone else's.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::{error_body, Code};
use crate::metrics::Metrics;
use crate::ApiConfig;

/// Why a connection was refused. The names are the `reason` label of
/// `wjp_connections_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its address already held `--max-connections-per-client`.
    PerClient,
    /// Only reserved slots were free, and its address held too many
    /// connections to take one.
    Reserve,
}

impl Refusal {
    pub(crate) const ALL: [Refusal; 2] = [Refusal::PerClient, Refusal::Reserve];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::PerClient => "per_client",
            Refusal::Reserve => "reserve",
        }
    }
}

/// Who may take a slot, from the connections an address already holds and
/// the slots still free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Admission {
    per_client: usize,
    /// The last slots, kept for addresses holding fewer than `light`.
    reserve: usize,
    light: usize,
}

impl Admission {
    fn new(max_connections: usize, per_client: usize) -> Admission {
        // A tenth: 102 of the default 1024, room for a few dozen clients
        // to reach the server while others hold the rest.
        let reserve = (max_connections / 10).max(1);
        // "Few" is a browser's worth (it opens up to 6 connections to one
        // server) at most, and at most a quarter of the reserve, so that
        // one address never takes the whole reserve and a handful cannot
        // either; on a small server it means "none".
        let light = (reserve / 4).clamp(1, 8);
        Admission {
            per_client,
            reserve,
            light,
        }
    }

    /// `held`: the connections the address holds already; `free`: the
    /// slots free besides the one this connection would take.
    fn judge(&self, held: usize, free: usize) -> Result<(), Refusal> {
        if held >= self.per_client {
            return Err(Refusal::PerClient);
        }
        if free < self.reserve && held >= self.light {
            return Err(Refusal::Reserve);
        }
        Ok(())
    }
}

/// The address a connection is counted against: an IPv4 client reaching
/// a dual-stack socket appears as an IPv4-mapped IPv6 address, and is the
/// same client as when it reaches an IPv4 socket.
fn client_address(peer: SocketAddr) -> IpAddr {
    peer.ip().to_canonical()
}

/// Open connections by client address. Only addresses holding a connection
/// have an entry, so the map is bounded by the slots.
#[derive(Default)]
struct Held(Mutex<HashMap<IpAddr, usize>>);

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A connection's slot and its place in its address's count; both are
/// given back when it drops, the count first, so the accept loop never
/// sees a free slot still counted against an address.
pub(crate) struct Slot {
    held: Arc<Held>,
    address: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock();
        if let Some(n) = held.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.address);
            }
        }
    }
}

/// The slot of the connection a request came on, in its extensions. A
/// WebSocket holds it: the HTTP connection ends when it hands its socket
/// over, and the WebSocket must go on counting against the limits.
#[derive(Clone)]
pub(crate) struct ConnectionSlot(#[allow(dead_code)] Arc<Slot>);

/// Refusals are the client's doing and may come by the thousand: they are
/// logged at debug level, one line per interval at most, with the number
/// refused since the last line.
struct RefusalLog {
    last: Option<Instant>,
    unlogged: [u64; 2],
}

impl RefusalLog {
    const INTERVAL: Duration = Duration::from_secs(10);

    fn note(&mut self, refusal: Refusal, address: IpAddr) {
        self.unlogged[refusal as usize] += 1;
        if self.last.is_some_and(|at| at.elapsed() < Self::INTERVAL) {
            return;
        }
        self.last = Some(Instant::now());
        let [per_client, reserve] = std::mem::take(&mut self.unlogged);
        tracing::debug!(
            last_address = %address,
            last_reason = refusal.as_str(),
            over_per_client_cap = per_client,
            over_reserve = reserve,
            "refused connections since the last such line (answered 503 and closed)"
        );
    }
}

/// The accept loop. `axum::serve` sets no header-read timeout and takes
/// every connection it is offered, so a client trickling header bytes (or
/// sending none) would hold a connection and a task for ever, and enough
/// of them would exhaust the open files limit. Neither it nor hyper bounds
/// a write, so a client that stops reading would do the same: each
/// connection's writes are bounded here. Nor do they count connections by
/// client, which is what keeps one client from holding every slot.
pub(crate) struct Connections {
    http: hyper::server::conn::http1::Builder,
    slots: Arc<Semaphore>,
    admission: Admission,
    held: Arc<Held>,
    write_stall_timeout: Duration,
    metrics: Arc<Metrics>,
    /// The whole answer to a refused connection, by [`Refusal`].
    refusals: [Vec<u8>; 2],
}

impl Connections {
    pub(crate) fn of(config: &ApiConfig, metrics: Arc<Metrics>) -> Connections {
        let mut http = hyper::server::conn::http1::Builder::new();
        // hyper's timeout starts whenever it waits for a request head: on a
        // new connection that sends nothing, mid-header, and between the
        // requests of a kept-alive connection. It needs a timer to run.
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        let per_client = config.max_connections_per_client;
        Connections {
            http,
            slots: Arc::new(Semaphore::new(config.max_connections)),
            admission: Admission::new(config.max_connections, per_client),
            held: Arc::default(),
            write_stall_timeout: config.write_stall_timeout,
            metrics,
            refusals: Refusal::ALL.map(|refusal| {
                refusal_response(match refusal {
                    Refusal::PerClient => format!(
                        "too many connections from your address (at most {per_client} at once): \
                         close some, or retry when they are done"
                    ),
                    Refusal::Reserve => "the server is nearly full and keeps its last \
                                         connections for clients holding few: retry shortly"
                        .to_owned(),
                })
            }),
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
        // The open connections, waited for on shutdown. (hyper-util's
        // `GracefulShutdown` cannot watch a connection that may upgrade.)
        let open = tokio_util::task::TaskTracker::new();
        let mut refusal_log = RefusalLog {
            last: None,
            unlogged: [0; 2],
        };
        loop {
            // A free slot first, then a connection. When every slot is
            // taken the server stops accepting: new clients wait in the
            // kernel's listen backlog (bounded by the kernel, costing this
            // process nothing) and are served as soon as a connection
            // closes, which the header-read timeout makes happen soon for
            // idle ones. Accepting and closing at once instead would turn
            // a burst of honest clients into errors and retry storms. One
            // client cannot fill the slots by itself: see `admit`.
            let permit = tokio::select! {
                permit = self.slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
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
            let slot = match self.admit(client_address(peer), permit) {
                Ok(slot) => slot,
                Err((refusal, address)) => {
                    self.metrics.record_connection_refused(refusal);
                    refusal_log.note(refusal, address);
                    refuse(stream, &self.refusals[refusal as usize]);
                    continue;
                }
            };
            // The timer runs only while a write waits for room in the
            // buffers: slow but steady readers, and idle event streams
            // between events, never meet it.
            let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
            stream.set_write_timeout(Some(self.write_stall_timeout));
            let slot = ConnectionSlot(Arc::new(slot));
            let address = crate::origin::ClientAddress(client_address(peer));
            let service = hyper_util::service::TowerToHyperService::new(
                tower::ServiceExt::map_request(app.clone(), {
                    let slot = slot.clone();
                    move |mut request: axum::http::Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(slot.clone());
                        request.extensions_mut().insert(address);
                        request
                    }
                }),
            );
            // With upgrades, so WebSockets can take the socket over; it
            // keeps the write-stall timeout set above.
            let connection = self
                .http
                .serve_connection(hyper_util::rt::TokioIo::new(Box::pin(stream)), service)
                .with_upgrades();
            let shutdown = shutdown.clone();
            open.spawn(async move {
                let mut connection = std::pin::pin!(connection);
                // On shutdown a request in flight finishes, then the
                // connection closes; an idle one closes at once.
                let ended = tokio::select! {
                    ended = connection.as_mut() => ended,
                    () = shutdown.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                // Timeouts, resets and malformed requests end here; they
                // are the client's business, not worth more than a trace.
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        }
        // No new connections from here on.
        drop(listener);
        open.close();
        open.wait().await;
    }

    /// Counts a connection against its address, or says why it may not
    /// have the slot it took (which is then given back).
    fn admit(
        &self,
        address: IpAddr,
        permit: OwnedSemaphorePermit,
    ) -> Result<Slot, (Refusal, IpAddr)> {
        let mut held = self.held.lock();
        let count = held.entry(address).or_default();
        if let Err(refusal) = self.admission.judge(*count, self.slots.available_permits()) {
            if *count == 0 {
                held.remove(&address);
            }
            return Err((refusal, address));
        }
        *count += 1;
        drop(held);
        Ok(Slot {
            held: self.held.clone(),
            address,
            _permit: permit,
        })
    }
}

/// The answer to a refused connection: a JSON error as every other, and
/// `Retry-After`, so an honest client (or the shop's reverse proxy) that
/// hit a limit learns why and when to come back rather than seeing the
/// connection cut.
fn refusal_response(message: String) -> Vec<u8> {
    let body = error_body(&message, Code::TooManyConnections).to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers and closes a refused connection without ever waiting on its
/// client: one write that fits the empty send buffer, and one read that
/// takes what the client sent already (closing a socket with unread data
/// resets it, and the client could lose the answer). Both are non-blocking;
/// whatever they cannot do at once is skipped; the socket closes on drop.
/// A flooder gets a few hundred bytes per connection and holds nothing.
fn refuse(stream: tokio::net::TcpStream, response: &[u8]) {
    // A plain socket, off the runtime's poller (which would otherwise
    // report it writable only after its next turn): still non-blocking.
    let Ok(mut socket) = stream.into_std() else {
        return;
    };
    let _ = socket.write(response);
    let _ = socket.read(&mut [0u8; 4096]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_a_tenth_and_few_is_at_most_a_browsers_worth() {
        let default = Admission::new(1024, 256);
        assert_eq!((default.reserve, default.light), (102, 8));
        let small = Admission::new(8, 8);
        assert_eq!((small.reserve, small.light), (1, 1));
        let hundred = Admission::new(100, 50);
        assert_eq!((hundred.reserve, hundred.light), (10, 2));
        assert_eq!(Admission::new(1, 1).reserve, 1);
    }

    #[test]
    fn an_address_is_refused_at_its_cap_and_a_heavy_one_in_the_reserve() {
        let admission = Admission::new(1024, 256);
        // Plenty free: anyone below the cap.
        assert_eq!(admission.judge(0, 1000), Ok(()));
        assert_eq!(admission.judge(255, 1000), Ok(()));
        assert_eq!(admission.judge(256, 1000), Err(Refusal::PerClient));
        // The last slot outside the reserve still goes to anyone.
        assert_eq!(admission.judge(200, 102), Ok(()));
        // In the reserve: only addresses holding fewer than 8.
        assert_eq!(admission.judge(200, 101), Err(Refusal::Reserve));
        assert_eq!(admission.judge(8, 0), Err(Refusal::Reserve));
        assert_eq!(admission.judge(7, 0), Ok(()));
        assert_eq!(admission.judge(0, 0), Ok(()));
        // The cap is judged first: it is the address's own limit.
        assert_eq!(admission.judge(256, 0), Err(Refusal::PerClient));
    }

    #[test]
    fn an_ipv4_client_counts_alike_on_either_socket() {
        let v4: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:6000".parse().unwrap();
        assert_eq!(client_address(v4), client_address(mapped));
        assert_eq!(client_address(mapped), IpAddr::from([192, 0, 2, 7]));
        let v6: SocketAddr = "[2001:db8::7]:5000".parse().unwrap();
        assert_eq!(client_address(v6), v6.ip());
    }

    #[test]
    fn the_refusal_is_a_complete_json_503() {
        let response = String::from_utf8(refusal_response("go away".into())).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], "too_many_connections");
        assert_eq!(body["success"], false);
    }
}
