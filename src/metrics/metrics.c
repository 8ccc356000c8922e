/*
 * metrics.c: the registry and its text exposition (see metrics.h).
 *
 * Each family has FS_METRICS_SERIES_MAX slots (or its own series_max). A
 * series is found by a scan of the slots published so far (an acquire load
 * of their count); a new one is written under the family's mutex and then
 * published by a release store, so a reader never sees a half-written slot.
 * Values are relaxed atomics: a scrape may see one counter a moment ahead of
 * another, never a torn value.
 */
#define _GNU_SOURCE
#include "metrics.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"

#ifndef FS_VERSION
#define FS_VERSION "unknown"
#endif
#ifndef FS_COMMIT
#define FS_COMMIT "unknown"
#endif

#define LABELS_MAX 3
#define BUCKETS_MAX 16

typedef enum { COUNTER, GAUGE, HISTOGRAM } type_t;

typedef struct family family_t;

typedef struct fs_metric_series {
    const family_t *family;
    char labels[LABELS_MAX][FS_METRICS_LABEL_LEN_MAX + 1];
    _Atomic uint64_t value; /* a counter, or a gauge's int64_t */
    _Atomic uint64_t *buckets; /* a histogram's: one per bound, then +Inf */
    _Atomic uint64_t sum;      /* a histogram's, in units of 1/scale */
} series_t;

struct family {
    const char *name, *help;
    type_t type;
    const char *label_names[LABELS_MAX];
    const double *bounds; /* a histogram's upper bounds, ascending */
    int bounds_n;
    double scale; /* a histogram's sum is kept as an integer of value * scale; a
                     gauge's value, when set, too */
    int series_max; /* its slots; 0: FS_METRICS_SERIES_MAX */
    pthread_mutex_t mu;
    _Atomic int n;
    series_t *series;
};

/* Seconds: from a fast read (0.5 ms) to the longest timeouts (10 s). */
static const double seconds_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
/* Items in a group: 1 to FS_BATCH_ITEMS_MAX. */
static const double items_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

#define SECONDS seconds_bounds, (int)(sizeof(seconds_bounds) / sizeof(seconds_bounds[0])), 1e9
#define ITEMS items_bounds, (int)(sizeof(items_bounds) / sizeof(items_bounds[0])), 1
#define NO_BOUNDS NULL, 0, 0

/* finsys_risk_rule_matches_total's slots: every kept rule id and "other",
 * each with every action and mode, so its own bound is never what sends a
 * match to "other" (FS_METRICS_RISK_RULES_MAX is). */
#define RISK_ACTIONS_N 3
#define RISK_MODES_N 2
#define RISK_RULE_SERIES_MAX ((FS_METRICS_RISK_RULES_MAX + 1) * RISK_ACTIONS_N * RISK_MODES_N)

