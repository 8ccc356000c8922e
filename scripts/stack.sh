# Shell functions that start and stop the local stack's servers, sourced by
# run.sh, test.sh and bench.sh. Every server listens on loopback only and is
# stopped by the PID it wrote, never by name.

PG_BIN=/usr/lib/postgresql/15/bin

# PostgreSQL refuses to run as root: run it as the postgres user.
fs_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

fs_as_pg() {
    local u; u=$(fs_pg_user)
    if [ "$(id -un)" = "$u" ]; then "$@"; else runuser -u "$u" -- "$@"; fi
}

# fs_free_port: prints a TCP port on 127.0.0.1 that nothing listens on.
fs_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# fs_pg_home DIR: the directory that holds PostgreSQL's files for DIR (its
# data in pg, its socket in pg-sock, postgres.log, initdb.log): DIR itself,
# or the one recorded in DIR/pg-home (see fs_pg_start).
fs_pg_home() {
    if [ -s "$1/pg-home" ]; then cat "$1/pg-home"; else echo "$1"; fi
}

# fs_pg_home_make DIR: prints the directory for PostgreSQL's files, made if
# needed. As root, PostgreSQL runs as the postgres user, who may not reach
# DIR: a clone in /root (mode 700), or any folder other users cannot enter.
# Then its files go to a directory of its own, made with mktemp under
# FS_PG_HOME_BASE (/var/tmp: kept across reboots, unlike /tmp on some
# systems), owned by postgres, mode 700, and recorded in DIR/pg-home so that
# the next start finds the same data.
fs_pg_home_make() {
    local dir u home parent
    dir=$(cd "$1" && pwd) || return 1
    u=$(fs_pg_user)
    if [ -s "$dir/pg-home" ]; then
        home=$(cat "$dir/pg-home")
        if [ -d "$home" ] && fs_as_pg test -w "$home"; then
            echo "$home"
            return 0
        fi
        echo "stack: $home (recorded in $dir/pg-home) is gone; PostgreSQL starts afresh" >&2
        rm -f "$dir/pg-home"
    fi
    # DIR itself when its user can reach it: chowned only then, so that a
    # clone's folder is not handed to postgres for nothing.
    parent=$(dirname "$dir")
    if [ "$(id -un)" = "$u" ] || fs_as_pg test -x "$parent"; then
        chown "$u" "$dir"
        if fs_as_pg test -w "$dir"; then
            echo "$dir"
            return 0
        fi
    fi
    home=$(mktemp -d "${FS_PG_HOME_BASE:-/var/tmp}/finsys-pg.XXXXXX") || return 1
    chmod 700 "$home"
    chown "$u" "$home"
    if ! fs_as_pg test -w "$home"; then
        echo "stack: the $u user cannot write to $dir nor to $home" >&2
        rm -rf "$home"
        return 1
    fi
    echo "$home" >"$dir/pg-home"
    echo "stack: the $u user cannot enter $dir: PostgreSQL's files are in $home" \
        "(recorded in $dir/pg-home)" >&2
    echo "$home"
}

# fs_pg_start DIR PORT: initialises PostgreSQL's data if needed (in
# fs_pg_home DIR: DIR/pg, or elsewhere when its user cannot reach DIR) and
# starts it on 127.0.0.1:PORT with its socket in pg-sock beside it; creates
# database finsys. FS_PG_EXTRA_OPTS adds server options (make bench loads
# pg_stat_statements).
fs_pg_start() {
    local dir=$1 port=$2 u home; u=$(fs_pg_user)
    mkdir -p "$dir"
    home=$(fs_pg_home_make "$dir") || return 1
    mkdir -p "$home/pg-sock"
    chown "$u" "$home/pg-sock"
    if [ ! -f "$home/pg/PG_VERSION" ]; then
        fs_as_pg "$PG_BIN/initdb" -D "$home/pg" -U postgres -A trust -E UTF8 \
            --no-locale >"$home/initdb.log" 2>&1 || { cat "$home/initdb.log" >&2; return 1; }
    fi
    fs_as_pg "$PG_BIN/pg_ctl" -D "$home/pg" -l "$home/postgres.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $home/pg-sock -c fsync=on \
         -c synchronous_commit=on -c max_connections=200 -c shared_buffers=256MB \
         -c wal_buffers=16MB -c min_wal_size=1GB -c max_wal_size=4GB \
         -c checkpoint_timeout=15min ${FS_PG_EXTRA_OPTS:-}" \
        >/dev/null || { tail -20 "$home/postgres.log" >&2; return 1; }
    fs_as_pg "$PG_BIN/psql" -h "$home/pg-sock" -p "$port" -U postgres -d postgres -qtAc \
        "SELECT 1 FROM pg_database WHERE datname = 'finsys'" | grep -q 1 \
        || fs_as_pg "$PG_BIN/psql" -h "$home/pg-sock" -p "$port" -U postgres -d postgres \
               -qc "CREATE DATABASE finsys" >/dev/null
}

