//! Slow and idle clients (slowloris), clients that stop reading, and
//! clients that open too many connections: they are disconnected by the
//! server, and they do not keep others from being served. Raw TCP sockets,
//! since an HTTP client library will not send half a request. Clients at
//! other addresses bind their socket to another loopback address
//! (127.0.0.2 and so on; all of 127/8 is the loopback on Linux).
//!
//! Every wait here is a hang guard of tens of seconds, never a measure of
//! how fast the server was: the timeouts under test are 1 s, and a test
//! fails if the server never closes the connection.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{Options, Server};

/// Longest a test waits for something the server must do.
const GUARD: Duration = Duration::from_secs(30);

/// A client that opens a connection per request: the server closes idle
/// connections after the 1 s timeouts under test, and a pooled one could be
/// closed just as a request is sent on it.
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

fn with_args(args: &[&str]) -> Options {
    Options {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..Options::default()
    }
}

async fn connect(s: &Server) -> TcpStream {
    TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// A connection from the loopback address `from` (the server listens on
/// 127.0.0.1, and sees this client as `from`).
async fn connect_from(s: &Server, from: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let server = s.base.trim_start_matches("http://").parse().unwrap();
    socket.connect(server).await.unwrap()
}

const SECOND: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const THIRD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const FOURTH: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);

/// Reads until the server closes the connection; returns what it sent.
/// Panics if it is still open after [`GUARD`].
async fn read_until_closed(stream: &mut TcpStream, what: &str) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "{what}: the server kept the connection open (sent {:?})",
        String::from_utf8_lossy(&got)
    );
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads one HTTP/1.1 response with a Content-Length; returns its status
/// and body. Panics if it does not come within [`GUARD`].
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let response = tokio::time::timeout(GUARD, async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed mid-response: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .expect("a content-length");
            if got.len() >= end + 4 + length {
                let status = text[9..12].parse().unwrap();
                return (status, text[end + 4..end + 4 + length].to_owned());
            }
        }
    })
    .await;
    response.expect("no response from the server")
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: wjp\r\n\r\n";

/// What became of a connection asked for `/health`.
#[derive(Debug, PartialEq)]
enum Fate {
    /// Answered 200: the server holds the connection.
    Served,
    /// Answered 503 `too_many_connections` and closed, or closed (a reset
    /// can overtake the answer) without a word.
    Refused,
}

/// Asks for `/health` on `stream` and reads until a whole response or the
/// end. Panics on anything but a 200 or a refusal, and if neither comes
/// within [`GUARD`].
async fn fate(stream: &mut TcpStream) -> Fate {
    // A refused connection may be closed already: writing to it can fail.
    let _ = stream.write_all(HEALTH).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().unwrap())
                    })
                    .expect("a content-length");
                if got.len() >= end + 4 + length && text.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(read.is_ok(), "neither answered nor closed: {text:?}");
    if text.starts_with("HTTP/1.1 200") {
        return Fate::Served;
    }
    if !text.is_empty() {
        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("retry-after: 1"),
            "{text}"
        );
        let body: Value = serde_json::from_str(&text[text.find("\r\n\r\n").unwrap() + 4..])
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(body["code"], "too_many_connections", "{body}");
    }
    Fate::Refused
}

/// Opens `n` connections from `from` and leaves them idle.
async fn open_idle(s: &Server, from: Ipv4Addr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(connect_from(s, from).await);
    }
    streams
}

/// Asks each connection for `/health`: how many were served, how many
/// refused.
async fn fates(streams: &mut [TcpStream]) -> (usize, usize) {
    let mut served = 0;
    for stream in streams.iter_mut() {
        if fate(stream).await == Fate::Served {
            served += 1;
        }
    }
    (served, streams.len() - served)
}

/// `GET path` from `from` on a connection of its own: status and body.
async fn get_from(s: &Server, from: Ipv4Addr, path: &str) -> (u16, String) {
    let mut stream = connect_from(s, from).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: wjp\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut stream).await
}

