/* The injection patch builder and the JSON Patch applier: real manifests from
 * lib/tests/inject/ go through weir_inject(), the patch is applied with
 * weir_jsonpatch_apply() and the resulting pod is checked field by field.
 * Golden patches (*.patch.json) pin the exact operations; run with
 * WEIR_UPDATE_GOLDEN=1 to rewrite them after an intended change. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject/inject.h"
#include "inject/jsonpatch.h"
#include "meshconfig/mesh_config.h"
#include "yaml/yaml_json.h"

#define DATA WEIR_TEST_DATA "/inject/"

static struct weir_mesh_config mesh;

static void setup(void)
{
    struct weir_diags d;
    weir_diags_init(&d);
    int rc = weir_mesh_config_load_file(DATA "mesh.yaml", &mesh, &d);
    for (size_t i = 0; i < d.len; i++)
        weir_diag_print(stderr, &d.items[i]);
    ck_assert_int_eq(rc, 0);
    weir_diags_free(&d);
}

static void teardown(void)
{
    weir_mesh_config_free(&mesh);
}

/* The first document of a test manifest, owned by the caller. */
static json_t *load(const char *name)
{
    char path[512];
    struct weir_yaml_stream s;
    struct weir_diags d;
    snprintf(path, sizeof(path), DATA "%s", name);
    weir_diags_init(&d);
    ck_assert_msg(weir_yaml_parse_file(path, NULL, &s, &d) == 0, "cannot parse %s", path);
    ck_assert_uint_ge(s.ndocs, 1);
    json_t *doc = json_incref(s.docs[0].root);
    weir_yaml_stream_free(&s);
    weir_diags_free(&d);
    return doc;
}

struct run {
    struct weir_inject_result res;
    struct weir_diags diags;
    json_t *after; /* the pod with the patch applied, or a copy when not patched */
};

static void run_with(json_t *pod, const json_t *ns_labels, const char *ns, struct run *r)
{
    struct weir_inject_request req = {
        .pod = pod, .namespace_ = ns, .namespace_labels = ns_labels, .mesh = &mesh};
    char err[256] = "";
    weir_diags_init(&r->diags);
    ck_assert_int_eq(weir_inject(&req, &r->res, &r->diags), 0);
    r->after = json_deep_copy(pod);
    if (r->res.decision == WEIR_INJECT_PATCH) {
        ck_assert_ptr_nonnull(r->res.patch);
        ck_assert_msg(weir_jsonpatch_apply(&r->after, r->res.patch, err, sizeof(err)) == 0,
                      "patch does not apply: %s", err);
    } else {
        ck_assert_ptr_null(r->res.patch);
    }
}

static void run_done(struct run *r)
{
    weir_inject_result_free(&r->res);
    weir_diags_free(&r->diags);
    json_decref(r->after);
}

static const json_t *at(const json_t *doc, const char *pointer)
{
    const json_t *v = weir_json_pointer_get(doc, pointer);
    ck_assert_msg(v != NULL, "%s is missing", pointer);
    return v;
}

static const char *str_at(const json_t *doc, const char *pointer)
{
    const char *s = json_string_value(at(doc, pointer));
    ck_assert_msg(s != NULL, "%s is not a string", pointer);
    return s;
}

static void assert_json(const json_t *got, const char *want_text)
{
    json_error_t e;
    json_t *want = json_loads(want_text, 0, &e);
    ck_assert_msg(want != NULL, "bad expected JSON: %s", e.text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_INDENT(1) | JSON_SORT_KEYS);
        ck_abort_msg("JSON differs\n got: %s\nwant: %s", g, w);
    }
    json_decref(want);
}

static const json_t *container(const json_t *pod, const char *list, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(pod, "spec"), list), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
            return c;
    }
    ck_abort_msg("no %s named %s", list, name);
    return NULL;
}

static const char *env_of(const json_t *c, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(c, "env"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return json_string_value(json_object_get(e, "value"));
    }
    return NULL;
}

static char *diag_text(const struct weir_diags *d, size_t i)
{
    ck_assert_uint_gt(d->len, i);
    return weir_diag_format(&d->items[i]);
}

static bool has_diag(const struct weir_diags *d, enum weir_severity sev, const char *text)
{
    for (size_t i = 0; i < d->len; i++) {
        char *s = weir_diag_format(&d->items[i]);
        bool match = d->items[i].severity == sev && strcmp(s, text) == 0;
        free(s);
        if (match)
            return true;
    }
    for (size_t i = 0; i < d->len; i++) {
        char *s = weir_diag_format(&d->items[i]);
        fprintf(stderr, "  have [%s] %s\n", weir_severity_name(d->items[i].severity), s);
        free(s);
    }
    return false;
}

/* Compares a patch with a golden file, where "@VERSION@" stands for the
 * release so the files survive a version bump. */
