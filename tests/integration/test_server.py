"""The server as a process: readiness without a database, several server
processes on one database, the purge of expired idempotency keys, and a clean
stop on SIGTERM. Each test starts its own extra `finsys server` (the sanitizer
build) on a free port and stops it by PID."""

import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid

from harness import (DATABASE_URL, KEY_A, check_ledger, free_port, funded_account, sql,
                     sql_value)

BIN = os.environ["FINSYS_BIN"]
TMP = os.environ["FINSYS_TEST_TMP"]


class Server:
    """A `finsys server` of this test's own, on a free port."""

    def __init__(self, **env):
        self.port = free_port()
        e = dict(os.environ, FINSYS_HTTP_PORT=str(self.port), FINSYS_HTTP_HOST="127.0.0.1")
        e.update({k: str(v) for k, v in env.items()})
        self.log_path = os.path.join(TMP, f"server-{self.port}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "server"], env=e, stderr=self.log,
                                     stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.call("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the extra server did not start")

    def call(self, method, path, body=None, key=None, idem=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {}
        if key:
            h["Authorization"] = "Bearer " + key
        if idem:
            h["Idempotency-Key"] = idem
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        raw = r.read().decode()
        self.last_headers = dict(r.getheaders())
        c.close()
        return r.status, json.loads(raw) if raw else None

    def stop(self):
        """SIGTERM, then the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        self.log.close()
        return self.proc.returncode

    def sanitizer_clean(self):
        with open(self.log_path) as f:
            text = f.read()
        return "Sanitizer" not in text and "runtime error:" not in text


def test_readyz_is_503_without_a_database():
    port = free_port()  # nothing listens here
    s = Server(FINSYS_DATABASE_URL=f"host=127.0.0.1 port={port} dbname=finsys user=postgres "
                                   "connect_timeout=2")
    try:
        assert s.call("GET", "/healthz")[0] == 200
        status, body = s.call("GET", "/readyz")
        assert status == 503, (status, body)
        assert body["checks"]["database"]["status"] == "unavailable", body
        assert "database" in body["reason"], body
        status, body = s.call("POST", "/v1/accounts", {"currency": "USD"}, key=KEY_A,
                              idem=str(uuid.uuid4()))
        assert status == 503 and body["error"]["code"] == "unavailable", (status, body)
        assert s.last_headers.get("Retry-After") == "1", s.last_headers
    finally:
        assert s.stop() == 0
    assert s.sanitizer_clean()


def test_two_server_processes_share_one_database():
    """Two processes, 8 threads each, paying between the same 10 accounts:
    locks in id order keep them from deadlocking, and the ledger holds."""
    accounts = [funded_account(5_000) for _ in range(10)]
    other = Server()
    payments_before = int(sql_value("SELECT count(*) FROM payments"))
    statuses = []
    lock = threading.Lock()

    def worker(server_call, seed):
        rng = random.Random(seed)
        for _ in range(60):
            a, b = rng.sample(accounts, 2)
            st, _ = server_call("POST", "/v1/payments",
                                {"from_account": a, "to_account": b,
                                 "amount": rng.randint(1, 900), "currency": "USD"},
                                key=KEY_A, idem=str(uuid.uuid4()))
            with lock:
                statuses.append(st)

    main_port = int(os.environ["FINSYS_URL"].rsplit(":", 1)[1])
    main = Server.__new__(Server)
    main.port = main_port
    threads = [threading.Thread(target=worker, args=(s.call, i))
               for i, s in enumerate([other, main] * 8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        assert other.stop() == 0
    assert other.sanitizer_clean()
    assert set(statuses) <= {201, 402}, sorted(set(statuses))
    created = int(sql_value("SELECT count(*) FROM payments")) - payments_before
    assert created == statuses.count(201), (created, statuses.count(201))
    assert statuses.count(201) > 0
    assert check_ledger() == []


def test_expired_idempotency_keys_are_purged():
    tenant = sql_value("SELECT tenant_id FROM api_keys LIMIT 1")
    old_keys = [f"old-{uuid.uuid4()}" for _ in range(3)]
    for k in old_keys:
        sql(f"INSERT INTO idempotency_keys (tenant_id, key, fingerprint, outcome, payload, "
            f"created_at) VALUES ('{tenant}', '{k}', '\\x00', 'ok', '{{}}', "
            f"now() - interval '2 hours')")
    fresh = f"fresh-{uuid.uuid4()}"
    sql(f"INSERT INTO idempotency_keys (tenant_id, key, fingerprint, outcome, payload) "
        f"VALUES ('{tenant}', '{fresh}', '\\x00', 'ok', '{{}}')")
    s = Server(FINSYS_IDEMPOTENCY_TTL_HOURS=1, FINSYS_IDEMPOTENCY_PURGE_INTERVAL_S=1)
    try:
        names = ", ".join(f"'{k}'" for k in old_keys)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if sql_value(f"SELECT count(*) FROM idempotency_keys WHERE key IN ({names})") == "0":
                break
            time.sleep(0.2)
        assert sql_value(f"SELECT count(*) FROM idempotency_keys WHERE key IN ({names})") == "0"
        assert sql_value(f"SELECT count(*) FROM idempotency_keys WHERE key = '{fresh}'") == "1"
    finally:
        assert s.stop() == 0


def test_sigterm_stops_the_server_cleanly():
    s = Server()
    assert s.call("GET", "/healthz")[0] == 200
    started = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - started < 10
    assert s.sanitizer_clean()
    with open(s.log_path) as f:
        assert "stopping" in f.read()


def test_bad_configuration_stops_at_start():
    e = dict(os.environ, FINSYS_HTTP_PORT="99999")
    r = subprocess.run([BIN, "server"], env=e, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "FINSYS_HTTP_PORT" in r.stderr, r
    r = subprocess.run([BIN, "server", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "FINSYS_DATABASE_URL" in r.stdout, r


def test_migrate_is_idempotent():
    e = dict(os.environ, FINSYS_DATABASE_URL=DATABASE_URL)
    before = sql_value("SELECT count(*) FROM schema_migrations")
    r = subprocess.run([BIN, "migrate"], env=e, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "", r
    assert sql_value("SELECT count(*) FROM schema_migrations") == before


def test_sigterm_under_load_answers_every_committed_payment():
    """Requests in flight when SIGTERM arrives are answered before the server
    exits: every payment it committed reached its client."""
    accounts = [funded_account(1_000_000) for _ in range(8)]
    s = Server()
    run = uuid.uuid4().hex[:12]
    got_201 = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 20

    def client(seed):
        rng = random.Random(seed)
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        while time.monotonic() < stop_at:
            a, b = rng.sample(accounts, 2)
            body = json.dumps({"from_account": a, "to_account": b, "amount": 1,
                               "currency": "USD", "metadata": {"run": run}})
            try:
                c.request("POST", "/v1/payments", body=body,
                          headers={"Authorization": "Bearer " + KEY_A,
                                   "Idempotency-Key": str(uuid.uuid4())})
                r = c.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException):
                return  # the server stopped; a request it never took is fine
            if r.status == 201:
                with lock:
                    got_201.append(json.loads(data)["id"])
            if r.getheader("Connection", "").lower() == "close":
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    assert s.stop() == 0
    for t in threads:
        t.join()
    committed = set(r[0] for r in sql(
        f"SELECT id FROM payments WHERE metadata->>'run' = '{run}'"))
    assert len(got_201) > 0
    assert committed == set(got_201), (len(committed), len(got_201))
    assert s.sanitizer_clean()


def test_migrate_applies_changed_functions_every_time():
    """db/functions is applied on every run: a function changed (or broken)
    in a database gets the committed definition back."""
    original = sql_value("SELECT fs_ts('2026-01-02 03:04:05+00')")
    sql("CREATE OR REPLACE FUNCTION fs_ts(t timestamptz) RETURNS text "
        "LANGUAGE sql IMMUTABLE AS $$ SELECT 'stale' $$")
    try:
        assert sql_value("SELECT fs_ts(now())") == "stale"
        e = dict(os.environ, FINSYS_DATABASE_URL=DATABASE_URL)
        r = subprocess.run([BIN, "migrate"], env=e, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r
    finally:
        restored = sql_value("SELECT fs_ts('2026-01-02 03:04:05+00')")
    assert restored == original == "2026-01-02T03:04:05.000000Z", (restored, original)
