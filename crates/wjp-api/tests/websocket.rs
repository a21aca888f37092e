//! Live updates over WebSocket (`/ws`, `/ws/jobs/{id}`), with a real
//! WebSocket client over real sockets. Every wait is a hang guard, never a
//! measure of how fast the server was.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wjp_queue::{builtin, Handlers, JobRequest, Worker, WorkerConfig};

use crate::support::{error_code, Options, Server};

/// Longest a test waits for something the server must do.
const GUARD: Duration = Duration::from_secs(60);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn ws_url(s: &Server, path: &str) -> String {
    format!("{}{path}", s.base.replace("http://", "ws://"))
}

async fn connect(s: &Server, path: &str) -> Socket {
    let (socket, response) = tokio_tungstenite::connect_async(ws_url(s, path))
        .await
        .unwrap_or_else(|e| panic!("upgrade of {path} refused: {e}"));
    assert_eq!(response.status(), 101);
    socket
}

/// What the server sent next: an event (JSON), or the close frame.
#[derive(Debug)]
enum Received {
    Json(Value),
    Closed(Option<(CloseCode, String)>),
}

async fn receive<S>(socket: &mut WebSocketStream<S>) -> Received
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = tokio::time::timeout(GUARD, socket.next())
            .await
            .expect("the WebSocket stalled");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Received::Json(serde_json::from_str(&text).expect("a JSON message"))
            }
            Some(Ok(Message::Close(frame))) => {
                return Received::Closed(frame.map(|f| (f.code, f.reason.to_string())))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
            Some(Err(e)) => panic!("the WebSocket failed: {e}"),
            None => return Received::Closed(None),
        }
    }
}

async fn next_event<S>(socket: &mut WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match receive(socket).await {
        Received::Json(event) => event,
        closed => panic!("expected an event, got {closed:?}"),
    }
}

fn without_workers(args: &[&str]) -> Options {
    Options {
        workers: false,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..Options::default()
    }
}

