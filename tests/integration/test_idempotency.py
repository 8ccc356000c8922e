"""Idempotency-Key: required on every POST, replays byte for byte, refuses
reuse with another request, kept per tenant, and never stored for a request
rejected by validation."""

import json
import os
import subprocess
import uuid

from harness import (KEY_A, KEY_B, assert_error, balance, check_ledger, counts,
                     forget_cached_accounts, funded_account, get, new_account, pay, post, sql,
                     sql_value)

REDIS_PORT = os.environ.get("FINSYS_REDIS_PORT", "")


def _key():
    return "idem-" + uuid.uuid4().hex


def _stored(key):
    return int(sql_value(f"SELECT count(*) FROM idempotency_keys WHERE key = '{key}'"))


def _assert_replay(first, again):
    assert again.status == first.status, (first, again)
    assert again.raw == first.raw, (first.raw, again.raw)
    assert again.header("Idempotent-Replayed") == "true", again.headers
    assert first.header("Idempotent-Replayed") is None, first.headers


def test_every_post_needs_a_key():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 10).json["id"]
    before = counts()
    for path, body in [("/v1/accounts", {"currency": "USD"}),
                       (f"/v1/accounts/{a}/deposits", {"amount": 100}),
                       ("/v1/payments", {"from_account": a, "to_account": b, "amount": 100,
                                         "currency": "USD"}),
                       (f"/v1/payments/{p}/cancel", {})]:
        r = post(path, body, idem=None)
        assert_error(r, 400, "idempotency_key_missing", "Idempotency-Key")
    assert counts() == before
    assert balance(a) == (990, 10)
    assert get(f"/v1/payments/{p}").json["status"] == "pending"


def test_key_length_and_characters():
    before = counts()
    for bad in ["k" * 256, "k" * 1000, "", "ab\x01cd", "ab\x7fcd", "clé"]:
        r = post("/v1/accounts", {"currency": "USD"}, idem=bad)
        assert_error(r, 400, "invalid_request", "Idempotency-Key")
    assert counts() == before
    key = (uuid.uuid4().hex + "~") * 8
    key = key[:255]
    r = post("/v1/accounts", {"currency": "USD"}, idem=key)
    assert r.status == 201, r
    _assert_replay(r, post("/v1/accounts", {"currency": "USD"}, idem=key))
    r = post("/v1/accounts", {"currency": "USD"},
             idem="a b!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}" + uuid.uuid4().hex)
    assert r.status == 201, r


def test_replayed_account_creation():
    key = _key()
    body = {"currency": "CHF", "name": "once", "metadata": {"a": "b"}}
    first = post("/v1/accounts", body, idem=key)
    assert first.status == 201, first
    before = counts()
    for _ in range(3):
        _assert_replay(first, post("/v1/accounts", body, idem=key))
    assert counts() == before
    assert get(f"/v1/accounts/{first.json['id']}").status == 200
    assert _stored(key) == 1


def test_replayed_deposit_credits_once():
    a = new_account("USD")
    key = _key()
    first = post(f"/v1/accounts/{a}/deposits", {"amount": 700}, idem=key)
    assert first.status == 201, first
    before = counts()
    again = post(f"/v1/accounts/{a}/deposits", {"amount": 700}, idem=key)
    _assert_replay(first, again)
    assert counts() == before
    assert balance(a) == (700, 0)
    assert check_ledger() == []


def test_replayed_payment_holds_once():
    a = funded_account(1000)
    b = new_account("USD")
    key = _key()
    first = pay(a, b, 400, idem=key)
    assert first.status == 201, first
    before = counts()
    for _ in range(3):
        _assert_replay(first, pay(a, b, 400, idem=key))
    assert counts() == before
    assert balance(a) == (600, 400)
    assert int(sql_value(f"SELECT count(*) FROM payments WHERE from_account = '{a}'")) == 1
    # The payment has changed since; the replay still answers what the
    # first request answered, and creates nothing.
    assert post(f"/v1/payments/{first.json['id']}/cancel").status == 200
    _assert_replay(first, pay(a, b, 400, idem=key))
    assert balance(a) == (1000, 0)
    assert int(sql_value(f"SELECT count(*) FROM payments WHERE from_account = '{a}'")) == 1
    assert check_ledger() == []


