/*
 * sim_config.c: the provider simulator's configuration, its command line, its
 * random generator and what each call draws (see provider.h). Pure: no I/O.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

/* The standard normal's 99th percentile: a lognormal's p99 is
 * median * exp(sigma * Z99). */
#define Z99 2.3263478740408408
#define PI 3.14159265358979323846

/* ---- random generator: xoshiro256** seeded by splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void fs_provider_rng_seed(fs_provider_rng_t *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t fs_provider_rng_next(fs_provider_rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double fs_provider_rng_unit(fs_provider_rng_t *rng)
{
    return (double)(fs_provider_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* ---- configuration ---- */

static const char *const latency_names[] = {
    [FS_PROVIDER_LATENCY_FIXED] = "fixed",
    [FS_PROVIDER_LATENCY_UNIFORM] = "uniform",
    [FS_PROVIDER_LATENCY_LOGNORMAL] = "lognormal",
};

static const char *const field_names[] = {
    "latency",
    "latency_ms",
    "latency_min_ms",
    "latency_max_ms",
    "latency_median_ms",
    "latency_p99_ms",
    "decline_rate",
    "error_rate",
    "timeout_rate",
    "timeout_after_ms",
    "outage_ms",
    "seed",
    NULL,
};

void fs_provider_config_default(fs_provider_config_t *c, int64_t seed)
{
    *c = (fs_provider_config_t){
        .latency = FS_PROVIDER_LATENCY_LOGNORMAL,
        .latency_ms = 5,
        .latency_min_ms = 1,
        .latency_max_ms = 10,
        .latency_median_ms = 5,
        .latency_p99_ms = 25,
        .decline_rate = 0.01,
        .error_rate = 0.005,
        .timeout_rate = 0,
        .timeout_after_ms = 30000,
        .outage_until_us = 0,
        .seed = seed,
    };
}

/* A number field within [min, max]; absent leaves *out alone. */
static bool number_field(const json_t *fields, const char *name, double min, double max,
                         double *out, fs_error_t *err)
{
    const json_t *v = json_object_get(fields, name);
    if (v == NULL) return true;
    if (!json_is_number(v)) {
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must be a number.", name);
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max) {
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must be from %g to %g.", name, min, max);
    }
    *out = d;
    return true;
}

/* An integer field within [min, max]; absent leaves *out alone. */
static bool integer_field(const json_t *fields, const char *name, int64_t min, int64_t max,
                          int64_t *out, fs_error_t *err)
{
    const json_t *v = json_object_get(fields, name);
    if (v == NULL) return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must be an integer from %lld to %lld.",
                       name, (long long)min, (long long)max);
    }
    *out = (int64_t)json_integer_value(v);
    return true;
}

static bool latency_field(const json_t *fields, fs_provider_latency_t *out, fs_error_t *err)
{
    const json_t *v = json_object_get(fields, "latency");
    if (v == NULL) return true;
    for (size_t i = 0; json_is_string(v) && i < sizeof(latency_names) / sizeof(*latency_names);
         i++) {
        if (strcmp(json_string_value(v), latency_names[i]) == 0) {
            *out = (fs_provider_latency_t)i;
            return true;
        }
    }
    return fs_fail(err, FS_INVALID_REQUEST, "latency",
                   "latency must be \"fixed\", \"uniform\" or \"lognormal\".");
}

/* What no single field can check: the fields against each other. */
static bool config_consistent(const fs_provider_config_t *c, fs_error_t *err)
{
    if (c->latency_min_ms > c->latency_max_ms) {
        return fs_fail(err, FS_INVALID_REQUEST, "latency_min_ms",
                       "latency_min_ms (%g) must not exceed latency_max_ms (%g).",
                       c->latency_min_ms, c->latency_max_ms);
    }
    if (c->latency_median_ms <= 0) {
        return fs_fail(err, FS_INVALID_REQUEST, "latency_median_ms",
                       "latency_median_ms must be above 0 (a lognormal is positive).");
    }
    if (c->latency_p99_ms < c->latency_median_ms) {
        return fs_fail(err, FS_INVALID_REQUEST, "latency_p99_ms",
                       "latency_p99_ms (%g) must be at least latency_median_ms (%g).",
                       c->latency_p99_ms, c->latency_median_ms);
    }
    if (c->error_rate + c->decline_rate > 1.0 + 1e-12) {
        return fs_fail(err, FS_INVALID_REQUEST, "decline_rate",
                       "error_rate + decline_rate must be at most 1 (each call is one of "
                       "error, decline or approval).");
    }
    return true;
}

