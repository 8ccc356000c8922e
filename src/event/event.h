/*
 * event.h: the event log's public face: event ids, the event types, and the
 * checks of GET /v1/events.
 *
 * An event is written by fs_batch() in the transaction that makes the change
 * it tells of (db/migrations/0002_events.sql), and numbered per account: a
 * payment's events and its refunds' belong to the payer (from_account) and
 * carry that account's next sequence number, 1, 2, 3, ... with no gap, so a
 * receiver can see that it missed one and fetch it with
 * GET /v1/events?account=.
 */
#ifndef FS_EVENT_H
#define FS_EVENT_H

#include <jansson.h>
#include <stdbool.h>

#include "../core/core.h"

/* Event ids are "evt_" and the event's position in the log. */
#define FS_EVENT_ID_PREFIX "evt"

/* Every event type, NULL-terminated. */
extern const char *const fs_event_types[];
/* The same, as text for errors. */
#define FS_EVENT_TYPES_TEXT                                                                    \
    "payment.created, payment.succeeded, payment.failed, payment.canceled, refund.created, "  \
    "refund.succeeded, refund.failed, payment.flagged, payment.blocked, "                     \
    "payment.review_approved, payment.review_rejected, account.balance_below, "               \
    "account.balance_above"

/* True when type is one of fs_event_types. */
bool fs_event_type_known(const char *type);

/* GET /v1/events?type=&account=&limit=&starting_after=: fills item. */
bool fs_event_parse_list(const char *query, json_t *item, fs_error_t *err);

#endif
