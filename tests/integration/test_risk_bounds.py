"""The bounds that decide most payments without running their tenant's rules
one by one (risk_rule_bounds, docs/risk.md "What a rule costs") never change
a decision: two tenants with the same rules, accounts and payments, one
deciding with the bounds and one without (finsys.risk_bounds = off, the
switch kept for this test), get the same outcome and the same risk on every
payment. The payments come in groups of 12 straight into fs_batch, so the
bounds are held against payments earlier in their own group too; amounts,
currencies, metadata, lists, first payments and windows (minutes and hours)
each cross their rules' thresholds along the way."""

import hashlib
import json
import random
import uuid

from harness import deposit, new_account, new_api_key, sql, sql_value

RULES = [  # name, kind, params, action, mode
    ("large", "amount_above", {"amount": 700, "currency": "USD"}, "review", "active"),
    ("trial", "amount_above", {"amount": 900, "currency": "USD"}, "block", "shadow"),
    ("gbp large", "amount_above", {"amount": 800, "currency": "GBP"}, "review", "active"),
    ("burst", "velocity_count", {"count": 20, "window_minutes": 10}, "review", "active"),
    ("burst 5", "velocity_count", {"count": 25, "window_minutes": 5}, "block", "shadow"),
    ("daily", "velocity_count", {"count": 28, "window_minutes": 1440}, "block", "active"),
    ("volume", "velocity_amount", {"amount": 12000, "currency": "USD", "window_minutes": 120},
     "block", "active"),
    ("gbp volume", "velocity_amount", {"amount": 3000, "currency": "GBP", "window_minutes": 30},
     "review", "shadow"),
    ("new", "new_account_amount", {"amount": 500, "currency": "USD", "account_age_hours": 24},
     "review", "active"),
    ("listed", "listed", {"list": "blocklist", "party": "either"}, "block", "active"),
    ("currencies", "currency_not_allowed", {"allowed": ["USD", "GBP"]}, "block", "active"),
    ("test traffic", "metadata_equals", {"key": "channel", "value": "test"}, "review", "active"),
    ("vip", "metadata_equals", {"key": "vip", "value": "yes"}, "allow", "active"),
]
ACCOUNTS = ["USD"] * 8 + ["GBP"] * 3 + ["EUR"] * 2
METADATA = [{}, {}, {"channel": "web"}, {"channel": "test"}, {"vip": "yes"}, {"other": "x"}, {}]


def _tenant():
    name = "bounds-" + uuid.uuid4().hex[:10]
    key = new_api_key(name)
    tenant = sql_value(f"SELECT id FROM tenants WHERE name = '{name}'")
    names = {}
    for name_, kind, params, action, mode in RULES:
        rid = "rr_" + uuid.uuid4().hex[:24]
        names[rid] = name_
        sql(f"INSERT INTO risk_rules (id, tenant_id, name, kind, params, action, mode, score) "
            f"VALUES ('{rid}', '{tenant}', '{name_}', '{kind}', '{json.dumps(params)}', "
            f"'{action}', '{mode}', 10)")
    accounts = [new_account(c, key=key) for c in ACCOUNTS]
    for a in accounts:
        deposit(a, 10**9, key=key)
    # one GBP account is on the block list
    for a in accounts[8:9]:
        sql(f"INSERT INTO risk_list_entries (id, tenant_id, list, value) "
            f"VALUES ('rle_{uuid.uuid4().hex[:24]}', '{tenant}', 'blocklist', '{a}')")
    auth = sql_value(f"SELECT encode(key_hash, 'hex') FROM api_keys WHERE tenant_id = '{tenant}'")
    return dict(auth=auth, accounts=accounts, names=names, tenant=tenant)


def _group(t, plan, bounds):
    items = []
    for src, dst, amount, meta in plan:
        item = {"op": "payment_create", "id": "pay_" + uuid.uuid4().hex[:24],
                "from": t["accounts"][src], "to": t["accounts"][dst], "amount": amount,
                "currency": ACCOUNTS[src], "auth": t["auth"], "idem": uuid.uuid4().hex,
                "fp": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
                "rid": "req_" + uuid.uuid4().hex[:16], "metadata": meta}
        items.append(item)
    text = json.dumps(items).replace("'", "''")
    switch = "" if bounds else "SET finsys.risk_bounds = off; "
    rows = sql(f"{switch}SELECT o_idx, o_outcome, o_payload FROM fs_batch('{text}'::jsonb) "
               f"ORDER BY o_idx")
    out = []
    for _, outcome, payload in rows:
        risk = json.loads(payload).get("risk")
        if risk is not None:
            risk = dict(risk, rules_matched=[(t["names"][m["id"]], m["action"], m["mode"])
                                             for m in risk["rules_matched"]])
        out.append((outcome, risk))
    return out


def test_bounds_never_change_a_decision():
    rnd = random.Random(12)
    with_bounds, without = _tenant(), _tenant()
    assert sql_value(f"SELECT rules FROM risk_rule_bounds "
                     f"WHERE tenant_id = '{with_bounds['tenant']}'") == str(len(RULES))
    seen = {"none": 0}
    every = {"none"} | {r[0] for r in RULES}
    for group in range(30):
        # Enough groups once every rule matched and most payments matched
        # none (both sides of every bound taken): 10 at least, 30 at most.
        if group >= 10 and set(seen) == every and seen["none"] > 40:
            break
        plan = []
        for _ in range(12):
            cur = rnd.choice(["USD"] * 6 + ["GBP"] * 2 + ["EUR"])
            pool = [i for i, c in enumerate(ACCOUNTS) if c == cur]
            src, dst = rnd.sample(pool, 2)
            plan.append((src, dst, rnd.randint(1, 1000), rnd.choice(METADATA)))
        a = _group(with_bounds, plan, True)
        b = _group(without, plan, False)
        assert a == b, (plan, a, b)
        for outcome, risk in a:
            if risk is None or not risk["rules_matched"]:
                seen["none"] += 1
            else:
                for name, _, _ in risk["rules_matched"]:
                    seen[name] = seen.get(name, 0) + 1
    # every rule matched somewhere, and most payments matched none: both
    # sides of every bound were taken
    assert set(seen) == every, seen
    assert seen["none"] > 40, seen
