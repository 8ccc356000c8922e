"""GET /v1/payments/search and its indexer: every filter alone and combined,
pagination, isolation between tenants, the checks of the parameters, and the
indexing lag under a load of several thousand payments (measured and printed).

The indexer runs in `finsys worker`: these tests start a Pipeline of their own
(test_settle_pipeline.py) whose server does not publish, so payments stay
pending unless a test settles them itself with the worker's ops (settle_claim,
settle_finish), which write the same events the worker would. Each test
works in fresh tenants of its own, so a search sees exactly what it made."""

import atexit
import http.client
import json
import subprocess
import threading
import time
import urllib.parse
import uuid

from harness import (FINSYS_BIN, KEY_A, assert_error, deposit, get, new_account, pay, post, sql,
                     sql_value, new_api_key)
from test_settle_pipeline import Pipeline

_pipeline = None


def _indexer():
    """The Pipeline whose worker runs the indexer, started once, stopped by
    the last test (or at exit, when that one was not selected)."""
    global _pipeline
    if _pipeline is None:
        _pipeline = Pipeline(publish=False)
        atexit.register(_stop_indexer)
    return _pipeline


def _stop_indexer():
    global _pipeline
    clean = True
    if _pipeline is not None:
        clean = _pipeline.stop()
        _pipeline = None
    return clean


def _new_key():
    return new_api_key("search-" + uuid.uuid4().hex[:12])


def _caught_up(seconds=60):
    """Waits until the indexer has taken every event in the log."""
    _indexer()
    deadline = time.monotonic() + seconds
    while True:
        left = int(sql_value(
            "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM feed_cursors c "
            "WHERE c.name = 'indexer' AND (e.txid, e.seq) <= (c.txid, c.seq))"))
        if left == 0:
            return
        assert time.monotonic() < deadline, f"{left} events not indexed"
        time.sleep(0.05)


def _settle(op, pid, **extra):
    item = json.dumps([dict(op=op, payment=pid, **extra)]).replace("'", "''")
    out = sql_value(f"SELECT o_outcome FROM fs_batch('{item}'::jsonb)")
    assert out == "ok", out


def search(key, **params):
    r = get("/v1/payments/search?" + urllib.parse.urlencode(params), key=key)
    assert r.status == 200, r
    assert r.json["object"] == "list", r
    return r


def ids(key, **params):
    return [p["id"] for p in search(key, **params).json["data"]]


_data = None


def _dataset():
    """One tenant with six payments of every status, two currencies, two
    pairs of accounts and searchable descriptions and metadata."""
    global _data
    if _data is not None:
        return _data
    key = _new_key()
    a1, a2 = new_account("USD", key=key), new_account("USD", key=key)
    e1, e2 = new_account("EUR", key=key), new_account("EUR", key=key)
    for acct in (a1, a2, e1, e2):
        deposit(acct, 100_000, key=key)

    def mk(src, dst, amount, currency, description=None, metadata=None):
        body = {"from_account": src, "to_account": dst, "amount": amount, "currency": currency}
        if description is not None:
            body["description"] = description
        if metadata is not None:
            body["metadata"] = metadata
        r = post("/v1/payments", body, key=key)
        assert r.status == 201, r
        time.sleep(0.01)  # distinct created_at for the time filters
        return r.json

    p = [None,
         mk(a1, a2, 100, "USD", "Coffee beans for the office", {"order": "ORD-2024-0001"}),
         mk(a1, a2, 250, "USD", "Invoice INV-77 rent", {"invoice": "INV-77"}),
         mk(a2, a1, 999, "USD", "Refund for coffee"),
         mk(e1, e2, 5000, "EUR", "Hotel booking", {"ref": "HB-9931", "customer": "cus_42"}),
         mk(e2, e1, 75, "EUR"),
         mk(a1, a2, 1, "USD", "Tip")]
    r = post(f"/v1/payments/{p[2]['id']}/cancel", key=key)
    assert r.status == 200, r
    _settle("settle_claim", p[3]["id"])
    _settle("settle_finish", p[3]["id"], result="approved")
    _settle("settle_claim", p[4]["id"])
    _settle("settle_finish", p[4]["id"], result="declined", decline_code="card_declined")
    _caught_up()
    # Claimed after the indexer caught up: no event says so, and the read
    # model still shows pending (the lag a status filter must see through).
    _settle("settle_claim", p[5]["id"])
    assert sql_value(f"SELECT status FROM payment_search WHERE payment_id = '{p[5]['id']}'") \
        == "pending"
    _data = dict(key=key, a1=a1, a2=a2, e1=e1, e2=e2, p=p,
                 id=[None] + [x["id"] for x in p[1:]])
    return _data


