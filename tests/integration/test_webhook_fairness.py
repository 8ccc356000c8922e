"""Webhook fairness (issue 13, docs/operations.md "Webhook fairness"): one
tenant's dead or trickling endpoints must not stall the other tenants'
webhooks. Tenant B registers 16 endpoints that black-hole (accept the TCP
connection and never answer) or trickle (answer a byte a second, never
finishing) and makes events; tenant A, with a healthy receiver, makes events
at the same time. A's deliveries all arrive, each within 2 s of its event;
B's attempts end at the total deadline (FINSYS_WEBHOOK_TIMEOUT_MS, not reset
by each trickled byte), and B's endpoints' breakers open and skip them.

Everything listens on 127.0.0.1 (the suite allows loopback destinations) and
stops by itself."""

import json
import socket
import threading
import time

from harness import sql, sql_value
from test_webhooks import Receiver, _api, _endpoint, _funded_pair, _stop, _tenant_key
from test_settle_pipeline import Pipeline

TIMEOUT_MS = 3000  # the pipeline's FINSYS_WEBHOOK_TIMEOUT_MS: B's attempts' deadline
LAG_MAX_S = 2.0    # A's delivery lag: the event's created_at to its arrival


class BadReceiver:
    """A listener on a free loopback port that accepts connections and never
    answers (trickle=False), or answers one byte a second, forever
    (trickle=True: "HTTP/1.1 200 OK..." never ends within a deadline)."""

    def __init__(self, trickle):
        self.trickle = trickle
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.conns = []
        self.accepted = 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        if trickle:
            self.threads.append(threading.Thread(target=self._trickle, daemon=True))
        for t in self.threads:
            t.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.conns.append(c)

    def _trickle(self):
        line = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        sent = {}
        while not self.stopping.wait(1.0):
            for c in list(self.conns):
                i = sent.get(c, 0)
                try:
                    c.sendall(line[i % len(line):i % len(line) + 1])
                except OSError:
                    self.conns.remove(c)
                sent[c] = i + 1

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


def _pay(pl, key, a, b):
    status, p = _api(pl, key, "POST", "/v1/payments",
                     {"from_account": a, "to_account": b, "amount": 1, "currency": "USD"})
    assert status == 201, p


def test_a_tenants_dead_endpoints_do_not_stall_the_other_tenants_webhooks():
    pl = Pipeline(FINSYS_WEBHOOK_TIMEOUT_MS=TIMEOUT_MS, FINSYS_WEBHOOK_BACKOFF_BASE_MS=1000)
    bad = [BadReceiver(trickle=i % 2 == 1) for i in range(16)]
    good = Receiver()
    try:
        key_a, key_b = _tenant_key(), _tenant_key()
        a1, a2 = _funded_pair(pl, key_a, 10_000)
        b1, b2 = _funded_pair(pl, key_b, 10_000)
        e_a = _endpoint(pl, key_a, good.url, ["*"])
        good.secret = e_a["secret"]
        e_b = [_endpoint(pl, key_b, r.url, ["*"])["id"] for r in bad]
        tenant_b = sql_value(f"SELECT tenant_id FROM webhook_endpoints WHERE id = '{e_b[0]}'")
        tenant_a = sql_value(f"SELECT tenant_id FROM webhook_endpoints WHERE id = "
                             f"'{e_a['id']}'")

        # B: 32 payments as fast as it can (64 events, 1,024 deliveries to
        # endpoints that never answer); A: one payment every 0.2 s meanwhile.
        errors = []

        def flood():
            try:
                for _ in range(32):
                    _pay(pl, key_b, b1, b2)
            except Exception as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        t = threading.Thread(target=flood)
        t.start()
        payments_a = 30
        for _ in range(payments_a):
            _pay(pl, key_a, a1, a2)
            time.sleep(0.2)
        t.join(60)
        assert not errors, errors

        # Every one of A's deliveries arrives, each within LAG_MAX_S of its
        # event (created_at, PostgreSQL's clock, to its arrival, this
        # machine's: the same clock).
        got = good.wait(2 * payments_a, seconds=60)
        wall = time.time() - time.monotonic()
        assert all(ok for _, _, _, ok in got), got
        created = {r[0]: float(r[1]) for r in sql(
            f"SELECT id, extract(epoch FROM created_at) FROM events "
            f"WHERE tenant_id = '{tenant_a}'")}
        lags = sorted(at + wall - created[h["FinSys-Event-Id"]] for at, h, _, _ in got)
        assert len({h["FinSys-Event-Id"] for _, h, _, _ in got}) == 2 * payments_a
        print(f"      A's delivery lag: p50 {lags[len(lags) // 2]:.3f} s, "
              f"max {lags[-1]:.3f} s over {len(lags)} deliveries")
        assert lags[-1] < LAG_MAX_S, lags

        # B's endpoints' breakers open: each is then skipped for its
        # cool-off (its deliveries deferred, not attempted).
        deadline = time.monotonic() + 30
        while True:
            log = pl.workers[0].text()
            opened = {e for e in e_b if f"endpoint {e} (tenant {tenant_b}): circuit open" in log}
            if len(opened) == len(e_b):
                break
            assert time.monotonic() < deadline, (len(opened), log[-3000:])
            time.sleep(0.2)
        # Their deliveries that come back meanwhile are deferred without an
        # attempt (attempts counts POSTs started).
        deadline = time.monotonic() + 20
        while True:
            skipped = int(sql_value(
                f"SELECT count(*) FROM webhook_deliveries WHERE tenant_id = '{tenant_b}' "
                f"AND status = 'pending' AND attempts = 0 AND last_error = 'circuit open'"))
            if skipped > 0:
                break
            assert time.monotonic() < deadline, sql(
                f"SELECT status, attempts, last_error, count(*) FROM webhook_deliveries "
                f"WHERE tenant_id = '{tenant_b}' GROUP BY 1, 2, 3")
            time.sleep(0.2)

        # Each of B's attempts failed by the deadline, the trickled ones too
        # (a byte a second would keep an idle timeout from ever firing).
        rows = sql(f"SELECT attempt_log FROM webhook_deliveries WHERE tenant_id = '{tenant_b}'")
        attempts = [x for r in rows for x in json.loads(r[0])]
        assert attempts, rows[:5]
        assert sql_value(f"SELECT count(*) FROM webhook_deliveries WHERE tenant_id = "
                         f"'{tenant_b}' AND status = 'delivered'") == "0"
        durations = sorted(x["duration_ms"] for x in attempts)
        print(f"      B: {len(attempts)} attempts, {sum(r.accepted for r in bad)} connections, "
              f"{skipped} deliveries skipped by open breakers; attempt durations "
              f"{durations[0]}..{durations[-1]} ms")
        assert all(x["error"] == "timeout or network error" for x in attempts), attempts[:5]
        # The deadline, give or take a loaded machine's timer.
        assert all(TIMEOUT_MS - 100 <= d <= TIMEOUT_MS + 1500 for d in durations), durations
        # Only a few attempts an endpoint: the cap while unproven, then the
        # breaker (FS_NOTIFY_BREAKER_FAILURES and a trial).
        per = sql(f"SELECT endpoint_id, sum(attempts) FROM webhook_deliveries "
                  f"WHERE tenant_id = '{tenant_b}' GROUP BY endpoint_id")
        assert all(int(n) <= 24 for _, n in per), per
        for e in [e_a["id"]] + e_b:
            key = key_a if e == e_a["id"] else key_b
            assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e}")[0] == 200
    finally:
        good.stop()
        for r in bad:
            r.stop()
        _stop(pl)

