"""The admin console's server side (docs/console.md): staff logins and
sessions, roles, CSRF, lockout, the audit log, admin keys' scope, revoked
keys, and a walk of every route with every role."""

import http.client
import json
import os
import subprocess
import time
import urllib.parse
import uuid

from harness import (KEY_A, URL, Proc, assert_error, free_port, funded_account, get,
                     new_account,
                     new_api_key, pay, post, remember_secrets, request, sql, sql_value, wait_port)

BIN = os.environ["FINSYS_BIN"]
_host = urllib.parse.urlparse(URL)


def new_staff(role, password=None):
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    argv = [BIN, "staff", "create", "--email", email, "--role", role]
    if password is None:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        password = out.stdout.strip()
    else:
        subprocess.run(argv + ["--password-stdin"], input=password + "\n", capture_output=True,
                       text=True, timeout=60, check=True)
    remember_secrets(password)
    return email, password


class Console:
    """A browser's session: its own connection, cookie and CSRF token."""

    def __init__(self, url=URL):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.cookie = None
        self.csrf = None

    def call(self, method, path, body=None, csrf=True, headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=60)
        h = {"Content-Type": "application/json"}
        if self.cookie:
            h["Cookie"] = "fs_admin=" + self.cookie
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.status == 200 and hdrs.get("content-type", "").startswith("text/event-stream"):
            # The live stream never ends by itself: its status is the answer.
            c.close()
            return r.status, hdrs, None
        raw = r.read().decode()
        c.close()
        js = json.loads(raw) if raw else None
        return r.status, hdrs, js

    def login(self, email, password):
        st, h, js = self.call("POST", "/admin/api/session",
                              {"email": email, "password": password})
        if st == 201:
            cookie = h["set-cookie"]
            self.cookie = cookie.split(";")[0].split("=", 1)[1]
            self.csrf = js["csrf_token"]
        return st, h, js


def logged_in(role):
    email, pw = new_staff(role)
    c = Console()
    st, _, js = c.login(email, pw)
    assert st == 201, js
    return c


def test_admin_login_session_logout():
    email, pw = new_staff("viewer")
    c = Console()
    st, h, js = c.login(email.upper(), pw)
    assert st == 201, js
    assert js["object"] == "session" and js["staff"]["email"] == email
    assert js["staff"]["role"] == "viewer" and js["csrf_token"] and js["expires_at"]
    flags = h["set-cookie"]
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/admin" in flags
    assert "Secure" not in flags
    # Only the token's SHA-256 is stored.
    assert sql_value(f"SELECT count(*) FROM staff_sessions WHERE "
                     f"token_hash = sha256('{c.cookie}'::bytea)") == "1"
    st, _, js = c.call("GET", "/admin/api/session")
    assert st == 200 and js["staff"]["email"] == email and js["csrf_token"] == c.csrf
    # A write without the CSRF token is refused.
    st, _, js = c.call("DELETE", "/admin/api/session", csrf=False)
    assert st == 403 and js["error"]["code"] == "csrf_failed", js
    st, h, _ = c.call("DELETE", "/admin/api/session")
    assert st == 204 and "Max-Age=0" in h["set-cookie"]
    st, _, js = c.call("GET", "/admin/api/session")
    assert st == 401, js
    actions = [r[0] for r in sql("SELECT action FROM audit_log WHERE actor = "
                                 f"(SELECT id FROM staff WHERE email = '{email}') ORDER BY seq")]
    assert actions == ["session.create", "session.delete"], actions


def test_admin_wrong_password_and_lockout():
    email, pw = new_staff("viewer")
    c = Console()
    st, _, js = c.login("nobody-" + email, "whatever-password")
    assert st == 401 and js["error"]["code"] == "invalid_credentials", js
    for _ in range(5):
        st, _, js = c.login(email, "wrong-password-1")
        assert st == 401 and js["error"]["code"] == "invalid_credentials", js
    st, h, js = c.login(email, pw)
    assert st == 429 and js["error"]["code"] == "login_locked", js
    assert int(h["retry-after"]) > 0
    # What the store says beyond message and param is in the error object
    # (src/http/server.c on_result: a blocked payment's rule and risk too).
    assert js["error"]["retry_after_s"] == int(h["retry-after"]), (js, h)
    st, _, js = c.call("POST", "/admin/api/session", {"email": email})
    assert st == 400 and js["error"]["param"] == "password"


