#include "watchers.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "meshconfig/mesh_config.h"
#include "cached.h"
#include "scope.h"
#include "translate/translate.h"
#include "strmap.h"

#define MANAGED_SELECTOR WEIR_OP_MANAGED_BY_LABEL "=" WEIR_OP_MANAGED_BY
/* Finished pods back no endpoint; leaving them out keeps the cache small in
 * clusters that run many Jobs. */
#define POD_SELECTOR "status.phase!=Succeeded,status.phase!=Failed"

static const struct {
    const char *name;
    const struct weir_kube_resource *res;
    enum weir_op_source src;
} watches[WEIR_OP_W_COUNT] = {
    [WEIR_OP_W_NAMESPACES] = {"namespaces", &weir_kube_res_namespaces, WEIR_OP_SRC_NAMESPACE},
    [WEIR_OP_W_SERVICES] = {"services", &weir_kube_res_services, WEIR_OP_SRC_SERVICE},
    [WEIR_OP_W_ENDPOINTSLICES] = {"endpointslices", &weir_kube_res_endpointslices,
                                  WEIR_OP_SRC_ENDPOINTSLICE},
    [WEIR_OP_W_PODS] = {"pods", &weir_kube_res_pods, WEIR_OP_SRC_POD},
    [WEIR_OP_W_VIRTUALSERVICES] = {"virtualservices", &weir_kube_res_virtualservices,
                                   WEIR_OP_SRC_MESH_CR},
    [WEIR_OP_W_DESTINATIONRULES] = {"destinationrules", &weir_kube_res_destinationrules,
                                    WEIR_OP_SRC_MESH_CR},
    [WEIR_OP_W_SERVICEENTRIES] = {"serviceentries", &weir_kube_res_serviceentries,
                                  WEIR_OP_SRC_MESH_CR},
    [WEIR_OP_W_AUTHORIZATIONPOLICIES] = {"authorizationpolicies",
                                         &weir_kube_res_authorizationpolicies, WEIR_OP_SRC_MESH_CR},
    [WEIR_OP_W_PEERAUTHENTICATIONS] = {"peerauthentications", &weir_kube_res_peerauthentications,
                                       WEIR_OP_SRC_MESH_CR},
    [WEIR_OP_W_REQUESTAUTHENTICATIONS] = {"requestauthentications",
                                          &weir_kube_res_requestauthentications,
                                          WEIR_OP_SRC_MESH_CR},
    [WEIR_OP_W_RATELIMITPOLICIES] = {"ratelimitpolicies", &weir_kube_res_ratelimitpolicies,
                                     WEIR_OP_SRC_MESH_CR},
    [WEIR_OP_W_MESH_CONFIG] = {"mesh-config", &weir_kube_res_configmaps, WEIR_OP_SRC_MESH_CONFIG},
    /* its events go to the writer, not through the scope rule */
    [WEIR_OP_W_PROXY_CONFIGMAPS] = {"proxy-configmaps", &weir_kube_res_configmaps,
                                    WEIR_OP_SRC_SERVICE},
};

struct handler_arg {
    struct weir_op_watchers *w;
    enum weir_op_watch which;
};

struct weir_op_watchers {
    struct weir_op_watchers_options opts;
    char *ns, *mesh_config_name, *root_ns, *field_selector;
    struct weir_kube_informer *inf[WEIR_OP_W_COUNT];
    struct handler_arg args[WEIR_OP_W_COUNT];
    struct weir_op_writer *writer;
    struct weir_op_status *status;
    pthread_mutex_t lock;
    struct weir_op_strmap mesh; /* namespaces in the mesh */
    struct weir_op_strmap crs;  /* namespace -> (uintptr_t) number of CRs */
    /* namespace -> (uintptr_t) number of Services, VirtualServices,
     * DestinationRules and ServiceEntries visible outside it */
    struct weir_op_strmap exporting;
    size_t claiming;               /* ServiceEntries that weir_translate_claims_cluster() */
    struct weir_op_strmap managed; /* namespaces holding a managed ConfigMap */
    char *trust_domain;            /* NULL: the default */
};

