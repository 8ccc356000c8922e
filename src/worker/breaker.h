/*
 * breaker.h: the circuit breaker around the payment provider, and the
 * back-off of retries. Pure functions of their inputs and a clock value, so
 * the unit tests drive them without a provider.
 *
 * CLOSED: calls pass; each outcome enters a sliding window of the last
 * `window` calls. When at least `min_calls` are in it and failures are at
 * least `failure_pct` percent of them, the breaker OPENS: calls are refused
 * for `open_ms`. Then it is HALF-OPEN: `probes` calls pass; if all succeed it
 * closes (with an empty window), and any failure opens it again.
 */
#ifndef FS_BREAKER_H
#define FS_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#define FS_BREAKER_WINDOW_MAX 256

typedef enum { FS_BREAKER_CLOSED, FS_BREAKER_OPEN, FS_BREAKER_HALF_OPEN } fs_breaker_state_t;

typedef struct {
    int window;      /* 1..FS_BREAKER_WINDOW_MAX calls */
    int min_calls;   /* 1..window */
    int failure_pct; /* 1..100 */
    int open_ms;     /* how long it stays open */
    int probes;      /* calls let through when half-open, >= 1 */
} fs_breaker_config_t;

typedef struct {
    fs_breaker_config_t config;
    fs_breaker_state_t state;
    bool ring[FS_BREAKER_WINDOW_MAX]; /* true = failure */
    int ring_len, ring_pos, failures;
    uint64_t opened_us;
    int probes_sent, probes_ok;
    uint64_t transitions; /* state changes, for logs and metrics */
} fs_breaker_t;

void fs_breaker_init(fs_breaker_t *b, const fs_breaker_config_t *config);

/* Whether a call may go now. Moves OPEN to HALF-OPEN once open_ms passed, and
 * counts the probes it lets through. */
bool fs_breaker_allow(fs_breaker_t *b, uint64_t now_us);

/* Whether allow() would let a call through now, without counting a probe:
 * to skip work for a call that would be refused anyway. */
bool fs_breaker_would_allow(const fs_breaker_t *b, uint64_t now_us);

/* Records the outcome of a call that allow() let through. */
void fs_breaker_record(fs_breaker_t *b, bool success, uint64_t now_us);

const char *fs_breaker_state_name(fs_breaker_state_t state);

/* Exponential back-off with full jitter: a delay in [0, min(cap, base *
 * 2^attempt)) picked by random (any 32-bit value). attempt counts from 0. */
uint64_t fs_backoff_ms(int attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t random);

#endif
