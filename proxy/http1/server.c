#include "http1/server.h"
#include "core/timer.h"

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
#include "http1/parse.h"
#include "tcp/tcp_proxy.h"
#include "telemetry/access_log.h"

/* Input read ahead of the parser, and response bytes queued for a slow client
 * before the upstream is paused. */
#define WP_DOWN_READ_HIGH  (64 * 1024)
#define WP_DOWN_WRITE_HIGH (256 * 1024)
/* How long late request bytes are read and dropped after the last response. */
#define WP_LINGER_MS 2000

enum wp_h1s_state {
    WP_H1S_IDLE,
    WP_H1S_ACTIVE,
    WP_H1S_CLOSING,
    WP_H1S_CLOSED,
};

enum wp_framing {
    WP_FR_LENGTH,
    WP_FR_CHUNKED,
    WP_FR_CLOSE, /* HTTP/1.0 client, unknown length: the close ends the body */
    WP_FR_NONE,  /* HEAD, 1xx, 204, 304, 101 */
};

struct wp_h1_server {
    struct wp_tracked track;
    struct wp_worker *w;
    struct bufferevent *bev;
    struct wp_downstream_info info;
    struct wp_h1_parser parser;
    struct wp_stream *stream;
    enum wp_h1s_state state;
    struct event *timer;
    struct event *flush; /* writes queued response bytes, see out_flush() */
    int64_t header_timeout_ms;
    uint64_t header_deadline_us; /* IDLE: when the next head must have arrived */
    enum wp_framing framing;
    bool close_after;
    bool request_done;
    bool response_done;
    bool head_request;
    bool client_keep_alive;
    bool client_http10;
    bool paused_by_stream;
    bool out_blocked;
    bool lingering;
    bool head_sent;
    bool flush_pending;
    struct wp_headers trailers; /* response trailers, written with the last chunk */
    uint64_t requests;
    struct wp_deferred dfree;
};

static const char *h1s_state_name(enum wp_h1s_state st)
{
    static const char *const names[] = {"idle", "active", "closing", "closed"};
    return names[st];
}

static void set_state(struct wp_h1_server *c, enum wp_h1s_state st)
{
    weir_logf(WEIR_LOG_DEBUG, "h1 conn %llu: %s -> %s", (unsigned long long)c->info.id,
              h1s_state_name(c->state), h1s_state_name(st));
    c->state = st;
}

static void conn_free(struct wp_deferred *d)
{
    struct wp_h1_server *c = wp_container_of(d, struct wp_h1_server, dfree);
    if (c->stream)
        wp_stream_free(c->stream);
    wp_h1_parser_free(&c->parser);
    wp_headers_free(&c->trailers);
    if (c->timer)
        event_free(c->timer);
    if (c->flush)
        event_free(c->flush);
    if (c->bev)
        bufferevent_free(c->bev);
    WP_DEC(&c->w->stats, WP_C_DOWNSTREAM_CX_ACTIVE);
    free(c);
}

/* Closes at once. The stream, if any, is told the client is gone unless it ended. */
static void conn_close(struct wp_h1_server *c)
{
    if (c->state == WP_H1S_CLOSED)
        return;
    set_state(c, WP_H1S_CLOSED);
    wp_worker_untrack(c->w, &c->track);
    if (c->timer)
        event_del(c->timer);
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->stream)
        wp_stream_downstream_gone(c->stream);
    wp_worker_defer_free(c->w, &c->dfree, conn_free);
}

static void process(struct wp_h1_server *c);

