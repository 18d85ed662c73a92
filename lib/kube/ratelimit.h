/*
 * Client-side request rate limit: a token bucket, as client-go's
 * flowcontrol. The bucket holds up to `burst` tokens and refills at `qps`
 * tokens per second; each request takes one, waiting when none is left.
 *
 * Defaults (WEIR_KUBE_DEFAULT_QPS / _BURST): 20 requests/s, burst 30. client-go
 * ships 5/10, which an operator outgrows at start-up (one list per informed
 * type, then one ConfigMap write and a few status writes per mesh namespace:
 * 50 namespaces would queue for ~15 s); kubectl uses 50/300 for short bursts
 * by a human. 20/30 keeps a steady load well under the API server's default
 * priority-and-fairness share while letting start-up and a resync flow.
 *
 * Reservations, not polling: a caller reserves a token and is told how long
 * to wait for it, so waiting callers are served in order and the arithmetic
 * is a pure function of the clock, tested with a fake one.
 */
#ifndef WEIR_KUBE_RATELIMIT_H
#define WEIR_KUBE_RATELIMIT_H

#include <pthread.h>

#define WEIR_KUBE_DEFAULT_QPS   20.0
#define WEIR_KUBE_DEFAULT_BURST 30

struct weir_kube_ratelimit {
    double qps;    /* <= 0: unlimited */
    double burst;  /* bucket size, at least 1 */
    double tokens; /* may go negative: reservations waiting for refill */
    double last;   /* clock (seconds) of the last update */
    pthread_mutex_t lock;
};

/* The bucket starts full. now: seconds on a monotonic clock. */
void weir_kube_ratelimit_init(struct weir_kube_ratelimit *rl, double qps, int burst, double now);
void weir_kube_ratelimit_destroy(struct weir_kube_ratelimit *rl);

/* Takes a token and returns how many seconds the caller must wait before
 * using it (0 when one was available). Thread-safe. */
double weir_kube_ratelimit_reserve(struct weir_kube_ratelimit *rl, double now);

/* Reserves and sleeps for the wait on CLOCK_MONOTONIC. */
void weir_kube_ratelimit_wait(struct weir_kube_ratelimit *rl);

/* Seconds on CLOCK_MONOTONIC. */
double weir_kube_monotonic(void);

#endif
