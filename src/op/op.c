/*
 * op.c: the table of operations (see op.h). One row per op: its wire name
 * and its flags, read from what the code and db/functions/batch.sql do with
 * it. A new op is a row here, a case in fs_batch(), and whatever builds it;
 * tests/unit/test_op.c checks that the table and batch.sql's dispatch name
 * the same ops.
 */
#include "op.h"

#include <string.h>

#include "../core/core.h"

enum {
    SOLO = FS_OPF_SOLO,
    PUBLISHES = FS_OPF_PUBLISHES,
    CACHEABLE = FS_OPF_CACHEABLE,
    ADMIN = FS_OPF_ADMIN,
    LOCKS = FS_OPF_LOCKS_ACCOUNTS,
    READ = FS_OPF_READ,
    INTERNAL = FS_OPF_INTERNAL,
    IDEMPOTENT = FS_OPF_IDEMPOTENT,
    FENCED = FS_OPF_FENCED,
};

static const fs_op_info_t ops[FS_OP__COUNT] = {
    /* POST: each carries an Idempotency-Key, and src/cache looks its replay
     * up in Redis before the store is asked. */
    [FS_OP_ACCOUNT_CREATE] = {"account_create", IDEMPOTENT | CACHEABLE},
    [FS_OP_DEPOSIT] = {"deposit", IDEMPOTENT | CACHEABLE | LOCKS},
    [FS_OP_PAYMENT_CREATE] = {"payment_create", IDEMPOTENT | CACHEABLE | LOCKS | PUBLISHES},
    [FS_OP_PAYMENT_CANCEL] = {"payment_cancel", IDEMPOTENT | CACHEABLE | LOCKS},
    /* A review of a payment its risk rules held (docs/risk.md): an approval
     * is published by the server (on_reviewed), not by PUBLISHES (its
     * answer is 200, and only an approval goes to settlement). */
    [FS_OP_PAYMENT_REVIEW] = {"payment_review", IDEMPOTENT | CACHEABLE | LOCKS},
    [FS_OP_REFUND_CREATE] = {"refund_create", IDEMPOTENT | CACHEABLE | LOCKS | PUBLISHES},
    [FS_OP_WEBHOOK_ENDPOINT_CREATE] = {"webhook_endpoint_create", IDEMPOTENT | CACHEABLE},
    /* A CSV made by the worker's export thread (src/export); 202. */
    [FS_OP_EXPORT_CREATE] = {"export_create", IDEMPOTENT | CACHEABLE},
    /* Clears dead-letter marks of any number of payments; the server
     * publishes the ids its answer names (not PUBLISHES: not the item's id). */
    [FS_OP_DEAD_REPLAY] = {"dead_replay", IDEMPOTENT | CACHEABLE | ADMIN | SOLO},
    /* The operators' balance operations: under the account's Redis lock,
     * fenced, alone (they lock their own rows), never from the cache. */
    [FS_OP_ACCOUNT_ADJUST] = {"account_adjust", IDEMPOTENT | ADMIN | SOLO | LOCKS | FENCED},
    [FS_OP_ACCOUNT_FREEZE] = {"account_freeze", IDEMPOTENT | ADMIN | SOLO | LOCKS | FENCED},
    [FS_OP_ACCOUNT_UNFREEZE] = {"account_unfreeze", IDEMPOTENT | ADMIN | SOLO | LOCKS | FENCED},
    [FS_OP_ACCOUNT_CLOSE] = {"account_close", IDEMPOTENT | ADMIN | SOLO | LOCKS | FENCED},

    /* GET of one object; account_get is answered from Redis when cached. */
    [FS_OP_ACCOUNT_GET] = {"account_get", READ | CACHEABLE},
    [FS_OP_PAYMENT_GET] = {"payment_get", READ},
    [FS_OP_REFUND_GET] = {"refund_get", READ},
    [FS_OP_WEBHOOK_ENDPOINT_GET] = {"webhook_endpoint_get", READ},
    /* The row names the receipt's object; the server reads the object. */
    [FS_OP_RECEIPT_GET] = {"receipt_get", READ},
    [FS_OP_EXPORT_GET] = {"export_get", READ},
    /* The row names the export's object; the server streams the file. */
    [FS_OP_EXPORT_DOWNLOAD] = {"export_download", READ},
    /* DELETE: deleting twice deletes once; no Idempotency-Key. */
    [FS_OP_WEBHOOK_ENDPOINT_DELETE] = {"webhook_endpoint_delete", 0},

    /* Lists read up to a page: alone, they neither hold a group's locks
     * while they read nor make a group's result huge. */
    [FS_OP_ACCOUNT_LIST] = {"account_list", READ | SOLO},
    [FS_OP_PAYMENT_LIST] = {"payment_list", READ | SOLO},
    [FS_OP_PAYMENT_SEARCH_LIST] = {"payment_search_list", READ | SOLO},
    [FS_OP_REFUND_LIST] = {"refund_list", READ | SOLO},
    [FS_OP_EVENT_LIST] = {"event_list", READ | SOLO},
    [FS_OP_WEBHOOK_ENDPOINT_LIST] = {"webhook_endpoint_list", READ | SOLO},
    [FS_OP_DEAD_LIST] = {"dead_list", READ | SOLO | ADMIN},
    /* Finance (issue 12): a statement walks an account's entries of a
     * period, a report reads up to a year of rollups: alone, as lists. */
    [FS_OP_STATEMENT_GET] = {"statement_get", READ | SOLO},
    [FS_OP_REPORT_DAILY] = {"report_daily", READ | SOLO},
    /* A day's reconciliation (issue 12): one object of at most
     * FS_RECON_BREAKS_SHOWN_MAX breaks, read from an index; not a list. */
    [FS_OP_RECONCILIATION_GET] = {"reconciliation_get", READ},

    /* --- risk rules (issue 12, db/functions/risk.sql) ---
     * Every one alone, reads included: fs_batch loads a group's rules once
     * (the write path decides the group's payments against them) and keeps
     * its accounts' state in arrays it writes back at the end, alert_side
     * included; a rule or threshold changed inside a group would be missed
     * by, or overwritten by, the group's payments. Alone, a change commits
     * between groups, and the group after it sees it. balance_alerts_set
     * locks its account's row itself (SELECT ... FOR UPDATE). */
    [FS_OP_RISK_RULE_CREATE] = {"risk_rule_create", IDEMPOTENT | CACHEABLE | SOLO},
    [FS_OP_RISK_RULE_UPDATE] = {"risk_rule_update", IDEMPOTENT | CACHEABLE | SOLO},
    [FS_OP_RISK_RULE_DELETE] = {"risk_rule_delete", SOLO},
    [FS_OP_RISK_RULE_GET] = {"risk_rule_get", READ | SOLO},
    [FS_OP_RISK_RULE_LIST] = {"risk_rule_list", READ | SOLO},
    [FS_OP_RISK_LIST_ENTRY_CREATE] = {"risk_list_entry_create", IDEMPOTENT | CACHEABLE | SOLO},
    [FS_OP_RISK_LIST_ENTRY_DELETE] = {"risk_list_entry_delete", SOLO},
    [FS_OP_RISK_LIST_ENTRY_LIST] = {"risk_list_entry_list", READ | SOLO},
    [FS_OP_BALANCE_ALERTS_SET] = {"balance_alerts_set", IDEMPOTENT | CACHEABLE | SOLO | LOCKS},
    [FS_OP_BALANCE_ALERTS_GET] = {"balance_alerts_get", READ | SOLO},

    /* The server's: readiness, and the key checks of rate limits and of
     * rejected requests. */
    [FS_OP_PING] = {"ping", INTERNAL | READ},
    [FS_OP_AUTH] = {"auth", INTERNAL | READ},
    [FS_OP_ADMIN_AUTH] = {"admin_auth", INTERNAL | READ | ADMIN},
    /* The purge of expired idempotency keys: under PostgreSQL's advisory
     * lock (purge) or Redis's job:purge, fenced (job_*; job_start and
     * job_finish are finsys job's, each in its own transaction). */
    [FS_OP_PURGE] = {"purge", INTERNAL | SOLO},
    [FS_OP_JOB_START] = {"job_start", INTERNAL | SOLO | FENCED},
    [FS_OP_JOB_FINISH] = {"job_finish", INTERNAL | SOLO | FENCED},
    [FS_OP_JOB_RUN] = {"job_run", INTERNAL | SOLO | FENCED},
    /* The settler's (src/worker): claims and dead letters change a payment
     * or refund row; a finish moves the money. */
    [FS_OP_SETTLE_SWEEP] = {"settle_sweep", INTERNAL | SOLO},
    [FS_OP_SETTLE_CLAIM] = {"settle_claim", INTERNAL},
    [FS_OP_SETTLE_FINISH] = {"settle_finish", INTERNAL | LOCKS},
    [FS_OP_SETTLE_DEAD] = {"settle_dead", INTERNAL},
    [FS_OP_REFUND_CLAIM] = {"refund_claim", INTERNAL},
    [FS_OP_REFUND_FINISH] = {"refund_finish", INTERNAL | LOCKS},
    [FS_OP_REFUND_DEAD] = {"refund_dead", INTERNAL},
    /* The readers' runs, each over a feed (src/search, src/receipt,
     * src/notify); a delivery's claim and finish are single rows. */
    [FS_OP_INDEX_RUN] = {"index_run", INTERNAL | SOLO},
    [FS_OP_ROLLUP_RUN] = {"rollup_run", INTERNAL | SOLO},
    [FS_OP_RECEIPTS_PREPARE] = {"receipts_prepare", INTERNAL | SOLO},
    [FS_OP_RECEIPTS_STORED] = {"receipts_stored", INTERNAL | SOLO},
    [FS_OP_WEBHOOK_FANOUT] = {"webhook_fanout", INTERNAL | SOLO},
    [FS_OP_WEBHOOK_SWEEP] = {"webhook_sweep", INTERNAL | SOLO},
    [FS_OP_WEBHOOK_CLAIM] = {"webhook_claim", INTERNAL},
    [FS_OP_WEBHOOK_FINISH] = {"webhook_finish", INTERNAL},

    /* The admin console's (src/admin): built by fs_admin_route() after the
     * server authenticated the actor, never by fs_api_route(). Reads and
     * writes run alone; a refund is published as /v1's are (its "id"). */
    [FS_OP_ADMIN_READ] = {"admin_read", READ | SOLO},
    [FS_OP_ADMIN_WRITE] = {"admin_write", SOLO},
    [FS_OP_ADMIN_REFUND] = {"admin_refund", SOLO | LOCKS | PUBLISHES},
    [FS_OP_ADMIN_CANCEL] = {"admin_cancel", SOLO | LOCKS},
    /* A payment in review approved or rejected (docs/risk.md): fs_batch's
     * payment_review nested as admin_cancel's payment_cancel is. Not
     * PUBLISHES: the server publishes an approved payment (its answer's
     * "id" when it is pending again), not the item's "id". */
    [FS_OP_ADMIN_REVIEW] = {"admin_review", SOLO | LOCKS},
    /* The server's checks of a session's cookie and of a login. */
    [FS_OP_ADMIN_SESSION] = {"admin_session", INTERNAL},
    [FS_OP_ADMIN_LOGIN] = {"admin_login", INTERNAL | READ},
    [FS_OP_ADMIN_LOGIN_FINISH] = {"admin_login_finish", INTERNAL | SOLO},
};

