/*
 * search.h: payment search (issue 4): the checks of GET /v1/payments/search
 * and the driver of the indexer that keeps its read model.
 *
 * The read model is the table payment_search (db/migrations/0006_search.sql);
 * the indexer and the query are SQL (db/functions/search.sql). This module
 * checks a search's parameters into an operation item, and runs the indexer
 * on an event loop: every FINSYS_INDEX_INTERVAL_MS it sends the op index_run
 * alone, and after a run that came back full it sends the next at once, so a
 * backlog is worked off back to back. Several processes may each run one: the
 * feed's cursor lets one run at a time and the others find nothing to do.
 */
#ifndef FS_SEARCH_H
#define FS_SEARCH_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"
#include "../core/core.h"
#include "../store/store.h"


/* Checks the query string of GET /v1/payments/search and copies it into item
 * (op payment_search_list): q (1..FS_SEARCH_Q_LEN_MAX bytes of UTF-8), status
 * (one of fs_payment_statuses), account (acct_ id), currency (a supported ISO
 * code), amount_gte/amount_lte (integers 0..INT64_MAX, gte <= lte),
 * created_gte/created_lte (RFC 3339 date-times, normalized to UTC with
 * microseconds; gte <= lte), limit and starting_after (pay_ id). An unknown,
 * repeated or empty parameter is an error naming it. */
bool fs_search_parse_query(const char *query, json_t *item, fs_error_t *err);

/* Parses an RFC 3339 date-time ("2024-05-01T12:00:00Z", with optional
 * fraction of up to 6 digits and a Z or +hh:mm / -hh:mm offset) into
 * microseconds since the Unix epoch. Years 0001..9999. */
bool fs_search_parse_time(const char *text, int64_t *out_us);

/* Formats microseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.ffffffZ";
 * out holds at least 28 bytes. */
void fs_search_format_time(int64_t us, char *out, size_t out_len);

typedef struct fs_indexer fs_indexer_t;

/* Starts the indexer on base's loop, sending its runs through store. NULL
 * when config->index_interval_ms is 0 (the indexer is off here). */
fs_indexer_t *fs_indexer_new(struct event_base *base, fs_store_t *store,
                             const fs_config_t *config);

/* The admin console's live stream (src/admin): once set, each run also asks
 * for a summary of the events it takes (fs_index_run_live), and fn gets it
 * as JSON array text (valid during the call) after the run committed, on
 * the loop thread; runs that took nothing call nothing. */
typedef void (*fs_indexer_live_fn)(void *arg, const char *json, size_t len);
/* Whether anyone watches now: a run asks for the summary only then. */
typedef bool (*fs_indexer_watched_fn)(void *arg);
void fs_indexer_set_live(fs_indexer_t *indexer, fs_indexer_live_fn fn,
                         fs_indexer_watched_fn watched, void *arg);

/* Events indexed by this indexer so far (loop thread). */
uint64_t fs_indexer_taken(const fs_indexer_t *indexer);

/* Frees the indexer (NULL is fine). Call it once the loop has stopped and
 * after fs_store_free(): the store answers a run still in flight by calling
 * back into the indexer. */
void fs_indexer_free(fs_indexer_t *indexer);

#endif
