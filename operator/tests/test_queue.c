/* The work queue's guarantees (operator/queue.h), on a test clock. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "fake_api.h"
#include "queue.h"

static double fake_now;

static double fake_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

static struct weir_op_queue *new_queue(void)
{
    struct weir_op_queue_options o = {.clock = fake_clock, .seed = 42};
    struct weir_op_queue *q;
    fake_now = 1000;
    ck_assert_int_eq(weir_op_queue_new(&o, &q), 0);
    return q;
}

/* Takes every ready key and returns them joined by spaces (sorted). */
static char *take(struct weir_op_queue *q, const char **keys, size_t *n)
{
    static char buf[1024];
    *n = weir_op_queue_get_batch(q, keys, 64, 0);
    buf[0] = '\0';
    for (size_t i = 0; i < *n; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, keys[i]);
    }
    return buf;
}

static void done_all(struct weir_op_queue *q, const char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        weir_op_queue_done(q, keys[i]);
}

START_TEST(test_dedup_and_batch)
{
    struct weir_op_queue *q = new_queue();
    const char *keys[64];
    size_t n;
    /* ten events for two namespaces: two keys, one batch, sorted */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(weir_op_queue_add(q, "web"), 0);
        ck_assert_int_eq(weir_op_queue_add(q, "api"), 0);
    }
    ck_assert_uint_eq(weir_op_queue_len(q), 2);
    ck_assert_str_eq(take(q, keys, &n), "api web");
    ck_assert_uint_eq(weir_op_queue_len(q), 0);
    done_all(q, keys, n);
    ck_assert_str_eq(take(q, keys, &n), "");
    weir_op_queue_free(q);
}
END_TEST

START_TEST(test_batch_limit)
{
    struct weir_op_queue *q = new_queue();
    const char *keys[4];
    char name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "ns-%d", i);
        weir_op_queue_add(q, name);
    }
    size_t n = weir_op_queue_get_batch(q, keys, 4, 0);
    ck_assert_uint_eq(n, 4);
    /* FIFO: the first four added */
    ck_assert_str_eq(keys[0], "ns-0");
    ck_assert_str_eq(keys[3], "ns-3");
    ck_assert_uint_eq(weir_op_queue_len(q), 6);
    for (size_t i = 0; i < n; i++)
        weir_op_queue_done(q, keys[i]);
    weir_op_queue_free(q);
}
END_TEST

START_TEST(test_add_while_processing_requeues_after_done)
{
    struct weir_op_queue *q = new_queue();
    const char *keys[64];
    size_t n;
    weir_op_queue_add(q, "web");
    ck_assert_str_eq(take(q, keys, &n), "web");
    /* a change arrives while web is being reconciled: not handed out twice */
    weir_op_queue_add(q, "web");
    weir_op_queue_add(q, "web");
    ck_assert_str_eq(take(q, keys + 1, &n), "");
    /* but not lost either */
    weir_op_queue_done(q, keys[0]);
    ck_assert_str_eq(take(q, keys, &n), "web");
    done_all(q, keys, n);
    ck_assert_str_eq(take(q, keys, &n), "");
    ck_assert_uint_eq(weir_op_queue_len(q), 0);
    weir_op_queue_free(q);
}
END_TEST

