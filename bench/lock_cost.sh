#!/usr/bin/env bash
# lock_cost.sh: what a Redis lock per payment would cost on this machine
# (docs/architecture.md, "Locks"). Starts a redis-server of its own on a free
# port (as make run does: append-only, fsync every second) and runs
# redis-benchmark on the two scripts of src/lock/lock.c a payment would need,
# the acquisition (SET NX PX + INCR of the fencing counter) and the release
# (GET + DEL if ours), on random keys: once with 1 client (the latency one
# payment would add) and once with 50 (the most locks per second Redis gives).
# Prints the figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/stack.sh
N=${LOCK_BENCH_N:-200000}
TMP=$(mktemp -d /tmp/finsys-lockbench.XXXXXX)
PORT=$(fs_free_port)
trap 'fs_redis_stop "$TMP"; rm -rf "$TMP"' EXIT
fs_redis_start "$TMP" "$PORT"

ACQUIRE="if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then if redis.call('EXISTS', KEYS[2]) == 0 then local t = redis.call('TIME') redis.call('SET', KEYS[2], t[1] .. string.rep('0', 6 - #t[2]) .. t[2]) end return redis.call('INCR', KEYS[2]) end return 0"
RELEASE="if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

run() { # name clients script keys...
    local name=$1 clients=$2
    shift 2
    redis-benchmark -p "$PORT" -n "$N" -c "$clients" -r 1000000 --csv "$@" 2>/dev/null \
        | tail -1 | awk -F'"' -v n="$name" -v c="$clients" \
            '{printf "%-8s %2d clients: %9.0f ops/s, avg %s ms, p50 %s ms, p99 %s ms\n", n, c, $4, $6, $10, $14}'
}
echo "Redis lock cost ($N operations each, redis-server $(redis-server --version | awk '{print $3}'), $(nproc) cores)"
for c in 1 50; do
    run acquire "$c" EVAL "$ACQUIRE" 2 lock:__rand_int__ fence:__rand_int__ tok 5000
    run release "$c" EVAL "$RELEASE" 1 lock:__rand_int__ tok
done
