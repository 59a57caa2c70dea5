#!/bin/sh
# README command 1: install the Debian packages, build, and run the service
# on its embedded default (127.0.0.1:8080, data under ./var). It prints a curl
# line with a development token that POSTs an example revocation.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
BUILD_DIR=build ./scripts/build.sh
exec ./build/session-revoker serve "$@"
