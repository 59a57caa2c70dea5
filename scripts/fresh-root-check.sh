#!/bin/sh
# The fresh-machine proof, run on demand (not in CI): builds a minimal Debian
# bookworm root with debootstrap (variant minbase, plus git and nothing else),
# puts a clean clone of this checkout's HEAD in it, and runs both README
# commands inside it (chroot, as root, with a new user's environment):
#   1. ./scripts/serve-dev.sh: it must print its curl line, that curl must get
#      202, the revocation must reach `applied` with deny policies on the
#      example roles, and Ctrl-C (SIGINT to its process group) must stop the
#      service and the fake AWS; started again, the fake must still hold the
#      same deny policies;
#   2. ./scripts/test.sh: every test must pass.
# A package that scripts/install-deps.sh forgets fails here, however complete
# the developer's own machine is. Uncommitted changes are not part of the check.
#
# Usage: scripts/fresh-root-check.sh [--keep]      (as root; takes 10-20 min)
#   --keep               leave the root in place afterwards (its path is printed)
#   SR_FRESH_CACHE=FILE  tarball of the pristine root (minbase + git), reused
#                        when present, else made: from the podman image
#                        localhost/debian:bookworm-slim when it exists, else
#                        with debootstrap (default
#                        /var/tmp/session-revoker-bookworm-minbase.tar)
#   SR_FRESH_MIRROR=URL  the Debian mirror (default: the first URIs: line of
#                        /etc/apt/sources.list.d/debian.sources, else
#                        deb.debian.org)
# Installs on the host only what it needs itself (debootstrap, git).
# Exits 0 when both commands passed, 1 otherwise.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
keep=0
for a in "$@"; do
	case $a in
	--keep) keep=1 ;;
	*) echo "usage: $0 [--keep]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
