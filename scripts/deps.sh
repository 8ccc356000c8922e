#!/usr/bin/env bash
# Installs the Debian packages FinSys needs to build, run, test and bench
# (pgbackrest backs up PostgreSQL: scripts/backup.sh, tested by make test;
# nodejs and npm build the admin console in web/; chromium runs its
# end-to-end test).
# Idempotent and quick when everything is present: apt-get runs only for
# packages that are missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
    build-essential meson ninja-build pkg-config
    libevent-dev libpq-dev libjansson-dev libsodium-dev libcmocka-dev zlib1g-dev
    libssl-dev openssl libcurl4-openssl-dev
    postgresql-15 postgresql-client-15 python3 curl wrk
    pgbackrest
    nats-server libnats-dev
    redis-server libhiredis-dev
    prometheus
    clang libclang-rt-14-dev
    chromium
)

# `deps.sh --cluster`: also what make cluster and make test-cluster run
# (scripts/cluster.sh), not needed by make run or make test.
if [ "${1:-}" = --cluster ]; then
    PACKAGES+=(haproxy patroni etcd-server etcd-client prometheus-redis-exporter)
fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
# Node.js and npm by command, not by package: a nodejs from elsewhere (e.g.
# NodeSource, which bundles npm and conflicts with Debian's npm) will do.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing ${missing[*]}" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
