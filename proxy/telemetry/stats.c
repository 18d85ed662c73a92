#include "telemetry/stats.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit/limiter.h"

static const double dur_bounds[WP_DUR_BUCKETS] = {
    0.5,  1,    5,     10,    25,    50,     100,    250,     500,    1000,
    2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000};
static const double size_bounds[WP_SIZE_BUCKETS] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

static const char *const counter_names[WP_C__COUNT] = {
    [WP_C_DOWNSTREAM_CX_TOTAL] = "weir_proxy_downstream_cx_total",
    [WP_C_DOWNSTREAM_CX_ACTIVE] = "weir_proxy_downstream_cx_active",
    [WP_C_DOWNSTREAM_RQ_TOTAL] = "weir_proxy_downstream_rq_total",
    [WP_C_DOWNSTREAM_RQ_ACTIVE] = "weir_proxy_downstream_rq_active",
    [WP_C_DOWNSTREAM_RQ_4XX_LOCAL] = "weir_proxy_downstream_rq_local_4xx_total",
    [WP_C_DOWNSTREAM_RQ_5XX_LOCAL] = "weir_proxy_downstream_rq_local_5xx_total",
    [WP_C_DOWNSTREAM_PROTOCOL_ERROR] = "weir_proxy_downstream_protocol_errors_total",
    [WP_C_DOWNSTREAM_HEADER_TIMEOUT] = "weir_proxy_downstream_header_timeouts_total",
    [WP_C_DETECT_HTTP1] = "weir_proxy_protocol_detected_http1_total",
    [WP_C_DETECT_HTTP2] = "weir_proxy_protocol_detected_http2_total",
    [WP_C_DETECT_TCP] = "weir_proxy_protocol_detected_tcp_total",
    [WP_C_UPSTREAM_CX_TOTAL] = "weir_proxy_upstream_cx_total",
    [WP_C_UPSTREAM_CX_ACTIVE] = "weir_proxy_upstream_cx_active",
    [WP_C_UPSTREAM_CX_CONNECT_FAIL] = "weir_proxy_upstream_cx_connect_fail_total",
    [WP_C_UPSTREAM_CX_CONNECT_TIMEOUT] = "weir_proxy_upstream_cx_connect_timeout_total",
    [WP_C_UPSTREAM_RQ_TOTAL] = "weir_proxy_upstream_rq_total",
    [WP_C_UPSTREAM_RQ_REUSED] = "weir_proxy_upstream_rq_reused_cx_total",
    [WP_C_UPSTREAM_RQ_RETRY] = "weir_proxy_upstream_rq_retry_total",
    [WP_C_UPSTREAM_RQ_RETRY_OVERFLOW] = "weir_proxy_upstream_rq_retry_overflow_total",
    [WP_C_UPSTREAM_RQ_TIMEOUT] = "weir_proxy_upstream_rq_timeout_total",
    [WP_C_UPSTREAM_RQ_PER_TRY_TIMEOUT] = "weir_proxy_upstream_rq_per_try_timeout_total",
    [WP_C_UPSTREAM_PROTOCOL_ERROR] = "weir_proxy_upstream_protocol_errors_total",
    [WP_C_FAULT_DELAYS] = "weir_proxy_fault_delays_injected_total",
    [WP_C_FAULT_ABORTS] = "weir_proxy_fault_aborts_injected_total",
    [WP_C_MIRROR_REQUESTS] = "weir_proxy_mirror_requests_total",
    [WP_C_TCP_RELAYS_ACTIVE] = "weir_proxy_tcp_relays_active",
    [WP_C_UPGRADES] = "weir_proxy_upgrades_total",
    [WP_C_INBOUND_REFUSED] = "weir_proxy_inbound_refused_total",
    [WP_C_SERIES_OVERFLOW] = "weir_proxy_metric_series_overflow_total",
};

const char *wp_counter_name(enum wp_counter c)
{
    return counter_names[c];
}

