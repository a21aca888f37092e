//! Who asks: each request's origin, as the audit log records the jobs it
//! submits (`wjp_queue::audit`). A layer computes it once per request
//! (the API key's fingerprint when a key is set, and the client's address)
//! and keeps it for the request's handler in a task-local, so every door
//! that enqueues (`POST /jobs`, the old endpoints) records it through the
//! one [`crate::enqueue::Enqueuer`] without each handler passing it on;
//! `POST /flows`, which stores its jobs together, sets it on each node.
//!
//! The key itself is never stored: its fingerprint is the first 8 hex
//! digits of its SHA-1, enough to tell a rotated key from the one before,
//! and read only by those who hold the key (the history needs it).

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

tokio::task_local! {
    static ORIGIN: String;
}

/// The address a connection came from, put in each of its requests'
/// extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub(crate) IpAddr);

/// The fingerprint of an API key: `key 1a2b3c4d`.
pub fn key_fingerprint(key: &str) -> String {
    let digest = sha1_smol::Sha1::from(key.as_bytes()).digest().to_string();
    format!("key {}", &digest[..8])
}

/// The origin of a request: `key 1a2b3c4d from 192.0.2.7`, `client
/// 192.0.2.7`, or `api` when neither is known.
fn describe(state: &AppState, request: &Request) -> String {
    let address = request
        .extensions()
        .get::<ClientAddress>()
        .map(|a| a.0.to_string());
    let key = state.config.api_key.as_deref().map(key_fingerprint);
    match (key, address) {
        (Some(key), Some(address)) => format!("{key} from {address}"),
        (Some(key), None) => key,
        (None, Some(address)) => format!("client {address}"),
        (None, None) => "api".to_owned(),
    }
}

/// The layer: runs the rest of the request with its origin known.
pub(crate) async fn record_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let origin = describe(&state, &request);
    ORIGIN.scope(origin, next.run(request)).await
}

/// The origin of the request being handled, if any.
pub(crate) fn current() -> Option<String> {
    ORIGIN.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_names_the_key_without_holding_it() {
        let fp = key_fingerprint("correct horse battery staple");
        assert_eq!(fp.len(), "key ".len() + 8);
        assert!(!fp.contains("horse"));
        assert_ne!(fp, key_fingerprint("correct horse battery stapler"));
    }
}
