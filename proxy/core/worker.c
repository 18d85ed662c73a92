#include "core/worker.h"

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/log.h"
#include "http/message.h"
#include "http/stream.h"
#include "http1/client.h"
#include "http2/client.h"
#include "http2/server.h"
#include "lb/balancer.h"
#include "upstream/outlier.h"
#include "upstream/pool.h"

uint64_t wp_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- deferred frees ---- */

static void run_reaper(struct wp_worker *w)
{
    /* a free may queue more (a stream releasing its upstream): drain until empty */
    while (!wp_list_empty(&w->reap)) {
        struct wp_deferred *d = wp_container_of(w->reap.next, struct wp_deferred, link);
        wp_list_remove(&d->link);
        d->fn(d);
    }
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    run_reaper(arg);
}

void wp_worker_defer_free(struct wp_worker *w, struct wp_deferred *d,
                          void (*fn)(struct wp_deferred *))
{
    if (d->fn)
        return; /* already queued */
    d->fn = fn;
    wp_list_insert_tail(&w->reap, &d->link);
    event_active(w->reap_ev, EV_TIMEOUT, 0);
}

void wp_worker_track(struct wp_worker *w, struct wp_tracked *t, const struct wp_tracked_ops *ops)
{
    t->ops = ops;
    wp_list_insert_tail(&w->tracked, &t->link);
    atomic_fetch_add_explicit(&w->active, 1, memory_order_relaxed);
}

void wp_worker_untrack(struct wp_worker *w, struct wp_tracked *t)
{
    if (!wp_list_linked(&t->link))
        return;
    wp_list_remove(&t->link);
    atomic_fetch_sub_explicit(&w->active, 1, memory_order_relaxed);
}

/* ---- snapshots ---- */

static void wsnap_free(struct wp_wsnap *ws)
{
    size_t n = ws->snap->cfg->n_clusters;
    for (size_t i = 0; i < n; i++) {
        wp_outlier_destroy(ws->clusters[i].outlier); /* before the balancer it drives */
        if (ws->clusters[i].lb)
            wp_lb_destroy(ws->clusters[i].lb);
    }
    free(ws->clusters);
    wp_snapshot_unref(ws->snap);
    free(ws);
}

static void install_snapshot(struct wp_worker *w, struct wp_snapshot *s)
{
    struct wp_wsnap *ws = calloc(1, sizeof(*ws));
    size_t n = s->cfg->n_clusters;
    if (!ws || (n && !(ws->clusters = calloc(n, sizeof(*ws->clusters))))) {
        /* keep serving with the previous snapshot rather than with none */
        weir_log(WEIR_LOG_ERROR, "out of memory installing a config snapshot", NULL);
        free(ws);
        wp_snapshot_unref(s);
        return;
    }
    for (size_t i = 0; i < n; i++)
        wp_limits_init(&ws->clusters[i].limits, &s->cfg->clusters[i].connection_pool);
    ws->snap = s;
    ws->w = w;
    ws->refs = 1; /* the worker's own reference as "current" */
    if (w->current)
        wp_wsnap_release(w->current);
    w->current = ws;
}

struct wp_wsnap *wp_wsnap_acquire(struct wp_worker *w)
{
    if (!w->current)
        return NULL;
    w->current->refs++;
    return w->current;
}

void wp_wsnap_release(struct wp_wsnap *ws)
{
    if (!ws)
        return;
    if (--ws->refs == 0)
        wsnap_free(ws);
}

struct wp_lb *wp_wsnap_lb(struct wp_wsnap *ws, size_t cluster_index)
{
    struct wp_cluster_state *cs = &ws->clusters[cluster_index];
    if (!cs->lb)
        cs->lb = wp_lb_create(&ws->snap->cfg->clusters[cluster_index], wp_rand_next(&ws->w->rng));
    return cs->lb;
}

/* ---- mailbox ---- */

static void close_listeners(struct wp_worker *w)
{
    for (size_t i = 0; i < w->n_listeners; i++) {
        if (w->listeners[i].l) {
            evconnlistener_free(w->listeners[i].l);
            w->listeners[i].l = NULL;
        }
    }
}