static bool is_gauge(enum wp_counter c)
{
    return c == WP_C_DOWNSTREAM_CX_ACTIVE || c == WP_C_DOWNSTREAM_RQ_ACTIVE ||
           c == WP_C_UPSTREAM_CX_ACTIVE || c == WP_C_TCP_RELAYS_ACTIVE;
}

void wp_stats_init(struct wp_stats *s)
{
    memset(s, 0, sizeof(*s));
    wp_strmap_init(&s->http_index);
    wp_strmap_init(&s->tcp_index);
    wp_strmap_init(&s->ep_index);
    wp_strmap_init(&s->cl_index);
}

void wp_stats_free(struct wp_stats *s)
{
    struct wp_http_series *h = atomic_load(&s->http_head);
    struct wp_tcp_series *t = atomic_load(&s->tcp_head);
    struct wp_endpoint_stats *e = atomic_load(&s->ep_head);
    while (h) {
        struct wp_http_series *n = h->next;
        free(h->labels);
        free(h);
        h = n;
    }
    while (t) {
        struct wp_tcp_series *n = t->next;
        free(t->labels);
        free(t);
        t = n;
    }
    while (e) {
        struct wp_endpoint_stats *n = e->next;
        free(e->cluster);
        free(e->endpoint);
        free(e);
        e = n;
    }
    wp_strmap_free(&s->http_index, NULL);
    wp_strmap_free(&s->tcp_index, NULL);
    wp_strmap_free(&s->ep_index, NULL);
    for (struct wp_cluster_stats *c = atomic_load(&s->cl_head), *n; c; c = n) {
        n = c->next;
        free(c->cluster);
        free(c);
    }
    wp_strmap_free(&s->cl_index, NULL);
}

/* Appends a Prometheus label value with its escapes. */
static size_t put_value(char *out, size_t cap, size_t o, const char *v)
{
    if (!v || !*v)
        v = "unknown";
    for (; *v; v++) {
        const char *esc = NULL;
        if (*v == '\\')
            esc = "\\\\";
        else if (*v == '"')
            esc = "\\\"";
        else if (*v == '\n')
            esc = "\\n";
        if (esc) {
            for (; *esc; esc++) {
                if (o + 1 < cap)
                    out[o] = *esc;
                o++;
            }
        } else {
            if (o + 1 < cap)
                out[o] = *v;
            o++;
        }
    }
    return o;
}

static size_t put_raw(char *out, size_t cap, size_t o, const char *s)
{
    for (; *s; s++) {
        if (o + 1 < cap)
            out[o] = *s;
        o++;
    }
    return o;
}

/* Renders the labels once; the text is both the series key and its output form. */
static size_t render_labels(char *out, size_t cap, const struct wp_metric_labels *l, bool http)
{
    char code[16];
    size_t o = 0;
#define LBL(name, value)                                           \
    do {                                                           \
        o = put_raw(out, cap, o, o ? "," name "=\"" : name "=\""); \
        o = put_value(out, cap, o, value);                         \
        o = put_raw(out, cap, o, "\"");                            \
    } while (0)
    LBL("reporter", l->reporter);
    LBL("source_workload", l->source_workload);
    LBL("source_workload_namespace", l->source_workload_namespace);
    LBL("destination_service", l->destination_service);
    LBL("destination_workload", l->destination_workload);
    LBL("destination_workload_namespace", l->destination_workload_namespace);
    LBL("request_protocol", l->request_protocol);
    if (http) {
        snprintf(code, sizeof(code), "%d", l->response_code);
        LBL("response_code", code);
    }
    LBL("response_flags", l->response_flags && *l->response_flags ? l->response_flags : "-");
    LBL("connection_security_policy", l->connection_security_policy);
#undef LBL
    if (cap)
        out[o < cap ? o : cap - 1] = '\0';
    return o;
}

static void hist_add(struct wp_hist *h, const double *bounds, size_t n, double v, uint64_t sum_add)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    wp_stat_add(&h->buckets[i], 1);
    wp_stat_add(&h->sum, sum_add);
}

