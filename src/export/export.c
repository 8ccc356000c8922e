/*
 * export.c: the checks of POST /v1/exports and the CSV rules (see
 * export.h). Pure: no I/O.
 */
#include "export.h"

#include <stdlib.h>
#include <string.h>

#include "../account/account.h"
#include "../money/money.h"
#include "../search/search.h"
#include "../transaction/transaction.h"
#include "../validate/validate.h"


static bool one_of(const char *s, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(s, *list) == 0) return true;
    }
    return false;
}

/* A string filter: its value, NULL when absent; false (err set) when not a
 * non-empty string. */
static bool string_filter(const json_t *filters, const char *name, const char **out,
                          fs_error_t *err)
{
    const json_t *v = json_object_get(filters, name);
    *out = NULL;
    if (v == NULL) return true;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > FS_EXPORT_FILTER_LEN_MAX) {
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "filters.%s must be a non-empty string.",
                       name);
    }
    *out = json_string_value(v);
    return true;
}

/* "filters.<name>": err keeps the pointer, so it lives in this thread's
 * buffer until the next check. */
static const char *param_of(const char *name)
{
    static _Thread_local char param[80];
    snprintf(param, sizeof(param), "filters.%.60s", name);
    return param;
}

static bool fail_param(fs_error_t *err, const char *name, const char *fmt, const char *a)
{
    return fs_fail(err, FS_INVALID_REQUEST, param_of(name), fmt, a);
}

bool fs_export_parse_create(const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"type", "filters", NULL};
    static const char *const types[] = {"payments", "statement", "daily", NULL};
    if (!fs_validate_known_fields(body, fields, err)) return false;
    const json_t *type = json_object_get(body, "type");
    if (!json_is_string(type) || !one_of(json_string_value(type), types)) {
        return fs_fail(err, FS_INVALID_REQUEST, "type",
                       "type must be one of payments, statement, daily.");
    }
    const char *t = json_string_value(type);
    const json_t *filters = json_object_get(body, "filters");
    if (filters != NULL && !json_is_null(filters) && !json_is_object(filters)) {
        return fs_fail(err, FS_INVALID_REQUEST, "filters", "filters must be an object.");
    }
    static const char *const for_payments[] = {"status", "currency", "created_gte", "created_lte",
                                               NULL};
    static const char *const for_statement[] = {"account", "created_gte", "created_lte", NULL};
    static const char *const for_daily[] = {"currency", "created_gte", "created_lte", NULL};
    const char *const *allowed = strcmp(t, "payments") == 0    ? for_payments
                                 : strcmp(t, "statement") == 0 ? for_statement
                                                               : for_daily;
    json_t *out = json_object();
    const char *name;
    const json_t *value;
    json_object_foreach((json_t *)filters, name, value)
    {
        (void)value;
        if (!one_of(name, allowed)) {
            json_decref(out);
            return fs_fail(err, FS_INVALID_REQUEST, param_of(name),
                           "Unknown filter '%.60s' for a %s export.", name, t);
        }
    }
    bool ok = true;
    for (const char *const *f = allowed; ok && *f != NULL; f++) {
        const char *v;
        if (!string_filter(filters, *f, &v, err)) {
            ok = fail_param(err, *f, "filters.%s must be a non-empty string.", *f);
            break;
        }
        if (v == NULL) continue;
        if (strcmp(*f, "status") == 0) {
            if (!one_of(v, fs_payment_statuses))
                ok = fail_param(err, *f,
                                "filters.status must be one of " FS_PAYMENT_STATUSES_TEXT "%s.", "");
            else
                json_object_set_new(out, *f, json_string(v));
        } else if (strcmp(*f, "currency") == 0) {
            if (fs_money_currency(v) == NULL)
                ok = fail_param(err, *f,
                                "filters.currency '%.8s' is not a supported ISO 4217 code.", v);
            else
                json_object_set_new(out, *f, json_string(v));
        } else if (strcmp(*f, "account") == 0) {
            if (!fs_validate_id_string(v, FS_ACCOUNT_ID_PREFIX))
                ok = fail_param(err, *f, "filters.account must be an id starting with %s_.",
                                FS_ACCOUNT_ID_PREFIX);
            else
                json_object_set_new(out, *f, json_string(v));
        } else {
            int64_t us;
            if (!fs_search_parse_time(v, &us)) {
                ok = fail_param(err, *f,
                                "filters.%s must be an RFC 3339 date-time such as "
                                "2024-05-01T12:00:00Z.",
                                *f);
            } else {
                char text[40];
                fs_search_format_time(us, text, sizeof(text));
                json_object_set_new(out, *f, json_string(text));
            }
        }
    }
    if (ok && strcmp(t, "statement") == 0 && json_object_get(out, "account") == NULL) {
        ok = fs_fail(err, FS_INVALID_REQUEST, "filters.account",
                     "A statement export needs filters.account.");
    }
    const char *gte = json_string_value(json_object_get(out, "created_gte"));
    const char *lte = json_string_value(json_object_get(out, "created_lte"));
    if (ok && gte != NULL && lte != NULL && strcmp(gte, lte) > 0) {
        ok = fs_fail(err, FS_INVALID_REQUEST, "filters.created_gte",
                     "filters.created_gte must not be after filters.created_lte.");
    }
    if (!ok) {
        json_decref(out);
        return false;
    }
    char id[FS_ID_BUF_LEN];
    fs_id_new("exp", id, sizeof(id));
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "type", json_string(t));
    json_object_set_new(item, "filters", out);
    json_object_set_new(item, "max", json_integer(FS_EXPORT_CONCURRENT_PER_TENANT));
    return true;
}

