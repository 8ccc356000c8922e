#!/usr/bin/env bash
# make bench: in one run, on a stack of its own (PostgreSQL, nats-server and
# redis-server in a temporary directory, on free loopback ports), measures
#   (a) pgbench's built-in tpcb-like transaction at its best client count;
#   (b) ingest: POST /v1/payments over keep-alive with wrk (64 connections,
#       30 s, random pairs of 10,000 funded accounts, unique idempotency keys)
#       against the server as `make run` runs it: publishing every payment to
#       NATS, rate limits and caches in Redis, metrics and the access log on;
#   (c) the full life cycle for 60 s: created by the server, settled by a
#       worker through the provider simulator, with every reader of the event
#       log (search index, receipts, webhooks to one local receiver subscribed
#       to every event), then waited for until all of it is done;
#   (b0), (b1) before (b)'s measured ingest, rounds of it without and with
#       the risk rules (their cost) and with a hostile tenant's reader
#       (bench/reads.lua: what reads take from the payments);
#   (b2) between them, a flood of made-up API keys from 127.0.0.2
#       (bench/flood.c): the legitimate clients' p99 without and with it,
#       what it got (429s) and what it cost each process;
# with the CPU each process spent per payment in (b) and (c) (bench/cpu.py).
# Prints the figures and the targets of issue 10 and writes them to
# $BENCH_RESULTS_DIR/latest.json (bench/results; keys in bench/keys.txt).
#
# BENCH_SMOKE=1 is the seconds-long run that `make test` makes to check that
# the bench still works (no thresholds). Any BENCH_* below overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack.sh
source bench/fixtures.sh

if [ -n "${BENCH_SMOKE:-}" ]; then
    # Two connections: what 8 made, the sanitizer build took tens of seconds
    # to settle, and the smoke checks the phases run, not their speed.
    : "${BENCH_DURATION_S:=2}" "${BENCH_SETTLE_S:=2}" "${BENCH_PGBENCH_S:=1}"
    : "${BENCH_PGBENCH_CLIENTS:=4}" "${BENCH_PGBENCH_SCALE:=1}" "${BENCH_ACCOUNTS:=200}"
    : "${BENCH_CONNECTIONS:=2}" "${BENCH_SETTLE_CONNECTIONS:=2}" "${BENCH_WARMUP_S:=1}"
    : "${BENCH_RISK_AB_ROUND_S:=1}" "${BENCH_READS_ROUND_S:=1}" "${BENCH_FLOOD_ROUND_S:=1}"
    : "${BENCH_READER_CONNECTIONS:=2}" "${BENCH_FLOOD_CONNECTIONS:=8}"
    # One round of each side: the smoke checks that every phase runs and
    # writes its keys, not its figures (eight rounds of three phases, each
    # vacuumed and checkpointed, were a minute of make test).
    : "${BENCH_AB_ORDER:=off on}"
fi
# The order of the A/B phases' rounds (b0, b1, b2): ABBA BAAB, A without.
AB_ORDER=${BENCH_AB_ORDER:-off on on off on off off on}
BIN=${FINSYS_BIN:-build/finsys}
DURATION=${BENCH_DURATION_S:-30}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
ACCOUNTS=${BENCH_ACCOUNTS:-10000}
PGBENCH_S=${BENCH_PGBENCH_S:-10}
PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-4 8 16 32}
PGBENCH_SCALE=${BENCH_PGBENCH_SCALE:-16}
WARMUP_S=${BENCH_WARMUP_S:-5}
# (b0): each of the 8 rounds of the rules' A/B (4 without, 4 with).
AB_ROUND_S=${BENCH_RISK_AB_ROUND_S:-10}
# (b1): each of the 8 rounds of the ingest without and with a reader (4 of
# each), the reader's connections (twice a tenant's cap of lists at once,
# FS_READ_CONCURRENT_PER_TENANT_MAX: a hostile tenant's), and BENCH_READS=0
# to skip it.
READS_ROUND_S=${BENCH_READS_ROUND_S:-8}
READER_CONNECTIONS=${BENCH_READER_CONNECTIONS:-8}
# (c): payments created by BENCH_SETTLE_CONNECTIONS connections for
# BENCH_SETTLE_S (64: with the worker sharing the cores, creation then runs at
# what settlement keeps up with; 16 settled half as many).
SETTLE_S=${BENCH_SETTLE_S:-60}
SETTLE_CONNECTIONS=${BENCH_SETTLE_CONNECTIONS:-64}
# How long (c) waits, at most, for every payment to be final, and then for
# the readers and the webhook deliveries to be done with them.
FINAL_WAIT_S=${BENCH_FINAL_WAIT_S:-120}
READERS_WAIT_S=${BENCH_READERS_WAIT_S:-60}
RESULTS=${BENCH_RESULTS_DIR:-bench/results}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)

