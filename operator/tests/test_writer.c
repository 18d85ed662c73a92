/* The ConfigMap writer (operator/writer.h): the pure decision, then the
 * requests it sends to a fake API server. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fake_api.h"
#include "strmap.h"
#include "writer.h"

#define REV_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define REV_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static json_t *cm_of(const char *ns, const char *rev, const char *data, bool labelled)
{
    json_t *cm = weir_op_configmap_build(ns, rev, data);
    ck_assert_ptr_nonnull(cm);
    json_object_set_new(json_object_get(cm, "metadata"), "uid", json_string("uid-1"));
    json_object_set_new(json_object_get(cm, "metadata"), "resourceVersion", json_string("7"));
    if (!labelled)
        json_object_del(json_object_get(cm, "metadata"), "labels");
    return cm;
}

START_TEST(test_decide)
{
    const char *data = "{\"a\":1}";
    size_t len = strlen(data);
    json_t *same = cm_of("demo", REV_A, data, true);
    json_t *other_rev = cm_of("demo", REV_B, data, true);
    json_t *edited = cm_of("demo", REV_A, "{\"a\":2}", true);
    json_t *foreign = cm_of("demo", REV_A, data, false);
    struct weir_op_written memo = {
        .revision = REV_A, .digest = weir_op_fnv1a(data, len), .bytes = len};
    struct weir_op_written stale = {.revision = REV_B, .digest = 1, .bytes = 3};
    struct weir_op_written rechecked = memo;
    rechecked.recheck = true;

    ck_assert_int_eq(weir_op_write_decide(NULL, REV_A, data, len, NULL, 0), WEIR_OP_WRITE_APPLY);
    ck_assert_int_eq(weir_op_write_decide(same, REV_A, data, len, NULL, 0), WEIR_OP_WRITE_SKIP);
    ck_assert_int_eq(weir_op_write_decide(other_rev, REV_A, data, len, NULL, 0),
                     WEIR_OP_WRITE_APPLY);
    /* someone edited the data but left our annotation */
    ck_assert_int_eq(weir_op_write_decide(edited, REV_A, data, len, NULL, 0), WEIR_OP_WRITE_APPLY);
    /* a ConfigMap of that name without our label is taken over */
    ck_assert_int_eq(weir_op_write_decide(foreign, REV_A, data, len, NULL, 0), WEIR_OP_WRITE_APPLY);
    /* just written: the informer may still show the old object */
    ck_assert_int_eq(weir_op_write_decide(other_rev, REV_A, data, len, &memo, 0),
                     WEIR_OP_WRITE_SKIP);
    ck_assert_int_eq(weir_op_write_decide(NULL, REV_A, data, len, &memo, 0), WEIR_OP_WRITE_SKIP);
    ck_assert_int_eq(weir_op_write_decide(same, REV_A, data, len, &stale, 0), WEIR_OP_WRITE_SKIP);
    ck_assert_int_eq(weir_op_write_decide(NULL, REV_A, data, len, &stale, 0), WEIR_OP_WRITE_APPLY);
    /* after a resync: the cluster's copy decides */
    ck_assert_int_eq(weir_op_write_decide(other_rev, REV_A, data, len, &rechecked, 0),
                     WEIR_OP_WRITE_APPLY);
    ck_assert_int_eq(weir_op_write_decide(same, REV_A, data, len, &rechecked, 0),
                     WEIR_OP_WRITE_SKIP);
    /* the limit counts the key too: 17 bytes of "proxy-config.json" */
    ck_assert_int_eq(weir_op_write_decide(NULL, REV_A, data, len, NULL, len + 17),
                     WEIR_OP_WRITE_APPLY);
    ck_assert_int_eq(weir_op_write_decide(NULL, REV_A, data, len, NULL, len + 16),
                     WEIR_OP_WRITE_TOO_LARGE);
    ck_assert_int_eq(weir_op_write_decide(same, REV_A, data, len, &memo, len + 16),
                     WEIR_OP_WRITE_TOO_LARGE);
    ck_assert_str_eq(weir_op_write_decision_name(WEIR_OP_WRITE_TOO_LARGE), "too-large");
    /* as the informer caches them: the data replaced by its length and digest */
    weir_op_configmap_slim(same);
    weir_op_configmap_slim(edited);
    ck_assert_ptr_null(json_object_get(json_object_get(same, "data"), WEIR_OP_CONFIGMAP_KEY));
    ck_assert_int_eq(json_integer_value(
                         json_object_get(json_object_get(same, "weirProxyConfigDigest"), "bytes")),
                     (json_int_t)len);
    ck_assert_int_eq(weir_op_write_decide(same, REV_A, data, len, NULL, 0), WEIR_OP_WRITE_SKIP);
    ck_assert_int_eq(weir_op_write_decide(edited, REV_A, data, len, NULL, 0), WEIR_OP_WRITE_APPLY);
    ck_assert_int_eq(weir_op_write_decide(same, REV_A, "{\"a\":3}", len, NULL, 0),
                     WEIR_OP_WRITE_APPLY);
    json_decref(same);
    json_decref(other_rev);
    json_decref(edited);
    json_decref(foreign);
}
END_TEST

