#!/bin/sh
# bench/ingest: how fast session-revoker records what it is sent, every 2xx
# durable (synchronous=FULL commit before the answer), with p50/p99 latency,
# side by side in the same run with nginx answering a fixed status to the
# same requests on the same machine: the ceiling any HTTP service reaches
# here. Two workloads:
#   documents (default): RS256-signed revocation POSTs (bench/ingest/post.lua)
#   --auth0: Auth0 log stream batches of 100 events, 5 of them matching a
#     rule, every log_id new (bench/ingest/auth0.lua), to POST
#     /v1/events/auth0 with the static Authorization value of
#     sources.auth0.authorization_file, then with a JWT (events:write);
#     nginx answers the same batches with a fixed 200.
#   --all: both.
# The store (--store): sqlite (default: a file in the work directory),
# postgres (a throwaway server from scripts/pg-test-server.sh, Debian's
# defaults: fsync and synchronous_commit on; stopped afterwards), or both:
# every service run once on each, in the same invocation, beside one nginx
# run. Each service run on PostgreSQL gets a fresh database.
#
# usage: bench/ingest/run.sh [--documents|--auth0|--all] [--store sqlite|postgres|both]
#                            [seconds per run (15)] [connections (64)]
# env: WRK_THREADS (2), SR_BENCH_PORT (18080), NGINX_BENCH_PORT (18081),
#      SR_BENCH_KEEP=1 keeps the work directory (wrk outputs, database, logs),
#      SR_BENCH_BINARY: another session-revoker to measure (e.g. an older
#      build, for a before/after), instead of build-bench's,
#      SR_BENCH_LOG_LEVEL=debug: the store.batch lines (writes per commit,
#      commit time) in its sr.err, summed up after each service run,
#      SR_BENCH_PG_STATEMENTS=1: pg_stat_statements loaded in the server, and
#      each PostgreSQL run's statements (calls, mean time, share) printed
set -eu
cd "$(dirname "$0")/../.."
mode=documents
stores=sqlite
usage() {
	echo "usage: $0 [--documents|--auth0|--all] [--store sqlite|postgres|both] [seconds] [connections]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--documents) mode=documents; shift ;;
	--auth0) mode=auth0; shift ;;
	--all) mode=all; shift ;;
	--store=*) v=${1#--store=}; shift; set -- --store "$v" "$@" ;;
	--store)
		[ $# -ge 2 ] || usage
		case "$2" in
		sqlite) stores=sqlite ;;
		postgres) stores=postgres ;;
		both) stores="sqlite postgres" ;;
		*) echo "$0: --store is sqlite, postgres or both, not '$2'" >&2; exit 2 ;;
		esac
		shift 2 ;;
	--*) usage ;;
	*) break ;;
	esac
done
secs=${1:-15}
conns=${2:-64}
threads=${WRK_THREADS:-2}
SR_WITH_BENCH=1 ./scripts/install-deps.sh
BUILD_DIR=build-bench BUILD_TYPE=Release ./scripts/build.sh >/dev/null
bin=${SR_BENCH_BINARY:-$PWD/build-bench/session-revoker}
work=$(mktemp -d /tmp/sr-bench-ingest.XXXXXX)
sr_port=${SR_BENCH_PORT:-18080}
nginx_port=${NGINX_BENCH_PORT:-18081}
nginx_pid=""
sr_pid=""
pg_dir=""
failed=0
cleanup() {
	[ -n "$sr_pid" ] && kill "$sr_pid" 2>/dev/null || true
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	[ -n "$pg_dir" ] && ./scripts/pg-test-server.sh stop "$pg_dir" || true
	if [ "${SR_BENCH_KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

# --- PostgreSQL (--store postgres|both) --------------------------------------
case "$stores" in
*postgres*)
	eval "$(./scripts/pg-test-server.sh start)"
	pg_dir=$SR_PG_DIR
	# where the socket is: psql below talks to it as the superuser sr
	pg_admin="postgresql://sr@/postgres?host=$SR_PG_SOCKET_DIR&port=$SR_PG_PORT"
	pg_version=$(psql -X -qAt "$pg_admin" -c "SHOW server_version")
	if [ "${SR_BENCH_PG_STATEMENTS:-0}" = 1 ]; then
		psql -X -q "$pg_admin" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
		./scripts/pg-test-server.sh restart "$pg_dir"
	fi
	;;
esac

# --- nginx answering a fixed 202 (documents) or 200 (Auth0 batches) --------
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      default_type application/json;
      return 202 '{"id":"00000000-0000-4000-8000-000000000000","state":"pending"}';
    }
    location = /v1/events/auth0 {
      default_type application/json;
      return 200 '{"source":"auth0","received":100}';
    }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" &
