/*
 * reads.c: the cap on a tenant's concurrent lists and searches in this
 * process (issue 13; see http.h). A list that walks many rows costs
 * PostgreSQL CPU the payments on the same cores need; the read stores have
 * few connections (FS_READ_CONNECTIONS) and short queues (FS_READ_QUEUE_MAX),
 * and this cap keeps one tenant from holding all of their places.
 *
 * The table is a fixed array of FS_READ_TENANTS_MAX slots, scanned under
 * one mutex: a slot is a tenant with a read queued or running, and is free
 * again when its count falls to zero. A scan of 1,024 slots is about a
 * microsecond, against a list's milliseconds.
 */
#include <pthread.h>
#include <string.h>

#include "http.h"

typedef struct {
    char tenant[FS_READ_TENANT_LEN_MAX + 1];
    int reading; /* 0: a free slot */
    char key_hash[FS_READ_TENANT_LEN_MAX + 1]; /* the last key admitted for it */
} slot_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t slots[FS_READ_TENANTS_MAX];

/* tenant's slot, or NULL; *free_slot gets the first free one (or NULL). */
static slot_t *find(const char *tenant, slot_t **free_slot)
{
    *free_slot = NULL;
    for (int i = 0; i < FS_READ_TENANTS_MAX; i++) {
        slot_t *s = &slots[i];
        if (s->reading == 0) {
            if (*free_slot == NULL) *free_slot = s;
        } else if (strcmp(s->tenant, tenant) == 0) {
            return s;
        }
    }
    return NULL;
}

fs_http_read_admission_t fs_http_read_admit(const char *tenant)
{
    FS_ASSERT(tenant != NULL && strlen(tenant) <= FS_READ_TENANT_LEN_MAX);
    fs_http_read_admission_t a = FS_HTTP_READ_ADMITTED;
    pthread_mutex_lock(&lock);
    slot_t *free_slot;
    slot_t *s = find(tenant, &free_slot);
    if (s == NULL && free_slot == NULL) {
        a = FS_HTTP_READ_TABLE_FULL;
    } else if (s == NULL) {
        memcpy(free_slot->tenant, tenant, strlen(tenant) + 1);
        free_slot->key_hash[0] = '\0';
        free_slot->reading = 1;
    } else if (s->reading >= FS_READ_CONCURRENT_PER_TENANT_MAX) {
        a = FS_HTTP_READ_TOO_MANY;
    } else {
        s->reading++;
    }
    pthread_mutex_unlock(&lock);
    return a;
}

bool fs_http_read_busy(const char *key_hash)
{
    if (key_hash[0] == '\0') return false;
    bool busy = false;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < FS_READ_TENANTS_MAX && !busy; i++) {
        const slot_t *s = &slots[i];
        busy = s->reading >= FS_READ_CONCURRENT_PER_TENANT_MAX
               && strcmp(s->key_hash, key_hash) == 0;
    }
    pthread_mutex_unlock(&lock);
    return busy;
}

void fs_http_read_key(const char *tenant, const char *key_hash)
{
    if (strlen(key_hash) > FS_READ_TENANT_LEN_MAX) return;
    pthread_mutex_lock(&lock);
    slot_t *free_slot;
    slot_t *s = find(tenant, &free_slot);
    if (s != NULL) memcpy(s->key_hash, key_hash, strlen(key_hash) + 1);
    pthread_mutex_unlock(&lock);
}

void fs_http_read_done(const char *tenant)
{
    pthread_mutex_lock(&lock);
    slot_t *free_slot;
    slot_t *s = find(tenant, &free_slot);
    FS_ASSERT(s != NULL && s->reading > 0);
    s->reading--;
    pthread_mutex_unlock(&lock);
}
