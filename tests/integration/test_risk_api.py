"""The management API of risk rules, risk lists and balance alert thresholds
(docs/risk.md): /v1/risk_rules, /v1/risk_lists and
/v1/accounts/{id}/balance_alerts with a tenant's key, and the console's
/admin/api routes for a tenant's rules and lists (roles, audit rows). Each
test works in tenants of its own, so the per-tenant limits and lists hold
exactly what the test made."""

import json
import subprocess
import threading
import time
import uuid

from harness import (DATABASE_URL, assert_error, deposit, get, new_account, new_api_key, post,
                     request, sql, sql_value, tenant_of, unknown_id)
from test_admin_auth import logged_in

RULES_MAX = 50            # FS_RISK_RULES_MAX (src/core/limits.h)
LIST_ENTRIES_MAX = 100000  # FS_RISK_LIST_ENTRIES_MAX
RULE_KEYS = {"id", "object", "name", "kind", "params", "action", "mode", "score", "created_at",
             "updated_at"}
ENTRY_KEYS = {"id", "object", "list", "value", "reason", "created_at"}


def _tenant():
    """A new tenant: its API key and id."""
    key = new_api_key("test-risk-" + uuid.uuid4().hex[:10])
    return key, tenant_of(new_account("USD", key=key))


def _rule(key, body=None, idem="auto"):
    r = post("/v1/risk_rules", body or {"kind": "listed", "action": "review"}, key=key, idem=idem)
    assert r.status == 201, r
    return r.json


def _patch(path, body, key, idem=None):
    return request("PATCH", path, body, key=key, idem=idem or str(uuid.uuid4()))


def _delete(path, key):
    return request("DELETE", path, key=key)


def _rows(table, tenant):
    return int(sql_value(f"SELECT count(*) FROM {table} WHERE tenant_id = '{tenant}'"))


# --- rules -----------------------------------------------------------------

