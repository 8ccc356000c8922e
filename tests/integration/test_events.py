"""The event log: events written with their change, GET /v1/events with its
filters and pagination, per-account sequence numbers without gaps, tenant
isolation, and the feed's commit-order guarantee (fs_feed_take)."""

import subprocess
import time

from harness import (DATABASE_URL, KEY_B, assert_error, funded_account, get, new_account, pay,
                     post, sql, sql_value)


def _events(query="", key=None):
    kw = {} if key is None else {"key": key}
    r = get("/v1/events" + query, **kw)
    assert r.status == 200, r
    assert r.json["object"] == "list", r
    return r.json["data"], r.json["has_more"]


def test_payment_created_and_canceled_are_events_of_the_payer():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 300).json
    r = post(f"/v1/payments/{p['id']}/cancel")
    assert r.status == 200, r
    data, more = _events(f"?account={a}")
    assert not more
    assert [e["type"] for e in data] == ["payment.canceled", "payment.created"], data
    assert [e["sequence"] for e in data] == [2, 1], data
    for e in data:
        assert e["object"] == "event" and e["account"] == a and e["id"].startswith("evt_"), e
        assert e["data"]["object"]["id"] == p["id"], e
    assert data[0]["data"]["object"]["status"] == "canceled"
    assert data[1]["data"]["object"]["status"] == "pending"
    # The payee numbers nothing: events belong to the payer.
    assert _events(f"?account={b}")[0] == []
    # Declined creations write no event.
    r = pay(a, b, 10**9)
    assert r.status == 402, r
    assert len(_events(f"?account={a}")[0]) == 2


def test_sequence_has_no_gap_under_concurrency():
    import threading
    a = funded_account(100000)
    b = new_account("USD")
    errors = []

    def run():
        for _ in range(25):
            r = pay(a, b, 7)
            if r.status != 201:
                errors.append(r)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    seqs = [int(r[0]) for r in sql(f"SELECT account_seq FROM events WHERE account_id = '{a}' "
                                     "ORDER BY seq")]
    assert seqs == list(range(1, 201)), seqs[:10]
    assert int(sql_value(f"SELECT event_seq FROM accounts WHERE id = '{a}'")) == 200


def test_list_filters_and_pagination():
    a = funded_account(1000)
    b = new_account("USD")
    ids = [pay(a, b, 1).json["id"] for _ in range(5)]
    post(f"/v1/payments/{ids[0]}/cancel")
    page, more = _events(f"?account={a}&limit=2")
    assert more and len(page) == 2
    page2, _ = _events(f"?account={a}&limit=2&starting_after={page[-1]['id']}")
    assert page2[0]["sequence"] == page[-1]["sequence"] - 1, (page, page2)
    canceled, _ = _events(f"?account={a}&type=payment.canceled")
    assert [e["data"]["object"]["id"] for e in canceled] == [ids[0]]
    # Without account: the tenant's whole log, newest first.
    latest, _ = _events("?limit=1")
    assert latest[0]["type"] == "payment.canceled", latest


def test_tenant_isolation():
    a = funded_account(100)
    pay(a, new_account("USD"), 5)
    mine, _ = _events(f"?account={a}")
    assert len(mine) == 1
    theirs, _ = _events(f"?account={a}", key=KEY_B)
    assert theirs == []
    r = get(f"/v1/events?starting_after={mine[0]['id']}", key=KEY_B)
    assert_error(r, 400, "invalid_request", "starting_after")


def test_bad_parameters_name_themselves():
    assert_error(get("/v1/events?type=payment.exploded"), 400, "invalid_request", "type")
    assert_error(get("/v1/events?account=pay_1"), 400, "invalid_request", "account")
    assert_error(get("/v1/events?limit=0"), 400, "invalid_request", "limit")
    assert_error(get("/v1/events?starting_after=pay_1"), 400, "invalid_request",
                 "starting_after")
    assert_error(get("/v1/events?colour=red"), 400, "invalid_request", "colour")
    assert_error(get("/v1/events?starting_after=evt_99999999999"), 400, "invalid_request",
                 "starting_after")


def test_feed_waits_for_a_transaction_that_commits_late():
    """An event whose transaction is still open when later ones commit is
    handed out after it commits, never skipped."""
    a = funded_account(100)
    b = new_account("USD")
    name = f"t{time.monotonic_ns()}"
    # Move the cursor to the end of the log.
    while sql_value(f"SELECT count(*) FROM fs_feed_take('{name}', 10000)") != "0":
        pass
    tenant = sql_value(f"SELECT tenant_id FROM accounts WHERE id = '{a}'")
    # A transaction that writes an event and stays open...
    late = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", DATABASE_URL],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    late.stdin.write("BEGIN;\n"
                     "INSERT INTO events (tenant_id, account_id, account_seq, type, payment_id,"
                     f" data) VALUES ('{tenant}', 'acct_late{name}', 1, 'payment.created',"
                     " 'pay_late', '{}');\n"
                     "SELECT pg_sleep(2);\nCOMMIT;\n")
    late.stdin.close()
    # Until its insert is done and it sleeps (psql may take a while to start
    # on a busy machine: a fixed pause was not always enough).
    deadline = time.monotonic() + 20
    while sql_value("SELECT count(*) FROM pg_stat_activity"
                    " WHERE query LIKE 'SELECT pg_sleep(2)%'") == "0":
        assert time.monotonic() < deadline, "the late transaction never started"
        time.sleep(0.05)
    # ...while a later one commits: the feed holds both back.
    later = pay(a, b, 1).json["id"]
    taken = [r[0] for r in sql(f"SELECT payment_id FROM fs_feed_take('{name}', 10000)")]
    assert "pay_late" not in taken and later not in taken, taken
    assert late.wait(timeout=30) == 0, late.stdout.read()
    taken = [r[0] for r in sql(f"SELECT payment_id FROM fs_feed_take('{name}', 10000)")]
    assert taken.index("pay_late") < taken.index(later), taken
    sql("DELETE FROM events WHERE payment_id = 'pay_late'")
