/*
 * notify.c: endpoint checks, signatures and the notifier (see notify.h).
 *
 * Ownership: a delivery job is made by the fetch thread (one message) or by
 * the fan-out's answer (one delivery it leased, no message), owned by the
 * loop from then on, and freed by job_done() once its message is
 * acknowledged or put back (or, without one, its result recorded), or by the
 * fetch thread after it moved it to the dead letters. `inflight` counts jobs
 * that exist plus the slots a fan-out in flight reserved.
 *
 * Connections: each receiver (IP, port) has a pool of FS_NOTIFY_HOST_CONNS
 * keep-alive evhttp connections, each carrying one attempt at a time; other
 * attempts wait in the host's line. A connection lives across attempts
 * (evhttp reconnects it when the receiver closed it) and is freed only
 * outside its requests' callbacks (libevent forbids freeing it inside): by
 * the idle timer, by an attempt's deadline timer (which drops the request
 * without a callback), and at the end.
 */
#define _GNU_SOURCE
#include "notify.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../event/event.h"
#include "../metrics/metrics.h"
#include "../op/op.h"
#include "../validate/validate.h"

/* --- the API's checks ---------------------------------------------------- */

/* An accepted URL's parts: the host (an IP literal without brackets, or a
 * host name the worker resolves at each attempt), whether it is a literal,
 * https or not, the port and the request target. */
typedef struct {
    char host[FS_NOTIFY_HOST_NAME_LEN_MAX + 1];
    bool literal;
    bool tls;
    int port;
    char target[FS_WEBHOOK_URL_LEN_MAX + 1];
} url_t;

/* A host name's form (RFC 1123): dot-separated labels of letters, digits
 * and inner hyphens, each 1 to FS_NOTIFY_HOST_LABEL_LEN_MAX, at most
 * FS_NOTIFY_HOST_NAME_LEN_MAX in all, the last not all digits (a resolver
 * could read "1.2.3" as an address). */
static bool host_name_valid(const char *h)
{
    size_t len = strlen(h);
    if (len == 0 || len > FS_NOTIFY_HOST_NAME_LEN_MAX) return false;
    size_t label = 0;
    bool digits_only = true;
    for (size_t i = 0; i <= len; i++) {
        char c = h[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > FS_NOTIFY_HOST_LABEL_LEN_MAX || h[i - 1] == '-') return false;
            if (c == '\0' && digits_only) return false;
            label = 0;
            digits_only = true;
            continue;
        }
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool digit = c >= '0' && c <= '9';
        if (!alpha && !digit && c != '-') return false;
        if (c == '-' && label == 0) return false;
        if (!digit) digits_only = false;
        label++;
    }
    return true;
}

/* Splits a URL into its parts (out may be NULL: the check alone). Returns
 * false (err filled) for anything but http(s)://HOST[:PORT][/path][?query]. */
static bool url_parse(const char *url, url_t *out, fs_error_t *err)
{
    size_t len = strnlen(url, FS_WEBHOOK_URL_LEN_MAX + 1);
    if (len == 0 || len > FS_WEBHOOK_URL_LEN_MAX)
        return fs_fail(err, FS_INVALID_REQUEST, "url", "url must be 1 to %d bytes.",
                       FS_WEBHOOK_URL_LEN_MAX);
    for (size_t i = 0; i < len; i++) {
        if (url[i] <= ' ' || url[i] > '~')
            return fs_fail(err, FS_INVALID_REQUEST, "url",
                           "url must be printable ASCII without spaces (percent-encode).");
    }
    bool tls = strncmp(url, "https://", 8) == 0;
    if (!tls && strncmp(url, "http://", 7) != 0)
        return fs_fail(err, FS_INVALID_REQUEST, "url", "url must start with https:// or http://.");
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(url, 0);
    bool ok = uri != NULL && evhttp_uri_get_host(uri) != NULL
              && evhttp_uri_get_userinfo(uri) == NULL && evhttp_uri_get_fragment(uri) == NULL;
    if (!ok) {
        if (uri != NULL) evhttp_uri_free(uri);
        return fs_fail(err, FS_INVALID_REQUEST, "url",
                       "url must be https://HOST[:PORT][/path] without user or fragment.");
    }
    const char *h = evhttp_uri_get_host(uri);
    unsigned char addr[16];
    /* evhttp keeps an IPv6 literal's brackets. */
    char bare[64] = "";
    size_t hl = strlen(h);
    if (hl > 2 && hl < sizeof(bare) + 2 && h[0] == '[' && h[hl - 1] == ']') {
        memcpy(bare, h + 1, hl - 2);
        bare[hl - 2] = '\0';
        h = bare;
    }
    bool literal = inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1;
    if (!literal && !host_name_valid(h)) {
        evhttp_uri_free(uri);
        return fs_fail(err, FS_INVALID_REQUEST, "url",
                       "url's host must be an IP address or a host name (letters, digits, "
                       "hyphens and dots, at most %d characters).",
                       FS_NOTIFY_HOST_NAME_LEN_MAX);
    }
    int p = evhttp_uri_get_port(uri);
    if (p == 0 || p > 65535) {
        evhttp_uri_free(uri);
        return fs_fail(err, FS_INVALID_REQUEST, "url", "url's port must be 1 to 65535.");
    }
    if (out != NULL) {
        snprintf(out->host, sizeof(out->host), "%s", h);
        out->literal = literal;
        out->tls = tls;
        out->port = p < 0 ? (tls ? 443 : 80) : p;
        const char *path = evhttp_uri_get_path(uri);
        const char *query = evhttp_uri_get_query(uri);
        snprintf(out->target, sizeof(out->target), "%s%s%s",
                 path != NULL && *path != '\0' ? path : "/", query != NULL ? "?" : "",
                 query != NULL ? query : "");
    }
    evhttp_uri_free(uri);
    return true;
}

bool fs_notify_url_valid(const char *url, fs_error_t *err)
{
    return url_parse(url, NULL, err);
}

/* The networks a webhook is not sent to, unless FINSYS_WEBHOOK_ALLOWED_NETWORKS
 * holds the address: the operator's own (loopback, private, carrier-grade
 * NAT, link-local with the cloud metadata service), and addresses no
 * receiver has (this network, multicast, reserved). prefix holds the
 * network's first bytes, bits its length. */
typedef struct {
    int family;
    unsigned char prefix[16];
    int bits;
    const char *name;
} refused_net_t;

static const refused_net_t refused_nets[] = {
    {AF_INET, {0}, 8, "this network (0.0.0.0/8)"},
    {AF_INET, {10}, 8, "private (10.0.0.0/8)"},
    {AF_INET, {100, 64}, 10, "shared address space (100.64.0.0/10)"},
    {AF_INET, {127}, 8, "loopback (127.0.0.0/8)"},
    {AF_INET, {169, 254}, 16, "link-local (169.254.0.0/16)"},
    {AF_INET, {172, 16}, 12, "private (172.16.0.0/12)"},
    {AF_INET, {192, 168}, 16, "private (192.168.0.0/16)"},
    {AF_INET, {224}, 4, "multicast (224.0.0.0/4)"},
    {AF_INET, {240}, 4, "reserved (240.0.0.0/4)"},
    {AF_INET6, {0}, 128, "unspecified (::)"},
    {AF_INET6, {[15] = 1}, 128, "loopback (::1)"},
    /* IPv4-compatible (deprecated, RFC 4291): no receiver uses one. */
    {AF_INET6, {0}, 96, "IPv4-compatible (::/96)"},
    {AF_INET6, {0xfc}, 7, "unique local (fc00::/7)"},
    {AF_INET6, {0xfe, 0x80}, 10, "link-local (fe80::/10)"},
    {AF_INET6, {0xff}, 8, "multicast (ff00::/8)"},
};

static bool prefix_match(const unsigned char *addr, const unsigned char *prefix, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(addr, prefix, (size_t)whole) != 0) return false;
    if (rest == 0) return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (addr[whole] & mask) == (prefix[whole] & mask);
}

const char *fs_notify_addr_refused(int family, const unsigned char *addr,
                                   const fs_config_nets_t *allowed)
{
    FS_ASSERT(addr != NULL && (family == AF_INET || family == AF_INET6));
    for (int i = 0; allowed != NULL && i < allowed->count; i++) {
        const fs_config_net_t *net = &allowed->net[i];
        if (net->family == family && prefix_match(addr, net->addr, net->bits)) return NULL;
    }
    if (family == AF_INET6) {
        /* An IPv6 address that reaches an IPv4 one is that address. */
        static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
        static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
        if (memcmp(addr, mapped, 12) == 0 || memcmp(addr, nat64, 12) == 0)
            return fs_notify_addr_refused(AF_INET, addr + 12, allowed);
        if (addr[0] == 0x20 && addr[1] == 0x02)
            return fs_notify_addr_refused(AF_INET, addr + 2, allowed);
    }
    for (size_t i = 0; i < sizeof(refused_nets) / sizeof(*refused_nets); i++) {
        const refused_net_t *net = &refused_nets[i];
        if (net->family == family && prefix_match(addr, net->prefix, net->bits)) return net->name;
    }
    return NULL;
}

/* The refused network of host (an IP literal), or NULL. */
static const char *host_refused(const char *host, const fs_config_nets_t *allowed)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) == 1) return fs_notify_addr_refused(AF_INET, addr, allowed);
    if (inet_pton(AF_INET6, host, addr) == 1)
        return fs_notify_addr_refused(AF_INET6, addr, allowed);
    return "not an IP address"; /* callers pass literals only: cannot happen */
}

