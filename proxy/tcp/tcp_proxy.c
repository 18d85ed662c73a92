#include "tcp/tcp_proxy.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/worker.h"
#include "http/stream.h"
#include "lb/balancer.h"
#include "telemetry/access_log.h"
#include "tls/client.h"

/* Istio's default TCP idle timeout: a connection without a byte either way for an
 * hour is closed. */
#define WP_TCP_IDLE_MS 3600000

struct wp_tcp {
    struct wp_tracked track;
    struct wp_worker *w;
    struct bufferevent *down, *up;
    struct wp_upconn *uc;
    struct wp_downstream_info info;
    struct wp_wsnap *ws;
    struct wp_lb *lb;
    int endpoint;
    char cluster[300];
    char dest_service[300];
    char dest_ns[64];
    char upstream_host[WP_ADDR_STRLEN];
    struct wp_tcp_series *series;
    bool connected, closed, metrics;
    bool down_eof, up_eof, down_shut, up_shut;
    bool down_paused, up_paused;
    uint64_t rx, tx;
    unsigned flags;
    struct event *idle;
    uint64_t start_us;
    int64_t start_unix_us;
    struct wp_deferred dfree;
};

static void tcp_free(struct wp_deferred *d)
{
    struct wp_tcp *t = wp_container_of(d, struct wp_tcp, dfree);
    if (t->idle)
        event_free(t->idle);
    free(t);
}

static void finish(struct wp_tcp *t)
{
    if (t->closed)
        return;
    t->closed = true;
    wp_worker_untrack(t->w, &t->track);
    WP_DEC(&t->w->stats, WP_C_TCP_RELAYS_ACTIVE);
    WP_DEC(&t->w->stats, WP_C_DOWNSTREAM_CX_ACTIVE);
    if (t->idle)
        event_del(t->idle);
    if (t->uc) {
        wp_upconn_close(t->uc);
        t->uc = NULL;
    }
    if (t->down)
        bufferevent_free(t->down);
    if (t->up)
        bufferevent_free(t->up);
    t->down = t->up = NULL;
    if (t->series)
        wp_stat_add(&t->series->closed, 1);
    if (t->lb && t->endpoint >= 0)
        wp_lb_request_end(t->lb, t->endpoint);
    if (t->metrics && t->ws) {
        char flags[64], remote[WP_ADDR_STRLEN], local[WP_ADDR_STRLEN];
        struct wp_access_entry e = {0};
        wp_rflags_format(t->flags, flags, sizeof(flags));
        wp_addr_format((struct sockaddr *)&t->info.peer, remote, sizeof(remote));
        wp_addr_format((struct sockaddr *)&t->info.local, local, sizeof(local));
        e.start_unix_us = t->start_unix_us;
        e.protocol = "TCP";
        e.response_flags = flags;
        e.bytes_received = t->rx;
        e.bytes_sent = t->tx;
        e.duration_ms = (wp_now_us() - t->start_us) / 1000;
        e.upstream_service_time_ms = -1;
        e.upstream_host = t->upstream_host[0] ? t->upstream_host : NULL;
        e.upstream_cluster = t->cluster[0] ? t->cluster : NULL;
        e.downstream_remote = remote;
        e.downstream_local = local;
        wp_access_log_write(t->ws->snap->cfg, &e);
    }
    wp_wsnap_release(t->ws);
    t->ws = NULL;
    wp_worker_defer_free(t->w, &t->dfree, tcp_free);
}

static void touch(struct wp_tcp *t)
{
    struct timeval tv = {WP_TCP_IDLE_MS / 1000, 0};
    event_add(t->idle, &tv);
}

static void check_done(struct wp_tcp *t)
{
    if (t->closed)
        return;
    if (t->down_eof && t->up_eof && evbuffer_get_length(bufferevent_get_output(t->down)) == 0 &&
        evbuffer_get_length(bufferevent_get_output(t->up)) == 0)
        finish(t);
}

/* Moves what `from` read to `to`, pausing `from` when `to` holds too much. */
static void relay(struct wp_tcp *t, struct bufferevent *from, struct bufferevent *to)
{
    struct evbuffer *in = bufferevent_get_input(from);
    size_t n = evbuffer_get_length(in);
    if (!n)
        return;
    evbuffer_add_buffer(bufferevent_get_output(to), in);
    if (from == t->down) {
        t->rx += n;
        if (t->series)
            wp_stat_add(&t->series->received, n);
    } else {
        t->tx += n;
        if (t->series)
            wp_stat_add(&t->series->sent, n);
    }
    touch(t);
    if (evbuffer_get_length(bufferevent_get_output(to)) > WP_TCP_BUFFER) {
        bufferevent_disable(from, EV_READ);
        if (from == t->down)
            t->down_paused = true;
        else
            t->up_paused = true;
    }
}

