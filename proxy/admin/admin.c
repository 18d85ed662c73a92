#include "admin/admin.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/proxy.h"
#include "core/worker.h"
#include "telemetry/stats.h"

/* A kubelet probe the injector moved to the health port: the proxy runs the
 * original against the application on the kubelet's behalf (WEIR_KUBE_APP_PROBERS,
 * Istio's ISTIO_KUBE_APP_PROBERS format). */
enum probe_kind {
    PROBE_HTTP,
    PROBE_TCP, /* tcpSocket; also gRPC and HTTPS probes until this proxy speaks them */
};

struct probe_header {
    char *name, *value;
};

struct prober {
    char *path; /* "/app-health/<container>/<readyz|livez|startupz>" */
    enum probe_kind kind;
    uint16_t port;
    char *http_path;
    struct probe_header *headers;
    size_t n_headers;
    int timeout_s;
};

struct wp_admin {
    struct wp_proxy *p;
    struct evhttp *admin, *health, *metrics;
    struct prober *probers;
    size_t n_probers;
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                  struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "content-type", ctype);
    evhttp_add_header(evhttp_request_get_output_headers(req), "cache-control", "no-cache");
    evhttp_send_reply(req, code, reason, body);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(b, text, strlen(text));
    reply(req, code, reason, "text/plain; charset=utf-8", b);
    evbuffer_free(b);
}

/* The path without query and the query's value for key (NULL when absent); the
 * caller frees the returned query list. */
static const char *path_of(struct evhttp_request *req, char *buf, size_t cap)
{
    const char *uri = evhttp_request_get_uri(req);
    size_t n = strcspn(uri, "?");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, uri, n);
    buf[n] = '\0';
    return buf;
}

static void put_json_string(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, "\"", 1);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            evbuffer_add_printf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            evbuffer_add_printf(b, "\\u%04x", (unsigned char)*s);
        else
            evbuffer_add(b, s, 1);
    }
    evbuffer_add(b, "\"", 1);
}

