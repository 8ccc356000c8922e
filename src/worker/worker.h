/*
 * worker.h: `finsys worker`, the settlement of pending payments.
 *
 * A fetch thread pulls messages from the payments stream (FS_PAYMENTS) in
 * bounded batches and hands them to one libevent loop, which for each:
 *   1. claims the payment (settle_claim: pending -> processing) through a
 *      store, in the same group commit as everything else;
 *   2. asks the provider to charge it (POST /charges, the payment id as the
 *      idempotency key, with a timeout), behind a circuit breaker; a payment
 *      claimed before (its earlier call's outcome unknown: a timeout, a crash)
 *      is first looked up (GET /charges/{key}): a recorded charge is taken
 *      as the answer, and only a key the provider never recorded is charged
 *      again. Every answer must be for this key, amount and currency: one
 *      that is not sends the payment to the dead letters (a human looks);
 *   3. finalizes it (settle_finish: succeeded with the money moved, or failed
 *      with the decline code) and acknowledges the message.
 * A transient failure (5xx, timeout, the breaker open, the database
 * unavailable) puts the message back with exponential back-off and full
 * jitter; after FINSYS_WORKER_MAX_ATTEMPTS deliveries it goes to the dead
 * letters (FS_PAYMENTS_DEAD) and its payment stays processing, since its fate
 * at the provider is unknown. A decline is final at once.
 *
 * A refund (docs/architecture.md, "Refunds") is a message of its own, under
 * the refund's id ("re_..."), and goes the same way with refund_claim,
 * POST /refunds (the refund id as the idempotency key) and refund_finish,
 * the same back-off, breaker and dead letters (refund_dead).
 *
 * The loop also runs the outbox sweeper: payments (and refunds) still
 * unsettled some time after their creation are published again (the broker
 * may have lost their message; every step above is idempotent).
 *
 * The worker never blocks its loop: the database through the store, the
 * provider through evhttp's client, the broker's acknowledgements through
 * libnats' asynchronous calls; what blocks (fetching, dead-lettering) runs on
 * the fetch thread.
 */
#ifndef FS_WORKER_H
#define FS_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"

/* Runs the worker until SIGINT or SIGTERM. Returns the exit status. */
int fs_worker_run(const fs_config_t *config);

/* Whether a provider's answer (a charge or refund as POST or GET returns
 * it) is for this idempotency key, amount and currency; if not, why (for
 * the dead letter's reason) in why. Pure: for the unit tests too. */
bool fs_worker_answer_matches(const json_t *answer, const char *key, int64_t amount,
                              const char *currency, char *why, size_t why_len);

#endif
