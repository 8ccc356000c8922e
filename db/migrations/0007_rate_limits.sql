-- 0007_rate_limits: a tenant's own rate limits (src/ratelimit). NULL is the
-- configured default (FINSYS_RATE_LIMIT_PER_S, FINSYS_RATE_LIMIT_BURST); set
-- with `finsys tenant limits`. Each of the tenant's API keys gets this rate on
-- its own; the bound matches FS_RATE_LIMIT_MAX in src/core/limits.h.

ALTER TABLE tenants
    ADD COLUMN rate_per_s integer CHECK (rate_per_s BETWEEN 1 AND 1000000),
    ADD COLUMN rate_burst integer CHECK (rate_burst BETWEEN 1 AND 1000000);
