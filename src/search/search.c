/*
 * search.c: the checks of GET /v1/payments/search and the indexer's driver
 * (see search.h).
 */
#include "search.h"

#include <sys/queue.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../money/money.h"
#include "../op/op.h"
#include "../transaction/transaction.h"
#include "../validate/validate.h"

#define PAYMENT_ID_PREFIX "pay"
#define ACCOUNT_ID_PREFIX "acct"


/* --- time ---------------------------------------------------------------- */

#define US_PER_DAY INT64_C(86400000000)

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

bool fs_search_parse_time(const char *s, int64_t *out_us)
{
    /* YYYY-MM-DDTHH:MM:SS */
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't')
        || s[13] != ':' || s[16] != ':')
        return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23
        || mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return false;
    const char *p = s + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n == 6) return false;
            frac_us = frac_us * 10 + (*p - '0');
        }
        if (n == 0) return false;
        for (; n < 6; n++) frac_us *= 10;
    }
    int64_t offset_s = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset_s = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = digits(p + 1, 2), om = digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
        offset_s = (*p == '-' ? -1 : 1) * ((int64_t)oh * 3600 + om * 60);
    } else {
        return false;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    int64_t us = secs * 1000000 + frac_us;
    /* The instant itself must lie in years 0001..9999 (UTC). */
    if (us < days_from_civil(1, 1, 1) * US_PER_DAY
        || us >= days_from_civil(10000, 1, 1) * US_PER_DAY)
        return false;
    *out_us = us;
    return true;
}

void fs_search_format_time(int64_t us, char *out, size_t out_len)
{
    int64_t days = us >= 0 ? us / US_PER_DAY : -((-us + US_PER_DAY - 1) / US_PER_DAY);
    int64_t rest = us - days * US_PER_DAY;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t s = rest / 1000000;
    snprintf(out, out_len, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d,
             (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60), (int)(rest % 1000000));
}

/* --- the query ----------------------------------------------------------- */

/* A non-negative int64 in decimal digits only. */
static bool parse_amount(const char *s, int64_t *out)
{
    size_t len = strlen(s);
    if (len == 0 || len > 19) return false;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        n = n * 10 + (uint64_t)(s[i] - '0');
    }
    if (n > (uint64_t)INT64_MAX) return false;
    *out = (int64_t)n;
    return true;
}

static bool parse_limit(const char *s, json_t *item, fs_error_t *err)
{
    int64_t n;
    if (strlen(s) > 3 || s[0] == '0' || !parse_amount(s, &n) || n < FS_PAGE_LIMIT_MIN
        || n > FS_PAGE_LIMIT_MAX) {
        return fs_fail(err, FS_INVALID_REQUEST, "limit", "limit must be an integer from %d to %d.",
                       FS_PAGE_LIMIT_MIN, FS_PAGE_LIMIT_MAX);
    }
    json_object_set_new(item, "limit", json_integer(n));
    return true;
}

static bool parse_q(const char *v, json_t *item, fs_error_t *err)
{
    size_t len = strlen(v);
    if (len > FS_SEARCH_Q_LEN_MAX) {
        return fs_fail(err, FS_INVALID_REQUEST, "q", "q must be at most %d bytes.",
                       FS_SEARCH_Q_LEN_MAX);
    }
    if (strspn(v, " \t\r\n") == len) {
        return fs_fail(err, FS_INVALID_REQUEST, "q", "q must contain words or a reference.");
    }
    json_t *s = json_string(v);
    if (s == NULL) return fs_fail(err, FS_INVALID_REQUEST, "q", "q must be UTF-8 text.");
    json_object_set_new(item, "q", s);
    return true;
}

static bool parse_status(const char *v, json_t *item, fs_error_t *err)
{
    for (const char *const *s = fs_payment_statuses; *s != NULL; s++) {
        if (strcmp(v, *s) == 0) {
            json_object_set_new(item, "status", json_string(v));
            return true;
        }
    }
    return fs_fail(err, FS_INVALID_REQUEST, "status",
                   "status must be one of " FS_PAYMENT_STATUSES_TEXT ".");
}

