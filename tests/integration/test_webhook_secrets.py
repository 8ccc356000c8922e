"""Webhook secrets at rest (issue 13, docs/operations.md "Secrets at rest"):
an endpoint's signing secret is shown by the first answer to its creation
only; the database holds it sealed (libsodium secretbox under
FINSYS_SECRETS_KEY), the idempotency record and Redis's cached replays not at
all; a replay answers "secret": null. Deliveries are still signed with it.
A secret stored in clear before migration 0029 is sealed when a server
starts. A server does not start without the key, nor with one that does not
open the stored secrets."""

import os
import subprocess
import uuid

from harness import (DATABASE_URL, FINSYS_BIN, Proc, free_port, post, remember_secrets, request,
                     sql, sql_value)
from test_settle_pipeline import Pipeline
from test_webhooks import Receiver, _api, _funded_pair, _stop, _tenant_key

REDIS_PORT = os.environ.get("FINSYS_REDIS_PORT", "")


def _redis_dump(port):
    """Every key and value in the suite's Redis, as text (strings, hashes,
    lists, sets and sorted sets)."""
    def cli(commands):
        return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)],
                              input="\n".join(commands) + "\n", capture_output=True,
                              text=True, timeout=60, check=True).stdout

    keys = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--scan"],
                          capture_output=True, text=True, timeout=60,
                          check=True).stdout.split()
    if not keys:
        return ""
    types = cli([f"TYPE {k}" for k in keys]).split()
    read = {"string": "GET {}", "hash": "HGETALL {}", "list": "LRANGE {} 0 -1",
            "set": "SMEMBERS {}", "zset": "ZRANGE {} 0 -1 WITHSCORES", "stream": "XRANGE {} - +"}
    return "\n".join(keys) + "\n" + cli([read[t].format(k) for k, t in zip(keys, types)
                                          if t in read])


def _database_dump():
    """Every row of every table of the suite's database, as pg_dump writes
    them."""
    return subprocess.run(["pg_dump", "--data-only", "--no-owner", DATABASE_URL],
                          capture_output=True, text=True, timeout=120, check=True).stdout


def test_webhook_secrets_are_sealed_at_rest_and_never_replayed():
    key = _tenant_key()
    r1, r2 = Receiver(), Receiver()
    pl = None
    try:
        # The first answer has the secret; its replays (the database's
        # stored answer, then Redis's cached copy of it) do not.
        idem = str(uuid.uuid4())
        body = {"url": r1.url, "events": ["payment.succeeded"]}
        first = post("/v1/webhook_endpoints", body, key=key, idem=idem)
        assert first.status == 201, first
        s1 = first.json["secret"]
        assert s1.startswith("whsec_"), first.json
        remember_secrets(s1)
        r1.secret = s1
        for _ in range(2):
            again = post("/v1/webhook_endpoints", body, key=key, idem=idem)
            assert again.status == 201 and again.header("Idempotent-Replayed") == "true", again
            assert again.json["secret"] is None, again.json
            assert {k: v for k, v in again.json.items() if k != "secret"} == \
                {k: v for k, v in first.json.items() if k != "secret"}
            assert s1 not in again.raw and s1[6:] not in again.raw
        e1 = first.json["id"]
        row = sql(f"SELECT secret IS NULL, secret_sealed FROM webhook_endpoints "
                  f"WHERE id = '{e1}'")[0]
        assert row[0] == "t" and row[1].startswith("sb1:"), row

        # An endpoint as a server before 0029 stored it: its secret in clear.
        second = post("/v1/webhook_endpoints", {"url": r2.url, "events": ["payment.succeeded"]},
                      key=key)
        assert second.status == 201, second
        s2, e2 = second.json["secret"], second.json["id"]
        remember_secrets(s2)
        r2.secret = s2
        sql(f"UPDATE webhook_endpoints SET secret = '{s2}', secret_sealed = NULL "
            f"WHERE id = '{e2}'")

        # A server that starts seals it; the worker signs with both.
        pl = Pipeline()
        assert "webhook secret" in pl.server.text() and "sealed" in pl.server.text(), \
            pl.server.text()[-2000:]
        row = sql(f"SELECT secret IS NULL, secret_sealed FROM webhook_endpoints "
                  f"WHERE id = '{e2}'")[0]
        assert row[0] == "t" and row[1].startswith("sb1:"), row
        a, b = _funded_pair(pl, key, 1_000)
        status, p = _api(pl, key, "POST", "/v1/payments",
                         {"from_account": a, "to_account": b, "amount": 5, "currency": "USD"})
        assert status == 201, p
        for r in (r1, r2):
            (_, headers, payload, verified), = r.wait(1)
            assert verified, (headers, payload)
            assert headers["FinSys-Delivery-Attempt"] == "1", headers

        # Nowhere at rest in clear: no row of any table, no Redis key or
        # value (a replay was cached there above).
        dump = _database_dump()
        assert e1 in dump and e2 in dump
        for s in (s1, s2):
            assert s[6:] not in dump, "a webhook secret is stored in clear"
        if REDIS_PORT:
            cached = _redis_dump(REDIS_PORT)
            assert idem in cached, "the replay was not cached in Redis"
            for s in (s1, s2):
                assert s[6:] not in cached, "a webhook secret is in Redis"
        assert sql_value("SELECT count(*) FROM idempotency_keys "
                         f"WHERE payload LIKE '%{s1[6:]}%' OR payload LIKE '%{s2[6:]}%'") == "0"
        for e in (e1, e2):
            assert _api(pl, key, "DELETE", f"/v1/webhook_endpoints/{e}")[0] == 200
    finally:
        r1.stop()
        r2.stop()
        if pl is not None:
            _stop(pl)


