-- 0028_api_key_lifecycle: API keys expire, and a rotated key names the key
-- that replaced it (issue 13; docs/operations.md "API keys").
--
-- A key is live while revoked_at is null and expires_at is null or in the
-- future: fs_batch resolves a key's tenant only then (db/functions/batch.sql),
-- so an expired key is refused as an unknown one, as a revoked key is.
-- Rotation (finsys apikey rotate, POST /admin/api/keys/{id}/rotate) makes a
-- new key for the same tenant and gives the old one an expires_at at the end
-- of the overlap: both work until then, and only the new one after.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
ALTER TABLE api_keys ADD COLUMN rotated_to text;
