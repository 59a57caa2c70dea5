#!/bin/sh
# The load-balancer test: builds docker/Dockerfile with podman, starts two
# replicas on two loopback ports sharing one database directory, puts haproxy
# in front of them and runs tests/lb/test_lb.py against that (see README,
# "Container and load balancer"). Needs root, podman, runc, debootstrap and
# haproxy: SR_WITH_CONTAINERS=1 ./scripts/install-deps.sh installs them.
#
#   ./scripts/lb-test.sh            build the image (cached layers), run every check
#   SR_LB_NO_BUILD=1 ./scripts/lb-test.sh     reuse localhost/session-revoker as it is
#   ./scripts/lb-test.sh --store postgres|both
#       the replicas on one PostgreSQL (docker/postgres/Dockerfile, built as
#       localhost/session-revoker-postgres: compose.postgres.yaml's service)
#       instead of one SQLite file; both: the checks once on each
#
# The base image is made once with debootstrap, from the mirror apt uses, as
# localhost/debian:bookworm-slim (no image registry is needed).
set -eu
cd "$(dirname "$0")/.."
stores=sqlite
case "${1:-}" in
--store=*) set -- --store "${1#--store=}" ;;
esac
if [ "${1:-}" = --store ]; then
	case "${2:-}" in
	sqlite | postgres) stores=$2 ;;
	both) stores="sqlite postgres" ;;
	*) echo "usage: $0 [--store sqlite|postgres|both]" >&2; exit 2 ;;
	esac
elif [ $# -gt 0 ]; then
	echo "usage: $0 [--store sqlite|postgres|both]" >&2
	exit 2
fi
IMAGE=${SR_LB_IMAGE:-localhost/session-revoker}
PG_IMAGE=${SR_LB_PG_IMAGE:-localhost/session-revoker-postgres}
BASE=${SR_LB_BASE:-localhost/debian:bookworm-slim}

for tool in podman haproxy debootstrap; do
	command -v "$tool" >/dev/null || {
		echo "lb-test.sh: $tool not found (run SR_WITH_CONTAINERS=1 ./scripts/install-deps.sh)" >&2
		exit 2
	}
done
[ "$(id -u)" -eq 0 ] || { echo "lb-test.sh: run as root (podman with --network host)" >&2; exit 2; }

if ! podman image exists "$BASE"; then
	echo "== base image $BASE (debootstrap, about 30 s)"
	mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	rootfs=$(mktemp -d /var/tmp/sr-lb-rootfs.XXXXXX)
	debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
	tar -C "$rootfs" -c . | podman import - "$BASE" >/dev/null
	rm -rf "$rootfs"
fi

if [ "${SR_LB_NO_BUILD:-0}" != 1 ] || ! podman image exists "$IMAGE"; then
	echo "== podman build $IMAGE"
	podman build --format docker --isolation=chroot --build-arg BASE="$BASE" \
		-t "$IMAGE" -f docker/Dockerfile . >/dev/null
fi

case "$stores" in
*postgres*)
	if [ "${SR_LB_NO_BUILD:-0}" != 1 ] || ! podman image exists "$PG_IMAGE"; then
		echo "== podman build $PG_IMAGE"
		podman build --format docker --isolation=chroot --build-arg BASE="$BASE" \
			-t "$PG_IMAGE" -f docker/postgres/Dockerfile . >/dev/null
	fi ;;
esac

echo "== haproxy -c docker/haproxy.cfg (the compose file's balancer)"
# The compose file's names (sr-1, sr-2) resolve only inside compose; the file
# says init-addr none, so haproxy checks it without them.
haproxy -c -q -f docker/haproxy.cfg

for store in $stores; do
	echo "== tests/lb/test_lb.py (store: $store)"
	SR_LB_IMAGE="$IMAGE" SR_LB_PG_IMAGE="$PG_IMAGE" SR_LB_STORE="$store" \
		SR_SOURCE_DIR="$(pwd)" PYTHONDONTWRITEBYTECODE=1 \
		/usr/bin/python3 -m unittest -v tests/lb/test_lb.py
done