def test_admin_roles_and_csrf_on_writes():
    viewer = logged_in("viewer")
    st, _, js = viewer.call("POST", "/admin/api/tenants", {"name": "x", "reason": "r"})
    assert st == 403 and js["error"]["code"] == "forbidden", js
    assert "admin" in js["error"]["message"]
    admin = logged_in("admin")
    name = "tenant-" + uuid.uuid4().hex[:8]
    st, _, js = admin.call("POST", "/admin/api/tenants", {"name": name, "reason": "r"},
                           csrf=False)
    assert st == 403 and js["error"]["code"] == "csrf_failed", js
    st, _, js = admin.call("POST", "/admin/api/tenants", {"name": name})
    assert st == 400 and js["error"]["param"] == "reason", js
    st, _, js = admin.call("POST", "/admin/api/tenants", {"name": name, "reason": "onboarding"})
    assert st == 201 and js["name"] == name, js
    tenant = js["id"]
    row = sql(f"SELECT action, target, reason, after->>'name' FROM audit_log "
              f"WHERE target = '{tenant}'")
    assert row == [["tenant.create", tenant, "onboarding", name]], row
    # A key for it, shown once; then revoked, and refused like an unknown one.
    st, _, js = admin.call("POST", f"/admin/api/tenants/{tenant}/keys", {"reason": "k"})
    assert st == 201 and js["secret"].startswith("fsk_") and js["id"].startswith("key_"), js
    secret, key_id = js["secret"], js["id"]
    remember_secrets(secret)
    assert get("/v1/accounts", key=secret).status == 200
    st, _, js = admin.call("POST", f"/admin/api/keys/{key_id}/revoke", {"reason": "leaked"})
    assert st == 200 and js["revoked_at"], js
    assert "key_hash" not in js
    r = get("/v1/accounts", key=secret)
    assert r.status == 401, r
    # Limits, audited with before and after.
    st, _, js = admin.call("POST", f"/admin/api/tenants/{tenant}/limits",
                           {"per_s": 5, "burst": 10, "reason": "abuse"})
    assert st == 200, js
    before, after = sql(f"SELECT before::text, after::text FROM audit_log WHERE target = "
                        f"'{tenant}' AND action = 'tenant.limits'")[0]
    assert json.loads(after) == {"per_s": 5, "burst": 10}, after
    assert json.loads(before) == {"per_s": None, "burst": None}, before


def test_admin_staff_create_and_audit_list():
    admin = logged_in("admin")
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    st, _, js = admin.call("POST", "/admin/api/staff",
                           {"email": email, "role": "support", "reason": "hire"})
    assert st == 201 and js["role"] == "support" and len(js["password"]) >= 16, js
    remember_secrets(js["password"])
    c = Console()
    st, _, _ = c.login(email, js["password"])
    assert st == 201
    st, _, js = admin.call("GET", "/admin/api/staff?limit=1")
    assert st == 200 and len(js["data"]) == 1 and js["has_more"] is True, js
    st, _, js = admin.call("GET", "/admin/api/audit?action=staff.create&limit=5")
    assert st == 200 and js["data"][0]["action"] == "staff.create", js
    assert "password" not in json.dumps(js["data"][0]["after"])
    st, _, js = admin.call("GET", "/admin/api/audit?bogus=1")
    assert st == 400 and js["error"]["param"] == "bogus"


def test_admin_payment_cancel_audited_and_log_append_only():
    support = logged_in("support")
    src = funded_account(1000)
    dst = new_account()
    p = pay(src, dst, 300).json
    st, _, js = support.call("POST", f"/admin/api/payments/{p['id']}/cancel",
                             {"reason": "customer asked"})
    assert st in (200, 409), js
    if st == 200:
        assert js["status"] == "canceled"
        row = sql(f"SELECT before->>'status', after->>'status', request_id IS NOT NULL "
                  f"FROM audit_log WHERE target = '{p['id']}' AND action = 'payment.cancel'")
        assert row == [["pending", "canceled", "t"]], row
    # The audit log refuses UPDATE, DELETE and TRUNCATE.
    for stmt in ("UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log",
                 "TRUNCATE audit_log"):
        try:
            sql(stmt)
            raise AssertionError(stmt + " was allowed")
        except subprocess.CalledProcessError as e:
            assert "append-only" in e.stderr, e.stderr


