"""Signed webhooks (docs/webhooks.md): endpoint CRUD and its checks against the
main server, and deliveries end to end through a pipeline of this test's own
(server, nats-server, provider-sim, worker with its notifier) to a receiver
run here (http.server on a free loopback port) that checks each signature
with the verification code of docs/webhooks.md itself."""

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import (FINSYS_BIN, KEY_A, KEY_B, assert_error, free_port, get, post, request,
                     sql, sql_value, unknown_id, new_api_key)
from test_settle_pipeline import Pipeline, _http

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "webhooks.md")


def _documented_verify():
    """The verify() of docs/webhooks.md: its one fenced python block, run."""
    with open(DOC) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) == 1, blocks
    namespace = {}
    exec(blocks[0], namespace)  # noqa: S102 - the documented code is what is tested
    return namespace["verify"]


verify = _documented_verify()


def _tenant_key():
    """An API key of a new tenant: its events reach only its endpoints."""
    return new_api_key(f"wh-{uuid.uuid4().hex[:8]}")


class Receiver:
    """A webhook receiver on a free loopback port. statuses: the answers to
    the first deliveries, in order; then `then`. Records (arrival time,
    headers, raw body, verified) of each delivery."""

    def __init__(self, secret=None, statuses=(), then=200):
        self.secret = secret
        self.statuses = list(statuses)
        self.then = then
        self.got = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    ok = receiver.secret is not None and verify(
                        receiver.secret, self.headers.get("FinSys-Signature"), body)
                    receiver.got.append((time.monotonic(), dict(self.headers), body, ok))
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.then
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}/hooks?x=1"

    def wait(self, count, seconds=30):
        deadline = time.monotonic() + seconds
        while True:
            with self.lock:
                if len(self.got) >= count:
                    return list(self.got)
            assert time.monotonic() < deadline, (count, self.got)
            time.sleep(0.02)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _api(pl, key, method, path, body=None):
    headers = {"Authorization": "Bearer " + key}
    if method == "POST":
        headers["Idempotency-Key"] = str(uuid.uuid4())
    return _http(pl.http_port, method, path, body, headers)


def _funded_pair(pl, key, amount):
    accounts = []
    for _ in range(2):
        status, a = _api(pl, key, "POST", "/v1/accounts", {"currency": "USD"})
        assert status == 201, a
        accounts.append(a["id"])
    status, d = _api(pl, key, "POST", f"/v1/accounts/{accounts[0]}/deposits", {"amount": amount})
    assert status == 201, d
    return accounts


def _endpoint(pl, key, url, events):
    status, e = _api(pl, key, "POST", "/v1/webhook_endpoints", {"url": url, "events": events})
    assert status == 201, e
    return e


def _delivery_status(endpoint_id, seconds=30, want=("delivered",), count=None):
    """The endpoint's deliveries once every one is in want (and, with count,
    once there are count of them: the last payments' events may not have
    been fanned out yet when the first deliveries are done)."""
    deadline = time.monotonic() + seconds
    while True:
        rows = sql(f"SELECT status, attempts, last_status FROM webhook_deliveries "
                   f"WHERE endpoint_id = '{endpoint_id}'")
        if rows and all(r[0] in want for r in rows) and (count is None or len(rows) >= count):
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)


def _stream_messages(nats_port, stream):
    """The number of messages in a JetStream stream, asked with the NATS
    text protocol (the standard library has no NATS client)."""
    with socket.create_connection(("127.0.0.1", nats_port), timeout=5) as s:
        f = s.makefile("rb")
        f.readline()  # INFO
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.fs 1\r\n'
                  + f"PUB $JS.API.STREAM.INFO.{stream} _INBOX.fs 0\r\n\r\n".encode())
        while True:
            line = f.readline()
            assert line, "the broker closed the connection"
            if line.startswith(b"PING"):
                s.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG"):
                n = int(line.split()[-1])
                return json.loads(f.read(n + 2)[:n])["state"]["messages"]


def _stop(pl):
    assert pl.stop(), [p.text()[-3000:] for p in pl.procs if p.name in ("worker", "server")]


# --- endpoints ----------------------------------------------------------------