/* Whether a host name is one every resolver answers with loopback (RFC
 * 6761: localhost and its subdomains): judged at creation as 127.0.0.1. */
static bool name_is_localhost(const char *h)
{
    size_t len = strlen(h);
    return strcasecmp(h, "localhost") == 0
           || (len > 10 && strcasecmp(h + len - 10, ".localhost") == 0);
}

bool fs_notify_url_allowed(const char *url, const fs_config_nets_t *allowed, fs_error_t *err)
{
    url_t u;
    if (!url_parse(url, &u, err)) return false;
    /* Any other name cannot be judged before it is resolved: the worker
     * checks every address it resolves to at each attempt. */
    if (!u.literal && !name_is_localhost(u.host)) return true;
    const char *refused = host_refused(u.literal ? u.host : "127.0.0.1", allowed);
    if (refused != NULL)
        return fs_fail(err, FS_INVALID_REQUEST, "url",
                       "url's host %s is in a refused network, %s: webhooks are sent to "
                       "public addresses, not into FinSys's own network.",
                       u.host, refused);
    return true;
}

static bool events_parse(const json_t *body, json_t *item, fs_error_t *err)
{
    const json_t *events = json_object_get(body, "events");
    if (!json_is_array(events) || json_array_size(events) == 0
        || json_array_size(events) > FS_WEBHOOK_EVENTS_MAX)
        return fs_fail(err, FS_INVALID_REQUEST, "events",
                       "events must be an array of 1 to %d event types (or \"*\" for all).",
                       FS_WEBHOOK_EVENTS_MAX);
    json_t *out = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(events, i, e) {
        const char *type = json_string_value(e);
        if (type == NULL || (strcmp(type, "*") != 0 && !fs_event_type_known(type))) {
            json_decref(out);
            return fs_fail(err, FS_INVALID_REQUEST, "events",
                           "events[%zu] must be \"*\" or one of " FS_EVENT_TYPES_TEXT ".",
                           i);
        }
        bool seen = false;
        size_t k;
        json_t *o;
        json_array_foreach(out, k, o) seen = seen || strcmp(json_string_value(o), type) == 0;
        if (!seen) json_array_append_new(out, json_string(type));
    }
    json_object_set_new(item, "events", out);
    return true;
}

bool fs_notify_secret_seal(const unsigned char *key, const char *secret, char *out,
                           size_t out_len)
{
    FS_ASSERT(key != NULL && secret != NULL && out != NULL);
    size_t len = strnlen(secret, FS_NOTIFY_SECRET_LEN_MAX + 1);
    if (len > FS_NOTIFY_SECRET_LEN_MAX) return false;
    unsigned char box[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES
                      + FS_NOTIFY_SECRET_LEN_MAX];
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)secret, len,
                          box, key);
    size_t box_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    size_t pl = strlen(FS_NOTIFY_SEALED_PREFIX);
    if (out_len < pl + sodium_base64_ENCODED_LEN(box_len, sodium_base64_VARIANT_ORIGINAL))
        return false;
    memcpy(out, FS_NOTIFY_SEALED_PREFIX, pl);
    sodium_bin2base64(out + pl, out_len - pl, box, box_len, sodium_base64_VARIANT_ORIGINAL);
    return true;
}

bool fs_notify_secret_open(const unsigned char *key, const char *sealed, char *out,
                           size_t out_len)
{
    FS_ASSERT(key != NULL && out != NULL && out_len > FS_NOTIFY_SECRET_LEN_MAX);
    out[0] = '\0';
    size_t pl = strlen(FS_NOTIFY_SEALED_PREFIX);
    if (sealed == NULL || strncmp(sealed, FS_NOTIFY_SEALED_PREFIX, pl) != 0) return false;
    unsigned char box[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES
                      + FS_NOTIFY_SECRET_LEN_MAX];
    size_t box_len = 0;
    if (sodium_base642bin(box, sizeof(box), sealed + pl, strlen(sealed + pl), NULL, &box_len,
                          NULL, sodium_base64_VARIANT_ORIGINAL)
            != 0
        || box_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return false;
    size_t len = box_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    if (crypto_secretbox_open_easy((unsigned char *)out, box + crypto_secretbox_NONCEBYTES,
                                   box_len - crypto_secretbox_NONCEBYTES, box, key)
        != 0)
        return false;
    out[len] = '\0';
    if (strlen(out) != len) { /* a NUL inside: not a secret FinSys made */
        sodium_memzero(out, len);
        out[0] = '\0';
        return false;
    }
    return true;
}

bool fs_notify_parse_endpoint_create(const json_t *body, const fs_config_nets_t *allowed,
                                     const unsigned char *key, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"url", "events", NULL};
    if (!fs_validate_known_fields(body, fields, err)) return false;
    const char *url;
    if (!fs_validate_string(body, "url", true, FS_WEBHOOK_URL_LEN_MAX, &url, err)) return false;
    if (!fs_notify_url_allowed(url, allowed, err) || !events_parse(body, item, err))
        return false;
    if (key == NULL)
        return fs_fail(err, FS_UNAVAILABLE, NULL,
                       "Webhook endpoints cannot be created: this server has no "
                       "FINSYS_SECRETS_KEY to seal their secrets with.");
    char id[FS_ID_BUF_LEN];
    fs_id_new(FS_WEBHOOK_ENDPOINT_ID_PREFIX, id, sizeof(id));
    char secret[sizeof(FS_NOTIFY_SECRET_PREFIX) + FS_NOTIFY_SECRET_RANDOM_LEN];
    size_t pl = strlen(FS_NOTIFY_SECRET_PREFIX);
    memcpy(secret, FS_NOTIFY_SECRET_PREFIX, pl);
    fs_random_base62(secret + pl, FS_NOTIFY_SECRET_RANDOM_LEN);
    secret[pl + FS_NOTIFY_SECRET_RANDOM_LEN] = '\0';
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "url", json_string(url));
    char sealed[FS_NOTIFY_SEALED_BUF_LEN];
    bool sealed_ok = fs_notify_secret_seal(key, secret, sealed, sizeof(sealed));
    FS_ASSERT(sealed_ok); /* FinSys's own secrets fit */
    json_object_set_new(item, "secret", json_string(secret));
    json_object_set_new(item, "secret_sealed", json_string(sealed));
    json_object_set_new(item, "max", json_integer(FS_WEBHOOK_ENDPOINTS_MAX));
    sodium_memzero(secret, sizeof(secret));
    return true;
}

void fs_notify_sign(const char *secret, long long timestamp, const char *body, size_t body_len,
                    char *out)
{
    FS_ASSERT(secret != NULL && out != NULL && (body != NULL || body_len == 0));
    char t[24];
    int tl = snprintf(t, sizeof(t), "%lld", timestamp);
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, (unsigned long long)tl);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, FS_NOTIFY_SIGNATURE_BUF_LEN, "t=%s,v1=%s", t, hex);
}

/* --- an endpoint's circuit breaker (pure) ---------------------------------- */

fs_notify_breaker_verdict_t fs_notify_breaker_allow(fs_notify_breaker_t *b, long long now_ms,
                                                    long long *wait_ms)
{
    FS_ASSERT(b != NULL && wait_ms != NULL);
    *wait_ms = 0;
    if (b->open_until == 0) return FS_NOTIFY_BREAKER_SEND;
    if (now_ms < b->open_until) {
        *wait_ms = b->open_until - now_ms;
        return FS_NOTIFY_BREAKER_SKIP;
    }
    if (b->trial) return FS_NOTIFY_BREAKER_SKIP;
    b->trial = true;
    return FS_NOTIFY_BREAKER_TRIAL;
}

bool fs_notify_breaker_record(fs_notify_breaker_t *b, bool ok, bool trial, long long now_ms)
{
    FS_ASSERT(b != NULL);
    if (trial) b->trial = false;
    if (ok) {
        b->failures = 0;
        b->open_until = 0;
        b->cooloff_ms = 0;
        return false;
    }
    if (b->failures < FS_NOTIFY_BREAKER_FAILURES * 1000) b->failures++;
    if (trial) {
        /* The trial failed: open again, for twice as long. */
        long long next = b->cooloff_ms <= 0 ? FS_NOTIFY_BREAKER_COOLOFF_MS : 2 * b->cooloff_ms;
        b->cooloff_ms = next < FS_NOTIFY_BREAKER_COOLOFF_MAX_MS ? next
                                                                : FS_NOTIFY_BREAKER_COOLOFF_MAX_MS;
    } else if (b->open_until != 0 || b->failures < FS_NOTIFY_BREAKER_FAILURES) {
        /* Open already (a late result of an attempt from before), or not
         * enough failures yet. */
        return false;
    } else {
        b->cooloff_ms = FS_NOTIFY_BREAKER_COOLOFF_MS;
    }
    b->open_until = now_ms + b->cooloff_ms;
    if (b->open_until == 0) b->open_until = 1; /* 0 means closed */
    return true;
}

void fs_notify_breaker_untrial(fs_notify_breaker_t *b)
{
    FS_ASSERT(b != NULL);
    b->trial = false;
}

/* --- the notifier -------------------------------------------------------- */

typedef struct job job_t;
typedef struct endpoint endpoint_t;
typedef struct tenant tenant_t;

/* A tenant's attempts in flight to endpoints not proven healthy (its share,
 * FS_NOTIFY_TENANT_INFLIGHT_MAX); the entry exists while it has any. */
