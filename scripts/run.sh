#!/usr/bin/env bash
# make run: the whole local stack on loopback, data under ./var (kept between
# runs). Ctrl-C or SIGTERM stops everything this script started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack.sh

VAR=${FINSYS_VAR_DIR:-$PWD/var}
PG_PORT=${FINSYS_PG_PORT:-5432}
NATS_PORT=${FINSYS_NATS_PORT:-4222}
REDIS_PORT=${FINSYS_REDIS_PORT:-6379}
HTTP_HOST=${FINSYS_HTTP_HOST:-127.0.0.1}
HTTP_PORT=${FINSYS_HTTP_PORT:-8080}
PROVIDER_PORT=${FINSYS_PROVIDER_PORT:-8090}
PROMETHEUS_PORT=${FINSYS_PROMETHEUS_PORT:-9090}
WORKER_PORT=${FINSYS_WORKER_PORT:-8081}
BIN=${FINSYS_BIN:-build/finsys}
mkdir -p "$VAR"
chmod 755 "$VAR"

cleanup() {
    trap - EXIT INT TERM
    echo "stopping FinSys..." >&2
    fs_stop_pid "$VAR/prometheus.pid"
    fs_stop_pid "$VAR/finsys-server.pid"
    fs_stop_pid "$VAR/finsys-worker.pid"
    fs_stop_pid "$VAR/provider-sim.pid"
    fs_redis_stop "$VAR"
    fs_nats_stop "$VAR"
    fs_pg_stop "$VAR"
    echo "stopped." >&2
}
trap cleanup EXIT
trap 'exit 0' INT TERM

fs_pg_start "$VAR" "$PG_PORT"
fs_nats_start "$VAR" "$NATS_PORT"
fs_redis_start "$VAR" "$REDIS_PORT"
export FINSYS_DATABASE_URL=${FINSYS_DATABASE_URL:-$(fs_pg_url "$VAR" "$PG_PORT")}
# A development stack: PostgreSQL with trust and its superuser, which
# finsys server and worker refuse without it (docs/operations.md,
# "Production settings").
export FINSYS_DEV=${FINSYS_DEV:-1}
export FINSYS_NATS_URL=${FINSYS_NATS_URL:-$(fs_nats_url "$NATS_PORT")}
export FINSYS_REDIS_URL=${FINSYS_REDIS_URL:-$(fs_redis_url "$REDIS_PORT")}
export FINSYS_HTTP_HOST=$HTTP_HOST FINSYS_HTTP_PORT=$HTTP_PORT FINSYS_WORKER_PORT=$WORKER_PORT
# Receipts' documents (the object store), kept with the rest of ./var.
export FINSYS_OBJECTS_DIR=${FINSYS_OBJECTS_DIR:-$VAR/objects}
# Development: webhook receivers on this machine (finsys webhook-sink on
# 127.0.0.1) are allowed; loopback is refused by default (docs/operations.md,
# "Webhook destinations").
export FINSYS_WEBHOOK_ALLOWED_NETWORKS=${FINSYS_WEBHOOK_ALLOWED_NETWORKS:-127.0.0.0/8,::1/128}
"$BIN" migrate >/dev/null

# The admin console: built when web/dist is missing or web/ changed.
if bash scripts/web.sh build; then
    export FINSYS_WEB_DIR=${FINSYS_WEB_DIR:-$PWD/web/dist}
else
    echo "the admin console did not build (scripts/web.sh build); /admin/ is not served" >&2
fi

if [ ! -s "$VAR/dev-api-key" ]; then
    "$BIN" apikey create --tenant dev >"$VAR/dev-api-key"
    chmod 600 "$VAR/dev-api-key"
fi
# Deposits by the dev tenant's key (POST /v1/accounts/{id}/deposits): off
# for a new tenant outside make run (0030_operator_authority.sql); on here,
# for a development stack's funding.
"$BIN" tenant deposits --tenant dev on