const char *weir_op_watch_name(enum weir_op_watch w)
{
    return w < WEIR_OP_W_COUNT ? watches[w].name : "?";
}

const struct weir_kube_resource *weir_op_watch_resource(enum weir_op_watch w)
{
    return w < WEIR_OP_W_COUNT ? watches[w].res : NULL;
}

enum weir_op_watch weir_op_watch_of_kind(enum weir_kind kind)
{
    switch (kind) {
    case WEIR_KIND_VIRTUAL_SERVICE:
        return WEIR_OP_W_VIRTUALSERVICES;
    case WEIR_KIND_DESTINATION_RULE:
        return WEIR_OP_W_DESTINATIONRULES;
    case WEIR_KIND_SERVICE_ENTRY:
        return WEIR_OP_W_SERVICEENTRIES;
    case WEIR_KIND_AUTHORIZATION_POLICY:
        return WEIR_OP_W_AUTHORIZATIONPOLICIES;
    case WEIR_KIND_PEER_AUTHENTICATION:
        return WEIR_OP_W_PEERAUTHENTICATIONS;
    case WEIR_KIND_REQUEST_AUTHENTICATION:
        return WEIR_OP_W_REQUESTAUTHENTICATIONS;
    case WEIR_KIND_RATE_LIMIT_POLICY:
        return WEIR_OP_W_RATELIMITPOLICIES;
    case WEIR_KIND_NONE:
        break;
    }
    return WEIR_OP_W_COUNT;
}

/* ---- bookkeeping ---- */

static void set_member(struct weir_op_watchers *w, struct weir_op_strmap *set, const char *ns,
                       bool in)
{
    pthread_mutex_lock(&w->lock);
    if (in) {
        if (weir_op_strmap_put(set, ns, (void *)1, NULL, NULL) != 0)
            weir_log(WEIR_LOG_ERROR, "out of memory tracking a namespace", "namespace", ns, NULL);
    } else {
        weir_op_strmap_remove(set, ns);
    }
    pthread_mutex_unlock(&w->lock);
}

/* A count per namespace (the caller holds the lock). */
static void count_in(struct weir_op_strmap *m, const char *ns, int delta)
{
    uintptr_t n = (uintptr_t)weir_op_strmap_get(m, ns);
    if (delta < 0 && n <= 1)
        weir_op_strmap_remove(m, ns);
    else if (weir_op_strmap_put(m, ns, (void *)(n + (uintptr_t)(delta > 0 ? 1 : -1)), NULL, NULL) !=
             0)
        weir_log(WEIR_LOG_ERROR, "out of memory tracking a namespace", "namespace", ns, NULL);
}

static void count_cr(struct weir_op_watchers *w, const char *ns, int delta)
{
    pthread_mutex_lock(&w->lock);
    count_in(&w->crs, ns, delta);
    pthread_mutex_unlock(&w->lock);
}

/* Keeps the exporting namespaces and the claiming ServiceEntries counted, and
 * says whether the namespace exports anything, before or after the event. */
static bool track_exports(struct weir_op_watchers *w, const char *ns, const json_t *old_obj,
                          const json_t *new_obj)
{
    bool was = old_obj && weir_translate_exports(old_obj);
    bool is = new_obj && weir_translate_exports(new_obj);
    int claims = (new_obj && weir_translate_claims_cluster(new_obj)) -
                 (old_obj && weir_translate_claims_cluster(old_obj));
    pthread_mutex_lock(&w->lock);
    if (was != is)
        count_in(&w->exporting, ns, is ? +1 : -1);
    if (claims > 0)
        w->claiming++;
    else if (claims < 0 && w->claiming > 0)
        w->claiming--;
    bool exports = was || is || weir_op_strmap_has(&w->exporting, ns);
    pthread_mutex_unlock(&w->lock);
    return exports;
}

