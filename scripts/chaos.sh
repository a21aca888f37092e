#!/usr/bin/env bash
# The long chaos run: thousands of jobs through worker processes that are
# killed with SIGKILL at random, with Redis restarted several times.
# usage: scripts/chaos.sh [JOBS] [WORKERS] [REDIS_RESTARTS]   (defaults 20000 4 5)
set -euo pipefail
cd "$(dirname "$0")/.."
export WJP_CHAOS_JOBS=${1:-20000} WJP_CHAOS_WORKERS=${2:-4} WJP_CHAOS_REDIS_RESTARTS=${3:-5}
cargo test --release -p wjp --test integration chaos -- --nocapture --test-threads 1 2>&1 | grep -E '^chaos:|test result'
