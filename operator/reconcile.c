#include "reconcile.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "kube/cache.h"
#include "cached.h"
#include "scope.h"

/* The informers the translation reads: Namespaces up to the last mesh kind
 * (enum weir_op_watch keeps them first). */
#define N_SNAP (WEIR_OP_W_LAST_CR + 1)

struct weir_op_reconciler {
    struct weir_op_reconciler_options o;
    char *root_ns;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool in_batch(const char *const *keys, size_t n, const char *ns)
{
    return ns && bsearch(&ns, keys, n, sizeof(*keys), cmp_str) != NULL;
}

/* An object of a snapshot by namespace and name (ns NULL: cluster-scoped);
 * the snapshot is sorted by its cache key. */
static const json_t *find_obj(const struct weir_kube_snapshot *s, const char *ns, const char *name)
{
    char want[WEIR_KUBE_KEY_MAX], key[WEIR_KUBE_KEY_MAX];
    size_t lo = 0, hi = s->len;

    if (ns)
        snprintf(want, sizeof(want), "%s/%s", ns, name);
    else
        snprintf(want, sizeof(want), "%s", name);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (weir_kube_object_key(s->items[mid], key, sizeof(key)) != 0)
            return NULL; /* cannot happen: the cache keyed it */
        int c = strcmp(key, want);
        if (c == 0)
            return s->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const struct weir_translate_config *find_config(const struct weir_translate_result *res,
                                                       const char *ns)
{
    size_t lo = 0, hi = res->n_configs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(res->configs[mid].namespace_, ns);
        if (c == 0)
            return &res->configs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* sorted by namespace per the header; a linear look keeps us safe if not */
    for (size_t i = 0; i < res->n_configs; i++)
        if (strcmp(res->configs[i].namespace_, ns) == 0)
            return &res->configs[i];
    return NULL;
}

static void set_all(enum weir_op_result *out, size_t n, enum weir_op_result r)
{
    for (size_t i = 0; i < n; i++)
        out[i] = weir_op_worse(out[i], r);
}

/* ---- scoped reconciles (translate.h, "Scoped translations") ---- */

/* Batches larger than this translate from the whole cache: the scope would
 * hold most of the cluster anyway. */
#define SCOPED_MAX 64

struct scope {
    char **inside; /* sorted, unique: the batch, the exporting namespaces, the root */
    size_t n;
    const struct weir_kube_snapshot *namespaces;
    bool outside; /* a CR of the batch names a host of a namespace left out */
};

static void scope_free(struct scope *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        free(sc->inside[i]);
    free(sc->inside);
    memset(sc, 0, sizeof(*sc));
}

static bool scope_has(const struct scope *sc, const char *ns, size_t len)
{
    size_t lo = 0, hi = sc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(sc->inside[mid], ns, len);
        if (c == 0 && sc->inside[mid][len] != '\0')
            c = 1;
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* 0: the batch can be translated from a scope (sc filled); 1: it cannot; -1:
 * out of memory. */
static int scope_plan(struct weir_op_reconciler *r, const char *const *keys, size_t n,
                      struct scope *sc)
{
    char **exporting = NULL;
    size_t n_exp = 0;

    memset(sc, 0, sizeof(*sc));
    if (!n || n > SCOPED_MAX || r->o.no_scoped)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (!weir_op_watchers_private(r->o.watchers, keys[i]))
            return 1;
    int rc = weir_op_watchers_exporting(r->o.watchers, &exporting, &n_exp);
    if (rc != 0)
        return rc;
    sc->inside = calloc(n + n_exp + 2, sizeof(*sc->inside));
    if (!sc->inside)
        goto oom;
    for (size_t i = 0; i < n_exp; i++)
        sc->inside[sc->n++] = exporting[i];
    free(exporting);
    exporting = NULL;
    for (size_t i = 0; i < n; i++)
        if (!(sc->inside[sc->n++] = strdup(keys[i])))
            goto oom;
    if (r->root_ns && !(sc->inside[sc->n++] = strdup(r->root_ns)))
        goto oom;
    qsort(sc->inside, sc->n, sizeof(*sc->inside), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < sc->n; i++) {
        if (k && strcmp(sc->inside[k - 1], sc->inside[i]) == 0)
            free(sc->inside[i]);
        else
            sc->inside[k++] = sc->inside[i];
    }
    sc->n = k;
    return 0;
oom:
    for (size_t i = 0; exporting && i < n_exp; i++)
        free(exporting[i]);
    free(exporting);
    scope_free(sc);
    return -1;
}

static bool key_inside(const char *key, void *arg)
{
    const char *slash = strchr(key, '/');
    return slash && scope_has(arg, key, (size_t)(slash - key));
}

/* The informers' objects: every one (sc NULL), or the scope's, with every
 * Namespace and ServiceEntry in either case; those the caches keep packed are
 * expanded for the translation (cached.h). */
static int take_snapshots(struct weir_op_reconciler *r, struct weir_kube_snapshot *ks,
                          struct scope *sc)
{
    for (int w = 0; w < N_SNAP; w++) {
        struct weir_kube_informer *inf = weir_op_watchers_informer(r->o.watchers, w);
        bool all = !sc || w == WEIR_OP_W_NAMESPACES || w == WEIR_OP_W_SERVICEENTRIES;
        if ((all ? weir_kube_informer_snapshot(inf, &ks[w])
                 : weir_kube_informer_snapshot_where(inf, key_inside, sc, &ks[w])) != 0)
            return -1;
        if (w != WEIR_OP_W_SERVICES && w != WEIR_OP_W_ENDPOINTSLICES && w != WEIR_OP_W_PODS)
            continue;
        for (size_t i = 0; i < ks[w].len; i++) {
            json_t *full = weir_op_cached_expand(ks[w].items[i]);
            if (!full)
                return -1;
            json_decref(ks[w].items[i]);
            ks[w].items[i] = full;
        }
    }
    if (sc)
        sc->namespaces = &ks[WEIR_OP_W_NAMESPACES];
    return 0;
}

static bool ns_inside(const char *ns, size_t len, void *arg)
{
    const struct scope *sc = arg;
    char name[WEIR_KUBE_KEY_MAX];
    if (scope_has(sc, ns, len))
        return true;
    if (len >= sizeof(name))
        return true; /* no namespace has so long a name */
    memcpy(name, ns, len);
    name[len] = '\0';
    return find_obj(sc->namespaces, NULL, name) == NULL;
}

/* Sets sc->outside when a CR of the batch names a host of a namespace that
 * exists and is left out of the scope. */
static void reaches_outside(const struct weir_kube_snapshot *ks, const char *const *keys, size_t n,
                            struct scope *sc)
{
    for (int w = WEIR_OP_W_FIRST_CR; w < N_SNAP && !sc->outside; w++)
        for (size_t i = 0; i < ks[w].len && !sc->outside; i++)
            if (in_batch(keys, n, weir_kube_obj_namespace(ks[w].items[i])) &&
                weir_translate_reaches_outside(ks[w].items[i], ns_inside, sc))
                sc->outside = true;
}

/* The Reconciled condition of the CRs of namespace ns after its config write
 * gave `wrote`; false when it is not known yet (the write is retried). */
static bool reconciled_of(const struct weir_op_reconciler *r, const char *ns, bool is_mesh,
                          enum weir_op_result wrote, const char *why,
                          struct weir_op_reconciled *rec)
{
    *rec = (struct weir_op_reconciled){.done = true, .reason = "Reconciled", .message = ""};
    if (!is_mesh) {
        if (!r->root_ns || strcmp(ns, r->root_ns) != 0)
            rec->message = "the namespace is not in the mesh: no proxy config is written for it; "
                           "the object applies to the mesh namespaces that see it";
        return true;
    }
    switch (wrote) {
    case WEIR_OP_OK:
        return true;
    case WEIR_OP_FAILED:
        rec->done = false;
        rec->reason =
            weir_op_writer_too_large(r->o.writer, ns) ? "ProxyConfigTooLarge" : "WriteFailed";
        rec->message = why && *why ? why : "the namespace's proxy config could not be written";
        return true;
    case WEIR_OP_RETRY:
    case WEIR_OP_NOT_LEADER:
        break;
    }
    return false;
}

void weir_op_reconcile_batch(struct weir_op_reconciler *r, const char *const *keys, size_t n,
                             enum weir_op_result *out)
{
    struct weir_kube_snapshot ks[N_SNAP];
    struct weir_snapshot snap;
    struct weir_translate_result res;
    struct weir_translate_settings set = {.root_namespace = r->root_ns};
    const char **mesh = calloc(n ? n : 1, sizeof(*mesh));
    bool *terminating = calloc(n ? n : 1, sizeof(*terminating));
    /* per namespace: why its config could not be written (the CRs' Reconciled) */
    char(*why)[512] = calloc(n ? n : 1, sizeof(*why));
    size_t n_mesh = 0;
    bool full = false, leader_lost = false, translated = false, scoped = false;
    struct scope scope = {0};
    char *td = weir_op_watchers_trust_domain(r->o.watchers);
    double t0 = mono(), t1 = t0, t2 = t0;

    memset(ks, 0, sizeof(ks));
    memset(&res, 0, sizeof(res));
    weir_snapshot_init(&snap);
    for (size_t i = 0; i < n; i++)
        out[i] = WEIR_OP_OK;
    if (!mesh || !terminating || !why)
        goto oom;

    int sc = scope_plan(r, keys, n, &scope);
    if (sc < 0)
        goto oom;
    if (sc == 0) {
        if (take_snapshots(r, ks, &scope) != 0)
            goto oom;
        reaches_outside(ks, keys, n, &scope);
    }
    if (sc == 0 && scope.outside) {
        /* a CR names a host of a namespace the scope leaves out */
        for (int w = 0; w < N_SNAP; w++)
            weir_kube_snapshot_free(&ks[w]);
        sc = 1;
    }
    if (sc != 0 && take_snapshots(r, ks, NULL) != 0)
        goto oom;
    scoped = sc == 0;
    if (scoped)
        weir_op_metrics_inc(r->o.metrics, WEIR_OP_M_SCOPED_BATCHES);
    for (int w = 0; w < N_SNAP; w++)
        for (size_t i = 0; i < ks[w].len; i++)
            if (weir_snapshot_add(&snap, ks[w].items[i], NULL, 0, NULL) < 0)
                goto oom;
    for (size_t i = 0; i < n; i++) {
        const json_t *nsobj = find_obj(&ks[WEIR_OP_W_NAMESPACES], NULL, keys[i]);
        terminating[i] = nsobj && json_object_get(json_object_get(nsobj, "metadata"),
                                                  "deletionTimestamp") != NULL;
        if (nsobj && !terminating[i] && weir_op_namespace_in_mesh(nsobj))
            mesh[n_mesh++] = keys[i];
    }
    /* statuses: a CR visible elsewhere needs every namespace translated; a
     * scoped batch's CRs are visible in their own namespace only */
    for (size_t i = 0; i < snap.n_crs && !full && !scoped; i++)
        full = in_batch(keys, n, snap.crs[i].namespace_);

    set.trust_domain = td;
    if (!full) {
        set.namespaces = mesh;
        set.n_namespaces = n_mesh;
    }
    t1 = mono();
    if (weir_translate(&snap, &set, &res) != 0)
        goto oom;
    translated = true;
    t2 = mono();

    for (size_t i = 0; i < n && !leader_lost; i++) {
        /* the namespace controller is emptying it: nothing to write there */
        if (terminating[i])
            continue;
        bool is_mesh = in_batch(mesh, n_mesh, keys[i]);
        if (is_mesh) {
            const struct weir_translate_config *cfg = find_config(&res, keys[i]);
            if (!cfg) {
                weir_log(WEIR_LOG_ERROR, "the translation gave no config for a mesh namespace",
                         "namespace", keys[i], NULL);
                out[i] = WEIR_OP_FAILED;
                continue;
            }
            out[i] = weir_op_writer_sync(r->o.writer, keys[i], cfg, why[i], sizeof(why[i]));
        } else {
            out[i] = weir_op_writer_remove(r->o.writer, keys[i]);
        }
        leader_lost = out[i] == WEIR_OP_NOT_LEADER;
    }
    for (size_t i = 0; i < res.n_statuses && !leader_lost; i++) {
        const struct weir_cr_status *st = &res.statuses[i];
        const char **k = bsearch(&st->namespace_, keys, n, sizeof(*keys), cmp_str);
        if (!k || terminating[k - keys])
            continue;
        enum weir_op_watch w = weir_op_watch_of_kind(st->kind);
        if (w >= N_SNAP)
            continue;
        /* the generation the translation read, which the snapshot holds even
         * for objects the model refused */
        const json_t *seen = find_obj(&ks[w], st->namespace_, st->name);
        if (!seen)
            continue;
        json_int_t gen =
            json_integer_value(json_object_get(json_object_get(seen, "metadata"), "generation"));
        json_t *current = weir_kube_informer_get(weir_op_watchers_informer(r->o.watchers, w),
                                                 st->namespace_, st->name);
        size_t idx = (size_t)(k - keys);
        struct weir_op_reconciled rec;
        bool have_rec = reconciled_of(r, keys[idx], in_batch(mesh, n_mesh, keys[idx]), out[idx],
                                      why[idx], &rec);
        enum weir_op_result sr = weir_op_status_sync(r->o.status, weir_op_watch_resource(w), st,
                                                     have_rec ? &rec : NULL, (int64_t)gen, current);
        json_decref(current);
        out[idx] = weir_op_worse(out[idx], sr);
        leader_lost = sr == WEIR_OP_NOT_LEADER;
    }
    if (leader_lost)
        set_all(out, n, WEIR_OP_NOT_LEADER);
    if (weir_log_get_level() <= WEIR_LOG_DEBUG) {
        for (size_t i = 0; i < res.diags.len; i++) {
            char *msg = weir_diag_format(&res.diags.items[i]);
            weir_log(WEIR_LOG_DEBUG, "translation remark", "remark", msg, NULL);
            free(msg);
        }
    }
    goto done;

oom:
    weir_log(WEIR_LOG_ERROR, "out of memory during a reconcile; retrying", NULL);
    set_all(out, n, WEIR_OP_RETRY);
done:;
    double t3 = mono();
    if (translated)
        weir_op_metrics_batch(r->o.metrics, t3 - t0, t2 - t1);
    for (size_t i = 0; i < n; i++)
        weir_op_metrics_reconciled(r->o.metrics, out[i]);
    if (weir_log_get_level() <= WEIR_LOG_DEBUG) {
        char ms[32], count[32], tms[32];
        snprintf(ms, sizeof(ms), "%.1f", (t3 - t0) * 1e3);
        snprintf(tms, sizeof(tms), "%.1f", (t2 - t1) * 1e3);
        snprintf(count, sizeof(count), "%zu", n);
        weir_log(WEIR_LOG_DEBUG, "reconciled", "namespaces", count, "first", n ? keys[0] : NULL,
                 "full", full ? "true" : "false", "scoped", scoped ? "true" : "false", "ms", ms,
                 "translateMs", tms, NULL);
    }
    weir_translate_result_free(&res);
    weir_snapshot_free(&snap);
    for (int w = 0; w < N_SNAP; w++)
        weir_kube_snapshot_free(&ks[w]);
    free(mesh);
    free(terminating);
    free(why);
    free(td);
    scope_free(&scope);
}

/* ---- the thread ---- */

static void nap(struct weir_op_reconciler *r, double seconds)
{
    struct timespec ts;
    pthread_mutex_lock(&r->lock);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double until = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + seconds;
    ts.tv_sec = (time_t)until;
    ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
    if (!atomic_load(&r->stop))
        pthread_cond_timedwait(&r->cond, &r->lock, &ts);
    pthread_mutex_unlock(&r->lock);
}

/* Runs the part of a batch whose keys are listed in idx. */
static void reconcile_part(struct weir_op_reconciler *r, const char *const *keys, const size_t *idx,
                           size_t n, const char **part, enum weir_op_result *res,
                           enum weir_op_result *out)
{
    if (!n)
        return;
    for (size_t i = 0; i < n; i++)
        part[i] = keys[idx[i]];
    weir_op_reconcile_batch(r, part, n, res);
    for (size_t i = 0; i < n; i++)
        out[idx[i]] = res[i];
}

/* A batch larger than a scope: its namespaces that export nothing go in
 * scoped batches of SCOPED_MAX, the others in one batch of their own, so
 * that what a reconcile holds follows the part, not the cluster, and the
 * first sync of a large mesh is not one translation of everything held
 * through thousands of writes. */
static void reconcile_split(struct weir_op_reconciler *r, const char *const *keys, size_t n,
                            enum weir_op_result *out)
{
    size_t *priv = NULL, *rest = NULL, n_priv = 0, n_rest = 0;
    const char **part = NULL;
    enum weir_op_result *res = NULL;

    if (n <= SCOPED_MAX || r->o.no_scoped) {
        weir_op_reconcile_batch(r, keys, n, out);
        goto trim;
    }
    priv = malloc(n * sizeof(*priv));
    rest = malloc(n * sizeof(*rest));
    part = malloc(n * sizeof(*part));
    res = malloc(n * sizeof(*res));
    if (!priv || !rest || !part || !res) {
        free(priv);
        free(rest);
        free(part);
        free(res);
        weir_op_reconcile_batch(r, keys, n, out);
        goto trim;
    }
    /* keys are sorted; each part keeps their order */
    for (size_t i = 0; i < n; i++) {
        if (weir_op_watchers_private(r->o.watchers, keys[i]))
            priv[n_priv++] = i;
        else
            rest[n_rest++] = i;
    }
    reconcile_part(r, keys, rest, n_rest, part, res, out);
    for (size_t i = 0; i < n_priv; i += SCOPED_MAX)
        reconcile_part(r, keys, priv + i, n_priv - i < SCOPED_MAX ? n_priv - i : SCOPED_MAX, part,
                       res, out);
    free(priv);
    free(rest);
    free(part);
    free(res);
trim:
#ifdef __GLIBC__
    /* A translation frees hundreds of megabytes of small blocks at once;
     * glibc keeps them mapped unless asked, and the operator's resident size
     * would stay at its largest reconcile's. */
    if (n > SCOPED_MAX)
        malloc_trim(0);
#endif
    return;
}

static void *run(void *arg)
{
    struct weir_op_reconciler *r = arg;
    size_t max = r->o.batch_max ? r->o.batch_max : WEIR_OP_BATCH_MAX;
    const char **keys = calloc(max, sizeof(*keys));
    enum weir_op_result *out = calloc(max, sizeof(*out));
    bool synced = false;

    if (!keys || !out) {
        weir_log(WEIR_LOG_ERROR, "out of memory starting the reconcile worker", NULL);
        goto out;
    }
    while (!atomic_load(&r->stop)) {
        if (!synced) {
            if (!(synced = weir_op_watchers_synced(r->o.watchers))) {
                nap(r, 0.1);
                continue;
            }
            weir_log(WEIR_LOG_INFO, "caches synced", NULL);
        }
        if (!weir_op_gate_open(&r->o.gate)) {
            nap(r, 0.1);
            continue;
        }
        size_t n = weir_op_queue_get_batch(r->o.queue, keys, max, 0.5);
        if (!n)
            continue;
        reconcile_split(r, keys, n, out);
        for (size_t i = 0; i < n; i++) {
            switch (out[i]) {
            case WEIR_OP_OK:
            case WEIR_OP_FAILED:
                weir_op_queue_forget(r->o.queue, keys[i]);
                break;
            case WEIR_OP_RETRY: {
                double d = 0;
                char delay[32];
                weir_op_queue_add_rate_limited(r->o.queue, keys[i], &d);
                snprintf(delay, sizeof(delay), "%.2f", d);
                weir_log(WEIR_LOG_WARN, "reconcile failed; retrying", "namespace", keys[i], "in",
                         delay, NULL);
                break;
            }
            case WEIR_OP_NOT_LEADER:
                weir_op_queue_add(r->o.queue, keys[i]);
                break;
            }
            weir_op_queue_done(r->o.queue, keys[i]);
        }
    }
out:
    free(keys);
    free(out);
    return NULL;
}

int weir_op_reconciler_new(const struct weir_op_reconciler_options *opts,
                           struct weir_op_reconciler **out)
{
    struct weir_op_reconciler *r = calloc(1, sizeof(*r));
    pthread_condattr_t attr;
    *out = NULL;
    if (!r)
        return -1;
    r->o = *opts;
    r->root_ns = opts->root_namespace ? strdup(opts->root_namespace) : NULL;
    if (opts->root_namespace && !r->root_ns) {
        free(r);
        return -1;
    }
    atomic_init(&r->stop, false);
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &attr);
    pthread_condattr_destroy(&attr);
    *out = r;
    return 0;
}

int weir_op_reconciler_start(struct weir_op_reconciler *r)
{
    if (pthread_create(&r->thread, NULL, run, r) != 0)
        return -1;
    r->started = true;
    return 0;
}

void weir_op_reconciler_stop(struct weir_op_reconciler *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    atomic_store(&r->stop, true);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    weir_op_queue_shutdown(r->o.queue);
    if (r->started) {
        pthread_join(r->thread, NULL);
        r->started = false;
    }
}

void weir_op_reconciler_free(struct weir_op_reconciler *r)
{
    if (!r)
        return;
    weir_op_reconciler_stop(r);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r->root_ns);
    free(r);
}