struct tenant {
    tenant_t *next; /* in its bucket */
    char id[FS_ID_LEN_MAX + 1];
    int unproven;
};

/* What this worker knows of one endpoint (docs/operations.md, "Webhook
 * fairness"): its breaker, whether it is proven healthy (its last attempt
 * answered 2xx within FS_NOTIFY_ENDPOINT_SLOW_MS), and its attempts in
 * flight, oldest first. Forgotten after FS_NOTIFY_ENDPOINT_FORGET_MS unused. */
struct endpoint {
    endpoint_t *next; /* in its bucket */
    char id[FS_ID_LEN_MAX + 1];
    char tenant_id[FS_ID_LEN_MAX + 1];
    fs_notify_breaker_t breaker;
    bool proven;
    int inflight;
    job_t *jobs, *jobs_tail;
    int64_t used_ms; /* the last attempt admitted, skipped or ended */
};

/* One keep-alive connection of a host's pool. evcon is made at its first
 * use and lives across attempts (evhttp reconnects it when the receiver
 * closed it); it is freed when idle for FS_NOTIFY_CONN_IDLE_MS, when an
 * attempt on it runs out of time, and at the end, never inside one of its
 * requests' callbacks. job: the attempt it carries, or NULL when free. */
typedef struct {
    struct evhttp_connection *evcon;
    SSL *ssl; /* https: its TLS session (owned by evcon's bufferevent) */
    job_t *job;
    int64_t idle_since_ms;
} conn_t;

/* The pool of one (address, port): at most FS_NOTIFY_HOST_CONNS attempts
 * at once; the others wait in line. */
typedef struct host {
    struct host *next;
    char addr[64]; /* the IP connected to: the URL's literal or a checked answer */
    char name[FS_NOTIFY_HOST_NAME_LEN_MAX + 1]; /* the URL's host: SNI, Host, verified */
    bool literal;
    bool tls;
    int port;
    conn_t conns[FS_NOTIFY_HOST_CONNS];
    job_t *wait, *wait_tail;
} host_t;

struct job {
    job_t *next;                /* in a hand-off list, a host's line or the finish batch */
    job_t *all_prev, *all_next; /* in the loop's list of live jobs */
    fs_notifier_t *n;
    fs_queue_msg_t *msg; /* NULL: leased by the fan-out, no message */
    json_t *data;        /* the delivery: url, secret, event_id, request_id, event */
    host_t *host;        /* while in a host's line or on one of its connections */
    conn_t *conn;        /* while its POST runs */
    struct event *deadline;
    endpoint_t *ep;             /* admitted: counted in its endpoint (and tenant) */
    job_t *ep_prev, *ep_next;   /* in its endpoint's attempts, oldest first */
    bool unproven;              /* counted in the shares of endpoints not proven */
    bool trial;                 /* its endpoint's breaker's half-open trial */
    bool deferred;              /* not sent (breaker open, or over a share): no attempt */
    int64_t posted_ms;          /* when admitted */
    int duration_ms;            /* the attempt's, to its result; -1: none */
    char secret[FS_NOTIFY_SECRET_LEN_MAX + 1]; /* opened by post(), zeroed when freed */
    char *target;
    url_t *url;                                /* the URL's parts, from post() */
    struct evdns_getaddrinfo_request *dns;     /* while its host name is resolved */
    char id[FS_ID_LEN_MAX + 1];
    int attempts;
    int64_t delay_ms; /* the back-off after this attempt, if it fails */
    int http_status;  /* the attempt's result: 0 for none */
    char error[FS_NOTIFY_ERROR_LEN_MAX + 1];
    char dead_reason[FS_NOTIFY_ERROR_LEN_MAX + 64];
};

struct fs_notifier {
    const fs_config_t *config;
    struct event_base *base;
    fs_store_t *store;
    fs_queue_t *queue;
    struct evdns_base *dns; /* resolves webhook host names on the loop */
    SSL_CTX *tls;           /* https webhooks: the system's CAs and FINSYS_WEBHOOK_CA_FILE */

    pthread_mutex_t mu; /* guards what the fetch thread shares: */
    pthread_cond_t cv;
    job_t *incoming, *incoming_tail; /* fetched, not yet taken by the loop */
    job_t *dead, *dead_tail;         /* to move to the dead letters */
    int inflight;                    /* jobs that exist, and slots a fan-out reserved */
    bool stopping;

    /* loop thread only: */
    job_t *all;
    host_t *hosts;
    int fanout_reserved; /* the slots of the fan-out in flight */
    endpoint_t *endpoints[FS_NOTIFY_TABLE_BUCKETS];
    tenant_t *tenants[FS_NOTIFY_TABLE_BUCKETS];
    int unproven; /* attempts in flight to endpoints not proven (all tenants) */
    job_t *finishing, *finishing_tail; /* results waiting to be recorded */
    int finishing_count;
    struct event *incoming_ev, *fanout_ev, *sweep_ev, *finish_ev, *idle_ev;
    pthread_t fetcher;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- endpoints and tenants: breakers and shares --------------------------- */

static size_t bucket_of(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)key; *c != '\0'; c++)
        h = (h ^ *c) * 16777619u;
    return h % FS_NOTIFY_TABLE_BUCKETS;
}

static endpoint_t *endpoint_get(fs_notifier_t *n, const char *id, const char *tenant_id)
{
    endpoint_t **head = &n->endpoints[bucket_of(id)];
    for (endpoint_t *ep = *head; ep != NULL; ep = ep->next) {
        if (strcmp(ep->id, id) == 0) return ep;
    }
    endpoint_t *ep = calloc(1, sizeof(*ep));
    FS_ASSERT(ep != NULL);
    snprintf(ep->id, sizeof(ep->id), "%s", id);
    snprintf(ep->tenant_id, sizeof(ep->tenant_id), "%s", tenant_id);
    ep->next = *head;
    *head = ep;
    return ep;
}

static tenant_t *tenant_get(fs_notifier_t *n, const char *id)
{
    tenant_t **head = &n->tenants[bucket_of(id)];
    for (tenant_t *t = *head; t != NULL; t = t->next) {
        if (strcmp(t->id, id) == 0) return t;
    }
    tenant_t *t = calloc(1, sizeof(*t));
    FS_ASSERT(t != NULL);
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->next = *head;
    *head = t;
    return t;
}

/* Forgets a tenant left with no attempt counted. */
static void tenant_drop_if_idle(fs_notifier_t *n, tenant_t *t)
{
    if (t->unproven > 0) return;
    tenant_t **p = &n->tenants[bucket_of(t->id)];
    while (*p != t) p = &(*p)->next;
    *p = t->next;
    free(t);
}

/* Ends the admitted job's attempt in its endpoint's books: its shares are
 * given back and its result (ok: a 2xx) goes to the breaker. */
static void endpoint_release(job_t *job, bool ok)
{
    fs_notifier_t *n = job->n;
    endpoint_t *ep = job->ep;
    int64_t now = now_ms();
    if (job->ep_prev != NULL) {
        job->ep_prev->ep_next = job->ep_next;
    } else {
        ep->jobs = job->ep_next;
    }
    if (job->ep_next != NULL) {
        job->ep_next->ep_prev = job->ep_prev;
    } else {
        ep->jobs_tail = job->ep_prev;
    }
    job->ep_prev = job->ep_next = NULL;
    job->ep = NULL;
    ep->inflight--;
    ep->used_ms = now;
    if (job->unproven) {
        job->unproven = false;
        n->unproven--;
        tenant_t *t = tenant_get(n, ep->tenant_id);
        t->unproven--;
        tenant_drop_if_idle(n, t);
    }
    ep->proven = ok && now - job->posted_ms <= FS_NOTIFY_ENDPOINT_SLOW_MS;
    bool was_open = ep->breaker.open_until != 0;
    if (fs_notify_breaker_record(&ep->breaker, ok, job->trial, now)) {
        fs_log(FS_LOG_WARN, "notify",
               "endpoint %s (tenant %s): circuit open for %lld ms after %d consecutive "
               "failures; its deliveries wait",
               ep->id, ep->tenant_id, ep->breaker.cooloff_ms, ep->breaker.failures);
    } else if (was_open && ep->breaker.open_until == 0) {
        fs_log(FS_LOG_INFO, "notify", "endpoint %s (tenant %s): circuit closed", ep->id,
               ep->tenant_id);
    }
    job->trial = false;
}

/* Forgets endpoints with nothing in flight, unused for
 * FS_NOTIFY_ENDPOINT_FORGET_MS. */
static void endpoints_prune(fs_notifier_t *n, int64_t now)
{
    for (size_t b = 0; b < FS_NOTIFY_TABLE_BUCKETS; b++) {
        endpoint_t **p = &n->endpoints[b];
        while (*p != NULL) {
            endpoint_t *ep = *p;
            if (ep->inflight == 0 && !ep->breaker.trial
                && now - ep->used_ms >= FS_NOTIFY_ENDPOINT_FORGET_MS) {
                *p = ep->next;
                free(ep);
            } else {
                p = &ep->next;
            }
        }
    }
}

static void tables_free(fs_notifier_t *n)
{
    for (size_t b = 0; b < FS_NOTIFY_TABLE_BUCKETS; b++) {
        while (n->endpoints[b] != NULL) {
            endpoint_t *ep = n->endpoints[b];
            n->endpoints[b] = ep->next;
            free(ep);
        }
        while (n->tenants[b] != NULL) {
            tenant_t *t = n->tenants[b];
            n->tenants[b] = t->next;
            free(t);
        }
    }
}