static family_t families[FS_M_COUNT] = {
    [FS_M_BUILD_INFO] = {"finsys_build_info", "The FinSys build: version and commit.", GAUGE,
                         {"version", "commit"}},
    [FS_M_HTTP_REQUESTS] = {"finsys_http_requests_total",
                            "HTTP requests answered, by route template, method and status class.",
                            COUNTER, {"route", "method", "status_class"}},
    [FS_M_HTTP_DURATION] = {"finsys_http_request_duration_seconds",
                            "Time from a request's arrival to its answer, by route template.",
                            HISTOGRAM, {"route"}, SECONDS},
    [FS_M_PAYMENTS_CREATED] = {"finsys_payments_created_total",
                               "Payments created (new ones, not idempotent replays).", COUNTER,
                               {"currency"}},
    [FS_M_PAYMENTS_SUCCEEDED] = {"finsys_payments_succeeded_total",
                                 "Payments the worker settled as succeeded.", COUNTER,
                                 {"currency"}},
    [FS_M_PAYMENTS_FAILED] = {"finsys_payments_failed_total",
                              "Payments the worker settled as failed (declined).", COUNTER,
                              {"currency"}},
    [FS_M_PAYMENTS_CANCELED] = {"finsys_payments_canceled_total",
                                "Payments canceled through the API.", COUNTER, {"currency"}},
    [FS_M_PAYMENTS_AMOUNT] = {"finsys_payments_amount_minor_units_total",
                              "Sum of payment amounts in minor units, by currency and status "
                              "(created or succeeded).",
                              COUNTER, {"currency", "status"}},
    [FS_M_STORE_BATCH_ITEMS] = {"finsys_store_batch_items",
                                "Items per fs_batch() call (one transaction).", HISTOGRAM,
                                {NULL}, ITEMS},
    [FS_M_STORE_COMMIT_DURATION] = {"finsys_store_commit_duration_seconds",
                                    "Time from sending a group to the database to its result.",
                                    HISTOGRAM, {NULL}, SECONDS},
    [FS_M_STORE_CONNECTIONS_IN_USE] = {"finsys_store_connections_in_use",
                                       "Database connections with a group in flight.", GAUGE,
                                       {NULL}},
    [FS_M_QUEUE_PUBLISHED] = {"finsys_queue_published_total",
                              "Messages handed to the broker.", COUNTER, {NULL}},
    [FS_M_QUEUE_PUBLISH_FAILED] = {"finsys_queue_publish_failed_total",
                                   "Publishes refused or not acknowledged by the broker (the "
                                   "sweeper publishes again).",
                                   COUNTER, {NULL}},
    [FS_M_QUEUE_CONSUMED] = {"finsys_queue_consumed_total",
                             "Messages fetched from the broker (deliveries, redeliveries "
                             "included).",
                             COUNTER, {NULL}},
    [FS_M_QUEUE_CONSUMER_PENDING] = {"finsys_queue_consumer_pending_messages",
                                     "Messages waiting for a consumer, as of its last fetch "
                                     "(consumer lag).",
                                     GAUGE, {"consumer"}},
    [FS_M_QUEUE_DEAD_LETTERS] = {"finsys_queue_dead_letters_total",
                                 "Messages moved to a dead-letter stream, by stream.", COUNTER,
                                 {"queue"}},
    [FS_M_BREAKER_STATE] = {"finsys_breaker_state",
                            "The provider's circuit breaker: 0 closed, 1 half-open, 2 open.",
                            GAUGE, {NULL}},
    [FS_M_BREAKER_TRANSITIONS] = {"finsys_breaker_transitions_total",
                                  "Changes of the circuit breaker's state, by the new state.",
                                  COUNTER, {"to"}},
    [FS_M_PROVIDER_DURATION] = {"finsys_provider_request_duration_seconds",
                                "Calls to the payment provider, send to answer.", HISTOGRAM,
                                {NULL}, SECONDS},
    [FS_M_PROVIDER_REQUESTS] = {"finsys_provider_requests_total",
                                "Calls to the payment provider by outcome (approved, declined, "
                                "error, timeout, refused).",
                                COUNTER, {"outcome"}},
    [FS_M_WEBHOOK_DELIVERIES] = {"finsys_webhook_deliveries_total",
                                 "Webhook delivery attempts by outcome (delivered, failed, "
                                 "dead; deferred: not sent, its endpoint's breaker open or "
                                 "share in use).",
                                 COUNTER, {"outcome"}},
    [FS_M_RATELIMIT_LIMITED] = {"finsys_ratelimit_limited_total",
                                "Requests answered 429 by the rate limits.", COUNTER, {NULL}},
    [FS_M_READINESS] = {"finsys_readiness",
                        "Whether a dependency answers: 1 ready, 0 not (database, redis, nats).",
                        GAUGE, {"dependency"}},
    [FS_M_RISK_DECISIONS] = {"finsys_risk_decisions_total",
                             "Risk decisions of new payments (docs/risk.md), by decision (allow, "
                             "review, block) and mode (active).",
                             COUNTER, {"decision", "mode"}},
    [FS_M_RISK_RULE_MATCHES] = {"finsys_risk_rule_matches_total",
                                "Risk rules matched by new payments, shadow rules included, by "
                                "rule id (\"other\" past the kept ids), action and mode.",
                                COUNTER, {"rule", "action", "mode"}, NO_BOUNDS,
                                RISK_RULE_SERIES_MAX},
    /* --- floods and slow clients (issue 13) --- */
    [FS_M_AUTH_LOOKUPS] = {"finsys_auth_lookups_total",
                           "API keys not cached, looked up in the database by the rate limits' "
                           "check, by result (known, unknown, failed).",
                           COUNTER, {"result"}},
    /* --- reads on the replica (issue 14, src/replica) --- */
    [FS_M_READS] = {"finsys_reads_total",
                    "Lists and searches answered, by where they ran (to: replica, primary) "
                    "and why there (fresh; own_write: through this process, own_write_redis: "
                    "through another, no_sample, stale, replica_down, "
                    "replica_failed, unsure: Redis could not say whether the tenant wrote; "
                    "read_url_primary: the read URL reached a primary; no_replica: no "
                    "FINSYS_DATABASE_READ_URL).",
                    COUNTER, {"to", "why"}},
    /* Set in milliseconds (fs_replica_replayed), shown in seconds. */
    [FS_M_READ_REPLICA_LAG] = {"finsys_read_replica_lag_seconds",
                               "How far behind the primary the replica was at its last read: "
                               "the age of the oldest sampled primary position it had not "
                               "replayed (0: none).",
                               GAUGE, {NULL}, NULL, 0, 1000},
};

