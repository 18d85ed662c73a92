/* Unit tests of the circuit-breaker accounting (upstream/limits) and of outlier
 * detection (upstream/outlier) driving a real balancer, without an event loop. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "lb/balancer.h"
#include "upstream/limits.h"
#include "upstream/outlier.h"

#define UNLIMITED 4294967295LL

static struct weir_pc_connection_pool pool(int64_t conns, int64_t pending, int64_t rqs,
                                           int64_t retries)
{
    struct weir_pc_connection_pool cp = {0};
    cp.max_connections = conns;
    cp.http1_max_pending_requests = pending;
    cp.http2_max_requests = rqs;
    cp.max_retries = retries;
    return cp;
}

struct waiter {
    struct wp_limit_waiter wt;
    int woken;
};

static void wake(struct wp_limit_waiter *wt)
{
    ((struct waiter *)wt)->woken++;
}

START_TEST(connections_queue_then_overflow)
{
    struct weir_pc_connection_pool cp = pool(1, 2, UNLIMITED, UNLIMITED);
    struct wp_cluster_limits l;
    struct waiter w[4] = {
        {{.wake = wake}, 0}, {{.wake = wake}, 0}, {{.wake = wake}, 0}, {{.wake = wake}, 0}};
    wp_limits_init(&l, &cp);
    ck_assert_int_eq(wp_limits_connection_begin(&l, &w[0].wt), WP_LIMIT_GRANTED);
    ck_assert_int_eq(wp_limits_connection_begin(&l, &w[1].wt), WP_LIMIT_QUEUED);
    ck_assert_int_eq(wp_limits_connection_begin(&l, &w[2].wt), WP_LIMIT_QUEUED);
    ck_assert_int_eq(wp_limits_connection_begin(&l, &w[3].wt), WP_LIMIT_OVERFLOW);
    ck_assert_uint_eq(l.pending, 2);
    /* FIFO: the first waiter gets the slot, reserved before its wake */
    wp_limits_connection_end(&l);
    ck_assert_int_eq(w[1].woken, 1);
    ck_assert_int_eq(w[2].woken, 0);
    ck_assert_uint_eq(l.connections, 1);
    ck_assert_uint_eq(l.pending, 1);
    /* a waiter that gives up leaves the queue; cancelling twice is harmless */
    wp_limits_cancel(&l, &w[2].wt);
    wp_limits_cancel(&l, &w[2].wt);
    ck_assert_uint_eq(l.pending, 0);
    wp_limits_connection_end(&l);
    ck_assert_int_eq(w[2].woken, 0);
    ck_assert_uint_eq(l.connections, 0);
}
END_TEST

START_TEST(requests_and_retries)
{
    struct weir_pc_connection_pool cp = pool(UNLIMITED, UNLIMITED, 2, 1);
    struct wp_cluster_limits l;
    wp_limits_init(&l, &cp);
    ck_assert(wp_limits_request_begin(&l));
    ck_assert(wp_limits_request_begin(&l));
    ck_assert(!wp_limits_request_begin(&l));
    wp_limits_request_end(&l);
    ck_assert(wp_limits_request_begin(&l));
    ck_assert(wp_limits_retry_begin(&l));
    ck_assert(!wp_limits_retry_begin(&l));
    wp_limits_retry_end(&l);
    wp_limits_retry_end(&l); /* never below zero */
    ck_assert_uint_eq(l.retries, 0);
}
END_TEST

/* HTTP/2 exchanges waiting for their connection share http1MaxPendingRequests
 * with the HTTP/1.1 queue. */
START_TEST(h2_pending)
{
    struct weir_pc_connection_pool cp = pool(1, 3, UNLIMITED, UNLIMITED);
    struct wp_cluster_limits l;
    struct waiter w[2] = {{{.wake = wake}, 0}, {{.wake = wake}, 0}};
    wp_limits_init(&l, &cp);
    ck_assert(wp_limits_pending_begin(&l));
    ck_assert(wp_limits_pending_begin(&l));
    ck_assert_int_eq(wp_limits_connection_begin(&l, &w[0].wt), WP_LIMIT_GRANTED);
    ck_assert_int_eq(wp_limits_connection_begin(&l, &w[1].wt), WP_LIMIT_QUEUED);
    ck_assert(!wp_limits_pending_begin(&l)); /* 2 connecting + 1 queued */
    wp_limits_pending_end(&l);
    ck_assert(wp_limits_pending_begin(&l));
    wp_limits_pending_end(&l);
    wp_limits_pending_end(&l);
    wp_limits_connection_end(&l); /* the queued one gets the connection */
    ck_assert_int_eq(w[1].woken, 1);
    ck_assert_uint_eq(l.pending, 0);
    wp_limits_pending_end(&l); /* never below zero */
    ck_assert_uint_eq(l.pending, 0);
    /* no pool settings: never refused */
    wp_limits_init(&l, NULL);
    for (int i = 0; i < 100; i++)
        ck_assert(wp_limits_pending_begin(&l));
}
END_TEST

struct fixture {
    struct weir_pc_cluster c;
    struct weir_pc_endpoint ep[4];
    char addr[4][32];
    struct weir_pc_outlier_detection od;
};

