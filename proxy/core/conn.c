#include "core/conn.h"
#include "core/timer.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/worker.h"
#include "http1/server.h"
#include "http2/server.h"
#include "lb/balancer.h"
#include "route/router.h"
#include "tcp/tcp_proxy.h"
#include "tls/sni.h"
#include "upstream/pool.h"

#define H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24
#define METHOD_MAX     20
/* How much of a TLS client's first flight is read for its server name. */
#define SNI_INPUT_MAX (WP_SNI_HELLO_MAX + 1024)

struct wp_conn {
    struct wp_tracked track;
    struct wp_worker *w;
    struct bufferevent *bev;
    struct wp_downstream_info info;
    struct event *timer;
    bool declared_http;
    bool want_sni; /* a TLS port with tls routes: the ClientHello decides */
    bool done;
    struct wp_deferred dfree;
};

static void conn_free(struct wp_deferred *d)
{
    struct wp_conn *c = wp_container_of(d, struct wp_conn, dfree);
    if (c->timer)
        event_free(c->timer);
    if (c->bev)
        bufferevent_free(c->bev);
    free(c);
}

/* Ends detection: the bufferevent goes to whoever is given it, or is closed. */
static struct bufferevent *conn_finish(struct wp_conn *c)
{
    struct bufferevent *bev = c->bev;
    c->done = true;
    c->bev = NULL;
    if (c->timer)
        event_del(c->timer);
    wp_worker_untrack(c->w, &c->track);
    wp_worker_defer_free(c->w, &c->dfree, conn_free);
    if (bev)
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    return bev;
}

static void conn_abort(struct wp_conn *c)
{
    struct bufferevent *bev = conn_finish(c);
    if (bev)
        bufferevent_free(bev);
    WP_DEC(&c->w->stats, WP_C_DOWNSTREAM_CX_ACTIVE);
}

enum detect {
    DETECT_MORE,
    DETECT_HTTP1,
    DETECT_HTTP2,
    DETECT_OTHER,
};

static bool known_method(const char *p, size_t n)
{
#define XX(num, name, string) #string,
    static const char *const methods[] = {HTTP_METHOD_MAP(XX)};
#undef XX
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strlen(methods[i]) == n && memcmp(methods[i], p, n) == 0)
            return true;
    }
    return false;
}

static enum detect classify(const char *p, size_t n)
{
    size_t m = n < H2_PREFACE_LEN ? n : H2_PREFACE_LEN, i = 0;
    if (memcmp(p, H2_PREFACE, m) == 0)
        return n >= H2_PREFACE_LEN ? DETECT_HTTP2 : DETECT_MORE;
    while (i < n && i < METHOD_MAX && ((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '-'))
        i++;
    if (i == n)
        return n < METHOD_MAX ? DETECT_MORE : DETECT_OTHER;
    if (i == 0 || p[i] != ' ')
        return DETECT_OTHER;
    return known_method(p, i) ? DETECT_HTTP1 : DETECT_OTHER;
}

static void to_http1(struct wp_conn *c)
{
    struct wp_worker *w = c->w;
    struct wp_downstream_info info = c->info;
    struct bufferevent *bev = conn_finish(c);
    WP_INC(&w->stats, WP_C_DETECT_HTTP1);
    WP_DEC(&w->stats, WP_C_DOWNSTREAM_CX_ACTIVE); /* the HTTP codec counts it from here */
    wp_h1_server_start(w, bev, &info);
}

static void to_http2(struct wp_conn *c)
{
    struct wp_worker *w = c->w;
    struct wp_downstream_info info = c->info;
    struct bufferevent *bev = conn_finish(c);
    WP_INC(&w->stats, WP_C_DETECT_HTTP2);
    WP_DEC(&w->stats, WP_C_DOWNSTREAM_CX_ACTIVE); /* the HTTP/2 codec counts it from here */
    wp_h2_server_start(w, bev, &info);
}

static void to_tcp(struct wp_conn *c, bool h2)
{
    struct wp_worker *w = c->w;
    struct wp_downstream_info info = c->info;
    struct bufferevent *bev = conn_finish(c);
    WP_DEC(&w->stats, WP_C_DOWNSTREAM_CX_ACTIVE);
    WP_INC(&w->stats, WP_C_DETECT_TCP);
    wp_conn_start_tcp(w, bev, &info, h2);
}

/* Reads the server name of a ClientHello; anything else (no name, not TLS, too
 * long) goes to the TCP routes without one. */
static void detect_sni(struct wp_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t n = evbuffer_get_length(in), m = n < SNI_INPUT_MAX ? n : SNI_INPUT_MAX;
    const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)m);
    enum wp_sni_result r;
    if (!n || !p)
        return;
    r = wp_sni_parse(p, m, c->info.sni);
    if (r == WP_SNI_MORE && m < SNI_INPUT_MAX)
        return;
    if (r != WP_SNI_FOUND)
        c->info.sni[0] = '\0';
    to_tcp(c, false);
}

