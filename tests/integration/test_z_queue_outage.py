"""The broker's outages (issue 13). A server and a worker started while no
nats-server listens keep trying: they serve, /readyz says not ready (NATS
unavailable) and then ready once the broker comes, and payments made
meanwhile (safe in PostgreSQL, the outbox) are published and settled without
a restart. And the outbox sweeper drains a backlog of more than two pages in
one tick, walking the outbox page after page from a cursor.

Named to run after the other modules (test_zz_secrets excepted): its 2,100
payments settle at a provider simulator of their own, so a reconciliation of
the day (test_reconciliation's whole-day view) would list them all."""

import hashlib
import json
import re
import time
import urllib.request
import uuid

from harness import (check_ledger, deposit, funded_account, new_account, new_api_key, sql,
                     sql_value)
from test_settle_pipeline import Pipeline, _http, _statuses, _wait_final

SWEEP_PAGE = 1000  # FS_WORKER_SWEEP_MAX (src/core/limits.h)


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


def _sweep(**item):
    arg = json.dumps([dict({"op": "settle_sweep", "older_s": 0}, **item)]).replace("'", "''")
    return json.loads(sql_value(f"SELECT o_payload FROM fs_batch('{arg}')"))


def _tenant_payments(n, amount=1):
    """n pending payments of a new tenant, straight into fs_batch (groups of
    200: one psql argument each), as the server would make them; returns
    their ids."""
    name = "sweep-" + uuid.uuid4().hex[:10]
    key = new_api_key(name)
    tenant = sql_value(f"SELECT id FROM tenants WHERE name = '{name}'")
    auth = sql_value(f"SELECT encode(key_hash, 'hex') FROM api_keys WHERE tenant_id = '{tenant}'")
    src, dst = new_account("USD", key=key), new_account("USD", key=key)
    deposit(src, n * amount, key=key)
    ids = []
    for start in range(0, n, 200):
        items = []
        for _ in range(min(200, n - start)):
            pid = "pay_" + uuid.uuid4().hex[:24]
            items.append({"op": "payment_create", "id": pid, "from": src, "to": dst,
                          "amount": amount, "currency": "USD", "auth": auth,
                          "idem": uuid.uuid4().hex,
                          "fp": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
                          "rid": "req_" + uuid.uuid4().hex[:16], "metadata": {}})
            ids.append(pid)
        text = json.dumps(items).replace("'", "''")
        outcomes = sql(f"SELECT o_outcome FROM fs_batch('{text}'::jsonb)")
        assert all(o[0] == "created" for o in outcomes), outcomes[:3]
    return ids


def test_the_sweep_op_pages_by_cursor():
    """settle_sweep hands back the last row of its page (p_last); from it the
    next page starts, so the pages cover every due row once, in order. The
    walk starts at this test's rows (made in one transaction: one created_at)
    so that other tests' leftovers in the outbox do not make it long."""
    ids = _tenant_payments(7)
    at = json.loads(sql_value(f"SELECT to_json(created_at) FROM payment_outbox "
                              f"WHERE payment_id = '{ids[0]}'"))
    seen, pages, after = [], 0, {"at": at, "id": ""}
    while True:
        page = _sweep(max=3, p_after=after)
        pages += 1
        assert page["locked"] is False, page
        seen += page["payments"]
        if len(page["payments"]) < 3:
            break
        after = page["p_last"]
        assert after["id"] == page["payments"][-1], page
        assert pages < 1000
    assert len(seen) == len(set(seen)), "a row came twice"
    assert set(ids) <= set(seen), set(ids) - set(seen)
    assert seen[:7] == sorted(ids), (seen, sorted(ids))
    assert pages >= 3
    # A kind already drained is skipped; a page past the last row is empty.
    page = _sweep(max=3, p_done=True)
    assert page["payments"] == [] and page["p_last"] is None, page
    page = _sweep(max=3, p_after={"at": "infinity", "id": ""}, r_after={"at": "infinity"})
    assert page["payments"] == [] and page["refunds"] == [], page
    assert page["p_last"] is None and page["r_last"] is None, page


def test_one_sweep_tick_publishes_more_than_two_pages():
    """More than two pages of due payments, made while no worker runs: the
    first tick of the worker's sweeper publishes every one of them (page
    after page), not just the first page; all settle before a second tick
    could have come."""
    ids = _tenant_payments(2 * SWEEP_PAGE + 100)
    due = int(sql_value("SELECT count(*) FROM payment_outbox"))
    assert due > 2 * SWEEP_PAGE, due
    time.sleep(1.2)  # older than FINSYS_SWEEP_AFTER_S
    pl = Pipeline(publish=False, FINSYS_SWEEP_AFTER_S=1, FINSYS_SWEEP_INTERVAL_S=4)
    try:
        worker = pl.workers[0]
        deadline = time.monotonic() + 30
        # (the payments' sweeper's line: the webhooks' has "sweeper:" too)
        while "unsettled payments" not in worker.text():
            assert worker.proc.poll() is None, worker.text()[-2000:]
            assert time.monotonic() < deadline, worker.text()[-2000:]
            time.sleep(0.1)
        line = next(x for x in worker.text().splitlines()
                    if "sweeper:" in x and "unsettled payments" in x)
        print("    " + json.loads(line)["message"])
        m = re.search(r"sweeper: (\d+) unsettled payments", line)
        assert m and int(m.group(1)) >= len(ids), line
        assert "drained" in line and "pages" in line, line
        st = _wait_final(ids, 120)
        assert set(st.values()) == {"succeeded"}, set(st.values())
        assert check_ledger() == []
    finally:
        assert pl.stop()
