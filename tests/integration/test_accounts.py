"""Accounts and deposits: creation, reads, lists and their paging, tenants
kept apart, authentication, methods and routes."""

import re

from harness import (KEY_A, KEY_B, assert_error, balance, check_ledger, counts, deposit,
                     external_account, get, new_account, post, request, sql, sql_value,
                     tenant_of, unknown_id)

ACCOUNT_ID = re.compile(r"^acct_[0-9A-Za-z]{24}$")
DEPOSIT_ID = re.compile(r"^dep_[0-9A-Za-z]{24}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ACCOUNT_FIELDS = {"id", "object", "currency", "name", "type", "status", "balance", "metadata",
                  "created_at"}


def _ids(r):
    assert r.status == 200, r
    assert set(r.json) == {"object", "data", "has_more"} and r.json["object"] == "list", r
    return [x["id"] for x in r.json["data"]]


def _tenant_accounts_newest_first(account):
    """Every account id of the tenant that owns account, newest first."""
    return [row[0] for row in sql(
        f"SELECT id FROM accounts WHERE tenant_id = '{tenant_of(account)}' ORDER BY seq DESC")]


def test_create_account_defaults():
    r = post("/v1/accounts", {"currency": "USD"})
    assert r.status == 201, r
    assert r.header("Idempotent-Replayed") is None, r.headers
    a = r.json
    assert set(a) == ACCOUNT_FIELDS, a
    assert ACCOUNT_ID.match(a["id"]), a
    assert a["object"] == "account" and a["currency"] == "USD", a
    assert a["name"] is None and a["type"] == "user" and a["status"] == "active", a
    assert a["balance"] == {"available": 0, "pending": 0, "currency": "USD"}, a
    assert a["metadata"] == {}, a
    assert TIMESTAMP.match(a["created_at"]), a
    g = get(f"/v1/accounts/{a['id']}")
    assert g.status == 200 and g.json == a, (g, a)


def test_create_account_with_every_field():
    body = {"currency": "EUR", "name": "Zoë's shop", "type": "business",
            "metadata": {"order": "42", "note": "ünïcode"}}
    r = post("/v1/accounts", body)
    assert r.status == 201, r
    a = r.json
    assert (a["currency"], a["name"], a["type"], a["metadata"]) == \
        ("EUR", "Zoë's shop", "business", {"order": "42", "note": "ünïcode"}), a
    assert a["balance"] == {"available": 0, "pending": 0, "currency": "EUR"}, a
    assert get(f"/v1/accounts/{a['id']}").json == a
    r = post("/v1/accounts", {"currency": "JPY", "type": "user"})
    assert r.status == 201 and r.json["type"] == "user" and r.json["currency"] == "JPY", r


def test_account_type_must_be_user_or_business():
    before = counts()
    for t in ["external", "User", "", "admin"]:
        assert_error(post("/v1/accounts", {"currency": "USD", "type": t}), 400,
                     "invalid_request", "type")
    assert counts() == before


def test_deposit_credits_available_and_debits_external():
    a = new_account("GBP")
    ext = external_account("GBP")
    ext_before = int(sql_value(f"SELECT available FROM accounts WHERE id = '{ext}'"))
    r = post(f"/v1/accounts/{a}/deposits", {"amount": 1500})
    assert r.status == 201, r
    d = r.json
    assert set(d) == {"id", "object", "account", "amount", "currency", "created_at", "balance"}, d
    assert DEPOSIT_ID.match(d["id"]) and d["object"] == "deposit", d
    assert (d["account"], d["amount"], d["currency"]) == (a, 1500, "GBP"), d
    assert TIMESTAMP.match(d["created_at"]), d
    assert d["balance"] == {"available": 1500, "pending": 0, "currency": "GBP"}, d
    d2 = deposit(a, 500)
    assert d2["id"] != d["id"], d2
    assert d2["balance"] == {"available": 2000, "pending": 0, "currency": "GBP"}, d2
    assert balance(a) == (2000, 0)
    ext_after = int(sql_value(f"SELECT available FROM accounts WHERE id = '{ext}'"))
    assert ext_after == ext_before - 2000, (ext_before, ext_after)
    assert sql(f"SELECT account_id, amount, currency FROM deposits WHERE id = '{d['id']}'") == \
        [[a, "1500", "GBP"]]
    assert check_ledger() == []


def test_deposit_to_unknown_or_foreign_account_is_404():
    a = new_account("USD")
    b = new_account("USD", key=KEY_B)
    unknown = unknown_id("acct")
    before = counts()
    r_unknown = post(f"/v1/accounts/{unknown}/deposits", {"amount": 100})
    assert_error(r_unknown, 404, "not_found", "id")
    r_foreign = post(f"/v1/accounts/{b}/deposits", {"amount": 100})
    assert_error(r_foreign, 404, "not_found", "id")
    assert r_foreign.raw.replace(b, unknown) == r_unknown.raw, (r_foreign, r_unknown)
    r_bad = post("/v1/accounts/not_an_id/deposits", {"amount": 100})
    assert_error(r_bad, 404, "not_found", "id")
    assert balance(b, key=KEY_B) == (0, 0)
    assert balance(a) == (0, 0)
    assert counts()[:4] == before[:4]  # no account, payment, entry or deposit


