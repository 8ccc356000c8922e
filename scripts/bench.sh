#!/usr/bin/env bash
# make bench: in one run, on a PostgreSQL of its own (temporary directory,
# free loopback ports), measures
#   (a) pgbench's built-in tpcb-like transaction at its best client count, and
#   (b) POST /v1/payments over keep-alive with wrk: 64 connections, 30 s,
#       random pairs of 10,000 funded accounts, unique idempotency keys;
#   (c) the full life cycle, created and settled by a worker through the
#       provider simulator, 60 s;
# prints the figures and writes them to bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack.sh

BIN=${FINSYS_BIN:-build/finsys}
DURATION=${BENCH_DURATION_S:-30}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
ACCOUNTS=${BENCH_ACCOUNTS:-10000}
PGBENCH_S=${BENCH_PGBENCH_S:-10}
TMP=$(mktemp -d /tmp/finsys-bench.XXXXXX)
chmod 755 "$TMP"
teardown() {
    fs_stop_pid "$TMP/server.pid"
    fs_stop_pid "$TMP/worker.pid"
    fs_stop_pid "$TMP/provider.pid"
    fs_redis_stop "$TMP"
    fs_nats_stop "$TMP"
    fs_pg_stop "$TMP"
    mkdir -p bench/results
    cp "$TMP/server.log" bench/results/server.log 2>/dev/null || true
    cp "$TMP/postgres.log" bench/results/postgres.log 2>/dev/null || true
    cp "$TMP/worker.log" bench/results/worker.log 2>/dev/null || true
    rm -rf "$TMP"
}
trap teardown EXIT

PG_PORT=$(fs_free_port)
HTTP_PORT=$(fs_free_port)
NATS_PORT=$(fs_free_port)
REDIS_PORT=$(fs_free_port)
# pg_stat_statements (track=all sees inside fs_batch) says where the
# database's time goes: bench/results/statements.txt.
FS_PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \
    fs_pg_start "$TMP" "$PG_PORT"
fs_nats_start "$TMP" "$NATS_PORT"
fs_redis_start "$TMP" "$REDIS_PORT"
export FINSYS_DATABASE_URL=$(fs_pg_url "$TMP" "$PG_PORT")
export FINSYS_NATS_URL=$(fs_nats_url "$NATS_PORT")
export FINSYS_REDIS_URL=$(fs_redis_url "$REDIS_PORT")
export FINSYS_HTTP_PORT=$HTTP_PORT FINSYS_HTTP_HOST=127.0.0.1
# The load comes from one key and one address: rate limits out of its way.
export FINSYS_RATE_LIMIT_PER_S=1000000 FINSYS_RATE_LIMIT_BURST=1000000
export FINSYS_RATE_LIMIT_ADDR_PER_S=1000000 FINSYS_RATE_LIMIT_ADDR_BURST=1000000
PSQL=(psql "$FINSYS_DATABASE_URL" -XqAt -v ON_ERROR_STOP=1)

# (a) pgbench on the same server: scale 16 (its rows are separate from ours).
echo "pgbench: initialising (scale 16)"
fs_as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s 16 -q finsys \
    >/dev/null 2>&1
"${PSQL[@]}" -c "CHECKPOINT"
best_tps=0
best_clients=0
for c in 4 8 16 32; do
    tps=$(fs_as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "$c" -j 2 \
        -T "$PGBENCH_S" -n finsys 2>/dev/null | awk '/^tps/ {print int($3); exit}')
    echo "pgbench: $c clients: $tps tps"
    if [ "${tps:-0}" -gt "$best_tps" ]; then best_tps=$tps; best_clients=$c; fi
done

# pgbench's tables go, so that autovacuum does not clean up after them while
# FinSys is measured (it halved the payments/s it measured).
"${PSQL[@]}" -c "DROP TABLE pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers"

