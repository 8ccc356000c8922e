"""API keys' lifecycle (issue 13, docs/operations.md "API keys"): list,
revoke, rotate with an overlap, expire, through `finsys apikey` and the
admin API; a key that stopped working is never answered from a cache (the
accounts and replays Redis holds under it, its cached tenant); and an
operator's freeze, close or adjustment is seen by the next read at once
(the account cache is invalidated as for every other writer)."""

import hashlib
import json
import os
import re
import subprocess
import time
import uuid

from harness import (assert_error, funded_account, get, new_account, new_api_key, pay, post,
                     remember_secrets, sql, sql_value)
from test_admin_auth import logged_in

# src/core/limits.h FS_APIKEY_AUTH_CACHE_S: the longest Redis's copy of a
# key's tenant lives, so the longest a revocation Redis did not hear of can
# leave the key answered from Redis.
AUTH_CACHE_S = 5

_SECRET = re.compile(r"fsk_[A-Za-z0-9]{40}")


def _cli(*args, check=True):
    r = subprocess.run([os.environ["FINSYS_BIN"], "apikey", *args], capture_output=True,
                       text=True, timeout=60)
    remember_secrets(r.stdout + r.stderr)
    if check:
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


def _key_row(key):
    """id, prefix of a key by its secret."""
    return sql(f"SELECT id, prefix FROM api_keys "
               f"WHERE key_hash = sha256('{key}'::bytea)")[0]


def _redis(*args):
    port = os.environ.get("FINSYS_REDIS_PORT")
    if not port:
        return ""
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", port, *args],
                          capture_output=True, text=True, timeout=30, check=True).stdout.strip()


def _cached(key, acct):
    """Uses key on acct until its account is answered from Redis (a second
    read after the fill), and replays an account's creation under one
    Idempotency-Key until Redis holds its replay: what a revocation must not
    leave answering. Returns that Idempotency-Key."""
    for _ in range(3):
        r = get(f"/v1/accounts/{acct}", key=key)
        assert r.status == 200, r
    idem = str(uuid.uuid4())
    first = post("/v1/accounts", {"currency": "USD"}, key=key, idem=idem)
    assert first.status == 201, first
    for _ in range(2):
        again = post("/v1/accounts", {"currency": "USD"}, key=key, idem=idem)
        assert again.status == 201 and again.header("Idempotent-Replayed") == "true", again
    return idem


def _refused(key, acct, idem):
    """True when the key gets 401 on an account read and on its replay."""
    r = get(f"/v1/accounts/{acct}", key=key)
    d = post("/v1/accounts", {"currency": "USD"}, key=key, idem=idem)
    if r.status == 401 and d.status == 401:
        assert_error(r, 401, "unauthorized", None)
        return True
    assert r.status == 200 and d.status == 201, (r, d)
    return False


def test_a_revoked_key_gets_401_at_once_even_right_after_a_cached_use():
    key = new_api_key("keys-revoke")
    key_id, prefix = _key_row(key)
    acct = new_account(key=key)
    idem = _cached(key, acct)
    r = _cli("revoke", "--key", prefix, "--reason", "leaked in a log")
    assert r.stdout.split()[:3] == [key_id, prefix, sql_value(
        f"SELECT tenant_id FROM api_keys WHERE id = '{key_id}'")], r.stdout
    assert "revoked" in r.stdout and not _SECRET.search(r.stdout + r.stderr), r
    # The very next request, of each kind Redis could answer.
    assert _refused(key, acct, idem)
    r = get(f"/v1/payments?limit=1", key=key)
    assert_error(r, 401, "unauthorized", None)
    assert _redis("EXISTS", f"fs:auth:{_hash(key)}") in ("0", "")
    # Audited, and idempotent: revoking again says so and changes nothing.
    assert sql_value(f"SELECT actor FROM audit_log WHERE target = '{key_id}' "
                     "AND action = 'api_key.revoke'") == "cli"
    at = sql_value(f"SELECT revoked_at FROM api_keys WHERE id = '{key_id}'")
    _cli("revoke", "--key", key_id)
    assert sql_value(f"SELECT revoked_at FROM api_keys WHERE id = '{key_id}'") == at
    # Errors name what is wrong.
    r = _cli("revoke", "--key", "key_doesnotexist", check=False)
    assert r.returncode == 1 and "no API key" in r.stderr, r
    r = _cli("revoke", check=False)
    assert r.returncode == 2 and "--key" in r.stderr, r