static void config_dump(struct wp_admin *a, struct evhttp_request *req)
{
    struct wp_snapshot *s = atomic_load(&a->p->current);
    struct evbuffer *b;
    char ts[40];
    struct tm tm;
    if (!s) {
        reply_text(req, 503, "Service Unavailable", "no configuration loaded\n");
        return;
    }
    b = evbuffer_new();
    gmtime_r(&s->loaded_at, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    evbuffer_add_printf(b, "{\"revision\":");
    put_json_string(b, s->cfg->revision);
    evbuffer_add_printf(b, ",\"generation\":%llu,\"loadedAt\":\"%s\",\"source\":",
                        (unsigned long long)s->generation, ts);
    put_json_string(b, s->path);
    evbuffer_add_printf(b, ",\"inboundPorts\":[");
    for (size_t i = 0; i < s->n_inbound_ports; i++) {
        evbuffer_add_printf(
            b, "%s{\"targetPort\":%u,\"port\":%u,\"protocol\":\"%s\",\"service\":", i ? "," : "",
            s->inbound_ports[i].target_port, s->inbound_ports[i].service_port,
            weir_pc_protocol_name(s->inbound_ports[i].protocol));
        put_json_string(b, s->inbound_ports[i].service_name);
        evbuffer_add(b, "}", 1);
    }
    evbuffer_add_printf(b, "],\"inboundRefusal\":");
    if (s->inbound_refusal)
        put_json_string(b, s->inbound_refusal);
    else
        evbuffer_add_printf(b, "null");
    /* the document exactly as loaded: valid JSON, since the loader accepted it */
    evbuffer_add_printf(b, ",\"config\":");
    evbuffer_add(b, s->raw, s->raw_len);
    evbuffer_add_printf(b, "}\n");
    reply(req, 200, "OK", "application/json", b);
    evbuffer_free(b);
}

static const char *health_name(enum weir_pc_health h)
{
    return h == WEIR_PC_HEALTHY ? "healthy" : h == WEIR_PC_DRAINING ? "draining" : "unhealthy";
}

static void clusters(struct wp_admin *a, struct evhttp_request *req, bool json)
{
    struct wp_snapshot *s = atomic_load(&a->p->current);
    struct evbuffer *b;
    if (!s) {
        reply_text(req, 503, "Service Unavailable", "no configuration loaded\n");
        return;
    }
    b = evbuffer_new();
    if (json)
        evbuffer_add_printf(b, "{\"clusters\":[");
    for (size_t i = 0; i < s->cfg->n_clusters; i++) {
        const struct weir_pc_cluster *c = &s->cfg->clusters[i];
        if (json) {
            evbuffer_add_printf(b, "%s{\"name\":", i ? "," : "");
            put_json_string(b, c->name);
            evbuffer_add_printf(b, ",\"endpoints\":[");
        }
        for (size_t e = 0; e < c->n_endpoints; e++) {
            const struct weir_pc_endpoint *ep = &c->endpoints[e];
            char addr[300];
            struct wp_endpoint_stats st;
            if (ep->ip.family == AF_INET6)
                snprintf(addr, sizeof(addr), "[%s]:%u", ep->address, ep->port);
            else
                snprintf(addr, sizeof(addr), "%s:%u", ep->address, ep->port);
            wp_stats_endpoint_sum(a->p->worker_stats, a->p->n_workers, c->name, addr, &st);
#define V(f) (unsigned long long)wp_stat_get(&st.f)
            if (json) {
                evbuffer_add_printf(b, "%s{\"address\":", e ? "," : "");
                put_json_string(b, addr);
                evbuffer_add_printf(
                    b,
                    ",\"health\":\"%s\",\"weight\":%u,\"cx_total\":%llu,\"cx_active\":%llu,"
                    "\"cx_connect_fail\":%llu,\"rq_total\":%llu,\"rq_success\":%llu,"
                    "\"rq_error\":%llu,\"rq_timeout\":%llu}",
                    health_name(ep->health), ep->weight, V(cx_total), V(cx_active),
                    V(cx_connect_fail), V(rq_total), V(rq_success), V(rq_error), V(rq_timeout));
            } else {
                evbuffer_add_printf(b,
                                    "%s::%s::health_flags::%s\n%s::%s::weight::%u\n"
                                    "%s::%s::cx_total::%llu\n%s::%s::cx_active::%llu\n"
                                    "%s::%s::cx_connect_fail::%llu\n%s::%s::rq_total::%llu\n"
                                    "%s::%s::rq_success::%llu\n%s::%s::rq_error::%llu\n"
                                    "%s::%s::rq_timeout::%llu\n",
                                    c->name, addr, health_name(ep->health), c->name, addr,
                                    ep->weight, c->name, addr, V(cx_total), c->name, addr,
                                    V(cx_active), c->name, addr, V(cx_connect_fail), c->name, addr,
                                    V(rq_total), c->name, addr, V(rq_success), c->name, addr,
                                    V(rq_error), c->name, addr, V(rq_timeout));
            }
#undef V
        }
        if (json)
            evbuffer_add_printf(b, "]}");
    }
    if (json)
        evbuffer_add_printf(b, "]}\n");
    reply(req, 200, "OK", json ? "application/json" : "text/plain; charset=utf-8", b);
    evbuffer_free(b);
}

static void stats(struct wp_admin *a, struct evhttp_request *req, bool prometheus)
{
    struct evbuffer *b = evbuffer_new();
    struct wp_snapshot *s = atomic_load(&a->p->current);
    if (prometheus)
        wp_stats_render_prometheus(b, a->p->worker_stats, a->p->n_workers, &a->p->gstats,
                                   s ? s->cfg->revision : NULL);
    else
        wp_stats_render_text(b, a->p->worker_stats, a->p->n_workers, &a->p->gstats);
    wp_stats_render_rate_limits(b, s ? s->rl : NULL, prometheus);
    reply(req, 200, "OK", prometheus ? "text/plain; version=0.0.4" : "text/plain; charset=utf-8",
          b);
    evbuffer_free(b);
}

static const char *query_value(struct evhttp_request *req, const char *key, struct evkeyvalq *q)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    TAILQ_INIT(q);
    if (!query || evhttp_parse_query_str(query, q) < 0)
        return NULL;
    return evhttp_find_header(q, key);
}

static void logging(struct evhttp_request *req)
{
    struct evkeyvalq q;
    const char *level = query_value(req, "level", &q);
    char buf[128];
    if (level) {
        enum weir_log_level l;
        if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
            reply_text(req, 405, "Method Not Allowed", "use POST to change the level\n");
            evhttp_clear_headers(&q);
            return;
        }
        if (weir_log_parse_level(level, &l) < 0) {
            reply_text(req, 400, "Bad Request",
                       "level must be one of debug, info, warn, error, off\n");
            evhttp_clear_headers(&q);
            return;
        }
        weir_log_set_level(l);
        weir_log(WEIR_LOG_INFO, "log level changed", "level", weir_log_level_name(l), NULL);
    }
    evhttp_clear_headers(&q);
    snprintf(buf, sizeof(buf), "active loggers:\n  weir-proxy: %s\n",
             weir_log_level_name(weir_log_get_level()));
    reply_text(req, 200, "OK", buf);
}

