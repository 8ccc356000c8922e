"""Settlement in the database: the ops the worker sends through fs_batch()
(settle_claim, settle_finish), driven here directly with SQL. Each status
change is conditional, so a redelivered message changes nothing twice, and
the ledger holds after every step."""

import json

from harness import (assert_error, balance, check_ledger, funded_account, get, new_account, pay,
                     post, sql,
                     forget_cached_accounts)


def _batch(*items):
    """Runs fs_batch with items; returns [(outcome, payload dict)]."""
    arg = json.dumps(list(items)).replace("'", "''")
    rows = sql(f"SELECT o_outcome, o_payload FROM fs_batch('{arg}') ORDER BY o_idx")
    forget_cached_accounts()  # as the worker invalidates after its commit
    return [(o, json.loads(p)) for o, p in rows]


def _claim(p):
    return _batch({"op": "settle_claim", "payment": p})[0]


def _finish(p, result, code=None):
    item = {"op": "settle_finish", "payment": p, "result": result}
    if code:
        item["decline_code"] = code
        item["decline_message"] = "The card was declined."
    return _batch(item)[0]


def _timeline(p):
    return [t["status"] for t in get(f"/v1/payments/{p}").json["timeline"]]


def test_approved_payment_moves_the_money():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 300).json["id"]
    outcome, body = _claim(p)
    assert outcome == "ok" and body["status"] == "processing", body
    outcome, body = _finish(p, "approved")
    assert outcome == "ok" and body["status"] == "succeeded", body
    assert balance(a) == (700, 0)
    assert balance(b) == (300, 0)
    assert _timeline(p) == ["pending", "processing", "succeeded"]
    assert check_ledger() == []


def test_declined_payment_releases_the_hold():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 300).json["id"]
    _claim(p)
    outcome, body = _finish(p, "declined", "card_declined")
    assert outcome == "ok" and body["status"] == "failed", body
    assert body["failure_code"] == "card_declined", body
    assert body["failure_message"] == "The card was declined.", body
    assert balance(a) == (1000, 0)
    assert balance(b) == (0, 0)
    assert _timeline(p) == ["pending", "processing", "failed"]
    assert check_ledger() == []


def test_redelivered_messages_change_nothing_twice():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 400).json["id"]
    assert _claim(p)[1]["status"] == "processing"
    assert _claim(p)[1]["status"] == "processing"  # a redelivery: handed back as it is
    assert _finish(p, "approved")[1]["status"] == "succeeded"
    assert _finish(p, "approved")[1]["status"] == "succeeded"
    assert _finish(p, "declined", "card_declined")[1]["status"] == "succeeded"
    assert _claim(p)[1]["status"] == "succeeded"
    assert balance(a) == (600, 0) and balance(b) == (400, 0)
    assert _timeline(p) == ["pending", "processing", "succeeded"]
    assert check_ledger() == []


def test_finish_before_claim_changes_nothing():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 100).json["id"]
    assert _finish(p, "approved")[1]["status"] == "pending"
    assert balance(a) == (900, 100)
    assert check_ledger() == []


def test_processing_or_settled_payment_cannot_be_canceled():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 100).json["id"]
    _claim(p)
    assert_error(post(f"/v1/payments/{p}/cancel"), 409, "payment_not_cancelable", "id")
    _finish(p, "approved")
    assert_error(post(f"/v1/payments/{p}/cancel"), 409, "payment_not_cancelable", "id")
    assert balance(a) == (900, 0)


def test_canceled_payment_is_not_settled():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 100).json["id"]
    assert post(f"/v1/payments/{p}/cancel").status == 200
    assert _claim(p)[1]["status"] == "canceled"
    assert _finish(p, "approved")[1]["status"] == "canceled"
    assert balance(a) == (1000, 0) and balance(b) == (0, 0)
    assert check_ledger() == []


