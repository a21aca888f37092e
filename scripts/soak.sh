#!/usr/bin/env bash
# Soak: a sustained load of noop jobs through two worker processes on a
# private redis-server, sampling worker memory (RSS) and Redis memory
# (used_memory) every 10 s. With results kept 10 s, both must level off once
# the TTLs cycle.
# usage: scripts/soak.sh [SECONDS] [JOBS_PER_SECOND]   (defaults 300 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}; rate=${2:-1000}
cargo build --release -q -p wjp
wjp=$PWD/target/release/wjp
dir=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
  --daemonize yes --pidfile "$dir/redis.pid" >/dev/null
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$port/0" RUST_LOG=warn
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}
trap cleanup EXIT
for i in 1 2; do "$wjp" worker --name "soak-$i" --concurrency 32 & pids+=($!); done
worker_pids=("${pids[@]}")
# One batch file a second's worth of jobs, results kept 10 s.
python3 - "$rate" > "$dir/batch.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"kind": "noop", "payload": {"i": i}, "result_ttl": 10}))
PY
printf '%6s %12s %12s %12s %10s\n' seconds worker1_kb worker2_kb redis_bytes completed
start=$(date +%s); next=0
while :; do
  now=$(( $(date +%s) - start ))
  [ "$now" -ge "$seconds" ] && break
  "$wjp" submit --batch "$dir/batch.jsonl" >/dev/null
  if [ "$now" -ge "$next" ]; then
    rss1=$(ps -o rss= -p "${worker_pids[0]}" | tr -d ' ')
    rss2=$(ps -o rss= -p "${worker_pids[1]}" | tr -d ' ')
    mem=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
    done_=$("$wjp" info --json | python3 -c 'import json,sys; print(sum(q["completed"] for q in json.load(sys.stdin)["queues"]))')
    printf '%6s %12s %12s %12s %10s\n' "$now" "$rss1" "$rss2" "$mem" "$done_"
    next=$(( next + 10 ))
  fi
  sleep 1
done
