/*
 * Metrics. Every worker owns its counters and is their only writer; the admin
 * thread reads them at scrape time and adds the workers up. A single writer needs
 * no lock and no read-modify-write instruction: the owner loads and stores with
 * relaxed atomics (plain moves on x86) and a reader never sees a torn value.
 *
 * Labelled series (Istio's istio_* families) live in a per-worker hash table that
 * only the owner reads, and in an append-only list that the owner publishes with a
 * release store; scrapes walk the list. Series are never removed while the process
 * runs, and their number per worker is bounded (WP_STATS_MAX_SERIES): past it a
 * request is still counted in the proxy's own counters but not in a new series.
 */
#ifndef WP_TELEMETRY_STATS_H
#define WP_TELEMETRY_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strmap.h"

struct evbuffer;

#define WP_STATS_MAX_SERIES 8192

/* The proxy's own counters (weir_proxy_*), per worker. *_ACTIVE are gauges. */
enum wp_counter {
    WP_C_DOWNSTREAM_CX_TOTAL,
    WP_C_DOWNSTREAM_CX_ACTIVE,
    WP_C_DOWNSTREAM_RQ_TOTAL,
    WP_C_DOWNSTREAM_RQ_ACTIVE,
    WP_C_DOWNSTREAM_RQ_4XX_LOCAL, /* answered by the proxy: bad request, no route... */
    WP_C_DOWNSTREAM_RQ_5XX_LOCAL,
    WP_C_DOWNSTREAM_PROTOCOL_ERROR,
    WP_C_DOWNSTREAM_HEADER_TIMEOUT,
    WP_C_DETECT_HTTP1,
    WP_C_DETECT_HTTP2,
    WP_C_DETECT_TCP,
    WP_C_UPSTREAM_CX_TOTAL,
    WP_C_UPSTREAM_CX_ACTIVE,
    WP_C_UPSTREAM_CX_CONNECT_FAIL,
    WP_C_UPSTREAM_CX_CONNECT_TIMEOUT,
    WP_C_UPSTREAM_RQ_TOTAL,
    WP_C_UPSTREAM_RQ_REUSED, /* sent on a kept-alive connection */
    WP_C_UPSTREAM_RQ_RETRY,
    WP_C_UPSTREAM_RQ_RETRY_OVERFLOW, /* a retry maxRetries did not allow */
    WP_C_UPSTREAM_RQ_TIMEOUT,
    WP_C_UPSTREAM_RQ_PER_TRY_TIMEOUT,
    WP_C_UPSTREAM_PROTOCOL_ERROR,
    WP_C_FAULT_DELAYS,
    WP_C_FAULT_ABORTS,
    WP_C_MIRROR_REQUESTS,
    WP_C_TCP_RELAYS_ACTIVE,
    WP_C_UPGRADES,
    WP_C_INBOUND_REFUSED,
    WP_C_SERIES_OVERFLOW,
    WP_C__COUNT
};

/* Istio's duration buckets (ms) and size buckets (bytes). */
#define WP_DUR_BUCKETS  19
#define WP_SIZE_BUCKETS 10

