"""The admin console's read views (db/functions/admin_views.sql, docs/console.md),
called through SQL as the admin API's dispatcher calls them, after making real
data through the API: the payments list with every filter, both sorts and
orders and their pagination; a payment's detail (journal, refunds, timeline,
provider, request id, webhook deliveries with their attempt log, through a
pipeline of this test's own); accounts and their journal's running balances;
dead letters; tenants and keys; the overview's counts; and the parameter
checks, each naming its parameter."""

import json
import time
import uuid

from harness import (deposit, new_account, new_api_key, post, sql, sql_value)
from test_settle_pipeline import Pipeline, _wait_final
from test_webhooks import Receiver, _api, _delivery_status, _endpoint, _funded_pair


def admin(fn, id=None, **params):
    j = json.dumps({"op": "admin_read", "fn": fn, "id": id, "params": params,
                    "actor": {"id": "stf_test", "role": "viewer"}}).replace("'", "''")
    o, p = sql(f"SELECT o, p FROM fs_admin_{fn}('{j}'::jsonb)")[0]
    return o, json.loads(p)


def ok(fn, id=None, **params):
    o, p = admin(fn, id, **params)
    assert o == "ok", (fn, params, o, p)
    return p


def bad(fn, param, id=None, **params):
    o, p = admin(fn, id, **params)
    assert o == "invalid_request" and p["param"] == param, (fn, params, o, p)


def pages(fn, id=None, limit=3, **params):
    """Every item of a list, page by page: checks has_more/next and that no
    page repeats an item."""
    out, after, n = [], None, 0
    while True:
        extra = dict(params, limit=str(limit))
        if after is not None:
            extra["starting_after"] = after
        p = ok(fn, id, **extra)
        assert len(p["data"]) <= limit
        out += p["data"]
        n += 1
        assert n < 100
        if not p["has_more"]:
            assert p["next"] is None
            break
        last = p["data"][-1]
        # (an API key made before keys had ids is named by its prefix)
        assert len(p["data"]) == limit and p["next"] == str(last["id"] or last["prefix"]), p
        after = p["next"]
    ids = [x["id"] or x["prefix"] for x in out]
    assert len(ids) == len(set(ids)), ids
    return out


def index_all():
    """Runs the search indexer (fs_index_run) until the event log is indexed."""
    while json.loads(sql_value("SELECT fs_index_run(10000)"))["more"]:
        pass


def _settle(pid, result="approved"):
    for op, extra in (("settle_claim", {}), ("settle_finish", {"result": result})):
        if result == "declined" and op == "settle_finish":
            extra["decline_code"] = "card_declined"
        item = json.dumps([dict(op=op, payment=pid, **extra)]).replace("'", "''")
        assert sql_value(f"SELECT o_outcome FROM fs_batch('{item}'::jsonb)") == "ok"


def _tenant():
    name = "adm-" + uuid.uuid4().hex[:8]
    key = new_api_key(name)
    return key, sql_value(f"SELECT id FROM tenants WHERE name = '{name}'")


