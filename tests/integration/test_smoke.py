"""The life of an account and a payment, end to end."""

from harness import KEY_A, check_ledger, deposit, get, new_account, pay, post


def test_health():
    assert get("/healthz", key=None).status == 200
    r = get("/readyz", key=None)
    assert r.status == 200 and r.json["checks"]["database"]["status"] == "ok", r
    # The integration run's server has a Redis and a broker of its own.
    for dep in ("database", "redis", "nats"):
        assert r.json["checks"][dep]["status"] == "ok", r.json
        assert r.json["checks"][dep]["latency_ms"] >= 0, r.json


def test_payment_holds_funds():
    a = new_account("USD", name="Alice")
    b = new_account("USD")
    deposit(a, 1000)
    r = pay(a, b, 600)
    assert r.status == 201 and r.json["status"] == "pending", r
    acct = get(f"/v1/accounts/{a}").json
    assert acct["balance"] == {"available": 400, "pending": 600, "currency": "USD"}, acct
    assert check_ledger() == []
