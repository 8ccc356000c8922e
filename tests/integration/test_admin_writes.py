"""The admin API's writes under an Idempotency-Key (docs/console.md): a
staff session's retry gets the first answer, another request under the same
key 422, keys scoped to the actor (never a tenant's nor another staff
member's), secrets never replayed; and an admin key refused on /v1 even when
Redis holds an account entry for it."""

import hashlib
import json
import os
import subprocess
import uuid

from harness import (KEY_A, assert_error, forget_cached_accounts, funded_account, get,
                     new_account, new_api_key, pay, post, remember_secrets, request, sql,
                     sql_value)
from test_admin_auth import logged_in


def _batch(*items):
    arg = json.dumps(list(items)).replace("'", "''")
    rows = sql(f"SELECT o_outcome, o_payload FROM fs_batch('{arg}') ORDER BY o_idx")
    forget_cached_accounts()
    return [(o, json.loads(p)) for o, p in rows]


def _succeeded(amount):
    """A payment the provider approved, driven by SQL as the worker would."""
    p = pay(funded_account(amount), new_account(), amount).json["id"]
    assert _batch({"op": "settle_claim", "payment": p})[0][0] == "ok"
    outcome, body = _batch({"op": "settle_finish", "payment": p, "result": "approved"})[0]
    assert outcome == "ok" and body["status"] == "succeeded", body
    return p


def _staff_id(console):
    st, _, js = console.call("GET", "/admin/api/session")
    assert st == 200, js
    return js["staff"]["id"]


def test_admin_refund_retried_with_the_same_key_refunds_once():
    support = logged_in("support")
    p = _succeeded(1000)
    key = str(uuid.uuid4())
    h = {"Idempotency-Key": key}
    body = {"amount": 100, "reason": "double click"}
    st, hd, first = support.call("POST", f"/admin/api/payments/{p}/refunds", body, headers=h)
    assert st == 201 and "idempotent-replayed" not in hd, first
    st, hd, again = support.call("POST", f"/admin/api/payments/{p}/refunds", body, headers=h)
    assert st == 201 and hd.get("idempotent-replayed") == "true", again
    assert again == first
    assert sql_value(f"SELECT count(*) FROM refunds WHERE payment_id = '{p}'") == "1"
    assert sql_value(f"SELECT count(*) FROM audit_log WHERE target = '{p}' "
                     "AND action = 'payment.refund'") == "1"
    # The record is the staff member's, committed with the refund.
    me = _staff_id(support)
    assert sql(f"SELECT tenant_id, outcome FROM idempotency_keys WHERE key = '{key}'") \
        == [[me, "created"]]
    # Another request under the key: 422, nothing done.
    st, _, js = support.call("POST", f"/admin/api/payments/{p}/refunds",
                             {"amount": 200, "reason": "double click"}, headers=h)
    assert st == 422 and js["error"]["code"] == "idempotency_key_reuse", js
    # The same key on another path is another request too.
    st, _, js = support.call("POST", f"/admin/api/payments/{p}/cancel",
                             {"reason": "double click"}, headers=h)
    assert st == 422 and js["error"]["code"] == "idempotency_key_reuse", js
    # Another staff member's key of the same text is their own.
    other = logged_in("support")
    st, hd, js = other.call("POST", f"/admin/api/payments/{p}/refunds", body, headers=h)
    assert st == 201 and "idempotent-replayed" not in hd and js["id"] != first["id"], js
    # And so is a tenant's, on /v1.
    r = post(f"/v1/payments/{p}/refunds", {"amount": 50}, idem=key)
    assert r.status == 201 and r.header("Idempotent-Replayed") is None, r
    assert sql_value(f"SELECT count(*) FROM refunds WHERE payment_id = '{p}'") == "3"
    # Without a key a session has no replay protection (docs/console.md).
    for _ in range(2):
        st, _, js = support.call("POST", f"/admin/api/payments/{p}/refunds",
                                 {"amount": 10, "reason": "no key"})
        assert st == 201, js
    assert sql_value(f"SELECT count(*) FROM refunds WHERE payment_id = '{p}'") == "5"
    # A malformed key is refused before anything is done.
    st, _, js = support.call("POST", f"/admin/api/payments/{p}/refunds", body,
                             headers={"Idempotency-Key": "x" * 300})
    assert st == 400 and js["error"]["param"] == "Idempotency-Key", js


