-- 0010_request_ids: the id of the API request behind each event (its
-- X-Request-Id, or the one FinSys made), so that one payment can be followed
-- from the API call through the worker's logs to the webhook deliveries,
-- which carry it as X-Request-Id. NULL for events written by a request
-- without one.
ALTER TABLE events ADD COLUMN request_id text;