TMP=$(mktemp -d /tmp/finsys-bench.XXXXXX)
chmod 755 "$TMP"
# Phase (c) runs a nats-server of its own: its directory.
LC=$TMP/lifecycle
mkdir -p "$LC"
teardown() {
    fs_stop_pid "$TMP/server.pid"
    fs_stop_pid "$TMP/worker.pid"
    fs_stop_pid "$TMP/provider.pid"
    fs_stop_pid "$TMP/sink.pid"
    fs_redis_stop "$TMP"
    fs_nats_stop "$TMP"
    fs_nats_stop "$LC"
    fs_pg_stop "$TMP"
    cp "$(fs_pg_home "$TMP")/postgres.log" "$TMP/postgres.log" 2>/dev/null || true
    for log in server postgres worker provider sink; do
        cp "$TMP/$log.log" "$RESULTS/$log.log" 2>/dev/null || true
    done
    fs_pg_forget "$TMP"
    rm -rf "$TMP"
}
trap teardown EXIT

# raw NAME VALUE: one measured value for bench/report.py.
raw() {
    printf '%s\t%s\n' "$1" "$2" >>"$TMP/raw.tsv"
}
: >"$TMP/raw.tsv"

PG_PORT=$(fs_free_port)
HTTP_PORT=$(fs_free_port)
NATS_PORT=$(fs_free_port)
REDIS_PORT=$(fs_free_port)
# BENCH_STATEMENTS=1, a diagnosis: pg_stat_statements (track=all sees inside
# fs_batch) says where the database's time goes, statements.txt (ingest) and
# statements-settle.txt (life cycle) next to latest.json. Off by default:
# `make run` does not load it, and counting every statement inside fs_batch
# costs PostgreSQL CPU of its own.
STATEMENTS=${BENCH_STATEMENTS:-0}
if [ "$STATEMENTS" = 1 ]; then
    FS_PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \
        fs_pg_start "$TMP" "$PG_PORT"
else
    rm -f "$RESULTS/statements.txt" "$RESULTS/statements-settle.txt"
    fs_pg_start "$TMP" "$PG_PORT"
fi
# statements FILE: the top statements since the last reset (BENCH_STATEMENTS=1).
statements() {
    [ "$STATEMENTS" = 1 ] || return 0
    psql "$FINSYS_DATABASE_URL" -X -v ON_ERROR_STOP=1 >"$1" <<'SQL'
SELECT calls, round(total_exec_time) AS total_ms,
       round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1) AS pct,
       round(mean_exec_time::numeric, 3) AS mean_ms, rows,
       left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS statement
FROM pg_stat_statements
WHERE query NOT LIKE '%pg_stat_statements%'
ORDER BY total_exec_time DESC LIMIT 40;
SQL
}
statements_reset() {
    [ "$STATEMENTS" = 1 ] || return 0
    "${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
        -c "SELECT pg_stat_statements_reset()" >/dev/null
}
fs_nats_start "$TMP" "$NATS_PORT"
fs_redis_start "$TMP" "$REDIS_PORT"
PG_PID=$(fs_pg_pid "$TMP")
REDIS_PID=$(cat "$TMP/redis.pid")
export FINSYS_DATABASE_URL=$(fs_pg_url "$TMP" "$PG_PORT")
# A development stack: PostgreSQL with trust and its superuser, which
# finsys server and worker refuse without it (docs/operations.md,
# "Production settings").
export FINSYS_DEV=1
export FINSYS_NATS_URL=$(fs_nats_url "$NATS_PORT")
export FINSYS_REDIS_URL=$(fs_redis_url "$REDIS_PORT")
export FINSYS_HTTP_PORT=$HTTP_PORT FINSYS_HTTP_HOST=127.0.0.1
export FINSYS_OBJECTS_DIR=$TMP/objects
# The load comes from one key and one address: rate limits out of its way.
# Everything else is left at the defaults `make run` uses (metrics on, the
# access log at info).
export FINSYS_RATE_LIMIT_PER_S=1000000 FINSYS_RATE_LIMIT_BURST=1000000
export FINSYS_RATE_LIMIT_ADDR_PER_S=1000000 FINSYS_RATE_LIMIT_ADDR_BURST=1000000
# Its webhook sink listens on 127.0.0.1: loopback is refused by default.
export FINSYS_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8,::1/128
PSQL=(psql "$FINSYS_DATABASE_URL" -XqAt -v ON_ERROR_STOP=1)

# load NAME CONNECTIONS SECONDS [--latency]: wrk's payments at the server,
# its CPU (bench/cpu.py run) in $TMP/NAME.cpu, its output in $TMP/NAME.out.
load() {
    local name=$1 conns=$2 secs=$3
    shift 3
    FINSYS_BENCH_KEY=$KEY FINSYS_BENCH_ACCOUNTS=$TMP/accounts.txt FINSYS_BENCH_RUN=$name$$ \
        python3 bench/cpu.py run "$TMP/$name.cpu" -- \
        wrk -t2 -c"$conns" -d"${secs}s" "$@" -s bench/payments.lua \
        "http://127.0.0.1:$HTTP_PORT" >"$TMP/$name.out" 2>&1 || true
}

