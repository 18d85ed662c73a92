/* CR status conditions (operator/status.h). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fake_api.h"
#include "status.h"

#define NOW "2026-11-25T10:00:00Z"

static json_t *vs(int64_t generation, const char *status_json)
{
    json_t *o =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:I}, s:{}}", "apiVersion",
                  "networking.istio.io/v1", "kind", "VirtualService", "metadata", "name", "reviews",
                  "namespace", "demo", "uid", "u-1", "generation", (json_int_t)generation, "spec");
    if (status_json)
        json_object_set_new(o, "status", json_loads(status_json, 0, NULL));
    return o;
}

static struct weir_cr_status verdict(bool accepted, const char *reason, const char *message)
{
    struct weir_cr_status st;
    memset(&st, 0, sizeof(st));
    st.kind = WEIR_KIND_VIRTUAL_SERVICE;
    st.namespace_ = "demo";
    st.name = "reviews";
    st.accepted = accepted;
    st.reason = reason;
    st.message = (char *)message;
    return st;
}

START_TEST(test_first_status)
{
    json_t *obj = vs(3, NULL), *patch;
    struct weir_cr_status st = verdict(false, "Invalid", "spec.http[0]: weights must sum to 100");
    ck_assert_int_eq(weir_op_status_patch(&st, NULL, 3, obj, NOW, &patch), 0);
    ck_assert_ptr_nonnull(patch);
    char *text = json_dumps(patch, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_str_eq(text, "{\"status\":{\"conditions\":[{\"lastTransitionTime\":\"" NOW "\","
                           "\"message\":\"spec.http[0]: weights must sum to 100\","
                           "\"observedGeneration\":3,\"reason\":\"Invalid\",\"status\":\"False\","
                           "\"type\":\"Accepted\"}],\"observedGeneration\":3}}");
    free(text);
    json_decref(patch);
    json_decref(obj);
}
END_TEST

START_TEST(test_unchanged_sends_nothing)
{
    json_t *obj =
        vs(3, "{\"observedGeneration\":3,\"conditions\":[{\"type\":\"Accepted\","
              "\"status\":\"True\",\"reason\":\"Accepted\",\"message\":\"\","
              "\"observedGeneration\":3,\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"}]}");
    json_t *patch = (json_t *)1;
    struct weir_cr_status st = verdict(true, "Accepted", "");
    ck_assert_int_eq(weir_op_status_patch(&st, NULL, 3, obj, NOW, &patch), 0);
    ck_assert_ptr_null(patch);
    /* observedGeneration as a string (int-or-string) counts too */
    json_object_set_new(json_object_get(obj, "status"), "observedGeneration", json_string("3"));
    ck_assert_int_eq(weir_op_status_patch(&st, NULL, 3, obj, NOW, &patch), 0);
    ck_assert_ptr_null(patch);
    json_decref(obj);
}
END_TEST

START_TEST(test_transition_time)
{
    json_t *obj = vs(4, "{\"observedGeneration\":3,\"conditions\":[{\"type\":\"Ready\","
                        "\"status\":\"True\"},{\"type\":\"Accepted\",\"status\":\"True\","
                        "\"reason\":\"Accepted\",\"message\":\"\",\"observedGeneration\":3,"
                        "\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"}],"
                        "\"validationMessages\":[]}");
    json_t *patch;
    /* a new generation, still accepted: the transition time stays */
    struct weir_cr_status ok = verdict(true, "Accepted", "warning: spec.hosts: x");
    ck_assert_int_eq(weir_op_status_patch(&ok, NULL, 4, obj, NOW, &patch), 0);
    json_t *conds = json_object_get(json_object_get(patch, "status"), "conditions");
    ck_assert_uint_eq(json_array_size(conds), 2);
    /* another controller's condition kept in its place */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(conds, 0), "type")), "Ready");
    json_t *acc = json_array_get(conds, 1);
    ck_assert_str_eq(json_string_value(json_object_get(acc, "lastTransitionTime")),
                     "2020-01-01T00:00:00Z");
    ck_assert_int_eq(json_integer_value(json_object_get(acc, "observedGeneration")), 4);
    ck_assert_str_eq(json_string_value(json_object_get(acc, "message")), "warning: spec.hosts: x");
    /* other status fields are not in the merge patch, so they stay */
    ck_assert_ptr_null(json_object_get(json_object_get(patch, "status"), "validationMessages"));
    json_decref(patch);
    /* rejected now: the status flips and the time moves */
    struct weir_cr_status bad = verdict(false, "Conflict", "taken");
    ck_assert_int_eq(weir_op_status_patch(&bad, NULL, 4, obj, NOW, &patch), 0);
    acc = json_array_get(json_object_get(json_object_get(patch, "status"), "conditions"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(acc, "lastTransitionTime")), NOW);
    ck_assert_str_eq(json_string_value(json_object_get(acc, "status")), "False");
    json_decref(patch);
    json_decref(obj);
}
END_TEST

