/*
 * receipt.h: receipts of succeeded payments: the document, its HTML page,
 * and the worker's driver that makes them.
 *
 * A receipt is born in PostgreSQL (db/functions/receipts.sql): the receipts
 * feed reader makes a row with the receipt's facts for each
 * payment.succeeded event. The driver, in the worker, asks for those rows
 * (op receipts_prepare), renders each document here, writes it to the
 * object store off the loop (fs_objects_io_t) and marks it stored (op
 * receipts_stored) with its SHA-256 and size. The server reads the object
 * back for GET /v1/payments/{id}/receipt, checks the hash, and answers the
 * JSON document as it is or its HTML page (fs_receipt_html).
 *
 * The rendering functions are pure (no I/O): they run on any thread.
 */
#ifndef FS_RECEIPT_H
#define FS_RECEIPT_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../objects/objects.h"
#include "../store/store.h"

/* The document's bytes (JSON, pretty-printed, keys in a fixed order) from
 * the facts receipts_prepare hands out, with "amount_formatted" added from
 * the amount's minor units and the currency's exponent (src/money). A new
 * malloc'd NUL-terminated string, *len bytes, that the caller frees; NULL
 * when the facts lack an integer amount or a known currency. */
char *fs_receipt_document(const json_t *facts, size_t *len);

/* The printable HTML page of a document, every string of it escaped. A new
 * malloc'd string the caller frees; NULL when document is not a receipt's
 * JSON or the page would pass FS_RECEIPT_HTML_BYTES_MAX. */
char *fs_receipt_html(const char *document, size_t len, size_t *out_len);

/* Whether an Accept header prefers text/html to application/json (by their
 * q-values, the most specific range counting). A tie, and no header, is
 * JSON: this is an API. */
bool fs_receipt_wants_html(const char *accept);

/* Lower-case hex SHA-256 of data. */
void fs_receipt_sha256_hex(const void *data, size_t len, char out[65]);

/* --- the worker's driver ------------------------------------------------ */

typedef struct fs_receipt_driver fs_receipt_driver_t;

/* Makes receipts every interval_ms on base's loop (at once again after a
 * full round), through store and objects, which must outlive it. */
fs_receipt_driver_t *fs_receipt_driver_new(struct event_base *base, fs_store_t *store,
                                           fs_objects_t *objects, int interval_ms);

/* Stopping is two steps around the store's end: fs_receipt_driver_stop
 * before fs_store_free (so the store's last answers start nothing), and
 * fs_receipt_driver_free after it, once the loop has stopped. A receipt
 * written and not yet marked stays unstored and is written again later. */
void fs_receipt_driver_stop(fs_receipt_driver_t *driver);
void fs_receipt_driver_free(fs_receipt_driver_t *driver);

#endif
