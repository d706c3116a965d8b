#!/usr/bin/env bash
# bench-scale.sh: tollgate at the size of a large ISP, on this machine, in three figures
# with the targets of the scale issue. `make bench-scale` runs it.
#
#   import      `tollgate subscriber import` of BENCH_SCALE_USERS subscribers (default
#               1,000,000) from one CSV, on a plan with --shared-users 1: the seconds
#               it takes (target: under 60 s).
#   rss         `tollgate serve --roles radius,portal,cron` holding BENCH_SCALE_SESSIONS
#               (default 100,000) open sessions, opened by radbench -acct-open with
#               Accounting-Request Starts that are never stopped, once all of them are
#               in Postgres and cron ran over them for BENCH_SCALE_SETTLE seconds: VmRSS
#               and VmHWM of the serve process (target: under 300 MB).
#   cold start  serve stopped, its Redis database emptied, serve started again, then
#               BENCH_SCALE_COLD (default 50,000) distinct subscribers authenticate
#               once each with PAP, 256 in flight, 1 s timeout, no retransmission:
#               duration, timeouts and p99 (target: all answered within 10 s, no
#               timeout), and serve's RSS afterwards.
#
# The subscribers with open sessions (online%06d) and those of the cold start
# (bench%06d) are different people: with --shared-users 1 a subscriber who is online is
# rightly refused a second session, so the cold start checks the online count of
# subscribers who are offline, as a reconnect wave after a restart does.
#
# Needs DATABASE_URL and REDIS_URL (make bench-scale sets them), bin/tollgate and
# bin/radbench. It works in a database of its own (tollgate_scale, created and dropped),
# Redis database BENCH_SCALE_REDIS_DB (default 13, emptied before, between and after),
# 127.0.0.1:18420/18421 for RADIUS and 127.0.0.1:18480 for the portal (BENCH_SCALE_PORT
# moves all three; they must be free, as other benchmarks may hold theirs), and a temporary
# directory; the server it starts is stopped by its PID. BENCH_KEEP keeps the database
# and the directory (logs).
set -euo pipefail
cd "$(dirname "$0")/.."

users=${BENCH_SCALE_USERS:-1000000}
sessions=${BENCH_SCALE_SESSIONS:-100000}
cold=${BENCH_SCALE_COLD:-50000}
settle=${BENCH_SCALE_SETTLE:-30}
rdb=${BENCH_SCALE_REDIS_DB:-13}
secret=bench-secret-123
port=${BENCH_SCALE_PORT:-18420}
http_port=$((port + 60))

if ((sessions + cold > users)); then
  echo "bench-scale: BENCH_SCALE_SESSIONS ($sessions) + BENCH_SCALE_COLD ($cold) exceed BENCH_SCALE_USERS ($users)" >&2
  exit 2
fi