def test_payments_list_filters_sorts_and_pages():
    key, tenant = _tenant()
    a = new_account("USD", key=key)
    deposit(a, 100_000, key=key)
    b = new_account("USD", key=key)
    amounts = [500, 200, 900, 200, 700, 100, 900, 300]
    made = []
    for i, amt in enumerate(amounts):
        r = post("/v1/payments", {"from_account": a, "to_account": b, "amount": amt,
                                  "currency": "USD", "description": f"order number {i}",
                                  "metadata": {"invoice": f"INV-{tenant[-6:]}-{i:03d}"}}, key=key)
        assert r.status == 201, r
        made.append(r.json)
    e1, e2 = new_account("EUR", key=key), new_account("EUR", key=key)
    deposit(e1, 1000, key=key)
    r = post("/v1/payments", {"from_account": e1, "to_account": e2, "amount": 400,
                              "currency": "EUR"}, key=key)
    assert r.status == 201, r
    made.append(r.json)
    _settle(made[0]["id"])
    _settle(made[1]["id"], "declined")
    index_all()
    ids = [p["id"] for p in made]

    # newest first, with tenant, rendered as /v1 renders it
    full = ok("payments_list", tenant=tenant, limit="100")
    assert [p["id"] for p in full["data"]] == ids[::-1]
    assert full["has_more"] is False and full["next"] is None
    first = full["data"][-1]
    assert first["tenant"] == tenant and first["object"] == "payment"
    assert first["status"] == "succeeded" and first["timeline"][-1]["status"] == "succeeded"
    v1 = json.loads(sql_value(f"SELECT fs_payment_json(p)::text FROM payments p "
                              f"WHERE id = '{ids[0]}'"))
    # (and its risk and review, null here, when /v1's renderer has not them
    # yet: the console shows them either way)
    assert first["risk"] is None and first["review"] is None, first
    assert {k: v for k, v in first.items()
            if k != "tenant" and (k in v1 or k not in ("risk", "review"))} == v1

    # pagination: every sort and order, no duplicates, no gaps
    seqs = {p["id"]: i for i, p in enumerate(made)}
    by_amount = {p["id"]: p["amount"] for p in made}
    for sort in ("created", "amount"):
        for order in ("desc", "asc"):
            got = [p["id"] for p in pages("payments_list", limit=3, tenant=tenant, sort=sort,
                                          order=order)]
            key_of = (lambda i: seqs[i]) if sort == "created" else (
                lambda i: (by_amount[i], seqs[i]))
            want = sorted(ids, key=key_of, reverse=order == "desc")
            assert got == want, (sort, order, got, want)

    # filters
    def listed(**f):
        return {p["id"] for p in pages("payments_list", limit=4, tenant=tenant, **f)}
    assert listed(status="succeeded") == {ids[0]}
    assert listed(status="failed") == {ids[1]}
    assert listed(status="pending") == set(ids[2:])
    assert listed(currency="EUR") == {ids[8]}
    assert listed(account=b) == set(ids[:8])
    assert listed(account=e2) == {ids[8]}
    assert listed(amount_gte="300", amount_lte="700") == {ids[0], ids[4], ids[7], ids[8]}
    assert listed(q=f"INV-{tenant[-6:]}-003") == {ids[3]}
    assert listed(q="number") == set(ids[:8])
    assert listed(created_gte=made[4]["created_at"]) == set(ids[4:])
    assert listed(created_lte=made[4]["created_at"]) == set(ids[:5])
    assert listed(created_gte=made[4]["created_at"].replace("Z", "+00:00"),
                  amount_gte="900") == {ids[6]}
    # across tenants, without a tenant filter: ours are among the newest
    top = ok("payments_list", limit="100")["data"]
    assert set(ids) <= {p["id"] for p in top}

    # the checks name the parameter
    bad("payments_list", "bogus", bogus="1")
    bad("payments_list", "limit", limit="0")
    bad("payments_list", "limit", limit="101")
    bad("payments_list", "limit", limit="ten")
    bad("payments_list", "sort", sort="id")
    bad("payments_list", "order", order="up")
    bad("payments_list", "status", status="lost")
    bad("payments_list", "currency", currency="usd")
    bad("payments_list", "amount_gte", amount_gte="-1")
    bad("payments_list", "amount_lte", amount_lte="1.5")
    bad("payments_list", "created_gte", created_gte="2024-02-30T00:00:00Z")
    bad("payments_list", "created_lte", created_lte="yesterday")
    bad("payments_list", "starting_after", starting_after="pay_nothing")
    bad("payments_list", "q", q="x" * 201)
    j = json.dumps({"op": "admin_read", "fn": "payments_list", "params": {"limit": 5}})
    o, p = sql(f"SELECT o, p FROM fs_admin_payments_list('{j}'::jsonb)")[0]
    assert o == "invalid_request" and json.loads(p)["param"] == "limit"