bool weir_op_watchers_private(struct weir_op_watchers *w, const char *ns)
{
    if (!ns || strcmp(ns, w->root_ns) == 0)
        return false;
    pthread_mutex_lock(&w->lock);
    bool private = !w->claiming && !weir_op_strmap_has(&w->exporting, ns);
    pthread_mutex_unlock(&w->lock);
    return private;
}

int weir_op_watchers_exporting(struct weir_op_watchers *w, char ***out, size_t *n)
{
    const char **keys = NULL;
    int rc = 0;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&w->lock);
    if (w->claiming) {
        rc = 1;
        goto out;
    }
    if (weir_op_strmap_keys(&w->exporting, &keys, n) != 0) {
        rc = -1;
        goto out;
    }
    *out = calloc(*n + 1, sizeof(**out));
    for (size_t i = 0; *out && i < *n; i++)
        if (!((*out)[i] = strdup(keys[i])))
            rc = -1;
    if (!*out)
        rc = -1;
out:
    pthread_mutex_unlock(&w->lock);
    free(keys);
    if (rc < 0) {
        for (size_t i = 0; *out && i < *n; i++)
            free((*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

bool weir_op_watchers_in_mesh(struct weir_op_watchers *w, const char *ns)
{
    pthread_mutex_lock(&w->lock);
    bool in = weir_op_strmap_has(&w->mesh, ns);
    pthread_mutex_unlock(&w->lock);
    return in;
}

bool weir_op_watchers_has_crs(struct weir_op_watchers *w, const char *ns)
{
    pthread_mutex_lock(&w->lock);
    bool in = weir_op_strmap_has(&w->crs, ns);
    pthread_mutex_unlock(&w->lock);
    return in;
}

static void enqueue(struct weir_op_watchers *w, const char *ns)
{
    if (ns && weir_op_queue_add(w->opts.queue, ns) != 0)
        weir_log(WEIR_LOG_ERROR, "out of memory queueing a namespace", "namespace", ns, NULL);
}

static void add_keys(struct weir_op_watchers *w, struct weir_op_strmap *set)
{
    const char **keys;
    size_t n;
    if (weir_op_strmap_keys(set, &keys, &n) != 0) {
        weir_log(WEIR_LOG_ERROR, "out of memory queueing every namespace", NULL);
        return;
    }
    for (size_t i = 0; i < n; i++)
        enqueue(w, keys[i]);
    free(keys);
}

void weir_op_watchers_enqueue_all(struct weir_op_watchers *w)
{
    /* under the lock: the keys point into the sets */
    pthread_mutex_lock(&w->lock);
    add_keys(w, &w->mesh);
    add_keys(w, &w->crs);
    add_keys(w, &w->managed);
    pthread_mutex_unlock(&w->lock);
}

char *weir_op_watchers_trust_domain(struct weir_op_watchers *w)
{
    pthread_mutex_lock(&w->lock);
    char *td = w->trust_domain ? strdup(w->trust_domain) : NULL;
    pthread_mutex_unlock(&w->lock);
    return td;
}

/* ---- handlers ---- */

static void mesh_config_changed(struct weir_op_watchers *w, const json_t *cm)
{
    struct weir_mesh_config mc;
    struct weir_diags d;
    char *td = NULL;
    bool changed;

    weir_diags_init(&d);
    if (cm) {
        if (weir_mesh_config_parse(cm, NULL, 0, &mc, &d) != 0) {
            /* keep serving with what we had: a typo must not reset the mesh */
            char *msg = d.len ? weir_diag_format(&d.items[0]) : NULL;
            weir_log(WEIR_LOG_ERROR, "the mesh config is invalid; keeping the previous one",
                     "configmap", w->mesh_config_name, "namespace", w->ns, "error",
                     msg ? msg : "out of memory", NULL);
            free(msg);
            weir_diags_free(&d);
            return;
        }
        if (mc.trust_domain && strcmp(mc.trust_domain, WEIR_TRANSLATE_DEFAULT_TRUST_DOMAIN) != 0)
            td = strdup(mc.trust_domain);
        weir_mesh_config_free(&mc);
    }
    weir_diags_free(&d);
    pthread_mutex_lock(&w->lock);
    changed = (td == NULL) != (w->trust_domain == NULL) || (td && strcmp(td, w->trust_domain) != 0);
    free(w->trust_domain);
    w->trust_domain = td;
    pthread_mutex_unlock(&w->lock);
    if (changed) {
        weir_log(WEIR_LOG_INFO, "mesh config changed", "trustDomain",
                 td ? td : WEIR_TRANSLATE_DEFAULT_TRUST_DOMAIN, NULL);
        weir_op_watchers_enqueue_all(w);
    }
}

static void on_event(struct handler_arg *a, const json_t *old_obj, const json_t *new_obj)
{
    struct weir_op_watchers *w = a->w;
    const json_t *obj = new_obj ? new_obj : old_obj;
    const char *ns =
        a->which == WEIR_OP_W_NAMESPACES ? weir_kube_obj_name(obj) : weir_kube_obj_namespace(obj);
    enum weir_op_source src = watches[a->which].src;

    if (old_obj == new_obj)
        return; /* an informer resync: the operator has its own */
    switch (a->which) {
    case WEIR_OP_W_PROXY_CONFIGMAPS:
        set_member(w, &w->managed, ns, new_obj != NULL);
        if (w->writer && weir_op_writer_observe(w->writer, obj, new_obj == NULL))
            enqueue(w, ns);
        return;
    case WEIR_OP_W_MESH_CONFIG:
        if (weir_op_scope_of(src, old_obj, new_obj, w->root_ns) != WEIR_OP_SCOPE_NONE)
            mesh_config_changed(w, new_obj);
        return;
    case WEIR_OP_W_NAMESPACES:
        set_member(w, &w->mesh, ns, new_obj && weir_op_namespace_in_mesh(new_obj));
        break;
    default:
        if (a->which >= WEIR_OP_W_FIRST_CR && a->which <= WEIR_OP_W_LAST_CR) {
            if (!old_obj)
                count_cr(w, ns, +1);
            if (!new_obj) {
                count_cr(w, ns, -1);
                if (w->status)
                    weir_op_status_forget(w->status, old_obj);
            }
        }
        break;
    }

    bool exports = false;
    switch (a->which) {
    case WEIR_OP_W_SERVICES:
    case WEIR_OP_W_VIRTUALSERVICES:
    case WEIR_OP_W_DESTINATIONRULES:
    case WEIR_OP_W_SERVICEENTRIES:
        exports = track_exports(w, ns, old_obj, new_obj);
        break;
    default:
        break;
    }

    enum weir_op_scope scope = weir_op_scope_of(src, old_obj, new_obj, w->root_ns);
    /* what a namespace that exports nothing holds reaches no other namespace
     * (translate.h, "Scoped translations"); ServiceEntries claim hosts and
     * addresses mesh-wide, so they always reach further */
    if (scope == WEIR_OP_SCOPE_ALL && !exports && a->which != WEIR_OP_W_SERVICEENTRIES &&
        (src == WEIR_OP_SRC_SERVICE || src == WEIR_OP_SRC_ENDPOINTSLICE || src == WEIR_OP_SRC_POD ||
         src == WEIR_OP_SRC_MESH_CR) &&
        weir_op_watchers_private(w, ns))
        scope = WEIR_OP_SCOPE_NAMESPACE;
    if (weir_log_get_level() <= WEIR_LOG_DEBUG)
        weir_log(WEIR_LOG_DEBUG, "event", "informer", watches[a->which].name, "namespace", ns,
                 "name", weir_kube_obj_name(obj), "change",
                 !old_obj   ? "add"
                 : !new_obj ? "delete"
                            : "update",
                 "scope", weir_op_scope_name(scope), NULL);
    if (scope == WEIR_OP_SCOPE_NONE)
        return;
    if (scope == WEIR_OP_SCOPE_ALL)
        weir_op_watchers_enqueue_all(w);
    /* its own namespace: for a CR its status, for a Namespace its config */
    if (scope == WEIR_OP_SCOPE_NAMESPACE || src == WEIR_OP_SRC_MESH_CR ||
        src == WEIR_OP_SRC_NAMESPACE)
        enqueue(w, ns);
}

static void on_add(void *arg, const json_t *obj)
{
    on_event(arg, NULL, obj);
}

static void on_update(void *arg, const json_t *old_obj, const json_t *new_obj)
{
    on_event(arg, old_obj, new_obj);
}

static void on_delete(void *arg, const json_t *obj)
{
    on_event(arg, obj, NULL);
}

/* ---- life cycle ---- */

int weir_op_watchers_new(const struct weir_op_watchers_options *opts, struct weir_op_watchers **out)
{
    struct weir_op_watchers *w = calloc(1, sizeof(*w));
    struct weir_kube_error err;

    *out = NULL;
    if (!w)
        return -1;
    w->opts = *opts;
    pthread_mutex_init(&w->lock, NULL);
    weir_op_strmap_init(&w->mesh);
    weir_op_strmap_init(&w->crs);
    weir_op_strmap_init(&w->exporting);
    weir_op_strmap_init(&w->managed);
    w->ns = strdup(opts->namespace_);
    w->mesh_config_name =
        strdup(opts->mesh_config_name ? opts->mesh_config_name : WEIR_MESH_CONFIG_MAP);
    w->root_ns = strdup(opts->root_namespace ? opts->root_namespace : opts->namespace_);
    if (!w->ns || !w->mesh_config_name || !w->root_ns)
        goto fail;
    size_t fl = strlen(w->mesh_config_name) + sizeof("metadata.name=");
    w->field_selector = malloc(fl);
    if (!w->field_selector)
        goto fail;
    snprintf(w->field_selector, fl, "metadata.name=%s", w->mesh_config_name);

    for (int i = 0; i < WEIR_OP_W_COUNT; i++) {
        struct weir_kube_informer_options io = {
            .resource = watches[i].res,
            .watch_timeout = opts->watch_timeout,
            .name = watches[i].name,
            .strip_managed_fields = true,
        };
        /* the kinds there are tens of thousands of, kept small (cached.h) */
        if (i == WEIR_OP_W_PODS) {
            io.field_selector = POD_SELECTOR;
            io.transform = weir_op_cached_pod;
        }
        if (i == WEIR_OP_W_SERVICES)
            io.transform = weir_op_cached_service;
        if (i == WEIR_OP_W_ENDPOINTSLICES)
            io.transform = weir_op_cached_slice;
        if (i == WEIR_OP_W_MESH_CONFIG) {
            io.namespace = w->ns;
            io.field_selector = w->field_selector;
        }
        if (i == WEIR_OP_W_PROXY_CONFIGMAPS) {
            io.label_selector = MANAGED_SELECTOR;
            io.transform = weir_op_configmap_slim;
            /* each may be up to 1 MiB: pages of 500 would be answers of
             * hundreds of megabytes, held whole while they are parsed */
            io.page_size = 16;
        }
        w->args[i] = (struct handler_arg){w, (enum weir_op_watch)i};
        struct weir_kube_informer_handlers h = {on_add, on_update, on_delete, &w->args[i]};
        if (weir_kube_informer_new(opts->client, &io, &h, &w->inf[i], &err) != 0) {
            char text[1536];
            weir_kube_error_format(&err, text, sizeof(text));
            weir_log(WEIR_LOG_ERROR, "cannot create an informer", "informer", watches[i].name,
                     "error", text, NULL);
            goto fail;
        }
    }
    *out = w;
    return 0;
fail:
    weir_op_watchers_free(w);
    return -1;
}

void weir_op_watchers_bind(struct weir_op_watchers *w, struct weir_op_writer *writer,
                           struct weir_op_status *status)
{
    w->writer = writer;
    w->status = status;
}

int weir_op_watchers_start(struct weir_op_watchers *w)
{
    struct weir_kube_error err;
    for (int i = 0; i < WEIR_OP_W_COUNT; i++)
        if (weir_kube_informer_start(w->inf[i], &err) != 0) {
            char text[1536];
            weir_kube_error_format(&err, text, sizeof(text));
            weir_log(WEIR_LOG_ERROR, "cannot start an informer", "informer", watches[i].name,
                     "error", text, NULL);
            return -1;
        }
    return 0;
}

static void *stop_one(void *inf)
{
    weir_kube_informer_stop(inf);
    return NULL;
}

void weir_op_watchers_stop(struct weir_op_watchers *w)
{
    pthread_t t[WEIR_OP_W_COUNT];
    bool spawned[WEIR_OP_W_COUNT] = {false};

    if (!w)
        return;
    /* each stop waits up to a second for its open watch to notice; side by
     * side, shutdown takes one second instead of twelve */
    for (int i = 0; i < WEIR_OP_W_COUNT; i++)
        if (w->inf[i])
            spawned[i] = pthread_create(&t[i], NULL, stop_one, w->inf[i]) == 0;
    for (int i = 0; i < WEIR_OP_W_COUNT; i++) {
        if (spawned[i])
            pthread_join(t[i], NULL);
        else if (w->inf[i])
            weir_kube_informer_stop(w->inf[i]);
    }
}

void weir_op_watchers_free(struct weir_op_watchers *w)
{
    if (!w)
        return;
    weir_op_watchers_stop(w);
    for (int i = 0; i < WEIR_OP_W_COUNT; i++)
        weir_kube_informer_free(w->inf[i]);
    weir_op_strmap_free(&w->mesh, NULL);
    weir_op_strmap_free(&w->crs, NULL);
    weir_op_strmap_free(&w->exporting, NULL);
    weir_op_strmap_free(&w->managed, NULL);
    pthread_mutex_destroy(&w->lock);
    free(w->ns);
    free(w->mesh_config_name);
    free(w->root_ns);
    free(w->field_selector);
    free(w->trust_domain);
    free(w);
}

bool weir_op_watchers_synced(struct weir_op_watchers *w)
{
    for (int i = 0; i < WEIR_OP_W_COUNT; i++)
        if (!weir_kube_informer_has_synced(w->inf[i]))
            return false;
    return true;
}

struct weir_kube_informer *weir_op_watchers_informer(struct weir_op_watchers *w,
                                                     enum weir_op_watch which)
{
    return which < WEIR_OP_W_COUNT ? w->inf[which] : NULL;
}

void weir_op_watchers_write_metrics(struct weir_op_watchers *w, FILE *out)
{
    static const struct {
        const char *name, *help;
    } m[] = {
        {"weir_operator_watch_restarts_total",
         "Watches started again after the first (server timeouts, lost connections)."},
        {"weir_operator_informer_relists_total",
         "Lists after the first (410 Gone: the watch's resourceVersion was compacted)."},
        {"weir_operator_informer_errors_total", "Failed lists and watches."},
        {"weir_operator_informer_objects", "Objects in each informer's cache."},
    };
    struct weir_kube_informer_stats st[WEIR_OP_W_COUNT];
    for (int i = 0; i < WEIR_OP_W_COUNT; i++)
        weir_kube_informer_get_stats(w->inf[i], &st[i]);
    for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name,
                k == 3 ? "gauge" : "counter");
        for (int i = 0; i < WEIR_OP_W_COUNT; i++) {
            unsigned long v = k == 0   ? (st[i].watches ? st[i].watches - 1 : 0)
                              : k == 1 ? (st[i].lists ? st[i].lists - 1 : 0)
                              : k == 2 ? st[i].errors
                                       : (unsigned long)weir_kube_informer_len(w->inf[i]);
            fprintf(out, "%s{informer=\"%s\"} %lu\n", m[k].name, watches[i].name, v);
        }
    }
    fprintf(out,
            "# HELP weir_operator_informers_synced Whether every informer has listed once.\n"
            "# TYPE weir_operator_informers_synced gauge\n"
            "weir_operator_informers_synced %d\n",
            weir_op_watchers_synced(w) ? 1 : 0);
}