static void assert_golden(const json_t *patch, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), DATA "%s", name);
    char *got = json_dumps(patch, JSON_INDENT(2));
    ck_assert_ptr_nonnull(got);
    if (getenv("WEIR_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        /* Put the placeholder back where the version appears. */
        const char *needle = "\\\"version\\\":\\\"" WEIR_VERSION "\\\"";
        const char *p = got;
        const char *hit;
        while ((hit = strstr(p, needle))) {
            fwrite(p, 1, (size_t)(hit - p), f);
            fputs("\\\"version\\\":\\\"@VERSION@\\\"", f);
            p = hit + strlen(needle);
        }
        fputs(p, f);
        fputc('\n', f);
        fclose(f);
    }
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "golden file %s missing (run with WEIR_UPDATE_GOLDEN=1)", path);
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *want = calloc(1, (1 << 20) + 64);
    char *o = want;
    for (const char *p = text; *p;) {
        if (strncmp(p, "@VERSION@", 9) == 0) {
            o += sprintf(o, "%s", WEIR_VERSION);
            p += 9;
        } else {
            *o++ = *p++;
        }
    }
    json_error_t e;
    json_t *golden = json_loads(want, 0, &e);
    ck_assert_msg(golden != NULL, "%s: %s", path, e.text);
    ck_assert_msg(json_equal(golden, patch), "patch differs from %s; got:\n%s", path, got);
    json_decref(golden);
    free(text);
    free(want);
    free(got);
}

/* ---- JSON Patch and Pointer ---- */

static json_t *patched(const char *doc, const char *patch, int want_rc)
{
    json_t *d = json_loads(doc, 0, NULL);
    json_t *p = json_loads(patch, 0, NULL);
    json_t *orig = json_deep_copy(d);
    char err[256] = "";
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(p);
    int rc = weir_jsonpatch_apply(&d, p, err, sizeof(err));
    ck_assert_msg(rc == want_rc, "rc %d, err %s", rc, err);
    if (rc != 0) /* all or nothing */
        ck_assert(json_equal(d, orig));
    json_decref(p);
    json_decref(orig);
    return d;
}

START_TEST(test_jsonpatch_rfc6902_examples)
{
    json_t *d;
    /* RFC 6902 appendix A.1, A.2, A.3, A.4, A.5, A.6, A.7, A.8, A.10 */
    d = patched("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]", 0);
    assert_json(d, "{\"foo\":\"bar\",\"baz\":\"qux\"}");
    json_decref(d);
    d = patched("{\"foo\":[\"bar\",\"baz\"]}",
                "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]", 0);
    assert_json(d, "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
    json_decref(d);
    d = patched("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]", 0);
    assert_json(d, "{\"foo\":\"bar\"}");
    json_decref(d);
    d = patched("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
                0);
    assert_json(d, "{\"foo\":[\"bar\",\"baz\"]}");
    json_decref(d);
    d = patched("{\"baz\":\"qux\",\"foo\":\"bar\"}",
                "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]", 0);
    assert_json(d, "{\"baz\":\"boo\",\"foo\":\"bar\"}");
    json_decref(d);
    d = patched("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
                "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]", 0);
    assert_json(d, "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}");
    json_decref(d);
    d = patched("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
                "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]", 0);
    assert_json(d, "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}");
    json_decref(d);
    d = patched("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
                "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
                "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
                0);
    json_decref(d);
    json_decref(patched("{\"baz\":\"qux\"}",
                        "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", -1));
    d = patched("{\"foo\":\"bar\"}",
                "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]", 0);
    assert_json(d, "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}");
    json_decref(d);
    /* A.12: adding to a nonexistent target fails */
    json_decref(patched("{\"foo\":\"bar\"}",
                        "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]", -1));
    /* A.14: ~ escapes */
    d = patched("{\"/\":9,\"~1\":10}",
                "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10},"
                "{\"op\":\"add\",\"path\":\"/~1\",\"value\":1}]",
                0);
    assert_json(d, "{\"/\":1,\"~1\":10}");
    json_decref(d);
    /* A.16: append with "-" */
    d = patched("{\"foo\":[\"bar\"]}",
                "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]", 0);
    assert_json(d, "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}");
    json_decref(d);
    d = patched("{\"a\":{\"b\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"}]", 0);
    assert_json(d, "{\"a\":{\"b\":1},\"c\":{\"b\":1}}");
    json_decref(d);
}
END_TEST

START_TEST(test_jsonpatch_failures_leave_doc_untouched)
{
    /* the second operation fails: the first must not stick */
    json_decref(patched("{\"a\":[1]}",
                        "[{\"op\":\"add\",\"path\":\"/b\",\"value\":1},"
                        "{\"op\":\"remove\",\"path\":\"/a/5\"}]",
                        -1));
    json_decref(
        patched("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/2\",\"value\":1}]", -1)); /* > len */
    json_decref(patched("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/01\",\"value\":1}]",
                        -1)); /* 0-pad */
    json_decref(patched("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":1}]", -1));
    json_decref(patched("{\"a\":{\"b\":1}}",
                        "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]", -1));
    json_decref(patched("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a\"}]", -1)); /* no value */
    json_decref(patched("{\"a\":1}", "[{\"op\":\"frob\",\"path\":\"/a\"}]", -1));
    json_decref(patched("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", -1));
    json_decref(patched("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/~2\",\"value\":1}]", -1));
    json_decref(patched("{\"a\":1}", "{\"op\":\"add\"}", -1)); /* not an array */
}
END_TEST

