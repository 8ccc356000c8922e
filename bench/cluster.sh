#!/usr/bin/env bash
# make bench-cluster: the cluster's throughput against one node's, on the
# same cluster (docs/operations.md, "Scaling each tier"). wrk sends make
# bench's payments (bench/payments.lua: POST /v1/payments between random
# pairs of funded accounts, unique Idempotency-Keys) for BENCH_CLUSTER_S
# seconds through HAProxy, which spreads them over the two servers, then for
# as long to server 1 directly. Both workers settle throughout. For each side
# it prints the payments created per second (201s) and settled per second
# (payments that reached a final state during the side's window), and it
# writes both to $BENCH_RESULTS_DIR/cluster.json (bench/results, not
# committed).
#
# BENCH_CLUSTER_DIR=DIR uses the cluster running there (make test-cluster's
# smoke); otherwise it starts one of its own (scripts/cluster.sh, in
# var/bench-cluster.XXXXXX) and removes it afterwards.
# BENCH_CLUSTER_SMOKE=1: 3 s a side, 8 connections, 200 accounts; no
# thresholds (make test-cluster runs it to see that it works).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack.sh

if [ -n "${BENCH_CLUSTER_SMOKE:-}" ]; then
    : "${BENCH_CLUSTER_S:=3}" "${BENCH_CLUSTER_CONNECTIONS:=8}" "${BENCH_CLUSTER_ACCOUNTS:=200}"
    : "${BENCH_CLUSTER_DRAIN_S:=20}"
fi
SECS=${BENCH_CLUSTER_S:-30}
CONNS=${BENCH_CLUSTER_CONNECTIONS:-64}
ACCOUNTS=${BENCH_CLUSTER_ACCOUNTS:-10000}
# How long, at most, to wait between the sides for the first side's
# payments to settle (the second side starts with no backlog).
DRAIN_S=${BENCH_CLUSTER_DRAIN_S:-120}
RESULTS=${BENCH_RESULTS_DIR:-bench/results}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
TMP=$(mktemp -d /tmp/finsys-bench-cluster.XXXXXX)

OWN=
CLUSTER_PID=
VAR=${BENCH_CLUSTER_DIR:-}
teardown() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$OWN" ]; then
        if [ -n "$CLUSTER_PID" ] && kill -0 "$CLUSTER_PID" 2>/dev/null; then
            kill -TERM "$CLUSTER_PID" 2>/dev/null || true
            wait "$CLUSTER_PID" 2>/dev/null || true
        fi
        FINSYS_CLUSTER_DIR=$VAR bash scripts/cluster.sh stop 2>/dev/null || true
        [ "$rc" -ne 0 ] && tail -20 "$VAR.log" >&2
        fs_pg_forget "$VAR"
        rm -rf "$VAR" "$VAR.log"
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 1' INT TERM

if [ -z "$VAR" ]; then
    OWN=1
    mkdir -p var
    VAR=$(mktemp -d "$PWD/var/bench-cluster.XXXXXX")
    # The load comes from one key: its rate limit out of the way (make
    # bench does the same).
    FINSYS_RATE_LIMIT_PER_S=1000000 FINSYS_RATE_LIMIT_BURST=1000000 \
        FINSYS_CLUSTER_DIR=$VAR bash scripts/cluster.sh >"$VAR.log" 2>&1 &
    CLUSTER_PID=$!
    for ((i = 0; i < 1800; i++)); do
        [ -s "$VAR/ready" ] && break
        kill -0 "$CLUSTER_PID" 2>/dev/null || { echo "bench-cluster: the cluster did not start" >&2; exit 1; }
        sleep 0.1
    done
    [ -s "$VAR/ready" ] || { echo "bench-cluster: the cluster was not ready in 180 s" >&2; exit 1; }
    echo "bench-cluster: cluster started in $VAR"
fi
source "$VAR/ports.env"
URL=$(sed -n 's/^url=//p' "$VAR/ready")
KEY=$(sed -n 's/^key=//p' "$VAR/ready")
export PGPASSFILE=$VAR/pgpass
DB="host=127.0.0.1,127.0.0.1 port=$P_PG1,$P_PG2 dbname=finsys user=finsys target_session_attrs=read-write"
PSQL=(psql "$DB" -XqAt -v ON_ERROR_STOP=1)

# Funded accounts, made in SQL for speed as bench/fixtures.sh makes them (the
# same rows, entries and balances as deposits through the API), under ids of
# this run's own, so that a cluster can be measured more than once.
RUN=bc$(date +%s)$$
TENANT=$("${PSQL[@]}" -c "SELECT id FROM tenants WHERE name = 'cluster'")
[ -n "$TENANT" ] || { echo "bench-cluster: no tenant 'cluster'" >&2; exit 1; }
"${PSQL[@]}" >/dev/null <<SQL
BEGIN;
INSERT INTO accounts (id, tenant_id, currency, name, type, available)
SELECT 'acct_${RUN}' || lpad(g::text, 6, '0'), '$TENANT', 'USD', 'bench', 'user', 1000000000000
FROM generate_series(1, $ACCOUNTS) g;
INSERT INTO deposits (id, tenant_id, account_id, amount, currency)
SELECT 'dep_${RUN}' || lpad(g::text, 6, '0'), '$TENANT', 'acct_${RUN}' || lpad(g::text, 6, '0'), 1000000000000, 'USD'
FROM generate_series(1, $ACCOUNTS) g;
INSERT INTO journal_entries (account_id, bucket, amount, currency, ref_id)
SELECT 'acct_${RUN}' || lpad(g::text, 6, '0'), 'A', 1000000000000, 'USD', 'dep_${RUN}' || lpad(g::text, 6, '0')
FROM generate_series(1, $ACCOUNTS) g
UNION ALL
SELECT (SELECT id FROM accounts WHERE tenant_id = '$TENANT' AND currency = 'USD'
        AND type = 'external'), 'A', -1000000000000 * $ACCOUNTS, 'USD', 'dep_${RUN}all';
