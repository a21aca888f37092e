#!/usr/bin/env bash
# Counts the instructions redis-server spends per job, for enqueueing and for draining
# `noop` jobs, under valgrind's callgrind: a count that does not depend on how busy the
# machine is, so two builds can be compared on a noisy machine.
# usage: scripts/redis-instructions.sh [WJP_BINARY] [JOBS] [BATCH]   (needs valgrind, redis-server)
# BATCH: jobs per `wjp submit --batch` call (all in one by default). The jobs of one call
# share their creation time, and past an enqueue sequence ending in 000 they wait in the
# late list (see BENCHMARKS.md): calls of 100 keep nearly all in the ready list.
# REDIS_SERVER=path runs another redis-server build (one built with symbols names Lua's
# own functions in a profile); PROFILE=file keeps the drain's callgrind profile, for
# `callgrind_annotate --inclusive=yes --tree=calling file`. SHOP=1 sends a shop's payloads.
set -euo pipefail
bin=${1:-target/release/wjp}
jobs=${2:-2000}
batch=${3:-$jobs}
work=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
  "${REDIS_SERVER:-redis-server}" --port "$port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
  >"$work/valgrind.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$port/0"
# SHOP=1: each payload a 147-byte object naming a file, as a shop's jobs do (a record too
# large to pack); otherwise `{"i": N}`.
python3 -c '
import sys, uuid
for i in range(int(sys.argv[1])):
    if sys.argv[2] == "1":
        payload = ("{\"file\":\"uploads/plate_%s_%d.dxf\",\"material\":\"steel\",\"thickness\":6,"
                   "\"kerf\":1.1,\"normalize\":true,\"sheet\":\"S-2026-12\"}" % (uuid.uuid4().hex, i))
    else:
        payload = "{\"i\":%d}" % i
    print("{\"kind\":\"noop\",\"payload\":%s}" % payload)' "$jobs" "${SHOP:-0}" >"$work/jobs.jsonl"
# Instructions since the last zeroing: dump, read the newest dump's total.
instructions() {
  callgrind_control -d "$server" >/dev/null 2>&1
  awk '/^(summary|totals):/ {n = $2} END {print n}' "$(ls -t "$work"/cg.* | head -1)"
}
# The function library is loaded on first connect: one warm-up job keeps that out of the counts.
echo '{"kind":"noop"}' | "$bin" submit --batch /dev/stdin >/dev/null
"$bin" worker --queues default --burst --name warm-up >/dev/null 2>&1
callgrind_control -z "$server" >/dev/null 2>&1
split -l "$batch" -d -a 6 "$work/jobs.jsonl" "$work/call."
for calls in "$work"/call.*; do "$bin" submit --batch "$calls" >/dev/null; done
enqueue=$(instructions)
callgrind_control -z "$server" >/dev/null 2>&1
"$bin" worker --queues default --burst --concurrency 50 --name counted >/dev/null 2>&1
drain=$(instructions)
if [ -n "${PROFILE:-}" ]; then cp "$(ls -t "$work"/cg.* | head -1)" "$PROFILE"; fi
echo "redis-server instructions per job: enqueue $((enqueue / jobs)), drain (claim + complete) $((drain / jobs))"