static void detect(struct wp_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t n = evbuffer_get_length(in);
    const char *p;
    if (c->want_sni) {
        detect_sni(c);
        return;
    }
    if (!n)
        return;
    p = (const char *)evbuffer_pullup(
        in, (ev_ssize_t)(n < METHOD_MAX + H2_PREFACE_LEN ? n : METHOD_MAX + H2_PREFACE_LEN));
    switch (classify(p, n < METHOD_MAX + H2_PREFACE_LEN ? n : METHOD_MAX + H2_PREFACE_LEN)) {
    case DETECT_MORE:
        return;
    case DETECT_HTTP1:
        to_http1(c);
        return;
    case DETECT_HTTP2:
        to_http2(c);
        return;
    case DETECT_OTHER:
        /* a port declared HTTP gets the HTTP codec's 400 instead of a tunnel */
        if (c->declared_http)
            to_http1(c);
        else
            to_tcp(c, false);
        return;
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    detect(arg);
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
    struct wp_conn *c = arg;
    if (events & BEV_EVENT_EOF) {
        detect(c);
        if (c->done)
            return;
        if (evbuffer_get_length(bufferevent_get_input(bev)) && !c->declared_http) {
            /* a short message and a half-close: still a TCP stream to relay */
            to_tcp(c, false);
            return;
        }
    }
    conn_abort(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_conn *c = arg;
    if (c->declared_http) {
        if (evbuffer_get_length(bufferevent_get_input(c->bev)))
            to_http1(c); /* a partial head: the HTTP codec answers 408 */
        else
            conn_abort(c);
        return;
    }
    /* nothing said within the detection window: a server-first protocol */
    to_tcp(c, false);
}

static void t_drain(struct wp_tracked *t)
{
    conn_abort(wp_container_of(t, struct wp_conn, track));
}

static const struct wp_tracked_ops tracked_ops = {t_drain, t_drain};

static bool is_opaque(enum weir_pc_protocol p)
{
    return p == WEIR_PC_PROTO_TCP || p == WEIR_PC_PROTO_TLS || p == WEIR_PC_PROTO_HTTPS;
}

void wp_conn_accept(struct wp_worker *w, int fd, struct wp_listener *li)
{
    static _Thread_local uint64_t next_id;
    struct wp_conn *c = calloc(1, sizeof(*c));
    struct wp_downstream_info *info;
    socklen_t len;
    int one = 1;
    struct wp_wsnap *ws;
    bool opaque = false;
    int64_t wait_ms;

    WP_INC(&w->stats, WP_C_DOWNSTREAM_CX_TOTAL);
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    info = &c->info;
    info->dir = li->dir;
    info->id = ((uint64_t)w->id << 48) | ++next_id;
    len = sizeof(info->peer);
    getpeername(fd, (struct sockaddr *)&info->peer, &len);
    len = sizeof(info->local);
    getsockname(fd, (struct sockaddr *)&info->local, &len);
    if (wp_original_dst(fd, &info->dst, &info->dst_from_local) < 0) {
        info->dst = info->local;
        info->dst_from_local = true;
    }
    /* not redirected: the destination is our own listener, never a place to connect */
    info->dst_is_listener = info->dst_from_local;
    wp_addr_ip((struct sockaddr *)&info->peer, info->peer_ip, sizeof(info->peer_ip));
    wp_addr_format((struct sockaddr *)&info->peer, info->peer_text, sizeof(info->peer_text));
    wp_addr_format((struct sockaddr *)&info->dst, info->dst_text, sizeof(info->dst_text));
    info->dst_port = wp_addr_port((struct sockaddr *)&info->dst);
    memcpy(info->dst_ip, wp_addr_bytes((struct sockaddr *)&info->dst, &info->dst_family),
           info->dst.ss_family == AF_INET6 ? 16 : 4);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(w->base, timer_cb, c);
    if (!c->bev || !c->timer) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->timer)
            event_free(c->timer);
        free(c);
        return;
    }
    WP_INC(&w->stats, WP_C_DOWNSTREAM_CX_ACTIVE);
    wp_worker_track(w, &c->track, &tracked_ops);
    if (w->draining) {
        conn_abort(c);
        return;
    }

    ws = wp_wsnap_acquire(w);
    if (!ws) {
        conn_abort(c);
        return;
    }
    wait_ms = w->proxy->opt.detect_timeout_ms;
    if (info->dir == WP_OUTBOUND) {
        const struct weir_pc_port *sp = NULL;
        wp_route_service_by_addr(&ws->snap->routes, info->dst_family, info->dst_ip, info->dst_port,
                                 &sp);
        if (sp) {
            opaque = is_opaque(sp->protocol);
            c->declared_http = !opaque;
            c->want_sni = opaque && sp->n_tls > 0;
        }
    } else {
        const struct wp_inbound_port *ip = wp_snapshot_inbound_port(ws->snap, info->dst_port);
        if (ip) {
            opaque = is_opaque(ip->protocol);
            c->declared_http = !opaque;
        }
    }
    if (c->declared_http || c->want_sni)
        wait_ms = ws->snap->cfg->proxy.limits.header_timeout_ms;
    wp_wsnap_release(ws);

    if (opaque && !c->want_sni) {
        to_tcp(c, false);
        return;
    }
    bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
    bufferevent_enable(c->bev, EV_READ);
    wp_timer_arm_ms(c->timer, wait_ms);
}

