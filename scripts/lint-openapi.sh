#!/bin/sh
# Lints openapi.yaml (or the file given) with Redocly CLI and redocly.yaml's
# rules. Redocly CLI is pinned in tools/redocly/ (package-lock.json);
# scripts/install-deps.sh installs it there with `npm ci`.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/tools/redocly/node_modules/.bin/redocly"
if [ ! -x "$bin" ]; then
	echo "lint-openapi.sh: $bin is missing: run scripts/install-deps.sh" >&2
	exit 1
fi
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	exec "$bin" lint --config "$root/redocly.yaml" --format=stylish "${1:-$root/openapi.yaml}"
