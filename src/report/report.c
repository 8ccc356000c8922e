/*
 * report.c: statements' and daily reports' checks, and the rollup reader's
 * driver (see report.h).
 */
#include "report.h"

#include <sys/queue.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../money/money.h"
#include "../op/op.h"
#include "../search/search.h"
#include "../validate/validate.h"

#define DAY_US (86400LL * 1000000LL)

/* Digits only, 1..max_len of them, no leading zero; into *out. */
static bool parse_count(const char *s, size_t max_len, int64_t *out)
{
    size_t len = strlen(s);
    if (len == 0 || len > max_len || s[0] == '0') return false;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        n = n * 10 + (s[i] - '0');
    }
    *out = n;
    return true;
}

/* A UTC day YYYY-MM-DD, as microseconds at its midnight. */
static bool parse_day(const char *s, int64_t *out_us)
{
    char text[32];
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
    snprintf(text, sizeof(text), "%sT00:00:00Z", s);
    return fs_search_parse_time(text, out_us);
}

typedef bool (*param_fn)(const char *name, const char *value, json_t *item, fs_error_t *err);

/* Splits query into its parameters and hands each to fn: an empty, repeated
 * or NUL-holding one is an error naming it. */
static bool each_param(const char *query, param_fn fn, json_t *item, fs_error_t *err)
{
    static _Thread_local char param[64];
    if (query == NULL || *query == '\0') return true;
    if (strlen(query) > FS_QUERY_LEN_MAX)
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The query string may be at most %d bytes.",
                       FS_QUERY_LEN_MAX);
    if (strstr(query, "%00") != NULL)
        return fs_fail(err, FS_INVALID_REQUEST, NULL,
                       "The query string must not contain NUL characters (%%00).");
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(query, &q) != 0)
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The query string is malformed.");
    bool ok = true;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &q, next)
    {
        snprintf(param, sizeof(param), "%.*s", (int)sizeof(param) - 1, kv->key);
        for (struct evkeyval *e = TAILQ_FIRST(&q); ok && e != kv; e = TAILQ_NEXT(e, next))
            if (strcmp(e->key, kv->key) == 0)
                ok = fs_fail(err, FS_INVALID_REQUEST, param, "%s is given more than once.", param);
        if (ok && kv->value[0] == '\0')
            ok = fs_fail(err, FS_INVALID_REQUEST, param, "%s must not be empty.", param);
        if (ok) ok = fn(param, kv->value, item, err);
        if (!ok) break;
    }
    evhttp_clear_headers(&q);
    return ok;
}

static bool statement_param(const char *name, const char *v, json_t *item, fs_error_t *err)
{
    int64_t n;
    if (strcmp(name, "from") == 0 || strcmp(name, "to") == 0) {
        if (!fs_search_parse_time(v, &n))
            return fs_fail(err, FS_INVALID_REQUEST, name,
                           "%s must be an RFC 3339 date-time such as 2024-05-01T00:00:00Z "
                           "(at most 6 fraction digits; Z or an offset like +02:00).",
                           name);
        json_object_set_new(item, name[0] == 'f' ? "from_us" : "to_us", json_integer(n));
        return true;
    }
    if (strcmp(name, "limit") == 0) {
        if (!parse_count(v, 4, &n) || n > FS_STATEMENT_ENTRIES_MAX)
            return fs_fail(err, FS_INVALID_REQUEST, name, "limit must be an integer from 1 to %d.",
                           FS_STATEMENT_ENTRIES_MAX);
        json_object_set_new(item, "limit", json_integer(n));
        return true;
    }
    if (strcmp(name, "starting_after") == 0) {
        if (!parse_count(v, 18, &n))
            return fs_fail(err, FS_INVALID_REQUEST, name,
                           "starting_after must be the id of a journal entry (digits).");
        json_object_set_new(item, "after", json_integer(n));
        return true;
    }
    return fs_fail(err, FS_INVALID_REQUEST, name, "Unknown parameter: %s.", name);
}

/* Replaces item's key_us (microseconds) by key (text, UTC). */
static void set_time(json_t *item, const char *key_us, const char *key, int64_t us)
{
    char text[32];
    fs_search_format_time(us, text, sizeof(text));
    json_object_del(item, key_us);
    json_object_set_new(item, key, json_string(text));
}

bool fs_report_parse_statement(const char *query, int64_t now_us, json_t *item, fs_error_t *err)
{
    if (!each_param(query, statement_param, item, err)) return false;
    const json_t *f = json_object_get(item, "from_us"), *t = json_object_get(item, "to_us");
    int64_t to = t != NULL ? json_integer_value(t) : now_us;
    int64_t from = f != NULL ? json_integer_value(f) : to - FS_STATEMENT_DAYS_DEFAULT * DAY_US;
    if (from >= to) return fs_fail(err, FS_INVALID_REQUEST, "from", "from must be before to.");
    if (to - from > FS_STATEMENT_DAYS_MAX * DAY_US)
        return fs_fail(err, FS_INVALID_REQUEST, "from",
                       "A statement covers at most %d days: from must be at most %d days "
                       "before to.",
                       FS_STATEMENT_DAYS_MAX, FS_STATEMENT_DAYS_MAX);
    set_time(item, "from_us", "from", from);
    set_time(item, "to_us", "to", to);
    if (json_object_get(item, "limit") == NULL)
        json_object_set_new(item, "limit", json_integer(FS_STATEMENT_ENTRIES_DEFAULT));
    json_object_set_new(item, "skew_s", json_integer(FS_STATEMENT_SKEW_S));
    return true;
}

