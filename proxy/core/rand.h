/*
 * Per-worker pseudo-random numbers (xorshift64*). Routing weights, fault
 * percentages, retry jitter and request ids need speed and independence between
 * workers, not cryptographic strength; a per-worker state keeps them lock-free.
 */
#ifndef WP_CORE_RAND_H
#define WP_CORE_RAND_H

#include <stdint.h>

struct wp_rand {
    uint64_t s;
};

static inline uint64_t wp_rand_next(struct wp_rand *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n); the modulo bias is below 2^-40 for the n used here. */
static inline uint64_t wp_rand_below(struct wp_rand *r, uint64_t n)
{
    return n ? wp_rand_next(r) % n : 0;
}

/* Seeds from getrandom(2); falls back to time and address bits if it fails. */
void wp_rand_seed(struct wp_rand *r, uint64_t salt);

#endif
