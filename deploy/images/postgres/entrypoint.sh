#!/bin/sh
# PostgreSQL's entrypoint (deploy/images/postgres/Dockerfile): on first
# start, initdb and the FinSys role and database; then exec postgres (PID 1:
# SIGINT, the image's STOPSIGNAL, is a fast shutdown).
set -eu
: "${FINSYS_DB_PASSWORD:?set FINSYS_DB_PASSWORD, the password of the FinSys role}"
user=${FINSYS_DB_USER:-finsys}
db=${FINSYS_DB_NAME:-finsys}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    # The superuser gets a random password nobody knows: local socket
    # connections (peer, as postgres) are how an operator gets in.
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$pwfile"
    initdb -D "$PGDATA" -U postgres -E UTF8 --no-locale --auth-local=peer \
        --auth-host=scram-sha-256 --pwfile="$pwfile" >/dev/null
    rm -f "$pwfile"
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    # The password through a psql variable (:'pw'), so that no quoting in it
    # can break the statement.
    psql -v ON_ERROR_STOP=1 -q -U postgres -d postgres -v user="$user" -v db="$db" \
        -v pw="$FINSYS_DB_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
SQL
    pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
    echo "postgres-entrypoint: made the cluster, role $user and database $db" >&2
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
