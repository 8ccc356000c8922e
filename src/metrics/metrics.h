/*
 * metrics.h: the process's metrics, rendered for GET /metrics in the
 * Prometheus text format (version 0.0.4).
 *
 * The families are fixed (fs_metric_id_t; their names, HELP, TYPE and label
 * names live in the table in metrics.c). A series (a family and its label
 * values) is made the first time it is touched, under a mutex; from then on
 * touching it is a scan of the family's series and a relaxed atomic add, so
 * the event loops never wait for each other or for a scrape. Label values
 * must come from bounded sets (route templates, currencies, outcome names);
 * past FS_METRICS_SERIES_MAX series a family counts what is new under the
 * label value "other".
 *
 * FINSYS_METRICS=0 (fs_metrics_init(false)) makes every call here return at
 * once: to measure what metrics cost (docs/architecture.md, "Metrics").
 *
 * Threads: everything may be called from any thread at once.
 */
#ifndef FS_METRICS_H
#define FS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    FS_M_BUILD_INFO,
    FS_M_HTTP_REQUESTS,         /* route, method, status_class */
    FS_M_HTTP_DURATION,         /* route; seconds */
    FS_M_PAYMENTS_CREATED,      /* currency */
    FS_M_PAYMENTS_SUCCEEDED,    /* currency */
    FS_M_PAYMENTS_FAILED,       /* currency */
    FS_M_PAYMENTS_CANCELED,     /* currency */
    FS_M_PAYMENTS_AMOUNT,       /* currency, status */
    FS_M_STORE_BATCH_ITEMS,     /* items per fs_batch call */
    FS_M_STORE_COMMIT_DURATION, /* seconds */
    FS_M_STORE_CONNECTIONS_IN_USE,
    FS_M_QUEUE_PUBLISHED,
    FS_M_QUEUE_PUBLISH_FAILED,
    FS_M_QUEUE_CONSUMED,
    FS_M_QUEUE_CONSUMER_PENDING, /* consumer */
    FS_M_QUEUE_DEAD_LETTERS,     /* queue */
    FS_M_BREAKER_STATE,
    FS_M_BREAKER_TRANSITIONS, /* to */
    FS_M_PROVIDER_DURATION,   /* seconds */
    FS_M_PROVIDER_REQUESTS,   /* outcome */
    FS_M_WEBHOOK_DELIVERIES,  /* outcome */
    FS_M_RATELIMIT_LIMITED,
    FS_M_READINESS,         /* dependency */
    FS_M_RISK_DECISIONS,    /* decision, mode */
    FS_M_RISK_RULE_MATCHES, /* rule, action, mode */
    FS_M_AUTH_LOOKUPS,      /* result */
    FS_M_READS,             /* to, why (issue 14: lists on the replica) */
    FS_M_READ_REPLICA_LAG,  /* set in milliseconds, shown in seconds */
    FS_M_COUNT
} fs_metric_id_t;

/* Turns metrics on (the default) or off, and records the start time and
 * the build. Call once, before any thread starts. */
void fs_metrics_init(bool enabled);

bool fs_metrics_enabled(void);

/* A counter (or a gauge) goes up by n. Labels: as many as the family has,
 * in the order of its label names; the rest NULL. */
void fs_metrics_add(fs_metric_id_t id, const char *l1, const char *l2, const char *l3,
                    uint64_t n);

/* A gauge is set. */
void fs_metrics_set(fs_metric_id_t id, const char *l1, int64_t value);

/* A gauge goes up (or down, delta < 0). */
void fs_metrics_gauge_add(fs_metric_id_t id, const char *l1, int64_t delta);

/* A histogram observes value (seconds for the _seconds families). */
void fs_metrics_observe(fs_metric_id_t id, const char *l1, double value);

/* A series found once and kept (on a hot path: no scan of the family's
 * series at each touch); NULL when metrics are off. Valid for the process's
 * life. */
typedef struct fs_metric_series fs_metric_series_t;

fs_metric_series_t *fs_metrics_series(fs_metric_id_t id, const char *l1, const char *l2,
                                      const char *l3);
void fs_metrics_series_add(fs_metric_series_t *s, uint64_t n);
void fs_metrics_series_observe(fs_metric_series_t *s, double value);

/* Counts the risk decision of a payment answer (docs/risk.md): payload is
 * the 201's payment, or the error payload of a payment_blocked, both with
 * the decision at the top level as "risk": {"score", "decision",
 * "rules_matched": [{"id", "action", "mode"}]}. Adds one to
 * finsys_risk_decisions_total{decision, mode="active"} and one to
 * finsys_risk_rule_matches_total{rule, action, mode} per matched rule (shadow
 * ones too); a payload whose risk is null (the tenant has no rules), or with
 * no risk, counts nothing. Rule labels are the first
 * FS_METRICS_RISK_RULES_MAX distinct ids seen, then "other".
 *
 * Cheap for what nearly every payment is: no "rules_matched" in the text
 * (risk null) is one strstr; an allow with no match is a few more; only a
 * payload with matches or another decision is parsed. The caller counts
 * each decision once: not an idempotent replay. */
void fs_metrics_count_risk(const char *payload);

/* How fs_metrics_count_risk() reads a payload, from its text alone: no risk
 * to count, an allow with no match, or it must be parsed (matches, another
 * decision, or a text it cannot be sure of). */
typedef enum {
    FS_METRICS_RISK_NONE,
    FS_METRICS_RISK_ALLOW,
    FS_METRICS_RISK_PARSE,
} fs_metrics_risk_text_t;

fs_metrics_risk_text_t fs_metrics_risk_text(const char *payload);

/* The status class of an HTTP status: "2xx".."5xx" ("1xx" below 200). */
const char *fs_metrics_status_class(int status);

/* The whole exposition, a malloc'd NUL-terminated string (*len bytes): every
 * family with HELP and TYPE, then the process_* families read from
 * /proc/self (procfs: kernel memory, no disk). NULL only when out of memory. */
char *fs_metrics_render(size_t *len);

/* The Content-Type of what fs_metrics_render() makes. */
#define FS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
