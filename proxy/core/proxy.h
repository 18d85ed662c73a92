/*
 * The process: options, the workload identity, the workers and the current config
 * snapshot. The main thread owns this struct; it runs the admin servers, the config
 * watcher and the signal handlers on its own event loop. Workers read only the
 * fields that do not change after startup (options, identity) and receive
 * snapshots through their mailboxes.
 */
#ifndef WP_CORE_PROXY_H
#define WP_CORE_PROXY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/identity.h"
#include "core/snapshot.h"
#include "telemetry/stats.h"

struct event_base;
struct wp_worker;

enum wp_direction {
    WP_OUTBOUND,
    WP_INBOUND,
};

struct wp_listen_spec {
    enum wp_direction dir;
    struct sockaddr_storage addr;
    socklen_t len;
};

#define WP_MAX_LISTENS 32

struct wp_options {
    const char *config_path;
    int workers;
    /* explicit listeners (--listen-outbound/--listen-inbound); none: the capture ports */
    struct wp_listen_spec listens[WP_MAX_LISTENS];
    size_t n_listens;
    int admin_port, health_port, metrics_port; /* -1: from the config */
    const char *admin_bind;                    /* 127.0.0.1 */
    const char *metrics_bind;                  /* health and metrics: 0.0.0.0 */
    int64_t drain_ms;                          /* -1: proxy.drainTimeMs */
    int64_t detect_timeout_ms;                 /* protocol detection on undeclared ports */
    bool passthrough_bind;                     /* bind inbound connections to 127.0.0.6 */
    bool drop_privileges;                      /* setuid to proxy.uid after binding */
};

struct wp_proxy {
    struct wp_options opt;
    struct wp_identity id;
    struct event_base *base;
    struct wp_worker **workers;
    size_t n_workers;
    struct wp_stats **worker_stats; /* for scrapes: one per worker */
    /* The snapshot serving now. Written by the main thread only; read by the admin
     * handlers (same thread). Workers get theirs through their mailboxes. */
    _Atomic(struct wp_snapshot *) current;
    struct wp_global_stats gstats;
    atomic_bool draining;
    bool listening;
    uint64_t generation;
};

/* Main thread: stop accepting and finish in-flight work (SIGTERM, /drain_listeners
 * when exit is true/false), or stop at once (/quitquitquit). */
void wp_proxy_drain(struct wp_proxy *p, bool then_exit);
void wp_proxy_quit(struct wp_proxy *p);
/* Ready: a valid config is serving, listeners are up, not draining. */
bool wp_proxy_ready(const struct wp_proxy *p);

#endif