/* Appends one label value as it is, NUL-terminated, defaulted as put_value does. */
static size_t put_key(char *out, size_t cap, size_t o, const char *v, const char *dflt)
{
    size_t n;
    if (!v || !*v)
        v = dflt;
    n = strlen(v) + 1;
    if (o + n <= cap)
        memcpy(out + o, v, n);
    return o + n;
}

/* The lookup key of an HTTP series: the raw label values one after the other.
 * Rendering and escaping the Prometheus text and hashing it took about 6,000
 * instructions per request under callgrind; the text is rendered once, when a
 * series is created. */
static size_t http_key(char *out, size_t cap, const struct wp_metric_labels *l)
{
    size_t o = 0;
    int32_t code = l->response_code;
    o = put_key(out, cap, o, l->reporter, "unknown");
    o = put_key(out, cap, o, l->source_workload, "unknown");
    o = put_key(out, cap, o, l->source_workload_namespace, "unknown");
    o = put_key(out, cap, o, l->destination_service, "unknown");
    o = put_key(out, cap, o, l->destination_workload, "unknown");
    o = put_key(out, cap, o, l->destination_workload_namespace, "unknown");
    o = put_key(out, cap, o, l->request_protocol, "unknown");
    o = put_key(out, cap, o, l->response_flags, "-");
    o = put_key(out, cap, o, l->connection_security_policy, "unknown");
    if (o + sizeof(code) <= cap)
        memcpy(out + o, &code, sizeof(code));
    return o + sizeof(code);
}

void wp_stats_record_http(struct wp_stats *s, const struct wp_metric_labels *l,
                          uint64_t duration_us, uint64_t request_bytes, uint64_t response_bytes)
{
    char key[2048];
    size_t n = http_key(key, sizeof(key), l);
    struct wp_http_series *se;

    if (n > sizeof(key)) {
        WP_INC(s, WP_C_SERIES_OVERFLOW);
        return;
    }
    se = wp_strmap_get(&s->http_index, key, n);
    if (!se) {
        char text[2048];
        if (render_labels(text, sizeof(text), l, true) >= sizeof(text) ||
            s->n_http >= WP_STATS_MAX_SERIES || !(se = calloc(1, sizeof(*se)))) {
            WP_INC(s, WP_C_SERIES_OVERFLOW);
            return;
        }
        se->labels = strdup(text);
        if (!se->labels || wp_strmap_put(&s->http_index, key, n, se, NULL) < 0) {
            free(se->labels);
            free(se);
            WP_INC(s, WP_C_SERIES_OVERFLOW);
            return;
        }
        s->n_http++;
        se->next = atomic_load_explicit(&s->http_head, memory_order_relaxed);
        atomic_store_explicit(&s->http_head, se, memory_order_release);
    }
    wp_stat_add(&se->requests, 1);
    hist_add(&se->duration, dur_bounds, WP_DUR_BUCKETS, (double)duration_us / 1000.0, duration_us);
    hist_add(&se->request_bytes, size_bounds, WP_SIZE_BUCKETS, (double)request_bytes,
             request_bytes);
    hist_add(&se->response_bytes, size_bounds, WP_SIZE_BUCKETS, (double)response_bytes,
             response_bytes);
}

struct wp_tcp_series *wp_stats_tcp_series(struct wp_stats *s, const struct wp_metric_labels *l)
{
    char key[2048];
    size_t n = render_labels(key, sizeof(key), l, false);
    struct wp_tcp_series *se;

    if (n >= sizeof(key)) {
        WP_INC(s, WP_C_SERIES_OVERFLOW);
        return NULL;
    }
    se = wp_strmap_get(&s->tcp_index, key, n);
    if (se)
        return se;
    if (s->n_tcp >= WP_STATS_MAX_SERIES || !(se = calloc(1, sizeof(*se)))) {
        WP_INC(s, WP_C_SERIES_OVERFLOW);
        return NULL;
    }
    se->labels = strdup(key);
    if (!se->labels || wp_strmap_put(&s->tcp_index, key, n, se, NULL) < 0) {
        free(se->labels);
        free(se);
        WP_INC(s, WP_C_SERIES_OVERFLOW);
        return NULL;
    }
    s->n_tcp++;
    se->next = atomic_load_explicit(&s->tcp_head, memory_order_relaxed);
    atomic_store_explicit(&s->tcp_head, se, memory_order_release);
    return se;
}