static bool enabled = true;
static double start_time_s;

static series_t *find(fs_metric_id_t id, const char *l1, const char *l2, const char *l3);

static int series_max_of(const family_t *f)
{
    return f->series_max > 0 ? f->series_max : FS_METRICS_SERIES_MAX;
}

static int labels_of(const family_t *f)
{
    int n = 0;
    while (n < LABELS_MAX && f->label_names[n] != NULL) n++;
    return n;
}

void fs_metrics_init(bool on)
{
    enabled = on;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    start_time_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    for (int i = 0; i < FS_M_COUNT; i++) {
        family_t *f = &families[i];
        if (f->series != NULL) continue;
        FS_ASSERT(pthread_mutex_init(&f->mu, NULL) == 0);
        f->series = calloc((size_t)series_max_of(f), sizeof(series_t));
        FS_ASSERT(f->series != NULL);
    }
    /* Families without labels exist from the start, at 0. */
    for (int i = 0; i < FS_M_COUNT; i++) {
        if (labels_of(&families[i]) == 0 && i != FS_M_BUILD_INFO)
            fs_metrics_add((fs_metric_id_t)i, NULL, NULL, NULL, 0);
    }
    if (enabled) {
        series_t *b = find(FS_M_BUILD_INFO, FS_VERSION, FS_COMMIT, NULL);
        atomic_store_explicit(&b->value, 1, memory_order_relaxed);
    }
}

bool fs_metrics_enabled(void) { return enabled; }

static bool same(const series_t *s, int n, const char *const *l)
{
    for (int k = 0; k < n; k++) {
        if (strncmp(s->labels[k], l[k] != NULL ? l[k] : "", FS_METRICS_LABEL_LEN_MAX) != 0)
            return false;
    }
    return true;
}