START_TEST(test_json_pointer_append_escapes)
{
    char buf[64] = "/metadata/annotations";
    ck_assert_int_eq(weir_json_pointer_append(buf, sizeof(buf), "weir.dev/status"), 0);
    ck_assert_str_eq(buf, "/metadata/annotations/weir.dev~1status");
    buf[0] = '\0';
    ck_assert_int_eq(weir_json_pointer_append(buf, sizeof(buf), "a~b/c"), 0);
    ck_assert_str_eq(buf, "/a~0b~1c");
    char tiny[6] = "";
    ck_assert_int_eq(weir_json_pointer_append(tiny, sizeof(tiny), "abcdef"), -1);
}
END_TEST

/* ---- injection ---- */

static const char *const init_args_default =
    "[\"--proxy-port\",\"15001\",\"--inbound-capture-port\",\"15006\",\"--proxy-uid\",\"1337\","
    "\"--proxy-gid\",\"1337\",\"--include-outbound-ranges\",\"*\",\"--exclude-outbound-ranges\","
    "\"\",\"--include-inbound-ports\",\"*\",\"--exclude-inbound-ports\",\"15021,15090\","
    "\"--exclude-outbound-ports\",\"\"]";

START_TEST(test_bare_pod_native)
{
    json_t *pod = load("pod-bare.yaml");
    struct run r;
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_PATCH);
    ck_assert(r.res.native);
    ck_assert_uint_eq(r.diags.len, 0);
    assert_golden(r.res.patch, "pod-bare.patch.json");

    /* lists and maps that did not exist are created whole */
    const json_t *p = r.res.patch;
    ck_assert_str_eq(str_at(p, "/0/op"), "add");
    ck_assert_str_eq(str_at(p, "/0/path"), "/spec/initContainers");
    ck_assert_str_eq(str_at(p, "/1/path"), "/spec/volumes");
    ck_assert_str_eq(str_at(p, "/2/path"), "/metadata/annotations");
    ck_assert_str_eq(str_at(p, "/3/path"), "/metadata/labels");
    ck_assert_uint_eq(json_array_size(p), 4);

    const json_t *a = r.after;
    ck_assert_uint_eq(json_array_size(at(a, "/spec/initContainers")), 2);
    ck_assert_str_eq(str_at(a, "/spec/initContainers/0/name"), "weir-init");
    ck_assert_str_eq(str_at(a, "/spec/initContainers/0/image"), "registry.test/weir-init:test");
    assert_json(at(a, "/spec/initContainers/0/args"), init_args_default);
    assert_json(at(a, "/spec/initContainers/0/securityContext"),
                "{\"runAsUser\":0,\"runAsGroup\":0,\"runAsNonRoot\":false,\"privileged\":false,"
                "\"allowPrivilegeEscalation\":false,\"readOnlyRootFilesystem\":true,"
                "\"capabilities\":{\"add\":[\"NET_ADMIN\",\"NET_RAW\"],\"drop\":[\"ALL\"]}}");

    const json_t *proxy = at(a, "/spec/initContainers/1");
    ck_assert_str_eq(str_at(proxy, "/name"), "weir-proxy");
    ck_assert_str_eq(str_at(proxy, "/restartPolicy"), "Always");
    ck_assert_ptr_null(json_object_get(proxy, "lifecycle"));
    ck_assert_str_eq(str_at(proxy, "/image"), "registry.test/weir-proxy:test");
    assert_json(at(proxy, "/securityContext"),
                "{\"runAsUser\":1337,\"runAsGroup\":1337,\"runAsNonRoot\":true,"
                "\"privileged\":false,\"allowPrivilegeEscalation\":false,"
                "\"readOnlyRootFilesystem\":true,\"capabilities\":{\"drop\":[\"ALL\"]}}");
    assert_json(at(proxy, "/ports"),
                "[{\"name\":\"http-envoy-prom\",\"containerPort\":15090,\"protocol\":\"TCP\"}]");
    assert_json(at(proxy, "/readinessProbe"),
                "{\"httpGet\":{\"path\":\"/healthz/ready\",\"port\":15021,\"scheme\":\"HTTP\"},"
                "\"periodSeconds\":15,\"timeoutSeconds\":3,\"failureThreshold\":4}");
    ck_assert_int_eq(json_integer_value(at(proxy, "/startupProbe/failureThreshold")), 600);
    assert_json(at(proxy, "/resources"), "{\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"},"
                                         "\"limits\":{\"cpu\":\"2\",\"memory\":\"1Gi\"}}");
    assert_json(at(proxy, "/env/0"), "{\"name\":\"POD_NAME\",\"valueFrom\":{\"fieldRef\":"
                                     "{\"apiVersion\":\"v1\",\"fieldPath\":\"metadata.name\"}}}");
    assert_json(at(proxy, "/env/2"), "{\"name\":\"INSTANCE_IP\",\"valueFrom\":{\"fieldRef\":"
                                     "{\"apiVersion\":\"v1\",\"fieldPath\":\"status.podIP\"}}}");
    ck_assert_str_eq(env_of(proxy, "WEIR_TRUST_DOMAIN"), "test.local");
    ck_assert_str_eq(env_of(proxy, "WEIR_DRAIN_DURATION"), "45s");
    ck_assert_str_eq(env_of(proxy, "WEIR_LOG_LEVEL"), "info");
    ck_assert_ptr_null(env_of(proxy, "WEIR_KUBE_APP_PROBERS")); /* no probes to rewrite */
    ck_assert_ptr_null(env_of(proxy, "WEIR_ADMIN_PORT"));       /* default ports are implied */
    /* the pod's labels reach the proxy through the downward API */
    assert_json(at(proxy, "/args"), "[\"--pod-labels-file\",\"/etc/weir/pod/labels\"]");
    assert_json(at(proxy, "/volumeMounts"),
                "[{\"name\":\"weir-proxy-config\",\"mountPath\":\"/etc/weir/proxy\","
                "\"readOnly\":true},{\"name\":\"weir-runtime\",\"mountPath\":\"/var/run/weir\"},"
                "{\"name\":\"weir-ca-token\",\"mountPath\":\"/var/run/secrets/weir/tokens\","
                "\"readOnly\":true},{\"name\":\"weir-podinfo\",\"mountPath\":\"/etc/weir/pod\","
                "\"readOnly\":true}]");

    assert_json(at(a, "/spec/volumes"),
                "[{\"name\":\"weir-proxy-config\",\"configMap\":{\"name\":\"weir-proxy-config\","
                "\"optional\":true}},{\"name\":\"weir-runtime\",\"emptyDir\":{\"medium\":"
                "\"Memory\"}},{\"name\":\"weir-ca-token\",\"projected\":{\"sources\":[{"
                "\"serviceAccountToken\":{\"audience\":\"weir-ca\",\"expirationSeconds\":43200,"
                "\"path\":\"weir-ca-token\"}}]}},{\"name\":\"weir-podinfo\",\"downwardAPI\":{"
                "\"items\":[{\"path\":\"labels\",\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}},"
                "{\"path\":\"annotations\",\"fieldRef\":{\"fieldPath\":"
                "\"metadata.annotations\"}}]}}]");
    assert_json(at(a, "/metadata/labels"), "{\"security.istio.io/tlsMode\":\"istio\"}");
    ck_assert_str_eq(str_at(a, "/metadata/annotations/prometheus.io~1scrape"), "true");
    ck_assert_str_eq(str_at(a, "/metadata/annotations/prometheus.io~1port"), "15090");
    ck_assert_str_eq(str_at(a, "/metadata/annotations/prometheus.io~1path"), "/stats/prometheus");
    ck_assert_str_eq(str_at(a, "/metadata/annotations/kubectl.kubernetes.io~1default-container"),
                     "app");
    json_t *status = json_loads(str_at(a, "/metadata/annotations/weir.dev~1status"), 0, NULL);
    ck_assert_ptr_nonnull(status);
    assert_json(status, "{\"version\":\"" WEIR_VERSION "\",\"initContainers\":[\"weir-init\","
                        "\"weir-proxy\"],\"containers\":[],\"volumes\":[\"weir-proxy-config\","
                        "\"weir-runtime\",\"weir-ca-token\",\"weir-podinfo\"],"
                        "\"nativeSidecar\":true}");
    json_decref(status);
    /* the app container is untouched */
    assert_json(at(a, "/spec/containers"),
                "[{\"name\":\"app\",\"image\":\"registry.test/app:1\"}]");

    /* injecting the injected pod again changes nothing */
    struct run again;
    run_with(r.after, NULL, NULL, &again);
    ck_assert_int_eq(again.res.decision, WEIR_INJECT_SKIP);
    ck_assert_str_eq(again.res.reason, "already injected");
    run_done(&again);
    run_done(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_deployment_template)
{
    json_t *deploy = load("deployment-full.yaml");
    json_t *tmpl = json_object_get(json_object_get(deploy, "spec"), "template");
    struct run r;
    run_with(tmpl, NULL, "bookinfo", &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_PATCH);
    assert_golden(r.res.patch, "deployment-full.patch.json");
    const json_t *a = r.after;

    /* weir-init and the proxy go ahead of the app's init container */
    ck_assert_uint_eq(json_array_size(at(a, "/spec/initContainers")), 3);
    ck_assert_str_eq(str_at(a, "/spec/initContainers/0/name"), "weir-init");
    ck_assert_str_eq(str_at(a, "/spec/initContainers/1/name"), "weir-proxy");
    ck_assert_str_eq(str_at(a, "/spec/initContainers/2/name"), "migrate");
    ck_assert_uint_eq(json_array_size(at(a, "/spec/containers")), 2);

    /* capture flags from the annotations, normalised; declared ports stay out
     * of it because includeInboundPorts is given */
    assert_json(at(a, "/spec/initContainers/0/args"),
                "[\"--proxy-port\",\"15001\",\"--inbound-capture-port\",\"15006\","
                "\"--proxy-uid\",\"1337\",\"--proxy-gid\",\"1337\","
                "\"--include-outbound-ranges\",\"10.0.0.0/8,172.16.0.0/12\","
                "\"--exclude-outbound-ranges\",\"10.96.0.1/32\","
                "\"--include-inbound-ports\",\"9080,9443\","
                "\"--exclude-inbound-ports\",\"15021,15090,9443\","
                "\"--exclude-outbound-ports\",\"5432,6379\"]");
    const json_t *proxy = container(a, "initContainers", "weir-proxy");
    assert_json(at(proxy, "/resources"), "{\"requests\":{\"cpu\":\"250m\",\"memory\":\"256Mi\"},"
                                         "\"limits\":{\"cpu\":\"1\",\"memory\":\"512Mi\"}}");
    ck_assert_str_eq(env_of(proxy, "WEIR_LOG_LEVEL"), "debug");

    /* probes go through the proxy's health port; the originals go to the proxy */
    const json_t *app = container(a, "containers", "reviews");
    assert_json(at(app, "/livenessProbe"),
                "{\"httpGet\":{\"path\":\"/app-health/reviews/livez\",\"port\":15021,"
                "\"scheme\":\"HTTP\"},\"initialDelaySeconds\":5,\"periodSeconds\":10}");
    assert_json(at(app, "/readinessProbe"),
                "{\"httpGet\":{\"path\":\"/app-health/reviews/readyz\",\"port\":15021,"
                "\"scheme\":\"HTTP\"},\"timeoutSeconds\":2}");
    assert_json(at(app, "/startupProbe"),
                "{\"httpGet\":{\"path\":\"/app-health/reviews/startupz\",\"port\":15021,"
                "\"scheme\":\"HTTP\"},\"failureThreshold\":30}");
    json_t *probers = json_loads(env_of(proxy, "WEIR_KUBE_APP_PROBERS"), 0, NULL);
    ck_assert_ptr_nonnull(probers);
    assert_json(probers,
                "{\"/app-health/reviews/livez\":{\"httpGet\":{\"path\":\"/health/live\","
                "\"port\":9080,\"httpHeaders\":[{\"name\":\"X-Probe\",\"value\":\"kubelet\"}],"
                "\"scheme\":\"HTTP\"},\"timeoutSeconds\":1},"
                "\"/app-health/reviews/readyz\":{\"httpGet\":{\"path\":\"/health/ready\","
                "\"port\":9080,\"scheme\":\"HTTP\"},\"timeoutSeconds\":2},"
                "\"/app-health/reviews/startupz\":{\"tcpSocket\":{\"port\":9443},"
                "\"timeoutSeconds\":1}}");
    json_decref(probers);
    /* exec probes are left alone */
    const json_t *shipper = container(a, "containers", "log-shipper");
    assert_json(at(shipper, "/livenessProbe"), "{\"exec\":{\"command\":[\"/bin/true\"]}}");

    /* existing volumes, annotations and labels are kept; ours are appended */
    ck_assert_uint_eq(json_array_size(at(a, "/spec/volumes")), 6);
    ck_assert_str_eq(str_at(a, "/spec/volumes/0/name"), "logs");
    ck_assert_str_eq(str_at(a, "/spec/volumes/1/name"), "settings");
    ck_assert_str_eq(str_at(a, "/spec/volumes/4/name"), "weir-ca-token");
    ck_assert_str_eq(str_at(a, "/spec/volumes/5/name"), "weir-podinfo");
    /* the proxy keeps its args and mounts when the app has its own */
    assert_json(at(proxy, "/args"), "[\"--pod-labels-file\",\"/etc/weir/pod/labels\"]");
    ck_assert_str_eq(str_at(proxy, "/volumeMounts/3/mountPath"), "/etc/weir/pod");
    ck_assert_str_eq(str_at(a, "/metadata/annotations/example.com~1owner~0team"), "payments");
    ck_assert_str_eq(str_at(a, "/metadata/labels/app"), "reviews");
    ck_assert_str_eq(str_at(a, "/metadata/labels/security.istio.io~1tlsMode"), "istio");
    ck_assert_ptr_nonnull(at(a, "/metadata/annotations/weir.dev~1status"));
    /* the annotation keys are escaped in the patch paths */
    bool escaped = false;
    size_t i;
    json_t *op;
    json_array_foreach(r.res.patch, i, op)
    {
        if (strcmp(json_string_value(json_object_get(op, "path")),
                   "/metadata/annotations/weir.dev~1status") == 0)
            escaped = true;
    }
    ck_assert(escaped);
    run_done(&r);
    json_decref(deploy);
}
END_TEST

