#!/bin/sh
# Configures and builds into ${BUILD_DIR:-build}. SR_SANITIZE=ON adds
# AddressSanitizer and UBSan.
set -eu
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
	-DSR_SANITIZE="${SR_SANITIZE:-OFF}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