struct wp_hist {
    _Atomic uint64_t buckets[WP_DUR_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
    _Atomic uint64_t sum;                         /* microseconds for durations, bytes for sizes */
};

struct wp_http_series {
    struct wp_http_series *next; /* published list */
    char *labels;                /* rendered: reporter="source",... */
    _Atomic uint64_t requests;
    struct wp_hist duration;
    struct wp_hist request_bytes;
    struct wp_hist response_bytes;
};

struct wp_tcp_series {
    struct wp_tcp_series *next;
    char *labels;
    _Atomic uint64_t opened, closed, sent, received;
};

/* Per upstream endpoint of a cluster, for the admin /clusters page. */
struct wp_endpoint_stats {
    struct wp_endpoint_stats *next;
    char *cluster;
    char *endpoint; /* "ip:port" */
    _Atomic uint64_t cx_total, cx_active, cx_connect_fail;
    _Atomic uint64_t rq_total, rq_success, rq_error, rq_timeout;
};

/* Per cluster: circuit breaking and outlier detection (weir_upstream_overflow_total,
 * weir_outlier_ejections_total). */
struct wp_cluster_stats {
    struct wp_cluster_stats *next;
    char *cluster;
    _Atomic uint64_t overflow, outlier_ejections;
};

struct wp_stats {
    _Atomic uint64_t c[WP_C__COUNT];
    struct wp_strmap http_index; /* owner-only lookups */
    struct wp_strmap tcp_index;
    struct wp_strmap ep_index;
    size_t n_http, n_tcp, n_ep;
    _Atomic(struct wp_http_series *) http_head;
    _Atomic(struct wp_tcp_series *) tcp_head;
    _Atomic(struct wp_endpoint_stats *) ep_head;
    struct wp_strmap cl_index;
    size_t n_cl;
    _Atomic(struct wp_cluster_stats *) cl_head;
};

/* Owner-side updates. */
static inline void wp_stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void wp_stat_sub(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
                          memory_order_relaxed);
}
static inline uint64_t wp_stat_get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}
#define WP_INC(stats, counter) wp_stat_add(&(stats)->c[counter], 1)
#define WP_DEC(stats, counter) wp_stat_sub(&(stats)->c[counter], 1)

/* The labels Istio's standard metrics carry. NULL values print as "unknown". */
struct wp_metric_labels {
    const char *reporter; /* "source" (outbound) or "destination" (inbound) */
    const char *source_workload;
    const char *source_workload_namespace;
    const char *destination_service;
    const char *destination_workload;
    const char *destination_workload_namespace;
    const char *response_flags; /* "-" when none */
    const char *request_protocol;
    const char *connection_security_policy;
    int response_code; /* HTTP only; 0 for TCP */
};

void wp_stats_init(struct wp_stats *s);
void wp_stats_free(struct wp_stats *s);

void wp_stats_record_http(struct wp_stats *s, const struct wp_metric_labels *l,
                          uint64_t duration_us, uint64_t request_bytes, uint64_t response_bytes);
/* The series for a TCP connection's labels, created when new; NULL past the bound.
 * The connection keeps the pointer and updates it as bytes flow. */
struct wp_tcp_series *wp_stats_tcp_series(struct wp_stats *s, const struct wp_metric_labels *l);
struct wp_endpoint_stats *wp_stats_endpoint(struct wp_stats *s, const char *cluster,
                                            const char *endpoint);
/* The cluster's series, created when new; NULL past the bound. */
struct wp_cluster_stats *wp_stats_cluster(struct wp_stats *s, const char *cluster);

/* Process-wide counters written by the main thread only. */
struct wp_global_stats {
    _Atomic uint64_t config_reloads;
    _Atomic uint64_t config_reload_failures;
    _Atomic uint64_t config_generation;
    _Atomic uint64_t config_loaded_at; /* unix seconds */
};

/* Scrape-time rendering over every worker (the admin thread). */
void wp_stats_render_prometheus(struct evbuffer *out, struct wp_stats *const *workers,
                                size_t n_workers, const struct wp_global_stats *g,
                                const char *revision);
void wp_stats_render_text(struct evbuffer *out, struct wp_stats *const *workers, size_t n_workers,
                          const struct wp_global_stats *g);
/* weir_proxy_rate_limited_total{limit}: requests and inbound TCP connections
 * refused by each rate limit of the snapshot (set may be NULL). prom: Prometheus
 * text, else the /stats form. */
struct wp_rl_set;
void wp_stats_render_rate_limits(struct evbuffer *out, const struct wp_rl_set *set, bool prom);
/* Sum of one counter over the workers. */
uint64_t wp_stats_sum(struct wp_stats *const *workers, size_t n_workers, enum wp_counter c);
/* Adds up the endpoint stats of every worker for one cluster/endpoint pair; false if none. */
bool wp_stats_endpoint_sum(struct wp_stats *const *workers, size_t n_workers, const char *cluster,
                           const char *endpoint, struct wp_endpoint_stats *out);

const char *wp_counter_name(enum wp_counter c);

#endif