START_TEST(test_regular_sidecar_job)
{
    json_t *pod = load("job-regular.yaml");
    struct run r;
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_PATCH);
    ck_assert(!r.res.native);
    assert_golden(r.res.patch, "job-regular.patch.json");
    const json_t *a = r.after;

    /* weir-init runs after the app's init container; the proxy leads the
     * containers and holds the app until it is ready */
    ck_assert_uint_eq(json_array_size(at(a, "/spec/initContainers")), 2);
    ck_assert_str_eq(str_at(a, "/spec/initContainers/0/name"), "fetch");
    ck_assert_str_eq(str_at(a, "/spec/initContainers/1/name"), "weir-init");
    ck_assert_str_eq(str_at(a, "/spec/containers/0/name"), "weir-proxy");
    ck_assert_ptr_null(
        json_object_get(json_array_get(at(a, "/spec/containers"), 0), "restartPolicy"));
    assert_json(at(a, "/spec/containers/0/lifecycle"),
                "{\"postStart\":{\"exec\":{\"command\":[\"weir-proxy\",\"wait\"]}}}");
    ck_assert_str_eq(env_of(at(a, "/spec/containers/0"), "WEIR_NATIVE_SIDECAR"), "false");
    assert_json(at(a, "/spec/containers/0/args"),
                "[\"--pod-labels-file\",\"/etc/weir/pod/labels\"]");
    /* the probe was rewritten at the app's original index, which is now 1 */
    ck_assert_str_eq(str_at(a, "/spec/containers/1/name"), "report");
    assert_json(at(a, "/spec/containers/1/readinessProbe"),
                "{\"httpGet\":{\"path\":\"/app-health/report/readyz\",\"port\":15021,"
                "\"scheme\":\"HTTP\"}}");
    ck_assert_str_eq(
        env_of(at(a, "/spec/containers/0"), "WEIR_KUBE_APP_PROBERS"),
        "{\"/app-health/report/readyz\":{\"httpGet\":{\"port\":8000,\"scheme\":\"HTTP\"},"
        "\"timeoutSeconds\":1}}");
    /* kubectl logs/exec default to the app, not the proxy in front of it */
    ck_assert_str_eq(str_at(a, "/metadata/annotations/kubectl.kubernetes.io~1default-container"),
                     "report");
    ck_assert_str_eq(str_at(a, "/metadata/labels/job-name"), "report-28433");
    json_t *status = json_loads(str_at(a, "/metadata/annotations/weir.dev~1status"), 0, NULL);
    assert_json(json_object_get(status, "containers"), "[\"weir-proxy\"]");
    assert_json(json_object_get(status, "initContainers"), "[\"weir-init\"]");
    json_decref(status);
    run_done(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_weir_native_annotation_and_mesh_default)
{
    json_t *pod = load("pod-bare.yaml");
    json_object_set_new(json_object_get(pod, "metadata"), "annotations",
                        json_pack("{s:s}", "weir.dev/native-sidecar", "false"));
    struct run r;
    run_with(pod, NULL, NULL, &r);
    ck_assert(!r.res.native);
    ck_assert_str_eq(str_at(r.after, "/spec/containers/0/name"), "weir-proxy");
    run_done(&r);

    /* the mesh default applies when the pod says nothing */
    json_object_del(json_object_get(pod, "metadata"), "annotations");
    mesh.native_sidecar = false;
    run_with(pod, NULL, NULL, &r);
    ck_assert(!r.res.native);
    run_done(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_skips)
{
    struct run r;
    json_t *pod = load("pod-hostnetwork.yaml");
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_SKIP);
    ck_assert_str_eq(r.res.reason, "hostNetwork pods share the node's network namespace");
    run_done(&r);
    json_decref(pod);

    pod = load("pod-opted-out.yaml");
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_SKIP);
    ck_assert_str_eq(r.res.reason, "the pod opts out with sidecar.istio.io/inject");
    run_done(&r);
    /* the label wins over the annotation, both ways */
    json_object_set_new(json_object_get(pod, "metadata"), "labels",
                        json_pack("{s:s}", "sidecar.istio.io/inject", "true"));
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_PATCH);
    run_done(&r);
    json_decref(pod);

    pod = load("pod-injected.yaml");
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_SKIP);
    ck_assert_str_eq(r.res.reason, "already injected");
    run_done(&r);
    /* the proxy container alone marks an injected pod too */
    json_object_del(json_object_get(pod, "metadata"), "annotations");
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_SKIP);
    run_done(&r);
    json_decref(pod);

    pod = load("pod-bare.yaml");
    run_with(pod, NULL, "kube-system", &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_SKIP);
    ck_assert_str_eq(r.res.reason, "namespace kube-system is never injected");
    run_done(&r);
    json_t *spec = json_object_get(pod, "spec");
    json_array_append_new(json_object_get(spec, "containers"),
                          json_pack("{s:s, s:s}", "name", "istio-proxy", "image", "istio/proxyv2"));
    run_with(pod, NULL, NULL, &r);
    ck_assert_str_eq(r.res.reason, "already injected by Istio");
    run_done(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_namespace_policy)
{
    json_t *pod = load("pod-bare.yaml");
    struct run r;
    struct {
        const char *labels;
        const char *opt; /* the pod's sidecar.istio.io/inject label, or NULL */
        enum weir_inject_decision want;
    } cases[] = {
        {"{}", NULL, WEIR_INJECT_SKIP},
        {"{\"weir-injection\":\"enabled\"}", NULL, WEIR_INJECT_PATCH},
        {"{\"istio-injection\":\"enabled\"}", NULL, WEIR_INJECT_PATCH},
        {"{\"istio-injection\":\"disabled\"}", NULL, WEIR_INJECT_SKIP},
        /* Weir's own label decides alone when present */
        {"{\"weir-injection\":\"disabled\",\"istio-injection\":\"enabled\"}", NULL,
         WEIR_INJECT_SKIP},
        {"{}", "true", WEIR_INJECT_PATCH},
        {"{\"weir-injection\":\"enabled\"}", "false", WEIR_INJECT_SKIP},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *labels = json_loads(cases[i].labels, 0, NULL);
        json_t *meta = json_object_get(pod, "metadata");
        if (cases[i].opt)
            json_object_set_new(meta, "labels",
                                json_pack("{s:s}", "sidecar.istio.io/inject", cases[i].opt));
        else
            json_object_del(meta, "labels");
        run_with(pod, labels, NULL, &r);
        ck_assert_msg(r.res.decision == cases[i].want, "case %zu: got %s (%s)", i,
                      weir_inject_decision_name(r.res.decision), r.res.reason);
        run_done(&r);
        json_decref(labels);
    }
    json_decref(pod);
}
END_TEST

