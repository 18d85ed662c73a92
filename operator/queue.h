/*
 * The work queue: keys (namespace names) waiting to be reconciled, with the
 * guarantees of client-go's rate-limited work queue.
 *
 *   dedup       a key is in the queue at most once: ten events for one
 *               namespace before the worker gets to it are one reconcile;
 *   no overlap  a key being processed is not handed out again; an add while
 *               it is processed marks it dirty and it is queued again when
 *               the worker calls done(), so the change is not lost;
 *   batches     the worker takes every ready key at once (up to a maximum),
 *               so one snapshot and one translation serve a burst that
 *               touched many namespaces;
 *   retries     add_rate_limited() queues a key after an exponential,
 *               jittered delay that grows with the key's consecutive
 *               failures (0.1 s doubling to 60 s by default); forget() resets
 *               it after a success. An add() of a waiting key makes it ready
 *               at once: a new event is worth trying now.
 *
 * States of a key (a key can be both processing and waiting or dirty):
 *
 *   absent --add--> READY --get--> PROCESSING --done--> absent
 *                     ^                 | add: dirty      | done while dirty
 *                     |                 v                 v
 *                     +--- due --- WAITING <-- add_after  READY
 *
 * Time comes from a clock function so the tests drive it; the default is
 * CLOCK_MONOTONIC. Every function is thread-safe.
 *
 * Return convention: 0 or -1 (out of memory; the add is lost and logged by
 * the caller, the next resync brings the key back).
 */
#ifndef WEIR_OP_QUEUE_H
#define WEIR_OP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEIR_OP_QUEUE_RETRY_INITIAL 0.1
#define WEIR_OP_QUEUE_RETRY_MAX     60.0

struct weir_op_queue_options {
    double retry_initial;       /* seconds; 0: WEIR_OP_QUEUE_RETRY_INITIAL */
    double retry_max;           /* seconds; 0: WEIR_OP_QUEUE_RETRY_MAX */
    double (*clock)(void *arg); /* NULL: CLOCK_MONOTONIC seconds */
    void *clock_arg;
    uint64_t seed; /* jitter; 0: from the clock */
};

struct weir_op_queue;

int weir_op_queue_new(const struct weir_op_queue_options *opts, struct weir_op_queue **out);
void weir_op_queue_free(struct weir_op_queue *q);

int weir_op_queue_add(struct weir_op_queue *q, const char *key);
/* Queues key after delay seconds (an earlier pending time wins). */
int weir_op_queue_add_after(struct weir_op_queue *q, const char *key, double delay);
/* Queues key after its backoff delay and counts a failure; returns the delay
 * through *delay when not NULL. */
int weir_op_queue_add_rate_limited(struct weir_op_queue *q, const char *key, double *delay);
/* The key succeeded: its next failure starts from the initial delay. */
void weir_op_queue_forget(struct weir_op_queue *q, const char *key);
unsigned weir_op_queue_failures(struct weir_op_queue *q, const char *key);

/* Takes up to max ready keys into keys[] (sorted), waiting up to timeout
 * seconds for one (0: do not wait). Returns how many; 0 on timeout or after
 * shutdown. The strings stay valid until done() for that key. */
size_t weir_op_queue_get_batch(struct weir_op_queue *q, const char **keys, size_t max,
                               double timeout);
void weir_op_queue_done(struct weir_op_queue *q, const char *key);

/* Keys ready or waiting (what /metrics calls the queue depth). */
size_t weir_op_queue_len(struct weir_op_queue *q);
/* Keys ready now. */
size_t weir_op_queue_ready(struct weir_op_queue *q);

/* Wakes every waiter; get_batch returns 0 from then on. */
void weir_op_queue_shutdown(struct weir_op_queue *q);
bool weir_op_queue_is_shutdown(struct weir_op_queue *q);

#endif
