/*
 * breaker.c: circuit breaker and back-off (see breaker.h).
 */
#include "breaker.h"

#include <string.h>

#include "../core/core.h"
#include "../metrics/metrics.h"

static void go(fs_breaker_t *b, fs_breaker_state_t state, uint64_t now_us)
{
    if (b->state == state) return;
    b->state = state;
    b->transitions++;
    /* finsys_breaker_state: 0 closed, 1 half-open, 2 open. */
    fs_metrics_set(FS_M_BREAKER_STATE, NULL,
                   state == FS_BREAKER_CLOSED ? 0 : state == FS_BREAKER_HALF_OPEN ? 1 : 2);
    fs_metrics_add(FS_M_BREAKER_TRANSITIONS, fs_breaker_state_name(state), NULL, NULL, 1);
    if (state == FS_BREAKER_OPEN) b->opened_us = now_us;
    if (state == FS_BREAKER_HALF_OPEN) b->probes_sent = b->probes_ok = 0;
    if (state == FS_BREAKER_CLOSED) b->ring_len = b->ring_pos = b->failures = 0;
    fs_log(state == FS_BREAKER_CLOSED ? FS_LOG_INFO : FS_LOG_WARN, "breaker",
           "circuit breaker %s", fs_breaker_state_name(state));
}

void fs_breaker_init(fs_breaker_t *b, const fs_breaker_config_t *config)
{
    FS_ASSERT(config->window >= 1 && config->window <= FS_BREAKER_WINDOW_MAX);
    FS_ASSERT(config->min_calls >= 1 && config->min_calls <= config->window);
    FS_ASSERT(config->failure_pct >= 1 && config->failure_pct <= 100);
    FS_ASSERT(config->open_ms >= 0 && config->probes >= 1);
    memset(b, 0, sizeof(*b));
    b->config = *config;
    b->state = FS_BREAKER_CLOSED;
}

bool fs_breaker_allow(fs_breaker_t *b, uint64_t now_us)
{
    if (b->state == FS_BREAKER_OPEN) {
        if (now_us - b->opened_us < (uint64_t)b->config.open_ms * 1000u) return false;
        go(b, FS_BREAKER_HALF_OPEN, now_us);
    }
    if (b->state == FS_BREAKER_HALF_OPEN) {
        if (b->probes_sent >= b->config.probes) return false;
        b->probes_sent++;
    }
    return true;
}

bool fs_breaker_would_allow(const fs_breaker_t *b, uint64_t now_us)
{
    if (b->state == FS_BREAKER_OPEN) {
        return now_us - b->opened_us >= (uint64_t)b->config.open_ms * 1000u;
    }
    if (b->state == FS_BREAKER_HALF_OPEN) return b->probes_sent < b->config.probes;
    return true;
}

void fs_breaker_record(fs_breaker_t *b, bool success, uint64_t now_us)
{
    if (b->state == FS_BREAKER_OPEN) return; /* a late answer from before it opened */
    if (b->state == FS_BREAKER_HALF_OPEN) {
        if (!success) {
            go(b, FS_BREAKER_OPEN, now_us);
            return;
        }
        if (++b->probes_ok >= b->config.probes) go(b, FS_BREAKER_CLOSED, now_us);
        return;
    }
    /* CLOSED: slide the window. */
    if (b->ring_len == b->config.window) {
        if (b->ring[b->ring_pos]) b->failures--;
    } else {
        b->ring_len++;
    }
    b->ring[b->ring_pos] = !success;
    if (!success) b->failures++;
    b->ring_pos = (b->ring_pos + 1) % b->config.window;
    if (b->ring_len >= b->config.min_calls
        && b->failures * 100 >= b->config.failure_pct * b->ring_len)
        go(b, FS_BREAKER_OPEN, now_us);
}

const char *fs_breaker_state_name(fs_breaker_state_t state)
{
    switch (state) {
    case FS_BREAKER_CLOSED:
        return "closed";
    case FS_BREAKER_OPEN:
        return "open";
    case FS_BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "?";
}

uint64_t fs_backoff_ms(int attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t random)
{
    uint64_t ceiling = base_ms;
    for (int i = 0; i < attempt && ceiling < cap_ms; i++) ceiling *= 2;
    if (ceiling > cap_ms) ceiling = cap_ms;
    if (ceiling == 0) return 0;
    return random % ceiling;
}
