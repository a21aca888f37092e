//! Live updates over WebSocket: `GET /ws` (every job, optionally one queue)
//! and `GET /ws/jobs/{job_id}` (one job, until it ends), for web apps built
//! around WebSockets. The events, their JSON and the resume cursor are
//! those of the SSE endpoints: both frame the same [`Follow`].
//!
//! **Messages.** Each text message is one event, the JSON of an SSE
//! message's data; its `id` is the cursor: a client that reconnects with
//! `?last_event_id=<id>` (or a `Last-Event-ID` header, where it can set
//! one) gets exactly the events after it. A job socket opened without a
//! cursor starts with the job's snapshot. A resume point the backend no
//! longer knows is answered with one error message (`{success: false,
//! error, code}`) and a close (1008).
//!
//! **Closing.** After a job's last event: close 1000. On server shutdown:
//! close 1001 (going away); the server waits for these close frames before
//! it stops (see [`crate::serve`]).
//!
//! **Authentication.** When a key is set the upgrade request needs it, and
//! is refused (401, before any upgrade) without it. Browsers cannot set
//! headers on a WebSocket, so besides `X-API-Key` and `Authorization:
//! Bearer` the key may come as a subprotocol: offer `wjp` and
//! `wjp.key.<the key in base64url, unpadded>`; the server selects `wjp` and
//! never echoes the key. A query parameter is not accepted: URLs end up in
//! proxies' logs and browsers' histories. A browser page from another
//! origin (not the server's own, nor one of `--cors-origin`) is refused
//! 403: a WebSocket, unlike `fetch`, is not bound by CORS.
//!
//! **A client that does not read.** A message waits at most
//! `--write-stall-timeout-secs` to be written (the rule of every response,
//! SSE included) in a bounded send buffer; a client that does not take it
//! is disconnected, and holds nothing for others. A ping goes out every
//! keep-alive interval (15 s); a client that answered nothing since the
//! previous one is gone, and disconnected too.
//!
//! A plain GET without the upgrade headers is answered 426 with a JSON
//! error, after the same checks as an upgrade (key, query, cursor, job).

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::connections::ConnectionSlot;
use crate::error::{error_body, ApiError, ApiResult, Code};
use crate::events::{follow_all, follow_job, EventsQuery, Follow, Followed};
use crate::jobs::ApiQuery;
use crate::AppState;

/// The subprotocol the server speaks, and selects when a client offers it.
pub const PROTOCOL: &str = "wjp";
/// The prefix of the subprotocol that carries the API key (base64url).
pub const KEY_PROTOCOL_PREFIX: &str = "wjp.key.";

/// Bytes of messages waiting for the socket at most, beyond the kernel's
/// buffers: a few hundred events; a client that lets more pile up is not
/// reading. (The write buffer proper flushes at a sixteenth of it.)
const SEND_BUFFER: usize = 256 * 1024;
/// Largest message a client may send: it has nothing to say but pongs and
/// a close, so a few KB keep what one client can make the server hold small.
const MAX_INCOMING: usize = 4 * 1024;
/// How long a closing server waits for the client's close frame, which
/// completes the closing handshake cleanly for the client.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(2);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ws", get(all_events))
        .route("/ws/jobs/{job_id}", get(job_events))
}

async fn all_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    slot: Option<Extension<ConnectionSlot>>,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let follow = follow_all(&state, &headers, &query).await?;
    Ok(open(&state, upgrade, follow, slot))
}

async fn job_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    slot: Option<Extension<ConnectionSlot>>,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let follow = follow_job(&state, &id, &headers, &query).await?;
    Ok(open(&state, upgrade, follow, slot))
}

/// The API key a WebSocket upgrade carries as a subprotocol, if any.
/// Only upgrade requests are looked at: every other request sends its key
/// in a header.
pub(crate) fn key_in_protocols(headers: &HeaderMap) -> Option<String> {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return None;
    }
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix(KEY_PROTOCOL_PREFIX))
        .find_map(|encoded| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded)
                .ok()?;
            String::from_utf8(bytes).ok()
        })
}

/// Refuses a browser page of a foreign origin: browsers let any page open
/// a WebSocket to any server, so without this a page the shop's staff
/// visits could read the events of a server on their network (one without
/// a key, on loopback). Clients that are not browsers send no `Origin`.
fn check_origin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default().trim();
    let listed = state
        .config
        .cors_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    // Same origin: the page was served by this server, at this host:port.
    let same = host.is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host.trim()))
    });
    if listed || same {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::OriginNotAllowed,
            "a page of this origin may not open a WebSocket here: serve it from this server, \
             or list its origin with --cors-origin",
        ))
    }
}

/// Upgrades the connection and hands it to a [`Subscription`], or answers 426.
fn open(
    state: &AppState,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    follow: Follow,
    slot: Option<Extension<ConnectionSlot>>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return upgrade_required(&rejection),
    };
    let subscription = Subscription {
        follow,
        shutdown: state.shutdown.clone(),
        keep_alive: state.config.keep_alive,
        write_stall: state.config.write_stall_timeout,
    };
    // Held until the subscription ends: the server waits for it on shutdown,
    // and the connection keeps its slot (the HTTP connection that carried
    // the upgrade ends at once).
    let open_socket = state.sockets.token();
    upgrade
        .protocols([PROTOCOL])
        .write_buffer_size(SEND_BUFFER / 16)
        .max_write_buffer_size(SEND_BUFFER)
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "a WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            subscription.run(socket).await;
            drop(slot);
            drop(open_socket);
        })
}

