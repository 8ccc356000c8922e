#!/usr/bin/env bash
# make cluster: FinSys as a highly available cluster, on loopback, data under
# ./var/cluster (FINSYS_CLUSTER_DIR), every process on a free port, every one
# stopped by the PID it recorded (make cluster-stop, Ctrl-C, or SIGTERM):
#
#   etcd (one node)                 Patroni's consensus store
#   Patroni + PostgreSQL 15 x 2     primary and synchronous streaming replica,
#                                   automatic failover (ttl 10, loop_wait 2)
#   nats-server x 3                 one JetStream cluster, streams with 3 copies
#   redis-server                    as make run's
#   finsys provider-sim
#   finsys worker x 2
#   finsys server x 2
#   HAProxy                         in front of the servers, GET /readyz checks
#   Prometheus (when installed)     scraping the four FinSys processes
#
# The servers and workers reach PostgreSQL with a libpq multi-host string and
# target_session_attrs=read-write (docs/operations.md, "Cluster", says why);
# the servers' lists prefer the replica (target_session_attrs=prefer-standby).
#
# cluster.sh [start]   start, print where it is ready, wait (foreground)
# cluster.sh stop      stop what a start in the same directory left running
# cluster.sh patroni N start node N's Patroni again (it rejoins as a replica)
# cluster.sh server N  start finsys server N again (after a drain, to upgrade)
# cluster.sh haproxy 'COMMAND'  a command on HAProxy's admin socket
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack.sh

