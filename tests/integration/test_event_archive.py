"""The event log's archive (issue 15): `finsys archive run` writes each closed
UTC day of a tenant's events as gzip'd JSON lines and a manifest to the
object store (here a folder of the test's own, FINSYS_OBJECTS_DIR) under the
Redis lock job:archive, recorded in event_archives; `finsys archive verify`
re-reads an archive and refuses a tampered one; FINSYS_EVENTS_RETENTION_DAYS
drops an archived, checked day's events and GET /v1/events says where they
went; two workers archive a day once.

The database is shared with the other tests: each test makes a tenant of its
own, and back-dates its events (created_at) to closed days."""
import gzip
import hashlib
import json
import os
import subprocess
import time
import uuid

from harness import (FINSYS_BIN, TEST_TMP, assert_error, funded_account, get, new_account,
                     new_api_key, pay, sql)
from test_locks import OwnRedis
from test_settle_pipeline import Pipeline


def _day(days_ago):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - days_ago * 86400))


def _tenant():
    name = f"archive-{uuid.uuid4().hex[:8]}"
    key = new_api_key(name)
    return key, sql(f"SELECT id FROM tenants WHERE name = '{name}'")[0][0]


def _events(key, n):
    """n payments of the tenant's: n payment.created events; their seqs."""
    a = funded_account(100_000, key=key)
    b = new_account("USD", key=key)
    ids = []
    for _ in range(n):
        r = pay(a, b, 100, key=key)
        assert r.status == 201, r
        ids.append(r.json["id"])
    names = ", ".join(f"'{i}'" for i in ids)
    return [int(s) for (s,) in sql(f"SELECT seq FROM events WHERE payment_id IN ({names}) "
                                   "ORDER BY seq")]


def _backdate(tenant, seqs, days_ago):
    """Moves the events to days_ago days back, at 12:00 UTC; the date."""
    date = _day(days_ago)
    listed = ", ".join(str(s) for s in seqs)
    sql(f"UPDATE events SET created_at = '{date} 12:00:00+00'::timestamptz "
        f"+ (seq % 1000) * interval '1 ms' WHERE tenant_id = '{tenant}' AND seq IN ({listed})")
    return date