# ---- (a) pgbench on the same server (its rows are separate from ours)
echo "pgbench: initialising (scale $PGBENCH_SCALE)"
fs_as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s "$PGBENCH_SCALE" -q \
    finsys >/dev/null 2>&1
"${PSQL[@]}" -c "CHECKPOINT"
best_tps=0
best_clients=0
for c in $PGBENCH_CLIENTS; do
    tps=$(fs_as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "$c" -j 2 \
        -T "$PGBENCH_S" -n finsys 2>/dev/null | awk '/^tps/ {print int($3); exit}')
    echo "pgbench: $c clients: $tps tps"
    if [ "${tps:-0}" -gt "$best_tps" ]; then best_tps=$tps; best_clients=$c; fi
done
raw pgbench_tps "$best_tps"
raw pgbench_clients "$best_clients"

# pgbench's tables go, so that autovacuum does not clean up after them while
# FinSys is measured (it halved the payments/s it measured).
"${PSQL[@]}" -c "DROP TABLE pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers"

# ---- FinSys: schema, a tenant, and funded accounts (bench/fixtures.sh: made
# in SQL for speed, the same rows, entries and balances that deposits through
# the API make).
"$BIN" migrate >/dev/null
KEY=$("$BIN" apikey create --tenant bench)
# Deposits on, as make run's dev tenant (off for a new tenant otherwise).
"$BIN" tenant deposits --tenant bench on
TENANT=$("${PSQL[@]}" -c "SELECT id FROM tenants WHERE name = 'bench'")
bench_accounts "$TENANT" "$ACCOUNTS"
# A realistic rule set (bench_risk_rules), evaluated on every payment of both
# phases. BENCH_RISK=0 runs without rules: the A/B of their cost
# (docs/architecture.md).
RISK_RULES=0
if [ "${BENCH_RISK:-1}" = 1 ]; then
    bench_risk_rules "$TENANT"
    RISK_RULES=8
fi
raw risk_rules "$RISK_RULES"
# Start both measurements from a checkpoint, so neither pays for the
# other's (or the set-up's) dirty pages and full-page writes.
"${PSQL[@]}" -c "CHECKPOINT"

if [ -n "${BENCH_EXPLAIN_MS:-}" ]; then
    # Diagnosis: log the plans of statements slower than BENCH_EXPLAIN_MS.
    "${PSQL[@]}" -c "ALTER DATABASE finsys SET session_preload_libraries = 'auto_explain'" \
        -c "ALTER DATABASE finsys SET auto_explain.log_min_duration = '${BENCH_EXPLAIN_MS}ms'" \
        -c "ALTER DATABASE finsys SET auto_explain.log_nested_statements = on"
fi

# ---- (b) ingest, as `make run` serves it: the server publishes each payment
# to this nats-server; no worker runs, so nothing settles them (phase (c) has
# a broker of its own, so they are no backlog there).
"$BIN" server 2>"$TMP/server.log" &
echo $! >"$TMP/server.pid"
SERVER_PID=$(cat "$TMP/server.pid")
fs_wait_http "http://127.0.0.1:$HTTP_PORT/readyz" 30
NATS_PID=$(cat "$TMP/nats.pid")

# A short warm-up: connections, plans and WAL segments as in steady state.
load warm "$CONNECTIONS" "$WARMUP_S"
"${PSQL[@]}" -c "CHECKPOINT"

