"""Risk rules decided inside the funds-check commit (docs/risk.md): every
kind of rule, the three actions and shadow mode, exact window counts under a
race, review (approve, reject, idempotent), blocks and their events, and
balance alerts edge-triggered in the commit that crosses them. Each test has
a tenant of its own: rules apply to every payment of their tenant."""

import json
import threading
import uuid

from harness import (assert_error, balance, check_ledger, deposit, get, new_account,
                     new_api_key, post, sql, sql_value, tenant_of)


def _tenant():
    name = "risk-" + uuid.uuid4().hex[:10]
    key = new_api_key(name)
    return key, sql_value(f"SELECT id FROM tenants WHERE name = '{name}'")


def _rule(tenant, kind, params, action, mode="active", score=None):
    """A rule, written straight into risk_rules (the API's checks are
    test_risk_api's): the write path is what this module tests."""
    rid = "rr_" + uuid.uuid4().hex[:24]
    score = score if score is not None else {"block": 90, "review": 50, "allow": 0}[action]
    params = json.dumps(params).replace("'", "''")
    sql(f"INSERT INTO risk_rules (id, tenant_id, kind, params, action, mode, score) "
        f"VALUES ('{rid}', '{tenant}', '{kind}', '{params}'::jsonb, '{action}', '{mode}', "
        f"{score})")
    return rid


def _funded(key, amount, currency="USD"):
    a = new_account(currency, key=key)
    deposit(a, amount, key=key)
    return a


def _pay(key, src, dst, amount, currency="USD", idem="auto", **extra):
    return post("/v1/payments", dict(from_account=src, to_account=dst, amount=amount,
                                     currency=currency, **extra), key=key, idem=idem)


def _events(account, key):
    r = get(f"/v1/events?account={account}&limit=100", key=key)
    assert r.status == 200, r
    return [e["type"] for e in reversed(r.json["data"])]


def test_no_rules_no_risk():
    key, _ = _tenant()
    a, b = _funded(key, 1000), new_account("USD", key=key)
    r = _pay(key, a, b, 100)
    assert r.status == 201, r
    assert r.json["risk"] is None and r.json["status"] == "pending"


def test_race_of_32_payments_against_a_10_payment_window_lets_exactly_10_through():
    key, tenant = _tenant()
    # made through the API: what it stores is what the write path reads
    made = post("/v1/risk_rules", {"kind": "velocity_count", "action": "block",
                                   "params": {"count": 10, "window_minutes": 60}}, key=key)
    assert made.status == 201, made
    rule = made.json["id"]
    a, b = _funded(key, 100000), new_account("USD", key=key)
    answers = [None] * 32
    barrier = threading.Barrier(32)

    def work(i):
        barrier.wait(timeout=60)
        answers[i] = _pay(key, a, b, 10)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [r for r in answers if r.status == 201]
    blocked = [r for r in answers if r.status == 402]
    assert len(created) == 10 and len(blocked) == 22, [r.status for r in answers]
    for r in blocked:
        e = r.json["error"]
        assert e["code"] == "payment_blocked" and e["type"] == "payment_error", r
        assert e["rule"] == rule, r
    for r in created:
        assert r.json["risk"] == {"score": 0, "decision": "allow", "rules_matched": []}, r
    assert balance(a, key=key) == (100000 - 100, 100)
    # the counters say what the payments table says, and nothing else moved
    assert sql_value(f"SELECT count(*) FROM payments WHERE from_account = '{a}'") == "10"
    assert sql_value(f"SELECT win_m_cn[cardinality(win_m_cn)] - win_m_bn FROM accounts "
                     f"WHERE id = '{a}'") == "10"
    assert _events(a, key).count("payment.blocked") == 22
    assert check_ledger() == []


