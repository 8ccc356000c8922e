/*
 * driver.c: the worker's receipt maker (see receipt.h).
 *
 * Rounds, on the worker's loop: prepare (op receipts_prepare, alone in its
 * transaction) -> render each document and hash it on the loop (a few
 * microseconds each) -> write them on the object I/O threads -> mark the
 * written ones stored (op receipts_stored). The next round is prepared as
 * soon as one's writes are queued, at once after a full one, else after
 * interval_ms, with at most FS_RECEIPT_ROUNDS_MAX rounds writing or marking:
 * a round's writes wait for flushes of the disk (tens to hundreds of
 * milliseconds under load), and the writes of the rounds behind it join the
 * next batch meanwhile, so the batches grow with the backlog. A receipt whose
 * write or mark fails stays unstored, and receipts_prepare hands it out again
 * after FS_RECEIPT_RETRY_AFTER_S.
 *
 * Ownership: a round_t is made by on_prepared and freed once its mark is
 * answered (or, when the driver stops, once its writes are); a write_t is
 * made for each put and freed in its callback; a round's `marks` array is
 * the round's until it is handed to the store.
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
    bool preparing; /* a receipts_prepare is out */
    bool full;      /* the last round took a full batch: another follows at once */
    int rounds;     /* rounds writing or marking */
    uint64_t made;  /* receipts stored since start */
};

typedef struct {
    fs_receipt_driver_t *d;
    json_t *marks; /* [{payment, sha256, size}] of the objects written */
    int writing;   /* puts not yet answered */
} round_t;

typedef struct {
    round_t *r;
    char payment[FS_ID_LEN_MAX + 1];
    char sha256[65];
    size_t size;
} write_t;

/* The next prepare, unless one is out, one is due already, or enough
 * rounds are in flight (the last one to end calls this again). */
static void schedule(fs_receipt_driver_t *d)
{
    if (d->stopping || d->preparing || d->rounds >= FS_RECEIPT_ROUNDS_MAX) return;
    if (evtimer_pending(d->timer, NULL)) return;
    int ms = d->full ? 0 : d->interval_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(d->timer, &tv);
}

static void round_end(round_t *r)
{
    fs_receipt_driver_t *d = r->d;
    json_decref(r->marks);
    free(r);
    d->rounds--;
    schedule(d);
}

static void on_marked(void *arg, const fs_store_result_t *res)
{
    round_t *r = arg;
    fs_receipt_driver_t *d = r->d;
    if (strcmp(res->outcome, "ok") != 0) {
        fs_log(FS_LOG_WARN, "receipt", "marking receipts stored failed (%s); they are "
                                       "written again later", res->outcome);
    } else {
        json_t *p = json_loads(res->payload, 0, NULL);
        d->made += (uint64_t)json_integer_value(json_object_get(p, "stored"));
        json_decref(p);
    }
    round_end(r);
}

/* Every write of the round answered: mark the written ones. */
static void round_written(round_t *r)
{
    if (json_array_size(r->marks) == 0 || r->d->stopping) {
        round_end(r);
        return;
    }
    fs_log(FS_LOG_DEBUG, "receipt", "%zu receipts written", json_array_size(r->marks));
    json_t *marks = r->marks;
    r->marks = NULL;
    fs_store_submit(r->d->store,
                    json_pack("{s:s, s:o}", "op", fs_op_name(FS_OP_RECEIPTS_STORED), "receipts",
                              marks),
                    on_marked, r);
}

static void on_written(void *arg, fs_objects_status_t st, char *data, size_t len)
{
    write_t *w = arg;
    round_t *r = w->r;
    (void)data;
    (void)len;
    r->writing--;
    if (st == FS_OBJECTS_OK) {
        json_array_append_new(r->marks, json_pack("{s:s, s:s, s:I}", "payment", w->payment,
                                                  "sha256", w->sha256, "size",
                                                  (json_int_t)w->size));
    } else if (st != FS_OBJECTS_UNAVAILABLE) {
        fs_log(FS_LOG_ERROR, "receipt", "receipt of %s not written: %s; retried later",
               w->payment, fs_objects_status_name(st));
    }
    free(w);
    if (r->writing == 0) round_written(r);
}

/* Renders one receipt and queues its write; false if it was not queued. */
static bool write_one(round_t *r, const json_t *rec)
{
    fs_receipt_driver_t *d = r->d;
    const char *payment = json_string_value(json_object_get(rec, "payment"));
    const char *key = json_string_value(json_object_get(rec, "key"));
    size_t len;
    char *doc = fs_receipt_document(json_object_get(rec, "document"), &len);
    if (payment == NULL || key == NULL || doc == NULL
        || strlen(payment) > FS_ID_LEN_MAX) {
        fs_log(FS_LOG_ERROR, "receipt", "receipt of %s cannot be rendered; its facts are "
                                        "incomplete", payment != NULL ? payment : "?");
        free(doc);
        return false;
    }
    write_t *w = calloc(1, sizeof(*w));
    FS_ASSERT(w != NULL);
    w->r = r;
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
    r->writing++;
    return true;
}

static void on_prepared(void *arg, const fs_store_result_t *res)
{
    fs_receipt_driver_t *d = arg;
    d->preparing = false;
    if (d->stopping) return;
    d->full = false;
    if (strcmp(res->outcome, "ok") != 0) {
        fs_log(FS_LOG_WARN, "receipt", "receipts_prepare: %s", res->outcome);
        schedule(d);
        return;
    }
    json_t *p = json_loads(res->payload, 0, NULL);
    json_t *list = json_object_get(p, "receipts");
    d->full = json_integer_value(json_object_get(p, "taken")) >= FS_RECEIPT_BATCH_MAX
              || json_array_size(list) >= FS_RECEIPT_BATCH_MAX;
    round_t *r = calloc(1, sizeof(*r));
    FS_ASSERT(r != NULL);
    r->d = d;
    r->marks = json_array();
    d->rounds++;
    size_t i;
    json_t *rec;
    /* Counted before any put can answer: a put answers on the loop, later.
     * Corked, so that each writer takes its share of the round (and of the
     * rounds queued behind the one it is flushing) as one batch. */
    for (int k = 0; k < FS_RECEIPT_WRITERS; k++) fs_objects_io_cork(d->io[k]);
    json_array_foreach(list, i, rec) write_one(r, rec);
    for (int k = 0; k < FS_RECEIPT_WRITERS; k++) fs_objects_io_uncork(d->io[k]);
    json_decref(p);
    if (r->writing == 0) round_written(r);
    schedule(d);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    fs_receipt_driver_t *d = arg;
    (void)fd;
    (void)what;
    if (d->stopping || d->preparing) return;
    d->preparing = true;
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
    schedule(d);
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
    event_free(d->timer);
    fs_log(FS_LOG_INFO, "receipt", "%llu receipts made", (unsigned long long)d->made);
    free(d);
}