UPDATE accounts SET available = available - 1000000000000 * $ACCOUNTS
WHERE tenant_id = '$TENANT' AND currency = 'USD' AND type = 'external';
COMMIT;
SQL
"${PSQL[@]}" -c "ANALYZE accounts" >/dev/null
"${PSQL[@]}" -c "SELECT id FROM accounts WHERE id LIKE 'acct_${RUN}%'" >"$TMP/accounts.txt"
[ -s "$TMP/accounts.txt" ] || { echo "bench-cluster: no accounts: the external USD account is missing?" >&2; exit 1; }

# side NAME URL: wrk for SECS seconds at URL; then the side's figures in
# $TMP/NAME.json, after waiting (at most DRAIN_S) for its payments to settle.
side() {
    local name=$1 url=$2 t0 t1 left
    t0=$("${PSQL[@]}" -c "SELECT clock_timestamp()")
    FINSYS_BENCH_KEY=$KEY FINSYS_BENCH_ACCOUNTS=$TMP/accounts.txt FINSYS_BENCH_RUN=$RUN$name \
        wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s bench/payments.lua "$url" \
        >"$TMP/$name.out" 2>&1 || true
    t1=$("${PSQL[@]}" -c "SELECT clock_timestamp()")
    grep '^bench: HTTP' "$TMP/$name.out" | head -3 >&2 || true
    grep -q '^WRK_RESULT ' "$TMP/$name.out" \
        || { echo "bench-cluster: wrk gave no result:" >&2; cat "$TMP/$name.out" >&2; exit 1; }
    # Settled during the window: final with their last change inside it
    # (the side's own payments and any the workers still had).
    "${PSQL[@]}" -F $'\t' -c "
        SELECT count(*) FILTER (WHERE created_at BETWEEN '$t0' AND '$t1'),
               count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'canceled')
                                AND updated_at BETWEEN '$t0' AND '$t1'),
               extract(epoch FROM '$t1'::timestamptz - '$t0'::timestamptz)
        FROM payments WHERE tenant_id = '$TENANT' AND updated_at >= '$t0'" >"$TMP/$name.db"
    # Then the backlog, so that the next side starts without one.
    for ((i = 0; i < DRAIN_S * 4; i++)); do
        left=$("${PSQL[@]}" -c "SELECT count(*) FROM payment_outbox WHERE created_at >= '$t0'")
        [ "$left" -eq 0 ] && break
        sleep 0.25
    done
    python3 - "$name" "$TMP/$name.out" "$TMP/$name.db" "$left" >"$TMP/$name.json" <<'PY'
import json, sys
name, out, db, left = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
wrk = next(json.loads(l.split(" ", 1)[1]) for l in open(out) if l.startswith("WRK_RESULT "))
made, settled, secs = open(db).read().split("\t")
secs = float(secs)
created = wrk["requests"] - wrk["errors_status"]
print(json.dumps({
    "created_per_s": round(created / wrk["duration_s"], 1),
    "settled_per_s": round(int(settled) / secs, 1),
    "created": created, "rows_created": int(made), "settled_in_window": int(settled),
    "errors_status": wrk["errors_status"], "errors_socket": wrk["errors_socket"],
    "p50_ms": wrk["p50_ms"], "p99_ms": wrk["p99_ms"], "duration_s": wrk["duration_s"],
    "unsettled_after_wait": left}))
PY
    python3 -c '
import json, sys
d = json.load(open(sys.argv[2]))
print("bench-cluster: %s: %.0f payments/s created, %.0f/s settled, p99 %.1f ms, %d non-2xx, "
      "%d socket errors" % (sys.argv[1], d["created_per_s"], d["settled_per_s"], d["p99_ms"],
                            d["errors_status"], d["errors_socket"]))' "$name" "$TMP/$name.json"
}

echo "bench-cluster: $CONNS connections, ${SECS} s a side, $ACCOUNTS accounts; $(nproc) cores," \
    "load $(cut -d' ' -f1 /proc/loadavg)"
side haproxy "$URL"
side one_server "http://127.0.0.1:$P_SERVER1"

python3 - "$TMP/haproxy.json" "$TMP/one_server.json" "$SECS" "$CONNS" "$ACCOUNTS" \
    >"$RESULTS/cluster.json" <<'PY'
import json, os, sys, time
h, o = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(json.dumps({
    "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "cores": os.cpu_count(), "load_1m_at_end": os.getloadavg()[0],
    "seconds_a_side": int(sys.argv[3]), "connections": int(sys.argv[4]),
    "accounts": int(sys.argv[5]),
    "haproxy_two_servers": h, "one_server": o,
    "created_ratio": round(h["created_per_s"] / o["created_per_s"], 2) if o["created_per_s"] else None,
}, indent=2))
PY
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
h, o = d["haproxy_two_servers"], d["one_server"]
print("bench-cluster: through HAProxy (2 servers) %.0f created/s, %.0f settled/s; one server "
      "%.0f created/s, %.0f settled/s (ratio %s)" % (h["created_per_s"], h["settled_per_s"],
      o["created_per_s"], o["settled_per_s"], d["created_ratio"]))' "$RESULTS/cluster.json"
echo "bench-cluster: written to $RESULTS/cluster.json"
