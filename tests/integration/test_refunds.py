"""Refunds (issue 4): POST /v1/payments/{id}/refunds on a succeeded payment.
The first tests drive the worker's ops (refund_claim, refund_finish) through
fs_batch() with SQL, as test_settle_sql does for payments; the last ones run
the whole path through the provider simulator with a Pipeline of their own.
After each, the ledger holds (check_ledger)."""

import json
import threading
import time
import uuid

from harness import (KEY_A, KEY_B, assert_error, balance, check_ledger, counts, funded_account,
                     get, new_account, pay, post, sql, sql_value,
                     forget_cached_accounts)
from test_settle_pipeline import Pipeline, _http, _wait_final

REFUND_FIELDS = {"id", "object", "payment", "amount", "currency", "status", "failure_code",
                 "failure_message", "created_at", "updated_at"}


def _batch(*items):
    arg = json.dumps(list(items)).replace("'", "''")
    rows = sql(f"SELECT o_outcome, o_payload FROM fs_batch('{arg}') ORDER BY o_idx")
    forget_cached_accounts()  # as the worker invalidates after its commit
    return [(o, json.loads(p)) for o, p in rows]


def _succeeded(a, b, amount):
    """A payment from a to b that the provider approved."""
    p = pay(a, b, amount).json["id"]
    assert _batch({"op": "settle_claim", "payment": p})[0][0] == "ok"
    outcome, body = _batch({"op": "settle_finish", "payment": p, "result": "approved"})[0]
    assert outcome == "ok" and body["status"] == "succeeded", body
    return p


def _refund(p, amount=None, **kw):
    return post(f"/v1/payments/{p}/refunds", {} if amount is None else {"amount": amount}, **kw)


def _settle(r, result="approved", code=None):
    """The worker's two steps for refund r; returns the finished refund."""
    outcome, body = _batch({"op": "refund_claim", "refund": r})[0]
    assert outcome == "ok" and body["status"] == "processing", body
    assert body["settle_attempts"] >= 1, body
    item = {"op": "refund_finish", "refund": r, "result": result}
    if code:
        item["decline_code"] = code
        item["decline_message"] = "The refund was declined."
    outcome, body = _batch(item)[0]
    assert outcome == "ok", body
    return body


def _payment(p):
    r = get(f"/v1/payments/{p}")
    assert r.status == 200, r
    return r.json


def _events(p):
    return [(t, json.loads(d)["status"]) for t, d in
            sql(f"SELECT type, data FROM events WHERE payment_id = '{p}' "
                "AND type LIKE 'refund.%' ORDER BY seq")]


def test_a_full_refund_gives_all_of_the_payment_back():
    a = funded_account(1000)
    b = new_account("USD")
    p = _succeeded(a, b, 300)
    assert _payment(p)["amount_refunded"] == 0
    r = _refund(p)
    assert r.status == 201, r
    assert set(r.json) == REFUND_FIELDS, r.json
    assert r.json["id"].startswith("re_") and r.json["object"] == "refund", r.json
    assert (r.json["payment"], r.json["amount"], r.json["currency"]) == (p, 300, "USD")
    assert r.json["status"] == "pending", r.json
    # Held on the payee at once.
    assert balance(b) == (0, 300) and balance(a) == (700, 0)
    assert _payment(p)["status"] == "succeeded"
    done = _settle(r.json["id"])
    assert done["status"] == "succeeded", done
    assert balance(a) == (1000, 0) and balance(b) == (0, 0)
    body = _payment(p)
    assert body["status"] == "refunded" and body["amount_refunded"] == 300, body
    assert [t["status"] for t in body["timeline"]][-1] == "refunded", body
    got = get(f"/v1/refunds/{r.json['id']}")
    assert got.status == 200 and got.json == done, got
    assert _events(p) == [("refund.created", "pending"), ("refund.succeeded", "succeeded")]
    # The events belong to the payer, in its sequence.
    assert sql_value(f"SELECT count(DISTINCT account_id) FROM events WHERE payment_id = '{p}'") \
        == "1"
    assert check_ledger() == []


