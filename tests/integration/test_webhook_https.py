"""https webhooks and host names (issue 13; docs/operations.md, "Webhook
destinations"): the worker resolves an endpoint's host name on its loop
(evdns), checks every address it gets against the refused networks, and
connects to the address it checked; over https it sends SNI and verifies the
receiver's certificate against the host name, trusting the system's CAs and
FINSYS_WEBHOOK_CA_FILE's.

The receiver is a python https server on 127.0.0.1 with a certificate for
"localhost" from a CA made here with the openssl command."""

import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import free_port, new_api_key, sql
from test_settle_pipeline import Pipeline
from test_webhooks import _api, _delivery_status, _funded_pair, _stop, verify


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Certs:
    """A throwaway CA (ca.pem) and a server certificate it signed for
    localhost (server.pem, server.key), in a temporary folder."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="finsys-tls-")
        d = self.dir
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                 "-out", "ca.pem", "-days", "2", "-subj", "/CN=FinSys test CA", cwd=d)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
                 "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
                 cwd=d)
        self.ca = os.path.join(d, "ca.pem")

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class TlsReceiver:
    """An https webhook receiver on 127.0.0.1: records (headers, body,
    verified) of each delivery, answers 200."""

    def __init__(self, certs):
        self.secret = None
        self.got = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    ok = receiver.secret is not None and verify(
                        receiver.secret, self.headers.get("FinSys-Signature"), body)
                    receiver.got.append((dict(self.headers), body, ok))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(certs.dir, "server.pem"),
                            os.path.join(certs.dir, "server.key"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"https://localhost:{self.port}/hooks?x=1"

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


def _endpoint_and_payment(pl, url):
    key = new_api_key(f"tls-{uuid.uuid4().hex[:8]}")
    a, b = _funded_pair(pl, key, 1_000)
    status, e = _api(pl, key, "POST", "/v1/webhook_endpoints",
                     {"url": url, "events": ["payment.created"]})
    assert status == 201, e
    status, p = _api(pl, key, "POST", "/v1/payments",
                     {"from_account": a, "to_account": b, "amount": 100, "currency": "USD"})
    assert status == 201, p
    return key, e


def _failed_attempts(pl, endpoint_id, attempts=2, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        rows = sql(f"SELECT status, attempts, last_error FROM webhook_deliveries "
                   f"WHERE endpoint_id = '{endpoint_id}'")
        if rows and int(rows[0][1]) >= attempts:
            return rows
        assert time.monotonic() < deadline, (rows, pl.workers[0].text()[-2000:])
        time.sleep(0.05)


def test_https_to_a_host_name_is_delivered_when_the_ca_is_trusted():
    certs = Certs()
    pl = Pipeline(FINSYS_WEBHOOK_CA_FILE=certs.ca)
    receiver = TlsReceiver(certs)
    try:
        key, e = _endpoint_and_payment(pl, receiver.url)
        receiver.secret = e["secret"]
        (headers, body, verified), = receiver.wait(1)
        assert verified, (headers, body)
        assert headers["Host"] == f"localhost:{receiver.port}", headers
        rows = _delivery_status(e["id"])
        assert rows == [["delivered", "1", "200"]], rows
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        receiver.stop()
        _stop(pl)
        certs.remove()


def test_https_fails_certificate_verification_without_the_ca():
    certs = Certs()
    pl = Pipeline(FINSYS_WEBHOOK_BACKOFF_BASE_MS=200)
    receiver = TlsReceiver(certs)
    try:
        key, e = _endpoint_and_payment(pl, receiver.url)
        rows = _failed_attempts(pl, e["id"])
        assert rows[0][0] != "delivered", rows
        assert rows[0][2].startswith("TLS: certificate verify failed: "), rows
        assert receiver.got == [], receiver.got
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        receiver.stop()
        _stop(pl)
        certs.remove()


def test_a_name_resolving_to_a_refused_address_is_not_connected_to():
    """localhost is accepted by this pipeline's server (loopback allowed, as
    make test sets), but the worker allows only another network: the name's
    addresses are checked once resolved, and nothing connects."""
    certs = Certs()
    pl = Pipeline(FINSYS_WEBHOOK_BACKOFF_BASE_MS=200, FINSYS_WEBHOOK_CA_FILE=certs.ca,
                  FINSYS_WEBHOOK_ALLOWED_NETWORKS="10.9.8.0/24")
    receiver = TlsReceiver(certs)
    try:
        key, e = _endpoint_and_payment(pl, receiver.url)
        rows = _failed_attempts(pl, e["id"])
        assert rows[0][0] != "delivered", rows
        assert rows[0][2] == "destination refused: loopback (127.0.0.0/8)", rows
        assert receiver.got == [], receiver.got
        assert "resolves to 127.0.0.1, in a refused network" in pl.workers[0].text()
        assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e['id']}")[0] == 200
    finally:
        receiver.stop()
        _stop(pl)
        certs.remove()
