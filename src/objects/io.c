/*
 * io.c: the object store off the event loop (see objects.h).
 *
 * Ownership: a job is made by the loop's thread (fs_objects_io_put/get),
 * queued under mu, run by the I/O thread, put on the done list under mu,
 * and freed by the loop's thread once its callback returned. `jobs` counts
 * jobs that exist; only the loop's thread changes it.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "../core/core.h"
#include "objects.h"

typedef struct job {
    struct job *next;
    bool put;
    bool open; /* fs_objects_io_open: fd, len, sha */
    int fd;
    char sha[65];
    fs_objects_open_cb open_cb;
    char key[FS_OBJECT_KEY_LEN_MAX + 1];
    char *data; /* put: the copy to write; get: the bytes read */
    size_t len;
    fs_objects_status_t status;
    fs_objects_cb cb;
    void *arg;
} job_t;

struct fs_objects_io {
    fs_objects_t *store;
    struct event *done_ev; /* activated by the thread: results to deliver */
    pthread_t thread;
    pthread_mutex_t mu; /* guards the lists and stopping */
    pthread_cond_t cv;
    job_t *queue, *queue_tail;
    job_t *done, *done_tail;
    bool stopping;
    bool corked; /* queued jobs wait for fs_objects_io_uncork */
    int jobs; /* loop thread only */
};

static void append(job_t **head, job_t **tail, job_t *job)
{
    job->next = NULL;
    if (*tail != NULL) {
        (*tail)->next = job;
    } else {
        *head = job;
    }
    *tail = job;
}

static void deliver(fs_objects_io_t *io, job_t *list)
{
    while (list != NULL) {
        job_t *next = list->next;
        char *data = list->put ? NULL : list->data;
        if (list->put) free(list->data);
        io->jobs--;
        if (list->open) {
            if (list->status != FS_OBJECTS_OK && list->fd >= 0) close(list->fd);
            list->open_cb(list->arg, list->status, list->status == FS_OBJECTS_OK ? list->fd : -1,
                          list->len, list->sha);
            free(list);
            list = next;
            continue;
        }
        /* The callback owns a get's bytes, whatever its status. */
        list->cb(list->arg, list->status, data, data != NULL ? list->len : 0);
        free(list);
        list = next;
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    fs_objects_io_t *io = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&io->mu);
    job_t *list = io->done;
    io->done = io->done_tail = NULL;
    pthread_mutex_unlock(&io->mu);
    deliver(io, list);
}

/* fs_objects_io_open's work: the file opened, read once in chunks for its
 * hash, and handed back open at its start. */
static void open_and_hash(fs_objects_t *store, job_t *job)
{
    job->status = fs_objects_open_read(store, job->key, &job->fd, &job->len);
    if (job->status != FS_OBJECTS_OK) return;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    unsigned char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(job->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            job->status = FS_OBJECTS_IO_ERROR;
            return;
        }
        if (n == 0) break;
        crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
    }
    unsigned char out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h, out);
    sodium_bin2hex(job->sha, sizeof(job->sha), out, sizeof(out));
    if (lseek(job->fd, 0, SEEK_SET) != 0) job->status = FS_OBJECTS_IO_ERROR;
}

