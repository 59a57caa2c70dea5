"""A fake OpenID Shared Signals (SSF 1.0) transmitter, over real HTTPS.

What `session-revoker ssf register` talks to, and what then pushes SETs to
the service:

- GET  /.well-known/ssf-configuration<issuer path>  the metadata (SSF 1.0
       section 7: the well-known part between the host and the issuer's path)
- GET  /jwks.json                                   its signing key (ES256)
- the configuration endpoint /ssf/streams (bearer token required):
  POST (create: 201 + the stream), GET (all streams as an array, or the one
  of ?stream_id= as an object; 404 when there is none), PATCH (update the
  receiver-supplied members of the stream named by stream_id in the body:
  200 + the stream), PUT (replace: the same), DELETE ?stream_id= (204).

events_delivered is the intersection of events_requested and the events it
supports. fault = one of: None, "401" (every management request refused),
"500", "slow" (sleeps 5 s before answering), "not_json" (metadata and
stream answers are not JSON), "no_push" (delivery_methods_supported lists
only poll), "old_push" (only the RISC drafts' push URI), "refuse" (400 to
create or update), "not_ssf" (404 for the metadata). push(claims) signs a SET
and POSTs it to each stream's delivery endpoint with its
authorization_header, as RFC 8935 says.

Run with Debian's /usr/bin/python3 (PyJWT, cryptography).

    t = FakeTransmitter(tls_dir, token="...", path="/tenant1").start()
    t.issuer, t.ca_file, t.streams(), t.requests, t.push(claims), t.stop()
"""

import copy
import http.client
import http.server
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_idp  # noqa: E402  (make_tls, public_jwk)

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
PUSH_RISC = "https://schemas.openid.net/secevent/risc/delivery-method/push"
SUPPORTED = [
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/ssf/event-type/verification",
]


