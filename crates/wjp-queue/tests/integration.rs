//! The engine's integration tests: one binary, so linking stays fast.
//!
//! `conformance` holds the backend conformance suite, written once and run
//! against every backend through the `conformance_suite!` macro.

#[macro_use]
mod conformance;
mod cluster;
mod redis;
#[path = "support/redis_cluster.rs"]
mod redis_cluster;
#[path = "support/redis_server.rs"]
mod redis_server;
mod sqlite;
