/*
 * The load balancers with numbers: exact shares for round robin, statistical
 * bounds for the random policies, key movement for consistent hashing, and the
 * rules on health, ejection, panic and retries that every policy shares.
 * Every balancer is seeded, so each count below is reproducible.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/proxy_config.h"
#include "lb/balancer.h"
#include "lb/chash.h"

#define MAX_EP 64
#define N_KEYS 100000

struct fixture {
    struct weir_pc_cluster c;
    struct weir_pc_endpoint ep[MAX_EP];
    char addr[MAX_EP][32];
    struct weir_pc_outlier_detection od;
};

/* Endpoints 10.0.0.<id>:8080; `ids` NULL numbers them 0..n-1, weights NULL
 * gives every endpoint weight 1. */
static void make(struct fixture *f, int n, enum weir_pc_lb_policy policy, const uint32_t *weights,
                 const int *ids)
{
    memset(f, 0, sizeof *f);
    f->c.name = "outbound|8080||svc.default.svc.cluster.local";
    f->c.endpoints = f->ep;
    f->c.n_endpoints = (size_t)n;
    f->c.load_balancer.policy = policy;
    f->c.load_balancer.ring_size = 1024;
    for (int i = 0; i < n; i++) {
        snprintf(f->addr[i], sizeof f->addr[i], "10.0.0.%d", ids ? ids[i] : i);
        f->ep[i].address = f->addr[i];
        f->ep[i].port = 8080;
        f->ep[i].weight = weights ? weights[i] : 1;
        f->ep[i].health = WEIR_PC_HEALTHY;
    }
}

static struct wp_lb *create(struct fixture *f, uint64_t seed)
{
    struct wp_lb *lb = wp_lb_create(&f->c, seed);
    ck_assert_ptr_nonnull(lb);
    return lb;
}

static struct wp_lb *create_maglev(struct fixture *f, uint64_t seed)
{
    struct wp_lb_options o = {.table = WP_LB_TABLE_MAGLEV, .table_size = 0};
    struct wp_lb *lb = wp_lb_create_with(&f->c, seed, &o);
    ck_assert_ptr_nonnull(lb);
    return lb;
}

static void count_picks(struct wp_lb *lb, const struct wp_lb_context *ctx, int picks, int *counts,
                        int n)
{
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (int i = 0; i < picks; i++) {
        int e = wp_lb_pick(lb, ctx);
        /* Check records every ck_assert as it passes; hot loops test first. */
        if (e < 0 || e >= n)
            ck_abort_msg("pick %d of %d: endpoint %d out of 0..%d", i, picks, e, n - 1);
        counts[e]++;
    }
}

