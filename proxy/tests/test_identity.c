/*
 * The workload identity: labels from --pod-labels and from a downward API
 * labels file as the kubelet writes it (key="value", Go-quoted, keys sorted,
 * no newline after the last line), and the workload name derived from them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/identity.h"

static char path[64];

static void write_file(const char *text)
{
    int fd;
    strcpy(path, "/tmp/weir-labels-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

START_TEST(downward_api_file)
{
    struct wp_identity id = {0};
    const char *err = NULL;
    write_file("app=\"reviews\"\n"
               "app.kubernetes.io/name=\"reviews-v1\"\n"
               "empty=\"\"\n"
               "note=\"say \\\"hi\\\" \\\\ ok\\n\\tend\"\n"
               "pod-template-hash=\"5d8f7c9b4\"\n"
               "unicode=\"caf\\u00e9 \\U0001f600 \\xff \\101\"");
    ck_assert_int_eq(wp_identity_read_labels_file(&id, path, &err), 0);
    unlink(path);
    ck_assert_uint_eq(id.labels.len, 6);
    ck_assert_str_eq(weir_string_map_get(&id.labels, "app"), "reviews");
    ck_assert_str_eq(weir_string_map_get(&id.labels, "app.kubernetes.io/name"), "reviews-v1");
    ck_assert_str_eq(weir_string_map_get(&id.labels, "empty"), "");
    ck_assert_str_eq(weir_string_map_get(&id.labels, "note"), "say \"hi\" \\ ok\n\tend");
    ck_assert_str_eq(weir_string_map_get(&id.labels, "pod-template-hash"), "5d8f7c9b4");
    ck_assert_str_eq(weir_string_map_get(&id.labels, "unicode"),
                     "caf\xc3\xa9 \xf0\x9f\x98\x80 \xff A");
    wp_identity_free(&id);
}
END_TEST

START_TEST(long_line_and_blank_lines)
{
    struct wp_identity id = {0};
    const char *err = NULL;
    size_t n = 10000;
    char *text = malloc(n + 32);
    ck_assert_ptr_nonnull(text);
    strcpy(text, "\nbig=\"");
    memset(text + 6, 'x', n);
    strcpy(text + 6 + n, "\"\r\n\nv=1\n");
    write_file(text);
    free(text);
    ck_assert_int_eq(wp_identity_read_labels_file(&id, path, &err), 0);
    unlink(path);
    ck_assert_uint_eq(id.labels.len, 2);
    ck_assert_uint_eq(strlen(weir_string_map_get(&id.labels, "big")), n);
    ck_assert_str_eq(weir_string_map_get(&id.labels, "v"), "1");
    wp_identity_free(&id);
}
END_TEST

START_TEST(bad_escape_and_missing_file)
{
    struct wp_identity id = {0};
    const char *err = NULL;
    write_file("a=\"b\\q\"\n");
    ck_assert_int_eq(wp_identity_read_labels_file(&id, path, &err), -1);
    ck_assert_ptr_nonnull(err);
    unlink(path);
    wp_identity_free(&id);
    err = NULL;
    ck_assert_int_eq(wp_identity_read_labels_file(&id, "/nonexistent/weir/labels", &err), -1);
    ck_assert_ptr_nonnull(err);
    wp_identity_free(&id);
}
END_TEST

START_TEST(workload_name_from_labels)
{
    struct wp_identity id = {0};
    const char *err = NULL;
    unsetenv("WEIR_WORKLOAD_NAME");
    unsetenv("WEIR_POD_LABELS");
    ck_assert_int_eq(wp_identity_parse_labels(&id, "app=web,version=v2", &err), 0);
    id.pod_name = strdup("web-5d8f7c9b4-x2k8p");
    ck_assert_int_eq(wp_identity_finish(&id), 0);
    ck_assert_str_eq(id.workload_name, "web");
    ck_assert_str_eq(weir_string_map_get(&id.labels, "version"), "v2");
    wp_identity_free(&id);

    id.pod_name = strdup("shop-7f9c6d5b8-abcde");
    ck_assert_int_eq(wp_identity_finish(&id), 0);
    ck_assert_str_eq(id.workload_name, "shop");
    wp_identity_free(&id);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("identity");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;
    tcase_add_test(tc, downward_api_file);
    tcase_add_test(tc, long_line_and_blank_lines);
    tcase_add_test(tc, bad_escape_and_missing_file);
    tcase_add_test(tc, workload_name_from_labels);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
