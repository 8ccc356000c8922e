/*
 * risk.h: the management API of risk rules, risk lists and balance alert
 * thresholds (docs/risk.md): checks of its request bodies and queries, each
 * turned into an operation item for the store (db/functions/risk.sql).
 *
 * Pure: no I/O, no database. Rules are decided by the write path
 * (db/functions/batch.sql), never here; this module only guarantees that
 * what is stored is a rule that path can read: every kind's params checked
 * exactly, defaults filled in, nothing unknown kept. An error names the
 * parameter at fault ("kind", "params.window_minutes", "below").
 *
 * Items own what they hold; the caller owns the item. The param of an error
 * may point into a buffer of the calling thread, valid until its next call.
 */
#ifndef FS_RISK_H
#define FS_RISK_H

#include <jansson.h>
#include <stdbool.h>

#include "../core/core.h"

#define FS_RISK_RULE_ID_PREFIX "rr"
#define FS_RISK_LIST_ENTRY_ID_PREFIX "rle"

/* The list a list entry goes on, and a `listed` rule looks in, when none is
 * named. */
#define FS_RISK_LIST_DEFAULT "blocklist"

/* POST /v1/risk_rules {name?, kind, params, action, mode?, score?}: sets
 * item's "id" (a new rr_...), "max" (FS_RISK_RULES_MAX) and "rule": {name,
 * kind, params (exactly the kind's, defaults filled), action, mode (active
 * by default), score (by action by default: block 90, review 50, allow 0)}.
 * Checked in this order: unknown fields, kind, params, action, mode, score,
 * name. */
bool fs_risk_parse_rule_create(const json_t *body, json_t *item, fs_error_t *err);

/* PATCH /v1/risk_rules/{id} {name?, params?, action?, mode?, score?, kind?}:
 * at least one field. Sets item's "rule" with the fields given (name may be
 * null: no name). A rule's kind is fixed: "kind" may only restate it (the
 * store answers 400 naming kind otherwise), and params are checked against
 * it. Without "kind", params are checked against every kind, because only
 * the store knows the rule's: "rule" gets "params_by_kind" {kind: params}
 * for each kind they are valid for and "params_errors" {kind: {message,
 * param}} for the others, and the store takes the rule's. A field left out
 * keeps its value (score too, when the action changes). */
bool fs_risk_parse_rule_update(const json_t *body, json_t *item, fs_error_t *err);

/* The params of a rule of kind (one of the seven of docs/risk.md), checked:
 * *out gets a new object of exactly the kind's fields, defaults filled in.
 * NULL params (absent) is as {}. False with err naming "params.<field>" (or
 * "params", or "kind" for an unknown kind). */
bool fs_risk_parse_params(const char *kind, const json_t *params, json_t **out, fs_error_t *err);

/* True when name is a list's name: 1..FS_RISK_LIST_NAME_LEN_MAX of [a-z0-9_]. */
bool fs_risk_list_name_valid(const char *name);

/* POST /v1/risk_lists {list?, value, reason?}: sets item's "id" (a new
 * rle_...), "max" (FS_RISK_LIST_ENTRIES_MAX) and "entry": {list (default
 * FS_RISK_LIST_DEFAULT), value (an account id), reason (or null)}. Whether
 * the account is the tenant's is the store's to say (404 naming value). */
bool fs_risk_parse_list_entry_create(const json_t *body, json_t *item, fs_error_t *err);

/* GET /v1/risk_lists?list=&limit=&starting_after=: as every list query
 * (limit, after), and "list" when given, a list's name. */
bool fs_risk_parse_list_query(const char *query, json_t *item, fs_error_t *err);

/* POST /v1/accounts/{id}/balance_alerts {below?, above?}: each an integer
 * >= 0 or null (no threshold); at least one of them given; below < above
 * when both are set. A key left out is null. Sets item's "below" and
 * "above" (integers or null). */
bool fs_risk_parse_balance_alerts(const json_t *body, json_t *item, fs_error_t *err);

#endif
