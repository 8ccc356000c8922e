-- 0014_timeline: a payment's timeline in its own row (issue 10). It was a
-- row per status change in payment_events, read back with a subquery by
-- every rendering of the payment: two more inserts and index entries per
-- settled payment, and the subquery cost more than the rest of the JSON.
-- Now each status change appends its step to payments.timeline in the same
-- (in-place) update that changes the status. The pending step is not
-- stored: it is the payment's created_at.
ALTER TABLE payments ADD COLUMN timeline jsonb NOT NULL DEFAULT '[]';
UPDATE payments y
SET timeline = t.steps
FROM (SELECT e.payment_id,
             jsonb_agg(jsonb_build_object(
                           'status', e.status,
                           'created_at', to_char(e.created_at AT TIME ZONE 'UTC',
                                                 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                       ORDER BY e.seq) AS steps
      FROM payment_events e GROUP BY e.payment_id) t
WHERE y.id = t.payment_id;
DROP TABLE payment_events;