def test_admin_key_scoped_to_admin_api():
    admin_key = new_api_key("test-admin-scope", admin=True)
    r = get("/v1/accounts", key=admin_key)
    assert_error(r, 403, "admin_key_scope", None)
    r = post("/v1/accounts", {"currency": "USD", "type": "user"}, key=admin_key)
    assert_error(r, 403, "admin_key_scope", None)
    # On /admin/api it is an admin, audited under its id.
    r = request("POST", f"/admin/api/accounts/{new_account()}/freeze", {}, key=admin_key)
    assert r.status == 200, r
    key_id = sql_value("SELECT id FROM api_keys ORDER BY created_at DESC LIMIT 1")
    assert sql_value(f"SELECT count(*) FROM audit_log WHERE actor = '{key_id}' "
                     "AND action = 'account.freeze'") == "1"
    # A tenant's key is not an admin's.
    r = get("/admin/api/staff", key=KEY_A)
    assert r.status == 403, r


def test_admin_every_route_with_every_role():
    routes = subprocess.run([BIN, "admin", "routes"], capture_output=True, text=True,
                            check=True).stdout.split("\n")
    order = ["viewer", "support", "finance", "admin"]
    consoles = {role: logged_in(role) for role in order}
    walked = 0
    for line in filter(None, routes):
        method, path, min_role, _ = line.split()
        if min_role == "none" or path == "/admin/api/session":
            continue
        concrete = path.replace("{id}", "zzz_none")
        for role in order:
            c = consoles[role]
            body = {"reason": "role walk"} if method == "POST" else None
            st, _, js = c.call(method, concrete, body)  # the stream: its status only
            if order.index(role) < order.index(min_role):
                assert st == 403 and js["error"]["code"] == "forbidden", (line, role, st, js)
            else:
                assert st != 403, (line, role, st, js)
            walked += 1
    assert walked >= 4 * 24


def test_admin_session_idle_expiry():
    port = free_port()
    proc = Proc("server-idle", [BIN, "server"],
                env={"FINSYS_HTTP_PORT": port, "FINSYS_ADMIN_SESSION_IDLE_S": 2,
                     "FINSYS_ADMIN_COOKIE_SECURE": 1, "FINSYS_HTTP_THREADS": 1},
                port=port)
    try:
        email, pw = new_staff("viewer")
        c = Console(f"http://127.0.0.1:{port}")
        st, h, _ = c.login(email, pw)
        assert st == 201 and "Secure" in h["set-cookie"]
        st, _, _ = c.call("GET", "/admin/api/session")
        assert st == 200
        time.sleep(3.5)
        st, _, js = c.call("GET", "/admin/api/session")
        assert st == 401, js
    finally:
        assert proc.stop() == 0 and proc.sanitizer_clean(), proc.text()[-3000:]


