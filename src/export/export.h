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
#include <stdio.h>
#include <sys/types.h>

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

/* --- the export's backend (peer.c) ----------------------------------------- */

struct sockaddr;

/* Whether process pid holds the other end of the connected socket fd: for
 * TCP, the connection's other end is listed in this network namespace's
 * /proc/net/tcp (or tcp6) and its socket is among /proc/<pid>/fd; for a Unix
 * socket, pid is a child of the process that accepted it (PostgreSQL: the
 * postmaster forks a backend per connection). false, with why, when it is
 * not or cannot be told (the peer on another machine or in another PID
 * namespace, /proc/<pid>/fd not ours to read). The runner renices its
 * backend only then (pg_backend_pid() is a PID in the database's
 * namespace). */
bool fs_export_peer_is(int fd, pid_t pid, char *why, size_t why_len);

/* Lowers process pid's CPU priority to nice (never raises it): its nice
 * value (setpriority) and, when it leads a session and the kernel has
 * autogroups, its autogroup's (/proc/<pid>/autogroup: under autogroup
 * scheduling a nice value counts only within the group, and each
 * PostgreSQL backend is a session of its own). false, with why, when not
 * permitted (this process must be root or pid's user). */
bool fs_export_renice(pid_t pid, int nice, char *why, size_t why_len);

/* An address as /proc/net/tcp{,6} prints it ("0100007F:1538" is
 * 127.0.0.1:5432 on a little-endian machine). false for other families or
 * when out is too small. */
bool fs_export_proc_net_addr(const struct sockaddr *sa, char *out, size_t out_len);

/* The inode of the socket listed in f (a /proc/net/tcp{,6} table, header
 * first) with these local and remote addresses; 0 when none is. */
unsigned long fs_export_proc_net_inode(FILE *f, const char *local, const char *remote);

/* --- the worker's runner -------------------------------------------------- */

typedef struct fs_export_runner fs_export_runner_t;

/* Starts the export thread (its own connection to config->database_url).
 * objects must outlive it. */
fs_export_runner_t *fs_export_runner_new(const fs_config_t *config, fs_objects_t *objects);

/* Stops it: an export in progress is abandoned (its temp file removed) and
 * put back to pending for the next worker. NULL is a no-op. */
void fs_export_runner_free(fs_export_runner_t *r);

#endif
