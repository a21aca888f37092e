//! End-to-end tests of the HTTP API over a real socket, with the SQLite
//! backend in a temp dir (and, in `redis`, a real redis-server) and
//! in-process workers. One test binary keeps linking fast.

mod support;

mod dashboard;
mod events;
mod fallback;
mod queue_api;
mod redis;
mod safety;
mod shop;
mod slow_clients;
mod websocket;