const char *fs_op_name(fs_op_t op)
{
    FS_ASSERT((int)op >= 0 && op < FS_OP__COUNT && ops[op].name != NULL);
    return ops[op].name;
}

fs_op_t fs_op_lookup(const char *name)
{
    if (name == NULL) return FS_OP__COUNT;
    /* A scan: 69 rows, most told apart at the first byte. */
    for (int i = 0; i < FS_OP__COUNT; i++) {
        if (ops[i].name[0] == name[0] && strcmp(ops[i].name, name) == 0) return (fs_op_t)i;
    }
    return FS_OP__COUNT;
}

unsigned fs_op_flags(fs_op_t op)
{
    return (int)op >= 0 && op < FS_OP__COUNT ? ops[op].flags : 0;
}

bool fs_op_has(fs_op_t op, unsigned flags)
{
    return flags != 0 && (fs_op_flags(op) & flags) == flags;
}

fs_op_t fs_op_of(const json_t *item)
{
    return fs_op_lookup(json_string_value(json_object_get(item, "op")));
}

void fs_op_set(json_t *item, fs_op_t op)
{
    json_object_set_new(item, "op", json_string(fs_op_name(op)));
}

json_t *fs_op_item(fs_op_t op)
{
    json_t *item = json_object();
    FS_ASSERT(item != NULL);
    fs_op_set(item, op);
    return item;
}