class FakeTransmitter:
    def __init__(self, tls_dir, token="mgmt-token", path="", host="127.0.0.1"):
        os.makedirs(tls_dir, exist_ok=True)
        self.tls = fake_idp.make_tls(tls_dir)
        self.ca_file = self.tls["ca_file"]
        self.token = token
        self.path = path
        self.host = host
        self.fault = None
        self.lock = threading.Lock()
        self._streams = {}
        self.requests = []  # (method, path, body text)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "tx-" + uuid.uuid4().hex[:8]
        self.server = None

    # ------------------------------------------------------------ control
    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                fake._handle(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that refused our certificate (a test case)

        self.server = Server((self.host, 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.tls["main"])
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def base(self):
        return "https://%s:%d" % (self.host, self.port)

    @property
    def issuer(self):
        return self.base + self.path

    @property
    def jwks_uri(self):
        return self.base + "/jwks.json"

    def streams(self):
        with self.lock:
            return copy.deepcopy(list(self._streams.values()))

    def add_stream(self, endpoint_url, events=None):
        """A stream created on the transmitter's side (another receiver's)."""
        sid = uuid.uuid4().hex
        with self.lock:
            self._streams[sid] = self._stream(sid, {
                "delivery": {"method": PUSH, "endpoint_url": endpoint_url},
                "events_requested": events or SUPPORTED[:1]})
        return sid

    def writes(self):
        return [r for r in self.requests if r[0] in ("POST", "PATCH", "PUT", "DELETE")]

    # ------------------------------------------------------------ SETs
    def sign(self, claims):
        return jwt.encode(claims, self.key, algorithm="ES256",
                          headers={"kid": self.kid, "typ": "secevent+jwt"})

    def push(self, claims, stream_id=None):
        """POSTs the signed SET to each stream's (or stream_id's) endpoint.
        Returns [(status, body)]."""
        out = []
        for s in self.streams():
            if stream_id and s["stream_id"] != stream_id:
                continue
            d = s["delivery"]
            u = urllib.parse.urlsplit(d["endpoint_url"])
            conn = (http.client.HTTPSConnection if u.scheme == "https"
                    else http.client.HTTPConnection)(u.hostname, u.port, timeout=10)
            headers = {"Content-Type": "application/secevent+jwt",
                       "Accept": "application/json"}
            if d.get("authorization_header"):
                headers["Authorization"] = d["authorization_header"]
            c = dict(claims)
            c.setdefault("iss", self.issuer)
            c.setdefault("aud", s["aud"])
            conn.request("POST", u.path, body=self.sign(c), headers=headers)
            r = conn.getresponse()
            out.append((r.status, r.read()))
            conn.close()
        return out

    # ------------------------------------------------------------ HTTP
    def metadata(self):
        methods = {"no_push": [POLL], "old_push": [PUSH_RISC, POLL]}.get(self.fault,
                                                                        [PUSH, POLL])
        return {"spec_version": "1_0", "issuer": self.issuer, "jwks_uri": self.jwks_uri,
                "delivery_methods_supported": methods,
                "configuration_endpoint": self.base + "/ssf/streams",
                "status_endpoint": self.base + "/ssf/status",
                "verification_endpoint": self.base + "/ssf/verify"}

    def _stream(self, sid, body):
        requested = list(body.get("events_requested") or [])
        return {"stream_id": sid, "iss": self.issuer,
                "aud": body["delivery"].get("endpoint_url", ""),
                "delivery": dict(body["delivery"]),
                "events_supported": list(SUPPORTED), "events_requested": requested,
                "events_delivered": [e for e in requested if e in SUPPORTED],
                "description": body.get("description", "")}

    def _send(self, h, status, body=None, raw=None):
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        if self.fault == "not_json" and status < 300 and raw is not None:
            raw = b"<html>hello</html>"
        raw = raw or b""
        h.send_response(status)
        if raw:
            h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)

    def _handle(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        text = h.rfile.read(n).decode() if n else ""
        u = urllib.parse.urlsplit(h.path)
        with self.lock:
            self.requests.append((h.command, h.path, text, h.headers.get("Authorization")))
        if self.fault == "slow":
            time.sleep(5)
        if u.path == "/.well-known/ssf-configuration" + self.path and h.command == "GET":
            if self.fault == "not_ssf":
                return self._send(h, 404, {"error": "not_found"})
            return self._send(h, 200, self.metadata())
        if u.path == "/jwks.json":
            jwk = fake_idp.public_jwk(self.key.public_key())
            jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
            return self._send(h, 200, {"keys": [jwk]})
        if u.path != "/ssf/streams":
            return self._send(h, 404, {"error": "not_found"})
        if h.headers.get("Authorization") != "Bearer " + self.token or self.fault == "401":
            return self._send(h, 401, {"error": "invalid_token",
                                       "description": "bad token %s" % (
                                           h.headers.get("Authorization"),)})
        if self.fault == "500":
            return self._send(h, 500, {"error": "server_error"})
        q = urllib.parse.parse_qs(u.query)
        with self.lock:
            if h.command == "GET":
                if "stream_id" in q:
                    s = self._streams.get(q["stream_id"][0])
                    return self._send(h, 200, s) if s else self._send(h, 404, {})
                return self._send(h, 200, list(self._streams.values()))
            if h.command == "DELETE":
                self._streams.pop((q.get("stream_id") or [""])[0], None)
                return self._send(h, 204)
            try:
                body = json.loads(text)
            except ValueError:
                return self._send(h, 400, {"error": "invalid_request"})
            if self.fault == "refuse":
                return self._send(h, 400, {"error": "invalid_request",
                                           "description": "endpoint_url not allowed"})
            d = body.get("delivery") or {}
            if h.command == "POST":
                if d.get("method") not in (PUSH, PUSH_RISC) or not d.get("endpoint_url"):
                    return self._send(h, 400, {"error": "invalid_request"})
                sid = uuid.uuid4().hex
                self._streams[sid] = self._stream(sid, body)
                return self._send(h, 201, self._streams[sid])
            s = self._streams.get(body.get("stream_id"))
            if s is None:
                return self._send(h, 404, {})
            merged = {"delivery": d or s["delivery"],
                      "events_requested": body.get("events_requested",
                                                   s["events_requested"])}
            self._streams[s["stream_id"]] = self._stream(s["stream_id"], merged)
            return self._send(h, 200, self._streams[s["stream_id"]])
