#!/usr/bin/env python3
"""tests/backup/test_backup.sh's payments and its verdict on the restored copy.

check.py accounts URL KEY FILE      two USD accounts, the first funded by a
                                    deposit; their ids into FILE
check.py pay URL KEY ACCOUNTS N OUT N payments between them (each 201),
                                    their ids appended to OUT
check.py verify DSN BEFORE... -- AFTER...
                                    on the restored copy: every payment in
                                    the BEFORE files is there, none of the
                                    AFTER files, no other; the journal sums
                                    to zero per currency, every account's
                                    balances equal its entries, none below
                                    zero outside the external accounts
Exits 1 with the reason on a failure."""
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid


def fail(what):
    print(f"backup test: FAIL: {what}", flush=True)
    sys.exit(1)


def post(url, key, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("Authorization", "Bearer " + key)
    req.add_header("Content-Type", "application/json")
    req.add_header("Idempotency-Key", f"backup-{uuid.uuid4()}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def accounts(url, key, out):
    ids = []
    for name in ("backup-src", "backup-dst"):
        st, a = post(url, key, "/v1/accounts", {"currency": "USD", "name": name})
        st == 201 or fail(f"POST /v1/accounts: {st} {a}")
        ids.append(a["id"])
    st, d = post(url, key, f"/v1/accounts/{ids[0]}/deposits", {"amount": 10 ** 9})
    st == 201 or fail(f"deposit: {st} {d}")
    open(out, "w").write("\n".join(ids) + "\n")


def pay(url, key, accts, n, out):
    src, dst = open(accts).read().split()
    made = []
    for i in range(n):
        st, p = post(url, key, "/v1/payments", {"from_account": src, "to_account": dst,
                                                "amount": 100 + i, "currency": "USD"})
        st == 201 or fail(f"POST /v1/payments: {st} {p}")
        made.append(p["id"])
    with open(out, "a") as f:
        f.write("".join(i + "\n" for i in made))


def psql(dsn, sql):
    r = subprocess.run(["psql", dsn, "-XqtA", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True)
    r.returncode == 0 or fail(f"psql: {r.stderr.strip()}")
    return r.stdout.strip()


def verify(dsn, files):
    cut = files.index("--")
    before = {l for f in files[:cut] for l in open(f).read().split()}
    after = {l for f in files[cut + 1:] for l in open(f).read().split()}
    (before and after) or fail("no payments on one side of the target time")
    there = set(psql(dsn, "SELECT id FROM payments").split())
    missing = before - there
    not missing or fail(f"{len(missing)} of {len(before)} payments made before the target "
                        f"time are missing: {sorted(missing)[:3]}")
    late = after & there
    not late or fail(f"{len(late)} of {len(after)} payments made after the target time "
                     f"are there: {sorted(late)[:3]}")
    other = there - before
    not other or fail(f"payments nobody made: {sorted(other)[:3]}")
    bad = psql(dsn, """
        SELECT (SELECT count(*) FROM (SELECT currency FROM journal_entries GROUP BY currency
                                      HAVING sum(amount) <> 0) x)
             + (SELECT count(*) FROM accounts a LEFT JOIN (SELECT account_id,
                    sum(amount) FILTER (WHERE bucket = 'A') AS av,
                    sum(amount) FILTER (WHERE bucket = 'P') AS pe
                  FROM journal_entries GROUP BY account_id) e ON e.account_id = a.id
                WHERE a.available <> coalesce(e.av, 0) OR a.pending <> coalesce(e.pe, 0))
             + (SELECT count(*) FROM accounts WHERE type <> 'external' AND available < 0)""")
    bad == "0" or fail(f"the ledger is wrong ({bad} problems)")
    # Every payment's hold is in the journal: the payer's pending balance is
    # the sum of the payments restored (none settles: no worker runs).
    held = psql(dsn, "SELECT count(DISTINCT ref_id) FROM journal_entries WHERE ref_id IN "
                     "(SELECT id FROM payments)")
    held == str(len(before)) or fail(f"journal entries for {held} of {len(before)} payments")
    print(f"backup test: the restored copy has the {len(before)} payments made before the "
          f"target time, none of the {len(after)} after it; the ledger sums to zero and "
          f"every account matches its entries", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "accounts":
        accounts(*sys.argv[2:5])
    elif mode == "pay":
        pay(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    elif mode == "verify":
        verify(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
