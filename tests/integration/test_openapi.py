"""docs/openapi.yaml describes exactly the routes the server has: the same
paths with the same methods, no more, no fewer. Standard library only: the
document is read with a few regular expressions, not a YAML parser."""

import os
import re

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.yaml")

# The routes of src/api/api.c (match() and allowed()). HEAD is served as GET
# by src/http/server.c and is not listed separately.
ROUTES = {
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
    ("/v1/events", "get"),
    ("/v1/payments/{id}/refunds", "get"),
    ("/v1/payments/{id}/refunds", "post"),
    ("/v1/refunds/{id}", "get"),
    ("/v1/payments/{id}/receipt", "get"),
    ("/admin/api/dead-letters", "get"),
    ("/admin/api/dead-letters/{id}/replay", "post"),
    # Operators' balance operations under the account's lock (src/lock).
    ("/admin/api/accounts/{id}/adjustments", "post"),
    ("/admin/api/accounts/{id}/freeze", "post"),
    ("/admin/api/accounts/{id}/unfreeze", "post"),
    ("/admin/api/accounts/{id}/close", "post"),
    # --- admin console: read routes (docs/console.md; staff session or admin key) ---
    ("/admin/api/overview", "get"),
    ("/admin/api/stream", "get"),  # Server-Sent Events
    ("/admin/api/payments", "get"),
    ("/admin/api/payments/{id}", "get"),
    ("/admin/api/payments/{id}/receipt", "get"),  # text/html
    ("/admin/api/accounts", "get"),
    ("/admin/api/accounts/{id}", "get"),
    ("/admin/api/accounts/{id}/journal", "get"),
    ("/admin/api/tenants", "get"),
    ("/admin/api/tenants/{id}/keys", "get"),
    ("/v1/webhook_endpoints", "get"),
    ("/v1/webhook_endpoints", "post"),
    ("/v1/webhook_endpoints/{id}", "get"),
    ("/v1/webhook_endpoints/{id}", "delete"),
}

# The admin routes: only an admin API key may use them.
ADMIN_ROUTES = {(path, method) for path, method in ROUTES if path.startswith("/admin/")}

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def documented_routes(text):
    """The (path, method) pairs under the top-level paths: key."""
    m = re.search(r"^paths:[ \t]*\n(.*?)(?=^\S)", text, re.M | re.S)
    assert m, "docs/openapi.yaml has no top-level paths:"
    routes, path = set(), None
    for line in m.group(1).splitlines():
        key = re.match(r"^  (['\"]?)(/[^'\":]*)\1:\s*$", line)
        if key:
            path = key.group(2)
            continue
        op = re.match(r"^    ([a-z]+):", line)
        if op and op.group(1) in METHODS:
            assert path is not None, line
            routes.add((path, op.group(1)))
    return routes


def test_openapi_routes_match():
    with open(DOC, encoding="utf-8") as f:
        documented = documented_routes(f.read())
    missing = sorted(ROUTES - documented)
    extra = sorted(documented - ROUTES)
    assert not missing and not extra, (
        f"docs/openapi.yaml drifted from src/api/api.c: undocumented routes {missing}, "
        f"documented routes the server does not have {extra}")


def test_openapi_routes_answer():
    """The hard-coded routes are the server's: each documented method is
    routed (it gets past the router without a key), and the other of GET and
    POST on the same path gets 405 with an Allow header naming exactly the
    documented methods. The replay route's {id} is tried as a payment id and
    as "all"."""
    from harness import request

    by_path = {}
    for path, method in ROUTES:
        by_path.setdefault(path, set()).add(method.upper())
    for path, methods in sorted(by_path.items()):
        prefix = "acct_" if path.startswith("/v1/accounts/") else "pay_"
        ids = [prefix + "0" * 24] + (["all"] if path.startswith("/admin/") else [])
        for url in sorted({path.replace("{id}", i) for i in ids}):
            for method in ("GET", "POST"):
                r = request(method, url, body={} if method == "POST" else None, key=None)
                if method in methods:
                    want = 200 if path in ("/healthz", "/readyz", "/metrics") else 401
                    assert r.status == want, (method, url, r)
                else:
                    assert r.status == 405, (method, url, r)
                    allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
                    assert allow == methods, (method, url, r.header("Allow"), methods)


def test_openapi_admin_routes_forbid_tenant_keys():
    """A tenant's (non-admin) key gets the documented 403: code forbidden,
    type permission_error, param null."""
    from harness import request

    assert ADMIN_ROUTES, "no /admin/ route in ROUTES"
    for path, method in sorted(ADMIN_ROUTES):
        url = path.replace("{id}", "all")
        r = request(method.upper(), url, body={} if method == "post" else None)
        assert r.status == 403 and set(r.json or {}) == {"error"}, (method, url, r)
        e = r.error
        assert set(e) == {"type", "code", "message", "param"}, (method, url, r)
        assert (e["type"], e["code"], e["param"]) == ("permission_error", "forbidden", None), r