nginx_pid=$!

# --- session-revoker ---------------------------------------------------------
# documents: as it always was (no account, so no job rows). auth0: one account
# (each revocation gets its apply job row in the same transaction, as in a
# real deployment) with jobs.workers 0 (record only: no AWS here), and the
# rule the bench's batches match 5 times each. The store's field comes from
# use_store (below); write_configs writes the three configs with it.
store_json="{\"path\": \"$work/bench.db\"}"
write_configs() {
	cat > "$work/documents.json" <<CONF
{
  "listen": {"address": "127.0.0.1", "port": $sr_port},
  "store": $store_json,
  "log": {"level": "${SR_BENCH_LOG_LEVEL:-warn}"},
  "development": {"signing_key_file": "$work/dev-key.pem"}
}
CONF
	auth0_config "$work/auth0-secret.json" "$work/auth0-authorization"
	auth0_config "$work/auth0-jwt.json" ""
}
auth0_config() { # file authorization_file-or-empty
	af=""
	[ -n "$2" ] && af="\"authorization_file\": \"$2\","
	cat > "$1" <<CONF
{
  "listen": {"address": "127.0.0.1", "port": $sr_port},
  "store": $store_json,
  "log": {"level": "${SR_BENCH_LOG_LEVEL:-warn}"},
  "development": {"signing_key_file": "$work/dev-key.pem"},
  "aws": {"accounts": [{"id": "111111111111", "role_name": "SessionRevokerAdmin"}]},
  "jobs": {"workers": 0},
  "sources": {"auth0": {$af
    "rules": [{"name": "bench", "on": ["user_blocked"], "groups": ["team_opsec"]}]}}
}
CONF
}
auth0_secret="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$auth0_secret" > "$work/auth0-authorization"
write_configs

# use_store sqlite|postgres TAG: the store the next service runs use; on
# PostgreSQL a fresh database (bench_TAG) each time.
store=sqlite
pg_db=""
use_store() {
	store=$1
	case "$store" in
	sqlite) store_json="{\"path\": \"$work/bench.db\"}" ;;
	postgres)
		pg_db=bench_$2
		psql -X -q "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null
		[ "${SR_BENCH_PG_STATEMENTS:-0}" != 1 ] || sql "CREATE EXTENSION pg_stat_statements" >/dev/null
		store_json="{\"url\": \"postgres://sr@127.0.0.1:$SR_PG_PORT/$pg_db\"}"
		;;
	esac
	write_configs
}
store_label() { case "$1" in sqlite) echo SQLite ;; postgres) echo PostgreSQL ;; esac; }

start_service() { # config
	: > "$work/sr.err.run"
	"$bin" serve --config "$1" >> "$work/sr.out" 2>> "$work/sr.err.run" &
	sr_pid=$!
	for _ in $(seq 50); do
		curl -fsS "http://127.0.0.1:$sr_port/healthz" >/dev/null 2>&1 && \
		curl -fsS "http://127.0.0.1:$nginx_port/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "the service did not start: $(tail -3 "$work/sr.err.run")" >&2
	exit 1
}
stop_service() { # [name]: the run's store.batch lines summed up in $work/name.batch
	kill "$sr_pid"; wait "$sr_pid" 2>/dev/null || true; sr_pid=""
	[ -z "${1:-}" ] || awk '/store.batch/ {
		for (i = 1; i <= NF; i++) { split($i, kv, "=");
			if (kv[1] ~ /writes$/) w += kv[2]; if (kv[1] ~ /commit_us$/) c += kv[2];
			else if (kv[1] ~ /us$/) u += kv[2] }
		n++ }
		END { if (n) printf "store.batch: %d transactions, %.1f writes each, %.0f us each (%.0f us of it the COMMIT)\n",
			n, w / n, u / n, c / n }' "$work/sr.err.run" > "$work/$1.batch"
	cat "$work/sr.err.run" >> "$work/sr.err"
	if [ -n "${1:-}" ] && [ "$store" = postgres ] && [ "${SR_BENCH_PG_STATEMENTS:-0}" = 1 ]; then
		# per statement since the last reset: calls, mean ms, share of the time
		sql "SELECT calls, round(mean_exec_time::numeric, 3),
			round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1),
			left(regexp_replace(query, '\s+', ' ', 'g'), 90)
			FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database
			WHERE datname = current_database()) ORDER BY calls DESC LIMIT 12" \
			> "$work/$1.statements"
		sql "SELECT pg_stat_statements_reset()" >/dev/null
	fi
}
pg_pids() { # the postmaster and its children (backends, WAL writer, ...)
	[ "$store" = postgres ] || return 0
	pm=$(head -n1 "$SR_PG_DATA/postmaster.pid" 2>/dev/null) || return 0
	echo "$pm $(cat "/proc/$pm/task/$pm/children" 2>/dev/null)"
}
cpu_ticks() { # pid... -> utime+stime in clock ticks, summed
	for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done |
		awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}