START_TEST(test_unrecognised_opt_in_value_warns)
{
    json_t *pod = load("pod-bare.yaml");
    json_object_set_new(json_object_get(pod, "metadata"), "annotations",
                        json_pack("{s:s}", "sidecar.istio.io/inject", "enable"));
    struct run r;
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_SKIP);
    ck_assert(has_diag(&r.diags, WEIR_SEV_WARNING,
                       "Pod shop/bare: metadata.annotations[\"sidecar.istio.io/inject\"]: "
                       "\"enable\" is not \"true\" or \"false\"; the pod is not injected, as "
                       "Istio does"));
    run_done(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_bad_annotations_refused)
{
    json_t *pod = load("pod-bad-annotations.yaml");
    struct run r;
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_REFUSE);
    const char *want[] = {
        "Pod shop/typos: metadata.annotations[\"sidecar.istio.io/nativeSidecar\"]: \"maybe\" is "
        "not a boolean; use \"true\" or \"false\"",
        "Pod shop/typos: metadata.annotations[\"sidecar.istio.io/proxyCPU\"]: \"2 cores\" is not "
        "a Kubernetes quantity (such as 500m, 2, 128Mi)",
        "Pod shop/typos: metadata.annotations[\"sidecar.istio.io/proxyMemory\"]: the proxy's "
        "memory request 2Gi is more than its limit 1Gi; set sidecar.istio.io/proxyMemoryLimit as "
        "well",
        "Pod shop/typos: spec.containers[0].ports[0].containerPort: 15021 is the proxy's health "
        "port; two listeners cannot share it in one pod",
        "Pod shop/typos: metadata.annotations[\"traffic.sidecar.istio.io/"
        "includeOutboundIPRanges\"]: \"10.0.0.0/33\": CIDR prefix length must be 0..32",
        "Pod shop/typos: metadata.annotations[\"traffic.sidecar.istio.io/"
        "excludeOutboundIPRanges\"]: \"*\" is not allowed here",
        "Pod shop/typos: metadata.annotations[\"traffic.sidecar.istio.io/"
        "excludeOutboundPorts\"]: \"70000\" is not a port number (1..65535)",
        "Pod shop/typos: metadata.annotations[\"traffic.sidecar.istio.io/"
        "includeInboundPorts\"]: \"http\" is not a port number (1..65535)",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(has_diag(&r.diags, WEIR_SEV_ERROR, want[i]), "missing: %s", want[i]);
    ck_assert_uint_eq(weir_diags_count(&r.diags, WEIR_SEV_ERROR), 8);
    /* the reason is the first error, for logs */
    ck_assert_str_eq(r.res.reason, want[0]);
    run_done(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_unsupported_annotation_is_a_warning)
{
    json_t *pod = load("pod-bare.yaml");
    json_object_set_new(json_object_get(pod, "metadata"), "annotations",
                        json_pack("{s:s, s:s}", "proxy.istio.io/config", "{}",
                                  "sidecar.istio.io/interceptionMode", "TPROXY"));
    struct run r;
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_PATCH);
    ck_assert(has_diag(&r.diags, WEIR_SEV_UNSUPPORTED,
                       "Pod shop/bare: metadata.annotations[\"proxy.istio.io/config\"]: not "
                       "supported by Weir; it has no effect"));
    ck_assert(has_diag(&r.diags, WEIR_SEV_UNSUPPORTED,
                       "Pod shop/bare: metadata.annotations[\"sidecar.istio.io/"
                       "interceptionMode\"]: Weir captures with REDIRECT only; \"TPROXY\" has no "
                       "effect"));
    /* existing annotations map: ours are added one by one, escaped */
    ck_assert_str_eq(str_at(r.after, "/metadata/annotations/proxy.istio.io~1config"), "{}");
    run_done(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_declared_ports_and_port_overrides)
{
    json_t *deploy = load("deployment-full.yaml");
    json_t *tmpl = json_object_get(json_object_get(deploy, "spec"), "template");
    json_t *ann = json_object_get(json_object_get(tmpl, "metadata"), "annotations");
    json_object_del(ann, "traffic.sidecar.istio.io/includeInboundPorts");
    json_object_del(ann, "traffic.sidecar.istio.io/excludeInboundPorts");
    /* UDP is not captured by REDIRECT, so it is not among the declared ports */
    json_t *shipper =
        json_array_get(json_object_get(json_object_get(tmpl, "spec"), "containers"), 1);
    json_object_set_new(shipper, "ports",
                        json_pack("[{s:i, s:s}, {s:i}]", "containerPort", 5000, "protocol", "UDP",
                                  "containerPort", 7000));
    mesh.inbound_capture = WEIR_CAPTURE_DECLARED;
    mesh.ports.health = 16021;
    mesh.ports.outbound_capture = 16001;
    struct run r;
    run_with(tmpl, NULL, "bookinfo", &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_PATCH);
    const json_t *args = at(r.after, "/spec/initContainers/0/args");
    ck_assert_str_eq(json_string_value(json_array_get(args, 1)), "16001");
    ck_assert_str_eq(json_string_value(json_array_get(args, 13)), "7000,9080,9443");
    ck_assert_str_eq(json_string_value(json_array_get(args, 15)), "16021,15090");
    const json_t *proxy = container(r.after, "initContainers", "weir-proxy");
    ck_assert_str_eq(env_of(proxy, "WEIR_HEALTH_PORT"), "16021");
    ck_assert_str_eq(env_of(proxy, "WEIR_OUTBOUND_CAPTURE_PORT"), "16001");
    ck_assert_ptr_null(env_of(proxy, "WEIR_ADMIN_PORT"));
    ck_assert_int_eq(json_integer_value(at(proxy, "/readinessProbe/httpGet/port")), 16021);
    ck_assert_int_eq(
        json_integer_value(at(r.after, "/spec/containers/0/livenessProbe/httpGet/port")), 16021);
    run_done(&r);
    json_decref(deploy);
}
END_TEST

START_TEST(test_probe_rewrite_opt_out_and_unknown_port)
{
    json_t *pod = load("job-regular.yaml");
    json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
    json_object_set_new(ann, "sidecar.istio.io/rewriteAppHTTPProbers", json_string("false"));
    struct run r;
    run_with(pod, NULL, NULL, &r);
    assert_json(at(r.after, "/spec/containers/1/readinessProbe"),
                "{\"httpGet\":{\"port\":\"metrics\"}}");
    ck_assert_ptr_null(env_of(at(r.after, "/spec/containers/0"), "WEIR_KUBE_APP_PROBERS"));
    run_done(&r);

    json_object_del(ann, "sidecar.istio.io/rewriteAppHTTPProbers");
    json_t *probe = json_object_get(
        json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0),
        "readinessProbe");
    json_object_set_new(json_object_get(probe, "httpGet"), "port", json_string("admin"));
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_PATCH);
    ck_assert(has_diag(&r.diags, WEIR_SEV_WARNING,
                       "Pod shop/report-28433: spec.containers[0].readinessProbe.httpGet.port: "
                       "names no port of container report; the probe is left as it is and will "
                       "fail once mTLS is STRICT"));
    run_done(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_template_without_metadata_and_null_lists)
{
    json_t *tmpl = json_loads("{\"spec\":{\"initContainers\":null,\"volumes\":null,"
                              "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}",
                              0, NULL);
    struct run r;
    run_with(tmpl, NULL, "ns1", &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_PATCH);
    ck_assert_str_eq(str_at(r.res.patch, "/2/path"), "/metadata");
    ck_assert_uint_eq(json_array_size(r.res.patch), 3);
    ck_assert_uint_eq(json_array_size(at(r.after, "/spec/initContainers")), 2);
    ck_assert_uint_eq(json_array_size(at(r.after, "/spec/volumes")), 4);
    ck_assert_str_eq(str_at(r.after, "/metadata/labels/security.istio.io~1tlsMode"), "istio");
    run_done(&r);
    json_decref(tmpl);
}
END_TEST

