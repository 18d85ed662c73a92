#include "lb/balancer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "lb/chash.h"

/* Rehashes into a Maglev table before walking it: each try lands on a
 * uniformly chosen slot, so the keys of an endpoint that cannot be picked
 * spread over the others by weight, as a rebuilt table would spread them. */
#define MAGLEV_REHASH_TRIES 8
/* Fixed-point scale of least_request's effective weights, weight / (active + 1). */
#define LR_WEIGHT_SHIFT 20

struct lb_endpoint {
    uint32_t weight;
    uint32_t active;
    int64_t current; /* smooth weighted round robin state */
    enum weir_pc_health health;
    bool ejected;
    bool candidate; /* in the tier picks come from now */
};

struct wp_lb {
    const struct weir_pc_cluster *cluster;
    enum weir_pc_lb_policy policy;
    int n;
    struct lb_endpoint *ep;

    /* The tier picks come from: healthy endpoints, or draining ones when no
     * healthy endpoint is available. Rebuilt when availability changes. */
    int *tier;
    int n_tier;
    bool tier_uniform;  /* every weight in the tier is equal */
    uint64_t *tier_cum; /* running sums of the tier's weights, for random */
    int *scratch;       /* the tier less the tried endpoints, per pick */

    uint32_t min_health_percent;
    uint64_t rr_cursor; /* round robin when weights are equal */
    uint32_t wrr_start; /* where smooth WRR starts breaking ties */
    uint64_t rng[4];    /* xoshiro256** */

    enum wp_lb_hash_table table;
    struct wp_chash_ring ring;
    struct wp_chash_maglev maglev;
};

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct wp_lb *lb)
{
    uint64_t *s = lb->rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, bound) without modulo bias: a skewed generator would show up
 * as a skewed share of traffic. */
static uint64_t rng_below(struct wp_lb *lb, uint64_t bound)
{
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t r = rng_next(lb);
        if (r >= threshold)
            return r % bound;
    }
}

/* ---- candidates ---- */

static bool is_tried(const uint8_t *tried, int i)
{
    return tried && (tried[i >> 3] & (1u << (i & 7)));
}

static void rebuild_tier(struct wp_lb *lb)
{
    int usable = 0;
    bool panic;
    uint64_t sum = 0;

    for (int i = 0; i < lb->n; i++)
        if (lb->ep[i].health != WEIR_PC_UNHEALTHY && !lb->ep[i].ejected)
            usable++;
    /* Ejecting most of a cluster would pile its traffic onto the few endpoints
     * left; below the threshold every endpoint is used again, as in Envoy. */
    panic = lb->min_health_percent > 0 &&
            (uint64_t)usable * 100 < (uint64_t)lb->min_health_percent * (uint64_t)lb->n;

    lb->n_tier = 0;
    for (int pass = 0; pass < 2 && lb->n_tier == 0; pass++) {
        enum weir_pc_health want = pass == 0 ? WEIR_PC_HEALTHY : WEIR_PC_DRAINING;
        for (int i = 0; i < lb->n; i++) {
            struct lb_endpoint *e = &lb->ep[i];
            if (e->health == want && (panic || !e->ejected))
                lb->tier[lb->n_tier++] = i;
        }
    }
    for (int i = 0; i < lb->n; i++)
        lb->ep[i].candidate = false;
    lb->tier_uniform = true;
    for (int k = 0; k < lb->n_tier; k++) {
        struct lb_endpoint *e = &lb->ep[lb->tier[k]];
        e->candidate = true;
        sum += e->weight;
        lb->tier_cum[k] = sum;
        if (e->weight != lb->ep[lb->tier[0]].weight)
            lb->tier_uniform = false;
    }
}

/* True when the tried endpoints should be skipped: some were tried and some
 * candidate was not. */
static bool avoid_tried(const struct wp_lb *lb, const uint8_t *tried)
{
    bool any_tried = false, any_fresh = false;
    if (!tried)
        return false;
    for (int k = 0; k < lb->n_tier && !(any_tried && any_fresh); k++) {
        if (is_tried(tried, lb->tier[k]))
            any_tried = true;
        else
            any_fresh = true;
    }
    return any_tried && any_fresh;
}

