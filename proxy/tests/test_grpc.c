/*
 * The grpc-timeout reader and writer (http/grpc.c): every unit, rounding of the
 * sub-millisecond units, the 8-digit bound, and the malformed forms that leave the
 * route timeout in charge.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/grpc.h"

static int64_t parse(const char *s)
{
    return wp_grpc_timeout_parse(s, strlen(s));
}

START_TEST(units)
{
    ck_assert_int_eq(parse("1H"), 3600000);
    ck_assert_int_eq(parse("2M"), 120000);
    ck_assert_int_eq(parse("3S"), 3000);
    ck_assert_int_eq(parse("250m"), 250);
    ck_assert_int_eq(parse("1500u"), 2); /* 1.5 ms rounds up */
    ck_assert_int_eq(parse("1000u"), 1);
    ck_assert_int_eq(parse("1u"), 1);
    ck_assert_int_eq(parse("1n"), 1);
    ck_assert_int_eq(parse("2000001n"), 3);
    ck_assert_int_eq(parse("00000300m"), 300); /* 8 digits, leading zeros */
    ck_assert_int_eq(parse("99999999m"), 99999999);
    /* beyond what a deadline can be armed for: clamped, not refused */
    ck_assert_int_eq(parse("99999999H"), WP_GRPC_TIMEOUT_MAX_MS);
    ck_assert_int_eq(parse("597H"), WP_GRPC_TIMEOUT_MAX_MS);
    ck_assert_int_eq(parse("596H"), INT64_C(596) * 3600000);
}
END_TEST

START_TEST(malformed)
{
    static const char *const bad[] = {
        "",    "S",  "10", "5s",  "5ms",  "123456789S", "-5S", "+5S",   " 5S",    "5S ",
        "5 S", "0S", "0m", "00n", "1.5S", "5h",         "5x",  "0x10m", "5\x00S", "５S",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse(bad[i]) == -1, "\"%s\" must be refused", bad[i]);
    /* the length is what counts, not a terminator */
    ck_assert_int_eq(wp_grpc_timeout_parse("5S", 1), -1);
    ck_assert_int_eq(wp_grpc_timeout_parse("5Sxyz", 2), 5000);
    ck_assert_int_eq(wp_grpc_timeout_parse(NULL, 0), -1);
}
END_TEST

START_TEST(format)
{
    char out[16];
    ck_assert_int_eq(wp_grpc_timeout_format(300, out, sizeof(out)), 4);
    ck_assert_str_eq(out, "300m");
    wp_grpc_timeout_format(0, out, sizeof(out));
    ck_assert_str_eq(out, "1m");
    wp_grpc_timeout_format(99999999, out, sizeof(out));
    ck_assert_str_eq(out, "99999999m");
    wp_grpc_timeout_format(100000001, out, sizeof(out));
    ck_assert_str_eq(out, "100001S");
    wp_grpc_timeout_format(WP_GRPC_TIMEOUT_MAX_MS, out, sizeof(out));
    ck_assert_str_eq(out, "2147484S");
    /* what is written reads back as at least the same deadline */
    for (int64_t ms = 1; ms < WP_GRPC_TIMEOUT_MAX_MS; ms = ms * 7 + 3) {
        size_t n = wp_grpc_timeout_format(ms, out, sizeof(out));
        ck_assert_int_ge(wp_grpc_timeout_parse(out, n), ms);
        ck_assert_int_lt(wp_grpc_timeout_parse(out, n), ms + 1000);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grpc");
    TCase *tc = tcase_create("timeout");
    tcase_add_test(tc, units);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
