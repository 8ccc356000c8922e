"""The settlement pipeline end to end: a server publishing to its own
nats-server, the provider simulator, and one or two `finsys worker`s, all
started here on free ports (the sanitizer build) and stopped by PID. Payments
made through this server go pending -> processing -> succeeded or failed."""

import http.client
import json
import os
import random
import threading
import time
import urllib.request
import uuid

from harness import (KEY_A, FINSYS_BIN, TEST_TMP, Proc, balance, check_ledger, free_port,
                     funded_account, new_account, sql, sql_value, new_api_key)


def _http(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers=headers or {})
    r = c.getresponse()
    raw = r.read().decode()
    c.close()
    return r.status, json.loads(raw) if raw else None


class Pipeline:
    """nats-server, provider-sim, a server and workers of this test's own."""

    def __init__(self, publish=True, provider=None, nats_later=False, **worker_env):
        """nats_later: the broker's port is chosen but nothing listens there
        until start_nats() (the server and workers start without it)."""
        self.procs = []
        try:
            self._begin(publish, provider, nats_later, worker_env)
        except BaseException:
            self.stop()
            raise

    def start_nats(self):
        self.nats = self._start("nats", ["nats-server", "-js", "-sd", self.nats_store, "-a",
                                         "127.0.0.1", "-p", str(self.nats_port)],
                                port=self.nats_port)
        return self.nats

    def _begin(self, publish, provider, nats_later, worker_env):
        self.nats_port = free_port()
        self.nats_store = os.path.join(TEST_TMP, f"nats-{uuid.uuid4().hex[:8]}")
        self.nats = None if nats_later else self.start_nats()
        self.nats_url = f"nats://127.0.0.1:{self.nats_port}"
        self.sim_port = free_port()
        argv = [FINSYS_BIN, "provider-sim", "--port", str(self.sim_port), "--seed", "7",
                "--decline-rate", "0", "--error-rate", "0", "--latency", "fixed",
                "--latency-ms", "2"]
        for k, v in (provider or {}).items():
            argv += [f"--{k}", str(v)]
        self.sim = self._start("provider", argv, port=self.sim_port)
        self.http_port = free_port()
        self.server = self._start("server", [FINSYS_BIN, "server"], port=self.http_port, env={
            "FINSYS_HTTP_PORT": self.http_port,
            "FINSYS_NATS_URL": self.nats_url if publish else ""})
        self.worker_env = {"FINSYS_NATS_URL": self.nats_url,
                           "FINSYS_PROVIDER_URL": f"http://127.0.0.1:{self.sim_port}",
                           "FINSYS_SWEEP_AFTER_S": 86400, "FINSYS_RETRY_BASE_MS": 50,
                           "FINSYS_RETRY_CAP_MS": 400}
        self.worker_env.update(worker_env)
        self.workers = [self.start_worker()]

    def _start(self, name, argv, port=None, env=None):
        p = Proc(name, argv, env=env, port=port)
        self.procs.append(p)
        return p

    def start_worker(self, **env):
        e = dict(self.worker_env)
        e["FINSYS_WORKER_PORT"] = free_port()
        e.update(env)
        w = self._start("worker", [FINSYS_BIN, "worker"], env=e)
        w.port = e["FINSYS_WORKER_PORT"]
        deadline = time.monotonic() + 20
        while "settling from" not in w.text():
            assert w.proc.poll() is None, w.text()[-2000:]
            assert time.monotonic() < deadline, w.text()[-2000:]
            time.sleep(0.05)
        return w

    def pay(self, src, dst, amount):
        status, body = _http(self.http_port, "POST", "/v1/payments",
                             {"from_account": src, "to_account": dst, "amount": amount,
                              "currency": "USD"},
                             {"Authorization": "Bearer " + KEY_A,
                              "Idempotency-Key": str(uuid.uuid4())})
        assert status == 201, (status, body)
        return body["id"]

    def control(self, **settings):
        req = urllib.request.Request(f"http://127.0.0.1:{self.sim_port}/control",
                                     data=json.dumps(settings).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.sim_port}/stats", timeout=10) as r:
            return json.loads(r.read())

    def charge(self, key):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.sim_port}/charges/{key}",
                                        timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return None if e.code == 404 else e.code

    def stop(self):
        clean = True
        # The servers and workers side by side (each drains in its own
        # time), then the provider and the broker they were still using.
        for p in self.procs:
            if p.name in ("server", "worker"):
                p.terminate()
        for p in reversed(self.procs):
            code = p.stop()
            if p.name in ("server", "worker", "provider"):
                clean = clean and code == 0 and p.sanitizer_clean()
        return clean


def _admin_key():
    return new_api_key("test-a", admin=True)


