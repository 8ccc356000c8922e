#!/usr/bin/env bash
# make test-cluster: starts scripts/cluster.sh in a directory of its own,
# makes payments through HAProxy (tests/cluster/check.py) and sees them
# settle, runs make bench-cluster for seconds, with "faults" drains and
# restarts a server and kills processes under load (check.py faults), checks
# that the primary's WAL is archived and the ledger on the primary, then
# stops everything (by the PIDs the cluster recorded) and removes its data.
# make test runs it too (scripts/test.sh, "cluster").
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/stack.sh

mkdir -p var
VAR=$(mktemp -d "$PWD/var/cluster-test.XXXXXX")
LOG=$VAR.log
CLUSTER_PID=
finish() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CLUSTER_PID" ] && kill -0 "$CLUSTER_PID" 2>/dev/null; then
        kill -TERM "$CLUSTER_PID" 2>/dev/null || true
        wait "$CLUSTER_PID" 2>/dev/null || true
    fi
    FINSYS_CLUSTER_DIR=$VAR bash scripts/cluster.sh stop 2>/dev/null || true
    left=$(cat "$VAR"/*.pid 2>/dev/null || true)
    if [ -n "$left" ]; then echo "test-cluster: processes left: $left" >&2; rc=1; fi
    if [ "$rc" -ne 0 ]; then
        echo "test-cluster: FAILED; the cluster's output:" >&2
        tail -30 "$LOG" >&2 || true
        for f in "$VAR"/*.log; do echo "--- $f" >&2; tail -5 "$f" >&2; done
    fi
    # TEST_CLUSTER_KEEP=1: the directory and its logs stay, for a diagnosis.
    if [ -n "${TEST_CLUSTER_KEEP:-}" ]; then
        echo "test-cluster: kept $VAR and $LOG" >&2
    else
        fs_pg_forget "$VAR"
        rm -rf "$VAR" "$LOG"
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 1' INT TERM

# The clients' payments limited by the faults only, not by the API key's
# default rate limit (100/s, which four clients pass between faults).
export FINSYS_RATE_LIMIT_PER_S=1000000 FINSYS_RATE_LIMIT_BURST=1000000
start=$(date +%s.%N)
FINSYS_CLUSTER_DIR=$VAR bash scripts/cluster.sh >"$LOG" 2>&1 &
CLUSTER_PID=$!
for ((i = 0; i < 1800; i++)); do
    [ -s "$VAR/ready" ] && break
    kill -0 "$CLUSTER_PID" 2>/dev/null || { echo "test-cluster: the cluster did not start" >&2; exit 1; }
    sleep 0.1
done
[ -s "$VAR/ready" ] || { echo "test-cluster: the cluster was not ready in 180 s" >&2; exit 1; }
echo "test-cluster: cluster ready in $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
MODE=${1:-smoke}   # smoke, or faults: then also tests/cluster/check.py faults
python3 tests/cluster/check.py smoke "$VAR" 40
source "$VAR/ports.env"
# Streams with 3 copies.
replicas=$(curl -fs "http://127.0.0.1:$P_NATSMON1/jsz?accounts=true&streams=true&config=true" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sorted({s["config"]["num_replicas"] for a in d.get("account_details", []) for s in a.get("stream_detail", [])}))')
echo "test-cluster: stream copies $replicas"
[ "$replicas" = "[3]" ] || { echo "test-cluster: streams do not have 3 copies" >&2; exit 1; }

# make bench-cluster in seconds (BENCH_CLUSTER_SMOKE=1) on this cluster: it
# must run both sides and write both figures; no thresholds.
BENCH_OUT=$(mktemp -d /tmp/finsys-bench-cluster-smoke.XXXXXX)
if BENCH_CLUSTER_SMOKE=1 BENCH_CLUSTER_DIR=$VAR BENCH_RESULTS_DIR=$BENCH_OUT \
    bash bench/cluster.sh >"$BENCH_OUT/out" 2>&1 \
    && python3 - "$BENCH_OUT/cluster.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for side in ("haproxy_two_servers", "one_server"):
    assert d[side]["created_per_s"] > 0 and "settled_per_s" in d[side], (side, d[side])
    assert d[side]["errors_status"] == 0, (side, d[side])
PY
then
    grep -E '^bench-cluster: (haproxy|one_server):' "$BENCH_OUT/out"
    echo "test-cluster: bench-cluster smoke ran, both sides measured"
else
    cat "$BENCH_OUT/out" >&2
    rm -rf "$BENCH_OUT"
    echo "test-cluster: bench-cluster smoke FAILED" >&2
    exit 1
fi
rm -rf "$BENCH_OUT"

if [ "$MODE" = faults ]; then python3 tests/cluster/check.py faults "$VAR"; fi

# The WAL archive (pgBackRest, scripts/backup.sh) works on whichever node is
# the primary now: after the faults, the promoted replica on its new
# timeline.
FINSYS_CLUSTER_DIR=$VAR bash scripts/backup.sh check 2>&1 \
    || { echo "test-cluster: the primary's WAL is not archived" >&2; exit 1; }
echo "test-cluster: the primary's WAL is archived (pgbackrest check)"

# The ledger, read on the primary through the same multi-host string: the
# entries sum to zero per currency, every account's balances equal the sum
# of its entries, no balance below zero outside the external accounts.
source "$VAR/ports.env"
export PGPASSFILE=$VAR/pgpass
DB="host=127.0.0.1,127.0.0.1 port=$P_PG1,$P_PG2 dbname=finsys user=finsys target_session_attrs=read-write"
bad=$(psql "$DB" -qtA <<'SQL'
SELECT (SELECT count(*) FROM (SELECT currency FROM journal_entries GROUP BY currency
                              HAVING sum(amount) <> 0) x)
     + (SELECT count(*) FROM accounts a LEFT JOIN (SELECT account_id,
            sum(amount) FILTER (WHERE bucket = 'A') AS av,
            sum(amount) FILTER (WHERE bucket = 'P') AS pe
          FROM journal_entries GROUP BY account_id) e ON e.account_id = a.id
        WHERE a.available <> coalesce(e.av, 0) OR a.pending <> coalesce(e.pe, 0))
     + (SELECT count(*) FROM accounts WHERE type <> 'external' AND available < 0);
SQL
)
[ "$bad" = 0 ] || { echo "test-cluster: the ledger is wrong ($bad problems)" >&2; exit 1; }
echo "test-cluster: the ledger sums to zero and every account matches its entries"
echo "test-cluster: ok"