def test_accounts_and_their_journal_with_running_balances():
    key, tenant = _tenant()
    a = new_account("USD", key=key, name="Zebra Holdings")
    b = new_account("USD", key=key)
    deposit(a, 10_000, key=key)
    paid = []
    for amt in (1000, 250, 400, 125):
        r = post("/v1/payments", {"from_account": a, "to_account": b, "amount": amt,
                                  "currency": "USD"}, key=key)
        assert r.status == 201, r
        paid.append(r.json["id"])
    _settle(paid[0])
    _settle(paid[1], "declined")
    r = post(f"/v1/payments/{paid[2]}/cancel", key=key)
    assert r.status == 200, r
    deposit(a, 55, key=key)

    acct = ok("account_get", a)
    assert acct["tenant"] == tenant and acct["name"] == "Zebra Holdings"
    available, pending = sql(f"SELECT available, pending FROM accounts WHERE id = '{a}'")[0]
    assert acct["balance"] == {"available": int(available), "pending": int(pending),
                               "currency": "USD"}
    o, p = admin("account_get", "acct_nothing")
    assert o == "not_found" and p["param"] == "id"

    entries = pages("account_journal", a, limit=2)
    db = sql(f"SELECT id, bucket, amount, ref_id FROM journal_entries WHERE account_id = '{a}' "
             "ORDER BY id DESC")
    assert [[str(e["id"]), e["bucket"], str(e["amount"]), e["ref"]] for e in entries] == db
    # running_balance: the available balance after each entry, newest first;
    # running_pending likewise for the held bucket
    assert entries[0]["running_balance"] == int(available)
    assert entries[0]["running_pending"] == int(pending)
    for newer, older in zip(entries, entries[1:]):
        da = newer["amount"] if newer["bucket"] == "A" else 0
        dp = newer["amount"] if newer["bucket"] == "P" else 0
        assert older["running_balance"] == newer["running_balance"] - da, (newer, older)
        assert older["running_pending"] == newer["running_pending"] - dp, (newer, older)
    assert entries[-1]["running_balance"] == 10_000 and entries[-1]["ref"].startswith("dep_")
    # a page that starts deep gives the same numbers
    deep = ok("account_journal", a, limit="2", starting_after=str(entries[3]["id"]))["data"]
    assert deep == entries[4:6]
    bad("account_journal", "starting_after", a, starting_after="12x")
    bad("account_journal", "starting_after", a, starting_after=str(entries[0]["id"] + 10**9))
    bad("account_journal", "limit", a, limit="1000")
    bad("account_journal", "since", a, since="1")
    assert admin("account_journal", "acct_nothing")[0] == "not_found"

    # the accounts list: q by id prefix or name, tenant, currency, status
    mine = pages("accounts_list", limit=4, tenant=tenant)
    # (with the tenant's external account of each currency, made with its key)
    assert [x["id"] for x in mine if x["type"] != "external"] == [b, a]
    assert len(mine) == int(sql_value(f"SELECT count(*) FROM accounts "
                                      f"WHERE tenant_id = '{tenant}'"))
    assert [x["id"] for x in pages("accounts_list", q="zebra h")] == [a]
    assert [x["id"] for x in pages("accounts_list", q=a[:-2], tenant=tenant)] == [a]
    assert [x["type"] for x in pages("accounts_list", tenant=tenant, currency="EUR")] == [
        "external"]
    assert len(pages("accounts_list", tenant=tenant, status="active")) == len(mine)
    bad("accounts_list", "status", status="open")
    bad("accounts_list", "currency", currency="XXX")
    bad("accounts_list", "starting_after", starting_after="acct_nothing")
    bad("accounts_list", "name", name="x")


def test_tenants_and_their_keys():
    key, tenant = _tenant()
    new_api_key(sql_value(f"SELECT name FROM tenants WHERE id = '{tenant}'"), admin=True)
    sql(f"UPDATE tenants SET rate_per_s = 7, rate_burst = 9 WHERE id = '{tenant}'")
    all_tenants = pages("tenants_list", limit=5)
    n = int(sql_value("SELECT count(*) FROM tenants"))
    assert len(all_tenants) == n
    t = next(x for x in all_tenants if x["id"] == tenant)
    assert t["rate_limit"] == {"per_s": 7, "burst": 9, "default": False}
    assert t["keys"] == {"active": 2, "revoked": 0, "expired": 0, "admin": 1}
    keys = pages("tenant_keys", tenant, limit=1)
    assert len(keys) == 2 and {k["admin"] for k in keys} == {True, False}
    assert all(k["prefix"] and "secret" not in k and "key_hash" not in k for k in keys)
    assert key.startswith(tuple(k["prefix"] for k in keys))
    assert admin("tenant_keys", "ten_nothing")[0] == "not_found"
    bad("tenant_keys", "starting_after", tenant, starting_after="key_nothing")
    bad("tenants_list", "starting_after", starting_after="ten_nothing")
    bad("tenants_list", "q", q="x")