# (b0) What the rules cost, in this run: rounds of the same ingest without
# and with them (soft-deleted for the rounds without; triggers remake their
# bounds), in the order ABBA BAAB (A without), so that a trend (the database
# growing under the load) or a slow spell of the machine longer than a round
# falls on both sides alike (runs of 4 rounds, ABBA, differed by 10 points:
# two slow rounds in a row were the two with rules). BENCH_RISK_AB=0 skips it
# (the figure then needs a BENCH_RISK=0 run of its own). Settlement does not
# evaluate rules: its share is the CPU they add to a payment over a settled
# payment's CPU (report.py).
if [ "$RISK_RULES" -gt 0 ] && [ "${BENCH_RISK_AB:-1}" = 1 ]; then
    echo "ingest without and with the rules: $(wc -w <<<"$AB_ORDER") rounds of ${AB_ROUND_S}s"
    "${PSQL[@]}" -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
    # Each round has a name of its own: wrk's Idempotency-Keys are made of it,
    # and a round that reused another's would replay its payments, not make them.
    round=0
    for side in $AB_ORDER; do
        round=$((round + 1))
        if [ "$side" = off ]; then deleted="now()"; else deleted="NULL"; fi
        "${PSQL[@]}" -c "UPDATE risk_rules SET deleted_at = $deleted WHERE tenant_id = '$TENANT'"
        # Each round from the same state: vacuumed (autovacuum is off for
        # the rounds: on its one-minute clock it landed in one round of four
        # and took a quarter of it) and from clean buffers (a round's dirty
        # pages, about 3 kB a payment, fill shared_buffers, and the rounds
        # after it paid for writing them out: round 4 made a quarter fewer
        # than round 1).
        "${PSQL[@]}" -c "VACUUM" -c "CHECKPOINT"
        before=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
        python3 bench/cpu.py snapshot "$TMP/cpu-ab-start.json" postgres="$PG_PID" \
            server="$SERVER_PID" nats="$NATS_PID" redis="$REDIS_PID"
        load "ab$round-$side" "$CONNECTIONS" "$AB_ROUND_S"
        python3 bench/cpu.py snapshot "$TMP/cpu-ab-end.json" postgres="$PG_PID" \
            server="$SERVER_PID" nats="$NATS_PID" redis="$REDIS_PID"
        after=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
        python3 bench/cpu.py budget "$TMP/cpu-ab-start.json" "$TMP/cpu-ab-end.json" \
            "$((after - before))" wrk="$TMP/ab$round-$side.cpu" >"$TMP/cpu-ab$round.json"
        cpu_s=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["total_cpu_s"] or 0)' \
            <"$TMP/cpu-ab$round.json")
        secs=$(sed -n 's/^WRK_RESULT .*"duration_s":\([0-9.]*\).*/\1/p' "$TMP/ab$round-$side.out")
        # wrk's own CPU a request: the same work in every round, rules or
        # not, so the machine's speed in that round (report.py).
        reqs=$(sed -n 's/^WRK_RESULT {"requests":\([0-9]*\).*/\1/p' "$TMP/ab$round-$side.out")
        wrk_s=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["cpu_s"])' \
            <"$TMP/ab$round-$side.cpu" 2>/dev/null || echo 0)
        echo "$side $((after - before)) ${secs:-0} $cpu_s ${wrk_s:-0} ${reqs:-0}" >>"$TMP/ab.txt"
        echo "  round $round, rules $side: $((after - before)) payments in ${secs:-0}s," \
            "CPU us a payment: $(python3 -c 'import json, sys
print(" ".join(f"{k} {v}" for k, v in json.load(sys.stdin)["us_per_payment"].items()))' \
            <"$TMP/cpu-ab$round.json")"
    done
    "${PSQL[@]}" -c "ALTER SYSTEM RESET autovacuum" -c "SELECT pg_reload_conf()" >/dev/null
    raw norules_payments "$(awk '$1 == "off" {n += $2} END {print n}' "$TMP/ab.txt")"
    raw norules_s "$(awk '$1 == "off" {s += $3} END {print s}' "$TMP/ab.txt")"
    raw rules_ab_payments "$(awk '$1 == "on" {n += $2} END {print n}' "$TMP/ab.txt")"
    raw rules_ab_s "$(awk '$1 == "on" {s += $3} END {print s}' "$TMP/ab.txt")"
    raw norules_cpu_s "$(awk '$1 == "off" {s += $4} END {print s}' "$TMP/ab.txt")"
    raw rules_ab_cpu_s "$(awk '$1 == "on" {s += $4} END {print s}' "$TMP/ab.txt")"
    "${PSQL[@]}" -c "CHECKPOINT"
fi

# (b1) What a reader costs the payments (issue 13): rounds of the same
# ingest without and with a hostile tenant's reader running (bench/reads.lua:
# READER_CONNECTIONS connections at full speed, the lists and searches that
# cost the most), with (b0)'s method: each round from a vacuumed database and
# clean buffers, autovacuum off, ABBA BAAB (A without), a name of its own per
# round. The reader starts a moment before the round's ingest and ends after
# it; its answers by status are counted over the rounds with it. The reads
# have their own connections, timeout and caps (docs/operations.md, "Reads"):
# what is left is the CPU of their backends and of the reader itself on the
# same cores.
if [ "${BENCH_READS:-1}" = 1 ]; then
    echo "ingest without and with a reader: $(wc -w <<<"$AB_ORDER") rounds of ${READS_ROUND_S}s" \
        "(reader: $READER_CONNECTIONS connections)"
    "${PSQL[@]}" -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
    : >"$TMP/reads.txt"
    : >"$TMP/reader.txt"
    round=0
    for side in $AB_ORDER; do
        round=$((round + 1))
        "${PSQL[@]}" -c "VACUUM" -c "CHECKPOINT"
        reader_pid=""
        if [ "$side" = on ]; then
            FINSYS_BENCH_KEY=$KEY wrk -t1 -c"$READER_CONNECTIONS" -d"$((READS_ROUND_S + 1))s" \
                -s bench/reads.lua "http://127.0.0.1:$HTTP_PORT" >"$TMP/reader$round.out" 2>&1 &
            reader_pid=$!
            sleep 0.5
        fi
        before=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
        load "rd$round-$side" "$CONNECTIONS" "$READS_ROUND_S"
        after=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
        secs=$(sed -n 's/^WRK_RESULT .*"duration_s":\([0-9.]*\).*/\1/p' "$TMP/rd$round-$side.out")
        reader=""
        if [ -n "$reader_pid" ]; then
            wait "$reader_pid" || true
            reader=$(sed -n 's/^READS_RESULT //p' "$TMP/reader$round.out")
            python3 -c 'import json, sys
