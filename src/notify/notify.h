/*
 * notify.h: the notification service: signed webhooks (docs/webhooks.md).
 *
 * Two faces:
 *
 * - The API's checks of POST /v1/webhook_endpoints (pure, no I/O, like the
 *   other modules' parse functions): a URL FinSys can reach without DNS or
 *   TLS, the event types, and a new id and signing secret.
 *
 * - The notifier, run by `finsys worker` on its event loop. A fan-out timer
 *   turns new events into delivery rows (op webhook_fanout: the feed
 *   'webhooks', one row per subscribed endpoint, in one transaction). The
 *   rows that fit in the free slots are leased to this worker in that same
 *   transaction and come back with their URL, secret and event, and:
 *     1. each is POSTed at once with evhttp, signed (FinSys-Signature:
 *        t=<unix time>,v1=<hex HMAC-SHA256 of "t.body" keyed by the secret>),
 *        on a keep-alive connection of its receiver's small pool, within
 *        FINSYS_WEBHOOK_TIMEOUT_MS (waiting for a connection included);
 *     2. the results are recorded many at once (webhook_finish, one
 *        statement); a failure is retried after FINSYS_WEBHOOK_BACKOFF_BASE_MS
 *        doubling per attempt (at most FS_NOTIFY_BACKOFF_MAX_MS): a message
 *        is published for it on FS_NOTIFICATIONS and comes back when due.
 *   The other rows (over the free slots) are published at once. A fetch
 *   thread pulls those messages (consumer "notifier"); the loop claims each
 *   (webhook_claim: its URL, secret, event and attempt number; one not due
 *   is put back until it is, one done or of a deleted endpoint only
 *   acknowledged), POSTs it as above, and acknowledges it or puts it back
 *   with its back-off. Once the next attempt would fall past
 *   FINSYS_WEBHOOK_RETRY_PERIOD_S after the delivery was made, PostgreSQL
 *   marks it dead and it goes to FS_NOTIFICATIONS_DEAD.
 *   A sweeper publishes again the deliveries due for FINSYS_SWEEP_AFTER_S and
 *   not attempted (the broker may lose messages, a worker may die holding
 *   leases; PostgreSQL is the truth).
 *
 * Fairness between tenants (docs/operations.md, "Webhook fairness"): before
 * its POST each attempt passes its endpoint's circuit breaker and, unless the
 * endpoint is proven healthy, the caps on attempts in flight per endpoint,
 * per tenant and in all (limits.h, "webhook fairness"); one that does not is
 * deferred (webhook_finish's "deferred": due again later, no attempt
 * counted). The secret comes sealed and is opened with FINSYS_SECRETS_KEY
 * just before the POST.
 *
 * Delivery is at least once: a receiver may see an event twice (it has the
 * same FinSys-Event-Id) and out of order (the per-account "sequence" tells).
 *
 * A host name is resolved at each attempt with evdns on the loop; every
 * address is checked and the checked one connected to (never resolved
 * again). https: TLS with SNI and the certificate verified against the
 * URL's host (the system's CAs and FINSYS_WEBHOOK_CA_FILE).
 *
 * Never: connect to a refused destination (fs_notify_addr_refused: the
 * attempt fails without a connection), send https without a verified
 * certificate, or block the loop.
 */
#ifndef FS_NOTIFY_H
#define FS_NOTIFY_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../config/config.h"
#include "../core/core.h"
#include "../queue/queue.h"
#include "../store/store.h"

/* Endpoint ids are "we_..."; secrets "whsec_" and 32 base62 characters
 * (about 190 bits). */
#define FS_WEBHOOK_ENDPOINT_ID_PREFIX "we"
#define FS_NOTIFY_SECRET_PREFIX "whsec_"
#define FS_NOTIFY_SECRET_RANDOM_LEN 32

/* The headers of a delivery. */
#define FS_NOTIFY_HEADER_SIGNATURE "FinSys-Signature"
#define FS_NOTIFY_HEADER_EVENT_ID "FinSys-Event-Id"
#define FS_NOTIFY_HEADER_DELIVERY_ID "FinSys-Delivery-Id"
#define FS_NOTIFY_HEADER_ATTEMPT "FinSys-Delivery-Attempt"

/* "t=<up to 20 digits>,v1=<64 hex>" and its terminator. */
#define FS_NOTIFY_SIGNATURE_BUF_LEN 96

/* Secrets at rest (docs/operations.md, "Secrets at rest"): an endpoint's
 * signing secret is stored sealed with libsodium's secretbox (XSalsa20 and
 * Poly1305) under FINSYS_SECRETS_KEY (32 bytes), as FS_NOTIFY_SEALED_PREFIX
 * and the base64 of a random nonce and the box. The worker opens it to sign
 * each delivery; nothing else ever holds it in clear. */
#define FS_NOTIFY_SEALED_PREFIX "sb1:"
#define FS_NOTIFY_SEALED_BUF_LEN 256
#define FS_NOTIFY_KEY_LEN 32

/* Seals secret (at most FS_NOTIFY_SECRET_LEN_MAX bytes) into out
 * (FS_NOTIFY_SEALED_BUF_LEN bytes). False if it is too long. */
bool fs_notify_secret_seal(const unsigned char *key, const char *secret, char *out,
                           size_t out_len);

/* Opens sealed into out (FS_NOTIFY_SECRET_LEN_MAX + 1 bytes). False if it is
 * not a sealed secret, or not sealed under key (a wrong or changed key), or
 * was altered. */