def test_admin_cancel_and_account_writes_replay():
    support = logged_in("support")
    p = pay(funded_account(500), new_account(), 200).json["id"]
    h = {"Idempotency-Key": str(uuid.uuid4())}
    st, _, first = support.call("POST", f"/admin/api/payments/{p}/cancel", {"reason": "r"},
                                headers=h)
    assert st == 200 and first["status"] == "canceled", first
    st, hd, again = support.call("POST", f"/admin/api/payments/{p}/cancel", {"reason": "r"},
                                 headers=h)
    assert st == 200 and hd.get("idempotent-replayed") == "true" and again == first, again
    finance = logged_in("finance")
    acct = new_account()
    h = {"Idempotency-Key": str(uuid.uuid4())}
    adj = {"amount": 700, "reason": "goodwill"}
    st, _, first = finance.call("POST", f"/admin/api/accounts/{acct}/adjustments", adj,
                                headers=h)
    assert st == 201, first
    st, hd, again = finance.call("POST", f"/admin/api/accounts/{acct}/adjustments", adj,
                                 headers=h)
    assert st == 201 and hd.get("idempotent-replayed") == "true" and again == first, again
    assert sql_value(f"SELECT count(*) FROM audit_log WHERE target = '{acct}' "
                     "AND action = 'account.adjust'") == "1"
    assert get(f"/v1/accounts/{acct}").json["balance"]["available"] == 700
    st, _, js = finance.call("POST", f"/admin/api/accounts/{acct}/freeze", {"reason": "r"},
                             headers=h)
    assert st == 422 and js["error"]["code"] == "idempotency_key_reuse", js
    h = {"Idempotency-Key": str(uuid.uuid4())}
    for replayed in (False, True):
        st, hd, js = finance.call("POST", f"/admin/api/accounts/{acct}/freeze",
                                  {"reason": "r"}, headers=h)
        assert st == 200 and (hd.get("idempotent-replayed") == "true") == replayed, js
    assert sql_value(f"SELECT count(*) FROM audit_log WHERE target = '{acct}' "
                     "AND action = 'account.freeze'") == "1"


def test_admin_creates_replay_without_secrets():
    admin = logged_in("admin")
    name = "tenant-" + uuid.uuid4().hex[:8]
    h = {"Idempotency-Key": str(uuid.uuid4())}
    st, _, first = admin.call("POST", "/admin/api/tenants", {"name": name, "reason": "r"},
                              headers=h)
    assert st == 201, first
    st, hd, again = admin.call("POST", "/admin/api/tenants", {"name": name, "reason": "r"},
                               headers=h)
    assert st == 201 and hd.get("idempotent-replayed") == "true" and again == first, again
    tenant = first["id"]
    # A 400 keeps nothing: the corrected request under the same key runs.
    h = {"Idempotency-Key": str(uuid.uuid4())}
    st, _, js = admin.call("POST", "/admin/api/tenants", {"name": name, "reason": "r"},
                           headers=h)
    assert st == 400, js
    st, _, js = admin.call("POST", "/admin/api/tenants", {"name": name + "-2", "reason": "r"},
                           headers=h)
    assert st == 201 and js["name"] == name + "-2", js
    # A key: its secret once; the replay answers the same key without it.
    h = {"Idempotency-Key": str(uuid.uuid4())}
    st, _, key = admin.call("POST", f"/admin/api/tenants/{tenant}/keys", {"reason": "k"},
                            headers=h)
    assert st == 201 and key["secret"].startswith("fsk_"), key
    remember_secrets(key["secret"])
    st, hd, again = admin.call("POST", f"/admin/api/tenants/{tenant}/keys", {"reason": "k"},
                               headers=h)
    assert st == 201 and hd.get("idempotent-replayed") == "true", again
    assert again["id"] == key["id"] and again["secret"] is None, again
    assert sql_value(f"SELECT count(*) FROM api_keys WHERE tenant_id = '{tenant}'") == "1"
    assert get("/v1/accounts", key=key["secret"]).status == 200
    stored = sql_value(f"SELECT payload FROM idempotency_keys WHERE key = '{h['Idempotency-Key']}'")
    assert key["secret"] not in stored and key["secret"][4:] not in stored, stored
    # Revoke, replayed.
    h = {"Idempotency-Key": str(uuid.uuid4())}
    for replayed in (False, True):
        st, hd, js = admin.call("POST", f"/admin/api/keys/{key['id']}/revoke",
                                {"reason": "leak"}, headers=h)
        assert st == 200 and (hd.get("idempotent-replayed") == "true") == replayed, js
        assert "key_hash" not in js
    # Limits, replayed.
    h = {"Idempotency-Key": str(uuid.uuid4())}
    for replayed in (False, True):
        st, hd, js = admin.call("POST", f"/admin/api/tenants/{tenant}/limits",
                                {"per_s": 7, "burst": 9, "reason": "r"}, headers=h)
        assert st == 200 and (hd.get("idempotent-replayed") == "true") == replayed, js
        assert "key_hashes" not in js
    # Staff: the password once; the replay answers the same staff without it.
    email = f"idem-{uuid.uuid4().hex[:8]}@example.com"
    h = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"email": email, "role": "viewer", "reason": "hire"}
    st, _, first = admin.call("POST", "/admin/api/staff", body, headers=h)
    assert st == 201 and len(first["password"]) >= 16, first
    remember_secrets(first["password"])
    st, hd, again = admin.call("POST", "/admin/api/staff", body, headers=h)
    assert st == 201 and hd.get("idempotent-replayed") == "true", again
    assert again["id"] == first["id"] and again["password"] is None, again
    assert sql_value(f"SELECT count(*) FROM staff WHERE email = '{email}'") == "1"
    stored = sql_value(f"SELECT payload FROM idempotency_keys WHERE key = '{h['Idempotency-Key']}'")
    assert first["password"] not in stored, stored


