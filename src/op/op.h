/*
 * op.h: the operations the store executes, in one table, as Redis's command
 * table: each op's wire name and the flags that decide how FinSys treats it.
 *
 * An operation item is a JSON object whose "op" names what fs_batch()
 * (db/functions/batch.sql) does with it; the name is the item's wire format
 * and never changes. In C an op is an fs_op_t: fs_api_route() and the
 * internal readers build items with fs_op_item()/fs_op_set(), and the code
 * that decides by op (the server's dispatch, the store's grouping, the
 * cache, the locks) reads it once with fs_op_of() and asks the table, by
 * value or by flag, instead of comparing strings.
 *
 * The table is constant: nothing here allocates but fs_op_item(), and every
 * function may be called from any thread.
 */
#ifndef FS_OP_H
#define FS_OP_H

#include <jansson.h>
#include <stdbool.h>

typedef enum {
    /* The API's (fs_api_route). */
    FS_OP_ACCOUNT_CREATE,
    FS_OP_ACCOUNT_GET,
    FS_OP_ACCOUNT_LIST,
    FS_OP_DEPOSIT,
    FS_OP_PAYMENT_CREATE,
    FS_OP_PAYMENT_GET,
    FS_OP_PAYMENT_LIST,
    FS_OP_PAYMENT_SEARCH_LIST,
    FS_OP_PAYMENT_CANCEL,
    FS_OP_PAYMENT_REVIEW, /* risk review (issue 12, docs/risk.md) */
    FS_OP_RECEIPT_GET,
    FS_OP_REFUND_CREATE,
    FS_OP_REFUND_GET,
    FS_OP_REFUND_LIST,
    FS_OP_EVENT_LIST,
    FS_OP_WEBHOOK_ENDPOINT_CREATE,
    FS_OP_WEBHOOK_ENDPOINT_GET,
    FS_OP_WEBHOOK_ENDPOINT_LIST,
    FS_OP_WEBHOOK_ENDPOINT_DELETE,
    FS_OP_DEAD_LIST,
    FS_OP_DEAD_REPLAY,
    FS_OP_ACCOUNT_ADJUST,
    FS_OP_ACCOUNT_FREEZE,
    FS_OP_ACCOUNT_UNFREEZE,
    FS_OP_ACCOUNT_CLOSE,
    /* Finance (issue 12, db/functions/reports.sql). */
    FS_OP_STATEMENT_GET,
    FS_OP_REPORT_DAILY,
    FS_OP_RECONCILIATION_GET, /* issue 12 */
    FS_OP_EXPORT_CREATE,
    FS_OP_EXPORT_GET,
    FS_OP_EXPORT_DOWNLOAD,
    /* --- risk rules (issue 12, db/functions/risk.sql) --- */
    FS_OP_RISK_RULE_CREATE,
    FS_OP_RISK_RULE_GET,
    FS_OP_RISK_RULE_LIST,
    FS_OP_RISK_RULE_UPDATE,
    FS_OP_RISK_RULE_DELETE,
    FS_OP_RISK_LIST_ENTRY_CREATE,
    FS_OP_RISK_LIST_ENTRY_LIST,
    FS_OP_RISK_LIST_ENTRY_DELETE,
    FS_OP_BALANCE_ALERTS_SET,
    FS_OP_BALANCE_ALERTS_GET,
    /* FinSys's own. */
    FS_OP_PING,
    FS_OP_AUTH,
    FS_OP_ADMIN_AUTH,
    FS_OP_PURGE,
    FS_OP_JOB_START,
    FS_OP_JOB_FINISH,
    FS_OP_JOB_RUN,
    FS_OP_SETTLE_SWEEP,
    FS_OP_SETTLE_CLAIM,
    FS_OP_SETTLE_FINISH,
    FS_OP_SETTLE_DEAD,
    FS_OP_REFUND_CLAIM,
    FS_OP_REFUND_FINISH,
    FS_OP_REFUND_DEAD,
    FS_OP_INDEX_RUN,
    FS_OP_ROLLUP_RUN,
    FS_OP_RECEIPTS_PREPARE,
    FS_OP_RECEIPTS_STORED,
    FS_OP_WEBHOOK_FANOUT,
    FS_OP_WEBHOOK_SWEEP,
    FS_OP_WEBHOOK_CLAIM,
    FS_OP_WEBHOOK_FINISH,
    /* The admin console's (src/admin, db/functions/admin.sql). */
    FS_OP_ADMIN_READ,
    FS_OP_ADMIN_WRITE,
    FS_OP_ADMIN_REFUND,
    FS_OP_ADMIN_CANCEL,
    FS_OP_ADMIN_REVIEW, /* a review queue's decision (docs/risk.md) */
    FS_OP_ADMIN_SESSION,
    FS_OP_ADMIN_LOGIN,
    FS_OP_ADMIN_LOGIN_FINISH,
    FS_OP__COUNT /* also "no such op": what fs_op_lookup() gives an unknown name */
} fs_op_t;

/* The flags of an op (fs_op_info_t.flags). */
enum {
    /* Runs alone, in its own transaction: it reads or changes many rows (a
     * list, a search, a purge, a reader's run), or locks rows fs_batch does
     * not lock for its group (an operator's balance operation). The store
     * never groups it (fs_store_submit). */
    FS_OPF_SOLO = 1u << 0,
    /* After the commit the server publishes the created object's id (the
     * item's "id") to the settlement queue (src/queue). */
    FS_OPF_PUBLISHES = 1u << 1,
    /* src/cache may answer it from Redis: account_get from the account
     * cache; an item with an Idempotency-Key from its replay entry. */
    FS_OPF_CACHEABLE = 1u << 2,
    /* Only an admin API key may do it (403 for a tenant's key). */
    FS_OPF_ADMIN = 1u << 3,
    /* fs_batch locks the account rows it names, in id order (or it locks
     * its own, when SOLO): it moves money or changes an account. */
    FS_OPF_LOCKS_ACCOUNTS = 1u << 4,
    /* Changes nothing. */
    FS_OPF_READ = 1u << 5,
    /* Only FinSys's own code makes it (the server's key checks, the worker,
     * the readers, the jobs), never fs_api_route(). */
    FS_OPF_INTERNAL = 1u << 6,
    /* Carries the request's Idempotency-Key ("idem"): its answer is stored
     * with the key and a retry gets it again. */
    FS_OPF_IDEMPOTENT = 1u << 7,
    /* Runs under a Redis lock, with a fencing token ("fence") that
     * PostgreSQL checks (src/lock): an operator's balance operation under
     * acct:<id>, a job under job:<name>. */
    FS_OPF_FENCED = 1u << 8,
};

typedef struct {
    const char *name; /* the item's "op": db/functions/batch.sql dispatches on it */
    unsigned flags;   /* FS_OPF_* */
} fs_op_info_t;

/* The wire name of op (asserted to be an op). */
const char *fs_op_name(fs_op_t op);

/* The op named name, or FS_OP__COUNT when name is NULL or names none. */
fs_op_t fs_op_lookup(const char *name);

/* The flags of op; 0 for FS_OP__COUNT. */
unsigned fs_op_flags(fs_op_t op);

/* True when op has every flag of flags (FS_OP__COUNT has none). */
bool fs_op_has(fs_op_t op, unsigned flags);

/* The op of item (its "op"), or FS_OP__COUNT. */
fs_op_t fs_op_of(const json_t *item);

/* Sets item's "op" to op's name. */
void fs_op_set(json_t *item, fs_op_t op);

/* A new item {"op": <op's name>}: a new reference the caller owns. */
json_t *fs_op_item(fs_op_t op);

#endif
