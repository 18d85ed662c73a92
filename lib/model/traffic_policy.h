/*
 * DestinationRule traffic policies (Istio's TrafficPolicy and what it holds):
 * load balancing, connection pools (circuit breaking), outlier detection,
 * client TLS, per-port overrides and retry budgets.
 *
 * Semantics kept from Istio that the translation relies on:
 *   - a port-level policy replaces the destination-level one for that port
 *     entirely; fields it omits take their defaults, not the outer values;
 *   - a subset's policy overrides the rule's field by field;
 *   - simple and consistentHash are alternatives; consistent hashing uses a
 *     ring hash unless maglev is chosen;
 *   - limits left absent are Envoy's defaults (WEIR_UNSET here).
 * Conventions for optional values are in route_common.h.
 */
#ifndef WEIR_MODEL_TRAFFIC_POLICY_H
#define WEIR_MODEL_TRAFFIC_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/route_common.h"

enum weir_lb_simple {
    WEIR_LB_UNSPECIFIED, /* Istio picks: LEAST_REQUEST */
    WEIR_LB_ROUND_ROBIN,
    WEIR_LB_LEAST_REQUEST,
    WEIR_LB_LEAST_CONN, /* deprecated alias of LEAST_REQUEST */
    WEIR_LB_RANDOM,
    WEIR_LB_PASSTHROUGH, /* to the original destination address, no balancing */
};

enum weir_hash_key {
    WEIR_HASH_KEY_NONE, /* only in an invalid object */
    WEIR_HASH_KEY_HEADER,
    WEIR_HASH_KEY_COOKIE,
    WEIR_HASH_KEY_SOURCE_IP,
    WEIR_HASH_KEY_QUERY_PARAMETER,
};

enum weir_hash_algorithm {
    WEIR_HASH_RING, /* the default */
    WEIR_HASH_MAGLEV,
};

/* ConsistentHashLB.HTTPCookie: generated when absent from the request if ttl
 * is set; a ttl of 0 makes a cookie that lasts until the browser closes. */
struct weir_hash_cookie {
    char *name;
    char *path;
    int64_t ttl_ns;                    /* WEIR_UNSET: never generate */
    struct weir_string_map attributes; /* extra Set-Cookie attributes, value may be "" */
};

/* ConsistentHashLB. */
struct weir_consistent_hash {
    enum weir_hash_key key;
    char *http_header_name;
    struct weir_hash_cookie http_cookie;
    char *http_query_parameter_name;
    enum weir_hash_algorithm algorithm;
    int64_t minimum_ring_size; /* ring hash; 0: Envoy's 1024 (also the deprecated field) */
    int64_t maglev_table_size; /* prime; 0: Envoy's 65537 */
};

/* LocalityLoadBalancerSetting.Distribute: weights per destination locality. */
struct weir_locality_distribute {
    char *from;
    struct weir_locality_weight {
        char *locality;
        int64_t weight;
    } * to;
    size_t n_to;
};

/* LocalityLoadBalancerSetting (unsupported by Weir yet). */
struct weir_locality_lb {
    enum weir_tristate enabled;
    struct weir_locality_distribute *distribute;
    size_t n_distribute;
    struct weir_string_map failover; /* from region -> to region, in order */
    struct weir_strings failover_priority;
};

/* LoadBalancerSettings.WarmupConfiguration (unsupported by Weir yet). */
struct weir_lb_warmup {
    int64_t duration_ns;
    double minimum_percent; /* WEIR_UNSET when absent */
    double aggression;      /* WEIR_UNSET when absent */
};

/* LoadBalancerSettings. */
struct weir_load_balancer {
    enum weir_lb_simple simple;
    struct weir_consistent_hash *consistent_hash; /* excludes simple */
    struct weir_locality_lb *locality_lb_setting;
    int64_t warmup_duration_ns; /* warmupDurationSecs; WEIR_UNSET when absent */
    struct weir_lb_warmup *warmup;
};

/* ConnectionPoolSettings.TCPSettings.TcpKeepalive: whole seconds (the socket
 * options are in seconds). Absent values use the OS settings. */
struct weir_tcp_keepalive {
    int64_t probes;      /* WEIR_UNSET when absent */
    int64_t time_ns;     /* idle time before the first probe */
    int64_t interval_ns; /* between probes */
};

