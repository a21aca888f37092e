//! Tests of the real `wjp` binary: its commands and its processes.

mod api_fuzz;
mod attacks;
mod bench;
mod chaos;
mod checks;
mod cli;
mod cluster;
mod doors;
mod flows;
mod logs;
mod nesting;
mod processes;
mod remnants;
mod shop;
mod stores;
mod support;
