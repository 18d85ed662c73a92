#include "kube/informer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "kube/cache.h"
#include "kube/ratelimit.h"

#define DEFAULT_PAGE_SIZE 500
/* A watch that ends this fast with no event counts as a failure, so a
 * server that closes every watch at once is not hammered in a tight loop. */
#define MIN_HEALTHY_WATCH 1.0

struct client_lw {
    struct weir_kube_client *client;
    struct weir_kube_informer *inf; /* for trim() */
    const struct weir_kube_resource *res;
    const char *ns, *label_selector, *field_selector; /* the informer's copies */
    long page_size;
};

struct weir_kube_informer {
    struct weir_kube_list_watch lw;
    struct client_lw *client_lw; /* the default list-watch, when used */
    struct weir_kube_informer_handlers h;
    struct weir_kube_informer_options opts;
    char *ns, *label_selector, *field_selector, *name;

    pthread_rwlock_t lock; /* cache and rv */
    struct weir_kube_cache cache;
    char *rv;

    pthread_mutex_t mu; /* stats, sleeps, sync waits */
    pthread_cond_t cond;
    struct weir_kube_informer_stats stats;
    atomic_bool synced;
    atomic_bool stop;

    pthread_t thread;
    bool started, joined;

    /* Owned by the informer thread. */
    struct weir_kube_backoff backoff;
    double next_resync;
    unsigned watch_events;
    uint64_t rng;
};

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* The object as cached (options.strip_managed_fields). */
static void trim(const struct weir_kube_informer *inf, json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    if (inf->opts.transform)
        inf->opts.transform(obj);
    if (!inf->opts.strip_managed_fields || !json_is_object(md))
        return;
    json_object_del(md, "managedFields");
    json_t *ann = json_object_get(md, "annotations");
    if (json_is_object(ann) && json_object_get(ann, LAST_APPLIED)) {
        json_object_del(ann, LAST_APPLIED);
        if (!json_object_size(ann))
            json_object_del(md, "annotations");
    }
}

static void trim_item(json_t *item, void *arg)
{
    trim(arg, item);
}

/* ---- the default list-watch: the API server through the client ---------------------- */

static int client_list(void *arg, const atomic_bool *cancel, json_t **items, char **rv,
                       struct weir_kube_error *err)
{
    struct client_lw *l = arg;
    struct weir_kube_list_result res;
    struct weir_kube_list_options o = {
        .label_selector = l->label_selector,
        .field_selector = l->field_selector,
        .limit = l->page_size,
        .cancel = cancel,
        .each = trim_item,
        .each_arg = l->inf,
    };
    int rc = weir_kube_list(l->client, l->res, l->ns, &o, &res, err);
    if (rc != 0)
        return rc;
    *items = res.items;
    *rv = res.resource_version;
    return 0;
}

static int client_watch(void *arg, const char *rv, int timeout, weir_kube_watch_fn fn,
                        weir_kube_idle_fn idle, void *fn_arg, struct weir_kube_error *err)
{
    struct client_lw *l = arg;
    struct weir_kube_watch_options o = {
        .resource_version = rv,
        .label_selector = l->label_selector,
        .field_selector = l->field_selector,
        .timeout_seconds = timeout,
        .allow_bookmarks = true,
        .idle = idle,
    };
    return weir_kube_watch(l->client, l->res, l->ns, &o, fn, fn_arg, err);
}

/* ---- helpers ------------------------------------------------------------------------- */

static bool stopping(struct weir_kube_informer *inf)
{
    return atomic_load(&inf->stop);
}

static void stat_add(struct weir_kube_informer *inf, unsigned *field)
{
    pthread_mutex_lock(&inf->mu);
    (*field)++;
    pthread_mutex_unlock(&inf->mu);
}

