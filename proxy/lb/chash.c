#include "lb/chash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* For XXH64_state_t on the stack: the state layout is part of xxHash's stable
 * 0.8 API. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "lb/balancer.h"

/* Multi-byte inputs are hashed in a fixed byte order so that tables agree
 * between proxies of any architecture. */
static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t hash_u64(uint64_t v, uint64_t seed)
{
    uint8_t b[8];
    put_le64(b, v);
    return XXH64(b, sizeof b, seed);
}

uint64_t wp_chash_rehash(uint64_t h, uint64_t attempt)
{
    return hash_u64(h, attempt);
}

uint64_t wp_chash_endpoint_id(const struct weir_pc_endpoint *ep)
{
    char port[8];
    int n = snprintf(port, sizeof port, ":%u", (unsigned)ep->port);
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    if (ep->address)
        XXH64_update(&st, ep->address, strlen(ep->address));
    XXH64_update(&st, port, (size_t)n);
    return XXH64_digest(&st);
}

int wp_chash_is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint32_t d = 3; (uint64_t)d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

/* ---- ring ---- */

struct ring_point {
    uint64_t hash;
    uint64_t id;
    uint32_t endpoint;
    uint32_t replica;
};

static int cmp_point(const void *a, const void *b)
{
    const struct ring_point *x = a, *y = b;
    /* Ties on the hash are broken by identity, not by index, so the order does
     * not depend on where an endpoint sits in the cluster's list. */
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->replica < y->replica ? -1 : x->replica > y->replica;
}

int wp_chash_ring_build(struct wp_chash_ring *r, const uint64_t *ids, const uint32_t *weights,
                        size_t n, uint32_t min_size)
{
    uint64_t total = 0;
    uint64_t k = 1;
    struct ring_point *pts = NULL;
    size_t len, at = 0;

    memset(r, 0, sizeof *r);
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        total += weights[i];
    while (k * total < min_size)
        k <<= 1;
    while (k > 1 && k * total > WP_LB_RING_MAX_SIZE)
        k >>= 1;
    len = (size_t)(k * total);

    pts = malloc(len * sizeof *pts);
    r->hashes = malloc(len * sizeof *r->hashes);
    r->endpoints = malloc(len * sizeof *r->endpoints);
    if (!pts || !r->hashes || !r->endpoints)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        uint64_t reps = k * weights[i];
        for (uint64_t j = 0; j < reps; j++) {
            uint8_t b[16];
            put_le64(b, ids[i]);
            put_le64(b + 8, j);
            pts[at].hash = XXH64(b, sizeof b, 0);
            pts[at].id = ids[i];
            pts[at].endpoint = (uint32_t)i;
            pts[at].replica = (uint32_t)j;
            at++;
        }
    }
    qsort(pts, len, sizeof *pts, cmp_point);
    for (size_t i = 0; i < len; i++) {
        r->hashes[i] = pts[i].hash;
        r->endpoints[i] = pts[i].endpoint;
    }
    r->len = len;
    r->per_weight = (uint32_t)k;
    free(pts);
    return 0;

fail:
    free(pts);
    wp_chash_ring_free(r);
    return -1;
}

void wp_chash_ring_free(struct wp_chash_ring *r)
{
    free(r->hashes);
    free(r->endpoints);
    memset(r, 0, sizeof *r);
}

size_t wp_chash_ring_find(const struct wp_chash_ring *r, uint64_t h)
{
    size_t lo = 0, hi = r->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->hashes[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->len ? 0 : lo;
}

/* ---- Maglev ---- */

int wp_chash_maglev_build(struct wp_chash_maglev *m, const uint64_t *ids, const uint32_t *weights,
                          size_t n, uint32_t size)
{
    uint64_t *offset = NULL, *skip = NULL, *next = NULL, *credit = NULL;
    uint32_t max_weight = 0;
    size_t filled = 0;

    memset(m, 0, sizeof *m);
    if (!wp_chash_is_prime(size))
        return -1;
    if (n == 0)
        return 0;
    m->slots = malloc((size_t)size * sizeof *m->slots);
    offset = malloc(n * sizeof *offset);
    skip = malloc(n * sizeof *skip);
    next = calloc(n, sizeof *next);
    credit = calloc(n, sizeof *credit);
    if (!m->slots || !offset || !skip || !next || !credit)
        goto fail;
    m->len = size;
    for (size_t s = 0; s < size; s++)
        m->slots[s] = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        offset[i] = hash_u64(ids[i], 1) % size;
        skip[i] = size > 1 ? hash_u64(ids[i], 2) % (size - 1) + 1 : 1;
        if (weights[i] > max_weight)
            max_weight = weights[i];
    }
    /* Each round gives every endpoint weight/max_weight of a turn; a turn takes
     * the next free slot of the endpoint's own permutation of the table. The
     * heaviest endpoint takes one slot per round, so the loop ends. */
    while (filled < size) {
        for (size_t i = 0; i < n && filled < size; i++) {
            credit[i] += weights[i];
            if (credit[i] < max_weight)
                continue;
            credit[i] -= max_weight;
            for (;;) {
                size_t s = (size_t)((offset[i] + next[i] * skip[i]) % size);
                next[i]++;
                if (m->slots[s] == UINT32_MAX) {
                    m->slots[s] = (uint32_t)i;
                    filled++;
                    break;
                }
            }
        }
    }
    free(offset);
    free(skip);
    free(next);
    free(credit);
    return 0;

fail:
    free(offset);
    free(skip);
    free(next);
    free(credit);
    wp_chash_maglev_free(m);
    return -1;
}

void wp_chash_maglev_free(struct wp_chash_maglev *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}