def test_an_endpoint_is_created_with_its_secret_shown_once():
    r = post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/hooks",
                                       "events": ["payment.succeeded", "payment.failed",
                                                  "payment.succeeded"]})
    assert r.status == 201, r
    e = r.json
    try:
        assert e["id"].startswith("we_") and e["object"] == "webhook_endpoint", e
        assert e["url"] == "http://127.0.0.1:9/hooks"
        assert e["events"] == ["payment.succeeded", "payment.failed"], e
        assert re.fullmatch(r"whsec_[0-9A-Za-z]{32}", e["secret"]), e
        g = get(f"/v1/webhook_endpoints/{e['id']}")
        assert g.status == 200 and "secret" not in g.json, g
        assert {k: v for k, v in e.items() if k != "secret"} == g.json
        listed = get("/v1/webhook_endpoints?limit=100")
        assert listed.status == 200 and listed.json["object"] == "list", listed
        mine = [x for x in listed.json["data"] if x["id"] == e["id"]]
        assert mine and all("secret" not in x for x in listed.json["data"]), listed
        assert e["secret"] not in listed.raw and e["secret"] not in g.raw
        # Every type and "*" are accepted; localhost and IPv6 literals too.
        for events, url in ((["*"], "http://localhost:8080/"),
                            (["payment.created", "payment.canceled", "refund.created",
                              "refund.succeeded", "refund.failed"], "http://[::1]:8080/x")):
            r = post("/v1/webhook_endpoints", {"url": url, "events": events})
            assert r.status == 201, r
            assert request("DELETE", f"/v1/webhook_endpoints/{r.json['id']}").status == 200
    finally:
        request("DELETE", f"/v1/webhook_endpoints/{e['id']}")


def test_endpoint_checks_name_the_parameter_and_change_nothing():
    before = sql_value("SELECT count(*) FROM webhook_endpoints")
    bad_urls = ["", "ftp://127.0.0.1/", "https://-x.example.com/hooks", "http://a_b.example/",
                "127.0.0.1:80/hooks", "http://127.0.0.1:99999/", "http://user@127.0.0.1/",
                "http://127.0.0.1/a b", "http://127.0.0.1/" + "a" * 2048, 42, None]
    for url in bad_urls:
        r = post("/v1/webhook_endpoints", {"url": url, "events": ["payment.succeeded"]})
        assert_error(r, 400, "invalid_request", "url")
    r = post("/v1/webhook_endpoints", {"events": ["payment.succeeded"]})
    assert_error(r, 400, "invalid_request", "url")
    for events in ([], ["payment.nope"], "payment.succeeded", [1], None,
                   ["payment.succeeded"] * 25):
        r = post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/", "events": events})
        assert_error(r, 400, "invalid_request", "events")
    r = post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/", "events": ["*"],
                                       "secret": "mine"})
    assert r.status == 400 and r.error["param"] == "secret", r
    assert sql_value("SELECT count(*) FROM webhook_endpoints") == before


def test_endpoint_routes_methods_and_ids():
    r = request("PUT", "/v1/webhook_endpoints/we_abc")
    assert_error(r, 405, "method_not_allowed", None)
    assert r.header("Allow") == "GET, DELETE", r.headers
    r = request("DELETE", "/v1/webhook_endpoints")
    assert_error(r, 405, "method_not_allowed", None)
    assert r.header("Allow") == "GET, POST", r.headers
    assert_error(get("/v1/webhook_endpoints/acct_abc"), 404, "not_found", "id")
    assert_error(get(f"/v1/webhook_endpoints/{unknown_id('we')}"), 404, "not_found", "id")
    assert_error(request("DELETE", f"/v1/webhook_endpoints/{unknown_id('we')}"), 404,
                 "not_found", "id")
    assert_error(request("DELETE", "/v1/webhook_endpoints/we_abc", key=None), 401,
                 "unauthorized", None)
    assert_error(get("/v1/webhook_endpoints?starting_after=" + unknown_id("we")), 400,
                 "invalid_request", "starting_after")


