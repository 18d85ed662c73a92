#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kube/resource.h"

static void path_is(const struct weir_kube_resource *r, const char *ns, const char *name,
                    const char *sub, const char *want)
{
    char *p = weir_kube_path(r, ns, name, sub);
    if (!want) {
        ck_assert_msg(p == NULL, "expected no path, got %s", p);
        return;
    }
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, want);
    free(p);
}

START_TEST(test_core_group)
{
    path_is(&weir_kube_res_configmaps, "demo", NULL, NULL, "/api/v1/namespaces/demo/configmaps");
    path_is(&weir_kube_res_configmaps, "demo", "cm-1", NULL,
            "/api/v1/namespaces/demo/configmaps/cm-1");
    path_is(&weir_kube_res_configmaps, NULL, NULL, NULL, "/api/v1/configmaps");
    path_is(&weir_kube_res_configmaps, "", NULL, NULL, "/api/v1/configmaps");
    path_is(&weir_kube_res_pods, "demo", "p", "status", "/api/v1/namespaces/demo/pods/p/status");
}
END_TEST

START_TEST(test_named_groups)
{
    path_is(&weir_kube_res_virtualservices, "bookinfo", "reviews", NULL,
            "/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices/reviews");
    path_is(&weir_kube_res_virtualservices, NULL, NULL, NULL,
            "/apis/networking.istio.io/v1/virtualservices");
    path_is(&weir_kube_res_events, "demo", NULL, NULL,
            "/apis/events.k8s.io/v1/namespaces/demo/events");
    path_is(&weir_kube_res_authorizationpolicies, "x", "y", "status",
            "/apis/security.istio.io/v1/namespaces/x/authorizationpolicies/y/status");
}
END_TEST

START_TEST(test_cluster_scoped)
{
    path_is(&weir_kube_res_namespaces, NULL, "demo", NULL, "/api/v1/namespaces/demo");
    path_is(&weir_kube_res_namespaces, NULL, NULL, NULL, "/api/v1/namespaces");
    path_is(&weir_kube_res_crds, NULL, "widgets.example.com", NULL,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com");
    /* a namespace given for a cluster-scoped resource is a caller bug */
    path_is(&weir_kube_res_namespaces, "demo", "x", NULL, NULL);
}
END_TEST

START_TEST(test_custom_resource)
{
    const struct weir_kube_resource widgets = {"example.com", "v1alpha1", "widgets", "Widget",
                                               true};
    path_is(&widgets, "ns", "w", "status",
            "/apis/example.com/v1alpha1/namespaces/ns/widgets/w/status");
    const struct weir_kube_resource nogroup = {NULL, "v1", "things", NULL, false};
    path_is(&nogroup, NULL, "t", NULL, "/api/v1/things/t");
}
END_TEST

START_TEST(test_bad_segments)
{
    path_is(&weir_kube_res_configmaps, "demo", "..", NULL, NULL);
    path_is(&weir_kube_res_configmaps, "demo", ".", NULL, NULL);
    path_is(&weir_kube_res_configmaps, "de/mo", "x", NULL, NULL);
    path_is(&weir_kube_res_configmaps, "demo", "a/b", NULL, NULL);
    path_is(&weir_kube_res_configmaps, "demo", NULL, "status", NULL); /* subresource needs a name */
    /* odd but legal-looking bytes are escaped, never passed raw */
    path_is(&weir_kube_res_configmaps, "demo", "a b?c", NULL,
            "/api/v1/namespaces/demo/configmaps/a%20b%3Fc");
}
END_TEST

START_TEST(test_query_escaping)
{
    struct weir_kube_query q;
    weir_kube_query_init(&q);
    ck_assert_str_eq(weir_kube_query_str(&q), "");
    weir_kube_query_add(&q, "labelSelector", "app in (a,b),tier!=web,!legacy");
    weir_kube_query_add(&q, "fieldSelector", "metadata.name=x");
    weir_kube_query_add(&q, "continue", NULL); /* skipped */
    weir_kube_query_add(&q, "resourceVersion", "");
    weir_kube_query_add_long(&q, "limit", 100);
    ck_assert_str_eq(weir_kube_query_str(&q),
                     "?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Dweb%2C%21legacy"
                     "&fieldSelector=metadata.name%3Dx&limit=100");
    weir_kube_query_free(&q);

    /* a continue token is base64 with '=' and '+' */
    weir_kube_query_init(&q);
    weir_kube_query_add(&q, "continue", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTB9+/==");
    ck_assert_str_eq(weir_kube_query_str(&q),
                     "?continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTB9%2B%2F%3D%3D");
    weir_kube_query_free(&q);
}
END_TEST

START_TEST(test_escape)
{
    char *s = weir_kube_escape("a-b_c.d~e f/g\xc3\xa9");
    ck_assert_str_eq(s, "a-b_c.d~e%20f%2Fg%C3%A9");
    free(s);
}
END_TEST

START_TEST(test_lookup_and_api_version)
{
    char buf[128];
    ck_assert_ptr_eq(weir_kube_resource_lookup("configmaps"), &weir_kube_res_configmaps);
    ck_assert_ptr_eq(weir_kube_resource_lookup("events"), &weir_kube_res_events_core);
    ck_assert_ptr_eq(weir_kube_resource_lookup("events.events.k8s.io"), &weir_kube_res_events);
    ck_assert_ptr_eq(weir_kube_resource_lookup("virtualservices.networking.istio.io"),
                     &weir_kube_res_virtualservices);
    ck_assert_ptr_null(weir_kube_resource_lookup("virtualservices"));
    ck_assert_ptr_null(weir_kube_resource_lookup("gadgets"));
    ck_assert_str_eq(weir_kube_api_version(&weir_kube_res_pods, buf, sizeof(buf)), "v1");
    ck_assert_str_eq(weir_kube_api_version(&weir_kube_res_leases, buf, sizeof(buf)),
                     "coordination.k8s.io/v1");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_resource");
    TCase *tc = tcase_create("paths");
    tcase_add_test(tc, test_core_group);
    tcase_add_test(tc, test_named_groups);
    tcase_add_test(tc, test_cluster_scoped);
    tcase_add_test(tc, test_custom_resource);
    tcase_add_test(tc, test_bad_segments);
    tcase_add_test(tc, test_query_escaping);
    tcase_add_test(tc, test_escape);
    tcase_add_test(tc, test_lookup_and_api_version);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
