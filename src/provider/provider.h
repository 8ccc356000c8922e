/*
 * provider.h: the provider simulator, `finsys provider-sim`: an HTTP service
 * on its own port that stands for a card network or a bank, so that the
 * settlement worker and the tests meet latency, declines, errors, timeouts and
 * outages on demand (issue 3, part 3). It also holds `finsys webhook-sink`
 * (sink.c), the other side of the outside world: a webhook receiver that
 * answers 204 to everything, for make bench (declared at the end of the
 * subcommand's part below).
 *
 * What it owns: one libevent loop with an evhttp server, the current
 * configuration, a seeded random generator, and the table of recorded charges
 * (by idempotency key). It never blocks its loop: a simulated latency is an
 * evtimer that fires before the answer is sent. It never persists anything: a
 * restart forgets every charge.
 *
 * Routes:
 *   POST /charges          charge once per idempotency key; approved, declined,
 *                          a simulated 500, or an answer delayed past the
 *                          caller's timeout
 *   GET  /charges/{key}    the recorded charge (404 if none)
 *   GET  /reports/settlements?date=  a day's charges and refunds, in pages
 *                          (issue 12's reconciliation)
 *   POST /breaks           alter, drop or add a recorded charge (tests)
 *   GET  /control          the current configuration
 *   POST /control          change it (same fields as the flags; all or nothing)
 *   GET  /stats            counters since start
 *   GET  /healthz          200 while the process runs
 *
 * Ownership: fs_provider_sim_main() owns everything it creates and frees all
 * of it before returning (at SIGINT or SIGTERM). The pure parts below are
 * exposed for the unit tests; their ownership is stated at each.
 */
#ifndef FS_PROVIDER_H
#define FS_PROVIDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

/*
 * Limits, each with its reason. (They live here rather than in
 * src/core/limits.h because they bound a test tool, not FinSys itself.)
 */

/* A charge request is a few hundred bytes; 64 KiB leaves room for any client
 * while bounding what one request makes us buffer. Larger gets a JSON 413. */
#define FS_PROVIDER_BODY_MAX_BYTES (64 * 1024)

/* evhttp's own cap: above it libevent answers a plain 413 before buffering. */
#define FS_PROVIDER_BODY_TRANSPORT_MAX_BYTES (1024 * 1024)

/* Recorded charges. A 60 s benchmark at 10,000 payments/s records 600,000;
 * at about 200 bytes each, 1,000,000 charges hold about 200 MB. Past it a new
 * key gets 507 charge_limit_reached (a repeat of a recorded key still works). */
#define FS_PROVIDER_CHARGES_MAX 1000000

/* The idempotency key: 1..255 printable ASCII, as FinSys's own keys. */
#define FS_PROVIDER_KEY_LEN_MAX FS_IDEMPOTENCY_KEY_LEN_MAX

/* payment_id and request_id are echoed references; ours are under 50 bytes. */
#define FS_PROVIDER_REF_LEN_MAX 128

/* Answers waiting on their latency timer. Each holds a connection and a small
 * buffer; at timeout_rate 1 and 30 s each, 100,000 is 3,300 calls/s held.
 * Past it a call gets 503 overloaded at once, and nothing is charged. */
#define FS_PROVIDER_IN_FLIGHT_MAX 100000

/* A simulated latency: a minute is beyond any caller's timeout already. */
#define FS_PROVIDER_LATENCY_MS_MAX 60000.0

/* --timeout-after-ms: ten minutes is beyond any caller's timeout. */
#define FS_PROVIDER_TIMEOUT_AFTER_MS_MAX 600000

/* outage_ms: a day; a longer outage is a stopped simulator. */
#define FS_PROVIDER_OUTAGE_MS_MAX (24 * 3600 * 1000)

/* The simulator, as `finsys provider-sim` runs it: argv holds the options
 * after the subcommand. Returns the exit status (0 after SIGINT or SIGTERM,
 * 1 if it cannot listen, 2 for bad options). */
int fs_provider_sim_main(int argc, char **argv);

/* The subcommand's --help text. */
extern const char fs_provider_sim_usage[];

/* `finsys webhook-sink` (sink.c): a webhook receiver standing for a tenant's
 * endpoint, for make bench and tests. Answers 204 to every POST at once and
 * counts them (GET /stats); GET /healthz answers 200. argv holds the options
 * after the subcommand (--host, --port). Returns the exit status (0 after
 * SIGINT or SIGTERM, 1 if it cannot listen, 2 for bad options). Its body
 * limit is FS_WEBHOOK_SINK_BODY_MAX_BYTES in src/core/limits.h. */
