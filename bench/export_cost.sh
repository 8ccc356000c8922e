#!/usr/bin/env bash
# export_cost.sh: what a large export costs the payment path (issue 12,
# docs/architecture.md "Exports"). On a stack of its own (PostgreSQL,
# nats-server and redis-server in a temporary directory, on free loopback
# ports, stopped by PID on exit):
#
#   1. a tenant with EXPORT_COST_ROWS (1,000,000) payments, made in SQL for
#      speed (realistic rows: between the tenant's funded accounts, over the
#      last 30 days, mostly succeeded, some failed or refunded, with their
#      timelines and risk), and the bench's funded accounts and risk rules
#      (bench/fixtures.sh) in the same tenant, for the load;
#   2. `finsys server`, `finsys worker` and `finsys provider-sim` as
#      `make run` runs them (the worker settles what the load makes);
#   3. one export of those rows alone: its duration, the CSV's size and the
#      worker's memory (VmHWM before and after, VmRSS sampled): it streams;
#   4. EXPORT_COST_ROUNDS (4) rounds of each side, alternated (ABBA: without,
#      with, with, without, ...), of EXPORT_COST_ROUND_S (10) seconds of the
#      ingest load of make bench's phase (b) (wrk, bench/payments.lua, POST
#      /v1/payments, EXPORT_COST_CONNECTIONS (64) connections): "with" rounds
#      have an export of the same rows running throughout (started just
#      before the round, another started if it ends before the round does;
#      the share of the round an export ran is recorded). Before each round,
#      the stack is let settle (no export running, every payment final, the
#      event log's readers caught up) and a CHECKPOINT is made, so that each
#      round starts from the same state. Per round: payments/s, p50/p99, the
#      CPU of PostgreSQL, the export's backend, the server and the worker.
#
# Prints the figures, and writes them to $BENCH_RESULTS_DIR/export_cost.json
# (bench/results; keys in bench/export_cost_keys.txt). Asserts nothing.
# EXPORT_COST_SMOKE=1 is the seconds-long run make test makes (2,000 rows,
# 2 rounds of 2 s a side). EXPORT_COST_UNNICED=1 (as root) adds a third
# side, "unniced": an export whose PostgreSQL backend this script puts back
# to nice 0 and autogroup nice 0, as it ran before the worker lowered it;
# the blocks are then rotated (without, with, unniced; with, unniced,
# without; ...) and the three compared in one run, under the same noise.
# Any EXPORT_COST_* below overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack.sh
source bench/fixtures.sh

if [ -n "${EXPORT_COST_SMOKE:-}" ]; then
    # Two connections: the sanitizer build settles what 8 made in 2 s only
    # after half a minute of waiting for quiet before each round.
    : "${EXPORT_COST_ROWS:=2000}" "${EXPORT_COST_ROUNDS:=2}" "${EXPORT_COST_ROUND_S:=2}"
    : "${EXPORT_COST_ACCOUNTS:=200}" "${EXPORT_COST_CONNECTIONS:=2}"
    : "${EXPORT_COST_WARMUP_S:=1}" "${EXPORT_COST_QUIET_WAIT_S:=30}"
fi
BIN=${FINSYS_BIN:-build/finsys}
ROWS=${EXPORT_COST_ROWS:-1000000}
ROUNDS=${EXPORT_COST_ROUNDS:-4}
ROUND_S=${EXPORT_COST_ROUND_S:-10}
CONNECTIONS=${EXPORT_COST_CONNECTIONS:-64}
ACCOUNTS=${EXPORT_COST_ACCOUNTS:-10000}
WARMUP_S=${EXPORT_COST_WARMUP_S:-5}
# How long, at most, the stack is let settle before a round, and an export
# alone may take.
QUIET_WAIT_S=${EXPORT_COST_QUIET_WAIT_S:-180}
EXPORT_WAIT_S=${EXPORT_COST_EXPORT_WAIT_S:-600}
RESULTS=${BENCH_RESULTS_DIR:-bench/results}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)

