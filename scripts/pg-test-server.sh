#!/bin/sh
# A throwaway PostgreSQL for tests, from Debian's postgresql package.
#
#   eval "$(scripts/pg-test-server.sh start)"    # prints SR_PG_* lines (below)
#   psql "$SR_PG_URL" -c 'SELECT 1'
#   scripts/pg-test-server.sh stop "$SR_PG_DIR"
#
# start makes a private directory under ${TMPDIR:-/tmp} (data directory, log,
# unix socket), runs initdb and the server as an unprivileged user (as root:
# the `postgres` user the package makes, or SR_PG_USER; otherwise the caller),
# listens on 127.0.0.1 on a free port (or SR_PG_PORT) and on a socket in that
# directory, trusts local connections only (pg_hba: the socket and 127.0.0.1),
# and creates the database session_revoker owned by the superuser sr. It
# prints, one per line, shell assignments:
#   SR_PG_URL         postgres://sr@127.0.0.1:PORT/session_revoker
#   SR_PG_DIR         the private directory (what stop takes)
#   SR_PG_DATA        the data directory
#   SR_PG_SOCKET_DIR  the socket directory
#   SR_PG_PORT        the port
# stop DIR stops that server (fast shutdown) and removes DIR; it takes the
# directory start printed (or its data directory) and refuses any other.
# down DIR [fast|immediate] stops the server and keeps its data (immediate:
# as a crash, no checkpoint); up DIR starts it again on the same port;
# restart DIR [fast|immediate] is down then up (what a failover looks like
# to a client: every connection dropped, the same address back).
# The server binaries: the newest /usr/lib/postgresql/<version>/bin, or
# SR_PG_BINDIR.
# SR_PG_TLS=1: the server also speaks TLS, with a certificate for 127.0.0.1
# and localhost from a throwaway CA (printed as SR_PG_CA, the CA's PEM file).
# SR_PG_PASSWORD=...: TCP connections must then give it (scram-sha-256); the
# socket stays trusted for the script itself.
set -eu
MARK=.sr-pg-test-server

die() { echo "pg-test-server.sh: $*" >&2; exit 1; }

bindir() {
	if [ -n "${SR_PG_BINDIR:-}" ]; then
		echo "$SR_PG_BINDIR"
		return
	fi
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] || die "no /usr/lib/postgresql/<version>/bin (install Debian's postgresql: scripts/install-deps.sh)"
	echo "$d"
}

# as_user CMD...: runs CMD as the unprivileged user (root switches with
# setpriv, which needs no PAM session; anyone else runs it as themselves).
as_user() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid="$run_user" --regid="$run_user" --init-groups --reset-env -- "$@"
	else
		"$@"
	fi
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# tls DIR: a CA and a server certificate (127.0.0.1, localhost) in DIR/tls,
# and the server configured to use them.
tls() {
	t=$1/tls
	mkdir -p "$t"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sr-pg-test-ca" \
		-keyout "$t/ca.key" -out "$t/ca.pem" >/dev/null 2>&1 &&
		openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
			-keyout "$t/server.key" -out "$t/server.csr" >/dev/null 2>&1 &&
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$t/ext.cnf" &&
		openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" \
			-CAcreateserial -days 2 -extfile "$t/ext.cnf" -out "$t/server.pem" >/dev/null 2>&1 ||
		return 1
	chmod 600 "$t/server.key"
	[ "$(id -u)" -ne 0 ] || chown -R "$run_user" "$t"
	cat >>"$1/data/postgresql.conf" <<-EOF
		ssl = on
		ssl_cert_file = '$t/server.pem'
		ssl_key_file = '$t/server.key'
	EOF
}

