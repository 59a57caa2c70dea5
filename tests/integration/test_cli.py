"""The command line as one program: every subcommand reads the configuration
the same way, sees the same clock, and asks only for what it uses.

  1. development.clock_offset_seconds shifts the clock of `token`, `revoke`,
     `cleanup` and `jobs` as it does that of `serve` (README "Jobs": a demo of what
     happens 13 hours later needs no other tool).
  2. `plan`, `revoke` and `cleanup` never verify a token, so they run without
     a trusted issuer; `serve` (and `check-config`, which checks for serve
     unless told --for) still refuses such a configuration, naming
     auth.issuers.
  3. `token --ttl` takes units up to 2 years (a long-lived token for Auth0's
     log stream), refuses anything else by name, and warns beyond 30 days.

Each case runs the real binary against the fake AWS (tests/fakes/fake_aws.py)
and checks what an operator sees: exit status, the printed token or report,
and the roles' inline policies as the fake holds them.

Run with Debian's /usr/bin/python3 (botocore for the fake, PyJWT).
"""

import json
import os
import subprocess
import unittest
import uuid

import harness
from harness import now, parse_rfc3339, rfc3339
from test_engine import (ACCOUNTS, ADMIN_ROLE, BASE_KEY, BASE_SECRET, DEFAULT_SKEW, EXPECTED,
                         EXTERNAL_ID, POLICY, PROVIDER, EngineCase, example_seed,
                         policies_of)

SR_SOURCE_DIR = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
THIRTEEN_HOURS = 13 * 3600
MAX_SESSION = 43200


