/* The mesh model's dispatch: kinds, versions, metadata and the return
 * convention of weir_mesh_parse. Per-kind semantics are tested by
 * test_manifests (data) and the per-kind unit tests. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "model/mesh.h"
#include "yaml/yaml_json.h"

struct result {
    int rc;
    struct weir_resource *r;
    struct weir_diags d;
    struct weir_yaml_stream s;
};

static void run(const char *yaml, struct result *res)
{
    weir_diags_init(&res->d);
    ck_assert_int_eq(weir_yaml_parse(yaml, strlen(yaml), "m.yaml", NULL, &res->s, &res->d), 0);
    ck_assert_uint_eq(res->s.ndocs, 1);
    res->rc = weir_mesh_parse(res->s.docs[0].root, &res->s, res->s.docs[0].line, "fallback",
                              &res->r, &res->d);
}

static void done(struct result *res)
{
    weir_resource_free(res->r);
    weir_diags_free(&res->d);
    weir_yaml_stream_free(&res->s);
}

static char *first(struct result *res)
{
    ck_assert_uint_gt(res->d.len, 0);
    return weir_diag_format(&res->d.items[0]);
}

START_TEST(test_kind_lookup)
{
    bool g, v;
    ck_assert_int_eq(weir_kind_lookup("networking.istio.io/v1alpha3", "VirtualService", &g, &v),
                     WEIR_KIND_VIRTUAL_SERVICE);
    ck_assert(g && v);
    ck_assert_int_eq(weir_kind_lookup("security.istio.io/v1beta1", "PeerAuthentication", &g, &v),
                     WEIR_KIND_PEER_AUTHENTICATION);
    ck_assert(g && v);
    ck_assert_int_eq(weir_kind_lookup("security.istio.io/v1alpha3", "PeerAuthentication", &g, &v),
                     WEIR_KIND_PEER_AUTHENTICATION);
    ck_assert(g && !v);
    /* a networking kind under the security group is not that kind */
    ck_assert_int_eq(weir_kind_lookup("security.istio.io/v1", "VirtualService", &g, &v),
                     WEIR_KIND_NONE);
    ck_assert(g);
    ck_assert_int_eq(weir_kind_lookup("apps/v1", "Deployment", &g, &v), WEIR_KIND_NONE);
    ck_assert(!g);
    ck_assert_str_eq(weir_kind_name(WEIR_KIND_DESTINATION_RULE), "DestinationRule");
    ck_assert_ptr_null(weir_kind_name(WEIR_KIND_NONE));
}
END_TEST

START_TEST(test_not_a_mesh_kind)
{
    struct result res;
    run("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", &res);
    ck_assert_int_eq(res.rc, 1);
    ck_assert_ptr_null(res.r);
    ck_assert_uint_eq(res.d.len, 0);
    done(&res);
}
END_TEST

START_TEST(test_unknown_kind_in_mesh_group)
{
    struct result res;
    run("apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: x}\n", &res);
    ck_assert_int_eq(res.rc, -1);
    char *s = first(&res);
    ck_assert_str_eq(s, "VirtualServce fallback/x: kind: VirtualServce is not a kind of "
                        "networking.istio.io/v1");
    ck_assert_int_eq(res.d.items[0].line, 2);
    free(s);
    done(&res);
}
END_TEST

START_TEST(test_misspelt_group)
{
    struct result res;
    run("apiVersion: networkin.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\n", &res);
    ck_assert_int_eq(res.rc, -1);
    char *s = first(&res);
    ck_assert_str_eq(s, "VirtualService fallback/x: apiVersion: networkin.istio.io/v1 does not "
                        "serve VirtualService; use networking.istio.io/v1");
    free(s);
    done(&res);
    run("apiVersion: security.istio.io\nkind: PeerAuthentication\nmetadata: {name: x}\n", &res);
    ck_assert_int_eq(res.rc, -1);
    s = first(&res);
    ck_assert_str_eq(s, "PeerAuthentication fallback/x: apiVersion: security.istio.io does not "
                        "serve PeerAuthentication; use security.istio.io/v1");
    free(s);
    done(&res);
    /* another project's kind of the same name is not ours to judge */
    run("apiVersion: example.com/v1\nkind: VirtualService\nmetadata: {name: x}\n", &res);
    ck_assert_int_eq(res.rc, 1);
    done(&res);
}
END_TEST

START_TEST(test_unserved_version)
{
    struct result res;
    run("apiVersion: security.istio.io/v1alpha1\nkind: AuthorizationPolicy\n"
        "metadata: {name: x, namespace: foo}\n",
        &res);
    ck_assert_int_eq(res.rc, -1);
    char *s = first(&res);
    ck_assert_str_eq(s, "AuthorizationPolicy foo/x: apiVersion: security.istio.io/v1alpha1 is "
                        "not served; use v1 or v1beta1");
    free(s);
    done(&res);
}
END_TEST

