#include "http/mirror.h"
#include "core/timer.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/worker.h"
#include "http/stream.h"
#include "http1/client.h"
#include "http2/client.h"
#include "lb/balancer.h"
#include "upstream/pool.h"

#define WP_MIRROR_DEFAULT_TIMEOUT_MS 10000

struct wp_mirror {
    struct wp_tracked track;
    struct wp_worker *w;
    struct wp_wsnap *ws;
    struct wp_upstream *up;
    struct evbuffer *body;
    struct wp_lb *lb;
    int endpoint;
    struct event *timer;
    bool done;
    struct wp_deferred dfree;
};

static void mirror_free(struct wp_deferred *d)
{
    struct wp_mirror *m = wp_container_of(d, struct wp_mirror, dfree);
    if (m->timer)
        event_free(m->timer);
    if (m->body)
        evbuffer_free(m->body);
    wp_wsnap_release(m->ws);
    free(m);
}

static void finish(struct wp_mirror *m)
{
    if (m->done)
        return;
    m->done = true;
    if (m->up) {
        struct wp_upstream *u = m->up;
        m->up = NULL;
        u->ops->abort(u);
    }
    if (m->lb && m->endpoint >= 0)
        wp_lb_request_end(m->lb, m->endpoint);
    if (m->timer)
        event_del(m->timer);
    wp_worker_untrack(m->w, &m->track);
    wp_worker_defer_free(m->w, &m->dfree, mirror_free);
}

/* Calls fn with every contiguous piece of buf, however many chains it has. */
static void each_piece(struct evbuffer *buf, void (*fn)(void *arg, const char *p, size_t n),
                       void *arg)
{
    struct evbuffer_ptr pos;
    struct evbuffer_iovec v;
    if (!buf || evbuffer_ptr_set(buf, &pos, 0, EVBUFFER_PTR_SET) < 0)
        return;
    while (evbuffer_peek(buf, -1, &pos, &v, 1) > 0 && v.iov_len > 0) {
        fn(arg, v.iov_base, v.iov_len);
        if (evbuffer_ptr_set(buf, &pos, v.iov_len, EVBUFFER_PTR_ADD) < 0)
            break;
    }
}

/* ---- the sink: everything the shadow upstream says is dropped ---- */

static void send_piece(void *arg, const char *p, size_t n)
{
    struct wp_mirror *m = arg;
    if (m->up)
        m->up->ops->send_data(m->up, p, n);
}

static void s_ready(void *owner)
{
    struct wp_mirror *m = owner;
    if (!m->up)
        return;
    each_piece(m->body, send_piece, m);
    if (m->up)
        m->up->ops->send_end(m->up);
}

static void s_head(void *owner, struct wp_response_head *resp)
{
    wp_response_head_free(resp);
}

static void s_data(void *owner, const char *data, size_t len)
{
}

static void s_end(void *owner)
{
    struct wp_mirror *m = owner;
    m->up = NULL; /* the connection went back to the pool */
    finish(m);
}

static void s_failed(void *owner, enum wp_up_error e, bool reused)
{
    struct wp_mirror *m = owner;
    m->up = NULL;
    finish(m);
}

static void s_drained(void *owner)
{
}

static void s_upgrade(void *owner, struct bufferevent *bev, struct evbuffer *leftover,
                      struct wp_response_head *resp)
{
    struct wp_mirror *m = owner;
    bufferevent_free(bev);
    evbuffer_free(leftover);
    wp_response_head_free(resp);
    m->up = NULL;
    finish(m);
}

static const struct wp_up_sink sink = {s_ready,  s_head,    s_data,    s_end,
                                       s_failed, s_drained, s_upgrade, NULL};

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    finish(arg);
}

static void t_drain(struct wp_tracked *t)
{
}

static void t_close(struct wp_tracked *t)
{
    finish(wp_container_of(t, struct wp_mirror, track));
}

static const struct wp_tracked_ops tracked_ops = {t_drain, t_close};

/* "host-shadow" or "host-shadow:port", as Envoy names a shadow's authority. */
static char *shadow_authority(const char *auth)
{
    const char *colon = auth[0] == '[' ? strstr(auth, "]:") : strrchr(auth, ':');
    size_t host_len = colon ? (size_t)(colon - auth) + (auth[0] == '[' ? 1 : 0) : strlen(auth);
    size_t n = strlen(auth) + 8;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%.*s-shadow%s", (int)host_len, auth, auth + host_len);
    return out;
}