def test_endpoints_are_the_tenants_own():
    r = post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/", "events": ["*"]})
    assert r.status == 201, r
    eid = r.json["id"]
    try:
        assert_error(get(f"/v1/webhook_endpoints/{eid}", key=KEY_B), 404, "not_found", "id")
        assert_error(request("DELETE", f"/v1/webhook_endpoints/{eid}", key=KEY_B), 404,
                     "not_found", "id")
        listed = get("/v1/webhook_endpoints?limit=100", key=KEY_B)
        assert listed.status == 200 and eid not in listed.raw, listed
        assert get(f"/v1/webhook_endpoints/{eid}", key=KEY_A).status == 200
    finally:
        r = request("DELETE", f"/v1/webhook_endpoints/{eid}", key=KEY_A)
    assert r.status == 200 and r.json == {"id": eid, "object": "webhook_endpoint",
                                          "deleted": True}, r
    assert_error(get(f"/v1/webhook_endpoints/{eid}"), 404, "not_found", "id")
    assert_error(request("DELETE", f"/v1/webhook_endpoints/{eid}"), 404, "not_found", "id")
    assert eid not in get("/v1/webhook_endpoints?limit=100").raw


def test_a_tenant_has_at_most_16_endpoints():
    key = _tenant_key()
    ids = []
    for i in range(16):
        r = post("/v1/webhook_endpoints", {"url": f"http://127.0.0.1:{1000 + i}/",
                                           "events": ["*"]}, key=key)
        assert r.status == 201, r
        ids.append(r.json["id"])
    idem = str(uuid.uuid4())
    body = {"url": "http://127.0.0.1:2000/", "events": ["*"]}
    r = post("/v1/webhook_endpoints", body, key=key, idem=idem)
    assert_error(r, 400, "invalid_request", None)
    assert "16" in r.error["message"], r
    page = get("/v1/webhook_endpoints?limit=10", key=key)
    assert len(page.json["data"]) == 10 and page.json["has_more"], page
    rest = get(f"/v1/webhook_endpoints?limit=10&starting_after={page.json['data'][-1]['id']}",
               key=key)
    assert len(rest.json["data"]) == 6 and not rest.json["has_more"], rest
    assert request("DELETE", f"/v1/webhook_endpoints/{ids[0]}", key=key).status == 200
    # The 400 stored nothing: the same key goes through once there is room.
    r = post("/v1/webhook_endpoints", body, key=key, idem=idem)
    assert r.status == 201, r
    for eid in ids[1:] + [r.json["id"]]:
        assert request("DELETE", f"/v1/webhook_endpoints/{eid}", key=key).status == 200


# --- the documented verification -----------------------------------------------

def test_the_documented_verify_rejects_tampering_and_old_timestamps():
    secret = "whsec_" + "x" * 32
    body = b'{"id":"evt_1","type":"payment.succeeded"}'
    now = int(time.time())

    def sign(t, b, s=secret):
        mac = hmac.new(s.encode(), str(t).encode() + b"." + b, hashlib.sha256).hexdigest()
        return f"t={t},v1={mac}"

    assert verify(secret, sign(now, body), body)
    assert verify(secret, sign(now, body), body.decode())
    assert not verify(secret, sign(now, body), body.replace(b"succeeded", b"failed"))
    assert not verify("whsec_" + "y" * 32, sign(now, body), body)
    assert not verify(secret, sign(now - 301, body), body)
    assert verify(secret, sign(now - 301, body), body, tolerance_s=600)
    assert not verify(secret, sign(now + 400, body), body)
    assert not verify(secret, f"t={now}", body)
    assert not verify(secret, "", body)
    assert not verify(secret, None, body)
    forged = sign(now - 1000, body).replace(f"t={now - 1000}", f"t={now}")
    assert not verify(secret, forged, body)


# --- deliveries ----------------------------------------------------------------