def test_every_filter_alone():
    d = _dataset()
    key, i = d["key"], d["id"]
    assert ids(key) == [i[6], i[5], i[4], i[3], i[2], i[1]]
    # q: full text over description and metadata values (whole words, any
    # case), and substrings of the references (id, metadata values)
    assert ids(key, q="coffee") == [i[3], i[1]]
    assert ids(key, q="COFFEE office") == [i[1]]
    assert ids(key, q="hotel") == [i[4]]
    assert ids(key, q="ORD-2024") == [i[1]]
    assert ids(key, q="INV-77") == [i[2]]
    assert ids(key, q="9931") == [i[4]]
    assert ids(key, q="cus_42") == [i[4]]
    assert ids(key, q="cus%4") == []
    assert ids(key, q=i[5][4:20]) == [i[5]]
    assert ids(key, q="espresso") == []
    # Under three characters: whole words only, no substring of a reference
    # (a trigram index cannot serve it).
    assert ids(key, q="93") == []
    assert ids(key, q="HB-9931") == [i[4]]
    # status: the live status, also where the read model lags (processing)
    assert ids(key, status="pending") == [i[6], i[1]]
    assert ids(key, status="processing") == [i[5]]
    assert ids(key, status="succeeded") == [i[3]]
    assert ids(key, status="failed") == [i[4]]
    assert ids(key, status="canceled") == [i[2]]
    assert ids(key, status="refunded") == []
    # account: as payer or payee
    assert ids(key, account=d["a1"]) == [i[6], i[3], i[2], i[1]]
    assert ids(key, account=d["e2"]) == [i[5], i[4]]
    assert ids(key, currency="EUR") == [i[5], i[4]]
    assert ids(key, currency="USD") == [i[6], i[3], i[2], i[1]]
    assert ids(key, currency="JPY") == []
    assert ids(key, amount_gte=250) == [i[4], i[3], i[2]]
    assert ids(key, amount_lte=100) == [i[6], i[5], i[1]]
    assert ids(key, amount_gte=0) == [i[6], i[5], i[4], i[3], i[2], i[1]]
    p = d["p"]
    assert ids(key, created_gte=p[4]["created_at"]) == [i[6], i[5], i[4]]
    assert ids(key, created_lte=p[3]["created_at"]) == [i[3], i[2], i[1]]
    # results are the live payments
    r = search(key, q="Hotel").json["data"][0]
    assert r["status"] == "failed" and r["failure_code"] == "card_declined", r
    r = search(key, status="processing").json["data"][0]
    assert r["status"] == "processing" and r["object"] == "payment", r


def test_filters_combined():
    d = _dataset()
    key, i, p = d["key"], d["id"], d["p"]
    assert ids(key, q="coffee", status="succeeded") == [i[3]]
    assert ids(key, q="coffee", account=d["a1"], amount_lte=100) == [i[1]]
    assert ids(key, currency="USD", status="pending", amount_gte=2) == [i[1]]
    assert ids(key, currency="USD", created_gte=p[2]["created_at"],
               created_lte=p[4]["created_at"]) == [i[3], i[2]]
    assert ids(key, q="hotel", status="failed", account=d["e1"], currency="EUR",
               amount_gte=5000, amount_lte=5000, created_gte=p[4]["created_at"],
               created_lte=p[4]["created_at"], limit=1) == [i[4]]
    assert ids(key, q="hotel", currency="USD") == []
    assert ids(key, status="processing", currency="USD") == []
    assert ids(key, amount_gte=76, amount_lte=998) == [i[2], i[1]]


