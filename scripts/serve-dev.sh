#!/bin/sh
# README command 1: install the Debian packages, build, and run the service on
# its embedded default (127.0.0.1:8080, data under ./var), beside the fake AWS
# (tests/fakes/fake_aws.py) seeded with three example accounts, so that the
# printed curl line leads, within seconds, to real deny policies on the
# example roles. Ctrl-C stops both. The fake keeps its roles in
# var/fake-aws-state.json when it stops and loads them back at the next start,
# so a restart shows the same deny policies as the service's store (delete
# that file, or var/ as a whole, to start from the example seed again).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
BUILD_DIR=build ./scripts/build.sh

mkdir -p var
fake_out=var/fake-aws.out
/usr/bin/python3 tests/fakes/fake_aws.py --seed tests/fakes/example-seed.json \
	--port "${SR_FAKE_AWS_PORT:-0}" --state-file var/fake-aws-state.json >"$fake_out" 2>var/fake-aws.err &
fake_pid=$!
trap 'kill $fake_pid 2>/dev/null; wait $fake_pid 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do
	grep -q listening "$fake_out" 2>/dev/null && break
	sleep 0.1
done
fake_url=$(sed -n 's/^fake-aws listening on //p' "$fake_out")
[ -n "$fake_url" ] || { echo "the fake AWS did not start: $(cat var/fake-aws.err)" >&2; exit 1; }

# The example world (tests/fakes/example-seed.json): the service's own
# credentials live in 999999999999 and assume SessionRevokerAdmin in three
# workload accounts.
export AWS_ENDPOINT_URL="$fake_url"
export AWS_ACCESS_KEY_ID=AKIAFAKEREVOKER00001
export AWS_SECRET_ACCESS_KEY=fakeRevokerSecretKey/0123456789abcdefEXAMPLE
export AWS_EC2_METADATA_DISABLED=true
acct() { printf '{"id":"%s","role_name":"SessionRevokerAdmin","external_id":"session-revoker"}' "$1"; }
export SR_AWS_ACCOUNTS="[$(acct 111111111111),$(acct 222222222222),$(acct 333333333333)]"
export SR_REVOKE_PROVIDERS="auth.example.com/"
export SR_JOBS_POLL_MS=200

echo "fake AWS (IAM + STS, example accounts) on $fake_url"
echo "  see its roles and their inline policies: curl -sS $fake_url/_fake/state"
./build/session-revoker serve "$@"