static void slots_release(fs_notifier_t *n, int count)
{
    pthread_mutex_lock(&n->mu);
    n->inflight -= count;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

static job_t *job_new(fs_notifier_t *n, fs_queue_msg_t *msg, const char *id)
{
    job_t *job = calloc(1, sizeof(*job));
    FS_ASSERT(job != NULL);
    job->n = n;
    job->msg = msg;
    job->duration_ms = -1;
    snprintf(job->id, sizeof(job->id), "%s", id);
    return job;
}

static void job_free(job_t *job)
{
    sodium_memzero(job->secret, sizeof(job->secret));
    fs_queue_msg_free(job->msg);
    json_decref(job->data);
    if (job->deadline != NULL) event_free(job->deadline);
    free(job->target);
    free(job->url);
    free(job);
}

static void job_track(job_t *job)
{
    fs_notifier_t *n = job->n;
    job->all_prev = NULL;
    job->all_next = n->all;
    if (n->all != NULL) n->all->all_prev = job;
    n->all = job;
}

static void job_forget(job_t *job)
{
    fs_notifier_t *n = job->n;
    if (job->all_prev != NULL) job->all_prev->all_next = job->all_next;
    if (job->all_next != NULL) job->all_next->all_prev = job->all_prev;
    if (n->all == job) n->all = job->all_next;
    job->all_prev = job->all_next = NULL;
}

static void job_done(job_t *job)
{
    fs_notifier_t *n = job->n;
    job_forget(job);
    job_free(job);
    slots_release(n, 1);
}

static void ack(job_t *job)
{
    if (job->msg != NULL && fs_queue_msg_ack(job->msg) != FS_QUEUE_OK)
        fs_log(FS_LOG_WARN, "notify", "ack of %s failed; it will be redelivered", job->id);
    job_done(job);
}

/* Tries the delivery again after delay_ms: its message is put back; one the
 * fan-out leased has none yet, so one is published now, and its claim puts
 * it back until the delivery is due. If that fails, the sweeper will. */
static void put_back(job_t *job, int64_t delay_ms, const char *why)
{
    if (job->deferred) {
        fs_log(FS_LOG_DEBUG, "notify", "delivery %s deferred %lld ms (%s)", job->id,
               (long long)delay_ms, why);
    } else {
        fs_log(FS_LOG_INFO, "notify", "delivery %s retried in %lld ms (attempt %d: %s)", job->id,
               (long long)delay_ms, job->attempts, why);
    }
    if (job->msg != NULL) {
        if (fs_queue_msg_nak(job->msg, delay_ms) != FS_QUEUE_OK)
            fs_log(FS_LOG_WARN, "notify", "nak of %s failed; it will be redelivered", job->id);
    } else if (fs_queue_publish_notification(job->n->queue, job->id) != FS_QUEUE_OK) {
        fs_log(FS_LOG_WARN, "notify", "publishing %s failed; the sweeper will", job->id);
    }
    job_done(job);
}

/* Hands the job to the fetch thread, which moves its message to
 * FS_NOTIFICATIONS_DEAD (a blocking publish). */
static void dead_letter(job_t *job)
{
    fs_notifier_t *n = job->n;
    fs_log(FS_LOG_WARN, "notify", "delivery %s to the dead letters (%s)", job->id,
           job->dead_reason);
    job_forget(job);
    pthread_mutex_lock(&n->mu);
    job->next = NULL;
    if (n->dead_tail != NULL) {
        n->dead_tail->next = job;
    } else {
        n->dead = job;
    }
    n->dead_tail = job;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

/* base * 2^(attempt - 1), at most FS_NOTIFY_BACKOFF_MAX_MS. */
static int64_t backoff_ms(int base_ms, int attempt)
{
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < FS_NOTIFY_BACKOFF_MAX_MS; i++) d *= 2;
    return d < FS_NOTIFY_BACKOFF_MAX_MS ? d : FS_NOTIFY_BACKOFF_MAX_MS;
}

/* --- step 3: record the results, many at once ------------------------------ */

typedef struct {
    int count;
    job_t *jobs[];
} finish_batch_t;

static void on_finished(void *arg, const fs_store_result_t *r)
{
    finish_batch_t *b = arg;
    json_t *p = strcmp(r->outcome, "ok") == 0 ? json_loads(r->payload, 0, NULL) : NULL;
    json_t *statuses = json_object_get(p, "statuses");
    if (p == NULL || json_array_size(statuses) != (size_t)b->count)
        fs_log(FS_LOG_WARN, "notify", "recording %d results failed: %s", b->count, r->outcome);
    for (int i = 0; i < b->count; i++) {
        job_t *job = b->jobs[i];
        const char *status = json_string_value(json_array_get(statuses, (size_t)i));
        if (status == NULL) {
            /* Unknown: a message comes again; a leased delivery waits for
             * its lease to run out and the sweeper. */
            if (job->msg != NULL) {
                put_back(job, job->delay_ms, r->outcome);
            } else {
                job_done(job);
            }
        } else if (strcmp(status, "pending") == 0) {
            fs_metrics_add(FS_M_WEBHOOK_DELIVERIES, job->deferred ? "deferred" : "failed", NULL,
                           NULL, 1);
            put_back(job, job->delay_ms, job->deferred ? job->error : job->dead_reason);
        } else if (strcmp(status, "dead") == 0) {
            fs_metrics_add(FS_M_WEBHOOK_DELIVERIES, "dead", NULL, NULL, 1);
            dead_letter(job);
        } else {
            if (strcmp(status, "delivered") == 0)
                fs_metrics_add(FS_M_WEBHOOK_DELIVERIES, "delivered", NULL, NULL, 1);
            ack(job);
        }
    }
    json_decref(p);
    free(b);
}

/* Sends the results gathered so far as one webhook_finish item. */
static void finish_flush(fs_notifier_t *n)
{
    if (n->finishing_count == 0) return;
    event_del(n->finish_ev);
    finish_batch_t *b = malloc(sizeof(*b) + (size_t)n->finishing_count * sizeof(job_t *));
    FS_ASSERT(b != NULL);
    json_t *ids = json_array(), *attempts = json_array(), *delivered = json_array(),
           *codes = json_array(), *errors = json_array(), *delays = json_array(),
           *deferred = json_array(), *durations = json_array();
    b->count = 0;
    for (job_t *job = n->finishing; job != NULL; job = job->next) {
        b->jobs[b->count++] = job;
        json_array_append_new(ids, json_string(job->id));
        json_array_append_new(attempts, json_integer(job->attempts));
        json_array_append_new(delivered,
                              json_boolean(job->http_status >= 200 && job->http_status < 300));
        json_array_append_new(codes, json_integer(job->http_status));
        json_array_append_new(errors, json_string(job->error));
        json_array_append_new(delays, json_integer((json_int_t)job->delay_ms));
        json_array_append_new(deferred, json_boolean(job->deferred));
        json_array_append_new(durations,
                              job->duration_ms >= 0 ? json_integer(job->duration_ms) : json_null());
    }
    FS_ASSERT(b->count == n->finishing_count);
    n->finishing = n->finishing_tail = NULL;
    n->finishing_count = 0;
    json_t *item = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i}", "op",
                             fs_op_name(FS_OP_WEBHOOK_FINISH), "ids", ids, "attempts", attempts,
                             "delivered", delivered, "http_status", codes, "errors", errors,
                             "delay_ms", delays, "deferred", deferred, "duration_ms", durations,
                             "retry_period_s", n->config->webhook_retry_period_s);
    fs_store_submit(n->store, item, on_finished, b);
}

static void on_finish_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish_flush(arg);
}

/* The attempt's result joins the next webhook_finish: sent when it holds
 * FS_NOTIFY_FINISH_MAX results or FS_NOTIFY_FINISH_WAIT_MS after its first.
 * The job may be gone when this returns. */
static void finish(job_t *job, int http_status, const char *error)
{
    fs_notifier_t *n = job->n;
    bool ok = http_status >= 200 && http_status < 300;
    if (job->ep != NULL) {
        job->duration_ms = (int)(now_ms() - job->posted_ms);
        endpoint_release(job, ok);
    }
    job->http_status = http_status;
    snprintf(job->error, sizeof(job->error), "%s", ok ? "" : error);
    if (job->error[0] != '\0')
        snprintf(job->dead_reason, sizeof(job->dead_reason), "%d attempts; last: %s",
                 job->attempts, error);
    if (job->msg != NULL) fs_queue_msg_in_progress(job->msg); /* the ack wait starts again */
    job->next = NULL;
    if (n->finishing_tail != NULL) {
        n->finishing_tail->next = job;
    } else {
        n->finishing = job;
        struct timeval tv = {0, FS_NOTIFY_FINISH_WAIT_MS * 1000};
        event_add(n->finish_ev, &tv);
    }
    n->finishing_tail = job;
    if (++n->finishing_count >= FS_NOTIFY_FINISH_MAX) finish_flush(n);
}

/* --- step 2: the POST, on a host's keep-alive connections ------------------- */

/* The pool of (addr, name, port, tls): addr the IP connected to, name the
 * URL's host (the same literal, or the name addr was resolved from). */