def test_risk_rule_create_get_list_patch_delete():
    key, tenant = _tenant()
    body = {"kind": "velocity_count", "params": {"count": 10, "window_minutes": 60},
            "action": "block", "name": "10 an hour"}
    r = post("/v1/risk_rules", body, key=key)
    assert r.status == 201, r
    rule = r.json
    assert set(rule) == RULE_KEYS, rule
    assert rule["id"].startswith("rr_") and len(rule["id"]) == 27, rule
    assert (rule["object"], rule["name"], rule["kind"], rule["params"], rule["action"],
            rule["mode"], rule["score"]) == ("risk_rule", "10 an hour", "velocity_count",
                                             {"count": 10, "window_minutes": 60}, "block",
                                             "active", 90), rule
    assert rule["created_at"] == rule["updated_at"] and rule["created_at"].endswith("Z"), rule
    # The defaults of the kind and of the action.
    listed = _rule(key, {"kind": "listed", "action": "review", "mode": "shadow"})
    assert listed["params"] == {"list": "blocklist", "party": "either"}, listed
    assert (listed["score"], listed["mode"], listed["name"]) == (50, "shadow", None), listed
    new = _rule(key, {"kind": "new_account_amount", "action": "allow",
                      "params": {"amount": 5000, "currency": "EUR"}})
    assert new["params"]["account_age_hours"] == 24 and new["score"] == 0, new
    # One by id; the list, newest first, in pages.
    got = get(f"/v1/risk_rules/{rule['id']}", key=key)
    assert got.status == 200 and got.json == rule, got
    page = get("/v1/risk_rules?limit=2", key=key)
    assert page.status == 200, page
    assert [x["id"] for x in page.json["data"]] == [new["id"], listed["id"]], page
    assert page.json["has_more"] is True and page.json["object"] == "list", page
    rest = get(f"/v1/risk_rules?limit=2&starting_after={listed['id']}", key=key)
    assert [x["id"] for x in rest.json["data"]] == [rule["id"]], rest
    assert rest.json["has_more"] is False, rest
    # PATCH: what is given changes, the rest (score too) stays; updated_at moves.
    time.sleep(0.01)
    r = _patch(f"/v1/risk_rules/{rule['id']}",
               {"params": {"count": 5, "window_minutes": 120}, "mode": "shadow",
                "action": "review"}, key)
    assert r.status == 200, r
    assert (r.json["params"], r.json["mode"], r.json["action"], r.json["score"],
            r.json["name"], r.json["kind"]) == ({"count": 5, "window_minutes": 120}, "shadow",
                                                "review", 90, "10 an hour", "velocity_count"), r
    assert r.json["created_at"] == rule["created_at"], r
    assert r.json["updated_at"] > rule["updated_at"], r
    r = _patch(f"/v1/risk_rules/{rule['id']}", {"name": None, "score": 33}, key)
    assert r.status == 200 and r.json["name"] is None and r.json["score"] == 33, r
    assert get(f"/v1/risk_rules/{rule['id']}", key=key).json == r.json
    # The kind is fixed; restating it is allowed.
    r = _patch(f"/v1/risk_rules/{rule['id']}", {"kind": "listed"}, key)
    assert_error(r, 400, "invalid_request", "kind")
    r = _patch(f"/v1/risk_rules/{rule['id']}", {"kind": "velocity_count", "score": 34}, key)
    assert r.status == 200 and r.json["score"] == 34, r
    # Params are checked against the rule's kind (these would do for an
    # amount_above rule).
    r = _patch(f"/v1/risk_rules/{rule['id']}", {"params": {"amount": 5, "currency": "USD"}}, key)
    assert_error(r, 400, "invalid_request", "params.amount")
    r = _patch(f"/v1/risk_rules/{rule['id']}", {"params": {"count": 5}}, key)
    assert_error(r, 400, "invalid_request", "params.window_minutes")
    r = _patch(f"/v1/risk_rules/{new['id']}", {"params": {"amount": 1, "currency": "USD",
                                                          "account_age_hours": 8761}}, key)
    assert_error(r, 400, "invalid_request", "params.account_age_hours")
    assert get(f"/v1/risk_rules/{rule['id']}", key=key).json["params"] == \
        {"count": 5, "window_minutes": 120}
    # DELETE: soft; gone from the list and by id; the row stays.
    r = _delete(f"/v1/risk_rules/{rule['id']}", key)
    assert r.status == 200 and r.json == {"id": rule["id"], "object": "risk_rule",
                                          "deleted": True}, r
    assert_error(get(f"/v1/risk_rules/{rule['id']}", key=key), 404, "not_found", "id")
    assert_error(_delete(f"/v1/risk_rules/{rule['id']}", key), 404, "not_found", "id")
    assert_error(_patch(f"/v1/risk_rules/{rule['id']}", {"score": 1}, key), 404, "not_found",
                 "id")
    ids = [x["id"] for x in get("/v1/risk_rules", key=key).json["data"]]
    assert ids == [new["id"], listed["id"]], ids
    assert sql(f"SELECT deleted_at IS NOT NULL, tenant_id FROM risk_rules "
               f"WHERE id = '{rule['id']}'") == [["t", tenant]]
    # A deleted rule is no cursor.
    r = get(f"/v1/risk_rules?starting_after={rule['id']}", key=key)
    assert_error(r, 400, "invalid_request", "starting_after")