START_TEST(test_rate_limited_backoff_grows_and_forget_resets)
{
    struct weir_op_queue *q = new_queue();
    const char *keys[64];
    size_t n;
    double d, expect = 0.1;
    for (int attempt = 0; attempt < 12; attempt++) {
        ck_assert_int_eq(weir_op_queue_add_rate_limited(q, "web", &d), 0);
        /* equal jitter: within [d/2, d] of 0.1 * 2^n, capped at 60 s */
        double cap = expect > 60 ? 60 : expect;
        ck_assert_msg(d >= cap / 2 && d <= cap, "attempt %d: delay %g not in [%g, %g]", attempt, d,
                      cap / 2, cap);
        ck_assert_uint_eq(weir_op_queue_failures(q, "web"), (unsigned)attempt + 1);
        /* not before its time */
        fake_now += d * 0.99;
        ck_assert_str_eq(take(q, keys, &n), "");
        fake_now += d * 0.02;
        ck_assert_str_eq(take(q, keys, &n), "web");
        done_all(q, keys, n);
        expect *= 2;
    }
    weir_op_queue_forget(q, "web");
    ck_assert_uint_eq(weir_op_queue_failures(q, "web"), 0);
    weir_op_queue_add_rate_limited(q, "web", &d);
    ck_assert(d <= 0.1);
    fake_now += 0.1;
    ck_assert_str_eq(take(q, keys, &n), "web");
    done_all(q, keys, n);
    weir_op_queue_forget(q, "web");
    ck_assert_uint_eq(weir_op_queue_len(q), 0);
    weir_op_queue_free(q);
}
END_TEST

START_TEST(test_add_makes_a_waiting_key_ready)
{
    struct weir_op_queue *q = new_queue();
    const char *keys[64];
    size_t n;
    weir_op_queue_add_after(q, "web", 30);
    ck_assert_uint_eq(weir_op_queue_len(q), 1);
    ck_assert_str_eq(take(q, keys, &n), "");
    /* a new event is worth trying now, not in 30 s */
    weir_op_queue_add(q, "web");
    ck_assert_uint_eq(weir_op_queue_len(q), 1);
    ck_assert_str_eq(take(q, keys, &n), "web");
    done_all(q, keys, n);
    /* and the old timer does not bring it back */
    fake_now += 31;
    ck_assert_str_eq(take(q, keys, &n), "");
    ck_assert_uint_eq(weir_op_queue_len(q), 0);
    weir_op_queue_free(q);
}
END_TEST

START_TEST(test_earlier_delay_wins)
{
    struct weir_op_queue *q = new_queue();
    const char *keys[64];
    size_t n;
    weir_op_queue_add_after(q, "web", 10);
    weir_op_queue_add_after(q, "web", 2);
    weir_op_queue_add_after(q, "web", 5);
    fake_now += 2;
    ck_assert_str_eq(take(q, keys, &n), "web");
    done_all(q, keys, n);
    fake_now += 20;
    ck_assert_str_eq(take(q, keys, &n), "");
    weir_op_queue_free(q);
}
END_TEST

START_TEST(test_due_keys_in_time_order)
{
    struct weir_op_queue *q = new_queue();
    const char *keys[64];
    size_t n;
    weir_op_queue_add_after(q, "c", 3);
    weir_op_queue_add_after(q, "a", 1);
    weir_op_queue_add_after(q, "b", 2);
    ck_assert_uint_eq(weir_op_queue_len(q), 3);
    fake_now += 1.5;
    ck_assert_str_eq(take(q, keys, &n), "a");
    done_all(q, keys, n);
    fake_now += 10;
    ck_assert_str_eq(take(q, keys, &n), "b c");
    done_all(q, keys, n);
    weir_op_queue_free(q);
}
END_TEST

START_TEST(test_retry_during_processing)
{
    struct weir_op_queue *q = new_queue();
    const char *keys[64];
    size_t n;
    double d;
    weir_op_queue_add(q, "web");
    ck_assert_str_eq(take(q, keys, &n), "web");
    /* the worker's failure path: rate-limited add, then done */
    weir_op_queue_add_rate_limited(q, "web", &d);
    weir_op_queue_done(q, "web");
    ck_assert_str_eq(take(q, keys, &n), "");
    fake_now += d;
    ck_assert_str_eq(take(q, keys, &n), "web");
    done_all(q, keys, n);
    weir_op_queue_free(q);
}
END_TEST

static void *late_add(void *arg)
{
    fake_sleep_ms(100);
    weir_op_queue_add(arg, "late");
    return NULL;
}