VAR=${FINSYS_CLUSTER_DIR:-$PWD/var/cluster}
BIN=${FINSYS_BIN:-$PWD/build/finsys}
[[ $BIN = /* ]] || BIN=$PWD/$BIN
CMD=${1:-start}
NODES_NATS=(1 2 3)
NODES_PG=(1 2)
NODES_APP=(1 2)

# ---- stopping, by PID ------------------------------------------------------

# The postgres user's processes: patroni by its PID; a postmaster that outlived
# its patroni (kill -9 of patroni) by its postmaster.pid, with pg_ctl as that
# user.
cluster_pg_stop() {
    local n=$1 home
    home=$(fs_pg_home "$VAR")
    fs_stop_pid "$VAR/patroni$n.pid"
    if [ -f "$home/pg$n/data/postmaster.pid" ]; then
        fs_as_pg "$PG_BIN/pg_ctl" -D "$home/pg$n/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

# patroni_start N: node N's Patroni, as PostgreSQL's user, in the
# background, its PID in patroni<N>.pid (its configuration written by start).
patroni_start() {
    local n=$1 home u
    home=$(fs_pg_home "$VAR")
    u=$(fs_pg_user)
    if [ "$(id -u)" -eq 0 ]; then
        HOME=$(getent passwd "$u" | cut -d: -f6) setpriv --reuid="$u" \
            --regid="$u" --init-groups patroni "$home/pg$n/patroni.yml" \
            </dev/null >>"$VAR/patroni$n.log" 2>&1 &
    else
        patroni "$home/pg$n/patroni.yml" </dev/null >>"$VAR/patroni$n.log" 2>&1 &
    fi
    echo $! >"$VAR/patroni$n.pid"
}

# server_start N: finsys server N with the settings start gave it (app.env),
# in the background, its PID in server<N>.pid.
server_start() {
    local n=$1 sp=P_SERVER$1
    (
        source "$VAR/app.env"
        FINSYS_HTTP_PORT=${!sp} exec "$BIN" server </dev/null >>"$VAR/server$n.log" 2>&1
    ) &
    echo $! >"$VAR/server$n.pid"
}

cluster_stop() {
    local n
    [ -d "$VAR" ] || return 0
    fs_stop_pid "$VAR/prometheus.pid"
    fs_stop_pid "$VAR/redis-exporter.pid"
    fs_stop_pid "$VAR/haproxy.pid"
    for n in "${NODES_APP[@]}"; do fs_stop_pid "$VAR/server$n.pid"; done
    for n in "${NODES_APP[@]}"; do fs_stop_pid "$VAR/worker$n.pid"; done
    fs_stop_pid "$VAR/provider-sim.pid"
    fs_redis_stop "$VAR"
    for n in "${NODES_NATS[@]}"; do fs_stop_pid "$VAR/nats$n.pid"; done
    # The replicas first, so that stopping the primary starts no failover
    # (after one, node 2 may be the primary, and a rejoined node 1 would be
    # promoted while the cluster stops).
    local first=1 api
    if [ -s "$VAR/ports.env" ]; then
        source "$VAR/ports.env"
        for n in "${NODES_PG[@]}"; do
            api=P_PATRONI$n
            curl -fs -m 1 -o /dev/null "http://127.0.0.1:${!api}/primary" && first=$n
        done
    fi
    for n in "${NODES_PG[@]}"; do [ "$n" = "$first" ] || cluster_pg_stop "$n"; done
    cluster_pg_stop "$first"
    fs_stop_pid "$VAR/etcd.pid"
    rm -f "$VAR/ready"
}

if [ "$CMD" = stop ]; then
    # The foreground script, if it runs, stops everything on SIGTERM.
    fs_stop_pid "$VAR/cluster.pid"
    cluster_stop
    echo "cluster stopped." >&2
    exit 0
fi
# cluster.sh haproxy 'COMMAND': one command on HAProxy's admin socket (no
# socat needed), e.g. 'set server finsys/s1 state drain', 'show stat'.
if [ "$CMD" = haproxy ]; then
    python3 - "$VAR/haproxy.sock" "${2:?usage: cluster.sh haproxy 'COMMAND'}" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    sys.stdout.write(chunk.decode(errors="replace"))
PY
    exit 0
fi
# cluster.sh patroni N, cluster.sh server N: start that process again in a
# running cluster (after a fault, or to upgrade it; docs/operations.md).
if [ "$CMD" = patroni ] || [ "$CMD" = server ]; then
    n=${2:?usage: cluster.sh patroni|server N}
    [ -s "$VAR/ports.env" ] || { echo "cluster: none in $VAR" >&2; exit 1; }
    source "$VAR/ports.env"
    if [ -f "$VAR/$CMD$n.pid" ] && kill -0 "$(cat "$VAR/$CMD$n.pid")" 2>/dev/null; then
        echo "cluster: $CMD $n runs already (PID $(cat "$VAR/$CMD$n.pid"))" >&2
        exit 1
    fi
    "${CMD}_start" "$n"
    exit 0
fi
[ "$CMD" = start ] || { echo "usage: cluster.sh [start|stop|patroni N|server N|haproxy CMD]" >&2; exit 2; }

for tool in etcd patroni haproxy nats-server redis-server pgbackrest; do
    command -v "$tool" >/dev/null 2>&1 && continue
    echo "cluster: $tool is missing: scripts/deps.sh --cluster installs it (as root)" >&2
    exit 1
done
[ -x "$BIN" ] || { echo "cluster: no $BIN (make build)" >&2; exit 1; }
if [ -f "$VAR/etcd.pid" ] && kill -0 "$(cat "$VAR/etcd.pid")" 2>/dev/null; then
    echo "cluster: one already runs in $VAR (make cluster-stop)" >&2
    exit 1
fi

mkdir -p "$VAR"
chmod 755 "$VAR"
echo $$ >"$VAR/cluster.pid"
T0=$SECONDS
say() { echo "cluster: $* ($((SECONDS - T0)) s)" >&2; }

cleanup() {
    trap - EXIT INT TERM
    echo "stopping the cluster..." >&2
    cluster_stop
    rm -f "$VAR/cluster.pid"
    echo "stopped." >&2
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# ---- ports and secrets, kept with the data ---------------------------------

# Ports are chosen once and kept in ports.env: etcd and Patroni record their
# peers' addresses in their data, which a restart then finds again.
PORT_NAMES=(ETCD ETCD_PEER PG1 PG2 PATRONI1 PATRONI2 NATS1 NATS2 NATS3 ROUTE1 ROUTE2
    ROUTE3 NATSMON1 NATSMON2 NATSMON3 REDIS PROVIDER SERVER1 SERVER2 WORKER1 WORKER2
    HAPROXY HAPROXY_STATS PROMETHEUS REDIS_EXPORTER)
# All at once, each socket held until every port is chosen, so that no two
# are the same (one python3 start, not one per port).
if [ ! -s "$VAR/ports.env" ]; then
    python3 - "${PORT_NAMES[@]}" >"$VAR/ports.env.tmp" <<'PY'
import socket, sys
socks = []
for name in sys.argv[1:]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    print(f"P_{name}={s.getsockname()[1]}")
PY
    mv "$VAR/ports.env.tmp" "$VAR/ports.env"
fi
source "$VAR/ports.env"
# A ports.env of an older cluster.sh lacks the ports added since: chosen now.
for name in "${PORT_NAMES[@]}"; do
    v=P_$name
    [ -n "${!v:-}" ] || echo "P_$name=$(fs_free_port)" >>"$VAR/ports.env"
done
source "$VAR/ports.env"

secret() {
    [ -s "$VAR/$1" ] || { openssl rand -hex 16 >"$VAR/$1"; chmod 600 "$VAR/$1"; }
    cat "$VAR/$1"
}
PW_SUPER=$(secret pg-superuser-password)
PW_REPL=$(secret pg-replication-password)
PW_FINSYS=$(secret pg-finsys-password)

# ---- etcd ------------------------------------------------------------------

mkdir -p "$VAR/etcd"
chmod 700 "$VAR/etcd"
etcd --name e1 --data-dir "$VAR/etcd" \
    --listen-client-urls "http://127.0.0.1:$P_ETCD" \
    --advertise-client-urls "http://127.0.0.1:$P_ETCD" \
    --listen-peer-urls "http://127.0.0.1:$P_ETCD_PEER" \
    --initial-advertise-peer-urls "http://127.0.0.1:$P_ETCD_PEER" \
    --initial-cluster "e1=http://127.0.0.1:$P_ETCD_PEER" \
    </dev/null >>"$VAR/etcd.log" 2>&1 &
echo $! >"$VAR/etcd.pid"
fs_wait_http "http://127.0.0.1:$P_ETCD/health" 30 \
    || { echo "cluster: etcd did not start; see $VAR/etcd.log" >&2; tail -5 "$VAR/etcd.log" >&2; exit 1; }

say "etcd up"

# ---- Patroni and PostgreSQL ------------------------------------------------

PGHOME=$(fs_pg_home_make "$VAR")
PGUSER_OS=$(fs_pg_user)

patroni_config() {
    local n=$1 pg_port=$2 api_port=$3
    cat <<YML
scope: finsys
namespace: /finsys/
name: pg$n
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$api_port
  connect_address: 127.0.0.1:$api_port
etcd3:
  hosts: 127.0.0.1:$P_ETCD
bootstrap:
  dcs:
    # Measured here (docs/operations.md, "Cluster"): kill -9 of the primary,
    # a new one in about 10 s.
    ttl: 10
    loop_wait: 2
    retry_timeout: 3
    # A commit is acknowledged once the replica has it: a failover loses no
    # 201 (Patroni promotes only the synchronous standby).
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_log_hints: "on"
        max_connections: 200
        max_wal_senders: 10
        max_replication_slots: 10
        wal_level: replica
        hot_standby: "on"
  initdb:
    - encoding: UTF8
    - no-locale
postgresql:
  listen: 127.0.0.1:$pg_port
  connect_address: 127.0.0.1:$pg_port
  data_dir: $PGHOME/pg$n/data
  bin_dir: $PG_BIN
  pgpass: $PGHOME/pg$n/pgpass
  # A new replica's base backup starts at once, not after a spread
  # checkpoint (measured: 95 s without).
  basebackup:
    - checkpoint: fast
  authentication:
    superuser:
      username: postgres
      password: $PW_SUPER
    replication:
      username: replicator
      password: $PW_REPL
  parameters:
    unix_socket_directories: $PGHOME/pg$n/sock
    # The WAL into pgBackRest's repository (scripts/backup.sh): only the
    # primary archives; a promoted replica goes on, on its new timeline.
    archive_mode: "on"
    archive_command: '$(FINSYS_CLUSTER_DIR=$VAR bash scripts/backup.sh archive-command "$PGHOME/pg$n/data")'
    password_encryption: scram-sha-256
    fsync: "on"
    synchronous_commit: "on"
    shared_buffers: 128MB
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
tags:
  nofailover: false
  noloadbalance: false
YML
}

for n in "${NODES_PG[@]}"; do
    pgp=P_PG$n api=P_PATRONI$n
    mkdir -p "$PGHOME/pg$n/sock"
    patroni_config "$n" "${!pgp}" "${!api}" >"$PGHOME/pg$n/patroni.yml"
    chmod 600 "$PGHOME/pg$n/patroni.yml"
    chown -R "$PGUSER_OS" "$PGHOME/pg$n"
    patroni_start "$n"
    # The first node bootstraps alone, so that it is the first primary.
    if [ "$n" = 1 ]; then
        fs_wait_http "http://127.0.0.1:$P_PATRONI1/primary" 60 || {
            echo "cluster: Patroni did not make a primary; see $VAR/patroni1.log" >&2
            tail -20 "$VAR/patroni1.log" >&2
            exit 1
        }
    fi
done

say "PostgreSQL: a primary"

# Which node is the primary now (Patroni's REST API answers 200 on /primary
# only there).
primary_node() {
    local n api
    for n in "${NODES_PG[@]}"; do
        api=P_PATRONI$n
        curl -fs -o /dev/null "http://127.0.0.1:${!api}/primary" && { echo "$n"; return 0; }
    done
    return 1
}

# Bootstrap's FinSys half, idempotent: a role without SUPERUSER, with a
# password (SCRAM), owning database finsys (docs/operations.md, "Production
# settings"); finsys migrate then runs as it.
P=$(primary_node)
pgp=P_PG$P
psql_super() {
    fs_as_pg "$PG_BIN/psql" -h "$PGHOME/pg$P/sock" -p "${!pgp}" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -qtA "$@"
}
psql_super -c "SELECT 1 FROM pg_roles WHERE rolname = 'finsys'" | grep -q 1 \
    || psql_super -c "CREATE ROLE finsys LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \
                      PASSWORD '$PW_FINSYS'" >/dev/null
psql_super -c "SELECT 1 FROM pg_database WHERE datname = 'finsys'" | grep -q 1 \
    || psql_super -c "CREATE DATABASE finsys OWNER finsys" >/dev/null

# The replica streaming (patronictl says "running" before it streams).
for ((i = 0; i < 600; i++)); do
    [ "$(psql_super -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" \
        -ge 1 ] && break
    sleep 0.1
done
[ "$i" -lt 600 ] || { echo "cluster: the replica does not stream; see $VAR/patroni2.log" >&2; exit 1; }

say "PostgreSQL: the replica streams"

# pgBackRest's repository for the WAL archive and the base backups (make
# backup); idempotent.
FINSYS_CLUSTER_DIR=$VAR bash scripts/backup.sh init 2>>"$VAR/backup.log" \
    || { echo "cluster: scripts/backup.sh init failed; see $VAR/backup.log" >&2; exit 1; }

# libpq tries the hosts in turn and keeps the one that accepts writes.
umask 077
printf '127.0.0.1:%s:finsys:finsys:%s\n127.0.0.1:%s:finsys:finsys:%s\n' \
    "$P_PG1" "$PW_FINSYS" "$P_PG2" "$PW_FINSYS" >"$VAR/pgpass"
umask 022
export PGPASSFILE=$VAR/pgpass
export FINSYS_DATABASE_URL="host=127.0.0.1,127.0.0.1 port=$P_PG1,$P_PG2 dbname=finsys \
user=finsys target_session_attrs=read-write connect_timeout=2"
# The servers' lists and searches: the replica while it is fresh enough
# (docs/operations.md, "Reads on the replica"), the primary when it is gone.
export FINSYS_DATABASE_READ_URL="host=127.0.0.1,127.0.0.1 port=$P_PG1,$P_PG2 dbname=finsys \
user=finsys target_session_attrs=prefer-standby connect_timeout=2"

# ---- NATS: three nodes, one JetStream cluster ------------------------------

for n in "${NODES_NATS[@]}"; do
    cp=P_NATS$n rp=P_ROUTE$n mp=P_NATSMON$n
    mkdir -p "$VAR/nats$n"
    cat >"$VAR/nats$n.conf" <<CONF
server_name: n$n
listen: 127.0.0.1:${!cp}
http: 127.0.0.1:${!mp}
jetstream {
  store_dir: "$VAR/nats$n"
}
cluster {
  name: finsys
  listen: 127.0.0.1:${!rp}
  routes: [
    nats-route://127.0.0.1:$P_ROUTE1
    nats-route://127.0.0.1:$P_ROUTE2
    nats-route://127.0.0.1:$P_ROUTE3
  ]
}
CONF
    nats-server -c "$VAR/nats$n.conf" -l "$VAR/nats$n.log" </dev/null >/dev/null 2>&1 &
    echo $! >"$VAR/nats$n.pid"
done
# JetStream answers once its meta group has a leader.
for ((i = 0; i < 300; i++)); do
    curl -fs "http://127.0.0.1:$P_NATSMON1/jsz" 2>/dev/null \
        | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("meta_cluster",{}).get("leader") else 1)' \
        && break
    sleep 0.1
done
[ "$i" -lt 300 ] || { echo "cluster: NATS elected no leader; see $VAR/nats1.log" >&2; exit 1; }
export FINSYS_NATS_URL="nats://127.0.0.1:$P_NATS1,nats://127.0.0.1:$P_NATS2,nats://127.0.0.1:$P_NATS3"
export FINSYS_NATS_REPLICAS=3

say "NATS: JetStream has a leader"

# ---- Redis, the database's schema, keys ------------------------------------

fs_redis_start "$VAR" "$P_REDIS"
export FINSYS_REDIS_URL=$(fs_redis_url "$P_REDIS")
"$BIN" migrate >/dev/null
if [ ! -s "$VAR/api-key" ]; then
    "$BIN" apikey create --tenant cluster >"$VAR/api-key"
    chmod 600 "$VAR/api-key"
fi
# Deposits by the cluster tenant's key, to fund accounts (as make run does).
"$BIN" tenant deposits --tenant cluster on >/dev/null

say "migrated"

# ---- FinSys ----------------------------------------------------------------

export FINSYS_OBJECTS_DIR=$VAR/objects
export FINSYS_PROVIDER_URL=http://127.0.0.1:$P_PROVIDER
# Every request reaches a server from HAProxy's address: the per-address
# limits would be everyone's.
export FINSYS_RATE_LIMIT_ADDR_PER_S=${FINSYS_RATE_LIMIT_ADDR_PER_S:-1000000}
export FINSYS_RATE_LIMIT_ADDR_BURST=${FINSYS_RATE_LIMIT_ADDR_BURST:-1000000}
export FINSYS_HTTP_CONNECTIONS_PER_ADDR_MAX=${FINSYS_HTTP_CONNECTIONS_PER_ADDR_MAX:-10000}
export FINSYS_HTTP_HOST=127.0.0.1
# Every setting above, for cluster.sh server N.
export -p | sed -n -E 's/^declare -x ((FINSYS_|PGPASSFILE=).*)/export \1/p' >"$VAR/app.env"
chmod 600 "$VAR/app.env"

"$BIN" provider-sim --host 127.0.0.1 --port "$P_PROVIDER" 2>>"$VAR/provider-sim.log" &
echo $! >"$VAR/provider-sim.pid"
for n in "${NODES_APP[@]}"; do
    wp=P_WORKER$n sp=P_SERVER$n
    FINSYS_WORKER_PORT=${!wp} "$BIN" worker 2>>"$VAR/worker$n.log" &
    echo $! >"$VAR/worker$n.pid"
    server_start "$n"
done
for n in "${NODES_APP[@]}"; do
    sp=P_SERVER$n
    fs_wait_http "http://127.0.0.1:${!sp}/readyz" 60 \
        || { echo "cluster: server $n is not ready; see $VAR/server$n.log" >&2; exit 1; }
done

say "servers ready"

# ---- HAProxy ---------------------------------------------------------------

# A server is out after 2 failed checks 500 ms apart (its /readyz answers 503
# when its database, Redis or NATS does not), back after 2 good ones; a
# request whose connection is refused goes to the other server (redispatch:
# connection failures only, so no POST is ever sent twice by HAProxy).
cat >"$VAR/haproxy.cfg" <<CFG
global
    maxconn 4096
    # The admin socket: drain a server before stopping it (set server
    # finsys/s1 state drain; docs/operations.md, "Upgrading with zero
    # downtime").
    stats socket $VAR/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    timeout http-request 10s
    retries 3
    option redispatch
frontend api
    bind 127.0.0.1:$P_HAPROXY
    default_backend finsys
backend finsys
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fastinter 500ms downinter 1s fall 2 rise 2
    server s1 127.0.0.1:$P_SERVER1 check
    server s2 127.0.0.1:$P_SERVER2 check
listen stats
    bind 127.0.0.1:$P_HAPROXY_STATS
    # HAProxy's own Prometheus exporter (Debian's build has it): requests,
    # errors, queue and health of each server, for Prometheus below.
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /
CFG
haproxy -c -q -f "$VAR/haproxy.cfg"
haproxy -db -f "$VAR/haproxy.cfg" </dev/null >>"$VAR/haproxy.log" 2>&1 &
echo $! >"$VAR/haproxy.pid"
fs_wait_http "http://127.0.0.1:$P_HAPROXY/readyz" 30 \
    || { echo "cluster: HAProxy does not answer; see $VAR/haproxy.log" >&2; exit 1; }

# ---- Prometheus (optional) -------------------------------------------------

if command -v prometheus >/dev/null 2>&1; then
    # Redis through Debian's exporter (Redis speaks no Prometheus). NATS
    # has only its JSON monitoring (/varz, /jsz on P_NATSMON*): its exporter
    # is not in Debian 12.
    REDIS_EXPORTER=$(command -v prometheus-redis-exporter || true)
    if [ -n "$REDIS_EXPORTER" ]; then
        "$REDIS_EXPORTER" --redis.addr="redis://127.0.0.1:$P_REDIS" \
            --web.listen-address="127.0.0.1:$P_REDIS_EXPORTER" \
            >>"$VAR/redis-exporter.log" 2>&1 </dev/null &
        echo $! >"$VAR/redis-exporter.pid"
    fi
    mkdir -p "$VAR/prometheus"
    cat >"$VAR/prometheus/prometheus.yml" <<YML
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: finsys-server
    static_configs:
      - targets: ["127.0.0.1:$P_SERVER1", "127.0.0.1:$P_SERVER2"]
  - job_name: finsys-worker
    static_configs:
      - targets: ["127.0.0.1:$P_WORKER1", "127.0.0.1:$P_WORKER2"]
  - job_name: patroni
    static_configs:
      - targets: ["127.0.0.1:$P_PATRONI1", "127.0.0.1:$P_PATRONI2"]
  - job_name: etcd
    static_configs:
      - targets: ["127.0.0.1:$P_ETCD"]
  - job_name: haproxy
    static_configs:
      - targets: ["127.0.0.1:$P_HAPROXY_STATS"]
$(if [ -n "$REDIS_EXPORTER" ]; then printf '%s\n' "  - job_name: redis" "    static_configs:" \
    "      - targets: [\"127.0.0.1:$P_REDIS_EXPORTER\"]"; fi)
YML
    prometheus --config.file="$VAR/prometheus/prometheus.yml" \
        --storage.tsdb.path="$VAR/prometheus/data" \
        --web.listen-address="127.0.0.1:$P_PROMETHEUS" 2>>"$VAR/prometheus.log" &
    echo $! >"$VAR/prometheus.pid"
fi

URL=http://127.0.0.1:$P_HAPROXY
KEY=$(cat "$VAR/api-key")
printf 'url=%s\nkey=%s\n' "$URL" "$KEY" >"$VAR/ready"
cat <<MSG
etcd:            127.0.0.1:$P_ETCD (data $VAR/etcd)
PostgreSQL:      primary node $P of 127.0.0.1:$P_PG1 and 127.0.0.1:$P_PG2 under Patroni
                 (REST 127.0.0.1:$P_PATRONI1 and :$P_PATRONI2; data $PGHOME/pg1 and pg2)
                 FINSYS_DATABASE_URL="$FINSYS_DATABASE_URL" PGPASSFILE=$VAR/pgpass
                 lists on FINSYS_DATABASE_READ_URL="$FINSYS_DATABASE_READ_URL"
NATS JetStream:  $FINSYS_NATS_URL (3 copies of each stream)
Redis:           127.0.0.1:$P_REDIS
Provider sim:    http://127.0.0.1:$P_PROVIDER
Servers:         http://127.0.0.1:$P_SERVER1 and http://127.0.0.1:$P_SERVER2
Workers:         http://127.0.0.1:$P_WORKER1/state and http://127.0.0.1:$P_WORKER2/state
HAProxy stats:   http://127.0.0.1:$P_HAPROXY_STATS/ (admin socket $VAR/haproxy.sock)
Backups:         make backup (pgBackRest; WAL archived to $(fs_pg_home "$VAR")/backup)
Logs:            $VAR/*.log
API key:         $KEY   (also in $VAR/api-key)
FinSys cluster is ready at $URL
Press Ctrl-C (or make cluster-stop) to stop.
MSG
# Until stopped: the script's own trap stops everything.
while :; do sleep 1; done
