"""Liveness and readiness (src/health): GET /healthz asks nothing; GET /readyz
asks PostgreSQL, Redis and NATS, names each one's status and latency, and is
503 naming the one that does not answer. The server's and the worker's pair
are the same. The dependencies stopped here are the test's own (a Pipeline
and a redis-server of its own), so other tests do not see them go."""

import json
import os
import time
import urllib.error
import urllib.request

from test_cache import _Redis
from test_settle_pipeline import Pipeline


def _get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _until(port, path, status, seconds=20):
    """Polls until the answer has this status (a dependency's loss is seen as
    its client notices it); returns the last body."""
    deadline = time.monotonic() + seconds
    while True:
        got, body = _get(port, path)
        if got == status or time.monotonic() > deadline:
            assert got == status, (path, got, body)
            return body
        time.sleep(0.1)


def _assert_ready(body):
    assert body["status"] == "ready", body
    for dep in ("database", "redis", "nats"):
        assert body["checks"][dep]["status"] == "ok", body
        assert 0 <= body["checks"][dep]["latency_ms"] < 10000, body
    assert "reason" not in body, body


def _pipeline_with_redis(url):
    """A Pipeline whose processes use the Redis at url."""
    saved = os.environ.get("FINSYS_REDIS_URL")
    os.environ["FINSYS_REDIS_URL"] = url
    try:
        return Pipeline()
    finally:
        if saved is None:
            del os.environ["FINSYS_REDIS_URL"]
        else:
            os.environ["FINSYS_REDIS_URL"] = saved


def test_readyz_names_redis_then_nats_when_they_stop():
    redis = _Redis()
    pl = _pipeline_with_redis(redis.url())
    worker = pl.workers[0]
    try:
        for port in (pl.http_port, worker.port):
            assert _get(port, "/healthz") == (200, {"status": "ok"})
            _assert_ready(_until(port, "/readyz", 200))

        t0 = time.monotonic()
        redis.stop()
        for port in (pl.http_port, worker.port):
            body = _until(port, "/readyz", 503)
            assert body["status"] == "unavailable", body
            assert body["checks"]["redis"]["status"] == "unavailable", body
            assert body["checks"]["database"]["status"] == "ok", body
            assert body["checks"]["nats"]["status"] == "ok", body
            assert "redis" in body["reason"] and "database" not in body["reason"], body
            # Alive all the same: liveness asks nothing.
            assert _get(port, "/healthz")[0] == 200
        print(f"redis stopped: 503 seen in {time.monotonic() - t0:.2f} s")

        redis.start()
        for port in (pl.http_port, worker.port):
            _assert_ready(_until(port, "/readyz", 200))

        t0 = time.monotonic()
        pl.nats.stop()
        for port in (pl.http_port, worker.port):
            body = _until(port, "/readyz", 503)
            assert body["checks"]["nats"]["status"] == "unavailable", body
            assert body["checks"]["redis"]["status"] == "ok", body
            assert "nats" in body["reason"], body
        print(f"nats stopped: 503 seen in {time.monotonic() - t0:.2f} s")
    finally:
        clean = pl.stop()
        redis.stop()
    assert clean


def test_readyz_without_redis_reports_it_disabled():
    saved = os.environ.get("FINSYS_REDIS_URL")
    os.environ["FINSYS_REDIS_URL"] = ""
    try:
        pl = Pipeline()
    finally:
        if saved is None:
            del os.environ["FINSYS_REDIS_URL"]
        else:
            os.environ["FINSYS_REDIS_URL"] = saved
    try:
        for port in (pl.http_port, pl.workers[0].port):
            body = _until(port, "/readyz", 200)
            assert body["checks"]["redis"] == {"status": "disabled"}, body
            assert body["checks"]["database"]["status"] == "ok", body
    finally:
        assert pl.stop()