static void kick(struct wp_h1_server *c)
{
    /* runs process() from the loop, never from inside a stream call */
    if (c->bev)
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* ---- lingering close ---- */

static void linger_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void linger_event_cb(struct bufferevent *bev, short events, void *arg)
{
    conn_close(arg);
}

static void start_linger(struct wp_h1_server *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->lingering = true;
    evbuffer_drain(in, evbuffer_get_length(in));
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    bufferevent_setcb(c->bev, linger_read_cb, NULL, linger_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    bufferevent_enable(c->bev, EV_READ);
    wp_timer_arm_ms(c->timer, WP_LINGER_MS);
}

static void closing_write_cb(struct bufferevent *bev, void *arg)
{
    struct wp_h1_server *c = arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && !c->lingering)
        start_linger(c);
}

static void closing_event_cb(struct bufferevent *bev, short events, void *arg)
{
    conn_close(arg);
}

/* Flushes what is queued, then closes gracefully. */
static void start_closing(struct wp_h1_server *c)
{
    if (c->state == WP_H1S_CLOSING || c->state == WP_H1S_CLOSED)
        return;
    set_state(c, WP_H1S_CLOSING);
    event_del(c->timer);
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setcb(c->bev, NULL, closing_write_cb, closing_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_enable(c->bev, EV_WRITE);
    wp_timer_arm_ms(c->timer, WP_LINGER_MS * 5); /* a client that never reads does not hold us */
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        start_linger(c);
}

/* ---- replies the codec makes on its own ---- */

static int write_sink(void *sink, const char *data, size_t len)
{
    return evbuffer_add(sink, data, len);
}

static void protocol_error(struct wp_h1_server *c)
{
    int status = c->parser.error_status ? c->parser.error_status : 400;
    const char *why = c->parser.error ? c->parser.error : "malformed request";
    char body[256];
    struct wp_response_head resp;
    struct wp_wsnap *ws;
    int n;

    WP_INC(&c->w->stats, WP_C_DOWNSTREAM_PROTOCOL_ERROR);
    weir_log(WEIR_LOG_DEBUG, "bad request", "peer", c->info.peer_text, "error", why, NULL);
    if (c->stream) {
        /* a framing error inside the body: answer 400 if the response has not begun */
        wp_stream_downstream_gone(c->stream);
        if (c->head_sent) {
            if (c->response_done)
                start_closing(c);
            else
                conn_close(c);
            return;
        }
    }
    n = snprintf(body, sizeof(body), "weir: %s\n", why);
    wp_response_head_init(&resp);
    resp.status = status;
    resp.content_length = n;
    resp.keep_alive = false;
    wp_headers_add_str(&resp.headers, "content-type", "text/plain");
    wp_h1_write_response_head(&resp, write_sink, bufferevent_get_output(c->bev));
    evbuffer_add(bufferevent_get_output(c->bev), body, (size_t)n);
    wp_response_head_free(&resp);
    if (status >= 500)
        WP_INC(&c->w->stats, WP_C_DOWNSTREAM_RQ_5XX_LOCAL);
    else
        WP_INC(&c->w->stats, WP_C_DOWNSTREAM_RQ_4XX_LOCAL);

    ws = wp_wsnap_acquire(c->w);
    if (ws) {
        char remote[WP_ADDR_STRLEN], local[WP_ADDR_STRLEN];
        struct timespec ts;
        struct wp_access_entry e = {0};
        clock_gettime(CLOCK_REALTIME, &ts);
        wp_addr_format((struct sockaddr *)&c->info.peer, remote, sizeof(remote));
        wp_addr_format((struct sockaddr *)&c->info.local, local, sizeof(local));
        e.start_unix_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        e.protocol = "HTTP/1.1";
        e.response_code = status;
        e.response_flags = "DPE";
        e.details = why;
        e.bytes_sent = (uint64_t)n;
        e.upstream_service_time_ms = -1;
        e.downstream_remote = remote;
        e.downstream_local = local;
        wp_access_log_write(ws->snap->cfg, &e);
        wp_wsnap_release(ws);
    }
    start_closing(c);
}

/* ---- stream -> codec ---- */

static void out_unblock_check(struct wp_h1_server *c)
{
    if (c->out_blocked &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) <= WP_DOWN_WRITE_HIGH / 2) {
        c->out_blocked = false;
        if (c->stream)
            wp_stream_downstream_blocked(c->stream, false);
    }
}

/* Response bytes are written to the socket from here, at once, while libevent's
 * write event stays off; only what the socket does not take is left to libevent
 * (EV_WRITE on until the output is empty again, see write_cb). libevent alone adds
 * and removes an EPOLLOUT interest around every response: two epoll_ctl calls and
 * one more loop iteration per request under strace. */
static void out_flush(struct wp_h1_server *c)
{
    struct evbuffer *out;
    c->flush_pending = false;
    if (c->state == WP_H1S_CLOSED || !c->bev || (bufferevent_get_enabled(c->bev) & EV_WRITE))
        return;
    out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) == 0)
        return;
    /* libevent keeps the start of a socket bufferevent's output frozen outside
     * its own write callback; the same unfreeze, write, freeze here. Without a
     * socket libevent writes it all. */
    if (bufferevent_getfd(c->bev) >= 0) {
        evbuffer_unfreeze(out, 1);
        evbuffer_write(out, bufferevent_getfd(c->bev));
        evbuffer_freeze(out, 1);
    }
    if (evbuffer_get_length(out) > 0)
        bufferevent_enable(c->bev, EV_WRITE); /* full, or an error libevent reports */
    else
        out_unblock_check(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    out_flush(arg);
}

