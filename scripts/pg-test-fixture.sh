#!/bin/sh
# The PostgreSQL server the test suite's .pg tests share (ctest fixtures:
# tests/CMakeLists.txt): start writes scripts/pg-test-server.sh's SR_PG_*
# lines to ENVFILE (stopping a server an earlier run left there first);
# stop stops the server ENVFILE names and removes the file.
#
#   scripts/pg-test-fixture.sh start ENVFILE
#   scripts/pg-test-fixture.sh stop ENVFILE
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 2 ] || { echo "usage: pg-test-fixture.sh start|stop ENVFILE" >&2; exit 2; }
env_file=$2

stop_old() {
	[ -f "$env_file" ] || return 0
	dir=$(sed -n "s/^SR_PG_DIR='\(.*\)'$/\1/p" "$env_file")
	[ -z "$dir" ] || [ ! -d "$dir" ] || "$here/pg-test-server.sh" stop "$dir" || true
	rm -f "$env_file"
}

case "$1" in
start)
	stop_old
	mkdir -p "$(dirname "$env_file")"
	"$here/pg-test-server.sh" start >"$env_file.new"
	mv "$env_file.new" "$env_file"
	cat "$env_file"
	;;
stop) stop_old ;;
*) echo "usage: pg-test-fixture.sh start|stop ENVFILE" >&2; exit 2 ;;
esac