start() {
	bin=$(bindir)
	[ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] || die "no initdb/pg_ctl in $bin"
	run_user=$(id -un)
	if [ "$(id -u)" -eq 0 ]; then
		run_user=${SR_PG_USER:-postgres}
		id -u "$run_user" >/dev/null 2>&1 || die "running as root and there is no user '$run_user' to run PostgreSQL as (set SR_PG_USER)"
		[ "$(id -u "$run_user")" -ne 0 ] || die "SR_PG_USER must not be root: PostgreSQL refuses to run as root"
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/sr-pg.XXXXXX")
	: >"$dir/$MARK"
	[ "$(id -u)" -ne 0 ] || chown -R "$run_user" "$dir"
	chmod 700 "$dir"
	cd "$dir"
	as_user test -w "$dir" || { rm -rf "$dir"; die "user '$run_user' cannot write $dir (set TMPDIR to a directory it can reach)"; }
	if ! as_user "$bin/initdb" -D "$dir/data" -U sr --auth=trust -E UTF8 --locale=C --no-sync \
		>"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		rm -rf "$dir"
		die "initdb failed"
	fi
	# trust, and only for the socket and the loopback address
	tcp_auth=trust
	[ -z "${SR_PG_PASSWORD:-}" ] || tcp_auth=scram-sha-256
	printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 $tcp_auth" >"$dir/data/pg_hba.conf"
	if [ "${SR_PG_TLS:-0}" = 1 ]; then
		tls "$dir" || { rm -rf "$dir"; die "could not make the TLS certificate"; }
	fi
	tries=0
	while :; do
		port=${SR_PG_PORT:-$(free_port)}
		cat >>"$dir/data/postgresql.conf" <<-EOF
			# pg-test-server.sh
			listen_addresses = '127.0.0.1'
			port = $port
			unix_socket_directories = '$dir'
			max_connections = 50
			shared_buffers = 16MB
		EOF
		if as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start >/dev/null 2>&1; then
			break
		fi
		tries=$((tries + 1))
		# another process may have taken the port between free_port and bind
		if [ -z "${SR_PG_PORT:-}" ] && [ "$tries" -lt 3 ] &&
			grep -q "could not bind\|could not create any TCP/IP sockets" "$dir/postgres.log"; then
			continue
		fi
		cat "$dir/postgres.log" >&2
		rm -rf "$dir"
		die "the server did not start"
	done
	if ! as_user "$bin/psql" -X -q -h "$dir" -p "$port" -U sr -d postgres \
		-c "CREATE DATABASE session_revoker" >/dev/null; then
		as_user "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$dir"
		die "CREATE DATABASE failed"
	fi
	if [ -n "${SR_PG_PASSWORD:-}" ]; then
		printf "ALTER ROLE sr PASSWORD '%s'\n" "$(printf %s "$SR_PG_PASSWORD" | sed "s/'/''/g")" |
			as_user "$bin/psql" -X -q -h "$dir" -p "$port" -U sr -d postgres >/dev/null ||
			die "could not set the password"
	fi
	[ "${SR_PG_TLS:-0}" != 1 ] || echo "SR_PG_CA='$dir/tls/ca.pem'"
	echo "SR_PG_URL='postgres://sr@127.0.0.1:$port/session_revoker'"
	echo "SR_PG_DIR='$dir'"
	echo "SR_PG_DATA='$dir/data'"
	echo "SR_PG_SOCKET_DIR='$dir'"
	echo "SR_PG_PORT='$port'"
}

# ours DIR: sets dir (start's directory, also from its data directory), bin
# and run_user, or dies.
ours() {
	dir=$1
	[ -f "$dir/$MARK" ] || { [ -f "$dir/../$MARK" ] && dir=$(dirname "$dir"); } ||
		die "$dir is not a directory pg-test-server.sh start made"
	[ -f "$dir/$MARK" ] || die "$dir is not a directory pg-test-server.sh start made"
	bin=$(bindir)
	run_user=$(stat -c %U "$dir/data" 2>/dev/null || id -un)
}

down() {
	[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: pg-test-server.sh down DIR [fast|immediate]"
	ours "$1"
	mode=${2:-fast}
	case "$mode" in fast | immediate) ;; *) die "down: the mode is fast or immediate, not $mode" ;; esac
	cd "$dir"
	as_user "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w -t 30 stop >/dev/null ||
		die "the server did not stop"
}

up() {
	[ $# -eq 1 ] || die "usage: pg-test-server.sh up DIR"
	ours "$1"
	cd "$dir"
	as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
		{ tail -n 20 "$dir/postgres.log" >&2; die "the server did not start again"; }
}

stop() {
	[ $# -eq 1 ] || die "usage: pg-test-server.sh stop DIR"
	ours "$1"
	cd "$dir"
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_user "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			as_user "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	cd /
	rm -rf "$dir"
}

case "${1:-}" in
start) shift; [ $# -eq 0 ] || die "usage: pg-test-server.sh start"; start ;;
stop) shift; stop "$@" ;;
down) shift; down "$@" ;;
up) shift; up "$@" ;;
restart) shift; down "$@"; up "$1" ;;
*) die "usage: pg-test-server.sh start | stop DIR | down DIR [fast|immediate] | up DIR | restart DIR [fast|immediate]" ;;
esac