# fs_pg_replica_start DIR PRIMARY_PORT PORT: a streaming replica of the
# PostgreSQL on 127.0.0.1:PRIMARY_PORT (issue 14): pg_basebackup -R (which
# writes standby.signal and primary_conninfo) into fs_pg_home DIR's pg, then
# started as a hot standby on 127.0.0.1:PORT. A throwaway, for tests: its
# files are not fsynced (--no-sync, fsync=off: seconds saved at the copy
# and at the start). Stop it with fs_pg_stop DIR, or by the PID fs_pg_pid DIR
# prints; fs_pg_forget DIR after.
fs_pg_replica_start() {
    local dir=$1 primary=$2 port=$3 u home; u=$(fs_pg_user)
    mkdir -p "$dir"
    home=$(fs_pg_home_make "$dir") || return 1
    mkdir -p "$home/pg-sock"
    chown "$u" "$home/pg-sock"
    fs_as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$home/pg" \
        -R -X stream -c fast --no-sync >"$home/basebackup.log" 2>&1 \
        || { cat "$home/basebackup.log" >&2; return 1; }
    # A hot standby needs max_connections at least the primary's (200, as
    # fs_pg_start sets it).
    fs_as_pg "$PG_BIN/pg_ctl" -D "$home/pg" -l "$home/postgres.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $home/pg-sock -c hot_standby=on \
         -c max_connections=200 -c shared_buffers=64MB -c fsync=off" \
        >/dev/null || { tail -20 "$home/postgres.log" >&2; return 1; }
}

# fs_pg_pid DIR: the postmaster's PID (empty when it is not running).
fs_pg_pid() {
    local f; f=$(fs_pg_home "$1")/pg/postmaster.pid
    [ -f "$f" ] && head -1 "$f"
}

fs_pg_stop() {
    local home; home=$(fs_pg_home "$1")
    [ -f "$home/pg/postmaster.pid" ] || return 0
    fs_as_pg "$PG_BIN/pg_ctl" -D "$home/pg" -m fast -w stop >/dev/null 2>&1 || true
}

# fs_pg_forget DIR: removes the directory fs_pg_home_make made for DIR
# outside it, if any, and its record (after fs_pg_stop; for temporary
# stacks, whose DIR is removed too).
fs_pg_forget() {
    local home
    [ -s "$1/pg-home" ] || return 0
    home=$(cat "$1/pg-home")
    case $home in
        "${FS_PG_HOME_BASE:-/var/tmp}"/finsys-pg.*) rm -rf "$home" ;;
    esac
    rm -f "$1/pg-home"
}

# fs_pg_url DIR PORT: the libpq connection string for the finsys database.
fs_pg_url() {
    echo "host=127.0.0.1 port=$2 dbname=finsys user=postgres"
}

# fs_nats_start DIR PORT: starts nats-server with JetStream on 127.0.0.1:PORT,
# its store in DIR/nats, log DIR/nats.log, PID in DIR/nats.pid; returns once
# it accepts connections (it says "Server is ready" after JetStream is up and
# the client port listens).
fs_nats_start() {
    local dir=$1 port=$2 pid i
    if [ -f "$dir/nats.pid" ] && kill -0 "$(cat "$dir/nats.pid")" 2>/dev/null; then
        echo "stack: a nats-server already runs for $dir (PID $(cat "$dir/nats.pid"))" >&2
        return 1
    fi
    mkdir -p "$dir/nats"
    nats-server -js -sd "$dir/nats" -a 127.0.0.1 -p "$port" -l "$dir/nats.log" \
        </dev/null >/dev/null 2>&1 &
    pid=$!
    echo "$pid" >"$dir/nats.pid"
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "stack: nats-server exited; see $dir/nats.log" >&2
            tail -5 "$dir/nats.log" >&2
            rm -f "$dir/nats.pid"
            return 1
        fi
        # Its log lines start with its PID, so a log kept from an earlier run
        # cannot fool this, nor can another process on the port.
        grep -q "^\[$pid\] .*Server is ready" "$dir/nats.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "stack: nats-server did not listen on port $port; see $dir/nats.log" >&2
    fs_stop_pid "$dir/nats.pid"
    return 1
}

# fs_nats_stop DIR: stops the nats-server that fs_nats_start DIR started.
fs_nats_stop() {
    fs_stop_pid "$1/nats.pid"
}

# fs_nats_url PORT: the URL clients use (FINSYS_NATS_URL).
fs_nats_url() {
    echo "nats://127.0.0.1:$1"
}