def test_a_key_revoked_behind_the_servers_back_stops_within_the_bound():
    # A revocation Redis never heard of (psql here; a failed DEL, a race
    # with a refill): Redis's copy of the key's tenant lives at most
    # AUTH_CACHE_S, and nothing cached answers for the key after it.
    key = new_api_key("keys-revoke-sql")
    acct = new_account(key=key)
    idem = _cached(key, acct)
    sql(f"UPDATE api_keys SET revoked_at = now() WHERE key_hash = sha256('{key}'::bytea)")
    deadline = time.monotonic() + AUTH_CACHE_S + 1.5
    while not _refused(key, acct, idem):
        assert time.monotonic() < deadline, "a revoked key was still answered from Redis"
        time.sleep(0.25)
    for _ in range(3):
        assert _refused(key, acct, idem)


def test_an_expired_key_gets_401():
    key = _cli("create", "--tenant", "keys-expire", "--expires-in", "4s").stdout.strip()
    key_id, _ = _key_row(key)
    acct = new_account(key=key)
    idem = _cached(key, acct)
    left = float(sql_value(f"SELECT extract(epoch FROM expires_at - now()) FROM api_keys "
                           f"WHERE id = '{key_id}'"))
    assert 0 < left <= 4, left
    time.sleep(left + 0.2)
    # At once: Redis's copy never outlives the key.
    assert _refused(key, acct, idem)
    st = sql_value(f"SELECT fs_api_key_json(k)->>'status' FROM api_keys k WHERE id = '{key_id}'")
    assert st == "expired", st
    r = _cli("create", "--tenant", "keys-expire", "--expires-in", "soon", check=False)
    assert r.returncode == 2 and "--expires-in" in r.stderr, r


def test_a_rotated_key_works_until_the_overlap_ends_and_the_new_one_at_once():
    admin = logged_in("admin")
    old = new_api_key("keys-rotate")
    old_id, old_prefix = _key_row(old)
    acct = new_account(key=old)
    idem = _cached(old, acct)
    st, _, js = admin.call("POST", f"/admin/api/keys/{old_id}/rotate",
                           {"overlap_s": 3, "reason": "yearly rotation"},
                           headers={"Idempotency-Key": str(uuid.uuid4())})
    assert st == 201, js
    new = js["secret"]
    remember_secrets(new)
    assert new.startswith("fsk_") and js["prefix"] == new[:12] and js["status"] == "active", js
    assert js["rotated_from"]["id"] == old_id and js["rotated_from"]["rotated_to"] == js["id"]
    assert "key_hash" not in js and old not in json.dumps(js), js
    # Both work now: the new key at once, on the same tenant's accounts.
    assert get(f"/v1/accounts/{acct}", key=new).status == 200
    assert get(f"/v1/accounts/{acct}", key=old).status == 200
    # The old one stops at the overlap's end, its cached copy with it.
    end = time.monotonic() + 3
    while time.monotonic() < end - 0.5:
        assert get(f"/v1/accounts/{acct}", key=old).status == 200
        time.sleep(0.25)
    time.sleep(max(0.0, end - time.monotonic()) + 0.3)
    assert _refused(old, acct, idem)
    assert get(f"/v1/accounts/{acct}", key=new).status == 200
    # A replaced key cannot be rotated again (409), and the overlap is bounded.
    st, _, js = admin.call("POST", f"/admin/api/keys/{old_id}/rotate", {"reason": "again"})
    assert st == 409 and js["error"]["code"] == "api_key_inactive", js
    new_id, _ = _key_row(new)
    st, _, js = admin.call("POST", f"/admin/api/keys/{new_id}/rotate",
                           {"overlap_s": 10 ** 9, "reason": "r"})
    assert st == 400 and js["error"]["param"] == "overlap_s", js
    # The CLI: the new secret alone on stdout, what it replaced on stderr.
    r = _cli("rotate", "--key", new_id, "--overlap", "1h")
    newer = r.stdout.strip()
    assert _SECRET.fullmatch(newer), r.stdout
    assert new_id in r.stderr and "works until" in r.stderr, r.stderr
    assert get(f"/v1/accounts/{acct}", key=newer).status == 200
    assert get(f"/v1/accounts/{acct}", key=new).status == 200  # within its hour
    left = float(sql_value(f"SELECT extract(epoch FROM expires_at - now()) FROM api_keys "
                           f"WHERE id = '{new_id}'"))
    assert 3500 < left <= 3600, left
    r = _cli("rotate", "--key", new_id, check=False)
    assert r.returncode == 1 and "rotated" in r.stderr, r
    assert sql_value(f"SELECT count(*) FROM audit_log WHERE target = '{old_id}' "
                     "AND action = 'api_key.rotate'") == "1"
    assert old_prefix != newer[:12]


