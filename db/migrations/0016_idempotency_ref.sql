-- 0016_idempotency_ref: an idempotency record of a created payment names the
-- payment instead of holding a copy of its answer (issue 10). The answer was
-- the payment as created, which fs_payment_created_json() renders again,
-- byte for byte, from the payment's row (whose fields as created never
-- change); the copy was about 600 bytes a payment written twice (the record
-- and the write-ahead log). Records made before keep their payload.
ALTER TABLE idempotency_keys ADD COLUMN ref text;