def test_a_group_settles_many_with_shared_accounts():
    """One group finishing payments that share payers and payees, mixed with
    new payments on the same accounts: each sees the balances the previous
    left, and the ledger holds."""
    a = funded_account(10_000)
    b = funded_account(10_000)
    ps = [pay(a, b, 100).json["id"] for _ in range(5)] + \
         [pay(b, a, 200).json["id"] for _ in range(5)]
    _batch(*[{"op": "settle_claim", "payment": p} for p in ps])
    items = [{"op": "settle_finish", "payment": p,
              "result": "approved" if i % 3 else "declined", "decline_code": "do_not_honor"}
             for i, p in enumerate(ps)]
    results = _batch(*items)
    assert all(o == "ok" for o, _ in results), results
    moved_ab = sum(100 for i in range(5) if i % 3)
    moved_ba = sum(200 for i in range(5, 10) if i % 3)
    assert balance(a) == (10_000 - moved_ab + moved_ba, 0)
    assert balance(b) == (10_000 - moved_ba + moved_ab, 0)
    assert check_ledger() == []


def test_unknown_payment_is_not_found():
    outcome, body = _claim("pay_doesnotexist000000000000")
    assert outcome == "not_found" and body["param"] == "payment", body
    outcome, body = _finish("pay_doesnotexist000000000000", "approved")
    assert outcome == "not_found", body


def test_groups_locking_the_same_payments_in_opposite_orders_do_not_deadlock():
    """A group of cancels [p, q] and a group of claims [q, p] at the same time:
    payment rows are locked in id order, so neither waits for the other in a
    cycle (PostgreSQL would abort one with a deadlock after a second)."""
    import subprocess
    import threading

    from harness import DATABASE_URL
    a = funded_account(100_000)
    b = new_account("USD")
    pairs = [(pay(a, b, 1).json["id"], pay(a, b, 1).json["id"]) for _ in range(15)]
    errors = []

    def run(items):
        arg = json.dumps(items).replace("'", "''")
        r = subprocess.run(["psql", DATABASE_URL, "-XqAt", "-v", "ON_ERROR_STOP=1", "-c",
                            f"SELECT count(*) FROM fs_batch('{arg}')"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            errors.append(r.stderr)

    for p, q in pairs:
        # A cancel carries its tenant's key hash, as the API's items do.
        tenant_auth = sql(f"SELECT encode(k.key_hash, 'hex') FROM api_keys k "
                          f"JOIN payments y ON y.tenant_id = k.tenant_id "
                          f"WHERE y.id = '{p}' AND NOT k.is_admin LIMIT 1")[0][0]
        cancels = [{"op": "payment_cancel", "auth": tenant_auth, "payment": x} for x in (p, q)]
        claims = [{"op": "settle_claim", "payment": x} for x in (q, p)]
        t1 = threading.Thread(target=run, args=(cancels,))
        t2 = threading.Thread(target=run, args=(claims,))
        t1.start()
        t2.start()
        t1.join()
        t2.join()
    assert errors == [], errors[:2]
    assert check_ledger() == []


def test_one_group_naming_a_payment_twice_decides_in_arrival_order():
    """Claims and finishes are applied set-based, except for a payment that
    two items of the group name: those are decided one by one, in order."""
    a = funded_account(1000)
    b = new_account("USD")
    q, r = (pay(a, b, 100).json["id"] for _ in range(2))
    out = _batch({"op": "settle_claim", "payment": q},
                 {"op": "settle_claim", "payment": r},
                 {"op": "settle_claim", "payment": r})
    assert out[0][1]["status"] == "processing" and out[0][1]["settle_attempts"] == 1, out
    # Two claims of r in one group: the second counts a second attempt.
    assert [x[1]["settle_attempts"] for x in out[1:]] == [1, 2], out
    # A finish and a second finish of the same payment in one group: the
    # first decides, the second changes nothing.
    out = _batch({"op": "settle_finish", "payment": q, "result": "approved"},
                 {"op": "settle_finish", "payment": r, "result": "declined",
                  "decline_code": "do_not_honor"},
                 {"op": "settle_finish", "payment": r, "result": "approved"})
    assert [x[1]["status"] for x in out] == ["succeeded", "failed", "failed"], out
    assert _timeline(q) == ["pending", "processing", "succeeded"]
    assert _timeline(r) == ["pending", "processing", "failed"]
    assert balance(b) == (100, 0)
    assert check_ledger() == []
