/*
 * queue.h: the payment queue on NATS JetStream (libnats). This module owns the
 * connection to the broker, the streams and the "settler" consumer, and is
 * the only one that includes <nats/nats.h>.
 *
 * Streams, created or updated by fs_queue_open (idempotent, so every process
 * may call it at start-up):
 *
 *   FS_PAYMENTS            fs.payments.process   payments to settle; work-queue
 *                                                retention (a message goes when
 *                                                acked); one copy per payment id
 *                                                within FS_QUEUE_DEDUP_WINDOW_S
 *   FS_PAYMENTS_DEAD       fs.payments.dead      payments the worker gave up on
 *   FS_NOTIFICATIONS       fs.notifications.>    notifications to deliver
 *   FS_NOTIFICATIONS_DEAD  fs.dead.notifications their dead letters (a subject
 *                                                outside fs.notifications.>,
 *                                                since streams may not overlap)
 *
 * and the durable pull consumers "settler" on FS_PAYMENTS and "notifier"
 * on FS_NOTIFICATIONS (webhook deliveries): explicit acks,
 * redelivery after FS_QUEUE_ACK_WAIT_MS, no delivery limit (the worker counts
 * deliveries and moves a message to the dead letters itself).
 *
 * The broker is not the source of truth: it may lose acknowledged messages
 * on a crash, and a publish may fail. PostgreSQL is; a pending payment row is
 * the outbox, and a sweeper publishes again what was not settled in time.
 * Delivery is at least once, so every consumer must be idempotent.
 *
 * Threads: fs_queue_publish_payment, fs_queue_connected and fs_queue_stats
 * may be called from any thread at once, including HTTP event loops: they
 * never block for more than FS_QUEUE_PUBLISH_STALL_WAIT_MS (or, as a
 * backstop, FS_QUEUE_WRITE_DEADLINE_MS). Everything else blocks (up to
 * FS_QUEUE_REQUEST_TIMEOUT_MS or the timeout given) and belongs on start-up
 * or a worker thread; fetches of one queue come from one thread at a time.
 *
 * Never: decide a payment's outcome, touch the database, or block an event
 * loop. A failed publish is reported and counted, never retried here.
 */
#ifndef FS_QUEUE_H
#define FS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Stream and subject names, and the durable consumer of FS_PAYMENTS. */
#define FS_QUEUE_STREAM_PAYMENTS "FS_PAYMENTS"
#define FS_QUEUE_STREAM_PAYMENTS_DEAD "FS_PAYMENTS_DEAD"
#define FS_QUEUE_STREAM_NOTIFICATIONS "FS_NOTIFICATIONS"
#define FS_QUEUE_STREAM_NOTIFICATIONS_DEAD "FS_NOTIFICATIONS_DEAD"
#define FS_QUEUE_SUBJECT_PAYMENTS "fs.payments.process"
#define FS_QUEUE_SUBJECT_PAYMENTS_DEAD "fs.payments.dead"
#define FS_QUEUE_SUBJECT_NOTIFICATIONS "fs.notifications.>"
#define FS_QUEUE_SUBJECT_NOTIFICATIONS_DEAD "fs.dead.notifications"
#define FS_QUEUE_CONSUMER_SETTLER "settler"

/** Webhook deliveries to attempt (src/notify): published on this subject of
 * FS_NOTIFICATIONS with the body {"delivery_id":"whd_..."} and Nats-Msg-Id
 * the delivery id, consumed by the durable pull consumer "notifier" (as the
 * settler's: explicit acks, no delivery limit), dead letters to
 * FS_NOTIFICATIONS_DEAD. */
#define FS_QUEUE_SUBJECT_NOTIFICATIONS_DELIVER "fs.notifications.deliver"
#define FS_QUEUE_CONSUMER_NOTIFIER "notifier"

/** Headers of a payment message (Nats-Msg-Id is the payment id) and those a
 * dead letter adds: why, how many deliveries it had, and its sequence in
 * FS_PAYMENTS. */