def aws_config(**extra):
    """An engine configuration for the example world: accounts and provider,
    no auth section and no development key unless extra adds them."""
    cfg = {
        "aws": {"accounts": [{"id": a, "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}
                             for a in ACCOUNTS]},
        "revoke": {"providers": [PROVIDER], "policy_name": POLICY,
                   "max_session_seconds": MAX_SESSION},
    }
    for section, values in extra.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


class CliCase(EngineCase):

    def config(self, name, cfg):
        return harness.write_config(os.path.join(self.tmp, name), cfg)

    def run_bin(self, args, env_extra=None, expect=None):
        env = harness.clean_env({"AWS_ACCESS_KEY_ID": BASE_KEY,
                                 "AWS_SECRET_ACCESS_KEY": BASE_SECRET,
                                 "AWS_EC2_METADATA_DISABLED": "true", "HOME": self.tmp})
        env = {k: v for k, v in env.items() if not (k.startswith("AWS_ENDPOINT"))}
        env.update(env_extra or {})
        proc = subprocess.run([self.bin] + args, env=env, cwd=self.tmp, capture_output=True,
                              text=True, timeout=60)
        info = "session-revoker %s\nexit %s\n--- stdout\n%s\n--- stderr\n%s" % (
            " ".join(args), proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, proc.stderr, info)
        if expect is not None:
            self.assertEqual(proc.returncode, expect, info)
        return proc, info


# --------------------------------------------------------------------------
# 1. one clock

class ClockTest(CliCase):

    def test_token_is_minted_on_the_shifted_clock(self):
        key = os.path.join(self.tmp, "dev.pem")
        for offset in (0, THIRTEEN_HOURS, -3600):
            with self.subTest(offset=offset):
                cfg = self.config("token-%d.json" % offset, {"development": {
                    "signing_key_file": key, "clock_offset_seconds": offset}})
                t = now()
                proc, info = self.run_bin(["token", "--config", cfg, "--ttl", "600"], expect=0)
                claims = harness.claims_of(proc.stdout.strip())
                self.assertLessEqual(abs(claims["iat"] - (t + offset)), 5, info)
                self.assertEqual(claims["exp"], claims["iat"] + 600, info)
                if offset:
                    self.assertIn("clock.shifted", proc.stderr, info)

    def test_revoke_and_cleanup_run_on_the_shifted_clock(self):
        matched = set(EXPECTED["team_opsec"])
        # With a development key, so that only the clock differs from before.
        key = os.path.join(self.tmp, "dev.pem")
        plain = self.config("plain.json", aws_config(development={"signing_key_file": key}))
        later = self.config("later.json", aws_config(development={
            "signing_key_file": key, "clock_offset_seconds": THIRTEEN_HOURS}))

        # A cut-off of now: cleanup on today's clock finds it not due...
        fake2 = self.start_fake(example_seed())
        before = fake2.state()
        run = self.run_cli(fake2, "revoke", "team_opsec", plain, at="now", expect=0)
        cutoff = run.roles()["111111111111/OpsecBreakGlass"]["cutoff"]
        due = rfc3339(parse_rfc3339(cutoff) + MAX_SESSION + DEFAULT_SKEW)
        run = self.run_cli(fake2, "cleanup", "team_opsec", plain, expect=0)
        self.assertEqual({r["outcome"] for r in run.roles().values()}, {"not-due"},
                         run.describe())
        self.assertTrue(all(POLICY in policies_of(fake2.state())[k] for k in matched))

        # ... and on the clock 13 hours ahead (past cut-off + 12 h + skew)
        # deletes every deny policy it wrote, and nothing else.
        run = self.run_cli(fake2, "cleanup", "team_opsec", later, expect=0)
        self.assertEqual(set(run.roles()), matched, run.describe())
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "deleted", f"{key}\n{run.describe()}")
            self.assertEqual(r["due"], due, key)
        self.assertEqual(policies_of(fake2.state()), policies_of(before))

        # revoke --time '1 hour ago' 13 hours from now: the cut-off is 12 hours ahead.
        fake = self.start_fake(example_seed())
        t = now()
        run = self.run_cli(fake, "revoke", "team_opsec", later, at="1 hour ago", expect=0)
        self.assertEqual(set(run.roles()), matched, run.describe())
        cutoff = parse_rfc3339(run.roles()["111111111111/OpsecBreakGlass"]["cutoff"])
        self.assertLessEqual(abs(cutoff - (t + THIRTEEN_HOURS - 3600)), 5, run.describe())

    def test_jobs_retry_makes_a_job_due_on_the_shifted_clock(self):
        # A store the binary made (its migrations, either back end), holding a
        # job that failed long ago.
        db = os.path.join(self.tmp, "jobs.db")
        cfg = self.config("jobs.json", {"store": {"path": db}, "development": {
            "clock_offset_seconds": THIRTEEN_HOURS}})
        self.run_bin(["jobs", "--config", cfg, "--json"], expect=0)
        store = harness.Store(db)
        seq = store.execute(
            "INSERT INTO revocations (id, source, issuer, action, cutoff, state, created_at,"
            " updated_at) VALUES (?, 'document', 'i', 'revoke', 1, 'failed', 1, 1)"
            " RETURNING seq", (str(uuid.uuid4()),))[0]["seq"]
        job = store.execute(
            "INSERT INTO jobs (revocation_seq, kind, account, run_at, state, attempts,"
            " last_error, created_at, updated_at) VALUES (?, 'apply', ?, 1, 'failed', 10,"
            " 'AccessDenied', 1, 1) RETURNING id", (seq, ACCOUNTS[0]))[0]["id"]
        t = now()
        self.run_bin(["jobs", "--config", cfg, "--retry", str(job)], expect=0)
        proc, info = self.run_bin(["jobs", "--config", cfg, "--json"], expect=0)
        listed = {j["id"]: j for j in json.loads(proc.stdout)}
        self.assertEqual((listed[job]["state"], listed[job]["attempts"]), ("pending", 0), info)
        self.assertLessEqual(abs(parse_rfc3339(listed[job]["run_at"]) - (t + THIRTEEN_HOURS)), 5,
                             info)


# --------------------------------------------------------------------------
# 2. what each command needs

class NeedsTest(CliCase):

    def test_engine_commands_run_without_a_trusted_issuer(self):
        fake = self.start_fake(example_seed())
        before = fake.state()
        matched = set(EXPECTED["team_opsec"])
        config = self.config("no-auth.json", aws_config())
        run = self.run_cli(fake, "plan", "team_opsec", config, expect=0)
        self.assertEqual(set(run.roles()), matched, run.describe())
        run = self.run_cli(fake, "revoke", "team_opsec", config, at="3 days ago", expect=0)
        self.assertEqual({r["outcome"] for r in run.roles().values()}, {"denied"},
                         run.describe())
        run = self.run_cli(fake, "cleanup", "team_opsec", config, expect=0)
        self.assertEqual({r["outcome"] for r in run.roles().values()}, {"deleted"},
                         run.describe())
        self.assertEqual(policies_of(fake.state()), policies_of(before))
        for cmd in ("plan", "revoke", "cleanup"):
            with self.subTest(cmd=cmd):
                self.run_bin(["check-config", "--config", config, "--for", cmd], expect=0)

    def test_serve_still_needs_a_trusted_issuer(self):
        config = self.config("no-auth.json", aws_config())
        for args in (["serve", "--config", config], ["check-config", "--config", config],
                     ["check-config", "--config", config, "--for", "serve"]):
            with self.subTest(args=args):
                proc, info = self.run_bin(args, expect=1)
                self.assertIn("auth.issuers: no trusted issuer", proc.stderr, info)
                self.assertNotIn("listening", proc.stdout, info)
        proc, info = self.run_bin(["check-config", "--config", config, "--for", "nothing"],
                                  expect=2)
        self.assertIn("--for takes serve", proc.stderr, info)

    def test_token_needs_the_development_key_and_says_so(self):
        config = self.config("no-auth.json", aws_config())
        proc, info = self.run_bin(["token", "--config", config], expect=1)
        self.assertIn("development.signing_key_file", proc.stderr, info)
        self.assertEqual(proc.stdout, "", info)