# (b) FinSys: schema, a tenant, and funded accounts (made in SQL for speed:
# the same rows, entries and balances that deposits through the API make).
"$BIN" migrate >/dev/null
KEY=$("$BIN" apikey create --tenant bench)
TENANT=$("${PSQL[@]}" -c "SELECT id FROM tenants WHERE name = 'bench'")
"${PSQL[@]}" >/dev/null <<SQL
BEGIN;
INSERT INTO accounts (id, tenant_id, currency, name, type, available)
SELECT 'acct_bench' || lpad(g::text, 6, '0'), '$TENANT', 'USD', 'bench', 'user', 1000000000000
FROM generate_series(1, $ACCOUNTS) g;
INSERT INTO deposits (id, tenant_id, account_id, amount, currency)
SELECT 'dep_bench' || lpad(g::text, 6, '0'), '$TENANT', 'acct_bench' || lpad(g::text, 6, '0'),
       1000000000000, 'USD' FROM generate_series(1, $ACCOUNTS) g;
INSERT INTO journal_entries (account_id, bucket, amount, currency, ref_id)
SELECT 'acct_bench' || lpad(g::text, 6, '0'), 'A', 1000000000000, 'USD',
       'dep_bench' || lpad(g::text, 6, '0') FROM generate_series(1, $ACCOUNTS) g
UNION ALL
SELECT (SELECT id FROM accounts WHERE tenant_id = '$TENANT' AND currency = 'USD'
        AND type = 'external'), 'A', -1000000000000 * $ACCOUNTS, 'USD', 'dep_bench_all';
UPDATE accounts SET available = -1000000000000 * $ACCOUNTS
WHERE tenant_id = '$TENANT' AND currency = 'USD' AND type = 'external';
COMMIT;
VACUUM ANALYZE;
SQL
"${PSQL[@]}" -c "SELECT id FROM accounts WHERE tenant_id = '$TENANT' AND type = 'user'" \
    >"$TMP/accounts.txt"
# Start both measurements from a checkpoint, so neither pays for the
# other's (or the set-up's) dirty pages and full-page writes.
"${PSQL[@]}" -c "CHECKPOINT"

if [ -n "${BENCH_EXPLAIN_MS:-}" ]; then
    # Diagnosis: log the plans of statements slower than BENCH_EXPLAIN_MS.
    "${PSQL[@]}" -c "ALTER DATABASE finsys SET session_preload_libraries = 'auto_explain'" \
        -c "ALTER DATABASE finsys SET auto_explain.log_min_duration = '${BENCH_EXPLAIN_MS}ms'" \
        -c "ALTER DATABASE finsys SET auto_explain.log_nested_statements = on"
fi
# (b) measures the API alone: its server publishes nothing (no worker runs).
FINSYS_NATS_URL="" "$BIN" server 2>"$TMP/server.log" &
echo $! >"$TMP/server.pid"
SERVER_PID=$(cat "$TMP/server.pid")
fs_wait_http "http://127.0.0.1:$HTTP_PORT/readyz" 30

# A short warm-up: connections, plans and WAL segments as in steady state.
FINSYS_BENCH_KEY=$KEY FINSYS_BENCH_ACCOUNTS=$TMP/accounts.txt FINSYS_BENCH_RUN=warm$$ \
    wrk -t2 -c"$CONNECTIONS" -d5s -s bench/payments.lua "http://127.0.0.1:$HTTP_PORT" \
    >/dev/null 2>&1 || true
"${PSQL[@]}" -c "CHECKPOINT"

"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
    -c "SELECT pg_stat_statements_reset()" >/dev/null
before=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
# What Redis does per payment: its commands (those inside scripts counted
# too), the bytes its append-only file grows by, and its CPU and the
# server's (utime + stime, in clock ticks).
redis_stats() {
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | grep '^cmdstat_'
    redis-cli -p "$REDIS_PORT" info persistence | tr -d '\r' | grep '^aof_current_size:'
    echo "cpu_ticks:redis=$(awk '{print $14 + $15}' "/proc/$(cat "$TMP/redis.pid")/stat")"
    echo "cpu_ticks:server=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")"
}
redis_stats >"$TMP/redis.before"
echo "wrk: $CONNECTIONS connections, ${DURATION}s"
FINSYS_BENCH_KEY=$KEY FINSYS_BENCH_ACCOUNTS=$TMP/accounts.txt FINSYS_BENCH_RUN=$$ \
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/payments.lua \
    "http://127.0.0.1:$HTTP_PORT" >"$TMP/wrk.out" 2>&1 || true