START_TEST(test_build_and_serialize)
{
    json_t *doc = json_pack("{s:s, s:i, s:{s:s}}", "z", "last", "a", 1, "m", "k", "v");
    size_t len;
    char *data = weir_op_config_serialize(doc, &len);
    ck_assert_str_eq(data, "{\"a\":1,\"m\":{\"k\":\"v\"},\"z\":\"last\"}");
    ck_assert_uint_eq(len, strlen(data));
    json_t *cm = weir_op_configmap_build("demo", REV_A, data);
    char *text = json_dumps(cm, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_str_eq(text,
                     "{\"apiVersion\":\"v1\",\"data\":{\"proxy-config.json\":"
                     "\"{\\\"a\\\":1,\\\"m\\\":{\\\"k\\\":\\\"v\\\"},\\\"z\\\":\\\"last\\\"}\"},"
                     "\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{"
                     "\"weir.dev/revision\":\"" REV_A "\"},\"labels\":{"
                     "\"app.kubernetes.io/managed-by\":\"weir-operator\","
                     "\"app.kubernetes.io/name\":\"weir-proxy-config\"},"
                     "\"name\":\"weir-proxy-config\",\"namespace\":\"demo\"}}");
    ck_assert(weir_op_configmap_is_ours(cm));
    json_object_set_new(json_object_get(cm, "metadata"), "name", json_string("other"));
    ck_assert(!weir_op_configmap_is_ours(cm));
    free(text);
    free(data);
    json_decref(cm);
    json_decref(doc);
}
END_TEST

/* ---- against a fake API server ---- */

static int status_code = 200;
static const char *patch_rv; /* the resourceVersion a write answers with (NULL: none) */

static int handler(void *arg, const struct fake_request *req, char **body)
{
    (void)arg;
    if (status_code >= 300) {
        *body = strdup("{\"kind\":\"Status\",\"reason\":\"X\",\"message\":\"scripted\"}");
    } else if (patch_rv && strcmp(req->method, "PATCH") == 0) {
        json_t *o = json_pack("{s:{s:s}}", "metadata", "resourceVersion", patch_rv);
        *body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
    } else {
        *body = NULL;
    }
    return status_code;
}

static bool gate_open = true;

static bool gate(void *arg)
{
    (void)arg;
    return gate_open;
}

struct rig {
    struct fake_api *api;
    struct weir_kube_client *client;
    json_t *cms, *nss;
    struct weir_kube_informer *cm_inf, *ns_inf;
    struct weir_op_writer *w;
    struct weir_op_metrics *m;
};

static void rig_up(struct rig *r, json_t *cms, size_t max_bytes)
{
    memset(r, 0, sizeof(*r));
    status_code = 200;
    gate_open = true;
    r->api = fake_api_start(handler, NULL);
    r->client = fake_api_client(r->api);
    r->cms = cms ? cms : json_array();
    r->nss = json_pack("[{s:s, s:s, s:{s:s, s:s}}]", "apiVersion", "v1", "kind", "Namespace",
                       "metadata", "name", "demo", "uid", "ns-uid");
    r->cm_inf = fake_informer(&weir_kube_res_configmaps, r->cms);
    r->ns_inf = fake_informer(&weir_kube_res_namespaces, r->nss);
    ck_assert_int_eq(weir_op_metrics_new(&r->m), 0);
    struct weir_op_writer_options o = {
        .client = r->client,
        .configmaps = r->cm_inf,
        .namespaces = r->ns_inf,
        .metrics = r->m,
        .gate = {gate, NULL},
        .max_bytes = max_bytes,
        .instance = "test",
    };
    ck_assert_int_eq(weir_op_writer_new(&o, &r->w), 0);
}

static void rig_down(struct rig *r)
{
    weir_op_writer_free(r->w);
    fake_informer_free(r->cm_inf);
    fake_informer_free(r->ns_inf);
    json_decref(r->cms);
    json_decref(r->nss);
    weir_op_metrics_free(r->m);
    fake_api_client_free(r->client);
    fake_api_stop(r->api);
}

static struct weir_translate_config config(const char *ns, const char *rev, json_t *doc)
{
    struct weir_translate_config c = {(char *)ns, (char *)rev, doc};
    return c;
}

START_TEST(test_sync_writes_once)
{
    struct rig r;
    json_t *doc = json_pack("{s:s}", "kind", "ProxyConfig");
    struct weir_translate_config c = config("demo", REV_A, doc);
    rig_up(&r, NULL, 0);

    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 1);
    struct fake_request q = fake_api_request(r.api, 0);
    ck_assert_str_eq(q.method, "PATCH");
    ck_assert_msg(strncmp(q.path, "/api/v1/namespaces/demo/configmaps/weir-proxy-config?", 53) == 0,
                  "path %s", q.path);
    ck_assert_ptr_nonnull(strstr(q.path, "fieldManager=weir-operator"));
    ck_assert_ptr_nonnull(strstr(q.path, "force=true"));
    ck_assert_ptr_nonnull(strstr(q.body, REV_A));
    ck_assert_ptr_nonnull(strstr(q.body, "weir-operator"));
    ck_assert_uint_eq(weir_op_metrics_get(r.m, WEIR_OP_M_CONFIG_WRITES), 1);

    /* nothing changed: nothing sent, even though the informer is behind */
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 1);

    /* the watch event of our own write is recognised */
    char *data = weir_op_config_serialize(doc, NULL);
    json_t *ours = cm_of("demo", REV_A, data, true);
    ck_assert(!weir_op_writer_observe(r.w, ours, false));
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 1);

    /* a hand edit is not, and the next sync repairs it */
    json_t *edited = cm_of("demo", REV_A, "{}", true);
    ck_assert(weir_op_writer_observe(r.w, edited, false));
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 2);

    /* nor is a deletion */
    ck_assert(weir_op_writer_observe(r.w, ours, true));
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 3);

    /* other ConfigMaps are none of its business */
    json_t *other = cm_of("demo", REV_A, data, true);
    json_object_set_new(json_object_get(other, "metadata"), "name", json_string("x"));
    ck_assert(!weir_op_writer_observe(r.w, other, false));

    /* a resync forgets, and compares with the (empty) cache again */
    weir_op_writer_forget_all(r.w);
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 4);

    json_decref(other);
    json_decref(ours);
    json_decref(edited);
    free(data);
    json_decref(doc);
    rig_down(&r);
}
END_TEST

