/*
 * admin.c: `finsys tenant limits`, blocking, for the command line (see
 * ratelimit.h). PostgreSQL is changed first: it is the truth, and a Redis
 * that cannot be told only keeps the old limits for FS_APIKEY_AUTH_CACHE_S.
 */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "ratelimit.h"

/* Connecting to Redis from the command line. */
#define CLI_REDIS_TIMEOUT_MS 2000

int fs_ratelimit_set_tenant(const char *conninfo, const char *redis_url, const char *tenant,
                            const fs_rate_t *rate)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "finsys: cannot connect to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    char per_s[16], burst[16];
    if (rate != NULL) {
        snprintf(per_s, sizeof(per_s), "%d", rate->per_s);
        snprintf(burst, sizeof(burst), "%d", rate->burst);
    }
    const char *p1[3] = {tenant, rate != NULL ? per_s : NULL, rate != NULL ? burst : NULL};
    PGresult *r = PQexecParams(c,
                               "UPDATE tenants SET rate_per_s = $2::int, rate_burst = $3::int "
                               "WHERE name = $1 RETURNING id",
                               3, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            fprintf(stderr, "finsys: no tenant is named '%s'\n", tenant);
        } else {
            fprintf(stderr, "finsys: setting the limits failed: %s", PQerrorMessage(c));
        }
        PQclear(r);
        PQfinish(c);
        return 1;
    }
    char tenant_id[FS_ID_BUF_LEN];
    snprintf(tenant_id, sizeof(tenant_id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *p2[1] = {tenant_id};
    r = PQexecParams(c, "SELECT encode(key_hash, 'hex') FROM api_keys WHERE tenant_id = $1", 1,
                     NULL, p2, NULL, NULL, 0);
    int keys = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;

    int cleared = 0;
    const char *redis_note = "";
    if (redis_url[0] != '\0' && keys > 0) {
        char err[256];
        redisContext *rc = fs_redis_connect_blocking(redis_url, CLI_REDIS_TIMEOUT_MS, err,
                                                     sizeof(err));
        for (int i = 0; rc != NULL && i < keys; i++) {
            redisReply *rep = redisCommand(rc, "DEL fs:auth:%s", PQgetvalue(r, i, 0));
            if (rep != NULL && rep->type == REDIS_REPLY_INTEGER) cleared++;
            if (rep != NULL) freeReplyObject(rep);
        }
        if (rc == NULL || cleared < keys) {
            fprintf(stderr,
                    "finsys: warning: Redis's cached limits were not all cleared (%s); they "
                    "expire within %d s\n",
                    rc == NULL ? err : "a command failed", FS_APIKEY_AUTH_CACHE_S);
            redis_note = " (not all cleared)";
        }
        if (rc != NULL) redisFree(rc);
    }
    PQclear(r);
    PQfinish(c);
    if (rate != NULL) {
        printf("tenant %s (%s): %d requests a second per API key, burst %d; %d keys' cached "
               "limits cleared%s\n",
               tenant, tenant_id, rate->per_s, rate->burst, cleared, redis_note);
    } else {
        printf("tenant %s (%s): the default limits; %d keys' cached limits cleared%s\n", tenant,
               tenant_id, cleared, redis_note);
    }
    return 0;
}

int fs_ratelimit_forget_key(const char *redis_url, const char *key_hash)
{
    if (redis_url[0] == '\0') return 0;
    char err[256];
    redisContext *rc =
        fs_redis_connect_blocking(redis_url, FS_APIKEY_CLI_REDIS_TIMEOUT_MS, err, sizeof(err));
    redisReply *rep = rc != NULL ? redisCommand(rc, "DEL fs:auth:%s", key_hash) : NULL;
    bool ok = rep != NULL && rep->type == REDIS_REPLY_INTEGER;
    if (!ok)
        fprintf(stderr,
                "finsys: warning: Redis's cached copy of the key was not cleared (%s); it "
                "expires within %d s\n",
                rc == NULL ? err : "the command failed", FS_APIKEY_AUTH_CACHE_S);
    if (rep != NULL) freeReplyObject(rep);
    if (rc != NULL) redisFree(rc);
    return ok ? 0 : 1;
}