static host_t *host_get(fs_notifier_t *n, const char *addr, const url_t *u)
{
    for (host_t *h = n->hosts; h != NULL; h = h->next) {
        if (h->port == u->port && h->tls == u->tls && strcmp(h->addr, addr) == 0
            && strcmp(h->name, u->host) == 0)
            return h;
    }
    host_t *h = calloc(1, sizeof(*h));
    FS_ASSERT(h != NULL);
    snprintf(h->addr, sizeof(h->addr), "%s", addr);
    snprintf(h->name, sizeof(h->name), "%s", u->host);
    h->literal = u->literal;
    h->tls = u->tls;
    h->port = u->port;
    h->next = n->hosts;
    n->hosts = h;
    return h;
}

/* A TLS connection is not reused: evhttp would reconnect its bufferevent
 * with the spent TLS session. It is freed once its callback has returned
 * (libevent forbids freeing it inside). */
static void on_evcon_free(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evhttp_connection_free(arg);
}

/* A new connection for host: plain, or TLS with SNI and the certificate
 * verified against the URL's host (its name, or its IP literal). */
static struct evhttp_connection *conn_new(fs_notifier_t *n, host_t *host, SSL **ssl_out)
{
    *ssl_out = NULL;
    if (!host->tls)
        return evhttp_connection_base_new(n->base, NULL, host->addr, (uint16_t)host->port);
    SSL *ssl = SSL_new(n->tls);
    FS_ASSERT(ssl != NULL);
    if (host->literal) {
        FS_ASSERT(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host->name) == 1);
    } else {
        FS_ASSERT(SSL_set_tlsext_host_name(ssl, host->name) == 1);
        FS_ASSERT(SSL_set1_host(ssl, host->name) == 1);
    }
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(n->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    FS_ASSERT(bev != NULL);
    /* Many receivers close without a TLS close_notify; the HTTP framing
     * says where the answer ends. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    *ssl_out = ssl;
    return evhttp_connection_base_bufferevent_new(n->base, NULL, bev, host->addr,
                                                  (uint16_t)host->port);
}

/* Why a TLS connection failed, if it did ("" if not a TLS failure). */
static void tls_error(conn_t *conn, char *out, size_t out_len)
{
    out[0] = '\0';
    if (conn->ssl == NULL) return;
    long v = SSL_get_verify_result(conn->ssl);
    if (v != X509_V_OK) {
        snprintf(out, out_len, "TLS: certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
        return;
    }
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn->evcon);
    unsigned long e = bev != NULL ? bufferevent_get_openssl_error(bev) : 0;
    if (e != 0) {
        const char *r = ERR_reason_error_string(e);
        snprintf(out, out_len, "TLS: %s", r != NULL ? r : "handshake failed");
    }
}

static void on_response(struct evhttp_request *req, void *arg);

/* Starts the job's POST on conn (free). */
static void send_on(job_t *job, conn_t *conn)
{
    fs_notifier_t *n = job->n;
    host_t *host = job->host;
    if (conn->evcon == NULL) {
        conn->evcon = conn_new(n, host, &conn->ssl);
        FS_ASSERT(conn->evcon != NULL);
        struct timeval tv = {n->config->webhook_timeout_ms / 1000,
                             (n->config->webhook_timeout_ms % 1000) * 1000};
        evhttp_connection_set_timeout_tv(conn->evcon, &tv);
        evhttp_connection_set_retries(conn->evcon, 0);
        evhttp_connection_set_max_body_size(conn->evcon, FS_NOTIFY_RESPONSE_BODY_MAX_BYTES);
    }
    const char *secret = job->secret;
    const char *event_id = json_string_value(json_object_get(job->data, "event_id"));
    const char *request_id = json_string_value(json_object_get(job->data, "request_id"));
    const char *body = json_string_value(json_object_get(job->data, "event"));
    char signature[FS_NOTIFY_SIGNATURE_BUF_LEN], attempt[16],
        host_header[FS_NOTIFY_HOST_NAME_LEN_MAX + 16];
    size_t len = strlen(body);
    fs_notify_sign(secret, (long long)time(NULL), body, len, signature);
    snprintf(attempt, sizeof(attempt), "%d", job->attempts);
    snprintf(host_header, sizeof(host_header),
             strchr(host->name, ':') != NULL ? "[%s]:%d" : "%s:%d", host->name, host->port);

    struct evhttp_request *req = evhttp_request_new(on_response, job);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", host_header);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "User-Agent", "FinSys-Webhooks/1");
    evhttp_add_header(h, FS_NOTIFY_HEADER_SIGNATURE, signature);
    evhttp_add_header(h, FS_NOTIFY_HEADER_EVENT_ID, event_id);
    /* The API request behind the event, so that a receiver's logs and ours
     * can be joined (evhttp refuses a value with a line break). */
    if (request_id != NULL && request_id[0] != '\0')
        evhttp_add_header(h, "X-Request-Id", request_id);
    evhttp_add_header(h, FS_NOTIFY_HEADER_DELIVERY_ID, job->id);
    evhttp_add_header(h, FS_NOTIFY_HEADER_ATTEMPT, attempt);
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    conn->job = job;
    job->conn = conn;
    if (evhttp_make_request(conn->evcon, req, EVHTTP_REQ_POST, job->target) != 0) {
        /* Its callback is not called, and the request is freed. The
         * connection stays (this may run in another of its requests'
         * callbacks); its next request connects again. */
        conn->job = NULL;
        conn->idle_since_ms = now_ms();
        job->conn = NULL;
        job->host = NULL;
        event_del(job->deadline);
        finish(job, 0, "cannot send the request");
    }
}

/* Starts the host's waiting jobs on its free connections. */
static void host_pump(host_t *host)
{
    for (int i = 0; i < FS_NOTIFY_HOST_CONNS && host->wait != NULL; i++) {
        conn_t *conn = &host->conns[i];
        if (conn->job != NULL) continue;
        job_t *job = host->wait;
        host->wait = job->next;
        if (host->wait == NULL) host->wait_tail = NULL;
        job->next = NULL;
        send_on(job, conn);
    }
}

static void on_response(struct evhttp_request *req, void *arg)
{
    job_t *job = arg;
    host_t *host = job->host;
    conn_t *conn = job->conn;
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
    char why[sizeof(job->error)];
    if (code == 0) tls_error(conn, why, sizeof(why));
    if (conn->ssl != NULL) {
        struct timeval now = {0, 0};
        FS_ASSERT(event_base_once(job->n->base, -1, EV_TIMEOUT, on_evcon_free, conn->evcon, &now)
                  == 0);
        conn->evcon = NULL;
        conn->ssl = NULL;
    }
    conn->job = NULL;
    conn->idle_since_ms = now_ms();
    job->conn = NULL;
    job->host = NULL;
    event_del(job->deadline);
    if (code == 0) {
        if (why[0] == '\0') snprintf(why, sizeof(why), "timeout or network error");
    } else {
        snprintf(why, sizeof(why), "the endpoint answered %d", code);
    }
    finish(job, code, why);
    /* The connection is idle again (evhttp reconnects it if the receiver
     * closed it): the next in line may take it. */
    host_pump(host);
}

/* The attempt's whole time, waiting in line included, is up. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    job_t *job = arg;
    host_t *host = job->host;
    (void)fd;
    (void)what;
    if (job->dns != NULL) {
        /* Still resolving: its callback is called with EVUTIL_EAI_CANCEL,
         * later, and does not touch the job. */
        evdns_getaddrinfo_cancel(job->dns);
        job->dns = NULL;
        finish(job, 0, "DNS: no answer in time");
        return;
    }
    if (job->conn != NULL) {
        /* Not inside one of its callbacks: freeing it drops the request
         * without calling back. */
        evhttp_connection_free(job->conn->evcon);
        job->conn->evcon = NULL;
        job->conn->ssl = NULL;
        job->conn->job = NULL;
        job->conn = NULL;
    } else {
        job_t **p = &host->wait;
        while (*p != job) p = &(*p)->next;
        *p = job->next;
        host->wait_tail = NULL;
        for (job_t *j = host->wait; j != NULL; j = j->next) host->wait_tail = j;
    }
    job->host = NULL;
    finish(job, 0, "timeout or network error");
    host_pump(host);
}

/* Not sent now: the delivery is due again after wait_ms and a random part
 * of it (FS_NOTIFY_DEFER_JITTER_PCT), with no attempt made or counted
 * (webhook_finish's "deferred"). The job may be gone when this returns. */
static void defer(job_t *job, int64_t wait_ms, const char *why)
{
    uint32_t spread = (uint32_t)(wait_ms * FS_NOTIFY_DEFER_JITTER_PCT / 100);
    job->deferred = true;
    job->delay_ms = wait_ms + (spread > 0 ? randombytes_uniform(spread + 1) : 0);
    finish(job, 0, why);
}

/* Whether the job's attempt may start now (docs/operations.md, "Webhook
 * fairness"): its endpoint's breaker lets it through, and, unless the
 * endpoint is proven healthy, neither the endpoint, nor its tenant, nor the
 * unproven endpoints together are at their caps. If so it is counted in
 * them (endpoint_release gives that back with its result); if not it is
 * deferred and false returned. */
