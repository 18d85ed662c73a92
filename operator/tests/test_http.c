/* /healthz, /readyz and /metrics (operator/http.h), fetched with libcurl. */
#include <check.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"

static atomic_bool is_ready;

static bool ready(void *arg)
{
    (void)arg;
    return atomic_load(&is_ready);
}

struct buf {
    char data[65536];
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t len = size * n;
    if (b->len + len >= sizeof(b->data))
        len = sizeof(b->data) - 1 - b->len;
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return size * n;
}

static long get(uint16_t port, const char *method, const char *path, struct buf *b)
{
    char url[128];
    long code = 0;
    CURL *c = curl_easy_init();
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    memset(b, 0, sizeof(*b));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static void extra(void *arg, FILE *out)
{
    (void)arg;
    fprintf(out, "weir_operator_queue_depth 7\n");
}

START_TEST(test_endpoints)
{
    struct weir_op_metrics *m;
    struct weir_op_http *h;
    struct buf b;
    char err[256];
    ck_assert_int_eq(weir_op_metrics_new(&m), 0);
    weir_op_metrics_set_collector(m, extra, NULL);
    weir_op_metrics_reconciled(m, WEIR_OP_OK);
    weir_op_metrics_reconciled(m, WEIR_OP_RETRY);
    weir_op_metrics_batch(m, 0.003, 0.001);
    weir_op_metrics_batch(m, 2.0, 1.0);
    weir_op_metrics_inc(m, WEIR_OP_M_CONFIG_WRITES);
    weir_op_metrics_config_bytes(m, "demo", 1234);
    weir_op_metrics_config_bytes(m, "gone", 1);
    weir_op_metrics_config_forget(m, "gone");
    struct weir_op_http_options o = {"127.0.0.1", 0, m, ready, NULL};
    ck_assert_int_eq(weir_op_http_start(&o, &h, err, sizeof(err)), 0);
    uint16_t port = weir_op_http_port(h);
    ck_assert_uint_ne(port, 0);

    ck_assert_int_eq(get(port, "GET", "/healthz", &b), 200);
    ck_assert_int_eq(get(port, "GET", "/readyz", &b), 503);
    atomic_store(&is_ready, true);
    ck_assert_int_eq(get(port, "GET", "/readyz", &b), 200);
    ck_assert_int_eq(get(port, "GET", "/nope", &b), 404);
    ck_assert_int_eq(get(port, "DELETE", "/metrics", &b), 405);
    ck_assert_int_eq(get(port, "GET", "/metrics", &b), 200);
    static const char *const want[] = {
        "weir_operator_reconcile_total{result=\"ok\"} 1\n",
        "weir_operator_reconcile_total{result=\"retry\"} 1\n",
        "weir_operator_config_writes_total 1\n",
        "# TYPE weir_operator_reconcile_duration_seconds histogram\n",
        "weir_operator_reconcile_duration_seconds_bucket{le=\"0.005\"} 1\n",
        "weir_operator_reconcile_duration_seconds_bucket{le=\"2.5\"} 2\n",
        "weir_operator_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2\n",
        "weir_operator_reconcile_duration_seconds_count 2\n",
        "weir_operator_translate_duration_seconds_bucket{le=\"1\"} 2\n",
        "weir_operator_config_bytes{namespace=\"demo\"} 1234\n",
        "weir_operator_queue_depth 7\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(b.data, want[i]) != NULL, "missing %s in:\n%s", want[i], b.data);
    ck_assert_ptr_null(strstr(b.data, "gone"));
    weir_op_http_stop(h);

    /* a busy port is a clear error */
    struct weir_op_http *h1, *h2;
    ck_assert_int_eq(weir_op_http_start(&o, &h1, err, sizeof(err)), 0);
    struct weir_op_http_options o2 = {"127.0.0.1", weir_op_http_port(h1), m, NULL, NULL};
    ck_assert_int_eq(weir_op_http_start(&o2, &h2, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot listen on 127.0.0.1:"));
    struct weir_op_http_options o3 = {"localhost", 0, m, NULL, NULL};
    ck_assert_int_eq(weir_op_http_start(&o3, &h2, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "is not an IP address"));
    weir_op_http_stop(h1);
    weir_op_metrics_free(m);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("operator_http");
    TCase *tc = tcase_create("http");
    tcase_add_test(tc, test_endpoints);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
