#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "kube/backoff.h"
#include "kube/ratelimit.h"

#define EPS 1e-9

START_TEST(test_burst_then_steady_rate)
{
    struct weir_kube_ratelimit rl;
    weir_kube_ratelimit_init(&rl, 20, 30, 100.0);
    /* A full bucket lets the burst through at once. */
    for (int i = 0; i < 30; i++)
        ck_assert_double_eq_tol(weir_kube_ratelimit_reserve(&rl, 100.0), 0, EPS);
    /* Then each request waits 1/qps more than the one before. */
    for (int i = 1; i <= 10; i++)
        ck_assert_double_eq_tol(weir_kube_ratelimit_reserve(&rl, 100.0), i / 20.0, EPS);
    weir_kube_ratelimit_destroy(&rl);
}
END_TEST

START_TEST(test_refill_is_capped_at_burst)
{
    struct weir_kube_ratelimit rl;
    weir_kube_ratelimit_init(&rl, 10, 5, 0.0);
    for (int i = 0; i < 5; i++)
        weir_kube_ratelimit_reserve(&rl, 0.0);
    /* An hour idle refills to the burst, not to 36000 tokens. */
    for (int i = 0; i < 5; i++)
        ck_assert_double_eq_tol(weir_kube_ratelimit_reserve(&rl, 3600.0), 0, EPS);
    ck_assert_double_eq_tol(weir_kube_ratelimit_reserve(&rl, 3600.0), 0.1, EPS);
    weir_kube_ratelimit_destroy(&rl);
}
END_TEST

START_TEST(test_partial_refill)
{
    struct weir_kube_ratelimit rl;
    weir_kube_ratelimit_init(&rl, 4, 1, 0.0);
    ck_assert_double_eq_tol(weir_kube_ratelimit_reserve(&rl, 0.0), 0, EPS);
    /* 0.125 s later half a token is back: wait the other 0.125 s. */
    ck_assert_double_eq_tol(weir_kube_ratelimit_reserve(&rl, 0.125), 0.125, EPS);
    /* The clock going backwards refills nothing and breaks nothing. */
    ck_assert_double_eq_tol(weir_kube_ratelimit_reserve(&rl, 0.0), 0.375, EPS);
    weir_kube_ratelimit_destroy(&rl);
}
END_TEST

START_TEST(test_sustained_rate_matches_qps)
{
    struct weir_kube_ratelimit rl;
    double t = 0, last_start = 0;
    weir_kube_ratelimit_init(&rl, 20, 30, 0.0);
    /* 1000 callers arriving together start over 1000-30 token periods. */
    for (int i = 0; i < 1000; i++) {
        double w = weir_kube_ratelimit_reserve(&rl, t);
        last_start = t + w;
    }
    ck_assert_double_eq_tol(last_start, (1000 - 30) / 20.0, 1e-6);
    weir_kube_ratelimit_destroy(&rl);
}
END_TEST

START_TEST(test_unlimited)
{
    struct weir_kube_ratelimit rl;
    weir_kube_ratelimit_init(&rl, -1, 1, 0.0);
    for (int i = 0; i < 1000; i++)
        ck_assert_double_eq(weir_kube_ratelimit_reserve(&rl, 0.0), 0);
    weir_kube_ratelimit_destroy(&rl);
}
END_TEST

START_TEST(test_wait_really_waits)
{
    struct weir_kube_ratelimit rl;
    double t0 = weir_kube_monotonic();
    weir_kube_ratelimit_init(&rl, 50, 1, t0);
    for (int i = 0; i < 6; i++)
        weir_kube_ratelimit_wait(&rl);
    double took = weir_kube_monotonic() - t0;
    /* five waits of 20 ms */
    ck_assert_msg(took >= 0.095 && took < 1.0, "took %f", took);
    weir_kube_ratelimit_destroy(&rl);
}
END_TEST

/* ---- backoff ---- */

START_TEST(test_backoff_bounds)
{
    struct weir_kube_backoff b;
    weir_kube_backoff_init(&b, 0.8, 30, 2, 42);
    double cap = 0.8;
    for (unsigned n = 0; n < 200; n++) {
        double d = weir_kube_backoff_next(&b);
        ck_assert_msg(d >= cap / 2 - EPS && d <= cap + EPS, "attempt %u: %f not in [%f, %f]", n, d,
                      cap / 2, cap);
        ck_assert(d <= 30 + EPS);
        cap = fmin(cap * 2, 30);
    }
    weir_kube_backoff_reset(&b);
    double d = weir_kube_backoff_next(&b);
    ck_assert(d >= 0.4 - EPS && d <= 0.8 + EPS);
}
END_TEST

START_TEST(test_backoff_delay_rule)
{
    struct weir_kube_backoff b;
    weir_kube_backoff_init(&b, 1, 10, 3, 1);
    ck_assert_double_eq_tol(weir_kube_backoff_delay(&b, 0, 0), 0.5, EPS);
    ck_assert_double_eq_tol(weir_kube_backoff_delay(&b, 0, 0.999999), 1.0, 1e-5);
    ck_assert_double_eq_tol(weir_kube_backoff_delay(&b, 1, 0), 1.5, EPS);
    ck_assert_double_eq_tol(weir_kube_backoff_delay(&b, 2, 0), 4.5, EPS);
    ck_assert_double_eq_tol(weir_kube_backoff_delay(&b, 3, 0), 5, EPS); /* capped at 10 */
    ck_assert_double_eq_tol(weir_kube_backoff_delay(&b, 4000000000u, 0.5), 7.5, EPS);
    /* out-of-range u is clamped */
    ck_assert_double_eq_tol(weir_kube_backoff_delay(&b, 0, -3), 0.5, EPS);
    ck_assert(weir_kube_backoff_delay(&b, 0, 7) <= 1.0);
}
END_TEST

START_TEST(test_backoff_jitter_spreads)
{
    struct weir_kube_backoff b;
    double lo = 1e9, hi = 0;
    weir_kube_backoff_init(&b, 8, 8, 2, 7);
    for (int i = 0; i < 1000; i++) {
        double d = weir_kube_backoff_next(&b);
        lo = fmin(lo, d);
        hi = fmax(hi, d);
    }
    /* the whole [4, 8] band is used, not one value */
    ck_assert(lo < 4.2 && hi > 7.8);
}
END_TEST

START_TEST(test_backoff_defaults)
{
    struct weir_kube_backoff b;
    weir_kube_backoff_init(&b, 0, 0, 0, 0);
    ck_assert_double_eq(b.initial, WEIR_KUBE_BACKOFF_INITIAL);
    ck_assert_double_eq(b.max, WEIR_KUBE_BACKOFF_MAX);
    ck_assert_double_eq(b.factor, WEIR_KUBE_BACKOFF_FACTOR);
    ck_assert(b.rng != 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_ratelimit");
    TCase *tc = tcase_create("ratelimit");
    tcase_add_test(tc, test_burst_then_steady_rate);
    tcase_add_test(tc, test_refill_is_capped_at_burst);
    tcase_add_test(tc, test_partial_refill);
    tcase_add_test(tc, test_sustained_rate_matches_qps);
    tcase_add_test(tc, test_unlimited);
    tcase_add_test(tc, test_wait_really_waits);
    suite_add_tcase(s, tc);
    TCase *bo = tcase_create("backoff");
    tcase_add_test(bo, test_backoff_bounds);
    tcase_add_test(bo, test_backoff_delay_rule);
    tcase_add_test(bo, test_backoff_jitter_spreads);
    tcase_add_test(bo, test_backoff_defaults);
    suite_add_tcase(s, bo);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
