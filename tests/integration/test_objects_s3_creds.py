"""S3 credentials from the ECS task role and the EC2 instance profile (issue
15 follow-up): with no AWS_ACCESS_KEY_ID, the S3 store fetches temporary
credentials from an HTTP endpoint. A fake one runs here (http.server on a
free loopback port, in this process): ECS container credentials at /creds
(AWS_CONTAINER_CREDENTIALS_FULL_URI, behind an authorization token) and
IMDSv2 under /latest (AWS_EC2_METADATA_SERVICE_ENDPOINT: a token PUT first,
a GET without the token refused), both handing out the key pair the S3
front (tools/s3rver/server.js) checks signatures with, with an Expiration
EXPIRES_IN_S ahead, so that FinSys, which refreshes them 300 s
(FS_S3_CREDS_REFRESH_EARLY_S) before that, fetches them again
LIFETIME_S after each fetch."""

import http.server
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

from harness import FINSYS_BIN, TEST_TMP, Proc, free_port, funded_account, new_account, sql_value
from test_objects_s3 import S3, _get, _pay, _receipt
from test_settle_pipeline import Pipeline, _wait_final

REFRESH_EARLY_S = 300  # FS_S3_CREDS_REFRESH_EARLY_S in src/core/limits.h
LIFETIME_S = 3         # how long FinSys uses a fetched pair before fetching again
EXPIRES_IN_S = REFRESH_EARLY_S + LIFETIME_S
AUTH_TOKEN = "test-container-auth-" + uuid.uuid4().hex[:8]
IMDS_TOKEN = "test-imds-token-" + uuid.uuid4().hex[:8]
ROLE = "finsys-task-role"


class Metadata:
    """The fake credential endpoint; counts what it was asked."""

    def __init__(self, access_key, secret):
        self.access_key, self.secret = access_key, secret
        self.expires_in = EXPIRES_IN_S
        self.tokens = []  # every session token handed out
        self.hits = {"creds": 0, "token": 0, "role": 0, "role_creds": 0, "refused": 0}
        self.lock = threading.Lock()
        md = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, ctype="text/plain"):
                raw = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _count(self, what):
                with md.lock:
                    md.hits[what] += 1

            def do_PUT(self):
                if self.path != "/latest/api/token" \
                        or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    self._count("refused")
                    return self._send(400, "bad token request")
                self._count("token")
                self._send(200, IMDS_TOKEN)

            def do_GET(self):
                if self.path == "/creds":
                    if self.headers.get("Authorization") != AUTH_TOKEN:
                        self._count("refused")
                        return self._send(401, "no authorization")
                    self._count("creds")
                    return self._send(200, json.dumps(md.pair()), "application/json")
                base = "/latest/meta-data/iam/security-credentials/"
                if not self.path.startswith(base):
                    return self._send(404, "not found")
                # IMDSv2 only: a GET without the session token is refused.
                if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                    self._count("refused")
                    return self._send(401, "IMDSv2: PUT /latest/api/token first")
                if self.path == base:
                    self._count("role")
                    return self._send(200, ROLE)
                if self.path == base + ROLE:
                    self._count("role_creds")
                    body = dict(md.pair(), Code="Success", Type="AWS-HMAC",
                                LastUpdated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                    return self._send(200, json.dumps(body), "application/json")
                self._send(404, "no such role")

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def pair(self):
        exp = time.gmtime(time.time() + self.expires_in)
        token = "session-" + uuid.uuid4().hex
        with self.lock:
            self.tokens.append(token)
        return {"AccessKeyId": self.access_key, "SecretAccessKey": self.secret, "Token": token,
                "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", exp)}

    def count(self, what):
        with self.lock:
            return self.hits[what]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _no_env_keys():
    # The suite's environment has no AWS_ACCESS_KEY_ID (scripts/test.sh
    # sets it for test_s3_live's command only); empty is taken as unset.
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}
    for k in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
              "AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        env[k] = ""
    return env


class EcsPipeline(Pipeline):
    """A server and a worker on S3 with the ECS task role's credentials."""

    def __init__(self, s3, md, **kw):
        self.s3, self.md = s3, md
        super().__init__(**kw)

    def _start(self, name, argv, port=None, env=None):
        if name in ("server", "worker"):
            env = dict(env or {})
            env.update(_no_env_keys())
            env.update({"FINSYS_OBJECTS_URL": self.s3.url, "FINSYS_OBJECTS_DIR": "",
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI":
                            f"http://127.0.0.1:{self.md.port}/creds",
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN": AUTH_TOKEN,
                        # Were ECS's to fail, IMDS must not answer instead.
                        "AWS_EC2_METADATA_DISABLED": "true"})
        return super()._start(name, argv, port=port, env=env)