struct wp_endpoint_stats *wp_stats_endpoint(struct wp_stats *s, const char *cluster,
                                            const char *endpoint)
{
    char key[1024];
    int n = snprintf(key, sizeof(key), "%s\x1f%s", cluster, endpoint);
    struct wp_endpoint_stats *e;
    if (n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    e = wp_strmap_get(&s->ep_index, key, (size_t)n);
    if (e)
        return e;
    if (s->n_ep >= WP_STATS_MAX_SERIES || !(e = calloc(1, sizeof(*e))))
        return NULL;
    e->cluster = strdup(cluster);
    e->endpoint = strdup(endpoint);
    if (!e->cluster || !e->endpoint || wp_strmap_put(&s->ep_index, key, (size_t)n, e, NULL) < 0) {
        free(e->cluster);
        free(e->endpoint);
        free(e);
        return NULL;
    }
    s->n_ep++;
    e->next = atomic_load_explicit(&s->ep_head, memory_order_relaxed);
    atomic_store_explicit(&s->ep_head, e, memory_order_release);
    return e;
}

struct wp_cluster_stats *wp_stats_cluster(struct wp_stats *s, const char *cluster)
{
    size_t len = strlen(cluster);
    struct wp_cluster_stats *c = wp_strmap_get(&s->cl_index, cluster, len);
    if (c)
        return c;
    if (s->n_cl >= WP_STATS_MAX_SERIES || !(c = calloc(1, sizeof(*c))))
        return NULL;
    if (!(c->cluster = strdup(cluster)) || wp_strmap_put(&s->cl_index, cluster, len, c, NULL) < 0) {
        free(c->cluster);
        free(c);
        return NULL;
    }
    s->n_cl++;
    c->next = atomic_load_explicit(&s->cl_head, memory_order_relaxed);
    atomic_store_explicit(&s->cl_head, c, memory_order_release);
    return c;
}

uint64_t wp_stats_sum(struct wp_stats *const *workers, size_t n_workers, enum wp_counter c)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n_workers; i++)
        v += wp_stat_get(&workers[i]->c[c]);
    return v;
}

bool wp_stats_endpoint_sum(struct wp_stats *const *workers, size_t n_workers, const char *cluster,
                           const char *endpoint, struct wp_endpoint_stats *out)
{
    bool found = false;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n_workers; i++) {
        for (struct wp_endpoint_stats *e =
                 atomic_load_explicit(&workers[i]->ep_head, memory_order_acquire);
             e; e = e->next) {
            if (strcmp(e->cluster, cluster) != 0 || strcmp(e->endpoint, endpoint) != 0)
                continue;
            found = true;
#define SUM(f) wp_stat_add(&out->f, wp_stat_get(&e->f))
            SUM(cx_total);
            SUM(cx_active);
            SUM(cx_connect_fail);
            SUM(rq_total);
            SUM(rq_success);
            SUM(rq_error);
            SUM(rq_timeout);
#undef SUM
        }
    }
    return found;
}

/* ---- scrape-time aggregation ---- */

struct agg_http {
    const char *labels;
    uint64_t requests;
    uint64_t dur[WP_DUR_BUCKETS + 1], dur_sum;
    uint64_t req[WP_SIZE_BUCKETS + 1], req_sum;
    uint64_t resp[WP_SIZE_BUCKETS + 1], resp_sum;
};

struct agg_tcp {
    const char *labels;
    uint64_t opened, closed, sent, received;
};

static int cmp_agg_http(const void *a, const void *b)
{
    return strcmp((*(struct agg_http *const *)a)->labels, (*(struct agg_http *const *)b)->labels);
}