/* Bytes were queued: they go out once the current callback is over, together with
 * whatever else it queues. */
static void out_queued(struct wp_h1_server *c)
{
    if (!c->flush_pending && !(bufferevent_get_enabled(c->bev) & EV_WRITE)) {
        c->flush_pending = true;
        event_active(c->flush, EV_TIMEOUT, 1);
    }
}

static void out_check(struct wp_h1_server *c)
{
    size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));
    if (!c->out_blocked && queued > WP_DOWN_WRITE_HIGH && c->stream) {
        c->out_blocked = true;
        wp_stream_downstream_blocked(c->stream, true);
    }
}

static void d_send_head(void *ctx, struct wp_response_head *resp, bool end)
{
    struct wp_h1_server *c = ctx;
    if (c->state != WP_H1S_ACTIVE || !c->bev)
        return;
    if (!c->client_keep_alive || c->client_http10 || c->w->draining)
        c->close_after = true;
    if (resp->status == 101) {
        c->framing = WP_FR_NONE;
    } else if (c->head_request || resp->no_body || resp->status == 204 || resp->status == 304) {
        c->framing = WP_FR_NONE;
        resp->chunked = false;
    } else if (resp->content_length >= 0) {
        c->framing = WP_FR_LENGTH;
        resp->chunked = false;
    } else if (!c->client_http10) {
        c->framing = WP_FR_CHUNKED;
        resp->chunked = true;
    } else {
        c->framing = WP_FR_CLOSE;
        resp->chunked = false;
        c->close_after = true;
    }
    resp->keep_alive = !c->close_after;
    c->head_sent = true;
    wp_h1_write_response_head(resp, write_sink, bufferevent_get_output(c->bev));
    out_queued(c);
    out_check(c);
}

static void d_send_data(void *ctx, const char *data, size_t len)
{
    struct wp_h1_server *c = ctx;
    struct evbuffer *out;
    if (c->state != WP_H1S_ACTIVE || !c->bev || !len)
        return;
    out = bufferevent_get_output(c->bev);
    switch (c->framing) {
    case WP_FR_CHUNKED:
        evbuffer_add_printf(out, "%zx\r\n", len);
        evbuffer_add(out, data, len);
        evbuffer_add(out, "\r\n", 2);
        break;
    case WP_FR_LENGTH:
    case WP_FR_CLOSE:
        evbuffer_add(out, data, len);
        break;
    case WP_FR_NONE:
        break;
    }
    out_queued(c);
    out_check(c);
}

static void d_send_end(void *ctx)
{
    struct wp_h1_server *c = ctx;
    if (c->state != WP_H1S_ACTIVE || !c->bev)
        return;
    if (c->framing == WP_FR_CHUNKED)
        wp_h1_write_last_chunk(&c->trailers, write_sink, bufferevent_get_output(c->bev));
    wp_headers_free(&c->trailers);
    c->response_done = true;
    out_flush(c);
    kick(c);
}

/* Trailers go out with the last chunk; a response framed by its length has no
 * place for them and they are dropped. */
static void d_send_trailers(void *ctx, struct wp_headers *trailers)
{
    struct wp_h1_server *c = ctx;
    if (c->state != WP_H1S_ACTIVE || !c->bev || c->framing != WP_FR_CHUNKED)
        return;
    wp_headers_free(&c->trailers);
    if (wp_headers_copy(&c->trailers, trailers) < 0)
        wp_headers_free(&c->trailers);
}

static void d_send_continue(void *ctx)
{
    struct wp_h1_server *c = ctx;
    if (c->state == WP_H1S_ACTIVE && c->bev) {
        evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
        out_queued(c);
    }
}

static void d_pause_request(void *ctx, bool pause)
{
    struct wp_h1_server *c = ctx;
    if (c->state != WP_H1S_ACTIVE || !c->bev)
        return;
    c->paused_by_stream = pause;
    if (pause) {
        bufferevent_disable(c->bev, EV_READ);
    } else {
        bufferevent_enable(c->bev, EV_READ);
        kick(c);
    }
}

static void d_reset(void *ctx)
{
    struct wp_h1_server *c = ctx;
    /* the stream has ended itself; closing without a terminal chunk or with a short
     * body is how HTTP/1.1 tells the client the response broke */
    if (c->state == WP_H1S_CLOSED)
        return;
    set_state(c, WP_H1S_CLOSED);
    wp_worker_untrack(c->w, &c->track);
    event_del(c->timer);
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    wp_worker_defer_free(c->w, &c->dfree, conn_free);
}

