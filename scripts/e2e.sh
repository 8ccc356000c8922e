#!/usr/bin/env bash
# The admin console end to end: the whole stack as `make run` starts it
# (scripts/run.sh, in a temporary directory on free loopback ports), a staff
# login of each role, then tests/e2e (playwright-core driving Debian's
# chromium, headless) against http://127.0.0.1:PORT/admin/. Screenshots of
# each page go to $E2E_RESULTS_DIR (tests/e2e/results by default).
# Ends with "e2e: N passed, N failed"; exit status 0 only when all passed.
#
#   FINSYS_BIN     the finsys binary (default build/finsys)
#   E2E_RESULTS_DIR  where screenshots and logs are kept
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/stack.sh

BIN=${FINSYS_BIN:-$PWD/build/finsys}
RESULTS=${E2E_RESULTS_DIR:-$PWD/tests/e2e/results}
CHROMIUM=${FINSYS_CHROMIUM:-/usr/bin/chromium}
mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.png

fail() {
    echo "e2e: $1"
    echo "e2e: 0 passed, 1 failed"
    exit 1
}

[ -x "$CHROMIUM" ] || fail "no $CHROMIUM (scripts/deps.sh installs Debian's chromium)"
bash scripts/web.sh build >"$RESULTS/web-build.log" 2>&1 \
    || { tail -20 "$RESULTS/web-build.log"; fail "the console did not build"; }
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error) >"$RESULTS/npm.log" 2>&1 \
        || { tail -20 "$RESULTS/npm.log"; fail "npm ci in tests/e2e failed"; }
fi

TMP=$(mktemp -d /tmp/finsys-e2e.XXXXXX)
chmod 755 "$TMP"
RUN_PID=""
stop_stack() {
    # run.sh stops everything it started (by PID) on SIGTERM.
    if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
        kill -TERM "$RUN_PID" 2>/dev/null
        for ((i = 0; i < 300; i++)); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$RUN_PID" 2>/dev/null || true
    fi
    RUN_PID=""
}
teardown() {
    stop_stack
    cp "$TMP"/var/*.log "$RESULTS/" 2>/dev/null || true
    rm -rf "$TMP"
}
trap teardown EXIT

# Nothing of the caller's stack: run.sh starts and configures its own.
for v in $(compgen -e | grep '^FINSYS_'); do unset "$v"; done
export FINSYS_VAR_DIR=$TMP/var FINSYS_BIN=$BIN
export FINSYS_PG_PORT=$(fs_free_port) FINSYS_NATS_PORT=$(fs_free_port)
export FINSYS_REDIS_PORT=$(fs_free_port) FINSYS_HTTP_PORT=$(fs_free_port)
export FINSYS_PROVIDER_PORT=$(fs_free_port) FINSYS_WORKER_PORT=$(fs_free_port)
export FINSYS_PROMETHEUS_PORT=$(fs_free_port)
# Payments settle at once: the tests watch them go through.
export FINSYS_SIM_LATENCY_MS=${FINSYS_SIM_LATENCY_MS:-5}
bash scripts/run.sh >"$TMP/run.out" 2>&1 &
RUN_PID=$!
for ((i = 0; i < 600; i++)); do
    grep -q "FinSys is ready" "$TMP/run.out" 2>/dev/null && break
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q "FinSys is ready" "$TMP/run.out" || { tail -30 "$TMP/run.out"; fail "make run's stack did not start"; }
[ -s "$TMP/var/staff-login" ] || fail "run.sh wrote no first staff login to var/staff-login"

export E2E_URL=http://127.0.0.1:$FINSYS_HTTP_PORT
export E2E_API_KEY=$(cat "$TMP/var/dev-api-key")
export E2E_STAFF_LOGIN=$TMP/var/staff-login
export E2E_RESULTS_DIR=$RESULTS E2E_CHROMIUM=$CHROMIUM
export E2E_VIEWER_EMAIL=viewer-e2e@finsys.test
DB_URL=$(fs_pg_url "$TMP/var" "$FINSYS_PG_PORT")
E2E_VIEWER_PASSWORD=$(FINSYS_DATABASE_URL=$DB_URL "$BIN" staff create \
    --email "$E2E_VIEWER_EMAIL" --role viewer 2>"$TMP/staff.err" | tail -1)
export E2E_VIEWER_PASSWORD=${E2E_VIEWER_PASSWORD##* }
[ -n "$E2E_VIEWER_PASSWORD" ] || { cat "$TMP/staff.err"; fail "finsys staff create failed"; }

(cd tests/e2e && node --test --test-concurrency=1 --test-reporter=spec \
    --test-reporter-destination=stdout --test-reporter=tap \
    --test-reporter-destination="$RESULTS/e2e.tap" console.test.mjs)
rc=$?
p=$(grep -oE '^# pass [0-9]+' "$RESULTS/e2e.tap" | grep -oE '[0-9]+$' | tail -1)
f=$(grep -oE '^# fail [0-9]+' "$RESULTS/e2e.tap" | grep -oE '[0-9]+$' | tail -1)
p=${p:-0}
f=${f:-0}
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
# A clean stop, then the sanitizers' verdict (with the sanitizer build) on
# every process of the stack.
stop_stack
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP"/var/*.log; then
    grep -h -A30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP"/var/*.log | head -60
    echo "e2e: a sanitizer reported an error in the stack's logs"
    f=$((f + 1))
fi
echo "e2e: screenshots in $RESULTS"
echo "e2e: $p passed, $f failed"
[ "$f" -eq 0 ]