def _archive(redis, objects, *args, retention=None, timeout=60):
    """finsys archive ARGS; objects: a folder, or the env of an S3 store."""
    env = dict(os.environ, FINSYS_REDIS_URL=redis.url)
    env.update(objects if isinstance(objects, dict) else {"FINSYS_OBJECTS_DIR": objects})
    if retention is not None:
        env["FINSYS_EVENTS_RETENTION_DAYS"] = str(retention)
    return subprocess.run([FINSYS_BIN, "archive", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _run(redis, objects, tenant, retention=None):
    r = _archive(redis, objects, "run", "--tenant", tenant, retention=retention)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)["result"]


def _path(objects, tenant, date, suffix=".jsonl.gz"):
    y, m, d = date.split("-")
    return os.path.join(objects, "archive", "events", tenant, y, m, d + suffix)


def _flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


def _api_events(key, seqs):
    """The tenant's events as GET /v1/events shows them, by seq."""
    r = get("/v1/events?limit=100", key=key)
    assert r.status == 200, r
    return {int(e["id"][4:]): e for e in r.json["data"] if int(e["id"][4:]) in seqs}


def test_an_archive_is_written_verified_and_a_tampered_one_refused():
    redis = OwnRedis()
    objects = os.path.join(TEST_TMP, f"archive-{uuid.uuid4().hex[:8]}")
    try:
        key, tenant = _tenant()
        seqs = _events(key, 3)
        date = _backdate(tenant, seqs, 3)

        # Another holds the lock: nothing is archived (exit 4).
        redis.cli("SET", "lock:job:archive", "someone-else", "PX", "60000")
        r = _archive(redis, objects, "run", "--tenant", tenant)
        assert r.returncode == 4 and json.loads(r.stdout)["outcome"] == "lock_held", r
        redis.cli("DEL", "lock:job:archive")
        assert sql(f"SELECT 1 FROM event_archives WHERE tenant_id = '{tenant}'") == []

        res = _run(redis, objects, tenant)
        assert [(a["tenant"], a["date"], a["count"]) for a in res["archived"]] == \
            [(tenant, date, 3)], res
        path, mpath = _path(objects, tenant, date), _path(objects, tenant, date, ".manifest.json")
        assert res["archived"][0]["key"] == \
            f"archive/events/{tenant}/{date[:4]}/{date[5:7]}/{date[8:]}.jsonl.gz"
        with open(path, "rb") as f:
            raw = f.read()
        lines = gzip.decompress(raw).decode().splitlines()
        # One event a line, in seq order, as GET /v1/events shows it.
        api = _api_events(key, seqs)
        assert [json.loads(x) for x in lines] == [api[s] for s in seqs]
        with open(mpath) as f:
            manifest = json.load(f)
        sha = hashlib.sha256(raw).hexdigest()
        assert (manifest["tenant"], manifest["date"], manifest["count"], manifest["first_seq"],
                manifest["last_seq"], manifest["sha256"], manifest["format"]) == \
            (tenant, date, 3, seqs[0], seqs[-1], sha, 1), manifest
        assert manifest["content_sha256"] == \
            hashlib.sha256("".join(x + "\n" for x in lines).encode()).hexdigest()
        assert sql(f"SELECT day, key, count, first_seq, last_seq, sha256 FROM event_archives "
                   f"WHERE tenant_id = '{tenant}'") == \
            [[date, res["archived"][0]["key"], "3", str(seqs[0]), str(seqs[-1]), sha]]

        r = _archive(redis, objects, "verify", "--date", date, "--tenant", tenant)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert json.loads(r.stdout)["archives"][0]["ok"] is True

        # A crash between the put and the commit: the record is missing; the
        # next run writes the same bytes under the same key.
        sql(f"DELETE FROM event_archives WHERE tenant_id = '{tenant}'")
        res = _run(redis, objects, tenant)
        assert [a["date"] for a in res["archived"]] == [date], res
        with open(path, "rb") as f:
            assert f.read() == raw
        # Nothing else is closed: the next run archives nothing.
        assert _run(redis, objects, tenant)["archived"] == []

        # A flipped byte of the object: refused, naming the archive and the hash.
        _flip(path, len(raw) // 2)
        r = _archive(redis, objects, "verify", "--date", date, "--tenant", tenant)
        assert r.returncode == 5, (r.returncode, r.stdout, r.stderr)
        assert f"archive {res['archived'][0]['key']} differs" in r.stderr, r.stderr
        assert "sha256: the object's" in r.stderr, r.stderr
        _flip(path, len(raw) // 2)

        # A changed manifest.
        with open(mpath) as f:
            text = f.read()
        with open(mpath, "w") as f:
            f.write(text.replace('"count": 3', '"count": 4'))
        r = _archive(redis, objects, "verify", "--date", date, "--tenant", tenant)
        assert r.returncode == 5, (r.returncode, r.stdout, r.stderr)
        assert "count: the manifest 4, PostgreSQL 3" in r.stderr, r.stderr
        with open(mpath, "w") as f:
            f.write(text)

        # An event changed in PostgreSQL since: its line differs.
        sql(f"UPDATE events SET data = data || '{{\"tampered\": 1}}' WHERE seq = {seqs[1]}")
        r = _archive(redis, objects, "verify", "--date", date, "--tenant", tenant)
        sql(f"UPDATE events SET data = data - 'tampered' WHERE seq = {seqs[1]}")
        assert r.returncode == 5, (r.returncode, r.stdout, r.stderr)
        assert f"line 2 differs from the database's event evt_{seqs[1]}" in r.stderr, r.stderr

        r = _archive(redis, objects, "verify", "--date", date, "--tenant", tenant)
        assert r.returncode == 0, (r.stdout, r.stderr)
        r = _archive(redis, objects, "verify", "--date", "2001-01-01", "--tenant", tenant)
        assert r.returncode == 6 and "no archive of 2001-01-01" in r.stderr, r
        r = _archive(redis, objects, "verify", "--date", "2001-13-01")
        assert r.returncode == 2, r
    finally:
        redis.stop()


def test_two_workers_archive_once_and_retention_drops_only_archived_days():
    redis = OwnRedis()
    objects = os.path.join(TEST_TMP, f"archive-{uuid.uuid4().hex[:8]}")
    key, tenant = _tenant()
    old, recent = _events(key, 3), _events(key, 2)
    old_day, recent_day = _backdate(tenant, old, 10), _backdate(tenant, recent, 4)
    pl = Pipeline(FINSYS_REDIS_URL=redis.url, FINSYS_OBJECTS_DIR=objects,
                  FINSYS_ARCHIVE_INTERVAL_S=1)
    try:
        pl.workers.append(pl.start_worker())
        # Both days archived, one run each (one a run: the oldest first),
        # whichever worker held the lock; the feeds (webhooks, receipts, the
        # search index, the rollups) take the tenant's events meanwhile.
        deadline = time.monotonic() + 30
        while sql(f"SELECT count(*) FROM event_archives WHERE tenant_id = '{tenant}'") != [["2"]]:
            assert time.monotonic() < deadline, pl.workers[0].text()[-2000:]
            time.sleep(0.2)
        time.sleep(1.5)  # a later run of either worker would find the days recorded
        runs = sql(f"SELECT result->>'day', result->>'recorded', holder FROM job_runs "
                   f"WHERE job = 'archive' AND result->>'tenant' = '{tenant}' ORDER BY id")
        assert [(d, rec) for d, rec, _ in runs] == [(old_day, "true"), (recent_day, "true")], runs
        last = max(old + recent)
        while sql(f"SELECT count(*) FROM feed_cursors c, events e WHERE e.seq = {last} "
                  f"AND (c.txid, c.seq) < (e.txid, e.seq)") != [["0"]]:
            assert time.monotonic() < deadline, sql("SELECT name, seq FROM feed_cursors")
            time.sleep(0.2)
    finally:
        assert pl.stop()
    try:
        r = get("/v1/events?limit=100", key=key)
        assert r.status == 200 and "archive" not in r.json, r

        # Retention of 7 days: the 10-day-old day goes (read back and checked
        # first), the 4-day-old one stays.
        res = _run(redis, objects, tenant, retention=7)
        assert [(d["date"], d["events"]) for d in res["dropped"]] == [(old_day, 3)], res
        assert sql(f"SELECT count(*) FROM events WHERE tenant_id = '{tenant}' "
                   f"AND seq IN ({', '.join(map(str, old))})") == [["0"]]
        assert sql(f"SELECT count(*) FROM events WHERE tenant_id = '{tenant}' "
                   f"AND seq IN ({', '.join(map(str, recent))})") == [["2"]]
        assert sql(f"SELECT day FROM event_archives WHERE tenant_id = '{tenant}' "
                   f"AND dropped_at IS NOT NULL AND verified_at IS NOT NULL") == [[old_day]]

        # GET /v1/events says where the older events went.
        r = get("/v1/events?limit=100", key=key)
        assert r.status == 200, r
        assert {int(e["id"][4:]) for e in r.json["data"]} >= set(recent)
        assert not {int(e["id"][4:]) for e in r.json["data"]} & set(old)
        arch = r.json["archive"]
        assert arch["before"] == _day(9) and arch["first_day"] == old_day, arch
        assert arch["days"] == 1 and arch["earliest_event"] == f"evt_{recent[0]}", arch
        assert arch["key_format"] == f"archive/events/{tenant}/{{YYYY}}/{{MM}}/{{DD}}.jsonl.gz"
        assert_error(get(f"/v1/events?starting_after=evt_{old[0]}", key=key), 400,
                     "invalid_request", "starting_after")
        assert "archived" in get(f"/v1/events?starting_after=evt_{old[0]}",
                                 key=key).error["message"]

        # The dropped day still verifies, against its manifest's digest.
        r = _archive(redis, objects, "verify", "--date", old_day, "--tenant", tenant)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert json.loads(r.stdout)["archives"][0]["events_dropped"] is True

        # A webhook delivery of the recent day still pending holds it back.
        ep = "we_" + uuid.uuid4().hex[:24]
        sql(f"INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret_sealed) "
            f"VALUES ('{ep}', '{tenant}', 'https://example.invalid/', '{{*}}', 'sealed')")
        whd = sql(f"INSERT INTO webhook_deliveries (tenant_id, event_seq, endpoint_id) "
                  f"VALUES ('{tenant}', {recent[0]}, '{ep}') RETURNING id")[0][0]
        res = _run(redis, objects, tenant, retention=2)
        assert res["dropped"] == [] and len(res["held"]) == 1, res
        assert "webhook delivery" in res["held"][0]["reason"], res
        sql(f"UPDATE webhook_deliveries SET status = 'dead' WHERE id = '{whd}'")

        # A damaged archive is never dropped: its object fails the check, and
        # its events stay.
        path = _path(objects, tenant, recent_day)
        _flip(path, os.path.getsize(path) // 2)
        res = _run(redis, objects, tenant, retention=2)
        assert res["dropped"] == [] and len(res["failed"]) == 1, res
        assert "does not check" in res["failed"][0]["error"], res
        assert sql(f"SELECT count(*) FROM events WHERE tenant_id = '{tenant}' "
                   f"AND seq IN ({', '.join(map(str, recent))})") == [["2"]]
        _flip(path, os.path.getsize(path) // 2)
        res = _run(redis, objects, tenant, retention=2)
        assert [(d["date"], d["events"]) for d in res["dropped"]] == [(recent_day, 2)], res
        arch = get("/v1/events?limit=100", key=key).json["archive"]
        assert arch["days"] == 2 and arch["before"] == _day(3), arch

        # Its dead delivery, replayed, finds no event: canceled, not sent.
        sql(f"UPDATE webhook_deliveries SET status = 'pending' WHERE id = '{whd}'")
        out = sql(f"SELECT p FROM fs_webhook_internal('{{\"op\": \"webhook_claim\", "
                  f"\"delivery\": \"{whd}\", \"slack_ms\": 0, \"lease_ms\": 1000}}')")
        assert json.loads(out[0][0])["status"] == "canceled", out
        assert sql(f"SELECT status, last_error FROM webhook_deliveries WHERE id = '{whd}'") == \
            [["canceled", "event archived and dropped"]]
    finally:
        redis.stop()


def test_an_archive_on_s3_is_written_verified_and_a_tampered_one_refused():
    """The same through S3 (s3rver behind its SigV4-checking front): the
    archive streams through the store's writer, verify reads it back."""
    from test_objects_s3 import S3
    s3, redis = S3(), OwnRedis()
    try:
        key, tenant = _tenant()
        seqs = _events(key, 2)
        date = _backdate(tenant, seqs, 3)
        env = s3.env()
        r = _archive(redis, env, "run", "--tenant", tenant)
        assert r.returncode == 0, (r.stdout, r.stderr)
        res = json.loads(r.stdout)["result"]
        assert [(a["date"], a["count"]) for a in res["archived"]] == [(date, 2)], res
        obj = res["archived"][0]["key"]
        with open(s3.file(obj), "rb") as f:
            raw = f.read()
        assert [json.loads(x)["id"] for x in gzip.decompress(raw).decode().splitlines()] == \
            [f"evt_{s}" for s in seqs]
        r = _archive(redis, env, "verify", "--date", date, "--tenant", tenant)
        assert r.returncode == 0, (r.stdout, r.stderr)
        damaged = bytearray(raw)
        damaged[len(raw) // 2] ^= 0x01
        assert s3.curl("PUT", obj, bytes(damaged)) == 200  # behind FinSys's back
        r = _archive(redis, env, "verify", "--date", date, "--tenant", tenant)
        assert r.returncode == 5 and f"archive {obj} differs" in r.stderr, (r.stdout, r.stderr)
        assert "sha256: the object's" in r.stderr, r.stderr
        assert s3.curl("PUT", obj, raw) == 200
        r = _archive(redis, env, "verify", "--date", date, "--tenant", tenant)
        assert r.returncode == 0, (r.stdout, r.stderr)
    finally:
        redis.stop()
        s3.stop()
