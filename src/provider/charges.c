/*
 * charges.c: the provider simulator's charge requests and the table of
 * recorded charges (see provider.h). Pure: no I/O.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../validate/validate.h"
#include "provider.h"

/* The table starts this small and doubles, so an idle simulator costs
 * nothing; it stays at most half full, so probes stay short. */
#define TABLE_SLOTS_MIN 1024

struct fs_provider_table {
    fs_provider_charge_t **slots; /* owned, each charge owned */
    size_t slots_len;             /* a power of two */
    size_t count;
    size_t max;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
};

bool fs_provider_key_valid(const char *key, size_t len)
{
    if (len == 0 || len > FS_PROVIDER_KEY_LEN_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        if (key[i] < 0x20 || key[i] > 0x7e) return false;
    }
    return true;
}

static bool printable(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s < 0x20 || *s > 0x7e) return false;
    }
    return true;
}

/* An optional reference (payment_id, request_id) copied into out[max + 1]. */
static bool reference(const json_t *body, const char *name, char *out, fs_error_t *err)
{
    const char *v;
    if (!fs_validate_string(body, name, false, FS_PROVIDER_REF_LEN_MAX, &v, err)) return false;
    if (v == NULL) {
        out[0] = '\0';
        return true;
    }
    if (*v == '\0' || !printable(v)) {
        return fs_fail(err, FS_INVALID_REQUEST, name,
                       "%s must be 1 to %d printable ASCII characters.", name,
                       FS_PROVIDER_REF_LEN_MAX);
    }
    snprintf(out, FS_PROVIDER_REF_LEN_MAX + 1, "%s", v);
    return true;
}

static bool check_charge(const json_t *body, fs_provider_charge_request_t *out, fs_error_t *err)
{
    static const char *const allowed[] = {"idempotency_key", "amount",     "currency",
                                          "payment_id",      "request_id", NULL};
    if (!fs_validate_known_fields(body, allowed, err)) return false;
    const char *key, *currency;
    if (!fs_validate_string(body, "idempotency_key", true, FS_PROVIDER_KEY_LEN_MAX, &key, err)) {
        return false;
    }
    if (!fs_provider_key_valid(key, strlen(key))) {
        return fs_fail(err, FS_INVALID_REQUEST, "idempotency_key",
                       "idempotency_key must be 1 to %d printable ASCII characters.",
                       FS_PROVIDER_KEY_LEN_MAX);
    }
    if (!fs_validate_amount(body, "amount", &out->amount, err)) return false;
    if (!fs_validate_string(body, "currency", true, 3, &currency, err)) return false;
    bool upper = strlen(currency) == 3;
    for (int i = 0; upper && i < 3; i++) upper = currency[i] >= 'A' && currency[i] <= 'Z';
    if (!upper) {
        return fs_fail(err, FS_INVALID_REQUEST, "currency",
                       "currency must be an ISO 4217 code of 3 upper-case letters (e.g. USD).");
    }
    if (!reference(body, "payment_id", out->payment_id, err) ||
        !reference(body, "request_id", out->request_id, err))
        return false;
    snprintf(out->idempotency_key, sizeof(out->idempotency_key), "%s", key);
    memcpy(out->currency, currency, 4);
    return true;
}

bool fs_provider_charge_parse(const char *body, size_t len, fs_provider_charge_request_t *out,
                              fs_error_t *err)
{
    json_t *j;
    memset(out, 0, sizeof(*out));
    if (!fs_validate_body(body, len, &j, err)) return false;
    bool ok = check_charge(j, out, err);
    json_decref(j);
    return ok;
}

/* ---- the table ---- */

fs_provider_table_t *fs_provider_table_new(size_t max)
{
    FS_ASSERT(max > 0);
    fs_provider_table_t *t = calloc(1, sizeof(*t));
    FS_ASSERT(t != NULL);
    t->slots_len = TABLE_SLOTS_MIN;
    t->slots = calloc(t->slots_len, sizeof(*t->slots));
    FS_ASSERT(t->slots != NULL);
    t->max = max;
    crypto_shorthash_keygen(t->hash_key);
    return t;
}