START_TEST(test_reconciled)
{
    json_t *obj =
        vs(3, "{\"observedGeneration\":3,\"conditions\":[{\"type\":\"Accepted\","
              "\"status\":\"True\",\"reason\":\"Accepted\",\"message\":\"\","
              "\"observedGeneration\":3,\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"}]}");
    json_t *patch;
    struct weir_cr_status ok = verdict(true, "Accepted", "");
    struct weir_op_reconciled done = {true, "Reconciled", ""};
    struct weir_op_reconciled big = {false, "ProxyConfigTooLarge",
                                     "the proxy config of namespace "
                                     "demo is 2000000 bytes"};

    /* Accepted unchanged, Reconciled new: appended after it */
    ck_assert_int_eq(weir_op_status_patch(&ok, &done, 3, obj, NOW, &patch), 0);
    char *text = json_dumps(patch, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_str_eq(text, "{\"status\":{\"conditions\":[{\"lastTransitionTime\":"
                           "\"2020-01-01T00:00:00Z\",\"message\":\"\",\"observedGeneration\":3,"
                           "\"reason\":\"Accepted\",\"status\":\"True\",\"type\":\"Accepted\"},"
                           "{\"lastTransitionTime\":\"" NOW "\",\"message\":\"\","
                           "\"observedGeneration\":3,\"reason\":\"Reconciled\",\"status\":\"True\","
                           "\"type\":\"Reconciled\"}],\"observedGeneration\":3}}");
    free(text);
    /* once the object says both, nothing is sent */
    json_object_set(json_object_get(obj, "status"), "conditions",
                    json_object_get(json_object_get(patch, "status"), "conditions"));
    json_decref(patch);
    ck_assert_int_eq(weir_op_status_patch(&ok, &done, 3, obj, NOW, &patch), 0);
    ck_assert_ptr_null(patch);
    /* without a verdict on Reconciled the object's stays as it is */
    ck_assert_int_eq(weir_op_status_patch(&ok, NULL, 3, obj, NOW, &patch), 0);
    ck_assert_ptr_null(patch);
    /* the config could not be written: Reconciled flips, Accepted stays */
    ck_assert_int_eq(weir_op_status_patch(&ok, &big, 3, obj, "2026-11-26T00:00:00Z", &patch), 0);
    json_t *conds = json_object_get(json_object_get(patch, "status"), "conditions");
    ck_assert_uint_eq(json_array_size(conds), 2);
    json_t *acc = json_array_get(conds, 0), *rec = json_array_get(conds, 1);
    ck_assert_str_eq(json_string_value(json_object_get(acc, "lastTransitionTime")),
                     "2020-01-01T00:00:00Z");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "type")), "Reconciled");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "status")), "False");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "reason")), "ProxyConfigTooLarge");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "message")),
                     "the proxy config of namespace demo is 2000000 bytes");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "lastTransitionTime")),
                     "2026-11-26T00:00:00Z");
    json_decref(patch);
    json_decref(obj);
}
END_TEST

START_TEST(test_rfc3339)
{
    char buf[40];
    weir_op_rfc3339_now(buf, sizeof(buf));
    ck_assert_uint_eq(strlen(buf), 20);
    ck_assert(buf[4] == '-' && buf[10] == 'T' && buf[19] == 'Z');
}
END_TEST

/* ---- against a fake API server ---- */

static int status_code = 200;

static int handler(void *arg, const struct fake_request *req, char **body)
{
    (void)arg;
    *body = NULL;
    if (strcmp(req->method, "POST") == 0)
        return 201; /* Events */
    return status_code;
}