START_TEST(test_blocking_get_wakes_on_add)
{
    struct weir_op_queue *q;
    const char *keys[4];
    pthread_t t;
    ck_assert_int_eq(weir_op_queue_new(NULL, &q), 0);
    pthread_create(&t, NULL, late_add, q);
    size_t n = weir_op_queue_get_batch(q, keys, 4, 5);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(keys[0], "late");
    weir_op_queue_done(q, keys[0]);
    pthread_join(t, NULL);
    weir_op_queue_free(q);
}
END_TEST

static void *late_shutdown(void *arg)
{
    fake_sleep_ms(100);
    weir_op_queue_shutdown(arg);
    return NULL;
}

START_TEST(test_shutdown_wakes_waiters)
{
    struct weir_op_queue *q;
    const char *keys[4];
    pthread_t t;
    ck_assert_int_eq(weir_op_queue_new(NULL, &q), 0);
    weir_op_queue_add_after(q, "later", 60);
    pthread_create(&t, NULL, late_shutdown, q);
    ck_assert_uint_eq(weir_op_queue_get_batch(q, keys, 4, 30), 0);
    pthread_join(t, NULL);
    ck_assert(weir_op_queue_is_shutdown(q));
    ck_assert_int_eq(weir_op_queue_add(q, "x"), 0);
    ck_assert_uint_eq(weir_op_queue_get_batch(q, keys, 4, 0), 0);
    weir_op_queue_free(q);
}
END_TEST

START_TEST(test_real_delay)
{
    struct weir_op_queue *q;
    const char *keys[4];
    ck_assert_int_eq(weir_op_queue_new(NULL, &q), 0);
    weir_op_queue_add_after(q, "soon", 0.2);
    ck_assert_uint_eq(weir_op_queue_get_batch(q, keys, 4, 0.05), 0);
    ck_assert_uint_eq(weir_op_queue_get_batch(q, keys, 4, 2), 1);
    weir_op_queue_done(q, keys[0]);
    weir_op_queue_free(q);
}
END_TEST

START_TEST(test_many_keys_churn)
{
    struct weir_op_queue *q = new_queue();
    const char *keys[64];
    char name[32];
    size_t total = 0;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 500; i++) {
            snprintf(name, sizeof(name), "ns-%d", (i * 7 + round) % 300);
            if (i % 3)
                weir_op_queue_add(q, name);
            else
                weir_op_queue_add_after(q, name, (i % 5) * 0.5);
        }
        fake_now += 3;
        size_t n;
        while ((n = weir_op_queue_get_batch(q, keys, 64, 0)) > 0) {
            total += n;
            for (size_t i = 0; i < n; i++) {
                if (i % 4 == 0)
                    weir_op_queue_add_rate_limited(q, keys[i], NULL);
                else
                    weir_op_queue_forget(q, keys[i]);
                weir_op_queue_done(q, keys[i]);
            }
        }
    }
    ck_assert(total >= 300);
    fake_now += 1e6;
    size_t n;
    while ((n = weir_op_queue_get_batch(q, keys, 64, 0)) > 0)
        for (size_t i = 0; i < n; i++) {
            weir_op_queue_forget(q, keys[i]);
            weir_op_queue_done(q, keys[i]);
        }
    ck_assert_uint_eq(weir_op_queue_len(q), 0);
    weir_op_queue_free(q);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator_queue");
    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, test_dedup_and_batch);
    tcase_add_test(tc, test_batch_limit);
    tcase_add_test(tc, test_add_while_processing_requeues_after_done);
    tcase_add_test(tc, test_rate_limited_backoff_grows_and_forget_resets);
    tcase_add_test(tc, test_add_makes_a_waiting_key_ready);
    tcase_add_test(tc, test_earlier_delay_wins);
    tcase_add_test(tc, test_due_keys_in_time_order);
    tcase_add_test(tc, test_retry_during_processing);
    tcase_add_test(tc, test_blocking_get_wakes_on_add);
    tcase_add_test(tc, test_shutdown_wakes_waiters);
    tcase_add_test(tc, test_real_delay);
    tcase_add_test(tc, test_many_keys_churn);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