TMP=$(mktemp -d /tmp/finsys-export-cost.XXXXXX)
chmod 755 "$TMP"
teardown() {
    [ -f "$TMP/watch.pid" ] && kill "$(cat "$TMP/watch.pid")" 2>/dev/null || true
    fs_stop_pid "$TMP/server.pid"
    fs_stop_pid "$TMP/worker.pid"
    fs_stop_pid "$TMP/provider.pid"
    fs_redis_stop "$TMP"
    fs_nats_stop "$TMP"
    fs_pg_stop "$TMP"
    cp "$(fs_pg_home "$TMP")/postgres.log" "$TMP/postgres.log" 2>/dev/null || true
    for log in server postgres worker provider; do
        cp "$TMP/$log.log" "$RESULTS/export_cost-$log.log" 2>/dev/null || true
    done
    fs_pg_forget "$TMP"
    rm -rf "$TMP"
}
trap teardown EXIT

# raw NAME VALUE: one measured value for bench/export_cost.py.
raw() {
    printf '%s\t%s\n' "$1" "$2" >>"$TMP/raw.tsv"
}
: >"$TMP/raw.tsv"
: >"$TMP/rounds.tsv"
: >"$TMP/exports.list"
raw rows_seeded "$ROWS"
raw rounds_per_side "$ROUNDS"
raw round_s "$ROUND_S"
raw connections "$CONNECTIONS"

PG_PORT=$(fs_free_port)
HTTP_PORT=$(fs_free_port)
NATS_PORT=$(fs_free_port)
REDIS_PORT=$(fs_free_port)
PROVIDER_PORT=$(fs_free_port)
echo "export cost (${SECONDS}s): starting PostgreSQL, nats-server, redis-server"
fs_pg_start "$TMP" "$PG_PORT"
fs_nats_start "$TMP" "$NATS_PORT"
fs_redis_start "$TMP" "$REDIS_PORT"
PG_PID=$(fs_pg_pid "$TMP")
export FINSYS_DATABASE_URL=$(fs_pg_url "$TMP" "$PG_PORT")
# A development stack: PostgreSQL with trust and its superuser, which
# finsys server and worker refuse without it (docs/operations.md,
# "Production settings").
export FINSYS_DEV=1
export FINSYS_NATS_URL=$(fs_nats_url "$NATS_PORT")
export FINSYS_REDIS_URL=$(fs_redis_url "$REDIS_PORT")
export FINSYS_HTTP_PORT=$HTTP_PORT FINSYS_HTTP_HOST=127.0.0.1
export FINSYS_OBJECTS_DIR=$TMP/objects
export FINSYS_PROVIDER_URL=http://127.0.0.1:$PROVIDER_PORT
# As make bench: the load comes from one key and one address (rate limits out
# of its way), the worker has no HTTP port, and its sweeper does not
# re-publish the payments a backlog keeps waiting; all else as make run.
export FINSYS_RATE_LIMIT_PER_S=1000000 FINSYS_RATE_LIMIT_BURST=1000000
export FINSYS_RATE_LIMIT_ADDR_PER_S=1000000 FINSYS_RATE_LIMIT_ADDR_BURST=1000000
export FINSYS_WORKER_PORT=0 FINSYS_SWEEP_AFTER_S=86400
PSQL=(psql "$FINSYS_DATABASE_URL" -XqAt -v ON_ERROR_STOP=1)

