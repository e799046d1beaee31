#!/usr/bin/env bash
# Two replicas on one Redis, on this machine, without Docker: a redis-server and two servers with
# STORE=redis on free ports. Submits a job on one replica and waits for it on the other, cancels from
# one a job running on the other, lists the jobs, then keeps the cluster up until Ctrl-C.
# `--check` stops after the demonstration and exits non-zero if any step did not go as shown.
# Needs redis-server (apt-get install redis-server), curl and a build (npm run build; done if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
[[ "${1:-}" == "--check" ]] && check=true

for tool in redis-server redis-cli curl node; do
  command -v "$tool" >/dev/null || { echo "cluster-demo: needs $tool (redis-server and redis-cli: apt-get install redis-server)" >&2; exit 1; }
done
[[ -f dist/server.js ]] || npm run build --silent

free_port() { node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"; }
# A JSON field of stdin, e.g. `json id` or `json error.code`.
json() { node -e "let t = ''; process.stdin.on('data', (d) => (t += d)).on('end', () => { let v = JSON.parse(t); for (const k of process.argv[1].split('.')) v = v?.[k]; console.log(v ?? ''); })" "$1"; }

logs=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if $check; then rm -rf "$logs"; else echo "logs kept in $logs"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "cluster-demo: FAILED: $*" >&2; exit 1; }

redis_port=$(free_port)
redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$redis_port" >"$logs/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.1; done
redis_url="redis://127.0.0.1:$redis_port"
echo "redis-server        $redis_url"

# Not called as $(start_replica …): in that subshell `pids+=` would be lost, and cleanup would leave the
# replicas running after the script ends.
start_replica() { # name → sets replica_url once it is ready
  local port
  port=$(free_port)
  STORE=redis REDIS_URL="$redis_url" HOST=127.0.0.1 PORT="$port" POOL_THREADS=1 REDIS_LOCK_MS=2000 \
    node dist/server.js >"$logs/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do
    if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then replica_url="http://127.0.0.1:$port"; return; fi
    sleep 0.1
  done
  fail "replica $1 did not become ready: $(tail -5 "$logs/$1.log")"
}
start_replica a
a=$replica_url
start_replica b
b=$replica_url
echo "replica a           $a   (log: $logs/a.log)"
echo "replica b           $b   (log: $logs/b.log)"
D='~wasm64@1.0'
post() { # url [json body]
  if [[ $# -gt 1 ]]; then curl -s -X POST "$1" -H 'content-type: application/json' -d "$2"; else curl -s -X POST "$1"; fi
}

echo
echo "1. submit add(2,3) on a, wait for it on b"
id=$(post "$a/$D/run" '{"code":"add(2,3)"}' | json id)
echo "   a: accepted $id"
job=$(curl -s "$b/$D/status/$id?wait=10")
echo "   b: $(echo "$job" | json status) $(echo "$job" | json result)"
[[ "$(echo "$job" | json result)" == 5 ]] || fail "b did not see the job complete: $job"

echo "2. submit fib_rec(45) (about a minute of CPU) on a, cancel it from b"
id=$(post "$a/$D/run" '{"code":"fib_rec(45)"}' | json id)
for _ in $(seq 1 100); do
  [[ "$(curl -s "$b/$D/status/$id" | json status)" == running ]] && break
  sleep 0.1
done
runner=$(redis-cli -p "$redis_port" hget "wasm64:job:$id" replica)
echo "   running on replica ${runner} (host:pid:tag)"
job=$(post "$b/$D/cancel/$id")
echo "   b: $(echo "$job" | json status) $(echo "$job" | json error.code)"
[[ "$(echo "$job" | json status)" == cancelled ]] || fail "the cancel did not take: $job"
for _ in $(seq 1 50); do
  grep -q "stopping the job on this replica" "$logs/a.log" "$logs/b.log" && break
  sleep 0.1
done
stopped=$(grep -l "stopping the job on this replica" "$logs/a.log" "$logs/b.log" | xargs -n1 basename | sed 's/\.log$//')
[[ -n "$stopped" ]] || fail "no replica stopped the job's thread"
echo "   replica $stopped stopped the job's thread"

echo "3. the jobs, as b lists them (newest first)"
curl -s "$b/$D/jobs?limit=5" | node -e "let t = ''; process.stdin.on('data', (d) => (t += d)).on('end', () => { for (const j of JSON.parse(t).jobs) console.log('  ', j.id, j.status, j.function + '(' + j.parameters.join(',') + ')', j.error?.code ?? j.result ?? ''); })"

if $check; then
  echo "cluster-demo: every step went as shown"
  exit 0
fi
echo
echo "The cluster is up: try curl -s -X POST $a/$D/run -H 'content-type: application/json' -d '{\"code\":\"fib(90)\"}'"
echo "Ctrl-C stops it."
wait "${pids[0]}"
