"""GET /admin/api/reports/daily (docs/console.md): the daily rollups of every
tenant summed by day and currency, or one tenant's, with each currency's
totals; role finance; its period checked as /v1/reports/daily's, at most
FS_ADMIN_REPORT_DAYS_MAX (366) days; each row rendered as /v1's."""

import json
import uuid

from harness import funded_account, get, new_account, new_api_key, pay, sql, sql_value
from test_admin_auth import logged_in

FIGURES = ("payments", "succeeded", "declined", "canceled", "refunds")


def _tenant():
    name = "report-" + uuid.uuid4().hex[:8]
    key = new_api_key(name)
    return key, sql_value(f"SELECT id FROM tenants WHERE name = '{name}'")


def _rollup(tenant, day, currency, n):
    """A rollup row whose figures are n, 2n, ... (count) and 100 times that (volume)."""
    cols = ", ".join(f"{f}_count, {f}_volume" for f in FIGURES)
    vals = ", ".join(f"{n * (i + 1)}, {100 * n * (i + 1)}" for i in range(len(FIGURES)))
    sql(f"INSERT INTO daily_rollups (tenant_id, day, currency, {cols}) "
        f"VALUES ('{tenant}', '{day}', '{currency}', {vals})")


def _fig(row):
    return [(row[f]["count"], row[f]["volume"]) for f in FIGURES]


def test_admin_report_sums_tenants_by_day_and_currency():
    # Days no other test writes: 1990 (rollups are by payments' creation day).
    a, b = _tenant()[1], _tenant()[1]
    _rollup(a, "1990-03-01", "USD", 1)
    _rollup(b, "1990-03-01", "USD", 2)
    _rollup(b, "1990-03-01", "JPY", 5)
    _rollup(a, "1990-03-03", "USD", 4)
    _rollup(a, "1990-04-01", "USD", 100)  # after the period
    finance = logged_in("finance")
    st, _, r = finance.call("GET", "/admin/api/reports/daily?from=1990-03-01&to=1990-03-31")
    assert st == 200, r
    assert r["object"] == "daily_report" and r["from"] == "1990-03-01" and r["to"] == "1990-03-31"
    assert r["currency"] is None and r["tenant"] is None and "as_of" in r, r
    assert [(d["object"], d["date"], d["currency"]) for d in r["data"]] == [
        ("daily_rollup", "1990-03-01", "JPY"), ("daily_rollup", "1990-03-01", "USD"),
        ("daily_rollup", "1990-03-03", "USD")], r
    assert _fig(r["data"][1]) == [(3 * k, 300 * k) for k in range(1, 6)], r  # a + b
    assert _fig(r["data"][0]) == [(5 * k, 500 * k) for k in range(1, 6)], r
    assert [(t["object"], t["currency"]) for t in r["totals"]] == [
        ("rollup_total", "JPY"), ("rollup_total", "USD")], r
    assert "date" not in r["totals"][0]
    assert _fig(r["totals"][1]) == [(7 * k, 700 * k) for k in range(1, 6)], r  # 1 + 2 + 4
    # One currency, one tenant.
    st, _, r = finance.call("GET", "/admin/api/reports/daily?from=1990-03-01&to=1990-03-31"
                                   f"&currency=USD&tenant={a}")
    assert st == 200 and r["currency"] == "USD" and r["tenant"] == a, r
    assert [(d["date"], _fig(d)[0]) for d in r["data"]] == [
        ("1990-03-01", (1, 100)), ("1990-03-03", (4, 400))], r
    assert [_fig(t)[0] for t in r["totals"]] == [(5, 500)], r
    # Nothing in the period: empty lists.
    st, _, r = finance.call("GET", "/admin/api/reports/daily?from=1990-02-01&to=1990-02-28")
    assert st == 200 and r["data"] == [] and r["totals"] == [], r


def test_admin_report_of_a_tenant_is_its_own_daily_report():
    """The same renderer: one tenant's admin report is what /v1/reports/daily
    answers that tenant, with the totals besides."""
    key, tenant = _tenant()
    for amount in (300, 450):
        assert pay(funded_account(1000, key=key), new_account(key=key), amount,
                   key=key).status == 201
    while json.loads(sql_value("SELECT fs_rollup_run(10000)"))["more"]:
        pass
    mine = get("/v1/reports/daily", key=key)
    assert mine.status == 200 and len(mine.json["data"]) == 1, mine
    st, _, r = logged_in("admin").call("GET", f"/admin/api/reports/daily?tenant={tenant}")
    assert st == 200, r
    assert r["data"] == mine.json["data"] and (r["from"], r["to"]) == (mine.json["from"],
                                                                      mine.json["to"]), r
    assert r["data"][0]["payments"] == {"count": 2, "volume": 750}, r
    assert [t["payments"] for t in r["totals"]] == [{"count": 2, "volume": 750}], r


def test_admin_report_roles_and_checks():
    support = logged_in("support")
    st, _, js = support.call("GET", "/admin/api/reports/daily")
    assert st == 403 and js["error"]["code"] == "forbidden", js
    finance = logged_in("finance")
    st, _, js = finance.call("GET", "/admin/api/reports/daily")
    assert st == 200 and js["to"] >= js["from"], js
    for q, param in (("from=1990-02-01&to=1990-01-01", "from"),
                     ("from=1990-01-01&to=1991-01-02", "from"),  # 367 days
                     ("from=1990-02-30", "from"),
                     ("to=1990-01-01T00:00:00Z", "to"),
                     ("currency=usd", "currency"),
                     ("currency=XXX", "currency"),
                     ("tenant=acct_1", "tenant"),
                     ("tenant=ten_" + uuid.uuid4().hex[:20], "tenant"),
                     ("days=7", "days"),
                     ("from=1990-01-01&from=1990-01-02", "from")):
        st, _, js = finance.call("GET", "/admin/api/reports/daily?" + q)
        assert st == 400 and js["error"]["code"] == "invalid_request", (q, js)
        assert js["error"]["param"] == param, (q, js)
    st, _, js = finance.call("GET", "/admin/api/reports/daily?from=1990-01-01&to=1990-12-31")
    assert st == 200, js  # a year, both ends included
