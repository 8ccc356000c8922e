#!/usr/bin/env bash
# Backups of FinSys's PostgreSQL with pgBackRest (docs/operations.md,
# "Backups and restore"): a base backup, the WAL archived as PostgreSQL
# writes it, and a restore to any point in time since the oldest backup.
#
#   backup.sh init               the repository and its stanza (once; the
#                                archive_command below needs it)
#   backup.sh archive-command    the archive_command for postgresql.conf
#   backup.sh backup [full|diff|incr]   a base backup (full by default)
#   backup.sh info               the backups and the WAL archived
#   backup.sh check              archiving works: switches to a new WAL
#                                segment and waits until it is in the
#                                repository (also: everything written so far
#                                is archived)
#   backup.sh restore TIME [DIR] the backup before TIME plus the WAL up to
#                                TIME, into DIR (new, or empty), started on a
#                                free loopback port with archiving off, and
#                                promoted; prints its port and how long it took
#   backup.sh stop DIR           stops a PostgreSQL that restore started
#
# Which PostgreSQL: FINSYS_BACKUP_PGDATA, FINSYS_BACKUP_PGPORT and
# FINSYS_BACKUP_PGSOCKET (its socket directory) when set; otherwise make
# cluster's current primary (FINSYS_CLUSTER_DIR, by default var/cluster),
# found through Patroni's REST API. The repository: FINSYS_BACKUP_REPO, by
# default backup/ beside that cluster's PostgreSQL files.
# FINSYS_BACKUP_RESTORE_OPTS: more server options for the restored copy. pgBackRest runs as
# PostgreSQL's user (postgres when run as root), who must own the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack.sh

STANZA=finsys
CMD=${1:-}
[ -n "$CMD" ] && shift

command -v pgbackrest >/dev/null 2>&1 \
    || { echo "backup: pgbackrest is missing: scripts/deps.sh installs it (as root)" >&2; exit 1; }

CLUSTER_DIR=${FINSYS_CLUSTER_DIR:-$PWD/var/cluster}

# The PostgreSQL to back up: PGDATA, PGPORT, PGSOCK.
target() {
    if [ -n "${FINSYS_BACKUP_PGDATA:-}" ]; then
        PGDATA=$FINSYS_BACKUP_PGDATA
        PGPORT=${FINSYS_BACKUP_PGPORT:?backup: FINSYS_BACKUP_PGPORT is not set}
        PGSOCK=${FINSYS_BACKUP_PGSOCKET:?backup: FINSYS_BACKUP_PGSOCKET is not set}
        return 0
    fi
    [ -s "$CLUSTER_DIR/ports.env" ] \
        || { echo "backup: no cluster in $CLUSTER_DIR (make cluster), and FINSYS_BACKUP_PGDATA is not set" >&2; exit 1; }
    source "$CLUSTER_DIR/ports.env"
    local n api pgp home
    home=$(fs_pg_home "$CLUSTER_DIR")
    for n in 1 2; do
        api=P_PATRONI$n pgp=P_PG$n
        if curl -fs -o /dev/null "http://127.0.0.1:${!api}/primary"; then
            PGDATA=$home/pg$n/data PGPORT=${!pgp} PGSOCK=$home/pg$n/sock
            return 0
        fi
    done
    echo "backup: the cluster in $CLUSTER_DIR has no primary" >&2
    exit 1
}

repo() {
    if [ -n "${FINSYS_BACKUP_REPO:-}" ]; then
        REPO=$FINSYS_BACKUP_REPO
    else
        REPO=$(fs_pg_home "$CLUSTER_DIR")/backup
    fi
    CONF=$REPO/pgbackrest.conf
}

# pgbackrest as PostgreSQL's user, with the repository's configuration and
# the target's location (command-line options win over the file's).
br() {
    fs_as_pg pgbackrest --config="$CONF" --stanza="$STANZA" "$@"
}
br_target() {
    br --pg1-path="$PGDATA" --pg1-port="$PGPORT" --pg1-socket-path="$PGSOCK" "$@"
}

repo
case $CMD in
    init)
        target
        mkdir -p "$REPO"
        chmod 700 "$REPO"
        chown "$(fs_pg_user)" "$REPO"
        # Retention: two full backups and the WAL needed to restore to any
        # time since the older one. lz4: fast enough to keep up with the WAL;
        # two processes copy the files of a backup or restore.
        cat >"$CONF" <<CONF
[global]
repo1-path=$REPO/repo
repo1-retention-full=2
log-path=$REPO/log
lock-path=$REPO/lock
spool-path=$REPO/spool
log-level-console=warn
log-level-file=info
compress-type=lz4
process-max=2
start-fast=y
archive-timeout=30

