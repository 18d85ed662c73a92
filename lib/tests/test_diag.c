#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"

START_TEST(test_format_full)
{
    struct weir_diags d;
    weir_diags_init(&d);
    ck_assert_int_eq(weir_diags_add(&d, WEIR_SEV_ERROR, "VirtualService default/reviews", "a.yaml",
                                    12, "spec.http[1].route[0].weight",
                                    "weights must sum to 100, got %d", 140),
                     0);
    char *s = weir_diag_format(&d.items[0]);
    ck_assert_str_eq(s, "VirtualService default/reviews: spec.http[1].route[0].weight: weights "
                        "must sum to 100, got 140");
    ck_assert_int_eq(d.items[0].line, 12);
    ck_assert_str_eq(d.items[0].source, "a.yaml");
    ck_assert(weir_diags_has_errors(&d));
    free(s);
    weir_diags_free(&d);
}
END_TEST

START_TEST(test_format_without_path_or_object)
{
    struct weir_diags d;
    weir_diags_init(&d);
    weir_diags_add(&d, WEIR_SEV_WARNING, NULL, NULL, 0, NULL, "plain");
    weir_diags_add(&d, WEIR_SEV_UNSUPPORTED, "X a/b", NULL, 0, "", "no path");
    char *a = weir_diag_format(&d.items[0]);
    char *b = weir_diag_format(&d.items[1]);
    ck_assert_str_eq(a, "plain");
    ck_assert_str_eq(b, "X a/b: no path");
    ck_assert(!weir_diags_has_errors(&d));
    ck_assert_uint_eq(weir_diags_count(&d, WEIR_SEV_WARNING), 1);
    ck_assert_uint_eq(weir_diags_count(&d, WEIR_SEV_UNSUPPORTED), 1);
    free(a);
    free(b);
    weir_diags_free(&d);
}
END_TEST

START_TEST(test_limit_truncates)
{
    struct weir_diags d;
    weir_diags_init(&d);
    for (int i = 0; i < WEIR_DIAGS_MAX + 10; i++)
        weir_diags_add(&d, WEIR_SEV_WARNING, NULL, NULL, 0, NULL, "n%d", i);
    ck_assert_uint_eq(d.len, WEIR_DIAGS_MAX);
    ck_assert(d.truncated);
    /* a truncated list counts as failed: something may have been lost */
    ck_assert(weir_diags_has_errors(&d));
    weir_diags_free(&d);
}
END_TEST

START_TEST(test_full_list_keeps_errors)
{
    struct weir_diags d;
    weir_diags_init(&d);
    for (int i = 0; i < WEIR_DIAGS_MAX; i++)
        weir_diags_add(&d, WEIR_SEV_UNSUPPORTED, NULL, NULL, 0, NULL, "u%d", i);
    ck_assert_int_eq(weir_diags_add(&d, WEIR_SEV_ERROR, "o", NULL, 0, "p", "the reason"), 0);
    ck_assert_uint_eq(d.len, WEIR_DIAGS_MAX);
    ck_assert_uint_eq(weir_diags_count(&d, WEIR_SEV_ERROR), 1);
    ck_assert_str_eq(d.items[d.len - 1].message, "the reason");
    ck_assert(d.truncated);
    weir_diags_free(&d);
}
END_TEST

START_TEST(test_invalid_utf8_is_replaced)
{
    struct weir_diags d;
    weir_diags_init(&d);
    /* a two-byte character cut in half, then a stray continuation byte */
    weir_diags_add(&d, WEIR_SEV_ERROR, "X ns/caf\xc3", NULL, 0,
                   "a\x80"
                   "b",
                   "bad \xff value");
    ck_assert_str_eq(d.items[0].object, "X ns/caf?");
    ck_assert_str_eq(d.items[0].path, "a?b");
    ck_assert_str_eq(d.items[0].message, "bad ? value");
    weir_diags_add(&d, WEIR_SEV_ERROR, "caf\xc3\xa9", NULL, 0, NULL, "ok");
    ck_assert_str_eq(d.items[1].object, "caf\xc3\xa9");
    weir_diags_free(&d);
}
END_TEST

START_TEST(test_move)
{
    struct weir_diags a, b;
    weir_diags_init(&a);
    weir_diags_init(&b);
    weir_diags_add(&a, WEIR_SEV_ERROR, "o", NULL, 0, "p", "one");
    weir_diags_add(&b, WEIR_SEV_ERROR, "o", NULL, 0, "q", "two");
    weir_diags_move(&a, &b);
    ck_assert_uint_eq(a.len, 2);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(a.items[1].message, "two");
    weir_diags_free(&a);
    weir_diags_free(&b);
}
END_TEST

START_TEST(test_path_builder)
{
    struct weir_path p;
    weir_path_init(&p);
    weir_path_push_key(&p, "spec");
    weir_path_push_key(&p, "http");
    weir_path_push_index(&p, 1);
    weir_path_push_key(&p, "route");
    weir_path_push_index(&p, 0);
    ck_assert_str_eq(weir_path_str(&p), "spec.http[1].route[0]");
    weir_path_pop(&p);
    weir_path_pop(&p);
    weir_path_push_key(&p, "headers");
    weir_path_push_key(&p, "x-user.id");
    ck_assert_str_eq(weir_path_str(&p), "spec.http[1].headers[\"x-user.id\"]");
    weir_path_pop(&p);
    weir_path_pop(&p);
    weir_path_pop(&p);
    weir_path_pop(&p);
    ck_assert_str_eq(weir_path_str(&p), "spec");
    weir_path_pop(&p);
    weir_path_pop(&p); /* popping an empty path is harmless */
    ck_assert_str_eq(weir_path_str(&p), "");
}
END_TEST

START_TEST(test_path_overflow_is_bounded)
{
    struct weir_path p;
    char key[100];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    weir_path_init(&p);
    for (int i = 0; i < 200; i++)
        weir_path_push_key(&p, key);
    ck_assert(p.overflow);
    ck_assert_uint_lt(strlen(weir_path_str(&p)), WEIR_PATH_MAX);
    ck_assert_ptr_nonnull(strstr(weir_path_str(&p), "..."));
    for (int i = 0; i < 200; i++)
        weir_path_pop(&p);
    ck_assert_str_eq(weir_path_str(&p), "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diag");
    TCase *tc = tcase_create("diag");
    tcase_add_test(tc, test_format_full);
    tcase_add_test(tc, test_format_without_path_or_object);
    tcase_add_test(tc, test_limit_truncates);
    tcase_add_test(tc, test_move);
    tcase_add_test(tc, test_full_list_keeps_errors);
    tcase_add_test(tc, test_invalid_utf8_is_replaced);
    tcase_add_test(tc, test_path_builder);
    tcase_add_test(tc, test_path_overflow_is_bounded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