static bool admit(job_t *job, const char *endpoint_id, const char *tenant_id)
{
    fs_notifier_t *n = job->n;
    int64_t now = now_ms();
    endpoint_t *ep = endpoint_get(n, endpoint_id, tenant_id);
    ep->used_ms = now;
    long long wait = 0;
    fs_notify_breaker_verdict_t verdict = fs_notify_breaker_allow(&ep->breaker, now, &wait);
    if (verdict == FS_NOTIFY_BREAKER_SKIP) {
        /* Open: until its cool-off ends; a trial runs: until it ends. */
        defer(job, wait > 0 ? wait : n->config->webhook_timeout_ms, "circuit open");
        return false;
    }
    bool unproven =
        !ep->proven || (ep->jobs != NULL && now - ep->jobs->posted_ms > FS_NOTIFY_ENDPOINT_SLOW_MS);
    if (unproven) {
        tenant_t *t = tenant_get(n, ep->tenant_id);
        if (ep->inflight >= FS_NOTIFY_ENDPOINT_INFLIGHT_MAX
            || t->unproven >= FS_NOTIFY_TENANT_INFLIGHT_MAX
            || n->unproven >= FS_NOTIFY_UNPROVEN_INFLIGHT_MAX) {
            if (verdict == FS_NOTIFY_BREAKER_TRIAL) fs_notify_breaker_untrial(&ep->breaker);
            tenant_drop_if_idle(n, t);
            /* By then an attempt holding the cap has ended. */
            defer(job, n->config->webhook_timeout_ms,
                  ep->inflight >= FS_NOTIFY_ENDPOINT_INFLIGHT_MAX ? "endpoint busy"
                                                                  : "tenant's share in use");
            return false;
        }
        t->unproven++;
        n->unproven++;
        job->unproven = true;
    }
    job->trial = verdict == FS_NOTIFY_BREAKER_TRIAL;
    job->ep = ep;
    job->posted_ms = now;
    job->ep_next = NULL;
    job->ep_prev = ep->jobs_tail;
    if (ep->jobs_tail != NULL) {
        ep->jobs_tail->ep_next = job;
    } else {
        ep->jobs = job;
    }
    ep->jobs_tail = job;
    ep->inflight++;
    return true;
}

/* Queues the job's attempt (its data, attempts and delay set) on its host,
 * within FINSYS_WEBHOOK_TIMEOUT_MS from now in all: waiting for a
 * connection, connecting, sending and reading the answer (a receiver that
 * trickles its answer a byte at a time still fails at the deadline). */
/* Puts the job (admitted, its deadline running) in line for addr, an IP
 * already checked against the refused networks. */
static void enqueue(job_t *job, const char *addr)
{
    host_t *host = host_get(job->n, addr, job->url);
    job->host = host;
    job->next = NULL;
    if (host->wait_tail != NULL) {
        host->wait_tail->next = job;
    } else {
        host->wait = job;
    }
    host->wait_tail = job;
    host_pump(host);
}

/* The refused network of the first refused address of the answer (at most
 * FS_NOTIFY_DNS_ADDRS_MAX of them looked at), or NULL, with the address
 * to connect to in first: the first IPv4 one, else the first (empty if the
 * answer holds none). */
static const char *answer_refused(const struct evutil_addrinfo *res,
                                  const fs_config_nets_t *allowed, char *first,
                                  size_t first_len, char *refused_addr, size_t refused_len)
{
    first[0] = '\0';
    int seen = 0;
    for (const struct evutil_addrinfo *ai = res; ai != NULL && seen < FS_NOTIFY_DNS_ADDRS_MAX;
         ai = ai->ai_next) {
        char text[64];
        const char *why = NULL;
        if (ai->ai_family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
            why = fs_notify_addr_refused(AF_INET, (const unsigned char *)&sin->sin_addr, allowed);
            inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
        } else if (ai->ai_family == AF_INET6) {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ai->ai_addr;
            why = fs_notify_addr_refused(AF_INET6, (const unsigned char *)&sin6->sin6_addr,
                                         allowed);
            inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
        } else {
            continue;
        }
        seen++;
        if (why != NULL) {
            snprintf(refused_addr, refused_len, "%s", text);
            return why;
        }
        /* IPv4 first: not every worker's network routes IPv6. */
        if (first[0] == '\0' || (ai->ai_family == AF_INET && strchr(first, ':') != NULL))
            snprintf(first, first_len, "%s", text);
    }
    return NULL;
}

/* The host name's answer: every address is checked (one refused: the
 * attempt is refused, as a literal in that network would be), and one of
 * them is connected to, never resolved again for this attempt. */
static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    if (result == EVUTIL_EAI_CANCEL) {
        /* The deadline cancelled it and ended the attempt: arg may be gone. */
        if (res != NULL) evutil_freeaddrinfo(res);
        return;
    }
    job_t *job = arg;
    fs_notifier_t *n = job->n;
    job->dns = NULL;
    char addr[64], bad[64] = "", why[sizeof(job->error)];
    const char *refused = NULL;
    if (result == 0)
        refused = answer_refused(res, &n->config->webhook_allowed, addr, sizeof(addr), bad,
                                 sizeof(bad));
    if (res != NULL) evutil_freeaddrinfo(res);
    if (result != 0 || (refused == NULL && addr[0] == '\0')) {
        event_del(job->deadline);
        snprintf(why, sizeof(why), "DNS: %.64s: %s", job->url->host,
                 result != 0 ? evutil_gai_strerror(result) : "no address");
        finish(job, 0, why);
        return;
    }
    if (refused != NULL) {
        event_del(job->deadline);
        snprintf(why, sizeof(why), "destination refused: %s", refused);
        fs_log(FS_LOG_WARN, "notify",
               "delivery %s: %s resolves to %s, in a refused network, %s; not sent", job->id,
               job->url->host, bad, refused);
        finish(job, 0, why);
        return;
    }
    enqueue(job, addr);
}

/* Queues the job's attempt (its data, attempts and delay set) on its host,
 * within FINSYS_WEBHOOK_TIMEOUT_MS from now in all: resolving its host
 * name, waiting for a connection, connecting (TLS included), sending and
 * reading the answer (a receiver that trickles its answer a byte at a time
 * still fails at the deadline). */
static void post(job_t *job)
{
    fs_notifier_t *n = job->n;
    const char *url = json_string_value(json_object_get(job->data, "url"));
    fs_error_t err;
    if (job->url == NULL) job->url = malloc(sizeof(*job->url));
    FS_ASSERT(job->url != NULL);
    if (url == NULL || !url_parse(url, job->url, &err)) {
        finish(job, 0, "invalid url"); /* checked at creation: cannot happen */
        return;
    }
    /* Checked again before any connection: the endpoint may have been made
     * under other FINSYS_WEBHOOK_ALLOWED_NETWORKS, or by another server. A
     * literal is the address connected to; a name's addresses are checked
     * once resolved (on_resolved). */
    const char *refused =
        job->url->literal ? host_refused(job->url->host, &n->config->webhook_allowed) : NULL;
    if (refused != NULL) {
        char why[sizeof(job->error)];
        snprintf(why, sizeof(why), "destination refused: %s", refused);
        fs_log(FS_LOG_WARN, "notify", "delivery %s: %s is in a refused network, %s; not sent",
               job->id, job->url->host, refused);
        finish(job, 0, why);
        return;
    }
    /* The signing secret: sealed (docs/operations.md, "Secrets at rest"),
     * or in clear in a row from before 0029 the server has not sealed yet. */
    const char *clear = json_string_value(json_object_get(job->data, "secret"));
    const char *sealed = json_string_value(json_object_get(job->data, "secret_sealed"));
    if (clear != NULL && strlen(clear) <= FS_NOTIFY_SECRET_LEN_MAX) {
        snprintf(job->secret, sizeof(job->secret), "%s", clear);
    } else if (!fs_notify_secret_open(n->config->secrets_key, sealed, job->secret,
                                      sizeof(job->secret))
               && !(n->config->secrets_key_previous_set
                    && fs_notify_secret_open(n->config->secrets_key_previous, sealed,
                                             job->secret, sizeof(job->secret)))) {
        fs_log(FS_LOG_ERROR, "notify",
               "delivery %s: its endpoint's secret does not open with FINSYS_SECRETS_KEY "
               "(nor FINSYS_SECRETS_KEY_PREVIOUS; a changed key?); not sent",
               job->id);
        finish(job, 0, "the endpoint's secret cannot be opened");
        return;
    }
    const char *endpoint_id = json_string_value(json_object_get(job->data, "endpoint_id"));
    const char *tenant_id = json_string_value(json_object_get(job->data, "tenant_id"));
    if (endpoint_id != NULL && tenant_id != NULL && !admit(job, endpoint_id, tenant_id)) return;
    free(job->target);
    job->target = strdup(job->url->target);
    FS_ASSERT(job->target != NULL);
    if (job->deadline == NULL) job->deadline = evtimer_new(n->base, on_deadline, job);
    FS_ASSERT(job->deadline != NULL);
    struct timeval tv = {n->config->webhook_timeout_ms / 1000,
                         (n->config->webhook_timeout_ms % 1000) * 1000};
    evtimer_add(job->deadline, &tv);
    if (job->url->literal) {
        enqueue(job, job->url->host);
        return;
    }
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    /* The callback may run before this returns (an /etc/hosts name, an
     * error): then the request is NULL and the job may be gone. */
    job->dns = NULL;
    struct evdns_getaddrinfo_request *r =
        evdns_getaddrinfo(n->dns, job->url->host, NULL, &hints, on_resolved, job);
    if (r != NULL) job->dns = r;
}

/* Closes connections idle for FS_NOTIFY_CONN_IDLE_MS, and forgets hosts
 * left with none. */