[$STANZA]
pg1-path=$PGDATA
pg1-port=$PGPORT
pg1-socket-path=$PGSOCK
CONF
        chown "$(fs_pg_user)" "$CONF"
        fs_as_pg mkdir -p "$REPO/repo" "$REPO/log" "$REPO/lock" "$REPO/spool"
        br_target stanza-create
        echo "backup: repository $REPO, stanza $STANZA" >&2
        ;;
    archive-command)
        # %p is relative to the data directory: pgBackRest needs it (option
        # pg1-path) to check what it archives; make cluster puts each node's
        # own there.
        echo "pgbackrest --config=$CONF --stanza=$STANZA --pg1-path=${1:-\$PGDATA} archive-push %p"
        ;;
    backup)
        target
        [ -s "$CONF" ] || { echo "backup: no repository in $REPO (backup.sh init)" >&2; exit 1; }
        t0=$(date +%s.%N)
        br_target --type="${1:-full}" backup
        echo "backup: ${1:-full} backup of $PGDATA in" \
            "$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s" >&2
        ;;
    info)
        br info
        ;;
    check)
        target
        br_target check
        ;;
    restore)
        TIME=${1:?usage: backup.sh restore TIME [DIR]}
        DIR=${2:-$(dirname "$REPO")/restore-$(date -u +%Y%m%dT%H%M%S)}
        [ -s "$CONF" ] || { echo "backup: no repository in $REPO" >&2; exit 1; }
        if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
            echo "backup: $DIR is not empty" >&2
            exit 1
        fi
        mkdir -p "$DIR"
        chmod 700 "$DIR"
        chown "$(fs_pg_user)" "$DIR"
        t0=$(date +%s.%N)
        # --archive-mode=off: the restored copy must not push its WAL (a new
        # timeline) into the repository of the database it was copied from.
        br --pg1-path="$DIR" --type=time --target="$TIME" --target-action=promote \
            --archive-mode=off restore
        # The settings PostgreSQL checks against the WAL's (recovery stops
        # when one is lower than on the primary): from the backup's control
        # file, so that one started with -c max_connections=200 restores.
        opts=$(fs_as_pg "$PG_BIN/pg_controldata" "$DIR" | awk -F': *' '
            /^max_connections setting/      {print "-c max_connections=" $2}
            /^max_worker_processes setting/ {print "-c max_worker_processes=" $2}
            /^max_wal_senders setting/      {print "-c max_wal_senders=" $2}
            /^max_prepared_xacts setting/   {print "-c max_prepared_transactions=" $2}
            /^max_locks_per_xact setting/   {print "-c max_locks_per_transaction=" $2}' | tr '\n' ' ')
        # Its own pg_hba.conf and pg_ident.conf, copied with the data: the
        # configuration may name the source's (Patroni's does).
        for f in hba_file:pg_hba.conf ident_file:pg_ident.conf; do
            [ -f "$DIR/${f#*:}" ] && opts+=" -c ${f%%:*}=$DIR/${f#*:}"
        done
        port=$(fs_free_port)
        mkdir -p "$DIR/sock"
        chown "$(fs_pg_user)" "$DIR/sock"
        fs_as_pg "$PG_BIN/pg_ctl" -D "$DIR" -l "$DIR/restore.log" -w -t 120 start -o \
            "-c listen_addresses=127.0.0.1 -p $port -k $DIR/sock -c hot_standby=on $opts \
             ${FINSYS_BACKUP_RESTORE_OPTS:-}" >/dev/null \
            || { tail -20 "$DIR/restore.log" >&2; exit 1; }
        # Accepting connections during recovery (hot standby) is not the end:
        # wait until it has replayed up to TIME and promoted itself.
        for ((i = 0; i < 1200; i++)); do
            [ "$(fs_as_pg "$PG_BIN/psql" -h "$DIR/sock" -p "$port" -U postgres -d postgres -qtAc \
                "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && break
            sleep 0.1
        done
        [ "$i" -lt 1200 ] || { echo "backup: the restored copy did not promote; see $DIR/restore.log" >&2; exit 1; }
        echo "port=$port" >"$DIR/restored.env"
        echo "backup: restored to $TIME in $DIR, listening on 127.0.0.1:$port," \
            "in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s" >&2
        echo "backup: stop it with: bash scripts/backup.sh stop $DIR" >&2
        ;;
    stop)
        DIR=${1:?usage: backup.sh stop DIR}
        [ -f "$DIR/postmaster.pid" ] || exit 0
        fs_as_pg "$PG_BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null
        ;;
    *)
        sed -n '2,26p' "$0" >&2
        exit 2
        ;;
esac
