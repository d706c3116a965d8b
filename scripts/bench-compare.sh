#!/usr/bin/env bash
# bench-compare.sh: tollgate against FreeRADIUS 3.2 on this machine, with the same load
# generator (cmd/radbench), the same 100,000 subscribers and the same replies, and one
# table with both and the ratio. `make bench-compare` runs it.
#
#   tollgate     Postgres + Redis (`tollgate serve --roles radius`), 127.0.0.1:18120/18121
#   freeradius   the users file (PAP, CHAP, MS-CHAPv2 from Cleartext-Password; replies
#                Mikrotik-Rate-Limit and Acct-Interim-Interval), accounting to stock
#                `detail` files, 127.0.0.1:28120/28121
#   fr-sql       the same FreeRADIUS with accounting through rlm_sql into Postgres (the
#                stock schema of freeradius-postgresql), 127.0.0.1:28130/28131
#
# Needs DATABASE_URL and REDIS_URL (make bench-compare sets them), bin/tollgate and
# bin/radbench. Installs Debian's freeradius and freeradius-postgresql with apt-get when
# missing (as root, unless TOLLGATE_NO_INSTALL is set). Every FreeRADIUS runs from a
# configuration of its own in a temporary directory and is stopped by its PID; nothing
# else is touched. BENCH_USERS, BENCH_SECONDS, BENCH_CONCURRENCY and BENCH_MODES tune it
# like scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

users=${BENCH_USERS:-100000}
secs=${BENCH_SECONDS:-10}
conc=${BENCH_CONCURRENCY:-64}
modes=${BENCH_MODES:-pap chap mschapv2 acct}
secret=bench-secret-123
tg_port=18120
fr_port=28120
frsql_port=28130

