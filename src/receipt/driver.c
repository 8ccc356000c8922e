/*
 * driver.c: the worker's receipt maker (see receipt.h).
 *
 * One round at a time, on the worker's loop: prepare (op receipts_prepare,
 * alone in its transaction) -> render each document and hash it on the loop
 * (a few microseconds each) -> write them on the object I/O thread -> mark
 * the written ones stored (op receipts_stored) -> the next round, at once
 * after a full one, else after interval_ms. A receipt whose write or mark
 * fails stays unstored, and receipts_prepare hands it out again after
 * FS_RECEIPT_RETRY_AFTER_S.
 *
 * Ownership: a write_t is made for each put and freed in its callback; the
 * round's `marks` array is the driver's until it is handed to the store.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../op/op.h"
#include "receipt.h"

struct fs_receipt_driver {
    fs_store_t *store;
    fs_objects_io_t *io[FS_RECEIPT_WRITERS]; /* writes of a round are spread over them */
    unsigned next_io;
    struct event *timer;
    int interval_ms;
    bool stopping;
    /* the round in progress */
    json_t *marks;  /* [{payment, sha256, size}] of the objects written */
    int writing;    /* puts not yet answered */
    bool full;      /* the round took a full batch: another follows at once */
    uint64_t made; /* receipts stored since start */
};

typedef struct {
    fs_receipt_driver_t *d;
    char payment[FS_ID_LEN_MAX + 1];
    char sha256[65];
    size_t size;
} write_t;

static void next_round(fs_receipt_driver_t *d)
{
    if (d->stopping) return;
    int ms = d->full ? 0 : d->interval_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(d->timer, &tv);
}

static void on_marked(void *arg, const fs_store_result_t *r)
{
    fs_receipt_driver_t *d = arg;
    if (d->stopping) return;
    if (strcmp(r->outcome, "ok") != 0) {
        fs_log(FS_LOG_WARN, "receipt", "marking receipts stored failed (%s); they are "
                                       "written again later", r->outcome);
    } else {
        json_t *p = json_loads(r->payload, 0, NULL);
        d->made += (uint64_t)json_integer_value(json_object_get(p, "stored"));
        json_decref(p);
    }
    next_round(d);
}

/* Every write of the round answered: mark the written ones. */
static void round_written(fs_receipt_driver_t *d)
{
    json_t *marks = d->marks;
    d->marks = NULL;
    if (json_array_size(marks) == 0) {
        json_decref(marks);
        return next_round(d);
    }
    fs_log(FS_LOG_DEBUG, "receipt", "%zu receipts written", json_array_size(marks));
    fs_store_submit(
        d->store,
        json_pack("{s:s, s:o}", "op", fs_op_name(FS_OP_RECEIPTS_STORED), "receipts", marks),
        on_marked, d);
}

static void on_written(void *arg, fs_objects_status_t st, char *data, size_t len)
{
    write_t *w = arg;
    fs_receipt_driver_t *d = w->d;
    (void)data;
    (void)len;
    d->writing--;
    if (st == FS_OBJECTS_OK) {
        json_array_append_new(d->marks, json_pack("{s:s, s:s, s:I}", "payment", w->payment,
                                                  "sha256", w->sha256, "size",
                                                  (json_int_t)w->size));
    } else if (st != FS_OBJECTS_UNAVAILABLE) {
        fs_log(FS_LOG_ERROR, "receipt", "receipt of %s not written: %s; retried later",
               w->payment, fs_objects_status_name(st));
    }
    free(w);
    if (d->writing == 0 && !d->stopping) round_written(d);
}

