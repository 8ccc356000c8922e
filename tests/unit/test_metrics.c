/* Unit tests of src/metrics: the exposition's form, counting from threads,
 * the bound on series, and the route templates metrics are labelled with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/api.h"
#include "../../src/core/limits.h"
#include "../../src/metrics/metrics.h"

/* The value of the sample whose line starts with `series ` (or -1). */
static long long sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') return atoll(line + n + 1);
        line = strchr(line, '\n');
        if (line != NULL) line++;
    }
    return -1;
}

static void every_family_has_help_and_type(void **state)
{
    (void)state;
    size_t len = 0;
    char *text = fs_metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    static const char *const families[] = {
        "finsys_build_info gauge", "finsys_http_requests_total counter",
        "finsys_http_request_duration_seconds histogram", "finsys_payments_created_total counter",
        "finsys_payments_succeeded_total counter", "finsys_payments_failed_total counter",
        "finsys_payments_canceled_total counter",
        "finsys_payments_amount_minor_units_total counter", "finsys_store_batch_items histogram",
        "finsys_store_commit_duration_seconds histogram", "finsys_store_connections_in_use gauge",
        "finsys_queue_published_total counter", "finsys_queue_publish_failed_total counter",
        "finsys_queue_consumed_total counter", "finsys_queue_consumer_pending_messages gauge",
        "finsys_queue_dead_letters_total counter", "finsys_breaker_state gauge",
        "finsys_breaker_transitions_total counter",
        "finsys_provider_request_duration_seconds histogram",
        "finsys_provider_requests_total counter", "finsys_webhook_deliveries_total counter",
        "finsys_ratelimit_limited_total counter", "finsys_readiness gauge",
        "finsys_risk_decisions_total counter", "finsys_risk_rule_matches_total counter",
        "finsys_reads_total counter", "finsys_read_replica_lag_seconds gauge",
        "process_resident_memory_bytes gauge", "process_cpu_seconds_total counter",
        "process_open_fds gauge", "process_start_time_seconds gauge"};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char type[128], help[128];
        snprintf(type, sizeof(type), "# TYPE %s\n", families[i]);
        snprintf(help, sizeof(help), "# HELP %.*s ", (int)strcspn(families[i], " "),
                 families[i]);
        if (strstr(text, type) == NULL) fail_msg("no '%s'", type);
        if (strstr(text, help) == NULL) fail_msg("no '%s'", help);
    }
    /* The build is named, and unlabelled families exist from the start. */
    assert_non_null(strstr(text, "finsys_build_info{version=\""));
    assert_int_equal(sample(text, "finsys_ratelimit_limited_total"), 0);
    free(text);
}

static void counters_histograms_and_labels(void **state)
{
    (void)state;
    fs_metrics_add(FS_M_PAYMENTS_CREATED, "EUR", NULL, NULL, 2);
    fs_metrics_add(FS_M_PAYMENTS_CREATED, "EUR", NULL, NULL, 1);
    fs_metrics_add(FS_M_PAYMENTS_AMOUNT, "EUR", "created", NULL, 1500);
    fs_metrics_gauge_add(FS_M_STORE_CONNECTIONS_IN_USE, NULL, 2);
    fs_metrics_gauge_add(FS_M_STORE_CONNECTIONS_IN_USE, NULL, -1);
    fs_metrics_observe(FS_M_STORE_COMMIT_DURATION, NULL, 0.003);
    fs_metrics_observe(FS_M_STORE_COMMIT_DURATION, NULL, 20);
    fs_metrics_set(FS_M_READINESS, "a\"b\\c\nd", 1);
    char *text = fs_metrics_render(NULL);
    assert_int_equal(sample(text, "finsys_payments_created_total{currency=\"EUR\"}"), 3);
    assert_int_equal(
        sample(text, "finsys_payments_amount_minor_units_total{currency=\"EUR\",status=\"created\"}"),
        1500);
    assert_int_equal(sample(text, "finsys_store_connections_in_use"), 1);
    assert_int_equal(sample(text, "finsys_store_commit_duration_seconds_bucket{le=\"0.0025\"}"), 0);
    assert_int_equal(sample(text, "finsys_store_commit_duration_seconds_bucket{le=\"0.005\"}"), 1);
    assert_int_equal(sample(text, "finsys_store_commit_duration_seconds_bucket{le=\"10\"}"), 1);
    assert_int_equal(sample(text, "finsys_store_commit_duration_seconds_bucket{le=\"+Inf\"}"), 2);
    assert_int_equal(sample(text, "finsys_store_commit_duration_seconds_count"), 2);
    assert_non_null(strstr(text, "finsys_store_commit_duration_seconds_sum 20.003000000\n"));
    /* Label values are escaped as the text format says. */
    assert_int_equal(sample(text, "finsys_readiness{dependency=\"a\\\"b\\\\c\\nd\"}"), 1);
    free(text);
}

