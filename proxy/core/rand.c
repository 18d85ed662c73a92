#include "core/rand.h"

#include <sys/random.h>
#include <time.h>

void wp_rand_seed(struct wp_rand *r, uint64_t salt)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)r;
    }
    v ^= salt * 0x9E3779B97F4A7C15ULL;
    r->s = v ? v : 0x853c49e6748fea9bULL; /* xorshift must not start at zero */
}
