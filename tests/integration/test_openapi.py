"""docs/openapi.yaml describes exactly the routes the server has: the same
paths with the same methods, no more, no fewer. The /v1 and probe routes are
listed here; the /admin/api routes come from the server's own table
(`finsys admin routes`, src/admin/admin.c), so a route added there without
its documentation fails. Standard library only: the document is read with a
few regular expressions, not a YAML parser."""

import functools
import os
import re
import subprocess

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.yaml")

# The routes of src/api/api.c (match() and allowed()). HEAD is served as GET
# by src/http/server.c and is not listed separately.
V1_ROUTES = {
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),  # Prometheus's scrape (src/metrics), no key
    ("/v1/accounts", "get"),
    ("/v1/accounts", "post"),
    ("/v1/accounts/{id}", "get"),
    ("/v1/accounts/{id}/deposits", "post"),
    ("/v1/payments", "get"),
    ("/v1/payments", "post"),
    ("/v1/payments/search", "get"),
    ("/v1/payments/{id}", "get"),
    ("/v1/payments/{id}/cancel", "post"),
    ("/v1/payments/{id}/review", "post"),
    ("/v1/events", "get"),
    ("/v1/payments/{id}/refunds", "get"),
    ("/v1/payments/{id}/refunds", "post"),
    ("/v1/refunds/{id}", "get"),
    ("/v1/payments/{id}/receipt", "get"),
    ("/v1/webhook_endpoints", "get"),
    ("/v1/webhook_endpoints", "post"),
    ("/v1/webhook_endpoints/{id}", "get"),
    ("/v1/webhook_endpoints/{id}", "delete"),
    ("/v1/accounts/{id}/statement", "get"),
    ("/v1/reports/daily", "get"),
    ("/v1/reconciliations/{date}", "get"),  # issue 12
    ("/v1/exports", "post"),
    ("/v1/exports/{id}", "get"),
    ("/v1/exports/{id}/download", "get"),
    # risk rules, lists and balance alerts (issue 12, docs/risk.md)
    ("/v1/risk_rules", "get"),
    ("/v1/risk_rules", "post"),
    ("/v1/risk_rules/{id}", "get"),
    ("/v1/risk_rules/{id}", "patch"),
    ("/v1/risk_rules/{id}", "delete"),
    ("/v1/risk_lists", "get"),
    ("/v1/risk_lists", "post"),
    ("/v1/risk_lists/{id}", "delete"),
    ("/v1/accounts/{id}/balance_alerts", "get"),
    ("/v1/accounts/{id}/balance_alerts", "post"),
}

ROLES = ("none", "viewer", "support", "finance", "admin")
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# The one /admin/api route that needs no session or key: the login.
LOGIN = ("/admin/api/session", "post")


