/*
 * validate.c: request body and query checks (see validate.h).
 */
#include "validate.h"

#include <sys/queue.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

/* jansson reports a number it cannot hold (an integer past int64, a real
 * past double) as a parse error at its position. The text before that
 * position is valid JSON, so a scan of it finds the top-level key whose value
 * holds the number, and whether the number is that value itself. */
static const char *top_level_key(const char *data, size_t pos, char *buf, size_t buf_len,
                                 bool *nested)
{
    int depth = 0;
    const char *key = NULL;
    size_t key_len = 0;
    *nested = false;
    for (size_t i = 0; i < pos; i++) {
        char c = data[i];
        if (c == '"') {
            size_t start = ++i;
            while (i < pos && data[i] != '"') i += data[i] == '\\' ? 2 : 1;
            size_t j = i + 1;
            while (j < pos && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n'
                               || data[j] == '\r'))
                j++;
            if (depth == 1 && j < pos && data[j] == ':') {
                key = data + start;
                key_len = i - start;
                *nested = false;
            }
        } else if (c == '{' || c == '[') {
            depth++;
            if (depth > 1) *nested = true;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    if (key == NULL || key_len == 0 || key_len >= buf_len) return NULL;
    memcpy(buf, key, key_len);
    buf[key_len] = '\0';
    return buf;
}

bool fs_validate_body(const char *data, size_t len, json_t **out, fs_error_t *err)
{
    static _Thread_local char param[64];
    json_error_t jerr;
    *out = NULL;
    if (len == 0) {
        *out = json_object();
        return true;
    }
    json_t *body = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL) {
        if (strstr(jerr.text, "too big") != NULL || strstr(jerr.text, "overflow") != NULL) {
            bool nested;
            size_t at = (size_t)jerr.position < len ? (size_t)jerr.position : len;
            const char *p = top_level_key(data, at, param, sizeof(param), &nested);
            if (p != NULL && nested) {
                return fs_fail(err, FS_INVALID_REQUEST, p,
                               "%s holds a number too large to represent.", p);
            }
            return fs_fail(err, FS_INVALID_REQUEST, p,
                           "%s is too large: amounts are 64-bit integers of minor units.",
                           p != NULL ? p : "A number");
        }
        if (strstr(jerr.text, "duplicate object key") != NULL) {
            return fs_fail(err, FS_INVALID_REQUEST, NULL, "The body repeats a key: %s.",
                           jerr.text);
        }
        return fs_fail(err, FS_INVALID_REQUEST, NULL,
                       "The body is not valid JSON (line %d, column %d): %s.", jerr.line,
                       jerr.column, jerr.text);
    }
    if (!json_is_object(body)) {
        json_decref(body);
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The body must be a JSON object.");
    }
    *out = body;
    return true;
}

bool fs_validate_known_fields(const json_t *body, const char *const *allowed, fs_error_t *err)
{
    static _Thread_local char param[64];
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)body, key, value) {
        bool known = false;
        for (const char *const *a = allowed; *a != NULL; a++) {
            if (strcmp(key, *a) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            snprintf(param, sizeof(param), "%.*s", (int)sizeof(param) - 1, key);
            return fs_fail(err, FS_INVALID_REQUEST, param, "Unknown parameter: %s.", param);
        }
    }
    (void)value;
    return true;
}

bool fs_validate_amount(const json_t *body, const char *name, int64_t *out, fs_error_t *err)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v)) {
        return fs_fail(err, FS_INVALID_REQUEST, name, "Missing required parameter: %s.", name);
    }
    if (!json_is_integer(v)) {
        return fs_fail(err, FS_INVALID_REQUEST, name,
                       "%s must be an integer count of the currency's minor units "
                       "(e.g. 1050 for 10.50 USD).",
                       name);
    }
    json_int_t n = json_integer_value(v);
    if (n < 1) {
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must be at least 1.", name);
    }
    *out = (int64_t)n;
    return true;
}