# ---- 1. The tenant: funded accounts and risk rules for the load, and the
# payments to export.
"$BIN" migrate >/dev/null
KEY=$("$BIN" apikey create --tenant bench)
# Deposits on, as make run's dev tenant (off for a new tenant otherwise).
"$BIN" tenant deposits --tenant bench on
TENANT=$("${PSQL[@]}" -c "SELECT id FROM tenants WHERE name = 'bench'")
bench_accounts "$TENANT" "$ACCOUNTS"
bench_risk_rules "$TENANT"
echo "export cost (${SECONDS}s): seeding $ROWS payments"
seed_start=$(date +%s.%N)
# Between random pairs of the funded accounts, 1..1000 cents, one every
# 30 days / ROWS up to a minute ago, each with the timeline and risk the
# write path gives it: 96% succeeded, 2% failed with a decline code, 2%
# succeeded and refunded in full or in part; some with a description.
"${PSQL[@]}" >/dev/null <<SQL
SET synchronous_commit = off;
INSERT INTO payments (id, tenant_id, from_account, to_account, amount, currency, description,
                      metadata, status, failure_code, failure_message, amount_refunded,
                      created_at, updated_at, timeline, risk)
SELECT 'pay_' || substr(md5('seed' || g), 1, 24), '$TENANT',
       'acct_bench' || lpad(a::text, 6, '0'), 'acct_bench' || lpad(b::text, 6, '0'),
       amount, 'USD',
       CASE WHEN g % 5 = 0 THEN 'Invoice ' || g END,
       CASE WHEN g % 3 = 0 THEN jsonb_build_object('order', 'ord_' || g) ELSE '{}' END,
       CASE WHEN g % 50 = 7 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN g % 50 = 7 THEN 'card_declined' END,
       CASE WHEN g % 50 = 7 THEN 'The card was declined.' END,
       CASE WHEN g % 50 = 9 THEN amount WHEN g % 50 = 11 THEN amount / 2 ELSE 0 END,
       at, at + interval '40 ms',
       jsonb_build_array(
           jsonb_build_object('status', 'processing', 'created_at', fs_ts(at + interval '5 ms')),
           jsonb_build_object('status', CASE WHEN g % 50 = 7 THEN 'failed' ELSE 'succeeded' END,
                              'created_at', fs_ts(at + interval '40 ms'))),
       jsonb_build_object('decision', 'allow', 'score', 0, 'matched', '[]'::jsonb)
FROM (SELECT g, 1 + a0 AS a,
             1 + (a0 + 1 + abs(hashint4(-g)::bigint) % ($ACCOUNTS - 1)) % $ACCOUNTS AS b,
             1 + abs(hashint4(g * 7)::bigint) % 1000 AS amount,
             now() - interval '30 days' + (interval '30 days' - interval '1 minute') * g / $ROWS AS at
      FROM (SELECT g, abs(hashint4(g)::bigint) % $ACCOUNTS AS a0
            FROM generate_series(1, $ROWS) g) h) s;