/* Sleeps up to seconds; returns early (true) when stopped. */
static bool sleep_or_stop(struct weir_kube_informer *inf, double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double end = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + seconds;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    pthread_mutex_lock(&inf->mu);
    while (!stopping(inf)) {
        if (pthread_cond_timedwait(&inf->cond, &inf->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&inf->mu);
    return stopping(inf);
}

static void log_error(struct weir_kube_informer *inf, const char *msg,
                      const struct weir_kube_error *err, double retry_in)
{
    char text[1600], retry[32];
    weir_kube_error_format(err, text, sizeof(text));
    snprintf(retry, sizeof(retry), "%.2fs", retry_in);
    weir_log(WEIR_LOG_WARN, msg, "informer", inf->name, "error", text, "retry_in", retry, NULL);
}

static void set_rv(struct weir_kube_informer *inf, const char *rv)
{
    char *copy;
    if (!rv || !*rv)
        return;
    copy = strdup(rv);
    if (!copy)
        return; /* the older version still resumes correctly, only further back */
    pthread_rwlock_wrlock(&inf->lock);
    free(inf->rv);
    inf->rv = copy;
    pthread_rwlock_unlock(&inf->lock);
}

/* ---- resync ---------------------------------------------------------------------------- */

static void maybe_resync(struct weir_kube_informer *inf)
{
    struct weir_kube_snapshot snap;
    double now;

    if (inf->opts.resync_period <= 0 || !inf->h.on_update)
        return;
    now = weir_kube_monotonic();
    if (now < inf->next_resync)
        return;
    inf->next_resync = now + inf->opts.resync_period;
    if (weir_kube_informer_snapshot(inf, &snap) != 0)
        return;
    for (size_t i = 0; i < snap.len && !stopping(inf); i++)
        inf->h.on_update(inf->h.arg, snap.items[i], snap.items[i]);
    weir_kube_snapshot_free(&snap);
    stat_add(inf, &inf->stats.resyncs);
}

/* ---- applying a list ------------------------------------------------------------------- */

enum note_kind { NOTE_ADD, NOTE_UPDATE, NOTE_DELETE };

struct note {
    enum note_kind kind;
    json_t *old_obj; /* references held until delivered */
    json_t *new_obj;
};

struct notes {
    struct note *v;
    size_t len, cap;
    bool oom;
};

static void notes_add(struct notes *n, enum note_kind kind, json_t *old_obj, json_t *new_obj)
{
    if (n->len == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 64;
        struct note *nv = realloc(n->v, cap * sizeof(*nv));
        if (!nv) {
            n->oom = true;
            return;
        }
        n->v = nv;
        n->cap = cap;
    }
    n->v[n->len].kind = kind;
    n->v[n->len].old_obj = old_obj ? json_incref(old_obj) : NULL;
    n->v[n->len].new_obj = new_obj ? json_incref(new_obj) : NULL;
    n->len++;
}

static void notes_deliver_and_free(struct weir_kube_informer *inf, struct notes *n)
{
    for (size_t i = 0; i < n->len; i++) {
        struct note *e = &n->v[i];
        switch (e->kind) {
        case NOTE_ADD:
            if (inf->h.on_add)
                inf->h.on_add(inf->h.arg, e->new_obj);
            break;
        case NOTE_UPDATE:
            if (inf->h.on_update)
                inf->h.on_update(inf->h.arg, e->old_obj, e->new_obj);
            break;
        case NOTE_DELETE:
            if (inf->h.on_delete)
                inf->h.on_delete(inf->h.arg, e->old_obj);
            break;
        }
        json_decref(e->old_obj);
        json_decref(e->new_obj);
    }
    free(n->v);
    memset(n, 0, sizeof(*n));
}

struct gone_scan {
    const struct weir_kube_cache *fresh;
    struct notes *notes;
};

static void find_gone(void *arg, const char *key, json_t *obj)
{
    struct gone_scan *g = arg;
    if (!weir_kube_cache_get(g->fresh, key))
        notes_add(g->notes, NOTE_DELETE, obj, NULL);
}

static bool same_version(const json_t *a, const json_t *b)
{
    const char *ra = weir_kube_obj_resource_version(a);
    const char *rb = weir_kube_obj_resource_version(b);
    return ra && rb && strcmp(ra, rb) == 0;
}

/* Replaces the cache with a list's items (consumed) and delivers the
 * differences. */
static int replace(struct weir_kube_informer *inf, json_t *items, const char *rv,
                   struct weir_kube_error *err)
{
    struct weir_kube_cache fresh;
    struct notes notes = {0};
    struct gone_scan scan = {.fresh = &fresh, .notes = &notes};
    char key[WEIR_KUBE_KEY_MAX], *rv_copy = strdup(rv ? rv : "");
    size_t i;
    json_t *item;
    int rc = 0;

    weir_kube_cache_init(&fresh);
    if (!rv_copy) {
        json_decref(items);
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    pthread_rwlock_wrlock(&inf->lock);
    json_array_foreach(items, i, item)
    {
        if (weir_kube_object_key(item, key, sizeof(key)) != 0)
            continue; /* nameless: nothing could ever address it */
        trim(inf, item);
        json_t *prev = weir_kube_cache_get(&inf->cache, key);
        /* An unchanged object keeps its identity, so pointers that
         * consumers hold stay the current version. */
        json_t *keep = prev && same_version(prev, item) ? prev : item;
        if ((rc = weir_kube_cache_put(&fresh, key, keep, NULL)) != 0)
            break;
        if (!prev)
            notes_add(&notes, NOTE_ADD, NULL, item);
        else if (keep != prev)
            notes_add(&notes, NOTE_UPDATE, prev, item);
    }
    if (rc == 0 && !notes.oom) {
        weir_kube_cache_foreach(&inf->cache, find_gone, &scan);
    }
    if (rc != 0 || notes.oom) {
        pthread_rwlock_unlock(&inf->lock);
        for (size_t k = 0; k < notes.len; k++) {
            json_decref(notes.v[k].old_obj);
            json_decref(notes.v[k].new_obj);
        }
        free(notes.v);
        weir_kube_cache_free(&fresh);
        json_decref(items);
        free(rv_copy);
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    weir_kube_cache_free(&inf->cache);
    inf->cache = fresh;
    free(inf->rv);
    inf->rv = rv_copy;
    pthread_rwlock_unlock(&inf->lock);
    json_decref(items);
    notes_deliver_and_free(inf, &notes);
    return 0;
}

/* ---- applying watch events --------------------------------------------------------------- */

static int on_event(void *arg, const struct weir_kube_watch_event *ev)
{
    struct weir_kube_informer *inf = arg;
    char key[WEIR_KUBE_KEY_MAX];
    json_t *old = NULL;
    int rc = 0;

    if (stopping(inf))
        return WEIR_KUBE_ERR_STOPPED;
    inf->watch_events++;
    stat_add(inf, &inf->stats.events);
    if (ev->type == WEIR_KUBE_WATCH_BOOKMARK) {
        set_rv(inf, ev->resource_version);
        maybe_resync(inf);
        return 0;
    }
    if (weir_kube_object_key(ev->object, key, sizeof(key)) != 0) {
        set_rv(inf, ev->resource_version);
        return 0;
    }
    char *rv_copy = ev->resource_version ? strdup(ev->resource_version) : NULL;
    if (ev->type != WEIR_KUBE_WATCH_DELETED)
        trim(inf, ev->object);
    pthread_rwlock_wrlock(&inf->lock);
    if (ev->type == WEIR_KUBE_WATCH_DELETED)
        old = weir_kube_cache_remove(&inf->cache, key);
    else
        rc = weir_kube_cache_put(&inf->cache, key, ev->object, &old);
    if (rc == 0 && rv_copy) {
        free(inf->rv);
        inf->rv = rv_copy;
        rv_copy = NULL;
    }
    pthread_rwlock_unlock(&inf->lock);
    free(rv_copy);
    if (rc != 0)
        return rc; /* the event is lost: the caller relists */

    switch (ev->type) {
    case WEIR_KUBE_WATCH_DELETED:
        if (old && inf->h.on_delete)
            inf->h.on_delete(inf->h.arg, ev->object);
        break;
    default:
        if (old && inf->h.on_update)
            inf->h.on_update(inf->h.arg, old, ev->object);
        else if (!old && inf->h.on_add)
            inf->h.on_add(inf->h.arg, ev->object);
        break;
    }
    json_decref(old);
    maybe_resync(inf);
    return 0;
}

static int on_idle(void *arg)
{
    struct weir_kube_informer *inf = arg;
    if (stopping(inf))
        return WEIR_KUBE_ERR_STOPPED;
    maybe_resync(inf);
    return 0;
}

/* ---- the loop --------------------------------------------------------------------------- */

static int watch_timeout(struct weir_kube_informer *inf)
{
    if (inf->opts.watch_timeout > 0)
        return inf->opts.watch_timeout;
    inf->rng ^= inf->rng << 13;
    inf->rng ^= inf->rng >> 7;
    inf->rng ^= inf->rng << 17;
    return 300 + (int)(inf->rng % 300);
}

/* Watches until a relist is needed (returns) or the informer stops. */
static void watch_loop(struct weir_kube_informer *inf)
{
    struct weir_kube_error err;

    while (!stopping(inf)) {
        char rv[128];
        weir_kube_informer_resource_version(inf, rv, sizeof(rv));
        stat_add(inf, &inf->stats.watches);
        inf->watch_events = 0;
        double start = weir_kube_monotonic();
        int rc = inf->lw.watch(inf->lw.arg, rv, watch_timeout(inf), on_event, on_idle, inf, &err);
        if (stopping(inf))
            return;
        if (rc == 0) {
            if (inf->watch_events > 0 || weir_kube_monotonic() - start >= MIN_HEALTHY_WATCH) {
                weir_kube_backoff_reset(&inf->backoff);
                continue;
            }
            weir_kube_error_set(&err, WEIR_KUBE_ERR_TRANSPORT, "watch",
                                "the watch ended at once with no event");
        }
        if (rc == WEIR_KUBE_ERR_GONE) {
            stat_add(inf, &inf->stats.gone);
            char text[1600];
            weir_log(WEIR_LOG_INFO, "resourceVersion too old, relisting", "informer", inf->name,
                     "resourceVersion", rv, "error",
                     weir_kube_error_format(&err, text, sizeof(text)), NULL);
            return;
        }
        stat_add(inf, &inf->stats.errors);
        double d = weir_kube_backoff_next(&inf->backoff);
        log_error(inf, "watch failed", &err, d);
        if (sleep_or_stop(inf, d))
            return;
        /* An event that could not be applied (bad JSON, over the size
         * limit, out of memory) left the cache behind: only a relist
         * repairs that. */
        if (rc == WEIR_KUBE_ERR_DECODE || rc == WEIR_KUBE_ERR_TOO_LARGE ||
            rc == WEIR_KUBE_ERR_NOMEM)
            return;
    }
}

static void *run(void *arg)
{
    struct weir_kube_informer *inf = arg;
    struct weir_kube_error err;

    while (!stopping(inf)) {
        json_t *items = NULL;
        char *rv = NULL;
        int rc = inf->lw.list(inf->lw.arg, &inf->stop, &items, &rv, &err);
        if (rc == 0)
            rc = replace(inf, items, rv, &err);
        free(rv);
        if (stopping(inf))
            break;
        if (rc != 0) {
            stat_add(inf, &inf->stats.errors);
            double d = weir_kube_backoff_next(&inf->backoff);
            log_error(inf, "list failed", &err, d);
            sleep_or_stop(inf, d);
            continue;
        }
        stat_add(inf, &inf->stats.lists);
        weir_kube_backoff_reset(&inf->backoff);
        if (!atomic_load(&inf->synced)) {
            char n[32], rvbuf[128];
            snprintf(n, sizeof(n), "%zu", weir_kube_informer_len(inf));
            weir_log(WEIR_LOG_INFO, "informer synced", "informer", inf->name, "objects", n,
                     "resourceVersion",
                     weir_kube_informer_resource_version(inf, rvbuf, sizeof(rvbuf)), NULL);
            inf->next_resync = weir_kube_monotonic() + inf->opts.resync_period;
            pthread_mutex_lock(&inf->mu);
            atomic_store(&inf->synced, true);
            pthread_cond_broadcast(&inf->cond);
            pthread_mutex_unlock(&inf->mu);
        }
        watch_loop(inf);
    }
    return NULL;
}

/* ---- lifetime ------------------------------------------------------------------------------- */

static char *dup_or_null(const char *s, bool *oom)
{
    char *d;
    if (!s || !*s)
        return NULL;
    d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

int weir_kube_informer_new_lw(const struct weir_kube_list_watch *lw,
                              const struct weir_kube_informer_options *opts,
                              const struct weir_kube_informer_handlers *handlers,
                              struct weir_kube_informer **out, struct weir_kube_error *err)
{
    struct weir_kube_informer *inf;
    pthread_condattr_t ca;
    bool oom = false;

    weir_kube_error_clear(err);
    *out = NULL;
    if (!lw || !lw->list || !lw->watch || !opts)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "informer",
                                   "a list-watch and options are required");
    inf = calloc(1, sizeof(*inf));
    if (!inf)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    inf->lw = *lw;
    if (handlers)
        inf->h = *handlers;
    inf->opts = *opts;
    inf->ns = dup_or_null(opts->namespace, &oom);
    inf->label_selector = dup_or_null(opts->label_selector, &oom);
    inf->field_selector = dup_or_null(opts->field_selector, &oom);
    {
        char name[256];
        const char *what =
            opts->name ? opts->name : (opts->resource ? opts->resource->resource : "objects");
        if (inf->ns && !opts->name)
            snprintf(name, sizeof(name), "%s/%s", inf->ns, what);
        else
            snprintf(name, sizeof(name), "%s", what);
        inf->name = dup_or_null(name, &oom);
    }
    inf->opts.namespace = inf->ns;
    inf->opts.label_selector = inf->label_selector;
    inf->opts.field_selector = inf->field_selector;
    inf->opts.name = inf->name;
    pthread_rwlock_init(&inf->lock, NULL);
    pthread_mutex_init(&inf->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&inf->cond, &ca);
    pthread_condattr_destroy(&ca);
    weir_kube_cache_init(&inf->cache);
    weir_kube_backoff_init(&inf->backoff, opts->backoff_initial, opts->backoff_max, 0, 0);
    inf->rng = inf->backoff.rng ^ 0x2545f4914f6cdd1dull;
    atomic_init(&inf->synced, false);
    atomic_init(&inf->stop, false);
    if (oom) {
        weir_kube_informer_free(inf);
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    *out = inf;
    return 0;
}

int weir_kube_informer_new(struct weir_kube_client *client,
                           const struct weir_kube_informer_options *opts,
                           const struct weir_kube_informer_handlers *handlers,
                           struct weir_kube_informer **out, struct weir_kube_error *err)
{
    struct client_lw *l;
    struct weir_kube_list_watch lw = {client_list, client_watch, NULL};
    int rc;

    *out = NULL;
    if (!client || !opts || !opts->resource)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "informer",
                                   "a client and a resource are required");
    l = calloc(1, sizeof(*l));
    if (!l)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    lw.arg = l;
    if ((rc = weir_kube_informer_new_lw(&lw, opts, handlers, out, err)) != 0) {
        free(l);
        return rc;
    }
    l->client = client;
    l->inf = *out;
    l->res = opts->resource;
    l->ns = (*out)->ns;
    l->label_selector = (*out)->label_selector;
    l->field_selector = (*out)->field_selector;
    l->page_size = opts->page_size > 0 ? opts->page_size : DEFAULT_PAGE_SIZE;
    (*out)->client_lw = l;
    return 0;
}

int weir_kube_informer_start(struct weir_kube_informer *inf, struct weir_kube_error *err)
{
    int e;
    if (inf->started)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_INVALID, "informer", "already started");
    e = pthread_create(&inf->thread, NULL, run, inf);
    if (e != 0)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, "informer",
                                   "cannot start a thread: %s", strerror(e));
    inf->started = true;
    return 0;
}

void weir_kube_informer_stop(struct weir_kube_informer *inf)
{
    if (!inf || !inf->started || inf->joined)
        return;
    pthread_mutex_lock(&inf->mu);
    atomic_store(&inf->stop, true);
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->mu);
    pthread_join(inf->thread, NULL);
    inf->joined = true;
}

void weir_kube_informer_free(struct weir_kube_informer *inf)
{
    if (!inf)
        return;
    weir_kube_informer_stop(inf);
    weir_kube_cache_free(&inf->cache);
    pthread_rwlock_destroy(&inf->lock);
    pthread_mutex_destroy(&inf->mu);
    pthread_cond_destroy(&inf->cond);
    free(inf->rv);
    free(inf->ns);
    free(inf->label_selector);
    free(inf->field_selector);
    free(inf->name);
    free(inf->client_lw);
    free(inf);
}

/* ---- reads ----------------------------------------------------------------------------------- */

bool weir_kube_informer_has_synced(struct weir_kube_informer *inf)
{
    return atomic_load(&inf->synced);
}

bool weir_kube_informer_wait_synced(struct weir_kube_informer *inf, double timeout)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double end = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + timeout;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    pthread_mutex_lock(&inf->mu);
    while (!atomic_load(&inf->synced)) {
        if (pthread_cond_timedwait(&inf->cond, &inf->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&inf->mu);
    return atomic_load(&inf->synced);
}

json_t *weir_kube_informer_get(struct weir_kube_informer *inf, const char *ns, const char *name)
{
    char key[WEIR_KUBE_KEY_MAX];
    json_t *obj;
    int n;

    if (!name)
        return NULL;
    if (ns && *ns)
        n = snprintf(key, sizeof(key), "%s/%s", ns, name);
    else
        n = snprintf(key, sizeof(key), "%s", name);
    if (n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    pthread_rwlock_rdlock(&inf->lock);
    obj = weir_kube_cache_get(&inf->cache, key);
    json_incref(obj);
    pthread_rwlock_unlock(&inf->lock);
    return obj;
}

size_t weir_kube_informer_len(struct weir_kube_informer *inf)
{
    size_t n;
    pthread_rwlock_rdlock(&inf->lock);
    n = weir_kube_cache_len(&inf->cache);
    pthread_rwlock_unlock(&inf->lock);
    return n;
}

int weir_kube_informer_snapshot(struct weir_kube_informer *inf, struct weir_kube_snapshot *out)
{
    return weir_kube_informer_snapshot_where(inf, NULL, NULL, out);
}

int weir_kube_informer_snapshot_where(struct weir_kube_informer *inf, weir_kube_key_filter keep,
                                      void *arg, struct weir_kube_snapshot *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&inf->lock);
    rc = weir_kube_cache_snapshot_where(&inf->cache, keep, arg, &out->items, &out->len);
    if (rc == 0 && !(out->resource_version = strdup(inf->rv ? inf->rv : ""))) {
        weir_kube_objects_free(out->items, out->len);
        out->items = NULL;
        out->len = 0;
        rc = WEIR_KUBE_ERR_NOMEM;
    }
    pthread_rwlock_unlock(&inf->lock);
    return rc;
}

void weir_kube_snapshot_free(struct weir_kube_snapshot *s)
{
    if (!s)
        return;
    weir_kube_objects_free(s->items, s->len);
    free(s->resource_version);
    memset(s, 0, sizeof(*s));
}

const char *weir_kube_informer_resource_version(struct weir_kube_informer *inf, char *buf,
                                                size_t len)
{
    pthread_rwlock_rdlock(&inf->lock);
    snprintf(buf, len, "%s", inf->rv ? inf->rv : "");
    pthread_rwlock_unlock(&inf->lock);
    return buf;
}

void weir_kube_informer_get_stats(struct weir_kube_informer *inf,
                                  struct weir_kube_informer_stats *out)
{
    pthread_mutex_lock(&inf->mu);
    *out = inf->stats;
    pthread_mutex_unlock(&inf->mu);
}
