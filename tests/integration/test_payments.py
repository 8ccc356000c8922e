"""Payments: holds, insufficient funds, currencies, unknown and foreign
accounts, cancellation, reads and lists. Each test ends with the ledger check."""

import re

from harness import (KEY_A, KEY_B, assert_error, balance, check_ledger, counts, deposit,
                     external_account, funded_account, get, new_account, pay, post, sql,
                     sql_value, unknown_id)

PAYMENT_ID = re.compile(r"^pay_[0-9A-Za-z]{24}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
PAYMENT_FIELDS = {"id", "object", "from_account", "to_account", "amount", "currency",
                  "amount_refunded", "description", "metadata", "status", "failure_code", "failure_message",
                  "risk", "review",
                  "created_at", "updated_at", "timeline"}


def _payments_from(account):
    return int(sql_value(f"SELECT count(*) FROM payments WHERE from_account = '{account}'"))


def _entries(ref):
    return int(sql_value(f"SELECT count(*) FROM journal_entries WHERE ref_id = '{ref}'"))


def _list(query, key=KEY_A):
    r = get("/v1/payments" + query, key=key)
    assert r.status == 200, r
    assert set(r.json) == {"object", "data", "has_more"} and r.json["object"] == "list", r
    return [x["id"] for x in r.json["data"]], r.json["has_more"]


def test_payment_holds_funds_until_settled():
    a = funded_account(1000)
    b = new_account("USD")
    body = {"from_account": a, "to_account": b, "amount": 600, "currency": "USD",
            "description": "Invoice 17", "metadata": {"invoice": "17"}}
    r = post("/v1/payments", body)
    assert r.status == 201, r
    p = r.json
    assert set(p) == PAYMENT_FIELDS, p
    assert PAYMENT_ID.match(p["id"]) and p["object"] == "payment", p
    assert (p["from_account"], p["to_account"], p["amount"], p["currency"]) == (a, b, 600, "USD")
    assert p["description"] == "Invoice 17" and p["metadata"] == {"invoice": "17"}, p
    assert p["status"] == "pending", p
    assert p["failure_code"] is None and p["failure_message"] is None, p
    assert TIMESTAMP.match(p["created_at"]) and TIMESTAMP.match(p["updated_at"]), p
    assert len(p["timeline"]) == 1 and p["timeline"][0]["status"] == "pending", p
    assert set(p["timeline"][0]) == {"status", "created_at"}, p
    assert TIMESTAMP.match(p["timeline"][0]["created_at"]), p
    # The source holds the amount; the destination gets nothing yet.
    assert balance(a) == (400, 600)
    assert balance(b) == (0, 0)
    g = get(f"/v1/payments/{p['id']}")
    assert g.status == 200 and g.json == p, (g, p)
    assert sql(f"SELECT account_id, bucket, amount FROM journal_entries WHERE ref_id = "
               f"'{p['id']}' ORDER BY bucket") == [[a, "A", "-600"], [a, "P", "600"]]
    # Without description and metadata: null and {}.
    r = pay(a, b, 1)
    assert r.status == 201 and r.json["description"] is None and r.json["metadata"] == {}, r
    assert balance(a) == (399, 601)
    assert check_ledger() == []


def test_exact_balance_then_insufficient_funds():
    a = funded_account(1000)
    b = new_account("USD")
    r = pay(a, b, 1000)
    assert r.status == 201, r
    assert balance(a) == (0, 1000)
    before = counts()
    r = pay(a, b, 1)
    e = assert_error(r, 402, "insufficient_funds", "amount")
    assert a in e["message"], e
    assert balance(a) == (0, 1000)
    assert counts()[1:4] == before[1:4]  # no payment, entry or deposit
    assert _payments_from(a) == 1
    assert check_ledger() == []


def test_insufficient_funds_holds_nothing():
    a = funded_account(500)
    b = new_account("USD")
    before = counts()
    for amount in [501, 10**6, 9223372036854775807]:
        assert_error(pay(a, b, amount), 402, "insufficient_funds", "amount")
    assert balance(a) == (500, 0)
    assert balance(b) == (0, 0)
    assert counts()[1:4] == before[1:4]
    assert _payments_from(a) == 0
    # An account that never received money cannot pay at all.
    assert_error(pay(b, a, 1), 402, "insufficient_funds", "amount")
    assert check_ledger() == []


def test_currencies_must_match():
    usd = funded_account(1000, "USD")
    usd2 = new_account("USD")
    eur = funded_account(1000, "EUR")
    before = counts()
    for src, dst, cur in [(usd, eur, "USD"), (usd, eur, "EUR"), (eur, usd, "EUR"),
                          (usd, usd2, "EUR"), (usd, usd2, "JPY")]:
        assert_error(pay(src, dst, 100, currency=cur), 400, "currency_mismatch", "currency")
    assert balance(usd) == (1000, 0) and balance(eur) == (1000, 0) and balance(usd2) == (0, 0)
    assert counts()[1:4] == before[1:4]
    r = pay(eur, funded_account(1, "EUR"), 100, currency="EUR")
    assert r.status == 201 and r.json["currency"] == "EUR", r
    assert check_ledger() == []


def test_payment_to_itself_is_rejected():
    a = funded_account(1000)
    before = counts()
    assert_error(pay(a, a, 100), 400, "invalid_request", "to_account")
    assert balance(a) == (1000, 0)
    assert counts() == before
    assert check_ledger() == []


def test_unknown_and_foreign_accounts_are_404():
    a = funded_account(1000)
    b = new_account("USD")
    foreign = new_account("USD", key=KEY_B)
    deposit(foreign, 1000, key=KEY_B)
    unknown = unknown_id("acct")
    before = counts()
    r_unknown = pay(unknown, b, 100)
    assert_error(r_unknown, 404, "not_found", "from_account")
    r_foreign = pay(foreign, b, 100)
    assert_error(r_foreign, 404, "not_found", "from_account")
    assert r_foreign.raw.replace(foreign, unknown) == r_unknown.raw, (r_foreign, r_unknown)
    r_unknown = pay(a, unknown, 100)
    assert_error(r_unknown, 404, "not_found", "to_account")
    r_foreign = pay(a, foreign, 100)
    assert_error(r_foreign, 404, "not_found", "to_account")
    assert r_foreign.raw.replace(foreign, unknown) == r_unknown.raw, (r_foreign, r_unknown)
    assert_error(pay(unknown, unknown_id("acct"), 100), 404, "not_found", "from_account")
    assert balance(a) == (1000, 0)
    assert balance(foreign, key=KEY_B) == (1000, 0)
    assert counts()[1:4] == before[1:4]
    assert check_ledger() == []


def test_external_accounts_take_no_part_in_payments():
    a = funded_account(1000)
    ext = external_account("USD")
    before = counts()
    assert_error(pay(ext, a, 100), 400, "invalid_request", "from_account")
    assert_error(pay(a, ext, 100), 400, "invalid_request", "to_account")
    assert balance(a) == (1000, 0)
    assert counts()[1:4] == before[1:4]
    assert check_ledger() == []


def test_cancel_releases_the_hold():
    a = funded_account(1000)
    b = new_account("USD")
    r = pay(a, b, 600)
    assert r.status == 201, r
    p = r.json
    assert balance(a) == (400, 600)
    c = post(f"/v1/payments/{p['id']}/cancel")
    assert c.status == 200, c
    q = c.json
    assert set(q) == PAYMENT_FIELDS, q
    assert q["id"] == p["id"] and q["status"] == "canceled", q
    assert [t["status"] for t in q["timeline"]] == ["pending", "canceled"], q
    assert q["timeline"][0] == p["timeline"][0], q
    assert q["created_at"] == p["created_at"] and q["updated_at"] >= p["updated_at"], q
    assert (q["amount"], q["from_account"], q["to_account"]) == (600, a, b), q
    assert balance(a) == (1000, 0)
    assert balance(b) == (0, 0)
    assert get(f"/v1/payments/{p['id']}").json == q
    assert _entries(p["id"]) == 4
    # A second cancel: 409, and nothing moves.
    before = counts()
    r = post(f"/v1/payments/{p['id']}/cancel")
    e = assert_error(r, 409, "payment_not_cancelable", "id")
    assert p["id"] in e["message"], e
    assert balance(a) == (1000, 0)
    assert counts()[:4] == before[:4]
    assert get(f"/v1/payments/{p['id']}").json == q
    # The released funds can be spent again.
    assert pay(a, b, 1000).status == 201
    assert balance(a) == (0, 1000)
    assert check_ledger() == []


def test_cancel_of_unknown_or_foreign_payment_is_404():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 300).json["id"]
    unknown = unknown_id("pay")
    before = counts()
    r_unknown = post(f"/v1/payments/{unknown}/cancel", key=KEY_B)
    assert_error(r_unknown, 404, "not_found", "id")
    r_foreign = post(f"/v1/payments/{p}/cancel", key=KEY_B)
    assert_error(r_foreign, 404, "not_found", "id")
    assert r_foreign.raw.replace(p, unknown) == r_unknown.raw, (r_foreign, r_unknown)
    assert_error(post("/v1/payments/nope/cancel"), 404, "not_found", "id")
    assert_error(post(f"/v1/payments/{a}/cancel"), 404, "not_found", "id")
    assert get(f"/v1/payments/{p}").json["status"] == "pending"
    assert balance(a) == (700, 300)
    assert counts()[:4] == before[:4]
    assert check_ledger() == []


