#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "yaml/yaml_json.h"

static int parse(const char *text, struct weir_yaml_stream *s, struct weir_diags *d)
{
    weir_diags_init(d);
    return weir_yaml_parse(text, strlen(text), "t.yaml", NULL, s, d);
}

static void done(struct weir_yaml_stream *s, struct weir_diags *d)
{
    weir_yaml_stream_free(s);
    weir_diags_free(d);
}

START_TEST(test_multi_document_with_lines)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    const char *text = "apiVersion: v1\n"
                       "kind: A\n"
                       "---\n"
                       "# a comment\n"
                       "---\n"
                       "kind: B\n"
                       "spec:\n"
                       "  items:\n"
                       "  - one\n"
                       "  - two: 2\n";
    ck_assert_int_eq(parse(text, &s, &d), 0);
    ck_assert_uint_eq(s.ndocs, 2); /* the empty document is skipped */
    ck_assert_str_eq(json_string_value(json_object_get(s.docs[0].root, "kind")), "A");
    ck_assert_int_eq(s.docs[0].line, 1);
    ck_assert_int_eq(s.docs[1].line, 6);
    json_t *items = json_object_get(json_object_get(s.docs[1].root, "spec"), "items");
    ck_assert_int_eq(weir_yaml_line(&s, items), 9);
    ck_assert_int_eq(weir_yaml_line(&s, json_array_get(items, 1)), 10);
    json_t *two = json_object_get(json_array_get(items, 1), "two");
    ck_assert_int_eq(json_integer_value(two), 2);
    ck_assert_int_eq(weir_yaml_line(&s, two), 10);
    ck_assert_uint_eq(d.len, 0);
    done(&s, &d);
}
END_TEST

START_TEST(test_core_schema_scalars)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    const char *text = "a: true\nb: False\nc: ~\nd: null\ne: 42\nf: -7\ng: 0x1f\nh: 0o17\n"
                       "i: 1.5\nj: 1e3\nk: \"42\"\nl: 'true'\nm: yes\nn: .inf\no: !!str 12\n"
                       "p: 99999999999999999999999\nq:\n";
    ck_assert_int_eq(parse(text, &s, &d), 0);
    json_t *r = s.docs[0].root;
    ck_assert(json_is_true(json_object_get(r, "a")));
    ck_assert(json_is_false(json_object_get(r, "b")));
    ck_assert(json_is_null(json_object_get(r, "c")));
    ck_assert(json_is_null(json_object_get(r, "d")));
    ck_assert_int_eq(json_integer_value(json_object_get(r, "e")), 42);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "f")), -7);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "g")), 31);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "h")), 15);
    ck_assert_double_eq(json_real_value(json_object_get(r, "i")), 1.5);
    ck_assert_double_eq(json_real_value(json_object_get(r, "j")), 1000.0);
    ck_assert_str_eq(json_string_value(json_object_get(r, "k")), "42");
    ck_assert_str_eq(json_string_value(json_object_get(r, "l")), "true");
    /* YAML 1.2: "yes" is a string, not a boolean */
    ck_assert_str_eq(json_string_value(json_object_get(r, "m")), "yes");
    ck_assert_str_eq(json_string_value(json_object_get(r, "n")), ".inf");
    ck_assert_str_eq(json_string_value(json_object_get(r, "o")), "12");
    /* too large for an integer: a float */
    ck_assert(json_is_real(json_object_get(r, "p")));
    ck_assert(json_is_null(json_object_get(r, "q")));
    done(&s, &d);
}
END_TEST

START_TEST(test_duplicate_key_rejected)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    const char *text = "metadata:\n  name: a\n  labels: {}\n  name: b\n";
    ck_assert_int_eq(parse(text, &s, &d), -1);
    ck_assert_uint_eq(d.len, 1);
    ck_assert_int_eq(d.items[0].line, 4);
    ck_assert_str_eq(d.items[0].source, "t.yaml");
    ck_assert_str_eq(d.items[0].message, "duplicate key \"name\" (first defined at line 2)");
    done(&s, &d);
}
END_TEST

START_TEST(test_alias_bomb_rejected)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    /* "billion laughs": each level multiplies the previous by ten */
    const char *text =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    ck_assert_int_eq(parse(text, &s, &d), -1);
    ck_assert_uint_eq(d.len, 1);
    ck_assert_str_eq(d.items[0].message,
                     "document has more than 2000000 nodes (alias expansion included)");
    ck_assert_uint_eq(s.ndocs, 0);
    done(&s, &d);
}
END_TEST

START_TEST(test_small_aliases_expand)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    const char *text = "base: &labels {app: reviews}\ncopy: *labels\n";
    ck_assert_int_eq(parse(text, &s, &d), 0);
    json_t *copy = json_object_get(s.docs[0].root, "copy");
    ck_assert_str_eq(json_string_value(json_object_get(copy, "app")), "reviews");
    ck_assert_int_eq(weir_yaml_line(&s, copy), 2);
    done(&s, &d);
}
END_TEST

