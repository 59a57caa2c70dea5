#!/bin/sh
# docker/postgres/Dockerfile's entrypoint: makes the cluster in $PGDATA on
# first start, then runs PostgreSQL as the postgres user (exec: it is PID 1
# and gets the stop signal itself).
#
# First start (no $PGDATA/PG_VERSION): initdb; a self-signed TLS key and
# certificate for this volume; listen on every address, TLS on, and only
# TLS connections with a SCRAM password from the network (hostssl); the role
# $SR_PG_USER (login, no superuser) with the first line of
# $SR_PG_PASSWORD_FILE as its password, owning the database $SR_PG_DATABASE.
# The password goes to psql on its standard input, never on a command line.
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
data=${PGDATA:-/var/lib/postgresql/data}
port=${SR_PG_PORT:-5432}
user=${SR_PG_USER:-session_revoker}
db=${SR_PG_DATABASE:-session_revoker}
pwfile=${SR_PG_PASSWORD_FILE:-/run/secrets/pg-password}
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

if [ "$(id -u)" -ne 0 ]; then
	echo "session-revoker-postgres: start as root (it reads the secret, then runs as postgres)" >&2
	exit 1
fi
install -d -m 0700 -o postgres -g postgres "$data"
if [ ! -s "$data/PG_VERSION" ]; then
	[ -r "$pwfile" ] && [ -s "$pwfile" ] || {
		echo "session-revoker-postgres: no password in $pwfile (SR_PG_PASSWORD_FILE)" >&2
		exit 1
	}
	case "$user$db" in *[!a-z0-9_]*)
		echo "session-revoker-postgres: SR_PG_USER and SR_PG_DATABASE: a-z, 0-9 and _ only" >&2
		exit 1 ;;
	esac
	as_pg "$bin/initdb" -D "$data" -U postgres --auth-local=peer --auth-host=reject \
		-E UTF8 --locale=C >/dev/null
	as_pg openssl req -new -x509 -days 3650 -nodes -subj "/CN=postgres" \
		-newkey rsa:2048 -keyout "$data/server.key" -out "$data/server.crt" 2>/dev/null
	chmod 0600 "$data/server.key"
	cat >>"$data/postgresql.conf" <<-CONF
		# docker/postgres/entrypoint.sh
		listen_addresses = '*'
		port = $port
		unix_socket_directories = '/tmp'
		ssl = on
		ssl_cert_file = 'server.crt'
		ssl_key_file = 'server.key'
		password_encryption = 'scram-sha-256'
	CONF
	printf '%s\n' "local all postgres peer" \
		"hostssl all all 0.0.0.0/0 scram-sha-256" "hostssl all all ::/0 scram-sha-256" \
		>"$data/pg_hba.conf"
	as_pg "$bin/pg_ctl" -D "$data" -o "-c listen_addresses=''" -w -t 60 start >/dev/null
	# the password as an SQL literal (' doubled), on psql's standard input
	pw=$(head -n 1 "$pwfile" | tr -d '\r' | sed "s/'/''/g")
	printf "CREATE ROLE %s LOGIN PASSWORD '%s';\nCREATE DATABASE %s OWNER %s;\n" \
		"$user" "$pw" "$db" "$user" |
		as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h /tmp -p "$port" -U postgres -d postgres
	pw=""
	as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
	echo "session-revoker-postgres: made the cluster, role $user, database $db" >&2
fi
# Arguments go to postgres (e.g. -c listen_addresses=127.0.0.1).
exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$bin/postgres" -D "$data" "$@"