def test_a_succeeded_payment_is_delivered_signed():
    pl = Pipeline()
    receiver = None
    try:
        key = _tenant_key()
        a, b = _funded_pair(pl, key, 1_000)
        receiver = Receiver()
        e = _endpoint(pl, key, receiver.url, ["payment.succeeded"])
        receiver.secret = e["secret"]
        # The API request's id follows the payment to its webhook.
        rid = f"req-followed-{uuid.uuid4().hex[:12]}"
        status, p = _http(pl.http_port, "POST", "/v1/payments",
                          {"from_account": a, "to_account": b, "amount": 250, "currency": "USD"},
                          {"Authorization": "Bearer " + key, "X-Request-Id": rid,
                           "Idempotency-Key": str(uuid.uuid4())})
        assert status == 201, p
        (at, headers, body, verified), = receiver.wait(1)
        assert headers.get("X-Request-Id") == rid, headers
        assert verified, (headers, body)
        event = json.loads(body)
        assert event["type"] == "payment.succeeded" and event["object"] == "event", event
        assert event["data"]["object"]["id"] == p["id"], event
        assert event["data"]["object"]["status"] == "succeeded", event
        assert event["account"] == a and event["sequence"] == 2, event
        assert headers["FinSys-Event-Id"] == event["id"], headers
        assert headers["FinSys-Delivery-Attempt"] == "1", headers
        assert headers["Content-Type"] == "application/json", headers
        assert headers["FinSys-Delivery-Id"].startswith("whd_"), headers
        # The same body, tampered, or the same signature replayed later fails.
        sig = headers["FinSys-Signature"]
        assert not verify(e["secret"], sig, body.replace(b"succeeded", b"failed"))
        t = int(re.search(r"t=(\d+)", sig).group(1))
        assert abs(time.time() - t) < 60, sig
        assert not verify(e["secret"], sig, body, tolerance_s=-1)
        # As GET /v1/events shows it.
        status, listed = _api(pl, key, "GET", f"/v1/events?account={a}&type=payment.succeeded")
        assert listed["data"][0] == event, (listed, event)
        rows = _delivery_status(e["id"])
        assert rows == [["delivered", "1", "200"]], rows
        time.sleep(0.5)
        assert len(receiver.got) == 1, receiver.got  # payment.created was not subscribed
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        if receiver is not None:
            receiver.stop()
        _stop(pl)


def test_failed_deliveries_are_retried_with_growing_gaps_until_the_receiver_recovers():
    pl = Pipeline(FINSYS_WEBHOOK_BACKOFF_BASE_MS=150)
    receiver = Receiver(statuses=[500, 500, 503, 500])
    try:
        key = _tenant_key()
        a, b = _funded_pair(pl, key, 1_000)
        e = _endpoint(pl, key, receiver.url, ["payment.succeeded"])
        receiver.secret = e["secret"]
        status, p = _api(pl, key, "POST", "/v1/payments",
                         {"from_account": a, "to_account": b, "amount": 100, "currency": "USD"})
        assert status == 201, p
        got = receiver.wait(5)
        assert all(ok for _, _, _, ok in got), got
        assert [h["FinSys-Delivery-Attempt"] for _, h, _, _ in got] == ["1", "2", "3", "4", "5"]
        assert len({h["FinSys-Event-Id"] for _, h, _, _ in got}) == 1
        assert len({body for _, _, body, _ in got}) == 1
        gaps = [got[i + 1][0] - got[i][0] for i in range(4)]
        # The back-off is 150, 300, 600, 1200 ms: no retry comes before its
        # back-off has passed. Only these lower bounds are checked: a loaded
        # machine adds to a gap (seen: 276 ms for the first), never takes
        # away; the bounds grow eightfold, so they prove the doubling.
        print(f"      gaps between attempts: {[round(g, 3) for g in gaps]} s")
        for n, g in enumerate(gaps):
            assert g >= 0.9 * 0.150 * 2 ** n, gaps
        rows = _delivery_status(e["id"])
        assert rows == [["delivered", "5", "200"]], rows
        time.sleep(0.5)
        assert len(receiver.got) == 5
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        receiver.stop()
        _stop(pl)


def test_a_receiver_that_never_recovers_ends_in_the_dead_letters():
    pl = Pipeline(FINSYS_WEBHOOK_BACKOFF_BASE_MS=100, FINSYS_WEBHOOK_RETRY_PERIOD_S=2)
    receiver = Receiver(then=500)
    try:
        key = _tenant_key()
        a, b = _funded_pair(pl, key, 1_000)
        e = _endpoint(pl, key, receiver.url, ["payment.succeeded"])
        receiver.secret = e["secret"]
        status, p = _api(pl, key, "POST", "/v1/payments",
                         {"from_account": a, "to_account": b, "amount": 100, "currency": "USD"})
        assert status == 201, p
        rows = _delivery_status(e["id"], want=("dead",))
        # 100, 200, 400, 800 ms: the 5th failure's next attempt would pass 2 s.
        assert rows[0][1] == str(len(receiver.got)) and len(receiver.got) >= 4, (rows,
                                                                                 receiver.got)
        assert rows[0][2] == "500", rows
        assert sql_value(f"SELECT last_error FROM webhook_deliveries "
                         f"WHERE endpoint_id = '{e['id']}'") == "the endpoint answered 500"
        deadline = time.monotonic() + 10
        while _stream_messages(pl.nats_port, "FS_NOTIFICATIONS_DEAD") != 1:
            assert time.monotonic() < deadline, pl.workers[0].text()[-2000:]
            time.sleep(0.1)
        assert "to the dead letters" in pl.workers[0].text()
        n = len(receiver.got)
        time.sleep(1.0)
        assert len(receiver.got) == n  # no attempt after death
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        receiver.stop()
        _stop(pl)


