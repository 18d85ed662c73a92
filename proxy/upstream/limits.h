/*
 * Circuit breaking: the connectionPool limits of one cluster, per worker.
 *
 * Each worker counts on its own, with no lock, as every other piece of request
 * state in the proxy; a limit of N therefore allows up to N per worker (Envoy's
 * circuit breakers are per worker too for pending requests and connections of
 * a host's pool). The counts live with the worker's snapshot holder: a request
 * ends on the snapshot it started with, so every count it took is given back to
 * the same place, and a reload starts from zero, as Envoy's cluster update does.
 *
 *   http2MaxRequests      requests in flight to the cluster, whatever the
 *                         upstream protocol; one more is answered 503 UO.
 *   tcp.maxConnections    HTTP/1.1 upstream connections in use (one exchange
 *                         each). A request beyond it waits in the pending queue.
 *   http1MaxPendingRequests  length of that queue; one more is answered 503 UO.
 *                         HTTP/2 exchanges waiting for their connection (TCP
 *                         connect, TLS handshake) count toward it too, as Envoy
 *                         counts every request waiting for a connection.
 *   maxRetries            streams of the cluster in a retry at once; a retry
 *                         beyond it is not attempted (the response carries UO).
 *
 * A waiter is woken in FIFO order when a connection is given back; the slot is
 * reserved for it before the wake callback runs, so nobody overtakes it.
 *
 * Pure accounting: no I/O, no clock. Return convention: bool, true = granted.
 */
#ifndef WP_UPSTREAM_LIMITS_H
#define WP_UPSTREAM_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "config/proxy_config.h"
#include "core/list.h"

struct wp_limit_waiter {
    struct wp_list link;
    /* The slot is the waiter's when this runs; it must not re-enter the limits. */
    void (*wake)(struct wp_limit_waiter *wt);
};

struct wp_cluster_limits {
    const struct weir_pc_connection_pool *cp; /* NULL: no limit */
    uint64_t requests;                        /* in flight */
    uint64_t connections;                     /* HTTP/1.1 connections in use */
    uint64_t pending;       /* waiting for a connection (queued HTTP/1.1, connecting HTTP/2) */
    uint64_t retries;       /* streams in a retry */
    struct wp_list waiting; /* struct wp_limit_waiter, FIFO */
};

enum wp_limit_verdict {
    WP_LIMIT_GRANTED, /* counted, go on */
    WP_LIMIT_QUEUED,  /* the waiter is queued; wake() runs when a slot is its */
    WP_LIMIT_OVERFLOW /* refused: 503 UO */
};

void wp_limits_init(struct wp_cluster_limits *l, const struct weir_pc_connection_pool *cp);

bool wp_limits_request_begin(struct wp_cluster_limits *l);
void wp_limits_request_end(struct wp_cluster_limits *l);

enum wp_limit_verdict wp_limits_connection_begin(struct wp_cluster_limits *l,
                                                 struct wp_limit_waiter *wt);
/* Gives a connection slot back and hands it to the first waiter, if any. */
void wp_limits_connection_end(struct wp_cluster_limits *l);
/* A queued waiter that gives up (timeout, client gone). Safe when not queued. */
void wp_limits_cancel(struct wp_cluster_limits *l, struct wp_limit_waiter *wt);

/* An HTTP/2 exchange waits for its connection to be ready: false past
 * http1MaxPendingRequests (503 UO). pending_end when it is ready or gone. */
bool wp_limits_pending_begin(struct wp_cluster_limits *l);
void wp_limits_pending_end(struct wp_cluster_limits *l);

bool wp_limits_retry_begin(struct wp_cluster_limits *l);
void wp_limits_retry_end(struct wp_cluster_limits *l);

#endif