static void *io_main(void *arg)
{
    fs_objects_io_t *io = arg;
    pthread_mutex_lock(&io->mu);
    for (;;) {
        while (!io->stopping && (io->queue == NULL || io->corked))
            pthread_cond_wait(&io->cv, &io->mu);
        if (io->stopping) break;
        /* The puts queued in a row go together (fs_objects_put_many: one
         * flush for all); a get goes alone. */
        job_t *batch[FS_OBJECTS_PUT_BATCH_MAX];
        size_t n = 0;
        do {
            job_t *job = io->queue;
            io->queue = job->next;
            if (io->queue == NULL) io->queue_tail = NULL;
            batch[n++] = job;
        } while (batch[0]->put && n < FS_OBJECTS_PUT_BATCH_MAX && io->queue != NULL
                 && io->queue->put);
        pthread_mutex_unlock(&io->mu);

        if (batch[0]->put) {
            fs_objects_put_t puts[FS_OBJECTS_PUT_BATCH_MAX];
            fs_objects_status_t st[FS_OBJECTS_PUT_BATCH_MAX];
            for (size_t i = 0; i < n; i++)
                puts[i] = (fs_objects_put_t){batch[i]->key, batch[i]->data, batch[i]->len};
            fs_objects_put_many(io->store, n, puts, st);
            for (size_t i = 0; i < n; i++) batch[i]->status = st[i];
        } else if (batch[0]->open) {
            open_and_hash(io->store, batch[0]);
        } else {
            job_t *job = batch[0];
            job->status = fs_objects_get(io->store, job->key, &job->data, &job->len);
        }

        pthread_mutex_lock(&io->mu);
        for (size_t i = 0; i < n; i++) append(&io->done, &io->done_tail, batch[i]);
        event_active(io->done_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&io->mu);
    return NULL;
}

fs_objects_io_t *fs_objects_io_new(struct event_base *base, fs_objects_t *store)
{
    fs_objects_io_t *io = calloc(1, sizeof(*io));
    FS_ASSERT(io != NULL);
    io->store = store;
    io->done_ev = event_new(base, -1, 0, on_done, io);
    FS_ASSERT(io->done_ev != NULL);
    FS_ASSERT(pthread_mutex_init(&io->mu, NULL) == 0);
    FS_ASSERT(pthread_cond_init(&io->cv, NULL) == 0);
    fs_thread_start_or_exit(&io->thread, io_main, io, "objects", "the object store's I/O thread");
    return io;
}

static int submit(fs_objects_io_t *io, job_t *job)
{
    if (io->jobs >= FS_OBJECTS_IO_QUEUE_MAX) {
        free(job->data);
        free(job);
        return -1;
    }
    io->jobs++;
    pthread_mutex_lock(&io->mu);
    append(&io->queue, &io->queue_tail, job);
    pthread_cond_signal(&io->cv);
    pthread_mutex_unlock(&io->mu);
    return 0;
}

static job_t *job_new(const char *key, fs_objects_cb cb, void *arg)
{
    job_t *job = calloc(1, sizeof(*job));
    FS_ASSERT(job != NULL);
    /* A key too long to copy is refused by the store as it is anyway. */
    if (strlen(key) > FS_OBJECT_KEY_LEN_MAX) key = "";
    snprintf(job->key, sizeof(job->key), "%s", key);
    job->cb = cb;
    job->arg = arg;
    return job;
}

int fs_objects_io_put(fs_objects_io_t *io, const char *key, const void *data, size_t len,
                      fs_objects_cb cb, void *arg)
{
    job_t *job = job_new(key, cb, arg);
    job->put = true;
    job->data = malloc(len > 0 ? len : 1);
    FS_ASSERT(job->data != NULL);
    memcpy(job->data, data, len);
    job->len = len;
    return submit(io, job);
}

int fs_objects_io_get(fs_objects_io_t *io, const char *key, fs_objects_cb cb, void *arg)
{
    return submit(io, job_new(key, cb, arg));
}

int fs_objects_io_open(fs_objects_io_t *io, const char *key, fs_objects_open_cb cb, void *arg)
{
    job_t *job = job_new(key, NULL, arg);
    job->open = true;
    job->fd = -1;
    job->open_cb = cb;
    return submit(io, job);
}

bool fs_objects_io_idle(const fs_objects_io_t *io) { return io->jobs == 0; }

void fs_objects_io_cork(fs_objects_io_t *io)
{
    pthread_mutex_lock(&io->mu);
    io->corked = true;
    pthread_mutex_unlock(&io->mu);
}

void fs_objects_io_uncork(fs_objects_io_t *io)
{
    pthread_mutex_lock(&io->mu);
    io->corked = false;
    pthread_cond_signal(&io->cv);
    pthread_mutex_unlock(&io->mu);
}

void fs_objects_io_free(fs_objects_io_t *io)
{
    if (io == NULL) return;
    pthread_mutex_lock(&io->mu);
    io->stopping = true;
    pthread_cond_signal(&io->cv);
    pthread_mutex_unlock(&io->mu);
    pthread_join(io->thread, NULL);

    job_t *queued = io->queue;
    io->queue = io->queue_tail = NULL;
    for (job_t *j = queued; j != NULL; j = j->next) j->status = FS_OBJECTS_UNAVAILABLE;
    job_t *done = io->done;
    io->done = io->done_tail = NULL;
    deliver(io, done);
    deliver(io, queued);
    FS_ASSERT(io->jobs == 0);
    event_free(io->done_ev);
    pthread_mutex_destroy(&io->mu);
    pthread_cond_destroy(&io->cv);
    free(io);
}