static void on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
    fs_notifier_t *n = arg;
    (void)fd;
    (void)what;
    int64_t now = now_ms();
    endpoints_prune(n, now);
    host_t **p = &n->hosts;
    while (*p != NULL) {
        host_t *host = *p;
        bool used = host->wait != NULL;
        for (int i = 0; i < FS_NOTIFY_HOST_CONNS; i++) {
            conn_t *conn = &host->conns[i];
            if (conn->evcon != NULL && conn->job == NULL
                && now - conn->idle_since_ms >= FS_NOTIFY_CONN_IDLE_MS) {
                evhttp_connection_free(conn->evcon);
                conn->evcon = NULL;
                conn->ssl = NULL;
            }
            used = used || conn->evcon != NULL;
        }
        if (used) {
            p = &host->next;
        } else {
            *p = host->next;
            free(host);
        }
    }
}

/* --- step 1: claim (a delivery that came by message) ----------------------- */

static void on_claimed(void *arg, const fs_store_result_t *r)
{
    job_t *job = arg;
    fs_notifier_t *n = job->n;
    if (strcmp(r->outcome, "not_found") == 0) {
        fs_log(FS_LOG_WARN, "notify", "delivery %s does not exist; message dropped", job->id);
        ack(job);
        return;
    }
    if (strcmp(r->outcome, "ok") != 0) {
        put_back(job, n->config->webhook_backoff_base_ms, r->outcome);
        return;
    }
    json_t *p = json_loads(r->payload, 0, NULL);
    const char *status = json_string_value(json_object_get(p, "status"));
    if (status == NULL || strcmp(status, "pending") != 0) {
        /* Done or canceled: only acknowledged. */
        ack(job);
    } else if (!json_is_true(json_object_get(p, "due"))) {
        /* Its attempt runs or it waits for its back-off: the message comes
         * back when it is due (and, if that attempt took it, goes). */
        json_int_t in_ms = json_integer_value(json_object_get(p, "due_in_ms"));
        if (fs_queue_msg_nak(job->msg, in_ms > 0 ? in_ms : 0) != FS_QUEUE_OK)
            fs_log(FS_LOG_WARN, "notify", "nak of %s failed; it will be redelivered", job->id);
        job_done(job);
    } else {
        job->attempts = (int)json_integer_value(json_object_get(p, "attempts"));
        job->delay_ms = backoff_ms(n->config->webhook_backoff_base_ms, job->attempts);
        if (json_string_value(json_object_get(p, "url")) == NULL
            || (json_string_value(json_object_get(p, "secret")) == NULL
                && json_string_value(json_object_get(p, "secret_sealed")) == NULL)
            || json_string_value(json_object_get(p, "event_id")) == NULL
            || json_string_value(json_object_get(p, "event")) == NULL) {
            finish(job, 0, "the delivery's event is missing");
        } else {
            job->data = json_incref(p);
            post(job);
        }
    }
    json_decref(p);
}

static void start(job_t *job)
{
    fs_notifier_t *n = job->n;
    job_track(job);
    /* The slack is for a message the broker held for its back-off, whose
     * timer and PostgreSQL's clock differ a little. A message delivered for
     * the first time was not held: one published for a failed leased
     * delivery arrives long before its back-off ends and must wait all of
     * it, as the documented schedule says. */
    int slack_ms = fs_queue_msg_deliveries(job->msg) > 1 ? FS_NOTIFY_DUE_SLACK_MS : 0;
    fs_store_submit(n->store,
                    json_pack("{s:s, s:s, s:i, s:i}", "op", fs_op_name(FS_OP_WEBHOOK_CLAIM),
                              "delivery", job->id, "lease_ms",
                              n->config->webhook_timeout_ms + FS_NOTIFY_LEASE_MARGIN_MS, "slack_ms",
                              slack_ms),
                    on_claimed, job);
}

static void on_incoming(evutil_socket_t fd, short what, void *arg)
{
    fs_notifier_t *n = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&n->mu);
    job_t *list = n->incoming;
    n->incoming = n->incoming_tail = NULL;
    pthread_mutex_unlock(&n->mu);
    while (list != NULL) {
        job_t *next = list->next;
        start(list);
        list = next;
    }
}

/* --- the fetch thread ----------------------------------------------------- */

static void dead_letter_all(fs_notifier_t *n)
{
    /* Called with mu held; releases it around the blocking publish. */
    while (n->dead != NULL) {
        job_t *job = n->dead;
        n->dead = job->next;
        if (n->dead == NULL) n->dead_tail = NULL;
        pthread_mutex_unlock(&n->mu);
        fs_queue_status_t st =
            job->msg != NULL ? fs_queue_msg_dead_letter(job->msg, job->dead_reason)
                             : fs_queue_dead_letter_notification(n->queue, job->id,
                                                                 job->dead_reason);
        if (st != FS_QUEUE_OK)
            fs_log(FS_LOG_ERROR, "notify", "dead-lettering %s failed%s", job->id,
                   job->msg != NULL ? "; it will be redelivered" : "");
        job_free(job);
        pthread_mutex_lock(&n->mu);
        n->inflight--;
    }
}

static job_t *jobs_of(fs_notifier_t *n, fs_queue_msg_t **msgs, int count, job_t **tail)
{
    job_t *head = NULL;
    *tail = NULL;
    for (int i = 0; i < count; i++) {
        job_t *job = job_new(n, msgs[i], fs_queue_msg_id(msgs[i]));
        if (*tail != NULL) {
            (*tail)->next = job;
        } else {
            head = job;
        }
        *tail = job;
    }
    return head;
}

/* The slots the fetch thread's messages may hold. */
#define FETCH_SLOTS_MAX (FS_NOTIFY_INFLIGHT_MAX - FS_NOTIFY_FANOUT_ROOM_MIN)