/* One parameter of the query; name is its name, copied to outlive the query. */
static bool search_param(const char *name, const char *v, json_t *item, fs_error_t *err)
{
    int64_t n;
    if (*v == '\0') {
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must not be empty.", name);
    }
    if (strcmp(name, "limit") == 0) return parse_limit(v, item, err);
    if (strcmp(name, "q") == 0) return parse_q(v, item, err);
    if (strcmp(name, "status") == 0) return parse_status(v, item, err);
    if (strcmp(name, "starting_after") == 0 || strcmp(name, "account") == 0) {
        bool after = name[0] == 's';
        const char *prefix = after ? PAYMENT_ID_PREFIX : ACCOUNT_ID_PREFIX;
        if (!fs_validate_id_string(v, prefix)) {
            return fs_fail(err, FS_INVALID_REQUEST, name, "%s must be an id starting with %s_.",
                           name, prefix);
        }
        json_object_set_new(item, after ? "after" : "account", json_string(v));
        return true;
    }
    if (strcmp(name, "currency") == 0) {
        if (fs_money_currency(v) == NULL) {
            return fs_fail(err, FS_INVALID_REQUEST, name,
                           "currency must be an upper-case ISO 4217 code FinSys supports "
                           "(e.g. USD, EUR, JPY).");
        }
        json_object_set_new(item, "currency", json_string(v));
        return true;
    }
    if (strcmp(name, "amount_gte") == 0 || strcmp(name, "amount_lte") == 0) {
        if (!parse_amount(v, &n)) {
            return fs_fail(err, FS_INVALID_REQUEST, name,
                           "%s must be a whole number of minor units from 0 to %" PRId64 ".",
                           name, INT64_MAX);
        }
        json_object_set_new(item, name, json_integer(n));
        return true;
    }
    if (strcmp(name, "created_gte") == 0 || strcmp(name, "created_lte") == 0) {
        char text[32];
        if (!fs_search_parse_time(v, &n)) {
            return fs_fail(err, FS_INVALID_REQUEST, name,
                           "%s must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z "
                           "(at most 6 fraction digits; Z or an offset like +02:00).",
                           name);
        }
        fs_search_format_time(n, text, sizeof(text));
        json_object_set_new(item, name, json_string(text));
        return true;
    }
    return fs_fail(err, FS_INVALID_REQUEST, name, "Unknown parameter: %s.", name);
}

/* gte <= lte when both are given; the error names gte. */
static bool range_ok(const json_t *item, const char *gte, const char *lte, fs_error_t *err)
{
    const json_t *a = json_object_get(item, gte), *b = json_object_get(item, lte);
    if (a == NULL || b == NULL) return true;
    bool ok = json_is_integer(a) ? json_integer_value(a) <= json_integer_value(b)
                                 : strcmp(json_string_value(a), json_string_value(b)) <= 0;
    if (ok) return true;
    return fs_fail(err, FS_INVALID_REQUEST, gte, "%s must not be greater than %s.", gte, lte);
}

bool fs_search_parse_query(const char *query, json_t *item, fs_error_t *err)
{
    static _Thread_local char param[64];
    json_object_set_new(item, "limit", json_integer(FS_PAGE_LIMIT_DEFAULT));
    if (query == NULL || *query == '\0') return true;
    if (strlen(query) > FS_QUERY_LEN_MAX) {
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The query string may be at most %d bytes.",
                       FS_QUERY_LEN_MAX);
    }
    /* libevent decodes %00 into a NUL that would cut a value short. */
    const char *nul = strstr(query, "%00");
    if (nul != NULL) {
        const char *start = nul;
        while (start > query && start[-1] != '&') start--;
        size_t n = strcspn(start, "=&");
        snprintf(param, sizeof(param), "%.*s", (int)(n < sizeof(param) ? n : sizeof(param) - 1),
                 start);
        return fs_fail(err, FS_INVALID_REQUEST, param,
                       "%s must not contain NUL characters (%%00).", param);
    }
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(query, &q) != 0) {
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The query string is malformed.");
    }
    bool ok = true;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &q, next) {
        snprintf(param, sizeof(param), "%.*s", (int)sizeof(param) - 1, kv->key);
        for (struct evkeyval *e = TAILQ_FIRST(&q); ok && e != kv; e = TAILQ_NEXT(e, next)) {
            if (strcmp(e->key, kv->key) == 0) {
                ok = fs_fail(err, FS_INVALID_REQUEST, param, "%s is given more than once.",
                             param);
            }
        }
        if (ok) ok = search_param(param, kv->value, item, err);
        if (!ok) break;
    }
    evhttp_clear_headers(&q);
    return ok && range_ok(item, "amount_gte", "amount_lte", err)
           && range_ok(item, "created_gte", "created_lte", err);
}

/* --- the indexer's driver ------------------------------------------------ */

