"""Reads on a streaming replica (issue 14, docs/operations.md "Reads on the
replica"): with FINSYS_DATABASE_READ_URL a server's lists run on the
replica; a tenant's list after its own write, through this process or
another, shows the write; a replica that has not replayed what the primary
had FS_READ_REPLICA_LAG_MAX_MS before the request serves nothing and the
primary reads instead; a replica that stops costs no error.

The replica is a real one: pg_basebackup -R of the test PostgreSQL
(scripts/stack.sh's fs_pg_replica_start), on a port of its own; its replay
is paused with pg_wal_replay_pause() to make it as stale as needed. Two
servers read it, started here; the run's server (no read URL) is "another
process" too."""

import http.client
import json
import os
import re
import signal
import subprocess
import time
import uuid

from harness import (DATABASE_URL, FINSYS_BIN, TEST_TMP, Proc, free_port, funded_account,
                     new_account, new_api_key, pay)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# src/core/limits.h, "reads on the replica (issue 14)".
LAG_MAX_MS = 1000


class _Replica:
    def __init__(self):
        self.dir = os.path.join(TEST_TMP, f"replica-{uuid.uuid4().hex[:8]}")
        self.port = free_port()
        primary = re.search(r"port=(\d+)", DATABASE_URL).group(1)
        self._stack("fs_pg_replica_start", self.dir, primary, str(self.port))
        self.url = f"host=127.0.0.1 port={self.port} dbname=finsys user=postgres"

    def _stack(self, fn, *args):
        return subprocess.run(["bash", "-c", f'source scripts/stack.sh && {fn} "$@"', "stack",
                               *args], cwd=ROOT, check=True, capture_output=True, text=True,
                              timeout=120).stdout.strip()

    def sql(self, query):
        return subprocess.run(["psql", self.url, "-XqAt", "-v", "ON_ERROR_STOP=1", "-c", query],
                              check=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()

    def kill(self):
        """A fast shutdown, by the postmaster's PID."""
        pid = int(self._stack("fs_pg_pid", self.dir))
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise AssertionError("the replica did not stop")

    def remove(self):
        self._stack("fs_pg_stop", self.dir)
        self._stack("fs_pg_forget", self.dir)


def _server(read_url):
    port = free_port()
    proc = Proc("server-replica", [FINSYS_BIN, "server"], port=port,
                env={"FINSYS_HTTP_PORT": port, "FINSYS_HTTP_THREADS": 1,
                     "FINSYS_DATABASE_READ_URL": read_url})
    proc.port = port
    return proc


def _call(port, method, path, key, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Authorization": "Bearer " + key} if key else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h.update({"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read().decode()
    c.close()
    return r.status, (json.loads(raw) if raw.startswith("{") else raw)


def _listed(port, key):
    """The ids of the tenant's latest payments, as this server lists them. A
    503 read_timeout (a read backend starved of CPU on a loaded machine) is
    retried, as a client would."""
    for _ in range(3):
        status, body = _call(port, "GET", "/v1/payments?limit=20", key)
        if status != 503 or body["error"]["code"] != "read_timeout":
            break
    assert status == 200, body
    return {p["id"] for p in body["data"]}


def _reads(port, to, why):
    _, text = _call(port, "GET", "/metrics", None)
    m = re.search(r'^finsys_reads_total\{to="%s",why="%s"\} (\d+)$' % (to, why), text, re.M)
    return int(m.group(1)) if m else 0


def _lag_s(port):
    _, text = _call(port, "GET", "/metrics", None)
    return float(re.search(r"^finsys_read_replica_lag_seconds (\S+)$", text, re.M).group(1))


def test_lists_read_the_replica_within_the_bound_and_a_tenant_sees_its_writes():
    replica = _Replica()
    servers = []
    try:
        servers = [_server(replica.url + " application_name=finsys-test-reads") for _ in range(2)]
        s1, s2 = servers[0].port, servers[1].port
        key_a = new_api_key(f"replica-a-{uuid.uuid4().hex[:8]}")
        key_b = new_api_key(f"replica-b-{uuid.uuid4().hex[:8]}")
        a_from, a_to = funded_account(10_000, key=key_a), new_account("USD", key=key_a)
        b_from, b_to = funded_account(10_000, key=key_b), new_account("USD", key=key_b)
        before = pay(b_from, b_to, 10, key=key_b).json["id"]

        # Caught up, the replica serves the lists: counted, and seen from
        # the replica's own pg_stat_activity.
        deadline = time.monotonic() + 20
        while before not in _listed(s1, key_b) or _reads(s1, "replica", "fresh") == 0:
            assert time.monotonic() < deadline, _call(s1, "GET", "/metrics", None)[1][-3000:]
            time.sleep(0.1)
        assert int(replica.sql("SELECT count(*) FROM pg_stat_activity "
                               "WHERE application_name = 'finsys-test-reads'")) >= 2
        # So do the admin console's reads.
        operator = new_api_key(f"replica-op-{uuid.uuid4().hex[:8]}", admin=True)
        fresh = _reads(s1, "replica", "fresh")
        for _ in range(10):  # (one the replica could not serve went to the primary)
            status, page = _call(s1, "GET", "/admin/api/payments?limit=5", operator)
            assert status == 200 and page["object"] == "list", page
            if _reads(s1, "replica", "fresh") > fresh:
                break
            time.sleep(0.2)
        assert _reads(s1, "replica", "fresh") == fresh + 1

        replica.sql("SELECT pg_wal_replay_pause()")
        late = pay(b_from, b_to, 11, key=key_b).json["id"]  # through the run's server
        t_b = time.monotonic()  # committed before this

        # Read-your-writes through another process (rw:<tenant> in Redis)...
        marked = _reads(s1, "primary", "own_write_redis")
        status, q = _call(s2, "POST", "/v1/payments",
                          key_a, {"from_account": a_from, "to_account": a_to, "amount": 13,
                                  "currency": "USD"})
        assert status == 201, q
        assert q["id"] in _listed(s1, key_a)
        assert _reads(s1, "primary", "own_write_redis") >= marked + 1
        # ... and through the same process (known without asking Redis).
        own = _reads(s1, "primary", "own_write")
        status, p = _call(s1, "POST", "/v1/payments",
                          key_a, {"from_account": a_from, "to_account": a_to, "amount": 12,
                                  "currency": "USD"})
        assert status == 201, p
        assert p["id"] in _listed(s1, key_a)
        assert _reads(s1, "primary", "own_write") >= own + 1

        # An operator's write through another process, read back in the
        # console (rw:actor:<id>).
        marked = _reads(s1, "primary", "own_write_redis")
        status, c = _call(s2, "POST", f"/admin/api/payments/{p['id']}/cancel", operator,
                          {"reason": "replica test"})
        assert status == 200 and c["status"] == "canceled", c
        status, d = _call(s1, "GET", f"/admin/api/payments/{p['id']}", operator)
        assert status == 200 and d["payment"]["status"] == "canceled", d
        assert _reads(s1, "primary", "own_write_redis") >= marked + 1

        # B wrote through another process that marks nothing: once the bound
        # has passed, the paused replica is stale for its list, which the
        # primary serves, with the payment.
        time.sleep(max(0.0, t_b + LAG_MAX_MS / 1000 + 0.2 - time.monotonic()))
        # (no_sample: a sampler held up for the bound on a loaded machine.)
        stale = _reads(s1, "primary", "stale") + _reads(s1, "primary", "no_sample")
        assert late in _listed(s1, key_b)
        assert _reads(s1, "primary", "stale") + _reads(s1, "primary", "no_sample") >= stale + 1
        # At least since the first sample after B's payment.
        assert _lag_s(s1) >= LAG_MAX_MS / 1000 / 2

        # Replay resumed: the replica serves B's list again, payment and all.
        replica.sql("SELECT pg_wal_replay_resume()")
        fresh = _reads(s1, "replica", "fresh")
        deadline = time.monotonic() + 20
        while _reads(s1, "replica", "fresh") == fresh:
            assert time.monotonic() < deadline
            assert late in _listed(s1, key_b)
            time.sleep(0.1)

        # The replica stopped: lists still answer, from the primary.
        replica.kill()
        for _ in range(3):
            assert late in _listed(s1, key_b)
        assert _reads(s1, "primary", "replica_down") + _reads(s1, "primary", "replica_failed") >= 3
        deadline = time.monotonic() + 10
        while "the replica (FINSYS_DATABASE_READ_URL) is not connected" not in servers[0].text():
            assert time.monotonic() < deadline, servers[0].text()[-3000:]
            _listed(s1, key_b)
            time.sleep(0.1)
    finally:
        codes = [s.stop() for s in servers]
        replica.remove()
    assert codes == [0] * len(servers), codes
    for s in servers:
        assert s.sanitizer_clean(), s.text()[-3000:]