# The first admin console login (docs/console.md), made once, kept with ./var.
if [ ! -s "$VAR/staff-login" ]; then
    ADMIN_PASSWORD=$("$BIN" staff create --email admin@finsys.local --role admin)
    printf 'email: admin@finsys.local\npassword: %s\n' "$ADMIN_PASSWORD" >"$VAR/staff-login"
    chmod 600 "$VAR/staff-login"
fi

"$BIN" provider-sim --host "$HTTP_HOST" --port "$PROVIDER_PORT" 2>>"$VAR/provider-sim.log" &
echo $! >"$VAR/provider-sim.pid"
export FINSYS_PROVIDER_URL=${FINSYS_PROVIDER_URL:-http://$HTTP_HOST:$PROVIDER_PORT}
"$BIN" worker 2>>"$VAR/finsys-worker.log" &
echo $! >"$VAR/finsys-worker.pid"
"$BIN" server 2>>"$VAR/finsys-server.log" &
echo $! >"$VAR/finsys-server.pid"
if ! fs_wait_http "http://$HTTP_HOST:$HTTP_PORT/readyz" 30; then
    echo "the server did not become ready; see $VAR/finsys-server.log" >&2
    exit 1
fi
# Prometheus scraping the server and the worker (deploy/prometheus), its
# configuration with this stack's ports, its data under ./var/prometheus.
if command -v prometheus >/dev/null 2>&1; then
    mkdir -p "$VAR/prometheus"
    sed -e "s/127.0.0.1:8080/$HTTP_HOST:$HTTP_PORT/" -e "s/127.0.0.1:8081/$HTTP_HOST:$WORKER_PORT/" \
        -e "s|^\(\s*-\s*\)alerts.yml\s*$|\1$PWD/deploy/prometheus/alerts.yml|" \
        deploy/prometheus/prometheus.yml >"$VAR/prometheus/prometheus.yml"
    prometheus --config.file="$VAR/prometheus/prometheus.yml" \
        --storage.tsdb.path="$VAR/prometheus/data" \
        --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" 2>>"$VAR/prometheus.log" &
    echo $! >"$VAR/prometheus.pid"
else
    echo "no prometheus (scripts/deps.sh installs it): metrics are not scraped" >&2
fi
if ! fs_wait_http "http://$HTTP_HOST:$PROVIDER_PORT/healthz" 30; then
    echo "the provider simulator did not start; see $VAR/provider-sim.log" >&2
    exit 1
fi

cat <<MSG
PostgreSQL:      127.0.0.1:$PG_PORT (data in $(fs_pg_home "$VAR")/pg, log $(fs_pg_home "$VAR")/postgres.log)
NATS JetStream:  127.0.0.1:$NATS_PORT (data in $VAR/nats, log $VAR/nats.log)
Redis:           127.0.0.1:$REDIS_PORT (data in $VAR/redis, log $VAR/redis.log)
Server log:      $VAR/finsys-server.log
Provider sim:    http://$HTTP_HOST:$PROVIDER_PORT (log $VAR/provider-sim.log)
Worker:          settles payments, makes receipts (log $VAR/finsys-worker.log)
Receipts:        $FINSYS_OBJECTS_DIR
Metrics:         http://$HTTP_HOST:$HTTP_PORT/metrics and http://$HTTP_HOST:$WORKER_PORT/metrics
Prometheus:      http://127.0.0.1:$PROMETHEUS_PORT (data in $VAR/prometheus, log $VAR/prometheus.log)
Dev API key:     $(cat "$VAR/dev-api-key")   (also in $VAR/dev-api-key)
Admin console:   http://$HTTP_HOST:$HTTP_PORT/admin/
Staff login:     $(sed -n 's/^email: //p' "$VAR/staff-login") / $(sed -n 's/^password: //p' "$VAR/staff-login")   (also in $VAR/staff-login)
Try:             curl -H "Authorization: Bearer \$(cat var/dev-api-key)" http://$HTTP_HOST:$HTTP_PORT/v1/accounts
FinSys is ready at http://$HTTP_HOST:$HTTP_PORT
Press Ctrl-C to stop.
MSG
wait "$(cat "$VAR/finsys-server.pid")" || true