def test_an_unreachable_endpoint_and_a_deleted_one():
    """A refused connection is a failure like a 500; deleting an endpoint
    cancels its pending deliveries."""
    pl = Pipeline(FINSYS_WEBHOOK_BACKOFF_BASE_MS=300)
    try:
        key = _tenant_key()
        a, b = _funded_pair(pl, key, 1_000)
        e = _endpoint(pl, key, f"http://127.0.0.1:{free_port()}/", ["*"])
        status, p = _api(pl, key, "POST", "/v1/payments",
                         {"from_account": a, "to_account": b, "amount": 100, "currency": "USD"})
        assert status == 201, p
        deadline = time.monotonic() + 30
        while sql_value(f"SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = '{e['id']}'"
                        " AND last_error = 'timeout or network error'") != "2":
            assert time.monotonic() < deadline, sql(
                f"SELECT * FROM webhook_deliveries WHERE endpoint_id = '{e['id']}'")
            time.sleep(0.05)
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
        rows = _delivery_status(e["id"], want=("canceled",))
        assert len(rows) == 2, rows  # payment.created and payment.succeeded
    finally:
        _stop(pl)


class KeepAliveReceiver:
    """A receiver that speaks HTTP/1.1 keep-alive and counts the TCP
    connections it accepts. While `hold` is clear, requests wait unanswered
    (the worker's attempts hang in flight); once set, every request gets 200.
    Records (headers, raw body, verified) of the requests answered."""

    def __init__(self, secret=None):
        self.secret = secret
        self.got = []
        self.seen = 0  # requests received, answered or not
        self.connections = 0
        self.lock = threading.Lock()
        self.hold = threading.Event()
        self.hold.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with receiver.lock:
                    receiver.connections += 1

            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.seen += 1
                receiver.hold.wait()
                with receiver.lock:
                    ok = receiver.secret is not None and verify(
                        receiver.secret, self.headers.get("FinSys-Signature"), body)
                    receiver.got.append((dict(self.headers), body, ok))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a killed worker's connections break mid-request

        self.port = free_port()
        self.server = Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def event_ids(self):
        with self.lock:
            return {h["FinSys-Event-Id"] for h, _, ok in self.got if ok}

    def stop(self):
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def _endpoint_and_payments(pl, receiver, n):
    """A tenant with an endpoint at receiver for every event, and n payments
    of 1 made through the pipeline's server; returns (key, endpoint)."""
    key = _tenant_key()
    a, b = _funded_pair(pl, key, 10_000)
    e = _endpoint(pl, key, receiver.url, ["*"])
    receiver.secret = e["secret"]
    for _ in range(n):
        status, p = _api(pl, key, "POST", "/v1/payments",
                         {"from_account": a, "to_account": b, "amount": 1, "currency": "USD"})
        assert status == 201, p
    return key, e


def test_many_deliveries_to_one_receiver_share_a_few_connections():
    """Keep-alive: 60 deliveries reach one receiver over at most a couple of
    pools' worth of connections (FS_NOTIFY_HOST_CONNS is 8), not one
    connection each."""
    pl = Pipeline()
    receiver = KeepAliveReceiver()
    try:
        key, e = _endpoint_and_payments(pl, receiver, 30)
        rows = _delivery_status(e["id"], seconds=60, count=60)
        assert len(rows) == 60 and all(r[1] == "1" for r in rows), rows
        assert len(receiver.event_ids()) == 60, len(receiver.got)
        assert all(ok for _, _, ok in receiver.got)
        print(f"      60 deliveries over {receiver.connections} connections")
        assert receiver.connections <= 16, receiver.connections
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        receiver.stop()
        _stop(pl)