/* ---- TCP destinations ---- */

/* Picks an endpoint of a cluster for a TCP connection and fills t; -1 when none. */
static int tcp_pick(struct wp_wsnap *ws, size_t cluster_index,
                    const struct wp_downstream_info *info, struct wp_up_target *t,
                    struct wp_tcp_meta *meta)
{
    const struct weir_pc_cluster *c = &ws->snap->cfg->clusters[cluster_index];
    struct wp_lb_context ctx = {0};
    int ep;

    wp_up_target_cluster(t, c);
    meta->cluster = c->name;
    /* a tls/https cluster already carries the application's TLS: bytes pass through */
    if (ws->snap->tls && (!is_opaque(c->protocol) || c->protocol == WEIR_PC_PROTO_TCP))
        t->tls = ws->snap->tls[cluster_index];
    if (c->load_balancer.policy == WEIR_PC_LB_PASSTHROUGH) {
        if (info->dst_is_listener)
            return -1;
        t->addr = info->dst;
        t->addr_len = wp_addr_len((const struct sockaddr *)&info->dst);
        return 0;
    }
    if (!c->n_endpoints)
        return -1;
    meta->lb = wp_wsnap_lb(ws, cluster_index);
    if (!meta->lb)
        return -1;
    if (c->load_balancer.policy == WEIR_PC_LB_CONSISTENT_HASH &&
        c->load_balancer.hash_on == WEIR_PC_HASH_SOURCE_IP) {
        ctx.hash_key = info->peer_ip;
        ctx.hash_key_len = strlen(info->peer_ip);
    }
    ep = wp_lb_pick(meta->lb, &ctx);
    if (ep < 0 || (size_t)ep >= c->n_endpoints)
        return -1;
    wp_up_target_endpoint(t, &c->endpoints[ep]);
    wp_lb_request_start(meta->lb, ep);
    meta->endpoint = ep;
    return 0;
}