r = json.loads(sys.argv[1] or "{}")
print(" ".join(str(r.get(k, 0)) for k in ("requests", "duration_s", "s200", "s429", "s503",
                                           "other")))' "$reader" >>"$TMP/reader.txt"
        fi
        echo "$side $((after - before)) ${secs:-0}" >>"$TMP/reads.txt"
        echo "  round $round, reader $side: $((after - before)) payments in ${secs:-0}s" \
            "${reader:+(reader: $reader)}"
    done
    "${PSQL[@]}" -c "ALTER SYSTEM RESET autovacuum" -c "SELECT pg_reload_conf()" >/dev/null
    raw noreader_payments "$(awk '$1 == "off" {n += $2} END {print n}' "$TMP/reads.txt")"
    raw noreader_s "$(awk '$1 == "off" {s += $3} END {print s}' "$TMP/reads.txt")"
    raw reader_payments "$(awk '$1 == "on" {n += $2} END {print n}' "$TMP/reads.txt")"
    raw reader_s "$(awk '$1 == "on" {s += $3} END {print s}' "$TMP/reads.txt")"
    raw reader_requests "$(awk '{n += $1} END {print n + 0}' "$TMP/reader.txt")"
    raw reader_requests_s "$(awk '{s += $2} END {print s + 0}' "$TMP/reader.txt")"
    raw reader_200 "$(awk '{n += $3} END {print n + 0}' "$TMP/reader.txt")"
    raw reader_429 "$(awk '{n += $4} END {print n + 0}' "$TMP/reader.txt")"
    raw reader_503 "$(awk '{n += $5} END {print n + 0}' "$TMP/reader.txt")"
    raw reader_other "$(awk '{n += $6} END {print n + 0}' "$TMP/reader.txt")"
    "${PSQL[@]}" -c "CHECKPOINT"
fi

statements_reset
before=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
echo "ingest: $CONNECTIONS connections, ${DURATION}s (broker, Redis, metrics, access log on)"
python3 bench/cpu.py snapshot "$TMP/cpu-api-start.json" postgres="$PG_PID" \
    server="$SERVER_PID" nats="$NATS_PID" redis="$REDIS_PID"
load api "$CONNECTIONS" "$DURATION" --latency
python3 bench/cpu.py snapshot "$TMP/cpu-api-end.json" postgres="$PG_PID" \
    server="$SERVER_PID" nats="$NATS_PID" redis="$REDIS_PID"
after=$("${PSQL[@]}" -c "SELECT count(*) FROM payments")
raw api_payments "$((after - before))"
python3 bench/cpu.py budget "$TMP/cpu-api-start.json" "$TMP/cpu-api-end.json" \
    "$((after - before))" wrk="$TMP/api.cpu" >"$TMP/cpu-api.json"
grep '^WRK_RESULT ' "$TMP/api.out" | sed 's/^WRK_RESULT //' >"$TMP/api.wrk.json" || true
raw server_rss_kb "$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")"
statements "$RESULTS/statements.txt"

