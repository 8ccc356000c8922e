"""Redis over TLS (issue 13): FINSYS_REDIS_URL=rediss://... makes every
connection of the server and the worker a TLS one (src/redis/tls.c: hiredis
0.14 has none, so a bridge of the process joins hiredis's Unix socket to
TLS), the certificate verified against FINSYS_REDIS_CA_FILE for the URL's
address or its ?name=. A redis-server with only a TLS port is the Redis: a
certificate it cannot verify, or made for another name, leaves Redis
unavailable in /readyz with the reason in the log, and nothing reaches it."""

import os
import subprocess
import time
import uuid

from harness import TEST_TMP, Proc, free_port, funded_account, new_account
from test_health import _assert_ready, _pipeline_with_redis as _pipeline, _until

PASSWORD = "tls-pw"


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certs(d):
    """A CA, and a server certificate it signed for 127.0.0.1 and
    redis.test; a second CA that signed nothing here."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=finsys test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=another CA", "-keyout", "other.key", "-out", "other.pem", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=redis.test", "-keyout",
             "redis.key", "-out", "redis.csr", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:redis.test\n")
    _openssl("x509", "-req", "-in", "redis.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "redis.pem", cwd=d)


class _TlsRedis:
    def __init__(self):
        self.dir = os.path.join(TEST_TMP, f"redis-tls-{uuid.uuid4().hex[:8]}")
        os.makedirs(self.dir)
        _certs(self.dir)
        self.port = free_port()
        self.proc = Proc("redis-tls", [
            "redis-server", "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(self.port),
            "--tls-cert-file", self.path("redis.pem"), "--tls-key-file", self.path("redis.key"),
            "--tls-ca-cert-file", self.path("ca.pem"), "--tls-auth-clients", "no",
            "--dir", self.dir, "--save", "", "--requirepass", PASSWORD], port=self.port)

    def path(self, name):
        return os.path.join(self.dir, name)

    def cli(self, *args):
        return subprocess.run(
            ["redis-cli", "--tls", "--cacert", self.path("ca.pem"), "--no-auth-warning",
             "-h", "127.0.0.1", "-p", str(self.port), "-a", PASSWORD, *args],
            capture_output=True, text=True, timeout=10).stdout.strip()

    def stop(self):
        return self.proc.stop()


def _with_ca(ca):
    saved = os.environ.get("FINSYS_REDIS_CA_FILE")
    os.environ["FINSYS_REDIS_CA_FILE"] = ca
    return saved


def _restore(saved):
    if saved is None:
        os.environ.pop("FINSYS_REDIS_CA_FILE", None)
    else:
        os.environ["FINSYS_REDIS_CA_FILE"] = saved


def _tls_pipeline(url, ca):
    saved = _with_ca(ca)
    try:
        return _pipeline(url)
    finally:
        _restore(saved)


def test_rediss_connects_over_tls_verified_and_the_server_uses_redis():
    redis = _TlsRedis()
    pl = None
    try:
        for url in (f"rediss://:{PASSWORD}@127.0.0.1:{redis.port}",
                    f"rediss://:{PASSWORD}@127.0.0.1:{redis.port}?name=redis.test"):
            redis.cli("flushall")
            pl = _tls_pipeline(url, redis.path("ca.pem"))
            for port in (pl.http_port, pl.workers[0].port):
                _assert_ready(_until(port, "/readyz", 200))
            pl.pay(funded_account(1_000), new_account("USD"), 10)
            deadline = time.monotonic() + 10
            while int(redis.cli("dbsize") or 0) == 0:
                assert time.monotonic() < deadline, "nothing was written to Redis over TLS"
                time.sleep(0.1)
            assert "TLS to Redis at 127.0.0.1" in pl.server.text(), pl.server.text()[-2000:]
            assert PASSWORD not in pl.server.text()
            clean = pl.stop()
            pl = None
            assert clean
    finally:
        if pl is not None:
            pl.stop()
        redis.stop()


def test_a_certificate_not_verified_leaves_redis_unavailable_and_says_why():
    redis = _TlsRedis()
    pl = None
    try:
        for url, ca in ((f"rediss://:{PASSWORD}@127.0.0.1:{redis.port}", redis.path("other.pem")),
                        (f"rediss://:{PASSWORD}@127.0.0.1:{redis.port}?name=elsewhere.test",
                         redis.path("ca.pem"))):
            pl = _tls_pipeline(url, ca)
            body = _until(pl.http_port, "/readyz", 503)
            assert body["checks"]["redis"]["status"] == "unavailable", body
            deadline = time.monotonic() + 10
            while "certificate verify failed" not in pl.server.text():
                assert time.monotonic() < deadline, pl.server.text()[-2000:]
                time.sleep(0.1)
            assert int(redis.cli("dbsize") or 0) == 0
            clean = pl.stop()
            pl = None
            assert clean
    finally:
        if pl is not None:
            pl.stop()
        redis.stop()


def test_rediss_urls_are_checked():
    from harness import FINSYS_BIN
    for url in ("redis://127.0.0.1:6379?name=redis.test",
                "rediss://127.0.0.1:6379?host=redis.test",
                "rediss://127.0.0.1:6379?name=bad/name",
                "rediss://:hunter2@127.0.0.1:6379?name="):
        out = subprocess.run([FINSYS_BIN, "server"], env=dict(os.environ, FINSYS_REDIS_URL=url),
                             capture_output=True, text=True, timeout=30)
        assert out.returncode != 0, (url, out)
        assert "?name=" in out.stderr, (url, out.stderr)
        assert "hunter2" not in out.stderr, out.stderr
