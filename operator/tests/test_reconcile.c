/* The whole pipeline on a fake API server: informers list canned objects,
 * their events fill the queue, a reconcile batch writes the ConfigMap and the
 * statuses, a second one writes nothing, failures come back as RETRY. */
#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fake_api.h"
#include "reconcile.h"

#define MESH  "shop"
#define PLAIN "tools"
#define ROOT  "weir-system"

static atomic_int write_status = 200;

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *items_for(const char *path)
{
    if (starts(path, "/api/v1/namespaces?"))
        return "[{\"metadata\":{\"name\":\"" MESH
               "\",\"labels\":{\"weir-injection\":\"enabled\"}}},"
               "{\"metadata\":{\"name\":\"" PLAIN "\"}},{\"metadata\":{\"name\":\"" ROOT "\"}}]";
    if (starts(path, "/api/v1/services?"))
        return "[{\"metadata\":{\"name\":\"cart\",\"namespace\":\"" MESH "\"},\"spec\":{"
               "\"clusterIP\":\"10.96.0.10\",\"selector\":{\"app\":\"cart\"},"
               "\"ports\":[{\"name\":\"http\",\"port\":8080}]}}]";
    if (starts(path, "/apis/discovery.k8s.io/v1/endpointslices?"))
        return "[{\"metadata\":{\"name\":\"cart-1\",\"namespace\":\"" MESH "\",\"labels\":{"
               "\"kubernetes.io/service-name\":\"cart\"}},\"addressType\":\"IPv4\","
               "\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":[{\"addresses\":"
               "[\"10.244.0.5\"],\"conditions\":{\"ready\":true},\"targetRef\":{\"kind\":\"Pod\","
               "\"name\":\"cart-0\",\"namespace\":\"" MESH "\"}}]}]";
    if (starts(path, "/api/v1/pods?"))
        return "[{\"metadata\":{\"name\":\"cart-0\",\"namespace\":\"" MESH "\",\"labels\":{"
               "\"app\":\"cart\",\"version\":\"v1\"}},\"spec\":{\"containers\":[]},"
               "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.0.5\"}}]";
    if (starts(path, "/apis/networking.istio.io/v1/virtualservices?"))
        return "[{\"metadata\":{\"name\":\"cart\",\"namespace\":\"" MESH "\",\"generation\":2,"
               "\"uid\":\"vs-1\"},\"spec\":{\"hosts\":[\"cart\"],\"http\":[{\"timeout\":\"3s\","
               "\"route\":[{\"destination\":{\"host\":\"cart\"}}]}]}},"
               "{\"metadata\":{\"name\":\"broken\",\"namespace\":\"" MESH "\",\"generation\":5,"
               "\"uid\":\"vs-2\"},\"spec\":{\"hosts\":[\"cart\"],\"http\":[{\"route\":["
               "{\"destination\":{\"host\":\"cart\"},\"weight\":70},"
               "{\"destination\":{\"host\":\"cart\"},\"weight\":70}]}]}}]";
    if (starts(path, "/apis/security.istio.io/v1/authorizationpolicies?"))
        return "[{\"metadata\":{\"name\":\"deny-none\",\"namespace\":\"" PLAIN
               "\",\"generation\":1,"
               "\"uid\":\"ap-1\"},\"spec\":{\"action\":\"ALLOW\",\"rules\":[{}]}}]";
    return "[]";
}

static int handler(void *arg, const struct fake_request *req, char **body)
{
    (void)arg;
    if (strcmp(req->method, "GET") == 0) {
        if (strstr(req->path, "watch=1")) {
            /* a quiet watch the server ends at once; the informer resumes */
            fake_sleep_ms(200);
            *body = strdup("");
            return 200;
        }
        size_t len = strlen(items_for(req->path)) + 128;
        *body = malloc(len);
        snprintf(*body, len,
                 "{\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"5\"},"
                 "\"items\":%s}",
                 items_for(req->path));
        return 200;
    }
    if (strcmp(req->method, "POST") == 0) {
        *body = NULL;
        return 201;
    }
    int st = atomic_load(&write_status);
    *body = st >= 300 ? strdup("{\"kind\":\"Status\",\"reason\":\"TooManyRequests\","
                               "\"message\":\"slow down\"}")
                      : NULL;
    return st;
}

struct rig {
    struct fake_api *api;
    struct weir_kube_client *client;
    struct weir_op_queue *q;
    struct weir_op_watchers *w;
    struct weir_op_writer *writer;
    struct weir_op_status *status;
    struct weir_op_metrics *m;
    struct weir_op_reconciler *r;
};

static void rig_up(struct rig *g)
{
    memset(g, 0, sizeof(*g));
    atomic_store(&write_status, 200);
    g->api = fake_api_start(handler, NULL);
    fake_api_record_gets(g->api, false);
    g->client = fake_api_client(g->api);
    ck_assert_int_eq(weir_op_metrics_new(&g->m), 0);
    ck_assert_int_eq(weir_op_queue_new(NULL, &g->q), 0);
    struct weir_op_watchers_options wo = {
        .client = g->client, .queue = g->q, .namespace_ = ROOT, .watch_timeout = 1};
    ck_assert_int_eq(weir_op_watchers_new(&wo, &g->w), 0);
    struct weir_op_writer_options wr = {
        .client = g->client,
        .configmaps = weir_op_watchers_informer(g->w, WEIR_OP_W_PROXY_CONFIGMAPS),
        .namespaces = weir_op_watchers_informer(g->w, WEIR_OP_W_NAMESPACES),
        .metrics = g->m,
    };
    struct weir_op_status_options so = {.client = g->client, .metrics = g->m};
    ck_assert_int_eq(weir_op_writer_new(&wr, &g->writer), 0);
    ck_assert_int_eq(weir_op_status_new(&so, &g->status), 0);
    weir_op_watchers_bind(g->w, g->writer, g->status);
    struct weir_op_reconciler_options ro = {
        .watchers = g->w,
        .queue = g->q,
        .writer = g->writer,
        .status = g->status,
        .metrics = g->m,
        .root_namespace = ROOT,
    };
    ck_assert_int_eq(weir_op_reconciler_new(&ro, &g->r), 0);
    ck_assert_int_eq(weir_op_watchers_start(g->w), 0);
    for (int i = 0; i < 1000 && !weir_op_watchers_synced(g->w); i++)
        fake_sleep_ms(10);
    ck_assert(weir_op_watchers_synced(g->w));
}

static void rig_down(struct rig *g)
{
    weir_op_reconciler_free(g->r);
    weir_op_watchers_free(g->w);
    weir_op_writer_free(g->writer);
    weir_op_status_free(g->status);
    weir_op_queue_free(g->q);
    weir_op_metrics_free(g->m);
    fake_api_client_free(g->client);
    fake_api_stop(g->api);
}

static size_t count(struct fake_api *api, const char *method, const char *path_part)
{
    size_t n = 0;
    for (size_t i = 0; i < fake_api_count(api); i++) {
        struct fake_request q = fake_api_request(api, i);
        if (strcmp(q.method, method) == 0 && strstr(q.path, path_part))
            n++;
    }
    return n;
}

static const char *body_of(struct fake_api *api, const char *method, const char *path_part)
{
    for (size_t i = 0; i < fake_api_count(api); i++) {
        struct fake_request q = fake_api_request(api, i);
        if (strcmp(q.method, method) == 0 && strstr(q.path, path_part))
            return q.body;
    }
    return "";
}

START_TEST(test_events_fill_the_queue)
{
    struct rig g;
    const char *keys[16];
    rig_up(&g);
    /* the initial list's adds: the mesh namespace and the one holding a CR;
     * nothing for the root namespace, which holds neither */
    size_t n = weir_op_queue_get_batch(g.q, keys, 16, 1);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(keys[0], MESH);
    ck_assert_str_eq(keys[1], PLAIN);
    ck_assert(weir_op_watchers_in_mesh(g.w, MESH));
    ck_assert(!weir_op_watchers_in_mesh(g.w, PLAIN));
    ck_assert(weir_op_watchers_has_crs(g.w, PLAIN));
    ck_assert(!weir_op_watchers_has_crs(g.w, ROOT));
    for (size_t i = 0; i < n; i++)
        weir_op_queue_done(g.q, keys[i]);
    rig_down(&g);
}
END_TEST

START_TEST(test_batch_writes_then_nothing)
{
    struct rig g;
    const char *keys[] = {MESH, PLAIN};
    enum weir_op_result out[2];
    rig_up(&g);

    weir_op_reconcile_batch(g.r, keys, 2, out);
    ck_assert_int_eq(out[0], WEIR_OP_OK);
    ck_assert_int_eq(out[1], WEIR_OP_OK);
    /* one ConfigMap, in the mesh namespace only */
    ck_assert_uint_eq(count(g.api, "PATCH", "/configmaps/weir-proxy-config"), 1);
    ck_assert_uint_eq(count(g.api, "PATCH", "/namespaces/" MESH "/configmaps/"), 1);
    const char *cm = body_of(g.api, "PATCH", "/configmaps/weir-proxy-config");
    ck_assert_ptr_nonnull(strstr(cm, "outbound|8080||cart." MESH ".svc.cluster.local"));
    ck_assert_ptr_nonnull(strstr(cm, "10.244.0.5"));
    ck_assert_ptr_nonnull(strstr(cm, "timeoutMs"));
    /* three statuses: the good VirtualService, the broken one, the policy
     * outside the mesh; an Event for the broken one */
    ck_assert_uint_eq(count(g.api, "PATCH", "/status"), 3);
    const char *good = body_of(g.api, "PATCH", "/virtualservices/cart/status");
    ck_assert_ptr_nonnull(strstr(good, "\"status\":\"True\""));
    ck_assert_ptr_nonnull(strstr(good, "\"observedGeneration\":2"));
    const char *bad = body_of(g.api, "PATCH", "/virtualservices/broken/status");
    ck_assert_ptr_nonnull(strstr(bad, "\"status\":\"False\""));
    ck_assert_ptr_nonnull(strstr(bad, "\"reason\":\"Invalid\""));
    /* the generation of the object, even though the model refused it */
    ck_assert_ptr_nonnull(strstr(bad, "\"observedGeneration\":5"));
    ck_assert_uint_eq(count(g.api, "PATCH", "/namespaces/" PLAIN "/authorizationpolicies/"), 1);
    ck_assert_uint_eq(count(g.api, "POST", "/events"), 1);
    ck_assert_ptr_nonnull(strstr(body_of(g.api, "POST", "/events"), "\"name\":\"broken\""));

    /* again: everything is known, nothing is sent */
    size_t before = fake_api_count(g.api);
    weir_op_reconcile_batch(g.r, keys, 2, out);
    ck_assert_int_eq(out[0], WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(g.api), before);
    rig_down(&g);
}
END_TEST

START_TEST(test_throttled_writes_retry)
{
    struct rig g;
    const char *keys[] = {MESH};
    enum weir_op_result out[1];
    rig_up(&g);
    atomic_store(&write_status, 429);
    weir_op_reconcile_batch(g.r, keys, 1, out);
    ck_assert_int_eq(out[0], WEIR_OP_RETRY);
    atomic_store(&write_status, 200);
    weir_op_reconcile_batch(g.r, keys, 1, out);
    ck_assert_int_eq(out[0], WEIR_OP_OK);
    /* the ConfigMap was tried twice: a failed write leaves no memo */
    ck_assert_uint_eq(count(g.api, "PATCH", "/configmaps/weir-proxy-config"), 2);
    rig_down(&g);
}
END_TEST

START_TEST(test_worker_thread)
{
    struct rig g;
    rig_up(&g);
    ck_assert_int_eq(weir_op_reconciler_start(g.r), 0);
    /* the initial events are processed without anyone calling in */
    for (int i = 0; i < 500 && count(g.api, "PATCH", "/configmaps/") == 0; i++)
        fake_sleep_ms(10);
    ck_assert_uint_eq(count(g.api, "PATCH", "/configmaps/"), 1);
    for (int i = 0; i < 500 && weir_op_queue_len(g.q) > 0; i++)
        fake_sleep_ms(10);
    ck_assert_uint_eq(weir_op_queue_len(g.q), 0);
    weir_op_reconciler_stop(g.r);
    rig_down(&g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator_reconcile");
    TCase *tc = tcase_create("reconcile");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_events_fill_the_queue);
    tcase_add_test(tc, test_batch_writes_then_nothing);
    tcase_add_test(tc, test_throttled_writes_retry);
    tcase_add_test(tc, test_worker_thread);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