struct fs_indexer {
    struct event_base *base;
    fs_store_t *store;
    struct event *timer;
    struct timeval every;
    uint64_t taken;
    bool failing; /* the last run failed: logged once until one succeeds */
    fs_indexer_live_fn live; /* the admin console's stream, when set */
    fs_indexer_watched_fn watched;
    void *live_arg;
};

static void run(fs_indexer_t *ix);

static void on_run(void *arg, const fs_store_result_t *r)
{
    fs_indexer_t *ix = arg;
    bool more = false;
    if (strcmp(r->outcome, "ok") == 0) {
        /* {"taken" : n, "more" : b, "live" : [...]}: the live summary, last
         * (fs_index_run_live), is handed on as the text PostgreSQL made,
         * never parsed here; only the head before it is (parsing and
         * printing ~300 bytes per event again with jansson would cost the
         * worker ~15 us per event). Nothing before the key is a string, so
         * its first occurrence is the key. */
        static const char key[] = ", \"live\" : ";
        const char *live = ix->live != NULL ? strstr(r->payload, key) : NULL;
        size_t head_len = live != NULL ? (size_t)(live - r->payload) : strlen(r->payload);
        json_t *p = NULL;
        char head[128]; /* {"taken" : n, "more" : b, closed */
        if (live == NULL) {
            p = json_loads(r->payload, 0, NULL);
        } else if (head_len + 2 <= sizeof(head)) {
            memcpy(head, r->payload, head_len);
            memcpy(head + head_len, "}", 2);
            p = json_loads(head, 0, NULL);
        }
        ix->taken += (uint64_t)json_integer_value(json_object_get(p, "taken"));
        more = json_is_true(json_object_get(p, "more"));
        json_decref(p);
        if (live != NULL) {
            const char *text = live + sizeof(key) - 1;
            size_t len = strlen(text);
            if (len >= 2 && text[len - 1] == '}') ix->live(ix->live_arg, text, len - 1);
        }
        if (ix->failing) fs_log(FS_LOG_INFO, "search", "indexer: running again");
        ix->failing = false;
    } else if (!ix->failing) {
        fs_log(FS_LOG_WARN, "search", "indexer: a run failed (%s); retrying every %ld ms",
               r->outcome, (long)(ix->every.tv_sec * 1000 + ix->every.tv_usec / 1000));
        ix->failing = true;
    }
    /* A full run leaves more behind: the next starts at once, from the loop
     * rather than from this callback. */
    struct timeval now = {0, 0};
    event_add(ix->timer, more ? &now : &ix->every);
}

static void run(fs_indexer_t *ix)
{
    /* The summary only while a console watches: it costs PostgreSQL a few
     * microseconds an event. */
    bool live = ix->live != NULL && ix->watched(ix->live_arg);
    fs_store_submit(ix->store,
                    json_pack("{s:s, s:i, s:b}", "op", fs_op_name(FS_OP_INDEX_RUN), "max",
                              FS_INDEX_RUN_EVENTS_MAX, "live", live),
                    on_run, ix);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run(arg);
}

fs_indexer_t *fs_indexer_new(struct event_base *base, fs_store_t *store,
                             const fs_config_t *config)
{
    if (config->index_interval_ms == 0) return NULL;
    fs_indexer_t *ix = calloc(1, sizeof(*ix));
    FS_ASSERT(ix != NULL);
    ix->base = base;
    ix->store = store;
    ix->every.tv_sec = config->index_interval_ms / 1000;
    ix->every.tv_usec = (config->index_interval_ms % 1000) * 1000;
    /* One run at a time: the timer is armed again only when a run answers. */
    ix->timer = evtimer_new(base, on_timer, ix);
    FS_ASSERT(ix->timer != NULL);
    event_add(ix->timer, &ix->every);
    return ix;
}

void fs_indexer_set_live(fs_indexer_t *indexer, fs_indexer_live_fn fn,
                         fs_indexer_watched_fn watched, void *arg)
{
    if (indexer == NULL) return;
    FS_ASSERT(fn != NULL && watched != NULL);
    indexer->live = fn;
    indexer->watched = watched;
    indexer->live_arg = arg;
}

uint64_t fs_indexer_taken(const fs_indexer_t *indexer)
{
    return indexer != NULL ? indexer->taken : 0;
}

void fs_indexer_free(fs_indexer_t *indexer)
{
    if (indexer == NULL) return;
    event_free(indexer->timer);
    free(indexer);
}
