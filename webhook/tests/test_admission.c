/* The AdmissionReview codec and the two handlers, without a server: what the
 * API server sends in, what goes back out, byte for byte where it matters. */
#include <check.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "inject/jsonpatch.h"

static const char *const pod_review =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"u-1\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
    "\"namespace\":\"shop\",\"operation\":\"CREATE\",\"object\":{\"apiVersion\":\"v1\","
    "\"kind\":\"Pod\",\"metadata\":{\"generateName\":\"web-6d4cf56db6-\",\"labels\":{\"app\":"
    "\"web\"}},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\"}]}}}}";

static json_t *review_with(const char *group_version, const char *kind, const char *op,
                           const char *object_json)
{
    char *gv = strdup(group_version);
    char *slash = strchr(gv, '/');
    const char *group = slash ? gv : "";
    const char *version = slash ? slash + 1 : gv;
    if (slash)
        *slash = '\0';
    json_t *obj = json_loads(object_json, 0, NULL);
    ck_assert_ptr_nonnull(obj);
    json_t *r =
        json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:o}}", "apiVersion",
                  "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid", "u-2", "kind",
                  "group", group, "version", version, "kind", kind, "namespace", "default", "name",
                  "reviews", "operation", op, "object", obj);
    free(gv);
    return r;
}

static void decode_json(const json_t *review, struct weir_admission_review *rv)
{
    char *text = json_dumps(review, 0);
    char err[256];
    ck_assert_int_eq(weir_admission_decode(text, strlen(text), rv, err, sizeof(err)), 0);
    free(text);
}

static json_t *encode_and_parse(const char *uid, const struct weir_admission_response *r)
{
    char *text = weir_admission_encode(uid, r);
    ck_assert_ptr_nonnull(text);
    json_t *out = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(out);
    free(text);
    return out;
}

START_TEST(test_decode_refusals)
{
    struct weir_admission_review rv;
    char err[256];
    struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"", "request body is empty; expected an AdmissionReview"},
        {"{\"a\":", "request body is not JSON: "},
        {"[1,2]", "request body is not an admission.k8s.io/v1 AdmissionReview: the body is not a "
                  "JSON object"},
        {"{\"kind\":\"Pod\"}",
         "request body is not an admission.k8s.io/v1 AdmissionReview: kind is not AdmissionReview"},
        {"{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1beta1\","
         "\"request\":{\"uid\":\"x\"}}",
         "request body is not an admission.k8s.io/v1 AdmissionReview: apiVersion is not "
         "admission.k8s.io/v1 (register the webhook with admissionReviewVersions: [v1])"},
        {"{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}",
         "request body is not an admission.k8s.io/v1 AdmissionReview: request is missing"},
        {"{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{}}",
         "request body is not an admission.k8s.io/v1 AdmissionReview: request.uid is missing"},
        {"{\"kind\":\"AdmissionReview\",\"kind\":\"AdmissionReview\"}", "request body is not JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(
            weir_admission_decode(cases[i].body, strlen(cases[i].body), &rv, err, sizeof(err)), -1);
        ck_assert_msg(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0, "case %zu: %s", i,
                      err);
        ck_assert_ptr_null(rv.root);
    }
}
END_TEST

START_TEST(test_inject_review)
{
    struct weir_admission_review rv;
    struct weir_admission_response ar;
    struct weir_mesh_config mc;
    char err[256];

    ck_assert_int_eq(weir_mesh_config_defaults(&mc), 0);
    ck_assert_int_eq(weir_admission_decode(pod_review, strlen(pod_review), &rv, err, sizeof(err)),
                     0);
    ck_assert_str_eq(rv.uid, "u-1");
    ck_assert_str_eq(rv.kind, "Pod");
    weir_admission_inject(&rv, &mc, &ar);
    ck_assert(ar.allowed);
    ck_assert_int_eq(ar.result, WEIR_RESULT_INJECTED);

    json_t *out = encode_and_parse(rv.uid, &ar);
    ck_assert_str_eq(json_string_value(json_object_get(out, "apiVersion")), "admission.k8s.io/v1");
    ck_assert_str_eq(json_string_value(json_object_get(out, "kind")), "AdmissionReview");
    json_t *resp = json_object_get(out, "response");
    ck_assert_str_eq(json_string_value(json_object_get(resp, "uid")), "u-1");
    ck_assert(json_is_true(json_object_get(resp, "allowed")));
    ck_assert_str_eq(json_string_value(json_object_get(resp, "patchType")), "JSONPatch");
    ck_assert_ptr_null(json_object_get(resp, "status"));

    /* the patch is base64 of a JSON Patch that applies to the pod */
    const char *b64 = json_string_value(json_object_get(resp, "patch"));
    ck_assert_ptr_nonnull(b64);
    ck_assert_ptr_null(strchr(b64, '\n'));
    size_t n = strlen(b64);
    unsigned char *raw = malloc(n);
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    ck_assert_int_gt(len, 0);
    while (len > 0 && raw[len - 1] == '\0') /* EVP_DecodeBlock counts the padding */
        len--;
    json_t *patch = json_loadb((const char *)raw, (size_t)len, 0, NULL);
    ck_assert_ptr_nonnull(patch);
    json_t *pod = json_deep_copy(rv.object);
    ck_assert_int_eq(weir_jsonpatch_apply(&pod, patch, err, sizeof(err)), 0);
    ck_assert_str_eq(json_string_value(weir_json_pointer_get(pod, "/spec/initContainers/1/name")),
                     "weir-proxy");
    ck_assert_str_eq(json_string_value(weir_json_pointer_get(pod, "/metadata/labels/app")), "web");
    json_decref(pod);
    json_decref(patch);
    free(raw);
    json_decref(out);
    weir_admission_response_free(&ar);
    weir_admission_review_free(&rv);
    weir_mesh_config_free(&mc);
}
END_TEST

