"""A Redis that requires a password (issue 13): FINSYS_REDIS_URL carries it
(redis://[USER]:PASSWORD@IP:PORT, percent-encoded), every connection sends
AUTH first, a refused password shows in /readyz and the log (without the
password), and no error message prints it."""

import os
import subprocess
import time
import uuid

from harness import FINSYS_BIN, TEST_TMP, Proc, free_port, funded_account, new_account
from test_health import _assert_ready, _pipeline_with_redis as _pipeline, _until

PASSWORD = "s3cr@t:pw/x"
ENCODED = "s3cr%40t%3Apw%2Fx"


def _cli(port, *args):
    return subprocess.run(["redis-cli", "--no-auth-warning", "-h", "127.0.0.1", "-p", str(port),
                           "-a", PASSWORD, *args],
                          capture_output=True, text=True, timeout=10).stdout.strip()


class _LockedRedis:
    def __init__(self):
        self.port = free_port()
        self.dir = os.path.join(TEST_TMP, f"redis-auth-{uuid.uuid4().hex[:8]}")
        os.makedirs(self.dir)
        self.proc = Proc("redis", ["redis-server", "--bind", "127.0.0.1", "--port",
                                   str(self.port), "--dir", self.dir, "--save", "",
                                   "--requirepass", PASSWORD], port=self.port)
        deadline = time.monotonic() + 20
        while _cli(self.port, "ping") != "PONG":
            assert time.monotonic() < deadline, "redis-server did not answer"
            time.sleep(0.05)

    def stop(self):
        return self.proc.stop()


def test_the_password_in_the_url_is_sent_and_the_server_uses_redis():
    redis = _LockedRedis()
    pl = _pipeline(f"redis://:{ENCODED}@127.0.0.1:{redis.port}")
    try:
        for port in (pl.http_port, pl.workers[0].port):
            _assert_ready(_until(port, "/readyz", 200))
        # The server's rate limiter and caches write into this Redis.
        pl.pay(funded_account(1_000), new_account("USD"), 10)
        deadline = time.monotonic() + 10
        while int(_cli(redis.port, "dbsize") or 0) == 0:
            assert time.monotonic() < deadline, "nothing was written to Redis"
            time.sleep(0.1)
        assert PASSWORD not in pl.server.text()
    finally:
        clean = pl.stop()
        redis.stop()
    assert clean


def test_a_refused_password_shows_in_readyz_and_the_log_without_the_password():
    redis = _LockedRedis()
    pl = _pipeline(f"redis://:wrong-{ENCODED}@127.0.0.1:{redis.port}")
    try:
        body = _until(pl.http_port, "/readyz", 503)
        assert body["checks"]["redis"]["status"] == "unavailable", body
        deadline = time.monotonic() + 10
        while "AUTH refused" not in pl.server.text():
            assert time.monotonic() < deadline, pl.server.text()[-2000:]
            time.sleep(0.1)
        for p in (pl.server, pl.workers[0]):
            assert ENCODED not in p.text() and PASSWORD not in p.text()
    finally:
        clean = pl.stop()
        redis.stop()
    assert clean


def test_a_malformed_url_is_refused_at_start_without_printing_the_password():
    for url in ("redis://hunter2@127.0.0.1:6379", "redis://:hunter2@localhost:6379",
                "redis://:" + "x" * 600 + "@127.0.0.1:6379"):
        out = subprocess.run([FINSYS_BIN, "server"], env=dict(os.environ, FINSYS_REDIS_URL=url),
                             capture_output=True, text=True, timeout=30)
        assert out.returncode != 0, out
        assert "FINSYS_REDIS_URL" in out.stderr or "Redis URL" in out.stderr, out.stderr
        assert "hunter2" not in out.stderr and "x" * 600 not in out.stderr, out.stderr
        if "hunter2" in url:
            assert "redis://***@" in out.stderr, out.stderr
