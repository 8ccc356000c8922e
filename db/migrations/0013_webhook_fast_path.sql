-- 0013_webhook_fast_path: the fan-out now leases the deliveries it makes to
-- the notifier and returns what their POSTs need (issue 10), so
-- fs_webhook_fanout takes two more arguments (db/functions/webhooks.sql);
-- the one-argument version goes.
DROP FUNCTION IF EXISTS fs_webhook_fanout(int);