START_TEST(test_alias_cannot_beat_depth_limit)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    struct weir_yaml_limits lim = weir_yaml_default_limits;
    /* each anchor wraps the previous one three levels deeper */
    const char *text = "a: &a [[[x]]]\n"
                       "b: &b [[[*a]]]\n"
                       "c: &c [[[*b]]]\n"
                       "d: [[[*c]]]\n";
    lim.max_depth = 8;
    weir_diags_init(&d);
    ck_assert_int_eq(weir_yaml_parse(text, strlen(text), "t.yaml", &lim, &s, &d), -1);
    ck_assert_str_eq(d.items[0].message, "alias *b expands deeper than 8 levels");
    ck_assert_int_eq(d.items[0].line, 3);
    done(&s, &d);
}
END_TEST

START_TEST(test_too_many_anchors_fails)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    size_t cap = 5000 * 24 + 64, n = 0;
    char *text = malloc(cap);
    n += (size_t)snprintf(text + n, cap - n, "items:\n");
    for (int i = 0; i < 5000; i++)
        n += (size_t)snprintf(text + n, cap - n, "- &a%d %d\n", i, i);
    ck_assert_int_eq(parse(text, &s, &d), -1);
    ck_assert_str_eq(d.items[0].message, "more than 4096 anchors in one document");
    ck_assert_uint_eq(s.ndocs, 0);
    free(text);
    done(&s, &d);
}
END_TEST

START_TEST(test_syntax_error_keeps_earlier_docs)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    const char *text = "kind: A\n---\nkind: B\n  bad: [\n";
    ck_assert_int_eq(parse(text, &s, &d), -1);
    ck_assert_uint_eq(s.ndocs, 1);
    ck_assert_uint_eq(d.len, 1);
    ck_assert_int_eq(d.items[0].line, 4);
    ck_assert_ptr_nonnull(strstr(d.items[0].message, "YAML syntax error"));
    done(&s, &d);
}
END_TEST

START_TEST(test_depth_limit)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    char text[1024];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        text[n++] = '[';
    for (int i = 0; i < 200; i++)
        text[n++] = ']';
    text[n] = '\0';
    ck_assert_int_eq(parse(text, &s, &d), -1);
    ck_assert_str_eq(d.items[0].message, "document is nested deeper than 128 levels");
    done(&s, &d);
}
END_TEST

START_TEST(test_complex_key_and_unknown_tag)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    ck_assert_int_eq(parse("? [a]\n: b\n", &s, &d), -1);
    ck_assert_str_eq(d.items[0].message, "mapping keys must be scalars");
    done(&s, &d);
    ck_assert_int_eq(parse("a: !custom x\n", &s, &d), -1);
    ck_assert_str_eq(d.items[0].message,
                     "unsupported YAML tag or a value that does not fit it: !custom");
    done(&s, &d);
}
END_TEST

START_TEST(test_size_limit)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    struct weir_yaml_limits lim = weir_yaml_default_limits;
    lim.max_bytes = 8;
    weir_diags_init(&d);
    ck_assert_int_eq(weir_yaml_parse("a: 1234567890\n", 14, "x", &lim, &s, &d), -1);
    ck_assert_str_eq(d.items[0].message, "input is 14 bytes, over the limit of 8");
    done(&s, &d);
}
END_TEST

START_TEST(test_json_input)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    ck_assert_int_eq(parse("{\"kind\": \"A\", \"n\": [1, 2.5, null]}", &s, &d), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(s.docs[0].root, "n")), 3);
    done(&s, &d);
}
END_TEST

START_TEST(test_missing_file)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    weir_diags_init(&d);
    ck_assert_int_eq(weir_yaml_parse_file("/nonexistent/x.yaml", NULL, &s, &d), -1);
    ck_assert_str_eq(d.items[0].message, "cannot open: No such file or directory");
    done(&s, &d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("yaml");
    TCase *tc = tcase_create("yaml");
    tcase_add_test(tc, test_multi_document_with_lines);
    tcase_add_test(tc, test_core_schema_scalars);
    tcase_add_test(tc, test_duplicate_key_rejected);
    tcase_add_test(tc, test_alias_bomb_rejected);
    tcase_add_test(tc, test_small_aliases_expand);
    tcase_add_test(tc, test_syntax_error_keeps_earlier_docs);
    tcase_add_test(tc, test_alias_cannot_beat_depth_limit);
    tcase_add_test(tc, test_too_many_anchors_fails);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_complex_key_and_unknown_tag);
    tcase_add_test(tc, test_size_limit);
    tcase_add_test(tc, test_json_input);
    tcase_add_test(tc, test_missing_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