bool fs_notify_secret_open(const unsigned char *key, const char *sealed, char *out,
                           size_t out_len);

/* POST /v1/webhook_endpoints {url, events}: checks the body and fills item
 * with url, events (deduplicated), a new id, a new secret in clear ("secret":
 * the server takes it out of the item before the store sees it, and adds it
 * to the first answer only) and sealed under key ("secret_sealed", what the
 * database stores), and "max" (the endpoints a tenant may have, which the
 * database enforces). allowed: FINSYS_WEBHOOK_ALLOWED_NETWORKS (see
 * fs_notify_url_allowed). key: FINSYS_SECRETS_KEY (FS_NOTIFY_KEY_LEN bytes;
 * NULL: the request fails, 503). */
bool fs_notify_parse_endpoint_create(const json_t *body, const fs_config_nets_t *allowed,
                                     const unsigned char *key, json_t *item, fs_error_t *err);

/* The URL check alone: http(s)://HOST[:PORT][/path][?query], HOST an IPv4
 * or IPv6 literal or a host name (RFC 1123 form), at most
 * FS_WEBHOOK_URL_LEN_MAX bytes. */
bool fs_notify_url_valid(const char *url, fs_error_t *err);

/* Webhook destinations (docs/operations.md, "Webhook destinations"): a
 * tenant's URL must not make the worker POST into the operator's own hosts
 * and networks (loopback, private, link-local such as a cloud's metadata
 * service at 169.254.169.254, ...). fs_notify_addr_refused() returns the
 * refused network holding addr ("loopback (127.0.0.0/8)"), or NULL when addr
 * may be reached: outside them, or in one of allowed (the operator's
 * exceptions, FINSYS_WEBHOOK_ALLOWED_NETWORKS; NULL: none). family: AF_INET
 * (addr: 4 bytes) or AF_INET6 (16 bytes); an IPv6 address carrying an IPv4
 * one (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is
 * judged by that IPv4 address. */
const char *fs_notify_addr_refused(int family, const unsigned char *addr,
                                   const fs_config_nets_t *allowed);

/* fs_notify_url_valid(), and a literal host fs_notify_addr_refused() lets
 * through ("localhost" and "*.localhost" are 127.0.0.1; any other name
 * passes: the notifier checks its addresses once resolved). Checked when an
 * endpoint is made; the notifier checks again before each connection. */
bool fs_notify_url_allowed(const char *url, const fs_config_nets_t *allowed, fs_error_t *err);

/* Writes the FinSys-Signature value of body sent at timestamp (Unix
 * seconds) with secret into out (FS_NOTIFY_SIGNATURE_BUF_LEN bytes). */
void fs_notify_sign(const char *secret, long long timestamp, const char *body, size_t body_len,
                    char *out);

/* An endpoint's circuit breaker (docs/operations.md, "Webhook fairness"),
 * pure: a function of its results and a clock, so that the unit tests drive
 * it. Closed: attempts go; FS_NOTIFY_BREAKER_FAILURES consecutive failures
 * open it for cooloff_ms (FS_NOTIFY_BREAKER_COOLOFF_MS at first). Open:
 * attempts are skipped until then. Half-open (the cool-off over): one trial
 * attempt goes, the others are skipped while it runs; its 2xx closes the
 * breaker, its failure opens it again for twice as long (at most
 * FS_NOTIFY_BREAKER_COOLOFF_MAX_MS). A 2xx of any attempt closes it. A zeroed
 * struct is a closed breaker. */
typedef struct {
    int failures;         /* consecutive failed attempts */
    long long open_until; /* ms of the caller's clock; 0: closed */
    long long cooloff_ms; /* the last opening's length; 0: none yet */
    bool trial;           /* half-open: the trial attempt runs */
} fs_notify_breaker_t;

typedef enum {
    FS_NOTIFY_BREAKER_SEND,  /* closed: the attempt goes */
    FS_NOTIFY_BREAKER_TRIAL, /* half-open: the attempt goes as the trial */
    FS_NOTIFY_BREAKER_SKIP,  /* open, or a trial runs: skipped */
} fs_notify_breaker_verdict_t;

/* Whether an attempt may go at now_ms; SKIP fills *wait_ms (when the
 * breaker may let one through: the end of the cool-off, or 0 while a trial
 * runs). TRIAL marks the trial as running. */
fs_notify_breaker_verdict_t fs_notify_breaker_allow(fs_notify_breaker_t *b, long long now_ms,
                                                    long long *wait_ms);

/* Records the result (ok: a 2xx) of an attempt allow() let through (trial:
 * it answered TRIAL). Returns true when this result opened the breaker. */
bool fs_notify_breaker_record(fs_notify_breaker_t *b, bool ok, bool trial, long long now_ms);

/* Gives back a trial allow() granted but that was not sent after all. */
void fs_notify_breaker_untrial(fs_notify_breaker_t *b);

/* The notifier: made on the worker's loop (base), with its store and queue,
 * before the loop runs; starts its fetch thread. Everything else it does runs
 * on the loop's thread. */
typedef struct fs_notifier fs_notifier_t;

fs_notifier_t *fs_notifier_new(const fs_config_t *config, struct event_base *base,
                               fs_store_t *store, fs_queue_t *queue);

/* Stops the fetch thread and puts back every message still held. Call once
 * the loop has stopped and the store is freed (its callbacks may still reach
 * the notifier until then); base and queue must still exist. NULL: no-op. */
void fs_notifier_free(fs_notifier_t *n);

#endif