def test_other_tenants_payment_is_not_found_like_an_unknown_one():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 10).json["id"]
    unknown = unknown_id("pay")
    r_foreign = get(f"/v1/payments/{p}", key=KEY_B)
    r_unknown = get(f"/v1/payments/{unknown}", key=KEY_B)
    assert_error(r_foreign, 404, "not_found", "id")
    assert_error(r_unknown, 404, "not_found", "id")
    assert r_foreign.raw.replace(p, unknown) == r_unknown.raw, (r_foreign, r_unknown)
    assert_error(get("/v1/payments/pay_"), 404, "not_found", "id")
    assert get(f"/v1/payments/{p}").status == 200
    ids, _ = _list(f"?account={a}", key=KEY_B)
    assert ids == []
    r_foreign = get(f"/v1/payments?starting_after={p}", key=KEY_B)
    r_unknown = get(f"/v1/payments?starting_after={unknown}", key=KEY_B)
    assert_error(r_foreign, 400, "invalid_request", "starting_after")
    assert r_foreign.raw.replace(p, unknown) == r_unknown.raw, (r_foreign, r_unknown)
    assert check_ledger() == []


def test_list_payments_newest_first_with_filters():
    x = funded_account(1000)
    y = funded_account(1000)
    z = new_account("USD")
    p1 = pay(x, y, 100).json["id"]
    p2 = pay(y, z, 200).json["id"]
    p3 = pay(x, z, 300).json["id"]
    assert post(f"/v1/payments/{p1}/cancel").status == 200
    ids, more = _list("?limit=3")
    assert ids == [p3, p2, p1] and more is True
    assert _list(f"?account={x}") == ([p3, p1], False)
    assert _list(f"?account={y}") == ([p2, p1], False)
    assert _list(f"?account={z}") == ([p3, p2], False)
    assert _list(f"?account={x}&status=pending") == ([p3], False)
    assert _list(f"?status=canceled&account={x}") == ([p1], False)
    assert _list(f"?account={x}&status=succeeded") == ([], False)
    assert _list(f"?account={x}&limit=1") == ([p3], True)
    assert _list(f"?account={x}&limit=1&starting_after={p3}") == ([p1], False)
    assert _list(f"?account={y}&starting_after={p2}") == ([p1], False)
    assert _list(f"?account={unknown_id('acct')}") == ([], False)
    r = get(f"/v1/payments?account={x}")
    assert r.json["data"][0] == get(f"/v1/payments/{p3}").json, r
    ids, _ = _list("?status=canceled&limit=100")
    assert p1 in ids and p2 not in ids and p3 not in ids
    assert not {p1, p2, p3} & set(_list("?limit=100", key=KEY_B)[0])
    ids, _ = _list("")
    assert len(ids) == 10 and ids[:3] == [p3, p2, p1], ids
    assert check_ledger() == []


def test_list_payments_rejects_bad_query():
    for q, param in [("status=bogus", "status"), ("status=PENDING", "status"), ("status=", "status"),
                     ("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                     ("foo=1", "foo"), ("account=xyz", "account"), ("account=pay_abc", "account"),
                     ("starting_after=acct_abc", "starting_after"),
                     (f"starting_after={unknown_id('pay')}", "starting_after"),
                     ("status=pending&status=canceled", "status"), ("limit=1&limit=1", "limit"),
                     (f"account={unknown_id('acct')}&account={unknown_id('acct')}", "account")]:
        assert_error(get(f"/v1/payments?{q}"), 400, "invalid_request", param)
    for q in ["status=pending", "status=processing", "status=succeeded", "status=failed",
              "status=canceled", "limit=1", "limit=100"]:
        assert get(f"/v1/payments?{q}").status == 200, q
