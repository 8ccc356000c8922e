"""The Redis cache (src/cache): account reads and idempotent replays answered
from Redis first, never stale past an invalidation, and never needed for
correctness: a Redis of the test's own is flushed, stopped and restarted
under load, and every invariant of the engine holds afterwards."""

import http.client
import json
import os
import random
import re
import subprocess
import threading
import time
import uuid

from harness import (KEY_A, TEST_TMP, Proc, balance, check_ledger, deposit, free_port,
                     funded_account, get, new_account, pay, post, sql, sql_value)
from test_settle_pipeline import Pipeline

MAIN_REDIS_PORT = os.environ.get("FINSYS_REDIS_PORT", "")


def _redis(port, *args):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                          capture_output=True, text=True, timeout=10).stdout.strip()


class _Redis:
    """A redis-server of the test's own (as scripts/stack.sh starts one)."""

    def __init__(self):
        self.port = free_port()
        self.dir = os.path.join(TEST_TMP, f"redis-{uuid.uuid4().hex[:8]}")
        os.makedirs(self.dir)
        self.start()

    def start(self):
        self.proc = Proc("redis", ["redis-server", "--bind", "127.0.0.1", "--port",
                                   str(self.port), "--dir", self.dir, "--appendonly", "yes",
                                   "--appendfsync", "everysec", "--save", ""], port=self.port)
        deadline = time.monotonic() + 20
        while _redis(self.port, "ping") != "PONG":
            assert time.monotonic() < deadline, "redis-server did not answer"
            time.sleep(0.05)

    def stop(self):
        return self.proc.stop()

    def url(self):
        return f"redis://127.0.0.1:{self.port}"


