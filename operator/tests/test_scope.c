/* Which events queue which namespaces (operator/scope.h). */
#include <check.h>
#include <stdlib.h>

#include "scope.h"

static json_t *obj(const char *text)
{
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);
    ck_assert_msg(o != NULL, "bad test JSON: %s", e.text);
    return o;
}

static json_t *with(const json_t *base, const char *path_json)
{
    /* a merge patch (RFC 7386) of base */
    json_t *copy = json_deep_copy(base), *patch = obj(path_json);
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v)
    {
        json_t *cur = json_object_get(copy, k);
        if (json_is_object(cur) && json_is_object(v))
            json_object_update_recursive(cur, v);
        else
            json_object_set(copy, k, v);
    }
    json_decref(patch);
    return copy;
}

#define ROOT "weir-system"

START_TEST(test_namespace_membership)
{
    json_t *plain = obj("{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"web\"}}");
    json_t *weir = with(plain, "{\"metadata\":{\"labels\":{\"weir-injection\":\"enabled\"}}}");
    json_t *istio = with(plain, "{\"metadata\":{\"labels\":{\"istio-injection\":\"enabled\"}}}");
    json_t *opted_out = with(plain, "{\"metadata\":{\"labels\":{\"weir-injection\":\"disabled\","
                                    "\"istio-injection\":\"enabled\"}}}");
    json_t *relabelled = with(weir, "{\"metadata\":{\"labels\":{\"team\":\"a\"}}}");

    ck_assert(!weir_op_namespace_in_mesh(plain));
    ck_assert(weir_op_namespace_in_mesh(weir));
    ck_assert(weir_op_namespace_in_mesh(istio));
    /* weir's label decides alone when present */
    ck_assert(!weir_op_namespace_in_mesh(opted_out));

    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_NAMESPACE, plain, weir, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_NAMESPACE, istio, opted_out, ROOT),
                     WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_NAMESPACE, weir, relabelled, ROOT),
                     WEIR_OP_SCOPE_NONE);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_NAMESPACE, NULL, weir, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_NAMESPACE, weir, NULL, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_NAMESPACE, NULL, plain, ROOT),
                     WEIR_OP_SCOPE_NONE);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_NAMESPACE, plain, NULL, ROOT),
                     WEIR_OP_SCOPE_NONE);
    /* a status change (Terminating) is not a label change */
    json_t *terminating = with(weir, "{\"status\":{\"phase\":\"Terminating\"}}");
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_NAMESPACE, weir, terminating, ROOT),
                     WEIR_OP_SCOPE_NONE);
    json_decref(terminating);
    json_decref(plain);
    json_decref(weir);
    json_decref(istio);
    json_decref(opted_out);
    json_decref(relabelled);
}
END_TEST

START_TEST(test_cr_status_writes_are_ignored)
{
    json_t *vs = obj("{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"VirtualService\","
                     "\"metadata\":{\"name\":\"r\",\"namespace\":\"web\",\"generation\":1,"
                     "\"resourceVersion\":\"10\"},\"spec\":{\"hosts\":[\"r\"]}}");
    json_t *status = with(vs, "{\"metadata\":{\"resourceVersion\":\"11\",\"managedFields\":[{}]},"
                              "\"status\":{\"observedGeneration\":1}}");
    json_t *spec = with(vs, "{\"metadata\":{\"generation\":2},\"spec\":{\"hosts\":[\"r\",\"s\"]}}");
    json_t *label = with(vs, "{\"metadata\":{\"labels\":{\"x\":\"y\"}}}");

    /* our own status writes must not make a loop */
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, vs, status, ROOT), WEIR_OP_SCOPE_NONE);
    /* a VirtualService is visible across namespaces (exportTo) */
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, vs, spec, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, vs, label, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, NULL, vs, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, vs, NULL, ROOT), WEIR_OP_SCOPE_ALL);
    /* an informer resync */
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, vs, vs, ROOT), WEIR_OP_SCOPE_NONE);
    json_decref(vs);
    json_decref(status);
    json_decref(spec);
    json_decref(label);
}
END_TEST

START_TEST(test_security_policies)
{
    json_t *ap = obj("{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\","
                     "\"metadata\":{\"name\":\"p\",\"namespace\":\"web\"},\"spec\":{}}");
    json_t *ap_root = with(ap, "{\"metadata\":{\"namespace\":\"" ROOT "\"}}");
    json_t *pa = obj("{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"PeerAuthentication\","
                     "\"metadata\":{\"name\":\"p\",\"namespace\":\"web\"},"
                     "\"spec\":{\"mtls\":{\"mode\":\"STRICT\"}}}");
    json_t *pa_sel = with(pa, "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"a\"}}}}");
    json_t *ra = obj("{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"RequestAuthentication\","
                     "\"metadata\":{\"name\":\"p\",\"namespace\":\"web\"},\"spec\":{}}");

    /* only the proxies of its namespace read it */
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, NULL, ap, ROOT),
                     WEIR_OP_SCOPE_NAMESPACE);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, NULL, ra, ROOT),
                     WEIR_OP_SCOPE_NAMESPACE);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, NULL, pa_sel, ROOT),
                     WEIR_OP_SCOPE_NAMESPACE);
    /* mesh-wide, or deciding the mTLS clients use toward the namespace */
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, NULL, ap_root, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, NULL, pa, ROOT), WEIR_OP_SCOPE_ALL);
    /* a selector removed: the wider of before and after */
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CR, pa_sel, pa, ROOT), WEIR_OP_SCOPE_ALL);
    json_decref(ap);
    json_decref(ap_root);
    json_decref(pa);
    json_decref(pa_sel);
    json_decref(ra);
}
END_TEST