static void *add_many(void *arg)
{
    (void)arg;
    fs_metric_series_t *s = fs_metrics_series(FS_M_QUEUE_PUBLISHED, NULL, NULL, NULL);
    for (int i = 0; i < 100000; i++) {
        fs_metrics_add(FS_M_RATELIMIT_LIMITED, NULL, NULL, NULL, 1);
        fs_metrics_series_add(s, 1);
        fs_metrics_add(FS_M_PROVIDER_REQUESTS, i % 2 ? "approved" : "declined", NULL, NULL, 1);
    }
    return NULL;
}

static void threads_lose_no_count(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, add_many, NULL), 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    char *text = fs_metrics_render(NULL);
    assert_int_equal(sample(text, "finsys_ratelimit_limited_total"), 400000);
    assert_int_equal(sample(text, "finsys_queue_published_total"), 400000);
    assert_int_equal(sample(text, "finsys_provider_requests_total{outcome=\"approved\"}"), 200000);
    assert_int_equal(sample(text, "finsys_provider_requests_total{outcome=\"declined\"}"), 200000);
    free(text);
}

/* A family keeps at most FS_METRICS_SERIES_MAX series; what is new past it
 * counts under "other". */
static void series_are_bounded(void **state)
{
    (void)state;
    for (int i = 0; i < FS_METRICS_SERIES_MAX + 50; i++) {
        char label[32];
        snprintf(label, sizeof(label), "c%d", i);
        fs_metrics_add(FS_M_WEBHOOK_DELIVERIES, label, NULL, NULL, 1);
    }
    char *text = fs_metrics_render(NULL);
    int series = 0;
    for (const char *p = text; (p = strstr(p, "\nfinsys_webhook_deliveries_total{")) != NULL; p++)
        series++;
    assert_int_equal(series, FS_METRICS_SERIES_MAX);
    assert_int_equal(sample(text, "finsys_webhook_deliveries_total{outcome=\"other\"}"), 51);
    free(text);
}

/* --- risk decisions: fs_metrics_count_risk --------------------------------- */

/* A sample's value now, 0 when the series does not exist (yet). */
static long long now_of(const char *series)
{
    char *text = fs_metrics_render(NULL);
    long long v = sample(text, series);
    free(text);
    return v < 0 ? 0 : v;
}

#define DECISION(d) "finsys_risk_decisions_total{decision=\"" d "\",mode=\"active\"}"
#define MATCH(rule, action, mode)                                                                  \
    "finsys_risk_rule_matches_total{rule=\"" rule "\",action=\"" action "\",mode=\"" mode "\"}"

/* Counts of the three decisions and of a few rule series, before and after. */
typedef struct {
    long long allow, review, block, other;
} decisions_t;

static decisions_t decisions_now(void)
{
    return (decisions_t){now_of(DECISION("allow")), now_of(DECISION("review")),
                         now_of(DECISION("block")), now_of(DECISION("other"))};
}

static void assert_decided(decisions_t before, long long allow, long long review, long long block)
{
    decisions_t after = decisions_now();
    assert_int_equal(after.allow - before.allow, allow);
    assert_int_equal(after.review - before.review, review);
    assert_int_equal(after.block - before.block, block);
    assert_int_equal(after.other, before.other);
}

/* What PostgreSQL makes: json_build_object writes "key" : value, a jsonb
 * (payments.risk) "key": value with its keys reordered (psql, 16). */
