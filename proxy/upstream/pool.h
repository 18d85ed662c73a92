/*
 * Upstream connections and the per-worker keep-alive pool.
 *
 * A pool bucket holds the idle connections to one endpoint of one cluster (key:
 * cluster name, endpoint address, source binding), most recently used first. An
 * idle connection is watched for reads: any byte or EOF from an idle upstream means
 * it can no longer carry a request, and it is closed at once instead of being
 * handed to the next request. Idle connections expire after the cluster's
 * idleTimeoutMs and a bucket keeps at most WP_POOL_MAX_IDLE of them.
 *
 * Connection states: CONNECTING -> BUSY <-> IDLE -> CLOSED. A user acquires a
 * connection (BUSY at once when an idle one was there, CONNECTING otherwise; the
 * handler hears about the outcome), owns the bufferevent while BUSY, and gives it
 * back with wp_upconn_release(reusable) or wp_upconn_close().
 *
 * A target with a TLS client context (tls/client.h) stays CONNECTING through the
 * TLS handshake: the socket bufferevent is wrapped in an OpenSSL filter once the
 * TCP connect is done, and `connected` is called after the handshake. The connect
 * timeout covers both. A failed handshake is a connect failure (UF); its reason is
 * readable with wp_upconn_failure_detail() inside the `failed` callback.
 */
#ifndef WP_UPSTREAM_POOL_H
#define WP_UPSTREAM_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "core/list.h"
#include "core/worker.h"

struct bufferevent;
struct event;
struct wp_tls_client;

/* Above the concurrency a sidecar sees: at 64, 160 concurrent HTTP/2 streams over
 * HTTP/1.1 upstream connections opened a new connection for 37% of the requests,
 * as bursts of answers found the bucket full. idleTimeoutMs still closes them. */
#define WP_POOL_MAX_IDLE 1024

enum wp_upconn_state {
    WP_UC_CONNECTING,
    WP_UC_BUSY,
    WP_UC_IDLE,
    WP_UC_CLOSED,
};

enum wp_up_fail {
    WP_UP_CONNECT_FAILED,  /* refused, unreachable, DNS failure: UF */
    WP_UP_CONNECT_TIMEOUT, /* UF as well; counted apart */
};

struct wp_upconn_handler {
    void (*connected)(void *owner);
    void (*failed)(void *owner, enum wp_up_fail why);
};

/* Where to connect. Either addr (static endpoints, passthrough, inbound) or host
 * (resolution: dns) is set. */
struct wp_up_target {
    const char *cluster; /* pool key and stats name */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const char *host; /* DNS name, port in `port` */
    uint16_t port;
    const struct sockaddr *bind_src; /* inbound passthrough source, or NULL */
    int64_t connect_timeout_ms;
    int64_t idle_timeout_ms;                   /* 0: never */
    uint64_t max_requests;                     /* 0: unlimited */
    const struct weir_pc_connection_pool *tcp; /* keepalive settings, may be NULL */
    bool poolable;                             /* false: never reused (upgrades, TCP) */
    struct wp_tls_client *tls;                 /* TLS origination, or NULL */
};

struct wp_pool_bucket {
    struct wp_list idle;
    size_t n_idle;
};

struct wp_upconn {
    struct wp_list link;      /* worker->upconns */
    struct wp_list idle_link; /* bucket->idle while IDLE */
    struct wp_worker *w;
    struct wp_pool_bucket *bucket; /* NULL: not poolable */
    struct bufferevent *bev;
    enum wp_upconn_state state;
    struct event *timer; /* connect timeout, then idle timeout */
    int64_t idle_timeout_ms;
    uint64_t max_requests;
    uint64_t requests;
    bool reused; /* this request is not the connection's first */
    bool bound_passthrough;
    struct wp_tls_client *tls; /* a reference, until the handshake starts */
    char peer[WP_ADDR_STRLEN];
    struct wp_endpoint_stats *eps;
    const struct wp_upconn_handler *h;
    void *owner;
    struct wp_deferred dfree;
};

/* Whether requests to the cluster go out over HTTP/2 (http/1 client or http2/client):
 * protocol http2 or grpc, or http with h2UpgradePolicy upgrade. Upgrade/WebSocket
 * requests are the caller's to keep on HTTP/1.1. */
bool wp_cluster_speaks_h2(const struct weir_pc_cluster *c);
/* Fills the cluster's connection settings (timeouts, keepalive, request cap). */
void wp_up_target_cluster(struct wp_up_target *t, const struct weir_pc_cluster *c);
/* Sets the address of an endpoint: an IP, or a DNS name for resolution: dns. */
void wp_up_target_endpoint(struct wp_up_target *t, const struct weir_pc_endpoint *ep);
/* The local application on 127.0.0.1:port, from the passthrough source when
 * src_storage is given (an IPv4 passthrough source). */
void wp_up_target_inbound(struct wp_up_target *t, uint16_t port, const struct weir_pc_cidr *source,
                          struct sockaddr_storage *src_storage);

/* Returns a connection (BUSY: usable now; CONNECTING: the handler will be told),
 * or NULL when a socket could not even be created (the caller treats it as UF). */
struct wp_upconn *wp_pool_acquire(struct wp_worker *w, const struct wp_up_target *t,
                                  const struct wp_upconn_handler *h, void *owner);
/* Inside a `failed` callback: why the connection failed when there is more to
 * say than the failure kind (the TLS handshake error), else NULL. */
const char *wp_upconn_failure_detail(void);
/* Gives a BUSY connection back: kept idle when reusable and the pool wants it. */
void wp_upconn_release(struct wp_upconn *uc, bool reusable);
/* Closes now (the struct is freed later). */
void wp_upconn_close(struct wp_upconn *uc);
/* Takes the bufferevent out (protocol switch); the upconn is then closed without
 * closing the socket. */
struct bufferevent *wp_upconn_detach(struct wp_upconn *uc);
/* Shutdown: closes every connection of the worker. */
void wp_pool_shutdown(struct wp_worker *w);

#endif