static series_t *find(fs_metric_id_t id, const char *l1, const char *l2, const char *l3)
{
    family_t *f = &families[id];
    if (f->series == NULL) return NULL; /* fs_metrics_init not called (unit tests) */
    const char *given[LABELS_MAX] = {l1, l2, l3};
    int nl = labels_of(f);
    int n = atomic_load_explicit(&f->n, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        if (same(&f->series[i], nl, given)) return &f->series[i];
    }
    pthread_mutex_lock(&f->mu);
    n = atomic_load_explicit(&f->n, memory_order_relaxed);
    series_t *s = NULL;
    for (int i = 0; i < n && s == NULL; i++) {
        if (same(&f->series[i], nl, given)) s = &f->series[i];
    }
    if (s == NULL && n >= series_max_of(f) - 1) {
        /* The last slot counts what no longer fits. */
        static const char *const other[LABELS_MAX] = {"other", "other", "other"};
        for (int k = 0; k < nl; k++) given[k] = other[k];
    }
    for (int i = 0; i < n && s == NULL; i++) {
        if (same(&f->series[i], nl, given)) s = &f->series[i];
    }
    if (s == NULL) {
        FS_ASSERT(n < series_max_of(f));
        s = &f->series[n];
        s->family = f;
        for (int k = 0; k < nl; k++)
            snprintf(s->labels[k], sizeof(s->labels[k]), "%s", given[k] != NULL ? given[k] : "");
        if (f->type == HISTOGRAM) {
            s->buckets = calloc((size_t)f->bounds_n + 1, sizeof(*s->buckets));
            FS_ASSERT(s->buckets != NULL);
        }
        atomic_store_explicit(&f->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&f->mu);
    return s;
}

void fs_metrics_add(fs_metric_id_t id, const char *l1, const char *l2, const char *l3,
                    uint64_t n)
{
    if (!enabled) return;
    series_t *s = find(id, l1, l2, l3);
    if (s != NULL) atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void fs_metrics_set(fs_metric_id_t id, const char *l1, int64_t value)
{
    if (!enabled) return;
    series_t *s = find(id, l1, NULL, NULL);
    if (s != NULL) atomic_store_explicit(&s->value, (uint64_t)value, memory_order_relaxed);
}

void fs_metrics_gauge_add(fs_metric_id_t id, const char *l1, int64_t delta)
{
    if (!enabled) return;
    series_t *s = find(id, l1, NULL, NULL);
    if (s != NULL) atomic_fetch_add_explicit(&s->value, (uint64_t)delta, memory_order_relaxed);
}

void fs_metrics_observe(fs_metric_id_t id, const char *l1, double value)
{
    if (!enabled) return;
    fs_metrics_series_observe(find(id, l1, NULL, NULL), value);
}

fs_metric_series_t *fs_metrics_series(fs_metric_id_t id, const char *l1, const char *l2,
                                      const char *l3)
{
    return enabled ? find(id, l1, l2, l3) : NULL;
}

void fs_metrics_series_add(fs_metric_series_t *s, uint64_t n)
{
    if (s != NULL) atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void fs_metrics_series_observe(fs_metric_series_t *s, double value)
{
    if (s == NULL) return;
    const family_t *f = s->family;
    FS_ASSERT(f->type == HISTOGRAM);
    if (!(value >= 0)) value = 0; /* NaN or negative: a clock step */
    int b = 0;
    while (b < f->bounds_n && value > f->bounds[b]) b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum, (uint64_t)llround(value * f->scale), memory_order_relaxed);
}

const char *fs_metrics_status_class(int status)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    int c = status / 100;
    if (c < 1) c = 1;
    if (c > 5) c = 5;
    return classes[c - 1];
}

/* --- risk decisions (docs/risk.md) ------------------------------------------ */

/* The rule ids kept as labels, at most FS_METRICS_RISK_RULES_MAX: written
 * under the mutex and published by a release store of the count, as a
 * family's slots are, so a reader scans them without the lock. */
static struct {
    pthread_mutex_t mu;
    _Atomic int n;
    char ids[FS_METRICS_RISK_RULES_MAX][FS_METRICS_LABEL_LEN_MAX + 1];
} rule_ids = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char *const risk_decisions[] = {"allow", "review", "block", NULL};
static const char *const risk_modes[] = {"active", "shadow", NULL};

/* A rule id as the API makes them ("rr_" then letters, digits and "_"),
 * short enough to be a label whole. */
static bool is_rule_id(const char *id)
{
    size_t len = id != NULL ? strlen(id) : 0;
    if (len <= 3 || len > FS_METRICS_LABEL_LEN_MAX || strncmp(id, "rr_", 3) != 0) return false;
    for (size_t i = 3; i < len; i++) {
        char c = id[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) return false;
    }
    return true;
}

/* The rule label of id: id itself when it is kept or there is still room
 * to keep it, else "other" (so is anything that is not a rule id). */
static const char *rule_label(const char *id)
{
    if (!is_rule_id(id)) return "other";
    int n = atomic_load_explicit(&rule_ids.n, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        if (strcmp(rule_ids.ids[i], id) == 0) return rule_ids.ids[i];
    }
    pthread_mutex_lock(&rule_ids.mu);
    n = atomic_load_explicit(&rule_ids.n, memory_order_relaxed);
    int i = 0;
    while (i < n && strcmp(rule_ids.ids[i], id) != 0) i++;
    if (i == n && n < FS_METRICS_RISK_RULES_MAX) {
        snprintf(rule_ids.ids[n], sizeof(rule_ids.ids[n]), "%s", id);
        atomic_store_explicit(&rule_ids.n, n + 1, memory_order_release);
    }
    const char *label = i < FS_METRICS_RISK_RULES_MAX ? rule_ids.ids[i] : "other";
    pthread_mutex_unlock(&rule_ids.mu);
    return label;
}

/* value if it is one of names (NULL-terminated), else "other". */
static const char *one_of(const char *value, const char *const *names)
{
    for (; value != NULL && *names != NULL; names++) {
        if (strcmp(value, *names) == 0) return *names;
    }
    return "other";
}

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The value of the key whose quoted name starts at key (key_len bytes with
 * its quotes): past blanks, the colon and blanks. NULL when no colon follows
 * (the bytes were the end of a string, not a key). PostgreSQL writes
 * "key" : value (json_build_object) or "key": value (jsonb), jansson
 * "key":value; all three are read. */
static const char *value_of(const char *key, size_t key_len)
{
    const char *p = key + key_len;
    while (is_json_space(*p)) p++;
    if (*p != ':') return NULL;
    p++;
    while (is_json_space(*p)) p++;
    return p;
}

/* Where text holds needle, when it holds it exactly once; else NULL. */
static const char *only_once(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    return at != NULL && strstr(at + 1, needle) == NULL ? at : NULL;
}

/* The slow path: the payload parsed, its top-level "risk" counted. */
static void count_risk_parsed(const char *payload)
{
    json_t *root = json_loads(payload, 0, NULL);
    json_t *risk = json_object_get(root, "risk");
    if (json_is_object(risk)) {
        const char *decision = json_string_value(json_object_get(risk, "decision"));
        fs_metrics_add(FS_M_RISK_DECISIONS, one_of(decision, risk_decisions), "active", NULL, 1);
        size_t i;
        json_t *rule;
        json_array_foreach(json_object_get(risk, "rules_matched"), i, rule)
        {
            const char *id = json_string_value(json_object_get(rule, "id"));
            const char *action = json_string_value(json_object_get(rule, "action"));
            const char *mode = json_string_value(json_object_get(rule, "mode"));
            fs_metrics_add(FS_M_RISK_RULE_MATCHES, rule_label(id), one_of(action, risk_decisions),
                           one_of(mode, risk_modes), 1);
        }
    }
    json_decref(root);
}

fs_metrics_risk_text_t fs_metrics_risk_text(const char *payload)
{
    static const char matched_key[] = "\"rules_matched\"";
    static const char decision_key[] = "\"decision\"";
    if (payload == NULL) return FS_METRICS_RISK_NONE;
    /* A non-null risk always has rules_matched: without it, nothing to count. */
    const char *m = strstr(payload, matched_key);
    if (m == NULL) return FS_METRICS_RISK_NONE;
    /* The usual decision, allow with no match, read from the text. Each key
     * must be there once: a metadata key of the same name (metadata values
     * are strings, so it cannot hold the [] or "allow" read here, but could
     * stand beside the real ones) sends the payload to the parser. */
    const char *mv = only_once(m, matched_key) == m ? value_of(m, sizeof(matched_key) - 1) : NULL;
    const char *d = only_once(payload, decision_key);
    const char *dv = d != NULL ? value_of(d, sizeof(decision_key) - 1) : NULL;
    if (mv != NULL && dv != NULL && strncmp(dv, "\"allow\"", 7) == 0 && *mv == '[') {
        const char *p = mv + 1;
        while (is_json_space(*p)) p++;
        if (*p == ']') return FS_METRICS_RISK_ALLOW;
    }
    return FS_METRICS_RISK_PARSE;
}

void fs_metrics_count_risk(const char *payload)
{
    if (!enabled) return;
    switch (fs_metrics_risk_text(payload)) {
    case FS_METRICS_RISK_NONE:
        return;
    case FS_METRICS_RISK_ALLOW:
        fs_metrics_add(FS_M_RISK_DECISIONS, "allow", "active", NULL, 1);
        return;
    case FS_METRICS_RISK_PARSE:
        count_risk_parsed(payload);
        return;
    }
}

/* --- exposition ------------------------------------------------------------ */

static void put_label_value(FILE *out, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"') {
            fputc('\\', out);
            fputc(*v, out);
        } else if (*v == '\n') {
            fputs("\\n", out);
        } else {
            fputc(*v, out);
        }
    }
}