START_TEST(test_missing_type_fields)
{
    struct result res;
    run("metadata: {name: x}\n", &res);
    ck_assert_int_eq(res.rc, -1);
    char *s = first(&res);
    ck_assert_str_eq(s, "object fallback/x: apiVersion and kind are required");
    free(s);
    done(&res);
}
END_TEST

START_TEST(test_not_a_mapping)
{
    struct result res;
    run("- a\n- b\n", &res);
    ck_assert_int_eq(res.rc, -1);
    char *s = first(&res);
    ck_assert_str_eq(s, "object fallback/(unnamed): a Kubernetes object must be a mapping, got "
                        "array");
    free(s);
    done(&res);
}
END_TEST

START_TEST(test_metadata_checked)
{
    struct result res;
    run("apiVersion: security.istio.io/v1\n"
        "kind: PeerAuthentication\n"
        "metadata:\n"
        "  name: Bad_Name\n"
        "  namespace: prod\n"
        "  labels: {\"app\": \"-x\"}\n"
        "  colour: blue\n"
        "spec:\n"
        "  mtls: {mode: STRICT}\n",
        &res);
    ck_assert_int_eq(res.rc, -1);
    ck_assert_uint_eq(weir_diags_count(&res.d, WEIR_SEV_ERROR), 3);
    const char *want[] = {
        "PeerAuthentication prod/Bad_Name: metadata.colour: unknown field",
        "PeerAuthentication prod/Bad_Name: metadata.name: must be a DNS-1123 subdomain: "
        "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
        "PeerAuthentication prod/Bad_Name: metadata.labels.app: label value must start and end "
        "with a letter or digit",
    };
    for (size_t i = 0; i < 3; i++) {
        bool found = false;
        for (size_t j = 0; j < res.d.len; j++) {
            char *s = weir_diag_format(&res.d.items[j]);
            found |= strcmp(s, want[i]) == 0;
            free(s);
        }
        ck_assert_msg(found, "missing: %s", want[i]);
    }
    done(&res);
}
END_TEST

START_TEST(test_valid_object_metadata)
{
    struct result res;
    run("apiVersion: security.istio.io/v1\n"
        "kind: PeerAuthentication\n"
        "metadata:\n"
        "  name: default\n"
        "  labels: {team: mesh}\n"
        "  annotations: {note: \"strict everywhere\"}\n"
        "  generation: 7\n"
        "spec:\n"
        "  mtls: {mode: STRICT}\n",
        &res);
    ck_assert_msg(res.rc == 0, "diagnostics: %zu", res.d.len);
    ck_assert_int_eq(res.r->kind, WEIR_KIND_PEER_AUTHENTICATION);
    ck_assert_str_eq(res.r->meta.name, "default");
    ck_assert_str_eq(res.r->meta.namespace_, "fallback");
    ck_assert_str_eq(res.r->meta.api_version, "security.istio.io/v1");
    ck_assert_str_eq(weir_string_map_get(&res.r->meta.labels, "team"), "mesh");
    ck_assert_str_eq(weir_string_map_get(&res.r->meta.annotations, "note"), "strict everywhere");
    ck_assert_int_eq(res.r->meta.generation, 7);
    ck_assert_int_eq(res.r->line, 1);
    done(&res);
}
END_TEST

START_TEST(test_duration_parsing)
{
    int64_t ns;
    ck_assert_int_eq(weir_parse_duration("1.5s", &ns), 0);
    ck_assert_int_eq(ns, 1500000000);
    ck_assert_int_eq(weir_parse_duration("250ms", &ns), 0);
    ck_assert_int_eq(ns, 250000000);
    ck_assert_int_eq(weir_parse_duration("1h30m", &ns), 0);
    ck_assert_int_eq(ns, 5400000000000LL);
    ck_assert_int_eq(weir_parse_duration("10us", &ns), 0);
    ck_assert_int_eq(ns, 10000);
    ck_assert_int_eq(weir_parse_duration("5", &ns), -1);
    ck_assert_int_eq(weir_parse_duration("", &ns), -1);
    ck_assert_int_eq(weir_parse_duration("-1s", &ns), -1);
    ck_assert_int_eq(weir_parse_duration("1x", &ns), -1);
    ck_assert_int_eq(weir_parse_duration("99999999999h", &ns), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, test_kind_lookup);
    tcase_add_test(tc, test_not_a_mesh_kind);
    tcase_add_test(tc, test_unknown_kind_in_mesh_group);
    tcase_add_test(tc, test_unserved_version);
    tcase_add_test(tc, test_misspelt_group);
    tcase_add_test(tc, test_missing_type_fields);
    tcase_add_test(tc, test_not_a_mapping);
    tcase_add_test(tc, test_metadata_checked);
    tcase_add_test(tc, test_valid_object_metadata);
    tcase_add_test(tc, test_duration_parsing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