int fs_webhook_sink_main(int argc, char **argv);
extern const char fs_webhook_sink_usage[];

/*
 * Pure parts, exposed for the unit tests.
 */

/* A small, seeded generator (xoshiro256**), so that a seed replays the same
 * outcomes for the same sequence of calls. Not for secrets. */
typedef struct {
    uint64_t s[4];
} fs_provider_rng_t;

void fs_provider_rng_seed(fs_provider_rng_t *rng, uint64_t seed);
uint64_t fs_provider_rng_next(fs_provider_rng_t *rng);
/* Uniform in [0, 1). */
double fs_provider_rng_unit(fs_provider_rng_t *rng);

typedef enum {
    FS_PROVIDER_LATENCY_FIXED,
    FS_PROVIDER_LATENCY_UNIFORM,
    FS_PROVIDER_LATENCY_LOGNORMAL,
} fs_provider_latency_t;

/* The configuration. Flags and POST /control set the same fields, named as in
 * JSON (flag --latency-median-ms is field latency_median_ms). */
typedef struct {
    fs_provider_latency_t latency;
    double latency_ms;        /* fixed */
    double latency_min_ms;    /* uniform */
    double latency_max_ms;    /* uniform */
    double latency_median_ms; /* lognormal */
    double latency_p99_ms;    /* lognormal */
    double decline_rate;      /* of new charges, 0..1 */
    double error_rate;        /* simulated 500s, 0..1; error + decline <= 1 */
    double timeout_rate;      /* answers delayed past timeout_after_ms, 0..1 */
    int64_t timeout_after_ms; /* how late a "timed out" answer comes */
    uint64_t outage_until_us; /* fs_now_us() clock; 0 when no outage */
    int64_t seed;
} fs_provider_config_t;

/* The realistic default: lognormal latency (median 5 ms, p99 25 ms), 1%
 * declines, 0.5% errors, no timeouts, timeout_after_ms 30000, no outage. */
void fs_provider_config_default(fs_provider_config_t *c, int64_t seed);

/* Applies the fields of a JSON object (a POST /control body, or the flags) to
 * *c: all or nothing. outage_ms starts an outage that long from now_us (0
 * ends one). On a bad field returns false, leaves *c unchanged and fills err
 * naming the field; unknown fields are rejected. Borrows fields. */
bool fs_provider_config_apply(fs_provider_config_t *c, const json_t *fields, uint64_t now_us,
                              fs_error_t *err);

/* The configuration as GET /control shows it (outage_ms is what remains).
 * The caller owns the result. */
json_t *fs_provider_config_json(const fs_provider_config_t *c, uint64_t now_us);

/* The command line. */
typedef struct {
    char host[64];
    int port;
    fs_provider_config_t config;
} fs_provider_options_t;

/* Parses argv (the options after "provider-sim") onto *o, which holds the
 * defaults (host, port from FINSYS_PROVIDER_PORT, config). "--name value" and
 * "--name=value" both work. On failure returns false with a message naming
 * the option in err. */
bool fs_provider_options_parse(fs_provider_options_t *o, int argc, char **argv, uint64_t now_us,
                               char *err, size_t err_len);

/* One latency, in microseconds, drawn from the configured distribution and
 * kept within [0, FS_PROVIDER_LATENCY_MS_MAX]. */
uint64_t fs_provider_latency_sample_us(const fs_provider_config_t *c, fs_provider_rng_t *rng);

/* What one call to POST /charges meets. Every call draws the same number of
 * values, so a seed replays the same outcomes for the same calls. */
typedef enum {
    FS_PROVIDER_DRAW_APPROVE,
    FS_PROVIDER_DRAW_DECLINE,
    FS_PROVIDER_DRAW_ERROR,
} fs_provider_draw_kind_t;

typedef struct {
    fs_provider_draw_kind_t kind;
    const char *decline_code; /* static; set when kind is DECLINE */
    bool timeout;             /* answer after timeout_after_ms */
    uint64_t latency_us;
} fs_provider_draw_t;

void fs_provider_draw(const fs_provider_config_t *c, fs_provider_rng_t *rng,
                      fs_provider_draw_t *out);

/* The decline codes the simulator gives, NULL-terminated. */
extern const char *const fs_provider_decline_codes[];

