#!/usr/bin/env bash
# scripts/install-deps.sh — install the system tools the tests need, if missing,
# and the browser tests' Node packages (npm ci in portal/e2e).
#
# Idempotent and silent when everything is already present. Installs with
# apt-get when running as root (apt-get update runs at most once); otherwise,
# or when TOLLGATE_NO_INSTALL is set, prints what to install and exits 1.
set -euo pipefail

MISSING_PKGS=()
MISSING_CMDS=()

# need COMMAND PACKAGE... — PACKAGE(s) get installed unless COMMAND is on PATH.
need() {
	local cmd=$1
	shift
	command -v "$cmd" >/dev/null 2>&1 && return 0
	MISSING_CMDS+=("$cmd")
	MISSING_PKGS+=("$@")
}

# need_file FILE PACKAGE... — PACKAGE(s) get installed unless FILE exists.
need_file() {
	local file=$1
	shift
	[[ -e "$file" ]] && return 0
	MISSING_FILES+=("$file")
	MISSING_PKGS+=("$@")
}
MISSING_FILES=()

# ============================================================================
# Required packages: one `need <command> <debian package>...` line each.
# ----------------------------------------------------------------------------
need gcc gcc libc6-dev            # `go test -race` needs cgo and a C toolchain
need radclient freeradius-utils   # radclient / radtest for RADIUS tests
#
# Browser tests (portal/browser_test.go): Debian's Chromium driven by Node's
# playwright-core, which never downloads a browser of its own.
need chromium chromium
need node nodejs
need npm npm
#
# The FreeRADIUS import test (cmd/tollgate/import_e2e_test.go) loads FreeRADIUS's own
# PostgreSQL schema from its Debian package. The package's postinst starts no server
# where there is no init system, and a running one would not be in the tests' way (they
# use ports of their own).
need_file /etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql freeradius-postgresql
#
# --- add more packages here -------------------------------------------------
# ============================================================================

if ((${#MISSING_PKGS[@]})); then
	if [[ "$(id -u)" != 0 || -n "${TOLLGATE_NO_INSTALL:-}" ]] || ! command -v apt-get >/dev/null 2>&1; then
		{
			echo "install-deps: missing commands: ${MISSING_CMDS[*]} files: ${MISSING_FILES[*]}"
			echo "install-deps: install them with: sudo apt-get install --no-install-recommends ${MISSING_PKGS[*]}"
		} >&2
		exit 1
	fi

	echo "install-deps: installing ${MISSING_PKGS[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${MISSING_PKGS[@]}" >&2

	for cmd in "${MISSING_CMDS[@]}"; do
		command -v "$cmd" >/dev/null 2>&1 || {
			echo "install-deps: $cmd still missing after install" >&2
			exit 1
		}
	done
	for file in "${MISSING_FILES[@]}"; do
		[[ -e "$file" ]] || {
			echo "install-deps: $file still missing after install" >&2
			exit 1
		}
	done
fi

# Node packages of the browser tests, from portal/e2e/package-lock.json, whenever
# node_modules is missing or older than the lock file. They stay in portal/e2e
# (node_modules is git-ignored).
e2e="$(cd "$(dirname "${BASH_SOURCE[0]}")/../portal/e2e" && pwd)"
if [[ ! -f "$e2e/node_modules/.package-lock.json" || "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]]; then
	if [[ -n "${TOLLGATE_NO_INSTALL:-}" ]]; then
		echo "install-deps: browser test packages missing: run (cd portal/e2e && npm ci)" >&2
		exit 1
	fi
	echo "install-deps: npm ci in portal/e2e" >&2
	(cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