def test_partial_refunds_up_to_the_amount_and_not_one_unit_more():
    a = funded_account(1000)
    b = new_account("USD")
    p = _succeeded(a, b, 300)
    ids = []
    for amount in (100, 50, 150):
        r = _refund(p, amount)
        assert r.status == 201 and r.json["amount"] == amount, r
        ids.append(r.json["id"])
    # The three still pending count: nothing is left, with or without amount.
    assert_error(_refund(p, 1), 409, "refund_exceeds_amount", "amount")
    assert_error(_refund(p), 409, "refund_exceeds_amount", "amount")
    _settle(ids[0])
    body = _payment(p)
    assert body["status"] == "succeeded" and body["amount_refunded"] == 100, body
    _settle(ids[1])
    _settle(ids[2])
    body = _payment(p)
    assert body["status"] == "refunded" and body["amount_refunded"] == 300, body
    assert_error(_refund(p, 1), 409, "refund_exceeds_amount", "amount")
    assert balance(a) == (1000, 0) and balance(b) == (0, 0)
    listed = get(f"/v1/payments/{p}/refunds")
    assert listed.status == 200 and [x["id"] for x in listed.json["data"]] == ids[::-1], listed
    page = get(f"/v1/payments/{p}/refunds?limit=1&starting_after={ids[2]}")
    assert [x["id"] for x in page.json["data"]] == [ids[1]] and page.json["has_more"], page
    assert check_ledger() == []


def test_a_refund_past_the_amount_is_refused_and_changes_nothing():
    a = funded_account(1000)
    b = new_account("USD")
    p = _succeeded(a, b, 300)
    before = counts()
    assert_error(_refund(p, 301), 409, "refund_exceeds_amount", "amount")
    assert counts()[:4] == before[:4]
    assert balance(b) == (300, 0)
    assert sql_value(f"SELECT count(*) FROM refunds WHERE payment_id = '{p}'") == "0"
    assert check_ledger() == []


