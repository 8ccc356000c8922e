"""Webhook destinations (issue 13; docs/operations.md, "Webhook destinations"):
a tenant's endpoint URL must not make the worker POST into the operator's own
network. Without FINSYS_WEBHOOK_ALLOWED_NETWORKS (which scripts/test.sh sets
to loopback for the other tests, whose receivers are on 127.0.0.1), loopback, private,
link-local and IPv4-mapped hosts are refused when the endpoint is made, and
the worker checks the address again before it connects."""

import os
import time
import uuid

from harness import FINSYS_BIN, Proc, free_port, new_api_key, sql
from test_settle_pipeline import Pipeline, _http
from test_webhooks import Receiver, _api, _funded_pair, _stop

ALLOW = "FINSYS_WEBHOOK_ALLOWED_NETWORKS"

REFUSED = [
    "http://127.0.0.1:8080/hooks",
    "http://127.1.2.3/",
    "http://localhost/",
    "http://localhost:9/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::1]:8080/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://0.0.0.0:8080/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
]

ACCEPTED = [
    "http://93.184.216.34/hooks",
    "http://172.32.0.1/",
    "http://[2606:2800:220:1:248:1893:25c8:1946]/",
]


def _default_server():
    """A server of this test's own started without FINSYS_WEBHOOK_ALLOWED_NETWORKS
    at all: the default."""
    saved = os.environ.pop(ALLOW, None)
    try:
        port = free_port()
        p = Proc("server-ssrf", [FINSYS_BIN, "server"], port=port,
                 env={"FINSYS_HTTP_PORT": port, "FINSYS_NATS_URL": ""})
    finally:
        if saved is not None:
            os.environ[ALLOW] = saved
    return p, port


def _create(port, key, url):
    return _http(port, "POST", "/v1/webhook_endpoints", {"url": url, "events": ["*"]},
                 {"Authorization": "Bearer " + key, "Idempotency-Key": str(uuid.uuid4())})


def test_private_webhook_urls_are_refused_by_default():
    p, port = _default_server()
    key = new_api_key(f"ssrf-{uuid.uuid4().hex[:8]}")
    made = []
    try:
        for url in REFUSED:
            status, body = _create(port, key, url)
            assert status == 400, (url, status, body)
            e = body["error"]
            assert e["code"] == "invalid_request" and e["param"] == "url", (url, body)
            assert "refused network" in e["message"], (url, e)
        status, body = _create(port, key, "http://169.254.169.254/")
        assert "link-local (169.254.0.0/16)" in body["error"]["message"], body
        status, body = _create(port, key, "http://[::ffff:127.0.0.1]/")
        assert "loopback (127.0.0.0/8)" in body["error"]["message"], body
        for url in ACCEPTED:
            status, body = _create(port, key, url)
            assert status == 201, (url, status, body)
            made.append(body["id"])
        # Nothing refused was stored.
        status, listed = _http(port, "GET", "/v1/webhook_endpoints?limit=100", None,
                               {"Authorization": "Bearer " + key})
        assert status == 200, listed
        assert sorted(x["id"] for x in listed["data"]) == sorted(made), listed
    finally:
        for eid in made:
            _http(port, "DELETE", f"/v1/webhook_endpoints/{eid}", None,
                  {"Authorization": "Bearer " + key})
        assert p.stop() == 0 and p.sanitizer_clean(), p.text()[-3000:]


def test_the_worker_refuses_a_private_destination_at_connect_time():
    """An endpoint made while loopback was allowed (this pipeline's server has
    FINSYS_WEBHOOK_ALLOWED_NETWORKS from scripts/test.sh) is not connected to
    by a worker that allows only another network: each attempt fails with
    the reason, and the receiver sees nothing."""
    pl = Pipeline(FINSYS_WEBHOOK_BACKOFF_BASE_MS=200, **{ALLOW: "10.9.8.0/24"})
    receiver = Receiver()
    try:
        key = new_api_key(f"ssrf-{uuid.uuid4().hex[:8]}")
        a, b = _funded_pair(pl, key, 1_000)
        status, e = _api(pl, key, "POST", "/v1/webhook_endpoints",
                         {"url": receiver.url, "events": ["payment.created"]})
        assert status == 201, e
        status, p = _api(pl, key, "POST", "/v1/payments",
                         {"from_account": a, "to_account": b, "amount": 100, "currency": "USD"})
        assert status == 201, p
        deadline = time.monotonic() + 30
        while True:
            rows = sql(f"SELECT status, attempts, last_error FROM webhook_deliveries "
                       f"WHERE endpoint_id = '{e['id']}'")
            if rows and int(rows[0][1]) >= 2:
                break
            assert time.monotonic() < deadline, (rows, pl.workers[0].text()[-2000:])
            time.sleep(0.05)
        assert rows[0][0] != "delivered", rows
        assert rows[0][2] == "destination refused: loopback (127.0.0.0/8)", rows
        assert receiver.got == [], receiver.got
        assert "in a refused network" in pl.workers[0].text()
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        receiver.stop()
        _stop(pl)