static void adopt_listeners(struct wp_worker *w, bool close_them);

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_worker *w = arg;
    uint64_t v;
    struct wp_snapshot *s;
    unsigned cmds;

    if (read(w->notify_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        weir_logf(WEIR_LOG_WARN, "worker %d: eventfd read: %s", w->id, strerror(errno));
    s = atomic_exchange_explicit(&w->mailbox, NULL, memory_order_acq_rel);
    if (s)
        install_snapshot(w, s);
    cmds = atomic_exchange_explicit(&w->cmds, 0, memory_order_acq_rel);
    if (cmds & (WP_CMD_LISTEN | WP_CMD_DRAIN | WP_CMD_STOP))
        adopt_listeners(w, w->draining || (cmds & (WP_CMD_DRAIN | WP_CMD_STOP)));
    if (cmds & (WP_CMD_DRAIN | WP_CMD_STOP))
        close_listeners(w);
    if ((cmds & WP_CMD_DRAIN) && !w->draining) {
        struct wp_list *it = w->tracked.next;
        w->draining = true;
        while (it != &w->tracked) {
            struct wp_list *next = it->next;
            struct wp_tracked *t = wp_container_of(it, struct wp_tracked, link);
            t->ops->drain(t);
            it = next;
        }
    }
    if (cmds & WP_CMD_STOP) {
        while (!wp_list_empty(&w->tracked)) {
            struct wp_tracked *t = wp_container_of(w->tracked.next, struct wp_tracked, link);
            t->ops->close(t);
            wp_worker_untrack(w, t); /* in case close could not untrack yet */
        }
        event_base_loopbreak(w->base);
    }
}

static void wake(struct wp_worker *w)
{
    uint64_t one = 1;
    if (write(w->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        weir_logf(WEIR_LOG_WARN, "worker %d: eventfd write: %s", w->id, strerror(errno));
}

void wp_worker_post_snapshot(struct wp_worker *w, struct wp_snapshot *s)
{
    struct wp_snapshot *old = atomic_exchange_explicit(&w->mailbox, s, memory_order_acq_rel);
    /* a snapshot the worker never picked up is superseded */
    wp_snapshot_unref(old);
    wake(w);
}

void wp_worker_post(struct wp_worker *w, unsigned cmds)
{
    atomic_fetch_or_explicit(&w->cmds, cmds, memory_order_acq_rel);
    wake(w);
}

/* ---- lifecycle ---- */

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    struct wp_listener *li = arg;
    wp_conn_accept(li->w, fd, li);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct wp_listener *li = arg;
    int err = EVUTIL_SOCKET_ERROR();
    /* EMFILE and friends: keep the listener; the next accept may succeed once
     * connections close. */
    weir_logf(WEIR_LOG_WARN, "worker %d: accept: %s", li->w->id,
              evutil_socket_error_to_string(err));
}

struct wp_worker *wp_worker_new(struct wp_proxy *p, int id)
{
    struct wp_worker *w = calloc(1, sizeof(*w));
    struct event_config *ec = NULL;

    if (!w)
        return NULL;
    w->proxy = p;
    w->id = id;
    w->notify_fd = -1;
    wp_list_init(&w->tracked);
    wp_list_init(&w->reap);
    wp_list_init(&w->upconns);
    wp_list_init(&w->h2conns);
    wp_strmap_init(&w->pools);
    wp_stats_init(&w->stats);
    wp_rand_seed(&w->rng, (uint64_t)id + 1);
    atomic_init(&w->mailbox, NULL);
    atomic_init(&w->cmds, 0);
    pthread_mutex_init(&w->pending_lock, NULL);
    atomic_init(&w->active, 0);

    /* one thread per base: libevent's own locking is not needed */
    if (!(ec = event_config_new()))
        goto fail;
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!w->base)
        goto fail;
    w->dns = evdns_base_new(w->base,
                            EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!w->dns) /* no resolv.conf: DNS clusters fail, the rest works */
        w->dns = evdns_base_new(w->base, 0);
    w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->notify_fd < 0)
        goto fail;
    w->notify_ev = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST, notify_cb, w);
    w->reap_ev = event_new(w->base, -1, 0, reap_cb, w);
    if (!w->notify_ev || !w->reap_ev || event_add(w->notify_ev, NULL) < 0)
        goto fail;
    return w;
fail:
    weir_logf(WEIR_LOG_ERROR, "worker %d: cannot set up its event loop", id);
    wp_worker_join_free(w);
    return NULL;
}