# ---- (b2) a flood of made-up API keys (issue 13), a block of its own: the
# legitimate clients' latency (wrk --latency, BENCH_FLOOD_LEGIT_CONNECTIONS
# connections from 127.0.0.1, the bench's key, POST /v1/payments) in rounds
# without and with bench/flood.c sending random keys as fast as the server
# answers from 127.0.0.2 (the address limits are keyed on the peer address,
# and wrk cannot bind one), ABBA BAAB (A without). Its figures: the legit p99
# without and with (target: with <= 2x without), the flood's requests/s and
# its share answered 429, the unknown-key lookups the database made for it
# (the server's finsys_auth_lookups_total{result="unknown"}), and the CPU of
# every process on both sides (bench/cpu.py; the flooder's counted apart:
# a remote flooder would not share these cores). The server keeps (b)'s
# settings: the address's request budget out of the legit load's way, so
# the flood's 429s are its address's key-lookup budget's (FS_AUTH_LOOKUP_*),
# each held a second (FS_AUTH_GUESS_HOLD_MS): the flood gets about its
# connections' number of answers a second. Before that hold, its 8
# connections got 3,000-15,000 429s a second and took about a core.
FLOOD_BIN=${BENCH_FLOOD_BIN:-$(dirname "$BIN")/flood}
FLOOD_ROUND_S=${BENCH_FLOOD_ROUND_S:-8}
FLOOD_CONNECTIONS=${BENCH_FLOOD_CONNECTIONS:-64}
FLOOD_LEGIT_CONNECTIONS=${BENCH_FLOOD_LEGIT_CONNECTIONS:-4}
# BENCH_FLOOD_RATE: the flood's requests a second in all (0: as fast as the
# server answers).
FLOOD_RATE=${BENCH_FLOOD_RATE:-0}
# auth_metric NAME_AND_LABELS: a counter of the server's /metrics (0 if absent).
auth_metric() {
    curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m {print $2; f = 1}
        END {if (!f) print 0}'
}
if [ "${BENCH_FLOOD:-1}" = 1 ]; then
    echo "legit clients without and with a random-key flood: $(wc -w <<<"$AB_ORDER") rounds of ${FLOOD_ROUND_S}s" \
        "($FLOOD_LEGIT_CONNECTIONS connections; the flood's $FLOOD_CONNECTIONS from 127.0.0.2)"
    lookups_before=$(auth_metric 'finsys_auth_lookups_total{result="unknown"}')
    : >"$TMP/flood_rounds.tsv"
    round=0
    for side in $AB_ORDER; do
        round=$((round + 1))
        "${PSQL[@]}" -c "CHECKPOINT"
        python3 bench/cpu.py snapshot "$TMP/cpu-fl-start.json" postgres="$PG_PID" \
            server="$SERVER_PID" nats="$NATS_PID" redis="$REDIS_PID"
        if [ "$side" = on ]; then
            # Bounded by itself: the round and a margin, then it stops.
            python3 bench/cpu.py run "$TMP/fl$round.flood.cpu" -- \
                "$FLOOD_BIN" --port "$HTTP_PORT" --source 127.0.0.2 \
                --connections "$FLOOD_CONNECTIONS" --rate "$FLOOD_RATE" \
                --seconds "$(python3 -c "print($FLOOD_ROUND_S + 0.5)")" \
                >"$TMP/fl$round.flood.out" 2>&1 &
            flood_pid=$!
            sleep 0.2
        fi
        load "fl$round-$side" "$FLOOD_LEGIT_CONNECTIONS" "$FLOOD_ROUND_S" --latency
        runs=(wrk="$TMP/fl$round-$side.cpu")
        if [ "$side" = on ]; then
            wait "$flood_pid" || true
            runs+=(flooder="$TMP/fl$round.flood.cpu")
        fi
        python3 bench/cpu.py snapshot "$TMP/cpu-fl-end.json" postgres="$PG_PID" \
            server="$SERVER_PID" nats="$NATS_PID" redis="$REDIS_PID"
        python3 bench/cpu.py budget "$TMP/cpu-fl-start.json" "$TMP/cpu-fl-end.json" 1 \
            "${runs[@]}" >"$TMP/cpu-fl$round.json"
        grep '^WRK_RESULT ' "$TMP/fl$round-$side.out" | sed 's/^WRK_RESULT //' \
            >"$TMP/fl$round.wrk.json" || true
        grep '^FLOOD_RESULT ' "$TMP/fl$round.flood.out" 2>/dev/null | sed 's/^FLOOD_RESULT //' \
            >"$TMP/fl$round.flood.json" || true
        printf '%s\t%s\n' "$side" "$round" >>"$TMP/flood_rounds.tsv"
        python3 bench/report.py --flood-round "$TMP" "$round" "$side"
    done
    raw flood_db_lookups "$(python3 -c "print(int($(auth_metric \
        'finsys_auth_lookups_total{result="unknown"}') - $lookups_before))")"
fi

# ---- (c) the full life cycle: a fresh nats-server (the payments (b)
# published stay behind with the first), the provider simulator (about 5 ms
# median), the webhook receiver, a worker, and a server that publishes.
fs_stop_pid "$TMP/server.pid"
fs_nats_stop "$TMP"
NATS_PORT=$(fs_free_port)
fs_nats_start "$LC" "$NATS_PORT"
NATS_PID=$(cat "$LC/nats.pid")
export FINSYS_NATS_URL=$(fs_nats_url "$NATS_PORT")
PROVIDER_PORT=$(fs_free_port)
SINK_PORT=$(fs_free_port)
"$BIN" provider-sim --port "$PROVIDER_PORT" 2>"$TMP/provider.log" &
echo $! >"$TMP/provider.pid"
"$BIN" webhook-sink --port "$SINK_PORT" 2>"$TMP/sink.log" &
echo $! >"$TMP/sink.pid"
FINSYS_PROVIDER_URL=http://127.0.0.1:$PROVIDER_PORT FINSYS_SWEEP_AFTER_S=86400 FINSYS_WORKER_PORT=0 \
    "$BIN" worker 2>"$TMP/worker.log" &