START_TEST(test_inject_passes_other_objects_through)
{
    struct weir_admission_review rv;
    struct weir_admission_response ar;
    struct weir_mesh_config mc;
    ck_assert_int_eq(weir_mesh_config_defaults(&mc), 0);

    json_t *r = review_with("v1", "Pod", "UPDATE",
                            "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"containers\":[{\"name\":"
                            "\"a\"}]}}");
    decode_json(r, &rv);
    weir_admission_inject(&rv, &mc, &ar);
    ck_assert(ar.allowed);
    ck_assert_ptr_null(ar.patch);
    ck_assert_int_eq(ar.result, WEIR_RESULT_SKIPPED);
    weir_admission_response_free(&ar);
    weir_admission_review_free(&rv);
    json_decref(r);

    r = review_with("apps/v1", "Deployment", "CREATE", "{\"metadata\":{\"name\":\"x\"}}");
    decode_json(r, &rv);
    weir_admission_inject(&rv, &mc, &ar);
    ck_assert(ar.allowed);
    ck_assert_ptr_null(ar.patch);
    weir_admission_response_free(&ar);
    weir_admission_review_free(&rv);
    json_decref(r);
    weir_mesh_config_free(&mc);
}
END_TEST

START_TEST(test_inject_refusal_lists_every_reason)
{
    struct weir_admission_review rv;
    struct weir_admission_response ar;
    struct weir_mesh_config mc;
    ck_assert_int_eq(weir_mesh_config_defaults(&mc), 0);
    json_t *r = review_with(
        "v1", "Pod", "CREATE",
        "{\"metadata\":{\"name\":\"web\",\"annotations\":{"
        "\"traffic.sidecar.istio.io/excludeOutboundPorts\":\"x\","
        "\"sidecar.istio.io/proxyCPU\":\"lots\"}},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
    decode_json(r, &rv);
    weir_admission_inject(&rv, &mc, &ar);
    ck_assert(!ar.allowed);
    ck_assert_int_eq(ar.code, 400);
    ck_assert_int_eq(ar.result, WEIR_RESULT_REFUSED);
    ck_assert_str_eq(ar.message,
                     "Pod default/web: metadata.annotations[\"sidecar.istio.io/proxyCPU\"]: "
                     "\"lots\" is not a Kubernetes quantity (such as 500m, 2, 128Mi); Pod "
                     "default/web: metadata.annotations[\"traffic.sidecar.istio.io/"
                     "excludeOutboundPorts\"]: \"x\" is not a port number (1..65535)");
    json_t *out = encode_and_parse("u-2", &ar);
    json_t *status = json_object_get(json_object_get(out, "response"), "status");
    ck_assert_int_eq(json_integer_value(json_object_get(status, "code")), 400);
    ck_assert_str_eq(json_string_value(json_object_get(status, "reason")), "BadRequest");
    ck_assert_str_eq(json_string_value(json_object_get(status, "message")), ar.message);
    ck_assert_ptr_null(json_object_get(json_object_get(out, "response"), "patch"));
    json_decref(out);
    weir_admission_response_free(&ar);
    weir_admission_review_free(&rv);
    json_decref(r);
    weir_mesh_config_free(&mc);
}
END_TEST

START_TEST(test_validate_denies_with_every_error)
{
    struct weir_admission_review rv;
    struct weir_admission_response ar;
    json_t *r = review_with("networking.istio.io/v1", "VirtualService", "CREATE",
                            "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":"
                            "\"VirtualService\",\"metadata\":{\"name\":\"reviews\"},\"spec\":{"
                            "\"hosts\":[\"reviews\"],\"http\":[{\"route\":[{\"destination\":{"
                            "\"host\":\"reviews\"},\"weight\":140}],\"timeout\":\"2\"}]}}");
    decode_json(r, &rv);
    weir_admission_validate(&rv, &ar);
    ck_assert(!ar.allowed);
    ck_assert_int_eq(ar.code, 400);
    ck_assert_int_eq(ar.result, WEIR_RESULT_DENIED);
    /* the namespace comes from the request when the object names none */
    ck_assert_str_eq(ar.message,
                     "VirtualService default/reviews: spec.http[0].route[0].weight: must be "
                     "0..100, got 140; VirtualService default/reviews: spec.http[0].timeout: "
                     "invalid duration \"2\" (use a form such as \"1.5s\" or \"250ms\")");
    weir_admission_response_free(&ar);

    /* an object being deleted is let through whatever it holds */
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(r, "request"), "object"), "metadata"),
        "deletionTimestamp", json_string("2026-01-01T00:00:00Z"));
    json_object_set_new(json_object_get(r, "request"), "operation", json_string("UPDATE"));
    weir_admission_review_free(&rv);
    decode_json(r, &rv);
    weir_admission_validate(&rv, &ar);
    ck_assert(ar.allowed);
    weir_admission_response_free(&ar);
    weir_admission_review_free(&rv);
    json_decref(r);
}
END_TEST