def test_risk_rule_every_validation_error_names_its_parameter():
    key, tenant = _tenant()
    ok = {"kind": "amount_above", "params": {"amount": 100, "currency": "USD"},
          "action": "block"}

    def with_(**kw):
        b = json.loads(json.dumps(ok))
        b.update(kw)
        return b

    cases = [
        (with_(color="red"), "color"),
        ({"action": "block"}, "kind"),
        (with_(kind="loud"), "kind"),
        ({"kind": "listed"}, "action"),
        (with_(action="deny"), "action"),
        (with_(mode="dry_run"), "mode"),
        (with_(score=101), "score"),
        (with_(score=-1), "score"),
        (with_(score="5"), "score"),
        (with_(name="n" * 201), "name"),
        (with_(name=5), "name"),
        (with_(params=[1]), "params"),
        (with_(params={"amount": 100, "currency": "USD", "extra": 1}), "params.extra"),
        (with_(params={"currency": "USD"}), "params.amount"),
        (with_(params={"amount": 0, "currency": "USD"}), "params.amount"),
        (with_(params={"amount": 1.5, "currency": "USD"}), "params.amount"),
        (with_(params={"amount": 1}), "params.currency"),
        (with_(params={"amount": 1, "currency": "usd"}), "params.currency"),
        (with_(params={"amount": 1, "currency": "QQQ"}), "params.currency"),
        ({"kind": "velocity_count", "action": "block",
          "params": {"count": 0, "window_minutes": 5}}, "params.count"),
        ({"kind": "velocity_count", "action": "block",
          "params": {"count": 1000001, "window_minutes": 5}}, "params.count"),
        ({"kind": "velocity_count", "action": "block", "params": {"count": 1}},
         "params.window_minutes"),
        ({"kind": "velocity_count", "action": "block",
          "params": {"count": 1, "window_minutes": 0}}, "params.window_minutes"),
        ({"kind": "velocity_count", "action": "block",
          "params": {"count": 1, "window_minutes": 10081}}, "params.window_minutes"),
        ({"kind": "velocity_amount", "action": "block",
          "params": {"amount": 1, "currency": "USD", "window_minutes": 90}},
         "params.window_minutes"),
        ({"kind": "new_account_amount", "action": "block",
          "params": {"amount": 1, "currency": "USD", "account_age_hours": 0}},
         "params.account_age_hours"),
        ({"kind": "listed", "action": "block", "params": {"list": "Bad-Name"}}, "params.list"),
        ({"kind": "listed", "action": "block", "params": {"list": "x" * 65}}, "params.list"),
        ({"kind": "listed", "action": "block", "params": {"party": "both"}}, "params.party"),
        ({"kind": "currency_not_allowed", "action": "block", "params": {"allowed": []}},
         "params.allowed"),
        ({"kind": "currency_not_allowed", "action": "block",
          "params": {"allowed": ["USD"] * 51}}, "params.allowed"),
        ({"kind": "currency_not_allowed", "action": "block",
          "params": {"allowed": ["USD", "XXQ"]}}, "params.allowed"),
        ({"kind": "metadata_equals", "action": "block", "params": {"value": "v"}},
         "params.key"),
        ({"kind": "metadata_equals", "action": "block", "params": {"key": "k" * 65,
                                                                   "value": "v"}},
         "params.key"),
        ({"kind": "metadata_equals", "action": "block", "params": {"key": "k",
                                                                   "value": "v" * 257}},
         "params.value"),
    ]
    for body, param in cases:
        idem = str(uuid.uuid4())
        r = post("/v1/risk_rules", body, key=key, idem=idem)
        assert_error(r, 400, "invalid_request", param)
        # Nothing is kept under the key: the corrected request may reuse it.
        assert sql_value(f"SELECT count(*) FROM idempotency_keys WHERE key = '{idem}'") == "0"
    assert _rows("risk_rules", tenant) == 0
    # The edges are accepted.
    for params in ({"count": 1000000, "window_minutes": 60},
                   {"count": 1, "window_minutes": 10080}, {"count": 1, "window_minutes": 1}):
        _rule(key, {"kind": "velocity_count", "action": "block", "params": params})
    # An invalid body, a query, a missing key: as every POST.
    assert_error(post("/v1/risk_rules", raw_body="{", key=key), 400, "invalid_request", None)
    assert_error(post("/v1/risk_rules", ok, key=key, idem=None), 400,
                 "idempotency_key_missing", "Idempotency-Key")
    r = request("PATCH", f"/v1/risk_rules/{unknown_id('rr')}", {"score": 1}, key=key)
    assert_error(r, 400, "idempotency_key_missing", "Idempotency-Key")
    # PATCH's own: nothing to change, null where a value is needed.
    rule = _rule(key)
    for body, param in (({}, None), ({"mode": None}, "mode"), ({"action": None}, "action"),
                        ({"score": None}, "score"), ({"params": None}, "params"),
                        ({"kind": "velocity_count"}, "kind"), ({"size": 1}, "size")):
        assert_error(_patch(f"/v1/risk_rules/{rule['id']}", body, key), 400, "invalid_request",
                     param)