static int add_listener_now(struct wp_worker *w, int fd, const struct wp_listen_spec *spec)
{
    struct wp_listener *li;
    if (w->n_listeners >= WP_MAX_LISTENS) {
        close(fd);
        return -1;
    }
    li = &w->listeners[w->n_listeners];
    li->w = w;
    li->dir = spec->dir;
    li->addr = spec->addr;
    li->len = spec->len;
    li->l = evconnlistener_new(w->base, accept_cb, li,
                               LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!li->l) {
        close(fd);
        return -1;
    }
    evconnlistener_set_error_cb(li->l, accept_error_cb);
    w->n_listeners++;
    return 0;
}

int wp_worker_add_listener(struct wp_worker *w, int fd, const struct wp_listen_spec *spec)
{
    if (!w->started)
        return add_listener_now(w, fd, spec);
    pthread_mutex_lock(&w->pending_lock);
    if (w->n_listeners + w->n_pending >= WP_MAX_LISTENS) {
        pthread_mutex_unlock(&w->pending_lock);
        close(fd);
        return -1;
    }
    w->pending[w->n_pending].fd = fd;
    w->pending[w->n_pending].spec = *spec;
    w->n_pending++;
    pthread_mutex_unlock(&w->pending_lock);
    wp_worker_post(w, WP_CMD_LISTEN);
    return 0;
}

/* In the worker's thread: the listeners handed over, added, or closed when
 * the worker is draining or stopping. */
static void adopt_listeners(struct wp_worker *w, bool close_them)
{
    pthread_mutex_lock(&w->pending_lock);
    for (size_t i = 0; i < w->n_pending; i++) {
        if (close_them)
            close(w->pending[i].fd);
        else if (add_listener_now(w, w->pending[i].fd, &w->pending[i].spec) < 0)
            weir_logf(WEIR_LOG_ERROR, "worker %d: cannot add a listener", w->id);
    }
    w->n_pending = 0;
    pthread_mutex_unlock(&w->pending_lock);
}

static void *worker_main(void *arg)
{
    struct wp_worker *w = arg;
    /* the first snapshot is installed before any accept can run, so no connection
     * finds the worker without a config */
    struct wp_snapshot *s = atomic_exchange_explicit(&w->mailbox, NULL, memory_order_acq_rel);
    if (s)
        install_snapshot(w, s);
    event_base_dispatch(w->base);

    /* shutdown: everything this worker owns is freed here, in its own thread */
    close_listeners(w);
    while (!wp_list_empty(&w->tracked)) {
        struct wp_tracked *t = wp_container_of(w->tracked.next, struct wp_tracked, link);
        t->ops->close(t);
        wp_worker_untrack(w, t);
    }
    run_reaper(w);
    wp_h2_client_shutdown(w);
    wp_pool_shutdown(w);
    run_reaper(w);
    wp_stream_cache_free(w);
    wp_h1_client_cache_free(w);
    wp_h2_server_cache_free(w);
    if (w->current) {
        struct wp_wsnap *ws = w->current;
        w->current = NULL;
        wp_wsnap_release(ws);
    }
    wp_headers_cache_free();
    return NULL;
}

int wp_worker_start(struct wp_worker *w)
{
    sigset_t all, old;
    int rc;
    /* signals belong to the main thread's loop */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    w->started = true;
    return 0;
}

void wp_worker_join_free(struct wp_worker *w)
{
    struct wp_snapshot *s;
    if (!w)
        return;
    if (w->started) {
        wp_worker_post(w, WP_CMD_STOP);
        pthread_join(w->thread, NULL);
        w->started = false;
    } else {
        close_listeners(w);
        if (w->current) {
            wp_wsnap_release(w->current);
            w->current = NULL;
        }
    }
    s = atomic_exchange(&w->mailbox, NULL);
    wp_snapshot_unref(s);
    adopt_listeners(w, true); /* handed over but never picked up */
    pthread_mutex_destroy(&w->pending_lock);
    wp_strmap_free(&w->pools, NULL);
    wp_stats_free(&w->stats);
    if (w->notify_ev)
        event_free(w->notify_ev);
    if (w->reap_ev)
        event_free(w->reap_ev);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    if (w->base)
        event_base_free(w->base);
    if (w->notify_fd >= 0)
        close(w->notify_fd);
    free(w);
}