#define FS_QUEUE_HEADER_REQUEST_ID "X-Request-Id"
#define FS_QUEUE_HEADER_DEAD_REASON "X-Dead-Reason"
#define FS_QUEUE_HEADER_DEAD_DELIVERIES "X-Dead-Deliveries"
#define FS_QUEUE_HEADER_DEAD_SEQUENCE "X-Dead-Sequence"

/** What a queue operation came to. Errors are negative. */
typedef enum {
    FS_QUEUE_OK = 0,
    /** Not connected to the broker (reconnecting), or it failed or did not
     * answer in time. Nothing was queued, or it is unknown whether it was. */
    FS_QUEUE_UNAVAILABLE = -1,
    /** FS_QUEUE_PUBLISH_PENDING_MAX publishes await their acks: refused. */
    FS_QUEUE_FULL = -2,
    /** An argument is out of its limits (an id too long, not printable
     * ASCII, a count out of range); nothing was done. */
    FS_QUEUE_INVALID = -3,
    /** Anything else (out of memory, an unexpected library error). */
    FS_QUEUE_ERROR = -4,
} fs_queue_status_t;

/** A connection to the broker with its JetStream context. Opaque. */
typedef struct fs_queue fs_queue_t;

/** A message fetched from FS_PAYMENTS. Opaque; owned by the module and
 * freed with fs_queue_msg_free. */
typedef struct fs_queue_msg fs_queue_msg_t;

/** Counters since fs_queue_open, read with fs_queue_stats. */
typedef struct {
    uint64_t published;       /**< publishes handed to the broker's connection */
    uint64_t publish_refused; /**< publishes refused at once (any error status) */
    uint64_t publish_failed;  /**< handed over, then reported failed by the async error
                                   handler: an error from the broker, or no ack within
                                   FS_QUEUE_PUBLISH_ACK_WAIT_MS */
    uint64_t dead_lettered;   /**< messages moved to FS_PAYMENTS_DEAD */
} fs_queue_stats_t;

/** The name of a status ("ok", "unavailable", ...), for logs. */
const char *fs_queue_status_name(fs_queue_status_t status);

/** Connects to url (e.g. "nats://127.0.0.1:4222"), makes the JetStream
 * context, and creates or updates the four streams and the two consumers.
 * Blocking, up to a few times FS_QUEUE_REQUEST_TIMEOUT_MS. A broker that
 * does not answer is no failure: the queue is returned not ready
 * (fs_queue_connected false, publishes and fetches refused at once) and
 * libnats tries again every FS_QUEUE_RECONNECT_WAIT_MS, forever; once it
 * connects, the streams and consumers are made on its callback thread and
 * the queue is ready. The connection is kept forever after, reconnecting.
 * Returns NULL and a sentence in err (err_len bytes, may be 0) on failure:
 * a URL libnats refuses, or a broker that answers at once but on which a
 * stream or consumer cannot be made. Free with fs_queue_close. */
fs_queue_t *fs_queue_open(const char *url, char *err, size_t err_len);

/** fs_queue_open with streams of `replicas` copies (1..FS_NATS_REPLICAS_MAX;
 * fs_queue_open is 1), for a NATS cluster; url may list the cluster's
 * servers separated by commas ("nats://a:4222,nats://b:4222"), tried in turn
 * and reconnected to when one dies. An existing stream with another number
 * of copies is updated to it (NATS 2.9 scales a stream up and down). */
fs_queue_t *fs_queue_open_replicated(const char *url, int replicas, char *err, size_t err_len);

/** Waits up to FS_QUEUE_CLOSE_WAIT_MS for the acks of pending publishes,
 * then closes the connection and frees the queue. Every message fetched from
 * it must have been freed, and no other call on it may run or follow. The
 * last queue closed in the process also releases libnats' global resources,
 * so ASan sees no leak. NULL is a no-op. */
void fs_queue_close(fs_queue_t *q);

/** True while connected to the broker with its streams and consumers made
 * (false before the first connection and while reconnecting). */
bool fs_queue_connected(fs_queue_t *q);

