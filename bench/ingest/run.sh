#!/bin/sh
# bench/ingest: RS256-signed revocation POSTs per second, every 202 durable
# (synchronous=FULL commit before the answer), and p50/p99 latency, side by
# side in the same run with nginx answering a fixed 202 to the same requests
# on the same machine: the ceiling any HTTP service reaches here.
#
# usage: bench/ingest/run.sh [seconds per run (15)] [connections (64)]
set -eu
cd "$(dirname "$0")/../.."
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
cleanup() {
	[ -n "$sr_pid" ] && kill "$sr_pid" 2>/dev/null || true
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# --- nginx answering a fixed 202 ---------------------------------------------
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
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" &
nginx_pid=$!

# --- session-revoker with an RS256 issuer --------------------------------------
cat > "$work/config.json" <<CONF
{
  "listen": {"address": "127.0.0.1", "port": $sr_port},
  "store": {"path": "$work/bench.db"},
  "log": {"level": "warn"},
  "development": {"signing_key_file": "$work/dev-key.pem"}
}
CONF
SR_BENCH_TOKEN=$("$bin" token --config "$work/config.json" --scope revocations:write --ttl 3600)
export SR_BENCH_TOKEN
"$bin" serve --config "$work/config.json" > "$work/sr.out" 2> "$work/sr.err" &
sr_pid=$!
for _ in $(seq 50); do
	curl -fsS "http://127.0.0.1:$sr_port/healthz" >/dev/null 2>&1 && \
	curl -fsS "http://127.0.0.1:$nginx_port/" >/dev/null 2>&1 && break
	sleep 0.1
done

run() { # name port -> wrk output in $work/$name.txt
	wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s bench/ingest/post.lua \
		"http://127.0.0.1:$2/v1/revocations" > "$work/$1.txt"
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

# warm both up briefly, then measure nginx and the service in the same run
wrk -t1 -c4 -d1s -s bench/ingest/post.lua "http://127.0.0.1:$nginx_port/v1/revocations" >/dev/null
wrk -t1 -c4 -d1s -s bench/ingest/post.lua "http://127.0.0.1:$sr_port/v1/revocations" >/dev/null
run nginx "$nginx_port"
before=$(sqlite3 "$work/bench.db" "SELECT count(*) FROM revocations")
run service "$sr_port"
kill "$sr_pid"; wait "$sr_pid" 2>/dev/null || true; sr_pid=""
after=$(sqlite3 "$work/bench.db" "SELECT count(*) FROM revocations")

n_total=$(total "$work/service.txt")
n_bad=$(non2xx "$work/service.txt"); n_bad=${n_bad:-0}
n_ok=$((n_total - n_bad))
stored=$((after - before))
nginx_rps=$(rps "$work/nginx.txt")
sr_rps=$(rps "$work/service.txt")
ratio=$(awk -v a="$sr_rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')

echo "machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "run: wrk -t$threads -c$conns -d${secs}s, POST /v1/revocations (RS256 Bearer token, 86-byte JSON document)"
printf '| server | requests/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|\n'
printf '| nginx fixed 202 | %s | %s | %s | %s |\n' "$nginx_rps" "$(pct "$work/nginx.txt" 50%)" \
	"$(pct "$work/nginx.txt" 99%)" "$(non2xx "$work/nginx.txt" | sed 's/^$/0/')"
printf '| session-revoker | %s | %s | %s | %s |\n' "$sr_rps" "$(pct "$work/service.txt" 50%)" \
	"$(pct "$work/service.txt" 99%)" "$n_bad"
echo "ratio session-revoker / nginx: $ratio"
echo "durability: $n_ok answered 2xx, $stored rows committed"
if [ "$stored" -lt "$n_ok" ]; then
	echo "FAIL: fewer rows than 202 answers" >&2
	exit 1
fi