static void set_bit(uint8_t *bits, int i)
{
    bits[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* Within 5 standard deviations of a binomial count: a correct generator fails
 * this about once in 1.7 million, and the seed makes the outcome fixed anyway. */
static void assert_binomial(int count, int picks, double p, const char *what)
{
    double mean = picks * p;
    double sd = sqrt(picks * p * (1 - p));
    ck_assert_msg(fabs(count - mean) <= 5 * sd, "%s: %d picks, expected %.0f +- %.0f", what, count,
                  mean, 5 * sd);
}

static int pick_key(struct wp_lb *lb, int k, const uint8_t *tried)
{
    char key[32];
    int len = snprintf(key, sizeof key, "user-%d", k);
    struct wp_lb_context ctx = {.hash_key = key, .hash_key_len = (size_t)len, .tried = tried};
    return wp_lb_pick(lb, &ctx);
}

/* ---- edge cases shared by every policy ---- */

static const enum weir_pc_lb_policy all_policies[] = {
    WEIR_PC_LB_ROUND_ROBIN,
    WEIR_PC_LB_LEAST_REQUEST,
    WEIR_PC_LB_RANDOM,
    WEIR_PC_LB_CONSISTENT_HASH,
};
#define N_POLICIES (int)(sizeof all_policies / sizeof all_policies[0])

START_TEST(zero_endpoints)
{
    struct fixture f;
    for (int p = 0; p < N_POLICIES; p++) {
        make(&f, 0, all_policies[p], NULL, NULL);
        struct wp_lb *lb = create(&f, 1);
        struct wp_lb_context ctx = {.hash_key = "k", .hash_key_len = 1};
        ck_assert_int_eq(wp_lb_pick(lb, NULL), -1);
        ck_assert_int_eq(wp_lb_pick(lb, &ctx), -1);
        /* Out-of-range feedback is ignored, not a crash. */
        wp_lb_request_start(lb, 0);
        wp_lb_request_end(lb, 0);
        wp_lb_set_available(lb, 0, false);
        ck_assert_uint_eq(wp_lb_active_requests(lb, 0), 0);
        wp_lb_destroy(lb);
    }
    wp_lb_destroy(NULL);
}
END_TEST

START_TEST(single_endpoint)
{
    struct fixture f;
    uint8_t tried[1] = {1};
    for (int p = 0; p < N_POLICIES; p++) {
        make(&f, 1, all_policies[p], NULL, NULL);
        struct wp_lb *lb = create(&f, 7);
        struct wp_lb_context ctx = {.hash_key = "k", .hash_key_len = 1};
        struct wp_lb_context retry = {.tried = tried};
        for (int i = 0; i < 100; i++) {
            ck_assert_int_eq(wp_lb_pick(lb, NULL), 0);
            ck_assert_int_eq(wp_lb_pick(lb, &ctx), 0);
            /* The only endpoint was tried: a retry goes back to it. */
            ck_assert_int_eq(wp_lb_pick(lb, &retry), 0);
        }
        wp_lb_set_available(lb, 0, false);
        ck_assert_int_eq(wp_lb_pick(lb, NULL), -1);
        wp_lb_set_available(lb, 0, true);
        ck_assert_int_eq(wp_lb_pick(lb, NULL), 0);
        wp_lb_destroy(lb);
    }
}
END_TEST

START_TEST(passthrough_never_picks)
{
    struct fixture f;
    make(&f, 3, WEIR_PC_LB_PASSTHROUGH, NULL, NULL);
    struct wp_lb *lb = create(&f, 1);
    ck_assert_int_eq(wp_lb_pick(lb, NULL), -1);
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(all_unavailable)
{
    struct fixture f;
    for (int p = 0; p < N_POLICIES; p++) {
        make(&f, 5, all_policies[p], NULL, NULL);
        struct wp_lb *lb = create(&f, 3);
        struct wp_lb_context ctx = {.hash_key = "k", .hash_key_len = 1};
        for (int i = 0; i < 5; i++)
            wp_lb_set_available(lb, i, false);
        ck_assert_int_eq(wp_lb_pick(lb, NULL), -1);
        ck_assert_int_eq(wp_lb_pick(lb, &ctx), -1);
        wp_lb_set_available(lb, 2, true);
        for (int i = 0; i < 50; i++) {
            ck_assert_int_eq(wp_lb_pick(lb, NULL), 2);
            ck_assert_int_eq(wp_lb_pick(lb, &ctx), 2);
        }
        wp_lb_destroy(lb);
    }
}
END_TEST

START_TEST(health_tiers)
{
    struct fixture f;
    for (int p = 0; p < N_POLICIES; p++) {
        make(&f, 4, all_policies[p], NULL, NULL);
        f.ep[0].health = WEIR_PC_UNHEALTHY;
        f.ep[1].health = WEIR_PC_DRAINING;
        f.ep[3].health = WEIR_PC_UNHEALTHY;
        struct wp_lb *lb = create(&f, 11);
        /* Only the healthy endpoint while it is available. */
        for (int i = 0; i < 200; i++)
            ck_assert_int_eq(wp_lb_pick(lb, NULL), 2);
        /* Then the draining one, never the unhealthy ones. */
        wp_lb_set_available(lb, 2, false);
        for (int i = 0; i < 200; i++)
            ck_assert_int_eq(wp_lb_pick(lb, NULL), 1);
        wp_lb_set_available(lb, 1, false);
        ck_assert_int_eq(wp_lb_pick(lb, NULL), -1);
        wp_lb_set_available(lb, 2, true);
        ck_assert_int_eq(wp_lb_pick(lb, NULL), 2);
        wp_lb_destroy(lb);
    }
}
END_TEST

START_TEST(panic_ignores_ejection)
{
    struct fixture f;
    int counts[4];
    make(&f, 4, WEIR_PC_LB_ROUND_ROBIN, NULL, NULL);
    f.od.min_health_percent = 50;
    f.c.outlier_detection = &f.od;
    struct wp_lb *lb = create(&f, 5);

    /* 3 of 4 usable (75 %): the ejected endpoint gets nothing. */
    wp_lb_set_available(lb, 0, false);
    count_picks(lb, NULL, 300, counts, 4);
    ck_assert_int_eq(counts[0], 0);
    ck_assert_int_eq(counts[1], 100);

    /* 2 of 4 (50 %) is not below the threshold. */
    wp_lb_set_available(lb, 1, false);
    count_picks(lb, NULL, 300, counts, 4);
    ck_assert_int_eq(counts[0] + counts[1], 0);
    ck_assert_int_eq(counts[2], 150);

    /* 1 of 4 (25 %): panic, all four share the traffic again. */
    wp_lb_set_available(lb, 2, false);
    count_picks(lb, NULL, 400, counts, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(counts[i], 100);
    wp_lb_destroy(lb);
}
END_TEST

/* ---- retries ---- */

START_TEST(tried_are_avoided)
{
    struct fixture f;
    uint8_t tried[2] = {0};
    int counts[10];
    for (int p = 0; p < N_POLICIES; p++) {
        make(&f, 10, all_policies[p], NULL, NULL);
        struct wp_lb *lb = create(&f, 21);
        memset(tried, 0, sizeof tried);
        for (int i = 0; i < 10; i++)
            if (i != 3 && i != 9)
                set_bit(tried, i);
        struct wp_lb_context ctx = {.tried = tried};
        count_picks(lb, &ctx, 1000, counts, 10);
        ck_assert_int_eq(counts[3] + counts[9], 1000);
        ck_assert_int_gt(counts[3], 0);
        ck_assert_int_gt(counts[9], 0);

        /* Every endpoint tried: some endpoint rather than none. */
        set_bit(tried, 3);
        set_bit(tried, 9);
        count_picks(lb, &ctx, 100, counts, 10);
        wp_lb_destroy(lb);
    }
}
END_TEST

START_TEST(tried_ignores_other_tiers)
{
    /* The healthy endpoint was tried and the other is draining: the retry
     * stays in the healthy tier, as the draining one is for when no healthy
     * endpoint is left. */
    struct fixture f;
    uint8_t tried[1] = {0};
    make(&f, 2, WEIR_PC_LB_ROUND_ROBIN, NULL, NULL);
    f.ep[1].health = WEIR_PC_DRAINING;
    struct wp_lb *lb = create(&f, 2);
    set_bit(tried, 0);
    struct wp_lb_context ctx = {.tried = tried};
    ck_assert_int_eq(wp_lb_pick(lb, &ctx), 0);
    wp_lb_destroy(lb);
}
END_TEST

/* ---- round robin ---- */

START_TEST(round_robin_equal_weights_exact)
{
    struct fixture f;
    int counts[10];
    make(&f, 10, WEIR_PC_LB_ROUND_ROBIN, NULL, NULL);
    struct wp_lb *lb = create(&f, 42);
    int prev = wp_lb_pick(lb, NULL);
    for (int i = 1; i < 10000; i++) {
        int e = wp_lb_pick(lb, NULL);
        ck_assert_int_eq(e, (prev + 1) % 10);
        prev = e;
    }
    count_picks(lb, NULL, 10000, counts, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(counts[i], 1000);
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(round_robin_weighted_exact_per_cycle)
{
    static const uint32_t w[4] = {1, 2, 3, 4};
    struct fixture f;
    int counts[4];
    make(&f, 4, WEIR_PC_LB_ROUND_ROBIN, w, NULL);
    for (uint64_t seed = 1; seed <= 5; seed++) {
        struct wp_lb *lb = create(&f, seed);
        count_picks(lb, NULL, 10000, counts, 4);
        ck_assert_int_eq(counts[0], 1000);
        ck_assert_int_eq(counts[1], 2000);
        ck_assert_int_eq(counts[2], 3000);
        ck_assert_int_eq(counts[3], 4000);
        /* Every cycle of sum(weights) = 10 picks holds each endpoint exactly
         * weight times. */
        for (int cycle = 0; cycle < 100; cycle++) {
            count_picks(lb, NULL, 10, counts, 4);
            for (int i = 0; i < 4; i++)
                ck_assert_int_eq(counts[i], (int)w[i]);
        }
        wp_lb_destroy(lb);
    }
}
END_TEST

START_TEST(round_robin_weighted_is_smooth)
{
    /* nginx's example: weights 5, 1, 1 give a a b a c a a, never five a in a
     * row within a cycle. */
    static const uint32_t w[3] = {5, 1, 1};
    struct fixture f;
    make(&f, 3, WEIR_PC_LB_ROUND_ROBIN, w, NULL);
    struct wp_lb *lb = create(&f, 9);
    int run = 0, longest = 0, prev = -1;
    for (int i = 0; i < 7 * 100; i++) {
        int e = wp_lb_pick(lb, NULL);
        run = e == prev ? run + 1 : 1;
        if (run > longest)
            longest = run;
        prev = e;
    }
    /* Two at most inside a cycle, so four across a cycle boundary. */
    ck_assert_int_le(longest, 4);
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(round_robin_seeds_spread_workers)
{
    struct fixture f;
    bool seen[10] = {false};
    int distinct = 0;
    make(&f, 10, WEIR_PC_LB_ROUND_ROBIN, NULL, NULL);
    for (uint64_t seed = 0; seed < 10; seed++) {
        struct wp_lb *lb = create(&f, seed);
        int e = wp_lb_pick(lb, NULL);
        if (!seen[e])
            distinct++;
        seen[e] = true;
        wp_lb_destroy(lb);
    }
    ck_assert_int_ge(distinct, 4);
}
END_TEST

START_TEST(round_robin_skips_ejected)
{
    static const uint32_t w[3] = {1, 1, 2};
    struct fixture f;
    int counts[3];
    make(&f, 3, WEIR_PC_LB_ROUND_ROBIN, w, NULL);
    struct wp_lb *lb = create(&f, 1);
    wp_lb_set_available(lb, 2, false);
    count_picks(lb, NULL, 1000, counts, 3);
    ck_assert_int_eq(counts[0], 500);
    ck_assert_int_eq(counts[1], 500);
    ck_assert_int_eq(counts[2], 0);
    wp_lb_set_available(lb, 2, true);
    count_picks(lb, NULL, 1000, counts, 3);
    ck_assert_int_eq(counts[0], 250);
    ck_assert_int_eq(counts[1], 250);
    ck_assert_int_eq(counts[2], 500);
    wp_lb_destroy(lb);
}
END_TEST

/* ---- random ---- */

START_TEST(random_weighted_within_tolerance)
{
    static const uint32_t w[4] = {1, 2, 3, 4};
    struct fixture f;
    int counts[4];
    make(&f, 4, WEIR_PC_LB_RANDOM, w, NULL);
    struct wp_lb *lb = create(&f, 1234);
    count_picks(lb, NULL, 100000, counts, 4);
    for (int i = 0; i < 4; i++)
        assert_binomial(counts[i], 100000, w[i] / 10.0, "weighted random");
    wp_lb_destroy(lb);

    make(&f, 10, WEIR_PC_LB_RANDOM, NULL, NULL);
    lb = create(&f, 99);
    int c10[10];
    count_picks(lb, NULL, 100000, c10, 10);
    for (int i = 0; i < 10; i++)
        assert_binomial(c10[i], 100000, 0.1, "uniform random");
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(random_weighted_with_tried)
{
    /* The linear path (a tried bitmap filters the tier) keeps the weights. */
    static const uint32_t w[4] = {1, 2, 3, 4};
    struct fixture f;
    int counts[4];
    uint8_t tried[1] = {0};
    make(&f, 4, WEIR_PC_LB_RANDOM, w, NULL);
    struct wp_lb *lb = create(&f, 77);
    set_bit(tried, 3);
    struct wp_lb_context ctx = {.tried = tried};
    count_picks(lb, &ctx, 60000, counts, 4);
    ck_assert_int_eq(counts[3], 0);
    for (int i = 0; i < 3; i++)
        assert_binomial(counts[i], 60000, w[i] / 6.0, "weighted random, 3 tried");
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(deterministic_given_seed)
{
    struct fixture f;
    for (int p = 0; p < N_POLICIES; p++) {
        make(&f, 10, all_policies[p], NULL, NULL);
        struct wp_lb *a = create(&f, 555), *b = create(&f, 555), *c = create(&f, 556);
        int differ = 0;
        for (int i = 0; i < 1000; i++) {
            int x = wp_lb_pick(a, NULL), y = wp_lb_pick(b, NULL), z = wp_lb_pick(c, NULL);
            ck_assert_int_eq(x, y);
            differ += x != z;
        }
        ck_assert_int_gt(differ, 0);
        wp_lb_destroy(a);
        wp_lb_destroy(b);
        wp_lb_destroy(c);
    }
}
END_TEST

/* ---- least request ---- */

START_TEST(least_request_prefers_less_loaded)
{
    struct fixture f;
    int counts[4];
    make(&f, 4, WEIR_PC_LB_LEAST_REQUEST, NULL, NULL);
    struct wp_lb *lb = create(&f, 31);
    for (int i = 0; i < 100; i++)
        wp_lb_request_start(lb, 0);
    ck_assert_uint_eq(wp_lb_active_requests(lb, 0), 100);
    /* The loaded endpoint wins only when both choices land on it: 1/16. */
    count_picks(lb, NULL, 10000, counts, 4);
    assert_binomial(counts[0], 10000, 1.0 / 16, "loaded endpoint");
    for (int i = 1; i < 4; i++)
        assert_binomial(counts[i], 10000, 5.0 / 16, "idle endpoint");
    for (int i = 0; i < 100; i++)
        wp_lb_request_end(lb, 0);
    wp_lb_request_end(lb, 0); /* one more than started: stays at 0 */
    ck_assert_uint_eq(wp_lb_active_requests(lb, 0), 0);

    /* Two endpoints, one with 5 active: it gets 1/4 of the picks. */
    make(&f, 2, WEIR_PC_LB_LEAST_REQUEST, NULL, NULL);
    wp_lb_destroy(lb);
    lb = create(&f, 32);
    for (int i = 0; i < 5; i++)
        wp_lb_request_start(lb, 1);
    count_picks(lb, NULL, 10000, counts, 2);
    assert_binomial(counts[1], 10000, 0.25, "loaded of two");
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(least_request_closed_loop)
{
    /* Endpoint 0 answers in 8 ticks, the others in 1; every tick sends one
     * request. A least-request balancer sends the slow endpoint far less than
     * its quarter. */
    struct fixture f;
    int counts[4] = {0};
    int done_at[4][16];
    int n_pending[4] = {0};
    make(&f, 4, WEIR_PC_LB_LEAST_REQUEST, NULL, NULL);
    struct wp_lb *lb = create(&f, 8);
    for (int tick = 0; tick < 20000; tick++) {
        for (int e = 0; e < 4; e++) {
            int k = 0;
            for (int j = 0; j < n_pending[e]; j++) {
                if (done_at[e][j] <= tick)
                    wp_lb_request_end(lb, e);
                else
                    done_at[e][k++] = done_at[e][j];
            }
            n_pending[e] = k;
        }
        for (int r = 0; r < 3; r++) {
            int e = wp_lb_pick(lb, NULL);
            if (e < 0)
                ck_abort_msg("tick %d: no endpoint", tick);
            if (n_pending[e] == 16)
                continue;
            wp_lb_request_start(lb, e);
            done_at[e][n_pending[e]++] = tick + (e == 0 ? 8 : 1);
            counts[e]++;
        }
    }
    int total = counts[0] + counts[1] + counts[2] + counts[3];
    ck_assert_msg(counts[0] < total / 8, "slow endpoint got %d of %d", counts[0], total);
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(least_request_weighted)
{
    static const uint32_t w[2] = {1, 3};
    struct fixture f;
    int counts[2];
    make(&f, 2, WEIR_PC_LB_LEAST_REQUEST, w, NULL);
    struct wp_lb *lb = create(&f, 3);
    /* Idle: shares follow the weights exactly. */
    count_picks(lb, NULL, 4000, counts, 2);
    ck_assert_int_eq(counts[0], 1000);
    ck_assert_int_eq(counts[1], 3000);
    /* Two requests on the heavy endpoint: 3 / (2 + 1) = 1 / (0 + 1), even. */
    wp_lb_request_start(lb, 1);
    wp_lb_request_start(lb, 1);
    count_picks(lb, NULL, 4000, counts, 2);
    ck_assert_int_le(abs(counts[0] - 2000), 1);
    /* Eight: 3 / 9 against 1, one in four. */
    for (int i = 0; i < 6; i++)
        wp_lb_request_start(lb, 1);
    count_picks(lb, NULL, 4000, counts, 2);
    ck_assert_int_le(abs(counts[1] - 1000), 1);
    wp_lb_destroy(lb);
}
END_TEST

/* ---- consistent hash ---- */

static void map_keys(struct wp_lb *lb, int *map)
{
    for (int k = 0; k < N_KEYS; k++) {
        map[k] = pick_key(lb, k, NULL);
        if (map[k] < 0)
            ck_abort_msg("key %d: no endpoint", k);
    }
}

/* Shares per endpoint must be within `tol` of 1/n. */
static void assert_spread(const int *map, int n, double tol, const char *what)
{
    int counts[MAX_EP] = {0};
    for (int k = 0; k < N_KEYS; k++)
        counts[map[k]]++;
    for (int i = 0; i < n; i++) {
        double share = (double)counts[i] / N_KEYS;
        ck_assert_msg(fabs(share - 1.0 / n) <= tol, "%s: endpoint %d has %.4f of the keys", what, i,
                      share);
    }
}

/* Removing endpoint `gone` (by ejection) moves its keys and only those. */
static void check_ejection_remap(struct wp_lb *lb, const int *before, int gone, int *after)
{
    int moved = 0, on_gone = 0;
    wp_lb_set_available(lb, gone, false);
    map_keys(lb, after);
    for (int k = 0; k < N_KEYS; k++) {
        on_gone += before[k] == gone;
        if (after[k] != before[k]) {
            moved++;
            if (before[k] != gone)
                ck_abort_msg("key %d moved from staying endpoint %d", k, before[k]);
        }
        if (after[k] == gone)
            ck_abort_msg("key %d still on the ejected endpoint", k);
    }
    ck_assert_int_eq(moved, on_gone);
    ck_assert_msg(moved <= N_KEYS / 10 + N_KEYS / 40, "%d keys moved", moved);
    /* Back again: every key returns. */
    wp_lb_set_available(lb, gone, true);
    map_keys(lb, after);
    ck_assert_int_eq(memcmp(after, before, N_KEYS * sizeof *after), 0);
}

START_TEST(ring_stable_and_minimal_remap)
{
    struct fixture f, g;
    int *before = malloc(N_KEYS * sizeof(int)), *after = malloc(N_KEYS * sizeof(int));
    make(&f, 10, WEIR_PC_LB_CONSISTENT_HASH, NULL, NULL);
    struct wp_lb *lb = create(&f, 1);
    map_keys(lb, before);
    /* 128 entries per endpoint: each holds 10 % +- 3 % of the keys. */
    assert_spread(before, 10, 0.03, "ring");

    /* Another worker, another seed, the same table. */
    struct wp_lb *other = create(&f, 999);
    map_keys(other, after);
    ck_assert_int_eq(memcmp(after, before, N_KEYS * sizeof *after), 0);
    wp_lb_destroy(other);

    check_ejection_remap(lb, before, 4, after);

    /* The endpoint leaves the config: the new cluster has 9 endpoints whose
     * indexes shift, compared by address. */
    int ids[9], moved = 0;
    for (int i = 0, j = 0; i < 10; i++)
        if (i != 4)
            ids[j++] = i;
    make(&g, 9, WEIR_PC_LB_CONSISTENT_HASH, NULL, ids);
    struct wp_lb *lb9 = create(&g, 1);
    map_keys(lb9, after);
    for (int k = 0; k < N_KEYS; k++) {
        int addr_after = ids[after[k]];
        if (addr_after != before[k]) {
            moved++;
            if (before[k] != 4)
                ck_abort_msg("key %d moved from staying endpoint %d", k, before[k]);
        }
    }
    ck_assert_msg(moved <= N_KEYS / 10 + N_KEYS / 40, "%d keys moved", moved);
    printf("ring: 10 endpoints, %d keys; removing one moved %d keys (%.2f %%)\n", N_KEYS, moved,
           100.0 * moved / N_KEYS);
    wp_lb_destroy(lb9);
    wp_lb_destroy(lb);
    free(before);
    free(after);
}
END_TEST

START_TEST(maglev_stable_and_minimal_remap)
{
    struct fixture f, g;
    int *before = malloc(N_KEYS * sizeof(int)), *after = malloc(N_KEYS * sizeof(int));
    make(&f, 10, WEIR_PC_LB_CONSISTENT_HASH, NULL, NULL);
    struct wp_lb *lb = create_maglev(&f, 1);
    map_keys(lb, before);
    /* 6553 or 6554 slots each: the spread is the keys' own binomial noise. */
    assert_spread(before, 10, 0.005, "maglev");

    struct wp_lb *other = create_maglev(&f, 12345);
    map_keys(other, after);
    ck_assert_int_eq(memcmp(after, before, N_KEYS * sizeof *after), 0);
    wp_lb_destroy(other);

    check_ejection_remap(lb, before, 7, after);

    /* A rebuilt table without the endpoint: its keys move, and a few others
     * (Maglev trades exact minimality for an even table). */
    int ids[9], moved = 0, moved_other = 0;
    for (int i = 0, j = 0; i < 10; i++)
        if (i != 7)
            ids[j++] = i;
    make(&g, 9, WEIR_PC_LB_CONSISTENT_HASH, NULL, ids);
    struct wp_lb *lb9 = create_maglev(&g, 1);
    map_keys(lb9, after);
    for (int k = 0; k < N_KEYS; k++) {
        if (ids[after[k]] != before[k]) {
            moved++;
            moved_other += before[k] != 7;
        }
    }
    ck_assert_msg(moved <= N_KEYS / 10 + N_KEYS / 20, "%d keys moved", moved);
    ck_assert_msg(moved_other <= N_KEYS / 20, "%d keys of staying endpoints moved", moved_other);
    printf("maglev: 10 endpoints, %d keys; rebuilt without one: %d keys moved (%.2f %%), "
           "%d of them from staying endpoints\n",
           N_KEYS, moved, 100.0 * moved / N_KEYS, moved_other);
    wp_lb_destroy(lb9);
    wp_lb_destroy(lb);
    free(before);
    free(after);
}
END_TEST

START_TEST(hash_weights)
{
    static const uint32_t w[2] = {1, 3};
    struct fixture f;
    int *map = malloc(N_KEYS * sizeof(int));
    make(&f, 2, WEIR_PC_LB_CONSISTENT_HASH, w, NULL);
    for (int t = 0; t < 2; t++) {
        struct wp_lb *lb = t ? create_maglev(&f, 1) : create(&f, 1);
        int heavy = 0;
        map_keys(lb, map);
        for (int k = 0; k < N_KEYS; k++)
            heavy += map[k] == 1;
        /* The ring's arcs vary more than Maglev's slots. */
        ck_assert_msg(fabs((double)heavy / N_KEYS - 0.75) <= (t ? 0.01 : 0.04),
                      "weight 3 of 4 got %.4f of the keys", (double)heavy / N_KEYS);
        wp_lb_destroy(lb);
    }
    free(map);
}
END_TEST

START_TEST(hash_tried_moves_to_next)
{
    struct fixture f;
    uint8_t tried[2];
    make(&f, 10, WEIR_PC_LB_CONSISTENT_HASH, NULL, NULL);
    for (int t = 0; t < 2; t++) {
        struct wp_lb *lb = t ? create_maglev(&f, 1) : create(&f, 1);
        for (int k = 0; k < 200; k++) {
            int first = pick_key(lb, k, NULL);
            memset(tried, 0, sizeof tried);
            set_bit(tried, first);
            int second = pick_key(lb, k, tried);
            ck_assert_int_ne(second, first);
            /* The retry lands where the key would go without that endpoint. */
            wp_lb_set_available(lb, first, false);
            ck_assert_int_eq(pick_key(lb, k, NULL), second);
            wp_lb_set_available(lb, first, true);
            /* Both tried: a third endpoint. */
            set_bit(tried, second);
            int third = pick_key(lb, k, tried);
            ck_assert_int_ne(third, first);
            ck_assert_int_ne(third, second);
        }
        /* Everything tried: the key's own endpoint again. */
        memset(tried, 0xff, sizeof tried);
        ck_assert_int_eq(pick_key(lb, 5, tried), pick_key(lb, 5, NULL));
        wp_lb_destroy(lb);
    }
}
END_TEST

START_TEST(hash_without_key_is_random)
{
    struct fixture f;
    int counts[10];
    make(&f, 10, WEIR_PC_LB_CONSISTENT_HASH, NULL, NULL);
    struct wp_lb *lb = create(&f, 4);
    struct wp_lb_context empty = {.hash_key = "", .hash_key_len = 0};
    count_picks(lb, NULL, 50000, counts, 10);
    for (int i = 0; i < 10; i++)
        assert_binomial(counts[i], 50000, 0.1, "no context");
    count_picks(lb, &empty, 50000, counts, 10);
    for (int i = 0; i < 10; i++)
        assert_binomial(counts[i], 50000, 0.1, "empty key");
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(hash_key_is_xxh64)
{
    /* XXH64("", seed 0), the published test vector: proxies and tools that
     * compute the hash elsewhere agree with this one. */
    ck_assert_uint_eq(wp_lb_hash_key("", 0), 0xEF46DB3751D8E999ULL);
}
END_TEST

START_TEST(table_sizes)
{
    struct wp_chash_ring r;
    struct wp_chash_maglev m;
    uint64_t ids[3] = {11, 22, 33};
    uint32_t w[3] = {1, 1, 2};
    size_t slots[3] = {0};

    /* 4 units of weight, 1024 minimum: 256 entries per unit. */
    ck_assert_int_eq(wp_chash_ring_build(&r, ids, w, 3, 1024), 0);
    ck_assert_uint_eq(r.len, 1024);
    ck_assert_uint_eq(r.per_weight, 256);
    for (size_t i = 1; i < r.len; i++)
        ck_assert(r.hashes[i - 1] <= r.hashes[i]);
    wp_chash_ring_free(&r);
    /* 1000 minimum: the next power of two per unit, 1024 again. */
    ck_assert_int_eq(wp_chash_ring_build(&r, ids, w, 3, 1000), 0);
    ck_assert_uint_eq(r.len, 1024);
    wp_chash_ring_free(&r);
    ck_assert_int_eq(wp_chash_ring_build(&r, ids, w, 3, 1), 0);
    ck_assert_uint_eq(r.len, 4);
    wp_chash_ring_free(&r);

    ck_assert_int_eq(wp_chash_maglev_build(&m, ids, w, 3, 65537), 0);
    for (size_t s = 0; s < m.len; s++) {
        ck_assert_uint_lt(m.slots[s], 3);
        slots[m.slots[s]]++;
    }
    ck_assert_uint_le(labs((long)slots[2] - 65537 / 2), 2);
    ck_assert_uint_le(labs((long)slots[0] - 65537 / 4), 2);
    wp_chash_maglev_free(&m);
    ck_assert_int_eq(wp_chash_maglev_build(&m, ids, w, 3, 65536), -1);

    struct fixture f;
    struct wp_lb_options bad = {.table = WP_LB_TABLE_MAGLEV, .table_size = 1000};
    make(&f, 3, WEIR_PC_LB_CONSISTENT_HASH, NULL, NULL);
    ck_assert_ptr_null(wp_lb_create_with(&f.c, 1, &bad));
    struct wp_lb_options small = {.table = WP_LB_TABLE_MAGLEV, .table_size = 2};
    struct wp_lb *lb = wp_lb_create_with(&f.c, 1, &small);
    ck_assert_ptr_nonnull(lb);
    /* More endpoints than slots: the one without a slot is still reachable
     * when the others are gone. */
    wp_lb_set_available(lb, 0, false);
    wp_lb_set_available(lb, 1, false);
    wp_lb_set_available(lb, 2, false);
    for (int i = 0; i < 3; i++) {
        wp_lb_set_available(lb, i, true);
        ck_assert_int_eq(pick_key(lb, 1, NULL), i);
        wp_lb_set_available(lb, i, false);
    }
    wp_lb_destroy(lb);
}
END_TEST

/* ---- with the config loader ---- */

START_TEST(clusters_of_the_example)
{
    struct weir_proxy_config *cfg = NULL;
    struct weir_diags diags;
    weir_diags_init(&diags);
    ck_assert_int_eq(weir_proxy_config_load_file(WEIR_EXAMPLES_DIR "/bookinfo.json", &cfg, &diags),
                     0);
    ck_assert_uint_gt(cfg->n_clusters, 0);
    bool saw_hash = false;
    for (size_t i = 0; i < cfg->n_clusters; i++) {
        const struct weir_pc_cluster *c = &cfg->clusters[i];
        struct wp_lb *lb = wp_lb_create(c, i);
        struct wp_lb_context ctx = {.hash_key = "session-1", .hash_key_len = 9};
        ck_assert_ptr_nonnull(lb);
        saw_hash |= c->load_balancer.policy == WEIR_PC_LB_CONSISTENT_HASH;
        bool servable = false;
        for (size_t j = 0; j < c->n_endpoints; j++)
            servable |= c->endpoints[j].health != WEIR_PC_UNHEALTHY;
        for (int k = 0; k < 100; k++) {
            int e = wp_lb_pick(lb, &ctx);
            if (c->load_balancer.policy == WEIR_PC_LB_PASSTHROUGH || !servable) {
                ck_assert_int_eq(e, -1);
            } else {
                ck_assert(e >= 0 && (size_t)e < c->n_endpoints);
                ck_assert_int_ne(c->endpoints[e].health, WEIR_PC_UNHEALTHY);
            }
        }
        wp_lb_destroy(lb);
    }
    ck_assert(saw_hash);
    weir_proxy_config_free(cfg);
    weir_diags_free(&diags);
}
END_TEST

static Suite *lb_suite(void)
{
    Suite *s = suite_create("proxy/lb");
    TCase *t = tcase_create("shared");
    tcase_add_test(t, zero_endpoints);
    tcase_add_test(t, single_endpoint);
    tcase_add_test(t, passthrough_never_picks);
    tcase_add_test(t, all_unavailable);
    tcase_add_test(t, health_tiers);
    tcase_add_test(t, panic_ignores_ejection);
    tcase_add_test(t, tried_are_avoided);
    tcase_add_test(t, tried_ignores_other_tiers);
    tcase_add_test(t, deterministic_given_seed);
    suite_add_tcase(s, t);

    t = tcase_create("round_robin");
    tcase_add_test(t, round_robin_equal_weights_exact);
    tcase_add_test(t, round_robin_weighted_exact_per_cycle);
    tcase_add_test(t, round_robin_weighted_is_smooth);
    tcase_add_test(t, round_robin_seeds_spread_workers);
    tcase_add_test(t, round_robin_skips_ejected);
    suite_add_tcase(s, t);

    t = tcase_create("random");
    tcase_add_test(t, random_weighted_within_tolerance);
    tcase_add_test(t, random_weighted_with_tried);
    suite_add_tcase(s, t);

    t = tcase_create("least_request");
    tcase_add_test(t, least_request_prefers_less_loaded);
    tcase_add_test(t, least_request_closed_loop);
    tcase_add_test(t, least_request_weighted);
    suite_add_tcase(s, t);

    t = tcase_create("consistent_hash");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, ring_stable_and_minimal_remap);
    tcase_add_test(t, maglev_stable_and_minimal_remap);
    tcase_add_test(t, hash_weights);
    tcase_add_test(t, hash_tried_moves_to_next);
    tcase_add_test(t, hash_without_key_is_random);
    tcase_add_test(t, hash_key_is_xxh64);
    tcase_add_test(t, table_sizes);
    suite_add_tcase(s, t);

    t = tcase_create("config");
    tcase_add_test(t, clusters_of_the_example);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lb_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