result=$(grep '^WRK_RESULT ' "$TMP/wrk.out" | sed 's/^WRK_RESULT //')
rss_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
after=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
redis_stats >"$TMP/redis.after"
mkdir -p bench/results
psql "$FINSYS_DATABASE_URL" -X -v ON_ERROR_STOP=1 >bench/results/statements.txt <<'SQL'
SELECT calls, round(total_exec_time) AS total_ms,
       round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1) AS pct,
       round(mean_exec_time::numeric, 3) AS mean_ms, rows,
       left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS statement
FROM pg_stat_statements
WHERE query NOT LIKE '%pg_stat_statements%'
ORDER BY total_exec_time DESC LIMIT 20;
SQL

python3 - "$result" "$best_tps" "$best_clients" "$rss_kb" "$((after - before))" \
    "$TMP/redis.before" "$TMP/redis.after" "$(getconf CLK_TCK)" <<'PY'
import json, os, re, sys
wrk = json.loads(sys.argv[1])


def redis_stats(path):
    """{name: count}: commands' calls, the AOF's size, CPU ticks."""
    out = {}
    for line in open(path):
        m = re.match(r"cmdstat_(\S+):calls=(\d+)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
        elif line.startswith("aof_current_size:"):
            out["aof_bytes"] = int(line.split(":")[1])
        elif line.startswith("cpu_ticks:"):
            name, v = line[len("cpu_ticks:"):].strip().split("=")
            out["cpu_" + name] = int(v)
    return out
pgbench_tps, clients, rss_kb, created = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
pps = created / wrk["duration_s"]
rb, ra, tck = redis_stats(sys.argv[6]), redis_stats(sys.argv[7]), int(sys.argv[8])
per = lambda k: round((ra.get(k, 0) - rb.get(k, 0)) / created, 2) if created else None
cpu = lambda k: (ra.get(k, 0) - rb.get(k, 0)) * 1e6 / tck / created
cmds = sorted(k for k in ra if not k.startswith(("aof_", "cpu_")) and per(k))
out = {
    "payments_per_s": round(pps),
    "pgbench_tps": pgbench_tps,
    "pgbench_clients": clients,
    "ratio": round(pps / pgbench_tps, 2) if pgbench_tps else None,
    "p50_ms": round(wrk["p50_ms"], 2),
    "p99_ms": round(wrk["p99_ms"], 2),
    "server_peak_rss_mb": round(rss_kb / 1024, 1),
    "requests": wrk["requests"],
    "payments_created": created,
    "non_2xx": wrk["errors_status"],
    "socket_errors": wrk["errors_socket"],
    # Per payment created: Redis's commands (a script's own calls counted
    # too), top-level script runs, AOF bytes, and CPU of redis-server and
    # the server in microseconds.
    "redis_per_payment": {
        "commands": round(sum(ra[k] - rb.get(k, 0) for k in cmds) / created, 2) if created else None,
        "scripts": round(sum(per(k) for k in ("eval", "evalsha")), 2) if created else None,
        "by_command": {k: per(k) for k in cmds},
        "aof_bytes": per("aof_bytes"),
        "redis_cpu_us": round(cpu("cpu_redis"), 1) if created else None,
        "server_cpu_us": round(cpu("cpu_server"), 1) if created else None,
    },
}
os.makedirs("bench/results", exist_ok=True)
with open("bench/results/latest.json", "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
print(json.dumps(out, indent=2))
print("where the database's time went: bench/results/statements.txt")
targets = [("ratio >= 4", out["ratio"] is not None and out["ratio"] >= 4),
           ("p99 <= 25 ms", out["p99_ms"] <= 25),
           ("peak RSS <= 150 MB", out["server_peak_rss_mb"] <= 150)]
for name, ok in targets:
    print(f"target {name}: {'met' if ok else 'NOT met'}")
PY

# (c) The full life cycle for BENCH_SETTLE_S seconds: a server that publishes,
# the provider simulator (about 5 ms median), and a worker; payments created
# by BENCH_SETTLE_CONNECTIONS connections (64: with the worker sharing the
# cores, creation then runs at what settlement keeps up with, p99 well under
# 1 s; 16 settled half as many), then every one waited for until final.
SETTLE_S=${BENCH_SETTLE_S:-60}
SETTLE_CONNECTIONS=${BENCH_SETTLE_CONNECTIONS:-64}
fs_stop_pid "$TMP/server.pid"
PROVIDER_PORT=$(fs_free_port)
"$BIN" provider-sim --port "$PROVIDER_PORT" 2>"$TMP/provider.log" &
echo $! >"$TMP/provider.pid"
FINSYS_PROVIDER_URL=http://127.0.0.1:$PROVIDER_PORT FINSYS_SWEEP_AFTER_S=86400 FINSYS_WORKER_PORT=0 \
    "$BIN" worker 2>"$TMP/worker.log" &
echo $! >"$TMP/worker.pid"
WORKER_PID=$(cat "$TMP/worker.pid")
"$BIN" server 2>>"$TMP/server.log" &
echo $! >"$TMP/server.pid"
fs_wait_http "http://127.0.0.1:$HTTP_PORT/readyz" 30
fs_wait_http "http://127.0.0.1:$PROVIDER_PORT/healthz" 30
# The API phase wrote its events with no worker running: the worker's readers
# of the event log (indexer, receipts, webhooks) work through that backlog
# first, which measures how fast they catch up; the life cycle starts once
# they have, so its lag figures are those of a steady state.
backlog=$("${PSQL[@]}" -c "SELECT count(*) FROM events")
catchup_start=$(date +%s.%N)
for ((i = 0; i < 3000; i++)); do
    readers_behind=$("${PSQL[@]}" -c "
        SELECT count(*) FROM (VALUES ('indexer'), ('receipts'), ('webhooks')) f(name)
        LEFT JOIN feed_cursors c USING (name)
        WHERE EXISTS (SELECT 1 FROM events e
                      WHERE (e.txid, e.seq) > (coalesce(c.txid, '0'), coalesce(c.seq, 0)))")
    [ "$readers_behind" -eq 0 ] && break
    sleep 0.1
done
catchup_s=$(python3 -c "import time; print(round(time.time() - $catchup_start, 1))")
echo "the event log's readers caught up with $backlog events in ${catchup_s}s" \
     "(behind: $readers_behind)"
mark=$("${PSQL[@]}" -c "SELECT max(seq) FROM payments")
echo "life cycle: $SETTLE_CONNECTIONS connections, ${SETTLE_S}s, then until all are final"
FINSYS_BENCH_KEY=$KEY FINSYS_BENCH_ACCOUNTS=$TMP/accounts.txt FINSYS_BENCH_RUN=settle$$ \
    wrk -t2 -c"$SETTLE_CONNECTIONS" -d"${SETTLE_S}s" -s bench/payments.lua \
    "http://127.0.0.1:$HTTP_PORT" >"$TMP/wrk-settle.out" 2>&1 || true
for ((i = 0; i < 1200; i++)); do
    left=$("${PSQL[@]}" -c "SELECT count(*) FROM payments WHERE seq > $mark
                            AND status IN ('pending', 'processing')")
    [ "$left" -eq 0 ] && break
    sleep 0.1
done
worker_rss_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$WORKER_PID/status")
# Behind settlement, the worker's readers of the event log: wait (at most a
# minute) until the search model has every payment in its final status and
# every succeeded payment has its receipt stored, then measure each one's lag
# (from the event, or the success, to indexed or stored) under this load.
for ((i = 0; i < 600; i++)); do
    behind=$("${PSQL[@]}" -c "
        SELECT (SELECT count(*) FROM payments p LEFT JOIN payment_search s
                  ON s.payment_id = p.id
                WHERE p.seq > $mark AND s.status IS DISTINCT FROM p.status)
             + (SELECT count(*) FROM payments p LEFT JOIN receipts r ON r.payment_id = p.id
                WHERE p.seq > $mark AND p.status = 'succeeded' AND r.stored_at IS NULL)")
    [ "$behind" -eq 0 ] && break
    sleep 0.1
done
lags=$("${PSQL[@]}" -F ' ' -c "
    SELECT 1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP
                                     (ORDER BY s.indexed_at - s.event_created_at)),
           1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
                                     (ORDER BY s.indexed_at - s.event_created_at)),
           1000 * extract(epoch FROM max(s.indexed_at - s.event_created_at)),
           (SELECT 1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
                                            (ORDER BY r.stored_at - p2.updated_at))
            FROM payments p2 JOIN receipts r ON r.payment_id = p2.id
            WHERE p2.seq > $mark AND p2.status = 'succeeded')
    FROM payments p JOIN payment_search s ON s.payment_id = p.id WHERE p.seq > $mark")
settle=$("${PSQL[@]}" -F ' ' -c "
    SELECT count(*),
           count(*) FILTER (WHERE status IN ('succeeded', 'failed')),
           count(*) FILTER (WHERE status IN ('pending', 'processing')),
           extract(epoch FROM max(updated_at) - min(created_at)),
           1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP
                                    (ORDER BY updated_at - created_at)
                                    FILTER (WHERE status = 'succeeded')),
           1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
                                    (ORDER BY updated_at - created_at)
                                    FILTER (WHERE status = 'succeeded'))
    FROM payments WHERE seq > $mark")
python3 - "$settle" "$worker_rss_kb" "$behind" "$lags" "$backlog" "$catchup_s" \
    "$readers_behind" <<'PY'
import json, sys
total, final, unsettled, span_s, p50_ms, p99_ms = sys.argv[1].split()
behind = int(sys.argv[3])
lag = [None if x == "" else round(float(x), 1) for x in (sys.argv[4].split(" ") + [""] * 4)[:4]]
with open("bench/results/latest.json") as f:
    out = json.load(f)
settled_per_s = int(final) / float(span_s) if float(span_s) > 0 else 0
out.update({
    "settled_per_s": round(settled_per_s),
    "settle_ratio": round(settled_per_s / out["pgbench_tps"], 2) if out["pgbench_tps"] else None,
    "settle_p50_ms": round(float(p50_ms), 1),
    "settle_p99_ms": round(float(p99_ms), 1),
    "worker_peak_rss_mb": round(int(sys.argv[2]) / 1024, 1),
    "all_final": int(unsettled) == 0,
    "settle_payments": int(total),
    # the readers of the event log behind settlement, under the same load
    "index_lag_p50_ms": lag[0],
    "index_lag_p99_ms": lag[1],
    "index_lag_max_ms": lag[2],
    "receipt_lag_p99_ms": lag[3],
    "readers_caught_up": behind == 0,
    # before the life cycle: the readers working through the API phase's events
    "readers_backlog_events": int(sys.argv[5]),
    "readers_backlog_s": float(sys.argv[6]),
    "readers_backlog_events_per_s": round(int(sys.argv[5]) / max(float(sys.argv[6]), 0.1)),
    "readers_backlog_done": sys.argv[7] == "0",
})
with open("bench/results/latest.json", "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
print(json.dumps({k: out[k] for k in ("settled_per_s", "settle_ratio", "settle_p50_ms",
                                      "settle_p99_ms", "worker_peak_rss_mb", "all_final",
                                      "settle_payments", "index_lag_p50_ms", "index_lag_p99_ms",
                                      "index_lag_max_ms", "receipt_lag_p99_ms",
                                      "readers_caught_up", "readers_backlog_events",
                                      "readers_backlog_s", "readers_backlog_events_per_s",
                                      "readers_backlog_done")}, indent=2))
for name, ok in [("settled/s >= 2x pgbench", (out["settle_ratio"] or 0) >= 2),
                 ("p99 201 -> succeeded <= 1 s", out["settle_p99_ms"] <= 1000),
                 ("every payment final", out["all_final"])]:
    print(f"target {name}: {'met' if ok else 'NOT met'}")
PY

