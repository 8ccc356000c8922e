#!/usr/bin/env bash
# make test: unit tests (cmocka) and integration tests against the real server
# (sanitizer build) and a real PostgreSQL started in a temporary directory on
# free loopback ports, torn down afterwards. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/stack.sh

ASAN_BUILD=${ASAN_BUILD:-build-asan}
passed=0
failed=0

if [ ! -f "$ASAN_BUILD/build.ninja" ]; then
    meson setup "$ASAN_BUILD" --buildtype=debugoptimized -Db_sanitize=address,undefined \
        -Db_lundef=false >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C "$ASAN_BUILD" >/dev/null; then
    ninja -C "$ASAN_BUILD" | tail -30
    echo "0 passed, 1 failed"
    exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# section NAME: starts a section of the output, after the time the previous
# one took (where the suite's minutes go: it must stay under 15 on 2 cores).
suite_start=$(date +%s)
sec_name=""
sec_start=$suite_start
section() {
    local now
    now=$(date +%s)
    [ -n "$sec_name" ] && echo "   ($sec_name: $((now - sec_start)) s)"
    sec_name=$1
    sec_start=$now
    [ -n "$1" ] && echo "== $1"
}

# run_cmocka BINARY: runs a cmocka test program and adds up its counts.
run_cmocka() {
    local t=$1 out rc p f
    out=$("$t" 2>&1)
    rc=$?
    p=$(grep -oE '^\[  PASSED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | awk '{s+=$1} END {print s+0}')
    f=$(grep -oE '^\[  FAILED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | awk '{s+=$1} END {print s+0}')
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    echo "$(basename "$t"): $p passed, $f failed"
    [ "$f" -ne 0 ] && echo "$out" | grep -E 'FAIL|ERROR|error|Sanitizer' | head -20
    passed=$((passed + p))
    failed=$((failed + f))
}

section "unit tests"
for t in "$ASAN_BUILD"/test_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    # It needs a nats-server: it runs below, once one is up.
    [ "$(basename "$t")" = test_queue_live ] && continue
    [ "$(basename "$t")" = test_redis_live ] && continue
    [ "$(basename "$t")" = test_s3_live ] && continue
    run_cmocka "$t"
done

section "OpenAPI lint"
if bash scripts/lint-openapi.sh >"${TMPDIR:-/tmp}/finsys-lint.out" 2>&1; then
    echo "docs/openapi.yaml: lint clean"
    passed=$((passed + 1))
else
    tail -30 "${TMPDIR:-/tmp}/finsys-lint.out"
    echo "docs/openapi.yaml: lint FAILED"
    failed=$((failed + 1))
fi

section "admin console (web/)"
# Its unit tests (vitest), each counted.
web_out=$(bash scripts/web.sh test 2>&1)
echo "$web_out" | grep -vE '^web: npm ci$' | tail -60
p=$(grep -oE '^web: [0-9]+ passed' <<<"$web_out" | grep -oE '[0-9]+')
f=$(grep -oE '^web: [0-9]+ passed, [0-9]+ failed' <<<"$web_out" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
[ -z "$p" ] && f=$((${f:-0} + 1))
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))

# With names (bash scripts/test.sh NAME...), only the integration tests
# whose names contain one run, and the whole-stack runs below only when a
# name asks for them ("e2e", "bench", "export", "hardening", "stack_home",
# "cluster", "backup", "fuzz"): a developer's quick loop.
wants() {
    [ $# -le 1 ] && return 0
    local want=$1 a
    shift
    for a in "$@"; do [[ "$want" == *"$a"* ]] && return 0; done
    return 1
}

# Builds that later sections need, started now at the lowest priority (nice
# 19): the release build (hardening, cluster) and the console with its
# browser driver (e2e). The integration
# tests spend most of their time waiting on servers, timers and sleeps, and
# these take the CPU they leave idle; each section waits for its build. (It
# saves the minutes the builds took when the suite ran them in turn.)
PREBUILD=$(mktemp -d /tmp/finsys-prebuild.XXXXXX)
REL_PID="" WEB_PID=""
if wants hardening "$@" || wants cluster "$@"; then
    (
        { [ -f "${REL_BUILD:-build}/build.ninja" ] \
            || meson setup "${REL_BUILD:-build}" --buildtype=release -Db_ndebug=false; } \
            && nice -n 19 ninja -C "${REL_BUILD:-build}" finsys
    ) >"$PREBUILD/release.log" 2>&1 &
    REL_PID=$!
fi
if wants e2e "$@"; then
    (
        nice -n 19 bash scripts/web.sh build \
            && { [ -d tests/e2e/node_modules/playwright-core ] \
                || (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error); }
    ) >"$PREBUILD/web.log" 2>&1 &
    WEB_PID=$!
fi
# prebuilt PID: waits for a build started above (its own section reports a
# failure: it builds again and shows the compiler's output).
prebuilt() {
    [ -n "$1" ] && wait "$1" 2>/dev/null
    return 0
}

# The side lane: the smokes with no timing in what they check (fuzz, make
# run from a closed folder, the export-cost and bench smokes, the restore to
# a point in time), each on a
# stack of its own, run at nice 10 beside the integration tests, which spend
# most of their time waiting on servers, timers and sleeps. Its output is
# printed, and its counts added, when the integration tests are done.
# (In turn, after them, they took about 5 of the suite's minutes.)
side_lane() {
passed=0
failed=0
sec_name=""
if wants fuzz "$@"; then
section "fuzz smoke"
# make fuzz for a few seconds a target (FUZZ_SMOKE_SECONDS, by default
# limits.h's FS_FUZZ_SMOKE_SECONDS): every target of fuzz/ must still build
# from meson (-Dfuzz=true: clang, libFuzzer, ASan and UBSan, the project's
# flags) and run over its seed corpus and some mutations to the end, with no
# crash and no sanitizer report. Its findings are make fuzz's.
FUZZ_OUT=$(mktemp /tmp/finsys-fuzz-out.XXXXXX)
fuzz_secs=${FUZZ_SMOKE_SECONDS:-$(sed -n 's/^#define FS_FUZZ_SMOKE_SECONDS \([0-9]*\).*/\1/p' src/core/limits.h)}
fuzz_targets=$(sed -n "s/^fuzz_targets = \[\(.*\)\]/\1/p" meson.build | tr -d "',")
if FUZZ_SECONDS=$fuzz_secs FUZZ_TARGETS=$fuzz_targets bash scripts/fuzz.sh >"$FUZZ_OUT" 2>&1 \
    && [ "$(grep -cE '^Done [0-9]+ runs' "$FUZZ_OUT")" -eq "$(wc -w <<<"$fuzz_targets")" ] \
    && ! grep -qE 'ERROR: (Address|Leak|libFuzzer|UndefinedBehavior)|runtime error:|deadly signal' \
        "$FUZZ_OUT"; then
    echo "fuzz smoke: built and ran $fuzz_targets, ${fuzz_secs} s each, clean"
    passed=$((passed + 1))
else
    echo "fuzz smoke: FAILED"
    grep -E '^fuzz:|^Done' "$FUZZ_OUT"
    grep -A30 -E 'ERROR: |runtime error:|deadly signal' "$FUZZ_OUT" | head -60
    tail -30 "$FUZZ_OUT"
    failed=$((failed + 1))
fi
rm -f "$FUZZ_OUT"
fi

if wants backup "$@"; then
section "backup and restore"
# tests/backup/test_backup.sh with the sanitizer build: a PostgreSQL of its
# own archiving its WAL with pgBackRest (scripts/backup.sh), payments, a base
# backup, more payments, a target time T, more payments; restored to T into a
# new data directory, it must hold every payment made before T, none after,
# and a ledger that sums to zero with every account matching its entries.
BACKUP_OUT=$(mktemp /tmp/finsys-backup-out.XXXXXX)
if (
    for v in $(compgen -e | grep '^FINSYS_'); do unset "$v"; done
    FINSYS_BIN=$PWD/$ASAN_BUILD/finsys bash tests/backup/test_backup.sh
) >"$BACKUP_OUT" 2>&1 && grep -q '^backup test: ok$' "$BACKUP_OUT"; then
    grep -E '^backup test: (the restored|base backup)' "$BACKUP_OUT"
    passed=$((passed + 1))
else
    tail -40 "$BACKUP_OUT"
    echo "backup test: FAILED"
    failed=$((failed + 1))
fi
rm -f "$BACKUP_OUT"
fi

if wants stack_home "$@"; then
section "stack from a closed folder"
# make run from a clone in a folder other users cannot enter (as root, a
# clone in /root): PostgreSQL (run as the postgres user when root) must still
# start, its files where it can write them and recorded in the clone's var/,
# and start again on the same data. A copy of the scripts in a mktemp
# directory of mode 700 stands for the clone; PostgreSQL is stopped by its
# PID. (Before issue 13: "the postgres user cannot write to .../var".)
CLOSED=$(mktemp -d /tmp/finsys-closed.XXXXXX)
chmod 700 "$CLOSED"
mkdir -p "$CLOSED/finsys/scripts"
cp scripts/stack.sh "$CLOSED/finsys/scripts/"
CLOSED_PORT=$(fs_free_port)
closed_psql() {
    fs_as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$CLOSED_PORT" -U postgres -d finsys -qtAc "$1"
}
closed_stop() {
    local pid
    pid=$(cd "$CLOSED/finsys" && source scripts/stack.sh && fs_pg_pid "$PWD/var")
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
}
closed_ok=1
for round in 1 2; do
    if ! (cd "$CLOSED/finsys" && source scripts/stack.sh && fs_pg_start "$PWD/var" "$CLOSED_PORT") \
        >"$CLOSED/start.out" 2>&1; then
        echo "round $round: PostgreSQL did not start:"; cat "$CLOSED/start.out"
        closed_ok=0
        break
    fi
    if [ "$round" = 1 ]; then
        closed_psql "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)" || closed_ok=0
    elif [ "$(closed_psql "SELECT v FROM kept")" != 42 ]; then
        echo "round 2: the data of round 1 is gone"
        closed_ok=0
    fi
    closed_stop
done
closed_home=$(cat "$CLOSED/finsys/var/pg-home" 2>/dev/null || echo "$CLOSED/finsys/var")
if [ "$(id -u)" -eq 0 ] && [ ! -s "$CLOSED/finsys/var/pg-home" ]; then
    echo "as root, no PostgreSQL home outside the closed folder was recorded in var/pg-home"
    closed_ok=0
fi
(cd "$CLOSED/finsys" && source scripts/stack.sh && fs_pg_forget "$PWD/var")
[ "$closed_home" != "$CLOSED/finsys/var" ] && [ -e "$closed_home" ] \
    && { echo "fs_pg_forget left $closed_home"; closed_ok=0; }
rm -rf "$CLOSED"
if [ "$closed_ok" = 1 ]; then
    echo "stack from a closed folder: PostgreSQL started twice on the same data ($closed_home)"
    passed=$((passed + 1))
else
    echo "stack from a closed folder: FAILED"
    failed=$((failed + 1))
fi
fi

if wants bench_export_cost "$@"; then
section "export cost smoke"
# bench/export_cost.sh in seconds (EXPORT_COST_SMOKE=1: 2,000 rows, 2 rounds
# of 2 s a side) on a stack of its own, with the sanitizer build and its
# results in a temporary directory: it must run end to end, write every key
# of bench/export_cost_keys.txt, and leave no sanitizer report in the logs
# of the server and the worker. No thresholds.
SMOKE=$(mktemp -d /tmp/finsys-export-cost-smoke.XXXXXX)
if (
    for v in $(compgen -e | grep '^FINSYS_'); do unset "$v"; done
    EXPORT_COST_SMOKE=1 BENCH_RESULTS_DIR=$SMOKE FINSYS_BIN=$PWD/$ASAN_BUILD/finsys \
        bash bench/export_cost.sh >"$SMOKE/run.out" 2>&1
) && python3 bench/check_keys.py "$SMOKE/export_cost.json" bench/export_cost_keys.txt \
    >"$SMOKE/keys.out" 2>&1 \
    && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SMOKE"/*.log; then
    echo "export cost smoke: ran, every key of bench/export_cost_keys.txt written"
    passed=$((passed + 1))
else
    echo "export cost smoke: FAILED"
    tail -30 "$SMOKE/run.out"
    cat "$SMOKE/keys.out" 2>/dev/null
    grep -h -A20 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SMOKE"/*.log | head -40
    failed=$((failed + 1))
fi
rm -rf "$SMOKE"
fi

if wants bench "$@"; then
section "bench smoke"
# make bench in seconds (BENCH_SMOKE=1) on a stack of its own, with the
# sanitizer build and its results in a temporary directory: it must run end
# to end, write every key of bench/keys.txt, and leave no sanitizer report in
# the logs of its processes (the server, the worker, provider-sim and
# webhook-sink). No thresholds: speed is make bench's business.
SMOKE=$(mktemp -d /tmp/finsys-bench-smoke.XXXXXX)
if (
    # None of this suite's settings: the bench starts and sets its own.
    for v in $(compgen -e | grep '^FINSYS_'); do unset "$v"; done
    BENCH_SMOKE=1 BENCH_RESULTS_DIR=$SMOKE FINSYS_BIN=$PWD/$ASAN_BUILD/finsys \
        bash scripts/bench.sh >"$SMOKE/bench.out" 2>&1
) && python3 bench/check_keys.py "$SMOKE/latest.json" >"$SMOKE/keys.out" 2>&1 \
    && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SMOKE"/*.log; then
    echo "bench smoke: ran, every key of bench/keys.txt written"
    passed=$((passed + 1))
else
    echo "bench smoke: FAILED"
    tail -30 "$SMOKE/bench.out"
    cat "$SMOKE/keys.out" 2>/dev/null
    grep -h -A20 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SMOKE"/*.log | head -40
    failed=$((failed + 1))
fi
rm -rf "$SMOKE"
fi

section ""
echo "$passed $failed" >"$PREBUILD/side.counts"
}

SIDE_PID=""
if wants fuzz "$@" || wants stack_home "$@" || wants bench_export_cost "$@" || wants bench "$@" \
    || wants backup "$@"; then
    ( renice -n 10 -p "$BASHPID" >/dev/null 2>&1; side_lane "$@" ) >"$PREBUILD/side.out" 2>&1 &
    SIDE_PID=$!
fi
section "integration tests"
# integration_shard N: a stack of its own (PostgreSQL, nats-server, Redis and
# the server, in a temporary directory, on free loopback ports) and
# tests/integration/run.py against it, taking modules from the queue the
# shards share (FINSYS_TEST_QUEUE); the first shard also runs the C tests
# against the live broker, Redis and S3. Its counts go to
# $SHARDS/N.counts. Run in a subshell: its settings are its own.
integration_shard() {
    local n=$1
    shift
    passed=0
    failed=0
    TMP=$(mktemp -d /tmp/finsys-test.XXXXXX)
    chmod 755 "$TMP"
    teardown() {
        fs_stop_pid "$TMP/server.pid"
        fs_s3_stop "$TMP"
        fs_redis_stop "$TMP"
        fs_nats_stop "$TMP"
        fs_pg_stop "$TMP"
        fs_pg_forget "$TMP"
        rm -rf "$TMP"
    }
    trap teardown EXIT
    trap 'exit 1' INT TERM
    PG_PORT=$(fs_free_port)
    HTTP_PORT=$(fs_free_port)
    NATS_PORT=$(fs_free_port)
    REDIS_PORT=$(fs_free_port)
    if fs_pg_start "$TMP" "$PG_PORT" && fs_nats_start "$TMP" "$NATS_PORT" \
        && fs_redis_start "$TMP" "$REDIS_PORT"; then
        export FINSYS_DATABASE_URL=$(fs_pg_url "$TMP" "$PG_PORT")
        # A development stack: PostgreSQL with trust and its superuser, which
        # finsys server and worker refuse without it (docs/operations.md,
        # "Production settings").
        # tests/integration/test_dev_flag.py checks the refusal without it.
        export FINSYS_DEV=1
        export FINSYS_NATS_URL=$(fs_nats_url "$NATS_PORT")
        export FINSYS_REDIS_URL=$(fs_redis_url "$REDIS_PORT") FINSYS_REDIS_PORT=$REDIS_PORT
        if [ "$n" = 1 ]; then
            # The queue against the real broker, before any server uses its
            # streams.
            run_cmocka "$ASAN_BUILD/test_queue_live"
            run_cmocka "$ASAN_BUILD/test_redis_live"
            # The S3 object store against a real S3-compatible server (issue
            # 15): s3rver (tools/s3rver), here for the live C tests;
            # tests/integration/test_objects_s3.py starts its own.
            S3_PORT=$(fs_free_port)
            if fs_s3_start "$TMP" "$S3_PORT"; then
                FINSYS_TEST_S3_URL=$(fs_s3_url "$S3_PORT") AWS_ACCESS_KEY_ID=$FS_S3_ACCESS_KEY \
                    AWS_SECRET_ACCESS_KEY=$FS_S3_SECRET_KEY run_cmocka "$ASAN_BUILD/test_s3_live"
                fs_s3_stop "$TMP"
            else
                echo "test_s3_live: the S3 server did not start"
                failed=$((failed + 1))
            fi
        fi
        export FINSYS_HTTP_PORT=$HTTP_PORT FINSYS_HTTP_HOST=127.0.0.1
        # Rate limits out of the way of the other tests (they all come from
        # 127.0.0.1); tests/integration/test_ratelimit.py sets its tenants' own.
        export FINSYS_RATE_LIMIT_PER_S=1000000 FINSYS_RATE_LIMIT_BURST=1000000
        export FINSYS_RATE_LIMIT_ADDR_PER_S=1000000 FINSYS_RATE_LIMIT_ADDR_BURST=1000000
        # The tests' webhook receivers listen on loopback, refused by default:
        # allowed for them; tests/integration/test_webhook_ssrf.py checks the
        # default without it.
        export FINSYS_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8,::1/128
        export FINSYS_BIN=$PWD/$ASAN_BUILD/finsys
        export FINSYS_TEST_TMP=$TMP
        # Receipts' objects, shared by the server and the tests' workers.
        export FINSYS_OBJECTS_DIR=$TMP/objects
        export FINSYS_URL=http://127.0.0.1:$HTTP_PORT
        "$FINSYS_BIN" migrate >/dev/null && "$FINSYS_BIN" migrate >/dev/null
        export FINSYS_KEY_A=$("$FINSYS_BIN" apikey create --tenant test-a)
        export FINSYS_KEY_B=$("$FINSYS_BIN" apikey create --tenant test-b)
        # Deposits are off for a new tenant (0030_operator_authority.sql): the
        # tests fund their accounts by deposits, as make run's dev tenant does
        # (tests/integration/test_deposits_gate.py checks the default).
        "$FINSYS_BIN" tenant deposits --tenant test-a on
        "$FINSYS_BIN" tenant deposits --tenant test-b on
        "$FINSYS_BIN" server 2>"$TMP/server.log" &
        echo $! >"$TMP/server.pid"
        if fs_wait_http "$FINSYS_URL/healthz" 30; then
            FINSYS_TEST_QUEUE=$SHARDS/queue python3 tests/integration/run.py "$@" \
                | tee "$TMP/integration.out"
            p=$(grep -oE '^integration: [0-9]+ passed' "$TMP/integration.out" | grep -oE '[0-9]+')
            f=$(grep -oE '[0-9]+ failed$' "$TMP/integration.out" | tail -1 | grep -oE '^[0-9]+')
            [ -z "$p" ] && f=$((${f:-0} + 1))
            passed=$((passed + ${p:-0}))
            failed=$((failed + ${f:-0}))
        else
            echo "the server did not start:"; tail -20 "$TMP/server.log"
            failed=$((failed + 1))
        fi
        # A clean stop, then the sanitizers' verdict on everything the server
        # did.
        fs_stop_pid "$TMP/server.pid"
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/server.log"; then
            echo "sanitizer: FAILED"
            grep -A30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/server.log" | head -60
            failed=$((failed + 1))
        else
            echo "sanitizer: clean"
            passed=$((passed + 1))
        fi
    else
        echo "PostgreSQL, nats-server or redis-server did not start"
        failed=$((failed + 1))
    fi
    echo "$passed $failed" >"$SHARDS/$n.counts"
}

# Two shards side by side: the integration tests mostly wait (on servers,
# timers, sleeps), and two stacks fill the 2 cores' idle time (they took 11
# to 12 minutes one after another). Each shard's output is printed when both
# are done.
SHARDS=$(mktemp -d /tmp/finsys-shards.XXXXXX)
fs_s3_install >"$SHARDS/s3-install.log" 2>&1 || { cat "$SHARDS/s3-install.log"; }
SHARD_PIDS=()
for n in 1 2; do
    ( integration_shard "$n" "$@" ) >"$SHARDS/$n.out" 2>&1 &
    SHARD_PIDS+=($!)
done
wait "${SHARD_PIDS[@]}"
for n in 1 2; do
    echo "-- shard $n"
    cat "$SHARDS/$n.out"
    read -r p f <"$SHARDS/$n.counts" 2>/dev/null || { p=0; f=1; echo "shard $n: no counts"; }
    passed=$((passed + p))
    failed=$((failed + f))
done
rm -rf "$SHARDS"

if wants hardening "$@"; then
section "hardening"
prebuilt "$REL_PID"
# The release build (make build's, in ${REL_BUILD:-build}; set up when
# missing) with -Wpedantic -Werror, and its binary's hardening: full RELRO,
# PIE, a non-executable stack, FORTIFY_SOURCE's checked functions and the
# stack protector (scripts/check-hardening.sh, issue 13).
if bash scripts/check-hardening.sh "${REL_BUILD:-build}" >"${TMPDIR:-/tmp}/finsys-hardening.out" 2>&1; then
    cat "${TMPDIR:-/tmp}/finsys-hardening.out"
    passed=$((passed + 1))
else
    tail -40 "${TMPDIR:-/tmp}/finsys-hardening.out"
    grep -q '^hardening: FAILED' "${TMPDIR:-/tmp}/finsys-hardening.out" || echo "hardening: FAILED"
    failed=$((failed + 1))
fi
fi

if wants e2e "$@"; then
section "console end to end"
prebuilt "$WEB_PID"
# The admin console in headless Chromium against the stack scripts/run.sh
# starts (make run's, in a temporary directory), with the sanitizer build.
E2E_OUT=$(mktemp /tmp/finsys-e2e-out.XXXXXX)
(
    for v in $(compgen -e | grep '^FINSYS_'); do unset "$v"; done
    FINSYS_BIN=$PWD/$ASAN_BUILD/finsys bash scripts/e2e.sh
) 2>&1 | tee "$E2E_OUT"
p=$(grep -oE '^e2e: [0-9]+ passed' "$E2E_OUT" | grep -oE '[0-9]+' | tail -1)
f=$(grep -oE '^e2e: [0-9]+ passed, [0-9]+ failed' "$E2E_OUT" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
[ -z "$p" ] && f=$((${f:-0} + 1))
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
rm -f "$E2E_OUT"
fi

if wants cluster "$@"; then
section "cluster"
prebuilt "$REL_PID"
# make test-cluster (issue 14): the cluster of scripts/cluster.sh (HAProxy,
# two servers, two workers, three NATS nodes, PostgreSQL under Patroni) with
# the release build, payments through HAProxy, then kill -9 of a server, a
# worker, the stream leader's NATS node and the PostgreSQL primary under
# load: every 201 kept and final, no double charge, the ledger whole
# (tests/cluster/check.py). Its packages come from scripts/deps.sh --cluster,
# which make test runs.
CLUSTER_OUT=$(mktemp /tmp/finsys-cluster-out.XXXXXX)
if { [ -f "${REL_BUILD:-build}/build.ninja" ] \
        || meson setup "${REL_BUILD:-build}" --buildtype=release -Db_ndebug=false; } >"$CLUSTER_OUT" 2>&1 \
    && ninja -C "${REL_BUILD:-build}" finsys >>"$CLUSTER_OUT" 2>&1 \
    && (
        for v in $(compgen -e | grep '^FINSYS_'); do unset "$v"; done
        FINSYS_BIN=$PWD/${REL_BUILD:-build}/finsys bash tests/cluster/test_cluster.sh faults
    ) >"$CLUSTER_OUT" 2>&1; then
    grep -E '^test-cluster:' "$CLUSTER_OUT" | tail -20
    echo "cluster: payments through HAProxy and four faults survived"
    passed=$((passed + 1))
else
    tail -40 "$CLUSTER_OUT"
    echo "cluster: FAILED"
    failed=$((failed + 1))
fi
rm -f "$CLUSTER_OUT"
fi

if [ -n "$SIDE_PID" ]; then
    section "side lane (beside the integration tests)"
    wait "$SIDE_PID"
    cat "$PREBUILD/side.out"
    read -r p f <"$PREBUILD/side.counts" 2>/dev/null || { p=0; f=1; echo "side lane: no counts"; }
    passed=$((passed + p))
    failed=$((failed + f))
fi
rm -rf "$PREBUILD"
section ""
echo "   (the suite: $(( $(date +%s) - suite_start )) s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