static int copy_head(struct wp_request_head *dst, const struct wp_request_head *src,
                     size_t body_len)
{
    wp_request_head_init(dst);
    dst->method = strdup(src->method);
    dst->path = strdup(src->path);
    dst->scheme = strdup(src->scheme ? src->scheme : "http");
    dst->authority = shadow_authority(src->authority ? src->authority : "");
    dst->version_major = 1;
    dst->version_minor = 1;
    dst->keep_alive = true;
    /* the whole body is known: a length, never chunks */
    dst->content_length =
        body_len || src->content_length >= 0 || src->chunked ? (int64_t)body_len : -1;
    if (!dst->method || !dst->path || !dst->scheme || !dst->authority ||
        wp_headers_copy(&dst->headers, &src->headers) < 0)
        return -1;
    return 0;
}

static void copy_piece(void *arg, const char *p, size_t n)
{
    evbuffer_add(arg, p, n);
}

static void start_one(struct wp_worker *w, struct wp_wsnap *ws, const struct weir_pc_http_route *r,
                      const struct weir_pc_mirror *mi, const struct wp_request_head *req,
                      struct evbuffer *body)
{
    const struct weir_pc_cluster *c = mi->cluster;
    const struct weir_proxy_config *cfg = ws->snap->cfg;
    struct wp_mirror *m;
    struct wp_request_head head;
    struct wp_up_target t;
    struct wp_lb_context ctx = {0};
    size_t body_len = body ? evbuffer_get_length(body) : 0;
    int64_t timeout = r->timeout_ms > 0 ? r->timeout_ms : WP_MIRROR_DEFAULT_TIMEOUT_MS;
    int ep;

    if (c->n_endpoints == 0 || c->load_balancer.policy == WEIR_PC_LB_PASSTHROUGH ||
        c->tls.mode == WEIR_PC_TLS_SIMPLE || c->tls.mode == WEIR_PC_TLS_MUTUAL)
        return; /* nowhere a shadow can go */
    if (!(m = calloc(1, sizeof(*m))))
        return;
    m->w = w;
    m->endpoint = -1;
    m->timer = evtimer_new(w->base, timer_cb, m);
    m->body = body_len ? evbuffer_new() : NULL;
    if (!m->timer || (body_len && !m->body)) {
        if (m->timer)
            event_free(m->timer);
        if (m->body)
            evbuffer_free(m->body);
        free(m);
        return;
    }
    if (body_len) {
        each_piece(body, copy_piece, m->body);
        if (evbuffer_get_length(m->body) != body_len) {
            evbuffer_free(m->body);
            event_free(m->timer);
            free(m);
            return;
        }
    }
    ws->refs++; /* the cluster and its balancer must outlive the shadow */
    m->ws = ws;
    wp_worker_track(w, &m->track, &tracked_ops);
    m->lb = wp_wsnap_lb(ws, mi->cluster_index);
    ep = m->lb ? wp_lb_pick(m->lb, &ctx) : -1;
    if (ep < 0 || copy_head(&head, req, body_len) < 0) {
        if (ep >= 0)
            wp_request_head_free(&head);
        finish(m);
        return;
    }
    m->endpoint = ep;
    wp_lb_request_start(m->lb, ep);
    memset(&t, 0, sizeof(t));
    wp_up_target_cluster(&t, c);
    wp_up_target_endpoint(&t, &c->endpoints[ep]);
    t.poolable = true;
    WP_INC(&w->stats, WP_C_MIRROR_REQUESTS);
    /* mirrors are never made of upgrade requests: the cluster's protocol decides */
    m->up = (wp_cluster_speaks_h2(c) ? wp_h2_client_start : wp_h1_client_start)(
        w, &sink, m, &t, &head, (size_t)cfg->proxy.limits.max_header_bytes,
        (size_t)cfg->proxy.limits.max_headers);
    wp_request_head_free(&head);
    if (!m->up) {
        finish(m);
        return;
    }
    wp_timer_arm_ms(m->timer, timeout);
}

void wp_mirror_start(struct wp_worker *w, struct wp_wsnap *ws, const struct weir_pc_http_route *r,
                     const struct wp_request_head *req, struct evbuffer *body)
{
    for (size_t i = 0; i < r->n_mirrors; i++) {
        const struct weir_pc_mirror *mi = &r->mirrors[i];
        if (wp_rand_below(&w->rng, WEIR_PC_PPM_MAX) < mi->ppm)
            start_one(w, ws, r, mi, req, body);
    }
}