need_pkgs=()
command -v freeradius >/dev/null 2>&1 || need_pkgs+=(freeradius)
[[ -e /usr/lib/freeradius/rlm_sql_postgresql.so ]] || need_pkgs+=(freeradius-postgresql)
if ((${#need_pkgs[@]})); then
  if [[ "$(id -u)" != 0 || -n "${TOLLGATE_NO_INSTALL:-}" ]]; then
    echo "bench-compare: install ${need_pkgs[*]} first (sudo apt-get install --no-install-recommends ${need_pkgs[*]})" >&2
    exit 1
  fi
  echo "bench-compare: installing ${need_pkgs[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi
fr_conf=/etc/freeradius/3.0
[[ -d $fr_conf ]] || { echo "bench-compare: $fr_conf missing after the install" >&2; exit 1; }

work=$(mktemp -d /tmp/tollgate-bench-compare.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "${BENCH_KEEP:-}" ]] && echo "bench-compare: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

# --- tollgate -----------------------------------------------------------------------
base=${DATABASE_URL%%\?*}
query=""; [[ "$DATABASE_URL" == *\?* ]] && query="?${DATABASE_URL#*\?}"
admin_url="${base%/*}/postgres${query}"
tg_url="${base%/*}/tollgate_bench${query}"
fr_url="${base%/*}/freeradius_bench${query}"
psql -q "$admin_url" -c 'DROP DATABASE IF EXISTS tollgate_bench WITH (FORCE)' -c 'CREATE DATABASE tollgate_bench' \
  -c 'DROP DATABASE IF EXISTS freeradius_bench WITH (FORCE)' -c 'CREATE DATABASE freeradius_bench'

(
  export DATABASE_URL=$tg_url REDIS_URL="${REDIS_URL%/*}/14" LOG_LEVEL=warn TOLLGATE_SPOOL_DIR=$work/spool
  export TOLLGATE_RADIUS_AUTH_ADDR=127.0.0.1:$tg_port TOLLGATE_RADIUS_ACCT_ADDR=127.0.0.1:$((tg_port + 1)) TOLLGATE_HTTP_ADDR=127.0.0.1:18080
  bin/tollgate migrate >/dev/null
  bin/tollgate nas add --name bench --address 127.0.0.1 --secret "$secret" >/dev/null
  # The plan keeps tollgate's checks on: one session at a time (the simultaneous-use
  # check reads the live sessions) and data and time limits (the usage is read).
  bin/tollgate plan add --name bench --kind pppoe --rate-limit "10M/10M" --shared-users 1 \
    --data-limit 1000G --uptime-limit 3000d --interim 5m >/dev/null
  awk -v n="$users" 'BEGIN { for (i = 0; i < n; i++) printf "bench%06d,pass%06d\n", i, i }' >"$work/users.csv"
  bin/tollgate subscriber import --plan bench --file "$work/users.csv" >&2
)
env DATABASE_URL="$tg_url" REDIS_URL="${REDIS_URL%/*}/14" LOG_LEVEL=warn TOLLGATE_SPOOL_DIR="$work/spool" \
  TOLLGATE_RADIUS_AUTH_ADDR=127.0.0.1:$tg_port TOLLGATE_RADIUS_ACCT_ADDR=127.0.0.1:$((tg_port + 1)) \
  TOLLGATE_HTTP_ADDR=127.0.0.1:18080 bin/tollgate serve --roles radius >"$work/tollgate.log" 2>&1 &
pids+=($!)

# --- FreeRADIUS -----------------------------------------------------------------------
# A configuration of its own: the stock radiusd.conf and modules, one virtual server
# with the listeners below, the 100,000 users in the files module, a client for 127.0.0.1.
make_fr() { # make_fr DIR AUTHPORT ACCOUNTING-MODULE
  local dir=$1 port=$2 acct=$3
  cp -a "$fr_conf" "$dir"
  rm -f "$dir"/sites-enabled/* "$dir"/mods-enabled/{eap,ntlm_auth,unix,radutmp,sradutmp,exec,echo,dynamic_clients,replicate,soh,digest,passwd,logintime,realm,linelog,detail.log}
  sed -i -e 's/^\(\s*\)user = freerad/\1#user = freerad/' -e 's/^\(\s*\)group = freerad/\1#group = freerad/' \
    -e "s|^\(\s*\)logdir = .*|\1logdir = $dir/log|" -e "s|^\(\s*\)radacctdir = .*|\1radacctdir = $dir/radacct|" \
    -e "s|^\(\s*\)run_dir = .*|\1run_dir = $dir/run|" \
    -e 's/^\(\s*\)start_servers = .*/\1start_servers = 32/' -e 's/^\(\s*\)max_servers = .*/\1max_servers = 64/' \
    -e 's/^\(\s*\)max_requests = .*/\1max_requests = 65536/' "$dir/radiusd.conf"
  mkdir -p "$dir/log" "$dir/radacct" "$dir/run"
  cat >"$dir/clients.conf" <<EOF
client bench {
	ipaddr = 127.0.0.1
	secret = $secret
	require_message_authenticator = no
}
EOF
  cat >"$dir/sites-enabled/bench" <<EOF
server bench {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = $port
	}
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = $((port + 1))
	}
	authorize {
		files
		chap
		mschap
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
		Auth-Type MS-CHAP {
			mschap
		}
	}
	preacct {
		acct_unique
	}
	accounting {
		$acct
	}
	post-auth {
	}
}
EOF
  awk -v n="$users" 'BEGIN { for (i = 0; i < n; i++) printf "bench%06d Cleartext-Password := \"pass%06d\"\n\tMikrotik-Rate-Limit = \"10M/10M\",\n\tAcct-Interim-Interval = 300\n\n", i, i }' \
    >"$dir/mods-config/files/authorize"
}

make_fr "$work/fr" "$fr_port" detail
freeradius -d "$work/fr" -f -l "$work/fr/log/radius.log" &
pids+=($!)