def test_admin_key_writes_keyed_by_the_key():
    admin_key = new_api_key("test-admin-idem", admin=True)
    key_id = sql_value("SELECT id FROM api_keys ORDER BY created_at DESC LIMIT 1")
    name = "tenant-" + uuid.uuid4().hex[:8]
    idem = str(uuid.uuid4())
    first = post("/admin/api/tenants", {"name": name, "reason": "r"}, key=admin_key, idem=idem)
    assert first.status == 201, first
    again = post("/admin/api/tenants", {"name": name, "reason": "r"}, key=admin_key, idem=idem)
    assert again.status == 201 and again.header("Idempotent-Replayed") == "true", again
    assert again.json == first.json
    assert sql(f"SELECT tenant_id FROM idempotency_keys WHERE key = '{idem}'") == [[key_id]]
    # The pre-console routes still need one from a key.
    r = request("POST", f"/admin/api/accounts/{new_account()}/freeze", {}, key=admin_key,
                idem=None)
    assert_error(r, 400, "idempotency_key_missing", "Idempotency-Key")


def test_admin_key_refused_on_v1_whatever_redis_holds():
    # A tenant's key reads an account: Redis keeps it under that key's hash.
    key = new_api_key("test-admin-cache")
    acct = new_account(key=key)
    for _ in range(2):
        r = get(f"/v1/accounts/{acct}", key=key)
        assert r.status == 200, r
    # The key becomes an operator's (an UPDATE of its scope, its cached
    # tenant gone as a revocation's is): the cached account must not answer
    # it.
    sql(f"UPDATE api_keys SET is_admin = true, scope = 'operator:admin' "
        f"WHERE key_hash = {_hash_sql(key)}")
    _forget_auth(key)
    for _ in range(2):
        r = get(f"/v1/accounts/{acct}", key=key)
        assert_error(r, 403, "admin_key_scope", None)
    # A key revoked through the admin API: 401, not its cached account.
    key2 = new_api_key("test-admin-cache-2")
    acct2 = new_account(key=key2)
    for _ in range(2):
        assert get(f"/v1/accounts/{acct2}", key=key2).status == 200
    key2_id = sql_value(f"SELECT id FROM api_keys WHERE key_hash = {_hash_sql(key2)}")
    admin = logged_in("admin")
    st, _, js = admin.call("POST", f"/admin/api/keys/{key2_id}/revoke", {"reason": "r"})
    assert st == 200, js
    r = get(f"/v1/accounts/{acct2}", key=key2)
    assert r.status == 401, r
    # A plain key is still answered, from Redis once cached.
    mine = new_account()
    for _ in range(3):
        assert get(f"/v1/accounts/{mine}", key=KEY_A).status == 200


def _hash_sql(key):
    return f"decode('{hashlib.sha256(key.encode()).hexdigest()}', 'hex')"


def _forget_auth(key):
    """What a revocation through the admin API does to Redis: the key's
    cached tenant, limits and admin flag (fs:auth:<hash>) go."""
    port = os.environ.get("FINSYS_REDIS_PORT", "")
    if not port:
        return
    h = hashlib.sha256(key.encode()).hexdigest()
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", port, "DEL", f"fs:auth:{h}"],
                   capture_output=True, timeout=30, check=True)


def test_replay_404_names_the_kind_of_id():
    """The replay's 404 says what the id is: a payment, a refund or a webhook
    delivery (the route takes all three)."""
    support = logged_in("support")
    for ident, kind in (("pay_nodeadletter0000000000", "payment"),
                        ("re_nodeadletter00000000000", "refund"),
                        ("whd_nodeadletter0000000000", "webhook delivery")):
        st, _, js = support.call("POST", f"/admin/api/dead-letters/{ident}/replay",
                                 {"reason": "retry"})
        assert st == 404 and js["error"]["code"] == "not_found", js
        assert js["error"]["message"] == f"No dead letter for {kind} '{ident}'", js
        assert js["error"]["param"] == "id", js