/** Queues payment_id for settlement on fs.payments.process, without waiting
 * for the broker: the message has Nats-Msg-Id payment_id, X-Request-Id
 * request_id (omitted when NULL or empty) and the body
 * {"payment_id":"...","request_id":"..."}. payment_id is 1..FS_ID_LEN_MAX
 * and request_id 0..FS_QUEUE_REQUEST_ID_LEN_MAX printable ASCII characters
 * (no space).
 *
 * FS_QUEUE_OK means handed to the connection, not stored: a later failure
 * is counted in publish_failed and logged. Any error returns at once (not
 * connected, too many pending); the caller then relies on the sweeper.
 * Safe on an event loop thread and from many threads at once. */
fs_queue_status_t fs_queue_publish_payment(fs_queue_t *q, const char *payment_id,
                                           const char *request_id);

/** As fs_queue_publish_payment, for an operator's replay of a dead letter:
 * the message gets a Nats-Msg-Id of its own ("<payment id>.replay.<nonce>"),
 * so the dedup window does not drop it. */
fs_queue_status_t fs_queue_replay_payment(fs_queue_t *q, const char *payment_id,
                                          const char *request_id);

/** As fs_queue_publish_payment, for a payment approved in review
 * (docs/risk.md): the message id is "<payment id>.approved", so the dedup
 * window of the message its creation published cannot drop it, while a
 * second publish of the same approval is dropped. */
fs_queue_status_t fs_queue_publish_approved(fs_queue_t *q, const char *payment_id,
                                            const char *request_id);

/** As fs_queue_publish_payment, for a webhook delivery to attempt: on
 * fs.notifications.deliver, Nats-Msg-Id delivery_id, body
 * {"delivery_id":"...","request_id":""}. Safe on an event loop thread. */
fs_queue_status_t fs_queue_publish_notification(fs_queue_t *q, const char *delivery_id);

/** Waits up to timeout_ms for every pending publish to be acked or failed:
 * FS_QUEUE_OK when none is left, FS_QUEUE_UNAVAILABLE otherwise. Blocking:
 * for shutdown, tools and tests. */
fs_queue_status_t fs_queue_flush(fs_queue_t *q, int timeout_ms);

/** Copies the counters into out. Any thread. */
void fs_queue_stats(fs_queue_t *q, fs_queue_stats_t *out);

/** Fetches up to max (1..FS_QUEUE_FETCH_MAX) messages from the "settler"
 * consumer, waiting up to timeout_ms (at least 1) for the first. Stores them
 * in out[0..*count-1] and their number in *count (0 when none came in time:
 * still FS_QUEUE_OK). Each must be settled (ack, nak or dead-lettered, or
 * left to redeliver after FS_QUEUE_ACK_WAIT_MS) and freed with
 * fs_queue_msg_free. A message without a valid body (a payment id) is moved
 * to the dead letters here, with a reason, and not returned. Blocking: for a
 * worker thread; one thread at a time per queue. */
fs_queue_status_t fs_queue_fetch(fs_queue_t *q, fs_queue_msg_t **out, int max, int timeout_ms,
                                 int *count);

/** As fs_queue_fetch, from the "notifier" consumer of FS_NOTIFICATIONS: each
 * message carries a delivery id (fs_queue_msg_id), and its dead letters go
 * to FS_NOTIFICATIONS_DEAD. One thread at a time (it may differ from the
 * settler's). */
fs_queue_status_t fs_queue_fetch_notifications(fs_queue_t *q, fs_queue_msg_t **out, int max,
                                               int timeout_ms, int *count);

/** The id the message carries: a payment's (FS_PAYMENTS) or a webhook
 * delivery's (FS_NOTIFICATIONS). Valid until fs_queue_msg_free. */
const char *fs_queue_msg_id(const fs_queue_msg_t *m);

/** The payment id the message carries. Valid until fs_queue_msg_free. */
const char *fs_queue_msg_payment_id(const fs_queue_msg_t *m);

/** The request id of the API call that queued it ("" when it had none).
 * Valid until fs_queue_msg_free. */
const char *fs_queue_msg_request_id(const fs_queue_msg_t *m);