SQL
# The export takes the rows made up to now: not the load's, made later.
SEED_END=$("${PSQL[@]}" -c "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
"${PSQL[@]}" -c "VACUUM ANALYZE payments" -c "CHECKPOINT"
raw seed_s "$(python3 -c "import time; print(round(time.time() - $seed_start, 1))")"
raw table_mb "$("${PSQL[@]}" -c "SELECT pg_total_relation_size('payments') / 1048576")"

# ---- 2. The stack, as make run runs it.
"$BIN" provider-sim --port "$PROVIDER_PORT" 2>"$TMP/provider.log" &
echo $! >"$TMP/provider.pid"
"$BIN" worker 2>"$TMP/worker.log" &
echo $! >"$TMP/worker.pid"
WORKER_PID=$(cat "$TMP/worker.pid")
"$BIN" server 2>"$TMP/server.log" &
echo $! >"$TMP/server.pid"
SERVER_PID=$(cat "$TMP/server.pid")
fs_wait_http "http://127.0.0.1:$HTTP_PORT/readyz" 30
fs_wait_http "http://127.0.0.1:$PROVIDER_PORT/healthz" 30

# status_kb PID FIELD: a field of /proc/PID/status in kB (bash builtins only:
# the samples cost no fork).
status_kb() {
    local k v _
    while read -r k v _; do
        [ "$k" = "$2:" ] && { echo "$v"; return; }
    done <"/proc/$1/status"
}

# start_export LABEL: POST /v1/exports of the seeded payments; its id goes
# to $TMP/exports.list with LABEL, and to $TMP/export.current (files: watch
# starts exports from a subshell).
start_export() {
    local status
    status=$(curl -sS -o "$TMP/export.json" -w '%{http_code}' -X POST \
        "http://127.0.0.1:$HTTP_PORT/v1/exports" \
        -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
        -H "Idempotency-Key: export-cost-$$-$1-$(date +%s%N)" \
        -d "{\"type\": \"payments\", \"filters\": {\"created_lte\": \"$SEED_END\"}}")
    if [ "$status" != 202 ]; then
        echo "export cost (${SECONDS}s): POST /v1/exports answered $status: $(cat "$TMP/export.json")" >&2
        return 1
    fi
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <"$TMP/export.json" \
        >"$TMP/export.current"
    printf '%s\t%s\n' "$(cat "$TMP/export.current")" "$1" >>"$TMP/exports.list"
}

# export_status: the status of the export last started.
export_status() {
    "${PSQL[@]}" -c "SELECT status FROM exports WHERE id = '$(cat "$TMP/export.current")'"
}

# watch LABEL: until $TMP/round.done appears, every 0.5 s, samples the
# worker's VmRSS (the largest to $TMP/watch.rss) and, when LABEL is not
# empty, starts another export when the last one has ended (the same polls
# run on both sides, so that they cost both the same).
watch() {
    local label=$1 max=0 rss st
    while [ ! -e "$TMP/round.done" ]; do
        rss=$(status_kb "$WORKER_PID" VmRSS)
        [ "${rss:-0}" -gt "$max" ] && max=$rss && echo "$max" >"$TMP/watch.rss"
        st=$(export_status 2>/dev/null || echo unknown)
        if [ -n "$label" ] && { [ "$st" = succeeded ] || [ "$st" = failed ]; }; then
            start_export "$label" || true
        fi
        sleep 0.5
    done
}

# wait_export SECONDS: waits until the export last started has ended (or
# SECONDS); prints its status.
wait_export() {
    local i st
    for ((i = 0; i < $1 * 10; i++)); do
        st=$(export_status)
        case $st in succeeded | failed) break ;; esac
        sleep 0.1
    done
    echo "$st"
}

# ---- 3. One export alone: how long, how large, and the worker's memory.
raw worker_hwm_kb_before "$(status_kb "$WORKER_PID" VmHWM)"
raw worker_rss_kb_before "$(status_kb "$WORKER_PID" VmRSS)"
echo "export cost (${SECONDS}s): one export of the $ROWS payments, alone"
rm -f "$TMP/round.done" "$TMP/watch.rss"
start_export alone
watch "" &
echo $! >"$TMP/watch.pid"
st=$(wait_export "$EXPORT_WAIT_S")
touch "$TMP/round.done"
wait "$(cat "$TMP/watch.pid")" || true
rm -f "$TMP/watch.pid"
if [ "$st" != succeeded ]; then
    echo "export cost (${SECONDS}s): the export alone ended $st:" \
        "$("${PSQL[@]}" -c "SELECT error FROM exports WHERE id = '$(cat "$TMP/export.current")'")" >&2
    exit 1
