/*
 * kube_client_check: drives lib/kube/ (client, watch, informer) against a
 * real API server for e2e/tests/kube-client.sh. One subcommand per scenario;
 * each prints TAP-like lines without numbers ("ok - ...", "not ok - ...",
 * "# detail") that the script numbers, and exits non-zero if a check failed.
 *
 *   kube_client_check crud     NS CRD_YAML
 *   kube_client_check informer NS
 *   kube_client_check watch    NS
 *   kube_client_check gone
 *   kube_client_check relist   NS COMPACT_COMMAND
 *   kube_client_check resume   NS
 *   kube_client_check stall    NS APISERVER_PID
 *   kube_client_check auth     KUBECONFIG USER [TLS_SERVER_NAME]
 *   kube_client_check badca    KUBECONFIG
 *   kube_client_check incluster DIR USER1 TOKEN2_FILE USER2
 *
 * The API server comes from $KUBECONFIG; kubectl (for changes made by
 * someone else than this client) from $KUBECTL.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/log.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "kube/ratelimit.h"
#include "kube/watch.h"
#include "yaml/yaml_json.h"

#define MANAGER "weir-e2e-kube"
#define BULK    250

static int failures;

static void check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s - ", cond ? "ok" : "not ok");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (!cond)
        failures++;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static const char *fmt_err(const struct weir_kube_error *err)
{
    static char buf[2048];
    return weir_kube_error_format(err, buf, sizeof(buf));
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *data_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "data"), key));
}

/* ---- setup ------------------------------------------------------------------------------ */

static struct weir_kube_config cfg;
static struct weir_kube_client *client;

static int connect_client(double qps, int burst)
{
    struct weir_kube_error err;
    struct weir_kube_client_options o = {.qps = qps, .burst = burst, .field_manager = MANAGER};
    if (weir_kube_config_load_default(NULL, &cfg, &err) != 0) {
        check(false, "load the kubeconfig");
        note("%s", fmt_err(&err));
        return -1;
    }
    if (weir_kube_client_new(&cfg, &o, &client, &err) != 0) {
        check(false, "create the client");
        note("%s", fmt_err(&err));
        return -1;
    }
    return 0;
}

static void disconnect(void)
{
    weir_kube_client_free(client);
    weir_kube_config_free(&cfg);
}

/* kubectl, with a manifest on stdin when given. */
static int kubectl(const char *stdin_text, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int kubectl(const char *stdin_text, const char *fmt, ...)
{
    const char *bin = getenv("KUBECTL") ? getenv("KUBECTL") : "kubectl";
    char args[1024], cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "'%s' --request-timeout=30s %s >/dev/null", bin, args);
    FILE *p = popen(cmd, "w");
    if (!p)
        return -1;
    if (stdin_text)
        fputs(stdin_text, p);
    int st = pclose(p);
    return st == 0 ? 0 : -1;
}

static json_t *configmap(const char *ns, const char *name, const char *app, const char *key,
                         const char *value)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1", "kind",
                     "ConfigMap", "metadata", "name", name, "namespace", ns, "labels", "app", app,
                     "data", key, value);
}

/* ---- recording handlers --------------------------------------------------------------- */

#define MAX_SEEN 4096

struct seen_event {
    char type; /* 'A', 'U', 'D' */
    char name[96];
    char old_k[32], new_k[32];
};

struct recorder {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct seen_event ev[MAX_SEEN];
    int n;
    int resyncs;
    const char *key; /* the data key copied into old_k/new_k */
};

static void rec_init(struct recorder *r, const char *key)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->key = key;
}

