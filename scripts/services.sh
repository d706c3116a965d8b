#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2012  # single-quoted bash -c snippets and ls|sort -V are intended
# scripts/services.sh — find or start the Postgres and Redis that tollgate needs.
#
# Usage:
#   eval "$(scripts/services.sh env)"        # DATABASE_URL, REDIS_URL, TOLLGATE_SECRET_KEY
#   eval "$(scripts/services.sh test-env)"   # TEST_DATABASE_URL, TEST_REDIS_URL, TOLLGATE_SECRET_KEY
#   scripts/services.sh stop                 # stop the private servers started from ./var
#   source scripts/services.sh [env|test-env]  # same as eval, in the current shell
#
# Resolution order for each service:
#   1. the URL from the environment (DATABASE_URL / REDIS_URL; in test-env mode
#      TEST_DATABASE_URL / TEST_REDIS_URL first), checked to answer;
#   2. a server already answering on 127.0.0.1:5432 / 127.0.0.1:6379;
#   3. a private server under ./var (Postgres on 55432, Redis on 56379),
#      started on demand and reused by later runs.
# Missing binaries are installed with apt-get when running as root, unless
# TOLLGATE_NO_INSTALL is set.
#
# As root, the private Postgres runs as system user tollgate-pg (created on
# demand); if that user cannot reach ./var (e.g. a checkout under /root), the
# cluster lives in /var/lib/tollgate-pg/<hash of repo path> instead.
#
# Only `export NAME='value'` lines go to stdout; all diagnostics go to stderr.
#
# Environment knobs:
#   TOLLGATE_PG_PROBE_PORT     port probed for an existing Postgres (default 5432)
#   TOLLGATE_REDIS_PROBE_PORT  port probed for an existing Redis    (default 6379)
#   TOLLGATE_PG_PORT           port of the private Postgres          (default 55432)
#   TOLLGATE_REDIS_PORT        port of the private Redis             (default 56379)
#   TOLLGATE_NO_INSTALL        if set (non-empty), never run apt-get

# When sourced, run ourselves in a child bash (so `set -euo pipefail` and the
# helper functions do not leak into the caller's shell) and eval the result.
if [[ "${BASH_SOURCE[0]:-}" != "${0}" ]]; then
	__tollgate_services_out="$(bash "${BASH_SOURCE[0]}" "${1:-env}")" || {
		unset __tollgate_services_out
		return 1
	}
	eval "$__tollgate_services_out"
	unset __tollgate_services_out
	return 0
fi

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$ROOT/var"

PG_PROBE_PORT="${TOLLGATE_PG_PROBE_PORT:-5432}"
REDIS_PROBE_PORT="${TOLLGATE_REDIS_PROBE_PORT:-6379}"
PG_PORT="${TOLLGATE_PG_PORT:-55432}"
REDIS_PORT="${TOLLGATE_REDIS_PORT:-56379}"
PG_OS_USER="tollgate-pg"
DB_NAME="tollgate"
TEST_DB_NAME="tollgate_test"
TEST_REDIS_DB=15

export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}"