static const int *candidates(struct wp_lb *lb, const uint8_t *tried, int *n_out)
{
    int n = 0;
    if (!avoid_tried(lb, tried)) {
        *n_out = lb->n_tier;
        return lb->tier;
    }
    for (int k = 0; k < lb->n_tier; k++)
        if (!is_tried(tried, lb->tier[k]))
            lb->scratch[n++] = lb->tier[k];
    *n_out = n;
    return lb->scratch;
}

/* ---- policies ---- */

/* nginx's smooth weighted round robin: every candidate gains its weight, the
 * richest is picked and pays the total. Over sum(weights) consecutive picks
 * each candidate is picked exactly weight times. */
static int smooth_wrr(struct wp_lb *lb, const int *cand, int n, bool least_request)
{
    int64_t total = 0;
    int best = -1;
    int start = (int)(lb->wrr_start % (uint32_t)n);
    for (int step = 0; step < n; step++) {
        int k = start + step < n ? start + step : start + step - n;
        struct lb_endpoint *e = &lb->ep[cand[k]];
        int64_t w = (int64_t)e->weight;
        if (least_request)
            w = (int64_t)(((uint64_t)e->weight << LR_WEIGHT_SHIFT) / ((uint64_t)e->active + 1));
        e->current += w;
        total += w;
        if (best < 0 || e->current > lb->ep[best].current)
            best = cand[k];
    }
    lb->ep[best].current -= total;
    return best;
}

static int pick_round_robin(struct wp_lb *lb, const int *cand, int n)
{
    if (lb->tier_uniform)
        return cand[lb->rr_cursor++ % (uint64_t)n];
    return smooth_wrr(lb, cand, n, false);
}

static int pick_random(struct wp_lb *lb, const int *cand, int n)
{
    uint64_t r, sum = 0;
    if (lb->tier_uniform)
        return cand[rng_below(lb, (uint64_t)n)];
    if (cand == lb->tier) {
        int lo = 0, hi = n - 1;
        r = rng_below(lb, lb->tier_cum[n - 1]);
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (lb->tier_cum[mid] > r)
                hi = mid;
            else
                lo = mid + 1;
        }
        return cand[lo];
    }
    for (int k = 0; k < n; k++)
        sum += lb->ep[cand[k]].weight;
    r = rng_below(lb, sum);
    for (int k = 0; k < n; k++) {
        uint64_t w = lb->ep[cand[k]].weight;
        if (r < w)
            return cand[k];
        r -= w;
    }
    return cand[n - 1];
}

/* Envoy's least request: with equal weights, two random choices (with
 * replacement) and the one with fewer active requests, the first on a tie;
 * with unequal weights, scheduling by weight / (active + 1). */
static int pick_least_request(struct wp_lb *lb, const int *cand, int n)
{
    if (lb->tier_uniform) {
        int a = cand[rng_below(lb, (uint64_t)n)];
        int b = cand[rng_below(lb, (uint64_t)n)];
        return lb->ep[b].active < lb->ep[a].active ? b : a;
    }
    return smooth_wrr(lb, cand, n, true);
}

static bool acceptable(const struct wp_lb *lb, int i, const uint8_t *tried, bool skip_tried)
{
    return lb->ep[i].candidate && !(skip_tried && is_tried(tried, i));
}

/* Walking on from the key's entry to the first endpoint that can be picked is
 * exactly a lookup in the ring without the others' entries. */
static int pick_ring(struct wp_lb *lb, uint64_t h, const uint8_t *tried, bool skip_tried)
{
    const struct wp_chash_ring *r = &lb->ring;
    size_t pos = wp_chash_ring_find(r, h);
    for (size_t step = 0; step < r->len; step++) {
        int i = (int)r->endpoints[(pos + step) % r->len];
        if (acceptable(lb, i, tried, skip_tried))
            return i;
    }
    return -1;
}