/* An API server restart: the ConfigMap informer's watch broke before the
 * event of our write came back, so it still holds resourceVersion 1 (its
 * list, empty) while the write made 7. A resync or a new leadership then must
 * not write the same content again; once the informer has seen past the
 * write, its copy decides again, and a ConfigMap it does not hold is
 * written. */
START_TEST(test_resync_waits_for_the_informer)
{
    struct rig r;
    json_t *doc = json_pack("{s:s}", "kind", "ProxyConfig");
    struct weir_translate_config a = config("demo", REV_A, doc);
    struct weir_translate_config b = config("demo", REV_B, doc);
    rig_up(&r, NULL, 0);

    patch_rv = "7";
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &a, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 1);
    weir_op_writer_forget_all(r.w);
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &a, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 1);
    ck_assert_uint_eq(weir_op_metrics_get(r.m, WEIR_OP_M_CONFIG_WRITES), 1);
    /* new content is written whatever the informer holds */
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &b, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 2);

    /* a write the informer has seen (1 is not older than 1): after a resync
     * its copy, which has no ConfigMap, decides */
    patch_rv = "1";
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &a, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 3);
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &a, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 3);
    weir_op_writer_forget_all(r.w);
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &a, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 4);

    patch_rv = NULL;
    json_decref(doc);
    rig_down(&r);
}
END_TEST

START_TEST(test_sync_skips_what_the_cluster_has)
{
    struct rig r;
    json_t *doc = json_pack("{s:s}", "kind", "ProxyConfig");
    char *data = weir_op_config_serialize(doc, NULL);
    json_t *cms = json_pack("[o]", cm_of("demo", REV_A, data, true));
    struct weir_translate_config c = config("demo", REV_A, doc);
    rig_up(&r, cms, 0);
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 0);
    /* a new revision is written */
    struct weir_translate_config c2 = config("demo", REV_B, doc);
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c2, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 1);
    free(data);
    json_decref(doc);
    rig_down(&r);
}
END_TEST

START_TEST(test_sync_errors)
{
    struct rig r;
    json_t *doc = json_pack("{s:s}", "kind", "ProxyConfig");
    struct weir_translate_config c = config("demo", REV_A, doc);
    rig_up(&r, NULL, 0);

    gate_open = false;
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_NOT_LEADER);
    ck_assert_uint_eq(fake_api_count(r.api), 0);
    gate_open = true;

    static const struct {
        int status;
        enum weir_op_result want;
    } cases[] = {{500, WEIR_OP_RETRY}, {503, WEIR_OP_RETRY},  {429, WEIR_OP_RETRY},
                 {409, WEIR_OP_RETRY}, {422, WEIR_OP_FAILED}, {403, WEIR_OP_FAILED}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        status_code = cases[i].status;
        ck_assert_msg(weir_op_writer_sync(r.w, "demo", &c, NULL, 0) == cases[i].want, "status %d",
                      cases[i].status);
        /* a failed write leaves no memo: the retry sends again */
        ck_assert_uint_eq(fake_api_count(r.api), i + 1);
    }
    status_code = 200;
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_OK);
    ck_assert_uint_eq(weir_op_metrics_get(r.m, WEIR_OP_M_API_ERRORS), 6);
    json_decref(doc);
    rig_down(&r);
}
END_TEST