/** How many times the broker has delivered it, this delivery included
 * (1 the first time). */
uint64_t fs_queue_msg_deliveries(const fs_queue_msg_t *m);

/** Acknowledges the message: it is done and leaves FS_PAYMENTS. Sent
 * without waiting for the broker; if the ack is lost the message comes again,
 * which the idempotent consumer absorbs. */
fs_queue_status_t fs_queue_msg_ack(fs_queue_msg_t *m);

/** Puts the message back, to be delivered again after delay_ms (0 or more;
 * a bare NAK would redeliver at once). The delivery count grows by one. */
fs_queue_status_t fs_queue_msg_nak(fs_queue_msg_t *m, int64_t delay_ms);

/** Tells the broker the message is still being worked on: its ack wait
 * starts again. For work that may outlast FS_QUEUE_ACK_WAIT_MS. Sent only
 * once FS_QUEUE_IN_PROGRESS_AFTER_MS have passed since the wait last started
 * (the fetch or the last one sent); otherwise a no-op that returns OK. */
fs_queue_status_t fs_queue_msg_in_progress(fs_queue_msg_t *m);

/** Moves the message to its dead letters (FS_PAYMENTS_DEAD, or
 * FS_NOTIFICATIONS_DEAD for a notification): publishes it there (waiting for
 * the broker's ack) with its body and X-Request-Id, and the headers
 * X-Dead-Reason (reason, cut to FS_QUEUE_REASON_LEN_MAX bytes),
 * X-Dead-Deliveries and X-Dead-Sequence; then acks it. Its Nats-Msg-Id there
 * is "<payment id>.<sequence>", so doing it twice for one delivery (after a
 * crash between the two steps) stores it once. On an error nothing is acked
 * and the message will come again. Blocking: worker thread. */
fs_queue_status_t fs_queue_msg_dead_letter(fs_queue_msg_t *m, const char *reason);

/** As fs_queue_msg_dead_letter, for a webhook delivery that has no message
 * (the fan-out leased it and its first attempt was its last): publishes
 * {"delivery_id":"...","request_id":""} to FS_NOTIFICATIONS_DEAD with
 * X-Dead-Reason, X-Dead-Deliveries 0 and X-Dead-Sequence 0, Nats-Msg-Id
 * "<delivery id>.0". Blocking: worker thread. */
fs_queue_status_t fs_queue_dead_letter_notification(fs_queue_t *q, const char *delivery_id,
                                                    const char *reason);

/** Frees the message (settled or not: one neither acked nor nak'ed is
 * delivered again after FS_QUEUE_ACK_WAIT_MS). NULL is a no-op. */
void fs_queue_msg_free(fs_queue_msg_t *m);

/* ---- core NATS (not JetStream): the admin console's live stream ---- */

/** Publishes data on subject with core NATS: no stream, no ack, no retry; a
 * message nobody subscribes to is dropped by the broker. Returns at once
 * (FS_QUEUE_UNAVAILABLE while not connected). Any thread. */
fs_queue_status_t fs_queue_publish_core(fs_queue_t *q, const char *subject, const void *data,
                                        size_t len);
/** Called on a libnats thread (never on an event loop) for each message of
 * a core subscription; data is valid only during the call. */
typedef void (*fs_queue_core_cb)(void *arg, const char *subject, const char *data, size_t len);
/** A core subscription. Opaque. */
typedef struct fs_queue_sub fs_queue_sub_t;
/** Subscribes to subject (wildcards allowed); NULL on failure. The callback
 * runs on a libnats thread, one message at a time per subscription. */
fs_queue_sub_t *fs_queue_subscribe_core(fs_queue_t *q, const char *subject, fs_queue_core_cb cb,
                                        void *arg);
/** Ends the subscription and waits (up to FS_QUEUE_CLOSE_WAIT_MS) until its
 * callback has returned for the last time; then frees it. NULL is a no-op.
 * Blocking: for shutdown. */
void fs_queue_unsubscribe_core(fs_queue_sub_t *sub);

#endif