/* ConnectionPoolSettings.TCPSettings. */
struct weir_tcp_pool {
    int64_t max_connections;              /* WEIR_UNSET: 2^32-1 */
    int64_t connect_timeout_ns;           /* WEIR_UNSET: 10s */
    struct weir_tcp_keepalive *keepalive; /* NULL: no SO_KEEPALIVE */
    int64_t max_connection_duration_ns;
    int64_t idle_timeout_ns; /* WEIR_UNSET: 1h; 0 disables */
};

enum weir_h2_upgrade {
    WEIR_H2_UPGRADE_DEFAULT,
    WEIR_H2_UPGRADE_DO_NOT_UPGRADE,
    WEIR_H2_UPGRADE_UPGRADE,
};

/* ConnectionPoolSettings.HTTPSettings. */
struct weir_http_pool {
    int64_t http1_max_pending_requests; /* all WEIR_UNSET when absent */
    int64_t http2_max_requests;
    int64_t max_requests_per_connection; /* 1 disables keep-alive */
    int64_t max_retries;
    int64_t idle_timeout_ns;
    enum weir_h2_upgrade h2_upgrade_policy;
    bool use_client_protocol;
    int64_t max_concurrent_streams;
};

/* ConnectionPoolSettings: at least one of tcp and http. */
struct weir_connection_pool {
    struct weir_tcp_pool *tcp;
    struct weir_http_pool *http;
};

/* OutlierDetection. Counters are WEIR_UNSET when absent (Envoy defaults:
 * 5 consecutive 5xx, gateway errors off). */
struct weir_outlier_detection {
    int64_t consecutive_errors; /* deprecated */
    int64_t consecutive_5xx_errors;
    int64_t consecutive_gateway_errors;
    int64_t consecutive_local_origin_failures;
    bool split_external_local_origin_errors;
    int64_t interval_ns;           /* WEIR_UNSET: 10s */
    int64_t base_ejection_time_ns; /* WEIR_UNSET: 30s */
    int64_t max_ejection_percent;  /* WEIR_UNSET: 10 */
    int64_t min_health_percent;    /* WEIR_UNSET: 0 */
};

enum weir_tls_mode {
    WEIR_TLS_DISABLE,
    WEIR_TLS_SIMPLE,
    WEIR_TLS_MUTUAL,
    WEIR_TLS_ISTIO_MUTUAL, /* mesh certificates; the file fields are ignored */
};

/* ClientTLSSettings: TLS from the proxy to the upstream. */
struct weir_client_tls {
    enum weir_tls_mode mode;
    char *client_certificate; /* file paths; NULL when absent */
    char *private_key;
    char *ca_certificates;
    char *credential_name; /* unsupported by Weir yet */
    struct weir_strings subject_alt_names;
    char *sni;
    enum weir_tristate insecure_skip_verify;
    char *ca_crl;
};

/* TrafficPolicy.TunnelSettings (unsupported by Weir yet). */
struct weir_tunnel {
    char *protocol; /* "CONNECT" (default) or "POST" */
    char *target_host;
    int64_t target_port;
};

enum weir_proxy_protocol_version {
    WEIR_PROXY_PROTOCOL_V1,
    WEIR_PROXY_PROTOCOL_V2,
};

/* TrafficPolicy.RetryBudget: retries allowed as a share of active requests. */
struct weir_retry_budget {
    double percent;                /* WEIR_UNSET: 20 */
    int64_t min_retry_concurrency; /* WEIR_UNSET: 3 */
};

/* TrafficPolicy.PortTrafficPolicy. */
struct weir_port_traffic_policy {
    int64_t port;
    struct weir_load_balancer *load_balancer;
    struct weir_connection_pool *connection_pool;
    struct weir_outlier_detection *outlier_detection;
    struct weir_client_tls *tls;
};

/* TrafficPolicy. */
struct weir_traffic_policy {
    struct weir_load_balancer *load_balancer;
    struct weir_connection_pool *connection_pool;
    struct weir_outlier_detection *outlier_detection;
    struct weir_client_tls *tls;
    struct weir_port_traffic_policy *port_level_settings;
    size_t n_port_level_settings;
    struct weir_tunnel *tunnel; /* unsupported by Weir yet */
    bool has_proxy_protocol;    /* unsupported by Weir yet */
    enum weir_proxy_protocol_version proxy_protocol_version;
    struct weir_retry_budget *retry_budget;
};

/* Parses the TrafficPolicy under obj[key]; *out is NULL when absent. */
void weir_traffic_policy_get(struct weir_check *c, const json_t *obj, const char *key,
                             struct weir_traffic_policy **out);
void weir_traffic_policy_free(struct weir_traffic_policy *p);

#endif
