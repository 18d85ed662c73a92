/* The informers' cached form of Pods, Services and EndpointSlices
 * (operator/cached.h). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cached.h"
#include "scope.h"

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);
    ck_assert_msg(o != NULL, "%s", e.text);
    return o;
}

static char *dump(const json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_ptr_nonnull(s);
    return s;
}

#define POD                                                                                    \
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"cart-0\",\"namespace\":" \
    "\"shop\",\"labels\":{\"app\":\"cart\"},\"resourceVersion\":\"7\",\"uid\":\"u1\","         \
    "\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"ownerReferences\":[{\"kind\":"           \
    "\"ReplicaSet\"}]},\"spec\":{\"serviceAccountName\":\"cart\",\"nodeName\":\"n1\","         \
    "\"volumes\":[{\"name\":\"token\"}],\"containers\":[{\"name\":\"app\",\"image\":\"x\","    \
    "\"ports\":[{\"name\":\"http\",\"containerPort\":8080}],\"resources\":{}}]},"              \
    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\",\"podIPs\":[{\"ip\":"            \
    "\"10.0.0.5\"}],\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"                \
    "\"hostIP\":\"192.168.0.1\"}}"

START_TEST(test_pod)
{
    json_t *pod = load(POD);
    weir_op_cached_pod(pod);
    /* three members and the packed content: names and labels stay a tree */
    ck_assert_uint_eq(json_object_size(pod), 4);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(pod, "metadata"), "labels"), "app")),
                     "cart");
    ck_assert_str_eq(json_string_value(json_object_get(pod, WEIR_OP_PACKED_MEMBER)),
                     "{\"spec\":{\"containers\":[{\"name\":\"app\",\"ports\":[{\"containerPort\":"
                     "8080,\"name\":\"http\"}]}],\"serviceAccountName\":\"cart\"},\"status\":{"
                     "\"phase\":\"Running\",\"podIP\":\"10.0.0.5\",\"podIPs\":[{\"ip\":"
                     "\"10.0.0.5\"}]}}");
    /* a second pass changes nothing */
    char *once = dump(pod);
    weir_op_cached_pod(pod);
    char *twice = dump(pod);
    ck_assert_str_eq(once, twice);
    free(once);
    free(twice);

    json_t *full = weir_op_cached_expand(pod);
    ck_assert_ptr_ne(full, pod);
    char *text = dump(full);
    ck_assert_str_eq(text,
                     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"labels\":{\"app\":"
                     "\"cart\"},\"name\":\"cart-0\",\"namespace\":\"shop\",\"resourceVersion\":"
                     "\"7\",\"uid\":\"u1\"},\"spec\":{\"containers\":[{\"name\":\"app\",\"ports\":"
                     "[{\"containerPort\":8080,\"name\":\"http\"}]}],\"serviceAccountName\":"
                     "\"cart\"},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\","
                     "\"podIPs\":[{\"ip\":\"10.0.0.5\"}]}}");
    free(text);
    json_decref(full);
    json_decref(pod);
}
END_TEST

START_TEST(test_service_and_slice)
{
    json_t *svc = load("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"c\","
                       "\"namespace\":\"shop\",\"annotations\":{\"networking.istio.io/exportTo\":"
                       "\".\"}},\"spec\":{\"clusterIP\":\"10.96.0.1\",\"ports\":[{\"port\":80}]},"
                       "\"status\":{\"loadBalancer\":{}}}");
    weir_op_cached_service(svc);
    ck_assert_ptr_null(json_object_get(svc, "spec"));
    /* the handlers still read the exportTo annotation */
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(svc, "metadata"), "annotations"),
                         "networking.istio.io/exportTo")),
                     ".");
    json_t *full = weir_op_cached_expand(svc);
    char *text = dump(json_object_get(full, "spec"));
    ck_assert_str_eq(text, "{\"clusterIP\":\"10.96.0.1\",\"ports\":[{\"port\":80}]}");
    free(text);
    ck_assert_ptr_null(json_object_get(full, "status"));
    json_decref(full);
    json_decref(svc);

    json_t *slice = load("{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
                         "\"metadata\":{\"name\":\"c-1\",\"namespace\":\"shop\"},\"addressType\":"
                         "\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.0.0.5\"]}]}");
    json_t *copy = json_deep_copy(slice);
    weir_op_cached_slice(slice);
    full = weir_op_cached_expand(slice);
    ck_assert(json_equal(full, copy));
    json_decref(full);
    json_decref(copy);
    json_decref(slice);

    /* objects not packed expand to themselves */
    json_t *ns =
        load("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"x\"}}");
    full = weir_op_cached_expand(ns);
    ck_assert_ptr_eq(full, ns);
    json_decref(full);
    json_decref(ns);
}
END_TEST

/* The scope rule compares cached objects: the same content after a write
 * that changed only conditions is no change, a new address is. */
START_TEST(test_scope_sees_cached_changes)
{
    json_t *a = load(POD), *b = load(POD), *c = load(POD);
    json_object_set_new(json_object_get(b, "metadata"), "resourceVersion", json_string("8"));
    json_object_set_new(json_object_get(b, "status"), "conditions", json_array());
    json_object_set_new(json_object_get(c, "status"), "podIP", json_string("10.0.0.9"));
    weir_op_cached_pod(a);
    weir_op_cached_pod(b);
    weir_op_cached_pod(c);
    ck_assert(weir_op_same_content(WEIR_OP_SRC_POD, a, b));
    ck_assert(!weir_op_same_content(WEIR_OP_SRC_POD, a, c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator_cached");
    TCase *tc = tcase_create("cached");
    tcase_add_test(tc, test_pod);
    tcase_add_test(tc, test_service_and_slice);
    tcase_add_test(tc, test_scope_sees_cached_changes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