class _Client:
    """Keep-alive HTTP to a Pipeline's server."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def request(self, method, path, body=None, idem=None):
        h = {"Authorization": "Bearer " + KEY_A}
        if body is not None:
            h["Content-Type"] = "application/json"
        if method == "POST":
            h["Idempotency-Key"] = idem or str(uuid.uuid4())
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.c.request(method, path, body=json.dumps(body) if body is not None else None,
                               headers=h)
                r = self.c.getresponse()
                raw = r.read().decode()
                return r.status, json.loads(raw), r.getheader("Idempotent-Replayed")
            except (http.client.HTTPException, ConnectionError, OSError):
                self.c.close()
                self.c = None
                if attempt == 1:
                    raise


_COUNTS = re.compile(r"account reads: (\d+) hits, (\d+) misses, (\d+) bypassed, (\d+) fills; "
                     r"replays: (\d+) hits, (\d+) misses, (\d+) stored; bumps: (\d+), (\d+) failed")
_NAMES = ("hits", "misses", "bypassed", "fills", "replay_hits", "replay_misses",
          "replays_stored", "bumps", "bumps_failed")


def _cache_counts(text):
    """Sums the counters the cache logs as it stops (one line per loop)."""
    total = dict.fromkeys(_NAMES, 0)
    for m in _COUNTS.finditer(text):
        for name, value in zip(_NAMES, m.groups()):
            total[name] += int(value)
    return total


def _available(account):
    return int(sql_value(f"SELECT available FROM accounts WHERE id = '{account}'"))


def test_a_cached_account_is_served_until_it_changes_and_never_after():
    a = funded_account(10_000)
    b = new_account("USD")
    assert get(f"/v1/accounts/{a}").json["balance"]["available"] == 10_000  # fills
    # Changed behind FinSys's back (no invalidation): the cached copy is served,
    # which shows the read came from Redis.
    sql(f"UPDATE accounts SET name = 'renamed behind the cache' WHERE id = '{a}'")
    r = get(f"/v1/accounts/{a}")
    assert r.status == 200 and r.json["name"] != "renamed behind the cache", r
    assert r.json["balance"]["available"] == 10_000
    if MAIN_REDIS_PORT:
        assert _redis(MAIN_REDIS_PORT, "exists", f"fs:acct:{a}:gen") == "1"
    # Every change through FinSys invalidates it: the next read shows it.
    expected = 10_000
    for i in range(20):
        if i % 3 == 0:
            deposit(a, 7)
            expected += 7
        else:
            r = pay(a, b, 5)
            assert r.status == 201, r
            expected -= 5
            if i % 3 == 2:
                r = post(f"/v1/payments/{r.json['id']}/cancel")
                # canceled, unless the main server's worker settled it first
                if r.status == 200:
                    expected += 5
        for _ in range(2):  # a miss that fills, then a hit
            r = get(f"/v1/accounts/{a}")
            assert r.status == 200 and r.json["balance"]["available"] == expected, (i, r)
    assert r.json["name"] == "renamed behind the cache"
    assert _available(a) == expected
    # Another key (of the other tenant) is never served this key's entry.
    r = get(f"/v1/accounts/{a}", key=os.environ["FINSYS_KEY_B"])
    assert r.status == 404, r
    assert check_ledger() == []


def _replay_entry(key):
    """The Redis key of the replay entry of this Idempotency-Key, or ""."""
    return _redis(MAIN_REDIS_PORT, "--scan", "--pattern", f"fs:idem:*:{key}")


def test_a_replay_is_answered_from_redis_and_a_different_request_is_not():
    a = funded_account(1_000)
    b = new_account("USD")
    key = str(uuid.uuid4())
    first = pay(a, b, 100, idem=key)
    assert first.status == 201, first
    # A first answer writes nothing to Redis: nobody has replayed it yet.
    if MAIN_REDIS_PORT:
        assert _replay_entry(key) == "", "the first answer was written to Redis"
    # The first retry is answered by the database, which writes the entry
    # (for at most an hour, FS_CACHE_REPLAY_TTL_S).
    retry = pay(a, b, 100, idem=key)
    assert retry.status == 201 and retry.headers.get("idempotent-replayed") == "true", retry
    assert retry.json == first.json
    if MAIN_REDIS_PORT:
        entry = ""
        deadline = time.monotonic() + 5  # the SET goes out after the answer
        while entry == "":
            assert time.monotonic() < deadline, "the database's replay was not written"
            entry = _replay_entry(key)
            time.sleep(0.02)
        ttl = int(_redis(MAIN_REDIS_PORT, "ttl", entry))
        assert 0 < ttl <= 3600, ttl
    # The database forgets the key: only Redis can still answer the replay
    # (the database would make a second payment).
    sql(f"DELETE FROM idempotency_keys WHERE key = '{key}'")
    again = pay(a, b, 100, idem=key)
    assert again.status == 201 and again.headers.get("idempotent-replayed") == "true", again
    assert again.json["id"] == first.json["id"]
    assert sql_value(f"SELECT count(*) FROM payments WHERE from_account = '{a}'") == "1"
    # Another request under a key Redis holds goes to the database (422).
    key2 = str(uuid.uuid4())
    assert pay(a, b, 10, idem=key2).status == 201
    r = pay(a, b, 11, idem=key2)
    assert r.status == 422 and r.json["error"]["code"] == "idempotency_key_reuse", r
    # A 400 is never stored, in the database or in Redis: corrected, the
    # request goes through under the same key.
    key3 = str(uuid.uuid4())
    r = pay(a, b, 10, currency="EUR", idem=key3)
    assert r.status == 400, r
    if MAIN_REDIS_PORT:
        assert _replay_entry(key3) == ""
    r = pay(a, b, 10, idem=key3)
    assert r.status == 201 and r.headers.get("idempotent-replayed") is None, r
    # A stored business error is replayed too.
    key4 = str(uuid.uuid4())
    r = pay(a, b, 1_000_000, idem=key4)
    assert r.status == 402, r
    r = pay(a, b, 1_000_000, idem=key4)
    assert r.status == 402 and r.headers.get("idempotent-replayed") == "true", r
    assert check_ledger() == []


def test_flushing_and_stopping_redis_under_load_changes_nothing_but_speed():
    redis = _Redis()
    saved = os.environ.get("FINSYS_REDIS_URL")
    os.environ["FINSYS_REDIS_URL"] = redis.url()
    try:
        pl = Pipeline()
    finally:
        if saved is None:
            del os.environ["FINSYS_REDIS_URL"]
        else:
            os.environ["FINSYS_REDIS_URL"] = saved
    threads_n = 4
    payers = [funded_account(1_000_000) for _ in range(threads_n)]
    sink = new_account("USD")
    stop = threading.Event()
    problems = []
    keys = [dict() for _ in range(threads_n)]  # Idempotency-Key -> payment id
    ops = [0] * threads_n

    def load(n):
        rnd = random.Random(n)
        cl = _Client(pl.http_port)
        acct = payers[n]
        expected = 1_000_000
        try:
            while not stop.is_set():
                roll = rnd.random()
                if roll < 0.3:
                    st, body, _ = cl.request("POST", f"/v1/accounts/{acct}/deposits",
                                             {"amount": 3})
                    if st != 201:
                        problems.append(("deposit", st, body))
                        return
                    expected += 3
                elif roll < 0.9:
                    key = str(uuid.uuid4())
                    st, body, _ = cl.request("POST", "/v1/payments",
                                             {"from_account": acct, "to_account": sink,
                                              "amount": 2, "currency": "USD"}, idem=key)
                    if st != 201:
                        problems.append(("payment", st, body))
                        return
                    keys[n][key] = body["id"]
                    expected -= 2
                else:
                    # A retry of an earlier payment: the same payment, once.
                    if keys[n]:
                        key = rnd.choice(list(keys[n]))
                        st, body, replayed = cl.request(
                            "POST", "/v1/payments", {"from_account": acct, "to_account": sink,
                                                     "amount": 2, "currency": "USD"}, idem=key)
                        if st != 201 or body["id"] != keys[n][key] or replayed != "true":
                            problems.append(("replay", st, body, replayed))
                            return
                # The read after each change shows it (this thread alone
                # changes the payer's available balance); twice, so the
                # second read can come from Redis.
                for _ in range(2):
                    st, body, _ = cl.request("GET", f"/v1/accounts/{acct}")
                    if st != 200 or body["balance"]["available"] != expected:
                        problems.append(("read", st, body, expected))
                        return
                    st, body, _ = cl.request("GET", f"/v1/accounts/{sink}")
                    if st != 200:
                        problems.append(("read sink", st, body))
                        return
                ops[n] += 1
        except Exception as e:  # noqa: BLE001 (reported below)
            problems.append(("exception", repr(e)))

    threads = [threading.Thread(target=load, args=(n,)) for n in range(threads_n)]
    clean = False
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        assert _redis(redis.port, "flushall") == "OK"
        time.sleep(1.5)
        assert redis.stop() == 0  # SIGTERM, in the middle of the load
        time.sleep(1.5)
        redis.start()
        time.sleep(1.5)
        assert _redis(redis.port, "flushall") == "OK"
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(120)
        assert problems == [], problems[:5]
        print(f"    {sum(ops)} rounds of a change and four reads by {threads_n} threads")

        # Every payment was created once for its key, and settles.
        made = sum(len(k) for k in keys)
        names = ", ".join(f"'{p}'" for p in payers)
        assert int(sql_value(f"SELECT count(*) FROM payments WHERE from_account IN ({names})")) \
            == made
        deadline = time.monotonic() + 120
        while sql_value(f"SELECT count(*) FROM payments WHERE from_account IN ({names}) "
                        "AND status NOT IN ('succeeded', 'failed', 'canceled')") != "0":
            assert time.monotonic() < deadline, "payments did not settle"
            time.sleep(0.2)
        assert sql_value("SELECT count(*) FROM accounts WHERE type <> 'external' "
                         "AND (available < 0 OR pending < 0)") == "0"
        assert check_ledger() == []
        # Reads through the cache converge on the database once settled (the
        # worker's invalidations after Redis came back have landed).
        cl = _Client(pl.http_port)
        for acct in payers + [sink]:
            want = tuple(int(x) for x in sql(f"SELECT available, pending FROM accounts "
                                             f"WHERE id = '{acct}'")[0])
            deadline = time.monotonic() + 30
            while True:
                st, body, _ = cl.request("GET", f"/v1/accounts/{acct}")
                got = (body["balance"]["available"], body["balance"]["pending"])
                if got == want:
                    break
                assert time.monotonic() < deadline, (acct, got, want)
                time.sleep(0.1)
        clean = True
    finally:
        stop.set()
        for t in threads:
            t.join(120)
        ok = pl.stop()
        redis.stop()
    assert ok, [(p.name, p.proc.returncode, p.text()[-1500:]) for p in pl.procs
                if p.name in ("server", "worker")]
    counts = _cache_counts(pl.server.text())
    print(f"    server cache: {counts}")
    wcounts = _cache_counts(pl.workers[0].text())
    print(f"    worker cache: {wcounts}")
    assert clean
    # The cache was used (not merely bypassed) and the worker invalidated.
    assert counts.get("hits", 0) > 0 and counts.get("misses", 0) > 0, counts
    assert wcounts.get("bumps", 0) > 0, wcounts