/// The answer to a GET without (valid) upgrade headers: a JSON error as
/// everywhere, with the `Upgrade` header RFC 9110 asks of a 426.
fn upgrade_required(rejection: &WebSocketUpgradeRejection) -> Response {
    let mut response = ApiError::new(
        Code::UpgradeRequired,
        format!(
            "this endpoint is a WebSocket: open it with a WebSocket client \
             (GET with Upgrade: websocket); for Server-Sent Events use /events \
             or /jobs/{{job_id}}/events ({rejection})"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    response
}

/// One open WebSocket: frames the followed events, answers the client's
/// frames, pings it, and closes.
struct Subscription {
    follow: Follow,
    shutdown: CancellationToken,
    keep_alive: Duration,
    write_stall: Duration,
}

/// Why a subscription ends.
enum End {
    /// The followed job ended: close 1000.
    Done,
    /// The stream cannot go on (its error message was sent): close 1008.
    Failed,
    /// Server shutdown: close 1001.
    ShuttingDown,
    /// The client sent its close frame.
    ClosedByClient,
    /// The connection failed, a write stalled, or pings went unanswered:
    /// nothing more is sent.
    Gone,
}

impl Subscription {
    async fn run(self, mut socket: WebSocket) {
        let Subscription {
            follow,
            shutdown,
            keep_alive,
            write_stall,
        } = self;
        let events = follow.into_stream();
        let mut events = std::pin::pin!(events);
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Whether the client sent anything (a pong at least) since the
        // last ping.
        let mut heard = true;
        let end = loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break End::ShuttingDown,
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) => break End::ClosedByClient,
                    // Pongs, and anything else a client says: a sign of
                    // life, otherwise ignored (pings are answered by the
                    // WebSocket layer itself).
                    Some(Ok(_)) => heard = true,
                    None | Some(Err(_)) => break End::Gone,
                },
                _ = ping.tick() => {
                    if !std::mem::replace(&mut heard, false) {
                        tracing::debug!("closing a WebSocket whose client answers no pings");
                        break End::Gone;
                    }
                    if !send(&mut socket, Message::Ping(Default::default()), write_stall).await {
                        break End::Gone;
                    }
                }
                item = events.next() => match item {
                    Some(Followed::Event(event)) => {
                        let Ok(text) = serde_json::to_string(&event) else {
                            continue;
                        };
                        if !send(&mut socket, Message::text(text), write_stall).await {
                            break End::Gone;
                        }
                    }
                    Some(Followed::Error(e)) => {
                        let text = error_body(&e.message, e.code).to_string();
                        if !send(&mut socket, Message::text(text), write_stall).await {
                            break End::Gone;
                        }
                        break End::Failed;
                    }
                    None if shutdown.is_cancelled() => break End::ShuttingDown,
                    None => break End::Done,
                },
            }
        };
        let close = |code: u16, reason: &'static str| {
            Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }))
        };
        let frame = match end {
            End::Done => close(1000, "the job ended"),
            End::Failed => close(1008, "the stream cannot resume from this event id"),
            End::ShuttingDown => close(1001, "the server is shutting down"),
            End::ClosedByClient => {
                // The WebSocket layer queued its reply; this sends it.
                let _ =
                    tokio::time::timeout(write_stall, futures_util::SinkExt::close(&mut socket))
                        .await;
                return;
            }
            End::Gone => return,
        };
        if !send(&mut socket, frame, write_stall).await {
            return;
        }
        // The client's close frame completes the handshake; whatever else
        // it still sends is dropped.
        let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Sends one message; false if the connection failed or the write stalled
/// past `write_stall` (the client is not reading, or its network is gone):
/// either ends the subscription.
async fn send(socket: &mut WebSocket, message: Message, write_stall: Duration) -> bool {
    matches!(
        tokio::time::timeout(write_stall, socket.send(message)).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade_with(protocols: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(protocols).unwrap(),
        );
        headers
    }

    #[test]
    fn the_key_comes_base64url_encoded_in_a_subprotocol_of_an_upgrade() {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("s3cr+t/=key");
        let headers = upgrade_with(&format!("wjp, wjp.key.{encoded}"));
        assert_eq!(key_in_protocols(&headers).as_deref(), Some("s3cr+t/=key"));
        // Not an upgrade: the header is not read.
        let mut plain = headers.clone();
        plain.remove(header::UPGRADE);
        assert_eq!(key_in_protocols(&plain), None);
        // Not base64url: no key (so the request is refused as without one).
        assert_eq!(key_in_protocols(&upgrade_with("wjp, wjp.key.@@")), None);
        assert_eq!(key_in_protocols(&upgrade_with("wjp")), None);
    }
}