@functools.lru_cache(maxsize=None)
def admin_table():
    """The server's /admin/api route table, as `finsys admin routes` prints
    it (src/cli/main.c): one route a line, "METHOD PATH ROLE read|write".
    Returns {(path, method): (role, writes)}."""
    binary = os.environ.get("FINSYS_BIN")
    assert binary, "FINSYS_BIN is not set (scripts/test.sh sets it)"
    out = subprocess.run([binary, "admin", "routes"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    table = {}
    for line in out.splitlines():
        m = re.fullmatch(r"(GET|POST|PATCH|DELETE) (/admin/api/\S+) (\w+) (read|write)", line)
        assert m, f"`finsys admin routes` printed a line of an unknown form: {line!r}"
        method, path, role, kind = m.groups()
        assert role in ROLES, line
        key = (path, method.lower())
        assert key not in table, f"the route table lists {key} twice"
        table[key] = (role, kind == "write")
    assert table, "`finsys admin routes` printed no route"
    assert table.get(LOGIN, ("",))[0] == "none", "the login is not the table's public route"
    return table


def routes():
    return V1_ROUTES | set(admin_table())


def admin_routes():
    return set(admin_table())


def documented_operations(text):
    """{(path, method): the operation's YAML text} under the top-level paths:
    key. A path key given twice is an error (YAML would keep only one)."""
    m = re.search(r"^paths:[ \t]*\n(.*?)(?=^\S)", text, re.M | re.S)
    assert m, "docs/openapi.yaml has no top-level paths:"
    ops, paths, path, op = {}, set(), None, None
    for line in m.group(1).splitlines():
        key = re.match(r"^  (['\"]?)(/[^'\":]*)\1:\s*$", line)
        if key:
            path, op = key.group(2), None
            assert path not in paths, f"docs/openapi.yaml has the path key {path} twice"
            paths.add(path)
            continue
        verb = re.match(r"^    ([a-z]+):", line)
        if verb:
            op = None
            if verb.group(1) in METHODS:
                assert path is not None, line
                op = (path, verb.group(1))
                ops[op] = ""
            continue
        if op is not None:
            ops[op] += line + "\n"
    return ops


def documented_routes(text):
    """The (path, method) pairs under the top-level paths: key."""
    return set(documented_operations(text))


def read_doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def test_openapi_routes_match():
    documented = documented_routes(read_doc())
    want = routes()
    missing = sorted(want - documented)
    extra = sorted(documented - want)
    assert not missing and not extra, (
        f"docs/openapi.yaml drifted from the server (src/api/api.c, and src/admin/admin.c's "
        f"table as `finsys admin routes` prints it): undocumented routes {missing}, "
        f"documented routes the server does not have {extra}")


def test_openapi_admin_roles_and_csrf():
    """Each /admin/api operation states the minimum role of the server's
    table; each write made with the session cookie documents X-CSRF-Token
    (the shared parameter), and no read does; the login alone needs no
    authentication, and the others take the session cookie."""
    ops = documented_operations(read_doc())
    wrong = []
    for (path, method), (role, writes) in sorted(admin_table().items()):
        op = ops.get((path, method))
        if op is None:
            continue  # test_openapi_routes_match names it
        name = f"{method.upper()} {path}"
        if role == "none":
            if "**Public" not in op:
                wrong.append(f"{name}: its description does not say it is public")
            if not re.search(r"^      security: \[\]\s*$", op, re.M):
                wrong.append(f"{name}: not documented with security: []")
            continue
        said = re.findall(r"\*\*Minimum role: (\w+)\.\*\*", op)
        if said != [role]:
            wrong.append(f"{name}: the table's minimum role is {role}, the document says {said}")
        if "- adminSession: []" not in op:
            wrong.append(f"{name}: does not list the adminSession security scheme")
        csrf = "$ref: '#/components/parameters/CsrfToken'" in op
        if writes and not csrf:
            wrong.append(f"{name}: a write without the X-CSRF-Token parameter (CsrfToken)")
        if not writes and csrf:
            wrong.append(f"{name}: a read documented with X-CSRF-Token")
    assert not wrong, "\n".join(wrong)


def test_openapi_routes_answer():
    """The routes are the server's: each documented method is routed (it
    gets past the router without a key: 401, or for the login, which needs
    none, 400 for its empty body), and each other of GET, POST and PATCH
    on the same path gets 405 with an Allow header naming exactly the
    documented methods. An admin route's {id} is tried as a payment id and
    as "all"."""
    from harness import request

    by_path = {}
    for path, method in routes():
        by_path.setdefault(path, set()).add(method.upper())
    for path, methods in sorted(by_path.items()):
        prefix = "acct_" if path.startswith("/v1/accounts/") else "pay_"
        ids = [prefix + "0" * 24] + (["all"] if path.startswith("/admin/") else [])
        for url in sorted({path.replace("{id}", i) for i in ids}):
            for method in sorted({"GET", "POST", "PATCH"} | methods):
                r = request(method, url, body={} if method == "POST" else None, key=None)
                if (path, method.lower()) == LOGIN:
                    assert r.status == 400 and r.error.get("param") == "email", (method, url, r)
                elif method in methods:
                    want = 200 if path in ("/healthz", "/readyz", "/metrics") else 401
                    assert r.status == want, (method, url, r)
                else:
                    assert r.status == 405, (method, url, r)
                    allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
                    assert allow == methods, (method, url, r.header("Allow"), methods)


def test_openapi_admin_routes_forbid_tenant_keys():
    """A tenant's (non-admin) key gets the documented 403 on every /admin/api
    route of the table (code forbidden, type permission_error, param null),
    before its request is looked at. The login takes no key: the tenant's
    key is not even looked up there, and the empty body is the answer's
    fault."""
    from harness import request

    table = admin_table()
    for path, method in sorted(admin_routes()):
        url = path.replace("{id}", "all")
        r = request(method.upper(), url, body={} if method == "post" else None)
        if (path, method) == LOGIN:
            assert r.status == 400, (method, url, r)
            assert (r.error.get("code"), r.error.get("param")) == ("invalid_request", "email"), r
            continue
        assert table[(path, method)][0] != "none", (path, method)
        assert r.status == 403 and set(r.json or {}) == {"error"}, (method, url, r)
        e = r.error
        assert set(e) == {"type", "code", "message", "param"}, (method, url, r)
        assert (e["type"], e["code"], e["param"]) == ("permission_error", "forbidden", None), r