bool fs_validate_currency(const json_t *body, const char *name, const fs_currency_t **out,
                          fs_error_t *err)
{
    const char *code;
    if (!fs_validate_string(body, name, true, 3, &code, err)) return false;
    const fs_currency_t *c = fs_money_currency(code);
    if (c == NULL) {
        return fs_fail(err, FS_INVALID_REQUEST, name,
                       "Unsupported currency: %s must be an upper-case ISO 4217 code "
                       "FinSys supports (e.g. USD, EUR, JPY).",
                       name);
    }
    *out = c;
    return true;
}

bool fs_validate_string(const json_t *body, const char *name, bool required, size_t max_len,
                        const char **out, fs_error_t *err)
{
    const json_t *v = json_object_get(body, name);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (!required) return true;
        return fs_fail(err, FS_INVALID_REQUEST, name, "Missing required parameter: %s.", name);
    }
    if (!json_is_string(v)) {
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must be a string.", name);
    }
    if (json_string_length(v) > max_len) {
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must be at most %zu bytes.", name,
                       max_len);
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must not contain NUL characters.",
                       name);
    }
    *out = json_string_value(v);
    return true;
}

bool fs_validate_id_string(const char *id, const char *prefix)
{
    size_t p = strlen(prefix), len = strlen(id);
    if (len <= p + 1 || len > FS_ID_LEN_MAX) return false;
    if (strncmp(id, prefix, p) != 0 || id[p] != '_') return false;
    for (size_t i = p + 1; i < len; i++) {
        char c = id[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!ok) return false;
    }
    return true;
}

bool fs_validate_id(const json_t *body, const char *name, const char *prefix, const char **out,
                    fs_error_t *err)
{
    if (!fs_validate_string(body, name, true, FS_ID_LEN_MAX, out, err)) return false;
    if (!fs_validate_id_string(*out, prefix)) {
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must be an id starting with %s_.",
                       name, prefix);
    }
    return true;
}

bool fs_validate_metadata(const json_t *body, json_t **out, fs_error_t *err)
{
    const json_t *v = json_object_get(body, "metadata");
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        *out = json_object();
        return true;
    }
    if (!json_is_object(v)) {
        return fs_fail(err, FS_INVALID_REQUEST, "metadata",
                       "metadata must be an object of string values.");
    }
    if (json_object_size(v) > FS_METADATA_KEYS_MAX) {
        return fs_fail(err, FS_INVALID_REQUEST, "metadata",
                       "metadata may have at most %d keys.", FS_METADATA_KEYS_MAX);
    }
    size_t total = 0;
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)v, key, value) {
        size_t klen = strlen(key);
        if (klen == 0 || klen > FS_METADATA_KEY_LEN_MAX) {
            return fs_fail(err, FS_INVALID_REQUEST, "metadata",
                           "metadata keys must be 1 to %d bytes.", FS_METADATA_KEY_LEN_MAX);
        }
        if (!json_is_string(value)) {
            return fs_fail(err, FS_INVALID_REQUEST, "metadata",
                           "metadata values must be strings.");
        }
        size_t vlen = json_string_length(value);
        if (vlen > FS_METADATA_VALUE_LEN_MAX) {
            return fs_fail(err, FS_INVALID_REQUEST, "metadata",
                           "metadata values must be at most %d bytes.",
                           FS_METADATA_VALUE_LEN_MAX);
        }
        if (strlen(json_string_value(value)) != vlen) {
            return fs_fail(err, FS_INVALID_REQUEST, "metadata",
                           "metadata values must not contain NUL characters.");
        }
        total += klen + vlen;
    }
    if (total > FS_METADATA_BYTES_MAX) {
        return fs_fail(err, FS_INVALID_REQUEST, "metadata",
                       "metadata may hold at most %d bytes of keys and values.",
                       FS_METADATA_BYTES_MAX);
    }
    *out = json_deep_copy(v);
    return true;
}