bool fs_provider_config_apply(fs_provider_config_t *c, const json_t *fields, uint64_t now_us,
                              fs_error_t *err)
{
    if (!json_is_object(fields)) {
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The body must be a JSON object.");
    }
    static char param[64];
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)fields, key, value)
    {
        bool known = false;
        for (const char *const *f = field_names; *f != NULL && !known; f++) {
            known = strcmp(key, *f) == 0;
        }
        if (!known) {
            snprintf(param, sizeof(param), "%s", key);
            return fs_fail(err, FS_INVALID_REQUEST, param, "Unknown parameter: %s.", param);
        }
    }
    fs_provider_config_t n = *c;
    int64_t outage_ms = -1;
    const double lat_max = FS_PROVIDER_LATENCY_MS_MAX;
    if (!latency_field(fields, &n.latency, err) ||
        !number_field(fields, "latency_ms", 0, lat_max, &n.latency_ms, err) ||
        !number_field(fields, "latency_min_ms", 0, lat_max, &n.latency_min_ms, err) ||
        !number_field(fields, "latency_max_ms", 0, lat_max, &n.latency_max_ms, err) ||
        !number_field(fields, "latency_median_ms", 0, lat_max, &n.latency_median_ms, err) ||
        !number_field(fields, "latency_p99_ms", 0, lat_max, &n.latency_p99_ms, err) ||
        !number_field(fields, "decline_rate", 0, 1, &n.decline_rate, err) ||
        !number_field(fields, "error_rate", 0, 1, &n.error_rate, err) ||
        !number_field(fields, "timeout_rate", 0, 1, &n.timeout_rate, err) ||
        !integer_field(fields, "timeout_after_ms", 1, FS_PROVIDER_TIMEOUT_AFTER_MS_MAX,
                       &n.timeout_after_ms, err) ||
        !integer_field(fields, "outage_ms", 0, FS_PROVIDER_OUTAGE_MS_MAX, &outage_ms, err) ||
        !integer_field(fields, "seed", 0, INT64_MAX, &n.seed, err) || !config_consistent(&n, err))
        return false;
    if (outage_ms == 0) n.outage_until_us = 0;
    if (outage_ms > 0) n.outage_until_us = now_us + (uint64_t)outage_ms * 1000u;
    *c = n;
    return true;
}

json_t *fs_provider_config_json(const fs_provider_config_t *c, uint64_t now_us)
{
    int64_t outage_ms = 0;
    if (c->outage_until_us > now_us) {
        outage_ms = (int64_t)((c->outage_until_us - now_us + 999) / 1000);
    }
    json_t *j =
        json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I}", "latency",
                  latency_names[c->latency], "latency_ms", c->latency_ms, "latency_min_ms",
                  c->latency_min_ms, "latency_max_ms", c->latency_max_ms, "latency_median_ms",
                  c->latency_median_ms, "latency_p99_ms", c->latency_p99_ms, "decline_rate",
                  c->decline_rate, "error_rate", c->error_rate, "timeout_rate", c->timeout_rate,
                  "timeout_after_ms", (json_int_t)c->timeout_after_ms, "outage_ms",
                  (json_int_t)outage_ms, "seed", (json_int_t)c->seed);
    FS_ASSERT(j != NULL);
    return j;
}

/* ---- command line ---- */

/* A flag's value as JSON: an integer, else a number, else a string (which
 * the field's check then names if it wanted a number). */
static json_t *flag_value(const char *text)
{
    if (*text != '\0') {
        char *end;
        errno = 0;
        long long n = strtoll(text, &end, 10);
        if (*end == '\0' && errno == 0) return json_integer(n);
        double d = strtod(text, &end);
        if (*end == '\0' && isfinite(d)) return json_real(d);
    }
    return json_string(text);
}

static bool port_value(const char *text, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0 || n < 1 || n > 65535) return false;
    *out = (int)n;
    return true;
}

/* Splits "--name=value" or "--name value"; advances *i past what it used. */
static bool next_flag(int argc, char **argv, int *i, char *name, size_t name_len,
                      const char **value, char *err, size_t err_len)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        snprintf(err, err_len, "unexpected argument '%s'", arg);
        return false;
    }
    const char *eq = strchr(arg, '=');
    size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    if (len - 2 >= name_len) {
        snprintf(err, err_len, "unknown option '%s'", arg);
        return false;
    }
    memcpy(name, arg + 2, len - 2);
    name[len - 2] = '\0';
    if (eq != NULL) {
        *value = eq + 1;
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        snprintf(err, err_len, "option '--%s' needs a value", name);
        return false;
    }
    (*i)++;
    return true;
}