def test_external_account_takes_no_deposit():
    ext = external_account("USD")
    before = counts()
    assert_error(post(f"/v1/accounts/{ext}/deposits", {"amount": 100}), 400,
                 "invalid_request", "id")
    assert counts()[:4] == before[:4]


def test_other_tenants_account_is_not_found_like_an_unknown_one():
    a = new_account("USD", key=KEY_A)
    unknown = unknown_id("acct")
    r_foreign = get(f"/v1/accounts/{a}", key=KEY_B)
    r_unknown = get(f"/v1/accounts/{unknown}", key=KEY_B)
    assert_error(r_foreign, 404, "not_found", "id")
    assert_error(r_unknown, 404, "not_found", "id")
    assert r_foreign.raw.replace(a, unknown) == r_unknown.raw, (r_foreign, r_unknown)
    assert get(f"/v1/accounts/{a}", key=KEY_A).status == 200
    ids_b = _ids(get("/v1/accounts?limit=100", key=KEY_B))
    assert a not in ids_b


def test_missing_or_invalid_authorization_is_401():
    a = new_account("USD")
    deposit(a, 100)
    b = new_account("USD")
    pay = post("/v1/payments", {"from_account": a, "to_account": b, "amount": 1,
                                "currency": "USD"})
    assert pay.status == 201, pay
    p = pay.json["id"]
    calls = [("GET", "/v1/accounts", None), ("GET", f"/v1/accounts/{a}", None),
             ("GET", "/v1/payments", None), ("GET", f"/v1/payments/{p}", None),
             ("POST", "/v1/accounts", {"currency": "USD"}),
             ("POST", f"/v1/accounts/{a}/deposits", {"amount": 5}),
             ("POST", "/v1/payments", {"from_account": a, "to_account": b, "amount": 5,
                                       "currency": "USD"}),
             ("POST", f"/v1/payments/{p}/cancel", {})]
    auths = [None, "", "Bearer", "Bearer ", "Basic " + KEY_A, KEY_A,
             "Bearer fsk_thisisnotakey0000000000000000000000000000",
             "Bearer " + KEY_A + "x", "Bearer " + KEY_A[:-1]]
    before = counts()
    for method, path, body in calls:
        for auth in auths:
            headers = {} if auth is None else {"Authorization": auth}
            r = request(method, path, body, key=None, headers=headers)
            assert_error(r, 401, "unauthorized", None)
    assert counts() == before
    assert balance(a) == (99, 1)


def test_invalid_key_is_401_before_request_validation():
    """A well-formed but unknown API key must get 401 whatever else is wrong
    with the request, exactly as a missing Authorization header does."""
    bogus = "fsk_thisisnotakey0000000000000000000000000000"
    before = counts()
    # The same requests without any Authorization header are 401: the check
    # of the key must come first for an unknown key too.
    assert_error(post("/v1/accounts", {"currency": "USD"}, key=None, idem=None), 401,
                 "unauthorized", None)
    assert_error(post("/v1/accounts", {"currency": "USD"}, key=bogus, idem=None), 401,
                 "unauthorized", None)
    assert_error(post("/v1/accounts", {"currency": "XYZ"}, key=bogus), 401,
                 "unauthorized", None)
    assert_error(get("/v1/accounts?limit=0", key=bogus), 401, "unauthorized", None)
    assert counts() == before


def test_list_accounts_newest_first_with_paging():
    created = [new_account("USD", name=f"n{i}") for i in range(5)]
    newest = list(reversed(created))
    r = get("/v1/accounts?limit=2")
    assert _ids(r) == newest[:2] and r.json["has_more"] is True, r
    r = get(f"/v1/accounts?limit=2&starting_after={newest[1]}")
    assert _ids(r) == newest[2:4] and r.json["has_more"] is True, r
    r = get(f"/v1/accounts?starting_after={newest[3]}&limit=1")
    assert _ids(r) == newest[4:5], r
    assert _ids(get(f"/v1/accounts?limit=1&starting_after={newest[0]}")) == newest[1:2]
    r = get("/v1/accounts")
    ids = _ids(r)
    assert len(ids) == 10 and ids[:5] == newest and r.json["has_more"] is True, r
    item = r.json["data"][0]
    assert set(item) == {"id", "object", "currency", "name", "type", "status", "balance",
                         "metadata", "created_at"} and item["name"] == "n4", item
    assert item == get(f"/v1/accounts/{newest[0]}").json


