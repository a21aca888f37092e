#!/usr/bin/env bash
# Requests/s of GET /jobs/{id} and POST /jobs on loopback, with wrk.
# Usage: crates/wjp-api/bench/run.sh [path/to/release/wjp] [connections] [seconds]
set -euo pipefail
WJP=${1:-target/release/wjp}
CONNS=${2:-32}
SECS=${3:-15}
PORT=${PORT:-8765}
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT

run_server() {
  WJP_DATA_DIR="$DATA" RUST_LOG=warn "$WJP" api --port "$PORT" "$@" &
  PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start" >&2
  exit 1
}

# 1. Reads and enqueues through the API alone (no in-process workers).
run_server --no-workers
ID=$(curl -sf -X POST "http://127.0.0.1:$PORT/jobs" -H 'content-type: application/json' \
  -d '{"kind":"noop","payload":{}}' | sed -E 's/.*"job_id":"([^"]+)".*/\1/')
echo "== GET /jobs/$ID, $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/jobs/$ID"
echo "== POST /jobs (noop), $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$HERE/post_job.lua" "http://127.0.0.1:$PORT/jobs"
kill "$PID"; wait "$PID" 2>/dev/null || true

# 2. POST /jobs while the in-process workers run what is submitted.
rm -rf "$DATA"; DATA=$(mktemp -d)
run_server --workers 2
echo "== POST /jobs (noop) with 2 in-process workers running them, $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$HERE/post_job.lua" "http://127.0.0.1:$PORT/jobs"
curl -sf "http://127.0.0.1:$PORT/queues"; echo
