"""Account statements and daily rollups (issue 12, db/functions/reports.sql,
docs/architecture.md "Statements and daily rollups"): the statement chain
test, the rollup-equals-query test, and the checks of both routes."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from harness import (KEY_A, KEY_B, assert_error, balance, deposit, forget_cached_accounts,
                     funded_account, get, new_account, new_api_key, pay, post, sql, sql_value,
                     unknown_id)
from test_settle_pipeline import Pipeline, _http, _wait_final


def _batch(item):
    text = json.dumps([item]).replace("'", "''")
    out = sql(f"SELECT o_outcome, o_payload FROM fs_batch('{text}'::jsonb)")
    assert out[0][0] == "ok", out
    return json.loads(out[0][1])


def _settle(pid, result="approved"):
    _batch({"op": "settle_claim", "payment": pid})
    item = {"op": "settle_finish", "payment": pid, "result": result}
    if result == "declined":
        item["decline_code"] = "card_declined"
    _batch(item)


def _refund(pid, amount, key=KEY_A, result="approved"):
    r = post(f"/v1/payments/{pid}/refunds", {"amount": amount}, key=key)
    assert r.status == 201, r
    _batch({"op": "refund_claim", "refund": r.json["id"]})
    _batch({"op": "refund_finish", "refund": r.json["id"], "result": result})
    return r.json["id"]


def _now():
    """The database's clock, as the API writes times; a little later than
    every entry committed so far, earlier than every entry to come."""
    t = sql_value("SELECT fs_ts(clock_timestamp())")
    time.sleep(0.01)
    return t


def _statement(acct, key=KEY_A, **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return get(f"/v1/accounts/{acct}/statement" + ("?" + q if q else ""), key=key)


def _all_entries(acct, frm, to, limit):
    """Every entry of the period through pages of `limit`."""
    entries, after, first = [], None, None
    while True:
        params = {"from": frm, "to": to, "limit": limit}
        if after is not None:
            params["starting_after"] = after
        r = _statement(acct, **params)
        assert r.status == 200, r
        first = first or r.json
        assert r.json["opening_balance"] == first["opening_balance"]
        assert r.json["closing_balance"] == first["closing_balance"]
        page = r.json["entries"]["data"]
        entries += page
        if not r.json["entries"]["has_more"]:
            return first, entries
        assert len(page) == limit
        after = page[-1]["id"]


def _check_period(s, entries):
    """opening + each entry = its running balance; the last = closing."""
    avail, pend = s["opening_balance"]["available"], s["opening_balance"]["pending"]
    for e in entries:
        if e["balance"] == "available":
            avail += e["amount"]
        else:
            pend += e["amount"]
        assert (e["available_after"], e["pending_after"]) == (avail, pend), e
        assert s["from"] <= e["at"] < s["to"], (s, e)
    assert s["closing_balance"] == {"available": avail, "pending": pend}, s


def test_statement_chain_closing_equals_next_opening_and_the_balance():
    a = new_account("USD")
    b = new_account("USD")
    c = funded_account(50_000)
    t = [_now()]
    deposit(a, 10_000)
    p1 = pay(a, b, 1_500).json["id"]
    p2 = pay(a, b, 700).json["id"]
    t.append(_now())
    _settle(p1)
    _settle(p2, "declined")
    p3 = pay(c, a, 4_000).json["id"]
    _settle(p3)
    t.append(_now())
    _refund(p1, 500)                # b gives 500 back to a
    p4 = pay(a, b, 2_000).json["id"]
    assert post(f"/v1/payments/{p4}/cancel").status == 200
    p5 = pay(a, b, 300).json["id"]  # still pending at the end
    t.append(_now())
    deposit(a, 1)
    t.append(_now())
    later = sql_value("SELECT fs_ts(now() + interval '1 day')")
    periods = list(zip(t, t[1:])) + [(t[-1], later)]
    statements = []
    for frm, to in periods:
        s, entries = _all_entries(a, frm, to, 100)
        _check_period(s, entries)
        s2, paged = _all_entries(a, frm, to, 1)  # one entry a page: the same
        assert paged == entries and s2["closing_balance"] == s["closing_balance"]
        statements.append((s, entries))
    assert statements[0][0]["opening_balance"] == {"available": 0, "pending": 0}
    for (s, _), (nxt, _) in zip(statements, statements[1:]):
        assert s["closing_balance"] == nxt["opening_balance"], (s, nxt)
    forget_cached_accounts()  # settled through fs_batch in SQL, behind the server's cache
    avail, pend = balance(a)
    assert statements[-1][0]["closing_balance"] == {"available": avail, "pending": pend}
    assert (avail, pend) == (10_000 - 1_500 - 700 + 700 + 4_000 + 500 - 300 + 1, 300)
    refs = [e["ref"] for e in statements[2][1]]
    assert p4 in refs and p5 in refs and p1 not in refs
    # One statement across all the periods says the same as the chain.
    whole, entries = _all_entries(a, t[0], later, 1000)
    assert whole["opening_balance"] == statements[0][0]["opening_balance"]
    assert whole["closing_balance"] == statements[-1][0]["closing_balance"]
    assert entries == [e for _, es in statements for e in es]
    # Defaults: the last FS_STATEMENT_DAYS_DEFAULT days up to now.
    r = _statement(a)
    assert r.status == 200 and r.json["closing_balance"] == {"available": avail,
                                                             "pending": pend}, r
    assert len(r.json["entries"]["data"]) == len(entries)


def test_statement_checks():
    a = new_account("USD")
    ok = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
    assert _statement(a, **ok).status == 200
    assert_error(_statement(unknown_id("acct"), **ok), 404, "not_found", "id")
    assert_error(_statement("nope", **ok), 404, "not_found", "id")
    b_acct = new_account("USD", key=KEY_B)
    assert_error(_statement(b_acct, **ok), 404, "not_found", "id")
    assert_error(_statement(a, **{"from": "2026-01-01"}), 400, "invalid_request", "from")
    assert_error(_statement(a, **{"to": "yesterday"}), 400, "invalid_request", "to")
    assert_error(_statement(a, **{"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
                 400, "invalid_request", "from")
    assert_error(_statement(a, **{"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
                 400, "invalid_request", "from")
    assert_error(_statement(a, limit=0, **ok), 400, "invalid_request", "limit")
    assert_error(_statement(a, limit=1001, **ok), 400, "invalid_request", "limit")
    assert_error(_statement(a, starting_after="x", **ok), 400, "invalid_request",
                 "starting_after")
    assert_error(_statement(a, starting_after="12345", **ok), 400, "invalid_request",
                 "starting_after")
    assert_error(_statement(a, color="red", **ok), 400, "invalid_request", "color")
    r = get(f"/v1/accounts/{a}/statement?from=2026-01-01T00:00:00Z&from=2026-01-02T00:00:00Z")
    assert_error(r, 400, "invalid_request", "from")
    assert post(f"/v1/accounts/{a}/statement").status == 405
    assert get(f"/v1/accounts/{a}/statement", key=None).status == 401


def _report(key=KEY_A, **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return get("/v1/reports/daily" + ("?" + q if q else ""), key=key)


def test_daily_report_checks():
    r = _report()
    assert r.status == 200 and r.json["object"] == "daily_report", r
    assert_error(_report(**{"from": "2026-13-01"}), 400, "invalid_request", "from")
    assert_error(_report(to="2026-01-01T00:00:00Z"), 400, "invalid_request", "to")
    assert_error(_report(**{"from": "2026-02-01", "to": "2026-01-01"}), 400,
                 "invalid_request", "from")
    assert_error(_report(**{"from": "2024-01-01", "to": "2026-01-01"}), 400,
                 "invalid_request", "from")
    assert_error(_report(currency="usd"), 400, "invalid_request", "currency")
    assert_error(_report(days=3), 400, "invalid_request", "days")
    assert get("/v1/reports/daily", key=None).status == 401


def _rollups_caught_up(seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        left = int(sql_value(
            "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM feed_cursors c "
            "WHERE c.name = 'rollups' AND (e.txid, e.seq) <= (c.txid, c.seq))"))
        if left == 0:
            return
        assert time.monotonic() < deadline, f"{left} events not rolled up"
        time.sleep(0.05)


def _direct(tenant):
    """The figures straight from payments, refunds and events, as docs
    define them: payments and succeeded refunds by creation day; canceled
    by the tenant (a review's rejection is its own figure); the risk
    rules' figures (docs/risk.md) from their events by type, a flagged or
    rejected payment on its creation day (the payments row's) and a blocked
    attempt, which has no payment, on its event's day."""
    rows = sql(f"""
        WITH p AS (
            SELECT to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, currency,
                   count(*) AS n, sum(amount) AS v,
                   count(*) FILTER (WHERE status IN ('succeeded', 'refunded')) AS sn,
                   coalesce(sum(amount) FILTER (WHERE status IN ('succeeded', 'refunded')), 0)
                       AS sv,
                   count(*) FILTER (WHERE status = 'failed') AS dn,
                   coalesce(sum(amount) FILTER (WHERE status = 'failed'), 0) AS dv,
                   count(*) FILTER (WHERE status = 'canceled'
                                    AND failure_code IS DISTINCT FROM 'review_rejected') AS cn,
                   coalesce(sum(amount) FILTER (WHERE status = 'canceled' AND failure_code
                                                IS DISTINCT FROM 'review_rejected'), 0) AS cv
            FROM payments WHERE tenant_id = '{tenant}' GROUP BY 1, 2),
        r AS (
            SELECT to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, currency,
                   count(*) AS n, sum(amount) AS v
            FROM refunds WHERE tenant_id = '{tenant}' AND status = 'succeeded' GROUP BY 1, 2),
        x AS (
            SELECT to_char((CASE WHEN e.type = 'payment.blocked' THEN e.created_at
                                 ELSE y.created_at END AT TIME ZONE 'UTC')::date,
                           'YYYY-MM-DD') AS day,
                   coalesce(y.currency, e.data->>'currency') AS currency,
                   count(*) FILTER (WHERE e.type = 'payment.flagged') AS fn,
                   coalesce(sum(y.amount) FILTER (WHERE e.type = 'payment.flagged'), 0) AS fv,
                   count(*) FILTER (WHERE e.type = 'payment.blocked') AS bn,
                   coalesce(sum((e.data->>'amount')::bigint)
                            FILTER (WHERE e.type = 'payment.blocked'), 0) AS bv,
                   count(*) FILTER (WHERE e.type = 'payment.review_rejected') AS jn,
                   coalesce(sum(y.amount) FILTER (WHERE e.type = 'payment.review_rejected'), 0)
                       AS jv
            FROM events e
            LEFT JOIN payments y ON y.id = e.payment_id AND e.type <> 'payment.blocked'
            WHERE e.tenant_id = '{tenant}'
              AND e.type IN ('payment.flagged', 'payment.blocked', 'payment.review_rejected')
            GROUP BY 1, 2),
        k AS (SELECT day, currency FROM p UNION SELECT day, currency FROM r
              UNION SELECT day, currency FROM x)
        SELECT k.day, k.currency,
               coalesce(p.n, 0), coalesce(p.v, 0), coalesce(p.sn, 0), coalesce(p.sv, 0),
               coalesce(p.dn, 0), coalesce(p.dv, 0), coalesce(p.cn, 0), coalesce(p.cv, 0),
               coalesce(r.n, 0), coalesce(r.v, 0), coalesce(x.fn, 0), coalesce(x.fv, 0),
               coalesce(x.bn, 0), coalesce(x.bv, 0), coalesce(x.jn, 0), coalesce(x.jv, 0)
        FROM k LEFT JOIN p USING (day, currency) LEFT JOIN r USING (day, currency)
        LEFT JOIN x USING (day, currency) ORDER BY 1, 2""")
    return [[x[0], x[1]] + [int(v) for v in x[2:]] for x in rows]


def _as_rows(report):
    return [[d["date"], d["currency"], d["payments"]["count"], d["payments"]["volume"],
             d["succeeded"]["count"], d["succeeded"]["volume"], d["declined"]["count"],
             d["declined"]["volume"], d["canceled"]["count"], d["canceled"]["volume"],
             d["refunds"]["count"], d["refunds"]["volume"], d["flagged"]["count"],
             d["flagged"]["volume"], d["blocked"]["count"], d["blocked"]["volume"],
             d["review_rejected"]["count"], d["review_rejected"]["volume"]]
            for d in report["data"]]


RISK = ('{"score": 90, "decision": "%s", "rules_matched": '
        '[{"id": "rr_test", "action": "%s", "mode": "active"}]}')


def _risk_event(tenant, account, type_, payment_id, data, at="now()"):
    """An event of the risk rules' write path (docs/risk.md), written as
    fs_batch() writes events: numbered by the account (its event_seq, under
    its row lock). data: SQL of the event's jsonb."""
    sql(f"""
        WITH a AS (UPDATE accounts SET event_seq = event_seq + 1 WHERE id = '{account}'
                   RETURNING event_seq)
        INSERT INTO events (tenant_id, account_id, account_seq, type, payment_id, data,
                            created_at)
        SELECT '{tenant}', '{account}', a.event_seq, '{type_}', '{payment_id}', {data}, {at}
        FROM a""")


def _simulate_risk_events(tenant, ids, payers, payees):
    """The events the risk rules' write path makes, until it is merged:
    payments sent to review (payment.flagged), some of them rejected
    (payment.review_rejected), and blocked attempts (payment.blocked), one
    of them three days ago. Returns the blocked attempts' ids."""
    for pid in ids[:6]:
        _risk_event(tenant, sql_value(f"SELECT from_account FROM payments WHERE id = '{pid}'"),
                    "payment.flagged", pid,
                    f"(SELECT fs_payment_json(y)::jsonb || jsonb_build_object("
                    f"'status', 'requires_review', 'risk', '{RISK % ('review', 'review')}'::jsonb)"
                    f" FROM payments y WHERE y.id = '{pid}')")
    for pid in ids[:3]:
        _risk_event(tenant, sql_value(f"SELECT from_account FROM payments WHERE id = '{pid}'"),
                    "payment.review_rejected", pid,
                    f"(SELECT fs_payment_json(y)::jsonb || jsonb_build_object("
                    f"'status', 'canceled', 'failure_code', 'review_rejected', 'risk', "
                    f"'{RISK % ('review', 'review')}'::jsonb) FROM payments y WHERE y.id = '{pid}')")
    blocked = []
    for cur, amount, at in (("USD", 700, "now()"), ("USD", 900, "now()"), ("EUR", 1100, "now()"),
                            ("USD", 1300, "now() - interval '3 days'")):
        pid = unknown_id("pay")
        data = {"id": pid, "object": "payment", "from_account": payers[cur][1],
                "to_account": payees[cur], "amount": amount, "currency": cur,
                "description": None, "metadata": {}, "status": "blocked",
                "risk": json.loads(RISK % ("block", "block"))}
        _risk_event(tenant, payers[cur][1], "payment.blocked", pid,
                    "'" + json.dumps(data).replace("'", "''") + "'::jsonb", at)
        blocked.append(pid)
    return blocked


def test_rollup_equals_query_after_a_load_with_declines_and_refunds():
    key = new_api_key("rollup-" + uuid.uuid4().hex[:10])
    pl = Pipeline(provider={"decline-rate": 0.2})
    try:
        payers = {cur: [funded_account(10_000_000, cur, key=key) for _ in range(4)]
                  for cur in ("USD", "EUR")}
        payees = {cur: new_account(cur, key=key) for cur in ("USD", "EUR")}
        tenant = sql_value(f"SELECT tenant_id FROM accounts WHERE id = '{payees['USD']}'")

        def at(method, path, body=None):
            status, out = _http(pl.http_port, method, path, body,
                                {"Authorization": "Bearer " + key,
                                 "Idempotency-Key": str(uuid.uuid4())})
            assert status in (200, 201), (status, out)
            return out["id"]

        def one(i):
            # The pipeline's server publishes to its worker: the load goes there.
            cur = "USD" if i % 3 else "EUR"
            return at("POST", "/v1/payments", {"from_account": payers[cur][i % 4],
                                               "to_account": payees[cur], "amount": 100 + i,
                                               "currency": cur})

        with ThreadPoolExecutor(6) as ex:
            ids = list(ex.map(one, range(300)))
        st = _wait_final(ids, 120)
        ok = [p for p in ids if st[p] == "succeeded"]
        assert 0 < len(ok) < len(ids), "some succeed and some are declined"
        canceled = pay(payers["USD"][0], payees["USD"], 5, key=key).json["id"]
        assert post(f"/v1/payments/{canceled}/cancel", key=key).status == 200
        for p in ok[:40]:
            at("POST", f"/v1/payments/{p}/refunds", {"amount": 7})
        deadline = time.monotonic() + 120
        while int(sql_value("SELECT count(*) FROM refunds WHERE tenant_id = "
                            f"'{tenant}' AND status IN ('pending', 'processing')")):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        blocked = _simulate_risk_events(tenant, ids, payers, payees)
        _rollups_caught_up()
        rep = _report(key=key)
        assert rep.status == 200, rep
        direct = _direct(tenant)
        assert _as_rows(rep.json) == direct, (rep.json, direct)
        assert sum(r[6] for r in direct) > 0 and sum(r[10] for r in direct) > 0
        assert sum(r[8] for r in direct) == 1
        # The risk rules' figures: each event counted once, on its day.
        amounts = {p: int(sql_value(f"SELECT amount FROM payments WHERE id = '{p}'"))
                   for p in ids[:6]}
        assert (sum(r[12] for r in direct), sum(r[13] for r in direct)) == \
            (6, sum(amounts.values()))
        assert (sum(r[16] for r in direct), sum(r[17] for r in direct)) == \
            (3, sum(amounts[p] for p in ids[:3]))
        assert (sum(r[14] for r in direct), sum(r[15] for r in direct)) == (4, 4000)
        assert len(blocked) == 4
        # The attempt of three days ago is a day of its own: no payment.
        old = [r for r in direct if r[14] == 1 and r[15] == 1300]
        assert len(old) == 1 and old[0][2] == 0, direct
        eur = _report(key=key, currency="EUR")
        assert _as_rows(eur.json) == [r for r in direct if r[1] == "EUR"]
    finally:
        assert pl.stop()