START_TEST(test_validate_warns_on_unsupported)
{
    struct weir_admission_review rv;
    struct weir_admission_response ar;
    json_t *r = review_with("networking.istio.io/v1", "VirtualService", "UPDATE",
                            "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":"
                            "\"VirtualService\",\"metadata\":{\"name\":\"reviews\",\"namespace\":"
                            "\"shop\"},\"spec\":{\"hosts\":[\"reviews\"],\"http\":[{\"match\":[{"
                            "\"gateways\":[\"g\"]}],\"route\":[{\"destination\":{\"host\":"
                            "\"reviews\"}}]}]}}");
    decode_json(r, &rv);
    weir_admission_validate(&rv, &ar);
    ck_assert(ar.allowed);
    ck_assert_int_eq(ar.result, WEIR_RESULT_WARNED);
    json_t *out = encode_and_parse("u-2", &ar);
    json_t *warnings = json_object_get(json_object_get(out, "response"), "warnings");
    ck_assert_uint_eq(json_array_size(warnings), 1);
    ck_assert_str_eq(json_string_value(json_array_get(warnings, 0)),
                     "VirtualService shop/reviews: spec.http[0].match[0].gateways: field is not "
                     "supported by Weir yet");
    json_decref(out);
    weir_admission_response_free(&ar);
    weir_admission_review_free(&rv);
    json_decref(r);

    /* kinds that are not mesh objects are allowed silently */
    r = review_with("v1", "ConfigMap", "CREATE", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"}");
    decode_json(r, &rv);
    weir_admission_validate(&rv, &ar);
    ck_assert(ar.allowed);
    ck_assert_int_eq(ar.result, WEIR_RESULT_ALLOWED);
    ck_assert_ptr_null(ar.warnings);
    weir_admission_response_free(&ar);
    weir_admission_review_free(&rv);
    json_decref(r);
}
END_TEST

START_TEST(test_metrics_render)
{
    weir_metrics_observe(WEIR_EP_INJECT, WEIR_RESULT_INJECTED, 0.0003);
    weir_metrics_observe(WEIR_EP_INJECT, WEIR_RESULT_INJECTED, 0.02);
    weir_metrics_observe(WEIR_EP_VALIDATE, WEIR_RESULT_DENIED, 0.001);
    size_t len;
    char *text = weir_metrics_render(&len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_ptr_nonnull(strstr(
        text,
        "weir_webhook_admission_requests_total{endpoint=\"inject\",result=\"injected\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(
        text,
        "weir_webhook_admission_requests_total{endpoint=\"validate\",result=\"denied\"} 1\n"));
    /* buckets are cumulative */
    ck_assert_ptr_nonnull(strstr(
        text,
        "weir_webhook_admission_duration_seconds_bucket{endpoint=\"inject\",le=\"0.0005\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        text,
        "weir_webhook_admission_duration_seconds_bucket{endpoint=\"inject\",le=\"0.025\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(
        text,
        "weir_webhook_admission_duration_seconds_bucket{endpoint=\"inject\",le=\"+Inf\"} 2\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "weir_webhook_admission_duration_seconds_count{endpoint=\"inject\"} 2\n"));
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admission");
    TCase *t = tcase_create("admission");
    tcase_add_test(t, test_decode_refusals);
    tcase_add_test(t, test_inject_review);
    tcase_add_test(t, test_inject_passes_other_objects_through);
    tcase_add_test(t, test_inject_refusal_lists_every_reason);
    tcase_add_test(t, test_validate_denies_with_every_error);
    tcase_add_test(t, test_validate_warns_on_unsupported);
    tcase_add_test(t, test_metrics_render);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