def test_concurrent_refunds_of_one_payment_never_exceed_it():
    a = funded_account(10_000)
    b = new_account("USD")
    p = _succeeded(a, b, 1000)
    results = []
    lock = threading.Lock()

    def refund(amount):
        for _ in range(5):
            r = _refund(p, amount)
            with lock:
                results.append((amount, r.status, r.json))

    threads = [threading.Thread(target=refund, args=(amt,)) for amt in (70, 30, 100, 130) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [amt for amt, status, _ in results if status == 201]
    refused = [body for _, status, body in results if status != 201]
    assert all(b["error"]["code"] == "refund_exceeds_amount" for b in refused), refused[:3]
    assert sum(created) <= 1000 and len(refused) > 0, (created, len(refused))
    assert sum(created) > 1000 - 130, created  # refused only when it did not fit
    held = sql(f"SELECT amount_refund_pending, amount_refunded FROM payments WHERE id = '{p}'")
    assert held == [[str(sum(created)), "0"]], held
    assert balance(b) == (1000 - sum(created), sum(created))
    assert check_ledger() == []


def test_a_declined_refund_puts_the_money_back_where_it_was():
    a = funded_account(1000)
    b = new_account("USD")
    p = _succeeded(a, b, 300)
    r = _refund(p, 200).json["id"]
    done = _settle(r, "declined", "refund_declined")
    assert done["status"] == "failed" and done["failure_code"] == "refund_declined", done
    assert done["failure_message"] == "The refund was declined.", done
    assert balance(a) == (700, 0) and balance(b) == (300, 0)
    body = _payment(p)
    assert body["status"] == "succeeded" and body["amount_refunded"] == 0, body
    assert _events(p) == [("refund.created", "pending"), ("refund.failed", "failed")]
    # A redelivered answer changes nothing twice.
    outcome, again = _batch({"op": "refund_finish", "refund": r, "result": "approved"})[0]
    assert outcome == "ok" and again["status"] == "failed", again
    assert balance(a) == (700, 0) and balance(b) == (300, 0)
    # What a failed refund held is free again for another.
    assert _refund(p).json["amount"] == 300
    assert check_ledger() == []


def test_a_payment_that_did_not_succeed_cannot_be_refunded():
    a = funded_account(1000)
    b = new_account("USD")
    pending = pay(a, b, 100).json["id"]
    assert_error(_refund(pending), 409, "payment_not_refundable", "id")
    failed = pay(a, b, 100).json["id"]
    _batch({"op": "settle_claim", "payment": failed})
    _batch({"op": "settle_finish", "payment": failed, "result": "declined"})
    assert_error(_refund(failed, 50), 409, "payment_not_refundable", "id")
    processing = pay(a, b, 100).json["id"]
    _batch({"op": "settle_claim", "payment": processing})
    assert_error(_refund(processing), 409, "payment_not_refundable", "id")
    canceled = pay(a, b, 100).json["id"]
    assert post(f"/v1/payments/{canceled}/cancel").status == 200
    assert_error(_refund(canceled), 409, "payment_not_refundable", "id")
    assert sql_value(f"SELECT count(*) FROM refunds WHERE payment_id IN "
                     f"('{pending}', '{failed}', '{processing}', '{canceled}')") == "0"
    assert check_ledger() == []


def test_a_payee_without_the_funds_gets_402():
    a = funded_account(1000)
    b = new_account("USD")
    c = new_account("USD")
    p = _succeeded(a, b, 300)
    _succeeded(b, c, 250)  # the payee spent most of it
    assert_error(_refund(p), 402, "insufficient_funds", "amount")
    assert balance(b) == (50, 0)
    r = _refund(p, 50)
    assert r.status == 201, r
    assert balance(b) == (0, 50)
    assert check_ledger() == []


def test_refund_requests_are_checked_and_idempotent():
    a = funded_account(1000)
    b = new_account("USD")
    p = _succeeded(a, b, 300)
    assert_error(_refund(p, 0), 400, "invalid_request", "amount")
    assert_error(_refund(p, "12"), 400, "invalid_request", "amount")
    assert_error(post(f"/v1/payments/{p}/refunds", {"amount": 5, "reason": "x"}), 400,
                 "invalid_request", "reason")
    assert_error(_refund("pay_nope"), 404, "not_found", "id")
    assert_error(_refund("pay_" + "0" * 24), 404, "not_found", "id")
    assert_error(_refund(p, idem=None), 400, "idempotency_key_missing", "Idempotency-Key")
    assert_error(_refund(p, key=KEY_B), 404, "not_found", "id")
    assert_error(get(f"/v1/payments/{p}/refunds", key=KEY_B), 404, "not_found", "id")
    assert_error(get("/v1/refunds/re_" + "0" * 24), 404, "not_found", "id")
    key = str(uuid.uuid4())
    first = _refund(p, 100, idem=key)
    again = _refund(p, 100, idem=key)
    assert first.status == again.status == 201 and first.json == again.json, (first, again)
    assert again.header("Idempotent-Replayed") == "true"
    assert_error(_refund(p, 101, idem=key), 422, "idempotency_key_reuse", None)
    assert sql_value(f"SELECT count(*) FROM refunds WHERE payment_id = '{p}'") == "1"
    assert_error(get(f"/v1/refunds/{first.json['id']}", key=KEY_B), 404, "not_found", "id")
    assert check_ledger() == []


def test_a_payment_takes_at_most_its_limit_of_refunds():
    a = funded_account(1000)
    b = new_account("USD")
    p = _succeeded(a, b, 500)
    for _ in range(100):  # FS_REFUNDS_PER_PAYMENT_MAX
        assert _refund(p, 1).status == 201
    assert_error(_refund(p, 1), 409, "payment_not_refundable", "id")
    assert check_ledger() == []


def _wait_refunds(ids, seconds=60):
    names = ", ".join(f"'{i}'" for i in ids)
    deadline = time.monotonic() + seconds
    while True:
        st = dict(sql(f"SELECT id, status FROM refunds WHERE id IN ({names})"))
        if len(st) == len(ids) and all(s in ("succeeded", "failed") for s in st.values()):
            return st
        assert time.monotonic() < deadline, st
        time.sleep(0.1)


def _http_refund(pl, p, amount=None):
    status, body = _http(pl.http_port, "POST", f"/v1/payments/{p}/refunds",
                         {} if amount is None else {"amount": amount},
                         {"Authorization": "Bearer " + KEY_A,
                          "Idempotency-Key": str(uuid.uuid4())})
    assert status == 201, (status, body)
    return body["id"]


def _provider_refund(pl, key):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{pl.sim_port}/refunds/{key}",
                                timeout=10) as r:
        return json.loads(r.read())


