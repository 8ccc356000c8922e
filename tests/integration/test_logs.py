"""Logs (docs/operations.md, "Logs"): one JSON object per line; an access
line per request with the route's template, status, duration and request id;
the request id followed from the API call into the worker's lines; the level
changed at run time by SIGHUP."""

import json
import os
import signal
import time
import uuid

from harness import KEY_A, TEST_TMP, funded_account, get, new_account, sql_value
from test_settle_pipeline import Pipeline, _http

SERVER_LOG = os.path.join(TEST_TMP, "server.log")


def _lines(text):
    out = []
    for raw in text.splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:
            pass
    return out


def _wait_for(fn, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_access_log_names_the_route_template_status_and_request_id():
    acct = new_account("USD")
    rid = "logs-" + uuid.uuid4().hex
    r = get(f"/v1/accounts/{acct}", headers={"X-Request-Id": rid})
    assert r.status == 200 and r.header("X-Request-Id") == rid, r
    r404 = get("/v1/accounts/acct_doesnotexist00000000000", headers={"X-Request-Id": rid + "-b"})
    assert r404.status == 404

    def find(want):
        with open(SERVER_LOG) as f:
            return [l for l in _lines(f.read())
                    if l.get("module") == "access" and l.get("request_id") == want]
    lines = _wait_for(lambda: find(rid))
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["route"] == "/v1/accounts/{id}", line
    assert acct not in json.dumps(line), line  # the template, not the raw id
    assert line["method"] == "GET" and line["status"] == 200, line
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0, line
    tenant = sql_value(f"SELECT tenant_id FROM accounts WHERE id = '{acct}'")
    assert line["tenant"] == tenant, line  # the key's, from the rate limit's check
    assert line["level"] == "info" and "time" in line, line
    assert find(rid + "-b")[0]["status"] == 404
    # A client cannot put a tenant into the log.
    rid2 = rid + "-c"
    get(f"/v1/accounts/{acct}", key=None, headers={"X-Request-Id": rid2,
                                                   "X-FinSys-Tenant": "forged"})
    line = _wait_for(lambda: find(rid2))[0]
    assert line["status"] == 401 and line["tenant"] is None, line


def test_request_id_reaches_the_worker_and_sighup_changes_the_level():
    level_file = os.path.join(TEST_TMP, f"level-{uuid.uuid4().hex[:8]}")
    with open(level_file, "w") as f:
        f.write("info\n")
    pl = Pipeline(FINSYS_LOG_LEVEL="info", FINSYS_LOG_LEVEL_FILE=level_file)
    worker = pl.workers[0]
    src = funded_account(10_000)
    dst = new_account("USD")

    def pay(rid):
        status, body = _http(pl.http_port, "POST", "/v1/payments",
                             {"from_account": src, "to_account": dst, "amount": 100,
                              "currency": "USD"},
                             {"Authorization": "Bearer " + KEY_A,
                              "Idempotency-Key": str(uuid.uuid4()), "X-Request-Id": rid})
        assert status == 201, (status, body)
        settled = _wait_for(lambda: sql_value(
            f"SELECT status FROM payments WHERE id = '{body['id']}'") == "succeeded")
        assert settled, body["id"]
        return body["id"]

    try:
        # At info, the worker says nothing of a payment that settles.
        rid1 = "quiet-" + uuid.uuid4().hex
        pay(rid1)
        time.sleep(0.2)
        assert not [l for l in _lines(worker.text()) if l.get("request_id") == rid1]

        with open(level_file, "w") as f:
            f.write("debug\n")
        worker.proc.send_signal(signal.SIGHUP)
        assert _wait_for(lambda: "log level now debug" in worker.text()), worker.text()[-2000:]
        rid2 = "loud-" + uuid.uuid4().hex
        pid = pay(rid2)
        lines = _wait_for(lambda: [l for l in _lines(worker.text())
                                   if l.get("request_id") == rid2])
        assert lines and any(pid in l["message"] for l in lines), worker.text()[-2000:]
        assert all(l["level"] == "debug" and l["module"] == "worker" for l in lines), lines

        with open(level_file, "w") as f:
            f.write("warn\n")
        worker.proc.send_signal(signal.SIGHUP)
        assert _wait_for(lambda: "log level now warn" in worker.text())
        rid3 = "quiet-again-" + uuid.uuid4().hex
        pay(rid3)
        time.sleep(0.2)
        assert not [l for l in _lines(worker.text()) if l.get("request_id") == rid3]

        # A level that is not one: said so, and the level stays.
        with open(level_file, "w") as f:
            f.write("loud\n")
        worker.proc.send_signal(signal.SIGHUP)
        assert _wait_for(lambda: "'loud' is not debug" in worker.text())
        # The server takes SIGHUP too, and its access lines carry the id.
        pl.server.proc.send_signal(signal.SIGHUP)
        assert _wait_for(lambda: "log level now" in pl.server.text())
        assert [l for l in _lines(pl.server.text())
                if l.get("request_id") == rid2 and l.get("module") == "access"]
    finally:
        assert pl.stop()