START_TEST(test_sync)
{
    struct fake_api *api = fake_api_start(handler, NULL);
    struct weir_kube_client *c = fake_api_client(api);
    struct weir_op_status *s;
    struct weir_op_status_options o = {.client = c, .instance = "test"};
    ck_assert_int_eq(weir_op_status_new(&o, &s), 0);
    json_t *obj = vs(2, NULL);
    struct weir_cr_status bad = verdict(false, "Invalid", "spec.http[0]: bad");

    ck_assert_int_eq(weir_op_status_sync(s, &weir_kube_res_virtualservices, &bad, NULL, 2, obj),
                     WEIR_OP_OK);
    /* the status patch, then a Warning Event about the object */
    ck_assert_uint_eq(fake_api_count(api), 2);
    struct fake_request q = fake_api_request(api, 0);
    ck_assert_str_eq(q.method, "PATCH");
    ck_assert_str_eq(q.path, "/apis/networking.istio.io/v1/namespaces/demo/virtualservices/"
                             "reviews/status?fieldManager=weir-test");
    ck_assert_ptr_nonnull(strstr(q.body, "\"reason\":\"Invalid\""));
    q = fake_api_request(api, 1);
    ck_assert_str_eq(q.method, "POST");
    ck_assert_str_eq(q.path,
                     "/apis/events.k8s.io/v1/namespaces/demo/events?fieldManager=weir-test");
    ck_assert_ptr_nonnull(strstr(q.body, "\"type\":\"Warning\""));
    ck_assert_ptr_nonnull(strstr(q.body, "spec.http[0]: bad"));
    ck_assert_ptr_nonnull(strstr(q.body, "\"kind\":\"VirtualService\""));

    /* the informer has not caught up: the memo stops a second write */
    ck_assert_int_eq(weir_op_status_sync(s, &weir_kube_res_virtualservices, &bad, NULL, 2, obj),
                     WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(api), 2);

    /* a newer generation in the cache: leave it to that generation's reconcile */
    json_t *newer = vs(3, NULL);
    ck_assert_int_eq(weir_op_status_sync(s, &weir_kube_res_virtualservices, &bad, NULL, 2, newer),
                     WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(api), 2);
    /* deleted meanwhile */
    ck_assert_int_eq(weir_op_status_sync(s, &weir_kube_res_virtualservices, &bad, NULL, 2, NULL),
                     WEIR_OP_OK);

    /* accepted now: a patch, no Event */
    struct weir_cr_status ok = verdict(true, "Accepted", "");
    ck_assert_int_eq(weir_op_status_sync(s, &weir_kube_res_virtualservices, &ok, NULL, 3, newer),
                     WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(api), 3);

    /* errors */
    weir_op_status_forget_all(s);
    status_code = 500;
    ck_assert_int_eq(weir_op_status_sync(s, &weir_kube_res_virtualservices, &ok, NULL, 3, newer),
                     WEIR_OP_RETRY);
    status_code = 404;
    ck_assert_int_eq(weir_op_status_sync(s, &weir_kube_res_virtualservices, &ok, NULL, 3, newer),
                     WEIR_OP_OK);
    status_code = 200;
    weir_op_status_forget(s, newer);
    ck_assert_int_eq(weir_op_status_sync(s, &weir_kube_res_virtualservices, &ok, NULL, 3, newer),
                     WEIR_OP_OK);
    ck_assert_uint_eq(fake_api_count(api), 6);

    json_decref(obj);
    json_decref(newer);
    weir_op_status_free(s);
    fake_api_client_free(c);
    fake_api_stop(api);
}
END_TEST

static bool closed(void *arg)
{
    (void)arg;
    return false;
}

START_TEST(test_gate)
{
    struct fake_api *api = fake_api_start(handler, NULL);
    struct weir_kube_client *c = fake_api_client(api);
    struct weir_op_status *s;
    struct weir_op_status_options o = {.client = c, .gate = {closed, NULL}};
    ck_assert_int_eq(weir_op_status_new(&o, &s), 0);
    json_t *obj = vs(1, NULL);
    struct weir_cr_status ok = verdict(true, "Accepted", "");
    ck_assert_int_eq(weir_op_status_sync(s, &weir_kube_res_virtualservices, &ok, NULL, 1, obj),
                     WEIR_OP_NOT_LEADER);
    ck_assert_uint_eq(fake_api_count(api), 0);
    json_decref(obj);
    weir_op_status_free(s);
    fake_api_client_free(c);
    fake_api_stop(api);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator_status");
    TCase *tc = tcase_create("patch");
    tcase_add_test(tc, test_first_status);
    tcase_add_test(tc, test_unchanged_sends_nothing);
    tcase_add_test(tc, test_transition_time);
    tcase_add_test(tc, test_reconciled);
    tcase_add_test(tc, test_rfc3339);
    suite_add_tcase(s, tc);
    TCase *io = tcase_create("sync");
    tcase_add_test(io, test_sync);
    tcase_add_test(io, test_gate);
    suite_add_tcase(s, io);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
