/*
 * Exponential backoff with jitter, for reconnecting watches and relisting
 * (kube/informer) and for any retry loop that talks to the API server.
 *
 * Attempt n (0-based) waits a random time in [d/2, d] where
 * d = min(max, initial * factor^n): "equal jitter". The upper half keeps the
 * wait growing so a struggling API server sees the load fall off; the random
 * half spreads a fleet of clients that all lost their watch at the same
 * moment (an API server restart) so they do not come back in lockstep.
 * Defaults: 0.8 s initial (client-go's reflector), factor 2, 30 s cap.
 */
#ifndef WEIR_KUBE_BACKOFF_H
#define WEIR_KUBE_BACKOFF_H

#include <stdint.h>

struct weir_kube_backoff {
    double initial; /* seconds */
    double max;     /* seconds, the cap */
    double factor;
    unsigned attempt;
    uint64_t rng; /* xorshift state, never 0 */
};

#define WEIR_KUBE_BACKOFF_INITIAL 0.8
#define WEIR_KUBE_BACKOFF_MAX     30.0
#define WEIR_KUBE_BACKOFF_FACTOR  2.0

/* Zero or negative parameters take the defaults. seed 0 picks one from the
 * clock and the address of b. */
void weir_kube_backoff_init(struct weir_kube_backoff *b, double initial, double max, double factor,
                            uint64_t seed);

/* The pure rule: the wait for `attempt` given u in [0, 1). */
double weir_kube_backoff_delay(const struct weir_kube_backoff *b, unsigned attempt, double u);

/* The next wait (and counts the attempt). */
double weir_kube_backoff_next(struct weir_kube_backoff *b);

/* After a success: the next failure starts from `initial` again. */
void weir_kube_backoff_reset(struct weir_kube_backoff *b);

#endif