/* Passes an EOF on once everything before it is out. */
static void pass_eof(struct wp_tcp *t, struct bufferevent *to, bool *shut)
{
    if (*shut || !to || evbuffer_get_length(bufferevent_get_output(to)) != 0)
        return;
    *shut = true;
    if (!wp_tls_shutdown(to)) /* TLS: close_notify, the socket stays open for the reply */
        shutdown(bufferevent_getfd(to), SHUT_WR);
}

static void down_read_cb(struct bufferevent *bev, void *arg)
{
    struct wp_tcp *t = arg;
    if (!t->connected) {
        /* held in the input buffer until the upstream is there */
        if (evbuffer_get_length(bufferevent_get_input(bev)) > WP_TCP_BUFFER) {
            bufferevent_disable(bev, EV_READ);
            t->down_paused = true;
        }
        return;
    }
    relay(t, t->down, t->up);
}

static void up_read_cb(struct bufferevent *bev, void *arg)
{
    struct wp_tcp *t = arg;
    relay(t, t->up, t->down);
}

static void up_write_cb(struct bufferevent *bev, void *arg)
{
    struct wp_tcp *t = arg;
    if (t->down_paused && !t->down_eof) {
        t->down_paused = false;
        bufferevent_enable(t->down, EV_READ);
    }
    if (t->down_eof)
        pass_eof(t, t->up, &t->up_shut);
    check_done(t);
}

static void down_write_cb(struct bufferevent *bev, void *arg)
{
    struct wp_tcp *t = arg;
    if (t->up_paused && !t->up_eof && t->up) {
        t->up_paused = false;
        bufferevent_enable(t->up, EV_READ);
    }
    if (t->up_eof)
        pass_eof(t, t->down, &t->down_shut);
    check_done(t);
}

static void down_event_cb(struct bufferevent *bev, short events, void *arg)
{
    struct wp_tcp *t = arg;
    if (events & BEV_EVENT_EOF) {
        t->down_eof = true;
        if (t->connected) {
            relay(t, t->down, t->up);
            pass_eof(t, t->up, &t->up_shut);
            check_done(t);
        }
        return;
    }
    t->flags |= WP_RF_DC;
    finish(t);
}

static void up_event_cb(struct bufferevent *bev, short events, void *arg)
{
    struct wp_tcp *t = arg;
    if (events & BEV_EVENT_EOF) {
        t->up_eof = true;
        relay(t, t->up, t->down);
        pass_eof(t, t->down, &t->down_shut);
        check_done(t);
        return;
    }
    t->flags |= WP_RF_UC;
    finish(t);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    finish(arg);
}

static void t_drain(struct wp_tracked *tr)
{
    /* a TCP stream has no request boundary to stop at: it runs until the drain
     * deadline closes it */
}

static void t_close(struct wp_tracked *tr)
{
    finish(wp_container_of(tr, struct wp_tcp, track));
}

static const struct wp_tracked_ops tracked_ops = {t_drain, t_close};

static void start_relay(struct wp_tcp *t)
{
    t->connected = true;
    bufferevent_setcb(t->down, down_read_cb, down_write_cb, down_event_cb, t);
    bufferevent_setcb(t->up, up_read_cb, up_write_cb, up_event_cb, t);
    bufferevent_setwatermark(t->down, EV_READ, 0, 0);
    bufferevent_setwatermark(t->up, EV_READ, 0, 0);
    bufferevent_setwatermark(t->down, EV_WRITE, 0, 0);
    bufferevent_setwatermark(t->up, EV_WRITE, 0, 0);
    bufferevent_enable(t->up, EV_READ | EV_WRITE);
    bufferevent_enable(t->down, EV_WRITE);
    if (!t->down_eof) {
        t->down_paused = false;
        bufferevent_enable(t->down, EV_READ);
    }
    relay(t, t->down, t->up);
    if (t->down_eof)
        pass_eof(t, t->up, &t->up_shut);
    touch(t);
}

static void pool_connected(void *owner)
{
    struct wp_tcp *t = owner;
    t->up = wp_upconn_detach(t->uc);
    t->uc = NULL;
    start_relay(t);
}