/* {a="x",b="y"} with an extra label (le) or none; nothing when empty. */
static void put_labels(FILE *out, const family_t *f, const series_t *s, const char *extra_name,
                       const char *extra_value)
{
    int nl = labels_of(f);
    if (nl == 0 && extra_name == NULL) return;
    fputc('{', out);
    for (int k = 0; k < nl; k++) {
        fprintf(out, "%s%s=\"", k > 0 ? "," : "", f->label_names[k]);
        put_label_value(out, s->labels[k]);
        fputc('"', out);
    }
    if (extra_name != NULL) fprintf(out, "%s%s=\"%s\"", nl > 0 ? "," : "", extra_name, extra_value);
    fputc('}', out);
}

static void render_family(FILE *out, const family_t *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
    int n = atomic_load_explicit(&f->n, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        const series_t *s = &f->series[i];
        if (f->type != HISTOGRAM) {
            uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
            fputs(f->name, out);
            put_labels(out, f, s, NULL, NULL);
            if (f->type == GAUGE && f->scale > 0) {
                /* A gauge kept in units of 1/scale (the replica's lag, in
                 * ms), shown in the base unit. */
                fprintf(out, " %g\n", (double)(int64_t)v / f->scale);
            } else if (f->type == GAUGE) {
                fprintf(out, " %lld\n", (long long)(int64_t)v);
            } else {
                fprintf(out, " %llu\n", (unsigned long long)v);
            }
            continue;
        }
        uint64_t cumulative = 0;
        for (int b = 0; b <= f->bounds_n; b++) {
            cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            char le[32];
            if (b < f->bounds_n) {
                snprintf(le, sizeof(le), "%g", f->bounds[b]);
            } else {
                snprintf(le, sizeof(le), "+Inf");
            }
            fprintf(out, "%s_bucket", f->name);
            put_labels(out, f, s, "le", le);
            fprintf(out, " %llu\n", (unsigned long long)cumulative);
        }
        uint64_t sum = atomic_load_explicit(&s->sum, memory_order_relaxed);
        fprintf(out, "%s_sum", f->name);
        put_labels(out, f, s, NULL, NULL);
        fprintf(out, " %.9f\n", (double)sum / f->scale);
        fprintf(out, "%s_count", f->name);
        put_labels(out, f, s, NULL, NULL);
        fprintf(out, " %llu\n", (unsigned long long)cumulative);
    }
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') n++;
    }
    closedir(d);
    return n - 1; /* the directory's own */
}

static long long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    long long size = 0, resident = -1;
    if (fscanf(f, "%lld %lld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static void render_process(FILE *out)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
                 + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    fprintf(out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
            "# TYPE process_cpu_seconds_total counter\n"
            "process_cpu_seconds_total %.6f\n"
            "# HELP process_start_time_seconds Start time of the process since unix epoch in "
            "seconds.\n"
            "# TYPE process_start_time_seconds gauge\n"
            "process_start_time_seconds %.3f\n",
            cpu, start_time_s);
    long long rss = resident_bytes();
    if (rss >= 0) {
        fprintf(out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\n"
                "process_resident_memory_bytes %lld\n",
                rss);
    }
    int fds = open_fds();
    if (fds >= 0) {
        fprintf(out,
                "# HELP process_open_fds Number of open file descriptors.\n"
                "# TYPE process_open_fds gauge\n"
                "process_open_fds %d\n",
                fds);
    }
}

char *fs_metrics_render(size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (out == NULL) return NULL;
    if (enabled) {
        for (int i = 0; i < FS_M_COUNT; i++) {
            if (families[i].series != NULL) render_family(out, &families[i]);
        }
    }
    render_process(out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    if (len != NULL) *len = size;
    return text;
}