def test_pagination():
    d = _dataset()
    key, i = d["key"], d["id"]
    pages, after = [], None
    while True:
        params = {"limit": 2}
        if after:
            params["starting_after"] = after
        r = search(key, **params).json
        pages.append([x["id"] for x in r["data"]])
        if not r["has_more"]:
            break
        after = pages[-1][-1]
    assert pages == [[i[6], i[5]], [i[4], i[3]], [i[2], i[1]]], pages
    r = search(key, currency="USD", limit=3).json
    assert [x["id"] for x in r["data"]] == [i[6], i[3], i[2]] and r["has_more"], r
    r = search(key, currency="USD", limit=3, starting_after=i[2]).json
    assert [x["id"] for x in r["data"]] == [i[1]] and not r["has_more"], r
    r = search(key, q="coffee", limit=1, starting_after=i[3]).json
    assert [x["id"] for x in r["data"]] == [i[1]] and not r["has_more"], r
    r = search(key, starting_after=i[1]).json
    assert r["data"] == [] and not r["has_more"], r
    r = search(key, limit=100).json
    assert len(r["data"]) == 6 and not r["has_more"], r


def test_a_tenant_never_sees_another_tenants_payments():
    d = _dataset()
    other = _new_key()
    o1, o2 = new_account("USD", key=other), new_account("USD", key=other)
    deposit(o1, 10_000, key=other)
    r = post("/v1/payments", {"from_account": o1, "to_account": o2, "amount": 100,
                              "currency": "USD", "description": "Coffee beans for the office",
                              "metadata": {"order": "ORD-2024-0001"}}, key=other)
    assert r.status == 201, r
    theirs = r.json["id"]
    _caught_up()
    key, i = d["key"], d["id"]
    assert ids(key, q="coffee") == [i[3], i[1]]
    assert ids(other, q="coffee") == [theirs]
    assert ids(other, q="ORD-2024-0001") == [theirs]
    assert ids(other) == [theirs]
    assert ids(key, q=theirs) == []
    assert ids(other, q=i[1]) == []
    assert ids(key, account=o1) == []
    assert ids(other, account=d["a1"]) == []
    assert ids(KEY_A, q=i[1]) == [] and ids(KEY_A, q=theirs) == []
    # Another tenant's payment is no cursor.
    r = get(f"/v1/payments/search?starting_after={theirs}", key=key)
    assert_error(r, 400, "invalid_request", "starting_after")


def test_bad_parameters_are_400_naming_them():
    before = sql("SELECT count(*) FROM payment_search")
    for query, param in [
            ("q=", "q"), (f"q={'x' * 201}", "q"), ("q=%FF", "q"), ("q=a%00", "q"),
            ("status=settled", "status"), ("account=pay_123", "account"),
            ("currency=usd", "currency"), ("currency=XYZ", "currency"),
            ("amount_gte=-5", "amount_gte"), ("amount_lte=1e3", "amount_lte"),
            ("amount_gte=9223372036854775808", "amount_gte"),
            ("amount_gte=10&amount_lte=5", "amount_gte"),
            ("created_gte=yesterday", "created_gte"), ("created_lte=1714564800", "created_lte"),
            ("created_gte=2024-05-02T00:00:00Z&created_lte=2024-05-01T00:00:00Z",
             "created_gte"),
            ("limit=0", "limit"), ("limit=101", "limit"),
            ("starting_after=acct_123", "starting_after"),
            (f"starting_after=pay_{uuid.uuid4().hex[:24]}", "starting_after"),
            ("sort=amount", "sort"), ("status=failed&status=pending", "status")]:
        r = get("/v1/payments/search?" + query)
        assert_error(r, 400, "invalid_request", param)
    assert_error(get("/v1/payments/search", key=None), 401, "unauthorized", None)
    assert_error(get("/v1/payments/search", key="fsk_nope"), 401, "unauthorized", None)
    assert_error(post("/v1/payments/search", {}), 405, "method_not_allowed", None)
    assert sql("SELECT count(*) FROM payment_search") == before