static void make(struct fixture *f, int n, uint32_t max_percent)
{
    memset(f, 0, sizeof(*f));
    f->c.name = "outbound|80||o.default.svc.cluster.local";
    f->c.endpoints = f->ep;
    f->c.n_endpoints = (size_t)n;
    f->c.load_balancer.policy = WEIR_PC_LB_ROUND_ROBIN;
    for (int i = 0; i < n; i++) {
        snprintf(f->addr[i], sizeof(f->addr[i]), "10.0.0.%d", i);
        f->ep[i].address = f->addr[i];
        f->ep[i].port = 80;
        f->ep[i].weight = 1;
        f->ep[i].health = WEIR_PC_HEALTHY;
    }
    f->od.consecutive_5xx = 3;
    f->od.consecutive_gateway_errors = 0;
    f->od.interval_ms = 1000;
    f->od.base_ejection_time_ms = 2000;
    f->od.max_ejection_percent = max_percent;
    f->c.outlier_detection = &f->od;
}

START_TEST(eject_and_return)
{
    struct fixture f;
    _Atomic uint64_t ejections = 0;
    struct wp_lb *lb;
    struct wp_outlier *o;
    make(&f, 2, 100);
    lb = wp_lb_create(&f.c, 1);
    o = wp_outlier_new(NULL, &f.c, lb, &ejections);
    ck_assert_ptr_nonnull(o);
    /* a success between failures resets the count */
    ck_assert(!wp_outlier_report(o, 1, 500, 0));
    ck_assert(!wp_outlier_report(o, 1, 503, 0));
    ck_assert(!wp_outlier_report(o, 1, 200, 0));
    ck_assert(!wp_outlier_report(o, 1, 500, 0));
    ck_assert(!wp_outlier_report(o, 1, WP_OUTLIER_LOCAL_FAILURE, 0));
    ck_assert(wp_outlier_report(o, 1, 502, 1000));
    ck_assert(wp_outlier_ejected(o, 1));
    ck_assert_uint_eq(ejections, 1);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(wp_lb_pick(lb, &(struct wp_lb_context){0}), 0);
    /* base * 1 = 2 s after the ejection */
    wp_outlier_sweep(o, 1000 + 1999999);
    ck_assert(wp_outlier_ejected(o, 1));
    wp_outlier_sweep(o, 1000 + 2000000);
    ck_assert(!wp_outlier_ejected(o, 1));
    /* the second ejection lasts twice as long */
    for (int i = 0; i < 3; i++)
        wp_outlier_report(o, 1, 503, 5000000);
    ck_assert(wp_outlier_ejected(o, 1));
    wp_outlier_sweep(o, 5000000 + 3999999);
    ck_assert(wp_outlier_ejected(o, 1));
    wp_outlier_sweep(o, 5000000 + 4000000);
    ck_assert(!wp_outlier_ejected(o, 1));
    ck_assert_uint_eq(ejections, 2);
    wp_outlier_destroy(o);
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(gateway_errors)
{
    struct fixture f;
    struct wp_lb *lb;
    struct wp_outlier *o;
    make(&f, 2, 100);
    f.od.consecutive_5xx = 0;
    f.od.consecutive_gateway_errors = 2;
    lb = wp_lb_create(&f.c, 1);
    o = wp_outlier_new(NULL, &f.c, lb, NULL);
    ck_assert(!wp_outlier_report(o, 0, 502, 0));
    ck_assert(!wp_outlier_report(o, 0, 500, 0)); /* not a gateway error: resets */
    ck_assert(!wp_outlier_report(o, 0, 504, 0));
    ck_assert(wp_outlier_report(o, 0, 503, 0));
    wp_outlier_destroy(o);
    wp_lb_destroy(lb);
}
END_TEST

START_TEST(max_ejection_percent)
{
    struct fixture f;
    struct wp_lb *lb;
    struct wp_outlier *o;
    make(&f, 4, 50);
    lb = wp_lb_create(&f.c, 1);
    o = wp_outlier_new(NULL, &f.c, lb, NULL);
    for (int e = 0; e < 4; e++)
        for (int i = 0; i < 3; i++)
            wp_outlier_report(o, e, 500, 0);
    ck_assert_uint_eq(wp_outlier_n_ejected(o), 2);
    wp_outlier_destroy(o);
    wp_lb_destroy(lb);

    /* 10 % of 2 endpoints: still one may go (Envoy's floor); 0 %: none */
    make(&f, 2, 10);
    lb = wp_lb_create(&f.c, 1);
    o = wp_outlier_new(NULL, &f.c, lb, NULL);
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 3; i++)
            wp_outlier_report(o, e, 500, 0);
    ck_assert_uint_eq(wp_outlier_n_ejected(o), 1);
    wp_outlier_destroy(o);
    wp_lb_destroy(lb);
    make(&f, 2, 0);
    lb = wp_lb_create(&f.c, 1);
    o = wp_outlier_new(NULL, &f.c, lb, NULL);
    for (int i = 0; i < 3; i++)
        wp_outlier_report(o, 0, 500, 0);
    ck_assert_uint_eq(wp_outlier_n_ejected(o), 0);
    wp_outlier_destroy(o);
    wp_lb_destroy(lb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("circuit");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;
    tcase_add_test(tc, connections_queue_then_overflow);
    tcase_add_test(tc, requests_and_retries);
    tcase_add_test(tc, h2_pending);
    tcase_add_test(tc, eject_and_return);
    tcase_add_test(tc, gateway_errors);
    tcase_add_test(tc, max_ejection_percent);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
