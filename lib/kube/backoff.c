#include "kube/backoff.h"

#include <time.h>

void weir_kube_backoff_init(struct weir_kube_backoff *b, double initial, double max, double factor,
                            uint64_t seed)
{
    b->initial = initial > 0 ? initial : WEIR_KUBE_BACKOFF_INITIAL;
    b->max = max > 0 ? max : WEIR_KUBE_BACKOFF_MAX;
    if (b->max < b->initial)
        b->max = b->initial;
    b->factor = factor > 1 ? factor : WEIR_KUBE_BACKOFF_FACTOR;
    b->attempt = 0;
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)b;
    }
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

double weir_kube_backoff_delay(const struct weir_kube_backoff *b, unsigned attempt, double u)
{
    double d = b->initial;

    /* Stop multiplying at the cap: factor^n overflows long before n does. */
    for (unsigned i = 0; i < attempt && d < b->max; i++)
        d *= b->factor;
    if (d > b->max)
        d = b->max;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    return d / 2 + (d / 2) * u;
}

static double next_uniform(struct weir_kube_backoff *b)
{
    uint64_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return (double)(x >> 11) / 9007199254740992.0; /* 2^53 */
}

double weir_kube_backoff_next(struct weir_kube_backoff *b)
{
    double d = weir_kube_backoff_delay(b, b->attempt, next_uniform(b));
    if (b->attempt < 64)
        b->attempt++;
    return d;
}

void weir_kube_backoff_reset(struct weir_kube_backoff *b)
{
    b->attempt = 0;
}