def test_a_worker_killed_between_fan_out_and_delivery_still_delivers_everything():
    """The fan-out leases its deliveries to the worker that made them, with
    no message on the broker. SIGKILL of that worker while its POSTs hang
    unanswered: the rows stay pending and leased, the lease runs out, and a
    new worker's sweeper publishes them again: every event is delivered."""
    pl = Pipeline(FINSYS_SWEEP_AFTER_S=1, FINSYS_SWEEP_INTERVAL_S=1,
                  FINSYS_WEBHOOK_TIMEOUT_MS=8000)
    receiver = KeepAliveReceiver()
    try:
        key = _tenant_key()
        a, b = _funded_pair(pl, key, 10_000)
        e = _endpoint(pl, key, receiver.url, ["*"])
        receiver.secret = e["secret"]
        receiver.hold.clear()
        for _ in range(6):
            status, p = _api(pl, key, "POST", "/v1/payments",
                             {"from_account": a, "to_account": b, "amount": 1,
                              "currency": "USD"})
            assert status == 201, p
        # 12 deliveries made and leased (attempt 1), some POSTs hanging
        # (within their 8 s timeout). An endpoint that has not answered yet
        # takes FS_NOTIFY_ENDPOINT_INFLIGHT_MAX (8) attempts at once
        # (docs/operations.md, "Webhook fairness"): the other 4 were given
        # back (attempts 0) and published, due after the timeout.
        deadline = time.monotonic() + 6
        while sql_value(f"SELECT count(*) FILTER (WHERE attempts = 1) || ',' || count(*) "
                        f"FROM webhook_deliveries WHERE endpoint_id = '{e['id']}' "
                        f"AND status = 'pending'") != "8,12" or receiver.seen == 0:
            assert time.monotonic() < deadline, sql(
                f"SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = '{e['id']}'")
            time.sleep(0.02)
        hung = {r[0] for r in sql(f"SELECT e.id FROM events e JOIN webhook_deliveries d "
                                  f"ON d.tenant_id = e.tenant_id AND d.event_seq = e.seq "
                                  f"WHERE d.endpoint_id = '{e['id']}' AND d.attempts = 1")}
        pl.workers[0].kill()
        assert receiver.got == []
        pl.procs.remove(pl.workers[0])
        receiver.hold.set()
        pl.workers = [pl.start_worker()]
        rows = _delivery_status(e["id"], seconds=60, count=12)
        assert len(rows) == 12, rows
        events = {r[0] for r in sql(f"SELECT e.id FROM events e JOIN webhook_deliveries d "
                                    f"ON d.tenant_id = e.tenant_id AND d.event_seq = e.seq "
                                    f"WHERE d.endpoint_id = '{e['id']}'")}
        assert len(events) == 12 and receiver.event_ids() == events, (events, receiver.got)
        # Each hung one went through the sweeper: the attempt after the lost
        # one (the hung attempts 1 were answered to a dead connection); the
        # 4 given back came by their message, as attempt 1.
        second = {h["FinSys-Event-Id"] for h, _, ok in receiver.got
                  if ok and h["FinSys-Delivery-Attempt"] == "2"}
        assert len(hung) == 8 and second == hung, (hung, second)
        assert "published again" in pl.workers[0].text()
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        receiver.stop()
        _stop(pl)


