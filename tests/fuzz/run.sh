#!/usr/bin/env bash
# run.sh [seconds] - runs every built libFuzzer target for <seconds> (default
# 20; 0 runs the seeds only) on a temporary copy of its seed corpus, so the
# repository never grows.
# Builds nothing. Fails if any target crashes, leaks, times out or trips a
# sanitizer; the input that did it is kept under $FUZZ_ARTIFACT_DIR.
#
#   cmake -S . -B build-fuzz -DSR_FUZZ=ON -DSR_TESTS=OFF -DCMAKE_C_COMPILER=clang \
#         -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link,address,undefined
#   cmake --build build-fuzz -j2
#   tests/fuzz/run.sh 20
#
# Environment:
#   FUZZ_BIN_DIR       where the fuzz_* binaries are (default build-fuzz/tests/fuzz)
#   FUZZ_ARTIFACT_DIR  where crashing inputs go (default $FUZZ_BIN_DIR/artifacts)
#   FUZZ_TARGETS       names to run, e.g. "verify jwks" (default: every binary)
#   FUZZ_ARGS          extra libFuzzer flags for every target
#
# Each target fuzz_<name> uses corpus/<name>/ and, when present, <name>.dict
# (fuzz_verify uses jwt.dict). The inputs of bugs found before, kept under
# regressions/<name>/, are replayed first, so a fixed bug stays fixed.
set -u

secs=${1:-20}
case $secs in '' | *[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${FUZZ_BIN_DIR:-$root/build-fuzz/tests/fuzz}
artifacts=${FUZZ_ARTIFACT_DIR:-$bin/artifacts}

if [ -n "${FUZZ_TARGETS:-}" ]; then
	names=$FUZZ_TARGETS
else
	names=$(cd "$bin" 2>/dev/null && for f in fuzz_*; do
		[ -f "$f" ] && [ -x "$f" ] && echo "${f#fuzz_}"; done)
fi
if [ -z "$names" ]; then
	echo "run.sh: no fuzz_* binaries in $bin (build with -DSR_FUZZ=ON first)" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sr-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

# Any sanitizer report is a failure; leaks are checked on every input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=
for name in $names; do
	exe=$bin/fuzz_$name
	if [ ! -x "$exe" ]; then
		echo "run.sh: $exe is missing" >&2
		failed="$failed $name"
		continue
	fi
	corpus=$work/corpus-$name
	log=$work/$name.log
	mkdir -p "$corpus" "$artifacts/$name"
	if [ -d "$here/corpus/$name" ]; then
		cp -R "$here/corpus/$name/." "$corpus/"
	fi
	args=(-timeout=25 -print_final_stats=1 -artifact_prefix="$artifacts/$name/")
	# 0 seconds: only run the seeds (libFuzzer would take 0 as "no limit").
	if [ "$secs" -eq 0 ]; then args+=(-runs=0); else args+=(-max_total_time="$secs"); fi
	dict=$here/$name.dict
	[ "$name" = verify ] && dict=$here/jwt.dict
	[ -f "$dict" ] && args+=(-dict="$dict")
	# Tokens may reach the 16 KiB cap of sr_auth_verify().
	[ "$name" = verify ] && args+=(-max_len=17000)
	# shellcheck disable=SC2206
	args+=(${FUZZ_ARGS:-})

	if [ -d "$here/regressions/$name" ] &&
	   [ -n "$(ls -A "$here/regressions/$name" 2>/dev/null)" ]; then
		if ! "$exe" "${args[@]}" "$here/regressions/$name"/* >"$log" 2>&1; then
			echo "FAIL fuzz_$name: a saved regression input crashes again:" >&2
			grep -E 'ERROR|invariant failed|runtime error|Running:' "$log" | tail -n 5 >&2
			failed="$failed $name"
			continue
		fi
	fi

	# Let fuzz_verify add tokens signed with the keys it has just made.
	if FUZZ_VERIFY_WRITE_SEEDS=$corpus timeout $((secs + 300)) "$exe" "${args[@]}" \
		"$corpus" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
		echo "ok   fuzz_$name: ${runs:-?} runs, ${cov:-no coverage line}, corpus $(ls "$corpus" | wc -l)"
	else
		echo "FAIL fuzz_$name (log follows; inputs in $artifacts/$name/)" >&2
		grep -vE '^#[0-9]+|^INFO:' "$log" | head -n 60 >&2
		failed="$failed $name"
	fi
done

if [ -n "$failed" ]; then
	echo "run.sh: failed:$failed" >&2
	exit 1
fi
