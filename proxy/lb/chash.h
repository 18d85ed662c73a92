/*
 * Consistent-hash tables for the balancer: a ketama ring and a Maglev lookup
 * table. Both are built from the endpoints' identities (a 64-bit hash of
 * "address:port") and weights only, so two proxies with the same cluster build
 * the same table, and an endpoint that leaves the cluster takes its entries
 * with it without moving the others' (exactly so for the ring; for Maglev, a
 * rebuilt table moves a few more keys, as the Maglev paper measures).
 *
 * The tables map to endpoint indexes; skipping endpoints that cannot be
 * picked is the balancer's job (it walks the ring, or rehashes into the Maglev
 * table), which behaves as if those endpoints had no entries at all.
 *
 * Return convention: builds return 0, or -1 when memory runs out or the size
 * is invalid (Maglev: not a prime); lookups never fail on a built table.
 */
#ifndef WEIR_PROXY_LB_CHASH_H
#define WEIR_PROXY_LB_CHASH_H

#include <stddef.h>
#include <stdint.h>

#include "config/proxy_config.h"

struct wp_chash_ring {
    uint64_t *hashes;    /* sorted ascending */
    uint32_t *endpoints; /* endpoints[i] owns the arc ending at hashes[i] */
    size_t len;
    uint32_t per_weight; /* entries per unit of weight */
};

struct wp_chash_maglev {
    uint32_t *slots; /* endpoint index per slot */
    size_t len;      /* prime */
};

/* The identity an endpoint's entries derive from: XXH64 of "address:port". */
uint64_t wp_chash_endpoint_id(const struct weir_pc_endpoint *ep);

/* At least `min_size` entries; every endpoint gets `weight` times the same
 * power of two, so that adding or removing one endpoint rarely changes the
 * number of entries of the others. */
int wp_chash_ring_build(struct wp_chash_ring *r, const uint64_t *ids, const uint32_t *weights,
                        size_t n, uint32_t min_size);
void wp_chash_ring_free(struct wp_chash_ring *r);
/* The position of the first entry at or after `h`, wrapping to 0. */
size_t wp_chash_ring_find(const struct wp_chash_ring *r, uint64_t h);

/* `size` must be a prime; endpoints fill slots in proportion to their weight. */
int wp_chash_maglev_build(struct wp_chash_maglev *m, const uint64_t *ids, const uint32_t *weights,
                          size_t n, uint32_t size);
void wp_chash_maglev_free(struct wp_chash_maglev *m);

/* The next slot hash for a key whose slot cannot be picked. */
uint64_t wp_chash_rehash(uint64_t h, uint64_t attempt);

int wp_chash_is_prime(uint32_t n);

#endif