nginx_workers() { cat "/proc/$nginx_pid/task/$nginx_pid/children" 2>/dev/null || true; }

run() { # name port path script -> wrk output in $work/$name.txt, CPU in $work/$name.cpu
	case "$2" in
	"$sr_port") pids=$sr_pid ;;
	*) pids="$nginx_pid $(nginx_workers)" ;;
	esac
	pgp=""
	[ "$2" != "$sr_port" ] || pgp=$(pg_pids)
	[ -z "$pgp" ] || [ "${SR_BENCH_PG_STATEMENTS:-0}" != 1 ] ||
		sql "SELECT pg_stat_statements_reset()" >/dev/null
	t0=$(cpu_ticks $pids)
	g0=$(cpu_ticks $pgp)
	/usr/bin/time -f '%U %S' -o "$work/$1.wrkcpu" \
		wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$4" \
		"http://127.0.0.1:$2$3" > "$work/$1.txt"
	t1=$(cpu_ticks $pids)
	g1=$(cpu_ticks $pgp)
	awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v s="$secs" '
		{ printf "%.2f %.2f\n", (b - a) / hz / s, ($1 + $2) / s }' "$work/$1.wrkcpu" \
		> "$work/$1.cpu"
	# third column: the PostgreSQL server's CPU (its processes there at the start)
	awk -v a="$g0" -v b="$g1" -v hz="$(getconf CLK_TCK)" -v s="$secs" \
		'{ printf "%s %s %.2f\n", $1, $2, (b - a) / hz / s }' "$work/$1.cpu" > "$work/$1.cpu2"
	mv "$work/$1.cpu2" "$work/$1.cpu"
}
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
pct() { # file percentile -> milliseconds
	awk -v p="$2" '$1 == p { v = $2;
		if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v) }
		else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
		printf "%.2f", v }' "$1"
}
total() { awk '/requests in/ {print $1}' "$1"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ {print $5}' "$1"; }
or0() { v=$(cat); echo "${v:-0}"; }
sockerr() { awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$1"; }
sql() {
	case "$store" in
	sqlite) sqlite3 "$work/bench.db" "$1" ;;
	postgres) psql -X -qAt "postgresql://sr@/$pg_db?host=$SR_PG_SOCKET_DIR&port=$SR_PG_PORT" -c "$1" ;;
	esac
}
cpu_of() { # name -> "server / wrk[ / postgres]" cores
	awk -v pg="$([ "${2:-}" = postgres ] && echo 1)" '{ if (pg) printf "%s / %s / %s", $1, $2, $3;
		else printf "%s / %s", $1, $2 }' "$work/$1.cpu"
}

echo "machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
[ -z "${pg_version:-}" ] || echo "PostgreSQL $pg_version (scripts/pg-test-server.sh: fsync on, synchronous_commit on, shared_buffers 16MB)"

