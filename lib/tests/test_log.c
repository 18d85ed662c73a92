#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static char *capture(enum weir_log_format fmt, enum weir_log_level threshold, void (*fn)(void))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    weir_log_setup("weir-test", fmt, threshold, mem);
    fn();
    fclose(mem);
    weir_log_setup("weir-test", WEIR_LOG_TEXT, WEIR_LOG_INFO, NULL);
    return buf;
}

static void log_one(void)
{
    weir_log(WEIR_LOG_INFO, "config written", "namespace", "default", "bytes", "512", NULL);
}

static void log_levels(void)
{
    weir_log(WEIR_LOG_DEBUG, "hidden", NULL);
    weir_log(WEIR_LOG_WARN, "shown", NULL);
    weir_logf(WEIR_LOG_ERROR, "failed %d times", 3);
}

static void log_awkward(void)
{
    weir_log(WEIR_LOG_INFO, "odd \"values\"", "path", "a b\nc", "none", NULL, NULL);
}

START_TEST(test_json_line)
{
    char *out = capture(WEIR_LOG_JSON, WEIR_LOG_DEBUG, log_one);
    json_error_t err;
    /* exactly one line */
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
    json_t *j = json_loads(out, 0, &err);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "level")), "info");
    ck_assert_str_eq(json_string_value(json_object_get(j, "component")), "weir-test");
    ck_assert_str_eq(json_string_value(json_object_get(j, "msg")), "config written");
    ck_assert_str_eq(json_string_value(json_object_get(j, "namespace")), "default");
    ck_assert_str_eq(json_string_value(json_object_get(j, "bytes")), "512");
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(j, "ts"))), 24);
    json_decref(j);
    free(out);
}
END_TEST

START_TEST(test_levels_filter)
{
    char *out = capture(WEIR_LOG_TEXT, WEIR_LOG_INFO, log_levels);
    ck_assert_ptr_null(strstr(out, "hidden"));
    ck_assert_ptr_nonnull(strstr(out, " warn  weir-test: shown\n"));
    ck_assert_ptr_nonnull(strstr(out, " error weir-test: failed 3 times\n"));
    free(out);
}
END_TEST

START_TEST(test_text_escapes_values)
{
    char *out = capture(WEIR_LOG_TEXT, WEIR_LOG_INFO, log_awkward);
    ck_assert_ptr_nonnull(strstr(out, "path=\"a b\\nc\" none=null\n"));
    /* one record, one line */
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);
}
END_TEST

START_TEST(test_parse_level)
{
    enum weir_log_level l;
    ck_assert_int_eq(weir_log_parse_level("debug", &l), 0);
    ck_assert_int_eq(l, WEIR_LOG_DEBUG);
    ck_assert_int_eq(weir_log_parse_level("warning", &l), 0);
    ck_assert_int_eq(l, WEIR_LOG_WARN);
    ck_assert_int_eq(weir_log_parse_level("loud", &l), -1);
    enum weir_log_format f;
    ck_assert_int_eq(weir_log_parse_format("json", &f), 0);
    ck_assert_int_eq(f, WEIR_LOG_JSON);
    ck_assert_int_eq(weir_log_parse_format("xml", &f), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, test_json_line);
    tcase_add_test(tc, test_levels_filter);
    tcase_add_test(tc, test_text_escapes_values);
    tcase_add_test(tc, test_parse_level);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
