"""Distributed locks (src/lock, db/functions/locks.sql): singleton jobs under
a Redis lock whose fencing token PostgreSQL checks, and the operators'
balance operations under an account's lock. The tests that kill, stop or
empty a Redis start a redis-server of their own (free port); each job test
uses a lock resource of its own, so it neither disturbs nor is disturbed by
the main server's purge."""

import json
import os
import signal
import subprocess
import threading
import time
import uuid

from harness import (FINSYS_BIN, TEST_TMP, Proc, assert_error, balance, check_ledger,
                     free_port, funded_account, get, new_account, pay, post, request, sql,
                     sql_value)
from test_settle_pipeline import _admin_key
import harness

# The locks' outcomes (src/http/outcome.c).
harness.ERROR_TYPES.update({"lock_lost": "api_error", "lock_busy": "api_error",
                            "account_not_empty": "invalid_request_error"})


class OwnRedis:
    """A redis-server of the test's own, on a free port, its data under
    FINSYS_TEST_TMP; stopped by PID."""

    def __init__(self):
        self.port = free_port()
        d = os.path.join(TEST_TMP, f"redis-locks-{uuid.uuid4().hex[:8]}")
        os.makedirs(d)
        self.proc = Proc("redis-locks", ["redis-server", "--bind", "127.0.0.1", "--port",
                                         str(self.port), "--dir", d, "--save", "",
                                         "--appendonly", "no"], port=self.port)
        self.url = f"redis://127.0.0.1:{self.port}"

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                              text=True, timeout=10).stdout.strip()

    def stop(self):
        self.proc.stop()


def _job_argv(resource, *opts):
    return [FINSYS_BIN, "job", "purge", "--resource", resource, *opts]


def _job(redis, resource, *opts, timeout=60):
    env = dict(os.environ, FINSYS_REDIS_URL=redis.url)
    return subprocess.run(_job_argv(resource, *opts), env=env, capture_output=True, text=True,
                          timeout=timeout)


