#include "model/traffic_policy.h"

#include <stdlib.h>
#include <string.h>

static const char *const policy_fields[] = {
    "loadBalancer", "connectionPool", "outlierDetection", "tls", "portLevelSettings",
    "tunnel",       "proxyProtocol",  "retryBudget",      NULL,
};
static const char *const policy_unsupported[] = {"tunnel", "proxyProtocol", NULL};
static const char *const port_policy_fields[] = {
    "port", "loadBalancer", "connectionPool", "outlierDetection", "tls", NULL,
};

static const char *const lb_fields[] = {
    "simple", "consistentHash", "localityLbSetting", "warmupDurationSecs", "warmup", NULL,
};
static const char *const lb_unsupported[] = {"localityLbSetting", "warmupDurationSecs", "warmup",
                                             NULL};
static const char *const lb_simple_names[] = {
    "UNSPECIFIED", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN", "RANDOM", "PASSTHROUGH", NULL,
};
static const char *const h2_upgrade_names[] = {"DEFAULT", "DO_NOT_UPGRADE", "UPGRADE", NULL};
static const char *const tls_mode_names[] = {"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", NULL};
static const char *const tls_fields[] = {
    "mode",
    "clientCertificate",
    "privateKey",
    "caCertificates",
    "credentialName",
    "subjectAltNames",
    "sni",
    "insecureSkipVerify",
    "caCrl",
    NULL,
};
static const char *const tls_unsupported[] = {"credentialName", NULL};

/* Envoy's upper bounds for the hash tables it builds. */
#define RING_SIZE_MAX   8388608
#define MAGLEV_SIZE_MAX 5000011

static bool present(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v);
}