def _delivery_updates():
    """webhook_deliveries' updates so far and how many were HOT (in place)."""
    upd, hot = sql("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                   "WHERE relname = 'webhook_deliveries'")[0]
    return int(upd), int(hot)


def test_a_burst_of_deliveries_is_updated_in_place():
    """No index of webhook_deliveries names a column that a lease or a result
    changes (the sweeper's list is webhook_due, not a partial index on the
    status and due time) and its pages have room (fillfactor): PostgreSQL
    updates the rows in place (HOT). Before 0017_webhook_due.sql none was."""
    upd0, hot0 = _delivery_updates()
    pl = Pipeline()
    receiver = Receiver()
    try:
        key, e = _endpoint_and_payments(pl, receiver, 25)
        rows = _delivery_status(e["id"], seconds=60, count=50)
        assert len(rows) == 50, rows
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        receiver.stop()
        _stop(pl)
    # A backend's counts reach the statistics when it exits at the latest.
    deadline = time.monotonic() + 20
    while True:
        upd, hot = _delivery_updates()
        if upd - upd0 >= 50:
            break
        assert time.monotonic() < deadline, (upd - upd0, hot - hot0)
        time.sleep(0.2)
    # Most, not all: a page that a burst filled takes the next version
    # elsewhere (seen: 77 of 90 on a loaded machine, with the deferrals of
    # webhook fairness); before 0017 none was in place.
    assert hot - hot0 >= 0.8 * (upd - upd0), (upd - upd0, hot - hot0)


def test_the_sweeper_walks_its_list_and_keeps_it_right():
    """op webhook_sweep finds the deliveries due in webhook_due, whose due
    time is never later than the delivery's: a delivery due and not attempted
    is published again; one a claim leased since its row was written is left
    alone and its row gets its due time; a result removes a final delivery's
    row and sets a retried one's. Driven through fs_webhook_internal, with
    rows written as the fan-out writes a delivery it does not lease."""
    tag = uuid.uuid4().hex[:12]
    tenant, endpoint = f"ten_sweep{tag}", f"we_sweep{tag}"
    sql(f"INSERT INTO tenants (id, name) VALUES ('{tenant}', 'sweep-{tag}')")
    sql(f"INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret) "
        f"VALUES ('{endpoint}', '{tenant}', 'http://127.0.0.1:9/', '{{*}}', 'whsec_{tag}')")

    def delivery(n):
        return sql_value(
            f"WITH d AS (INSERT INTO webhook_deliveries (tenant_id, event_seq, endpoint_id, "
            f"next_attempt_at) VALUES ('{tenant}', {n}, '{endpoint}', now() - interval '2 hours') "
            f"RETURNING seq, id, next_attempt_at), "
            f"q AS (INSERT INTO webhook_due (delivery_seq, due_at) "
            f"SELECT seq, next_attempt_at FROM d) SELECT id FROM d")

    def op(**item):
        out, payload = sql(f"SELECT o, p FROM fs_webhook_internal('{json.dumps(item)}')")[0]
        assert out == "ok", (item, payload)
        return json.loads(payload)

    def claim(d):
        c = op(op="webhook_claim", delivery=d, lease_ms=600_000, slack_ms=0)
        assert c["due"] and c["attempts"] == 1, c
        return c

    def due(d):
        """(the delivery's next_attempt_at, its row's due_at), epoch seconds."""
        rows = sql(f"SELECT extract(epoch FROM y.next_attempt_at), extract(epoch FROM q.due_at) "
                   f"FROM webhook_deliveries y LEFT JOIN webhook_due q ON q.delivery_seq = y.seq "
                   f"WHERE y.id = '{d}'")
        return tuple(None if v == "" else float(v) for v in rows[0])

    lost, leased, delivered, failed = (delivery(n) for n in range(1, 5))
    for d in (leased, delivered, failed):
        claim(d)
    for d in (lost, leased, delivered, failed):
        nxt, at = due(d)
        assert at is not None and at <= nxt, (d, nxt, at)
    r = op(op="webhook_finish", ids=[delivered, failed], attempts=[1, 1],
           delivered=[True, False], http_status=[200, 500], errors=["", "HTTP 500"],
           delay_ms=[300_000, 300_000], retry_period_s=86400)
    assert r["statuses"] == ["delivered", "pending"], r
    assert due(delivered)[1] is None
    nxt, at = due(failed)
    assert at == nxt, (nxt, at)

    swept = op(op="webhook_sweep", older_s=60, max=1000)["deliveries"]
    assert lost in swept and leased not in swept and failed not in swept, swept
    for d in (lost, leased, failed):
        nxt, at = due(d)
        assert at == nxt, (d, nxt, at)
    assert due(lost)[0] > time.time() - 60
    # Published again just now: the next sweep leaves it alone.
    assert lost not in op(op="webhook_sweep", older_s=60, max=1000)["deliveries"]
    sql(f"UPDATE webhook_endpoints SET deleted_at = now() WHERE id = '{endpoint}'; "
        f"DELETE FROM webhook_due WHERE delivery_seq IN (SELECT seq FROM webhook_deliveries "
        f"WHERE endpoint_id = '{endpoint}'); "
        f"UPDATE webhook_deliveries SET status = 'canceled' WHERE endpoint_id = '{endpoint}' "
        f"AND status = 'pending'")