void fs_provider_table_free(fs_provider_table_t *t)
{
    if (t == NULL) return;
    for (size_t i = 0; i < t->slots_len; i++) free(t->slots[i]);
    free(t->slots);
    free(t);
}

size_t fs_provider_table_count(const fs_provider_table_t *t)
{
    return t->count;
}

static size_t slot_of(const fs_provider_table_t *t, const char *key)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, (const unsigned char *)key, strlen(key), t->hash_key);
    memcpy(&v, h, sizeof(v));
    return (size_t)v & (t->slots_len - 1);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t probe(const fs_provider_table_t *t, const char *key)
{
    size_t i = slot_of(t, key);
    while (t->slots[i] != NULL && strcmp(t->slots[i]->idempotency_key, key) != 0) {
        i = (i + 1) & (t->slots_len - 1);
    }
    return i;
}

fs_provider_charge_t *fs_provider_table_find(const fs_provider_table_t *t, const char *key)
{
    return t->slots[probe(t, key)];
}

static void grow(fs_provider_table_t *t)
{
    fs_provider_charge_t **old = t->slots;
    size_t old_len = t->slots_len;
    t->slots_len *= 2;
    t->slots = calloc(t->slots_len, sizeof(*t->slots));
    FS_ASSERT(t->slots != NULL);
    for (size_t i = 0; i < old_len; i++) {
        if (old[i] != NULL) t->slots[probe(t, old[i]->idempotency_key)] = old[i];
    }
    free(old);
}

fs_provider_charge_t *fs_provider_table_add(fs_provider_table_t *t,
                                            const fs_provider_charge_request_t *r, bool approved,
                                            const char *decline_code, int64_t created)
{
    if (t->count >= t->max) return NULL;
    if ((t->count + 1) * 2 > t->slots_len) grow(t);
    size_t slot = probe(t, r->idempotency_key);
    FS_ASSERT(t->slots[slot] == NULL);

    /* One block: the struct, the key, then the references that are set. */
    size_t key_len = strlen(r->idempotency_key) + 1;
    size_t pay_len = r->payment_id[0] != '\0' ? strlen(r->payment_id) + 1 : 0;
    size_t req_len = r->request_id[0] != '\0' ? strlen(r->request_id) + 1 : 0;
    fs_provider_charge_t *c = malloc(sizeof(*c) + key_len + pay_len + req_len);
    FS_ASSERT(c != NULL);
    memset(c, 0, sizeof(*c));
    fs_id_new("ch", c->id, sizeof(c->id));
    c->amount = r->amount;
    memcpy(c->currency, r->currency, sizeof(c->currency));
    c->approved = approved;
    c->decline_code = approved ? NULL : decline_code;
    c->created = created;
    char *p = c->idempotency_key;
    memcpy(p, r->idempotency_key, key_len);
    p += key_len;
    if (pay_len > 0) {
        memcpy(p, r->payment_id, pay_len);
        c->payment_id = p;
        p += pay_len;
    }
    if (req_len > 0) {
        memcpy(p, r->request_id, req_len);
        c->request_id = p;
    }
    t->slots[slot] = c;
    t->count++;
    return c;
}

json_t *fs_provider_charge_json(const fs_provider_charge_t *c, bool with_repeats)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s?, s:s?, s:s?, s:I}", "id", c->id,
                          "idempotency_key", c->idempotency_key, "amount", (json_int_t)c->amount,
                          "currency", c->currency, "status", c->approved ? "approved" : "declined",
                          "decline_code", c->decline_code, "payment_id", c->payment_id,
                          "request_id", c->request_id, "created", (json_int_t)c->created);
    FS_ASSERT(j != NULL);
    if (with_repeats) json_object_set_new(j, "repeats", json_integer((json_int_t)c->repeats));
    return j;
}

size_t fs_provider_table_slots(const fs_provider_table_t *t)
{
    return t->slots_len;
}