static void *fetch_main(void *arg)
{
    fs_notifier_t *n = arg;
    fs_queue_msg_t *msgs[FS_QUEUE_FETCH_MAX];
    fs_queue_status_t last = FS_QUEUE_OK;
    pthread_mutex_lock(&n->mu);
    for (;;) {
        dead_letter_all(n);
        /* FS_NOTIFY_FANOUT_ROOM_MIN slots stay for the fan-out: messages
         * (retries, deferred deliveries, a fan-out's overflow) never keep new
         * events from their turn. */
        while (!n->stopping && n->dead == NULL && n->inflight >= FETCH_SLOTS_MAX)
            pthread_cond_wait(&n->cv, &n->mu);
        if (n->stopping) break;
        if (n->dead != NULL) continue;
        int room = FETCH_SLOTS_MAX - n->inflight;
        if (room > FS_QUEUE_FETCH_MAX) room = FS_QUEUE_FETCH_MAX;
        pthread_mutex_unlock(&n->mu);

        int count = 0;
        fs_queue_status_t st = fs_queue_fetch_notifications(n->queue, msgs, room,
                                                            FS_WORKER_FETCH_WAIT_MS, &count);
        /* Said once per outage, not every FS_WORKER_FETCH_WAIT_MS. */
        if (st != FS_QUEUE_OK && st != last)
            fs_log(FS_LOG_WARN, "notify", "fetch: %s", fs_queue_status_name(st));
        last = st;
        if (st != FS_QUEUE_OK) {
            struct timespec pause = {0, FS_WORKER_FETCH_WAIT_MS * 1000000L};
            nanosleep(&pause, NULL);
            count = 0;
        }
        job_t *tail;
        job_t *head = jobs_of(n, msgs, count, &tail);

        pthread_mutex_lock(&n->mu);
        if (count > 0) {
            n->inflight += count;
            if (n->incoming_tail != NULL) {
                n->incoming_tail->next = head;
            } else {
                n->incoming = head;
            }
            n->incoming_tail = tail;
            event_active(n->incoming_ev, EV_READ, 0);
        }
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* --- the fan-out and the sweeper ------------------------------------------ */

static int publish_all(fs_notifier_t *n, const json_t *ids)
{
    size_t i;
    const json_t *id;
    int published = 0;
    json_array_foreach(ids, i, id) {
        if (fs_queue_publish_notification(n->queue, json_string_value(id)) == FS_QUEUE_OK)
            published++;
    }
    return published;
}

static void fanout_again(fs_notifier_t *n, int after_ms)
{
    struct timeval tv = {after_ms / 1000, (after_ms % 1000) * 1000};
    event_add(n->fanout_ev, &tv);
}

/* A fan-out's answer: its leased deliveries are POSTed at once (their slots
 * were reserved before it was sent), the others published. */
static void on_fanned_out(void *arg, const fs_store_result_t *r)
{
    fs_notifier_t *n = arg;
    int reserved = n->fanout_reserved;
    n->fanout_reserved = 0;
    if (strcmp(r->outcome, "ok") != 0) {
        fs_log(FS_LOG_WARN, "notify", "fan-out failed: %s", r->outcome);
        slots_release(n, reserved);
        fanout_again(n, FS_NOTIFY_FANOUT_INTERVAL_MS);
        return;
    }
    json_t *p = json_loads(r->payload, 0, NULL);
    json_t *leased = json_object_get(p, "leased");
    size_t i;
    json_t *d;
    int started = 0;
    json_array_foreach(leased, i, d) {
        if (started == reserved) break; /* cannot happen: lease_max was reserved */
        const char *id = json_string_value(json_object_get(d, "id"));
        if (id == NULL) continue;
        job_t *job = job_new(n, NULL, id);
        job->attempts = 1;
        job->delay_ms = backoff_ms(n->config->webhook_backoff_base_ms, 1);
        job->data = json_incref(d);
        job_track(job);
        started++;
        post(job);
    }
    slots_release(n, reserved - started);
    json_t *ids = json_object_get(p, "deliveries");
    int published = publish_all(n, ids);
    if (started > 0 || json_array_size(ids) > 0)
        fs_log(FS_LOG_DEBUG, "notify", "fan-out: %d deliveries started, %zu published (%d ok)",
               started, json_array_size(ids), published);
    /* Deliveries whose publish failed wait for the sweeper. */
    json_int_t events = json_integer_value(json_object_get(p, "events"));
    json_decref(p);
    fanout_again(n, events >= FS_NOTIFY_FANOUT_MAX ? 0
                    : events > 0                   ? FS_NOTIFY_FANOUT_BUSY_MS
                                                   : FS_NOTIFY_FANOUT_INTERVAL_MS);
}

static void on_fanout_timer(evutil_socket_t fd, short what, void *arg)
{
    fs_notifier_t *n = arg;
    (void)fd;
    (void)what;
    /* The free slots are reserved for the deliveries it leases to us. */
    pthread_mutex_lock(&n->mu);
    int room = FS_NOTIFY_INFLIGHT_MAX - n->inflight;
    if (room > 0) n->inflight += room;
    pthread_mutex_unlock(&n->mu);
    if (room < FS_NOTIFY_FANOUT_ROOM_MIN) {
        slots_release(n, room > 0 ? room : 0);
        fanout_again(n, FS_NOTIFY_FANOUT_BUSY_MS);
        return;
    }
    n->fanout_reserved = room;
    /* No more events than it can lease deliveries for (one an endpoint, so
     * with one endpoint all of them): the rest wait in the event log, where
     * they cost nothing, rather than go through the broker and a claim each
     * (a claim about 1 ms of PostgreSQL in make bench). */
    fs_store_submit(n->store,
                    json_pack("{s:s, s:i, s:i, s:i}", "op", fs_op_name(FS_OP_WEBHOOK_FANOUT), "max",
                              room < FS_NOTIFY_FANOUT_MAX ? room : FS_NOTIFY_FANOUT_MAX,
                              "lease_max", room, "lease_ms",
                              n->config->webhook_timeout_ms + FS_NOTIFY_LEASE_MARGIN_MS),
                    on_fanned_out, n);
}

static void on_swept(void *arg, const fs_store_result_t *r)
{
    fs_notifier_t *n = arg;
    if (strcmp(r->outcome, "ok") != 0) return;
    json_t *p = json_loads(r->payload, 0, NULL);
    json_t *ids = json_object_get(p, "deliveries");
    int published = publish_all(n, ids);
    if (json_array_size(ids) > 0)
        fs_log(FS_LOG_INFO, "notify", "sweeper: %zu due deliveries published again (%d ok)",
               json_array_size(ids), published);
    json_decref(p);
}

static void on_sweep_timer(evutil_socket_t fd, short what, void *arg)
{
    fs_notifier_t *n = arg;
    (void)fd;
    (void)what;
    fs_store_submit(n->store,
                    json_pack("{s:s, s:i, s:i}", "op", fs_op_name(FS_OP_WEBHOOK_SWEEP), "older_s",
                              n->config->sweep_after_s, "max", FS_NOTIFY_SWEEP_MAX),
                    on_swept, n);
}

/* --- set-up and tear-down ------------------------------------------------- */

fs_notifier_t *fs_notifier_new(const fs_config_t *config, struct event_base *base,
                               fs_store_t *store, fs_queue_t *queue)
{
    FS_ASSERT(config != NULL && base != NULL && store != NULL && queue != NULL);
    fs_notifier_t *n = calloc(1, sizeof(*n));
    FS_ASSERT(n != NULL);
    n->config = config;
    n->base = base;
    n->store = store;
    n->queue = queue;
    FS_ASSERT(pthread_mutex_init(&n->mu, NULL) == 0);
    FS_ASSERT(pthread_cond_init(&n->cv, NULL) == 0);
    n->incoming_ev = event_new(base, -1, 0, on_incoming, n);
    n->fanout_ev = event_new(base, -1, 0, on_fanout_timer, n);
    n->sweep_ev = event_new(base, -1, EV_PERSIST, on_sweep_timer, n);
    n->finish_ev = event_new(base, -1, 0, on_finish_timer, n);
    n->idle_ev = event_new(base, -1, EV_PERSIST, on_idle_timer, n);
    FS_ASSERT(n->incoming_ev != NULL && n->fanout_ev != NULL && n->sweep_ev != NULL
              && n->finish_ev != NULL && n->idle_ev != NULL);
    /* Host names: resolved on this loop (resolv.conf's servers, /etc/hosts
     * first), never by a blocking getaddrinfo; the base keeps no event
     * pending while it has no request, so the loop can end. */
    n->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS
                                      | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (n->dns == NULL) {
        /* No resolv.conf at all: /etc/hosts and 127.0.0.1 as the server. */
        n->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        FS_ASSERT(n->dns != NULL);
        evdns_base_load_hosts(n->dns, NULL);
    }
    char dns_timeout[32], dns_attempts[16];
    snprintf(dns_timeout, sizeof(dns_timeout), "%d.%03d", FS_NOTIFY_DNS_TIMEOUT_MS / 1000,
             FS_NOTIFY_DNS_TIMEOUT_MS % 1000);
    snprintf(dns_attempts, sizeof(dns_attempts), "%d", FS_NOTIFY_DNS_ATTEMPTS);
    evdns_base_set_option(n->dns, "timeout:", dns_timeout);
    evdns_base_set_option(n->dns, "attempts:", dns_attempts);
    /* https: TLS 1.2 or later, the peer's certificate verified against the
     * system's CAs (loaded now, not from disk during a handshake) and
     * FINSYS_WEBHOOK_CA_FILE's. */
    n->tls = SSL_CTX_new(TLS_client_method());
    FS_ASSERT(n->tls != NULL);
    SSL_CTX_set_min_proto_version(n->tls, TLS1_2_VERSION);
    SSL_CTX_set_verify(n->tls, SSL_VERIFY_PEER, NULL);
    const char *system_cas = getenv(X509_get_default_cert_file_env());
    if (system_cas == NULL || *system_cas == '\0') system_cas = X509_get_default_cert_file();
    if (SSL_CTX_load_verify_locations(n->tls, system_cas, NULL) != 1) {
        ERR_clear_error();
        fs_log(FS_LOG_WARN, "notify",
               "no system CA file at %s (install ca-certificates): https webhooks are "
               "trusted only with FINSYS_WEBHOOK_CA_FILE",
               system_cas);
    }
    if (config->webhook_ca_file[0] != '\0'
        && SSL_CTX_load_verify_locations(n->tls, config->webhook_ca_file, NULL) != 1) {
        fs_log(FS_LOG_ERROR, "notify",
               "FINSYS_WEBHOOK_CA_FILE %s cannot be read as PEM certificates; exiting",
               config->webhook_ca_file);
        exit(2);
    }
    fanout_again(n, 0);
    struct timeval every = {config->sweep_interval_s, 0};
    event_add(n->sweep_ev, &every);
    struct timeval idle = {FS_NOTIFY_CONN_IDLE_MS / 2000, (FS_NOTIFY_CONN_IDLE_MS / 2 % 1000) * 1000};
    event_add(n->idle_ev, &idle);
    fs_thread_start_or_exit(&n->fetcher, fetch_main, n, "notify", "the webhook fetcher's thread");
    fs_log(FS_LOG_INFO, "notify",
           "delivering webhooks, %d at once, %d connections per receiver, timeout %d ms",
           FS_NOTIFY_INFLIGHT_MAX, FS_NOTIFY_HOST_CONNS, config->webhook_timeout_ms);
    return n;
}

/* At the end: the message goes back at once for another worker; a leased
 * delivery's lease runs out and the sweeper publishes it. */
static void put_back_now(job_t *job)
{
    if (job->msg != NULL) fs_queue_msg_nak(job->msg, 0);
    job_free(job);
}

void fs_notifier_free(fs_notifier_t *n)
{
    if (n == NULL) return;
    pthread_mutex_lock(&n->mu);
    n->stopping = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->fetcher, NULL);

    /* The connections first: freeing one drops its request without calling
     * back. */
    while (n->hosts != NULL) {
        host_t *host = n->hosts;
        n->hosts = host->next;
        for (int i = 0; i < FS_NOTIFY_HOST_CONNS; i++) {
            if (host->conns[i].evcon != NULL) evhttp_connection_free(host->conns[i].evcon);
        }
        free(host);
    }
    /* What is left is put back at once for another worker. */
    pthread_mutex_lock(&n->mu);
    job_t *list = n->incoming;
    n->incoming = n->incoming_tail = NULL;
    dead_letter_all(n);
    pthread_mutex_unlock(&n->mu);
    while (list != NULL) {
        job_t *next = list->next;
        put_back_now(list);
        list = next;
    }
    bool resolving = false;
    while (n->all != NULL) {
        job_t *job = n->all;
        n->all = job->all_next;
        if (job->dns != NULL) {
            evdns_getaddrinfo_cancel(job->dns);
            resolving = true;
        }
        put_back_now(job);
    }
    /* A cancelled resolution's callback is still to run (deferred) and
     * uses the base: it is left, rather than freed under it. */
    if (!resolving) evdns_base_free(n->dns, 0);
    SSL_CTX_free(n->tls);
    event_free(n->incoming_ev);
    event_free(n->fanout_ev);
    event_free(n->sweep_ev);
    event_free(n->finish_ev);
    event_free(n->idle_ev);
    tables_free(n);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
}