bool fs_provider_options_parse(fs_provider_options_t *o, int argc, char **argv, uint64_t now_us,
                               char *err, size_t err_len)
{
    json_t *fields = json_object();
    bool ok = true;
    for (int i = 0; ok && i < argc;) {
        char name[64];
        const char *value;
        if (!next_flag(argc, argv, &i, name, sizeof(name), &value, err, err_len)) {
            ok = false;
        } else if (strcmp(name, "host") == 0) {
            if (*value == '\0' || strlen(value) >= sizeof(o->host)) {
                snprintf(err, err_len, "--host must be an IP address of at most %zu bytes",
                         sizeof(o->host) - 1);
                ok = false;
            } else {
                snprintf(o->host, sizeof(o->host), "%s", value);
            }
        } else if (strcmp(name, "port") == 0) {
            if (!port_value(value, &o->port)) {
                snprintf(err, err_len, "--port must be an integer from 1 to 65535 (got '%s')",
                         value);
                ok = false;
            }
        } else {
            char field[64];
            snprintf(field, sizeof(field), "%s", name);
            for (char *c = field; *c != '\0'; c++) *c = *c == '-' ? '_' : *c;
            bool known = false;
            for (const char *const *f = field_names; *f != NULL && !known; f++) {
                known = strcmp(field, *f) == 0;
            }
            if (!known) {
                snprintf(err, err_len, "unknown option '--%s'", name);
                ok = false;
            } else {
                json_object_set_new(fields, field, flag_value(value));
            }
        }
    }
    fs_error_t e;
    if (ok && !fs_provider_config_apply(&o->config, fields, now_us, &e)) {
        char flag[64];
        snprintf(flag, sizeof(flag), "%s", e.param != NULL ? e.param : "");
        for (char *c = flag; *c != '\0'; c++) *c = *c == '_' ? '-' : *c;
        snprintf(err, err_len, "--%s: %s", flag, e.message);
        ok = false;
    }
    json_decref(fields);
    return ok;
}

/* ---- what a call draws ---- */

uint64_t fs_provider_latency_sample_us(const fs_provider_config_t *c, fs_provider_rng_t *rng)
{
    /* Two draws always, whatever the distribution, so that changing it keeps
     * the rest of the sequence in step. */
    double u1 = fs_provider_rng_unit(rng), u2 = fs_provider_rng_unit(rng);
    double ms;
    switch (c->latency) {
    case FS_PROVIDER_LATENCY_FIXED:
        ms = c->latency_ms;
        break;
    case FS_PROVIDER_LATENCY_UNIFORM:
        ms = c->latency_min_ms + u1 * (c->latency_max_ms - c->latency_min_ms);
        break;
    case FS_PROVIDER_LATENCY_LOGNORMAL:
    default: {
        /* Box-Muller: 1 - u1 is in (0, 1], so the log is finite. */
        double z = sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * PI * u2);
        double sigma = log(c->latency_p99_ms / c->latency_median_ms) / Z99;
        ms = c->latency_median_ms * exp(sigma * z);
        break;
    }
    }
    if (!(ms >= 0)) ms = 0;
    if (ms > FS_PROVIDER_LATENCY_MS_MAX) ms = FS_PROVIDER_LATENCY_MS_MAX;
    return (uint64_t)(ms * 1000.0 + 0.5);
}

const char *const fs_provider_decline_codes[] = {
    "card_declined", "insufficient_funds", "do_not_honor", "expired_card", NULL,
};

/* How declines split among the codes: most are generic, as at real issuers. */
static const double decline_weights[] = {0.5, 0.3, 0.1, 0.1};

void fs_provider_draw(const fs_provider_config_t *c, fs_provider_rng_t *rng,
                      fs_provider_draw_t *out)
{
    double outcome = fs_provider_rng_unit(rng);
    double timeout = fs_provider_rng_unit(rng);
    double code = fs_provider_rng_unit(rng);
    *out = (fs_provider_draw_t){.kind = FS_PROVIDER_DRAW_APPROVE};
    /* One draw decides among error, decline and approval, so each happens at
     * exactly its configured rate. */
    if (outcome < c->error_rate) {
        out->kind = FS_PROVIDER_DRAW_ERROR;
    } else if (outcome < c->error_rate + c->decline_rate) {
        out->kind = FS_PROVIDER_DRAW_DECLINE;
    }
    size_t i = 0;
    double acc = decline_weights[0];
    while (code >= acc && fs_provider_decline_codes[i + 1] != NULL) acc += decline_weights[++i];
    out->decline_code = out->kind == FS_PROVIDER_DRAW_DECLINE ? fs_provider_decline_codes[i] : NULL;
    out->timeout = out->kind != FS_PROVIDER_DRAW_ERROR && timeout < c->timeout_rate;
    out->latency_us = fs_provider_latency_sample_us(c, rng);
}
