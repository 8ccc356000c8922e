"""The provider simulator, `finsys provider-sim`: outcomes at their configured
rates, one charge per idempotency key, the record of charges, outages,
timeouts that still charge, checks of its input, its counters, and a clean
stop. Each test starts its own simulator (the sanitizer build) on a free port
with a seed, and stops it by PID."""

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

from harness import free_port

BIN = os.environ["FINSYS_BIN"]
TMP = os.environ["FINSYS_TEST_TMP"]

DECLINE_CODES = {"card_declined", "insufficient_funds", "do_not_honor", "expired_card"}
STAT_PARTS = ["approved", "declined", "duplicates", "errors", "outage_rejections", "conflicts",
              "rejected", "limit_rejections"]


class Sim:
    """A `finsys provider-sim` of this test's own, on a free port."""

    def __init__(self, *args, seed=1234):
        self.port = free_port()
        self.log_path = os.path.join(TMP, f"provider-sim-{self.port}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [BIN, "provider-sim", "--port", str(self.port), "--seed", str(seed), *args],
            stderr=self.log, stdout=subprocess.DEVNULL)
        self.conn = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.call("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                self.conn = None
                time.sleep(0.05)
        self.stop()
        raise AssertionError("the provider simulator did not start")

    def call(self, method, path, body=None, raw=None, timeout=30, fresh=False):
        """One request; keep-alive unless fresh. Returns (status, json, headers)."""
        if fresh or self.conn is None:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        else:
            c = self.conn
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        try:
            c.request(method, path, body=data,
                      headers={"Content-Type": "application/json"} if data else {})
            r = c.getresponse()
            text = r.read().decode()
        except (http.client.HTTPException, OSError):
            c.close()
            if not fresh:
                self.conn = None
            raise
        if fresh:
            c.close()
        else:
            self.conn = c
        return r.status, (json.loads(text) if text else None), dict(r.getheaders())

    def charge(self, key, amount=1000, currency="USD", **extra):
        return self.call("POST", "/charges", dict(idempotency_key=key, amount=amount,
                                                  currency=currency, **extra))

    def control(self, **fields):
        status, body, _ = self.call("POST", "/control", fields)
        assert status == 200, (status, body)
        return body

    def stats(self):
        status, body, _ = self.call("GET", "/stats")
        assert status == 200, (status, body)
        return body

    def stop(self):
        """SIGTERM, then the exit status (None if it had to be killed)."""
        if self.conn is not None:
            self.conn.close()
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = None
        self.log.close()
        return rc

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def sanitizer_clean(self):
        text = self.log_text()
        return "Sanitizer" not in text and "runtime error:" not in text


def stopped_cleanly(sim):
    assert sim.stop() == 0, sim.log_text()[-3000:]
    assert sim.sanitizer_clean(), sim.log_text()[-3000:]


def assert_stats_add_up(s):
    assert s["requests"] == sum(s[k] for k in STAT_PARTS), s
    assert s["charges_recorded"] == s["approved"] + s["declined"], s


def key():
    return "pay_" + uuid.uuid4().hex


def test_outcomes_match_the_configured_rates():
    sim = Sim("--latency", "fixed", "--latency-ms", "0", "--decline-rate", "0.2",
              "--error-rate", "0.1")
    try:
        n = 2000
        seen = {"approved": 0, "declined": 0, "error": 0}
        errored = []
        for _ in range(n):
            k = key()
            status, body, _ = sim.charge(k)
            if status == 500:
                assert body["error"]["code"] == "simulated_error", body
                seen["error"] += 1
                errored.append(k)
            else:
                assert status == 200, (status, body)
                assert body["idempotency_key"] == k and body["id"].startswith("ch_"), body
                seen[body["status"]] += 1
                if body["status"] == "declined":
                    assert body["decline_code"] in DECLINE_CODES, body
                else:
                    assert body["status"] == "approved" and body["decline_code"] is None, body
        # Loose bounds: about 8 standard deviations wide, never flaky.
        assert 0.62 * n <= seen["approved"] <= 0.78 * n, seen
        assert 0.13 * n <= seen["declined"] <= 0.27 * n, seen
        assert 0.05 * n <= seen["error"] <= 0.15 * n, seen
        # A simulated error charged nothing.
        for k in errored[:20]:
            assert sim.call("GET", "/charges/" + k)[0] == 404
        s = sim.stats()
        assert s["requests"] == n and s["approved"] == seen["approved"], (s, seen)
        assert s["declined"] == seen["declined"] and s["errors"] == seen["error"], (s, seen)
        assert s["charges_recorded"] == seen["approved"] + seen["declined"], s
        assert s["duplicates"] == 0 and s["timeouts"] == 0 and s["in_flight"] == 0, s
        assert_stats_add_up(s)
    finally:
        stopped_cleanly(sim)


def test_a_repeated_key_returns_the_same_charge_once():
    sim = Sim("--latency", "fixed", "--latency-ms", "1", "--error-rate", "0")
    try:
        k = key()
        s1, first, h1 = sim.charge(k, amount=2500, currency="EUR", payment_id=k,
                                   request_id="req_1")
        assert s1 == 200 and first["status"] in ("approved", "declined"), first
        assert first["amount"] == 2500 and first["currency"] == "EUR", first
        assert first["payment_id"] == k and first["request_id"] == "req_1", first
        assert "Idempotent-Replayed" not in h1, h1
        for _ in range(3):
            s2, again, h2 = sim.charge(k, amount=2500, currency="EUR")
            assert s2 == 200 and again == first, (again, first)
            assert h2.get("Idempotent-Replayed") == "true", h2
        # The same key with another amount or currency is another charge: refused.
        status, body, _ = sim.charge(k, amount=2501, currency="EUR")
        assert status == 409 and body["error"]["code"] == "idempotency_key_reuse", body
        assert body["error"]["param"] == "idempotency_key", body
        status, body, _ = sim.charge(k, amount=2500, currency="USD")
        assert status == 409, body
        s = sim.stats()
        assert s["requests"] == 6 and s["charges_recorded"] == 1, s
        assert s["duplicates"] == 3 and s["conflicts"] == 2, s
        assert s["approved"] + s["declined"] == 1, s
        assert_stats_add_up(s)
        status, rec, _ = sim.call("GET", "/charges/" + k)
        assert status == 200 and rec["id"] == first["id"] and rec["repeats"] == 3, rec
    finally:
        stopped_cleanly(sim)


def test_get_charge_by_key():
    sim = Sim("--latency", "fixed", "--latency-ms", "0", "--error-rate", "0",
              "--decline-rate", "1")
    try:
        k = "order 7/2026?x=1&y=%"  # any printable ASCII, percent-encoded in the path
        status, body, _ = sim.charge(k, amount=99, currency="JPY")
        assert status == 200 and body["status"] == "declined", body
        path = "/charges/" + urllib.parse.quote(k, safe="")
        status, rec, _ = sim.call("GET", path)
        assert status == 200, rec
        assert rec["id"] == body["id"] and rec["idempotency_key"] == k, rec
        assert rec["status"] == "declined" and rec["decline_code"] in DECLINE_CODES, rec
        assert rec["amount"] == 99 and rec["currency"] == "JPY" and rec["repeats"] == 0, rec
        status, err, _ = sim.call("GET", "/charges/" + key())
        assert status == 404 and err["error"]["code"] == "not_found", err
        status, err, _ = sim.call("GET", "/charges/" + "k" * 256)
        assert status == 400 and err["error"]["param"] == "idempotency_key", err
        status, err, _ = sim.call("GET", "/charges/a%0Ab")
        assert status == 400 and err["error"]["param"] == "idempotency_key", err
    finally:
        stopped_cleanly(sim)


def test_outage_fails_every_call_then_recovers():
    sim = Sim("--latency", "fixed", "--latency-ms", "0", "--error-rate", "0",
              "--decline-rate", "0")
    try:
        assert sim.charge(key())[0] == 200
        cfg = sim.control(outage_ms=1500)
        assert 0 < cfg["outage_ms"] <= 1500, cfg
        started = time.monotonic()
        keys = [key() for _ in range(20)]
        for k in keys:
            status, body, headers = sim.charge(k)
            assert status == 503 and body["error"]["code"] == "provider_outage", body
            assert int(headers["Retry-After"]) >= 1, headers
        # Nothing was charged, and the control plane still answers.
        assert sim.call("GET", "/healthz")[0] == 200
        s = sim.stats()
        assert s["outage_rejections"] == 20 and s["charges_recorded"] == 1, s
        assert time.monotonic() - started < 1.4, "the calls took too long to test the outage"
        while sim.call("GET", "/control")[1]["outage_ms"] > 0:
            assert time.monotonic() - started < 10
            time.sleep(0.05)
        assert time.monotonic() - started >= 1.45
        for k in keys:
            status, body, _ = sim.charge(k)
            assert status == 200 and body["status"] == "approved", body
        # An outage can also be ended early.
        sim.control(outage_ms=60_000)
        assert sim.charge(key())[0] == 503
        assert sim.control(outage_ms=0)["outage_ms"] == 0
        assert sim.charge(key())[0] == 200
        s = sim.stats()
        assert s["outage_rejections"] == 21 and s["approved"] == 22, s
        assert_stats_add_up(s)
    finally:
        stopped_cleanly(sim)


def test_a_timed_out_call_is_charged_and_answered_late():
    sim = Sim("--latency", "fixed", "--latency-ms", "0", "--error-rate", "0")
    try:
        sim.control(timeout_rate=1.0, timeout_after_ms=1500)
        k = key()
        started = time.monotonic()
        try:
            sim.call("POST", "/charges", {"idempotency_key": k, "amount": 700,
                                          "currency": "USD"}, timeout=1.0, fresh=True)
            raise AssertionError("the call was answered before the caller's timeout")
        except socket.timeout:
            pass
        assert time.monotonic() - started >= 0.95
        # The charge happened: the caller can find out what became of it.
        status, rec, _ = sim.call("GET", "/charges/" + k)
        assert status == 200 and rec["amount"] == 700, rec
        assert rec["status"] in ("approved", "declined"), rec
        # A patient caller gets the answer, late, and it is the recorded charge.
        started = time.monotonic()
        status, again, headers = sim.call("POST", "/charges", {"idempotency_key": k,
                                                               "amount": 700,
                                                               "currency": "USD"},
                                          timeout=10, fresh=True)
        assert time.monotonic() - started >= 1.45
        assert status == 200 and again["id"] == rec["id"], (again, rec)
        assert headers.get("Idempotent-Replayed") == "true", headers
        s = sim.stats()
        assert s["timeouts"] == 2 and s["charges_recorded"] == 1 and s["duplicates"] == 1, s
        assert_stats_add_up(s)
        sim.control(timeout_rate=0)
        started = time.monotonic()
        assert sim.charge(key())[0] == 200
        assert time.monotonic() - started < 1
    finally:
        stopped_cleanly(sim)


def test_latency_holds_the_answer_not_the_loop():
    sim = Sim("--latency", "fixed", "--latency-ms", "300", "--error-rate", "0")
    try:
        # Five calls on five connections at once finish in about one latency.
        times = []

        def one():
            t = time.monotonic()
            assert sim.call("POST", "/charges", {"idempotency_key": key(), "amount": 1,
                                                 "currency": "USD"}, fresh=True)[0] == 200
            times.append(time.monotonic() - t)

        started = time.monotonic()
        threads = [threading.Thread(target=one) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(times) == 5 and min(times) >= 0.29, times
        assert time.monotonic() - started < 1.2, times
    finally:
        stopped_cleanly(sim)


def test_bad_input_gets_400_naming_the_parameter():
    sim = Sim("--latency", "fixed", "--latency-ms", "0")
    try:
        good = {"idempotency_key": "k1", "amount": 100, "currency": "USD"}
        cases = [
            ({"amount": 100, "currency": "USD"}, "idempotency_key"),
            (dict(good, idempotency_key=""), "idempotency_key"),
            (dict(good, idempotency_key="k" * 256), "idempotency_key"),
            (dict(good, idempotency_key="tab\there"), "idempotency_key"),
            (dict(good, amount=0), "amount"),
            (dict(good, amount=-1), "amount"),
            (dict(good, amount=1.5), "amount"),
            (dict(good, amount="100"), "amount"),
            (dict(good, amount=2**63), "amount"),
            ({"idempotency_key": "k1", "amount": 100}, "currency"),
            (dict(good, currency="usd"), "currency"),
            (dict(good, currency="DOLLARS"), "currency"),
            (dict(good, payment_id=12), "payment_id"),
            (dict(good, request_id=""), "request_id"),
            (dict(good, tip=5), "tip"),
        ]
        for body, param in cases:
            status, err, _ = sim.call("POST", "/charges", body)
            assert status == 400, (body, status, err)
            e = err["error"]
            assert set(e) == {"type", "code", "message", "param"}, err
            assert e["type"] == "invalid_request_error" and e["code"] == "invalid_request", err
            assert e["param"] == param and e["message"], (body, err)
        for raw in ["not json", "[1, 2]", ""]:
            status, err, _ = sim.call("POST", "/charges", raw=raw)
            assert status == 400 and err["error"]["code"] == "invalid_request", (raw, err)
        status, err, _ = sim.call("POST", "/charges", raw='{"idempotency_key": "' + "x" * 70000
                                  + '", "amount": 1, "currency": "USD"}')
        assert status == 413 and err["error"]["code"] == "request_too_large", err
        # Nothing was charged by any of them.
        assert sim.call("GET", "/charges/k1")[0] == 404
        # The control endpoint checks its fields the same way, all or nothing.
        before = sim.call("GET", "/control")[1]
        for fields, param in [({"decline_rate": 1.5}, "decline_rate"),
                              ({"latency": "gaussian"}, "latency"),
                              ({"error_rate": 0.01, "timeout_after_ms": 0}, "timeout_after_ms"),
                              ({"latency_median_ms": 30, "latency_p99_ms": 20}, "latency_p99_ms"),
                              ({"decline_rate": 0.7, "error_rate": 0.5}, "decline_rate"),
                              ({"speed": "fast"}, "speed")]:
            status, err, _ = sim.call("POST", "/control", fields)
            assert status == 400 and err["error"]["param"] == param, (fields, err)
        assert sim.call("GET", "/control")[1] == before
        # Routes and methods.
        status, err, _ = sim.call("GET", "/nope")
        assert status == 404 and err["error"]["code"] == "not_found", err
        status, err, headers = sim.call("GET", "/charges")
        assert status == 405 and headers.get("Allow") == "POST", (err, headers)
        status, err, headers = sim.call("DELETE", "/charges/k1")
        assert status == 405 and headers.get("Allow") == "GET", (err, headers)
        status, err, headers = sim.call("PUT", "/control", {})
        assert status == 405 and headers.get("Allow") == "GET, POST", (err, headers)
        assert sim.call("POST", "/stats", {})[0] == 405
        s = sim.stats()
        assert s["rejected"] == len(cases) + 4 and s["charges_recorded"] == 0, s
        assert_stats_add_up(s)
    finally:
        stopped_cleanly(sim)


def test_a_seed_replays_the_same_outcomes():
    outcomes = []
    for _ in range(2):
        sim = Sim("--latency", "fixed", "--latency-ms", "0", "--decline-rate", "0.3",
                  "--error-rate", "0.2", seed=99)
        try:
            run = []
            for i in range(200):
                status, body, _ = sim.charge(f"seeded-{i}")
                run.append((status, body.get("status"), body.get("decline_code")))
            outcomes.append(run)
            # Setting the seed again restarts the sequence.
            sim.control(seed=99)
            again = [sim.charge(f"again-{i}") for i in range(50)]
            assert [(st, b.get("status"), b.get("decline_code")) for st, b, _ in again] \
                == [(st, s2, d) for st, s2, d in run[:50]]
        finally:
            stopped_cleanly(sim)
    assert outcomes[0] == outcomes[1]
    assert len({o[0] for o in outcomes[0]}) == 2  # both 200s and 500s happened


def test_stats_add_up_over_a_mixed_run():
    sim = Sim("--latency", "uniform", "--latency-min-ms", "0", "--latency-max-ms", "2",
              "--decline-rate", "0.25", "--error-rate", "0.15")
    try:
        keys = [key() for _ in range(150)]
        for i in range(400):
            k = keys[i % len(keys)]
            sim.charge(k, amount=1000 if i % 37 else 1001)
        sim.call("POST", "/charges", {"amount": 1})
        sim.control(outage_ms=60_000)
        sim.charge(key())
        sim.control(outage_ms=0)
        s = sim.stats()
        assert s["requests"] == 402, s
        assert s["duplicates"] > 0 and s["conflicts"] > 0 and s["errors"] > 0, s
        assert s["declined"] > 0 and s["rejected"] == 1 and s["outage_rejections"] == 1, s
        assert s["charges_recorded"] <= len(keys), s
        assert_stats_add_up(s)
        # Every recorded charge is found by its key, exactly once.
        found = 0
        for k in keys:
            status, rec, _ = sim.call("GET", "/charges/" + k)
            if status == 200:
                found += 1
                assert rec["idempotency_key"] == k, rec
        assert found == s["charges_recorded"], (found, s)
    finally:
        stopped_cleanly(sim)


def test_sigterm_with_answers_in_flight_exits_cleanly():
    sim = Sim("--timeout-rate", "1", "--timeout-after-ms", "600000", "--error-rate", "0")
    socks = []
    try:
        body = json.dumps({"idempotency_key": "held", "amount": 5, "currency": "USD"})
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
            s.sendall((f"POST /charges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                       f"\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
            socks.append(s)
        deadline = time.monotonic() + 10
        while sim.stats()["in_flight"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        socks.pop().close()  # one caller has gone away already
        started = time.monotonic()
        assert sim.stop() == 0, sim.log_text()[-3000:]
        assert time.monotonic() - started < 10
        assert sim.sanitizer_clean(), sim.log_text()[-3000:]
        log = sim.log_text()
        assert "stopping" in log, log[-1000:]
        assert "3 answers in flight dropped" in log, log[-1000:]
    finally:
        for s in socks:
            s.close()
        sim.stop()


def test_command_line():
    r = subprocess.run([BIN, "provider-sim", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "--decline-rate" in r.stdout and "/control" in r.stdout, r
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "provider-sim" in r.stdout, r
    for args, named in [(["--decline-rate", "2"], "--decline-rate"),
                        (["--latency", "normal"], "--latency"),
                        (["--port", "0"], "--port"),
                        (["--frobnicate", "1"], "--frobnicate")]:
        r = subprocess.run([BIN, "provider-sim", *args], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2 and named in r.stderr, (args, r)
    # FINSYS_PROVIDER_PORT is the default port; a taken port fails with 1.
    port = free_port()
    proc = subprocess.Popen([BIN, "provider-sim"], env=dict(os.environ,
                                                            FINSYS_PROVIDER_PORT=str(port)),
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/control")
                r = c.getresponse()
                cfg = json.loads(r.read())
                c.close()
                break
            except OSError:
                assert time.monotonic() < deadline, "no simulator on FINSYS_PROVIDER_PORT"
                time.sleep(0.05)
        # The realistic default.
        assert cfg["latency"] == "lognormal" and cfg["latency_median_ms"] == 5, cfg
        assert cfg["latency_p99_ms"] == 25 and cfg["decline_rate"] == 0.01, cfg
        assert cfg["error_rate"] == 0.005 and cfg["timeout_rate"] == 0, cfg
        assert cfg["timeout_after_ms"] == 30000 and cfg["outage_ms"] == 0, cfg
        taken = subprocess.run([BIN, "provider-sim", "--port", str(port)], capture_output=True,
                               text=True, timeout=30)
        assert taken.returncode == 1 and "cannot listen" in taken.stderr, taken
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Sanitizer" not in err and "runtime error:" not in err, err
