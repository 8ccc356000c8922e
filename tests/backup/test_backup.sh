#!/usr/bin/env bash
# The restore to a point in time, tested (scripts/test.sh's "backup" block;
# docs/operations.md, "Backups and restore"): a PostgreSQL of its own with
# its WAL archived by pgBackRest (scripts/backup.sh), FinSys migrated and a
# finsys server ($FINSYS_BIN) making payments; payments, a base backup, more
# payments, the target time T, more payments, the WAL switched and archived;
# then a restore to T into a new data directory on a free port, and on it:
# every payment made before T, none after, the ledger intact
# (tests/backup/check.py). Everything it starts is stopped by PID and its
# directory removed. Prints "backup test: ok" and the times it measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/stack.sh

BIN=${FINSYS_BIN:-$PWD/build/finsys}
TMP=$(mktemp -d /tmp/finsys-backup.XXXXXX)
chmod 755 "$TMP"
RESTORED=
finish() {
    local rc=$?
    trap - EXIT INT TERM
    fs_stop_pid "$TMP/server.pid"
    [ -n "$RESTORED" ] && bash scripts/backup.sh stop "$RESTORED" 2>/dev/null
    fs_redis_stop "$TMP"
    fs_nats_stop "$TMP"
    fs_pg_stop "$TMP"
    if [ "$rc" -ne 0 ]; then
        echo "backup test: FAILED; the logs:" >&2
        for f in "$TMP"/*.log "$(fs_pg_home "$TMP")"/postgres.log "$RESTORED"/restore.log \
            "$(fs_pg_home "$TMP")"/backup/log/*.log; do
            [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }
        done
    fi
    fs_pg_forget "$TMP"
    rm -rf "$TMP"
    exit "$rc"
}
trap finish EXIT
trap 'exit 1' INT TERM
t_start=$(date +%s.%N)
step() { [ -z "${BACKUP_TEST_VERBOSE:-}" ] || echo "backup test: $* at $(since "$t_start") s" >&2; }
since() { python3 -c "print(f'{$(date +%s.%N) - $1:.1f}')"; }

PG_PORT=$(fs_free_port)
# Its files' directory before it starts, for the archive_command: WAL
# archiving on from the first start (the first segment is archived only
# when it is full, or switched by the backup, after init below).
HOME_PG=$(fs_pg_home_make "$TMP")
export FINSYS_BACKUP_PGDATA=$HOME_PG/pg FINSYS_BACKUP_PGPORT=$PG_PORT
export FINSYS_BACKUP_PGSOCKET=$HOME_PG/pg-sock FINSYS_BACKUP_REPO=$HOME_PG/backup
# fsync off (after fs_pg_start's on), here and on the restored copy: this
# tests what is archived and replayed, not a crash, and on a busy machine
# the flushes were most of its time.
FS_PG_EXTRA_OPTS="-c fsync=off -c archive_mode=on \
    -c 'archive_command=$(bash scripts/backup.sh archive-command "$FINSYS_BACKUP_PGDATA")'" \
    fs_pg_start "$TMP" "$PG_PORT"
bash scripts/backup.sh init 2>/dev/null
psql_su() {
    fs_as_pg "$PG_BIN/psql" -h "$HOME_PG/pg-sock" -p "$PG_PORT" -U postgres -d "${2:-finsys}" \
        -XqtA -v ON_ERROR_STOP=1 -c "$1"
}
step "PostgreSQL archiving"
[ "$(psql_su "SHOW archive_mode")" = on ] || { echo "backup test: archive_mode is not on" >&2; exit 1; }

# FinSys: schema, key, a server (NATS and Redis of its own; nothing settles:
# the payments stay pending with their holds, which the ledger check covers).
NATS_PORT=$(fs_free_port)
REDIS_PORT=$(fs_free_port)
HTTP_PORT=$(fs_free_port)
fs_nats_start "$TMP" "$NATS_PORT"
fs_redis_start "$TMP" "$REDIS_PORT"
export FINSYS_DATABASE_URL=$(fs_pg_url "$TMP" "$PG_PORT") FINSYS_DEV=1
export FINSYS_NATS_URL=$(fs_nats_url "$NATS_PORT") FINSYS_REDIS_URL=$(fs_redis_url "$REDIS_PORT")
export FINSYS_HTTP_PORT=$HTTP_PORT FINSYS_HTTP_HOST=127.0.0.1 FINSYS_OBJECTS_DIR=$TMP/objects
"$BIN" migrate >/dev/null
KEY=$("$BIN" apikey create --tenant backup)
"$BIN" tenant deposits --tenant backup on
"$BIN" server 2>"$TMP/server.log" &
echo $! >"$TMP/server.pid"
fs_wait_http "http://127.0.0.1:$HTTP_PORT/healthz" 30
step "server ready"
URL=http://127.0.0.1:$HTTP_PORT
N=${BACKUP_TEST_PAYMENTS:-10}

python3 tests/backup/check.py accounts "$URL" "$KEY" "$TMP/accounts"
python3 tests/backup/check.py pay "$URL" "$KEY" "$TMP/accounts" "$N" "$TMP/before-backup"
step "payments before the backup"
t0=$(date +%s.%N)
bash scripts/backup.sh backup full 2>/dev/null
backup_s=$(since "$t0")
step "base backup"
python3 tests/backup/check.py pay "$URL" "$KEY" "$TMP/accounts" "$N" "$TMP/before-target"
# T between two commits, a quarter of a second from each (the server's
# 201 comes after its commit).
sleep 0.25
T=$(psql_su "SELECT clock_timestamp()")
sleep 0.25
python3 tests/backup/check.py pay "$URL" "$KEY" "$TMP/accounts" "$N" "$TMP/after-target"
step "payments after T"
fs_stop_pid "$TMP/server.pid"
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/server.log"; then
    echo "backup test: the server's sanitizer report:" >&2
    grep -A30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/server.log" | head -40 >&2
    exit 1
fi
# The WAL with the last commits switched out and in the repository.
bash scripts/backup.sh check 2>/dev/null
step "WAL archived"

t0=$(date +%s.%N)
RESTORED=$HOME_PG/restored
FINSYS_BACKUP_RESTORE_OPTS="-c fsync=off" \
    bash scripts/backup.sh restore "$T" "$RESTORED" 2>"$TMP/restore.out" \
    || { cat "$TMP/restore.out" >&2; exit 1; }
restore_s=$(since "$t0")
step "restored"
source "$RESTORED/restored.env"
python3 tests/backup/check.py verify "host=$RESTORED/sock port=$port dbname=finsys user=postgres" \
    "$TMP/before-backup" "$TMP/before-target" -- "$TMP/after-target"
echo "backup test: base backup ${backup_s} s, restore to T and promoted ${restore_s} s," \
    "whole test $(since "$t_start") s"
echo "backup test: ok"