static void risk_null_or_absent_counts_nothing(void **state)
{
    (void)state;
    decisions_t before = decisions_now();
    fs_metrics_count_risk("{\"id\" : \"pay_1\", \"status\" : \"pending\", \"risk\" : null}");
    fs_metrics_count_risk("{\"id\" : \"pay_1\", \"status\" : \"pending\"}");
    fs_metrics_count_risk(NULL);
    /* Metadata keys named as risk's are not risk (metadata values are strings). */
    fs_metrics_count_risk("{\"metadata\" : {\"decision\": \"allow\", \"rules_matched\": \"[]\"}, "
                          "\"risk\" : null}");
    fs_metrics_count_risk("{\"metadata\" : {\"k\": \"\\\"rules_matched\"}, \"risk\" : null}");
    fs_metrics_count_risk("not json \"rules_matched\" : [{");
    assert_decided(before, 0, 0, 0);
}

static void allow_without_matches_in_every_spacing(void **state)
{
    (void)state;
    decisions_t before = decisions_now();
    /* json_build_object's, jsonb's, jansson's compact form. */
    fs_metrics_count_risk("{\"id\" : \"pay_1\", \"risk\" : {\"score\" : 0, \"decision\" : "
                          "\"allow\", \"rules_matched\" : []}, \"status\" : \"pending\"}");
    fs_metrics_count_risk("{\"id\" : \"pay_1\", \"risk\" : {\"score\": 0, \"decision\": \"allow\", "
                          "\"rules_matched\": []}}");
    fs_metrics_count_risk("{\"risk\":{\"score\":0,\"decision\":\"allow\",\"rules_matched\":[ ]}}");
    assert_decided(before, 3, 0, 0);
}

/* The hot path: what is read from the text alone, and what is parsed. The
 * bytes are PostgreSQL's (psql 16): json_build_object writes "key" : value,
 * a jsonb (payments.risk, embedded) "key": value. */