static int cmp_agg_tcp(const void *a, const void *b)
{
    return strcmp((*(struct agg_tcp *const *)a)->labels, (*(struct agg_tcp *const *)b)->labels);
}

/* Collects the map's values into a sorted array so a scrape reads the same order
 * every time. */
static void **sorted_values(struct wp_strmap *m, int (*cmp)(const void *, const void *))
{
    void **arr = calloc(m->len + 1, sizeof(*arr));
    size_t i = 0, b;
    if (!arr)
        return NULL;
    for (struct wp_strmap_entry *e = wp_strmap_next(m, &b, NULL); e; e = wp_strmap_next(m, &b, e))
        arr[i++] = e->value;
    qsort(arr, i, sizeof(*arr), cmp);
    return arr;
}

static void render_hist(struct evbuffer *out, const char *name, const char *labels,
                        const uint64_t *buckets, const double *bounds, size_t n, double sum,
                        uint64_t count)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += buckets[i];
        evbuffer_add_printf(out, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, bounds[i],
                            (unsigned long long)cum);
    }
    cum += buckets[n];
    evbuffer_add_printf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
                        (unsigned long long)cum);
    evbuffer_add_printf(out, "%s_sum{%s} %.3f\n", name, labels, sum);
    evbuffer_add_printf(out, "%s_count{%s} %llu\n", name, labels, (unsigned long long)count);
}

static void render_istio(struct evbuffer *out, struct wp_stats *const *workers, size_t n_workers)
{
    struct wp_strmap hm, tm;
    void **arr;

    wp_strmap_init(&hm);
    wp_strmap_init(&tm);
    for (size_t w = 0; w < n_workers; w++) {
        for (struct wp_http_series *s =
                 atomic_load_explicit(&workers[w]->http_head, memory_order_acquire);
             s; s = s->next) {
            size_t len = strlen(s->labels);
            struct agg_http *a = wp_strmap_get(&hm, s->labels, len);
            if (!a) {
                if (!(a = calloc(1, sizeof(*a))))
                    continue;
                a->labels = s->labels;
                if (wp_strmap_put(&hm, s->labels, len, a, NULL) < 0) {
                    free(a);
                    continue;
                }
            }
            a->requests += wp_stat_get(&s->requests);
            for (size_t i = 0; i <= WP_DUR_BUCKETS; i++)
                a->dur[i] += wp_stat_get(&s->duration.buckets[i]);
            for (size_t i = 0; i <= WP_SIZE_BUCKETS; i++) {
                a->req[i] += wp_stat_get(&s->request_bytes.buckets[i]);
                a->resp[i] += wp_stat_get(&s->response_bytes.buckets[i]);
            }
            a->dur_sum += wp_stat_get(&s->duration.sum);
            a->req_sum += wp_stat_get(&s->request_bytes.sum);
            a->resp_sum += wp_stat_get(&s->response_bytes.sum);
        }
        for (struct wp_tcp_series *s =
                 atomic_load_explicit(&workers[w]->tcp_head, memory_order_acquire);
             s; s = s->next) {
            size_t len = strlen(s->labels);
            struct agg_tcp *a = wp_strmap_get(&tm, s->labels, len);
            if (!a) {
                if (!(a = calloc(1, sizeof(*a))))
                    continue;
                a->labels = s->labels;
                if (wp_strmap_put(&tm, s->labels, len, a, NULL) < 0) {
                    free(a);
                    continue;
                }
            }
            a->opened += wp_stat_get(&s->opened);
            a->closed += wp_stat_get(&s->closed);
            a->sent += wp_stat_get(&s->sent);
            a->received += wp_stat_get(&s->received);
        }
    }

    arr = sorted_values(&hm, cmp_agg_http);
    if (arr) {
        evbuffer_add_printf(out, "# TYPE istio_requests_total counter\n");
        for (size_t i = 0; arr[i]; i++) {
            struct agg_http *a = arr[i];
            evbuffer_add_printf(out, "istio_requests_total{%s} %llu\n", a->labels,
                                (unsigned long long)a->requests);
        }
        evbuffer_add_printf(out, "# TYPE istio_request_duration_milliseconds histogram\n");
        for (size_t i = 0; arr[i]; i++) {
            struct agg_http *a = arr[i];
            render_hist(out, "istio_request_duration_milliseconds", a->labels, a->dur, dur_bounds,
                        WP_DUR_BUCKETS, (double)a->dur_sum / 1000.0, a->requests);
        }
        evbuffer_add_printf(out, "# TYPE istio_request_bytes histogram\n");
        for (size_t i = 0; arr[i]; i++) {
            struct agg_http *a = arr[i];
            render_hist(out, "istio_request_bytes", a->labels, a->req, size_bounds, WP_SIZE_BUCKETS,
                        (double)a->req_sum, a->requests);
        }
        evbuffer_add_printf(out, "# TYPE istio_response_bytes histogram\n");
        for (size_t i = 0; arr[i]; i++) {
            struct agg_http *a = arr[i];
            render_hist(out, "istio_response_bytes", a->labels, a->resp, size_bounds,
                        WP_SIZE_BUCKETS, (double)a->resp_sum, a->requests);
        }
        free(arr);
    }
    arr = sorted_values(&tm, cmp_agg_tcp);
    if (arr) {
        static const struct {
            const char *name;
            size_t off;
        } fams[] = {
            {"istio_tcp_connections_opened_total", offsetof(struct agg_tcp, opened)},
            {"istio_tcp_connections_closed_total", offsetof(struct agg_tcp, closed)},
            {"istio_tcp_sent_bytes_total", offsetof(struct agg_tcp, sent)},
            {"istio_tcp_received_bytes_total", offsetof(struct agg_tcp, received)},
        };
        for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
            evbuffer_add_printf(out, "# TYPE %s counter\n", fams[f].name);
            for (size_t i = 0; arr[i]; i++) {
                struct agg_tcp *a = arr[i];
                uint64_t v = *(uint64_t *)((char *)a + fams[f].off);
                evbuffer_add_printf(out, "%s{%s} %llu\n", fams[f].name, a->labels,
                                    (unsigned long long)v);
            }
        }
        free(arr);
    }
    wp_strmap_free(&hm, free);
    wp_strmap_free(&tm, free);
}