fs_provider_charge_t *fs_provider_table_slot(const fs_provider_table_t *t, size_t i)
{
    FS_ASSERT(i < t->slots_len);
    return t->slots[i];
}

/* ---- the settlement report and injected breaks (issue 12) ---- */

typedef struct {
    const fs_provider_charge_t *c;
    bool refund;
} report_line_t;

static int line_cmp(const void *a, const void *b)
{
    const report_line_t *x = a, *y = b;
    int k = strcmp(x->c->idempotency_key, y->c->idempotency_key);
    return k != 0 ? k : (int)x->refund - (int)y->refund;
}

/* Appends to *lines the charges of t recorded on the day and after `after`. */
static void report_collect(const fs_provider_table_t *t, bool refund, int64_t day_start,
                           const char *after, report_line_t **lines, size_t *n, size_t *cap)
{
    for (size_t i = 0; i < t->slots_len; i++) {
        const fs_provider_charge_t *c = t->slots[i];
        if (c == NULL || c->dropped || c->created < day_start || c->created >= day_start + 86400)
            continue;
        if (*after != '\0' && strcmp(c->idempotency_key, after) <= 0) continue;
        if (*n == *cap) {
            *cap = *cap == 0 ? 256 : *cap * 2;
            *lines = realloc(*lines, *cap * sizeof(**lines));
            FS_ASSERT(*lines != NULL);
        }
        (*lines)[(*n)++] = (report_line_t){c, refund};
    }
}

json_t *fs_provider_report(const fs_provider_table_t *charges, const fs_provider_table_t *refunds,
                           const char *date, int64_t day_start, const char *after, int limit)
{
    FS_ASSERT(limit >= 1 && limit <= FS_RECON_REPORT_PAGE_MAX);
    report_line_t *lines = NULL;
    size_t n = 0, cap = 0;
    report_collect(charges, false, day_start, after, &lines, &n, &cap);
    report_collect(refunds, true, day_start, after, &lines, &n, &cap);
    if (n > 0) qsort(lines, n, sizeof(*lines), line_cmp);
    json_t *data = json_array();
    size_t shown = n < (size_t)limit ? n : (size_t)limit;
    for (size_t i = 0; i < shown; i++) {
        const fs_provider_charge_t *c = lines[i].c;
        json_t *l = json_pack("{s:s, s:s, s:s, s:s?, s:I, s:s, s:s, s:s?, s:I}", "type",
                              lines[i].refund ? "refund" : "charge", "id", c->id, "idempotency_key",
                              c->idempotency_key, "payment_id", c->payment_id, "amount",
                              (json_int_t)c->amount, "currency", c->currency, "status",
                              c->approved ? "approved" : "declined", "decline_code",
                              c->decline_code, "created", (json_int_t)c->created);
        FS_ASSERT(l != NULL);
        json_array_append_new(data, l);
    }
    bool more = n > shown;
    json_t *r = json_pack("{s:s, s:o, s:b, s:s?}", "date", date, "data", data, "has_more", more,
                          "next_after", more ? lines[shown - 1].c->idempotency_key : NULL);
    FS_ASSERT(r != NULL);
    free(lines);
    return r;
}

