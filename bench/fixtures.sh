# The bench's data, made in SQL for speed, shared by scripts/bench.sh and
# bench/export_cost.sh (sourced; both set PSQL, the psql command of the
# database, and TMP). Same rows, entries and balances as the API makes.

# bench_accounts TENANT N: N user accounts in USD funded by deposits (the
# deposits, their journal entries and the external account's balance), and
# their ids in $TMP/accounts.txt for bench/payments.lua.
bench_accounts() {
    local tenant=$1 n=$2
    "${PSQL[@]}" >/dev/null <<SQL
BEGIN;
INSERT INTO accounts (id, tenant_id, currency, name, type, available)
SELECT 'acct_bench' || lpad(g::text, 6, '0'), '$tenant', 'USD', 'bench', 'user', 1000000000000
FROM generate_series(1, $n) g;
INSERT INTO deposits (id, tenant_id, account_id, amount, currency)
SELECT 'dep_bench' || lpad(g::text, 6, '0'), '$tenant', 'acct_bench' || lpad(g::text, 6, '0'),
       1000000000000, 'USD' FROM generate_series(1, $n) g;
INSERT INTO journal_entries (account_id, bucket, amount, currency, ref_id)
SELECT 'acct_bench' || lpad(g::text, 6, '0'), 'A', 1000000000000, 'USD',
       'dep_bench' || lpad(g::text, 6, '0') FROM generate_series(1, $n) g
UNION ALL
SELECT (SELECT id FROM accounts WHERE tenant_id = '$tenant' AND currency = 'USD'
        AND type = 'external'), 'A', -1000000000000 * $n, 'USD', 'dep_bench_all';
UPDATE accounts SET available = -1000000000000 * $n
WHERE tenant_id = '$tenant' AND currency = 'USD' AND type = 'external';
COMMIT;
VACUUM ANALYZE;
SQL
    "${PSQL[@]}" -c "SELECT id FROM accounts WHERE tenant_id = '$tenant' AND type = 'user'" \
        >"$TMP/accounts.txt"
}

# bench_risk_rules TENANT: a realistic rule set (docs/risk.md), evaluated on
# every payment: one rule of each kind, as a risk team would start, set so
# that the bench's payments (1..1000 cents between funded accounts) pass them
# all but the shadow rule, which matches about 1% and is recorded.
bench_risk_rules() {
    local tenant=$1
    "${PSQL[@]}" >/dev/null <<SQL
INSERT INTO risk_rules (id, tenant_id, name, kind, params, action, mode, score) VALUES
 ('rr_bench1', '$tenant', 'large', 'amount_above', '{"amount": 10000000, "currency": "USD"}', 'review', 'active', 50),
 ('rr_bench2', '$tenant', 'burst', 'velocity_count', '{"count": 10000, "window_minutes": 10}', 'block', 'active', 90),
 ('rr_bench3', '$tenant', 'daily volume', 'velocity_amount', '{"amount": 100000000000, "currency": "USD", "window_minutes": 1440}', 'review', 'active', 50),
 ('rr_bench4', '$tenant', 'new and large', 'new_account_amount', '{"amount": 5000000, "currency": "USD", "account_age_hours": 24}', 'review', 'active', 50),
 ('rr_bench5', '$tenant', 'block list', 'listed', '{"list": "blocklist", "party": "either"}', 'block', 'active', 90),
 ('rr_bench6', '$tenant', 'currencies', 'currency_not_allowed', '{"allowed": ["USD", "EUR", "GBP"]}', 'block', 'active', 90),
 ('rr_bench7', '$tenant', 'test traffic', 'metadata_equals', '{"key": "channel", "value": "test"}', 'review', 'active', 50),
 ('rr_bench8', '$tenant', 'trial: over 990', 'amount_above', '{"amount": 990, "currency": "USD"}', 'block', 'shadow', 90);
INSERT INTO risk_list_entries (id, tenant_id, list, value)
SELECT 'rle_bench' || g, '$tenant', 'blocklist', 'acct_blocked' || g FROM generate_series(1, 100) g;
SQL
}