def test_risk_rule_limit_per_tenant():
    key, tenant = _tenant()
    body = {"kind": "amount_above", "params": {"amount": 100, "currency": "USD"},
            "action": "review"}
    rules = [_rule(key, body) for _ in range(RULES_MAX - 1)]
    # The last places, taken at once by 6 requests: exactly one gets it.
    results = []

    def create():
        results.append(post("/v1/risk_rules", body, key=key))

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == [201] + [400] * 5, results
    assert _rows("risk_rules", tenant) == RULES_MAX
    idem = str(uuid.uuid4())
    r = post("/v1/risk_rules", body, key=key, idem=idem)
    e = assert_error(r, 400, "invalid_request", None)
    assert str(RULES_MAX) in e["message"] and "delete" in e["message"], e
    # Nothing kept under the key: after a delete, the same request goes through.
    assert _delete(f"/v1/risk_rules/{rules[0]['id']}", key).status == 200
    r = post("/v1/risk_rules", body, key=key, idem=idem)
    assert r.status == 201 and r.header("Idempotent-Replayed") is None, r
    # Deleted rules do not count; live ones do.
    assert int(sql_value(f"SELECT count(*) FROM risk_rules WHERE tenant_id = '{tenant}' "
                         "AND deleted_at IS NULL")) == RULES_MAX
    # Another tenant's limit is its own.
    other, _ = _tenant()
    _rule(other, body)


def test_risk_rule_idempotent_replay():
    key, tenant = _tenant()
    idem = str(uuid.uuid4())
    body = {"kind": "metadata_equals", "params": {"key": "channel", "value": "web"},
            "action": "allow"}
    first = post("/v1/risk_rules", body, key=key, idem=idem)
    assert first.status == 201 and first.header("Idempotent-Replayed") is None, first
    again = post("/v1/risk_rules", body, key=key, idem=idem)
    assert again.status == 201 and again.header("Idempotent-Replayed") == "true", again
    assert again.json == first.json
    assert _rows("risk_rules", tenant) == 1
    r = post("/v1/risk_rules", dict(body, score=5), key=key, idem=idem)
    assert_error(r, 422, "idempotency_key_reuse", None)
    # PATCH under a key: once.
    rid = first.json["id"]
    pidem = str(uuid.uuid4())
    p1 = _patch(f"/v1/risk_rules/{rid}", {"score": 7}, key, idem=pidem)
    assert p1.status == 200 and p1.json["score"] == 7, p1
    _patch(f"/v1/risk_rules/{rid}", {"score": 8}, key)
    p2 = _patch(f"/v1/risk_rules/{rid}", {"score": 7}, key, idem=pidem)
    assert p2.status == 200 and p2.header("Idempotent-Replayed") == "true", p2
    assert p2.json == p1.json  # the first answer, not the rule as it is now
    assert get(f"/v1/risk_rules/{rid}", key=key).json["score"] == 8
    # The same key on another path is another request.
    r = _patch(f"/v1/risk_rules/{unknown_id('rr')}", {"score": 7}, key, idem=pidem)
    assert_error(r, 422, "idempotency_key_reuse", None)


def test_risk_cross_tenant_isolation():
    key_a, tenant_a = _tenant()
    key_b, tenant_b = _tenant()
    rule = _rule(key_a)
    acct_a = new_account("USD", key=key_a)
    entry = post("/v1/risk_lists", {"value": acct_a}, key=key_a)
    assert entry.status == 201, entry
    path = f"/v1/risk_rules/{rule['id']}"
    assert_error(get(path, key=key_b), 404, "not_found", "id")
    assert_error(_patch(path, {"score": 1}, key_b), 404, "not_found", "id")
    assert_error(_delete(path, key_b), 404, "not_found", "id")
    assert get("/v1/risk_rules", key=key_b).json["data"] == []
    assert_error(get(f"/v1/risk_rules?starting_after={rule['id']}", key=key_b), 400,
                 "invalid_request", "starting_after")
    # Lists: another tenant's account is no account; another's entry no entry.
    assert_error(post("/v1/risk_lists", {"value": acct_a}, key=key_b), 404, "not_found",
                 "value")
    assert_error(_delete(f"/v1/risk_lists/{entry.json['id']}", key_b), 404, "not_found", "id")
    assert get("/v1/risk_lists", key=key_b).json["data"] == []
    assert_error(get(f"/v1/risk_lists?starting_after={entry.json['id']}", key=key_b), 400,
                 "invalid_request", "starting_after")
    # Balance alerts.
    assert_error(get(f"/v1/accounts/{acct_a}/balance_alerts", key=key_b), 404, "not_found",
                 "id")
    r = post(f"/v1/accounts/{acct_a}/balance_alerts", {"below": 5}, key=key_b)
    assert_error(r, 404, "not_found", "id")
    # Nothing of A's changed.
    assert get(path, key=key_a).json == rule
    assert sql(f"SELECT alert_below, alert_above, alert_side FROM accounts "
               f"WHERE id = '{acct_a}'") == [["", "", "n"]]
    assert _rows("risk_rules", tenant_b) == 0 and _rows("risk_list_entries", tenant_b) == 0