/// The value of a `wjp_connections_refused_total` series.
fn refused(metrics: &str, reason: &str) -> u64 {
    let series = format!("wjp_connections_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series}in {metrics}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stall_or_idle_are_disconnected_while_others_are_served() {
    let mut s = Server::with(with_args(&["--header-read-timeout-secs", "1"])).await;
    s.client = unpooled();
    // Half a request line; a whole line and half the headers; nothing.
    let mut half_line = connect(&s).await;
    half_line.write_all(b"GET /hea").await.unwrap();
    let mut half_headers = connect(&s).await;
    half_headers
        .write_all(b"GET /health HTTP/1.1\r\nHost: wjp\r\nX-Slow: ")
        .await
        .unwrap();
    let mut silent = connect(&s).await;
    // A connection kept alive after a request, then left idle.
    let mut kept = connect(&s).await;
    kept.write_all(HEALTH).await.unwrap();
    let (status, body) = read_response(&mut kept).await;
    assert_eq!(status, 200, "{body}");

    // While they hang on, others are served.
    let (status, body) = s.get("/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("healthy")));

    for (stream, what) in [
        (&mut half_line, "half a request line"),
        (&mut half_headers, "half the headers"),
        (&mut silent, "a connection that sent nothing"),
        (&mut kept, "an idle kept-alive connection"),
    ] {
        let sent = read_until_closed(stream, what).await;
        // Whatever the server says on the way out, it never served the
        // unfinished request.
        assert!(!sent.contains("healthy"), "{what}: {sent}");
    }

    // The server is still fine, and stops cleanly.
    let (status, _) = s.get("/health").await;
    assert_eq!(status, 200);
    let (result, _, _) = s.stop().await;
    result.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_is_answered_408_and_closed() {
    let mut s = Server::with(with_args(&["--body-read-timeout-secs", "1"])).await;
    s.client = unpooled();
    let mut stream = connect(&s).await;
    stream
        .write_all(
            b"POST /jobs HTTP/1.1\r\nHost: wjp\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"kind\": \"noop\", ",
        )
        .await
        .unwrap();
    let sent = read_until_closed(&mut stream, "a stalled body").await;
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    let body: Value = serde_json::from_str(&sent[sent.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(body["code"], "request_body_timeout", "{body}");
    // Nothing was queued from half a body.
    let (_, page) = s.get("/jobs").await;
    assert!(page["jobs"].as_array().unwrap().is_empty(), "{page}");

    // A body that keeps arriving is not cut, however long it takes as a
    // whole: a piece every half of the timeout, for three timeouts' worth.
    let mut stream = connect(&s).await;
    let body = json!({ "kind": "noop", "payload": { "pad": "x".repeat(40) } }).to_string();
    let head = format!(
        "POST /jobs HTTP/1.1\r\nHost: wjp\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in body.as_bytes().chunks(body.len().div_ceil(6)) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (status, answer) = read_response(&mut stream).await;
    assert_eq!(status, 201, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_outlive_the_header_timeout() {
    let mut s = Server::with(Options {
        workers: false,
        ..with_args(&[
            "--header-read-timeout-secs",
            "1",
            "--body-read-timeout-secs",
            "1",
        ])
    })
    .await;
    s.client = unpooled();
    let mut stream = connect(&s).await;
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: wjp\r\n\r\n")
        .await
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while !got.contains("\r\n\r\n") {
        let n = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("no response head")
            .unwrap();
        assert!(n > 0, "closed: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    // Well past both timeouts, the stream still delivers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, job) = s.post("/jobs", json!({ "kind": "noop" })).await;
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap();
    while !got.contains(id) {
        let n = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("the event never came")
            .unwrap();
        assert!(n > 0, "the stream was closed: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // Shutdown ends the stream and the server.
    let (result, _, _) = s.stop().await;
    result.unwrap();
    read_until_closed(&mut stream, "an event stream at shutdown").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let mut s = Server::with(with_args(&["--max-connections", "2"])).await;
    // The start-up check's pooled connection would hold a slot for a while:
    // drop it, and fill both slots with connections that were served. Each
    // comes from an address of its own: the second slot is the reserve,
    // which an address already holding one may not take.
    s.client = unpooled();
    let mut first = connect_from(&s, SECOND).await;
    first.write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut first).await.0, 200);
    let mut second = connect_from(&s, THIRD).await;
    second.write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut second).await.0, 200);

    // A third connects (the kernel's backlog takes it) but is not served
    // while both slots are held. It cannot be, so waiting a little proves
    // nothing wrong on a slow machine; it only gives a broken limit the
    // chance to show.
    let mut third = connect_from(&s, FOURTH).await;
    third.write_all(HEALTH).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the limit: {early:?}");

    // One closes: the waiting one is served.
    drop(first);
    assert_eq!(read_response(&mut third).await.0, 200);
    drop((second, third));
    let (result, _, _) = s.stop().await;
    result.unwrap();
}

#[test]
fn bad_connection_settings_are_refused_clearly() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        api: wjp_api::ApiArgs,
    }
    for (flag, value, says) in [
        (
            "--header-read-timeout-secs",
            "0",
            "--header-read-timeout-secs must be",
        ),
        (
            "--header-read-timeout-secs",
            "NaN",
            "--header-read-timeout-secs must be",
        ),
        (
            "--body-read-timeout-secs",
            "-1",
            "--body-read-timeout-secs must be",
        ),
        ("--body-read-timeout-secs", "86400", "at most 3600"),
        (
            "--write-stall-timeout-secs",
            "0",
            "--write-stall-timeout-secs must be",
        ),
        ("--max-connections", "0", "--max-connections must be"),
        (
            "--max-connections-per-client",
            "0",
            "--max-connections-per-client must be between 1 and --max-connections (1024)",
        ),
        (
            "--max-connections-per-client",
            "1025",
            "--max-connections-per-client must be between 1 and --max-connections (1024)",
        ),
    ] {
        let args = Cli::try_parse_from(["wjp-api".to_owned(), format!("{flag}={value}")])
            .unwrap()
            .api;
        let e = wjp_api::ApiConfig::from_args(&args)
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{flag} {value}: {e}");
    }
    let args = Cli::try_parse_from(["wjp-api"]).unwrap().api;
    let config = wjp_api::ApiConfig::from_args(&args).unwrap();
    assert_eq!(config.header_read_timeout, Duration::from_secs(20));
    assert_eq!(config.max_connections, 1024);
    assert_eq!(config.max_connections_per_client, 256);
    // The default cap follows a lower --max-connections; an explicit one
    // above it is refused.
    let args = Cli::try_parse_from(["wjp-api", "--max-connections", "100"])
        .unwrap()
        .api;
    let config = wjp_api::ApiConfig::from_args(&args).unwrap();
    assert_eq!(config.max_connections_per_client, 100);
    let args = Cli::try_parse_from([
        "wjp-api",
        "--max-connections",
        "100",
        "--max-connections-per-client",
        "101",
    ])
    .unwrap()
    .api;
    let e = wjp_api::ApiConfig::from_args(&args)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("between 1 and --max-connections (100), got 101"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_and_frees_its_slot() {
    let mut s = Server::with(with_args(&[
        "--max-connections",
        "1",
        "--write-stall-timeout-secs",
        "1",
    ]))
    .await;
    // The start-up check's pooled connection would hold the only slot.
    s.client = unpooled();
    let spec = s.get_text("/openapi.json").await;
    // 32 MB of answers: more than the kernel buffers at both ends hold, so
    // the server's writes stall once the client stops reading.
    let answers = (32 << 20) / spec.len() + 1;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address = s.base.trim_start_matches("http://").parse().unwrap();
    let (mut reader, mut writer) = socket.connect(address).await.unwrap().into_split();
    // Pipelined requests, from a task: the server stops reading requests
    // when its writes stall, and so may this write.
    let requests = b"GET /openapi.json HTTP/1.1\r\nHost: wjp\r\n\r\n".repeat(answers);
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(&requests).await;
        writer
    });

    // The stalled connection holds the only slot until the server gives up
    // on it; then another client is served.
    let health = tokio::time::timeout(GUARD, s.get("/health")).await;
    let (status, _) = health.expect("the client that stopped reading kept the only slot");
    assert_eq!(status, 200);

    // The stalled client got a part of what it asked for, then the end.
    let mut received = 0usize;
    let ended = tokio::time::timeout(GUARD, async {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled connection stayed open");
    assert!(
        received < answers * spec.len(),
        "all {answers} answers arrived ({received} bytes): nothing stalled"
    );
    drop(sending.await.unwrap());
    let (result, _, _) = s.stop().await;
    result.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_fails_only_that_address() {
    const CAP: usize = 4;
    // More connections than the server has slots, as in a flood; idle ones
    // are kept open far longer than the test takes, so that only the caps
    // under test close them.
    const FLOOD: usize = 24;
    let mut s = Server::with(with_args(&[
        "--max-connections",
        "16",
        "--max-connections-per-client",
        "4",
        "--header-read-timeout-secs",
        "600",
    ]))
    .await;
    s.client = unpooled();
    let flooder = Ipv4Addr::LOCALHOST;
    let mut flood = open_idle(&s, flooder, FLOOD).await;

    // While the flood is held open, another address is served. The server
    // accepts in arrival order, so by this answer it has dealt with every
    // connection of the flood.
    let (status, body) = get_from(&s, SECOND, "/health").await;
    assert_eq!(status, 200, "{body}");

    // The flooder holds its cap (one less if the start-up check's
    // connection, from the same address, was still open); the rest of its
    // connections were answered 503 and closed.
    let (served, refused_here) = fates(&mut flood).await;
    assert!(
        (CAP - 1..=CAP).contains(&served),
        "{served} of the flood's {FLOOD} connections were served; the cap is {CAP}"
    );
    let (status, metrics) = get_from(&s, SECOND, "/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(refused(&metrics, "per_client"), refused_here as u64);
    assert_eq!(refused(&metrics, "reserve"), 0);

    // The flood ends: the flooder is served again once the server has seen
    // its connections close.
    drop(flood);
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let mut stream = connect_from(&s, flooder).await;
        if fate(&mut stream).await == Fate::Served {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the flooder was never served again after its connections closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (result, _, _) = s.stop().await;
    result.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_the_reserved_slots() {
    // 8 slots, the last one reserved; the per-client cap does not stop the
    // address before the reserve does.
    const FLOOD: usize = 10;
    let mut s = Server::with(with_args(&[
        "--max-connections",
        "8",
        "--max-connections-per-client",
        "8",
        "--header-read-timeout-secs",
        "600",
    ]))
    .await;
    s.client = unpooled();
    let heavy = Ipv4Addr::LOCALHOST;
    let mut held = open_idle(&s, heavy, FLOOD).await;

    // Another address takes the reserved slot. Were the heavy address
    // given it, every slot would be held by idle connections for the ten
    // minutes of the header timeout, and this would wait in the backlog.
    let mut other = connect_from(&s, SECOND).await;
    other.write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut other).await.0, 200);

    // The heavy address got the 7 other slots at most (the start-up
    // check's connection may have held one of them), and its other
    // connections were refused for the reserve, not for its cap.
    let (served, refused_here) = fates(&mut held).await;
    assert!(
        (6..=7).contains(&served),
        "the heavy address was served on {served} connections of 8 slots"
    );
    drop(other);
    let (status, metrics) = get_from(&s, THIRD, "/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(refused(&metrics, "reserve"), refused_here as u64);
    assert_eq!(refused(&metrics, "per_client"), 0);
    drop(held);
    let (result, _, _) = s.stop().await;
    result.unwrap();
}