def test_block_holds_nothing_records_the_attempt_and_replays():
    key, tenant = _tenant()
    rule = _rule(tenant, "amount_above", {"amount": 500, "currency": "USD"}, "block")
    a, b = _funded(key, 1000), new_account("USD", key=key)
    idem = "blk-" + uuid.uuid4().hex
    r = _pay(key, a, b, 600, idem=idem, metadata={"order": "o-1"})
    assert r.status == 402 and r.json["error"]["code"] == "payment_blocked", r
    assert balance(a, key=key) == (1000, 0)
    again = _pay(key, a, b, 600, idem=idem, metadata={"order": "o-1"})
    assert again.status == 402 and again.json == r.json, again
    ev = get(f"/v1/events?account={a}&type=payment.blocked", key=key).json["data"]
    assert len(ev) == 1
    data = ev[0]["data"]["object"]
    assert data["status"] == "blocked" and data["amount"] == 600
    assert data["metadata"] == {"order": "o-1"}
    assert data["risk"]["decision"] == "block"
    assert data["risk"]["rules_matched"] == [{"id": rule, "action": "block", "mode": "active"}]
    assert sql_value(f"SELECT count(*) FROM payments WHERE from_account = '{a}'") == "0"
    # under the limit: allowed, and the rule is not among the matches
    ok = _pay(key, a, b, 500)
    assert ok.status == 201 and ok.json["risk"]["decision"] == "allow", ok


def test_review_holds_until_approved_or_rejected():
    key, tenant = _tenant()
    rule = _rule(tenant, "amount_above", {"amount": 100, "currency": "USD"}, "review")
    a, b = _funded(key, 1000), new_account("USD", key=key)
    r = _pay(key, a, b, 300)
    assert r.status == 201 and r.json["status"] == "requires_review", r
    assert r.json["risk"] == {"score": 50, "decision": "review",
                              "rules_matched": [{"id": rule, "action": "review",
                                                 "mode": "active"}]}
    assert r.json["timeline"][0]["status"] == "requires_review"
    pid = r.json["id"]
    assert balance(a, key=key) == (700, 300)
    # held, not in the outbox: nothing sends it to settlement
    assert sql_value(f"SELECT count(*) FROM payment_outbox WHERE payment_id = '{pid}'") == "0"
    assert _events(a, key)[-2:] == ["payment.created", "payment.flagged"]
    assert get(f"/v1/payments?status=requires_review", key=key).json["data"][0]["id"] == pid
    # the payment as GET shows it carries the same risk
    assert get(f"/v1/payments/{pid}", key=key).json["risk"] == r.json["risk"]

    bad = post(f"/v1/payments/{pid}/review", {"decision": "maybe"}, key=key)
    assert_error(bad, 400, "invalid_request", "decision")
    idem = "rv-" + uuid.uuid4().hex
    ok = post(f"/v1/payments/{pid}/review", {"decision": "approve", "reason": "known buyer"},
              key=key, idem=idem)
    assert ok.status == 200 and ok.json["status"] == "pending", ok
    assert ok.json["review"]["decision"] == "approve"
    assert ok.json["review"]["reason"] == "known buyer"
    assert [s["status"] for s in ok.json["timeline"]] == ["requires_review", "pending"]
    again = post(f"/v1/payments/{pid}/review", {"decision": "approve", "reason": "known buyer"},
                 key=key, idem=idem)
    assert again.status == 200 and again.json == ok.json
    assert sql_value(f"SELECT count(*) FROM payment_outbox WHERE payment_id = '{pid}'") == "1"
    late = post(f"/v1/payments/{pid}/review", {"decision": "reject"}, key=key)
    assert late.status == 409 and late.json["error"]["code"] == "payment_not_reviewable", late
    assert _events(a, key)[-1] == "payment.review_approved"
    assert balance(a, key=key) == (700, 300)

    # rejected: canceled, the hold released
    r2 = _pay(key, a, b, 200)
    assert r2.json["status"] == "requires_review"
    no = post(f"/v1/payments/{r2.json['id']}/review", {"decision": "reject",
                                                       "reason": "stolen card"}, key=key)
    assert no.status == 200 and no.json["status"] == "canceled", no
    assert no.json["failure_code"] == "review_rejected"
    assert no.json["failure_message"] == "stolen card"
    assert balance(a, key=key) == (700, 300)
    assert _events(a, key)[-1] == "payment.review_rejected"
    # another tenant cannot review it
    other, _ = _tenant()
    r3 = _pay(key, a, b, 150)
    assert post(f"/v1/payments/{r3.json['id']}/review", {"decision": "approve"},
                key=other).status == 404
    # a payment in review can be canceled
    c = post(f"/v1/payments/{r3.json['id']}/cancel", {}, key=key)
    assert c.status == 200 and c.json["status"] == "canceled", c
    assert check_ledger() == []


