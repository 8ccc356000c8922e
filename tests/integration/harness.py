"""Helpers for the integration tests: HTTP calls to the real server and SQL
through psql to the real PostgreSQL. Standard library only."""

import http.client
import json
import os
import re
import subprocess
import threading
import urllib.parse
import uuid

URL = os.environ["FINSYS_URL"]
KEY_A = os.environ["FINSYS_KEY_A"]
KEY_B = os.environ["FINSYS_KEY_B"]
DATABASE_URL = os.environ["FINSYS_DATABASE_URL"]
_host = urllib.parse.urlparse(URL)

_local = threading.local()

# Every secret the run makes (API keys, webhook signing secrets, the
# database's password), collected as answers carry them: test_zz_secrets
# greps every log of the run for each (no secret ever appears in a log).
SECRETS = {KEY_A, KEY_B}
_SECRET_RE = re.compile(r"(fsk_[A-Za-z0-9]{40}|whsec_[A-Za-z0-9]{16,})")
if urllib.parse.urlparse(DATABASE_URL).password:
    SECRETS.add(urllib.parse.urlparse(DATABASE_URL).password)


def remember_secrets(text):
    SECRETS.update(_SECRET_RE.findall(text))


def new_api_key(tenant, admin=False, deposits=True, operator=None):
    """A new API key made with `finsys apikey create` (the tenant is made if
    missing); remembered for the secret scan of the logs (test_zz_secrets).
    admin: an operator key with full authority (--admin, operator:admin);
    operator: an operator key of that role (--operator ROLE). A tenant's key
    comes with its tenant's deposits turned on (`finsys tenant deposits`), as
    scripts/test.sh does for test-a and test-b: the tests fund accounts by
    deposits, which are off for a new tenant (0030_operator_authority.sql);
    deposits=False leaves the setting alone."""
    argv = [os.environ["FINSYS_BIN"], "apikey", "create", "--tenant", tenant]
    if admin:
        argv.append("--admin")
    if operator:
        argv += ["--operator", operator]
    key = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                         check=True).stdout.strip()
    remember_secrets(key)
    if deposits and not admin and not operator:
        set_deposits(tenant, True)
    return key


def set_deposits(tenant, on):
    """`finsys tenant deposits --tenant NAME on|off`."""
    subprocess.run([os.environ["FINSYS_BIN"], "tenant", "deposits", "--tenant", tenant,
                    "on" if on else "off"], capture_output=True, text=True, timeout=60,
                   check=True)


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def error(self):
        return (self.json or {}).get("error") or {}

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


def _conn():
    c = getattr(_local, "conn", None)
    if c is None:
        c = http.client.HTTPConnection(_host.hostname, _host.port, timeout=60)
        _local.conn = c
    return c


def request(method, path, body=None, key=KEY_A, idem="auto", headers=None, raw_body=None):
    """One HTTP request on this thread's keep-alive connection. body is
    JSON-encoded; raw_body (bytes or str) is sent as is. idem="auto" gives
    POSTs a fresh Idempotency-Key; None sends none."""
    h = {}
    if key is not None:
        h["Authorization"] = "Bearer " + key
    if idem == "auto":
        idem = str(uuid.uuid4()) if method == "POST" else None
    if idem is not None:
        h["Idempotency-Key"] = idem
    data = None
    if raw_body is not None:
        data = raw_body.encode() if isinstance(raw_body, str) else raw_body
    elif body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    for attempt in range(2):
        c = _conn()
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read().decode("utf-8", "replace")
            remember_secrets(raw)
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                _local.conn = None
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, raw)
        except (http.client.HTTPException, ConnectionError, OSError):
            c.close()
            _local.conn = None
            if attempt == 1:
                raise


def post(path, body=None, **kw):
    return request("POST", path, body if body is not None else {}, **kw)


def get(path, **kw):
    return request("GET", path, **kw)


def sql(query):
    """Runs query through psql and returns rows as lists of strings."""
    out = subprocess.run(
        ["psql", DATABASE_URL, "-XqAt", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query],
        check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line != ""]


def forget_cached_accounts():
    """Drops the accounts the main server's Redis caches (src/cache). For a
    test that changes accounts with fs_batch() in SQL, behind the server: the
    worker would invalidate them after its commit, psql does not."""
    port = os.environ.get("FINSYS_REDIS_PORT")
    if port:
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", port, "eval",
                        "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                        "redis.call('DEL', k) end", "0", "fs:acct:*"],
                       check=True, capture_output=True, timeout=30)


def sql_value(query):
    rows = sql(query)
    return rows[0][0] if rows else None


def new_account(currency="USD", key=KEY_A, **extra):
    r = post("/v1/accounts", dict(currency=currency, **extra), key=key)
    assert r.status == 201, r
    return r.json["id"]


def deposit(account, amount, key=KEY_A):
    r = post(f"/v1/accounts/{account}/deposits", {"amount": amount}, key=key)
    assert r.status == 201, r
    return r.json


def funded_account(amount, currency="USD", key=KEY_A):
    a = new_account(currency, key=key)
    deposit(a, amount, key=key)
    return a


def pay(src, dst, amount, currency="USD", key=KEY_A, **kw):
    return post("/v1/payments", {"from_account": src, "to_account": dst, "amount": amount,
                                 "currency": currency}, key=key, **kw)


def counts():
    """Row counts of the tables a rejected request must not touch."""
    return sql("SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM payments), "
               "(SELECT count(*) FROM journal_entries), (SELECT count(*) FROM deposits), "
               "(SELECT count(*) FROM idempotency_keys)")[0]


