-- 0018_drop_receipt_facts: fs_receipt_facts() is gone from
-- db/functions/receipts.sql (issue 10: fs_receipts_prepare joins the facts in
-- one statement). db/functions only creates or replaces, so a database made
-- before keeps the old function until it is dropped here.
DROP FUNCTION IF EXISTS fs_receipt_facts(events, text);
