#!/usr/bin/env bash
# How busy Redis is while burst workers drain queued noop jobs: the server's CPU time
# (INFO cpu, user and system) over the drain's wall time, and per job. A drain that
# leaves Redis idle part of the time is bound by the workers or by round trips, not by
# the server.
# Also the server's time inside wjp's calls (INFO commandstats: FCALL, or EVALSHA for
# builds before the function library) per job.
# usage: scripts/redis-busy.sh [WJP_BINARY] [JOBS] [PROCESSES]   (defaults
#        target/release/wjp 50000 1; needs redis-server, redis-cli)
set -euo pipefail
bin=${1:-target/release/wjp}
jobs=${2:-50000}
procs=${3:-1}
work=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
  --daemonize yes --pidfile "$work/pid" >/dev/null
trap 'kill "$(cat "$work/pid")" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$port/0"
for i in $(seq "$jobs"); do echo "{\"kind\":\"noop\",\"payload\":{\"i\":$i}}"; done >"$work/jobs.jsonl"
"$bin" submit --batch "$work/jobs.jsonl" >/dev/null
# Seconds of CPU the server has used so far: user, then system.
cpu() {
  redis-cli -p "$port" info cpu | tr -d '\r' |
    awk -F: '/^used_cpu_user:/ {u = $2} /^used_cpu_sys:/ {s = $2} END {print u, s}'
}
redis-cli -p "$port" config resetstat >/dev/null
read -r user0 sys0 < <(cpu)
start=$(date +%s.%N)
for p in $(seq "$procs"); do
  "$bin" worker --queues default --burst --concurrency 50 --name "busy-$p" >/dev/null 2>&1 &
done
wait
end=$(date +%s.%N)
read -r user1 sys1 < <(cpu)
calls_usec=$(redis-cli -p "$port" info commandstats | tr -d '\r' |
  awk -F'usec=' '/^cmdstat_(fcall|evalsha):/ {split($2, v, ","); n += v[1]} END {print n + 0}')
python3 - "$jobs" "$procs" "$start" "$end" "$user0" "$sys0" "$user1" "$sys1" "$calls_usec" <<'EOF'
import sys
jobs, procs = int(sys.argv[1]), int(sys.argv[2])
start, end, user0, sys0, user1, sys1, calls_usec = map(float, sys.argv[3:])
wall, user, system = end - start, user1 - user0, sys1 - sys0
print(f"{procs} process(es): {jobs / wall:,.0f} jobs/s; Redis busy {(user + system) / wall:.0%} "
      f"(user {user / wall:.0%}, system {system / wall:.0%}), "
      f"{(user + system) / jobs * 1e6:.1f} us of Redis CPU per job, "
      f"{calls_usec / jobs:.1f} us in wjp's calls")
EOF