def test_refunds_go_through_the_provider_end_to_end():
    pl = Pipeline()
    try:
        a = funded_account(10_000)
        b = new_account("USD")
        p = pl.pay(a, b, 1000)
        assert _wait_final([p])[p] == "succeeded"
        ids = [_http_refund(pl, p, 400), _http_refund(pl, p, 100), _http_refund(pl, p)]
        st = _wait_refunds(ids)
        assert set(st.values()) == {"succeeded"}, st
        for r in ids:
            rec = _provider_refund(pl, r)
            assert rec["status"] == "approved" and rec["payment_id"] == p, rec
        assert pl.stats()["refunds_recorded"] == 3
        assert _payment(p)["status"] == "refunded"
        assert balance(a) == (10_000, 0) and balance(b) == (0, 0)
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_a_refund_the_provider_declines_fails():
    pl = Pipeline()
    try:
        a = funded_account(10_000)
        b = new_account("USD")
        p = pl.pay(a, b, 1000)
        assert _wait_final([p])[p] == "succeeded"
        pl.control(decline_rate=1)
        r = _http_refund(pl, p, 300)
        assert _wait_refunds([r])[r] == "failed"
        code = sql_value(f"SELECT failure_code FROM refunds WHERE id = '{r}'")
        assert code == _provider_refund(pl, r)["decline_code"], code
        assert balance(a) == (9_000, 0) and balance(b) == (1_000, 0)
        assert [t for t, _ in _events(p)] == ["refund.created", "refund.failed"]
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_a_refund_dead_lettered_in_an_outage_is_replayed():
    from test_settle_pipeline import _admin_key
    pl = Pipeline(FINSYS_WORKER_MAX_ATTEMPTS=3, FINSYS_BREAKER_MIN_CALLS=100,
                  FINSYS_BREAKER_WINDOW=100)
    try:
        a = funded_account(1_000)
        b = new_account("USD")
        p = pl.pay(a, b, 100)
        assert _wait_final([p])[p] == "succeeded"
        pl.control(outage_ms=60_000)
        r = _http_refund(pl, p)
        deadline = time.monotonic() + 30
        while sql_value(f"SELECT dead_lettered_at IS NOT NULL FROM refunds "
                        f"WHERE id = '{r}'") != "t":
            assert time.monotonic() < deadline, pl.workers[0].text()[-2000:]
            time.sleep(0.1)
        assert sql_value(f"SELECT status FROM refunds WHERE id = '{r}'") == "processing"
        assert balance(b) == (0, 100)
        sweep = json.dumps([{"op": "settle_sweep", "older_s": 0, "max": 100000}])
        swept = json.loads(sql_value(f"SELECT o_payload FROM fs_batch('{sweep}')"))
        assert r not in swept["refunds"], swept
        pl.control(outage_ms=0)
        auth = {"Authorization": "Bearer " + _admin_key(), "Idempotency-Key": str(uuid.uuid4())}
        status, body = _http(pl.http_port, "POST", f"/admin/api/dead-letters/{r}/replay", {},
                             auth)
        assert status == 200 and body["refunds"] == [r], (status, body)
        assert _wait_refunds([r], 30)[r] == "succeeded"
        assert balance(a) == (1_000, 0) and balance(b) == (0, 0)
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_the_sweeper_publishes_refunds_the_server_never_did():
    pl = Pipeline(publish=False, FINSYS_SWEEP_AFTER_S=1, FINSYS_SWEEP_INTERVAL_S=1)
    try:
        a = funded_account(10_000)
        b = new_account("USD")
        p = pl.pay(a, b, 500)
        assert _wait_final([p], 60)[p] == "succeeded"
        ids = [_http_refund(pl, p, 100) for _ in range(3)]
        st = _wait_refunds(ids, 60)
        assert set(st.values()) == {"succeeded"}, st
        assert "refunds published again" in pl.workers[0].text()
        assert check_ledger() == []
    finally:
        assert pl.stop()