START_TEST(test_pod_churn_filtered)
{
    json_t *pod = obj("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\","
                      "\"namespace\":\"web\",\"labels\":{\"app\":\"a\"},\"resourceVersion\":\"1\"},"
                      "\"spec\":{\"serviceAccountName\":\"a\"},"
                      "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.1\","
                      "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}");
    json_t *cond = with(pod, "{\"metadata\":{\"resourceVersion\":\"2\"},\"status\":{\"conditions\":"
                             "[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
    json_t *ip = with(pod, "{\"status\":{\"podIP\":\"10.0.0.2\"}}");
    json_t *labels = with(pod, "{\"metadata\":{\"labels\":{\"version\":\"v2\"}}}");

    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_POD, pod, cond, ROOT), WEIR_OP_SCOPE_NONE);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_POD, pod, ip, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_POD, pod, labels, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_POD, NULL, pod, ROOT), WEIR_OP_SCOPE_ALL);
    json_decref(pod);
    json_decref(cond);
    json_decref(ip);
    json_decref(labels);
}
END_TEST

START_TEST(test_services_and_slices)
{
    json_t *svc = obj("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"a\","
                      "\"namespace\":\"web\",\"annotations\":{"
                      "\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}},"
                      "\"spec\":{\"ports\":[{\"port\":80}]}}");
    json_t *touched = with(svc, "{\"metadata\":{\"annotations\":{"
                                "\"kubectl.kubernetes.io/last-applied-configuration\":\"{1}\"}},"
                                "\"status\":{\"loadBalancer\":{}}}");
    json_t *export = with(svc, "{\"metadata\":{\"annotations\":{"
                               "\"networking.istio.io/exportTo\":\".\"}}}");
    json_t *slice = obj("{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
                        "\"metadata\":{\"name\":\"a-1\",\"namespace\":\"web\",\"annotations\":{"
                        "\"endpoints.kubernetes.io/last-change-trigger-time\":\"t1\"}},"
                        "\"endpoints\":[]}");
    json_t *trigger = with(slice, "{\"metadata\":{\"annotations\":{"
                                  "\"endpoints.kubernetes.io/last-change-trigger-time\":\"t2\"}}}");
    json_t *eps = with(slice, "{\"endpoints\":[{\"addresses\":[\"10.0.0.1\"]}]}");

    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_SERVICE, svc, touched, ROOT), WEIR_OP_SCOPE_NONE);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_SERVICE, svc, export, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_SERVICE, svc, NULL, ROOT), WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_ENDPOINTSLICE, slice, trigger, ROOT),
                     WEIR_OP_SCOPE_NONE);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_ENDPOINTSLICE, slice, eps, ROOT),
                     WEIR_OP_SCOPE_ALL);
    json_decref(svc);
    json_decref(touched);
    json_decref(export);
    json_decref(slice);
    json_decref(trigger);
    json_decref(eps);
}
END_TEST

START_TEST(test_mesh_config)
{
    json_t *cm =
        obj("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
            "\"weir-mesh-config\",\"namespace\":\"weir-system\",\"resourceVersion\":\"1\"},"
            "\"data\":{\"mesh\":\"trustDomain: a\"}}");
    json_t *same = with(cm, "{\"metadata\":{\"resourceVersion\":\"2\",\"labels\":{\"x\":\"y\"}}}");
    json_t *changed = with(cm, "{\"data\":{\"mesh\":\"trustDomain: b\"}}");
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CONFIG, cm, same, ROOT), WEIR_OP_SCOPE_NONE);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CONFIG, cm, changed, ROOT),
                     WEIR_OP_SCOPE_ALL);
    ck_assert_int_eq(weir_op_scope_of(WEIR_OP_SRC_MESH_CONFIG, NULL, NULL, ROOT),
                     WEIR_OP_SCOPE_NONE);
    ck_assert_str_eq(weir_op_scope_name(WEIR_OP_SCOPE_ALL), "all");
    json_decref(cm);
    json_decref(same);
    json_decref(changed);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator_scope");
    TCase *tc = tcase_create("scope");
    tcase_add_test(tc, test_namespace_membership);
    tcase_add_test(tc, test_cr_status_writes_are_ignored);
    tcase_add_test(tc, test_security_policies);
    tcase_add_test(tc, test_pod_churn_filtered);
    tcase_add_test(tc, test_services_and_slices);
    tcase_add_test(tc, test_mesh_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
