"""The broker's outages (issue 13). A server and a worker started while no
nats-server listens keep trying: they serve, /readyz says not ready (NATS
unavailable) and then ready once the broker comes, and payments made
meanwhile (safe in PostgreSQL, the outbox) are published and settled without
a restart."""

import json
import re
import time
import urllib.request
import uuid

from harness import check_ledger, funded_account, new_account
from test_settle_pipeline import Pipeline, _http, _statuses, _wait_final


def _wait_http(port, path, want, seconds):
    deadline = time.monotonic() + seconds
    while True:
        status, body = _http(port, "GET", path)
        if status == want:
            return body
        assert time.monotonic() < deadline, (path, status, body)
        time.sleep(0.1)


def _metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def test_a_server_and_a_worker_started_before_the_broker_connect_when_it_comes():
    pl = Pipeline(nats_later=True, FINSYS_SWEEP_AFTER_S=1, FINSYS_SWEEP_INTERVAL_S=1)
    try:
        worker = pl.workers[0]
        # Both run and serve, and say they are not ready, naming NATS.
        for port in (pl.http_port, worker.port):
            status, body = _http(port, "GET", "/readyz")
            assert status == 503, (port, status, body)
            assert body["checks"]["nats"]["status"] == "unavailable", body
            assert body["checks"]["database"]["status"] == "ok", body
        a = funded_account(10_000)
        b = new_account("USD")
        before = pl.pay(a, b, 100)  # committed: the outbox holds it
        time.sleep(1.5)
        assert _statuses([before])[before] == "pending"

        pl.start_nats()
        started = time.monotonic()
        _wait_http(pl.http_port, "/readyz", 200, 10)
        _wait_http(worker.port, "/readyz", 200, 10)
        print(f"    ready {time.monotonic() - started:.2f} s after the broker")
        # The payment made before: the worker's sweeper publishes it.
        assert _wait_final([before], 30)[before] == "succeeded"
        # One made now: the server publishes it itself.
        after = pl.pay(a, b, 100)
        assert _wait_final([after], 30)[after] == "succeeded"
        assert _metric(pl.http_port, "finsys_queue_published_total") >= 1
        assert "the broker answers at last" in pl.server.text()
        assert check_ledger() == []
    finally:
        assert pl.stop()
