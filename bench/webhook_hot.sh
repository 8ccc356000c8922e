#!/usr/bin/env bash
# webhook_hot.sh: what the webhook deliveries' writes cost in PostgreSQL
# (docs/architecture.md, "Webhooks"). Starts a PostgreSQL of its own in a
# temporary directory, applies the migrations of DB_DIR (default: this tree's
# db/migrations; give another tree's to compare), and drives the notifier's
# ops through fs_webhook_internal() as the notifier does, without HTTP:
#
#   fanout  op webhook_fanout (500 events a call, the first 128 deliveries of
#           each call leased), until the feed is empty
#   claim   op webhook_claim of every delivery not leased (one a statement)
#   finish  op webhook_finish, 256 results a statement: 9 in 10 delivered,
#           the rest failed (due again in 10 s)
#   sweep   op webhook_sweep, older_s 0 (nothing due: the walk alone)
#
# For each phase: the wall time (psql's, synchronous_commit off, so that
# fsyncs do not hide the work), the WAL it wrote, and the table's updates and
# how many of them were HOT. Prints the figures; asserts nothing.
#   WEBHOOK_BENCH_EVENTS (10000) events, WEBHOOK_BENCH_ENDPOINTS (2) endpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/stack.sh
EVENTS=${WEBHOOK_BENCH_EVENTS:-10000}
ENDPOINTS=${WEBHOOK_BENCH_ENDPOINTS:-2}
DB_DIR=$(cd "${1:-db}" && pwd)
TMP=$(mktemp -d /tmp/finsys-whbench.XXXXXX)
chmod 755 "$TMP"
PORT=$(fs_free_port)
trap 'fs_pg_stop "$TMP"; rm -rf "$TMP"' EXIT
# Without full-page images, the WAL measures the records written, not
# which pages a checkpoint happened to leave clean.
FS_PG_EXTRA_OPTS="-c full_page_writes=off" fs_pg_start "$TMP" "$PORT"
URL=$(fs_pg_url "$TMP" "$PORT")
FINSYS_DATABASE_URL=$URL FINSYS_MIGRATIONS_DIR=$DB_DIR/migrations build/finsys migrate >/dev/null

q() { psql -X -q -v ON_ERROR_STOP=1 -tA "$URL" "$@"; }

q <<SQL
INSERT INTO tenants (id, name) VALUES ('ten_bench', 'bench');
INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at)
SELECT 'we_bench' || g, 'ten_bench', 'http://127.0.0.1:9/', '{*}', 'whsec_x', now() - interval '1 hour'
FROM generate_series(1, $ENDPOINTS) g;
INSERT INTO events (tenant_id, account_id, account_seq, type, payment_id, data)
SELECT 'ten_bench', 'acct_bench', g, 'payment.created', 'pay_bench' || g, '{"amount": 1}'
FROM generate_series(1, $EVENTS) g;
SQL
q -c "CHECKPOINT" -c "VACUUM ANALYZE" >/dev/null

# updates: webhook_deliveries' updates so far, and how many were HOT (a
# session's counts reach the statistics when it ends).
updates() {
    q -F' ' -c "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
                WHERE relname = 'webhook_deliveries'"
}

# phase NAME: runs the SQL on stdin in one session and prints its figures.
phase() {
    local name=$1 lsn0 lsn1 t0 t1
    lsn0=$(q -c "SELECT pg_current_wal_insert_lsn()")
    read -r u0 h0 < <(updates)
    t0=$(date +%s.%N)
    (echo "SET synchronous_commit = off;"; cat) | q >/dev/null
    t1=$(date +%s.%N)
    sleep 0.2
    lsn1=$(q -c "SELECT pg_current_wal_insert_lsn()")
    read -r u1 h1 < <(updates)
    printf "%-7s %7.2f s  WAL %8s  deliveries updated %6d, HOT %6d\n" "$name" \
        "$(echo "$t1 - $t0" | bc)" \
        "$(q -c "SELECT pg_size_pretty(pg_wal_lsn_diff('$lsn1', '$lsn0'))")" \
        $((u1 - u0)) $((h1 - h0))
}

echo "webhook deliveries: $EVENTS events x $ENDPOINTS endpoints, migrations of $DB_DIR"
for _ in $(seq 1 $(((EVENTS + 499) / 500 + 1))); do
    echo "SELECT p FROM fs_webhook_internal('{\"op\":\"webhook_fanout\",\"max\":500,\"lease_max\":128,\"lease_ms\":15000}');"
done | phase fanout
q -c "SELECT format('SELECT o FROM fs_webhook_internal(%L);',
                    json_build_object('op', 'webhook_claim', 'delivery', id, 'lease_ms', 15000,
                                      'slack_ms', 0))
      FROM webhook_deliveries WHERE attempts = 0 ORDER BY seq" | phase claim
q -c "SELECT format('SELECT p FROM fs_webhook_internal(%L);',
                    json_build_object('op', 'webhook_finish', 'ids', json_agg(id ORDER BY seq),
                                      'attempts', json_agg(attempts ORDER BY seq),
                                      'delivered', json_agg(seq % 10 <> 0 ORDER BY seq),
                                      'http_status', json_agg(CASE WHEN seq % 10 <> 0 THEN 200 ELSE 500 END ORDER BY seq),
                                      'errors', json_agg(CASE WHEN seq % 10 <> 0 THEN '' ELSE 'HTTP 500' END ORDER BY seq),
                                      'delay_ms', json_agg(10000 ORDER BY seq),
                                      'retry_period_s', 86400))
      FROM (SELECT *, (row_number() OVER (ORDER BY seq) - 1) / 256 AS b
            FROM webhook_deliveries) d GROUP BY b ORDER BY b" | phase finish
for _ in 1 2 3 4 5; do
    echo "SELECT p FROM fs_webhook_internal('{\"op\":\"webhook_sweep\",\"older_s\":0,\"max\":1000}');"
done | phase sweep
q -c "SELECT status, count(*) FROM webhook_deliveries GROUP BY status ORDER BY status" | tr '\n' ' '
echo
q -c "SELECT 'deliveries ' || pg_size_pretty(pg_table_size('webhook_deliveries')) || ', its indexes '
             || pg_size_pretty(pg_indexes_size('webhook_deliveries'))"
