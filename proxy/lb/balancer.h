/*
 * Load balancers: which endpoint of a cluster gets the next request.
 *
 * One balancer per cluster per worker thread, built from the immutable
 * cluster of a loaded proxy config. It is never shared between threads, so it
 * takes no lock; a config swap builds new balancers and the old ones die with
 * the snapshot. Design notes and the reasons behind each choice are in
 * proxy/lb/README.md.
 *
 * Policies (weir_pc_load_balancer.policy):
 *   round_robin      smooth weighted round robin (nginx's): exact shares per
 *                    cycle of sum(weights) picks, with the heavy endpoints
 *                    interleaved rather than sent in bursts;
 *   least_request    Envoy's: with equal weights, the less loaded of two
 *                    random picks (power of two choices); with unequal weights,
 *                    weighted scheduling by weight / (active requests + 1);
 *   random           weighted random;
 *   consistent_hash  a ketama ring (ringSize = minimum entries, 1024 by
 *                    default), or a Maglev table through wp_lb_create_with();
 *                    keyed by XXH64 (seed 0) of the hash key. Tables depend
 *                    only on the endpoints' addresses, ports and weights, never
 *                    on the seed, so every proxy sends a key to the same
 *                    endpoint. No key: weighted random;
 *   passthrough      the proxy connects to the connection's original
 *                    destination and never asks the balancer: wp_lb_pick()
 *                    answers -1 for such a cluster.
 *
 * Which endpoints are picked:
 *   - health `unhealthy` never; `draining` only when no healthy endpoint is
 *     available; an endpoint marked unavailable (outlier ejection) never,
 *     unless fewer than outlierDetection.minHealthPercent of the cluster's
 *     endpoints are usable: then ejections are ignored (Envoy's panic mode).
 *     maxEjectionPercent is the ejecting code's bound, not the balancer's;
 *   - endpoints set in ctx->tried are avoided while another candidate of the
 *     same health tier exists, so a retry goes to a different host; when every
 *     candidate was tried, a tried one is picked again rather than none.
 *
 * `tried` is a bitmap of ceil(n_endpoints / 8) bytes: endpoint i is bit
 * (i % 8) of byte i / 8, least significant bit first.
 *
 * Determinism: the random choices come from a generator seeded by `seed`; the
 * same cluster, seed and call sequence give the same picks. Give each worker
 * its own seed so workers do not move in lockstep.
 *
 * Cost: wp_lb_pick() never allocates. Round robin with unequal weights and
 * least request with unequal weights are O(endpoints); the others are O(1),
 * O(log entries) for the hash tables, plus O(endpoints) for a pick with a
 * `tried` bitmap. wp_lb_set_available() is O(endpoints).
 *
 * Return convention: wp_lb_create*() return NULL when memory runs out (or the
 * options are invalid); wp_lb_pick() returns an index into cluster->endpoints
 * or -1 when no endpoint can be picked. Out-of-range endpoint arguments are
 * ignored.
 */
#ifndef WEIR_PROXY_LB_BALANCER_H
#define WEIR_PROXY_LB_BALANCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/proxy_config.h"

#define WP_LB_MAGLEV_DEFAULT_SIZE 65537u
/* Past this a table costs more memory per worker than any cluster needs. */
#define WP_LB_MAGLEV_MAX_SIZE 5000011u
#define WP_LB_RING_MAX_SIZE   8388608u

struct wp_lb; /* per cluster per worker */

struct wp_lb_context {
    const char *hash_key; /* consistent hash only; NULL or empty: no key */
    size_t hash_key_len;
    const uint8_t *tried; /* endpoints already tried by this request (retries), may be NULL */
};

enum wp_lb_hash_table {
    WP_LB_TABLE_RING,   /* ketama ring, load_balancer.ring_size entries at least */
    WP_LB_TABLE_MAGLEV, /* Maglev lookup table of a prime size */
};

struct wp_lb_options {
    enum wp_lb_hash_table table;
    uint32_t table_size; /* 0: the cluster's ring_size, or 65537 for Maglev (must be prime) */
};

/* The cluster must outlive the balancer. A ring for consistent hashing. */
struct wp_lb *wp_lb_create(const struct weir_pc_cluster *cluster, uint64_t seed);
/* As wp_lb_create(), choosing the consistent-hash table; opts may be NULL. */
struct wp_lb *wp_lb_create_with(const struct weir_pc_cluster *cluster, uint64_t seed,
                                const struct wp_lb_options *opts);
void wp_lb_destroy(struct wp_lb *lb);

/* An index into cluster->endpoints, -1 if none available. */
int wp_lb_pick(struct wp_lb *lb, const struct wp_lb_context *ctx);

/* Active requests per endpoint, for least_request; call end once per start on
 * the same balancer. The count never goes below zero. */
void wp_lb_request_start(struct wp_lb *lb, int endpoint);
void wp_lb_request_end(struct wp_lb *lb, int endpoint);
uint32_t wp_lb_active_requests(const struct wp_lb *lb, int endpoint);

/* Outlier ejection: an unavailable endpoint is not picked (see panic mode). */
void wp_lb_set_available(struct wp_lb *lb, int endpoint, bool available);

/* The 64-bit hash consistent hashing applies to a key: XXH64 with seed 0. */
uint64_t wp_lb_hash_key(const void *key, size_t len);

#endif