static void admin_cb(struct evhttp_request *req, void *arg)
{
    struct wp_admin *a = arg;
    char path[256];
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evkeyvalq q;
    const char *format;

    path_of(req, path, sizeof(path));
    if (strcmp(path, "/config_dump") == 0) {
        config_dump(a, req);
    } else if (strcmp(path, "/clusters") == 0) {
        format = query_value(req, "format", &q);
        clusters(a, req, format && strcmp(format, "json") == 0);
        evhttp_clear_headers(&q);
    } else if (strcmp(path, "/stats") == 0) {
        format = query_value(req, "format", &q);
        stats(a, req, format && strcmp(format, "prometheus") == 0);
        evhttp_clear_headers(&q);
    } else if (strcmp(path, "/stats/prometheus") == 0) {
        stats(a, req, true);
    } else if (strcmp(path, "/ready") == 0) {
        if (wp_proxy_ready(a->p))
            reply_text(req, 200, "OK", "LIVE\n");
        else
            reply_text(req, 503, "Service Unavailable",
                       atomic_load(&a->p->draining) ? "DRAINING\n" : "PRE_INITIALIZING\n");
    } else if (strcmp(path, "/logging") == 0) {
        logging(req);
    } else if (strcmp(path, "/drain_listeners") == 0 || strcmp(path, "/quitquitquit") == 0) {
        /* state changes only by POST, so a crawler or a stray GET cannot stop the proxy */
        if (cmd != EVHTTP_REQ_POST) {
            reply_text(req, 405, "Method Not Allowed", "use POST\n");
            return;
        }
        reply_text(req, 200, "OK", "OK\n");
        if (path[1] == 'd')
            wp_proxy_drain(a->p, false);
        else
            wp_proxy_quit(a->p);
    } else if (strcmp(path, "/") == 0 || strcmp(path, "/help") == 0) {
        reply_text(req, 200, "OK",
                   "weir-proxy admin commands:\n"
                   "  /clusters            upstream clusters and endpoint counters (?format=json)\n"
                   "  /config_dump         the config serving now\n"
                   "  /drain_listeners     POST: stop accepting connections\n"
                   "  /logging?level=L     POST: change the log level\n"
                   "  /quitquitquit        POST: exit\n"
                   "  /ready               200 when serving\n"
                   "  /stats               counters (?format=prometheus)\n");
    } else {
        reply_text(req, 404, "Not Found", "unknown admin path\n");
    }
}

/* ---- application probes ---- */

struct probe_run {
    struct evhttp_request *kubelet;
    struct bufferevent *bev;
    struct event *timer;
};

struct probe_http {
    struct evhttp_request *kubelet;
    struct evhttp_connection *conn;
};

static void probe_http_free(evutil_socket_t fd, short what, void *arg)
{
    struct probe_http *ph = arg;
    evhttp_connection_free(ph->conn);
    free(ph);
}

static void probe_http_done(struct evhttp_request *r, void *arg)
{
    struct probe_http *ph = arg;
    struct evhttp_request *kubelet = ph->kubelet;
    int code = r ? evhttp_request_get_response_code(r) : 0;
    struct timeval now = {0, 0};
    /* the connection is freed once libevent has left its own callback; it does not
     * free a failed one by itself */
    event_base_once(evhttp_connection_get_base(ph->conn), -1, EV_TIMEOUT, probe_http_free, ph,
                    &now);
    /* the kubelet reads 200-399 as success, like a direct probe */
    if (code >= 200 && code < 400)
        reply_text(kubelet, code, "OK", "");
    else
        reply_text(kubelet, code >= 400 && code < 600 ? code : 503, "Probe Failed",
                   code ? "the application answered an error\n"
                        : "the application did not answer\n");
}

static void probe_tcp_finish(struct probe_run *pr, bool ok)
{
    reply_text(pr->kubelet, ok ? 200 : 503, ok ? "OK" : "Probe Failed",
               ok ? "" : "cannot connect to the application\n");
    bufferevent_free(pr->bev);
    event_free(pr->timer);
    free(pr);
}

static void probe_tcp_event(struct bufferevent *bev, short events, void *arg)
{
    probe_tcp_finish(arg, (events & BEV_EVENT_CONNECTED) != 0);
}