/* Renders one receipt and queues its write; false if it was not queued. */
static bool write_one(fs_receipt_driver_t *d, const json_t *r)
{
    const char *payment = json_string_value(json_object_get(r, "payment"));
    const char *key = json_string_value(json_object_get(r, "key"));
    size_t len;
    char *doc = fs_receipt_document(json_object_get(r, "document"), &len);
    if (payment == NULL || key == NULL || doc == NULL
        || strlen(payment) > FS_ID_LEN_MAX) {
        fs_log(FS_LOG_ERROR, "receipt", "receipt of %s cannot be rendered; its facts are "
                                        "incomplete", payment != NULL ? payment : "?");
        free(doc);
        return false;
    }
    write_t *w = calloc(1, sizeof(*w));
    FS_ASSERT(w != NULL);
    w->d = d;
    snprintf(w->payment, sizeof(w->payment), "%s", payment);
    fs_receipt_sha256_hex(doc, len, w->sha256);
    w->size = len;
    fs_objects_io_t *io = d->io[d->next_io++ % FS_RECEIPT_WRITERS];
    int rc = fs_objects_io_put(io, key, doc, len, on_written, w);
    free(doc);
    if (rc != 0) {
        free(w);
        return false;
    }
    d->writing++;
    return true;
}

static void on_prepared(void *arg, const fs_store_result_t *r)
{
    fs_receipt_driver_t *d = arg;
    if (d->stopping) return;
    d->full = false;
    if (strcmp(r->outcome, "ok") != 0) {
        fs_log(FS_LOG_WARN, "receipt", "receipts_prepare: %s", r->outcome);
        return next_round(d);
    }
    json_t *p = json_loads(r->payload, 0, NULL);
    json_t *list = json_object_get(p, "receipts");
    d->full = json_integer_value(json_object_get(p, "taken")) >= FS_RECEIPT_BATCH_MAX
              || json_array_size(list) >= FS_RECEIPT_BATCH_MAX;
    d->marks = json_array();
    size_t i;
    json_t *rec;
    /* Counted before any put can answer: a put answers on the loop, later.
     * Corked, so that each writer takes its share of the round as one batch
     * (one flush for all of it). */
    for (int k = 0; k < FS_RECEIPT_WRITERS; k++) fs_objects_io_cork(d->io[k]);
    json_array_foreach(list, i, rec) write_one(d, rec);
    for (int k = 0; k < FS_RECEIPT_WRITERS; k++) fs_objects_io_uncork(d->io[k]);
    json_decref(p);
    if (d->writing == 0) round_written(d);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    fs_receipt_driver_t *d = arg;
    (void)fd;
    (void)what;
    fs_store_submit(d->store,
                    json_pack("{s:s, s:i, s:i}", "op", fs_op_name(FS_OP_RECEIPTS_PREPARE), "max",
                              FS_RECEIPT_BATCH_MAX, "retry_after_s", FS_RECEIPT_RETRY_AFTER_S),
                    on_prepared, d);
}

fs_receipt_driver_t *fs_receipt_driver_new(struct event_base *base, fs_store_t *store,
                                           fs_objects_t *objects, int interval_ms)
{
    fs_receipt_driver_t *d = calloc(1, sizeof(*d));
    FS_ASSERT(d != NULL);
    d->store = store;
    d->interval_ms = interval_ms;
    for (int i = 0; i < FS_RECEIPT_WRITERS; i++) d->io[i] = fs_objects_io_new(base, objects);
    d->timer = evtimer_new(base, on_timer, d);
    FS_ASSERT(d->timer != NULL);
    next_round(d);
    return d;
}

void fs_receipt_driver_stop(fs_receipt_driver_t *d)
{
    if (d == NULL) return;
    d->stopping = true;
    event_del(d->timer);
}

void fs_receipt_driver_free(fs_receipt_driver_t *d)
{
    if (d == NULL) return;
    FS_ASSERT(d->stopping);
    for (int i = 0; i < FS_RECEIPT_WRITERS; i++)
        fs_objects_io_free(d->io[i]); /* answers the writes still queued */
    json_decref(d->marks);
    event_free(d->timer);
    fs_log(FS_LOG_INFO, "receipt", "%llu receipts made", (unsigned long long)d->made);
    free(d);
}