# --- documents: POST /v1/revocations ---------------------------------------
bench_documents() {
	SR_BENCH_TOKEN=$("$bin" token --config "$work/documents.json" --scope revocations:write \
		--ttl 3600)
	export SR_BENCH_TOKEN
	# warm nginx up briefly, then measure it and the service on each store in the same run
	wrk -t1 -c4 -d1s -s bench/ingest/post.lua "http://127.0.0.1:$nginx_port/v1/revocations" >/dev/null
	run nginx "$nginx_port" /v1/revocations bench/ingest/post.lua
	: > "$work/documents.durability"
	for s in $stores; do
		use_store "$s" "documents_$(date -u +%H%M%S)"
		start_service "$work/documents.json"
		wrk -t1 -c4 -d1s -s bench/ingest/post.lua "http://127.0.0.1:$sr_port/v1/revocations" >/dev/null
		before=$(sql "SELECT count(*) FROM revocations")
		run "service-$s" "$sr_port" /v1/revocations bench/ingest/post.lua
		stop_service "service-$s"
		after=$(sql "SELECT count(*) FROM revocations")
		n_total=$(total "$work/service-$s.txt")
		n_bad=$(non2xx "$work/service-$s.txt"); n_bad=${n_bad:-0}
		echo "$s $((n_total - n_bad)) $((after - before))" >> "$work/documents.durability"
	done
	nginx_rps=$(rps "$work/nginx.txt")

	echo "run: wrk -t$threads -c$conns -d${secs}s, POST /v1/revocations (RS256 Bearer token, 86-byte JSON document)"
	printf '| server | requests/s | p50 ms | p99 ms | non-2xx | CPU cores: server / wrk (/ PostgreSQL) |\n'
	printf '|---|---|---|---|---|---|\n'
	printf '| nginx fixed 202 | %s | %s | %s | %s | %s |\n' "$nginx_rps" "$(pct "$work/nginx.txt" 50%)" \
		"$(pct "$work/nginx.txt" 99%)" "$(non2xx "$work/nginx.txt" | or0)" "$(cpu_of nginx)"
	for s in $stores; do
		f=$work/service-$s.txt
		printf '| session-revoker, %s | %s | %s | %s | %s | %s |\n' "$(store_label "$s")" \
			"$(rps "$f")" "$(pct "$f" 50%)" "$(pct "$f" 99%)" "$(non2xx "$f" | or0)" \
			"$(cpu_of "service-$s" "$s")"
	done
	for s in $stores; do
		echo "ratio session-revoker ($(store_label "$s")) / nginx:" \
			"$(awk -v a="$(rps "$work/service-$s.txt")" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')"
	done
	[ "$stores" != "sqlite postgres" ] || echo "ratio PostgreSQL / SQLite:" \
		"$(awk -v a="$(rps "$work/service-postgres.txt")" -v b="$(rps "$work/service-sqlite.txt")" \
			'BEGIN { printf "%.2f", a / b }')"
	while read -r s n_ok stored; do
		echo "durability ($(store_label "$s")): $n_ok answered 2xx, $stored rows committed"
		[ ! -s "$work/service-$s.batch" ] || echo "  $(cat "$work/service-$s.batch")"
		[ ! -s "$work/service-$s.statements" ] || { echo "  pg_stat_statements (calls|mean ms|% of time|statement):";
			sed 's/^/    /' "$work/service-$s.statements"; }
		if [ "$stored" -lt "$n_ok" ]; then
			echo "FAIL: $(store_label "$s"): fewer rows than 202 answers" >&2
			failed=1
		fi
	done < "$work/documents.durability"
}