def _statuses(ids):
    names = ", ".join(f"'{i}'" for i in ids)
    return dict(sql(f"SELECT id, status FROM payments WHERE id IN ({names})"))


def _wait_final(ids, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        st = _statuses(ids)
        if all(s in ("succeeded", "failed", "canceled") for s in st.values()) \
                and len(st) == len(ids):
            return st
        assert time.monotonic() < deadline, st
        time.sleep(0.1)


def _timeline(pid):
    return [r[0] for r in sql("SELECT s->>'status' FROM payments, jsonb_array_elements(timeline) s "
                              f"WHERE id = '{pid}'")]


def test_a_payment_settles_end_to_end():
    pl = Pipeline()
    try:
        a = funded_account(10_000)
        b = new_account("USD")
        ids = [pl.pay(a, b, 100) for _ in range(10)]
        st = _wait_final(ids)
        assert set(st.values()) == {"succeeded"}, st
        assert balance(a) == (9_000, 0) and balance(b) == (1_000, 0)
        assert _timeline(ids[0]) == ["processing", "succeeded"]
        for pid in ids:
            assert pl.charge(pid)["status"] == "approved"
        assert pl.stats()["charges_recorded"] == 10
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_a_decline_fails_the_payment_and_releases_the_hold():
    pl = Pipeline(provider={"decline-rate": 1})
    try:
        a = funded_account(1_000)
        b = new_account("USD")
        pid = pl.pay(a, b, 300)
        st = _wait_final([pid])
        assert st[pid] == "failed"
        code = sql_value(f"SELECT failure_code FROM payments WHERE id = '{pid}'")
        assert code == pl.charge(pid)["decline_code"], code
        assert balance(a) == (1_000, 0) and balance(b) == (0, 0)
        assert _timeline(pid) == ["processing", "failed"]
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_an_outage_opens_the_breaker_and_every_payment_settles_after_it():
    # The outage outlasts eight deliveries of every message (back-off capped
    # at 400 ms): the deliveries the open breaker puts back must not use up
    # the eight attempts, or the outage would end in the dead letters. Only
    # real calls count (the first failures, and the half-open probes).
    pl = Pipeline(FINSYS_BREAKER_OPEN_MS=1000, FINSYS_BREAKER_MIN_CALLS=4,
                  FINSYS_BREAKER_WINDOW=8, FINSYS_WORKER_MAX_ATTEMPTS=8)
    try:
        a = funded_account(100_000)
        b = new_account("USD")
        pl.control(outage_ms=4500)
        ids = [pl.pay(a, b, 10) for _ in range(20)]
        time.sleep(1.0)
        assert "circuit breaker open" in pl.workers[0].text()
        status, state = _http(pl.workers[0].port, "GET", "/state")
        assert status == 200 and state["breaker"]["transitions"] >= 1, state
        assert set(_statuses(ids).values()) <= {"pending", "processing"}
        st = _wait_final(ids, 60)
        assert set(st.values()) == {"succeeded"}, st
        assert "circuit breaker closed" in pl.workers[0].text()
        status, state = _http(pl.workers[0].port, "GET", "/state")
        assert state["breaker"]["state"] == "closed" and state["succeeded"] == 20, state
        assert state["failed"] == 0 and state["retried"] > 0, state
        assert state["dead_lettered"] == 0, state
        assert pl.stats()["charges_recorded"] == 20
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_late_answers_charge_each_payment_at_most_once():
    """The provider answers after the worker gave up; the retry with the same
    idempotency key finds the recorded charge."""
    pl = Pipeline(provider={"timeout-rate": 1, "timeout-after-ms": 1500},
                  FINSYS_PROVIDER_TIMEOUT_MS=300, FINSYS_WORKER_MAX_ATTEMPTS=50)
    try:
        a = funded_account(100_000)
        b = new_account("USD")
        ids = [pl.pay(a, b, 10) for _ in range(5)]
        time.sleep(1.0)
        pl.control(timeout_rate=0)
        st = _wait_final(ids, 60)
        assert set(st.values()) == {"succeeded"}, st
        stats = pl.stats()
        assert stats["charges_recorded"] == 5, stats
        assert stats["timeouts"] >= 5, stats
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_a_payment_whose_outcome_is_unknown_is_looked_up_not_charged_again():
    """After a timeout the worker asks the provider for the key's record
    (GET /charges/{key}) and takes it: no second POST reaches the provider."""
    pl = Pipeline(provider={"timeout-rate": 1, "timeout-after-ms": 1500},
                  FINSYS_PROVIDER_TIMEOUT_MS=300, FINSYS_WORKER_MAX_ATTEMPTS=50)
    try:
        a = funded_account(100_000)
        b = new_account("USD")
        ids = [pl.pay(a, b, 10) for _ in range(3)]
        deadline = time.monotonic() + 20
        while pl.stats()["charges_recorded"] < 3:
            assert time.monotonic() < deadline, pl.stats()
            time.sleep(0.05)
        pl.control(timeout_rate=0)
        st = _wait_final(ids, 60)
        assert set(st.values()) == {"succeeded"}, st
        stats = pl.stats()
        assert stats["lookups"] >= 3, stats
        # Every charge was asked for once: the retries found the records.
        assert stats["duplicates"] == 0, stats
        for pid in ids:
            assert pl.charge(pid)["repeats"] == 0, pl.charge(pid)
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_a_record_that_does_not_match_the_payment_goes_to_the_dead_letters():
    """The provider's record for the key holds another amount: the worker
    does not take it (nor charge again) and a human gets the payment."""
    pl = Pipeline(provider={"timeout-rate": 1, "timeout-after-ms": 10000},
                  FINSYS_PROVIDER_TIMEOUT_MS=3000, FINSYS_WORKER_MAX_ATTEMPTS=50,
                  FINSYS_BREAKER_MIN_CALLS=100, FINSYS_BREAKER_WINDOW=100)
    try:
        a = funded_account(100_000)
        b = new_account("USD")
        pid = pl.pay(a, b, 10)
        deadline = time.monotonic() + 20
        while pl.charge(pid) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # Within the worker's 3 s wait for the (late) answer: the record
        # changes under the key, and later answers come at once.
        req = urllib.request.Request(f"http://127.0.0.1:{pl.sim_port}/breaks", data=json.dumps(
            {"action": "alter", "type": "charge", "idempotency_key": pid,
             "amount": 11}).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        pl.control(timeout_rate=0)
        deadline = time.monotonic() + 30
        while sql_value(f"SELECT dead_lettered_at IS NOT NULL FROM payments "
                        f"WHERE id = '{pid}'") != "t":
            assert time.monotonic() < deadline, pl.workers[0].text()[-2000:]
            time.sleep(0.1)
        assert sql_value(f"SELECT status FROM payments WHERE id = '{pid}'") == "processing"
        assert "does not match: amount 11, not 10" in pl.workers[0].text()
        stats = pl.stats()
        assert stats["lookups"] >= 1 and stats["conflicts"] == 0, stats
        assert pl.charge(pid)["repeats"] == 0
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_after_the_last_attempt_the_message_is_dead_lettered():
    pl = Pipeline(FINSYS_WORKER_MAX_ATTEMPTS=3, FINSYS_BREAKER_MIN_CALLS=100,
                  FINSYS_BREAKER_WINDOW=100)
    try:
        a = funded_account(1_000)
        b = new_account("USD")
        pl.control(outage_ms=60_000)
        pid = pl.pay(a, b, 100)
        deadline = time.monotonic() + 30
        while "to the dead letters" not in pl.workers[0].text():
            assert time.monotonic() < deadline, pl.workers[0].text()[-2000:]
            time.sleep(0.1)
        # Its outcome at the provider is unknown: it stays processing, held,
        # marked, and out of the sweeper's way.
        deadline = time.monotonic() + 10
        while sql_value(f"SELECT dead_lettered_at IS NOT NULL FROM payments "
                        f"WHERE id = '{pid}'") != "t":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _statuses([pid])[pid] == "processing"
        assert balance(a) == (900, 100)
        sweep = json.dumps([{"op": "settle_sweep", "older_s": 0, "max": 100000}])
        swept = sql_value(f"SELECT o_payload FROM fs_batch('{sweep}')")
        assert pid not in json.loads(swept)["payments"], swept

        # The operator lists the dead letters and, the outage over, replays.
        admin = _admin_key()
        tenant = {"Authorization": "Bearer " + KEY_A}
        status, body = _http(pl.http_port, "GET", "/admin/api/dead-letters", None, tenant)
        assert status == 403 and body["error"]["code"] == "forbidden", (status, body)
        auth = {"Authorization": "Bearer " + admin}
        status, body = _http(pl.http_port, "GET", "/admin/api/dead-letters?limit=100", None, auth)
        assert status == 200, body
        assert pid in [d["payment"]["id"] for d in body["data"]], body
        pl.control(outage_ms=0)
        replay = dict(auth, **{"Idempotency-Key": str(uuid.uuid4())})
        status, body = _http(pl.http_port, "POST", f"/admin/api/dead-letters/{pid}/replay", {},
                             replay)
        assert status == 200 and body["payments"] == [pid], (status, body)
        assert _wait_final([pid], 30)[pid] == "succeeded"
        assert balance(a) == (900, 0) and balance(b) == (100, 0)
        again = dict(auth, **{"Idempotency-Key": str(uuid.uuid4())})
        status, body = _http(pl.http_port, "POST", f"/admin/api/dead-letters/{pid}/replay", {},
                             again)
        assert status == 404, (status, body)
        again = dict(auth, **{"Idempotency-Key": str(uuid.uuid4())})
        status, body = _http(pl.http_port, "POST", "/admin/api/dead-letters/all/replay", {}, again)
        assert status == 200 and pid not in body["payments"], (status, body)
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_the_sweeper_publishes_what_the_server_never_did():
    """A server with no broker stands for one killed between its commit and
    its publish: the pending row is the outbox, and the sweeper settles it."""
    pl = Pipeline(publish=False, FINSYS_SWEEP_AFTER_S=1, FINSYS_SWEEP_INTERVAL_S=1)
    try:
        a = funded_account(10_000)
        b = new_account("USD")
        ids = [pl.pay(a, b, 100) for _ in range(5)]
        st = _wait_final(ids, 60)
        assert set(st.values()) == {"succeeded"}, st
        assert "sweeper:" in pl.workers[0].text()
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_two_workers_share_the_work_and_charge_once():
    pl = Pipeline()
    try:
        pl.workers.append(pl.start_worker())
        accounts = [funded_account(100_000) for _ in range(6)]
        rng = random.Random(3)
        ids = []
        for _ in range(150):
            x, y = rng.sample(accounts, 2)
            ids.append(pl.pay(x, y, rng.randint(1, 50)))
        st = _wait_final(ids, 90)
        assert set(st.values()) == {"succeeded"}, st
        stats = pl.stats()
        assert stats["charges_recorded"] == 150, stats
        # No payment was processed by both: no call repeated a charge's key.
        assert stats["duplicates"] == 0, stats
        assert all("settling from" in w.text() for w in pl.workers)
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_a_worker_killed_mid_batch_loses_nothing():
    """SIGKILL of the worker under load, then a new one: every payment that
    got a 201 reaches a final status, charged at most once."""
    pl = Pipeline(provider={"latency": "fixed", "latency-ms": 400})
    try:
        accounts = [funded_account(100_000) for _ in range(4)]
        rng = random.Random(5)
        ids = []
        for _ in range(120):
            x, y = rng.sample(accounts, 2)
            ids.append(pl.pay(x, y, 5))
        # Kill it while payments are at the provider (claimed, unanswered);
        # a loaded CI machine took more than 10 s to claim the first.
        deadline = time.monotonic() + 30
        while "processing" not in _statuses(ids).values():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # (Not asserted again after the kill: on a loaded machine the worker
        # may finish the last claimed ones between the look and the kill,
        # which the rest of the test handles just the same.)
        pl.workers[0].kill()
        pl.procs.remove(pl.workers[0])
        pl.workers = [pl.start_worker()]
        st = _wait_final(ids, 90)
        assert set(st.values()) == {"succeeded"}, st
        stats = pl.stats()
        assert stats["charges_recorded"] == 120, stats
        assert check_ledger() == []
    finally:
        assert pl.stop()


def test_a_server_killed_under_load_loses_no_payment():
    """SIGKILL of the server while payments stream in: whatever got a 201 is
    settled, by its message or, if it was never published, by the sweeper."""
    pl = Pipeline(FINSYS_SWEEP_AFTER_S=1, FINSYS_SWEEP_INTERVAL_S=1)
    try:
        accounts = [funded_account(100_000) for _ in range(4)]
        got = []
        lock = threading.Lock()
        stop = time.monotonic() + 10

        def client(seed):
            rng = random.Random(seed)
            c = http.client.HTTPConnection("127.0.0.1", pl.http_port, timeout=10)
            while time.monotonic() < stop:
                x, y = rng.sample(accounts, 2)
                body = json.dumps({"from_account": x, "to_account": y, "amount": 1,
                                   "currency": "USD"})
                try:
                    c.request("POST", "/v1/payments", body=body,
                              headers={"Authorization": "Bearer " + KEY_A,
                                       "Idempotency-Key": str(uuid.uuid4())})
                    r = c.getresponse()
                    data = r.read()
                except (OSError, http.client.HTTPException):
                    return
                if r.status == 201:
                    with lock:
                        got.append(json.loads(data)["id"])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.8)
        pl.server.kill()
        pl.procs.remove(pl.server)
        for t in threads:
            t.join()
        assert len(got) > 0
        st = _wait_final(got, 90)
        assert set(st.values()) == {"succeeded"}, st
        assert pl.stats()["charges_recorded"] >= len(got)
        assert check_ledger() == []
    finally:
        assert pl.stop()
