/*
 * export.h: CSV exports (POST /v1/exports, docs/architecture.md "Exports").
 *
 * The API's side is pure (fs_export_parse_create checks the body and builds
 * the export_create item); the CSV is made by the worker's export runner, a
 * thread of its own with a blocking PostgreSQL connection (never an event
 * loop, never the payment path's connections): it claims an export
 * (fs_export_claim, a lease), reads its rows through a cursor in pages of
 * FS_EXPORT_PAGE_ROWS inside one REPEATABLE READ READ ONLY transaction (one
 * snapshot: a statement's opening balance and its entries agree), writes
 * the CSV to the object store in chunks (fs_objects_writer_t) and finishes
 * it with its SHA-256, rows and bytes.
 */
#ifndef FS_EXPORT_H
#define FS_EXPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "../core/core.h"
#include "../objects/objects.h"

/* Checks POST /v1/exports's body, {"type": "payments"|"statement"|"daily",
 * "filters": {...}}, and sets item's type, filters (times normalized to
 * UTC), new id (exp_...) and the per-tenant maximum. The filters:
 * payments: status, currency, created_gte, created_lte; statement: account
 * (required), created_gte, created_lte; daily: currency, created_gte,
 * created_lte. An error names the parameter ("type", "filters.status"). */
bool fs_export_parse_create(const json_t *body, json_t *item, fs_error_t *err);

/* The amount of minor units written as a decimal integer (digits, with an
 * optional leading '-'; any length: a day's sum may pass int64) as a decimal
 * number by the currency's exponent: ("1234", 2) "12.34", ("-5", 2)
 * "-0.05", ("7", 0) "7". No floats. Returns false when out is too small or
 * minor is not an integer. */
bool fs_export_format_amount(const char *minor, int exponent, char *out, size_t out_len);

/* A growable byte buffer: the CSV chunk the runner fills. */
typedef struct {
    char *data;
    size_t len, cap;
} fs_export_buf_t;

void fs_export_buf_add(fs_export_buf_t *b, const char *data, size_t len);
void fs_export_buf_free(fs_export_buf_t *b);

/* Appends one RFC 4180 field: quoted (quotes doubled) when it holds a
 * comma, a quote, CR or LF; a NULL field is empty. first: no comma before. */
void fs_export_csv_field(fs_export_buf_t *b, const char *field, bool first);
/* Ends a record: CRLF. */
void fs_export_csv_end(fs_export_buf_t *b);

/* --- the worker's runner -------------------------------------------------- */

typedef struct fs_export_runner fs_export_runner_t;

/* Starts the export thread (its own connection to config->database_url).
 * objects must outlive it. */
fs_export_runner_t *fs_export_runner_new(const fs_config_t *config, fs_objects_t *objects);

/* Stops it: an export in progress is abandoned (its temp file removed) and
 * put back to pending for the next worker. NULL is a no-op. */
void fs_export_runner_free(fs_export_runner_t *r);

#endif
