//! Tests of the real `wjp` binary: its commands and its processes.

mod cli;
mod processes;
mod support;