def test_no_credentials_at_start_is_a_clear_error():
    env = dict(os.environ)
    env.update(_no_env_keys())
    env.update({"FINSYS_OBJECTS_DIR": "", "AWS_EC2_METADATA_DISABLED": "true",
                "FINSYS_OBJECTS_URL": "s3://bkt-1/p?endpoint=http://127.0.0.1:1&region=us-east-1"})
    out = subprocess.run([FINSYS_BIN, "server"], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0
    for part in ("no AWS credentials were found", "AWS_ACCESS_KEY_ID is not set",
                 "ECS container credentials", "EC2 instance metadata (IMDSv2)"):
        assert part in out.stderr, out.stderr


def test_task_role_credentials_are_fetched_cached_and_refreshed_and_imds_works():
    # The S3 front refuses the session tokens listed here as expired.
    expired = os.path.join(TEST_TMP, f"expired-tokens-{uuid.uuid4().hex[:8]}")
    open(expired, "w").close()
    os.environ["FS_S3_EXPIRED_TOKENS_FILE"] = expired
    try:
        s3 = S3()
    finally:
        del os.environ["FS_S3_EXPIRED_TOKENS_FILE"]
    md = Metadata(s3.access_key, s3.secret)
    pl = None
    imds_server = None
    try:
        pl = EcsPipeline(s3, md)
        # Each process fetched at start-up (a start without keys would fail).
        assert md.count("creds") >= 2, md.hits
        assert md.count("refused") == 0, md.hits
        # (1) A receipt round trip: written by the worker, read by the
        # server, both signing with the task role's keys.
        a = funded_account(10_000)
        b = new_account("USD")
        pid = _pay(pl, a, b, 321)
        assert _wait_final([pid])[pid] == "succeeded"
        status, raw = _receipt(pl, pid)
        assert status == 200, raw
        key = sql_value(f"SELECT object_key FROM receipts WHERE payment_id = '{pid}'")
        with open(s3.file(key), "rb") as f:
            assert f.read() == raw
        # (2) Cached: five reads cost at most the one refresh that may have
        # fallen due meanwhile, not a fetch each.
        before = md.count("creds")
        for _ in range(5):
            assert _get(pl.http_port, f"/v1/payments/{pid}/receipt") == (200, raw)
        assert md.count("creds") <= before + 1, md.hits
        # Refreshed: once the server's keys are within 300 s of their
        # Expiration, its next request fetches new ones first (valid for
        # an hour from now on: no refresh by time below).
        md.expires_in = 3600
        before = md.count("creds")
        time.sleep(LIFETIME_S + 0.5)
        assert _get(pl.http_port, f"/v1/payments/{pid}/receipt") == (200, raw)
        assert md.count("creds") >= before + 1, md.hits
        assert "S3 credentials from ECS container credentials" in pl.server.text()
        # Refused by S3 as expired (403 ExpiredToken) before their time:
        # fetched again at once and the request made again, once.
        with md.lock, open(expired, "w") as f:
            f.write("\n".join(md.tokens) + "\n")
        before = md.count("creds")
        assert _get(pl.http_port, f"/v1/payments/{pid}/receipt") == (200, raw)
        assert md.count("creds") == before + 1, md.hits
        assert "HTTP 403 (ExpiredToken): fetching the credentials again" in pl.server.text()
        # (3) IMDSv2: a server of its own with the instance profile's keys.
        # A GET without the session token is refused by the fake, as by
        # IMDS with IMDSv2 required.
        req = urllib.request.Request(
            f"http://127.0.0.1:{md.port}/latest/meta-data/iam/security-credentials/")
        try:
            urllib.request.urlopen(req, timeout=5)
            assert False, "IMDSv1 GET answered"
        except urllib.error.HTTPError as e:
            assert e.code == 401
        refused = md.count("refused")
        port = free_port()
        env = _no_env_keys()
        env.update({"FINSYS_OBJECTS_URL": s3.url, "FINSYS_OBJECTS_DIR": "",
                    "FINSYS_HTTP_PORT": port, "FINSYS_NATS_URL": "",
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{md.port}"})
        imds_server = Proc("server", [FINSYS_BIN, "server"], env=env, port=port)
        assert md.count("token") >= 1 and md.count("role") >= 1 \
            and md.count("role_creds") >= 1, md.hits
        assert md.count("refused") == refused, md.hits  # FinSys sent the token every time
        assert _get(port, f"/v1/payments/{pid}/receipt") == (200, raw)
        assert f"S3 credentials from EC2 instance profile {ROLE}" in imds_server.text()
    finally:
        ok = True
        if imds_server is not None:
            ok = imds_server.stop() == 0 and imds_server.sanitizer_clean()
        if pl is not None:
            ok = pl.stop() and ok
        s3.stop()
        md.stop()
    assert ok, "a server or worker did not stop clean"