# --- lists -----------------------------------------------------------------

def test_risk_lists_create_list_delete():
    key, tenant = _tenant()
    a, b = new_account("USD", key=key), new_account("EUR", key=key)
    r = post("/v1/risk_lists", {"value": a, "reason": "chargebacks"}, key=key)
    assert r.status == 201, r
    e1 = r.json
    assert set(e1) == ENTRY_KEYS and e1["id"].startswith("rle_"), e1
    assert (e1["object"], e1["list"], e1["value"], e1["reason"]) == \
        ("risk_list_entry", "blocklist", a, "chargebacks"), e1
    # The same value on the same list: 409, naming the entry it has; kept
    # under the key like any answer but a 400.
    idem = str(uuid.uuid4())
    r = post("/v1/risk_lists", {"value": a}, key=key, idem=idem)
    e = assert_error(r, 409, "risk_list_entry_exists", "value")
    assert e1["id"] in e["message"] and "blocklist" in e["message"], e
    r = post("/v1/risk_lists", {"value": a}, key=key, idem=idem)
    assert r.status == 409 and r.header("Idempotent-Replayed") == "true", r
    # On another list it is another entry.
    e2 = post("/v1/risk_lists", {"value": a, "list": "trusted_2"}, key=key).json
    e3 = post("/v1/risk_lists", {"value": b, "list": "trusted_2", "reason": None}, key=key).json
    assert e2["list"] == "trusted_2" and e3["reason"] is None, (e2, e3)
    # Lists: all, one list, pages.
    assert [x["id"] for x in get("/v1/risk_lists", key=key).json["data"]] == \
        [e3["id"], e2["id"], e1["id"]]
    r = get("/v1/risk_lists?list=trusted_2&limit=1", key=key)
    assert [x["id"] for x in r.json["data"]] == [e3["id"]] and r.json["has_more"], r
    r = get(f"/v1/risk_lists?list=trusted_2&limit=1&starting_after={e3['id']}", key=key)
    assert [x["id"] for x in r.json["data"]] == [e2["id"]] and not r.json["has_more"], r
    assert get("/v1/risk_lists?list=nothing_here", key=key).json["data"] == []
    # Errors name their parameter.
    for body, status, code, param in (
            ({"value": unknown_id("acct")}, 404, "not_found", "value"),
            ({"value": "pay_123"}, 400, "invalid_request", "value"),
            ({}, 400, "invalid_request", "value"),
            ({"value": a, "list": "Block"}, 400, "invalid_request", "list"),
            ({"value": a, "list": "x" * 65}, 400, "invalid_request", "list"),
            ({"value": a, "reason": "r" * 501}, 400, "invalid_request", "reason"),
            ({"value": a, "note": "x"}, 400, "invalid_request", "note")):
        assert_error(post("/v1/risk_lists", body, key=key), status, code, param)
    for query, param in (("list=A", "list"), ("limit=0", "limit"), ("starting_after=rr_1",
                                                                     "starting_after"),
                         ("kind=x", "kind")):
        assert_error(get(f"/v1/risk_lists?{query}", key=key), 400, "invalid_request", param)
    # DELETE: gone; again 404; GET of one is not a route.
    r = _delete(f"/v1/risk_lists/{e2['id']}", key)
    assert r.status == 200 and r.json == {"id": e2["id"], "object": "risk_list_entry",
                                          "deleted": True}, r
    assert_error(_delete(f"/v1/risk_lists/{e2['id']}", key), 404, "not_found", "id")
    assert get(f"/v1/risk_lists/{e1['id']}", key=key).status == 405
    assert _rows("risk_list_entries", tenant) == 2
    # After its delete the value may go on the list again.
    assert post("/v1/risk_lists", {"value": a, "list": "trusted_2"}, key=key).status == 201