static int pick_maglev(struct wp_lb *lb, uint64_t h, const uint8_t *tried, bool skip_tried)
{
    const struct wp_chash_maglev *m = &lb->maglev;
    size_t slot = (size_t)(h % m->len);
    for (uint64_t attempt = 0;; attempt++) {
        int i = (int)m->slots[slot];
        if (acceptable(lb, i, tried, skip_tried))
            return i;
        if (attempt == MAGLEV_REHASH_TRIES)
            break;
        h = wp_chash_rehash(h, attempt + 1);
        slot = (size_t)(h % m->len);
    }
    for (size_t step = 1; step < m->len; step++) {
        int i = (int)m->slots[(slot + step) % m->len];
        if (acceptable(lb, i, tried, skip_tried))
            return i;
    }
    return -1;
}

static int pick_hash(struct wp_lb *lb, const struct wp_lb_context *ctx)
{
    const uint8_t *tried = ctx ? ctx->tried : NULL;
    bool skip_tried = avoid_tried(lb, tried);
    uint64_t h = wp_lb_hash_key(ctx->hash_key, ctx->hash_key_len);
    int i = lb->table == WP_LB_TABLE_MAGLEV ? pick_maglev(lb, h, tried, skip_tried)
                                            : pick_ring(lb, h, tried, skip_tried);
    if (i < 0) {
        /* Only when an endpoint owns no entry (more endpoints than Maglev
         * slots): still answer from the candidates. */
        int n;
        const int *cand = candidates(lb, tried, &n);
        i = pick_random(lb, cand, n);
    }
    return i;
}

int wp_lb_pick(struct wp_lb *lb, const struct wp_lb_context *ctx)
{
    const int *cand;
    int n;

    if (!lb || lb->n_tier == 0 || lb->policy == WEIR_PC_LB_PASSTHROUGH)
        return -1;
    if (lb->policy == WEIR_PC_LB_CONSISTENT_HASH && ctx && ctx->hash_key && ctx->hash_key_len > 0)
        return pick_hash(lb, ctx);
    cand = candidates(lb, ctx ? ctx->tried : NULL, &n);
    switch (lb->policy) {
    case WEIR_PC_LB_LEAST_REQUEST:
        return pick_least_request(lb, cand, n);
    case WEIR_PC_LB_RANDOM:
    case WEIR_PC_LB_CONSISTENT_HASH:
        return pick_random(lb, cand, n);
    case WEIR_PC_LB_ROUND_ROBIN:
    default:
        return pick_round_robin(lb, cand, n);
    }
}

/* ---- lifecycle ---- */

struct wp_lb *wp_lb_create(const struct weir_pc_cluster *cluster, uint64_t seed)
{
    return wp_lb_create_with(cluster, seed, NULL);
}

static int build_table(struct wp_lb *lb, const struct wp_lb_options *opts)
{
    uint64_t *ids = NULL;
    uint32_t *weights = NULL;
    uint32_t size;
    int rc = -1;

    lb->table = opts ? opts->table : WP_LB_TABLE_RING;
    size = opts ? opts->table_size : 0;
    if (lb->table == WP_LB_TABLE_MAGLEV) {
        if (size == 0)
            size = WP_LB_MAGLEV_DEFAULT_SIZE;
        if (size > WP_LB_MAGLEV_MAX_SIZE || !wp_chash_is_prime(size))
            return -1;
    } else if (lb->table == WP_LB_TABLE_RING) {
        if (size == 0)
            size =
                lb->cluster->load_balancer.ring_size ? lb->cluster->load_balancer.ring_size : 1024;
        if (size > WP_LB_RING_MAX_SIZE)
            return -1;
    } else {
        return -1;
    }
    if (lb->n == 0)
        return 0;
    ids = malloc((size_t)lb->n * sizeof *ids);
    weights = malloc((size_t)lb->n * sizeof *weights);
    if (!ids || !weights)
        goto out;
    /* Every endpoint owns entries, whatever its health: a health change then
     * moves only that endpoint's keys. */
    for (int i = 0; i < lb->n; i++) {
        ids[i] = wp_chash_endpoint_id(&lb->cluster->endpoints[i]);
        weights[i] = lb->ep[i].weight;
    }
    if (lb->table == WP_LB_TABLE_MAGLEV)
        rc = wp_chash_maglev_build(&lb->maglev, ids, weights, (size_t)lb->n, size);
    else
        rc = wp_chash_ring_build(&lb->ring, ids, weights, (size_t)lb->n, size);
out:
    free(ids);
    free(weights);
    return rc;
}