def test_shadow_rules_record_and_change_nothing_and_allow_wins():
    key, tenant = _tenant()
    shadow = _rule(tenant, "amount_above", {"amount": 10, "currency": "USD"}, "block",
                   mode="shadow")
    a, b = _funded(key, 1000), new_account("USD", key=key)
    r = _pay(key, a, b, 50)
    assert r.status == 201 and r.json["status"] == "pending", r
    assert r.json["risk"] == {"score": 0, "decision": "allow",
                              "rules_matched": [{"id": shadow, "action": "block",
                                                 "mode": "shadow"}]}
    block = _rule(tenant, "metadata_equals", {"key": "channel", "value": "risky"}, "block")
    allow = _rule(tenant, "metadata_equals", {"key": "vip", "value": "yes"}, "allow")
    blocked = _pay(key, a, b, 5, metadata={"channel": "risky"})
    assert blocked.status == 402, blocked
    assert blocked.json["error"]["rule"] == block
    allowed = _pay(key, a, b, 5, metadata={"channel": "risky", "vip": "yes"})
    assert allowed.status == 201 and allowed.json["risk"]["decision"] == "allow", allowed
    ids = {m["id"] for m in allowed.json["risk"]["rules_matched"]}
    assert ids == {block, allow}
    # a metadata value of another type is not the string
    assert _pay(key, a, b, 5, metadata={"channel": "riskyx"}).status == 201


def test_lists_currencies_and_new_accounts():
    key, tenant = _tenant()
    a, b, c = _funded(key, 10000), new_account("USD", key=key), new_account("USD", key=key)
    sql(f"INSERT INTO risk_list_entries (id, tenant_id, list, value) "
        f"VALUES ('rle_{uuid.uuid4().hex[:20]}', '{tenant}', 'blocklist', '{c}')")
    listed = _rule(tenant, "listed", {"list": "blocklist", "party": "payee"}, "block")
    assert _pay(key, a, b, 10).status == 201
    r = _pay(key, a, c, 10)
    assert r.status == 402 and r.json["error"]["rule"] == listed, r
    # the payer side of the same list does not match a payee-only rule
    assert _pay(key, c, a, 1).status == 402  # c has no funds: the funds check comes first
    deposit(c, 100, key=key)
    assert _pay(key, c, a, 1).status == 201
    # on another list only: no match; off the block list: no match either
    # (the account's own row names its lists, kept by triggers: 0026)
    sql(f"INSERT INTO risk_list_entries (id, tenant_id, list, value) "
        f"VALUES ('rle_{uuid.uuid4().hex[:20]}', '{tenant}', 'watch', '{c}')")
    assert sql_value(f"SELECT risk_lists FROM accounts WHERE id = '{c}'") == ",blocklist,watch,"
    sql(f"DELETE FROM risk_list_entries WHERE value = '{c}' AND list = 'blocklist'")
    assert _pay(key, a, c, 10).status == 201
    sql(f"DELETE FROM risk_list_entries WHERE value = '{c}'")
    assert sql_value(f"SELECT risk_lists FROM accounts WHERE id = '{c}'") is None

    cur = _rule(tenant, "currency_not_allowed", {"allowed": ["USD"]}, "review")
    e1, e2 = _funded(key, 1000, "EUR"), new_account("EUR", key=key)
    r = _pay(key, e1, e2, 10, currency="EUR")
    assert r.status == 201 and r.json["status"] == "requires_review", r
    assert r.json["risk"]["rules_matched"] == [{"id": cur, "action": "review",
                                                "mode": "active"}]

    fresh = _rule(tenant, "new_account_amount",
                  {"amount": 500, "currency": "USD", "account_age_hours": 24}, "review")
    n = _funded(key, 5000)
    first = _pay(key, n, b, 600)
    assert first.status == 201 and first.json["status"] == "requires_review", first
    assert [m["id"] for m in first.json["risk"]["rules_matched"]] == [fresh]
    second = _pay(key, n, b, 600)
    assert second.json["status"] == "pending", second  # not its first payment any more
    old = _funded(key, 5000)
    sql(f"UPDATE accounts SET created_at = now() - interval '25 hours' WHERE id = '{old}'")
    assert _pay(key, old, b, 600).json["status"] == "pending"
    # its first payment, but a small one
    small = _funded(key, 5000)
    assert _pay(key, small, b, 400).json["status"] == "pending"