/* A validated POST /charges body. */
typedef struct {
    char idempotency_key[FS_PROVIDER_KEY_LEN_MAX + 1];
    int64_t amount;
    char currency[4];
    char payment_id[FS_PROVIDER_REF_LEN_MAX + 1]; /* "" when absent */
    char request_id[FS_PROVIDER_REF_LEN_MAX + 1]; /* "" when absent */
} fs_provider_charge_request_t;

/* Parses and checks a POST /charges body: idempotency_key (1..255 printable
 * ASCII), amount (integer >= 1), currency (3 upper-case letters), payment_id
 * and request_id (optional, printable ASCII, at most FS_PROVIDER_REF_LEN_MAX).
 * On failure fills err naming the parameter. */
bool fs_provider_charge_parse(const char *body, size_t len, fs_provider_charge_request_t *out,
                              fs_error_t *err);

/* An idempotency key's form: 1..FS_PROVIDER_KEY_LEN_MAX printable ASCII. */
bool fs_provider_key_valid(const char *key, size_t len);

/* A recorded charge. One allocation holds the struct and its strings; the
 * table owns it. */
typedef struct {
    char id[FS_ID_BUF_LEN];
    int64_t amount;
    char currency[4];
    bool approved;
    const char *decline_code; /* static; NULL when approved */
    int64_t created;          /* Unix time, seconds */
    uint64_t repeats;         /* calls answered from this record */
    bool dropped;             /* POST /breaks "drop": left out of the report */
    const char *payment_id;   /* NULL when absent */
    const char *request_id;   /* NULL when absent */
    char idempotency_key[];
} fs_provider_charge_t;

/* The charges by idempotency key: an open-addressing hash table (SipHash
 * with a random key, so clients cannot aim at one bucket) that holds at most
 * max charges and never forgets one. */
typedef struct fs_provider_table fs_provider_table_t;

fs_provider_table_t *fs_provider_table_new(size_t max);
/* Frees the table and every charge in it. */
void fs_provider_table_free(fs_provider_table_t *t);
size_t fs_provider_table_count(const fs_provider_table_t *t);
fs_provider_charge_t *fs_provider_table_find(const fs_provider_table_t *t, const char *key);
/* Records a new charge for r (whose key must not be recorded yet) and returns
 * it, or NULL when the table holds max charges already. */
fs_provider_charge_t *fs_provider_table_add(fs_provider_table_t *t,
                                            const fs_provider_charge_request_t *r, bool approved,
                                            const char *decline_code, int64_t created);

/* Slot i of the table (0 <= i < fs_provider_table_slots(t)): a charge or
 * NULL. The order is the table's and changes when it grows. */
size_t fs_provider_table_slots(const fs_provider_table_t *t);
fs_provider_charge_t *fs_provider_table_slot(const fs_provider_table_t *t, size_t i);

/* The settlement report (GET /reports/settlements, issue 12): the charges
 * and refunds recorded on the UTC day starting at day_start (Unix seconds)
 * and not dropped, by idempotency key, those after `after` ("" for the
 * first page), at most limit (1..FS_RECON_REPORT_PAGE_MAX). Answers
 * {"date", "data": [{"type": "charge"|"refund", "id", "idempotency_key",
 * "payment_id", "amount", "currency", "status", "created"}...], "has_more",
 * "next_after"}; date is copied. Scans both tables (O(n log n) a page: a
 * test tool's report). The caller owns the result. */
json_t *fs_provider_report(const fs_provider_table_t *charges, const fs_provider_table_t *refunds,
                           const char *date, int64_t day_start, const char *after, int limit);

/* Breaks injected for tests (POST /breaks): body {"action": "alter" | "drop"
 * | "add", "type": "charge" | "refund", "idempotency_key", "amount"?,
 * "currency"?, "status"? ("approved" | "declined"), "created"?}. alter sets
 * the given fields of a recorded charge; drop leaves it out of the report;
 * add records one nobody asked for (amount and currency required; status
 * approved unless given; created now unless given). Returns the charge, or
 * NULL with err (400 invalid_request, 404 not_found, 409 when add names a
 * recorded key, 507 limit). Borrows body. */
fs_provider_charge_t *fs_provider_break(fs_provider_table_t *charges, fs_provider_table_t *refunds,
                                        const json_t *body, int64_t now, fs_error_t *err);

/* The charge as POST /charges answers it; with_repeats adds "repeats" (for
 * GET /charges/{key}). The caller owns the result. */
json_t *fs_provider_charge_json(const fs_provider_charge_t *c, bool with_repeats);

#endif