cache=${SR_FRESH_CACHE:-/var/tmp/session-revoker-bookworm-minbase.tar}
mirror=${SR_FRESH_MIRROR:-$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
start=$(date +%s)

need=""
command -v debootstrap >/dev/null || need="$need debootstrap"
command -v git >/dev/null || need="$need git"
if [ -n "$need" ]; then
	echo "== installing on the host:$need"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
git -C "$repo" diff --quiet HEAD -- 2>/dev/null ||
	echo "note: uncommitted changes are not checked (the root gets a clone of HEAD)" >&2

root=$(mktemp -d /var/tmp/sr-fresh-root.XXXXXX)
cleanup() {
	umount "$root/dev/shm" 2>/dev/null || true
	umount -l "$root/proc" 2>/dev/null || true
	umount -l "$root" 2>/dev/null || true
	if [ "$keep" = 1 ]; then
		echo "root kept in $root"
	else
		rm -rf --one-file-system "$root"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The pristine root: minbase + git, as the issue's first run had it.
if [ ! -s "$cache" ]; then
	if command -v podman >/dev/null && podman image exists localhost/debian:bookworm-slim; then
		echo "== the root from the podman image localhost/debian:bookworm-slim"
		cid=$(podman create localhost/debian:bookworm-slim /bin/true)
		podman export "$cid" | tar -C "$root" -x
		podman rm "$cid" >/dev/null
	else
		echo "== debootstrap --variant=minbase bookworm ($mirror)"
		debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
			{ tail -n 20 "$root.debootstrap.log" >&2; exit 1; }
		rm -f "$root.debootstrap.log"
	fi
	# An exported image has no device nodes; chroot needs a few.
	for d in null:1:3 zero:1:5 random:1:8 urandom:1:9 tty:5:0; do
		n=${d%%:*} mm=${d#*:}
		[ -e "$root/dev/$n" ] || mknod -m 666 "$root/dev/$n" c "${mm%:*}" "${mm#*:}"
	done
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	echo "== installing git in the root"
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends git >/dev/null && apt-get clean'
	tar -C "$root" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
	echo "   cached as $cache"
else
	echo "== the root from $cache"
	tar -C "$root" -xf "$cache"
fi
# mktemp made it 0700 (and the cached tarball's "." kept that); a machine's / is
# 0755, and users other than root (the PostgreSQL test server runs as postgres)
# must reach the libraries under it.
chmod 0755 "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# debootstrap writes no /etc/hosts; every installed machine and every container
# (podman, docker) has one that names localhost, and the tests ask for it.
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# The root of a machine or a container is a mount point; a plain directory is
# not, and `unshare -m` (a test mounts a small full disk in a namespace of its
# own) then fails to make "/" private. A bind mount makes it one.
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mkdir -p "$root/dev/shm"
mount -t tmpfs -o mode=1777 shm "$root/dev/shm"

# The network this machine is on may inspect TLS with a CA of its own (an
# egress proxy): the host trusts it through /usr/local/share/ca-certificates,
# and a machine on that network would too. Carried into the root (the root's
# ca-certificates package adds it to its bundle), and Node.js (npm) is told of
# the bundle as the host's environment tells it: not a dependency of the
# project, the network's, like the mirror above.
nodeca=""
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
	nodeca="NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"
fi

echo "== git clone of $(git -C "$repo" rev-parse --short HEAD) into the root"
git clone -q --no-hardlinks "$repo" "$root/root/session-revoker"

# Run inside the root: both README commands, as a new user types them.
cat >"$root/root/fresh-check.sh" <<'EOF'
set -u
cd /root/session-revoker
fail=0
FAKE_LINE='fake AWS (IAM + STS, example accounts) on '

# Starts serve-dev.sh in its own process group (so that a Ctrl-C can be sent
# as a terminal sends it) and waits for its two curl lines; port 0: the root
# shares the host's network, where 8080 may be taken.
start() {
	: >"/root/$1.out"
	SR_LISTEN_PORT=0 setsid ./scripts/serve-dev.sh >"/root/$1.out" 2>"/root/$1.err" &
	pid=$!
	post="" get="" fake=""
	while kill -0 "$pid" 2>/dev/null; do
		post=$(grep -m1 '^curl .*-X POST' "/root/$1.out")
		get=$(grep -m1 '^curl .*/v1/revocations/ID' "/root/$1.out")
		fake=$(sed -n "s|^$FAKE_LINE||p" "/root/$1.out")
		[ -n "$post" ] && [ -n "$get" ] && [ -n "$fake" ] && return 0
		sleep 1
	done
	echo "FAIL: serve-dev.sh printed no curl line"
	tail -n 30 "/root/$1.out" "/root/$1.err"
	return 1
}

# Ctrl-C: SIGINT to the process group; the service and the fake must stop.
stop() {
	kill -INT "-$pid" 2>/dev/null
	for _ in $(seq 60); do
		kill -0 "-$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "-$pid" 2>/dev/null; then
		echo "FAIL: Ctrl-C did not stop serve-dev.sh and the fake AWS"
		kill -KILL "-$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 1
	fi
	wait "$pid" 2>/dev/null
	echo "   Ctrl-C stopped the service and the fake AWS"
}

# The example roles that carry the deny policy, as the fake AWS holds them.
denied() {
	curl -sS "$fake/_fake/state" | /usr/bin/python3 -c 'import json, sys
s = json.load(sys.stdin)
print(" ".join(sorted(a + "/" + n for a, acc in s["accounts"].items()
                      for n, r in acc["roles"].items()
                      if "session-revoker-deny" in r["inline_policies"])))'
}

t0=$(date +%s)
echo "== README command 1: ./scripts/serve-dev.sh"
if start serve-dev; then
	echo "   up after $(( $(date +%s) - t0 )) s (install, build, start)"
	sh -c "$post" >/root/post.out 2>&1
	status=$(head -n1 /root/post.out | tr -d '\r')
	echo "   the printed curl: $status"
	case $status in
	"HTTP/"*" 202"*) ;;
	*) echo "FAIL: the printed curl did not get 202"; cat /root/post.out; fail=1 ;;
	esac
	id=$(sed -n '/^\r*$/,$p' /root/post.out | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null)
	state=""
	for _ in $(seq 60); do
		[ -n "$id" ] || break
		state=$(sh -c "$(echo "$get" | sed "s|/ID |/$id |")" |
			/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null)
		[ "$state" = applied ] && break
		sleep 0.5
	done
	echo "   the second curl: state ${state:-none}"
	[ "$state" = applied ] || { echo "FAIL: the revocation did not reach applied"; fail=1; }
	before=$(denied)
	echo "   deny policies on: ${before:-no role}"
	[ -n "$before" ] || fail=1
	stop || fail=1
	echo "   restart: ./scripts/serve-dev.sh again"
	if start serve-dev-restart; then
		after=$(denied)
		if [ "$after" = "$before" ]; then
			echo "   the fake AWS still holds the same deny policies"
		else
			echo "FAIL: after a restart the fake AWS holds deny policies on: ${after:-no role}"
			fail=1
		fi
		stop || fail=1
	else
		fail=1
	fi
else
	fail=1
	stop
fi
echo "   command 1: $([ $fail = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - t0 )) s"

t1=$(date +%s)
echo "== README command 2: ./scripts/test.sh"
if ./scripts/test.sh >/root/test.out 2>&1; then
	grep -E 'tests passed|Total Test time' /root/test.out | sed 's/^/   /'
	echo "   command 2: passed in $(( $(date +%s) - t1 )) s"
else
	grep -E 'tests passed|\*\*\*Failed|Failed|Error|No module|not found' /root/test.out | tail -n 40 | sed 's/^/   /'
	echo "FAIL: command 2 failed after $(( $(date +%s) - t1 )) s (the log: /root/test.out in the root)"
	fail=1
fi
exit $fail
EOF
rc=0
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	$nodeca /bin/sh /root/fresh-check.sh || rc=$?
if [ $rc = 0 ]; then
	echo "== fresh root check PASSED in $(( $(date +%s) - start )) s"
else
	echo "== fresh root check FAILED in $(( $(date +%s) - start )) s"
	[ "$keep" = 1 ] || echo "   (run with --keep to look inside the root)"
fi
exit $rc