static void probe_tcp_timeout(evutil_socket_t fd, short what, void *arg)
{
    probe_tcp_finish(arg, false);
}

static void run_probe(struct wp_admin *a, const struct prober *pb, struct evhttp_request *req)
{
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(pb->port);
    if (pb->kind == PROBE_HTTP) {
        struct probe_http *ph = calloc(1, sizeof(*ph));
        struct evhttp_connection *conn =
            ph ? evhttp_connection_base_new(a->p->base, NULL, "127.0.0.1", pb->port) : NULL;
        struct evhttp_request *r = conn ? evhttp_request_new(probe_http_done, ph) : NULL;
        char host[32];
        if (!r) {
            if (conn)
                evhttp_connection_free(conn);
            free(ph);
            reply_text(req, 503, "Probe Failed", "out of memory\n");
            return;
        }
        ph->kubelet = req;
        ph->conn = conn;
        evhttp_connection_set_timeout(conn, pb->timeout_s);
        snprintf(host, sizeof(host), "127.0.0.1:%u", pb->port);
        evhttp_add_header(evhttp_request_get_output_headers(r), "host", host);
        evhttp_add_header(evhttp_request_get_output_headers(r), "user-agent", "kube-probe/weir");
        for (size_t i = 0; i < pb->n_headers; i++)
            evhttp_add_header(evhttp_request_get_output_headers(r), pb->headers[i].name,
                              pb->headers[i].value);
        if (evhttp_make_request(conn, r, EVHTTP_REQ_GET, pb->http_path) < 0) {
            /* make_request frees r on failure */
            evhttp_connection_free(conn);
            free(ph);
            reply_text(req, 503, "Probe Failed", "cannot start the probe\n");
        }
        return;
    }
    {
        struct probe_run *pr = calloc(1, sizeof(*pr));
        struct timeval tv = {pb->timeout_s, 0};
        if (!pr || !(pr->bev = bufferevent_socket_new(a->p->base, -1, BEV_OPT_CLOSE_ON_FREE)) ||
            !(pr->timer = evtimer_new(a->p->base, probe_tcp_timeout, pr))) {
            if (pr && pr->bev)
                bufferevent_free(pr->bev);
            free(pr);
            reply_text(req, 503, "Probe Failed", "out of memory\n");
            return;
        }
        pr->kubelet = req;
        bufferevent_setcb(pr->bev, NULL, NULL, probe_tcp_event, pr);
        event_add(pr->timer, &tv);
        if (bufferevent_socket_connect(pr->bev, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
            event_del(pr->timer);
            event_active(pr->timer, EV_TIMEOUT, 0); /* answered from the loop */
        }
    }
}

static void free_probers(struct wp_admin *a)
{
    for (size_t i = 0; i < a->n_probers; i++) {
        struct prober *pb = &a->probers[i];
        free(pb->path);
        free(pb->http_path);
        for (size_t h = 0; h < pb->n_headers; h++) {
            free(pb->headers[h].name);
            free(pb->headers[h].value);
        }
        free(pb->headers);
    }
    free(a->probers);
    a->probers = NULL;
    a->n_probers = 0;
}

/* Reads WEIR_KUBE_APP_PROBERS. A malformed entry is logged and skipped: its probe
 * then fails visibly (404) instead of the proxy refusing to start. */
static void load_probers(struct wp_admin *a)
{
    const char *text = getenv("WEIR_KUBE_APP_PROBERS");
    json_error_t err;
    json_t *root, *v;
    const char *key;
    if (!text || !*text)
        return;
    root = json_loads(text, 0, &err);
    if (!json_is_object(root)) {
        weir_log(WEIR_LOG_ERROR, "WEIR_KUBE_APP_PROBERS is not a JSON object; app probes fail",
                 "error", err.text, NULL);
        json_decref(root);
        return;
    }
    a->probers = calloc(json_object_size(root), sizeof(*a->probers));
    if (!a->probers) {
        json_decref(root);
        return;
    }
    json_object_foreach(root, key, v)
    {
        struct prober *pb = &a->probers[a->n_probers];
        json_t *h = json_object_get(v, "httpGet");
        json_t *handler = h ? h : json_object_get(v, "tcpSocket");
        json_int_t port, timeout = json_integer_value(json_object_get(v, "timeoutSeconds"));
        if (!handler)
            handler = json_object_get(v, "grpc");
        port = json_integer_value(json_object_get(handler, "port"));
        if (strncmp(key, "/app-health/", 12) != 0 || !json_is_object(handler) || port < 1 ||
            port > 65535) {
            weir_log(WEIR_LOG_ERROR, "skipping a malformed app prober", "path", key, NULL);
            continue;
        }
        pb->path = strdup(key);
        pb->port = (uint16_t)port;
        pb->timeout_s = timeout > 0 && timeout < 3600 ? (int)timeout : 1;
        pb->kind = PROBE_TCP;
        if (h) {
            const char *scheme = json_string_value(json_object_get(h, "scheme"));
            const char *path = json_string_value(json_object_get(h, "path"));
            json_t *hdrs = json_object_get(h, "httpHeaders"), *hv;
            size_t i;
            if (scheme && strcasecmp(scheme, "HTTPS") == 0) {
                weir_log(WEIR_LOG_WARN,
                         "HTTPS app probe checked as a TCP connect (no TLS client "
                         "in this version)",
                         "path", key, NULL);
            } else {
                pb->kind = PROBE_HTTP;
                pb->http_path = strdup(path && *path ? path : "/");
                pb->headers = calloc(json_array_size(hdrs) + 1, sizeof(*pb->headers));
                json_array_foreach(hdrs, i, hv)
                {
                    const char *n = json_string_value(json_object_get(hv, "name"));
                    const char *val = json_string_value(json_object_get(hv, "value"));
                    if (n && val && pb->headers) {
                        pb->headers[pb->n_headers].name = strdup(n);
                        pb->headers[pb->n_headers].value = strdup(val);
                        pb->n_headers++;
                    }
                }
            }
        } else if (json_object_get(v, "grpc")) {
            weir_log(WEIR_LOG_WARN,
                     "gRPC app probe checked as a TCP connect (no HTTP/2 client "
                     "in this version)",
                     "path", key, NULL);
        }
        a->n_probers++;
    }
    json_decref(root);
}

static void health_cb(struct evhttp_request *req, void *arg)
{
    struct wp_admin *a = arg;
    char path[256];
    path_of(req, path, sizeof(path));
    for (size_t i = 0; i < a->n_probers; i++) {
        if (a->probers[i].path && strcmp(path, a->probers[i].path) == 0) {
            run_probe(a, &a->probers[i], req);
            return;
        }
    }
    if (strcmp(path, "/healthz/ready") == 0) {
        if (wp_proxy_ready(a->p))
            reply_text(req, 200, "OK", "");
        else
            reply_text(req, 503, "Service Unavailable", "not ready\n");
        return;
    }
    reply_text(req, 404, "Not Found", "not found\n");
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
    struct wp_admin *a = arg;
    char path[256];
    path_of(req, path, sizeof(path));
    if (strcmp(path, "/stats/prometheus") == 0 || strcmp(path, "/metrics") == 0) {
        stats(a, req, true);
        return;
    }
    reply_text(req, 404, "Not Found", "not found\n");
}

static struct evhttp *serve(struct event_base *base, const char *addr, uint16_t port,
                            void (*cb)(struct evhttp_request *, void *), void *arg)
{
    struct evhttp *h = evhttp_new(base);
    if (!h)
        return NULL;
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(h, cb, arg);
    evhttp_set_timeout(h, 30);
    evhttp_set_max_headers_size(h, 16384);
    evhttp_set_max_body_size(h, 65536);
    if (!evhttp_bind_socket_with_handle(h, addr, port)) {
        weir_logf(WEIR_LOG_ERROR, "cannot listen on %s:%u", addr, port);
        evhttp_free(h);
        return NULL;
    }
    return h;
}

struct wp_admin *wp_admin_start(struct wp_proxy *p, const char *admin_addr, uint16_t admin_port,
                                const char *bind_addr, uint16_t health_port, uint16_t metrics_port)
{
    struct wp_admin *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->p = p;
    load_probers(a);
    a->admin = serve(p->base, admin_addr, admin_port, admin_cb, a);
    a->health = serve(p->base, bind_addr, health_port, health_cb, a);
    a->metrics = serve(p->base, bind_addr, metrics_port, metrics_cb, a);
    if (!a->admin || !a->health || !a->metrics) {
        wp_admin_free(a);
        return NULL;
    }
    return a;
}

void wp_admin_free(struct wp_admin *a)
{
    if (!a)
        return;
    if (a->admin)
        evhttp_free(a->admin);
    if (a->health)
        evhttp_free(a->health);
    if (a->metrics)
        evhttp_free(a->metrics);
    free_probers(a);
    free(a);
}