for p in "udp:$port" "udp:$((port + 1))" "tcp:$http_port"; do
  if [[ -n "$(ss -Hln --"${p%%:*}" "sport = :${p#*:}" 2>/dev/null)" ]]; then
    echo "bench-scale: 127.0.0.1:${p#*:}/${p%%:*} is taken; set BENCH_SCALE_PORT to a free range" >&2
    exit 2
  fi
done

base=${DATABASE_URL%%\?*}
query=""; [[ "$DATABASE_URL" == *\?* ]] && query="?${DATABASE_URL#*\?}"
admin_url="${base%/*}/postgres${query}"
db_url="${base%/*}/tollgate_scale${query}"
redis_url="${REDIS_URL%/*}/$rdb"

work=$(mktemp -d /tmp/tollgate-bench-scale.XXXXXX)
pid=""
stop_serve() {
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}
cleanup() {
  stop_serve
  if [[ -n "${BENCH_KEEP:-}" ]]; then
    echo "bench-scale: kept $work and the database tollgate_scale" >&2
  else
    psql -q "$admin_url" -c 'DROP DATABASE IF EXISTS tollgate_scale WITH (FORCE)' >/dev/null 2>&1 || true
    redis-cli -u "$redis_url" FLUSHDB >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

psql -q "$admin_url" -c 'SET client_min_messages = warning' -c 'DROP DATABASE IF EXISTS tollgate_scale WITH (FORCE)' -c 'CREATE DATABASE tollgate_scale'
redis-cli -u "$redis_url" FLUSHDB >/dev/null

export DATABASE_URL=$db_url REDIS_URL=$redis_url LOG_LEVEL=warn TOLLGATE_SPOOL_DIR=$work/spool
export TOLLGATE_RADIUS_AUTH_ADDR=127.0.0.1:$port TOLLGATE_RADIUS_ACCT_ADDR=127.0.0.1:$((port + 1))
export TOLLGATE_HTTP_ADDR=127.0.0.1:$http_port
# Cron every 10 s instead of every minute, so its jobs (the enforcement sweep over the
# open sessions among them) run several times while the sessions are held.
export TOLLGATE_CRON_INTERVAL=10s

now() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo ok; else echo MISSED; fi; }
mem() { # mem FIELD -> MB of /proc/$pid/status's FIELD (VmRSS, VmHWM)
  awk -v f="$1:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"
}

start_serve() { # start_serve LOG
  bin/tollgate serve --roles radius,portal,cron >"$1" 2>&1 &
  pid=$!
  # Ready when an Access-Request is answered; the probe's user does not exist, so it
  # warms nothing the cold start uses.
  for _ in $(seq 300); do
    if bin/radbench -server "127.0.0.1:$port" -secret "$secret" -mode pap -users 1 -user-format probe%06d \
      -expect any -concurrency 1 -requests 1 -timeout 200ms >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "bench-scale: tollgate serve does not answer on 127.0.0.1:$port" >&2
  tail -n 30 "$1" >&2
  exit 1
}

bin/tollgate migrate >/dev/null
bin/tollgate nas add --name bench --address 127.0.0.1 --secret "$secret" >/dev/null
bin/tollgate plan add --name bench --kind pppoe --rate-limit "10M/10M" --shared-users 1 \
  --data-limit 1000G --uptime-limit 3000d --interim 5m >/dev/null
awk -v n="$((users - sessions))" -v m="$sessions" 'BEGIN {
  for (i = 0; i < n; i++) printf "bench%06d,pass%06d\n", i, i
  for (i = 0; i < m; i++) printf "online%06d,pass%06d\n", i, i
}' >"$work/users.csv"

echo "# bench-scale: ${BENCH_SCALE_CMD:-scripts/bench-scale.sh}; $(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) cores;" \
  "BENCH_SCALE_USERS=$users BENCH_SCALE_SESSIONS=$sessions BENCH_SCALE_COLD=$cold BENCH_SCALE_SETTLE=$settle"

# --- 1. import ------------------------------------------------------------------------
t0=$(now)
bin/tollgate subscriber import --plan bench --file "$work/users.csv" >"$work/import.log" 2>&1 ||
  { cat "$work/import.log" >&2; exit 1; }
import_s=$(secs_since "$t0")
printf '%-34s %10s s     target < 60 s: %s\n' "import of $users subscribers" "$import_s" "$(verdict "$import_s < 60")"

# --- 2. RSS with open sessions ------------------------------------------------------------
start_serve "$work/serve1.log"
t0=$(now)
bin/radbench -acct-server "127.0.0.1:$((port + 1))" -secret "$secret" -mode acct -acct-open \
  -users "$sessions" -user-format online%06d -pick seq -requests "$sessions" -concurrency 64 \
  -timeout 2s -retries 3 -duration 240s >"$work/open.out" 2>"$work/open.err" || true
open_res=$(cat "$work/open.out")
[[ -n $open_res ]] || { cat "$work/open.err" >&2; exit 1; }
open=0
deadline=$(($(date +%s) + 120))
while :; do
  open=$(psql -Atq "$db_url" -c 'SELECT count(*) FROM sessions WHERE stopped_at IS NULL')
  ((open >= sessions)) && break
  if (($(date +%s) > deadline)); then
    echo "bench-scale: only $open of $sessions sessions open in Postgres after 120 s" >&2
    break
  fi
  sleep 1
done
opened_s=$(secs_since "$t0")
printf '%-34s %10s s     (%s acct/s, %s timeouts, %s open in Postgres)\n' "open $sessions sessions" "$opened_s" \
  "$(echo "$open_res" | field rps)" "$(echo "$open_res" | field timeouts)" "$open"
sleep "$settle"
rss=$(mem VmRSS); hwm=$(mem VmHWM)
printf '%-34s %10s MB    target < 300 MB: %s (VmHWM %s MB)\n' "serve RSS, $open open sessions" "$rss" \
  "$(verdict "$rss < 300 && $hwm < 300")" "$hwm"

# --- 3. cold start -----------------------------------------------------------------------
stop_serve
redis-cli -u "$redis_url" FLUSHDB >/dev/null
start_serve "$work/serve2.log"
bin/radbench -server "127.0.0.1:$port" -secret "$secret" -mode pap -users "$cold" -pick seq \
  -requests "$cold" -concurrency 256 -timeout 1s -retries 0 -duration 60s >"$work/cold.out" 2>"$work/cold.err" || true
res=$(cat "$work/cold.out")
[[ -n $res ]] || { cat "$work/cold.err" >&2; exit 1; }
dur=$(echo "$res" | field duration); dur=${dur%s}
tmo=$(echo "$res" | field timeouts)
acc=$(echo "$res" | field accepts)
printf '%-34s %10s s     target all within 10 s, no timeout: %s (accepts %s, timeouts %s, errors %s, p99 %s)\n' \
  "cold start, $cold subscribers" "$dur" "$(verdict "$dur < 10 && $tmo == 0 && $acc == $cold")" \
  "$acc" "$tmo" "$(echo "$res" | field errors)" "$(echo "$res" | field p99)"
rss=$(mem VmRSS); hwm=$(mem VmHWM)
printf '%-34s %10s MB    (VmHWM %s MB)\n' "serve RSS after the cold start" "$rss" "$hwm"