def test_velocity_amount_and_hour_windows():
    key, tenant = _tenant()
    vol = _rule(tenant, "velocity_amount",
                {"amount": 1000, "currency": "USD", "window_minutes": 120}, "review")
    a, b = _funded(key, 10000), new_account("USD", key=key)
    assert _pay(key, a, b, 600).json["status"] == "pending"
    assert _pay(key, a, b, 400).json["status"] == "pending"  # 1000: not above
    r = _pay(key, a, b, 1)
    assert r.json["status"] == "requires_review", r
    assert [m["id"] for m in r.json["risk"]["rules_matched"]] == [vol]
    # buckets out of the window stop counting: move them back three hours
    sql(f"UPDATE accounts SET win_h_at = array(SELECT x - 3 FROM unnest(win_h_at) x), "
        f"win_m_at = array(SELECT x - 180 FROM unnest(win_m_at) x) WHERE id = '{a}'")
    assert _pay(key, a, b, 900).json["status"] == "pending"
    # the old buckets are dropped by the next write, their totals kept as the base
    n = sql_value(f"SELECT cardinality(win_h_at) || ' ' || cardinality(win_m_at) || ' ' "
                  f"|| win_m_bn || ' ' || win_m_bs FROM accounts WHERE id = '{a}'")
    assert n == "2 1 3 1001", n  # hours: the moved one (within 168) and this one


def test_balance_alerts_fire_once_per_crossing_in_the_commit():
    key, _ = _tenant()
    a, b = _funded(key, 1000), new_account("USD", key=key)
    sql(f"UPDATE accounts SET alert_below = 500, alert_above = 2000, alert_side = 'n' "
        f"WHERE id = '{a}'")

    def alerts():
        return [t for t in _events(a, key) if t.startswith("account.balance")]

    assert _pay(key, a, b, 400).status == 201  # 600: between
    assert alerts() == []
    assert _pay(key, a, b, 200).status == 201  # 400: below
    assert alerts() == ["account.balance_below"]
    assert _pay(key, a, b, 100).status == 201  # 300: still below, nothing
    assert alerts() == ["account.balance_below"]
    deposit(a, 300, key=key)                   # 600: back between, nothing
    assert alerts() == ["account.balance_below"]
    assert _pay(key, a, b, 200).status == 201  # 400: below again
    assert alerts() == ["account.balance_below", "account.balance_below"]
    deposit(a, 2000, key=key)                  # 2400: above
    assert alerts()[-1] == "account.balance_above"
    ev = get(f"/v1/events?account={a}&type=account.balance_above", key=key).json["data"]
    assert ev[0]["data"]["object"]["available"] == 2400
    assert ev[0]["data"]["object"]["threshold"] == 2000
    assert sql_value(f"SELECT alert_side FROM accounts WHERE id = '{a}'") == "a"
    assert tenant_of(a)


def test_a_payment_in_review_settles_only_once_approved():
    """With a broker, a worker and the provider simulator: a payment held
    for review is not sent to settlement; its approval sends it."""
    import time

    from test_settle_pipeline import Pipeline, _http, _wait_final
    key, tenant = _tenant()
    _rule(tenant, "amount_above", {"amount": 100, "currency": "USD"}, "review")
    a, b = _funded(key, 1000), new_account("USD", key=key)
    pl = Pipeline()
    try:
        auth = {"Authorization": "Bearer " + key}
        status, p = _http(pl.http_port, "POST", "/v1/payments",
                          {"from_account": a, "to_account": b, "amount": 300, "currency": "USD"},
                          dict(auth, **{"Idempotency-Key": str(uuid.uuid4())}))
        assert status == 201 and p["status"] == "requires_review", (status, p)
        time.sleep(1.5)  # time enough for the worker to have settled it, were it sent
        assert sql_value(f"SELECT status FROM payments WHERE id = '{p['id']}'") \
            == "requires_review"
        assert pl.charge(p["id"]) is None
        status, q = _http(pl.http_port, "POST", f"/v1/payments/{p['id']}/review",
                          {"decision": "approve"},
                          dict(auth, **{"Idempotency-Key": str(uuid.uuid4())}))
        assert status == 200 and q["status"] == "pending", (status, q)
        assert _wait_final([p["id"]]) == {p["id"]: "succeeded"}
        assert pl.charge(p["id"])["status"] == "approved"
        assert balance(a, key=key) == (700, 0) and balance(b, key=key) == (300, 0)
    finally:
        assert pl.stop()
