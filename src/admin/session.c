/*
 * session.c: the hashing thread of the admin console (see admin.h).
 *
 * crypto_pwhash_str_verify takes tens of milliseconds: on a loop thread it
 * would stall every request of that loop. A job is made by the loop's
 * thread, queued under mu, run by the hashing thread, put on the done list
 * under mu, and called back and freed by the loop's thread (as
 * src/objects/io.c does). `jobs` is the loop thread's only.
 */
#include <event2/event.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

typedef struct job {
    struct job *next;
    bool verify;
    char hash[crypto_pwhash_STRBYTES];
    char password[FS_ADMIN_PASSWORD_LEN_MAX + 1];
    bool ok;
    fs_admin_hash_cb cb;
    void *arg;
} job_t;

struct fs_admin_hasher {
    struct event *done_ev;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *queue, *done;
    bool stopping;
    int jobs;
};

/* What an unknown email's password is checked against, so that the answer
 * takes as long as for a known email: a hash made once with the same
 * parameters (libsodium's interactive limits, as fs_admin_hasher_hash uses)
 * and kept here. Making it at start-up instead cost each hashing thread
 * argon2id's 64 MiB: the server's peak RSS went from 16 to 78 MB in make
 * bench, which never logs in. */
static const char dummy_hash[] =
    "$argon2id$v=19$m=65536,t=2,p=1$LGJ5K4BfeA4F83//NnoGTg$"
    "5/tnyJXm4zNj0XR7vBz18qAD3Bg1Yi/wryFOisjn8AU";

static void push(job_t **list, job_t *job)
{
    job->next = NULL;
    while (*list != NULL) list = &(*list)->next;
    *list = job;
}

static void run(job_t *job)
{
    if (job->verify) {
        bool known = job->hash[0] != '\0';
        const char *hash = known ? job->hash : dummy_hash;
        bool match = crypto_pwhash_str_verify(hash, job->password, strlen(job->password)) == 0;
        job->ok = known && match;
    } else {
        job->ok = crypto_pwhash_str(job->hash, job->password, strlen(job->password),
                                    crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                    crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0;
    }
    sodium_memzero(job->password, sizeof(job->password));
}

static void *hasher_main(void *arg)
{
    fs_admin_hasher_t *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->stopping && h->queue == NULL) pthread_cond_wait(&h->cv, &h->mu);
        if (h->stopping) break;
        job_t *job = h->queue;
        h->queue = job->next;
        pthread_mutex_unlock(&h->mu);
        run(job);
        pthread_mutex_lock(&h->mu);
        push(&h->done, job);
        event_active(h->done_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void deliver(fs_admin_hasher_t *h, job_t *list)
{
    while (list != NULL) {
        job_t *next = list->next;
        h->jobs--;
        list->cb(list->arg, list->ok, list->verify || !list->ok ? NULL : list->hash);
        sodium_memzero(list, sizeof(*list));
        free(list);
        list = next;
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    fs_admin_hasher_t *h = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&h->mu);
    job_t *list = h->done;
    h->done = NULL;
    pthread_mutex_unlock(&h->mu);
    deliver(h, list);
}

fs_admin_hasher_t *fs_admin_hasher_new(struct event_base *base)
{
    fs_admin_hasher_t *h = calloc(1, sizeof(*h));
    FS_ASSERT(h != NULL);
    h->done_ev = event_new(base, -1, 0, on_done, h);
    FS_ASSERT(h->done_ev != NULL);
    FS_ASSERT(pthread_mutex_init(&h->mu, NULL) == 0);
    FS_ASSERT(pthread_cond_init(&h->cv, NULL) == 0);
    fs_thread_start_or_exit(&h->thread, hasher_main, h, "admin", "the password hasher's thread");
    return h;
}

void fs_admin_hasher_free(fs_admin_hasher_t *h)
{
    if (h == NULL) return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    for (job_t *j = h->queue; j != NULL; j = j->next) j->ok = false;
    deliver(h, h->done);
    deliver(h, h->queue);
    event_free(h->done_ev);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

bool fs_admin_hasher_idle(const fs_admin_hasher_t *h)
{
    return h->jobs == 0;
}

static int submit(fs_admin_hasher_t *h, bool verify, const char *hash, const char *password,
                  fs_admin_hash_cb cb, void *arg)
{
    if (h->jobs >= FS_ADMIN_HASH_QUEUE_MAX) return -1;
    job_t *job = calloc(1, sizeof(*job));
    FS_ASSERT(job != NULL);
    job->verify = verify;
    if (hash != NULL) snprintf(job->hash, sizeof(job->hash), "%s", hash);
    snprintf(job->password, sizeof(job->password), "%s", password);
    job->cb = cb;
    job->arg = arg;
    h->jobs++;
    pthread_mutex_lock(&h->mu);
    push(&h->queue, job);
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

int fs_admin_hasher_verify(fs_admin_hasher_t *h, const char *hash, const char *password,
                           fs_admin_hash_cb cb, void *arg)
{
    return submit(h, true, hash, password, cb, arg);
}

int fs_admin_hasher_hash(fs_admin_hasher_t *h, const char *password, fs_admin_hash_cb cb, void *arg)
{
    return submit(h, false, NULL, password, cb, arg);
}