bool fs_export_format_amount(const char *minor, int exponent, char *out, size_t out_len)
{
    bool neg = minor[0] == '-';
    const char *d = minor + (neg ? 1 : 0);
    size_t n = strlen(d);
    if (n == 0 || exponent < 0) return false;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9') return false;
    }
    while (n > 1 && *d == '0') { /* no leading zeros */
        d++;
        n--;
    }
    size_t e = (size_t)exponent;
    size_t int_digits = n > e ? n - e : 0;
    /* sign, integer part (at least "0"), point, fraction, NUL */
    size_t need = (neg ? 1 : 0) + (int_digits > 0 ? int_digits : 1) + (e > 0 ? 1 + e : 0) + 1;
    if (need > out_len) return false;
    char *p = out;
    bool zero = n == 1 && d[0] == '0';
    if (neg && !zero) *p++ = '-';
    if (int_digits > 0) {
        memcpy(p, d, int_digits);
        p += int_digits;
    } else {
        *p++ = '0';
    }
    if (e > 0) {
        *p++ = '.';
        for (size_t i = 0; i < e; i++) {
            /* the fraction's digit i: d[n - e + i], or a leading 0 */
            size_t pos = n + i;
            *p++ = pos >= e ? d[pos - e] : '0';
        }
    }
    *p = '\0';
    return true;
}

void fs_export_buf_add(fs_export_buf_t *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 4096;
        while (cap < b->len + len + 1) cap *= 2;
        b->data = realloc(b->data, cap);
        FS_ASSERT(b->data != NULL);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void fs_export_buf_free(fs_export_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void fs_export_csv_field(fs_export_buf_t *b, const char *field, bool first)
{
    if (!first) fs_export_buf_add(b, ",", 1);
    if (field == NULL) return;
    size_t n = strlen(field);
    if (strpbrk(field, ",\"\r\n") == NULL) {
        fs_export_buf_add(b, field, n);
        return;
    }
    fs_export_buf_add(b, "\"", 1);
    const char *s = field;
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        fs_export_buf_add(b, s, (size_t)(q - s) + 1);
        fs_export_buf_add(b, "\"", 1);
    }
    fs_export_buf_add(b, s, strlen(s));
    fs_export_buf_add(b, "\"", 1);
}

void fs_export_csv_end(fs_export_buf_t *b)
{
    fs_export_buf_add(b, "\r\n", 2);
}