def _server_refuses(env):
    """Starts `finsys server` with env on a free port: it must exit by itself
    (not serve); returns its exit status and stderr."""
    e = dict(os.environ, FINSYS_HTTP_PORT=str(free_port()))
    e.update(env)
    p = subprocess.Popen([FINSYS_BIN, "server"], env=e, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("the server started") from None
    return p.returncode, err


def test_a_server_without_the_key_or_with_another_does_not_start():
    # A sealed secret exists (made by the test above, or now).
    r = post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/", "events": ["*"]})
    assert r.status == 201, r
    remember_secrets(r.json["secret"])
    try:
        code, err = _server_refuses({"FINSYS_SECRETS_KEY": ""})
        assert code != 0 and "FINSYS_SECRETS_KEY is not set" in err, (code, err)
        code, err = _server_refuses({"FINSYS_SECRETS_KEY": "0011"})
        assert code != 0 and "FINSYS_SECRETS_KEY must be 32 bytes" in err, (code, err)
        code, err = _server_refuses({"FINSYS_SECRETS_KEY": "ab" * 32})
        assert code != 0 and "does not open" in err, (code, err)
        worker = subprocess.run([FINSYS_BIN, "worker"], capture_output=True, text=True,
                                timeout=60, env=dict(os.environ, FINSYS_SECRETS_KEY=""))
        assert worker.returncode != 0 and "FINSYS_SECRETS_KEY is not set" in worker.stderr, \
            worker.stderr
    finally:
        request("DELETE", f"/v1/webhook_endpoints/{r.json['id']}")


def test_the_secrets_key_rotates_with_every_delivery_signed():
    """Rotating FINSYS_SECRETS_KEY (docs/operations.md, "Rotating the secrets
    key"): with the new key in FINSYS_SECRETS_KEY and the old one in
    FINSYS_SECRETS_KEY_PREVIOUS, a worker signs with secrets sealed under
    either, and a server starting re-seals every secret under the new key
    (then a server with the old key alone refuses to start, one with the new
    key alone starts). Rotated back at the end: the suite's processes run
    with the old key."""
    old, new = os.environ["FINSYS_SECRETS_KEY"], "cd" * 32
    key = _tenant_key()
    r = Receiver()
    pl = None
    procs = []

    def server(env):
        p = Proc("server-rotate", [FINSYS_BIN, "server"], port=(port := free_port()),
                 env=dict({"FINSYS_HTTP_PORT": port, "FINSYS_NATS_URL": ""}, **env))
        procs.append(p)
        text = p.text()
        assert p.stop() == 0
        return text

    try:
        made = post("/v1/webhook_endpoints", {"url": r.url, "events": ["payment.succeeded"]},
                    key=key)
        assert made.status == 201, made
        r.secret = made.json["secret"]
        remember_secrets(r.secret)
        endpoint = made.json["id"]
        sealed = sql_value(f"SELECT secret_sealed FROM webhook_endpoints WHERE id = '{endpoint}'")

        code, err = _server_refuses({"FINSYS_SECRETS_KEY": "", "FINSYS_SECRETS_KEY_PREVIOUS": old})
        assert code != 0 and "FINSYS_SECRETS_KEY_PREVIOUS is set without" in err, (code, err)
        code, err = _server_refuses({"FINSYS_SECRETS_KEY_PREVIOUS": "0011"})
        assert code != 0 and "FINSYS_SECRETS_KEY_PREVIOUS must be 32 bytes" in err, (code, err)

        # Workers first: the new key and the old as previous, secrets still
        # sealed under the old one: deliveries are signed.
        pl = Pipeline(FINSYS_SECRETS_KEY=new, FINSYS_SECRETS_KEY_PREVIOUS=old)
        a, b = _funded_pair(pl, key, 1_000)
        body = {"from_account": a, "to_account": b, "amount": 5, "currency": "USD"}
        assert _api(pl, key, "POST", "/v1/payments", body)[0] == 201
        (_, headers, payload, verified), = r.wait(1)
        assert verified, (headers, payload)

        # Then a server with both keys re-seals every secret under the new.
        text = server({"FINSYS_SECRETS_KEY": new, "FINSYS_SECRETS_KEY_PREVIOUS": old})
        assert "re-sealed" in text, text[-2000:]
        resealed = sql_value(
            f"SELECT secret_sealed FROM webhook_endpoints WHERE id = '{endpoint}'")
        assert resealed != sealed and resealed.startswith("sb1:"), (sealed, resealed)
        code, err = _server_refuses({"FINSYS_SECRETS_KEY": old})
        assert code != 0 and "FINSYS_SECRETS_KEY_PREVIOUS" in err, (code, err)
        server({"FINSYS_SECRETS_KEY": new})
        assert _api(pl, key, "POST", "/v1/payments", body)[0] == 201
        (_, headers, payload, verified), = r.wait(2)[1:]
        assert verified, (headers, payload)
        assert r.secret[6:] not in _database_dump()
    finally:
        # Back to the suite's key, whatever happened above.
        server({"FINSYS_SECRETS_KEY": old, "FINSYS_SECRETS_KEY_PREVIOUS": new})
        r.stop()
        if pl is not None:
            _stop(pl)
        for p in procs:
            assert p.sanitizer_clean()
