#!/usr/bin/env bash
# Where a queued and a retained completed `noop` job's Redis memory goes (BENCHMARKS.md,
# command K): JOBS jobs submitted in `wjp submit --batch` calls of BATCH jobs (all in one
# by default) to an empty private redis-server, then drained by `wjp worker --burst`.
# The jobs of one call share their creation time, which decides where they wait: see
# BENCHMARKS.md. After each step it prints
# `used_memory` per job (against the server after one warm-up job, which loads the
# function library) and `MEMORY USAGE key SAMPLES 0` of each key of the queue per job;
# the record hashes (packed records) summed, per job; a record with a key of its own is
# one sampled record, not divided.
# usage: scripts/redis-memory-parts.sh [WJP_BINARY] [JOBS] [BATCH]   (needs redis-server, python3)
set -euo pipefail
bin=$(realpath "${1:-target/release/wjp}")
jobs=${2:-10000}
batch=${3:-$jobs}
work=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
  >"$work/redis.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$port/0"
cli() { redis-cli -p "$port" "$@"; }
used() { cli info memory | tr -d '\r' | sed -n 's/^used_memory://p'; }
python3 -c "
import json, sys
with open(sys.argv[1], 'w') as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({'kind': 'noop', 'payload': {'i': i}}) + '\n')" "$work/jobs.jsonl" "$jobs"
run() { "$bin" "$@" --data-dir "$work/data" >/dev/null 2>&1; }
run submit noop --payload '{"i": -1}' --init
run worker --burst --queues default --concurrency 50
# The warm-up job's record expires after its result TTL; the sweep leaves the rest.
before=$(used)
parts() {
  echo "$1: used_memory per job $(( ($(used) - before) / jobs ))"
  for key in $(cli --scan --pattern 'wjp:{default}:*' | grep -v -e ':job:' -e ':r:' | sort); do
    echo "  $key $(( $(cli memory usage "$key" samples 0) / jobs ))"
  done
  # Packed records: fields of the record hashes `wjp:{default}:r:<xx>`.
  local hashes=0 packed=0 key
  for key in $(cli --scan --pattern 'wjp:{default}:r:*'); do
    hashes=$((hashes + 1))
    packed=$((packed + $(cli memory usage "$key" samples 0)))
  done
  echo "  record hashes: $hashes, $((packed / jobs)) bytes per job"
  local record
  record=$(cli --scan --pattern 'wjp:{default}:job:*' | sed -n 1p)
  if [ -n "$record" ]; then
    echo "  one record key: $(cli memory usage "$record" samples 0) ($(cli strlen "$record") bytes of value)"
  fi
}
split -l "$batch" -d -a 6 "$work/jobs.jsonl" "$work/call."
for calls in "$work"/call.*; do run submit --batch "$calls"; done
parts queued
run worker --burst --queues default --concurrency 50
parts "retained completed"
