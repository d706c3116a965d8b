#!/usr/bin/env bash
# bench.sh: measure tollgate's RADIUS path with cmd/radbench on this machine.
# Needs DATABASE_URL and REDIS_URL (make bench sets them) and bin/tollgate, bin/radbench.
# It works in a database of its own (tollgate_bench, recreated) and Redis database 14,
# starts `tollgate serve` on 127.0.0.1:18120, imports BENCH_USERS subscribers, warms the
# cache, then runs PAP, CHAP, MS-CHAPv2 and durable accounting (Start, Interims, Stop per
# session) for BENCH_SECONDS each at BENCH_CONCURRENCY requests in flight, and stops the
# server it started (by its PID).
set -euo pipefail
cd "$(dirname "$0")/.."

users=${BENCH_USERS:-100000}
secs=${BENCH_SECONDS:-10}
conc=${BENCH_CONCURRENCY:-64}
modes=${BENCH_MODES:-pap chap mschapv2 acct}
port=18120
secret=bench-secret-123

base=${DATABASE_URL%%\?*}
query=""; [[ "$DATABASE_URL" == *\?* ]] && query="?${DATABASE_URL#*\?}"
admin_url="${base%/*}/postgres${query}"
bench_url="${base%/*}/tollgate_bench${query}"
psql -q "$admin_url" -c 'DROP DATABASE IF EXISTS tollgate_bench WITH (FORCE)' -c 'CREATE DATABASE tollgate_bench'

export DATABASE_URL=$bench_url
export REDIS_URL="${REDIS_URL%/*}/14"
export TOLLGATE_RADIUS_AUTH_ADDR=127.0.0.1:$port
export TOLLGATE_RADIUS_ACCT_ADDR=127.0.0.1:$((port + 1))
export TOLLGATE_HTTP_ADDR=127.0.0.1:18080
export LOG_LEVEL=warn
export TOLLGATE_SPOOL_DIR=var/bench-spool

bin/tollgate migrate >/dev/null
bin/tollgate nas add --name bench --address 127.0.0.1 --secret "$secret" >/dev/null
bin/tollgate plan add --name bench --kind pppoe --rate-limit "10M/10M" --shared-users 0 >/dev/null
csv=$(mktemp)
trap 'rm -f "$csv"' EXIT
awk -v n="$users" 'BEGIN { for (i = 0; i < n; i++) printf "bench%06d,pass%06d\n", i, i }' >"$csv"
bin/tollgate subscriber import --plan bench --file "$csv"

bin/tollgate serve --roles radius >var/bench-serve.log 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$csv"' EXIT
for _ in $(seq 50); do
  grep -q "radius listening" var/bench-serve.log && break
  sleep 0.2
done

echo "warming the cache with every user once..." >&2
bin/radbench -server 127.0.0.1:$port -secret "$secret" -mode pap -users "$users" -concurrency "$conc" \
  -requests "$users" -pick seq -duration 120s >/dev/null

echo "# $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $users subscribers, $conc in flight, ${secs}s per mode"
for m in $modes; do
  bin/radbench -server 127.0.0.1:$port -acct-server 127.0.0.1:$((port + 1)) -secret "$secret" -mode "$m" \
    -users "$users" -concurrency "$conc" -pick random -duration "${secs}s"
done