fi
raw worker_hwm_kb_after_alone "$(status_kb "$WORKER_PID" VmHWM)"
raw worker_rss_kb_max_alone "$(cat "$TMP/watch.rss" 2>/dev/null || echo 0)"
# The export's PostgreSQL backend: the export thread's connection, which it
# keeps (it polls fs_export_claim), so the same process serves every export.
EXPORT_BACKEND_PID=$("${PSQL[@]}" -c "SELECT pid FROM pg_stat_activity
    WHERE query LIKE '%fs_export_claim%' AND pid <> pg_backend_pid() LIMIT 1")
# Its nice value and its autogroup's (-1: none), as the worker set them.
BACKEND_NICE=$(ps -o ni= -p "$EXPORT_BACKEND_PID" | tr -d ' ')
BACKEND_GROUP_NICE=$(awk '{print $NF}' "/proc/$EXPORT_BACKEND_PID/autogroup" 2>/dev/null || echo -1)
raw export_backend_nice "$BACKEND_NICE"
raw export_backend_autogroup_nice "$BACKEND_GROUP_NICE"
raw export_thread_nice "$(ps -L -o ni=,comm= -p "$WORKER_PID" | awk '{print $1}' | sort -n \
    | tail -1)"

# ---- 4. The rounds.
# load NAME: the ingest load for ROUND_S seconds, its output in $TMP/NAME.out.
load() {
    FINSYS_BENCH_KEY=$KEY FINSYS_BENCH_ACCOUNTS=$TMP/accounts.txt FINSYS_BENCH_RUN=$1$$ \
        python3 bench/cpu.py run "$TMP/$1.cpu" -- \
        wrk -t2 -c"$CONNECTIONS" -d"${2:-$ROUND_S}s" --latency -s bench/payments.lua \
        "http://127.0.0.1:$HTTP_PORT" >"$TMP/$1.out" 2>&1 || true
}

# quiesce: waits (at most QUIET_WAIT_S) until no export is pending or
# running, every payment is final and the event log's readers have caught
# up; then a CHECKPOINT. Prints the seconds it waited.
quiesce() {
    local i busy start
    start=$(date +%s.%N)
    for ((i = 0; i < QUIET_WAIT_S * 4; i++)); do
        busy=$("${PSQL[@]}" -c "
            SELECT (SELECT count(*) FROM exports WHERE status IN ('pending', 'running'))
                 + (SELECT count(*) FROM payment_outbox)
                 + (SELECT count(*) FROM (VALUES ('indexer'), ('receipts'), ('webhooks'),
                                                 ('rollups')) f(name)
                    LEFT JOIN feed_cursors c USING (name)
                    WHERE EXISTS (SELECT 1 FROM events e WHERE (e.txid, e.seq)
                                  > (coalesce(c.txid, '0'), coalesce(c.seq, 0))))")
        [ "$busy" -eq 0 ] && break
        sleep 0.25
    done
    "${PSQL[@]}" -c "CHECKPOINT"
    python3 -c "import time; print(round(time.time() - $start, 1))"
}

echo "export cost (${SECONDS}s): the stack is up; warm-up, ${WARMUP_S}s of load"
load warm "$WARMUP_S"
quiesce >/dev/null

# backend_priority NICE GROUP_NICE: sets the export backend's nice value and
# its autogroup's (EXPORT_COST_UNNICED's side; as root).
backend_priority() {
    renice -n "$1" -p "$EXPORT_BACKEND_PID" >/dev/null
    if [ -w "/proc/$EXPORT_BACKEND_PID/autogroup" ] && [ "$2" != -1 ]; then
        echo "$2" >"/proc/$EXPORT_BACKEND_PID/autogroup"
    fi
}

# The sides, in blocks of one round each, each block in another order (two
# sides: without, with, with, without, ...; three: rotated), so that each
# side is measured as often first as last and next to the others.
# EXPORT_COST_UNNICED=1 adds a third: an export with its backend put back to
# nice 0 (as before the worker lowered it), the A/B of that fix in one run.
SIDES=(without with)
if [ "${EXPORT_COST_UNNICED:-0}" = 1 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "export cost: EXPORT_COST_UNNICED=1 renices PostgreSQL's backend: run as root" >&2
        exit 1
    fi
    SIDES=(without with unniced)
fi
sides=()
blocks=()
for ((i = 0; i < ROUNDS; i++)); do
    k=${#SIDES[@]}
    for ((j = 0; j < k; j++)); do
        if ((k == 2)); then
            ((i % 2 == 0)) && sides+=("${SIDES[j]}") || sides+=("${SIDES[k - 1 - j]}")
        else
            sides+=("${SIDES[(i + j) % k]}")
        fi
        blocks+=("$((i + 1))")
    done
done
n=0
for side in "${sides[@]}"; do
    block=${blocks[n]}
    n=$((n + 1))
    waited=$(quiesce)
    label=""
    if [ "$side" != without ]; then
        label=round$n
        if [ "$side" = unniced ]; then
            backend_priority 0 0
        elif [ "${EXPORT_COST_UNNICED:-0}" = 1 ]; then
            backend_priority "$BACKEND_NICE" "$BACKEND_GROUP_NICE"
        fi
        start_export "$label"
        # Claimed (the worker polls every FS_EXPORT_POLL_MS) and streaming
        # (or, a small one, done already: watch starts the next).
        for ((i = 0; i < 100; i++)); do
            case $(export_status) in running | succeeded | failed) break ;; esac
            sleep 0.1
        done
        sleep 0.5
    fi
    rm -f "$TMP/round.done" "$TMP/watch.rss"
    watch "$label" &
    echo $! >"$TMP/watch.pid"
    before=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
    python3 bench/cpu.py snapshot "$TMP/cpu-$n-start.json" postgres="$PG_PID" \
        export_backend="$EXPORT_BACKEND_PID" server="$SERVER_PID" worker="$WORKER_PID"
    t0=$(date +%s.%N)
    load "round$n"
    t1=$(date +%s.%N)
    python3 bench/cpu.py snapshot "$TMP/cpu-$n-end.json" postgres="$PG_PID" \
        export_backend="$EXPORT_BACKEND_PID" server="$SERVER_PID" worker="$WORKER_PID"
    touch "$TMP/round.done"
    wait "$(cat "$TMP/watch.pid")" || true
    rm -f "$TMP/watch.pid"
    after=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
    python3 bench/cpu.py budget "$TMP/cpu-$n-start.json" "$TMP/cpu-$n-end.json" \
        "$((after - before))" wrk="$TMP/round$n.cpu" >"$TMP/round$n.cpu.json"
    grep '^WRK_RESULT ' "$TMP/round$n.out" | sed 's/^WRK_RESULT //' >"$TMP/round$n.wrk.json" || true
    running=$(export_status 2>/dev/null || echo none)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$side" "$t0" "$t1" "$((after - before))" \
        "$waited" "$([ "$side" != without ] && [ "$running" = running ] && echo 1 || echo 0)" \
        "$(cat "$TMP/watch.rss" 2>/dev/null || echo 0)" "$block" >>"$TMP/rounds.tsv"
    python3 - "$TMP/round$n.wrk.json" "$n" "$side" "$waited" <<'PY' || true
import json, sys
try:
    w = json.load(open(sys.argv[1]))
    print(f"round {sys.argv[2]:>2} {sys.argv[3]:<8}: {(w['requests'] - w['errors_status']) / w['duration_s']:7.0f} "
          f"payments/s, p50 {w['p50_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms (settled for {sys.argv[4]} s before)")
except Exception as e:
    print(f"round {sys.argv[2]}: no wrk result ({e})")
PY
done
# The last round's export, to its end.
wait_export "$EXPORT_WAIT_S" >/dev/null
raw worker_hwm_kb_end "$(status_kb "$WORKER_PID" VmHWM)"

# Every export: its label, rows, bytes, status and times (epoch seconds).
while IFS=$'\t' read -r id label; do
    "${PSQL[@]}" -F $'\t' -c "
        SELECT '$label', id, status, coalesce(rows, 0), coalesce(bytes, 0),
               extract(epoch FROM started_at), extract(epoch FROM finished_at)
        FROM exports WHERE id = '$id'"
done <"$TMP/exports.list" >"$TMP/exports.tsv"

echo "export cost (${SECONDS}s): done"
python3 bench/export_cost.py "$TMP" "$RESULTS/export_cost.json"