static bool parse_limit(const char *s, json_t *item, fs_error_t *err)
{
    long n = 0;
    size_t len = strlen(s);
    bool ok = len >= 1 && len <= 3 && s[0] != '0';
    for (size_t i = 0; ok && i < len; i++) {
        ok = s[i] >= '0' && s[i] <= '9';
        n = n * 10 + (s[i] - '0');
    }
    if (!ok || n < FS_PAGE_LIMIT_MIN || n > FS_PAGE_LIMIT_MAX) {
        return fs_fail(err, FS_INVALID_REQUEST, "limit",
                       "limit must be an integer from %d to %d.", FS_PAGE_LIMIT_MIN,
                       FS_PAGE_LIMIT_MAX);
    }
    json_object_set_new(item, "limit", json_integer(n));
    return true;
}

/* libevent decodes %00 into a NUL that would cut a value short. Names the
 * parameter (as written) whose text holds one, in param. */
static bool has_encoded_nul(const char *query, char *param, size_t param_len)
{
    const char *segment = query;
    for (const char *p = query; *p != '\0'; p++) {
        if (*p == '&') segment = p + 1;
        if (p[0] == '%' && p[1] == '0' && p[2] == '0') {
            size_t n = strcspn(segment, "=&");
            snprintf(param, param_len, "%.*s", (int)(n < param_len ? n : param_len - 1),
                     segment);
            return true;
        }
    }
    return false;
}

static bool seen_before(const struct evkeyvalq *q, const struct evkeyval *kv)
{
    for (const struct evkeyval *e = q->tqh_first; e != kv; e = e->next.tqe_next) {
        if (strcmp(e->key, kv->key) == 0) return true;
    }
    return false;
}

static bool list_param(const struct evkeyval *kv, const char *after_prefix,
                       const char *const *allowed, json_t *item, fs_error_t *err)
{
    static _Thread_local char param[64];
    snprintf(param, sizeof(param), "%.*s", (int)sizeof(param) - 1, kv->key);
    if (strcmp(kv->key, "limit") == 0) return parse_limit(kv->value, item, err);
    if (strcmp(kv->key, "starting_after") == 0) {
        if (!fs_validate_id_string(kv->value, after_prefix)) {
            return fs_fail(err, FS_INVALID_REQUEST, "starting_after",
                           "starting_after must be an id starting with %s_.", after_prefix);
        }
        json_object_set_new(item, "after", json_string(kv->value));
        return true;
    }
    for (const char *const *a = allowed; *a != NULL; a++) {
        if (strcmp(kv->key, *a) != 0) continue;
        size_t len = strlen(kv->value);
        if (len == 0 || len > FS_ID_LEN_MAX
            || json_object_set_new(item, kv->key, json_string(kv->value)) != 0) {
            return fs_fail(err, FS_INVALID_REQUEST, param, "%s must be 1 to %d bytes of UTF-8.",
                           param, FS_ID_LEN_MAX);
        }
        return true;
    }
    return fs_fail(err, FS_INVALID_REQUEST, param, "Unknown parameter: %s.", param);
}

bool fs_validate_list_query(const char *query, const char *after_prefix,
                            const char *const *allowed, json_t *item, fs_error_t *err)
{
    static _Thread_local char param[64];
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    json_object_set_new(item, "limit", json_integer(FS_PAGE_LIMIT_DEFAULT));
    if (query == NULL || *query == '\0') return true;
    if (strlen(query) > FS_QUERY_LEN_MAX) {
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The query string may be at most %d bytes.",
                       FS_QUERY_LEN_MAX);
    }
    if (has_encoded_nul(query, param, sizeof(param))) {
        return fs_fail(err, FS_INVALID_REQUEST, param,
                       "%s must not contain NUL characters (%%00).", param);
    }
    if (evhttp_parse_query_str(query, &q) != 0) {
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The query string is malformed.");
    }
    bool ok = true;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &q, next) {
        if (seen_before(&q, kv)) {
            snprintf(param, sizeof(param), "%.*s", (int)sizeof(param) - 1, kv->key);
            ok = fs_fail(err, FS_INVALID_REQUEST, param, "%s is given more than once.", param);
        } else {
            ok = list_param(kv, after_prefix, allowed, item, err);
        }
        if (!ok) break;
    }
    evhttp_clear_headers(&q);
    return ok;
}