def test_dead_letters_list():
    key, tenant = _tenant()
    a = new_account("USD", key=key)
    deposit(a, 10_000, key=key)
    b = new_account("USD", key=key)
    ps = [post("/v1/payments", {"from_account": a, "to_account": b, "amount": 100 + i,
                                "currency": "USD"}, key=key).json["id"] for i in range(4)]
    _settle(ps[3])
    r = post(f"/v1/payments/{ps[3]}/refunds", {"amount": 50}, key=key)
    assert r.status in (200, 201), r
    refund = r.json["id"]
    # as the worker leaves them when it dead-letters their messages
    sql(f"UPDATE payments SET dead_lettered_at = now() - interval '1 minute' * seq "
        f"WHERE id IN ('{ps[0]}', '{ps[1]}', '{ps[2]}')")
    sql(f"UPDATE refunds SET dead_lettered_at = now() WHERE id = '{refund}'")
    got = pages("dead_letters_list", limit=2)
    mine = [d for d in got if d["tenant"] == tenant]
    assert [d["id"] for d in mine] == [refund, ps[0], ps[1], ps[2]], mine
    assert mine[0]["kind"] == "refund" and mine[0]["refund"]["payment"] == ps[3]
    assert mine[1]["kind"] == "payment" and mine[1]["payment"]["id"] == ps[0]
    ats = [d["dead_lettered_at"] for d in got]
    assert ats == sorted(ats, reverse=True)
    only = [d["id"] for d in pages("dead_letters_list", kind="payment") if d["tenant"] == tenant]
    assert only == ps[:3]
    assert [d["id"] for d in pages("dead_letters_list", kind="refund")
            if d["tenant"] == tenant] == [refund]
    counts = ok("overview")["dead_letters"]
    assert counts["payments"] >= 3 and counts["refunds"] >= 1
    bad("dead_letters_list", "kind", kind="email")
    bad("dead_letters_list", "starting_after", starting_after=ps[3])
    # replayed (the mark cleared): no longer listed
    sql(f"UPDATE payments SET dead_lettered_at = NULL WHERE id IN ('{ps[0]}', '{ps[1]}', "
        f"'{ps[2]}')")
    sql(f"UPDATE refunds SET dead_lettered_at = NULL WHERE id = '{refund}'")
    assert not [d for d in pages("dead_letters_list", limit=50) if d["tenant"] == tenant]


