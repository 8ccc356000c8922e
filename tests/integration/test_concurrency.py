"""Concurrent clients, each thread on its own connection: one idempotency
key raced by many, many payments racing over few accounts, double spends,
double cancels, and the ledger's invariants afterwards."""

import collections
import os
import random
import threading
import time
import uuid

from harness import (assert_error, balance, check_ledger, funded_account, get,
                     new_account, pay, post, sql, sql_value, tenant_of)


def _run(n_threads, work):
    """Runs work(i) on n_threads threads, each with its own connection (opened
    before the start line so that the requests really race), and returns
    their results in thread order. A thread's exception fails the test."""
    barrier = threading.Barrier(n_threads)
    results = [None] * n_threads
    errors = []

    def main(i):
        try:
            assert get("/healthz", key=None).status == 200  # opens this thread's connection
            barrier.wait(timeout=60)
            results[i] = work(i)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=main, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _server_log():
    tmp = os.environ.get("FINSYS_TEST_TMP")
    path = os.path.join(tmp, "server.log") if tmp else None
    return path if path and os.path.exists(path) else None


def _deadlock_retries(log, offset):
    with open(log, "rb") as f:
        f.seek(offset)
        return f.read().count(b"(40P01)")


def test_one_key_raced_by_fifty_clients_makes_one_payment():
    a = funded_account(1000)
    b = new_account("USD")
    key = "race-" + uuid.uuid4().hex
    body = {"from_account": a, "to_account": b, "amount": 250, "currency": "USD"}
    answers = _run(50, lambda i: post("/v1/payments", body, idem=key))
    ids = set()
    fresh = 0
    tally = collections.Counter()
    for r in answers:
        tally[r.status] += 1
        if r.status == 201:
            ids.add(r.json["id"])
            if r.header("Idempotent-Replayed") is None:
                fresh += 1
            else:
                assert r.header("Idempotent-Replayed") == "true", r.headers
        else:
            assert_error(r, 409, "idempotency_key_in_use", None)
    print(f"  answers: {dict(tally)}")
    assert len(ids) == 1, ids
    assert fresh == 1, f"{fresh} answers were not marked as replays"
    assert sql(f"SELECT id FROM payments WHERE from_account = '{a}'") == [[ids.pop()]]
    assert balance(a) == (750, 250)
    # Afterwards the key replays the payment to everyone.
    r = post("/v1/payments", body, idem=key)
    assert r.status == 201 and r.header("Idempotent-Replayed") == "true", r
    assert check_ledger() == []


def test_no_double_spend():
    a = funded_account(1000)
    dests = [new_account("USD") for _ in range(40)]
    answers = _run(40, lambda i: pay(a, dests[i], 100))
    ok = [r for r in answers if r.status == 201]
    for r in answers:
        if r.status != 201:
            assert_error(r, 402, "insufficient_funds", "amount")
    assert len(ok) == 10, collections.Counter(r.status for r in answers)
    assert balance(a) == (0, 1000)
    assert int(sql_value(f"SELECT count(*) FROM payments WHERE from_account = '{a}'")) == 10
    assert check_ledger() == []


def test_one_payment_canceled_by_many_is_canceled_once():
    a = funded_account(1000)
    b = new_account("USD")
    p = pay(a, b, 400).json["id"]
    answers = _run(20, lambda i: post(f"/v1/payments/{p}/cancel"))
    ok = [r for r in answers if r.status == 200]
    for r in answers:
        if r.status != 200:
            assert_error(r, 409, "payment_not_cancelable", "id")
    assert len(ok) == 1, collections.Counter(r.status for r in answers)
    assert ok[0].json["status"] == "canceled"
    assert balance(a) == (1000, 0)
    timeline = get(f"/v1/payments/{p}").json["timeline"]
    assert [t["status"] for t in timeline] == ["pending", "canceled"], timeline
    assert int(sql_value(f"SELECT count(*) FROM journal_entries WHERE ref_id = '{p}'")) == 4
    assert check_ledger() == []


def test_concurrent_deposits_all_count():
    accts = [new_account("USD") for _ in range(4)]

    def work(i):
        out = []
        for k in range(10):
            r = post(f"/v1/accounts/{accts[(i + k) % 4]}/deposits", {"amount": 7 + i})
            out.append(r.status)
        return out

    answers = _run(16, work)
    assert all(s == 201 for out in answers for s in out), answers
    expected = collections.Counter()
    for i in range(16):
        for k in range(10):
            expected[accts[(i + k) % 4]] += 7 + i
    for acct in accts:
        assert balance(acct) == (expected[acct], 0), acct
    assert check_ledger() == []