START_TEST(test_not_a_pod)
{
    json_t *obj =
        json_loads("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"containers\":[]}}", 0, NULL);
    struct run r;
    run_with(obj, NULL, "ns1", &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_REFUSE);
    char *s = diag_text(&r.diags, 0);
    ck_assert_str_eq(s, "Pod ns1/x: spec.containers: a pod needs at least one container");
    free(s);
    run_done(&r);
    json_decref(obj);

    obj = json_loads("[1]", 0, NULL);
    run_with(obj, NULL, "ns1", &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_REFUSE);
    run_done(&r);
    json_decref(obj);
}
END_TEST

START_TEST(test_reserved_names_refused)
{
    json_t *pod = load("pod-bare.yaml");
    json_object_set_new(json_object_get(pod, "spec"), "volumes",
                        json_pack("[{s:s, s:{}}]", "name", "weir-runtime", "emptyDir"));
    struct run r;
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_REFUSE);
    ck_assert_str_eq(r.res.reason, "Pod shop/bare: spec.volumes[0]: volume name weir-runtime is "
                                   "reserved for the injected proxy");
    run_done(&r);

    json_object_set_new(json_object_get(pod, "spec"), "volumes",
                        json_pack("[{s:s, s:{}}]", "name", "weir-podinfo", "emptyDir"));
    run_with(pod, NULL, NULL, &r);
    ck_assert_int_eq(r.res.decision, WEIR_INJECT_REFUSE);
    ck_assert_str_eq(r.res.reason, "Pod shop/bare: spec.volumes[0]: volume name weir-podinfo is "
                                   "reserved for the injected proxy");
    run_done(&r);
    json_decref(pod);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("inject");
    TCase *p = tcase_create("jsonpatch");
    tcase_add_test(p, test_jsonpatch_rfc6902_examples);
    tcase_add_test(p, test_jsonpatch_failures_leave_doc_untouched);
    tcase_add_test(p, test_json_pointer_append_escapes);
    suite_add_tcase(s, p);

    TCase *t = tcase_create("inject");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_bare_pod_native);
    tcase_add_test(t, test_deployment_template);
    tcase_add_test(t, test_regular_sidecar_job);
    tcase_add_test(t, test_weir_native_annotation_and_mesh_default);
    tcase_add_test(t, test_skips);
    tcase_add_test(t, test_namespace_policy);
    tcase_add_test(t, test_unrecognised_opt_in_value_warns);
    tcase_add_test(t, test_bad_annotations_refused);
    tcase_add_test(t, test_unsupported_annotation_is_a_warning);
    tcase_add_test(t, test_declared_ports_and_port_overrides);
    tcase_add_test(t, test_probe_rewrite_opt_out_and_unknown_port);
    tcase_add_test(t, test_template_without_metadata_and_null_lists);
    tcase_add_test(t, test_not_a_pod);
    tcase_add_test(t, test_reserved_names_refused);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