static void pool_failed(void *owner, enum wp_up_fail why)
{
    struct wp_tcp *t = owner;
    t->uc = NULL;
    t->flags |= WP_RF_UF;
    weir_log(WEIR_LOG_DEBUG, "tcp upstream connect failed", "upstream", t->upstream_host, NULL);
    finish(t);
}

static const struct wp_upconn_handler handler = {pool_connected, pool_failed};

static struct wp_tcp *tcp_new(struct wp_worker *w, struct bufferevent *down,
                              const struct wp_downstream_info *info)
{
    struct wp_tcp *t = calloc(1, sizeof(*t));
    struct timespec ts;
    if (!t)
        return NULL;
    t->w = w;
    t->down = down;
    t->info = *info;
    t->endpoint = -1;
    t->idle = evtimer_new(w->base, idle_cb, t);
    if (!t->idle) {
        free(t);
        return NULL;
    }
    t->start_us = wp_now_us();
    clock_gettime(CLOCK_REALTIME, &ts);
    t->start_unix_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    WP_INC(&w->stats, WP_C_TCP_RELAYS_ACTIVE);
    WP_INC(&w->stats, WP_C_DOWNSTREAM_CX_ACTIVE);
    wp_worker_track(w, &t->track, &tracked_ops);
    return t;
}

void wp_tcp_proxy_start(struct wp_worker *w, struct bufferevent *down,
                        const struct wp_downstream_info *info, const struct wp_up_target *target,
                        const struct wp_tcp_meta *meta)
{
    struct wp_tcp *t = tcp_new(w, down, info);
    struct wp_identity *id = &w->proxy->id;
    struct wp_metric_labels l = {0};

    if (!t) {
        bufferevent_free(down);
        if (meta->lb && meta->endpoint >= 0)
            wp_lb_request_end(meta->lb, meta->endpoint);
        wp_wsnap_release(meta->ws);
        return;
    }
    t->metrics = true;
    t->ws = meta->ws;
    t->lb = meta->lb;
    t->endpoint = meta->endpoint;
    snprintf(t->cluster, sizeof(t->cluster), "%s", meta->cluster ? meta->cluster : "");
    snprintf(t->dest_service, sizeof(t->dest_service), "%s",
             meta->dest_service ? meta->dest_service : "");
    snprintf(t->dest_ns, sizeof(t->dest_ns), "%s",
             meta->dest_service_ns ? meta->dest_service_ns : "");
    if (target->host)
        snprintf(t->upstream_host, sizeof(t->upstream_host), "%s:%u", target->host, target->port);
    else
        wp_addr_format((const struct sockaddr *)&target->addr, t->upstream_host,
                       sizeof(t->upstream_host));

    if (info->dir == WP_INBOUND) {
        l.reporter = "destination";
        l.source_workload = "unknown";
        l.source_workload_namespace = "unknown";
        l.destination_workload = id->workload_name;
        l.destination_workload_namespace = id->ns;
        l.connection_security_policy = "none";
    } else {
        l.reporter = "source";
        l.source_workload = id->workload_name;
        l.source_workload_namespace = id->ns;
        l.destination_workload = "unknown";
        l.destination_workload_namespace = t->dest_ns[0] ? t->dest_ns : NULL;
        l.connection_security_policy = "unknown";
    }
    l.destination_service = t->dest_service[0] ? t->dest_service : NULL;
    l.request_protocol = "tcp";
    l.response_flags = "-";
    t->series = wp_stats_tcp_series(&w->stats, &l);
    if (t->series)
        wp_stat_add(&t->series->opened, 1);

    bufferevent_setcb(down, down_read_cb, NULL, down_event_cb, t);
    bufferevent_setwatermark(down, EV_READ, 0, WP_TCP_BUFFER);
    bufferevent_enable(down, EV_READ);
    t->uc = wp_pool_acquire(w, target, &handler, t);
    if (!t->uc) {
        t->flags |= WP_RF_UF;
        finish(t);
    }
}

void wp_tcp_splice(struct wp_worker *w, struct bufferevent *down, struct bufferevent *up,
                   struct evbuffer *leftover, const struct wp_downstream_info *info)
{
    struct wp_tcp *t = tcp_new(w, down, info);
    if (!t) {
        bufferevent_free(down);
        bufferevent_free(up);
        evbuffer_free(leftover);
        return;
    }
    t->up = up;
    evbuffer_add_buffer(bufferevent_get_output(down), leftover);
    evbuffer_free(leftover);
    start_relay(t);
}
