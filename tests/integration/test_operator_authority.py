"""Operator authority apart from tenant keys, and deposits as a tenant
setting (issue 13, db/migrations/0030_operator_authority.sql,
docs/operations.md "Operator authority and deposits"): an API key's scope,
not the old is_admin flag, gives power on /admin/api, each operator key only
its role's; every admin action's audit row names its actor; a tenant's own
keys deposit only while its deposits_enabled is on, off for a new tenant."""

import hashlib
import uuid

from harness import (assert_error, balance, get, new_account, new_api_key, post, set_deposits,
                     sql, sql_value)


def _hash_sql(key):
    return f"decode('{hashlib.sha256(key.encode()).hexdigest()}', 'hex')"


def _key_id(key):
    return sql_value(f"SELECT id FROM api_keys WHERE key_hash = {_hash_sql(key)}")


def _adjust(acct, amount, key):
    return post(f"/admin/api/accounts/{acct}/adjustments",
                {"amount": amount, "reason": "goodwill credit"}, key=key)


def test_a_tenant_key_with_the_old_admin_flag_cannot_create_money():
    tag = uuid.uuid4().hex[:10]
    key = new_api_key(f"authority-{tag}")
    acct = new_account(key=key)
    # The old flag, set by hand on a tenant's key: no authority any more.
    sql(f"UPDATE api_keys SET is_admin = true WHERE key_hash = {_hash_sql(key)}")
    r = _adjust(acct, 5000, key)
    assert_error(r, 403, "forbidden", None)
    assert "operator" in r.json["error"]["message"], r
    r = get("/admin/api/tenants", key=key)
    assert_error(r, 403, "forbidden", None)
    assert balance(acct, key=key) == (0, 0)
    assert sql_value(f"SELECT count(*) FROM adjustments WHERE account_id = '{acct}'") == "0"
    assert sql_value(f"SELECT count(*) FROM audit_log WHERE target = '{acct}'") == "0"


def test_an_operator_key_acts_within_its_role_and_is_audited():
    tag = uuid.uuid4().hex[:10]
    tenant_key = new_api_key(f"authority-t-{tag}")
    acct = new_account(key=tenant_key)
    finance = new_api_key(f"ops-{tag}", operator="finance")
    viewer = new_api_key(f"ops-{tag}", operator="viewer")
    # Money needs the finance role: a viewer reads, and is refused.
    assert get(f"/admin/api/accounts/{acct}", key=viewer).status == 200
    r = _adjust(acct, 700, viewer)
    assert_error(r, 403, "forbidden", None)
    assert "finance" in r.json["error"]["message"], r
    assert balance(acct, key=tenant_key) == (0, 0)
    # The finance operator's adjustment: done, and its audit row names it.
    r = _adjust(acct, 700, finance)
    assert r.status == 201, r
    assert balance(acct, key=tenant_key) == (700, 0)
    rows = sql(f"SELECT actor, role, action, reason FROM audit_log WHERE target = '{acct}'")
    assert rows == [[_key_id(finance), "finance", "account.adjust", "goodwill credit"]], rows
    # Key management is the admin role's: finance is refused.
    ops = sql_value(f"SELECT id FROM tenants WHERE name = 'ops-{tag}'")
    r = post(f"/admin/api/tenants/{ops}/keys", {"reason": "r"}, key=finance)
    assert_error(r, 403, "forbidden", None)
    # An operator key is no tenant key: refused on /v1.
    r = get(f"/v1/accounts/{acct}", key=finance)
    assert_error(r, 403, "admin_key_scope", None)
    # --admin is an operator key with the admin role (as before the scopes).
    admin = new_api_key(f"ops-{tag}", admin=True)
    assert sql_value(f"SELECT scope FROM api_keys WHERE key_hash = {_hash_sql(admin)}") \
        == "operator:admin"
    assert _adjust(acct, 1, admin).status == 201


def test_deposits_are_off_for_a_new_tenant_and_refused_changing_nothing():
    tag = uuid.uuid4().hex[:10]
    name = f"deposits-{tag}"
    key = new_api_key(name, deposits=False)
    acct = new_account(key=key)
    before = sql_value("SELECT count(*) FROM deposits")
    idem = str(uuid.uuid4())
    r = post(f"/v1/accounts/{acct}/deposits", {"amount": 1000}, key=key, idem=idem)
    e = assert_error(r, 403, "deposits_disabled", None)
    assert "deposits_enabled" in e["message"], e
    assert balance(acct, key=key) == (0, 0)
    assert sql_value(f"SELECT count(*) FROM deposits WHERE account_id = '{acct}'") == "0"
    assert sql_value(f"SELECT count(*) FROM journal_entries WHERE account_id = '{acct}'") == "0"
    assert sql_value(f"SELECT deposits_enabled FROM tenants WHERE name = '{name}'") == "f"
    # Turned on: the same request, under the same Idempotency-Key (the
    # refusal stored nothing), is a deposit.
    set_deposits(name, True)
    r = post(f"/v1/accounts/{acct}/deposits", {"amount": 1000}, key=key, idem=idem)
    assert r.status == 201, r
    assert balance(acct, key=key) == (1000, 0)
    assert int(sql_value("SELECT count(*) FROM deposits")) == int(before) + 1
    # The tenants of before the migration (test-a) keep theirs.
    assert sql_value("SELECT deposits_enabled FROM tenants WHERE name = 'test-a'") == "t"


def test_an_operator_sets_deposits_through_the_admin_api_audited():
    tag = uuid.uuid4().hex[:10]
    admin = new_api_key(f"ops-dep-{tag}", admin=True)
    # A tenant made through the admin API: deposits off.
    r = post("/admin/api/tenants", {"name": f"made-{tag}", "reason": "onboarding"}, key=admin)
    assert r.status == 201 and r.json["deposits_enabled"] is False, r
    ten = r.json["id"]
    key = new_api_key(f"made-{tag}", deposits=False)
    acct = new_account(key=key)
    assert_error(post(f"/v1/accounts/{acct}/deposits", {"amount": 5}, key=key), 403,
                 "deposits_disabled", None)
    # Only the admin role sets it.
    finance = new_api_key(f"ops-dep-{tag}", operator="finance")
    r = post(f"/admin/api/tenants/{ten}/deposits", {"enabled": True, "reason": "r"}, key=finance)
    assert_error(r, 403, "forbidden", None)
    r = post(f"/admin/api/tenants/{ten}/deposits", {"enabled": "yes", "reason": "r"}, key=admin)
    assert_error(r, 400, "invalid_request", "enabled")
    r = post(f"/admin/api/tenants/{ten}/deposits", {"enabled": True, "reason": "funding flow"},
             key=admin)
    assert r.status == 200 and r.json["deposits_enabled"] is True, r
    assert post(f"/v1/accounts/{acct}/deposits", {"amount": 5}, key=key).status == 201
    rows = sql(f"SELECT actor, action, before->>'deposits_enabled', after->>'deposits_enabled' "
               f"FROM audit_log WHERE target = '{ten}' AND action = 'tenant.deposits'")
    assert rows == [[_key_id(admin), "tenant.deposits", "false", "true"]], rows
    # And off again.
    r = post(f"/admin/api/tenants/{ten}/deposits", {"enabled": False, "reason": "r"}, key=admin)
    assert r.status == 200, r
    assert_error(post(f"/v1/accounts/{acct}/deposits", {"amount": 5}, key=key), 403,
                 "deposits_disabled", None)
    assert balance(acct, key=key) == (5, 0)