struct agg_cluster {
    const char *cluster;
    uint64_t overflow, outlier_ejections;
};

static int cmp_agg_cluster(const void *a, const void *b)
{
    return strcmp((*(struct agg_cluster *const *)a)->cluster,
                  (*(struct agg_cluster *const *)b)->cluster);
}

/* weir_upstream_overflow_total{cluster} and weir_outlier_ejections_total{cluster},
 * summed over the workers. prom: Prometheus text, else the /stats form. */
static void render_clusters(struct evbuffer *out, struct wp_stats *const *workers, size_t n_workers,
                            bool prom)
{
    static const struct {
        const char *name;
        size_t off;
    } fams[] = {
        {"weir_upstream_overflow_total", offsetof(struct agg_cluster, overflow)},
        {"weir_outlier_ejections_total", offsetof(struct agg_cluster, outlier_ejections)},
    };
    struct wp_strmap m;
    void **arr;

    wp_strmap_init(&m);
    for (size_t w = 0; w < n_workers; w++) {
        for (struct wp_cluster_stats *c =
                 atomic_load_explicit(&workers[w]->cl_head, memory_order_acquire);
             c; c = c->next) {
            size_t len = strlen(c->cluster);
            struct agg_cluster *a = wp_strmap_get(&m, c->cluster, len);
            if (!a) {
                if (!(a = calloc(1, sizeof(*a))))
                    continue;
                a->cluster = c->cluster;
                if (wp_strmap_put(&m, c->cluster, len, a, NULL) < 0) {
                    free(a);
                    continue;
                }
            }
            a->overflow += wp_stat_get(&c->overflow);
            a->outlier_ejections += wp_stat_get(&c->outlier_ejections);
        }
    }
    arr = sorted_values(&m, cmp_agg_cluster);
    for (size_t f = 0; arr && f < sizeof(fams) / sizeof(fams[0]); f++) {
        if (prom)
            evbuffer_add_printf(out, "# TYPE %s counter\n", fams[f].name);
        for (size_t i = 0; arr[i]; i++) {
            struct agg_cluster *a = arr[i];
            char label[512];
            size_t o = put_value(label, sizeof(label), 0, a->cluster);
            uint64_t v = *(uint64_t *)((char *)a + fams[f].off);
            label[o < sizeof(label) ? o : sizeof(label) - 1] = '\0';
            evbuffer_add_printf(out,
                                prom ? "%s{cluster=\"%s\"} %llu\n" : "%s{cluster=\"%s\"}: %llu\n",
                                fams[f].name, label, (unsigned long long)v);
        }
    }
    free(arr);
    wp_strmap_free(&m, free);
}