# --- Auth0 log stream batches: POST /v1/events/auth0 --------------------------
per_batch=100
matching=5
auth0_row() { # label name [store] -> one table row
	f="$work/$2.txt"
	b=$(rps "$f")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$b" \
		"$(awk -v b="$b" -v n="$per_batch" 'BEGIN { printf "%.0f", b * n }')" \
		"$(pct "$f" 50%)" "$(pct "$f" 99%)" \
		"$(non2xx "$f" | or0)" "$(sockerr "$f" | or0)" \
		"$(cpu_of "$2" "${3:-}")"
}
auth0_service_run() { # name config authorization-value run-id
	start_service "$2"
	SR_BENCH_AUTHORIZATION=$3 SR_BENCH_RUN=${4}0 wrk -t1 -c4 -d1s -s bench/ingest/auth0.lua \
		"http://127.0.0.1:$sr_port/v1/events/auth0" >/dev/null
	before=$(sql "SELECT count(*) FROM revocations WHERE source = 'auth0'")
	SR_BENCH_AUTHORIZATION=$3 SR_BENCH_RUN=${4}1 \
		run "$1" "$sr_port" /v1/events/auth0 bench/ingest/auth0.lua
	stop_service "$1"
	n_total=$(total "$work/$1.txt")
	n_bad=$(non2xx "$work/$1.txt"); n_bad=${n_bad:-0}
	n_ok=$((n_total - n_bad))
	after=$(sql "SELECT count(*) FROM revocations WHERE source = 'auth0'")
	distinct=$(sql "SELECT count(DISTINCT source_event_id) FROM revocations WHERE source = 'auth0'")
	stored=$((after - before))
	echo "$1 $n_ok $stored $after $distinct" >> "$work/durability"
}
bench_auth0() {
	stamp=$(date -u +%Y%m%d%H%M%S)
	SR_BENCH_TOKEN=$("$bin" token --config "$work/auth0-jwt.json" --scope events:write \
		--ttl 3600)
	SR_BENCH_AUTHORIZATION="$auth0_secret" SR_BENCH_RUN=${stamp}0 \
		wrk -t1 -c4 -d1s -s bench/ingest/auth0.lua \
		"http://127.0.0.1:$nginx_port/v1/events/auth0" >/dev/null
	SR_BENCH_AUTHORIZATION="$auth0_secret" SR_BENCH_RUN=${stamp}1 \
		run auth0-nginx "$nginx_port" /v1/events/auth0 bench/ingest/auth0.lua
	: > "$work/durability"
	k=2
	for s in $stores; do
		use_store "$s" "auth0_$stamp"
		auth0_service_run "auth0-secret-$s" "$work/auth0-secret.json" "$auth0_secret" "${stamp}$k"
		auth0_service_run "auth0-jwt-$s" "$work/auth0-jwt.json" "Bearer $SR_BENCH_TOKEN" "${stamp}$((k + 1))"
		k=$((k + 2))
	done

	nginx_b=$(rps "$work/auth0-nginx.txt")
	echo "run: wrk -t$threads -c$conns -d${secs}s, POST /v1/events/auth0, JSON array of $per_batch" \
		"Auth0 log records (about 81 KB), $matching matching the rule, every log_id new"
	printf '| server | batches/s | events/s | p50 ms | p99 ms | non-2xx | socket errors | CPU cores: server / wrk (/ PostgreSQL) |\n'
	printf '|---|---|---|---|---|---|---|---|\n'
	auth0_row "nginx fixed 200" auth0-nginx
	for s in $stores; do
		auth0_row "session-revoker, $(store_label "$s"), authorization_file" "auth0-secret-$s" "$s"
		auth0_row "session-revoker, $(store_label "$s"), JWT (events:write)" "auth0-jwt-$s" "$s"
	done
	for s in $stores; do
		for name in "auth0-secret-$s" "auth0-jwt-$s"; do
			echo "ratio $name / nginx: $(awk -v a="$(rps "$work/$name.txt")" -v b="$nginx_b" \
				'BEGIN { printf "%.3f", a / b }')"
		done
	done
	while read -r name n_ok stored all distinct; do
		echo "durability $name: $n_ok batches answered 2xx, $stored auth0 revocations" \
			"committed (at least $((n_ok * matching)) needed); $all in all, $distinct distinct log_ids"
		[ ! -s "$work/$name.batch" ] || echo "  $(cat "$work/$name.batch")"
		[ ! -s "$work/$name.statements" ] || { echo "  pg_stat_statements (calls|mean ms|% of time|statement):";
			sed 's/^/    /' "$work/$name.statements"; }
		if [ "$stored" -lt "$((n_ok * matching))" ]; then
			echo "FAIL: $name: fewer revocations than $matching per 2xx batch" >&2
			failed=1
		fi
		if [ "$distinct" -ne "$all" ]; then
			echo "FAIL: $name: an event was recorded twice" >&2
			failed=1
		fi
	done < "$work/durability"
}

case "$mode" in
documents) bench_documents ;;
auth0) bench_auth0 ;;
all) bench_documents; bench_auth0 ;;
esac
exit "$failed"
