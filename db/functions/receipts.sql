-- receipts.sql: the receipts of succeeded payments (db/migrations/0004_receipts.sql,
-- docs/architecture.md, "Receipts and the object store").
--
-- fs_receipts_prepare is the receipts feed reader: the worker calls it (op
-- receipts_prepare, in its own transaction) every FINSYS_RECEIPT_INTERVAL_MS.
-- It makes a receipt row per payment.succeeded event, in the transaction
-- that moves the feed's cursor, and hands back the documents to write: the
-- new ones, and those left unstored for FS_RECEIPT_RETRY_AFTER_S (a worker
-- that died between the two steps, a failed write). The worker writes them
-- to the object store and calls fs_receipts_stored (op receipts_stored).
-- Writing one twice is harmless: the same bytes land under the same key.

-- Takes up to p_max events of the 'receipts' feed; returns
-- {"taken": events taken, "receipts": [{"payment", "key", "document"}]}.
--
-- Set-based: the receipts of a run are numbered and inserted by one
-- statement (each tenant's counter moves once, by the run's count of its
-- receipts), with the document's facts joined in; row by row, with the
-- facts in a function of their own, a receipt cost about 1 ms here. The
-- names are looked up by correlated subqueries, one index probe each: as
-- joins, the plan (made once per connection, with no statistics to go by)
-- read every account of the database for each run, 100 ms a run in make
-- bench's 10,000 accounts.
CREATE OR REPLACE FUNCTION fs_receipts_prepare(p_max int, p_retry_after_s int) RETURNS json
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    evs    events[];
    fresh  text[];  -- the payments whose receipt row this call made
    out    json;
BEGIN
    SELECT coalesce(array_agg(e ORDER BY e.txid, e.seq), '{}') INTO evs
    FROM fs_feed_take('receipts', p_max) e;
    -- The document's facts, from the payment as its payment.succeeded event
    -- holds it; the worker adds what is rendered in C (the formatted amount).
    WITH s AS MATERIALIZED (
        SELECT e.*, row_number() OVER (PARTITION BY e.tenant_id ORDER BY e.txid, e.seq) AS rn
        FROM unnest(evs) e
        WHERE e.type = 'payment.succeeded'
          -- Those with a receipt already, found by index: a NOT EXISTS here
          -- became an anti join whose plan, made while receipts was empty,
          -- read the whole of its index for every event (about 2 ms a
          -- receipt in make bench).
          AND NOT e.payment_id = ANY (ARRAY(
                  SELECT r.payment_id FROM receipts r
                  WHERE r.payment_id = ANY (ARRAY(SELECT x.payment_id FROM unnest(evs) x
                                                  WHERE x.type = 'payment.succeeded'))))
    ), n AS (
        SELECT s.tenant_id, count(*) AS n FROM s GROUP BY s.tenant_id
    ), c AS (
        INSERT INTO receipt_counters AS k (tenant_id, last)
        SELECT n.tenant_id, n.n FROM n ORDER BY n.tenant_id
        ON CONFLICT (tenant_id) DO UPDATE SET last = k.last + EXCLUDED.last
        RETURNING k.tenant_id, k.last
    ), ins AS (
        INSERT INTO receipts (payment_id, tenant_id, number, object_key, document)
        SELECT s.payment_id, s.tenant_id, l.label,
               'receipts/' || s.tenant_id || '/' || s.payment_id || '.json',
               jsonb_build_object(
                   'object', 'receipt', 'number', l.label, 'payment', s.payment_id,
                   'tenant', s.tenant_id,
                   'tenant_name', (SELECT tn.name FROM tenants tn WHERE tn.id = s.tenant_id),
                   'from_account', s.data->>'from_account',
                   'from_account_name', (SELECT a.name FROM accounts a
                                         WHERE a.id = s.data->>'from_account'),
                   'to_account', s.data->>'to_account',
                   'to_account_name', (SELECT a.name FROM accounts a
                                       WHERE a.id = s.data->>'to_account'),
                   'amount', (s.data->>'amount')::bigint, 'currency', s.data->>'currency',
                   'status', 'succeeded', 'description', s.data->'description',
                   'paid_at', fs_ts(s.created_at), 'issued_at', fs_ts(now()))
        FROM s
        JOIN n ON n.tenant_id = s.tenant_id
        JOIN c ON c.tenant_id = s.tenant_id
        CROSS JOIN LATERAL (SELECT 'RCPT-' || lpad((c.last - n.n + s.rn)::text, 8, '0')
                            AS label) l
        ORDER BY s.txid, s.seq
        RETURNING payment_id)
    SELECT coalesce(array_agg(ins.payment_id), '{}') INTO fresh FROM ins;
    -- The new rows (handed_at = now(), this transaction's time, from their
    -- INSERT: handing them out writes nothing more) and the old ones left
    -- unstored, handed out again; not those another worker is writing now.
    WITH h AS (
        UPDATE receipts y SET handed_at = now()
        WHERE y.payment_id = ANY (ARRAY(
            SELECT z.payment_id FROM receipts z
            WHERE z.stored_at IS NULL
              AND z.handed_at < now() - make_interval(secs => p_retry_after_s)
            ORDER BY z.handed_at LIMIT p_max))
        RETURNING y.*)
    SELECT json_agg(json_build_object('payment', r.payment_id, 'key', r.object_key,
                                      'document', r.document) ORDER BY r.created_at)
    INTO out
    FROM (SELECT * FROM h
          UNION ALL
          SELECT * FROM receipts z
          WHERE z.payment_id = ANY (fresh) AND z.stored_at IS NULL) r;
    RETURN json_build_object('taken', cardinality(evs), 'receipts', coalesce(out, '[]'::json));
END
$$;

-- Marks written objects stored: p_items is [{"payment", "sha256", "size"}].
CREATE OR REPLACE FUNCTION fs_receipts_stored(p_items jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    UPDATE receipts y SET stored_at = now(), sha256 = i.j->>'sha256',
                          size = (i.j->>'size')::bigint
    FROM jsonb_array_elements(p_items) AS i(j)
    WHERE y.payment_id = i.j->>'payment' AND y.stored_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN json_build_object('stored', n);
END
$$;

-- GET /v1/payments/{id}/receipt (op receipt_get): the receipt's object,
-- for the server to read, or not_found saying why there is none.
CREATE OR REPLACE FUNCTION fs_receipt_get(p_tenant text, p_payment text,
                                          OUT o text, OUT p text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pay payments;
    rec receipts;
BEGIN
    SELECT * INTO pay FROM payments y WHERE y.id = p_payment AND y.tenant_id = p_tenant;
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such payment: %L', p_payment), 'id');
        RETURN;
    END IF;
    SELECT * INTO rec FROM receipts y WHERE y.payment_id = pay.id;
    IF FOUND AND rec.stored_at IS NOT NULL THEN
        o := 'ok';
        p := json_build_object('number', rec.number, 'key', rec.object_key,
                               'sha256', rec.sha256, 'size', rec.size)::text;
    ELSIF NOT FOUND AND pay.status <> 'succeeded' THEN
        o := 'not_found';
        p := fs_err(format('Payment %s is %s; only a succeeded payment has a receipt.',
                           pay.id, pay.status), 'id');
    ELSE
        o := 'not_found';
        p := fs_err(format('The receipt of payment %s is being made; retry in a moment.',
                           pay.id), 'id');
    END IF;
END
$$;
