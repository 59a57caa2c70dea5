"""test_compose.py - docker/compose.yaml, its haproxy.cfg and sample config,
and the Dockerfile's contract, checked without a compose engine.

No Docker engine runs on the development machines, so `docker compose up` is
never run here: this test parses the compose file with PyYAML and holds it to
what README promises (two replicas of the image sharing one named volume, the
config and secret mounted read-only under /etc/session-revoker/, haproxy in
front checking /readyz and retrying, the fake AWS as an optional profile), and
runs the real binary's check-config on the sample config. compose.postgres.yaml
is merged into it the way Compose merges -f files and checked the same way
(one PostgreSQL service from Debian's package, store.url without a password,
store.password_file from a secret). scripts/lb-test.sh
runs the image itself behind haproxy (podman).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

import yaml

import harness

SOURCE_DIR = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(harness.HERE, "..", ".."))
DOCKER = os.path.join(SOURCE_DIR, "docker")
ETC = "/etc/session-revoker/"
DATA = "/var/lib/session-revoker"
REPLICAS = ("sr-1", "sr-2")


def load_compose(name="compose.yaml"):
    with open(os.path.join(DOCKER, name), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


# Compose's merge of several -f files (the Compose Specification, "Merge"):
# mappings merge key by key, sequences append, command/entrypoint replace,
# and volumes, secrets and configs are unique by their target (the later
# file's entry wins). depends_on merges in its long form.
UNIQUE_BY_TARGET = ("volumes", "secrets", "configs")
REPLACED = ("command", "entrypoint")


def long_form(key, v):
    if key == "depends_on" and isinstance(v, list):
        return {name: {"condition": "service_started"} for name in v}
    if key in UNIQUE_BY_TARGET and isinstance(v, list):
        out = []
        for item in v:
            if isinstance(item, str):
                parts = item.split(":")
                if key == "volumes":
                    item = {"source": parts[0], "target": parts[1],
                            "read_only": len(parts) > 2 and "ro" in parts[2].split(",")}
                else:
                    item = {"source": parts[0], "target": "/run/secrets/" + parts[0]}
            out.append(item)
        return out
    return v


def merge(base, over, key=None, depth=0):
    if depth == 2 and key in REPLACED:  # services.NAME.command
        return over
    base, over = long_form(key, base), long_form(key, over)
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base[k], v, k, depth + 1) if k in base else v
        return out
    if isinstance(base, list) and isinstance(over, list):
        if depth == 3 and key in UNIQUE_BY_TARGET:
            targets = {o["target"] for o in over}
            return [b for b in base if b["target"] not in targets] + over
        return base + over
    return over


def dockerfile_lines(path):
    """A Dockerfile's instructions, continuation lines joined, comments dropped."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read().replace("\\\n", " ")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and
            not ln.lstrip().startswith("#")]