def test_admin_staff_disable_and_enable():
    """Disabling a member ends their sessions at once and refuses their login
    as a wrong password is refused; enabling lets them in again. Both are
    audited with before and after, and idempotent; an admin cannot disable
    themselves."""
    admin = logged_in("admin")
    email, pw = new_staff("support")
    member = Console()
    st, _, js = member.login(email, pw)
    assert st == 201, js
    sid = js["staff"]["id"]
    h = {"Idempotency-Key": str(uuid.uuid4())}
    st, hd, js = admin.call("POST", f"/admin/api/staff/{sid}/disable", {"reason": "left"},
                            headers=h)
    assert st == 200 and js["id"] == sid and js["disabled_at"], js
    st, hd, again = admin.call("POST", f"/admin/api/staff/{sid}/disable", {"reason": "left"},
                               headers=h)
    assert st == 200 and hd.get("idempotent-replayed") == "true" and again == js, again
    # Their session: refused at once.
    st, _, js = member.call("GET", "/admin/api/session")
    assert st == 401 and js["error"]["code"] == "unauthorized", js
    assert sql_value(f"SELECT count(*) FROM staff_sessions WHERE staff_id = '{sid}'") == "0"
    # Their login: the same answer as a wrong password.
    st, _, js = Console().login(email, pw)
    assert st == 401 and js["error"]["code"] == "invalid_credentials", js
    assert js["error"]["message"] == "Wrong email or password.", js
    # Disabling again (another request) keeps the first disabled_at.
    first = sql_value(f"SELECT disabled_at FROM staff WHERE id = '{sid}'")
    st, _, js = admin.call("POST", f"/admin/api/staff/{sid}/disable", {"reason": "again"})
    assert st == 200 and js["disabled_at"], js
    assert sql_value(f"SELECT disabled_at FROM staff WHERE id = '{sid}'") == first
    # The list shows the state.
    st, _, js = admin.call("GET", "/admin/api/staff?limit=100")
    assert st == 200, js
    assert [s["disabled_at"] is not None for s in js["data"] if s["id"] == sid] == [True], js
    # Enable: they log in again.
    st, _, js = admin.call("POST", f"/admin/api/staff/{sid}/enable", {"reason": "back"})
    assert st == 200 and js["disabled_at"] is None, js
    st, _, js = Console().login(email, pw)
    assert st == 201, js
    rows = sql(f"SELECT action, reason, before->>'disabled_at' IS NULL, "
               f"after->>'disabled_at' IS NULL FROM audit_log WHERE target = '{sid}' "
               f"AND action LIKE 'staff.%able' ORDER BY seq")
    assert rows == [["staff.disable", "left", "t", "f"], ["staff.disable", "again", "f", "f"],
                    ["staff.enable", "back", "f", "t"]], rows
    # A reason is required; an unknown member is 404.
    st, _, js = admin.call("POST", f"/admin/api/staff/{sid}/disable", {})
    assert st == 400 and js["error"]["param"] == "reason", js
    st, _, js = admin.call("POST", "/admin/api/staff/stf_nosuchmember/disable", {"reason": "r"})
    assert st == 404 and js["error"]["code"] == "not_found", js
    # Not themselves.
    me = admin.call("GET", "/admin/api/session")[2]["staff"]["id"]
    st, _, js = admin.call("POST", f"/admin/api/staff/{me}/disable", {"reason": "oops"})
    assert_error_js(js, st, 409, "staff_self_disable")
    assert "yourself" in js["error"]["message"], js
    assert admin.call("GET", "/admin/api/session")[0] == 200
    # A support member may not (the role walk covers every role).
    support = Console()
    assert support.login(email, pw)[0] == 201
    st, _, js = support.call("POST", f"/admin/api/staff/{me}/disable", {"reason": "r"})
    assert st == 403 and js["error"]["code"] == "forbidden", js


def assert_error_js(js, st, status, code):
    assert st == status and js["error"]["code"] == code, (st, js)
    assert js["error"]["type"] == "invalid_request_error", js


def test_staff_disable_and_enable_from_the_cli():
    email, pw = new_staff("viewer")
    member = Console()
    assert member.login(email, pw)[0] == 201
    out = subprocess.run([BIN, "staff", "disable", "--email", email.upper()],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split()[1:] == [email, "disabled"], out
    sid = out.stdout.split()[0]
    assert member.call("GET", "/admin/api/session")[0] == 401
    assert Console().login(email, pw)[0] == 401
    out = subprocess.run([BIN, "staff", "enable", "--email", email, "--reason", "returned"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == [sid, email, "enabled"], out
    assert Console().login(email, pw)[0] == 201
    rows = sql(f"SELECT actor, role, action, reason FROM audit_log WHERE target = '{sid}' "
               f"AND action LIKE 'staff.%able' ORDER BY seq")
    assert rows == [["cli", "admin", "staff.disable", "finsys staff disable"],
                    ["cli", "admin", "staff.enable", "returned"]], rows
    out = subprocess.run([BIN, "staff", "disable", "--email", "nobody-" + email],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no staff" in out.stderr, out


def test_admin_key_has_no_session_to_delete():
    admin_key = new_api_key("test-admin-logout", admin=True)
    key_id = sql_value("SELECT id FROM api_keys ORDER BY created_at DESC LIMIT 1")
    r = request("DELETE", "/admin/api/session", None, key=admin_key)
    assert_error(r, 401, "unauthorized", None)
    assert r.json["error"]["message"] == "No session: an API key has none.", r
    assert r.header("Set-Cookie") is None, r
    assert sql_value(f"SELECT count(*) FROM audit_log WHERE actor = '{key_id}' "
                     "AND action = 'session.delete'") == "0"
