"""The object store on S3 (issue 15): a server and a worker of this module's
own use FINSYS_OBJECTS_URL, pointing at a real S3-compatible server (s3rver
behind tools/s3rver/server.js, which checks SigV4 signatures; started by
scripts/stack.sh fs_s3_start on a free loopback port), while the suite's
main server keeps the folder store (FINSYS_OBJECTS_DIR). Receipts and
exports go through S3; the SHA-256 kept in PostgreSQL is checked on every
read; S3 away is a 503 for a receipt and nothing else, and FinSys catches
up once it is back."""

import atexit
import csv
import hashlib
import http.client
import io
import os
import subprocess
import time
import uuid

from harness import (FINSYS_BIN, KEY_A, TEST_TMP, deposit, free_port, funded_account, new_account,
                     new_api_key, post, sql_value)
from test_settle_pipeline import Pipeline, _http, _wait_final

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OBJECTS_DIR = os.environ.get("FINSYS_OBJECTS_DIR", "var/objects")


def _stack(fn, *args):
    """A function of scripts/stack.sh, run by bash; its stdout."""
    out = subprocess.run(["bash", "-c", f'. "{ROOT}/scripts/stack.sh" && "$@"', "stack", fn,
                          *map(str, args)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, (fn, out.stdout, out.stderr)
    return out.stdout.strip()


class S3:
    """The S3 server, its key pair and its files."""

    def __init__(self):
        self.dir = os.path.join(TEST_TMP, f"s3-{uuid.uuid4().hex[:8]}")
        os.makedirs(self.dir)
        self.port = free_port()
        out = subprocess.run(["bash", "-c", f'. "{ROOT}/scripts/stack.sh" && echo '
                              '"$FS_S3_ACCESS_KEY $FS_S3_SECRET_KEY $FS_S3_BUCKET"'],
                             capture_output=True, text=True, timeout=30)
        self.access_key, self.secret, self.bucket = out.stdout.split()
        self.url = _stack("fs_s3_url", self.port)
        self.start()

    def start(self):
        _stack("fs_s3_start", self.dir, self.port)

    def stop(self):
        _stack("fs_s3_stop", self.dir)

    def env(self):
        # FINSYS_OBJECTS_DIR empty: not set (both set is a configuration error).
        return {"FINSYS_OBJECTS_URL": self.url, "FINSYS_OBJECTS_DIR": "",
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret}

    def file(self, key):
        """Where s3rver keeps the object's bytes (prefix "finsys/")."""
        return os.path.join(self.dir, "s3", self.bucket, "finsys", key + "._S3rver_object")

    def curl(self, method, key, body=None, secret=None):
        """A raw request signed by curl's own SigV4 (not FinSys's code)."""
        path = os.path.join(self.dir, "body")
        argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4",
                "aws:amz:us-east-1:s3", "--user", f"{self.access_key}:{secret or self.secret}",
                "-X", method]
        data = body if body is not None else b""
        argv += ["-H", "x-amz-content-sha256: " + hashlib.sha256(data).hexdigest()]
        if body is not None:
            with open(path, "wb") as f:
                f.write(body)
            argv += ["--data-binary", "@" + path, "-H", "Content-Type:"]
        argv.append(f"http://127.0.0.1:{self.port}/{self.bucket}/finsys/{key}")
        return int(subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout)


class S3Pipeline(Pipeline):
    """test_settle_pipeline's Pipeline with its server and workers on S3."""

    def __init__(self, s3, **kw):
        self.s3 = s3
        super().__init__(**kw)

    def _start(self, name, argv, port=None, env=None):
        if name in ("server", "worker"):
            env = dict(env or {})
            env.update(self.s3.env())
        return super()._start(name, argv, port=port, env=env)


_state = {}


def _setup():
    if not _state:
        s3 = S3()
        _state["s3"] = s3
        try:
            _state["pl"] = S3Pipeline(s3)
        except BaseException:
            s3.stop()
            raise
        atexit.register(_teardown)
    return _state["s3"], _state["pl"]


def _teardown():
    ok = True
    if "pl" in _state:
        ok = _state.pop("pl").stop()
    if "s3" in _state:
        _state.pop("s3").stop()
    return ok


def _get(port, path, key=KEY_A):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path, headers={"Authorization": "Bearer " + key})
    r = c.getresponse()
    raw = r.read()
    c.close()
    return r.status, raw