# rlm_sql on Postgres: the stock schema in a database of its own, the stock sql module
# pointed at it.
psql -q "$fr_url" -f "$fr_conf/mods-config/sql/main/postgresql/schema.sql" >/dev/null
make_fr "$work/frsql" "$frsql_port" sql
ln -sf ../mods-available/sql "$work/frsql/mods-enabled/sql"
pg_host=$(psql -Atq "$fr_url" -c "SELECT coalesce(host(inet_server_addr()), '127.0.0.1')")
pg_port=$(psql -Atq "$fr_url" -c 'SHOW port')
pg_user=$(psql -Atq "$fr_url" -c 'SELECT current_user')
sed -i -e 's/^\(\s*\)driver = "rlm_sql_null"/\1driver = "rlm_sql_postgresql"/' -e 's/^\(\s*\)dialect = "sqlite"/\1dialect = "postgresql"/' \
  -e "s|^\(\s*\)radius_db = \"radius\"|\1radius_db = \"dbname=freeradius_bench host=$pg_host port=$pg_port user=$pg_user\"|" \
  -e 's/^\(\s*\)read_clients = yes/\1read_clients = no/' "$work/frsql/mods-available/sql"
freeradius -d "$work/frsql" -f -l "$work/frsql/log/radius.log" &
pids+=($!)

# --- wait for all three, warm tollgate's cache ------------------------------------------------
ready() { bin/radbench -server "127.0.0.1:$1" -secret "$secret" -mode pap -users 1 -concurrency 1 -requests 1 -timeout 500ms >/dev/null 2>&1; }
for port in $tg_port $fr_port $frsql_port; do
  for _ in $(seq 100); do ready "$port" && break; sleep 0.2; done
  ready "$port" || { echo "bench-compare: nothing answers on 127.0.0.1:$port" >&2; for f in "$work"/*/log/radius.log "$work/tollgate.log"; do echo "== $f" >&2; tail -n 20 "$f" >&2 || true; done; exit 1; }
done
echo "bench-compare: warming tollgate's cache with every user once..." >&2
bin/radbench -server 127.0.0.1:$tg_port -secret "$secret" -mode pap -users "$users" -concurrency "$conc" \
  -requests "$users" -pick seq -duration 120s >/dev/null

# --- measure -----------------------------------------------------------------------------------
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
run() { # run NAME PORT MODE -> RESULT line
  bin/radbench -server "127.0.0.1:$2" -acct-server "127.0.0.1:$(($2 + 1))" -secret "$secret" -mode "$3" \
    -users "$users" -concurrency "$conc" -pick random -duration "${secs}s" 2>>"$work/radbench.log" || true
}
echo "# $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $users subscribers, $conc in flight, ${secs}s per run, radbench on the same machine"
printf '%-10s %-22s %10s %9s %10s\n' mode server "req/s" "p99" "tollgate÷"
for m in $modes; do
  tg=$(run tollgate $tg_port "$m")
  fr=$(run freeradius $fr_port "$m")
  tg_rps=$(echo "$tg" | field rps); fr_rps=$(echo "$fr" | field rps)
  printf '%-10s %-22s %10s %9s %10s\n' "$m" tollgate "$tg_rps" "$(echo "$tg" | field p99)" ""
  fr_name="freeradius (users file)"
  [[ $m == acct ]] && fr_name="freeradius (detail)"
  printf '%-10s %-22s %10s %9s %10s\n' "$m" "$fr_name" "$fr_rps" "$(echo "$fr" | field p99)" \
    "$(awk -v a="$tg_rps" -v b="$fr_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
  if [[ $m == acct ]]; then
    frs=$(run fr-sql $frsql_port acct)
    frs_rps=$(echo "$frs" | field rps)
    printf '%-10s %-22s %10s %9s %10s\n' acct "freeradius (rlm_sql)" "$frs_rps" "$(echo "$frs" | field p99)" \
      "$(awk -v a="$tg_rps" -v b="$frs_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
  fi
done