def test_payment_detail_webhook_attempt_log_and_overview():
    pl = Pipeline(FINSYS_WEBHOOK_BACKOFF_BASE_MS=100, FINSYS_WEBHOOK_RETRY_PERIOD_S=2)
    flaky = Receiver(statuses=[500, 503], then=200)
    down = Receiver(then=500)
    try:
        key = new_api_key("adm-" + uuid.uuid4().hex[:8])
        a, b = _funded_pair(pl, key, 10_000)
        e1 = _endpoint(pl, key, flaky.url, ["payment.succeeded"])
        e2 = _endpoint(pl, key, down.url, ["payment.created"])
        flaky.secret, down.secret = e1["secret"], e2["secret"]
        window_start = sql_value("SELECT fs_ts(date_trunc('second', now()))")
        status, p = _api(pl, key, "POST", "/v1/payments",
                         {"from_account": a, "to_account": b, "amount": 1234,
                          "currency": "USD"})
        assert status == 201, p
        pid = p["id"]
        assert _wait_final([pid]) == {pid: "succeeded"}
        _delivery_status(e1["id"])
        _delivery_status(e2["id"], want=("dead",))
        status, rf = _api(pl, key, "POST", f"/v1/payments/{pid}/refunds", {"amount": 234})
        assert status == 201, rf
        deadline = time.monotonic() + 30
        while sql_value(f"SELECT status FROM refunds WHERE id = '{rf['id']}'") != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.1)

        d = ok("payment_detail", pid)
        assert d["object"] == "payment_detail"
        assert d["payment"]["id"] == pid
        assert d["payment"]["tenant"] == sql_value(f"SELECT tenant_id FROM payments "
                                                   f"WHERE id = '{pid}'")
        assert [s["status"] for s in d["timeline"]][:3] == ["pending", "processing", "succeeded"]
        assert [r["id"] for r in d["refunds"]] == [rf["id"]]
        assert d["refunds"][0]["status"] == "succeeded"
        db = sql(f"SELECT id, account_id, bucket, amount FROM journal_entries "
                 f"WHERE ref_id IN ('{pid}', '{rf['id']}') ORDER BY id")
        assert [[str(j["id"]), j["account"], j["bucket"], str(j["amount"])]
                for j in d["journal"]] == db
        assert sum(j["amount"] for j in d["journal"]) == 0
        assert d["provider"]["attempts"] >= 1 and d["provider"]["outcome"] == "succeeded"
        assert d["provider"]["settled_at"] is not None
        assert d["request_id"] == sql_value(
            f"SELECT request_id FROM events WHERE payment_id = '{pid}' "
            "AND type = 'payment.created'")
        assert d["request_id"].startswith("req_") or len(d["request_id"]) > 0
        deliveries = {w["endpoint"]: w for w in d["webhook_deliveries"]}
        ok_d, dead_d = deliveries[e1["id"]], deliveries[e2["id"]]
        assert ok_d["url"] == flaky.url and ok_d["event_type"] == "payment.succeeded"
        assert ok_d["status"] == "delivered" and ok_d["attempts"] == 3
        assert [x["status"] for x in ok_d["attempt_log"]] == [500, 503, 200]
        assert [x["attempt"] for x in ok_d["attempt_log"]] == [1, 2, 3]
        assert ok_d["attempt_log"][0]["error"] == "the endpoint answered 500"
        assert ok_d["attempt_log"][2]["error"] is None
        assert dead_d["status"] == "dead" and dead_d["event_type"] == "payment.created"
        assert len(dead_d["attempt_log"]) == dead_d["attempts"] == len(down.got)
        # the receipt, once the worker has stored it
        deadline = time.monotonic() + 30
        while ok("payment_detail", pid)["receipt"] is None or \
                ok("payment_detail", pid)["receipt"]["sha256"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        receipt = ok("payment_detail", pid)["receipt"]
        assert receipt["url"] == f"/admin/api/payments/{pid}/receipt"
        assert receipt["number"].startswith("RCPT-")
        assert admin("payment_detail", "pay_nothing")[0] == "not_found"

        # the dead webhook delivery among the dead letters
        dl = [x for x in pages("dead_letters_list", kind="webhook") if x["id"] == dead_d["id"]]
        assert len(dl) == 1 and dl[0]["delivery"]["attempt_log"] == dead_d["attempt_log"]
        assert dl[0]["attempts"] == dead_d["attempts"]

        # the overview agrees with the event log over its window
        ov = ok("overview")
        assert ov["window_s"] == 300 and len(ov["series"]) in (300, 301)
        t0 = ov["series"][0]["t"]
        assert t0 <= window_start
        for kind in ("created", "succeeded", "failed"):
            n = int(sql_value(f"SELECT count(*) FROM events WHERE type = 'payment.{kind}' "
                              f"AND created_at >= '{t0}'"))
            assert sum(s[kind] for s in ov["series"]) == n, (kind, n)
        ours = [s for s in ov["series"] if s["t"] >= window_start]
        assert sum(s["created"] for s in ours) >= 1 and sum(s["succeeded"] for s in ours) >= 1
        usd = next(v for v in ov["volume_by_currency"] if v["currency"] == "USD")
        assert usd["created_amount"] >= 1234 and usd["count"] >= 1
        assert 0 <= ov["success_rate"] <= 1 and ov["success_rate"] + ov["decline_rate"] == 1
        assert ov["settlement_lag_ms"]["p50"] > 0
        assert ov["settlement_lag_ms"]["p99"] >= ov["settlement_lag_ms"]["p50"]
        assert ov["dead_letters"]["webhooks"] >= 1
        assert ov["breaker"]["state"] == "unknown"
        bad("overview", "window", window="60")
    finally:
        flaky.stop()
        down.stop()
        pl.stop()