# --------------------------------------------------------------------------
# 3. long-lived tokens (Auth0's log stream sends one Authorization value for
#    as long as the stream exists)

DAY = 86400


class TokenTtlTest(CliCase):

    def token_config(self):
        return self.config("token.json", {"development": {
            "signing_key_file": os.path.join(self.tmp, "dev.pem")}})

    def test_a_year_long_events_token(self):
        cfg = self.token_config()
        proc, info = self.run_bin(["token", "--config", cfg, "--scope", "events:write",
                                   "--ttl", "365d"], expect=0)
        claims = harness.claims_of(proc.stdout.strip())
        self.assertEqual(claims["exp"] - claims["iat"], 365 * DAY, info)
        self.assertLessEqual(abs(claims["iat"] - now()), 5, info)
        self.assertEqual(claims["scope"], "events:write", info)
        # It says, on stderr, that such a token cannot be called back.
        self.assertRegex(proc.stderr, r"warning: this token is valid for 365 days, until "
                                      r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; it cannot be revoked "
                                      r"before then except by rotating the signing key", info)
        self.assertNotIn(proc.stdout.strip(), proc.stderr)

    def test_durations_with_units(self):
        cfg = self.token_config()
        for text, seconds in (("3600", 3600), ("45s", 45), ("90m", 5400), ("8h", 8 * 3600),
                              ("30d", 30 * DAY), ("31d", 31 * DAY), ("90d", 90 * DAY),
                              ("52w", 52 * 7 * DAY), ("730d", 730 * DAY),
                              ("63072000", 730 * DAY)):
            with self.subTest(ttl=text):
                proc, info = self.run_bin(["token", "--config", cfg, "--ttl", text], expect=0)
                claims = harness.claims_of(proc.stdout.strip())
                self.assertEqual(claims["exp"] - claims["iat"], seconds, info)
                # warned about only beyond 30 days
                self.assertEqual("cannot be revoked" in proc.stderr, seconds > 30 * DAY, info)

    def test_bad_durations_and_the_two_year_cap_are_refused(self):
        cfg = self.token_config()
        not_durations = ("90x", "1y", "d", "", "-1", "+5", "1.5d", "8 h", " 8h", "8hh", "8H",
                         "1d2h", "0x10")
        over_cap = ("731d", "105w", "63072001", "17521h", "99999999999999999999",
                    "99999999999999999999d")
        for text, why in ([(t, "not a duration") for t in not_durations] +
                          [(t, "longer than the cap of 2 years") for t in over_cap] +
                          [("0", "at least 1 second"), ("0d", "at least 1 second")]):
            with self.subTest(ttl=text):
                proc, info = self.run_bin(["token", "--config", cfg, "--ttl", text], expect=2)
                self.assertEqual(proc.stdout, "", info)
                self.assertIn('--ttl "%s": %s' % (text, why), proc.stderr, info)

    def test_the_service_takes_a_year_long_token(self):
        # Verified as any other: its exp is far off, and nothing caps a
        # token's lifetime on the way in.
        cfg = self.config("serve.json", aws_config(
            development={"signing_key_file": os.path.join(self.tmp, "dev.pem")},
            listen={"address": "127.0.0.1", "port": 0},
            store={"path": os.path.join(self.tmp, "sr.db")}))
        proc, info = self.run_bin(["token", "--config", cfg, "--scope", "revocations:read",
                                   "--ttl", "52w"], expect=0)
        token = proc.stdout.strip()
        svc = harness.Service(cfg, cwd=self.tmp, logdir=self.tmp)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        r = svc.request("GET", "/v1/revocations", token=token)
        self.assertEqual(r.status, 200, r)
        svc.stop(check=True)


if __name__ == "__main__":
    unittest.main()
