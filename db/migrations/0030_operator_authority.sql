-- 0030_operator_authority: operator authority apart from tenant keys, and
-- deposits as a tenant setting (issue 13; docs/operations.md "Operator
-- authority and deposits").
--
-- An API key's scope says what it is: 'tenant' (the /v1 API of its tenant,
-- and nothing of /admin/api) or an operator key, 'operator:<role>', with
-- the authority of a staff user of that role on /admin/api (docs/console.md:
-- viewer reads; support refunds, cancels, reviews and replays dead letters;
-- finance freezes, closes and adjusts, the actions that create money;
-- admin manages tenants, keys and staff) and nothing of /v1. Authority comes
-- from the scope alone: is_admin is kept for old readers (it is true exactly
-- for operator keys written by finsys and the admin API) and grants nothing;
-- a tenant key whose is_admin was set by hand is refused on /admin/api.
-- The key's tenant_id stays (the tenant it was made under), never used to
-- widen or narrow an operator's reach.
ALTER TABLE api_keys ADD COLUMN scope text NOT NULL DEFAULT 'tenant'
    CHECK (scope IN ('tenant', 'operator:viewer', 'operator:support', 'operator:finance',
                     'operator:admin'));
-- The admin keys of before (finsys apikey create --admin) keep working as
-- operator keys with full authority: deployments keep their tools.
UPDATE api_keys SET scope = 'operator:admin' WHERE is_admin;

-- Deposits by a tenant's own key (POST /v1/accounts/{id}/deposits) create
-- money: in production it comes from a funding flow or an operator (an
-- adjustment, audited), not from any key. Off for a new tenant; on for the
-- tenants of before this migration, so that a deployment keeps working
-- (turn it off with finsys tenant deposits --tenant NAME off). make run's
-- and the tests' tenants turn it on (scripts/run.sh, scripts/test.sh).
ALTER TABLE tenants ADD COLUMN deposits_enabled boolean NOT NULL DEFAULT false;
UPDATE tenants SET deposits_enabled = true;