echo $! >"$TMP/worker.pid"
WORKER_PID=$(cat "$TMP/worker.pid")
"$BIN" server 2>>"$TMP/server.log" &
echo $! >"$TMP/server.pid"
SERVER_PID=$(cat "$TMP/server.pid")
fs_wait_http "http://127.0.0.1:$HTTP_PORT/readyz" 30
fs_wait_http "http://127.0.0.1:$PROVIDER_PORT/healthz" 30
fs_wait_http "http://127.0.0.1:$SINK_PORT/healthz" 30
PROVIDER_PID=$(cat "$TMP/provider.pid")
SINK_PID=$(cat "$TMP/sink.pid")

# The receiver, registered through the API for every event type. Only events
# made after it get deliveries (those of (b) do not).
status=$(curl -sS -o "$TMP/endpoint.json" -w '%{http_code}' -X POST \
    "http://127.0.0.1:$HTTP_PORT/v1/webhook_endpoints" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
    -H "Idempotency-Key: bench-endpoint-$$" \
    -d "{\"url\": \"http://127.0.0.1:$SINK_PORT/hooks\", \"events\": [\"*\"]}")
if [ "$status" != 201 ]; then
    echo "bench: POST /v1/webhook_endpoints answered $status: $(cat "$TMP/endpoint.json")" >&2
    exit 1
fi
ENDPOINT=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <"$TMP/endpoint.json")

# The readers of the event log (indexer, receipts, webhooks) work through
# (b)'s events first: how fast they catch up is a figure of its own, and the
# life cycle starts once they have, so its lags are those of a steady state.
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
raw readers_backlog_events "$backlog"
raw readers_backlog_s "$catchup_s"
raw readers_backlog_behind "$readers_behind"

mark=$("${PSQL[@]}" -c "SELECT coalesce(max(seq), 0) FROM payments")
# The polls below stay on indexes (payment_outbox holds the payments not yet
# final, by created_at): a poll that read whole tables a few times a second
# was PostgreSQL CPU charged to the payments.
mark_ts=$("${PSQL[@]}" -c "SELECT now()")
event_mark=$("${PSQL[@]}" -c "SELECT coalesce(max(seq), 0) FROM events")
LC_PROCS=(postgres="$PG_PID" server="$SERVER_PID" worker="$WORKER_PID"
    nats="$NATS_PID" redis="$REDIS_PID" provider_sim="$PROVIDER_PID"
    webhook_sink="$SINK_PID")
echo "life cycle: $SETTLE_CONNECTIONS connections, ${SETTLE_S}s, then until all is done"
statements_reset
python3 bench/cpu.py snapshot "$TMP/cpu-settle-start.json" "${LC_PROCS[@]}"
load settle "$SETTLE_CONNECTIONS" "$SETTLE_S"
for ((i = 0; i < FINAL_WAIT_S * 4; i++)); do
    left=$("${PSQL[@]}" -c "SELECT count(*) FROM payment_outbox
                            WHERE created_at >= '$mark_ts'")
    [ "$left" -eq 0 ] && break
    sleep 0.25
done
raw worker_rss_kb "$(awk '/^VmHWM/ {print $2}' "/proc/$WORKER_PID/status")"
# Behind settlement, the readers: wait (at most READERS_WAIT_S) until the
# search model has every payment in its final status, every succeeded payment
# has its receipt stored, and every event of the phase is delivered to the
# receiver. A cheap check (the feeds' cursors past the last event, no
# delivery due, no receipt unstored: all by index) ends the measured phase;
# the exact one, which reads the phase's rows, runs after the CPU snapshot.
for ((i = 0; i < READERS_WAIT_S * 4; i++)); do
    cheap=$("${PSQL[@]}" -c "
        SELECT (SELECT count(*) FROM (VALUES ('indexer'), ('receipts'), ('webhooks')) f(name)
                LEFT JOIN feed_cursors c USING (name)
                WHERE EXISTS (SELECT 1 FROM events e WHERE (e.txid, e.seq)
                              > (coalesce(c.txid, '0'), coalesce(c.seq, 0))))
             + (SELECT count(*) FROM webhook_due)
             + (SELECT count(*) FROM receipts WHERE stored_at IS NULL
                AND handed_at > now() - interval '1 day')")
    [ "$cheap" -eq 0 ] && break
    sleep 0.25
done
python3 bench/cpu.py snapshot "$TMP/cpu-settle-end.json" "${LC_PROCS[@]}"
statements "$RESULTS/statements-settle.txt"
for ((i = 0; i < READERS_WAIT_S * 4; i++)); do
    behind=$("${PSQL[@]}" -c "
        SELECT (SELECT count(*) FROM payments p LEFT JOIN payment_search s
                  ON s.payment_id = p.id
                WHERE p.seq > $mark AND s.status IS DISTINCT FROM p.status)
             + (SELECT count(*) FROM payments p LEFT JOIN receipts r
                  ON r.payment_id = p.id
                WHERE p.seq > $mark AND p.status = 'succeeded' AND r.stored_at IS NULL)
             + (SELECT count(*) FROM events e
                WHERE e.tenant_id = '$TENANT' AND e.seq > $event_mark
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                  WHERE d.endpoint_id = '$ENDPOINT'
                                    AND d.event_seq = e.seq AND d.status = 'delivered'))")
    [ "$behind" -eq 0 ] && break
    sleep 0.25
done
behind=$("${PSQL[@]}" -c "
    SELECT (SELECT count(*) FROM payments p LEFT JOIN payment_search s ON s.payment_id = p.id
            WHERE p.seq > $mark AND s.status IS DISTINCT FROM p.status)
         + (SELECT count(*) FROM payments p LEFT JOIN receipts r ON r.payment_id = p.id
            WHERE p.seq > $mark AND p.status = 'succeeded' AND r.stored_at IS NULL)")
raw readers_behind "$behind"
raw server_settle_rss_kb "$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")"

# The phase's figures, each as "name value" lines (an empty value is null).
"${PSQL[@]}" -F $'\t' >>"$TMP/raw.tsv" <<SQL
-- every payment of the phase, from 201 (created_at) to its final status
SELECT 'settle_payments', count(*) FROM payments WHERE seq > $mark;
SELECT 'settle_final', count(*) FILTER (WHERE status IN ('succeeded', 'failed'))
FROM payments WHERE seq > $mark;
SELECT 'settle_span_s', extract(epoch FROM max(updated_at) - min(created_at))
FROM payments WHERE seq > $mark;
SELECT 'settle_p50_ms', 1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP
                                       (ORDER BY updated_at - created_at))
FROM payments WHERE seq > $mark AND status IN ('succeeded', 'failed');
SELECT 'settle_p99_ms', 1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
                                       (ORDER BY updated_at - created_at))
