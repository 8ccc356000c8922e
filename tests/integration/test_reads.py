"""Reads (issue 13, docs/operations.md "Reads"): lists and searches run on
connections of their own, in read-only transactions with a short statement
timeout, at most FS_READ_CONCURRENT_PER_TENANT_MAX at once per tenant; a
list filtered by status or type reads a page of an index, not the tenant's
history; payments do not wait behind reads.

The read connections are held up here by taking an ACCESS EXCLUSIVE lock on
webhook_endpoints from psql (only GET /v1/webhook_endpoints reads it), which
a list waits for inside its statement, as it would for a long walk."""

import json
import re
import subprocess
import threading
import time
import uuid

from harness import (DATABASE_URL, funded_account, get, new_account, new_api_key, post, sql,
                     sql_value)

# src/core/limits.h, "reads (issue 13)".
READ_CONCURRENT_PER_TENANT_MAX = 4
READ_STATEMENT_TIMEOUT_MS = 2000
# Rows of other statuses and types than the one listed: a walk of the
# tenant's index reads hundreds of pages of them; an index of the filter, a
# few.
OTHER_ROWS = 20000
BUFFERS_MAX = 40


class _Lock:
    """ACCESS EXCLUSIVE on table for seconds, from a psql of its own; held
    once started() returns."""

    def __init__(self, table, seconds):
        self.proc = subprocess.Popen(
            ["psql", DATABASE_URL, "-XqAt", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;\n"
                              "SELECT 'locked';\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "locked"
        self.proc.stdin.write(f"SELECT pg_sleep({seconds}); COMMIT;\n")
        self.proc.stdin.close()

    def wait(self):
        self.proc.wait(timeout=30)


def _in_threads(n, fn):
    """fn(i) in n threads at once; their results in order."""
    out = [None] * n

    def run(i):
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


def test_a_tenant_has_at_most_four_lists_at_once():
    key = new_api_key(f"reads-cap-{uuid.uuid4().hex[:8]}")
    lock = _Lock("webhook_endpoints", 1.5)
    try:
        n = READ_CONCURRENT_PER_TENANT_MAX * 2

        def timed(i):
            start = time.monotonic()
            r = get("/v1/webhook_endpoints", key=key)
            r.took = time.monotonic() - start
            return r
        answers = _in_threads(n, timed)
    finally:
        lock.wait()
    codes = sorted(r.status for r in answers)
    refused = [r for r in answers if r.status == 429]
    assert len(refused) >= n - READ_CONCURRENT_PER_TENANT_MAX, codes
    assert codes.count(200) <= READ_CONCURRENT_PER_TENANT_MAX, codes
    assert set(codes) <= {200, 429}, codes
    for r in refused:
        e = r.error
        assert e["code"] == "too_many_concurrent_reads", e
        assert e["type"] == "rate_limit_error"
        assert str(READ_CONCURRENT_PER_TENANT_MAX) in e["message"]
        assert r.headers.get("retry-after") == "1", r.headers
        # Held its second (FS_READ_BUSY_HOLD_MS): a client that does not
        # wait gets no more refusals than it has connections a second.
        assert r.took >= 0.9, r.took
    # Each answered read gave its place back.
    again = _in_threads(READ_CONCURRENT_PER_TENANT_MAX,
                        lambda i: get("/v1/webhook_endpoints", key=key))
    assert [r.status for r in again] == [200] * READ_CONCURRENT_PER_TENANT_MAX


def test_payments_do_not_wait_behind_reads_and_a_long_read_times_out():
    # Four tenants' lists, as many as their caps allow, all held up: more
    # than the write path's connections (FINSYS_DB_CONNECTIONS, 4, per
    # thread), which they filled before reads had their own.
    keys = [new_api_key(f"reads-slow-{uuid.uuid4().hex[:8]}") for _ in range(4)]
    src = funded_account(10_000)
    dst = new_account()
    lock = _Lock("webhook_endpoints", 3.5)
    try:
        lists = []
        n = READ_CONCURRENT_PER_TENANT_MAX * len(keys)

        def list_one(i):
            return get("/v1/webhook_endpoints", key=keys[i % len(keys)])

        t = threading.Thread(target=lambda: lists.extend(_in_threads(n, list_one)))
        t.start()
        time.sleep(0.5)
        start = time.monotonic()
        r = post("/v1/payments", {"from_account": src, "to_account": dst, "amount": 100,
                                  "currency": "USD"})
        took = time.monotonic() - start
        assert r.status == 201, r.raw
        assert took < 1.0, f"a payment waited {took:.2f} s behind reads"
        t.join(timeout=60)
    finally:
        lock.wait()
    codes = sorted(r.status for r in lists)
    assert set(codes) <= {200, 503}, codes
    timed_out = [r for r in lists if r.status == 503]
    assert timed_out, codes
    for r in timed_out:
        e = r.error
        assert e["code"] == "read_timeout", e
        assert e["type"] == "api_error"
        assert "narrow" in e["message"] and "limit" in e["message"], e["message"]
        # The same read again would time out again: no Retry-After.
        assert "retry-after" not in r.headers


def _plans(query, runs):
    """auto_explain's plans (ANALYZE, BUFFERS) of every statement query's
    last of runs runs makes, nested ones included: a PL/pgSQL function's
    plans are generic after five runs in a session."""
    script = ("LOAD 'auto_explain';\n"
              "SET auto_explain.log_min_duration = 0;\n"
              "SET auto_explain.log_analyze = on;\n"
              "SET auto_explain.log_buffers = on;\n"
              "SET auto_explain.log_nested_statements = on;\n"
              "SET client_min_messages = log;\n"
              "SET default_transaction_read_only = on;\n")
    script += "".join(f"SELECT 'run {i}'; {query};\n" for i in range(runs))
    p = subprocess.run(["psql", DATABASE_URL, "-XqAt", "-v", "ON_ERROR_STOP=1"],
                       input=script, capture_output=True, text=True, check=True, timeout=120)
    last = p.stderr.split("Query Text: SELECT 'run")[-1]
    return last


def _buffers_of(plans, marker):
    """Shared buffers (hit + read) of the plan whose query text holds marker."""
    for block in plans.split("Query Text:")[1:]:
        if marker in block:
            m = re.search(r"Buffers: shared (?:hit=(\d+))?\s*(?:read=(\d+))?", block)
            assert m, block
            return int(m.group(1) or 0) + int(m.group(2) or 0), block
    raise AssertionError(f"no plan for {marker!r} in:\n{plans[:4000]}")


def _item(op, key_hash, **fields):
    return json.dumps([dict(op=op, auth=key_hash, limit=10, **fields)])


def test_status_and_type_filters_read_a_page_of_an_index():
    tenant = f"reads-idx-{uuid.uuid4().hex[:8]}"
    key = new_api_key(tenant)
    key_hash = sql_value(f"SELECT encode(sha256('{key}'::bytea), 'hex')")
    a = new_account(key=key)
    b = new_account(key=key)
    tid = sql_value(f"SELECT tenant_id FROM accounts WHERE id = '{a}'")
    # Many of the tenant's payments and events, none of the status and the
    # type listed (what a walk of (tenant_id, seq) would test row by row).
    sql(f"INSERT INTO payments (id, tenant_id, from_account, to_account, amount, currency, "
        f"status) SELECT 'pay_rd' || g || '{uuid.uuid4().hex[:8]}', '{tid}', '{a}', '{b}', 1, "
        f"'USD', 'succeeded' FROM generate_series(1, {OTHER_ROWS}) g")
    sql(f"INSERT INTO events (tenant_id, account_id, account_seq, type, payment_id, data) "
        f"SELECT '{tid}', '{a}', 1000000000 + g, 'account.balance_above', '', '{{}}' "
        f"FROM generate_series(1, {OTHER_ROWS}) g")
    sql("ANALYZE payments; ANALYZE events")
    for (item, marker) in [
        (_item("payment_list", key_hash, status="refunded"), "json_agg(fs_payment_json"),
        (_item("payment_list", key_hash, status="requires_review"), "json_agg(fs_payment_json"),
        (_item("event_list", key_hash, type="refund.failed"), "json_agg(fs_event_json"),
    ]:
        plans = _plans(f"SELECT o_outcome, o_payload FROM fs_batch('{item}'::jsonb)", 7)
        n, block = _buffers_of(plans, marker)
        assert n <= BUFFERS_MAX, f"{item}: {n} buffers\n{block[:3000]}"
    # The answers themselves.
    r = get("/v1/payments?status=refunded", key=key)
    assert r.status == 200 and r.json["data"] == [], r.raw
    r = get("/v1/events?type=refund.failed", key=key)
    assert r.status == 200 and r.json["data"] == [], r.raw
    r = get("/v1/payments?status=succeeded&limit=3", key=key)
    assert r.status == 200 and len(r.json["data"]) == 3 and r.json["has_more"], r.raw
    # Left for the next tests' workers: nothing (no reader acts on these).
    sql(f"DELETE FROM events WHERE tenant_id = '{tid}' AND account_seq > 1000000000")
    sql(f"DELETE FROM payments WHERE tenant_id = '{tid}' AND id LIKE 'pay_rd%'")