def test_a_created_payments_record_names_it_and_replays_it_as_created():
    """The record of a created payment keeps no copy of the answer: it names
    the payment, and the database renders a replay as the payment was
    created, byte for byte, after it settled."""
    a = funded_account(1000)
    b = new_account("USD")
    key = _key()
    first = post("/v1/payments", {"from_account": a, "to_account": b, "amount": 300,
                                  "currency": "USD", "description": "tea \u00e9",
                                  "metadata": {"order": "A-1", "n": "2"}}, idem=key)
    assert first.status == 201, first
    pid = first.json["id"]
    assert sql(f"SELECT payload IS NULL, ref FROM idempotency_keys WHERE key = '{key}'") \
        == [["t", pid]]
    sql(f"""SELECT * FROM fs_batch('[{{"op": "settle_claim", "payment": "{pid}"}}]')""")
    sql(f"""SELECT * FROM fs_batch('[{{"op": "settle_finish", "payment": "{pid}",
                                       "result": "approved"}}]')""")
    forget_cached_accounts()
    assert get(f"/v1/payments/{pid}").json["status"] == "succeeded"
    # From the database, not a replay entry in Redis.
    if REDIS_PORT:
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", REDIS_PORT, "FLUSHALL"],
                       check=True, capture_output=True, timeout=10)
    _assert_replay(first, post("/v1/payments", {"from_account": a, "to_account": b,
                                                "amount": 300, "currency": "USD",
                                                "description": "tea \u00e9",
                                                "metadata": {"order": "A-1", "n": "2"}},
                               idem=key))


def test_replayed_insufficient_funds_stays_402():
    a = funded_account(100)
    b = new_account("USD")
    key = _key()
    first = pay(a, b, 500, idem=key)
    assert_error(first, 402, "insufficient_funds", "amount")
    before = counts()
    _assert_replay(first, pay(a, b, 500, idem=key))
    assert counts() == before
    # Even once the funds are there, the key keeps its answer: nothing is paid.
    post(f"/v1/accounts/{a}/deposits", {"amount": 1000})
    _assert_replay(first, pay(a, b, 500, idem=key))
    assert balance(a) == (1100, 0)
    assert int(sql_value(f"SELECT count(*) FROM payments WHERE from_account = '{a}'")) == 0
    # A new key pays.
    assert pay(a, b, 500).status == 201
    assert balance(a) == (600, 500)
    assert check_ledger() == []


def test_replayed_not_found():
    a = funded_account(100)
    key = _key()
    missing = "acct_" + "0" * 24
    first = pay(a, missing, 50, idem=key)
    assert_error(first, 404, "not_found", "to_account")
    _assert_replay(first, pay(a, missing, 50, idem=key))
    assert balance(a) == (100, 0)


def test_replayed_cancel_is_not_a_second_cancel():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 250).json["id"]
    key = _key()
    first = post(f"/v1/payments/{p}/cancel", idem=key)
    assert first.status == 200 and first.json["status"] == "canceled", first
    before = counts()
    _assert_replay(first, post(f"/v1/payments/{p}/cancel", idem=key))
    _assert_replay(first, post(f"/v1/payments/{p}/cancel", {}, idem=key))
    assert counts() == before
    assert balance(a) == (1000, 0)
    assert_error(post(f"/v1/payments/{p}/cancel"), 409, "payment_not_cancelable", "id")
    assert check_ledger() == []


def test_same_key_with_another_request_is_422():
    a = funded_account(1000)
    b = new_account("USD")
    c = new_account("USD")
    key = _key()
    first = pay(a, b, 100, idem=key)
    assert first.status == 201, first
    before = counts()
    for r in [pay(a, b, 101, idem=key), pay(a, c, 100, idem=key),
              post("/v1/payments", {"from_account": a, "to_account": b, "amount": 100,
                                    "currency": "USD", "description": "x"}, idem=key),
              post(f"/v1/accounts/{a}/deposits", {"amount": 100}, idem=key),
              post("/v1/accounts", {"currency": "USD"}, idem=key),
              post(f"/v1/payments/{first.json['id']}/cancel", idem=key)]:
        e = assert_error(r, 422, "idempotency_key_reuse", None)
        assert r.header("Idempotent-Replayed") is None, r.headers
        assert e["message"], e
    assert counts() == before
    assert balance(a) == (900, 100)
    assert get(f"/v1/payments/{first.json['id']}").json["status"] == "pending"
    # The key still answers its own request.
    _assert_replay(first, pay(a, b, 100, idem=key))
    assert check_ledger() == []