fs_provider_charge_t *fs_provider_break(fs_provider_table_t *charges, fs_provider_table_t *refunds,
                                        const json_t *body, int64_t now, fs_error_t *err)
{
    static const char *const allowed[] = {"action",   "type",   "idempotency_key", "amount",
                                          "currency", "status", "created",         NULL};
    if (!json_is_object(body)) {
        fs_fail(err, FS_INVALID_REQUEST, NULL, "The body must be a JSON object.");
        return NULL;
    }
    if (!fs_validate_known_fields(body, allowed, err)) return NULL;
    const char *action, *type, *key, *status = NULL;
    if (!fs_validate_string(body, "action", true, 16, &action, err) ||
        !fs_validate_string(body, "type", false, 16, &type, err) ||
        !fs_validate_string(body, "idempotency_key", true, FS_PROVIDER_KEY_LEN_MAX, &key, err) ||
        !fs_validate_string(body, "status", false, 16, &status, err))
        return NULL;
    bool add = strcmp(action, "add") == 0, drop = strcmp(action, "drop") == 0;
    if (!add && !drop && strcmp(action, "alter") != 0) {
        fs_fail(err, FS_INVALID_REQUEST, "action", "action must be alter, drop or add.");
        return NULL;
    }
    bool refund = type != NULL && strcmp(type, "refund") == 0;
    if (type != NULL && !refund && strcmp(type, "charge") != 0) {
        fs_fail(err, FS_INVALID_REQUEST, "type", "type must be charge or refund.");
        return NULL;
    }
    if (status != NULL && strcmp(status, "approved") != 0 && strcmp(status, "declined") != 0) {
        fs_fail(err, FS_INVALID_REQUEST, "status", "status must be approved or declined.");
        return NULL;
    }
    int64_t amount = 0, created = now;
    bool has_amount = json_object_get(body, "amount") != NULL;
    if (has_amount && !fs_validate_amount(body, "amount", &amount, err)) return NULL;
    const json_t *cr = json_object_get(body, "created");
    if (cr != NULL) {
        if (!json_is_integer(cr) || json_integer_value(cr) < 0) {
            fs_fail(err, FS_INVALID_REQUEST, "created", "created must be Unix seconds.");
            return NULL;
        }
        created = (int64_t)json_integer_value(cr);
    }
    const char *currency = NULL;
    if (!fs_validate_string(body, "currency", add, 3, &currency, err)) return NULL;
    if (currency != NULL) {
        bool upper = strlen(currency) == 3;
        for (int i = 0; upper && i < 3; i++) upper = currency[i] >= 'A' && currency[i] <= 'Z';
        if (!upper) {
            fs_fail(err, FS_INVALID_REQUEST, "currency", "currency must be 3 upper-case letters.");
            return NULL;
        }
    }
    fs_provider_table_t *t = refund ? refunds : charges;
    fs_provider_charge_t *c = fs_provider_table_find(t, key);
    if (add) {
        if (c != NULL) {
            fs_fail(err, FS_IDEMPOTENCY_KEY_REUSE, "idempotency_key",
                    "A charge with this idempotency_key is recorded; alter it instead.");
            return NULL;
        }
        if (!has_amount) {
            fs_fail(err, FS_INVALID_REQUEST, "amount", "add needs an amount.");
            return NULL;
        }
        fs_provider_charge_request_t r;
        memset(&r, 0, sizeof(r));
        if (!fs_provider_key_valid(key, strlen(key))) {
            fs_fail(err, FS_INVALID_REQUEST, "idempotency_key",
                    "idempotency_key must be printable ASCII.");
            return NULL;
        }
        snprintf(r.idempotency_key, sizeof(r.idempotency_key), "%s", key);
        snprintf(r.payment_id, sizeof(r.payment_id), "%s", key);
        r.amount = amount;
        memcpy(r.currency, currency, 4);
        bool approved = status == NULL || strcmp(status, "approved") == 0;
        c = fs_provider_table_add(t, &r, approved, approved ? NULL : "card_declined", created);
        if (c == NULL) {
            fs_fail(err, FS_OVERLOADED, NULL, "The simulator holds its maximum of charges.");
            return NULL;
        }
        if (refund) fs_id_new("rf", c->id, sizeof(c->id));
        return c;
    }
    if (c == NULL) {
        fs_fail(err, FS_NOT_FOUND, "idempotency_key", "No charge is recorded with this key.");
        return NULL;
    }
    if (drop) {
        c->dropped = true;
        return c;
    }
    if (has_amount) c->amount = amount;
    if (currency != NULL) memcpy(c->currency, currency, 4);
    if (status != NULL) {
        c->approved = strcmp(status, "approved") == 0;
        c->decline_code = c->approved ? NULL : "card_declined";
    }
    if (cr != NULL) c->created = created;
    return c;
}