static void rec_put(struct recorder *r, char type, const json_t *old_obj, const json_t *obj)
{
    pthread_mutex_lock(&r->mu);
    if (r->n < MAX_SEEN) {
        struct seen_event *e = &r->ev[r->n++];
        e->type = type;
        snprintf(e->name, sizeof(e->name), "%s", weir_kube_obj_name(obj));
        const char *o = old_obj ? data_of(old_obj, r->key) : NULL;
        const char *n = data_of(obj, r->key);
        snprintf(e->old_k, sizeof(e->old_k), "%s", o ? o : "");
        snprintf(e->new_k, sizeof(e->new_k), "%s", n ? n : "");
    }
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

static void on_add(void *arg, const json_t *obj)
{
    rec_put(arg, 'A', NULL, obj);
}

static void on_update(void *arg, const json_t *old_obj, const json_t *new_obj)
{
    struct recorder *r = arg;
    if (old_obj == new_obj) {
        pthread_mutex_lock(&r->mu);
        r->resyncs++;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    rec_put(arg, 'U', old_obj, new_obj);
}

static void on_delete(void *arg, const json_t *obj)
{
    rec_put(arg, 'D', NULL, obj);
}

/* Waits until an event of `type` for `name` (and new value, when given) is
 * recorded at index >= from; returns its index or -1. */
static int rec_wait(struct recorder *r, int from, char type, const char *name, const char *new_k,
                    double timeout)
{
    double end = weir_kube_monotonic() + timeout;
    int found = -1;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        for (int i = from; i < r->n && found < 0; i++) {
            const struct seen_event *e = &r->ev[i];
            if (e->type == type && strcmp(e->name, name) == 0 &&
                (!new_k || strcmp(e->new_k, new_k) == 0))
                found = i;
        }
        if (found >= 0 || weir_kube_monotonic() > end)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&r->cond, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

static int rec_count(struct recorder *r, char type)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        n += r->ev[i].type == type;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static struct weir_kube_informer *start_informer(const struct weir_kube_resource *res,
                                                 const char *ns, const char *selector,
                                                 int watch_timeout, struct recorder *r)
{
    struct weir_kube_error err;
    struct weir_kube_informer *inf = NULL;
    struct weir_kube_informer_options o = {
        .resource = res,
        .namespace = ns,
        .label_selector = selector,
        .page_size = 100,
        .watch_timeout = watch_timeout,
        .backoff_initial = 0.2,
        .backoff_max = 2,
    };
    struct weir_kube_informer_handlers h = {on_add, on_update, on_delete, r};
    if (weir_kube_informer_new(client, &o, &h, &inf, &err) != 0 ||
        weir_kube_informer_start(inf, &err) != 0) {
        check(false, "start an informer on %s", res->resource);
        note("%s", fmt_err(&err));
        weir_kube_informer_free(inf);
        return NULL;
    }
    return inf;
}

/* ---- crud -------------------------------------------------------------------------------- */

static bool has_manager(const json_t *obj, const char *manager, const char *operation)
{
    const json_t *mf = json_object_get(json_object_get(obj, "metadata"), "managedFields");
    size_t i;
    const json_t *e;
    json_array_foreach(mf, i, e)
    {
        const char *m = json_string_value(json_object_get(e, "manager"));
        const char *op = json_string_value(json_object_get(e, "operation"));
        if (m && op && strcmp(m, manager) == 0 && strcmp(op, operation) == 0)
            return true;
    }
    return false;
}

static int crd_established(const char *name, double timeout)
{
    double end = weir_kube_monotonic() + timeout;
    struct weir_kube_error err;
    while (weir_kube_monotonic() < end) {
        json_t *crd = NULL;
        if (weir_kube_get(client, &weir_kube_res_crds, NULL, name, &crd, &err) == 0) {
            const json_t *conds = json_object_get(json_object_get(crd, "status"), "conditions");
            size_t i;
            const json_t *c;
            bool ok = false;
            json_array_foreach(conds, i, c)
            {
                const char *t = json_string_value(json_object_get(c, "type"));
                const char *s = json_string_value(json_object_get(c, "status"));
                if (t && s && strcmp(t, "Established") == 0 && strcmp(s, "True") == 0)
                    ok = true;
            }
            json_decref(crd);
            if (ok)
                return 0;
        }
        sleep_s(0.2);
    }
    return -1;
}

static void crud_crd_status(const char *ns, const char *crd_yaml)
{
    static const struct weir_kube_resource gadgets = {"kube-client.e2e.weir.test", "v1", "gadgets",
                                                      "Gadget", true};
    struct weir_yaml_stream ys;
    struct weir_diags diags;
    struct weir_kube_error err;
    json_t *out = NULL;

    weir_diags_init(&diags);
    if (weir_yaml_parse_file(crd_yaml, NULL, &ys, &diags) != 0 || ys.ndocs != 1) {
        check(false, "read the test CRD %s", crd_yaml);
        weir_diags_free(&diags);
        weir_yaml_stream_free(&ys);
        return;
    }
    weir_diags_free(&diags);
    int rc = weir_kube_apply(client, &weir_kube_res_crds, NULL, ys.docs[0].root, MANAGER, true,
                             NULL, &err);
    check(rc == 0, "server-side apply of a CustomResourceDefinition (cluster-scoped)");
    if (rc != 0)
        note("%s", fmt_err(&err));
    weir_yaml_stream_free(&ys);
    rc = crd_established("gadgets.kube-client.e2e.weir.test", 60);
    check(rc == 0, "the CRD becomes Established (polled with get)");
    if (rc != 0)
        return;

    json_t *g =
        json_pack("{s:s, s:s, s:{s:s}, s:{s:i}}", "apiVersion", "kube-client.e2e.weir.test/v1",
                  "kind", "Gadget", "metadata", "name", "g1", "spec", "size", 3);
    /* Right after Established the new REST endpoint can still answer 404 for
     * a moment; retry briefly. */
    for (int i = 0; i < 50; i++) {
        rc = weir_kube_create(client, &gadgets, ns, g, &out, &err);
        if (rc == 0 || !weir_kube_error_is_not_found(&err))
            break;
        sleep_s(0.2);
    }
    json_decref(g);
    check(rc == 0, "create a custom resource");
    if (rc != 0) {
        note("%s", fmt_err(&err));
        return;
    }
    json_object_set_new(out, "status", json_pack("{s:s}", "phase", "Ready"));
    json_t *after = NULL;
    rc = weir_kube_update_status(client, &gadgets, ns, "g1", out, &after, &err);
    const char *phase =
        json_string_value(json_object_get(json_object_get(after, "status"), "phase"));
    check(rc == 0 && phase && strcmp(phase, "Ready") == 0,
          "PUT on the status subresource sets status.phase=Ready");
    if (rc != 0)
        note("%s", fmt_err(&err));
    json_decref(out);

    /* Through the main resource, status is ignored: that is what the
     * subresource is for. */
    json_t *tamper = json_deep_copy(after);
    json_object_set_new(tamper, "status", json_pack("{s:s}", "phase", "Tampered"));
    json_object_set_new(json_object_get(tamper, "spec"), "size", json_integer(4));
    json_t *main_out = NULL;
    rc = weir_kube_update(client, &gadgets, ns, NULL, tamper, &main_out, &err);
    phase = json_string_value(json_object_get(json_object_get(main_out, "status"), "phase"));
    check(rc == 0 && phase && strcmp(phase, "Ready") == 0,
          "a PUT of the main resource leaves status alone (subresource enabled)");
    json_decref(tamper);
    json_decref(main_out);
    json_decref(after);

    json_t *patch = json_pack("{s:{s:i}}", "status", "observed", 2);
    struct weir_kube_patch_options po = {.type = WEIR_KUBE_PATCH_MERGE, .subresource = "status"};
    rc = weir_kube_patch(client, &gadgets, ns, "g1", patch, &po, &out, &err);
    json_int_t observed =
        json_integer_value(json_object_get(json_object_get(out, "status"), "observed"));
    check(rc == 0 && observed == 2, "merge patch on the status subresource");
    if (rc != 0)
        note("%s", fmt_err(&err));
    json_decref(patch);
    json_decref(out);
}

static int cmd_crud(const char *ns, const char *crd_yaml)
{
    struct weir_kube_error err;
    json_t *out = NULL;
    int rc;

    if (connect_client(200, 200) != 0)
        return 1;

    json_t *nsobj =
        json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion", "v1", "kind", "Namespace",
                  "metadata", "name", ns, "labels", "weir-e2e", "kube-client");
    rc = weir_kube_create(client, &weir_kube_res_namespaces, NULL, nsobj, NULL, &err);
    check(rc == 0 || weir_kube_error_is_already_exists(&err), "create namespace %s", ns);
    if (rc != 0)
        note("%s", fmt_err(&err));
    json_decref(nsobj);

    int created = 0;
    double t0 = weir_kube_monotonic();
    for (int i = 0; i < BULK; i++) {
        char name[32], val[16], batch[8];
        snprintf(name, sizeof(name), "cm-%03d", i);
        snprintf(val, sizeof(val), "%d", i);
        snprintf(batch, sizeof(batch), "b%d", i % 3);
        json_t *cm = configmap(ns, name, "weir-kube-e2e", "i", val);
        json_object_set_new(json_object_get(json_object_get(cm, "metadata"), "labels"), "batch",
                            json_string(batch));
        if (weir_kube_create(client, &weir_kube_res_configmaps, NULL, cm, NULL, &err) == 0)
            created++;
        else if (created == i)
            note("create %s: %s", name, fmt_err(&err));
        json_decref(cm);
    }
    check(created == BULK, "create %d ConfigMaps (%d created in %.1f s)", BULK, created,
          weir_kube_monotonic() - t0);

    struct weir_kube_list_result list;
    struct weir_kube_list_options lo = {.label_selector = "app=weir-kube-e2e", .limit = 100};
    rc = weir_kube_list(client, &weir_kube_res_configmaps, ns, &lo, &list, &err);
    check(rc == 0 && json_array_size(list.items) == BULK && list.pages == 3,
          "list with limit=100 follows continue: %zu items in %u pages, resourceVersion %s",
          rc == 0 ? json_array_size(list.items) : 0, rc == 0 ? list.pages : 0,
          rc == 0 ? list.resource_version : "-");
    if (rc != 0)
        note("%s", fmt_err(&err));
    else
        check(strcmp(json_string_value(json_object_get(json_array_get(list.items, 0), "kind")),
                     "ConfigMap") == 0,
              "list items carry kind and apiVersion");
    weir_kube_list_result_free(&list);

    int want_b1 = 0;
    for (int i = 0; i < BULK; i++)
        want_b1 += i % 3 == 1;
    lo.label_selector = "app in (weir-kube-e2e,other),batch=b1,!missing";
    lo.limit = 0;
    rc = weir_kube_list(client, &weir_kube_res_configmaps, ns, &lo, &list, &err);
    check(rc == 0 && json_array_size(list.items) == (size_t)want_b1,
          "a set-based label selector survives escaping (%zu of %d)",
          rc == 0 ? json_array_size(list.items) : 0, want_b1);
    weir_kube_list_result_free(&list);

    lo.label_selector = NULL;
    lo.field_selector = "metadata.name=cm-007";
    rc = weir_kube_list(client, &weir_kube_res_configmaps, ns, &lo, &list, &err);
    check(rc == 0 && json_array_size(list.items) == 1, "field selector metadata.name=cm-007");
    weir_kube_list_result_free(&list);

    rc = weir_kube_get(client, &weir_kube_res_configmaps, ns, "cm-007", &out, &err);
    check(rc == 0 && data_of(out, "i") && strcmp(data_of(out, "i"), "7") == 0,
          "get cm-007 (data.i=7)");
    json_decref(out);

    /* optimistic concurrency: a PUT with a stale resourceVersion */
    json_t *stale = NULL, *merge = json_pack("{s:{s:s}}", "data", "touched", "1");
    weir_kube_get(client, &weir_kube_res_configmaps, ns, "cm-010", &stale, &err);
    rc = weir_kube_patch(client, &weir_kube_res_configmaps, ns, "cm-010", merge, NULL, &out, &err);
    check(rc == 0 && strcmp(data_of(out, "touched"), "1") == 0,
          "merge patch (application/merge-patch+json)");
    json_decref(out);
    json_object_set_new(json_object_get(stale, "data"), "i", json_string("stale"));
    rc = weir_kube_update(client, &weir_kube_res_configmaps, ns, NULL, stale, NULL, &err);
    check(rc == WEIR_KUBE_ERR_HTTP && err.http_status == 409 && weir_kube_error_is_conflict(&err) &&
              strstr(err.message, "the object has been modified"),
          "update with a stale resourceVersion: 409 Conflict with the API server's message");
    note("%s", fmt_err(&err));
    json_decref(stale);
    json_decref(merge);

    rc = weir_kube_get(client, &weir_kube_res_configmaps, ns, "cm-010", &out, &err);
    json_object_set_new(json_object_get(out, "data"), "i", json_string("fresh"));
    json_t *updated = NULL;
    rc = rc ? rc
            : weir_kube_update(client, &weir_kube_res_configmaps, ns, NULL, out, &updated, &err);
    check(rc == 0 && strcmp(data_of(updated, "i"), "fresh") == 0 &&
              has_manager(updated, MANAGER, "Update"),
          "update with the current resourceVersion; managedFields name %s", MANAGER);
    json_decref(out);
    json_decref(updated);

    json_t *jp = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path", "/data/jp", "value", "yes");
    struct weir_kube_patch_options jpo = {.type = WEIR_KUBE_PATCH_JSON};
    rc = weir_kube_patch(client, &weir_kube_res_configmaps, ns, "cm-010", jp, &jpo, &out, &err);
    check(rc == 0 && data_of(out, "jp") && strcmp(data_of(out, "jp"), "yes") == 0,
          "JSON patch (application/json-patch+json)");
    json_decref(out);
    json_decref(jp);

    /* server-side apply, twice */
    json_t *desired = configmap(ns, "applied", "weir-kube-e2e-apply", "a", "1");
    json_t *a1 = NULL, *a2 = NULL;
    int rc1 =
        weir_kube_apply(client, &weir_kube_res_configmaps, NULL, desired, NULL, false, &a1, &err);
    if (rc1 != 0)
        note("%s", fmt_err(&err));
    int rc2 =
        weir_kube_apply(client, &weir_kube_res_configmaps, NULL, desired, NULL, false, &a2, &err);
    const char *rv1 = a1 ? weir_kube_obj_resource_version(a1) : NULL;
    const char *rv2 = a2 ? weir_kube_obj_resource_version(a2) : NULL;
    check(rc1 == 0 && rc2 == 0 && rv1 && rv2 && strcmp(rv1, rv2) == 0,
          "server-side apply twice is idempotent (resourceVersion %s then %s)", rv1 ? rv1 : "-",
          rv2 ? rv2 : "-");
    check(a2 && has_manager(a2, MANAGER, "Apply"), "managedFields show %s with operation Apply",
          MANAGER);
    json_decref(a1);
    json_decref(a2);

    json_t *rival = configmap(ns, "applied", "weir-kube-e2e-apply", "a", "2");
    rc = weir_kube_apply(client, &weir_kube_res_configmaps, NULL, rival, "rival-manager", false,
                         NULL, &err);
    check(rc == WEIR_KUBE_ERR_HTTP && err.http_status == 409,
          "apply of a field another manager owns: 409 without force");
    note("%s", fmt_err(&err));
    rc = weir_kube_apply(client, &weir_kube_res_configmaps, NULL, rival, "rival-manager", true,
                         &out, &err);
    check(rc == 0 && strcmp(data_of(out, "a"), "2") == 0, "and accepted with force=true");
    json_decref(out);
    json_decref(rival);
    json_decref(desired);

    crud_crd_status(ns, crd_yaml);

    /* an Event about cm-007, read back through the core/v1 view */
    json_t *cm7 = NULL;
    weir_kube_get(client, &weir_kube_res_configmaps, ns, "cm-007", &cm7, &err);
    struct weir_kube_event ev = {
        .regarding = cm7,
        .type = "Normal",
        .reason = "E2ECheck",
        .action = "Check",
        .note = "kube-client e2e event",
        .reporting_controller = "weir.dev/e2e",
    };
    rc = cm7 ? weir_kube_event_create(client, &ev, &out, &err) : -1;
    check(rc == 0, "create an events.k8s.io/v1 Event regarding cm-007");
    if (rc != 0)
        note("%s", fmt_err(&err));
    json_decref(out);
    json_decref(cm7);
    struct weir_kube_list_options eo = {.field_selector = "involvedObject.name=cm-007"};
    rc = weir_kube_list(client, &weir_kube_res_events_core, ns, &eo, &list, &err);
    const json_t *e0 = rc == 0 ? json_array_get(list.items, 0) : NULL;
    const char *reason = json_string_value(json_object_get(e0, "reason"));
    const char *msg = json_string_value(json_object_get(e0, "message"));
    check(e0 && reason && strcmp(reason, "E2ECheck") == 0 && msg &&
              strcmp(msg, "kube-client e2e event") == 0,
          "the Event is listed as a core/v1 Event of cm-007 (field selector on involvedObject)");
    if (rc == 0)
        weir_kube_list_result_free(&list);

    json_t *doomed = configmap(ns, "doomed", "weir-kube-e2e-doomed", "k", "v");
    rc = weir_kube_create(client, &weir_kube_res_configmaps, NULL, doomed, NULL, &err);
    json_decref(doomed);
    rc = rc ? rc : weir_kube_delete(client, &weir_kube_res_configmaps, ns, "doomed", NULL, &err);
    check(rc == 0, "create and delete a ConfigMap");
    rc = weir_kube_get(client, &weir_kube_res_configmaps, ns, "doomed", &out, &err);
    check(rc == WEIR_KUBE_ERR_HTTP && weir_kube_error_is_not_found(&err),
          "get after delete: 404 NotFound");
    note("%s", fmt_err(&err));
    rc = weir_kube_delete(client, &weir_kube_res_configmaps, ns, "doomed", NULL, &err);
    check(rc == WEIR_KUBE_ERR_HTTP && weir_kube_error_is_not_found(&err),
          "delete of a missing object: 404 NotFound");
    disconnect();
    return failures ? 1 : 0;
}

/* ---- informer ------------------------------------------------------------------------------ */

static int cmd_informer(const char *ns)
{
    static struct recorder r;
    struct weir_kube_error err;
    struct weir_kube_list_result list;
    struct weir_kube_list_options lo = {.label_selector = "app=weir-kube-e2e"};
    char manifest[512];

    if (connect_client(0, 0) != 0)
        return 1;
    rec_init(&r, "k");
    if (weir_kube_list(client, &weir_kube_res_configmaps, ns, &lo, &list, &err) != 0) {
        check(false, "list before the informer");
        note("%s", fmt_err(&err));
        disconnect();
        return 1;
    }
    size_t want = json_array_size(list.items);
    weir_kube_list_result_free(&list);

    double t0 = weir_kube_monotonic();
    struct weir_kube_informer *inf =
        start_informer(&weir_kube_res_configmaps, ns, "app=weir-kube-e2e", 0, &r);
    if (!inf) {
        disconnect();
        return 1;
    }
    bool synced = weir_kube_informer_wait_synced(inf, 60);
    check(synced && rec_count(&r, 'A') == (int)want && weir_kube_informer_len(inf) == want,
          "informer synced with one add per ConfigMap (%d adds, %zu cached, %zu listed, %.2f s)",
          rec_count(&r, 'A'), weir_kube_informer_len(inf), want, weir_kube_monotonic() - t0);

    int mark = r.n;
    snprintf(
        manifest, sizeof(manifest),
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"inf-new\","
        "\"namespace\":\"%s\",\"labels\":{\"app\":\"weir-kube-e2e\"}},\"data\":{\"k\":\"v1\"}}",
        ns);
    int krc = kubectl(manifest, "apply -f -");
    int at = rec_wait(&r, mark, 'A', "inf-new", "v1", 30);
    check(krc == 0 && at >= 0, "kubectl apply of a new ConfigMap: add handler with data.k=v1");

    krc = kubectl(NULL, "patch configmap inf-new -n %s --type merge -p '{\"data\":{\"k\":\"v2\"}}'",
                  ns);
    at = rec_wait(&r, mark, 'U', "inf-new", "v2", 30);
    check(krc == 0 && at >= 0 && strcmp(r.ev[at].old_k, "v1") == 0,
          "kubectl patch: update handler with old data.k=%s, new data.k=%s",
          at >= 0 ? r.ev[at].old_k : "?", at >= 0 ? r.ev[at].new_k : "?");

    json_t *cached = weir_kube_informer_get(inf, ns, "inf-new");
    check(cached && strcmp(data_of(cached, "k"), "v2") == 0, "the cache holds the new version");
    json_decref(cached);

    krc = kubectl(NULL, "delete configmap inf-new -n %s --wait=false", ns);
    at = rec_wait(&r, mark, 'D', "inf-new", NULL, 30);
    check(krc == 0 && at >= 0 && strcmp(r.ev[at].new_k, "v2") == 0,
          "kubectl delete: delete handler with the final object (data.k=%s)",
          at >= 0 ? r.ev[at].new_k : "?");
    cached = weir_kube_informer_get(inf, ns, "inf-new");
    check(cached == NULL, "and the cache no longer holds it");
    json_decref(cached);

    struct weir_kube_snapshot snap;
    bool sorted = weir_kube_informer_snapshot(inf, &snap) == 0;
    for (size_t i = 1; sorted && i < snap.len; i++)
        sorted =
            strcmp(weir_kube_obj_name(snap.items[i - 1]), weir_kube_obj_name(snap.items[i])) < 0;
    check(sorted && snap.len == want, "snapshot: %zu objects, sorted by key", snap.len);
    weir_kube_snapshot_free(&snap);

    double s0 = weir_kube_monotonic();
    weir_kube_informer_stop(inf);
    double took = weir_kube_monotonic() - s0;
    check(took < 3, "informer stops cleanly with a watch open (%.2f s)", took);
    weir_kube_informer_free(inf);
    disconnect();
    return failures ? 1 : 0;
}

/* ---- watch ------------------------------------------------------------------------------------
 */

struct watch_log {
    int added, bookmarks, other;
    char last_rv[64];
};

static int watch_cb(void *arg, const struct weir_kube_watch_event *ev)
{
    struct watch_log *w = arg;
    if (ev->type == WEIR_KUBE_WATCH_BOOKMARK)
        w->bookmarks++;
    else if (ev->type == WEIR_KUBE_WATCH_ADDED &&
             strcmp(weir_kube_obj_name(ev->object), "watched") == 0)
        w->added++;
    else
        w->other++;
    if (ev->resource_version)
        snprintf(w->last_rv, sizeof(w->last_rv), "%s", ev->resource_version);
    return 0;
}

static const char *writer_ns;

static void *create_watched(void *arg)
{
    struct weir_kube_error err;
    (void)arg;
    sleep_s(1);
    json_t *cm = configmap(writer_ns, "watched", "watch-e2e", "k", "v");
    if (weir_kube_create(client, &weir_kube_res_configmaps, NULL, cm, NULL, &err) != 0)
        note("create watched: %s", fmt_err(&err));
    json_decref(cm);
    return NULL;
}

static int cmd_watch(const char *ns)
{
    struct weir_kube_error err;
    struct weir_kube_list_result list;
    struct weir_kube_list_options lo = {.label_selector = "app=watch-e2e"};
    struct watch_log w = {0};
    pthread_t t;

    if (connect_client(0, 0) != 0)
        return 1;
    if (weir_kube_list(client, &weir_kube_res_configmaps, ns, &lo, &list, &err) != 0) {
        check(false, "list before the watch");
        note("%s", fmt_err(&err));
        disconnect();
        return 1;
    }
    struct weir_kube_watch_options wo = {.resource_version = list.resource_version,
                                         .label_selector = "app=watch-e2e",
                                         .timeout_seconds = 8,
                                         .allow_bookmarks = true};
    writer_ns = ns;
    pthread_create(&t, NULL, create_watched, NULL);
    double t0 = weir_kube_monotonic();
    int rc = weir_kube_watch(client, &weir_kube_res_configmaps, ns, &wo, watch_cb, &w, &err);
    double took = weir_kube_monotonic() - t0;
    pthread_join(t, NULL);
    check(rc == 0 && took > 6 && took < 20,
          "watch with timeoutSeconds=8 ends cleanly when the server closes it (%.1f s)", took);
    if (rc != 0)
        note("%s", fmt_err(&err));
    check(w.added == 1 && w.other == 0, "the watch delivered the ADDED event of a new ConfigMap");
    check(w.bookmarks >= 1, "allowWatchBookmarks: %d BOOKMARK event(s), last resourceVersion %s",
          w.bookmarks, w.last_rv);
    weir_kube_list_result_free(&list);
    disconnect();
    return failures ? 1 : 0;
}

/* ---- gone --------------------------------------------------------------------------------------
 */

static int stop_at_once(void *arg, const struct weir_kube_watch_event *ev)
{
    (void)arg;
    (void)ev;
    return 1;
}

static int cmd_gone(void)
{
    struct weir_kube_error err;
    struct weir_kube_watch_options wo = {.resource_version = "1", .timeout_seconds = 5};

    if (connect_client(0, 0) != 0)
        return 1;
    /* Events bypass the API server's watch cache, so an old version is
     * checked against etcd's compaction. */
    int rc = weir_kube_watch(client, &weir_kube_res_events, NULL, &wo, stop_at_once, NULL, &err);
    check(rc == WEIR_KUBE_ERR_GONE && err.http_status == 410,
          "a watch from resourceVersion=1 after compaction: 410 surfaced as gone");
    note("%s", rc == 1 ? "got an event instead (not compacted yet?)" : fmt_err(&err));
    disconnect();
    return failures ? 1 : 0;
}

/* ---- relist after a real 410 ---------------------------------------------------------------- */

static int cmd_relist(const char *ns, const char *compact_cmd)
{
    static struct recorder r;
    struct weir_kube_error err;
    struct weir_kube_informer_stats st;

    if (connect_client(0, 0) != 0)
        return 1;
    rec_init(&r, "k");
    /* events.k8s.io Events: no watch cache, so a compacted version really
     * is gone when the informer's next watch asks for it. */
    struct weir_kube_informer *inf = start_informer(&weir_kube_res_events, ns, NULL, 3, &r);
    if (!inf) {
        disconnect();
        return 1;
    }
    check(weir_kube_informer_wait_synced(inf, 30), "informer on events.k8s.io Events synced");
    char rv[64];
    weir_kube_informer_resource_version(inf, rv, sizeof(rv));

    /* Move etcd's revision at least two past the informer's (a watch from
     * R starts at R + 1, which must be compacted too), then compact. */
    json_t *cm = configmap(ns, "relist-bump", "relist-e2e", "k", "v");
    weir_kube_apply(client, &weir_kube_res_configmaps, NULL, cm, NULL, true, NULL, &err);
    json_decref(cm);
    cm = configmap(ns, "relist-bump", "relist-e2e", "k", "w");
    weir_kube_apply(client, &weir_kube_res_configmaps, NULL, cm, NULL, true, NULL, &err);
    json_decref(cm);
    int crc = system(compact_cmd);
    check(crc == 0, "etcd compacted past the informer's resourceVersion %s", rv);

    double end = weir_kube_monotonic() + 30;
    do {
        weir_kube_informer_get_stats(inf, &st);
        if (st.gone >= 1 && st.lists >= 2)
            break;
        sleep_s(0.2);
    } while (weir_kube_monotonic() < end);
    check(st.gone >= 1 && st.lists >= 2,
          "the informer's next watch got 410 and it relisted (gone %u, lists %u, watches %u)",
          st.gone, st.lists, st.watches);

    json_t *cm2 = NULL;
    weir_kube_get(client, &weir_kube_res_configmaps, ns, "relist-bump", &cm2, &err);
    struct weir_kube_event ev = {.regarding = cm2,
                                 .type = "Normal",
                                 .reason = "AfterRelist",
                                 .action = "Check",
                                 .note = "seen after the relist",
                                 .reporting_controller = "weir.dev/e2e"};
    json_t *created = NULL;
    int rc = cm2 ? weir_kube_event_create(client, &ev, &created, &err) : -1;
    int at = rc == 0 ? rec_wait(&r, 0, 'A', weir_kube_obj_name(created), NULL, 30) : -1;
    check(at >= 0, "and keeps watching: an Event created afterwards is added");
    json_decref(created);
    json_decref(cm2);
    weir_kube_informer_free(inf);
    disconnect();
    return failures ? 1 : 0;
}

/* ---- resume across watch reconnects ------------------------------------------------------------
 */

static int cmd_resume(const char *ns)
{
    static struct recorder r;
    struct weir_kube_error err;
    struct weir_kube_informer_stats st;
    enum { UPDATES = 24 };

    if (connect_client(0, 0) != 0)
        return 1;
    rec_init(&r, "n");
    json_t *cm = configmap(ns, "counter", "resume-e2e", "n", "0");
    weir_kube_apply(client, &weir_kube_res_configmaps, NULL, cm, NULL, true, NULL, &err);
    json_decref(cm);
    /* 3 s watches: the updates below span several of them */
    struct weir_kube_informer *inf =
        start_informer(&weir_kube_res_configmaps, ns, "app=resume-e2e", 3, &r);
    if (!inf) {
        disconnect();
        return 1;
    }
    check(weir_kube_informer_wait_synced(inf, 30), "informer with 3 s watches synced");
    int mark = r.n;
    for (int i = 1; i <= UPDATES; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        json_t *p = json_pack("{s:{s:s}}", "data", "n", v);
        if (weir_kube_patch(client, &weir_kube_res_configmaps, ns, "counter", p, NULL, NULL,
                            &err) != 0)
            note("patch %d: %s", i, fmt_err(&err));
        json_decref(p);
        sleep_s(0.5);
    }
    rec_wait(&r, mark, 'U', "counter", "24", 30);
    int next = 1, gaps = 0;
    pthread_mutex_lock(&r.mu);
    for (int i = mark; i < r.n; i++) {
        if (r.ev[i].type != 'U' || strcmp(r.ev[i].name, "counter") != 0)
            continue;
        if (atoi(r.ev[i].new_k) != next || atoi(r.ev[i].old_k) != next - 1)
            gaps++;
        next = atoi(r.ev[i].new_k) + 1;
    }
    pthread_mutex_unlock(&r.mu);
    weir_kube_informer_get_stats(inf, &st);
    check(next == UPDATES + 1 && gaps == 0,
          "every one of %d updates seen once, in order, across watch reconnects", UPDATES);
    check(st.watches >= 4 && st.lists == 1 && st.gone == 0,
          "resumed from the last resourceVersion, never relisted (watches %u, lists %u)",
          st.watches, st.lists);
    weir_kube_informer_free(inf);
    disconnect();
    return failures ? 1 : 0;
}

/* ---- a frozen API server ------------------------------------------------------------------------
 */

static int cmd_stall(const char *ns, pid_t apiserver)
{
    static struct recorder r;
    struct weir_kube_error err;
    struct weir_kube_informer_stats st;

    if (connect_client(0, 0) != 0)
        return 1;
    rec_init(&r, "k");
    struct weir_kube_informer *inf =
        start_informer(&weir_kube_res_configmaps, ns, "app=stall-e2e", 5, &r);
    if (!inf) {
        disconnect();
        return 1;
    }
    check(weir_kube_informer_wait_synced(inf, 30), "informer synced");
    json_t *cm = configmap(ns, "before-stop", "stall-e2e", "k", "1");
    weir_kube_create(client, &weir_kube_res_configmaps, NULL, cm, NULL, &err);
    json_decref(cm);
    check(rec_wait(&r, 0, 'A', "before-stop", NULL, 20) >= 0,
          "a ConfigMap created before the stop is seen");

    if (kill(apiserver, SIGSTOP) != 0) {
        check(false, "SIGSTOP the API server (pid %d): %s", (int)apiserver, strerror(errno));
        weir_kube_informer_free(inf);
        disconnect();
        return 1;
    }
    /* A client with a short timeout sees the freeze as a timeout. */
    struct weir_kube_config cfg2;
    struct weir_kube_client *quick = NULL;
    struct weir_kube_client_options qo = {.request_timeout_ms = 2000, .connect_timeout_ms = 2000};
    json_t *out = NULL;
    int rc = -1;
    double t0 = weir_kube_monotonic();
    if (weir_kube_config_load_default(NULL, &cfg2, &err) == 0 &&
        weir_kube_client_new(&cfg2, &qo, &quick, &err) == 0)
        rc = weir_kube_get(quick, &weir_kube_res_namespaces, NULL, ns, &out, &err);
    double took = weir_kube_monotonic() - t0;
    json_decref(out);
    weir_kube_client_free(quick);
    weir_kube_config_free(&cfg2);
    sleep_s(6);
    kill(apiserver, SIGCONT);
    check(rc == WEIR_KUBE_ERR_TRANSPORT && took < 5,
          "while the API server is stopped a request times out (%.1f s)", took);
    note("%s", fmt_err(&err));

    cm = configmap(ns, "after-cont", "stall-e2e", "k", "2");
    rc = -1;
    for (int i = 0; i < 30 && rc != 0; i++) {
        rc = weir_kube_create(client, &weir_kube_res_configmaps, NULL, cm, NULL, &err);
        if (rc != 0 && !weir_kube_error_is_already_exists(&err))
            sleep_s(1);
        else
            rc = 0;
    }
    json_decref(cm);
    int at = rec_wait(&r, 0, 'A', "after-cont", NULL, 60);
    weir_kube_informer_get_stats(inf, &st);
    check(at >= 0,
          "after SIGCONT the informer resumes and sees a new ConfigMap "
          "(watches %u, errors %u, lists %u)",
          st.watches, st.errors, st.lists);
    check(weir_kube_informer_len(inf) == 2, "its cache holds exactly the 2 ConfigMaps");
    weir_kube_informer_free(inf);
    disconnect();
    return failures ? 1 : 0;
}

/* ---- credentials ----------------------------------------------------------------------------- */

/* Who the API server thinks we are: a SelfSubjectReview, which every
 * authenticated user may create. */
static int whoami(struct weir_kube_client *c, char *user, size_t len, struct weir_kube_error *err)
{
    static const struct weir_kube_resource reviews = {
        "authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", false};
    json_t *review = json_pack("{s:s, s:s}", "apiVersion", "authentication.k8s.io/v1", "kind",
                               "SelfSubjectReview");
    json_t *out = NULL;
    int rc = weir_kube_create(c, &reviews, NULL, review, &out, err);
    const char *name = json_string_value(
        json_object_get(json_object_get(json_object_get(out, "status"), "userInfo"), "username"));
    snprintf(user, len, "%s", rc == 0 && name ? name : "");
    json_decref(review);
    json_decref(out);
    return rc;
}

static int cmd_auth(const char *kubeconfig, const char *want_user, const char *tls_name)
{
    struct weir_kube_error err;
    char user[256];
    if (weir_kube_config_load_kubeconfig(kubeconfig, NULL, &cfg, &err) != 0) {
        check(false, "load %s", kubeconfig);
        note("%s", fmt_err(&err));
        return 1;
    }
    if (tls_name)
        check(cfg.tls_server_name && strcmp(cfg.tls_server_name, tls_name) == 0,
              "kubeconfig with tls-server-name %s", tls_name);
    if (weir_kube_client_new(&cfg, NULL, &client, &err) != 0) {
        check(false, "create the client");
        note("%s", fmt_err(&err));
        weir_kube_config_free(&cfg);
        return 1;
    }
    int rc = whoami(client, user, sizeof(user), &err);
    check(rc == 0 && strcmp(user, want_user) == 0, "%s: authenticated as %s", cfg.source,
          rc == 0 ? user : fmt_err(&err));
    disconnect();
    return failures ? 1 : 0;
}

static int cmd_badca(const char *kubeconfig)
{
    struct weir_kube_error err;
    char user[256];
    if (weir_kube_config_load_kubeconfig(kubeconfig, NULL, &cfg, &err) != 0 ||
        weir_kube_client_new(&cfg, NULL, &client, &err) != 0) {
        check(false, "load %s", kubeconfig);
        note("%s", fmt_err(&err));
        weir_kube_config_free(&cfg);
        return 1;
    }
    int rc = whoami(client, user, sizeof(user), &err);
    check(rc == WEIR_KUBE_ERR_TRANSPORT && strstr(err.message, "certificate"),
          "a server certificate from another CA is refused");
    note("%s", fmt_err(&err));
    disconnect();
    return failures ? 1 : 0;
}

static int cmd_incluster(const char *dir, const char *user1, const char *token2, const char *user2)
{
    struct weir_kube_error err;
    char tok[512], ca[512], nsf[512], tmp[512], user[256];
    snprintf(tok, sizeof(tok), "%s/token", dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(nsf, sizeof(nsf), "%s/namespace", dir);
    snprintf(tmp, sizeof(tmp), "%s/..token.new", dir);
    struct weir_kube_in_cluster_paths paths = {tok, ca, nsf};
    if (weir_kube_config_load_in_cluster(&paths, &cfg, &err) != 0 ||
        weir_kube_client_new(&cfg, NULL, &client, &err) != 0) {
        check(false, "in-cluster config from %s", dir);
        note("%s", fmt_err(&err));
        weir_kube_config_free(&cfg);
        return 1;
    }
    int rc = whoami(client, user, sizeof(user), &err);
    check(rc == 0 && strcmp(user, user1) == 0,
          "in-cluster config (%s, namespace %s): authenticated as %s", cfg.server, cfg.namespace,
          rc == 0 ? user : fmt_err(&err));

    /* Rotate the way the kubelet does: a new file renamed over the old. */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && mv '%s' '%s'", token2, tmp, tmp, tok);
    int crc = system(cmd);
    rc = whoami(client, user, sizeof(user), &err);
    check(crc == 0 && rc == 0 && strcmp(user, user2) == 0,
          "after the token file is replaced the next request authenticates as %s",
          rc == 0 ? user : fmt_err(&err));
    disconnect();
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    weir_log_setup("kube-client-check", WEIR_LOG_TEXT, WEIR_LOG_WARN, stderr);
    if (getenv("WEIR_KUBE_CHECK_DEBUG"))
        weir_log_set_level(WEIR_LOG_DEBUG);
    if (argc >= 4 && strcmp(argv[1], "crud") == 0)
        rc = cmd_crud(argv[2], argv[3]);
    else if (argc >= 3 && strcmp(argv[1], "informer") == 0)
        rc = cmd_informer(argv[2]);
    else if (argc >= 3 && strcmp(argv[1], "watch") == 0)
        rc = cmd_watch(argv[2]);
    else if (argc >= 2 && strcmp(argv[1], "gone") == 0)
        rc = cmd_gone();
    else if (argc >= 4 && strcmp(argv[1], "relist") == 0)
        rc = cmd_relist(argv[2], argv[3]);
    else if (argc >= 3 && strcmp(argv[1], "resume") == 0)
        rc = cmd_resume(argv[2]);
    else if (argc >= 4 && strcmp(argv[1], "stall") == 0)
        rc = cmd_stall(argv[2], (pid_t)atoi(argv[3]));
    else if (argc >= 4 && strcmp(argv[1], "auth") == 0)
        rc = cmd_auth(argv[2], argv[3], argc >= 5 ? argv[4] : NULL);
    else if (argc >= 3 && strcmp(argv[1], "badca") == 0)
        rc = cmd_badca(argv[2]);
    else if (argc >= 6 && strcmp(argv[1], "incluster") == 0)
        rc = cmd_incluster(argv[2], argv[3], argv[4], argv[5]);
    else
        fprintf(stderr,
                "usage: %s crud NS CRD_YAML | informer NS | watch NS | gone | "
                "relist NS COMPACT_CMD | resume NS | stall NS APISERVER_PID | "
                "auth KUBECONFIG USER [TLS_SERVER_NAME] | badca KUBECONFIG | "
                "incluster DIR USER1 TOKEN2_FILE USER2\n",
                argv[0]);
    return rc;
}
