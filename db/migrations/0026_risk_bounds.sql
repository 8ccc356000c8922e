-- 0026_risk_bounds: what fs_batch needs of the risk rules, made when they
-- change instead of in every group (docs/risk.md "What a rule costs").
--
-- Each tenant's live risk rules summed up as the bounds
-- inside which none of them can match (docs/risk.md "What a rule costs").
-- fs_batch decides a payment inside its tenant's bounds with one expression
-- and runs the rules one by one only outside them; the bounds depend on the
-- rules alone, so they are made when the rules change (by the triggers below,
-- whoever changes them: the API, psql, a fixture), not in every group.
--
-- fs_batch also checks that `rules` equals the number of live rules it
-- loaded: bounds made from other rules (a TRUNCATE, which fires no trigger
-- here) send the tenant's payments down the rule-by-rule path, never past a
-- rule.
CREATE TABLE risk_rule_bounds (
    tenant_id  text PRIMARY KEY REFERENCES tenants (id),
    rules      integer NOT NULL,   -- live rules summed up here
    meta       boolean NOT NULL,   -- some metadata_equals rule
    list       boolean NOT NULL,   -- some listed rule
    curn       integer NOT NULL,   -- currency_not_allowed rules
    curok      jsonb,              -- {currency: true} for those all of them allow
    amax       jsonb,              -- {currency: lowest amount_above amount}
    namax      jsonb,              -- {currency: lowest new_account_amount amount}
    nage       interval,           -- the longest new_account_amount account age
    cm         bigint,             -- lowest velocity_count count, windows <= 60 minutes
    ch         bigint,             -- ... windows over 60 minutes
    sm         jsonb,              -- {currency: lowest velocity_amount amount}, <= 60 minutes
    sh         jsonb               -- ... over 60 minutes
);

-- The triggers' function: fs_risk_bounds_refresh (db/functions/risk.sql)
-- remakes the rows of the tenants whose rules the statement changed.
CREATE FUNCTION fs_risk_rules_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fs_risk_bounds_refresh(ARRAY(SELECT DISTINCT c.tenant_id FROM changed c));
    RETURN NULL;
END
$$;
CREATE TRIGGER risk_rules_inserted AFTER INSERT ON risk_rules
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION fs_risk_rules_changed();
CREATE TRIGGER risk_rules_updated AFTER UPDATE ON risk_rules
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION fs_risk_rules_changed();
CREATE TRIGGER risk_rules_deleted AFTER DELETE ON risk_rules
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION fs_risk_rules_changed();

-- The lists naming each account (',list,list,'; NULL: on none), in its own
-- row, which every payment locks and reads anyway: a `listed` rule looks the
-- payer and payee up there instead of probing risk_list_entries for every
-- account of every group. Kept by the triggers below (an entry names an
-- account by id; ids are made by FinSys, so no account can be made after an
-- entry that names it).
ALTER TABLE accounts ADD COLUMN risk_lists text;
UPDATE accounts a SET risk_lists = x.lists
FROM (SELECT l.value, l.tenant_id, ',' || string_agg(DISTINCT l.list, ',') || ',' AS lists
      FROM risk_list_entries l GROUP BY l.value, l.tenant_id) x
WHERE a.id = x.value AND a.tenant_id = x.tenant_id;

CREATE FUNCTION fs_risk_list_entries_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fs_risk_lists_refresh(ARRAY(SELECT DISTINCT c.value FROM changed c));
    RETURN NULL;
END
$$;
CREATE FUNCTION fs_risk_list_entries_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fs_risk_lists_refresh(ARRAY(SELECT c.value FROM changed c
                                        UNION SELECT g.value FROM gone g));
    RETURN NULL;
END
$$;
CREATE TRIGGER risk_list_entries_inserted AFTER INSERT ON risk_list_entries
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fs_risk_list_entries_changed();
CREATE TRIGGER risk_list_entries_deleted AFTER DELETE ON risk_list_entries
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fs_risk_list_entries_changed();
CREATE TRIGGER risk_list_entries_updated AFTER UPDATE ON risk_list_entries
    REFERENCING OLD TABLE AS gone NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION fs_risk_list_entries_updated();