# fs_redis_start DIR PORT: starts redis-server on 127.0.0.1:PORT, its data
# (the append-only file, fsync every second) in DIR/redis, log DIR/redis.log,
# PID in DIR/redis.pid; returns once it answers PING.
fs_redis_start() {
    local dir=$1 port=$2 pid i
    if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
        echo "stack: a redis-server already runs for $dir (PID $(cat "$dir/redis.pid"))" >&2
        return 1
    fi
    mkdir -p "$dir/redis"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/redis" --daemonize no \
        --appendonly yes --appendfsync everysec --save "" --logfile "$dir/redis.log" \
        --protected-mode yes </dev/null >/dev/null 2>&1 &
    pid=$!
    echo "$pid" >"$dir/redis.pid"
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "stack: redis-server exited; see $dir/redis.log" >&2
            tail -5 "$dir/redis.log" >&2
            rm -f "$dir/redis.pid"
            return 1
        fi
        [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    echo "stack: redis-server did not answer on port $port; see $dir/redis.log" >&2
    fs_stop_pid "$dir/redis.pid"
    return 1
}

# fs_redis_stop DIR: stops the redis-server that fs_redis_start DIR started.
fs_redis_stop() {
    fs_stop_pid "$1/redis.pid"
}

# fs_redis_url PORT: the URL clients use (FINSYS_REDIS_URL).
fs_redis_url() {
    echo "redis://127.0.0.1:$1"
}

# The S3-compatible server of the object-store tests (issue 15): s3rver from
# npm, pinned in tools/s3rver/package.json and package-lock.json, behind
# tools/s3rver/server.js, which checks every request's SigV4 signature with
# the one key pair below (s3rver itself checks only V2 signatures).
FS_S3_BUCKET=finsys-test
FS_S3_ACCESS_KEY=finsys-test-key
# A test-only secret, public like FS_DEV_SECRETS_KEY: never a real one.
FS_S3_SECRET_KEY=finsys-test-secret-not-for-production

# fs_s3_install: npm ci into tools/s3rver/node_modules (ignored by git) when
# it is missing or was installed from another package.json or lock (the
# stamp pattern of scripts/lint-openapi.sh). Needs node and npm (deps.sh).
fs_s3_install() {
    local tool here stamp want
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    tool=$here/tools/s3rver
    stamp=$tool/node_modules/.finsys-installed
    want=$(cat "$tool/package.json" "$tool/package-lock.json" | sha256sum | cut -d' ' -f1)
    if [ ! -d "$tool/node_modules/s3rver" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "stack: installing s3rver (npm ci)" >&2
        # --ignore-scripts: nothing in s3rver's tree needs an install step.
        (cd "$tool" && npm ci --no-audit --no-fund --ignore-scripts --no-progress \
            --loglevel=error >&2) || return 1
        echo "$want" >"$stamp"
    fi
}

# fs_s3_start DIR PORT: starts the S3 server on 127.0.0.1:PORT, its objects
# in DIR/s3 (bucket FS_S3_BUCKET, made at start), log DIR/s3.log, PID in
# DIR/s3.pid; returns once it listens. Started again on the same DIR, it
# serves the objects it kept.
fs_s3_start() {
    local dir=$1 port=$2 pid i here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    fs_s3_install || return 1
    if [ -f "$dir/s3.pid" ] && kill -0 "$(cat "$dir/s3.pid")" 2>/dev/null; then
        echo "stack: an S3 server already runs for $dir (PID $(cat "$dir/s3.pid"))" >&2
        return 1
    fi
    mkdir -p "$dir/s3"
    # --openssl-legacy-provider: s3rver makes a truncated list's continuation
    # token with DES, which OpenSSL 3 has only in its legacy provider.
    node --openssl-legacy-provider "$here/tools/s3rver/server.js" "$dir/s3" "$port" "$FS_S3_BUCKET" "$FS_S3_ACCESS_KEY" \
        "$FS_S3_SECRET_KEY" </dev/null >>"$dir/s3.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/s3.pid"
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "stack: the S3 server exited; see $dir/s3.log" >&2
            tail -5 "$dir/s3.log" >&2
            rm -f "$dir/s3.pid"
            return 1
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "stack: the S3 server did not listen on port $port; see $dir/s3.log" >&2
    fs_stop_pid "$dir/s3.pid"
    return 1
}

# fs_s3_stop DIR: stops the S3 server that fs_s3_start DIR started.
fs_s3_stop() {
    fs_stop_pid "$1/s3.pid"
}

# fs_s3_url PORT: FINSYS_OBJECTS_URL for it (with FS_S3_ACCESS_KEY and
# FS_S3_SECRET_KEY as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
fs_s3_url() {
    echo "s3://$FS_S3_BUCKET/finsys?endpoint=http://127.0.0.1:$1&region=us-east-1"
}

# fs_wait_http URL SECONDS: waits until URL answers 200.
fs_wait_http() {
    local url=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        curl -fs -o /dev/null "$url" && return 0
        sleep 0.1
    done
    return 1
}

# fs_stop_pid FILE: stops the process whose PID FILE holds (TERM, then KILL).
fs_stop_pid() {
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

# The key sealing webhook signing secrets at rest (FINSYS_SECRETS_KEY,
# docs/operations.md "Secrets at rest"; `finsys server` and `finsys worker`
# refuse to start without one): for the throwaway stacks of make run, make
# test and make bench only, and only when none is set. It is the hex of
# "finsys-dev-secrets-key-not-prod!": public, so never a production key.
FS_DEV_SECRETS_KEY=66696e7379732d6465762d736563726574732d6b65792d6e6f742d70726f6421
export FINSYS_SECRETS_KEY=${FINSYS_SECRETS_KEY:-$FS_DEV_SECRETS_KEY}