static bool is_prime(int64_t n)
{
    if (n < 2)
        return false;
    for (int64_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

/* ---- load balancer ---- */

static void get_hash_cookie(struct weir_check *c, const json_t *v, struct weir_hash_cookie *hc)
{
    static const char *const fields[] = {"name", "path", "ttl", "attributes", NULL};
    static const char *const attr_fields[] = {"name", "value", NULL};
    const json_t *arr;
    size_t i;
    json_t *item;

    weir_check_push_key(c, "httpCookie");
    weir_check_fields(c, v, fields, NULL);
    if (weir_get_string(c, v, "name", true, &hc->name) && !*hc->name) {
        weir_check_push_key(c, "name");
        weir_check_error(c, json_object_get(v, "name"), "must not be empty");
        weir_check_pop(c);
    }
    weir_get_string(c, v, "path", false, &hc->path);
    weir_get_duration(c, v, "ttl", false, 0, &hc->ttl_ns);
    arr = weir_check_get(c, v, "attributes", JSON_ARRAY, false);
    if (arr && (hc->attributes.items =
                    weir_net_calloc(c, json_array_size(arr), sizeof(*hc->attributes.items)))) {
        weir_check_push_key(c, "attributes");
        json_array_foreach(arr, i, item)
        {
            struct weir_kv *kv = &hc->attributes.items[hc->attributes.len++];
            weir_check_push_index(c, i);
            if (weir_check_is_object(c, item)) {
                weir_check_fields(c, item, attr_fields, NULL);
                weir_get_string(c, item, "name", true, &kv->key);
                if (!weir_get_string(c, item, "value", false, &kv->value))
                    kv->value = strdup("");
            }
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void get_consistent_hash(struct weir_check *c, const json_t *lb,
                                struct weir_load_balancer *out)
{
    static const char *const fields[] = {
        "httpHeaderName", "httpCookie", "useSourceIp",     "httpQueryParameterName",
        "ringHash",       "maglev",     "minimumRingSize", NULL,
    };
    static const char *const algorithms[] = {"ringHash", "maglev", NULL};
    static const char *const ring_fields[] = {"minimumRingSize", NULL};
    static const char *const maglev_fields[] = {"tableSize", NULL};
    const json_t *v = weir_check_get(c, lb, "consistentHash", JSON_OBJECT, false);
    const json_t *sub;
    struct weir_consistent_hash *h;
    bool source_ip = false;
    size_t keys;

    if (!v || !(h = weir_net_calloc(c, 1, sizeof(*h))))
        return;
    out->consistent_hash = h;
    h->http_cookie.ttl_ns = WEIR_UNSET;
    weir_check_push_key(c, "consistentHash");
    weir_check_fields(c, v, fields, NULL);

    weir_get_bool(c, v, "useSourceIp", &source_ip);
    keys = (size_t)present(v, "httpHeaderName") + (size_t)present(v, "httpCookie") +
           (size_t)source_ip + (size_t)present(v, "httpQueryParameterName");
    if (keys != 1)
        weir_check_error(c, v,
                         "exactly one of httpHeaderName, httpCookie, useSourceIp or "
                         "httpQueryParameterName must be set");
    if (weir_get_string(c, v, "httpHeaderName", false, &h->http_header_name)) {
        const char *why = weir_valid_header_name(h->http_header_name);
        h->key = WEIR_HASH_KEY_HEADER;
        if (why) {
            weir_check_push_key(c, "httpHeaderName");
            weir_check_error(c, json_object_get(v, "httpHeaderName"), "%s", why);
            weir_check_pop(c);
        }
    }
    sub = weir_check_get(c, v, "httpCookie", JSON_OBJECT, false);
    if (sub) {
        h->key = WEIR_HASH_KEY_COOKIE;
        get_hash_cookie(c, sub, &h->http_cookie);
    }
    if (source_ip)
        h->key = WEIR_HASH_KEY_SOURCE_IP;
    if (weir_get_string(c, v, "httpQueryParameterName", false, &h->http_query_parameter_name)) {
        h->key = WEIR_HASH_KEY_QUERY_PARAMETER;
        if (!*h->http_query_parameter_name) {
            weir_check_push_key(c, "httpQueryParameterName");
            weir_check_error(c, json_object_get(v, "httpQueryParameterName"), "must not be empty");
            weir_check_pop(c);
        }
    }
    if (keys != 1)
        h->key = WEIR_HASH_KEY_NONE;

    if (weir_net_count_present(v, algorithms) > 1)
        weir_check_error(c, v, "ringHash and maglev are mutually exclusive");
    if ((sub = weir_check_get(c, v, "ringHash", JSON_OBJECT, false))) {
        weir_check_push_key(c, "ringHash");
        weir_check_fields(c, sub, ring_fields, NULL);
        weir_get_int(c, sub, "minimumRingSize", false, 0, RING_SIZE_MAX, &h->minimum_ring_size);
        weir_check_pop(c);
    }
    if ((sub = weir_check_get(c, v, "maglev", JSON_OBJECT, false))) {
        int64_t n;
        h->algorithm = WEIR_HASH_MAGLEV;
        weir_check_push_key(c, "maglev");
        weir_check_fields(c, sub, maglev_fields, NULL);
        if (weir_get_int(c, sub, "tableSize", false, 0, INT64_MAX, &n)) {
            if (n != 0 && (!is_prime(n) || n > MAGLEV_SIZE_MAX)) {
                weir_check_push_key(c, "tableSize");
                weir_check_error(c, json_object_get(sub, "tableSize"),
                                 "must be a prime number up to %d, got %lld", MAGLEV_SIZE_MAX,
                                 (long long)n);
                weir_check_pop(c);
            } else {
                h->maglev_table_size = n;
            }
        }
        weir_check_pop(c);
    }
    if (present(v, "minimumRingSize")) {
        weir_check_push_key(c, "minimumRingSize");
        if (weir_net_count_present(v, algorithms) > 0)
            weir_check_error(c, json_object_get(v, "minimumRingSize"),
                             "the deprecated minimumRingSize cannot be combined with ringHash or "
                             "maglev");
        else
            weir_check_warning(c, json_object_get(v, "minimumRingSize"),
                               "minimumRingSize is deprecated, use ringHash.minimumRingSize");
        weir_check_pop(c);
        weir_get_int(c, v, "minimumRingSize", false, 0, RING_SIZE_MAX, &h->minimum_ring_size);
    }
    weir_check_pop(c);
}

static void get_locality_lb(struct weir_check *c, const json_t *lb, struct weir_load_balancer *out)
{
    static const char *const fields[] = {"enabled", "distribute", "failover", "failoverPriority",
                                         NULL};
    static const char *const pair_fields[] = {"from", "to", NULL};
    const json_t *v = weir_check_get(c, lb, "localityLbSetting", JSON_OBJECT, false);
    const json_t *arr;
    struct weir_locality_lb *l;
    size_t i;
    json_t *item;

    if (!v || !(l = weir_net_calloc(c, 1, sizeof(*l))))
        return;
    out->locality_lb_setting = l;
    weir_check_push_key(c, "localityLbSetting");
    weir_check_fields(c, v, fields, NULL);
    weir_net_get_tristate(c, v, "enabled", &l->enabled);
    if (present(v, "distribute") && present(v, "failover"))
        weir_check_error(c, v, "distribute and failover are mutually exclusive");

    arr = weir_check_get(c, v, "distribute", JSON_ARRAY, false);
    if (arr && (l->distribute = weir_net_calloc(c, json_array_size(arr), sizeof(*l->distribute)))) {
        l->n_distribute = json_array_size(arr);
        weir_check_push_key(c, "distribute");
        json_array_foreach(arr, i, item)
        {
            struct weir_locality_distribute *d = &l->distribute[i];
            const json_t *to;
            weir_check_push_index(c, i);
            if (weir_check_is_object(c, item)) {
                weir_check_fields(c, item, pair_fields, NULL);
                weir_get_string(c, item, "from", true, &d->from);
                to = weir_check_get(c, item, "to", JSON_OBJECT, true);
                if (to && (d->to = weir_net_calloc(c, json_object_size(to), sizeof(*d->to)))) {
                    const char *k;
                    json_t *w;
                    int64_t sum = 0;
                    weir_check_push_key(c, "to");
                    json_object_foreach((json_t *)to, k, w)
                    {
                        struct weir_locality_weight *lw = &d->to[d->n_to++];
                        lw->locality = strdup(k);
                        if (!json_is_integer(w) || json_integer_value(w) < 0 ||
                            json_integer_value(w) > 100) {
                            weir_check_push_key(c, k);
                            weir_check_error(c, w, "must be an integer 0..100");
                            weir_check_pop(c);
                        } else {
                            lw->weight = json_integer_value(w);
                            sum += lw->weight;
                        }
                    }
                    if (sum != 100)
                        weir_check_error(c, to, "weights must sum to 100, got %lld",
                                         (long long)sum);
                    weir_check_pop(c);
                }
            }
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }

    arr = weir_check_get(c, v, "failover", JSON_ARRAY, false);
    if (arr &&
        (l->failover.items = weir_net_calloc(c, json_array_size(arr), sizeof(struct weir_kv)))) {
        weir_check_push_key(c, "failover");
        json_array_foreach(arr, i, item)
        {
            struct weir_kv *kv = &l->failover.items[l->failover.len++];
            weir_check_push_index(c, i);
            if (weir_check_is_object(c, item)) {
                weir_check_fields(c, item, pair_fields, NULL);
                weir_get_string(c, item, "from", true, &kv->key);
                weir_get_string(c, item, "to", true, &kv->value);
                if (kv->key && kv->value && strcmp(kv->key, kv->value) == 0)
                    weir_check_error(c, item, "failover from and to must differ, got \"%s\"",
                                     kv->key);
            }
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }
    weir_get_strings(c, v, "failoverPriority", false, NULL, &l->failover_priority);
    weir_check_pop(c);
}

static void get_warmup(struct weir_check *c, const json_t *lb, struct weir_load_balancer *out)
{
    static const char *const fields[] = {"duration", "minimumPercent", "aggression", NULL};
    const json_t *v = weir_check_get(c, lb, "warmup", JSON_OBJECT, false);
    struct weir_lb_warmup *w;

    if (!v || !(w = weir_net_calloc(c, 1, sizeof(*w))))
        return;
    out->warmup = w;
    w->minimum_percent = WEIR_UNSET;
    w->aggression = WEIR_UNSET;
    weir_check_push_key(c, "warmup");
    weir_check_fields(c, v, fields, NULL);
    weir_get_duration(c, v, "duration", true, 1000000, &w->duration_ns);
    weir_get_number(c, v, "minimumPercent", false, 0, 100, &w->minimum_percent);
    weir_get_number(c, v, "aggression", false, 1, 1e9, &w->aggression);
    weir_check_pop(c);
}

static struct weir_load_balancer *get_load_balancer(struct weir_check *c, const json_t *obj)
{
    const json_t *v = weir_check_get(c, obj, "loadBalancer", JSON_OBJECT, false);
    struct weir_load_balancer *lb;
    int e;

    if (!v || !(lb = weir_net_calloc(c, 1, sizeof(*lb))))
        return NULL;
    lb->warmup_duration_ns = WEIR_UNSET;
    weir_check_push_key(c, "loadBalancer");
    weir_check_fields(c, v, lb_fields, lb_unsupported);
    if (present(v, "simple") && present(v, "consistentHash"))
        weir_check_error(c, v, "simple and consistentHash are mutually exclusive");
    if (weir_net_get_enum(c, v, "simple", lb_simple_names, false, &e))
        lb->simple = (enum weir_lb_simple)e;
    get_consistent_hash(c, v, lb);
    get_locality_lb(c, v, lb);
    weir_get_duration(c, v, "warmupDurationSecs", false, 1000000, &lb->warmup_duration_ns);
    get_warmup(c, v, lb);
    weir_check_pop(c);
    return lb;
}

static void load_balancer_free(struct weir_load_balancer *lb)
{
    if (!lb)
        return;
    if (lb->consistent_hash) {
        struct weir_consistent_hash *h = lb->consistent_hash;
        free(h->http_header_name);
        free(h->http_cookie.name);
        free(h->http_cookie.path);
        weir_string_map_free(&h->http_cookie.attributes);
        free(h->http_query_parameter_name);
        free(h);
    }
    if (lb->locality_lb_setting) {
        struct weir_locality_lb *l = lb->locality_lb_setting;
        for (size_t i = 0; i < l->n_distribute; i++) {
            free(l->distribute[i].from);
            for (size_t j = 0; j < l->distribute[i].n_to; j++)
                free(l->distribute[i].to[j].locality);
            free(l->distribute[i].to);
        }
        free(l->distribute);
        weir_string_map_free(&l->failover);
        weir_strings_free(&l->failover_priority);
        free(l);
    }
    free(lb->warmup);
    free(lb);
}

/* ---- connection pool ---- */

static void get_tcp_pool(struct weir_check *c, const json_t *pool, struct weir_connection_pool *out)
{
    static const char *const fields[] = {"maxConnections",        "connectTimeout", "tcpKeepalive",
                                         "maxConnectionDuration", "idleTimeout",    NULL};
    static const char *const keepalive_fields[] = {"probes", "time", "interval", NULL};
    const json_t *v = weir_check_get(c, pool, "tcp", JSON_OBJECT, false);
    const json_t *ka;
    struct weir_tcp_pool *t;

    if (!v || !(t = weir_net_calloc(c, 1, sizeof(*t))))
        return;
    out->tcp = t;
    t->max_connections = WEIR_UNSET;
    t->connect_timeout_ns = WEIR_UNSET;
    t->max_connection_duration_ns = WEIR_UNSET;
    t->idle_timeout_ns = WEIR_UNSET;
    weir_check_push_key(c, "tcp");
    weir_check_fields(c, v, fields, NULL);
    weir_get_int(c, v, "maxConnections", false, 0, INT32_MAX, &t->max_connections);
    weir_get_duration(c, v, "connectTimeout", false, 1000000, &t->connect_timeout_ns);
    ka = weir_check_get(c, v, "tcpKeepalive", JSON_OBJECT, false);
    if (ka && (t->keepalive = weir_net_calloc(c, 1, sizeof(*t->keepalive)))) {
        t->keepalive->probes = WEIR_UNSET;
        t->keepalive->time_ns = WEIR_UNSET;
        t->keepalive->interval_ns = WEIR_UNSET;
        weir_check_push_key(c, "tcpKeepalive");
        weir_check_fields(c, ka, keepalive_fields, NULL);
        weir_get_int(c, ka, "probes", false, 0, UINT32_MAX, &t->keepalive->probes);
        weir_net_get_seconds(c, ka, "time", &t->keepalive->time_ns);
        weir_net_get_seconds(c, ka, "interval", &t->keepalive->interval_ns);
        weir_check_pop(c);
    }
    weir_get_duration(c, v, "maxConnectionDuration", false, 1000000,
                      &t->max_connection_duration_ns);
    /* 0s is documented to disable the TCP idle timeout. */
    weir_get_duration(c, v, "idleTimeout", false, 0, &t->idle_timeout_ns);
    weir_check_pop(c);
}

static void get_http_pool(struct weir_check *c, const json_t *pool,
                          struct weir_connection_pool *out)
{
    static const char *const fields[] = {
        "http1MaxPendingRequests",
        "http2MaxRequests",
        "maxRequestsPerConnection",
        "maxRetries",
        "idleTimeout",
        "h2UpgradePolicy",
        "useClientProtocol",
        "maxConcurrentStreams",
        NULL,
    };
    const json_t *v = weir_check_get(c, pool, "http", JSON_OBJECT, false);
    struct weir_http_pool *h;
    int e;

    if (!v || !(h = weir_net_calloc(c, 1, sizeof(*h))))
        return;
    out->http = h;
    h->http1_max_pending_requests = WEIR_UNSET;
    h->http2_max_requests = WEIR_UNSET;
    h->max_requests_per_connection = WEIR_UNSET;
    h->max_retries = WEIR_UNSET;
    h->idle_timeout_ns = WEIR_UNSET;
    h->max_concurrent_streams = WEIR_UNSET;
    weir_check_push_key(c, "http");
    weir_check_fields(c, v, fields, NULL);
    weir_get_int(c, v, "http1MaxPendingRequests", false, 0, INT32_MAX,
                 &h->http1_max_pending_requests);
    weir_get_int(c, v, "http2MaxRequests", false, 0, INT32_MAX, &h->http2_max_requests);
    weir_get_int(c, v, "maxRequestsPerConnection", false, 0, INT32_MAX,
                 &h->max_requests_per_connection);
    weir_get_int(c, v, "maxRetries", false, 0, INT32_MAX, &h->max_retries);
    weir_get_duration(c, v, "idleTimeout", false, 1000000, &h->idle_timeout_ns);
    if (weir_net_get_enum(c, v, "h2UpgradePolicy", h2_upgrade_names, false, &e))
        h->h2_upgrade_policy = (enum weir_h2_upgrade)e;
    weir_get_bool(c, v, "useClientProtocol", &h->use_client_protocol);
    weir_get_int(c, v, "maxConcurrentStreams", false, 0, INT32_MAX, &h->max_concurrent_streams);
    /* Keeping the client's protocol and always upgrading contradict each other. */
    if (h->use_client_protocol && h->h2_upgrade_policy == WEIR_H2_UPGRADE_UPGRADE)
        weir_check_error(c, v, "useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE");
    weir_check_pop(c);
}

static struct weir_connection_pool *get_connection_pool(struct weir_check *c, const json_t *obj)
{
    static const char *const fields[] = {"tcp", "http", NULL};
    const json_t *v = weir_check_get(c, obj, "connectionPool", JSON_OBJECT, false);
    struct weir_connection_pool *p;

    if (!v || !(p = weir_net_calloc(c, 1, sizeof(*p))))
        return NULL;
    weir_check_push_key(c, "connectionPool");
    weir_check_fields(c, v, fields, NULL);
    if (weir_net_count_present(v, fields) == 0)
        weir_check_error(c, v, "must set at least one of tcp or http");
    get_tcp_pool(c, v, p);
    get_http_pool(c, v, p);
    weir_check_pop(c);
    return p;
}

static void connection_pool_free(struct weir_connection_pool *p)
{
    if (!p)
        return;
    if (p->tcp)
        free(p->tcp->keepalive);
    free(p->tcp);
    free(p->http);
    free(p);
}

/* ---- outlier detection ---- */

static struct weir_outlier_detection *get_outlier_detection(struct weir_check *c, const json_t *obj)
{
    static const char *const fields[] = {
        "consecutiveErrors",
        "consecutive5xxErrors",
        "consecutiveGatewayErrors",
        "consecutiveLocalOriginFailures",
        "splitExternalLocalOriginErrors",
        "interval",
        "baseEjectionTime",
        "maxEjectionPercent",
        "minHealthPercent",
        NULL,
    };
    const json_t *v = weir_check_get(c, obj, "outlierDetection", JSON_OBJECT, false);
    struct weir_outlier_detection *o;

    if (!v || !(o = weir_net_calloc(c, 1, sizeof(*o))))
        return NULL;
    o->consecutive_errors = WEIR_UNSET;
    o->consecutive_5xx_errors = WEIR_UNSET;
    o->consecutive_gateway_errors = WEIR_UNSET;
    o->consecutive_local_origin_failures = WEIR_UNSET;
    o->interval_ns = WEIR_UNSET;
    o->base_ejection_time_ns = WEIR_UNSET;
    o->max_ejection_percent = WEIR_UNSET;
    o->min_health_percent = WEIR_UNSET;
    weir_check_push_key(c, "outlierDetection");
    weir_check_fields(c, v, fields, NULL);
    if (weir_get_int(c, v, "consecutiveErrors", false, 0, INT32_MAX, &o->consecutive_errors)) {
        weir_check_push_key(c, "consecutiveErrors");
        weir_check_warning(c, json_object_get(v, "consecutiveErrors"),
                           "consecutiveErrors is deprecated, use consecutive5xxErrors or "
                           "consecutiveGatewayErrors");
        weir_check_pop(c);
    }
    weir_get_int(c, v, "consecutive5xxErrors", false, 0, UINT32_MAX, &o->consecutive_5xx_errors);
    weir_get_int(c, v, "consecutiveGatewayErrors", false, 0, UINT32_MAX,
                 &o->consecutive_gateway_errors);
    weir_get_int(c, v, "consecutiveLocalOriginFailures", false, 0, UINT32_MAX,
                 &o->consecutive_local_origin_failures);
    weir_get_bool(c, v, "splitExternalLocalOriginErrors", &o->split_external_local_origin_errors);
    weir_get_duration(c, v, "interval", false, 1000000, &o->interval_ns);
    weir_get_duration(c, v, "baseEjectionTime", false, 1000000, &o->base_ejection_time_ns);
    weir_get_int(c, v, "maxEjectionPercent", false, 0, 100, &o->max_ejection_percent);
    weir_get_int(c, v, "minHealthPercent", false, 0, 100, &o->min_health_percent);
    /* Local origin failures are only counted apart when the split is on. */
    if (o->consecutive_local_origin_failures > 0 && !o->split_external_local_origin_errors) {
        weir_check_push_key(c, "consecutiveLocalOriginFailures");
        weir_check_error(c, json_object_get(v, "consecutiveLocalOriginFailures"),
                         "needs splitExternalLocalOriginErrors: true");
        weir_check_pop(c);
    }
    weir_check_pop(c);
    return o;
}

/* ---- TLS ---- */

static struct weir_client_tls *get_tls(struct weir_check *c, const json_t *obj)
{
    static const char *const cert_fields[] = {"clientCertificate", "privateKey", "caCertificates",
                                              "caCrl", NULL};
    static const char *const istio_mutual_ignored[] = {
        "clientCertificate", "privateKey", "caCertificates", "credentialName", "caCrl", NULL};
    const json_t *v = weir_check_get(c, obj, "tls", JSON_OBJECT, false);
    struct weir_client_tls *t;
    int e;

    if (!v || !(t = weir_net_calloc(c, 1, sizeof(*t))))
        return NULL;
    weir_check_push_key(c, "tls");
    weir_check_fields(c, v, tls_fields, tls_unsupported);
    if (weir_net_get_enum(c, v, "mode", tls_mode_names, false, &e))
        t->mode = (enum weir_tls_mode)e;
    weir_get_string(c, v, "clientCertificate", false, &t->client_certificate);
    weir_get_string(c, v, "privateKey", false, &t->private_key);
    weir_get_string(c, v, "caCertificates", false, &t->ca_certificates);
    weir_get_string(c, v, "credentialName", false, &t->credential_name);
    weir_get_strings(c, v, "subjectAltNames", false, NULL, &t->subject_alt_names);
    weir_get_string(c, v, "sni", false, &t->sni);
    weir_net_get_tristate(c, v, "insecureSkipVerify", &t->insecure_skip_verify);
    weir_get_string(c, v, "caCrl", false, &t->ca_crl);

    if (t->mode == WEIR_TLS_SIMPLE || t->mode == WEIR_TLS_MUTUAL) {
        /* A credential holds the key pair and the CA: file paths next to it
         * would be two sources of truth. */
        if (t->credential_name && weir_net_count_present(v, cert_fields) > 0)
            weir_check_error(c, v,
                             "credentialName cannot be combined with clientCertificate, "
                             "privateKey, caCertificates or caCrl");
        if (t->mode == WEIR_TLS_MUTUAL && !t->credential_name) {
            for (int i = 0; i < 2; i++) {
                if (present(v, cert_fields[i]))
                    continue;
                weir_check_push_key(c, cert_fields[i]);
                weir_check_error(c, v, "required when mode is MUTUAL");
                weir_check_pop(c);
            }
        }
    } else if (t->mode == WEIR_TLS_ISTIO_MUTUAL) {
        for (int i = 0; istio_mutual_ignored[i]; i++) {
            if (!present(v, istio_mutual_ignored[i]))
                continue;
            weir_check_push_key(c, istio_mutual_ignored[i]);
            weir_check_warning(c, json_object_get(v, istio_mutual_ignored[i]),
                               "ignored when mode is ISTIO_MUTUAL (the mesh certificates are "
                               "used)");
            weir_check_pop(c);
        }
    }
    weir_check_pop(c);
    return t;
}

static void tls_free(struct weir_client_tls *t)
{
    if (!t)
        return;
    free(t->client_certificate);
    free(t->private_key);
    free(t->ca_certificates);
    free(t->credential_name);
    weir_strings_free(&t->subject_alt_names);
    free(t->sni);
    free(t->ca_crl);
    free(t);
}

/* ---- tunnel, PROXY protocol, retry budget ---- */

static void get_tunnel(struct weir_check *c, const json_t *obj, struct weir_traffic_policy *p)
{
    static const char *const fields[] = {"protocol", "targetHost", "targetPort", NULL};
    const json_t *v = weir_check_get(c, obj, "tunnel", JSON_OBJECT, false);
    struct weir_tunnel *t;

    if (!v || !(t = weir_net_calloc(c, 1, sizeof(*t))))
        return;
    p->tunnel = t;
    weir_check_push_key(c, "tunnel");
    weir_check_fields(c, v, fields, NULL);
    if (weir_get_string(c, v, "protocol", false, &t->protocol) &&
        strcmp(t->protocol, "CONNECT") != 0 && strcmp(t->protocol, "POST") != 0) {
        weir_check_push_key(c, "protocol");
        weir_check_error(c, json_object_get(v, "protocol"), "must be CONNECT or POST, got \"%s\"",
                         t->protocol);
        weir_check_pop(c);
    }
    if (weir_get_string(c, v, "targetHost", true, &t->target_host)) {
        const char *why = weir_valid_host(t->target_host);
        if (why || strchr(t->target_host, '*')) {
            weir_check_push_key(c, "targetHost");
            weir_check_error(c, json_object_get(v, "targetHost"),
                             "must be a host name or an IP address, got \"%s\"", t->target_host);
            weir_check_pop(c);
        }
    }
    weir_get_int(c, v, "targetPort", true, 1, 65535, &t->target_port);
    weir_check_pop(c);
}

static void get_proxy_protocol(struct weir_check *c, const json_t *obj,
                               struct weir_traffic_policy *p)
{
    static const char *const fields[] = {"version", NULL};
    static const char *const versions[] = {"V1", "V2", NULL};
    const json_t *v = weir_check_get(c, obj, "proxyProtocol", JSON_OBJECT, false);
    int e;

    if (!v)
        return;
    p->has_proxy_protocol = true;
    weir_check_push_key(c, "proxyProtocol");
    weir_check_fields(c, v, fields, NULL);
    if (weir_net_get_enum(c, v, "version", versions, false, &e))
        p->proxy_protocol_version = (enum weir_proxy_protocol_version)e;
    weir_check_pop(c);
}

static void get_retry_budget(struct weir_check *c, const json_t *obj, struct weir_traffic_policy *p)
{
    static const char *const fields[] = {"percent", "minRetryConcurrency", NULL};
    const json_t *v = weir_check_get(c, obj, "retryBudget", JSON_OBJECT, false);
    struct weir_retry_budget *b;

    if (!v || !(b = weir_net_calloc(c, 1, sizeof(*b))))
        return;
    p->retry_budget = b;
    b->percent = WEIR_UNSET;
    b->min_retry_concurrency = WEIR_UNSET;
    weir_check_push_key(c, "retryBudget");
    weir_check_fields(c, v, fields, NULL);
    weir_get_number(c, v, "percent", false, 0, 100, &b->percent);
    weir_get_int(c, v, "minRetryConcurrency", false, 0, UINT32_MAX, &b->min_retry_concurrency);
    weir_check_pop(c);
}

/* ---- the policy ---- */

static void get_port_level_settings(struct weir_check *c, const json_t *obj,
                                    struct weir_traffic_policy *p)
{
    static const char *const settings[] = {"loadBalancer", "connectionPool", "outlierDetection",
                                           "tls", NULL};
    const json_t *arr = weir_check_get(c, obj, "portLevelSettings", JSON_ARRAY, false);
    size_t i;
    json_t *item;

    if (!arr || !(p->port_level_settings =
                      weir_net_calloc(c, json_array_size(arr), sizeof(*p->port_level_settings))))
        return;
    p->n_port_level_settings = json_array_size(arr);
    weir_check_push_key(c, "portLevelSettings");
    json_array_foreach(arr, i, item)
    {
        struct weir_port_traffic_policy *pp = &p->port_level_settings[i];
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, item)) {
            weir_check_fields(c, item, port_policy_fields, NULL);
            if (weir_net_get_port_selector(c, item, "port", true, &pp->port)) {
                /* Two policies for one port: which applies would depend on order. */
                for (size_t j = 0; j < i; j++) {
                    if (p->port_level_settings[j].port != pp->port)
                        continue;
                    weir_check_push_key(c, "port");
                    weir_check_error(c, json_object_get(item, "port"),
                                     "port %lld is configured twice", (long long)pp->port);
                    weir_check_pop(c);
                    break;
                }
            }
            if (weir_net_count_present(item, settings) == 0)
                weir_check_error(c, item,
                                 "must set at least one of loadBalancer, "
                                 "connectionPool, outlierDetection or tls");
            pp->load_balancer = get_load_balancer(c, item);
            pp->connection_pool = get_connection_pool(c, item);
            pp->outlier_detection = get_outlier_detection(c, item);
            pp->tls = get_tls(c, item);
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

void weir_traffic_policy_get(struct weir_check *c, const json_t *obj, const char *key,
                             struct weir_traffic_policy **out)
{
    const json_t *v = weir_check_get(c, obj, key, JSON_OBJECT, false);
    struct weir_traffic_policy *p;

    *out = NULL;
    if (!v || !(p = weir_net_calloc(c, 1, sizeof(*p))))
        return;
    *out = p;
    weir_check_push_key(c, key);
    weir_check_fields(c, v, policy_fields, policy_unsupported);
    if (weir_net_count_present(v, policy_fields) == 0)
        weir_check_error(c, v, "must set at least one policy");
    if (present(v, "tunnel") && present(v, "proxyProtocol"))
        weir_check_error(c, v, "tunnel and proxyProtocol are mutually exclusive");
    p->load_balancer = get_load_balancer(c, v);
    p->connection_pool = get_connection_pool(c, v);
    p->outlier_detection = get_outlier_detection(c, v);
    p->tls = get_tls(c, v);
    get_port_level_settings(c, v, p);
    get_tunnel(c, v, p);
    get_proxy_protocol(c, v, p);
    get_retry_budget(c, v, p);
    weir_check_pop(c);
}

void weir_traffic_policy_free(struct weir_traffic_policy *p)
{
    if (!p)
        return;
    load_balancer_free(p->load_balancer);
    connection_pool_free(p->connection_pool);
    free(p->outlier_detection);
    tls_free(p->tls);
    for (size_t i = 0; i < p->n_port_level_settings; i++) {
        struct weir_port_traffic_policy *pp = &p->port_level_settings[i];
        load_balancer_free(pp->load_balancer);
        connection_pool_free(pp->connection_pool);
        free(pp->outlier_detection);
        tls_free(pp->tls);
    }
    free(p->port_level_settings);
    if (p->tunnel) {
        free(p->tunnel->protocol);
        free(p->tunnel->target_host);
        free(p->tunnel);
    }
    free(p->retry_budget);
    free(p);
}
