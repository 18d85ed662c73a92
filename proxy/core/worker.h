/*
 * A worker: one thread, one libevent loop, its own listening sockets (SO_REUSEPORT),
 * its own connections, upstream pools, load balancers and counters. Nothing on the
 * request path is shared with another worker, so nothing there takes a lock.
 *
 * The main thread talks to a worker through its mailbox: an atomic snapshot pointer
 * and atomic command bits, then one write to the worker's eventfd. The worker picks
 * them up between events.
 *
 * Snapshots inside a worker: `struct wp_wsnap` wraps a snapshot with a plain
 * (worker-local) reference count and the per-cluster state built for it (load
 * balancers). A stream takes a reference when it starts and drops it when it ends,
 * so a request finishes on the config it started with.
 *
 * Objects are never freed inside their own callbacks: wp_worker_defer_free() queues
 * them, and the worker frees the queue from a separate event once the current
 * callback has returned.
 */
#ifndef WP_CORE_WORKER_H
#define WP_CORE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "core/proxy.h"
#include "core/rand.h"
#include "core/strmap.h"
#include "telemetry/stats.h"
#include "upstream/limits.h"

struct event;
struct event_base;
struct evdns_base;
struct evconnlistener;
struct wp_lb;
struct wp_outlier;

struct wp_deferred {
    struct wp_list link;
    void (*fn)(struct wp_deferred *d);
};

/* A downstream connection (HTTP or TCP) registered for drain and shutdown. */
struct wp_tracked;
struct wp_tracked_ops {
    void (*drain)(struct wp_tracked *t); /* finish what is in flight, then close */
    void (*close)(struct wp_tracked *t); /* close now (shutdown) */
};
struct wp_tracked {
    struct wp_list link;
    const struct wp_tracked_ops *ops;
};

/* Per cluster, per worker, per snapshot. */
struct wp_cluster_state {
    struct wp_lb *lb;                /* created on first use */
    struct wp_cluster_limits limits; /* connectionPool circuit breakers (upstream/limits.h) */
    struct wp_outlier *outlier;      /* outlierDetection, created on first use */
    struct wp_cluster_stats *cstats; /* NULL until looked up */
};

struct wp_wsnap {
    struct wp_snapshot *snap;
    struct wp_worker *w;
    unsigned refs;                     /* worker-local */
    struct wp_cluster_state *clusters; /* [snap->cfg->n_clusters] */
};

struct wp_listener {
    struct wp_worker *w;
    struct evconnlistener *l;
    enum wp_direction dir;
    struct sockaddr_storage addr;
    socklen_t len;
};

enum wp_worker_cmd {
    WP_CMD_DRAIN = 1u << 0,
    WP_CMD_STOP = 1u << 1,
    WP_CMD_LISTEN = 1u << 2, /* adopt the listeners handed over in pending[] */
};

struct wp_worker {
    struct wp_proxy *proxy;
    int id;
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct evdns_base *dns;
    int notify_fd;
    struct event *notify_ev;
    struct event *reap_ev;
    _Atomic(struct wp_snapshot *) mailbox;
    atomic_uint cmds;
    atomic_size_t active; /* tracked connections, read by the main thread while draining */

    struct wp_wsnap *current;
    struct wp_rand rng;
    struct wp_stats stats;
    struct wp_listener listeners[WP_MAX_LISTENS];
    size_t n_listeners;
    /* listening sockets the main thread bound after the worker started; the
     * worker adopts them in its own thread (its base is lock-free). The lock
     * is taken only then, never on the request path. */
    pthread_mutex_t pending_lock;
    struct {
        int fd;
        struct wp_listen_spec spec;
    } pending[WP_MAX_LISTENS];
    size_t n_pending;
    struct wp_list tracked;
    struct wp_list reap;
    struct wp_list upconns; /* every upstream connection, idle or busy */
    struct wp_list h2conns; /* multiplexed HTTP/2 upstream connections (http2/client) */
    struct wp_strmap pools; /* pool key -> struct wp_pool_bucket */
    /* Per-request objects kept for the next request (http/stream.c, http1/client.c,
     * http2/server.c) with their timers and buffers: new ones cost a calloc of over a
     * kilobyte and up to four libevent allocations, 1,800 instructions per request
     * under callgrind. Singly linked, at most WP_WORKER_FREE_MAX each, freed when the
     * worker ends. */
    void *free_streams;
    size_t n_free_streams;
    void *free_h1_clients;
    size_t n_free_h1_clients;
    void *free_h2s; /* HTTP/2 server streams (http2/server.c) */
    size_t n_free_h2s;
    bool draining;
};

#define WP_WORKER_FREE_MAX 256

struct wp_worker *wp_worker_new(struct wp_proxy *p, int id);
/* Takes ownership of fd, a bound listening socket. Before the worker starts
 * it is added at once; after, it is handed to the worker's own thread, which
 * adds it on its next wake-up. */
int wp_worker_add_listener(struct wp_worker *w, int fd, const struct wp_listen_spec *spec);
int wp_worker_start(struct wp_worker *w);
/* Main thread: hands the worker one reference to s. */
void wp_worker_post_snapshot(struct wp_worker *w, struct wp_snapshot *s);
void wp_worker_post(struct wp_worker *w, unsigned cmds);
void wp_worker_join_free(struct wp_worker *w);

/* ---- worker thread only ---- */
struct wp_wsnap *wp_wsnap_acquire(struct wp_worker *w); /* NULL before the first config */
void wp_wsnap_release(struct wp_wsnap *ws);
struct wp_lb *wp_wsnap_lb(struct wp_wsnap *ws, size_t cluster_index);

void wp_worker_defer_free(struct wp_worker *w, struct wp_deferred *d,
                          void (*fn)(struct wp_deferred *));
void wp_worker_track(struct wp_worker *w, struct wp_tracked *t, const struct wp_tracked_ops *ops);
void wp_worker_untrack(struct wp_worker *w, struct wp_tracked *t);

/* Monotonic time in microseconds. */
uint64_t wp_now_us(void);

#endif
