"""The admin console's server side (issue 11): the built console's files
under /admin/ and the live stream GET /admin/api/stream.

A stack of this module's own, started once and stopped by PID by the last
test: a nats-server, the provider simulator, a `finsys server` whose
FINSYS_WEB_DIR is a tiny fake dist made here (the real console is built
elsewhere) and whose keep-alive is short, and a `finsys worker` whose search
indexer publishes the events it takes on core NATS."""

import atexit
import http.client
import json
import os
import select
import socket
import time
import uuid

from harness import (KEY_A, FINSYS_BIN, TEST_TMP, Proc, free_port, funded_account, new_account,
                     new_api_key, sql)

INDEX = b"<!doctype html><html><head><script type=module src=/admin/assets/index-a1b2c3.js>" \
        b"</script></head><body><div id=root></div></body></html>"
ASSET_JS = b"console.log('finsys console');\n"
ASSET_CSS = b"body{margin:0}\n"
KEEPALIVE_MS = 300


class Stack:
    def __init__(self):
        self.procs = []
        self.dist = os.path.join(TEST_TMP, f"dist-{uuid.uuid4().hex[:8]}")
        os.makedirs(os.path.join(self.dist, "assets"))
        for name, data in (("index.html", INDEX), ("assets/index-a1b2c3.js", ASSET_JS),
                           ("assets/index-d4e5f6.css", ASSET_CSS), ("robots.txt", b"x\n")):
            with open(os.path.join(self.dist, name), "wb") as f:
                f.write(data)
        nats_port = free_port()
        store = os.path.join(TEST_TMP, f"nats-{uuid.uuid4().hex[:8]}")
        self._start("nats", ["nats-server", "-js", "-sd", store, "-a", "127.0.0.1",
                             "-p", str(nats_port)], port=nats_port)
        nats_url = f"nats://127.0.0.1:{nats_port}"
        sim_port = free_port()
        self._start("provider", [FINSYS_BIN, "provider-sim", "--port", str(sim_port), "--seed",
                                 "7", "--decline-rate", "0", "--error-rate", "0", "--latency",
                                 "fixed", "--latency-ms", "2"], port=sim_port)
        self.port = free_port()
        self.server = self._start("server", [FINSYS_BIN, "server"], port=self.port, env={
            "FINSYS_HTTP_PORT": self.port, "FINSYS_NATS_URL": nats_url,
            "FINSYS_WEB_DIR": self.dist, "FINSYS_ADMIN_STREAM_KEEPALIVE_MS": KEEPALIVE_MS})
        self.worker = self._start("worker", [FINSYS_BIN, "worker"], env={
            "FINSYS_NATS_URL": nats_url, "FINSYS_PROVIDER_URL": f"http://127.0.0.1:{sim_port}",
            "FINSYS_WORKER_PORT": free_port(), "FINSYS_SWEEP_AFTER_S": 86400})
        deadline = time.monotonic() + 20
        while "settling from" not in self.worker.text():
            assert self.worker.proc.poll() is None, self.worker.text()[-2000:]
            assert time.monotonic() < deadline, self.worker.text()[-2000:]
            time.sleep(0.05)
        self.admin_key = new_api_key("test-a", admin=True)

    def _start(self, name, argv, port=None, env=None):
        p = Proc(name, argv, env=env, port=port)
        self.procs.append(p)
        return p

    def stop(self):
        clean = True
        for p in reversed(self.procs):
            code = p.stop()
            if p.name in ("server", "worker", "provider"):
                clean = clean and code == 0 and p.sanitizer_clean()
        self.procs = []
        return clean


_stack = None


def stack():
    global _stack
    if _stack is None:
        _stack = Stack()
        atexit.register(_stack.stop)
    return _stack


