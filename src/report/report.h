/*
 * report.h: finance reads (issue 12): account statements and daily rollups.
 *
 * The statements and the rollups are SQL (db/functions/reports.sql, table
 * daily_rollups of db/migrations/0021_rollups.sql). This module checks the
 * query strings of GET /v1/accounts/{id}/statement and GET
 * /v1/reports/daily into operation items, and drives the rollup reader on
 * the worker's loop as src/search drives the indexer: every interval it
 * sends rollup_run alone, and after a full run the next at once.
 */
#ifndef FS_REPORT_H
#define FS_REPORT_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"
#include "../store/store.h"

/* GET /v1/accounts/{id}/statement (op statement_get): from and to (RFC 3339
 * date-times, normalized to UTC; to defaults to now, from to
 * FS_STATEMENT_DAYS_DEFAULT days before to; from < to, at most
 * FS_STATEMENT_DAYS_MAX days apart), limit (1..FS_STATEMENT_ENTRIES_MAX)
 * and starting_after (a journal entry id). now_us: the current time. An
 * unknown, repeated, empty or bad parameter is an error naming it. */
bool fs_report_parse_statement(const char *query, int64_t now_us, json_t *item, fs_error_t *err);

/* GET /v1/reports/daily (op report_daily): from and to (YYYY-MM-DD, UTC days,
 * both included; to defaults to today, from to FS_REPORT_DAYS_DEFAULT days
 * ending on to; from <= to, at most FS_REPORT_DAYS_MAX days) and currency
 * (a supported code). */
bool fs_report_parse_daily(const char *query, int64_t now_us, json_t *item, fs_error_t *err);

/* GET /admin/api/reports/daily (the console's, across tenants): as
 * fs_report_parse_daily, with tenant (a tenant's id, optional) and periods
 * of at most FS_ADMIN_REPORT_DAYS_MAX days (FS_ADMIN_REPORT_DAYS_DEFAULT by
 * default), into params (from, to, currency, tenant). */
bool fs_report_parse_daily_all(const char *query, int64_t now_us, json_t *params, fs_error_t *err);

typedef struct fs_rollups fs_rollups_t;

/* Starts the rollup reader on base's loop, every interval_ms (0: off, NULL). */
fs_rollups_t *fs_rollups_new(struct event_base *base, fs_store_t *store, int interval_ms);

/* Events taken so far (loop thread). */
uint64_t fs_rollups_taken(const fs_rollups_t *r);

/* Frees it (NULL is fine), after fs_store_free() as fs_indexer_free. */
void fs_rollups_free(fs_rollups_t *r);

#endif