def test_keys_are_per_tenant():
    key = _key()
    ra = post("/v1/accounts", {"currency": "USD"}, key=KEY_A, idem=key)
    assert ra.status == 201, ra
    rb = post("/v1/accounts", {"currency": "EUR"}, key=KEY_B, idem=key)
    assert rb.status == 201 and rb.header("Idempotent-Replayed") is None, rb
    assert rb.json["currency"] == "EUR" and rb.json["id"] != ra.json["id"], rb
    assert get(f"/v1/accounts/{rb.json['id']}", key=KEY_B).status == 200
    _assert_replay(ra, post("/v1/accounts", {"currency": "USD"}, key=KEY_A, idem=key))
    _assert_replay(rb, post("/v1/accounts", {"currency": "EUR"}, key=KEY_B, idem=key))
    # The same request under the same key is still two requests for two tenants.
    key2 = _key()
    r1 = post("/v1/accounts", {"currency": "SEK"}, key=KEY_A, idem=key2)
    r2 = post("/v1/accounts", {"currency": "SEK"}, key=KEY_B, idem=key2)
    assert r1.status == 201 and r2.status == 201, (r1, r2)
    assert r2.header("Idempotent-Replayed") is None and r1.json["id"] != r2.json["id"]
    assert get(f"/v1/accounts/{r2.json['id']}", key=KEY_A).status == 404
    assert _stored(key) == 2 and _stored(key2) == 2


def test_validation_error_stores_nothing():
    a = funded_account(1000)
    b = new_account("USD")
    key = _key()
    before = counts()
    for body in [{"from_account": a, "to_account": b, "amount": "100", "currency": "USD"},
                 {"from_account": a, "to_account": b, "currency": "USD"},
                 {"from_account": a, "to_account": b, "amount": 100, "currency": "usd"},
                 {"from_account": a, "to_account": a, "amount": 100, "currency": "USD"},
                 {"from_account": a, "to_account": b, "amount": 100, "currency": "USD",
                  "extra": 1}]:
        r = post("/v1/payments", body, idem=key)
        assert r.status == 400, r
    r = post("/v1/payments", raw_body="{not json", idem=key)
    assert_error(r, 400, "invalid_request", None)
    r = post("/v1/payments", raw_body='{"description": "' + "x" * (1024 * 1024) + '"}', idem=key)
    assert_error(r, 413, "request_too_large", "body")
    assert counts() == before
    assert _stored(key) == 0
    r = pay(a, b, 100, idem=key)
    assert r.status == 201 and r.header("Idempotent-Replayed") is None, r
    assert balance(a) == (900, 100)
    _assert_replay(r, pay(a, b, 100, idem=key))
    assert check_ledger() == []


def test_a_400_found_by_the_database_stores_nothing_either():
    """A 400 decided when the request executes (currency_mismatch needs the
    accounts) leaves the key free like a request check's 400: the corrected
    request with the same key executes (docs/openapi.yaml, Idempotency)."""
    usd = funded_account(1000, "USD")
    usd2 = new_account("USD")
    eur = new_account("EUR")
    key = _key()
    before = counts()
    first = pay(usd, eur, 100, idem=key)
    assert_error(first, 400, "currency_mismatch", "currency")
    assert _stored(key) == 0
    assert counts() == before
    assert balance(usd) == (1000, 0)
    r = pay(usd, usd2, 100, idem=key)
    assert r.status == 201, r
    assert r.header("Idempotent-Replayed") is None
    assert _stored(key) == 1
    assert balance(usd) == (900, 100)
    _assert_replay(r, pay(usd, usd2, 100, idem=key))
    assert check_ledger() == []


def test_key_order_and_whitespace_are_the_same_request():
    a = funded_account(1000)
    b = new_account("USD")
    key = _key()
    compact = json.dumps({"from_account": a, "to_account": b, "amount": 300, "currency": "USD",
                          "metadata": {"x": "1", "y": "2"}}, separators=(",", ":"))
    first = post("/v1/payments", raw_body=compact, idem=key)
    assert first.status == 201, first
    variants = [
        json.dumps({"currency": "USD", "amount": 300, "metadata": {"y": "2", "x": "1"},
                    "to_account": b, "from_account": a}, indent=4),
        '\n {\t"amount" : 300 ,"from_account":"%s",\r\n"to_account"  :"%s", '
        '"metadata":{ "y":"2","x" :"1"},"currency":"\\u0055SD"}  \n' % (a, b),
    ]
    for v in variants:
        _assert_replay(first, post("/v1/payments", raw_body=v, idem=key))
    assert balance(a) == (700, 300)
    assert int(sql_value(f"SELECT count(*) FROM payments WHERE from_account = '{a}'")) == 1
    assert check_ledger() == []