static bool daily_param(const char *name, const char *v, json_t *item, fs_error_t *err)
{
    int64_t n;
    if (strcmp(name, "from") == 0 || strcmp(name, "to") == 0) {
        if (!parse_day(v, &n))
            return fs_fail(err, FS_INVALID_REQUEST, name,
                           "%s must be a date such as 2024-05-01 (YYYY-MM-DD, UTC).", name);
        json_object_set_new(item, name[0] == 'f' ? "from_us" : "to_us", json_integer(n));
        return true;
    }
    if (strcmp(name, "currency") == 0) {
        if (fs_money_currency(v) == NULL)
            return fs_fail(err, FS_INVALID_REQUEST, name,
                           "currency must be an upper-case ISO 4217 code FinSys supports "
                           "(e.g. USD, EUR, JPY).");
        json_object_set_new(item, "currency", json_string(v));
        return true;
    }
    return fs_fail(err, FS_INVALID_REQUEST, name, "Unknown parameter: %s.", name);
}

/* The admin report's parameters: /v1's, and tenant (a tenant's id). */
static bool daily_all_param(const char *name, const char *v, json_t *item, fs_error_t *err)
{
    if (strcmp(name, "tenant") == 0) {
        if (!fs_validate_id_string(v, "ten"))
            return fs_fail(err, FS_INVALID_REQUEST, name,
                           "tenant must be a tenant's id (ten_ and letters or digits).");
        json_object_set_new(item, "tenant", json_string(v));
        return true;
    }
    return daily_param(name, v, item, err);
}

/* The period of a daily report: from and to (days, both included), to
 * defaulting to today and from to days_default days ending on to, at most
 * days_max days; into item as YYYY-MM-DD. */
static bool daily_period(int64_t now_us, int days_max, int days_default, json_t *item,
                         fs_error_t *err)
{
    const json_t *f = json_object_get(item, "from_us"), *t = json_object_get(item, "to_us");
    int64_t to = t != NULL ? json_integer_value(t) : now_us - now_us % DAY_US;
    int64_t from = f != NULL ? json_integer_value(f) : to - (days_default - 1) * DAY_US;
    if (from > to) return fs_fail(err, FS_INVALID_REQUEST, "from", "from must not be after to.");
    if ((to - from) / DAY_US + 1 > days_max)
        return fs_fail(err, FS_INVALID_REQUEST, "from",
                       "A report covers at most %d days (both ends included).", days_max);
    char text[32];
    fs_search_format_time(from, text, sizeof(text));
    text[10] = '\0';
    json_object_del(item, "from_us");
    json_object_set_new(item, "from", json_string(text));
    fs_search_format_time(to, text, sizeof(text));
    text[10] = '\0';
    json_object_del(item, "to_us");
    json_object_set_new(item, "to", json_string(text));
    return true;
}

bool fs_report_parse_daily(const char *query, int64_t now_us, json_t *item, fs_error_t *err)
{
    return each_param(query, daily_param, item, err) &&
           daily_period(now_us, FS_REPORT_DAYS_MAX, FS_REPORT_DAYS_DEFAULT, item, err);
}

bool fs_report_parse_daily_all(const char *query, int64_t now_us, json_t *params, fs_error_t *err)
{
    return each_param(query, daily_all_param, params, err) &&
           daily_period(now_us, FS_ADMIN_REPORT_DAYS_MAX, FS_ADMIN_REPORT_DAYS_DEFAULT, params,
                        err);
}

/* --- the rollup reader's driver ------------------------------------------ */

struct fs_rollups {
    fs_store_t *store;
    struct event *timer;
    struct timeval every;
    uint64_t taken;
    bool failing;
};

static void run(fs_rollups_t *r);

static void on_run(void *arg, const fs_store_result_t *res)
{
    fs_rollups_t *r = arg;
    bool more = false;
    if (strcmp(res->outcome, "ok") == 0) {
        json_t *p = json_loads(res->payload, 0, NULL);
        r->taken += (uint64_t)json_integer_value(json_object_get(p, "taken"));
        more = json_is_true(json_object_get(p, "more"));
        json_decref(p);
        if (r->failing) fs_log(FS_LOG_INFO, "report", "rollups: running again");
        r->failing = false;
    } else if (!r->failing) {
        fs_log(FS_LOG_WARN, "report", "rollups: a run failed (%s); retrying every %ld ms",
               res->outcome, (long)(r->every.tv_sec * 1000 + r->every.tv_usec / 1000));
        r->failing = true;
    }
    struct timeval now = {0, 0};
    event_add(r->timer, more ? &now : &r->every);
}

static void run(fs_rollups_t *r)
{
    fs_store_submit(r->store,
                    json_pack("{s:s, s:i}", "op", fs_op_name(FS_OP_ROLLUP_RUN), "max",
                              FS_ROLLUP_RUN_EVENTS_MAX),
                    on_run, r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run(arg);
}

fs_rollups_t *fs_rollups_new(struct event_base *base, fs_store_t *store, int interval_ms)
{
    if (interval_ms <= 0) return NULL;
    fs_rollups_t *r = calloc(1, sizeof(*r));
    FS_ASSERT(r != NULL);
    r->store = store;
    r->every.tv_sec = interval_ms / 1000;
    r->every.tv_usec = (interval_ms % 1000) * 1000;
    r->timer = evtimer_new(base, on_timer, r);
    FS_ASSERT(r->timer != NULL);
    event_add(r->timer, &r->every);
    return r;
}

uint64_t fs_rollups_taken(const fs_rollups_t *r)
{
    return r != NULL ? r->taken : 0;
}

void fs_rollups_free(fs_rollups_t *r)
{
    if (r == NULL) return;
    event_free(r->timer);
    free(r);
}