# Everything written to stdout by helpers/tools goes to stderr; the exports are
# written to fd 3 (the original stdout).
exec 3>&1 1>&2

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	printf 'services: error: %s\n' "$*" >&2
	exit 1
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# emit NAME VALUE — print a POSIX-shell-safe export line on the real stdout.
emit() {
	local v=${2//\'/\'\\\'\'}
	printf "export %s='%s'\n" "$1" "$v" >&3
}

# ---------------------------------------------------------------- installing --

APT_UPDATED=""
can_install() { is_root && [[ -z "${TOLLGATE_NO_INSTALL:-}" ]] && command -v apt-get >/dev/null 2>&1; }

# apt_install WHAT PKG... — install packages or die explaining what to install.
apt_install() {
	local what=$1
	shift
	if ! can_install; then
		local why="not running as root"
		is_root && why="TOLLGATE_NO_INSTALL is set"
		is_root && ! command -v apt-get >/dev/null 2>&1 && why="apt-get not found"
		die "$what not found ($why). Install it, e.g.: sudo apt-get install $* — or point the URL variable at an existing server."
	fi
	log "installing $* (for $what)"
	if [[ -z "$APT_UPDATED" ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "$@" >&2 ||
		die "apt-get install $* failed"
}

# ------------------------------------------------------------------- helpers --

# tcp_open HOST PORT — true if a TCP connection succeeds within 3s.
tcp_open() {
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# detached CMD... — run CMD (which starts a daemon) with stdin from /dev/null
# and every fd above 2 closed, so the daemon does not keep the caller's pipes
# open (e.g. the one `$(scripts/services.sh env)` reads, which would hang).
detached() {
	(
		local f fd
		for f in /proc/"$BASHPID"/fd/*; do
			fd=${f##*/}
			if [[ "$fd" =~ ^[0-9]+$ ]] && ((fd > 2)); then
				eval "exec $fd>&-" 2>/dev/null || true
			fi
		done
		"$@"
	) </dev/null
}

# --------------------------------------------------------------------- redis --

REDIS_CLI=""
find_redis_cli() {
	REDIS_CLI="$(command -v redis-cli 2>/dev/null || true)"
}

# redis_url_hostport URL — prints "host port" parsed from a redis:// URL.
redis_url_hostport() {
	local rest=${1#*://}
	rest=${rest%%/*}
	rest=${rest%%\?*}
	rest=${rest##*@}
	local host=${rest%:*} port=6379
	[[ "$rest" == *:* ]] && port=${rest##*:}
	host=${host#[}
	host=${host%]}
	[[ -n "$host" ]] || host=127.0.0.1
	printf '%s %s\n' "$host" "$port"
}

# redis_ping URL — true if the server at URL answers PONG.
redis_ping() {
	local url=$1
	if [[ -n "$REDIS_CLI" ]]; then
		[[ "$(timeout 5 "$REDIS_CLI" -u "$url" PING 2>/dev/null)" == PONG ]]
	else
		# No redis-cli: raw RESP inline command over bash's /dev/tcp (no AUTH/TLS).
		local host port
		read -r host port < <(redis_url_hostport "$url")
		timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
			printf "PING\r\n" >&3
			IFS= read -r line <&3 || exit 1
			[[ "$line" == "+PONG"* ]]' _ "$host" "$port" 2>/dev/null
	fi
}

# redis_with_db URL DB — the URL with its database number replaced by DB.
redis_with_db() {
	local url=$1 db=$2
	if [[ "$url" =~ ^(rediss?://[^/?]*)(/[^?]*)?(\?.*)?$ ]]; then
		printf '%s/%s%s\n' "${BASH_REMATCH[1]}" "$db" "${BASH_REMATCH[3]}"
	else
		die "cannot derive a test URL from REDIS_URL=$url (expected redis://host:port/db); set TEST_REDIS_URL"
	fi
}

redis_pidfile() { printf '%s\n' "$VAR/redis.pid"; }

# redis_private_pid — prints the pid of our private redis if it is running.
redis_private_pid() {
	local pf pid
	pf="$(redis_pidfile)"
	[[ -f "$pf" ]] || return 1
	pid="$(tr -dc '0-9' <"$pf")"
	[[ -n "$pid" ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'redis-server' || return 1
	printf '%s\n' "$pid"
}

start_private_redis() {
	local url="redis://127.0.0.1:$REDIS_PORT/0"
	local pid
	if pid="$(redis_private_pid)"; then
		if redis_ping "$url"; then
			local served_by=""
			if [[ -n "$REDIS_CLI" ]]; then
				served_by="$(timeout 5 "$REDIS_CLI" -u "$url" INFO server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')"
			fi
			if [[ -z "$served_by" || "$served_by" == "$pid" ]]; then
				log "reusing private Redis on 127.0.0.1:$REDIS_PORT (pid $pid)"
				REDIS_BASE_URL=$url
				return
			fi
		fi
		die "private Redis (pid $pid) is running but not answering on port $REDIS_PORT (was it started with another TOLLGATE_REDIS_PORT?); see $VAR/redis.log or run: scripts/services.sh stop"
	fi
	rm -f "$(redis_pidfile)"
	if tcp_open 127.0.0.1 "$REDIS_PORT"; then
		die "port $REDIS_PORT is in use by a process not started from $VAR; stop it, set REDIS_URL, or set TOLLGATE_REDIS_PORT"
	fi

	local server
	server="$(command -v redis-server 2>/dev/null || true)"
	if [[ -z "$server" ]]; then
		apt_install redis-server redis-server redis-tools
		server="$(command -v redis-server 2>/dev/null || true)"
		[[ -n "$server" ]] || die "redis-server still not found after installing"
		find_redis_cli
	fi

	mkdir -p "$VAR"
	log "starting private Redis on 127.0.0.1:$REDIS_PORT (dir $VAR)"
	detached "$server" --daemonize yes --port "$REDIS_PORT" --bind 127.0.0.1 \
		--dir "$VAR" --save "" --appendonly no \
		--pidfile "$(redis_pidfile)" --logfile "$VAR/redis.log" >&2 ||
		die "redis-server failed to start; see $VAR/redis.log"
	local i
	for ((i = 0; i < 100; i++)); do
		if redis_ping "$url"; then
			REDIS_BASE_URL=$url
			return
		fi
		sleep 0.1
	done
	die "private Redis did not answer on port $REDIS_PORT within 10s; see $VAR/redis.log"
}

# resolve_redis URLVAR — sets REDIS_BASE_URL.
REDIS_BASE_URL=""
resolve_redis() {
	local given_name=$1 given=${!1:-}
	find_redis_cli
	if [[ -z "$REDIS_CLI" ]] && can_install; then
		apt_install redis-cli redis-tools
		find_redis_cli
	fi
	if [[ -n "$given" ]]; then
		redis_ping "$given" || die "$given_name is set but Redis at it does not answer PING: $given"
		log "using Redis from $given_name"
		REDIS_BASE_URL=$given
		return
	fi
	local probe="redis://127.0.0.1:$REDIS_PROBE_PORT/0"
	if redis_ping "$probe"; then
		log "using Redis on 127.0.0.1:$REDIS_PROBE_PORT"
		REDIS_BASE_URL=$probe
		return
	fi
	start_private_redis
}

# ------------------------------------------------------------------ postgres --

PG_BIN=""     # directory holding server binaries (initdb, pg_ctl)
PSQL=""       # psql client
PG_ISREADY="" # pg_isready client (optional)

find_pg_client() {
	local d
	PSQL="$(command -v psql 2>/dev/null || true)"
	PG_ISREADY="$(command -v pg_isready 2>/dev/null || true)"
	if [[ -z "$PSQL" || -z "$PG_ISREADY" ]]; then
		for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
			[[ -z "$PSQL" && -x "$d/psql" ]] && PSQL="$d/psql"
			[[ -z "$PG_ISREADY" && -x "$d/pg_isready" ]] && PG_ISREADY="$d/pg_isready"
		done
	fi
	return 0
}

need_pg_client() {
	find_pg_client
	if [[ -z "$PSQL" ]]; then
		apt_install "psql (Postgres client)" postgresql-client
		find_pg_client
		[[ -n "$PSQL" ]] || die "psql still not found after installing postgresql-client"
	fi
}

# find_pg_server [MAJOR] — sets PG_BIN, preferring version MAJOR if given.
find_pg_server() {
	local want=${1:-} p
	PG_BIN=""
	if [[ -n "$want" && -x "/usr/lib/postgresql/$want/bin/pg_ctl" ]]; then
		PG_BIN="/usr/lib/postgresql/$want/bin"
		return 0
	fi
	p="$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 || true)"
	[[ -z "$p" ]] && p="$(command -v pg_ctl 2>/dev/null || true)"
	[[ -n "$p" ]] && PG_BIN="$(dirname "$p")"
	return 0
}

# pg_ok URL — true if `select 1` works at URL.
pg_ok() {
	[[ "$("$PSQL" -X -At -d "$1" -c 'select 1' 2>/dev/null)" == 1 ]]
}

# pg_answers HOST PORT — something speaking Postgres (or at least TCP) answers.
pg_answers() {
	if [[ -n "$PG_ISREADY" ]]; then
		# 0 = accepting, 1 = rejecting (e.g. starting up); 2 = no response.
		local rc=0
		"$PG_ISREADY" -q -h "$1" -p "$2" -t 3 || rc=$?
		[[ $rc == 0 || $rc == 1 ]]
	else
		tcp_open "$1" "$2"
	fi
}

# pg_with_db URL DB — the URL with its database name replaced by DB.
pg_with_db() {
	local url=$1 db=$2
	if [[ "$url" =~ ^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$ ]]; then
		printf '%s/%s%s\n' "${BASH_REMATCH[1]}" "$db" "${BASH_REMATCH[4]}"
	else
		die "cannot derive a database URL from '$url' (expected postgres://...); set TEST_DATABASE_URL"
	fi
}

# pg_can_createdb URL — true if the connected role may CREATE DATABASE.
pg_can_createdb() {
	[[ "$("$PSQL" -X -At -d "$1" -c 'select rolsuper or rolcreatedb from pg_roles where rolname = current_user' 2>/dev/null)" == t ]]
}

# pg_ensure_db ADMIN_URL DB — create database DB if missing, connecting via ADMIN_URL.
pg_ensure_db() {
	local admin=$1 db=$2 exists
	exists="$("$PSQL" -X -At -d "$admin" -c "select 1 from pg_database where datname = '$db'")" ||
		die "cannot query databases at $admin"
	[[ "$exists" == 1 ]] && return 0
	log "creating database $db"
	if ! "$PSQL" -X -q -d "$admin" -v ON_ERROR_STOP=1 -c "create database \"$db\"" >&2; then
		# Lost a race with a concurrent run?
		exists="$("$PSQL" -X -At -d "$admin" -c "select 1 from pg_database where datname = '$db'" || true)"
		[[ "$exists" == 1 ]] || die "could not create database $db (does the role have CREATEDB?)"
	fi
}

# Where the private cluster lives. Normally ./var/pg; when running as root the
# server runs as $PG_OS_USER, which must be able to reach the directory — if it
# cannot (e.g. the checkout is under /root), use /var/lib/tollgate-pg/<hash>.
PG_BASE=""
PG_DATA=""
PG_SOCK=""
PG_LOG=""
pg_layout() {
	PG_BASE=$VAR
	if is_root && [[ ! -f "$VAR/pg/PG_VERSION" ]] && id -u "$PG_OS_USER" >/dev/null 2>&1 &&
		[[ -d "$VAR" ]] && ! as_pg "$BASH" -c '[[ -x $1 ]]' _ "$VAR"; then
		PG_BASE="/var/lib/tollgate-pg/$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
	fi
	PG_DATA="$PG_BASE/pg"
	PG_SOCK="$PG_BASE/pgsock"
	PG_LOG="$PG_BASE/pg.log"
}

# as_pg CMD... — run CMD as the Postgres OS user (itself when not root).
as_pg() {
	if is_root; then
		if command -v runuser >/dev/null 2>&1; then
			(cd / && runuser -u "$PG_OS_USER" -- "$@")
		else
			(cd / && su -s /bin/sh "$PG_OS_USER" -c "$(printf '%q ' "$@")")
		fi
	else
		"$@"
	fi
}

ensure_pg_os_user() {
	is_root || return 0
	id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
	log "creating system user $PG_OS_USER (postgres refuses to run as root)"
	useradd -r -M -d /nonexistent -s /usr/sbin/nologin -c "tollgate private postgres" "$PG_OS_USER" ||
		die "could not create system user $PG_OS_USER"
}

pg_private_running() {
	[[ -f "$PG_DATA/postmaster.pid" && -n "$PG_BIN" ]] || return 1
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

start_private_pg() {
	local url="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
	mkdir -p "$VAR"
	ensure_pg_os_user
	pg_layout

	local want=""
	[[ -f "$PG_DATA/PG_VERSION" ]] && want="$(cat "$PG_DATA/PG_VERSION")"
	find_pg_server "$want"
	if [[ -z "$PG_BIN" ]]; then
		apt_install "Postgres server (initdb, pg_ctl)" postgresql
		find_pg_server "$want"
		[[ -n "$PG_BIN" ]] || die "pg_ctl still not found after installing postgresql"
	fi
	if [[ -n "$want" && "$PG_BIN" != "/usr/lib/postgresql/$want/bin" ]] &&
		[[ "$("$PG_BIN/pg_ctl" --version | grep -o '[0-9]\+' | head -n 1)" != "$want" ]]; then
		die "$PG_DATA was created by Postgres $want but only $("$PG_BIN/pg_ctl" --version) is available; install postgresql-$want or remove $PG_DATA"
	fi

	if pg_private_running; then
		local running_port
		running_port="$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9')"
		[[ "$running_port" == "$PG_PORT" ]] ||
			die "private Postgres in $PG_DATA is running on port ${running_port:-?}, not $PG_PORT; run: scripts/services.sh stop"
		pg_ok "$url" || die "private Postgres in $PG_DATA is running but not answering on port $PG_PORT; see $PG_LOG or run: scripts/services.sh stop"
		log "reusing private Postgres on 127.0.0.1:$PG_PORT ($PG_DATA)"
		PG_ADMIN_URL=$url
		return
	fi
	if pg_answers 127.0.0.1 "$PG_PORT"; then
		die "port $PG_PORT is in use by a server not running from $PG_DATA; stop it, set DATABASE_URL, or set TOLLGATE_PG_PORT"
	fi

	mkdir -p "$PG_BASE" "$PG_SOCK"
	touch "$PG_LOG"
	if is_root; then
		chown "$PG_OS_USER:" "$PG_SOCK" "$PG_LOG"
		[[ -d "$PG_DATA" ]] && chown -R "$PG_OS_USER:" "$PG_DATA"
	fi
	if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
		log "initialising private Postgres cluster in $PG_DATA"
		mkdir -p "$PG_DATA"
		chmod 700 "$PG_DATA"
		is_root && chown "$PG_OS_USER:" "$PG_DATA"
		as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C >"$PG_LOG.initdb" 2>&1 ||
			{
				cat "$PG_LOG.initdb" >&2
				die "initdb failed"
			}
		rm -f "$PG_LOG.initdb"
	fi
	log "starting private Postgres on 127.0.0.1:$PG_PORT ($PG_DATA)"
	detached as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" \
		-o "-p $PG_PORT -k '$PG_SOCK' -c listen_addresses=127.0.0.1" \
		-l "$PG_LOG" start -w -t 60 >&2 ||
		{
			tail -n 20 "$PG_LOG" >&2 || true
			die "private Postgres failed to start; see $PG_LOG"
		}
	pg_ok "$url" || die "private Postgres started but does not answer on port $PG_PORT; see $PG_LOG"
	PG_ADMIN_URL=$url
}

# resolve_pg MODE — sets PG_ADMIN_URL (a URL to an existing database on the
# chosen server, used to create ours) and PG_GIVEN_URL (if the user gave one).
PG_ADMIN_URL=""
PG_GIVEN_URL=""
resolve_pg() {
	local mode=$1 given_name="DATABASE_URL" given=${DATABASE_URL:-}
	if [[ "$mode" == test && -n "${TEST_DATABASE_URL:-}" ]]; then
		given_name=TEST_DATABASE_URL
		given=$TEST_DATABASE_URL
	fi
	need_pg_client

	if [[ -n "$given" ]]; then
		if ! pg_ok "$given"; then
			local detail=""
			[[ -n "$PG_ISREADY" ]] && detail=" ($("$PG_ISREADY" -d "$given" 2>&1 || true))"
			die "$given_name is set but Postgres does not answer 'select 1' at it$detail"
		fi
		log "using Postgres from $given_name"
		PG_GIVEN_URL=$given
		PG_ADMIN_URL=$given
		return
	fi

	if pg_answers 127.0.0.1 "$PG_PROBE_PORT"; then
		local user url seen=""
		for user in postgres "$(id -un)"; do
			[[ " $seen " == *" $user "* ]] && continue
			seen+=" $user"
			url="postgres://$user@127.0.0.1:$PG_PROBE_PORT/postgres?sslmode=disable"
			if pg_ok "$url" && pg_can_createdb "$url"; then
				log "using Postgres on 127.0.0.1:$PG_PROBE_PORT as role $user"
				PG_ADMIN_URL=$url
				return
			fi
		done
		log "warning: a server answers on 127.0.0.1:$PG_PROBE_PORT but neither role 'postgres' nor '$(id -un)' can log in without a password and create databases; falling back to a private cluster (set DATABASE_URL to use that server)"
	fi
	start_private_pg
}

# ---------------------------------------------------------------- secret key --

secret_key() {
	if [[ -n "${TOLLGATE_SECRET_KEY:-}" ]]; then
		printf '%s\n' "$TOLLGATE_SECRET_KEY"
		return
	fi
	local f="$VAR/secret.key" k
	if [[ -s "$f" ]]; then
		k="$(tr -d ' \t\r\n' <"$f")"
		[[ -n "$k" ]] || die "$f is empty"
		printf '%s\n' "$k"
		return
	fi
	mkdir -p "$VAR"
	k="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
	[[ ${#k} == 64 ]] || die "could not generate a secret key"
	(
		umask 077
		printf '%s\n' "$k" >"$f.tmp.$$"
	)
	chmod 600 "$f.tmp.$$"
	mv -f "$f.tmp.$$" "$f"
	log "generated a new secret key in $f"
	printf '%s\n' "$k"
}

# ---------------------------------------------------------------------- stop --

stop_private() {
	local stopped=0 pid
	if pid="$(redis_private_pid)"; then
		log "stopping private Redis (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && die "private Redis (pid $pid) did not stop"
		stopped=1
	fi
	rm -f "$(redis_pidfile)"

	pg_layout
	if [[ -f "$PG_DATA/postmaster.pid" ]]; then
		local want=""
		[[ -f "$PG_DATA/PG_VERSION" ]] && want="$(cat "$PG_DATA/PG_VERSION")"
		find_pg_server "$want"
		if pg_private_running; then
			log "stopping private Postgres ($PG_DATA)"
			as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" stop -m fast -w -t 60 >&2 || die "pg_ctl stop failed"
			stopped=1
		elif [[ -z "$PG_BIN" ]]; then
			# No pg_ctl available: signal the postmaster from its pid file.
			pid="$(head -n 1 "$PG_DATA/postmaster.pid" | tr -dc '0-9')"
			if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null &&
				tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$PG_DATA"; then
				log "stopping private Postgres (pid $pid)"
				kill -INT "$pid"
				stopped=1
			fi
		fi
	fi
	[[ $stopped == 1 ]] || log "no private servers running"
}

# ---------------------------------------------------------------------- main --

cd "$ROOT"
cmd="${1:-env}"
case "$cmd" in
env)
	resolve_pg env
	if [[ -n "$PG_GIVEN_URL" ]]; then
		db_url=$PG_GIVEN_URL
	else
		pg_ensure_db "$PG_ADMIN_URL" "$DB_NAME"
		db_url="$(pg_with_db "$PG_ADMIN_URL" "$DB_NAME")"
	fi
	resolve_redis REDIS_URL
	key="$(secret_key)"
	emit DATABASE_URL "$db_url"
	emit REDIS_URL "$REDIS_BASE_URL"
	emit TOLLGATE_SECRET_KEY "$key"
	;;
test-env)
	resolve_pg test
	if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
		test_db_url=$TEST_DATABASE_URL
	else
		pg_ensure_db "$PG_ADMIN_URL" "$TEST_DB_NAME"
		test_db_url="$(pg_with_db "$PG_ADMIN_URL" "$TEST_DB_NAME")"
	fi
	pg_can_createdb "$test_db_url" ||
		log "warning: the role in TEST_DATABASE_URL cannot CREATE DATABASE; tests that create their own databases will fail"
	if [[ -n "${TEST_REDIS_URL:-}" ]]; then
		resolve_redis TEST_REDIS_URL
		test_redis_url=$REDIS_BASE_URL
	else
		resolve_redis REDIS_URL
		test_redis_url="$(redis_with_db "$REDIS_BASE_URL" "$TEST_REDIS_DB")"
	fi
	key="$(secret_key)"
	emit TEST_DATABASE_URL "$test_db_url"
	emit TEST_REDIS_URL "$test_redis_url"
	emit TOLLGATE_SECRET_KEY "$key"
	;;
stop)
	stop_private
	;;
-h | --help | help)
	sed -n '3,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	;;
*)
	die "unknown command '$cmd' (expected env, test-env or stop)"
	;;
esac