def test_two_thousand_racing_payments_keep_the_ledger():
    funding = 100_000
    accts = [funded_account(funding) for _ in range(20)]
    tenant = tenant_of(accts[0])
    log = _server_log()
    log_offset = os.path.getsize(log) if log else 0
    rows_before = int(sql_value("SELECT count(*) FROM payments"))
    n_threads, per_thread = 16, 125  # 2,000 payments
    rng = random.Random(20240601)
    plans = [[(*rng.sample(accts, 2),
               rng.randint(1, 3000) if rng.random() < 0.6 else rng.randint(funding // 2, 2 * funding))
              for _ in range(per_thread)] for _ in range(n_threads)]

    def work(i):
        return [(src, amount, pay(src, dst, amount)) for src, dst, amount in plans[i]]

    start = time.monotonic()
    answers = [x for out in _run(n_threads, work) for x in out]
    elapsed = time.monotonic() - start
    assert len(answers) == 2000
    tally = collections.Counter(r.status for _, _, r in answers)
    retries = _deadlock_retries(log, log_offset) if log else "?"
    print(f"  {len(answers)} payments in {elapsed:.2f}s: {len(answers) / elapsed:.0f}/s; "
          f"answers {dict(tally)}; deadlock retries {retries}")
    held = collections.Counter()
    created = set()
    for src, amount, r in answers:
        if r.status == 201:
            held[src] += amount
            created.add(r.json["id"])
            assert r.json["amount"] == amount and r.json["status"] == "pending", r
        else:
            assert_error(r, 402, "insufficient_funds", "amount")
    assert tally[201] > 0 and tally[402] > 0, tally
    assert len(created) == tally[201]
    rows_after = int(sql_value("SELECT count(*) FROM payments"))
    assert rows_after - rows_before == tally[201], (rows_before, rows_after, tally)
    in_db = {row[0] for row in sql("SELECT id FROM payments WHERE from_account IN ("
                                   + ",".join(f"'{a}'" for a in accts) + ")")}
    assert in_db == created
    for a in accts:
        available, pending = balance(a)
        assert available >= 0, (a, available)
        assert pending == held[a], (a, pending, held[a])
        assert available + pending == funding, (a, available, pending)
    assert check_ledger() == []
    assert sql("SELECT count(*) FROM accounts WHERE type <> 'external' AND available < 0") == [["0"]]
    assert sql(f"SELECT currency, sum(available + pending) FROM accounts WHERE tenant_id = "
               f"'{tenant}' GROUP BY currency HAVING sum(available + pending) <> 0") == []
    assert sql("SELECT currency, sum(available + pending) FROM accounts GROUP BY currency "
               "HAVING sum(available + pending) <> 0") == []


def test_crossing_payments_do_not_deadlock():
    """Payments A->B and B->A sent at the same time on different connections
    must not deadlock in the database (fs_batch promises deadlock-free
    batches; every deadlock stalls both batches for deadlock_timeout, 1 s,
    before the store retries them). Stops at the first deadlock the server
    logs."""
    log = _server_log()
    assert log is not None, "FINSYS_TEST_TMP/server.log is needed to see the store's retries"
    pairs = [(funded_account(10**6), funded_account(10**6)) for _ in range(8)]
    offset = os.path.getsize(log)
    stop = threading.Event()

    def watch():
        while not stop.wait(0.05):
            if _deadlock_retries(log, offset):
                stop.set()

    watcher = threading.Thread(target=watch)
    watcher.start()

    def work(i):
        a, b = pairs[i // 2]
        src, dst = (a, b) if i % 2 == 0 else (b, a)
        statuses = []
        for _ in range(40):
            if stop.is_set():
                break
            statuses.append(pay(src, dst, 1).status)
        return statuses

    start = time.monotonic()
    try:
        answers = _run(16, work)
    finally:
        stop.set()
        watcher.join()
    elapsed = time.monotonic() - start
    sent = sum(len(s) for s in answers)
    assert all(s == 201 for out in answers for s in out), answers
    deadlocks = _deadlock_retries(log, offset)
    print(f"  {sent} crossing payments in {elapsed:.2f}s, deadlock retries {deadlocks}")
    assert deadlocks == 0, f"{deadlocks} batch(es) retried after a deadlock (40P01)"
    assert check_ledger() == []
