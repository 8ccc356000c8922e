-- reports.sql: account statements and daily rollups (issue 12; the section
-- "Statements and daily rollups" of docs/architecture.md). fs_batch()
-- dispatches statement_get, report_daily and rollup_run here, each sent
-- alone in its own transaction.

-- GET /v1/accounts/{id}/statement. j: id, from, to (UTC date-times, checked
-- and normalized by src/report), limit, after (a journal entry id, optional),
-- skew_s (FS_STATEMENT_SKEW_S).
--
-- The period is [from, to): an entry belongs to it when its created_at (its
-- transaction's start) is in it. Balances at an instant x are the account's
-- balances minus every entry at or after x, so the closing balance of
-- [a, b) is the opening of [b, c) by construction. Entries are walked from
-- the newest back through (account_id, id) only as far as the first entry
-- older than from - skew_s: an entry's id is taken while its transaction
-- runs, and no transaction writing entries runs skew_s (the statement
-- timeout is 10 s), so every entry below that one is older than from. The
-- cost is the account's entries since from, never its whole history.
-- One statement: one snapshot of the balances and the entries.
CREATE OR REPLACE FUNCTION fs_statement(t text, j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    acct    text := j->>'id';
    t_from  timestamptz := (j->>'from')::timestamptz;
    t_to    timestamptz := (j->>'to')::timestamptz;
    lim     int := (j->>'limit')::int;
    after   bigint := coalesce((j->>'after')::bigint, 0);
    skew    interval := make_interval(secs => (j->>'skew_s')::int);
    a       accounts;
BEGIN
    SELECT * INTO a FROM accounts y WHERE y.id = acct AND y.tenant_id = t;
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such account: %L', acct), 'id');
        RETURN;
    END IF;
    IF after > 0 THEN
        PERFORM FROM journal_entries e
        WHERE e.account_id = acct AND e.id = after
          AND e.created_at >= t_from AND e.created_at < t_to;
        IF NOT FOUND THEN
            o := 'invalid_request';
            p := fs_err(format('No journal entry %s of this account in this period', after),
                        'starting_after');
            RETURN;
        END IF;
    END IF;
    WITH bal AS (
        SELECT y.available, y.pending FROM accounts y WHERE y.id = acct),
    lo AS (
        SELECT coalesce((SELECT e.id FROM journal_entries e
                         WHERE e.account_id = acct AND e.created_at < t_from - skew
                         ORDER BY e.id DESC LIMIT 1), 0) AS id),
    since AS (
        SELECT e.id, e.bucket, e.amount, e.ref_id, e.created_at
        FROM journal_entries e, lo
        WHERE e.account_id = acct AND e.id > lo.id AND e.created_at >= t_from),
    sums AS (
        SELECT coalesce(sum(s.amount) FILTER (WHERE s.bucket = 'A'), 0) AS from_a,
               coalesce(sum(s.amount) FILTER (WHERE s.bucket = 'P'), 0) AS from_p,
               coalesce(sum(s.amount) FILTER (WHERE s.bucket = 'A' AND s.created_at >= t_to), 0)
                   AS to_a,
               coalesce(sum(s.amount) FILTER (WHERE s.bucket = 'P' AND s.created_at >= t_to), 0)
                   AS to_p,
               coalesce(sum(s.amount) FILTER (WHERE s.bucket = 'A' AND s.created_at < t_to
                                                AND s.id <= after), 0) AS before_a,
               coalesce(sum(s.amount) FILTER (WHERE s.bucket = 'P' AND s.created_at < t_to
                                                AND s.id <= after), 0) AS before_p
        FROM since s),
    page AS (
        SELECT e.id, e.bucket, e.amount, e.ref_id, e.created_at,
               row_number() OVER w AS rn,
               sum(CASE WHEN e.bucket = 'A' THEN e.amount ELSE 0 END) OVER w AS run_a,
               sum(CASE WHEN e.bucket = 'P' THEN e.amount ELSE 0 END) OVER w AS run_p
        FROM (SELECT s.* FROM since s
              WHERE s.created_at < t_to AND s.id > after
              ORDER BY s.id LIMIT lim + 1) e
        WINDOW w AS (ORDER BY e.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
    SELECT json_build_object(
               'object', 'statement', 'account', acct, 'currency', a.currency,
               'from', fs_ts(t_from), 'to', fs_ts(t_to),
               'opening_balance', json_build_object(
                   'available', bal.available - sums.from_a, 'pending', bal.pending - sums.from_p),
               'closing_balance', json_build_object(
                   'available', bal.available - sums.to_a, 'pending', bal.pending - sums.to_p),
               'entries', json_build_object(
                   'object', 'list',
                   'data', coalesce((
                       SELECT json_agg(json_build_object(
                                  'id', pg.id::text, 'object', 'journal_entry',
                                  'balance', CASE WHEN pg.bucket = 'A' THEN 'available'
                                                  ELSE 'pending' END,
                                  'amount', pg.amount, 'ref', pg.ref_id,
                                  'at', fs_ts(pg.created_at),
                                  'available_after', bal.available - sums.from_a
                                                     + sums.before_a + pg.run_a,
                                  'pending_after', bal.pending - sums.from_p
                                                   + sums.before_p + pg.run_p)
                                  ORDER BY pg.id)
                       FROM page pg WHERE pg.rn <= lim), '[]'::json),
                   'has_more', coalesce((SELECT max(pg.rn) > lim FROM page pg), false)))::text
    INTO p
    FROM bal, sums;
    o := 'ok';
END
$$;

-- One rollup as the reports answer it (GET /v1/reports/daily, and summed
-- across tenants GET /admin/api/reports/daily): {object, date (when
-- p_day is not null), currency}, then each column pair <x>_count,
-- <x>_volume of f as "<x>": {count, volume} ("payments" for payments_*), in
-- column order. f is the row (to_json(r)) or its sums by column name, so a
-- pair a migration adds to daily_rollups is answered by both reports with
-- no change here.
CREATE OR REPLACE FUNCTION fs_rollup_json(p_object text, p_day date, p_currency text, f json)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_object_agg(x.k, x.v ORDER BY x.n) FROM (
        SELECT 'object' AS k, to_json(p_object) AS v, -3::bigint AS n
        UNION ALL
        SELECT 'date', to_json(to_char(p_day, 'YYYY-MM-DD')), -2 WHERE p_day IS NOT NULL
        UNION ALL
        SELECT 'currency', to_json(p_currency), -1
        UNION ALL
        SELECT left(c.key, -6),
               json_build_object('count', c.value, 'volume', f->(left(c.key, -6) || '_volume')),
               c.n
        FROM json_each(f) WITH ORDINALITY AS c(key, value, n)
        WHERE c.key LIKE '%\_count') x
$$;

-- GET /v1/reports/daily. j: from, to (UTC days, inclusive, checked by
-- src/report), currency (optional). One object per day and currency that
-- has any figure, oldest first: at most FS_REPORT_DAYS_MAX days times the
-- currencies, read by the primary key's (tenant_id, day) prefix.
-- "as_of": when the rollup reader last moved its cursor.
CREATE OR REPLACE FUNCTION fs_report_daily(t text, j jsonb, OUT o text, OUT p text)
LANGUAGE sql STABLE
AS $$
    SELECT 'ok', json_build_object(
        'object', 'daily_report', 'from', j->>'from', 'to', j->>'to',
        'currency', j->>'currency',
        'as_of', (SELECT fs_ts(c.updated_at) FROM feed_cursors c WHERE c.name = 'rollups'),
        'data', coalesce(json_agg(fs_rollup_json('daily_rollup', r.day, r.currency, to_json(r))
                                  ORDER BY r.day, r.currency), '[]'::json))::text
    FROM daily_rollups r
    WHERE r.tenant_id = t AND r.day BETWEEN (j->>'from')::date AND (j->>'to')::date
      AND (NOT j ? 'currency' OR r.currency = j->>'currency')
$$;

-- The rollup reader (src/report's driver, op rollup_run, on the worker):
-- takes up to max events of the feed `rollups` and adds them to
-- daily_rollups with one upsert, in the transaction that moves the feed's
-- cursor, so no event is counted twice or missed. Each event's figures come
-- from its object as it was (data: the payment or refund), so no other
-- table is read: payment.created/succeeded/failed/canceled and the risk
-- rules' payment.flagged/review_rejected (0025_rollup_risk.sql) count the
-- payment on its creation day, refund.succeeded the refund on its creation
-- day, payment.blocked (an attempt: no payment, no created_at in its data)
-- on the day of its event; other types are taken and ignored. Returns
-- {"taken", "more"}.
CREATE OR REPLACE FUNCTION fs_rollup_run(p_max int) RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    WITH ev AS MATERIALIZED (
        SELECT e.tenant_id, e.type, e.data, e.created_at FROM fs_feed_take('rollups', p_max) e),
    f AS (
        SELECT ev.tenant_id,
               (coalesce((ev.data->>'created_at')::timestamptz, ev.created_at)
                AT TIME ZONE 'UTC')::date AS day,
               ev.data->>'currency' AS currency, ev.type,
               (ev.data->>'amount')::bigint AS amount
        FROM ev
        WHERE ev.type IN ('payment.created', 'payment.succeeded', 'payment.failed',
                          'payment.canceled', 'refund.succeeded', 'payment.flagged',
                          'payment.blocked', 'payment.review_rejected')),
    up AS (
        INSERT INTO daily_rollups AS r (
            tenant_id, day, currency, payments_count, payments_volume, succeeded_count,
            succeeded_volume, declined_count, declined_volume, canceled_count,
            canceled_volume, refunds_count, refunds_volume, flagged_count, flagged_volume,
            blocked_count, blocked_volume, review_rejected_count, review_rejected_volume)
        SELECT f.tenant_id, f.day, f.currency,
               count(*) FILTER (WHERE f.type = 'payment.created'),
               coalesce(sum(f.amount) FILTER (WHERE f.type = 'payment.created'), 0),
               count(*) FILTER (WHERE f.type = 'payment.succeeded'),
               coalesce(sum(f.amount) FILTER (WHERE f.type = 'payment.succeeded'), 0),
               count(*) FILTER (WHERE f.type = 'payment.failed'),
               coalesce(sum(f.amount) FILTER (WHERE f.type = 'payment.failed'), 0),
               count(*) FILTER (WHERE f.type = 'payment.canceled'),
               coalesce(sum(f.amount) FILTER (WHERE f.type = 'payment.canceled'), 0),
               count(*) FILTER (WHERE f.type = 'refund.succeeded'),
               coalesce(sum(f.amount) FILTER (WHERE f.type = 'refund.succeeded'), 0),
               count(*) FILTER (WHERE f.type = 'payment.flagged'),
               coalesce(sum(f.amount) FILTER (WHERE f.type = 'payment.flagged'), 0),
               count(*) FILTER (WHERE f.type = 'payment.blocked'),
               coalesce(sum(f.amount) FILTER (WHERE f.type = 'payment.blocked'), 0),
               count(*) FILTER (WHERE f.type = 'payment.review_rejected'),
               coalesce(sum(f.amount) FILTER (WHERE f.type = 'payment.review_rejected'), 0)
        FROM f GROUP BY f.tenant_id, f.day, f.currency
        ON CONFLICT (tenant_id, day, currency) DO UPDATE SET
            payments_count = r.payments_count + excluded.payments_count,
            payments_volume = r.payments_volume + excluded.payments_volume,
            succeeded_count = r.succeeded_count + excluded.succeeded_count,
            succeeded_volume = r.succeeded_volume + excluded.succeeded_volume,
            declined_count = r.declined_count + excluded.declined_count,
            declined_volume = r.declined_volume + excluded.declined_volume,
            canceled_count = r.canceled_count + excluded.canceled_count,
            canceled_volume = r.canceled_volume + excluded.canceled_volume,
            refunds_count = r.refunds_count + excluded.refunds_count,
            refunds_volume = r.refunds_volume + excluded.refunds_volume,
            flagged_count = r.flagged_count + excluded.flagged_count,
            flagged_volume = r.flagged_volume + excluded.flagged_volume,
            blocked_count = r.blocked_count + excluded.blocked_count,
            blocked_volume = r.blocked_volume + excluded.blocked_volume,
            review_rejected_count = r.review_rejected_count + excluded.review_rejected_count,
            review_rejected_volume = r.review_rejected_volume + excluded.review_rejected_volume,
            updated_at = now()
        RETURNING 1)
    SELECT count(*) INTO n FROM ev;
    RETURN json_build_object('taken', n, 'more', n >= p_max)::text;
END
$$;

-- fs_batch()'s one entry for the tenant's reads here (t: the key's tenant).
CREATE OR REPLACE FUNCTION fs_report_op(t text, j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF j->>'op' = 'statement_get' THEN
        SELECT s.o, s.p INTO o, p FROM fs_statement(t, j) s;
    ELSE
        SELECT s.o, s.p INTO o, p FROM fs_report_daily(t, j) s;
    END IF;
END
$$;
