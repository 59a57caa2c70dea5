#!/bin/sh
# README command 2: install the Debian packages, build with AddressSanitizer
# and UBSan, and run the whole test suite (unit + integration) with ctest.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export BUILD_DIR=${BUILD_DIR:-build-test}
SR_SANITIZE=${SR_SANITIZE:-ON} BUILD_TYPE=Debug ./scripts/build.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$BUILD_DIR"
ctest --output-on-failure -j2 "$@"
