"""Reconciliation against the provider (issue 12): the provider simulator's
settlement report (GET /reports/settlements) and its injected breaks (POST
/breaks), `finsys reconcile --date D` under the Redis lock job:reconcile, and
GET /v1/reconciliations/{date}.

The database is shared with the other tests, whose payments were charged at
other simulators: the day as a whole has breaks. Each test therefore uses a
tenant of its own and reads its share through /v1, which shows only that
tenant's lines and breaks."""
import json
import os
import subprocess
import time
import urllib.request
import uuid

from harness import FINSYS_BIN, assert_error, funded_account, get, new_account, new_api_key, sql
from test_locks import OwnRedis
from test_settle_pipeline import Pipeline, _admin_key, _http, _wait_final


def _today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def _sim(pl, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{pl.sim_port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _reconcile(pl, redis, date="today"):
    env = dict(os.environ, FINSYS_REDIS_URL=redis.url,
               FINSYS_PROVIDER_URL=f"http://127.0.0.1:{pl.sim_port}")
    r = subprocess.run([FINSYS_BIN, "reconcile", "--date", date], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def _settled_day(pl, key):
    """Three payments and a refund of a new tenant's, settled through pl, and a
    fourth payment refunded in full (status refunded: it still matches the
    provider's approved charge)."""
    a = funded_account(100_000, key=key)
    b = new_account("USD", key=key)
    ids = []
    for amount in (1000, 2000, 3000, 500):
        st, body = _http(pl.http_port, "POST", "/v1/payments",
                         {"from_account": a, "to_account": b, "amount": amount,
                          "currency": "USD"},
                         {"Authorization": "Bearer " + key, "Idempotency-Key": str(uuid.uuid4())})
        assert st == 201, body
        ids.append(body["id"])
    assert set(_wait_final(ids).values()) == {"succeeded"}
    st, body = _http(pl.http_port, "POST", f"/v1/payments/{ids[0]}/refunds", {"amount": 400},
                     {"Authorization": "Bearer " + key, "Idempotency-Key": str(uuid.uuid4())})
    assert st == 201, body
    refund = body["id"]
    st, body = _http(pl.http_port, "POST", f"/v1/payments/{ids[3]}/refunds", {},
                     {"Authorization": "Bearer " + key, "Idempotency-Key": str(uuid.uuid4())})
    assert st == 201, body
    deadline = time.monotonic() + 60
    while sql(f"SELECT count(*) FROM refunds WHERE id IN ('{refund}', '{body['id']}') "
              f"AND status = 'succeeded'")[0][0] != "2":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert sql(f"SELECT status FROM payments WHERE id = '{ids[3]}'") == [["refunded"]]
    return ids[:3], refund


def test_a_clean_day_is_ok_and_each_injected_break_is_reported():
    pl = Pipeline()
    redis = OwnRedis()
    try:
        key = new_api_key(f"recon-{uuid.uuid4().hex[:8]}")
        (p1, p2, p3), refund = _settled_day(pl, key)

        # Never run: not_run for the tenant.
        r = get("/v1/reconciliations/2001-01-01", key=key)
        assert r.status == 200, r
        assert r.json["status"] == "not_run" and r.json["breaks"] == []

        out = _reconcile(pl, redis)
        assert out["outcome"] == "ok" and out["date"] == _today(), out
        r = get(f"/v1/reconciliations/{_today()}", key=key)
        assert r.status == 200, r
        assert r.json["status"] == "ok", r.json
        assert r.json["matched"] == 6 and r.json["breaks"] == [], r.json

        # One break of each kind, injected at the provider.
        for body in ({"action": "alter", "idempotency_key": p1, "amount": 1001},
                     {"action": "alter", "idempotency_key": p2, "status": "declined"},
                     {"action": "alter", "idempotency_key": p3, "currency": "EUR"},
                     {"action": "drop", "type": "refund", "idempotency_key": refund}):
            st, got = _sim(pl, "POST", "/breaks", body)
            assert st == 200, got
        stranger = "pay_" + uuid.uuid4().hex
        st, got = _sim(pl, "POST", "/breaks", {"action": "add", "idempotency_key": stranger,
                                                "amount": 777, "currency": "USD"})
        assert st == 200, got

        out = _reconcile(pl, redis)
        assert out["result"]["status"] == "breaks" and out["result"]["breaks"] >= 5, out
        r = get(f"/v1/reconciliations/{_today()}", key=key)
        assert r.status == 200, r
        rec = r.json
        assert rec["status"] == "breaks" and rec["matched"] == 2, rec
        kinds = {(b["kind"], b["id"]): b for b in rec["breaks"]}
        assert set(kinds) == {("amount_mismatch", p1), ("status_mismatch", p2),
                              ("currency_mismatch", p3), ("missing_at_provider", refund)}, rec
        b = kinds[("amount_mismatch", p1)]
        assert b["finsys"]["amount"] == 1000 and b["provider"]["amount"] == 1001
        b = kinds[("status_mismatch", p2)]
        assert b["finsys"]["status"] == "succeeded" and b["provider"]["status"] == "declined"
        b = kinds[("currency_mismatch", p3)]
        assert b["finsys"]["currency"] == "USD" and b["provider"]["currency"] == "EUR"
        b = kinds[("missing_at_provider", refund)]
        assert b["object"] == "refund" and b["provider"] is None
        # A charge FinSys never asked for belongs to no tenant: it is in the
        # day's result (the operators' view), not in any tenant's.
        assert sql(f"SELECT kind, provider_amount FROM reconciliation_breaks "
                   f"WHERE date = '{_today()}' AND object_id = '{stranger}'") == \
            [["missing_in_finsys", "777"]]
        # The operators' view (role finance): the whole day, with it.
        admin = get(f"/admin/api/reconciliations/{_today()}", key=_admin_key())
        assert admin.status == 200, admin
        assert admin.json["status"] == "breaks" and admin.json["breaks_count"] >= 5
        whole = {(b["kind"], b["id"]): b for b in admin.json["breaks"]}
        assert whole[("missing_in_finsys", stranger)]["tenant"] is None
        assert whole[("missing_in_finsys", stranger)]["provider"]["amount"] == 777
        assert whole[("amount_mismatch", p1)]["tenant"] is not None
        assert get(f"/admin/api/reconciliations/{_today()}", key=key).status == 403
        assert_error(get("/admin/api/reconciliations/2026-02-30", key=_admin_key()), 400,
                     "invalid_request", "date")
        assert get("/admin/api/reconciliations/2001-01-01",
                   key=_admin_key()).json["status"] == "not_run"
        other = get(f"/v1/reconciliations/{_today()}")
        assert other.status == 200
        assert not {p1, p2, p3, refund, stranger} & {b["id"] for b in other.json["breaks"]}

        # Re-running replaces the result: the breaks are not doubled.
        _reconcile(pl, redis)
        assert sql(f"SELECT count(*) FROM reconciliation_breaks WHERE date = '{_today()}' "
                   f"AND object_id IN ('{p1}', '{p2}', '{p3}', '{refund}', '{stranger}')") \
            == [["5"]]
    finally:
        redis.stop()
        assert pl.stop()


def test_the_report_pages_and_the_route_checks_its_date():
    pl = Pipeline()
    try:
        for i in range(5):
            st, _ = _sim(pl, "POST", "/breaks", {"action": "add", "idempotency_key": f"k{i}",
                                                 "amount": 10 + i, "currency": "USD"})
            assert st == 200
        seen, after = [], ""
        while True:
            st, page = _sim(pl, "GET", f"/reports/settlements?date={_today()}&limit=2{after}")
            assert st == 200, page
            assert len(page["data"]) <= 2
            seen += [line["idempotency_key"] for line in page["data"]]
            if not page["has_more"]:
                break
            after = "&after=" + page["next_after"]
        assert seen == [f"k{i}" for i in range(5)]
        st, page = _sim(pl, "GET", "/reports/settlements?date=2001-01-01")
        assert st == 200 and page["data"] == [] and page["has_more"] is False
        st, err = _sim(pl, "GET", "/reports/settlements?date=2026-02-30")
        assert st == 400 and err["error"]["param"] == "date"
        st, err = _sim(pl, "GET", f"/reports/settlements?date={_today()}&limit=1001")
        assert st == 400 and err["error"]["param"] == "limit"
        st, err = _sim(pl, "POST", "/breaks", {"action": "alter", "idempotency_key": "nope",
                                               "amount": 1})
        assert st == 404
    finally:
        assert pl.stop()
    assert_error(get("/v1/reconciliations/yesterday"), 400, "invalid_request", "date")
    assert_error(get("/v1/reconciliations/2026-13-01"), 400, "invalid_request", "date")


def test_the_worker_reconciles_the_previous_day_on_its_schedule():
    redis = OwnRedis()
    pl = None
    try:
        pl = Pipeline(FINSYS_REDIS_URL=redis.url, FINSYS_RECON_INTERVAL_S=1)
        pid = pl.workers[0].proc.pid
        yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
        deadline = time.monotonic() + 30
        while not sql(f"SELECT 1 FROM job_runs WHERE job = 'reconcile' AND outcome = 'ok' "
                      f"AND holder = 'finsys worker pid {pid}'"):
            assert time.monotonic() < deadline, pl.workers[0].text()[-2000:]
            time.sleep(0.2)
        assert sql(f"SELECT 1 FROM reconciliations WHERE date = '{yesterday}'") == [["1"]]
        assert f"reconciled {yesterday}" in pl.workers[0].text()
    finally:
        if pl is not None:
            assert pl.stop()
        redis.stop()


def test_a_run_needs_the_lock_and_a_stale_token_changes_nothing():
    pl = Pipeline()
    redis = OwnRedis()
    env = dict(os.environ, FINSYS_REDIS_URL=redis.url,
               FINSYS_PROVIDER_URL=f"http://127.0.0.1:{pl.sim_port}")
    argv = [FINSYS_BIN, "reconcile", "--date", "2001-01-02"]
    try:
        # Another holder: exit 4, nothing written.
        redis.cli("SET", "lock:job:reconcile", "someone-else", "PX", "60000")
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 4 and json.loads(r.stdout)["outcome"] == "lock_held", r
        assert sql("SELECT 1 FROM reconciliations WHERE date = '2001-01-02'") == []
        redis.cli("DEL", "lock:job:reconcile")

        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r
        token = json.loads(r.stdout)["token"]
        before = sql("SELECT run_id FROM reconciliations WHERE date = '2001-01-02'")
        # A newer holder's token went through (a Redis that lost its counter):
        # the run is refused by the fence and the result stays; it raises the
        # counter, so the next run works.
        sql(f"UPDATE fencing SET token = {token + 1000} WHERE resource = 'job:reconcile'")
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 3 and json.loads(r.stdout)["outcome"] == "lock_lost", r
        assert sql("SELECT run_id FROM reconciliations WHERE date = '2001-01-02'") == before
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r
        assert json.loads(r.stdout)["token"] > token + 1000
        assert sql("SELECT run_id FROM reconciliations WHERE date = '2001-01-02'") != before
    finally:
        redis.stop()
        assert pl.stop()
