/* weir-operator's flags (operator/options.h). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "options.h"

static char errbuf[4096];

static int parse(struct weir_op_options *o, ...)
{
    char *argv[64];
    int argc = 0;
    va_list ap;
    argv[argc++] = "weir-operator";
    va_start(ap, o);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
    int rc = weir_op_options_parse(argc, argv, o, err);
    fclose(err);
    return rc;
}

START_TEST(test_defaults)
{
    struct weir_op_options o;
    ck_assert_int_eq(parse(&o, NULL), 0);
    ck_assert_ptr_null(o.kubeconfig);
    ck_assert_ptr_null(o.namespace_);
    ck_assert_str_eq(o.mesh_config_name, "weir-mesh-config");
    ck_assert_str_eq(o.listen_addr, "0.0.0.0");
    ck_assert_uint_eq(o.listen_port, 15014);
    ck_assert(o.leader_elect);
    ck_assert_str_eq(o.lease_name, "weir-operator");
    ck_assert_double_eq(o.lease_duration, 15);
    ck_assert_double_eq(o.renew_deadline, 10);
    ck_assert_double_eq(o.retry_period, 2);
    ck_assert_double_eq(o.resync_period, 300);
    ck_assert_uint_eq(o.max_config_bytes, 1048576);
    ck_assert_int_eq(o.log_format, WEIR_LOG_JSON);
    ck_assert_int_eq(o.log_level, WEIR_LOG_INFO);
}
END_TEST

START_TEST(test_all_flags)
{
    struct weir_op_options o;
    ck_assert_int_eq(parse(&o, "--kubeconfig", "/k", "--namespace", "mesh-system",
                           "--mesh-config-name", "mesh", "--root-namespace", "root", "--listen",
                           "127.0.0.1:9090", "--leader-elect=false", "--lease-name", "l", "--id",
                           "op-1", "--lease-duration", "30s", "--renew-deadline", "20s",
                           "--retry-period", "500ms", "--resync-period", "1m", "--qps", "50",
                           "--burst", "100", "--max-config-bytes", "2048", "--log-format", "text",
                           "--log-level", "debug", NULL),
                     0);
    ck_assert_str_eq(o.kubeconfig, "/k");
    ck_assert_str_eq(o.namespace_, "mesh-system");
    ck_assert_str_eq(o.mesh_config_name, "mesh");
    ck_assert_str_eq(o.root_namespace, "root");
    ck_assert_str_eq(o.listen_addr, "127.0.0.1");
    ck_assert_uint_eq(o.listen_port, 9090);
    ck_assert(!o.leader_elect);
    ck_assert_str_eq(o.lease_name, "l");
    ck_assert_str_eq(o.id, "op-1");
    ck_assert_double_eq(o.lease_duration, 30);
    ck_assert_double_eq(o.renew_deadline, 20);
    ck_assert_double_eq_tol(o.retry_period, 0.5, 1e-9);
    ck_assert_double_eq(o.resync_period, 60);
    ck_assert_double_eq(o.qps, 50);
    ck_assert_int_eq(o.burst, 100);
    ck_assert_uint_eq(o.max_config_bytes, 2048);
    ck_assert_int_eq(o.log_format, WEIR_LOG_TEXT);
    ck_assert_int_eq(o.log_level, WEIR_LOG_DEBUG);
    ck_assert_int_eq(parse(&o, "--leader-elect", NULL), 0);
    ck_assert(o.leader_elect);
    ck_assert_int_eq(parse(&o, "--listen", ":8080", NULL), 0);
    ck_assert_str_eq(o.listen_addr, "0.0.0.0");
    ck_assert_uint_eq(o.listen_port, 8080);
    ck_assert_int_eq(parse(&o, "--listen", "[::1]:0", NULL), 0);
    ck_assert_str_eq(o.listen_addr, "::1");
}
END_TEST

START_TEST(test_refusals)
{
    static const struct {
        const char *args[3];
        const char *message;
    } cases[] = {
        {{"--namespace", "Bad_NS"}, "--namespace \"Bad_NS\": not a namespace name"},
        {{"--listen", "8080"}, "--listen \"8080\": expected ADDR:PORT or :PORT"},
        {{"--listen", "a:99999"}, "expected ADDR:PORT"},
        {{"--leader-elect=maybe"}, "--leader-elect=maybe: expected true or false"},
        {{"--lease-duration", "soon"}, "--lease-duration \"soon\": expected a duration"},
        {{"--resync-period", "100ms"}, "(at least 1s)"},
        {{"--renew-deadline", "20s"}, "--renew-deadline must be shorter than --lease-duration"},
        {{"--retry-period", "10s"}, "--retry-period must be shorter than --renew-deadline"},
        {{"--qps", "0"}, "--qps must be"},
        {{"--max-config-bytes", "2000000"}, "--max-config-bytes must be 1024..1048576"},
        {{"--log-format", "xml"}, "--log-format must be json or text"},
        {{"--mesh-config-name", "A B"}, "not an object name"},
        {{"--nope"}, "unknown"},
        {{"extra"}, "unexpected argument \"extra\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct weir_op_options o;
        char *argv[5] = {"weir-operator", (char *)cases[i].args[0], (char *)cases[i].args[1], NULL,
                         NULL};
        int argc = cases[i].args[1] ? 3 : 2;
        FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
        int rc = weir_op_options_parse(argc, argv, &o, err);
        fclose(err);
        ck_assert_msg(rc == 2, "case %zu (%s): rc %d", i, cases[i].args[0], rc);
        ck_assert_msg(strstr(errbuf, cases[i].message) != NULL, "case %zu: got \"%s\"", i, errbuf);
    }
    /* the deadline checks only matter with leader election */
    struct weir_op_options o;
    ck_assert_int_eq(parse(&o, "--leader-elect=false", "--renew-deadline", "20s", NULL), 0);
}
END_TEST

START_TEST(test_parse_listen)
{
    char addr[64];
    uint16_t port;
    ck_assert_int_eq(weir_op_parse_listen("10.0.0.1:15014", addr, sizeof(addr), &port), 0);
    ck_assert_str_eq(addr, "10.0.0.1");
    ck_assert_uint_eq(port, 15014);
    ck_assert_int_eq(weir_op_parse_listen("[::]:1", addr, sizeof(addr), &port), 0);
    ck_assert_str_eq(addr, "::");
    ck_assert_int_eq(weir_op_parse_listen("nocolon", addr, sizeof(addr), &port), -1);
    ck_assert_int_eq(weir_op_parse_listen("a:", addr, sizeof(addr), &port), -1);
    ck_assert_int_eq(weir_op_parse_listen("[::1:80", addr, sizeof(addr), &port), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator_options");
    TCase *tc = tcase_create("options");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_all_flags);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_parse_listen);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
