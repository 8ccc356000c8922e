-- 0015_payment_fks: the payments' foreign keys to accounts go (issue 10), as
-- those of the journal and the events did before (docs/architecture.md,
-- "What costs what"). fs_batch() inserts a payment only after it has locked
-- and checked both accounts, and accounts are never deleted (they close), so
-- the checks could never fail; each was a trigger and a KEY SHARE lookup of
-- a row the group already holds FOR UPDATE, two per payment.
ALTER TABLE payments DROP CONSTRAINT payments_from_account_fkey;
ALTER TABLE payments DROP CONSTRAINT payments_to_account_fkey;