static void risk_text_is_read_without_parsing_when_it_can(void **state)
{
    (void)state;
    static const struct {
        const char *payload;
        fs_metrics_risk_text_t read;
    } cases[] = {
        {"{\"id\" : \"pay_1\", \"risk\" : null, \"status\" : \"pending\"}", FS_METRICS_RISK_NONE},
        {"{\"id\" : \"pay_1\"}", FS_METRICS_RISK_NONE},
        {NULL, FS_METRICS_RISK_NONE},
        {"{\"risk\" : {\"score\" : 0, \"decision\" : \"allow\", \"rules_matched\" : []}}",
         FS_METRICS_RISK_ALLOW},
        {"{\"risk\" : {\"score\": 0, \"decision\": \"allow\", \"rules_matched\": []}}",
         FS_METRICS_RISK_ALLOW},
        {"{\"risk\":{\"score\":0,\"decision\":\"allow\",\"rules_matched\":[\n]}}",
         FS_METRICS_RISK_ALLOW},
        /* Matches, or another decision: parsed. */
        {"{\"risk\" : {\"score\" : 0, \"decision\" : \"allow\", \"rules_matched\" : [{\"id\" : "
         "\"rr_1\", \"action\" : \"allow\", \"mode\" : \"active\"}]}}",
         FS_METRICS_RISK_PARSE},
        {"{\"risk\": {\"score\": 50, \"decision\": \"review\", \"rules_matched\": []}}",
         FS_METRICS_RISK_PARSE},
        /* A metadata key named like risk's: parsed rather than guessed. */
        {"{\"metadata\" : {\"decision\": \"x\"}, \"risk\" : {\"score\" : 0, \"decision\" : "
         "\"allow\", \"rules_matched\" : []}}",
         FS_METRICS_RISK_PARSE},
        {"{\"metadata\" : {\"rules_matched\": \"x\"}, \"risk\" : {\"score\" : 0, \"decision\" : "
         "\"allow\", \"rules_matched\" : []}}",
         FS_METRICS_RISK_PARSE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (fs_metrics_risk_text(cases[i].payload) != cases[i].read)
            fail_msg("case %zu: %s", i, cases[i].payload != NULL ? cases[i].payload : "NULL");
    }
}

static void matches_are_counted_by_rule_action_and_mode(void **state)
{
    (void)state;
    decisions_t before = decisions_now();
    long long shadow = now_of(MATCH("rr_shadow1", "block", "shadow"));
    long long review = now_of(MATCH("rr_review1", "review", "active"));
    long long block = now_of(MATCH("rr_block1", "block", "active"));
    /* An allow with a shadow match, as jsonb renders payments.risk. */
    fs_metrics_count_risk("{\"id\" : \"pay_1\", \"risk\" : {\"score\": 0, \"decision\": \"allow\", "
                          "\"rules_matched\": [{\"id\": \"rr_shadow1\", \"mode\": \"shadow\", "
                          "\"action\": \"block\"}]}}");
    /* A review (the payment requires_review) with two matches. */
    fs_metrics_count_risk(
        "{\"id\" : \"pay_2\", \"status\" : \"requires_review\", \"risk\" : {\"score\" : 90, "
        "\"decision\" : \"review\", \"rules_matched\" : [{\"id\" : \"rr_review1\", \"action\" : "
        "\"review\", \"mode\" : \"active\"}, {\"id\" : \"rr_shadow1\", \"action\" : \"block\", "
        "\"mode\" : \"shadow\"}]}}");
    /* A blocked attempt's error payload. */
    fs_metrics_count_risk("{\"message\" : \"A risk rule blocked the payment.\", \"param\" : null, "
                          "\"rule\" : \"rr_block1\", \"risk\" : {\"score\" : 90, \"decision\" : "
                          "\"block\", \"rules_matched\" : [{\"id\" : \"rr_block1\", \"action\" : "
                          "\"block\", \"mode\" : \"active\"}]}}");
    /* An allow whose metadata has a key "decision": parsed, not misread. */
    fs_metrics_count_risk("{\"metadata\" : {\"decision\": \"block\"}, \"risk\" : {\"score\" : 0, "
                          "\"decision\" : \"allow\", \"rules_matched\" : []}}");
    fs_metrics_count_risk("{\"metadata\" : {\"decision\": \"allow\"}, \"risk\" : {\"score\" : 50, "
                          "\"decision\" : \"review\", \"rules_matched\" : []}}");
    assert_decided(before, 2, 2, 1);
    assert_int_equal(now_of(MATCH("rr_shadow1", "block", "shadow")) - shadow, 2);
    assert_int_equal(now_of(MATCH("rr_review1", "review", "active")) - review, 1);
    assert_int_equal(now_of(MATCH("rr_block1", "block", "active")) - block, 1);
}

/* What is not a rule id, an action or a mode is labelled "other". */
static void unknown_labels_are_other(void **state)
{
    (void)state;
    long long other = now_of(MATCH("other", "other", "other"));
    long long bad_id = now_of(MATCH("other", "review", "active"));
    fs_metrics_count_risk(
        "{\"risk\" : {\"decision\" : \"review\", \"rules_matched\" : ["
        "{\"id\" : \"rr_x\", \"action\" : \"zap\", \"mode\" : \"loud\"}, "
        "{\"id\" : \"acct_1\", \"action\" : \"review\", \"mode\" : \"active\"}, "
        "{\"id\" : \"rr_\\\"}\", \"action\" : \"review\", \"mode\" : \"active\"}, "
        "{\"action\" : \"review\", \"mode\" : \"active\"}]}}");
    assert_int_equal(now_of(MATCH("rr_x", "other", "other")), 1);
    assert_int_equal(now_of(MATCH("other", "other", "other")), other);
    assert_int_equal(now_of(MATCH("other", "review", "active")) - bad_id, 3);
}

/* At most FS_METRICS_RISK_RULES_MAX rule ids are labels; the matches of
 * the ids past it count under rule="other". Runs after the other risk tests:
 * the ids they kept count toward the bound. */
static void rule_labels_are_bounded(void **state)
{
    (void)state;
    char *text = fs_metrics_render(NULL);
    int kept = 0;
    for (const char *p = text;
         (p = strstr(p, "\nfinsys_risk_rule_matches_total{rule=\"rr_")) != NULL; p++)
        kept++;
    free(text);
    assert_true(kept > 0 && kept < FS_METRICS_RISK_RULES_MAX);
    long long other = now_of(MATCH("other", "block", "active"));
    int extra = 10;
    for (int i = 0; i < FS_METRICS_RISK_RULES_MAX + extra; i++) {
        char payload[256];
        snprintf(payload, sizeof(payload),
                 "{\"risk\" : {\"decision\" : \"block\", \"rules_matched\" : [{\"id\" : "
                 "\"rr_bound%04d\", \"action\" : \"block\", \"mode\" : \"active\"}]}}",
                 i);
        fs_metrics_count_risk(payload);
        fs_metrics_count_risk(payload); /* a kept id stays kept */
    }
    text = fs_metrics_render(NULL);
    int rules = 0;
    for (const char *p = text;
         (p = strstr(p, "\nfinsys_risk_rule_matches_total{rule=\"rr_")) != NULL; p++)
        rules++;
    assert_int_equal(rules, FS_METRICS_RISK_RULES_MAX);
    /* The first ids got the room left; the rest are other, twice each. */
    assert_int_equal(sample(text, MATCH("rr_bound0000", "block", "active")), 2);
    char last[128];
    snprintf(last, sizeof(last), MATCH("rr_bound%04d", "block", "active"),
             FS_METRICS_RISK_RULES_MAX - kept - 1);
    assert_int_equal(sample(text, last), 2);
    snprintf(last, sizeof(last), MATCH("rr_bound%04d", "block", "active"),
             FS_METRICS_RISK_RULES_MAX - kept);
    assert_int_equal(sample(text, last), -1);
    assert_int_equal(sample(text, MATCH("other", "block", "active")) - other, 2 * (kept + extra));
    free(text);
}

/* Requests are labelled with their route's template, never the raw path. */
static void routes_have_templates(void **state)
{
    (void)state;
    static const struct {
        fs_method_t method;
        const char *path, *route;
    } cases[] = {
        {FS_METHOD_GET, "/v1/payments/pay_0123456789abcdefghijklmnop", "/v1/payments/{id}"},
        {FS_METHOD_POST, "/v1/payments/pay_x/cancel", "/v1/payments/{id}/cancel"},
        {FS_METHOD_GET, "/v1/accounts/acct_x", "/v1/accounts/{id}"},
        {FS_METHOD_GET, "/no/such/thing", "other"},
        {FS_METHOD_GET, "/healthz", "/healthz"},
        {FS_METHOD_GET, "/metrics", "/metrics"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fs_api_request_t req = {.method = cases[i].method, .path = cases[i].path};
        fs_api_result_t res;
        fs_api_route(&req, &res);
        assert_string_equal(res.route_name, cases[i].route);
        assert_string_equal(fs_api_route_name(res.route_id), cases[i].route);
        if (res.item != NULL) json_decref(res.item);
    }
    /* /metrics needs no API key. */
    fs_api_request_t req = {.method = FS_METHOD_GET, .path = "/metrics"};
    fs_api_result_t res;
    fs_api_route(&req, &res);
    assert_int_equal(res.action, FS_API_METRICS);
    req.method = FS_METHOD_POST;
    fs_api_route(&req, &res);
    assert_int_equal(res.action, FS_API_REJECT);
    assert_int_equal(res.err.outcome, FS_METHOD_NOT_ALLOWED);
    assert_string_equal(fs_metrics_status_class(201), "2xx");
    assert_string_equal(fs_metrics_status_class(503), "5xx");
}

int main(void)
{
    fs_metrics_init(true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_family_has_help_and_type),
        cmocka_unit_test(counters_histograms_and_labels),
        cmocka_unit_test(threads_lose_no_count),
        cmocka_unit_test(series_are_bounded),
        cmocka_unit_test(risk_null_or_absent_counts_nothing),
        cmocka_unit_test(allow_without_matches_in_every_spacing),
        cmocka_unit_test(risk_text_is_read_without_parsing_when_it_can),
        cmocka_unit_test(matches_are_counted_by_rule_action_and_mode),
        cmocka_unit_test(unknown_labels_are_other),
        cmocka_unit_test(rule_labels_are_bounded),
        cmocka_unit_test(routes_have_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