def _pay(pl, src, dst, amount, key=KEY_A):
    status, out = _http(pl.http_port, "POST", "/v1/payments",
                        {"from_account": src, "to_account": dst, "amount": amount,
                         "currency": "USD"},
                        {"Authorization": "Bearer " + key, "Idempotency-Key": str(uuid.uuid4())})
    assert status == 201, (status, out)
    return out["id"]


def _receipt(pl, pid, seconds=30):
    """The receipt through the S3 server, waiting while it is being made."""
    deadline = time.monotonic() + seconds
    while True:
        status, raw = _get(pl.http_port, f"/v1/payments/{pid}/receipt")
        if status != 404 or b"retry in a moment" not in raw:
            return status, raw
        assert time.monotonic() < deadline, (status, raw)
        time.sleep(0.1)


def test_both_stores_configured_is_a_clear_error():
    env = dict(os.environ)
    env.update({"FINSYS_OBJECTS_DIR": "/tmp/x", "FINSYS_OBJECTS_URL": "s3://b-1/p?region=x-1"})
    out = subprocess.run([FINSYS_BIN, "server"], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0
    assert "FINSYS_OBJECTS_DIR and FINSYS_OBJECTS_URL are both set" in out.stderr, out.stderr
    env.update({"FINSYS_OBJECTS_DIR": "", "FINSYS_OBJECTS_URL": "s3://Bad_Bucket/p"})
    out = subprocess.run([FINSYS_BIN, "worker"], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0 and "bucket must be" in out.stderr, out.stderr


def test_a_receipt_made_by_an_s3_worker_is_served_through_s3():
    s3, pl = _setup()
    a = funded_account(10_000)
    b = new_account("USD")
    pid = _pay(pl, a, b, 777)
    assert _wait_final([pid])[pid] == "succeeded"
    status, raw = _receipt(pl, pid)
    assert status == 200, raw
    key = sql_value(f"SELECT object_key FROM receipts WHERE payment_id = '{pid}'")
    sha = sql_value(f"SELECT sha256 FROM receipts WHERE payment_id = '{pid}'")
    assert hashlib.sha256(raw).hexdigest() == sha
    # In S3 (s3rver's files), not in the folder the suite's server uses.
    with open(s3.file(key), "rb") as f:
        assert f.read() == raw
    assert not os.path.exists(os.path.join(OBJECTS_DIR, key))
    _state["pid"], _state["raw"], _state["key"] = pid, raw, key


def test_the_s3_server_checks_signatures():
    # What FinSys's requests pass is a real check: a wrong secret is
    # refused, the right one taken (curl's signer, not FinSys's).
    s3, _ = _setup()
    assert s3.curl("PUT", "sig/probe", b"probe", secret="not-the-secret") == 403
    assert s3.curl("PUT", "sig/probe", b"probe") == 200
    assert s3.curl("GET", "sig/probe", secret="not-the-secret") == 403
    assert s3.curl("GET", "sig/probe") == 200


def test_a_damaged_object_is_detected_not_served():
    s3, pl = _setup()
    if "pid" not in _state:
        test_a_receipt_made_by_an_s3_worker_is_served_through_s3()
    pid, raw, key = _state["pid"], _state["raw"], _state["key"]
    damaged = raw.replace(b"7.77", b"9.99")
    assert damaged != raw
    assert s3.curl("PUT", key, damaged) == 200  # behind FinSys's back
    status, body = _get(pl.http_port, f"/v1/payments/{pid}/receipt")
    assert status == 500 and b"damaged" in body, (status, body)
    assert b"9.99" not in body
    assert s3.curl("PUT", key, raw) == 200  # repaired
    assert _get(pl.http_port, f"/v1/payments/{pid}/receipt") == (200, raw)


def test_s3_away_is_a_503_for_receipts_only_and_finsys_catches_up():
    s3, pl = _setup()
    if "pid" not in _state:
        test_a_receipt_made_by_an_s3_worker_is_served_through_s3()
    pid, raw = _state["pid"], _state["raw"]
    a = funded_account(10_000)
    b = new_account("USD")
    s3.stop()
    try:
        t0 = time.monotonic()
        status, body = _get(pl.http_port, f"/v1/payments/{pid}/receipt")
        took = time.monotonic() - t0
        assert status == 503, (status, body)
        assert b"object store" in body
        assert took < 5, took  # the retries, not a hang
        # Payments go on: made, settled, read.
        pid2 = _pay(pl, a, b, 555)
        assert _wait_final([pid2])[pid2] == "succeeded"
        status, out = _http(pl.http_port, "GET", f"/v1/payments/{pid2}", None,
                            {"Authorization": "Bearer " + KEY_A})
        assert status == 200 and out["status"] == "succeeded", (status, out)
        status, _ = _get(pl.http_port, "/v1/accounts/" + a)
        assert status == 200
        status, body = _get(pl.http_port, "/healthz")
        assert status == 200, body
        # Its receipt cannot be written yet.
        status, body = _get(pl.http_port, f"/v1/payments/{pid2}/receipt")
        assert status == 404 and b"retry in a moment" in body, (status, body)
        assert sql_value(f"SELECT stored_at IS NULL FROM receipts WHERE payment_id = '{pid2}'") \
            in ("t", None)
    finally:
        s3.start()
    # Back: the old receipt at once, the new one once the worker tries it
    # again (FS_RECEIPT_RETRY_AFTER_S).
    assert _get(pl.http_port, f"/v1/payments/{pid}/receipt") == (200, raw)
    status, body = _receipt(pl, pid2, seconds=40)
    assert status == 200, (status, body)
    sha = sql_value(f"SELECT sha256 FROM receipts WHERE payment_id = '{pid2}'")
    assert hashlib.sha256(body).hexdigest() == sha


def test_an_export_goes_through_s3():
    s3, pl = _setup()
    # A tenant of its own: the CSV holds exactly its two payments.
    key = new_api_key("test-s3-" + uuid.uuid4().hex[:10])
    a = new_account("USD", key=key)
    b = new_account("USD", key=key)
    deposit(a, 10_000, key=key)
    pids = [_pay(pl, a, b, 100, key=key), _pay(pl, a, b, 200, key=key)]
    assert set(_wait_final(pids).values()) == {"succeeded"}
    # Asked of the suite's (folder) server; made by the S3 worker.
    r = post("/v1/exports", {"type": "payments"}, key=key)
    assert r.status == 202, r
    eid = r.json["id"]
    deadline = time.monotonic() + 60
    while True:
        status, e = _http(pl.http_port, "GET", f"/v1/exports/{eid}", None,
                          {"Authorization": "Bearer " + key})
        assert status == 200, e
        if e["status"] in ("succeeded", "failed"):
            break
        assert time.monotonic() < deadline, e
        time.sleep(0.1)
    assert e["status"] == "succeeded", e
    status, raw = _get(pl.http_port, e["download_url"], key=key)
    assert status == 200, raw
    assert len(raw) == e["bytes"]
    okey = sql_value(f"SELECT object_key FROM exports WHERE id = '{eid}'")
    with open(s3.file(okey), "rb") as f:
        assert f.read() == raw
    rows = list(csv.DictReader(io.StringIO(raw.decode(), newline="")))
    assert sorted(x["id"] for x in rows) == sorted(pids), rows
    # Damaged: refused too.
    assert s3.curl("PUT", okey, raw.replace(b"succeeded", b"failed!!!", 1)) == 200
    status, body = _get(pl.http_port, e["download_url"], key=key)
    assert status == 500 and b"damaged" in body, (status, body)


def test_zz_the_s3_server_and_worker_stop_clean():
    if _state:
        assert _teardown()