def check_ledger():
    """The ledger invariants: no available balance below zero outside the
    external accounts; entries sum to zero per currency; each account's
    balances equal the sum of its entries. Returns a list of problems."""
    problems = []
    neg = sql("SELECT id, available FROM accounts WHERE type <> 'external' AND available < 0")
    if neg:
        problems.append(f"negative balances: {neg}")
    nonzero = sql("SELECT currency, sum(amount) FROM journal_entries GROUP BY currency "
                  "HAVING sum(amount) <> 0")
    if nonzero:
        problems.append(f"journal does not sum to zero: {nonzero}")
    total = sql("SELECT currency, sum(available + pending) FROM accounts GROUP BY currency "
                "HAVING sum(available + pending) <> 0")
    if total:
        problems.append(f"balances do not sum to zero: {total}")
    mismatch = sql(
        "SELECT a.id, a.available, a.pending, coalesce(e.av, 0), coalesce(e.pe, 0) "
        "FROM accounts a LEFT JOIN (SELECT account_id, "
        "  sum(amount) FILTER (WHERE bucket = 'A') AS av, "
        "  sum(amount) FILTER (WHERE bucket = 'P') AS pe "
        "  FROM journal_entries GROUP BY account_id) e ON e.account_id = a.id "
        "WHERE a.available <> coalesce(e.av, 0) OR a.pending <> coalesce(e.pe, 0)")
    if mismatch:
        problems.append(f"balances differ from their entries: {mismatch[:5]}")
    return problems


# Small helpers shared by the test modules.

ERROR_TYPES = {
    "admin_key_scope": "permission_error", "csrf_failed": "permission_error",
    "login_locked": "rate_limit_error", "invalid_credentials": "authentication_error",
    "staff_self_disable": "invalid_request_error",
    "invalid_request": "invalid_request_error", "not_found": "invalid_request_error",
    "method_not_allowed": "invalid_request_error", "request_too_large": "invalid_request_error",
    "currency_mismatch": "invalid_request_error", "payment_not_cancelable": "invalid_request_error",
    "unauthorized": "authentication_error", "insufficient_funds": "payment_error",
    "idempotency_key_missing": "idempotency_error", "idempotency_key_reuse": "idempotency_error",
    "idempotency_key_in_use": "idempotency_error", "forbidden": "permission_error",
    "payment_not_refundable": "invalid_request_error",
    "refund_exceeds_amount": "invalid_request_error", "account_inactive": "invalid_request_error",
    "rate_limited": "rate_limit_error",
    "payment_blocked": "payment_error", "payment_not_reviewable": "invalid_request_error",
    "risk_list_entry_exists": "invalid_request_error",
    "api_key_inactive": "invalid_request_error",
    "deposits_disabled": "permission_error",
}


def assert_error(r, status, code, param):
    """Asserts r is the error answer {"error": {type, code, message, param}}
    with exactly this status, code and param (None for no param)."""
    assert r.status == status, (status, r)
    assert r.json is not None and set(r.json) == {"error"}, r
    e = r.json["error"]
    assert set(e) == {"type", "code", "message", "param"}, r
    assert e["code"] == code, (code, r)
    assert e["type"] == ERROR_TYPES[code], r
    assert e["param"] == param, (param, r)
    assert isinstance(e["message"], str) and e["message"], r
    return e


def balance(account, key=KEY_A):
    """(available, pending) of an account, read through the API."""
    r = get(f"/v1/accounts/{account}", key=key)
    assert r.status == 200, r
    b = r.json["balance"]
    return b["available"], b["pending"]


def tenant_of(account):
    return sql_value(f"SELECT tenant_id FROM accounts WHERE id = '{account}'")


def external_account(currency="USD", key=KEY_A):
    """The id of the tenant's system (external) account for a currency."""
    tenant = tenant_of(new_account(currency, key=key))
    return sql_value(f"SELECT id FROM accounts WHERE tenant_id = '{tenant}' "
                     f"AND type = 'external' AND currency = '{currency}'")


def unknown_id(prefix):
    """A well-formed id that names nothing."""
    return prefix + "_" + uuid.uuid4().hex[:24]


# --- extra processes of a test's own ---------------------------------------

import signal as _signal
import socket as _socket
import subprocess as _subprocess
import time as _time

FINSYS_BIN = os.environ.get("FINSYS_BIN", "")
TEST_TMP = os.environ.get("FINSYS_TEST_TMP", "/tmp")


def free_port():
    with _socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30):
    deadline = _time.monotonic() + seconds
    while _time.monotonic() < deadline:
        try:
            with _socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            _time.sleep(0.05)
    return False


class Proc:
    """A process a test starts and stops by PID; its stderr goes to a log
    file under the run's temporary directory."""

    def __init__(self, name, argv, env=None, port=None):
        self.name = name
        self.log_path = os.path.join(TEST_TMP, f"{name}-{uuid.uuid4().hex[:8]}.log")
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.update({k: str(v) for k, v in (env or {}).items()})
        self.proc = _subprocess.Popen(argv, env=e, stdout=self.log, stderr=self.log)
        if port is not None and not wait_port(port):
            self.stop()
            raise AssertionError(f"{name} did not listen on {port}: {self.text()[-2000:]}")

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def kill(self):
        """SIGKILL: a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def terminate(self):
        """SIGTERM, not waiting: stop() then waits (several processes stop
        side by side, each draining in its own time)."""
        if self.proc.poll() is None and not getattr(self, "_terminated", False):
            self.proc.send_signal(_signal.SIGTERM)
            self._terminated = True

    def stop(self, timeout=15):
        """SIGTERM; the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except _subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log.close()
                return None
        self.log.close()
        return self.proc.returncode

    def sanitizer_clean(self):
        t = self.text()
        return "Sanitizer" not in t and "runtime error:" not in t