def test_risk_list_entries_limit_per_tenant():
    key, tenant = _tenant()
    acct = new_account("USD", key=key)
    # The entries but two, made in SQL (a value need not be an account
    # there: the limit counts rows).
    sql(f"INSERT INTO risk_list_entries (id, tenant_id, list, value) "
        f"SELECT 'rle_fill' || g, '{tenant}', 'filler', 'acct_fill' || g "
        f"FROM generate_series(1, {LIST_ENTRIES_MAX - 2}) g")
    try:
        assert post("/v1/risk_lists", {"value": acct}, key=key).status == 201
        assert post("/v1/risk_lists", {"value": acct, "list": "second"}, key=key).status == 201
        idem = str(uuid.uuid4())
        r = post("/v1/risk_lists", {"value": acct, "list": "third"}, key=key, idem=idem)
        e = assert_error(r, 400, "invalid_request", None)
        assert str(LIST_ENTRIES_MAX) in e["message"], e
        assert _rows("risk_list_entries", tenant) == LIST_ENTRIES_MAX
        sql(f"DELETE FROM risk_list_entries WHERE tenant_id = '{tenant}' AND id = 'rle_fill1'")
        r = post("/v1/risk_lists", {"value": acct, "list": "third"}, key=key, idem=idem)
        assert r.status == 201, r
    finally:
        sql(f"DELETE FROM risk_list_entries WHERE tenant_id = '{tenant}'")


# --- balance alerts --------------------------------------------------------

def test_balance_alerts_set_and_get_with_side():
    key, tenant = _tenant()
    acct = new_account("USD", key=key)
    deposit(acct, 5000, key=key)
    r = get(f"/v1/accounts/{acct}/balance_alerts", key=key)
    assert r.status == 200 and r.json == {
        "object": "balance_alerts", "account": acct, "below": None, "above": None,
        "side": "between", "available": 5000, "currency": "USD"}, r
    events = sql_value(f"SELECT count(*) FROM events WHERE account_id = '{acct}'")
    path = f"/v1/accounts/{acct}/balance_alerts"
    for body, side, stored in (
            ({"below": 10000, "above": None}, "below", "b"),
            ({"below": 100, "above": 1000}, "above", "a"),
            ({"below": 100, "above": 5000}, "between", "n"),   # not above: equal
            ({"below": 5000, "above": 9000}, "between", "n"),  # not below: equal
            ({"below": 5001}, "below", "b"),                   # above left out: none
            ({"above": 4999}, "above", "a"),
            ({"below": None, "above": None}, "between", "n")):
        r = post(path, body, key=key)
        assert r.status == 200, (body, r)
        want = {"object": "balance_alerts", "account": acct, "below": body.get("below"),
                "above": body.get("above"), "side": side, "available": 5000, "currency": "USD"}
        assert r.json == want, (body, r)
        assert get(path, key=key).json == want
        row = sql(f"SELECT coalesce(alert_below::text, '-'), coalesce(alert_above::text, '-'), "
                  f"alert_side FROM accounts WHERE id = '{acct}'")
        below, above = body.get("below"), body.get("above")
        assert row == [["-" if below is None else str(below), "-" if above is None else str(above),
                        stored]], (body, row)
    # No event: setting thresholds records the side only.
    assert sql_value(f"SELECT count(*) FROM events WHERE account_id = '{acct}'") == events
    # Errors.
    for body, param in (({}, None), ({"below": -1}, "below"), ({"above": "5"}, "above"),
                        ({"below": 5, "above": 5}, "below"), ({"below": 9, "above": 5}, "below"),
                        ({"below": 1, "side": "b"}, "side")):
        assert_error(post(path, body, key=key), 400, "invalid_request", param)
    assert_error(post(f"/v1/accounts/{unknown_id('acct')}/balance_alerts", {"below": 1},
                      key=key), 404, "not_found", "id")
    assert_error(get(f"/v1/accounts/{unknown_id('acct')}/balance_alerts", key=key), 404,
                 "not_found", "id")
    assert_error(get(f"{path}?x=1", key=key), 400, "invalid_request", None)
    # Replayed under its key: the first answer.
    idem = str(uuid.uuid4())
    first = post(path, {"below": 1}, key=key, idem=idem)
    post(path, {"below": 2}, key=key)
    again = post(path, {"below": 1}, key=key, idem=idem)
    assert again.header("Idempotent-Replayed") == "true" and again.json == first.json, again
    assert get(path, key=key).json["below"] == 2