async fn submit(s: &Server, kind: &str) -> String {
    let (status, job) = s.post("/jobs", json!({ "kind": kind })).await;
    assert_eq!(status, 201, "{job}");
    job["job_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_followed_from_queued_to_completed_and_the_socket_closes() {
    // No workers yet: the job is certainly queued when the socket opens.
    let s = Server::with(without_workers(&[])).await;
    let id = submit(&s, "noop").await;
    let mut socket = connect(&s, &format!("/ws/jobs/{id}")).await;
    let snapshot = next_event(&mut socket).await;
    assert_eq!(snapshot["job_id"], id.as_str());
    assert_eq!(snapshot["status"], "queued");

    let mut handlers = Handlers::new();
    builtin::add_handlers(&mut handlers).unwrap();
    let config = WorkerConfig::new("ws-test", s.queue.catalog().queues().to_vec());
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = Worker::new(s.queue.clone(), handlers, config).unwrap();
    let working = tokio::spawn(worker.run(stop.clone().cancelled_owned()));

    let mut statuses = vec![snapshot["status"].as_str().unwrap().to_owned()];
    let close = loop {
        match receive(&mut socket).await {
            Received::Json(event) => {
                assert_eq!(event["job_id"], id.as_str(), "{event}");
                assert!(event["id"].as_str().is_some_and(|c| !c.is_empty()));
                statuses.push(event["status"].as_str().unwrap().to_owned());
            }
            Received::Closed(frame) => break frame,
        }
    };
    assert_eq!(statuses, ["queued", "running", "completed"]);
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, CloseCode::Normal);
    assert_eq!(reason, "the job ended");
    stop.cancel();
    working.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_socket_gets_exactly_the_events_after_its_cursor() {
    let s = Server::with(without_workers(&[])).await;
    let mut live = connect(&s, "/ws").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(submit(&s, "noop").await);
    }
    let mut seen = Vec::new();
    for id in &ids {
        let event = next_event(&mut live).await;
        assert_eq!(event["job_id"], id.as_str());
        seen.push(event);
    }
    let cursor = seen[0]["id"].as_str().unwrap();

    let mut resumed = connect(&s, &format!("/ws?last_event_id={cursor}")).await;
    for expected in &seen[1..] {
        assert_eq!(&next_event(&mut resumed).await, expected);
    }
    // Then live events, none of the old ones again: the next message is
    // the new job's.
    let fourth = submit(&s, "noop").await;
    let next = next_event(&mut resumed).await;
    assert_eq!(next["job_id"], fourth.as_str(), "{next}");
    assert_eq!(next_event(&mut live).await, next);

    // The same over the SSE endpoint's header name.
    let mut request = ws_url(&s, "/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("last-event-id", cursor.parse().unwrap());
    let (mut by_header, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for expected in seen[1..].iter().chain([&next]) {
        assert_eq!(&next_event(&mut by_header).await, expected);
    }

    // A made-up cursor is refused before the upgrade.
    let refused = tokio_tungstenite::connect_async(ws_url(&s, "/ws?last_event_id=nonsense")).await;
    let (status, body) = http_refusal(refused);
    assert_eq!(status, 400, "{body}");
    error_code(&body);
}

/// The HTTP answer to a refused upgrade: status and JSON body.
fn http_refusal<T: std::fmt::Debug>(result: Result<T, tungstenite::Error>) -> (u16, Value) {
    match result {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            let body = serde_json::from_slice(&body).expect("a JSON error body");
            (response.status().as_u16(), body)
        }
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_right_key_the_upgrade_is_refused() {
    let s = Server::with(without_workers(&["--api-key", "s3cr+t/key"])).await;
    let url = ws_url(&s, "/ws");
    let with = |name: &'static str, value: &str| {
        let mut request = url.clone().into_client_request().unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
        request
    };
    let encoded =
        |key: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes());

    let (status, body) = http_refusal(tokio_tungstenite::connect_async(url.clone()).await);
    assert_eq!((status, error_code(&body)), (401, "missing_api_key"));
    for request in [
        with("x-api-key", "wrong"),
        with("authorization", "Bearer wrong"),
        with(
            "sec-websocket-protocol",
            &format!("wjp, wjp.key.{}", encoded("wrong")),
        ),
    ] {
        let (status, body) = http_refusal(tokio_tungstenite::connect_async(request).await);
        assert_eq!((status, error_code(&body)), (401, "invalid_api_key"));
    }
    // A key in the query is not read: URLs end up in logs.
    let (status, body) = http_refusal(
        tokio_tungstenite::connect_async(format!("{url}?api_key=s3cr%2Bt%2Fkey")).await,
    );
    assert_eq!(status, 401, "{body}");

    // The right key, as a header or (as a browser sends it) a subprotocol.
    let (_, response) = tokio_tungstenite::connect_async(with("x-api-key", "s3cr+t/key"))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    let protocols = format!("wjp, wjp.key.{}", encoded("s3cr+t/key"));
    let (_, response) =
        tokio_tungstenite::connect_async(with("sec-websocket-protocol", &protocols))
            .await
            .unwrap();
    assert_eq!(response.status(), 101);
    // The server selects `wjp`, never the protocol carrying the key.
    assert_eq!(response.headers()["sec-websocket-protocol"], "wjp");

    // A page of a foreign origin is refused, even with the key.
    let mut foreign = with("x-api-key", "s3cr+t/key");
    foreign
        .headers_mut()
        .insert("origin", "https://elsewhere.example".parse().unwrap());
    let (status, body) = http_refusal(tokio_tungstenite::connect_async(foreign).await);
    assert_eq!((status, error_code(&body)), (403, "origin_not_allowed"));

    // A plain GET (no upgrade) with the key: a JSON 426.
    let r = s
        .client
        .get(s.url("/ws"))
        .header("x-api-key", "s3cr+t/key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 426);
    assert_eq!(r.headers()["upgrade"], "websocket");
    let body: Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), "upgrade_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_shutdown_closes_the_socket_with_a_close_frame() {
    let s = Server::with(without_workers(&[])).await;
    let mut socket = connect(&s, "/ws").await;
    let id = submit(&s, "noop").await;
    assert_eq!(next_event(&mut socket).await["job_id"], id.as_str());
    let stopping = tokio::spawn(s.stop());
    match receive(&mut socket).await {
        Received::Closed(Some((code, reason))) => {
            assert_eq!(code, CloseCode::Away);
            assert_eq!(reason, "the server is shutting down");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The client answers the close, as a client library does.
    let _ = socket.close(None).await;
    let (result, _, _) = tokio::time::timeout(GUARD, stopping)
        .await
        .expect("the server did not stop")
        .unwrap();
    result.unwrap();
}

const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const REQUESTS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const STALLED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_without_hurting_others() {
    // One connection per address: the stalled client's slot shows when
    // the server lets its socket go.
    let mut s = Server::with(without_workers(&[
        "--write-stall-timeout-secs",
        "1",
        "--max-connections-per-client",
        "1",
    ]))
    .await;
    s.client = reqwest::Client::builder()
        .local_address(IpAddr::V4(REQUESTS))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // A backlog of events larger than the kernel's buffers at both ends
    // (at most 4 MB here), replayed to the stalled client from the start.
    for _ in 0..60 {
        let batch = (0..1000)
            .map(|_| JobRequest::new("noop", Value::Null))
            .collect();
        s.queue.enqueue_batch(batch).await.unwrap();
    }
    let mut backlog = 0usize;
    let mut cursor = None;
    loop {
        let page = s
            .queue
            .events_after(cursor.as_deref(), 10_000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(last.id.clone());
        backlog += page
            .iter()
            .map(|e| serde_json::to_string(e).unwrap().len())
            .sum::<usize>();
    }

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(SocketAddr::from((STALLED, 0))).unwrap();
    let address = s.base.trim_start_matches("http://").parse().unwrap();
    let stream = socket.connect(address).await.unwrap();
    let (stalled, response) =
        tokio_tungstenite::client_async(ws_url(&s, "/ws?last_event_id=0"), stream)
            .await
            .unwrap();
    assert_eq!(response.status(), 101);
    // From here on nobody reads `stalled`.

    // Others are served meanwhile: a live socket gets a new job's event.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((OTHER, 0))).unwrap();
    let (mut other, _) =
        tokio_tungstenite::client_async(ws_url(&s, "/ws"), socket.connect(address).await.unwrap())
            .await
            .unwrap();
    let id = submit(&s, "noop").await;
    assert_eq!(next_event(&mut other).await["job_id"], id.as_str());

    // The stalled client's address gets its one connection back once the
    // server gave up on the socket (503 too_many_connections until then).
    let prober = reqwest::Client::builder()
        .local_address(IpAddr::V4(STALLED))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let freed = tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(r) = prober.get(s.url("/health")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "the client that never read kept its socket");

    // It got a part of the backlog, then the end of the connection.
    let mut stream = stalled.into_inner();
    let mut received = 0usize;
    let ended = tokio::time::timeout(GUARD, async {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled socket stayed open");
    assert!(
        received < backlog,
        "the whole backlog arrived ({received} of {backlog} bytes): nothing stalled"
    );

    // The other socket still follows.
    let id = submit(&s, "noop").await;
    assert_eq!(next_event(&mut other).await["job_id"], id.as_str());
}