START_TEST(test_too_large)
{
    struct rig r;
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_t *doc = json_pack("{s:s}", "blob", big);
    struct weir_translate_config c = config("demo", REV_A, doc);
    rig_up(&r, NULL, 2048);

    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, NULL, 0), WEIR_OP_FAILED);
    /* no ConfigMap write; one Warning Event about the Namespace */
    ck_assert_uint_eq(fake_api_count(r.api), 1);
    struct fake_request q = fake_api_request(r.api, 0);
    ck_assert_str_eq(q.method, "POST");
    ck_assert_str_eq(q.path,
                     "/apis/events.k8s.io/v1/namespaces/default/events?fieldManager=weir-test");
    ck_assert_ptr_nonnull(strstr(q.body, "ProxyConfigTooLarge"));
    ck_assert_ptr_nonnull(strstr(q.body, "over the ConfigMap limit of 2048 bytes"));
    ck_assert_ptr_nonnull(strstr(q.body, "\"kind\":\"Namespace\""));
    /* once per revision; the sentence for the CRs' Reconciled condition */
    char why[256] = "";
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c, why, sizeof(why)), WEIR_OP_FAILED);
    ck_assert_str_eq(why, "the proxy config of namespace demo is 3027 bytes, over the ConfigMap "
                          "limit of 2048 bytes; its proxies keep the last config written");
    ck_assert_uint_eq(fake_api_count(r.api), 1);
    ck_assert_uint_eq(weir_op_metrics_get(r.m, WEIR_OP_M_CONFIG_TOO_LARGE), 2);
    struct weir_translate_config c2 = config("demo", REV_B, doc);
    ck_assert_int_eq(weir_op_writer_sync(r.w, "demo", &c2, NULL, 0), WEIR_OP_FAILED);
    ck_assert_uint_eq(fake_api_count(r.api), 2);
    size_t len;
    char *m = weir_op_metrics_render(r.m, &len);
    ck_assert_ptr_nonnull(strstr(m, "weir_operator_config_bytes{namespace=\"demo\"} 3010\n"));
    free(m);
    json_decref(doc);
    rig_down(&r);
}
END_TEST

START_TEST(test_remove)
{
    struct rig r;
    json_t *cms =
        json_pack("[o, o]", cm_of("left", REV_A, "{}", true), cm_of("foreign", REV_A, "{}", false));
    rig_up(&r, cms, 0);
    /* nothing there: nothing sent */
    ck_assert_int_eq(weir_op_writer_remove(r.w, "never"), WEIR_OP_OK);
    /* not ours (no label): left alone */
    ck_assert_int_eq(weir_op_writer_remove(r.w, "foreign"), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 0);
    gate_open = false;
    ck_assert_int_eq(weir_op_writer_remove(r.w, "left"), WEIR_OP_NOT_LEADER);
    gate_open = true;
    ck_assert_int_eq(weir_op_writer_remove(r.w, "left"), WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(r.api), 1);
    struct fake_request q = fake_api_request(r.api, 0);
    ck_assert_str_eq(q.method, "DELETE");
    ck_assert_str_eq(q.path, "/api/v1/namespaces/left/configmaps/weir-proxy-config");
    ck_assert_ptr_nonnull(strstr(q.body, "\"uid\":\"uid-1\""));
    status_code = 404;
    ck_assert_int_eq(weir_op_writer_remove(r.w, "left"), WEIR_OP_OK);
    status_code = 500;
    ck_assert_int_eq(weir_op_writer_remove(r.w, "left"), WEIR_OP_RETRY);
    ck_assert_uint_eq(weir_op_metrics_get(r.m, WEIR_OP_M_CONFIG_DELETES), 1);
    rig_down(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator_writer");
    TCase *tc = tcase_create("decide");
    tcase_add_test(tc, test_decide);
    tcase_add_test(tc, test_build_and_serialize);
    suite_add_tcase(s, tc);
    TCase *io = tcase_create("sync");
    tcase_set_timeout(io, 60);
    tcase_add_test(io, test_sync_writes_once);
    tcase_add_test(io, test_resync_waits_for_the_informer);
    tcase_add_test(io, test_sync_skips_what_the_cluster_has);
    tcase_add_test(io, test_sync_errors);
    tcase_add_test(io, test_too_large);
    tcase_add_test(io, test_remove);
    suite_add_tcase(s, io);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