def test_balance_alerts_set_under_the_account_row_lock():
    """The side is decided under the account's row lock: a transaction
    holding that lock makes the request wait for it."""
    key, _ = _tenant()
    acct = new_account("USD", key=key)
    holder = subprocess.Popen(
        ["psql", DATABASE_URL, "-XqAt", "-v", "ON_ERROR_STOP=1", "-c",
         f"BEGIN; SELECT 1 FROM accounts WHERE id = '{acct}' FOR UPDATE; "
         "SELECT pg_sleep(1.5); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while sql_value("SELECT count(*) FROM pg_stat_activity "
                        "WHERE query LIKE '%pg_sleep(1.5)%' AND pid <> pg_backend_pid()") == "0":
            assert time.monotonic() < deadline, "the lock holder did not start"
            time.sleep(0.02)
        start = time.monotonic()
        r = post(f"/v1/accounts/{acct}/balance_alerts", {"below": 1}, key=key)
        waited = time.monotonic() - start
        assert r.status == 200 and r.json["side"] == "below", r
        assert waited > 0.8, waited
    finally:
        holder.wait(timeout=30)


# --- the console -----------------------------------------------------------

def test_admin_risk_routes_roles_and_audit():
    key, tenant = _tenant()
    acct = new_account("USD", key=key)
    viewer, support, finance = logged_in("viewer"), logged_in("support"), logged_in("finance")
    rules_path = f"/admin/api/tenants/{tenant}/risk_rules"
    body = {"kind": "velocity_amount", "action": "review", "reason": "mule pattern",
            "params": {"amount": 100000, "currency": "USD", "window_minutes": 1440}}
    # Writes: finance and above; reads: everyone.
    for c in (viewer, support):
        st, _, js = c.call("POST", rules_path, body)
        assert st == 403 and js["error"]["code"] == "forbidden", js
    st, _, js = viewer.call("GET", rules_path)
    assert st == 200 and js["data"] == [] and js["next"] is None, js
    st, _, js = finance.call("POST", rules_path, dict(body, reason=None))
    assert st == 400 and js["error"]["param"] == "reason", js
    st, _, js = finance.call("POST", rules_path, dict(body, params={"amount": 1}))
    assert st == 400 and js["error"]["param"] == "params.currency", js
    idem = str(uuid.uuid4())
    st, hd, rule = finance.call("POST", rules_path, body, headers={"Idempotency-Key": idem})
    assert st == 201 and set(rule) == RULE_KEYS, rule
    assert rule["params"] == {"amount": 100000, "currency": "USD", "window_minutes": 1440}, rule
    st, hd, again = finance.call("POST", rules_path, body, headers={"Idempotency-Key": idem})
    assert st == 201 and hd.get("idempotent-replayed") == "true" and again == rule, again
    # The tenant sees it through /v1, as its own.
    assert get(f"/v1/risk_rules/{rule['id']}", key=key).json == rule
    st, _, js = support.call("GET", rules_path + "?limit=1")
    assert st == 200 and [x["id"] for x in js["data"]] == [rule["id"]], js
    # PATCH and DELETE of the rule by its id.
    rpath = f"/admin/api/risk_rules/{rule['id']}"
    st, _, js = support.call("PATCH", rpath, {"mode": "shadow", "reason": "trial"})
    assert st == 403, js
    st, _, js = finance.call("PATCH", rpath, {"mode": "shadow", "reason": "trial"})
    assert st == 200 and js["mode"] == "shadow", js
    st, _, js = finance.call("PATCH", rpath, {"params": {"count": 3}, "reason": "r"})
    assert st == 400 and js["error"]["param"] == "params.count", js
    st, _, js = finance.call("DELETE", rpath, {"reason": "retired"})
    assert st == 200 and js["deleted"] is True, js
    st, _, js = finance.call("DELETE", rpath, {"reason": "retired"})
    assert st == 404 and js["error"]["param"] == "id", js
    assert_error(get(f"/v1/risk_rules/{rule['id']}", key=key), 404, "not_found", "id")
    # The audit rows: one per write, in the write's transaction, before/after.
    rows = sql(f"SELECT action, reason, role, before::text, after::text FROM audit_log "
               f"WHERE target = '{rule['id']}' ORDER BY seq")
    assert [r[:3] for r in rows] == [["risk_rule.create", "mule pattern", "finance"],
                                     ["risk_rule.update", "trial", "finance"],
                                     ["risk_rule.delete", "retired", "finance"]], rows
    create, update, delete = ([json.loads(r[3]) if r[3] else None,
                               json.loads(r[4]) if r[4] else None] for r in rows)
    assert create[0] is None and create[1]["id"] == rule["id"] and create[1]["tenant"] == tenant
    assert update[0]["mode"] == "active" and update[1]["mode"] == "shadow", update
    assert delete[0]["mode"] == "shadow" and delete[1]["deleted_at"], delete
    # A staff member's DELETE needs its reason.
    st, _, js = finance.call("DELETE", f"/admin/api/risk_rules/{unknown_id('rr')}")
    assert st == 400 and js["error"]["param"] == "reason", js
    # Unknown tenant, malformed ids.
    st, _, js = finance.call("POST", f"/admin/api/tenants/{unknown_id('ten')}/risk_rules", body)
    assert st == 404 and js["error"]["param"] == "id", js
    st, _, js = viewer.call("GET", f"/admin/api/tenants/{unknown_id('ten')}/risk_lists")
    assert st == 404 and js["error"]["param"] == "id", js
    # Lists: the entry's reason is the staff member's.
    lists_path = f"/admin/api/tenants/{tenant}/risk_lists"
    st, _, entry = finance.call("POST", lists_path, {"value": acct, "list": "watch",
                                                     "reason": "KYC pending"})
    assert st == 201 and set(entry) == ENTRY_KEYS, entry
    assert (entry["list"], entry["value"], entry["reason"]) == ("watch", acct, "KYC pending")
    st, _, js = finance.call("POST", lists_path, {"value": acct, "list": "watch", "reason": "x"})
    assert st == 409 and js["error"]["code"] == "risk_list_entry_exists", js
    st, _, js = viewer.call("GET", lists_path + "?list=watch")
    assert st == 200 and [x["id"] for x in js["data"]] == [entry["id"]], js
    st, _, js = viewer.call("GET", lists_path + "?list=Watch")
    assert st == 400 and js["error"]["param"] == "list", js
    assert [x["id"] for x in get("/v1/risk_lists", key=key).json["data"]] == [entry["id"]]
    st, _, js = support.call("DELETE", f"/admin/api/risk_lists/{entry['id']}", {"reason": "r"})
    assert st == 403, js
    st, _, js = finance.call("DELETE", f"/admin/api/risk_lists/{entry['id']}",
                             {"reason": "cleared"})
    assert st == 200 and js["deleted"] is True, js
    rows = sql(f"SELECT action, reason, before IS NULL, after IS NULL FROM audit_log "
               f"WHERE target = '{entry['id']}' ORDER BY seq")
    assert rows == [["risk_list_entry.create", "KYC pending", "t", "f"],
                    ["risk_list_entry.delete", "cleared", "f", "t"]], rows
    # An admin key: role admin, reason optional.
    admin_key = new_api_key("test-risk-admin-" + uuid.uuid4().hex[:8], admin=True)
    r = request("POST", rules_path, {"kind": "listed", "action": "block"}, key=admin_key)
    assert r.status == 201 and r.json["params"]["list"] == "blocklist", r
    r = request("DELETE", f"/admin/api/risk_rules/{r.json['id']}", key=admin_key)
    assert r.status == 200, r
    # A tenant's key is not the console's.
    r = request("GET", rules_path, key=key)
    assert r.status == 403, r