static void d_upgrade(void *ctx, struct bufferevent *up, struct evbuffer *leftover)
{
    struct wp_h1_server *c = ctx;
    struct bufferevent *down = c->bev;
    if (c->state != WP_H1S_ACTIVE || !down) {
        bufferevent_free(up);
        evbuffer_free(leftover);
        return;
    }
    /* the 101 head is queued on down; the splice sends it, then the leftover bytes */
    c->bev = NULL;
    set_state(c, WP_H1S_CLOSED);
    wp_worker_untrack(c->w, &c->track);
    event_del(c->timer);
    wp_worker_defer_free(c->w, &c->dfree, conn_free);
    wp_tcp_splice(c->w, down, up, leftover, &c->info);
}

static const struct wp_downstream_ops down_ops = {
    d_send_head,     d_send_data, d_send_end, d_send_continue,
    d_pause_request, d_reset,     d_upgrade,  d_send_trailers,
};

/* ---- parser -> stream ---- */

static int on_head(void *owner)
{
    struct wp_h1_server *c = owner;
    struct wp_request_head req = c->parser.req;

    wp_request_head_init(&c->parser.req);
    /* the header timer stays: firing while ACTIVE it does nothing (arm_header_timer) */
    c->requests++;
    set_state(c, WP_H1S_ACTIVE);
    c->request_done = false;
    c->response_done = false;
    c->head_sent = false;
    c->framing = WP_FR_NONE;
    c->head_request = strcmp(req.method, "HEAD") == 0;
    c->client_keep_alive = req.keep_alive;
    c->client_http10 = req.version_minor == 0;
    c->stream = wp_stream_new(c->w, &c->info, &down_ops, c);
    if (!c->stream) {
        wp_request_head_free(&req);
        return -1;
    }
    wp_stream_request_head(c->stream, &req);
    wp_request_head_free(&req);
    return c->state == WP_H1S_ACTIVE ? 0 : -1;
}

static int on_body(void *owner, const char *data, size_t len)
{
    struct wp_h1_server *c = owner;
    if (c->stream)
        wp_stream_request_data(c->stream, data, len);
    return c->state == WP_H1S_ACTIVE ? 0 : -1;
}

static int on_complete(void *owner)
{
    return 0; /* see process() */
}

static const struct wp_h1_callbacks callbacks = {on_head, on_body, on_complete};

/* ---- connection loop ---- */

/* The header timeout from now. A timer still pending fires earlier than that and
 * timer_cb() re-arms it for what is left, so a keep-alive connection costs no
 * event_del() and event_add() per request (560 instructions under callgrind). */
static void arm_header_timer(struct wp_h1_server *c)
{
    c->header_deadline_us = wp_now_us() + (uint64_t)c->header_timeout_ms * 1000;
    if (!event_pending(c->timer, EV_TIMEOUT, NULL))
        wp_timer_arm_ms(c->timer, c->header_timeout_ms);
}

static void end_exchange(struct wp_h1_server *c)
{
    wp_stream_free(c->stream);
    c->stream = NULL;
    c->out_blocked = false;
    if (c->close_after || c->w->draining || wp_h1_parser_upgraded(&c->parser)) {
        start_closing(c);
        return;
    }
    wp_h1_parser_next(&c->parser);
    set_state(c, WP_H1S_IDLE);
    arm_header_timer(c);
    bufferevent_enable(c->bev, EV_READ);
}