LOAD_PAYMENTS = 3000
LOAD_THREADS = 6


def test_indexing_lag_under_load():
    pl = _indexer()
    _caught_up()
    key = _new_key()
    payee = new_account("USD", key=key)
    payers = []
    for _ in range(LOAD_THREADS):
        a = new_account("USD", key=key)
        deposit(a, 10_000_000, key=key)
        payers.append(a)
    made = [[] for _ in range(LOAD_THREADS)]
    errors = []

    def load(n):
        c = http.client.HTTPConnection("127.0.0.1", pl.http_port, timeout=60)
        try:
            for k in range(LOAD_PAYMENTS // LOAD_THREADS):
                body = json.dumps({"from_account": payers[n], "to_account": payee,
                                   "amount": 1 + k, "currency": "USD",
                                   "description": f"load order {n}-{k}",
                                   "metadata": {"ref": f"LOAD-{n}-{k}"}})
                c.request("POST", "/v1/payments", body=body,
                          headers={"Authorization": "Bearer " + key,
                                   "Idempotency-Key": str(uuid.uuid4()),
                                   "Content-Type": "application/json"})
                r = c.getresponse()
                raw = r.read()
                if r.status != 201:
                    errors.append((r.status, raw[:200]))
                    return
                made[n].append(json.loads(raw)["id"])
        finally:
            c.close()

    start = time.monotonic()
    threads = [threading.Thread(target=load, args=(n,)) for n in range(LOAD_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = time.monotonic()
    assert errors == [], errors[:3]
    total = sum(len(m) for m in made)
    assert total == LOAD_PAYMENTS
    tenant = sql_value(f"SELECT tenant_id FROM accounts WHERE id = '{payee}'")
    deadline = created + 120
    while True:
        n = int(sql_value(f"SELECT count(*) FROM payment_search WHERE tenant_id = '{tenant}'"))
        if n == total:
            break
        assert time.monotonic() < deadline, f"{n} of {total} indexed"
        time.sleep(0.02)
    done = time.monotonic()
    p50, p99, mx = sql(
        "SELECT round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP "
        "(ORDER BY indexed_at - event_created_at))), round(1000 * extract(epoch FROM "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY indexed_at - event_created_at))), "
        "round(1000 * extract(epoch FROM max(indexed_at - event_created_at))) "
        f"FROM payment_search WHERE tenant_id = '{tenant}'")[0]
    print(f"      indexing lag over {total} payments ({LOAD_THREADS} threads, "
          f"{total / (created - start):.0f} payments/s created): p50 {p50} ms, p99 {p99} ms, "
          f"max {mx} ms; all indexed {1000 * (done - created):.0f} ms after the last was "
          f"created ({done - start:.1f} s in all)")
    assert float(mx) < 30_000, mx
    # The load is searchable: one reference, and the whole of one payer's.
    # (LOAD-2-17 is also a part of LOAD-2-170 .. LOAD-2-179.)
    found = ids(key, q="LOAD-2-17", limit=100)
    assert sorted(found) == sorted([made[2][17]] + made[2][170:180]), found
    r = search(key, account=payers[2], limit=100).json
    assert len(r["data"]) == 100 and r["has_more"]
    assert r["data"][0]["id"] == made[2][-1]


def test_zz_the_indexer_stops_cleanly():
    assert _stop_indexer()