def test_lists_show_keys_without_secrets():
    tenant_name = "keys-list-" + uuid.uuid4().hex[:6]
    a = new_api_key(tenant_name)
    b = _cli("create", "--tenant", tenant_name, "--expires-in", "1d").stdout.strip()
    a_id, a_prefix = _key_row(a)
    b_id, _ = _key_row(b)
    _cli("revoke", "--key", a_id)
    tenant = sql_value(f"SELECT id FROM tenants WHERE name = '{tenant_name}'")
    admin = logged_in("viewer")
    st, _, js = admin.call("GET", f"/admin/api/tenants/{tenant}/keys")
    assert st == 200, js
    by_id = {k["id"]: k for k in js["data"]}
    assert set(by_id) == {a_id, b_id}, js
    assert by_id[a_id]["status"] == "revoked" and by_id[a_id]["revoked_at"], by_id[a_id]
    assert by_id[b_id]["status"] == "active" and by_id[b_id]["expires_at"], by_id[b_id]
    assert by_id[a_id]["prefix"] == a_prefix
    text = json.dumps(js)
    assert not _SECRET.search(text) and "key_hash" not in text and "secret" not in text, text
    assert _hash(a) not in text and _hash(b) not in text
    # The CLI: a table, and --json.
    r = _cli("list", "--tenant", tenant_name)
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "PREFIX", "STATUS"], r.stdout
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert rows[a_id][1:3] == [a_prefix, "revoked"] and rows[b_id][2] == "active", r.stdout
    assert not _SECRET.search(r.stdout) and _hash(a) not in r.stdout
    r = _cli("list", "--tenant", tenant_name, "--json")
    keys = json.loads(r.stdout)
    assert [k["id"] for k in keys] == [b_id, a_id], keys
    assert not _SECRET.search(r.stdout) and "key_hash" not in r.stdout
    r = _cli("list", "--tenant", "no-such-tenant-" + uuid.uuid4().hex, check=False)
    assert r.returncode == 1 and "no tenant" in r.stderr, r


def test_an_operators_freeze_close_and_adjustment_are_read_at_once():
    finance = logged_in("finance")
    src = funded_account(1000)
    dst = new_account()
    empty = new_account()
    for a in (src, empty):
        for _ in range(3):  # filled, then answered from Redis
            r = get(f"/v1/accounts/{a}")
            assert r.status == 200 and r.json["status"] == "active", r
    st, _, js = finance.call("POST", f"/admin/api/accounts/{src}/freeze", {"reason": "fraud"})
    assert st == 200 and js["status"] == "frozen", js
    r = get(f"/v1/accounts/{src}")
    assert r.status == 200 and r.json["status"] == "frozen", r
    assert_error(pay(src, dst, 100), 409, "account_inactive", "from_account")
    st, _, js = finance.call("POST", f"/admin/api/accounts/{src}/unfreeze", {"reason": "ok"})
    assert st == 200, js
    assert get(f"/v1/accounts/{src}").json["status"] == "active"
    st, _, js = finance.call("POST", f"/admin/api/accounts/{src}/adjustments",
                             {"amount": -250, "reason": "chargeback fee"})
    assert st == 201, js
    assert get(f"/v1/accounts/{src}").json["balance"]["available"] == 750
    st, _, js = finance.call("POST", f"/admin/api/accounts/{empty}/close", {"reason": "asked"})
    assert st == 200 and js["status"] == "closed", js
    r = get(f"/v1/accounts/{empty}")
    assert r.json["status"] == "closed", r
    # With an admin API key, the pre-console way, the same.
    admin_key = new_api_key("keys-freeze-admin", admin=True)
    for _ in range(2):
        assert get(f"/v1/accounts/{src}").json["status"] == "active"
    r = post(f"/admin/api/accounts/{src}/freeze", {}, key=admin_key)
    assert r.status == 200, r
    assert get(f"/v1/accounts/{src}").json["status"] == "frozen"
    assert_error(pay(src, dst, 100), 409, "account_inactive", "from_account")


def _hash(key):
    return hashlib.sha256(key.encode()).hexdigest()