def call(method, path, headers=None, body=None, port=None):
    c = http.client.HTTPConnection("127.0.0.1", port or stack().port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    raw = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, raw


class Stream:
    """An open GET /admin/api/stream, read as SSE frames."""

    def __init__(self, key=None, headers=None, source=None, port=None):
        h = {"Accept": "text/event-stream"}
        if key is not None:
            h["Authorization"] = "Bearer " + key
        h.update(headers or {})
        self.conn = http.client.HTTPConnection(
            "127.0.0.1", port or stack().port, timeout=10,
            source_address=(source, 0) if source else None)
        self.conn.request("GET", "/admin/api/stream", headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.body = self.resp.read() if self.status != 200 else None

    def frame(self, seconds=10):
        """The next frame: a list of its lines (without the blank line);
        None at the end of the stream."""
        self.conn.sock.settimeout(seconds)
        lines = []
        while True:
            line = self.resp.readline()
            if not line:
                return None if not lines else lines
            line = line.decode().rstrip("\n")
            if line == "":
                if lines:
                    return lines
                continue
            lines.append(line)

    def until(self, pred, seconds=10):
        """Frames until one satisfies pred; that one (parsed)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            f = self.frame(max(0.1, deadline - time.monotonic()))
            assert f is not None, "the stream ended"
            ev = parse(f)
            if pred(ev):
                return ev
        raise AssertionError("no such frame in time")

    def close(self):
        self.conn.close()


def parse(lines):
    ev = {"comment": [], "data": None}
    for line in lines:
        if line.startswith(":"):
            ev["comment"].append(line[1:].strip())
            continue
        k, _, v = line.partition(":")
        v = v[1:] if v.startswith(" ") else v
        if k == "data":
            ev["data"] = json.loads(v)
        else:
            ev[k] = v
    return ev


def pay(src, dst, amount):
    status, _, raw = call("POST", "/v1/payments", {
        "Authorization": "Bearer " + KEY_A, "Idempotency-Key": str(uuid.uuid4()),
        "Content-Type": "application/json"},
        json.dumps({"from_account": src, "to_account": dst, "amount": amount,
                    "currency": "USD"}))
    assert status == 201, (status, raw)
    return json.loads(raw)["id"]


# --- static files ----------------------------------------------------------

def test_console_files_have_their_types_and_caching():
    status, h, raw = call("GET", "/admin/")
    assert status == 200 and raw == INDEX, (status, raw[:200])
    assert h["content-type"] == "text/html; charset=utf-8"
    assert h["cache-control"] == "no-cache"
    assert h["etag"].startswith('"')
    csp = h["content-security-policy"]
    for part in ("default-src 'self'", "img-src 'self' data:",
                 "style-src 'self' 'unsafe-inline'", "frame-src 'self'", "connect-src 'self'"):
        assert part in csp, csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "SAMEORIGIN"
    status, h2, raw = call("GET", "/admin/index.html")
    assert status == 200 and raw == INDEX and h2["etag"] == h["etag"]

    status, h, raw = call("GET", "/admin/assets/index-a1b2c3.js")
    assert status == 200 and raw == ASSET_JS
    assert h["content-type"] == "text/javascript; charset=utf-8"
    assert h["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-security-policy" not in h
    status, h, raw = call("GET", "/admin/assets/index-d4e5f6.css")
    assert status == 200 and h["content-type"] == "text/css; charset=utf-8"
    status, h, raw = call("GET", "/admin/robots.txt")
    assert status == 200 and h["content-type"] == "text/plain; charset=utf-8"

    status, h, raw = call("HEAD", "/admin/assets/index-a1b2c3.js")
    assert status == 200 and raw == b"", (status, raw)
    assert int(h["content-length"]) == len(ASSET_JS)


def test_if_none_match_gets_304():
    _, h, _ = call("GET", "/admin/assets/index-a1b2c3.js")
    status, h2, raw = call("GET", "/admin/assets/index-a1b2c3.js",
                           {"If-None-Match": h["etag"]})
    assert status == 304 and raw == b"", status
    assert h2["etag"] == h["etag"]
    status, _, _ = call("GET", "/admin/", {"If-None-Match": '"0000000000000000", ' + call(
        "GET", "/admin/")[1]["etag"]})
    assert status == 304
    status, _, raw = call("GET", "/admin/", {"If-None-Match": '"0000000000000000"'})
    assert status == 200 and raw == INDEX


def test_deep_links_get_the_page_and_missing_assets_404():
    for path in ("/admin/payments/pay_x", "/admin/accounts/acct_1/journal",
                 "/admin/staff/a.b@c.d", "/admin/payments/"):
        status, h, raw = call("GET", path)
        assert status == 200 and raw == INDEX, (path, status)
        assert h["content-type"].startswith("text/html")
    status, _, raw = call("GET", "/admin/assets/index-old.js")
    assert status == 404 and INDEX not in raw
    status, h, _ = call("GET", "/admin")
    assert status == 301 and h["location"] == "/admin/"
    status, h, _ = call("POST", "/admin/", body=b"{}")
    assert status == 405 and h["allow"] == "GET, HEAD"
    # /admin/api/ is the API's, never the page's.
    status, h, raw = call("GET", "/admin/api/nothing-here")
    assert status != 200 or INDEX not in raw


def test_traversal_is_refused():
    for path in ("/admin/../etc/passwd", "/admin/assets/../../../etc/passwd",
                 "/admin/%2e%2e/%2e%2e/etc/passwd", "/admin/assets/%2E%2E%2F%2E%2E%2Fetc",
                 "/admin//etc/passwd", "/admin/a%5c..%5c..%5cetc", "/admin/%00"):
        status, _, raw = call("GET", path)
        assert status == 400, (path, status)
        assert b"root:" not in raw


def test_without_a_built_console_the_page_says_how_to_build_it():
    port = free_port()
    p = Proc("server", [FINSYS_BIN, "server"], port=port, env={
        "FINSYS_HTTP_PORT": port, "FINSYS_NATS_URL": "",
        "FINSYS_WEB_DIR": os.path.join(TEST_TMP, "no-such-dist")})
    try:
        status, h, raw = call("GET", "/admin/", port=port)
        assert status == 503 and h["content-type"].startswith("text/html"), status
        assert b"make run" in raw and b"FINSYS_WEB_DIR" in raw
        status, _, _ = call("GET", "/healthz", port=port)
        assert status == 200
    finally:
        assert p.stop() == 0 and p.sanitizer_clean()


# --- the live stream -------------------------------------------------------

def test_the_stream_needs_an_admin_key():
    s = Stream()
    assert s.status == 401, s.status
    assert json.loads(s.body)["error"]["code"] == "unauthorized"
    s = Stream(key=KEY_A)
    assert s.status == 403, s.status
    s = Stream(key="fsk_" + "x" * 40)
    assert s.status == 401, s.status
    status, h, _ = call("POST", "/admin/api/stream", {"Authorization": "Bearer " +
                                                      stack().admin_key}, b"{}")
    assert status == 405 and h["allow"] == "GET"


_seen = {}


def test_a_payment_comes_down_the_stream_created_then_succeeded():
    s = Stream(key=stack().admin_key)
    try:
        assert s.status == 200, (s.status, s.body)
        assert s.headers["content-type"].startswith("text/event-stream")
        first = parse(s.frame())
        assert first.get("retry") == "2000", first
        a = funded_account(10_000)
        b = new_account("USD")
        start = time.monotonic()
        pid = pay(a, b, 123)
        created = s.until(lambda e: e.get("event") == "payment" and e["data"]["payment"] == pid
                          and e["data"]["type"] == "payment.created", seconds=10)
        took = time.monotonic() - start
        d = created["data"]
        assert created["id"] == d["id"] and d["id"].startswith("evt_")
        assert set(d) == {"id", "type", "tenant", "payment", "amount", "currency", "status",
                          "created_at", "at"}, d
        assert d["amount"] == 123 and d["currency"] == "USD" and d["status"] == "pending"
        assert d["tenant"] and d["created_at"].endswith("Z") and d["at"].endswith("Z")
        done = s.until(lambda e: e.get("event") == "payment" and e["data"]["payment"] == pid
                       and e["data"]["type"] == "payment.succeeded", seconds=15)
        assert done["data"]["status"] == "succeeded"
        _seen.update(created=created["id"], succeeded=done["id"], payment=pid)
        print(f"    payment.created on the stream {took * 1000:.0f} ms after the POST")
    finally:
        s.close()


def test_last_event_id_replays_what_was_missed():
    assert _seen, "needs the test before"
    s = Stream(key=stack().admin_key, headers={"Last-Event-ID": _seen["created"]})
    try:
        assert s.status == 200
        ev = s.until(lambda e: e.get("event") == "payment", seconds=5)
        # The first event after the one named: the payment's own next is
        # among those replayed.
        ids = [ev["id"]]
        while _seen["succeeded"] not in ids:
            ids.append(s.until(lambda e: e.get("event") == "payment", seconds=2)["id"])
        assert _seen["created"] not in ids
    finally:
        s.close()


def test_an_idle_stream_gets_keep_alives_and_the_breaker_status():
    s = Stream(key=stack().admin_key)
    try:
        assert s.status == 200
        # The last status comes first (the worker published it by now), then
        # keep-alives while nothing happens.
        seen = []
        ka = s.until(lambda e: seen.append(e) or "keep-alive" in e["comment"],
                     seconds=KEEPALIVE_MS / 1000 * 5)
        assert ka["data"] is None
        st = [e for e in seen if e.get("event") == "status"]
        assert st and st[0]["data"]["breaker"]["state"] in ("closed", "open", "half_open"), seen
        assert st[0]["data"]["breaker"]["since"].endswith("Z")
    finally:
        s.close()


def test_a_stream_ends_when_its_authentication_is_old_and_must_reconnect():
    """A stream is authenticated once: after FS_ADMIN_STREAM_REAUTH_S (1 s
    here) it ends with event: end, reason reauthenticate, so a disabled
    member or an ended session cannot keep one open."""
    port = free_port()
    p = Proc("server", [FINSYS_BIN, "server"], port=port, env={
        "FINSYS_HTTP_PORT": port, "FINSYS_NATS_URL": "", "FINSYS_WEB_DIR": stack().dist,
        "FINSYS_ADMIN_STREAM_REAUTH_S": 1})
    try:
        s = Stream(key=stack().admin_key, port=port)
        assert s.status == 200, s.status
        start = time.monotonic()
        ev = s.until(lambda e: e.get("event") == "end", seconds=5)
        assert ev["data"] == {"reason": "reauthenticate"}, ev
        assert s.frame(seconds=5) is None  # the chunked body ended
        assert 0.9 <= time.monotonic() - start <= 4
        s.close()
    finally:
        assert p.stop() == 0 and p.sanitizer_clean()


def test_a_revoked_key_loses_its_open_stream_within_seconds():
    """Between reauthentications a stream's credential is asked about again
    every FS_ADMIN_STREAM_RECHECK_MS (300 ms here): a key revoked while its
    stream is open loses it with event: end, reason unauthorized, not at the
    next reauthentication minutes later; a valid key keeps its stream."""
    port = free_port()
    p = Proc("server", [FINSYS_BIN, "server"], port=port, env={
        "FINSYS_HTTP_PORT": port, "FINSYS_NATS_URL": "", "FINSYS_WEB_DIR": stack().dist,
        "FINSYS_ADMIN_STREAM_RECHECK_MS": 300})
    try:
        key = new_api_key(f"stream-revoke-{uuid.uuid4().hex[:8]}", operator="viewer")
        kept = Stream(key=stack().admin_key, port=port)
        s = Stream(key=key, port=port)
        assert s.status == 200 and kept.status == 200, (s.status, kept.status)
        s.until(lambda e: "connected" in e["comment"], seconds=5)
        kept.until(lambda e: "connected" in e["comment"], seconds=5)
        # Several checks pass: the stream stays open (nothing more comes:
        # keep-alives come every 15 s).
        assert select.select([s.conn.sock], [], [], 1.5)[0] == [], "the stream ended"
        sql(f"UPDATE api_keys SET revoked_at = now() WHERE key_hash = sha256('{key}'::bytea)")
        start = time.monotonic()
        ev = s.until(lambda e: e.get("event") == "end", seconds=5)
        assert ev["data"] == {"reason": "unauthorized"}, ev
        assert time.monotonic() - start < 3
        assert s.frame(seconds=5) is None  # the chunked body ended
        s.close()
        # The other key's stream is still open.
        assert select.select([kept.conn.sock], [], [], 1)[0] == [], "the valid key's stream ended"
        kept.close()
    finally:
        assert p.stop() == 0 and p.sanitizer_clean()


def test_clients_are_limited_per_address_and_per_process():
    per_addr, total = 8, 64  # FS_ADMIN_STREAM_CLIENTS_PER_ADDR_MAX, _CLIENTS_MAX
    key = stack().admin_key
    open_ = []
    try:
        for _ in range(per_addr):
            s = Stream(key=key)
            assert s.status == 200, s.status
            open_.append(s)
        s = Stream(key=key)
        assert s.status == 429, s.status
        assert json.loads(s.body)["error"]["code"] == "rate_limited"
        # A client that leaves frees its place.
        open_.pop().close()
        deadline = time.monotonic() + 5
        while True:
            s = Stream(key=key)
            if s.status == 200:
                open_.append(s)
                break
            assert time.monotonic() < deadline, s.status
            time.sleep(0.1)
        # Other loopback addresses up to the process's bound.
        host = 2
        while len(open_) < total:
            src = f"127.0.0.{host}"
            for _ in range(min(per_addr, total - len(open_))):
                s = Stream(key=key, source=src)
                assert s.status == 200, (src, s.status)
                open_.append(s)
            host += 1
        s = Stream(key=key, source=f"127.0.0.{host}")
        assert s.status == 503, s.status
    finally:
        for s in open_:
            s.close()


def test_zz_a_stopping_server_ends_its_streams_cleanly():
    st = stack()
    s = Stream(key=st.admin_key)
    assert s.status == 200
    s.frame()
    st.server.proc.send_signal(15)
    ev = s.until(lambda e: e.get("event") == "end", seconds=10)
    assert ev["data"]["reason"] == "server stopping"
    assert s.frame(seconds=10) is None  # the chunked body ended
    s.close()
    assert st.stop(), "a process did not stop cleanly or its sanitizers spoke"