static void process(struct wp_h1_server *c)
{
    for (;;) {
        struct evbuffer *in;
        struct evbuffer_iovec v;
        ssize_t n;

        if (c->state == WP_H1S_CLOSING || c->state == WP_H1S_CLOSED || !c->bev)
            return;
        if (c->state == WP_H1S_ACTIVE) {
            if (c->response_done && c->request_done) {
                end_exchange(c);
                continue;
            }
            if (c->response_done) {
                /* answered before the body arrived: the rest is dropped by closing */
                start_closing(c);
                return;
            }
            if (c->request_done || c->paused_by_stream)
                return;
        }
        in = bufferevent_get_input(c->bev);
        if (evbuffer_get_length(in) == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            return;
        n = wp_h1_parser_feed(&c->parser, v.iov_base, v.iov_len);
        if (c->state == WP_H1S_CLOSED || !c->bev)
            return;
        if (n < 0) {
            protocol_error(c);
            return;
        }
        evbuffer_drain(in, (size_t)n);
        if (c->parser.message_done && c->state == WP_H1S_ACTIVE && !c->request_done) {
            c->request_done = true;
            if (wp_h1_parser_upgraded(&c->parser))
                bufferevent_disable(c->bev, EV_READ); /* the rest belongs to the new protocol */
            if (c->stream && c->parser.trailers.len)
                wp_stream_request_trailers(c->stream, &c->parser.trailers);
            if (c->stream)
                wp_stream_request_end(c->stream);
            continue;
        }
        if ((size_t)n < v.iov_len && !c->parser.message_done)
            return;
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    process(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct wp_h1_server *c = arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_disable(bev, EV_WRITE); /* written out: out_flush() writes again */
    out_unblock_check(c);
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
    struct wp_h1_server *c = arg;
    /* bytes that came with the EOF are still a request */
    if (events & BEV_EVENT_EOF)
        process(c);
    if (c->state == WP_H1S_CLOSED)
        return;
    conn_close(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_h1_server *c = arg;
    switch (c->state) {
    case WP_H1S_IDLE: {
        uint64_t now = wp_now_us();
        if (now < c->header_deadline_us) {
            /* armed for an earlier exchange: wait for what is left */
            wp_timer_arm_ms(c->timer, (int64_t)((c->header_deadline_us - now + 999) / 1000));
            return;
        }
        if (wp_h1_parser_idle(&c->parser)) {
            conn_close(c); /* an idle keep-alive connection: nothing to answer */
            return;
        }
        WP_INC(&c->w->stats, WP_C_DOWNSTREAM_HEADER_TIMEOUT);
        c->parser.error_status = 408;
        c->parser.error = "request header timeout";
        protocol_error(c);
        return;
    }
    case WP_H1S_CLOSING:
        conn_close(c);
        return;
    case WP_H1S_ACTIVE:
    case WP_H1S_CLOSED:
        return;
    }
}

/* ---- tracking: drain and shutdown ---- */

static void t_drain(struct wp_tracked *t)
{
    struct wp_h1_server *c = wp_container_of(t, struct wp_h1_server, track);
    if (c->state == WP_H1S_IDLE)
        conn_close(c);
    else
        c->close_after = true;
}

static void t_close(struct wp_tracked *t)
{
    conn_close(wp_container_of(t, struct wp_h1_server, track));
}

static const struct wp_tracked_ops tracked_ops = {t_drain, t_close};

void wp_h1_server_start(struct wp_worker *w, struct bufferevent *bev,
                        const struct wp_downstream_info *info)
{
    struct wp_h1_server *c = calloc(1, sizeof(*c));
    struct wp_h1_limits limits = {61440, 100};
    struct wp_wsnap *ws;

    if (!c) {
        bufferevent_free(bev);
        return;
    }
    c->w = w;
    c->bev = bev;
    c->info = *info;
    c->header_timeout_ms = 10000;
    ws = wp_wsnap_acquire(w);
    if (ws) {
        limits.max_header_bytes = (size_t)ws->snap->cfg->proxy.limits.max_header_bytes;
        limits.max_headers = (size_t)ws->snap->cfg->proxy.limits.max_headers;
        c->header_timeout_ms = ws->snap->cfg->proxy.limits.header_timeout_ms;
        wp_wsnap_release(ws);
    }
    wp_h1_parser_init(&c->parser, WP_H1_REQUEST, &limits, &callbacks, c);
    c->timer = evtimer_new(w->base, timer_cb, c);
    c->flush = event_new(w->base, -1, 0, flush_cb, c);
    if (!c->timer || !c->flush) {
        if (c->timer)
            event_free(c->timer);
        if (c->flush)
            event_free(c->flush);
        wp_h1_parser_free(&c->parser);
        bufferevent_free(bev);
        free(c);
        return;
    }
    WP_INC(&w->stats, WP_C_DOWNSTREAM_CX_ACTIVE);
    wp_worker_track(w, &c->track, &tracked_ops);
    set_state(c, WP_H1S_IDLE);
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(bev, EV_READ, 0, WP_DOWN_READ_HIGH);
    bufferevent_setwatermark(bev, EV_WRITE, WP_DOWN_WRITE_HIGH / 2, 0);
    bufferevent_disable(bev, EV_WRITE); /* on in a new bufferevent; see out_flush() */
    bufferevent_enable(bev, EV_READ);
    arm_header_timer(c);
    if (w->draining)
        c->close_after = true;
    kick(c); /* what protocol detection read is waiting in the input buffer */
}