def test_list_accounts_walks_every_account_once():
    a = new_account("USD")
    expected = _tenant_accounts_newest_first(a)
    walked, after, pages = [], None, 0
    while True:
        q = "/v1/accounts?limit=7" + (f"&starting_after={after}" if after else "")
        r = get(q)
        page = _ids(r)
        pages += 1
        walked += page
        if not r.json["has_more"]:
            break
        assert len(page) == 7, r
        after = page[-1]
        assert pages < 1000
    assert walked == expected, (len(walked), len(expected))
    # The tenant's system accounts, one per currency, are in its list.
    r = get(f"/v1/accounts?limit=100&starting_after={expected[-12]}")
    data = r.json["data"]
    ext = [x for x in data if x["type"] == "external"]
    assert len(ext) == 10 and len({x["currency"] for x in ext}) == 10, data
    assert r.json["has_more"] is False
    # Exactly the last page: has_more is false; one short of it: true.
    r = get(f"/v1/accounts?limit=2&starting_after={expected[-3]}")
    assert _ids(r) == expected[-2:] and r.json["has_more"] is False, r
    r = get(f"/v1/accounts?limit=1&starting_after={expected[-3]}")
    assert _ids(r) == expected[-2:-1] and r.json["has_more"] is True, r
    r = get(f"/v1/accounts?starting_after={expected[-1]}")
    assert _ids(r) == [] and r.json["has_more"] is False, r
    # Tenant B's list holds none of tenant A's accounts.
    b_ids = set(_ids(get("/v1/accounts?limit=100", key=KEY_B)))
    assert not b_ids & set(expected)


def test_list_accounts_rejects_bad_query():
    a = new_account("USD")
    b = new_account("USD", key=KEY_B)
    for q in ["limit=0", "limit=101", "limit=x", "limit=", "limit=-1", "limit=1.5",
              "limit=10abc"]:
        assert_error(get(f"/v1/accounts?{q}"), 400, "invalid_request", "limit")
    assert_error(get("/v1/accounts?foo=1"), 400, "invalid_request", "foo")
    # A parameter given twice is refused, not silently overridden.
    assert_error(get("/v1/accounts?limit=5&limit=6"), 400, "invalid_request", "limit")
    assert_error(get(f"/v1/accounts?starting_after={a}&starting_after={a}"), 400,
                 "invalid_request", "starting_after")
    assert_error(get("/v1/accounts?limit=5&status=active"), 400, "invalid_request", "status")
    assert_error(get("/v1/accounts?starting_after=xyz"), 400, "invalid_request",
                 "starting_after")
    unknown = unknown_id("acct")
    r_unknown = get(f"/v1/accounts?starting_after={unknown}")
    assert_error(r_unknown, 400, "invalid_request", "starting_after")
    r_foreign = get(f"/v1/accounts?starting_after={b}")
    assert_error(r_foreign, 400, "invalid_request", "starting_after")
    assert r_foreign.raw.replace(b, unknown) == r_unknown.raw, (r_foreign, r_unknown)
    total = len(_tenant_accounts_newest_first(a))
    for n in [1, 100]:
        r = get(f"/v1/accounts?limit={n}")
        assert r.status == 200 and len(r.json["data"]) == min(n, total), r
        assert r.json["has_more"] is (total > n), r
    assert get(f"/v1/accounts?starting_after={a}").status == 200


def test_wrong_method_is_405_with_allow():
    a = new_account("USD")
    p = unknown_id("pay")
    cases = [("DELETE", "/v1/accounts", "GET, POST"), ("PUT", "/v1/accounts", "GET, POST"),
             ("PATCH", "/v1/payments", "GET, POST"), ("POST", f"/v1/accounts/{a}", "GET"),
             ("DELETE", f"/v1/accounts/{a}", "GET"), ("GET", f"/v1/accounts/{a}/deposits", "POST"),
             ("PUT", f"/v1/payments/{p}", "GET"), ("GET", f"/v1/payments/{p}/cancel", "POST"),
             ("OPTIONS", "/v1/payments", "GET, POST")]
    before = counts()
    for method, path, allow in cases:
        r = request(method, path, {"currency": "USD"} if method != "GET" else None)
        assert_error(r, 405, "method_not_allowed", None)
        assert r.header("Allow") == allow, (method, path, r.headers)
    assert counts() == before


def test_unknown_route_is_404():
    a = new_account("USD")
    for method, path in [("GET", "/v1/foo"), ("GET", "/v1"), ("GET", "/"), ("GET", "/v2/accounts"),
                         ("GET", "/v1/accounts/"), ("GET", f"/v1/accounts/{a}/"),
                         ("GET", f"/v1/accounts/{a}/foo"), ("POST", f"/v1/accounts/{a}/withdrawals"),
                         ("POST", "/v1/payments/pay_x/refund"), ("GET", "/v1//accounts"),
                         ("GET", "/v1/accounts/a/b/c/d")]:
        r = request(method, path, {} if method == "POST" else None)
        assert_error(r, 404, "not_found", None)