def _job_popen(redis, resource, *opts):
    env = dict(os.environ, FINSYS_REDIS_URL=redis.url)
    return subprocess.Popen(_job_argv(resource, *opts), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _runs(resource):
    """(token, outcome, started_at, finished_at) of the runs, by token;
    times as epoch seconds."""
    return sql(f"SELECT token, outcome, extract(epoch FROM started_at), "
               f"extract(epoch FROM finished_at) FROM job_runs "
               f"WHERE resource = '{resource}' ORDER BY token")


def _wait_started(resource, n=1, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if int(sql_value(f"SELECT count(*) FROM job_runs WHERE resource = '{resource}'")) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"no run of {resource} started")


def test_locks_contending_jobs_never_overlap():
    """Two processes run the same singleton job over and over: every run
    waits for the lock, and the fencing tokens PostgreSQL recorded show that
    no two runs overlapped (each run's start comes after the previous
    token's finish) and that none was refused."""
    redis = OwnRedis()
    resource = f"test:contend:{uuid.uuid4().hex[:8]}"
    codes = []
    started = time.monotonic()

    def loop():
        for _ in range(4):
            r = _job(redis, resource, "--hold-ms", "150", "--lease-ms", "2000",
                     "--wait-ms", "30000")
            codes.append((r.returncode, r.stdout, r.stderr[-500:]))

    try:
        threads = [threading.Thread(target=loop) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        redis.stop()
    print(f"    8 contending runs in {time.monotonic() - started:.2f}s")
    assert all(c == 0 for c, _, _ in codes), codes
    runs = _runs(resource)
    assert len(runs) == 8, runs
    assert all(o == "ok" for _, o, _, _ in runs), runs
    tokens = [int(t) for t, _, _, _ in runs]
    assert len(set(tokens)) == 8, tokens
    for prev, nxt in zip(runs, runs[1:]):
        assert float(prev[3]) < float(nxt[2]), ("runs overlapped", prev, nxt)
    assert int(sql_value(f"SELECT token FROM fencing WHERE resource = '{resource}'")) == tokens[-1]
    # Each printed line names its token, and the tokens are those recorded.
    printed = sorted(json.loads(out)["token"] for _, out, _ in codes)
    assert printed == tokens, (printed, tokens)


def test_locks_killed_holder_loses_the_lock_after_its_lease():
    """A holder killed with SIGKILL never releases: the lock stays held (the
    next run finds it so) until its lease ends, and then another run takes
    it with a newer token. The killed run never finished."""
    redis = OwnRedis()
    resource = f"test:kill:{uuid.uuid4().hex[:8]}"
    try:
        a = _job_popen(redis, resource, "--hold-ms", "60000", "--lease-ms", "1500")
        _wait_started(resource)
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        killed_at = time.monotonic()
        ttl = int(redis.cli("PTTL", f"lock:{resource}"))
        assert 0 < ttl <= 1500, ttl
        b = _job(redis, resource, "--wait-ms", "0")
        assert b.returncode == 4, (b.returncode, b.stdout, b.stderr)
        assert json.loads(b.stdout)["outcome"] == "lock_held", b.stdout
        c = _job(redis, resource, "--wait-ms", "20000", "--lease-ms", "1500")
        waited = time.monotonic() - killed_at
        assert c.returncode == 0, (c.returncode, c.stdout, c.stderr)
        print(f"    the lock was taken again {waited:.2f}s after the kill (lease 1.5 s)")
    finally:
        a.kill() if a.poll() is None else None
        redis.stop()
    runs = _runs(resource)
    assert [o for _, o, _, _ in runs] == ["running", "ok"], runs
    assert runs[0][3] is None or runs[0][3] == "", runs
    assert int(runs[1][0]) > int(runs[0][0]), runs


def test_locks_paused_holder_cannot_commit_with_its_old_token():
    """A holder stopped (SIGSTOP) past its lease loses the lock to another
    run; when it continues (SIGCONT) its work is refused by the fence in
    PostgreSQL: it exits 3 (lock_lost), its run is recorded as lock_lost,
    and the fencing row keeps the newer token."""
    redis = OwnRedis()
    resource = f"test:pause:{uuid.uuid4().hex[:8]}"
    try:
        a = _job_popen(redis, resource, "--hold-ms", "2500", "--lease-ms", "1000")
        _wait_started(resource)
        a.send_signal(signal.SIGSTOP)
        time.sleep(1.5)  # past the lease: nobody extends it
        b = _job(redis, resource, "--wait-ms", "10000", "--lease-ms", "1000")
        assert b.returncode == 0, (b.returncode, b.stdout, b.stderr)
        b_token = json.loads(b.stdout)["token"]
        a.send_signal(signal.SIGCONT)
        out, err = a.communicate(timeout=30)
    finally:
        if a.poll() is None:
            a.send_signal(signal.SIGCONT)
            a.kill()
        redis.stop()
    assert a.returncode == 3, (a.returncode, out, err)
    line = json.loads(out)
    assert line["outcome"] == "lock_lost" and line["token"] < b_token, (line, b_token)
    runs = _runs(resource)
    assert [(int(t), o) for t, o, _, _ in runs] == [(line["token"], "lock_lost"),
                                                     (b_token, "ok")], runs
    assert int(sql_value(f"SELECT token FROM fencing WHERE resource = '{resource}'")) == b_token
    # The refused run did no work: its result is empty.
    assert sql_value(f"SELECT result IS NULL FROM job_runs WHERE resource = '{resource}' "
                     f"AND token = {line['token']}") == "t"


def test_locks_fence_refuses_older_tokens():
    """fs_fence: a token passes once it is the newest (again, for the same
    holder's next transaction), and an older one never does."""
    r = f"test:fence:{uuid.uuid4().hex[:8]}"
    assert sql_value(f"SELECT fs_fence('{r}', 5)") == "t"
    assert sql_value(f"SELECT fs_fence('{r}', 5)") == "t"
    assert sql_value(f"SELECT fs_fence('{r}', 7)") == "t"
    assert sql_value(f"SELECT fs_fence('{r}', 6)") == "f"
    assert sql_value(f"SELECT token FROM fencing WHERE resource = '{r}'") == "7"


def test_locks_lock_lost_raises_a_counter_that_went_back():
    """A Redis that lost its counter (FLUSHALL here; a failover in life)
    hands out a token PostgreSQL has passed: the first run after is refused
    and raises the counter, and the next one works."""
    redis = OwnRedis()
    resource = f"test:raise:{uuid.uuid4().hex[:8]}"
    try:
        assert _job(redis, resource).returncode == 0
        high = int(sql_value(f"SELECT token FROM fencing WHERE resource = '{resource}'"))
        redis.cli("SET", f"fence:{resource}", "1")  # the counter went back
        lost = _job(redis, resource)
        assert lost.returncode == 3, (lost.returncode, lost.stdout, lost.stderr)
        assert int(redis.cli("GET", f"fence:{resource}")) >= high
        ok = _job(redis, resource)
        assert ok.returncode == 0, (ok.returncode, ok.stdout, ok.stderr)
        assert json.loads(ok.stdout)["token"] > high
    finally:
        redis.stop()


def _admin(path, body=None, key=None, idem="auto"):
    return request("POST", path, body=body if body is not None else {}, key=key or _admin_key(),
                   idem=idem)


def test_locks_admin_adjustments():
    """An adjustment is journaled against the tenant's external account,
    under the account's lock, with its fencing token recorded; a debit below
    zero is 402; a replay with the same Idempotency-Key adjusts once."""
    admin = _admin_key()
    a = funded_account(1000)
    r = _admin(f"/admin/api/accounts/{a}/adjustments", {"amount": 500, "reason": "goodwill"},
               key=admin)
    assert r.status == 201, r
    assert r.json["object"] == "adjustment" and r.json["amount"] == 500, r
    assert r.json["balance"]["available"] == 1500 and r.json["fencing_token"] > 0, r
    assert int(sql_value(f"SELECT token FROM fencing WHERE resource = 'acct:{a}'")) \
        == r.json["fencing_token"]
    r = _admin(f"/admin/api/accounts/{a}/adjustments", {"amount": -2000, "reason": "x"},
               key=admin)
    assert_error(r, 402, "insufficient_funds", "amount")
    idem = str(uuid.uuid4())
    body = {"amount": -1500, "reason": "chargeback"}
    r1 = _admin(f"/admin/api/accounts/{a}/adjustments", body, key=admin, idem=idem)
    r2 = _admin(f"/admin/api/accounts/{a}/adjustments", body, key=admin, idem=idem)
    assert r1.status == 201 and r2.status == 201, (r1, r2)
    assert r2.header("Idempotent-Replayed") == "true" and r2.json["id"] == r1.json["id"], r2
    assert balance(a) == (0, 0)
    assert int(sql_value(f"SELECT count(*) FROM adjustments WHERE account_id = '{a}'")) == 2
    assert check_ledger() == []


def test_locks_admin_bad_input_and_tenant_keys():
    """Bad input is 400 naming the parameter; a tenant key is 403; an
    unknown account is 404; none of them changes anything."""
    admin = _admin_key()
    a = funded_account(100)
    path = f"/admin/api/accounts/{a}/adjustments"
    assert_error(_admin(path, {"amount": 0, "reason": "r"}, key=admin), 400, "invalid_request",
                 "amount")
    assert_error(_admin(path, {"amount": 1.5, "reason": "r"}, key=admin), 400,
                 "invalid_request", "amount")
    assert_error(_admin(path, {"amount": 5}, key=admin), 400, "invalid_request", "reason")
    assert_error(_admin(path, {"amount": 5, "reason": ""}, key=admin), 400, "invalid_request",
                 "reason")
    assert_error(_admin(path, {"amount": 5, "reason": "r", "x": 1}, key=admin), 400,
                 "invalid_request", "x")
    assert_error(_admin(f"/admin/api/accounts/{a}/freeze", {"x": 1}, key=admin), 400,
                 "invalid_request", "x")
    r = post(path, {"amount": 5, "reason": "r"})  # tenant key A
    assert_error(r, 403, "forbidden", None)
    r = post(f"/admin/api/accounts/{a}/close")
    assert_error(r, 403, "forbidden", None)
    r = _admin("/admin/api/accounts/acct_" + "0" * 24 + "/freeze", key=admin)
    assert_error(r, 404, "not_found", "id")
    assert_error(_admin(path, {"amount": 5, "reason": "r"}, key=admin, idem=None), 400,
                 "idempotency_key_missing", "Idempotency-Key")
    assert balance(a) == (100, 0)


def test_locks_admin_freeze_unfreeze_close():
    """Freezing refuses payments (account_inactive) until unfrozen; closing
    needs a zero balance and no money on its way to the account (409
    account_not_empty), and a closed account stays closed."""
    admin = _admin_key()
    a = funded_account(300)
    b = new_account()
    r = _admin(f"/admin/api/accounts/{a}/freeze", key=admin)
    assert r.status == 200 and r.json["status"] == "frozen", r
    assert_error(pay(a, b, 10), 409, "account_inactive", "from_account")
    r = _admin(f"/admin/api/accounts/{a}/unfreeze", key=admin)
    assert r.status == 200 and r.json["status"] == "active", r
    assert pay(a, b, 10).status == 201
    r = _admin(f"/admin/api/accounts/{a}/close", key=admin)
    assert_error(r, 409, "account_not_empty", "id")
    assert get(f"/v1/accounts/{a}").json["status"] == "active"
    r = _admin(f"/admin/api/accounts/{b}/close", key=admin)
    assert_error(r, 409, "account_not_empty", "id")  # 10 on its way to it
    c = new_account()
    r = _admin(f"/admin/api/accounts/{c}/close", key=admin)
    assert r.status == 200 and r.json["status"] == "closed", r
    assert_error(_admin(f"/admin/api/accounts/{c}/unfreeze", key=admin), 409,
                 "account_inactive", "id")
    assert_error(post(f"/v1/accounts/{c}/deposits", {"amount": 5}), 409, "account_inactive",
                 "id")
    assert check_ledger() == []


def test_locks_admin_lock_busy_and_stale_token():
    """While another holder has the account's lock, an operation waits a
    little and then gets 409 lock_busy, changing nothing; work carrying a
    token older than one already used is refused (lock_lost) in
    PostgreSQL."""
    port = os.environ["FINSYS_REDIS_PORT"]
    admin = _admin_key()
    a = funded_account(100)
    subprocess.run(["redis-cli", "-p", port, "SET", f"lock:acct:{a}", "someone", "PX", "20000"],
                   check=True, capture_output=True, timeout=10)
    try:
        r = _admin(f"/admin/api/accounts/{a}/freeze", key=admin)
        assert_error(r, 409, "lock_busy", None)
    finally:
        subprocess.run(["redis-cli", "-p", port, "DEL", f"lock:acct:{a}"], check=True,
                       capture_output=True, timeout=10)
    assert get(f"/v1/accounts/{a}").json["status"] == "active"
    r = _admin(f"/admin/api/accounts/{a}/freeze", key=admin)
    assert r.status == 200, r
    # A holder whose lease ran out, arriving late with the token before.
    old = int(sql_value(f"SELECT token FROM fencing WHERE resource = 'acct:{a}'")) - 1
    row = sql("SELECT o, p FROM fs_account_admin("
              f"'{{\"op\": \"account_adjust\", \"account\": \"{a}\", \"amount\": 50, "
              f"\"reason\": \"late\", \"id\": \"adj_late{uuid.uuid4().hex[:8]}\", "
              f"\"fence\": {old}}}')")
    assert row[0][0] == "lock_lost", row
    assert balance(a) == (100, 0)


def test_locks_server_without_redis():
    """A server whose Redis is down refuses operators' balance operations
    with 503 (nothing changed) and keeps purging idempotency keys under
    PostgreSQL's advisory lock."""
    port = free_port()
    dead = free_port()
    server = Proc("server-locks", [FINSYS_BIN, "server"], port=port,
                  env={"FINSYS_HTTP_PORT": port, "FINSYS_HTTP_THREADS": 1,
                       "FINSYS_REDIS_URL": f"redis://127.0.0.1:{dead}",
                       "FINSYS_IDEMPOTENCY_PURGE_INTERVAL_S": 1})
    try:
        a = funded_account(100)
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", f"/admin/api/accounts/{a}/freeze", body="{}",
                  headers={"Authorization": "Bearer " + _admin_key(),
                           "Idempotency-Key": str(uuid.uuid4())})
        r = c.getresponse()
        body = json.loads(r.read())
        assert r.status == 503 and body["error"]["code"] == "unavailable", (r.status, body)
        assert r.getheader("Retry-After") == "1"
        assert get(f"/v1/accounts/{a}").json["status"] == "active"
        deadline = time.monotonic() + 20
        while "advisory lock" not in server.text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "advisory lock" in server.text(), server.text()[-2000:]
    finally:
        code = server.stop()
    assert code == 0 and server.sanitizer_clean(), server.text()[-3000:]