void wp_conn_start_tcp(struct wp_worker *w, struct bufferevent *down,
                       const struct wp_downstream_info *info, bool http2_preface)
{
    struct wp_wsnap *ws = wp_wsnap_acquire(w);
    struct wp_up_target t;
    struct wp_tcp_meta meta;
    struct sockaddr_storage src;
    const struct weir_proxy_config *cfg;
    struct wp_identity *id = &w->proxy->id;
    struct wp_route_source rsrc = {.labels = &id->labels, .ns = id->ns};
    const char *why = NULL;
    char inbound_cluster[32];
    char rl_reason[300];

    memset(&t, 0, sizeof(t));
    memset(&meta, 0, sizeof(meta));
    meta.endpoint = -1;
    t.connect_timeout_ms = 10000;
    if (!ws) {
        bufferevent_free(down);
        return;
    }
    cfg = ws->snap->cfg;
    meta.ws = ws;

    if (info->dir == WP_INBOUND) {
        if (ws->snap->inbound_refusal) {
            WP_INC(&w->stats, WP_C_INBOUND_REFUSED);
            why = ws->snap->inbound_refusal;
            goto refuse;
        }
        if (ws->snap->rl) {
            /* rateLimits: a connection takes a token of each inbound limit that can
             * judge it (by port and source address only); without one it is closed */
            struct wp_rl_request rq = {
                .port = info->dst_port, .source_ip = info->peer_ip, .source_principal = ""};
            const struct wp_rl_entry *e =
                wp_rl_check(ws->snap->rl, WEIR_PC_INBOUND, true, &rq, wp_now_us() / 1000);
            if (e) {
                snprintf(rl_reason, sizeof(rl_reason), "rate limited by %.250s", e->cfg->name);
                why = rl_reason;
                goto refuse;
            }
        }
        wp_up_target_inbound(&t, info->dst_port, &cfg->proxy.inbound_passthrough_source,
                             w->proxy->opt.passthrough_bind ? &src : NULL);
        if (wp_addr_equal((struct sockaddr *)&t.addr, (const struct sockaddr *)&info->local)) {
            why = "the inbound destination is this proxy's own listener";
            goto refuse;
        }
        snprintf(inbound_cluster, sizeof(inbound_cluster), "inbound|%u||", info->dst_port);
        t.cluster = meta.cluster = inbound_cluster;
        wp_tcp_proxy_start(w, down, info, &t, &meta);
        return;
    }

    {
        const struct weir_pc_port *sp = NULL;
        const struct weir_pc_service *svc = wp_route_service_by_addr(
            &ws->snap->routes, info->dst_family, info->dst_ip, info->dst_port, &sp);
        const struct weir_pc_destination *dests = NULL;
        size_t n_dests = 0;

        if (svc && sp) {
            meta.dest_service = svc->host;
            meta.dest_service_ns = svc->namespace_;
            if (sp->n_tcp || sp->n_tls) {
                /* tls routes first, by the ClientHello's server name, then tcp routes */
                int idx = wp_route_select_tls(sp->tls, sp->n_tls, info->sni[0] ? info->sni : NULL,
                                              info->dst_family, info->dst_ip, sp->number, &rsrc);
                if (idx >= 0) {
                    dests = sp->tls[idx].route;
                    n_dests = sp->tls[idx].n_route;
                } else if ((idx = wp_route_select_l4(sp->tcp, sp->n_tcp, info->dst_family,
                                                     info->dst_ip, sp->number, &rsrc)) >= 0) {
                    dests = sp->tcp[idx].route;
                    n_dests = sp->tcp[idx].n_route;
                }
            } else {
                for (size_t i = 0; i < sp->n_http && !dests; i++) {
                    if (sp->http[i].action == WEIR_PC_ACTION_ROUTE && sp->http[i].n_match == 0) {
                        dests = sp->http[i].route;
                        n_dests = sp->http[i].n_route;
                    }
                }
            }
            if (!dests) {
                why = "no TCP route matches";
                goto refuse;
            }
            int pick =
                wp_route_pick_destination(dests, n_dests, (uint32_t)wp_rand_below(&w->rng, 100));
            if (pick < 0 || tcp_pick(ws, dests[pick].cluster_index, info, &t, &meta) < 0) {
                why = "no healthy upstream";
                goto refuse;
            }
            wp_tcp_proxy_start(w, down, info, &t, &meta);
            return;
        }
        if (cfg->proxy.outbound_traffic_policy == WEIR_PC_OUTBOUND_REGISTRY_ONLY) {
            why = "destination not in the registry (registry_only)";
            goto refuse;
        }
        if (info->dst_is_listener) {
            why = "no service at the destination and no original destination to pass through to";
            goto refuse;
        }
        t.addr = info->dst;
        t.addr_len = wp_addr_len((const struct sockaddr *)&info->dst);
        t.cluster = meta.cluster = "PassthroughCluster";
        wp_tcp_proxy_start(w, down, info, &t, &meta);
        return;
    }

refuse:
    weir_log(WEIR_LOG_DEBUG, "tcp connection refused", "peer", info->peer_text, "destination",
             info->dst_text, "reason", why, NULL);
    (void)http2_preface;
    bufferevent_free(down);
    wp_wsnap_release(ws);
}
