#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/cache.h"
#include "kube/error.h"

static json_t *obj(const char *ns, const char *name, const char *rv)
{
    json_t *o = ns ? json_pack("{s:{s:s, s:s, s:s}}", "metadata", "namespace", ns, "name", name,
                               "resourceVersion", rv)
                   : json_pack("{s:{s:s, s:s}}", "metadata", "name", name, "resourceVersion", rv);
    ck_assert_ptr_nonnull(o);
    return o;
}

static const char *rv_of(const json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
}

START_TEST(test_keys)
{
    char key[WEIR_KUBE_KEY_MAX];
    json_t *a = obj("demo", "cm-1", "1"), *b = obj(NULL, "node-1", "1");
    json_t *nameless = json_pack("{s:{}}", "metadata");
    ck_assert_int_eq(weir_kube_object_key(a, key, sizeof(key)), 0);
    ck_assert_str_eq(key, "demo/cm-1");
    ck_assert_int_eq(weir_kube_object_key(b, key, sizeof(key)), 0);
    ck_assert_str_eq(key, "node-1");
    ck_assert_int_eq(weir_kube_object_key(nameless, key, sizeof(key)), WEIR_KUBE_ERR_INVALID);
    ck_assert_int_eq(weir_kube_object_key(a, key, 5), WEIR_KUBE_ERR_INVALID);
    json_decref(a);
    json_decref(b);
    json_decref(nameless);
}
END_TEST

START_TEST(test_add_update_delete)
{
    struct weir_kube_cache c;
    json_t *old = (json_t *)1;
    weir_kube_cache_init(&c);
    ck_assert_ptr_null(weir_kube_cache_get(&c, "demo/a"));
    ck_assert_ptr_null(weir_kube_cache_remove(&c, "demo/a"));

    json_t *a1 = obj("demo", "a", "1");
    ck_assert_int_eq(weir_kube_cache_put(&c, "demo/a", a1, &old), 0);
    ck_assert_ptr_null(old);
    ck_assert_int_eq(a1->refcount, 2); /* ours and the cache's */
    ck_assert_ptr_eq(weir_kube_cache_get(&c, "demo/a"), a1);
    ck_assert_uint_eq(weir_kube_cache_len(&c), 1);

    json_t *a2 = obj("demo", "a", "2");
    ck_assert_int_eq(weir_kube_cache_put(&c, "demo/a", a2, &old), 0);
    ck_assert_ptr_eq(old, a1); /* the replaced object comes back with the cache's reference */
    json_decref(old);
    ck_assert_int_eq(a1->refcount, 1);
    ck_assert_str_eq(rv_of(weir_kube_cache_get(&c, "demo/a")), "2");
    ck_assert_uint_eq(weir_kube_cache_len(&c), 1);

    json_t *gone = weir_kube_cache_remove(&c, "demo/a");
    ck_assert_ptr_eq(gone, a2);
    json_decref(gone);
    ck_assert_uint_eq(weir_kube_cache_len(&c), 0);
    ck_assert_ptr_null(weir_kube_cache_get(&c, "demo/a"));
    ck_assert_int_eq(a2->refcount, 1);
    json_decref(a1);
    json_decref(a2);
    weir_kube_cache_free(&c);
}
END_TEST

START_TEST(test_snapshot_is_sorted_and_independent)
{
    struct weir_kube_cache c;
    json_t **items;
    size_t n;
    const char *names[] = {"m", "c", "x", "a", "k"};
    weir_kube_cache_init(&c);
    for (size_t i = 0; i < 5; i++) {
        json_t *o = obj("ns", names[i], "1");
        char key[64];
        snprintf(key, sizeof(key), "ns/%s", names[i]);
        ck_assert_int_eq(weir_kube_cache_put(&c, key, o, NULL), 0);
        json_decref(o);
    }
    ck_assert_int_eq(weir_kube_cache_snapshot(&c, &items, &n), 0);
    ck_assert_uint_eq(n, 5);
    const char *want[] = {"a", "c", "k", "m", "x"};
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(items[i], "metadata"), "name")),
            want[i]);
    /* The snapshot holds its own references: the cache can move on. */
    weir_kube_cache_free(&c);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(items[i]->refcount, 1);
    weir_kube_objects_free(items, n);

    weir_kube_cache_init(&c);
    ck_assert_int_eq(weir_kube_cache_snapshot(&c, &items, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(items);
    weir_kube_objects_free(items, n);
    weir_kube_cache_free(&c);
}
END_TEST

/* Random puts and removes checked against a plain array, through many
 * resizes and long probe runs, so backward-shift deletion is exercised. */
START_TEST(test_matches_a_reference_under_churn)
{
    enum { N = 3000 };
    static json_t *ref[N];
    struct weir_kube_cache c;
    unsigned seed = 12345;
    char key[32];
    weir_kube_cache_init(&c);
    memset(ref, 0, sizeof(ref));
    for (int step = 0; step < 60000; step++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % N);
        snprintf(key, sizeof(key), "ns%d/obj-%d", k % 7, k);
        if ((seed >> 28) % 3 == 0) {
            json_t *got = weir_kube_cache_remove(&c, key);
            ck_assert_ptr_eq(got, ref[k]);
            json_decref(got);
            json_decref(ref[k]);
            ref[k] = NULL;
        } else {
            char rv[16];
            snprintf(rv, sizeof(rv), "%d", step);
            json_t *o = obj("x", key, rv), *old = NULL;
            ck_assert_int_eq(weir_kube_cache_put(&c, key, o, &old), 0);
            ck_assert_ptr_eq(old, ref[k]);
            json_decref(old);
            json_decref(ref[k]);
            ref[k] = o;
        }
        if (step % 5000 == 0) {
            size_t live = 0;
            for (int i = 0; i < N; i++) {
                snprintf(key, sizeof(key), "ns%d/obj-%d", i % 7, i);
                ck_assert_ptr_eq(weir_kube_cache_get(&c, key), ref[i]);
                live += ref[i] != NULL;
            }
            ck_assert_uint_eq(weir_kube_cache_len(&c), live);
            ck_assert_uint_le(weir_kube_cache_len(&c) * 4, c.cap * 3);
        }
    }
    for (int i = 0; i < N; i++)
        json_decref(ref[i]);
    weir_kube_cache_free(&c);
}
END_TEST

static void count_entries(void *arg, const char *key, json_t *o)
{
    (void)key;
    (void)o;
    (*(int *)arg)++;
}

START_TEST(test_foreach)
{
    struct weir_kube_cache c;
    int n = 0;
    weir_kube_cache_init(&c);
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        json_t *o = obj(NULL, key, "1");
        weir_kube_cache_put(&c, key, o, NULL);
        json_decref(o);
    }
    weir_kube_cache_foreach(&c, count_entries, &n);
    ck_assert_int_eq(n, 100);
    weir_kube_cache_free(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_cache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_add_update_delete);
    tcase_add_test(tc, test_snapshot_is_sorted_and_independent);
    tcase_add_test(tc, test_matches_a_reference_under_churn);
    tcase_add_test(tc, test_foreach);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