def mounts(service):
    """(source, target, read_only) of a service's volumes, long or short syntax."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            out.append((v["source"], v["target"], bool(v.get("read_only"))))
    return out


class ComposeFile(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.compose = load_compose()
        self.services = self.compose["services"]

    def test_two_replicas_of_the_image_share_one_named_volume(self):
        for name in REPLICAS:
            self.assertIn(name, self.services, "compose.yaml has no service %s" % name)
        builds = [self.services[n].get("build") for n in REPLICAS]
        for name, build in zip(REPLICAS, builds):
            self.assertIsInstance(build, dict, "%s: no build section" % name)
            self.assertEqual(os.path.normpath(os.path.join(DOCKER, build["context"])),
                             os.path.normpath(SOURCE_DIR), "%s: build context" % name)
            self.assertEqual(build["dockerfile"], "docker/Dockerfile", name)
        images = {self.services[n].get("image") for n in REPLICAS}
        self.assertEqual(len(images), 1, "the replicas run different images: %r" % images)
        named = self.compose.get("volumes") or {}
        data = [[(s, t) for s, t, _ in mounts(self.services[n]) if t == DATA] for n in REPLICAS]
        for name, d in zip(REPLICAS, data):
            self.assertEqual(len(d), 1, "%s: nothing mounted at %s" % (name, DATA))
            self.assertIn(d[0][0], named, "%s: %s is not a named volume" % (name, d[0][0]))
        self.assertEqual(data[0], data[1], "the replicas do not share one volume")
        for name in REPLICAS:
            self.assertNotIn("profiles", self.services[name],
                             "%s only starts with a profile" % name)

    def test_config_and_secret_are_mounted_read_only_under_etc(self):
        secrets = self.compose.get("secrets") or {}
        for name in REPLICAS:
            svc = self.services[name]
            cfg = [(s, ro) for s, t, ro in mounts(svc) if t == ETC + "config.json"]
            self.assertEqual(len(cfg), 1, "%s: no %sconfig.json" % (name, ETC))
            source, ro = cfg[0]
            self.assertTrue(ro, "%s: config.json is not read-only" % name)
            self.assertTrue(os.path.isfile(os.path.join(DOCKER, source)), source)
            for s, t, ro in mounts(svc):
                if t.startswith(ETC):
                    self.assertTrue(ro, "%s: %s is writable" % (name, t))
            targets = []
            for sec in svc.get("secrets", []):
                self.assertIn(sec["source"], secrets, "%s: undeclared secret" % name)
                self.assertTrue(sec["target"].startswith(ETC), sec)
                targets.append(sec["target"])
            with open(os.path.join(DOCKER, source), encoding="utf-8") as fh:
                config = json.load(fh)
            named = [i["hmac_secret_file"] for i in config["auth"]["issuers"]
                     if "hmac_secret_file" in i]
            self.assertTrue(named, "the sample config names no secret file")
            for path in named:
                self.assertIn(path, targets, "%s: %s is not mounted" % (name, path))
            self.assertTrue(config["store"]["path"].startswith(DATA + "/"),
                            "the database is not in the volume: %r" % config["store"])
        # The secret file stays out of git and out of the build context.
        for ignore in (".gitignore", ".dockerignore"):
            with open(os.path.join(SOURCE_DIR, ignore), encoding="utf-8") as fh:
                self.assertIn("docker/secrets", fh.read(), ignore)
        for sec in secrets.values():
            self.assertTrue(sec["file"].startswith("./secrets/"), sec)

    def test_haproxy_in_front_checks_readyz_and_retries(self):
        lb = self.services["lb"]
        self.assertTrue(lb["image"].startswith("haproxy:"), lb["image"])
        self.assertTrue(lb.get("ports"), "the balancer publishes no port")
        self.assertEqual(sorted(lb.get("depends_on", [])), sorted(REPLICAS))
        cfgs = [s for s, t, ro in mounts(lb) if t == "/usr/local/etc/haproxy/haproxy.cfg" and ro]
        self.assertEqual(len(cfgs), 1, mounts(lb))
        with open(os.path.join(DOCKER, cfgs[0]), encoding="utf-8") as fh:
            text = fh.read()
        lines = [ln.split("#")[0].split() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        servers = {ln[1]: ln[2] for ln in lines if ln[0] == "server"}
        self.assertEqual(servers, {n: "%s:8080" % n for n in REPLICAS})
        self.assertIn(["option", "httpchk", "GET", "/readyz"], lines)
        retry_on = [ln[1:] for ln in lines if ln[0] == "retry-on"]
        self.assertEqual(len(retry_on), 1, "no retry-on")
        self.assertTrue({"conn-failure", "empty-response", "503"} <= set(retry_on[0]),
                        retry_on[0])
        self.assertIn(["option", "forwardfor"], lines)
        binds = [ln[1] for ln in lines if ln[0] == "bind"]
        published = [str(p).split(":")[-1] for p in lb["ports"]]
        self.assertEqual([b.split(":")[-1] for b in binds], published)

    def test_fake_aws_is_an_optional_profile(self):
        fake = self.services["fake-aws"]
        self.assertTrue(fake.get("profiles"), "fake-aws starts by default")
        self.assertTrue(fake["image"].startswith("python:"), fake["image"])
        srcs = {t: s for s, t, ro in mounts(fake)}
        self.assertIn("/fake", srcs)
        fakes = os.path.normpath(os.path.join(DOCKER, srcs["/fake"]))
        command = " ".join(fake["command"])
        for m in re.finditer(r"/fake/(\S+)", command):
            self.assertTrue(os.path.isfile(os.path.join(fakes, m.group(1))), m.group(0))
        self.assertIn("fake_aws.py", command)
        for name in REPLICAS:
            env = self.services[name]["environment"]
            self.assertIn("AWS_ENDPOINT_URL", env, name)
            # Nothing but the environment of `docker compose` sets credentials.
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
                self.assertRegex(env[key], r"^\$\{%s:-\}$" % key)


class ComposePostgres(unittest.TestCase):
    """compose.postgres.yaml merged into compose.yaml: the same replicas on one
    PostgreSQL service (Debian's package), the password from a secret file."""
    maxDiff = None

    def setUp(self):
        self.compose = merge(load_compose(), load_compose("compose.postgres.yaml"))
        self.services = self.compose["services"]

    def replica_secrets(self, name):
        return {s["target"]: s["source"] for s in self.services[name].get("secrets", [])}

    def test_the_replicas_use_one_postgres_service_and_a_password_file(self):
        pg = self.services.get("postgres")
        self.assertIsNotNone(pg, "no postgres service")
        self.assertNotIn("profiles", pg, "postgres only starts with a profile")
        secrets = self.compose.get("secrets") or {}
        urls = set()
        for name in REPLICAS:
            svc = self.services[name]
            self.assertNotIn("profiles", svc, name)
            env = svc["environment"]
            url = urllib.parse.urlsplit(env["SR_STORE_URL"])
            urls.add(env["SR_STORE_URL"])
            self.assertIn(url.scheme, ("postgres", "postgresql"), env["SR_STORE_URL"])
            self.assertEqual(url.hostname, "postgres", "%s: store.url names another host" % name)
            self.assertIsNone(url.password, "%s: a password in store.url" % name)
            self.assertTrue(url.username, "%s: store.url names no user" % name)
            query = urllib.parse.parse_qs(url.query)
            self.assertIn(query.get("sslmode", [""])[0],
                          ("require", "verify-ca", "verify-full"),
                          "%s: store.url without sslmode requiring TLS" % name)
            # the password file: a secret mounted read-only under /etc/session-revoker/
            pw_path = env.get("SR_STORE_PASSWORD_FILE")
            self.assertIsNotNone(pw_path, "%s: no store.password_file" % name)
            self.assertTrue(pw_path.startswith(ETC), pw_path)
            mounted = self.replica_secrets(name)
            self.assertIn(pw_path, mounted, "%s: %s is not a mounted secret" % (name, pw_path))
            source = mounted[pw_path]
            self.assertIn(source, secrets, "%s: undeclared secret %s" % (name, source))
            self.assertTrue(secrets[source]["file"].startswith("./secrets/"), secrets[source])
            # the ops secret and the config are still there
            self.assertIn(ETC + "secrets/ops.secret", mounted, name)
            self.assertIn(ETC + "config.json", [t for _, t, _ in mounts(svc)], name)
            self.assertEqual(svc.get("depends_on", {}).get("postgres"),
                             {"condition": "service_healthy"},
                             "%s does not wait for a healthy postgres" % name)
        self.assertEqual(len(urls), 1, "the replicas use different databases: %r" % urls)
        # the same password reaches the server, from the same secret
        pg_secrets = {s["source"]: s["target"] for s in long_form("secrets", pg["secrets"])}
        self.assertIn(source, pg_secrets, "postgres does not get the replicas' password")
        self.assertEqual(pg["environment"]["SR_PG_PASSWORD_FILE"], pg_secrets[source])
        self.assertEqual(pg["environment"]["SR_PG_USER"], url.username)
        self.assertEqual(pg["environment"]["SR_PG_DATABASE"], url.path.lstrip("/"))
        self.assertEqual(url.port or 5432, 5432)

    def test_postgres_is_debian_postgresql_built_here_with_its_data_in_a_volume(self):
        pg = self.services["postgres"]
        build = pg.get("build")
        self.assertIsInstance(build, dict, "postgres: no build section (no registry here)")
        self.assertEqual(os.path.normpath(os.path.join(DOCKER, build["context"])),
                         os.path.normpath(SOURCE_DIR))
        path = os.path.join(SOURCE_DIR, build["dockerfile"])
        lines = dockerfile_lines(path)
        self.assertEqual(lines[0], "ARG BASE=debian:bookworm-slim")
        self.assertEqual([ln for ln in lines if ln.startswith("FROM")], ["FROM ${BASE}"])
        run = " ".join(ln for ln in lines if ln.startswith("RUN"))
        self.assertRegex(run, r"apt-get install [^&]*\bpostgresql\b")
        health = [ln for ln in lines if ln.startswith("HEALTHCHECK")]
        self.assertEqual(len(health), 1)
        self.assertIn("pg_isready", health[0])
        volume = [ln.split()[1] for ln in lines if ln.startswith("VOLUME")]
        self.assertEqual(len(volume), 1, "no VOLUME for the data")
        named = self.compose.get("volumes") or {}
        data = [s for s, t, _ in mounts(pg) if t == volume[0]]
        self.assertEqual(len(data), 1, "postgres: nothing mounted at %s" % volume[0])
        self.assertIn(data[0], named, "postgres: %s is not a named volume" % data[0])
        self.assertNotIn(data[0], [s for n in REPLICAS for s, _, _ in mounts(self.services[n])],
                         "the replicas mount the database's volume")
        # the entrypoint: password from the file, TLS + SCRAM only from the network
        entry = [ln for ln in lines if ln.startswith("ENTRYPOINT")]
        script = json.loads(entry[0].split(None, 1)[1])[0]
        copied = [ln.split() for ln in lines if ln.startswith("COPY") and script in ln]
        self.assertEqual(len(copied), 1, "the entrypoint is not copied in")
        with open(os.path.join(SOURCE_DIR, copied[0][-2]), encoding="utf-8") as fh:
            text = fh.read()
        self.assertIn("SR_PG_PASSWORD_FILE", text)
        hba = re.findall(r"^\s*\"?(host\S*|local) ", text, re.M)
        self.assertTrue(hba, "the entrypoint writes no pg_hba.conf lines")
        self.assertNotRegex(text, r"\btrust\b", "the entrypoint trusts someone")
        self.assertIn("hostssl all all 0.0.0.0/0 scram-sha-256", text)
        self.assertIn("ssl = on", text)


class SampleConfig(unittest.TestCase):
    def test_check_config_passes_on_the_sample(self):
        """The sample, with /etc/session-revoker/ moved into a temp dir holding
        a fresh secret, is what `serve` accepts."""
        tmp = tempfile.mkdtemp(prefix="sr-compose-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(DOCKER, "config.example.json"), encoding="utf-8") as fh:
            text = fh.read()
        etc = os.path.join(tmp, "etc") + "/"
        os.makedirs(os.path.join(etc, "secrets"))
        with open(os.path.join(etc, "secrets", "ops.secret"), "w", encoding="utf-8") as fh:
            fh.write(os.urandom(32).hex() + "\n")
        text = text.replace(ETC, etc).replace(DATA + "/", tmp + "/")
        cfg = os.path.join(tmp, "config.json")
        with open(cfg, "w", encoding="utf-8") as fh:
            fh.write(text)
        r = subprocess.run([harness.binary_path(), "check-config", "--config", cfg],
                           capture_output=True, text=True, timeout=60, cwd=tmp,
                           env=harness.clean_env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class Dockerfile(unittest.TestCase):
    def test_the_image_contract(self):
        lines = dockerfile_lines(os.path.join(DOCKER, "Dockerfile"))
        first = [ln.split()[0] for ln in lines]
        self.assertEqual(lines[0], "ARG BASE=debian:bookworm-slim")
        self.assertEqual(first.count("FROM"), 2, "not two stages")
        health = [ln for ln in lines if ln.startswith("HEALTHCHECK")]
        self.assertEqual(len(health), 1)
        self.assertIn("/readyz", health[0])
        self.assertIn("STOPSIGNAL SIGTERM", lines)
        self.assertIn("USER revoker", lines)
        self.assertIn("VOLUME %s" % DATA, lines)
        entry = [ln for ln in lines if ln.startswith("ENTRYPOINT")]
        self.assertEqual(len(entry), 1)
        script = json.loads(entry[0].split(None, 1)[1])[0]
        copied = [ln.split() for ln in lines if ln.startswith("COPY") and script in ln]
        self.assertEqual(len(copied), 1, "the entrypoint is not copied in")
        with open(os.path.join(SOURCE_DIR, copied[0][-2]), encoding="utf-8") as fh:
            entry_text = fh.read()
        self.assertIn(ETC + "config.json", entry_text)
        self.assertIn("exec /usr/local/bin/session-revoker", entry_text)

    def test_the_image_has_libpq_for_a_postgres_store_url(self):
        """The binary links libpq (CMakeLists: pkg_check_modules LIBPQ): the
        build stage needs its -dev package, the runtime stage the library."""
        lines = dockerfile_lines(os.path.join(DOCKER, "Dockerfile"))
        froms = [i for i, ln in enumerate(lines) if ln.startswith("FROM")]
        build = " ".join(lines[froms[0]:froms[1]])
        runtime = " ".join(lines[froms[1]:])
        self.assertRegex(build, r"apt-get install [^&]*\blibpq-dev\b",
                         "the build stage does not install libpq-dev")
        self.assertRegex(runtime, r"apt-get install [^&]*\blibpq5\b",
                         "the runtime stage does not install libpq5")


if __name__ == "__main__":
    unittest.main()