struct wp_lb *wp_lb_create_with(const struct weir_pc_cluster *cluster, uint64_t seed,
                                const struct wp_lb_options *opts)
{
    struct wp_lb *lb;
    size_t n;
    uint64_t sm = seed;

    if (!cluster || cluster->n_endpoints > INT_MAX)
        return NULL;
    lb = calloc(1, sizeof *lb);
    if (!lb)
        return NULL;
    n = cluster->n_endpoints;
    lb->cluster = cluster;
    lb->policy = cluster->load_balancer.policy;
    lb->n = (int)n;
    if (cluster->outlier_detection)
        lb->min_health_percent = cluster->outlier_detection->min_health_percent;
    for (int i = 0; i < 4; i++)
        lb->rng[i] = splitmix64(&sm);
    if (n > 0) {
        lb->ep = calloc(n, sizeof *lb->ep);
        lb->tier = calloc(n, sizeof *lb->tier);
        lb->tier_cum = calloc(n, sizeof *lb->tier_cum);
        lb->scratch = calloc(n, sizeof *lb->scratch);
        if (!lb->ep || !lb->tier || !lb->tier_cum || !lb->scratch)
            goto fail;
        /* Workers start at different places, so that they do not all send
         * their first request of a cycle to the same endpoint. */
        lb->rr_cursor = rng_below(lb, n);
        lb->wrr_start = (uint32_t)rng_below(lb, n);
    }
    for (size_t i = 0; i < n; i++) {
        const struct weir_pc_endpoint *e = &cluster->endpoints[i];
        /* The contract's range is 1..128; 0 would starve an endpoint in some
         * policies and not in others, so it counts as the default 1. */
        lb->ep[i].weight = e->weight ? e->weight : 1;
        lb->ep[i].health = e->health;
    }
    if (lb->policy == WEIR_PC_LB_CONSISTENT_HASH && build_table(lb, opts) < 0)
        goto fail;
    rebuild_tier(lb);
    return lb;

fail:
    wp_lb_destroy(lb);
    return NULL;
}

void wp_lb_destroy(struct wp_lb *lb)
{
    if (!lb)
        return;
    wp_chash_ring_free(&lb->ring);
    wp_chash_maglev_free(&lb->maglev);
    free(lb->ep);
    free(lb->tier);
    free(lb->tier_cum);
    free(lb->scratch);
    free(lb);
}

/* ---- feedback ---- */

void wp_lb_request_start(struct wp_lb *lb, int endpoint)
{
    if (lb && endpoint >= 0 && endpoint < lb->n && lb->ep[endpoint].active < UINT32_MAX)
        lb->ep[endpoint].active++;
}

void wp_lb_request_end(struct wp_lb *lb, int endpoint)
{
    if (lb && endpoint >= 0 && endpoint < lb->n && lb->ep[endpoint].active > 0)
        lb->ep[endpoint].active--;
}

uint32_t wp_lb_active_requests(const struct wp_lb *lb, int endpoint)
{
    if (!lb || endpoint < 0 || endpoint >= lb->n)
        return 0;
    return lb->ep[endpoint].active;
}

void wp_lb_set_available(struct wp_lb *lb, int endpoint, bool available)
{
    struct lb_endpoint *e;
    if (!lb || endpoint < 0 || endpoint >= lb->n)
        return;
    e = &lb->ep[endpoint];
    if (e->ejected == !available)
        return;
    e->ejected = !available;
    /* A returning endpoint starts even, neither owed a burst of picks for the
     * time it was away nor held back by a debt from before. */
    e->current = 0;
    rebuild_tier(lb);
}

uint64_t wp_lb_hash_key(const void *key, size_t len)
{
    return XXH64(key, len, 0);
}