void wp_stats_render_rate_limits(struct evbuffer *out, const struct wp_rl_set *set, bool prom)
{
    if (prom)
        evbuffer_add_printf(out, "# TYPE weir_proxy_rate_limited_total counter\n");
    for (size_t i = 0; set && i < set->n; i++) {
        char label[512];
        size_t o = put_value(label, sizeof(label), 0, set->items[i].cfg->name);
        label[o < sizeof(label) ? o : sizeof(label) - 1] = '\0';
        evbuffer_add_printf(out, prom ? "%s{limit=\"%s\"} %llu\n" : "%s{limit=\"%s\"}: %llu\n",
                            "weir_proxy_rate_limited_total", label,
                            (unsigned long long)atomic_load_explicit(&set->items[i].st->limited,
                                                                     memory_order_relaxed));
    }
}

void wp_stats_render_prometheus(struct evbuffer *out, struct wp_stats *const *workers,
                                size_t n_workers, const struct wp_global_stats *g,
                                const char *revision)
{
    for (int c = 0; c < WP_C__COUNT; c++) {
        evbuffer_add_printf(out, "# TYPE %s %s\n%s %llu\n", counter_names[c],
                            is_gauge(c) ? "gauge" : "counter", counter_names[c],
                            (unsigned long long)wp_stats_sum(workers, n_workers, c));
    }
    evbuffer_add_printf(
        out, "# TYPE weir_config_reloads_total counter\nweir_config_reloads_total %llu\n",
        (unsigned long long)atomic_load(&g->config_reloads));
    evbuffer_add_printf(out,
                        "# TYPE weir_config_reload_failures_total counter\n"
                        "weir_config_reload_failures_total %llu\n",
                        (unsigned long long)atomic_load(&g->config_reload_failures));
    evbuffer_add_printf(
        out,
        "# TYPE weir_proxy_config_info gauge\nweir_proxy_config_info{revision=\"%s\","
        "generation=\"%llu\"} 1\n",
        revision ? revision : "none", (unsigned long long)atomic_load(&g->config_generation));
    evbuffer_add_printf(out,
                        "# TYPE weir_proxy_config_loaded_timestamp_seconds gauge\n"
                        "weir_proxy_config_loaded_timestamp_seconds %llu\n",
                        (unsigned long long)atomic_load(&g->config_loaded_at));
    render_clusters(out, workers, n_workers, true);
    render_istio(out, workers, n_workers);
}

void wp_stats_render_text(struct evbuffer *out, struct wp_stats *const *workers, size_t n_workers,
                          const struct wp_global_stats *g)
{
    for (int c = 0; c < WP_C__COUNT; c++)
        evbuffer_add_printf(out, "%s: %llu\n", counter_names[c],
                            (unsigned long long)wp_stats_sum(workers, n_workers, c));
    evbuffer_add_printf(out, "weir_config_reloads_total: %llu\n",
                        (unsigned long long)atomic_load(&g->config_reloads));
    evbuffer_add_printf(out, "weir_config_reload_failures_total: %llu\n",
                        (unsigned long long)atomic_load(&g->config_reload_failures));
    render_clusters(out, workers, n_workers, false);
    render_istio(out, workers, n_workers);
}
