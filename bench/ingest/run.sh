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
#
# usage: bench/ingest/run.sh [--documents|--auth0|--all] [seconds per run (15)] [connections (64)]
# env: WRK_THREADS (2), SR_BENCH_PORT (18080), NGINX_BENCH_PORT (18081),
#      SR_BENCH_KEEP=1 keeps the work directory (wrk outputs, database, logs),
#      SR_BENCH_LOG_LEVEL=debug (--auth0): the store.batch lines (writes per
#      commit, commit time) in its sr.err
set -eu
cd "$(dirname "$0")/../.."
mode=documents
case "${1:-}" in
--documents) shift ;;
--auth0) mode=auth0; shift ;;
--all) mode=all; shift ;;
--*) echo "usage: $0 [--documents|--auth0|--all] [seconds] [connections]" >&2; exit 2 ;;
esac
secs=${1:-15}
conns=${2:-64}
threads=${WRK_THREADS:-2}
SR_WITH_BENCH=1 ./scripts/install-deps.sh
BUILD_DIR=build-bench BUILD_TYPE=Release ./scripts/build.sh >/dev/null
bin=$PWD/build-bench/session-revoker
work=$(mktemp -d /tmp/sr-bench-ingest.XXXXXX)
sr_port=${SR_BENCH_PORT:-18080}
nginx_port=${NGINX_BENCH_PORT:-18081}
nginx_pid=""
sr_pid=""
failed=0
cleanup() {
	[ -n "$sr_pid" ] && kill "$sr_pid" 2>/dev/null || true
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	if [ "${SR_BENCH_KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

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
# rule the bench's batches match 5 times each.
cat > "$work/documents.json" <<CONF
{
  "listen": {"address": "127.0.0.1", "port": $sr_port},
  "store": {"path": "$work/bench.db"},
  "log": {"level": "warn"},
  "development": {"signing_key_file": "$work/dev-key.pem"}
}
CONF
auth0_config() { # file authorization_file-or-empty
	af=""
	[ -n "$2" ] && af="\"authorization_file\": \"$2\","
	cat > "$1" <<CONF
{
  "listen": {"address": "127.0.0.1", "port": $sr_port},
  "store": {"path": "$work/bench.db"},
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
auth0_config "$work/auth0-secret.json" "$work/auth0-authorization"
auth0_config "$work/auth0-jwt.json" ""

start_service() { # config
	"$bin" serve --config "$1" >> "$work/sr.out" 2>> "$work/sr.err" &
	sr_pid=$!
	for _ in $(seq 50); do
		curl -fsS "http://127.0.0.1:$sr_port/healthz" >/dev/null 2>&1 && \
		curl -fsS "http://127.0.0.1:$nginx_port/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "the service did not start: $(tail -3 "$work/sr.err")" >&2
	exit 1
}
stop_service() {
	kill "$sr_pid"; wait "$sr_pid" 2>/dev/null || true; sr_pid=""
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
	t0=$(cpu_ticks $pids)
	/usr/bin/time -f '%U %S' -o "$work/$1.wrkcpu" \
		wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$4" \
		"http://127.0.0.1:$2$3" > "$work/$1.txt"
	t1=$(cpu_ticks $pids)
	awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v s="$secs" '
		{ printf "%.2f %.2f\n", (b - a) / hz / s, ($1 + $2) / s }' "$work/$1.wrkcpu" \
		> "$work/$1.cpu"
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
sql() { sqlite3 "$work/bench.db" "$1"; }

echo "machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"

# --- documents: POST /v1/revocations ---------------------------------------
bench_documents() {
	SR_BENCH_TOKEN=$("$bin" token --config "$work/documents.json" --scope revocations:write \
		--ttl 3600)
	export SR_BENCH_TOKEN
	start_service "$work/documents.json"
	# warm both up briefly, then measure nginx and the service in the same run
	wrk -t1 -c4 -d1s -s bench/ingest/post.lua "http://127.0.0.1:$nginx_port/v1/revocations" >/dev/null
	wrk -t1 -c4 -d1s -s bench/ingest/post.lua "http://127.0.0.1:$sr_port/v1/revocations" >/dev/null
	run nginx "$nginx_port" /v1/revocations bench/ingest/post.lua
	before=$(sql "SELECT count(*) FROM revocations")
	run service "$sr_port" /v1/revocations bench/ingest/post.lua
	stop_service
	after=$(sql "SELECT count(*) FROM revocations")

	n_total=$(total "$work/service.txt")
	n_bad=$(non2xx "$work/service.txt"); n_bad=${n_bad:-0}
	n_ok=$((n_total - n_bad))
	stored=$((after - before))
	nginx_rps=$(rps "$work/nginx.txt")
	sr_rps=$(rps "$work/service.txt")
	ratio=$(awk -v a="$sr_rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')

	echo "run: wrk -t$threads -c$conns -d${secs}s, POST /v1/revocations (RS256 Bearer token, 86-byte JSON document)"
	printf '| server | requests/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|\n'
	printf '| nginx fixed 202 | %s | %s | %s | %s |\n' "$nginx_rps" "$(pct "$work/nginx.txt" 50%)" \
		"$(pct "$work/nginx.txt" 99%)" "$(non2xx "$work/nginx.txt" | or0)"
	printf '| session-revoker | %s | %s | %s | %s |\n' "$sr_rps" "$(pct "$work/service.txt" 50%)" \
		"$(pct "$work/service.txt" 99%)" "$n_bad"
	echo "ratio session-revoker / nginx: $ratio"
	echo "durability: $n_ok answered 2xx, $stored rows committed"
	if [ "$stored" -lt "$n_ok" ]; then
		echo "FAIL: fewer rows than 202 answers" >&2
		failed=1
	fi
}

# --- Auth0 log stream batches: POST /v1/events/auth0 --------------------------
per_batch=100
matching=5
auth0_row() { # label name -> one table row
	f="$work/$2.txt"
	b=$(rps "$f")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$b" \
		"$(awk -v b="$b" -v n="$per_batch" 'BEGIN { printf "%.0f", b * n }')" \
		"$(pct "$f" 50%)" "$(pct "$f" 99%)" \
		"$(non2xx "$f" | or0)" "$(sockerr "$f" | or0)" \
		"$(awk '{ printf "%s / %s", $1, $2 }' "$work/$2.cpu")"
}
auth0_service_run() { # name config authorization-value run-id
	start_service "$2"
	SR_BENCH_AUTHORIZATION=$3 SR_BENCH_RUN=${4}0 wrk -t1 -c4 -d1s -s bench/ingest/auth0.lua \
		"http://127.0.0.1:$sr_port/v1/events/auth0" >/dev/null
	before=$(sql "SELECT count(*) FROM revocations WHERE source = 'auth0'")
	SR_BENCH_AUTHORIZATION=$3 SR_BENCH_RUN=${4}1 \
		run "$1" "$sr_port" /v1/events/auth0 bench/ingest/auth0.lua
	stop_service
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
	auth0_service_run auth0-secret "$work/auth0-secret.json" "$auth0_secret" "${stamp}2"
	auth0_service_run auth0-jwt "$work/auth0-jwt.json" "Bearer $SR_BENCH_TOKEN" "${stamp}3"

	nginx_b=$(rps "$work/auth0-nginx.txt")
	echo "run: wrk -t$threads -c$conns -d${secs}s, POST /v1/events/auth0, JSON array of $per_batch" \
		"Auth0 log records (about 81 KB), $matching matching the rule, every log_id new"
	printf '| server | batches/s | events/s | p50 ms | p99 ms | non-2xx | socket errors | CPU cores: server / wrk |\n'
	printf '|---|---|---|---|---|---|---|---|\n'
	auth0_row "nginx fixed 200" auth0-nginx
	auth0_row "session-revoker, authorization_file" auth0-secret
	auth0_row "session-revoker, JWT (events:write)" auth0-jwt
	for name in auth0-secret auth0-jwt; do
		echo "ratio $name / nginx: $(awk -v a="$(rps "$work/$name.txt")" -v b="$nginx_b" \
			'BEGIN { printf "%.3f", a / b }')"
	done
	while read -r name n_ok stored all distinct; do
		echo "durability $name: $n_ok batches answered 2xx, $stored auth0 revocations" \
			"committed (at least $((n_ok * matching)) needed); $all in all, $distinct distinct log_ids"
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
