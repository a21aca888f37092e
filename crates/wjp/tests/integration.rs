//! Tests of the real `wjp` binary: its commands and its processes.

mod api_fuzz;
mod attacks;
mod chaos;
mod cli;
mod processes;
mod support;
