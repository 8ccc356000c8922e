-- 0029_webhook_secret_sealed: webhook signing secrets are stored sealed
-- (issue 13, docs/operations.md "Secrets at rest"). A secret is sealed with
-- libsodium's secretbox under FINSYS_SECRETS_KEY, a key the database never
-- sees: `finsys server` seals each new endpoint's secret before its row is
-- written, and at start seals the secrets still in clear in the `secret`
-- column (rows made before this migration), leaving it NULL. The worker
-- opens the sealed secret to sign each delivery.
--
-- SQL cannot seal (it has no key), so this migration only makes room:
-- secret_sealed ("sb1:" and the base64 of the nonce and the box), and
-- `secret` nullable, kept for the rows the server has not sealed yet.
ALTER TABLE webhook_endpoints ADD COLUMN IF NOT EXISTS secret_sealed text;
ALTER TABLE webhook_endpoints ALTER COLUMN secret DROP NOT NULL;
ALTER TABLE webhook_endpoints DROP CONSTRAINT IF EXISTS webhook_endpoints_secret_kept;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_secret_kept
    CHECK (secret IS NOT NULL OR secret_sealed IS NOT NULL);

-- The stored answers of endpoint creations held the secret in clear (the
-- idempotency record's payload, replayed for 24 hours): they answer
-- "secret": null from now on, as a replay of a new creation does.
UPDATE idempotency_keys y
SET payload = jsonb_set(y.payload::jsonb, '{secret}', 'null'::jsonb)::text
WHERE y.payload LIKE '%whsec\_%' AND y.payload LIKE '%webhook\_endpoint%'
  AND y.payload::jsonb ->> 'object' = 'webhook_endpoint'
  AND y.payload::jsonb ->> 'secret' IS NOT NULL;
