-- refunds.sql: what refunds add to the write path's read side. The refund
-- ops themselves (refund_create, refund_claim, refund_finish, refund_dead,
-- refund_get, refund_list) are branches of fs_batch() in batch.sql, since
-- they move money through its locked, in-memory account balances; their
-- life cycle is in docs/architecture.md ("Refunds").

-- A refund as the API shows it.
CREATE OR REPLACE FUNCTION fs_refund_json(r refunds) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id, 'object', 'refund', 'payment', r.payment_id, 'amount', r.amount,
        'currency', r.currency, 'status', r.status, 'failure_code', r.failure_code,
        'failure_message', r.failure_message, 'created_at', fs_ts(r.created_at),
        'updated_at', fs_ts(r.updated_at))
$$;
