#!/bin/sh
# Installs the Debian packages session-revoker needs to build, test and
# benchmark: the one list of everything the README commands, .ci/run and
# bench/ use beyond a minimal Debian (debootstrap --variant=minbase);
# scripts/fresh-root-check.sh proves it. Safe to run again: it only calls
# apt-get when something is missing. Then the npm tools pinned in tools/*/.
set -eu
pkgs="build-essential cmake pkg-config git curl ca-certificates openssl sqlite3
libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libjwt-dev libsqlite3-dev
libssl-dev libxml2-dev libcmocka-dev
python3 python3-botocore python3-jwt python3-cryptography python3-aiohttp python3-uvloop
python3-yaml"
[ "${SR_WITH_FUZZ:-0}" = 1 ] && pkgs="$pkgs clang libclang-rt-14-dev"
[ "${SR_WITH_BENCH:-0}" = 1 ] && pkgs="$pkgs nginx-light wrk time"
# the container image behind a load balancer (scripts/lb-test.sh)
[ "${SR_WITH_CONTAINERS:-0}" = 1 ] && pkgs="$pkgs podman runc debootstrap haproxy"
# unshare and mount: the full-disk test mounts a small tmpfs in its own namespace
pkgs="$pkgs util-linux mount"
# npm, for the npm tools in tools/<name>/ (package.json + package-lock.json),
# unless the machine has Node.js and npm already (NodeSource's nodejs ships its
# own npm and conflicts with Debian's)
command -v npm >/dev/null || pkgs="$pkgs nodejs npm"
# promtool (Debian ships it in prometheus): test_metrics.py checks a live
# /metrics and deploy/prometheus/alerts.yml with it
pkgs="$pkgs prometheus"
# PostgreSQL (issue 11, in progress): the server scripts/pg-test-server.sh
# starts for the tests, psql, and libpq for the PostgreSQL store to come
pkgs="$pkgs postgresql postgresql-client libpq-dev"
# psycopg2: the integration tests' harness reads the store on PostgreSQL too
# (the .pg variants, SR_TEST_STORE=postgres)
pkgs="$pkgs python3-psycopg2"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { echo "install-deps.sh: missing:$missing (run as root, or install sudo)" >&2; exit 1; }
		sudo=sudo
	fi
	echo "installing:$missing" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# npm tools, each pinned in its own folder (package.json + package-lock.json):
# `npm ci` when node_modules is missing or older than the lock file.
cd "$(dirname "$0")/.."
for lock in tools/*/package-lock.json; do
	[ -f "$lock" ] || continue
	dir=$(dirname "$lock")
	if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$lock" -nt "$dir/node_modules/.package-lock.json" ]; then
		echo "npm ci in $dir" >&2
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	fi
done