FROM payments WHERE seq > $mark AND status IN ('succeeded', 'failed');
-- the search index: the event's commit (its created_at) to indexed
SELECT 'index_lag_p50_ms', 1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP
                                          (ORDER BY s.indexed_at - s.event_created_at))
FROM payments p JOIN payment_search s ON s.payment_id = p.id WHERE p.seq > $mark;
SELECT 'index_lag_p99_ms', 1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
                                          (ORDER BY s.indexed_at - s.event_created_at))
FROM payments p JOIN payment_search s ON s.payment_id = p.id WHERE p.seq > $mark;
SELECT 'index_lag_max_ms', 1000 * extract(epoch FROM max(s.indexed_at - s.event_created_at))
FROM payments p JOIN payment_search s ON s.payment_id = p.id WHERE p.seq > $mark;
-- receipts: the success to the document stored
SELECT 'receipt_lag_p50_ms', 1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP
                                            (ORDER BY r.stored_at - p.updated_at))
FROM payments p JOIN receipts r ON r.payment_id = p.id
WHERE p.seq > $mark AND p.status = 'succeeded';
SELECT 'receipt_lag_p99_ms', 1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
                                            (ORDER BY r.stored_at - p.updated_at))
FROM payments p JOIN receipts r ON r.payment_id = p.id
WHERE p.seq > $mark AND p.status = 'succeeded';
-- webhooks: the event's commit to the 2xx recorded (delivered_at)
SELECT 'webhook_events', count(*) FROM events
WHERE tenant_id = '$TENANT' AND seq > $event_mark;
SELECT 'webhook_delivered', count(*) FROM webhook_deliveries
WHERE endpoint_id = '$ENDPOINT' AND event_seq > $event_mark AND status = 'delivered';
SELECT 'webhook_attempts', coalesce(sum(attempts), 0) FROM webhook_deliveries
WHERE endpoint_id = '$ENDPOINT' AND event_seq > $event_mark;
SELECT 'webhook_lag_p50_ms', 1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP
                                            (ORDER BY d.delivered_at - e.created_at))
FROM webhook_deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.seq = d.event_seq
WHERE d.endpoint_id = '$ENDPOINT' AND d.event_seq > $event_mark AND d.status = 'delivered';
SELECT 'webhook_lag_p99_ms', 1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
                                            (ORDER BY d.delivered_at - e.created_at))
FROM webhook_deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.seq = d.event_seq
WHERE d.endpoint_id = '$ENDPOINT' AND d.event_seq > $event_mark AND d.status = 'delivered';
SQL
raw webhook_sink_received "$(curl -fsS "http://127.0.0.1:$SINK_PORT/stats" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["received"])')"
settle_final=$(awk -F'\t' '$1 == "settle_final" {print $2}' "$TMP/raw.tsv")
python3 bench/cpu.py budget "$TMP/cpu-settle-start.json" "$TMP/cpu-settle-end.json" \
    "$settle_final" wrk="$TMP/settle.cpu" >"$TMP/cpu-settle.json"

python3 bench/report.py "$TMP" "$RESULTS/latest.json"
