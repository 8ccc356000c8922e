/*
 * role.c: the database role a server or worker may run as (store.h,
 * fs_store_require_role). A superuser or a connection that needed no
 * password is refused outside development (FINSYS_DEV=1 or --dev).
 */
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "../core/limits.h"
#include "store.h"

static atomic_bool required;

void fs_store_require_role(bool on)
{
    atomic_store(&required, on);
}

const char *fs_store_role_refused(struct pg_conn *conn, char *buf, size_t len)
{
    if (!atomic_load(&required) || conn == NULL) return NULL;
    const char *user = PQuser(conn) != NULL ? PQuser(conn) : "?";
    /* PostgreSQL reports is_superuser to the client at every connection's
     * start (the rolsuper of the session's role in pg_roles). */
    const char *su = PQparameterStatus(conn, "is_superuser");
    if (su == NULL || strcmp(su, "off") != 0) {
        snprintf(buf, len,
                 "FINSYS_DATABASE_URL connects as role %s, a superuser%s: FinSys must not run with "
                 "the power to drop any table and bypass every grant. Connect as a role without "
                 "SUPERUSER that owns FinSys's tables (docs/operations.md, \"Production "
                 "settings\"), or set FINSYS_DEV=1 (or --dev) on a development stack.",
                 user, su == NULL ? " (or the server did not say)" : "");
        return buf;
    }
    if (!PQconnectionUsedPassword(conn)) {
        snprintf(buf, len,
                 "FINSYS_DATABASE_URL connected as role %s without a password (trust or peer in "
                 "pg_hba.conf): whoever reaches the database can act as FinSys. Give the role a "
                 "password, set scram-sha-256 for it in pg_hba.conf (docs/operations.md, "
                 "\"Production settings\"), or set FINSYS_DEV=1 (or --dev) on a development "
                 "stack.",
                 user);
        return buf;
    }
    return NULL;
}

int fs_store_check_role(const char *conninfo, char *err, size_t err_len)
{
    if (!atomic_load(&required)) return 0;
    /* The configured string, expanded in place of dbname, overrides the
     * timeout when it sets one. */
    static const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *values[] = {FS_STR(FS_STORE_ROLE_CHECK_CONNECT_S), conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        fs_log(FS_LOG_WARN, "store",
               "cannot check the database role at start (%s): each connection is checked "
               "when made",
               conn != NULL ? PQerrorMessage(conn) : "out of memory");
        PQfinish(conn);
        return 0;
    }
    const char *why = fs_store_role_refused(conn, err, err_len);
    PQfinish(conn);
    return why != NULL ? -1 : 0;
}
