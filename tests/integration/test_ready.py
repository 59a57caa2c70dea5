"""GET /readyz tells whether the store takes writes, without writing on every
call (README "API"; openapi.yaml /readyz).

  1. An idle service asked 100 times commits at most about one check write a
     second: its WAL grows by at most that many frames, and the readiness
     check counter (service_meta 'ready_check') by as many.
  2. A full disk is 503 on /readyz for as long as POSTs fail, also after the
     failed POSTs left a little space that a small check write would fit in;
     once space is freed it is 200 again within seconds and POSTs are
     accepted. A failed POST stores nothing.

The full disk is a small tmpfs mounted over the store's folder in a mount
namespace of the service's own (`unshare -m`, `unshare -rm` when not root), so
nothing is left mounted when the test ends; the test fills it through
/proc/<pid>/root and reads the store through the API. Run with Debian's /usr/bin/python3.
"""

import os
import shutil
import tempfile
import time
import unittest

import harness
from harness import Key, Service, Store, make_token

ISS = "https://idp.ready.test/"
AUD = "session-revoker-ready"
DISK = 4 * 1024 * 1024


class ReadyCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-ready-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.key = Key("rsa", self.tmp, "issuer")
        self.pem = self.key.write_public_pem()

    def start(self, store_dir, prefix=None):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": os.path.join(store_dir, "store.db")},
            "auth": {"issuers": [{"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                                  "public_key_file": self.pem}]},
        }
        path = harness.write_config(os.path.join(self.tmp, "config.json"), cfg)
        svc = Service(path, cwd=self.tmp, logdir=self.tmp, prefix=prefix)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def post(self, svc, group):
        tok = make_token(self.key, "RS256", iss=ISS, aud=AUD, scope="revocations:write")
        return svc.request("POST", "/v1/revocations", json_body={"groups": [group]}, token=tok)

    def ready(self, svc):
        r = svc.request("GET", "/readyz")
        if r.status == 200:
            self.assertEqual(r.json, {"status": "ready", "config": True, "store": True}, r)
        else:
            self.assertEqual((r.status, r.json["error"]), (503, "not_ready"), r)
        return r.status


class IdleTest(ReadyCase):

    def test_idle_service_does_not_write_per_call(self):
        svc = self.start(self.tmp)
        db = os.path.join(self.tmp, "store.db")
        store = Store(db)
        # SQLite: the WAL's growth counts the commits too (PostgreSQL: the
        # check counter alone).
        wal = not harness.PG_MODE
        frame = store.query("PRAGMA page_size")[0]["page_size"] + 24 if wal else 1

        def checks():
            rows = store.query("SELECT value FROM service_meta WHERE key = 'ready_check'")
            return int(rows[0]["value"]) if rows else 0

        self.assertEqual(self.ready(svc), 200)
        wal0 = os.path.getsize(db + "-wal") if wal else 0
        checks0, t0 = checks(), time.monotonic()
        for _ in range(100):
            self.assertEqual(self.ready(svc), 200)
        seconds = time.monotonic() - t0
        frames = ((os.path.getsize(db + "-wal") if wal else 0) - wal0) / frame
        self.assertLessEqual(frames, seconds + 2,
                             "%.0f WAL frames for 100 calls in %.1f s" % (frames, seconds))
        self.assertLessEqual(checks() - checks0, seconds + 2, "%.1f s" % seconds)
        # A second later a call checks again, and that check really commits.
        time.sleep(1.1)
        before = checks()
        self.assertEqual(self.ready(svc), 200)
        self.assertEqual(checks(), before + 1)
        svc.stop(check=True)


@harness.sqlite_only("a full disk under the SQLite file")
class FullDiskTest(ReadyCase):

    def test_full_disk_is_503_until_space_is_freed(self):
        inner = os.path.join(self.tmp, "disk")  # the mount point, seen by the service
        os.mkdir(inner)
        unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
        prefix = unshare + ["sh", "-c", 'mount -t tmpfs -o size=%d tmpfs "$0" && exec "$@"' % DISK,
                            inner]
        svc = self.start(inner, prefix=prefix)
        disk = "/proc/%d/root%s" % (svc.proc.pid, inner)  # the same folder, from here
        self.assertTrue(os.path.exists(os.path.join(disk, "store.db")), svc.stderr())
        st = os.statvfs(disk)
        self.assertLessEqual(st.f_blocks * st.f_frsize, DISK, "not the small disk")

        accepted = [self.post(svc, "before-%d" % i) for i in range(3)]
        self.assertEqual([r.status for r in accepted], [202] * 3, accepted)
        self.assertEqual(self.ready(svc), 200)

        # Fill the disk but for 4 pages: a POST needs more, a check write less.
        st = os.statvfs(disk)
        with open(os.path.join(disk, "filler"), "wb") as f:
            f.write(b"\0" * ((st.f_bavail - 4) * st.f_frsize))
        r = self.post(svc, "while-full")
        self.assertEqual(r.status, 503, r)
        seen = []
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            seen.append(self.ready(svc))
            time.sleep(0.1)
        self.assertEqual(set(seen), {503}, seen)
        r = self.post(svc, "still-full")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(self.ready(svc), 503)
        self.assertIn("store.not_writable", svc.stderr())

        # Space again: ready within a few seconds, and POSTs are taken.
        os.remove(os.path.join(disk, "filler"))
        deadline = time.monotonic() + 5
        while self.ready(svc) != 200:
            self.assertLess(time.monotonic(), deadline, "not ready after space was freed")
            time.sleep(0.2)
        r = self.post(svc, "after")
        self.assertEqual(r.status, 202, r)
        # What was refused left nothing behind; what was accepted is all there.
        tok = make_token(self.key, "RS256", iss=ISS, aud=AUD, scope="revocations:read")
        r = svc.request("GET", "/v1/revocations", token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([it["groups"] for it in r.json["items"]],
                         [["after"], ["before-2"], ["before-1"], ["before-0"]], r)
        svc.stop(check=True)


if __name__ == "__main__":
    unittest.main()
