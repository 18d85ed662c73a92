#include "http2/server.h"
#include "core/timer.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/worker.h"
#include "http/stream.h"
#include "telemetry/access_log.h"

/* Frames queued on the socket before nghttp2 is told to wait (WOULDBLOCK). */
#define WP_H2_WRITE_HIGH (256 * 1024)
/* Response bytes held per stream before its upstream is paused. */
#define WP_H2_STREAM_OUT_HIGH (128 * 1024)
/* The config has no field for it; Envoy's own default is far higher, and 1024
 * bounds what one client connection can hold open. */
#define WP_H2_MAX_CONCURRENT_STREAMS 1024
/* Per-stream receive window; the connection window is larger so that many
 * uploading streams do not starve each other. */
#define WP_H2_STREAM_WINDOW (256 * 1024)
#define WP_H2_CONN_WINDOW   (4 * 1024 * 1024)
/* A connection with no stream for this long is closed (GOAWAY first). */
#define WP_H2_IDLE_MS 300000
/* How long a draining connection may take to flush its last frames. */
#define WP_H2_CLOSE_FLUSH_MS 5000

enum wp_h2s_conn_state {
    WP_H2C_OPEN,
    WP_H2C_DRAINING, /* GOAWAY sent: streams in flight finish */
    WP_H2C_CLOSING,  /* the session is over: flushing the last bytes */
    WP_H2C_CLOSED,
};

struct h2_server;

struct h2s {
    struct wp_list link; /* conn->streams */
    struct h2_server *c;
    int32_t id;
    struct wp_stream *s;
    struct wp_request_head req;
    char *cookie; /* HTTP/2 splits cookie fields; HTTP/1.1 upstreams need one */
    size_t header_bytes, n_headers;
    bool too_large;
    bool head_done;
    struct evbuffer *out;
    struct wp_headers trailers;     /* response trailers */
    struct wp_headers req_trailers; /* request trailers, counted with the head */
    bool has_trailers;
    bool out_eof;
    bool data_deferred;
    bool blocked;
    bool req_paused;
    size_t unconsumed;
    bool closed;
    struct wp_deferred dfree;
    struct h2s *next_free; /* in w->free_h2s */
};

struct h2_server {
    struct wp_tracked track;
    struct wp_worker *w;
    struct bufferevent *bev;
    struct wp_downstream_info info;
    nghttp2_session *ng;
    enum wp_h2s_conn_state state;
    struct event *flush_ev;
    struct event *timer;
    struct wp_list streams;
    size_t n_streams;
    size_t max_header_bytes, max_headers;
    struct wp_deferred dfree;
};

static const char *conn_state_name(enum wp_h2s_conn_state st)
{
    static const char *const names[] = {"open", "draining", "closing", "closed"};
    return names[st];
}

static void set_state(struct h2_server *c, enum wp_h2s_conn_state st)
{
    weir_logf(WEIR_LOG_DEBUG, "h2 conn %llu: %s -> %s", (unsigned long long)c->info.id,
              conn_state_name(c->state), conn_state_name(st));
    c->state = st;
}

/* A stream from the worker's free list keeps its output buffer (empty); the rest is
 * zero as from calloc. A calloc and an evbuffer_new() per stream, and their frees,
 * were 650 instructions per request under callgrind. */
static struct h2s *h2s_alloc(struct wp_worker *w)
{
    struct h2s *st = w->free_h2s;
    struct evbuffer *out;
    if (!st)
        return calloc(1, sizeof(*st));
    w->free_h2s = st->next_free;
    w->n_free_h2s--;
    out = st->out;
    memset(st, 0, sizeof(*st));
    st->out = out;
    return st;
}

static void h2s_put(struct wp_worker *w, struct h2s *st)
{
    if (st->out && w->n_free_h2s < WP_WORKER_FREE_MAX) {
        evbuffer_drain(st->out, evbuffer_get_length(st->out));
        st->next_free = w->free_h2s;
        w->free_h2s = st;
        w->n_free_h2s++;
        return;
    }
    if (st->out)
        evbuffer_free(st->out);
    free(st);
}

void wp_h2_server_cache_free(struct wp_worker *w)
{
    struct h2s *st;
    while ((st = w->free_h2s)) {
        w->free_h2s = st->next_free;
        evbuffer_free(st->out);
        free(st);
    }
    w->n_free_h2s = 0;
}

static void h2s_free(struct wp_deferred *d)
{
    struct h2s *st = wp_container_of(d, struct h2s, dfree);
    struct wp_worker *w = st->c->w;
    if (st->s)
        wp_stream_free(st->s);
    wp_request_head_free(&st->req);
    wp_headers_free(&st->trailers);
    wp_headers_free(&st->req_trailers);
    free(st->cookie);
    h2s_put(w, st);
}

static void conn_free(struct wp_deferred *d)
{
    struct h2_server *c = wp_container_of(d, struct h2_server, dfree);
    if (c->ng)
        nghttp2_session_del(c->ng);
    if (c->flush_ev)
        event_free(c->flush_ev);
    if (c->timer)
        event_free(c->timer);
    if (c->bev)
        bufferevent_free(c->bev);
    WP_DEC(&c->w->stats, WP_C_DOWNSTREAM_CX_ACTIVE);
    free(c);
}

/* Ends a stream's life on this side: the stream hears the client is gone (a no-op
 * when it has finished) and both are freed from the loop. */
static void h2s_release(struct h2s *st)
{
    if (st->closed)
        return;
    st->closed = true;
    wp_list_remove(&st->link);
    st->c->n_streams--;
    if (st->s)
        wp_stream_downstream_gone(st->s);
    wp_worker_defer_free(st->c->w, &st->dfree, h2s_free);
}

static void conn_close(struct h2_server *c)
{
    if (c->state == WP_H2C_CLOSED)
        return;
    set_state(c, WP_H2C_CLOSED);
    wp_worker_untrack(c->w, &c->track);
    event_del(c->flush_ev);
    event_del(c->timer);
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    /* streams are queued before the connection: they read its downstream info
     * until they are freed */
    while (!wp_list_empty(&c->streams))
        h2s_release(wp_container_of(c->streams.next, struct h2s, link));
    wp_worker_defer_free(c->w, &c->dfree, conn_free);
}

static void schedule_flush(struct h2_server *c)
{
    if (c->state != WP_H2C_CLOSED && c->state != WP_H2C_CLOSING)
        event_active(c->flush_ev, EV_TIMEOUT, 1);
}

/* ---- graceful end of the connection ---- */

static void closing_write_cb(struct bufferevent *bev, void *arg)
{
    struct h2_server *c = arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_close(c);
}

static void closing_event_cb(struct bufferevent *bev, short events, void *arg)
{
    conn_close(arg);
}

static void start_closing(struct h2_server *c)
{
    if (c->state == WP_H2C_CLOSING || c->state == WP_H2C_CLOSED)
        return;
    set_state(c, WP_H2C_CLOSING);
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setcb(c->bev, NULL, closing_write_cb, closing_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_enable(c->bev, EV_WRITE); /* libevent writes the rest, see out_flush() */
    wp_timer_arm_ms(c->timer, WP_H2_CLOSE_FLUSH_MS);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_close(c);
}

/* Frames are written to the socket from here, at once, while libevent's write
 * event stays off; only what the socket does not take is left to libevent (EV_WRITE
 * on until write_cb sees the output empty). libevent alone adds and removes an
 * EPOLLOUT interest around every flush: two epoll_ctl calls and one more loop
 * iteration per response under strace. Returns true when bytes were written and
 * none are left. */
static bool out_flush(struct h2_server *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if ((bufferevent_get_enabled(c->bev) & EV_WRITE) || evbuffer_get_length(out) == 0)
        return false;
    /* libevent keeps the start of a socket bufferevent's output frozen outside
     * its own write callback; the same unfreeze, write, freeze here. Without a
     * socket (a bufferevent pair in the fuzz target) libevent writes it all. */
    if (bufferevent_getfd(c->bev) >= 0) {
        evbuffer_unfreeze(out, 1);
        evbuffer_write(out, bufferevent_getfd(c->bev));
        evbuffer_freeze(out, 1);
        if (evbuffer_get_length(out) == 0)
            return true;
    }
    bufferevent_enable(c->bev, EV_WRITE); /* full, or an error libevent reports */
    return false;
}

/* Sends what nghttp2 has queued, as far as the socket takes it. Top level only. */
static void do_send(struct h2_server *c)
{
    int rv;
    if (c->state == WP_H2C_CLOSED || c->state == WP_H2C_CLOSING)
        return;
    for (;;) {
        rv = nghttp2_session_send(c->ng);
        if (rv != 0) {
            weir_log(WEIR_LOG_DEBUG, "h2 send failed", "peer", c->info.peer_text, "error",
                     nghttp2_strerror(rv), NULL);
            conn_close(c);
            return;
        }
        /* a full output made nghttp2 stop (WOULDBLOCK): go on once it is written */
        if (!out_flush(c) || !nghttp2_session_want_write(c->ng))
            break;
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
        start_closing(c);
        return;
    }
    if (c->state == WP_H2C_DRAINING && c->n_streams == 0 && !nghttp2_session_want_write(c->ng))
        start_closing(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    do_send(arg);
}

static void drain(struct h2_server *c)
{
    if (c->state != WP_H2C_OPEN)
        return;
    set_state(c, WP_H2C_DRAINING);
    nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    schedule_flush(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2_server *c = arg;
    switch (c->state) {
    case WP_H2C_OPEN:
        if (c->n_streams == 0)
            drain(c);
        else
            wp_timer_arm_ms(c->timer, WP_H2_IDLE_MS);
        return;
    case WP_H2C_CLOSING:
        conn_close(c);
        return;
    case WP_H2C_DRAINING:
    case WP_H2C_CLOSED:
        return;
    }
}

/* ---- stream -> codec ---- */

static bool hop_by_hop(const struct wp_header *h)
{
    static const char *const names[] = {"connection", "keep-alive",        "proxy-connection",
                                        "upgrade",    "transfer-encoding", "content-length"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (h->name_len == strlen(names[i]) && memcmp(h->name, names[i], h->name_len) == 0)
            return true;
    }
    return false;
}

static nghttp2_nv make_nv(const char *name, size_t nlen, const char *value, size_t vlen)
{
    nghttp2_nv nv = {(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value, nlen, vlen,
                     NGHTTP2_NV_FLAG_NONE};
    return nv;
}

/* Entries of an nva on the caller's stack (nghttp2 copies the array when a frame
 * is submitted); a calloc per head was 280 instructions under callgrind. */
#define WP_H2_NVA_STACK 32

/* nva for a header list (minus the HTTP/1.1-only fields) after `extra` leading
 * entries, in `stack` when it fits, else allocated (nva_free() releases either);
 * NULL when memory ran out. */
static nghttp2_nv *headers_nva(const struct wp_headers *h, size_t extra, size_t *n,
                               nghttp2_nv stack[WP_H2_NVA_STACK])
{
    size_t want = h->len + extra + 1;
    nghttp2_nv *nva = want <= WP_H2_NVA_STACK ? memset(stack, 0, want * sizeof(*stack))
                                              : calloc(want, sizeof(*nva));
    size_t k = extra;
    if (!nva)
        return NULL;
    for (size_t i = 0; i < h->len; i++) {
        if (hop_by_hop(&h->items[i]))
            continue;
        nva[k++] = make_nv(h->items[i].name, h->items[i].name_len, h->items[i].value,
                           h->items[i].value_len);
    }
    *n = k;
    return nva;
}

static void nva_free(nghttp2_nv *nva, const nghttp2_nv stack[WP_H2_NVA_STACK])
{
    if (nva != stack)
        free(nva);
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data);

static bool usable(const struct h2s *st)
{
    return !st->closed && st->c->state != WP_H2C_CLOSED && st->c->state != WP_H2C_CLOSING;
}

/* Decimal digits of v in out, NUL-terminated (the caller leaves room); returns
 * their count. snprintf took 1,400 instructions per response head under callgrind. */
static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0, i = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        out[i++] = tmp[--n];
    out[i] = '\0';
    return i;
}

static void d_send_head(void *ctx, struct wp_response_head *resp, bool end)
{
    struct h2s *st = ctx;
    struct h2_server *c = st->c;
    char status[8], clen[24];
    nghttp2_nv stack[WP_H2_NVA_STACK], *nva;
    nghttp2_data_provider prd = {.source = {.ptr = st}, .read_callback = read_body};
    size_t n;

    if (!usable(st))
        return;
    nva = headers_nva(&resp->headers, 2, &n, stack);
    if (!nva) {
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        schedule_flush(c);
        return;
    }
    if (resp->status >= 0 && resp->status < 1000)
        nva[0] = make_nv(":status", 7, status, fmt_u64(status, (uint64_t)resp->status));
    else {
        snprintf(status, sizeof(status), "%d", resp->status);
        nva[0] = make_nv(":status", 7, status, strlen(status));
    }
    if (resp->content_length >= 0 && resp->status != 204 && resp->status != 304) {
        nva[1] = make_nv("content-length", 14, clen, fmt_u64(clen, (uint64_t)resp->content_length));
    } else {
        /* shift the fields down over the unused slot */
        memmove(&nva[1], &nva[2], (n - 2) * sizeof(*nva));
        n--;
    }
    if (nghttp2_submit_response(c->ng, st->id, nva, n, end ? NULL : &prd) != 0)
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    nva_free(nva, stack);
    schedule_flush(c);
}

static void update_blocked(struct h2s *st)
{
    size_t queued = evbuffer_get_length(st->out);
    if (!st->blocked && queued > WP_H2_STREAM_OUT_HIGH) {
        st->blocked = true;
        if (st->s)
            wp_stream_downstream_blocked(st->s, true);
    } else if (st->blocked && queued <= WP_H2_STREAM_OUT_HIGH / 2) {
        st->blocked = false;
        if (st->s)
            wp_stream_downstream_blocked(st->s, false);
    }
}

static void resume(struct h2s *st)
{
    if (st->data_deferred) {
        st->data_deferred = false;
        nghttp2_session_resume_data(st->c->ng, st->id);
    }
    schedule_flush(st->c);
}

static void d_send_data(void *ctx, const char *data, size_t len)
{
    struct h2s *st = ctx;
    if (!usable(st) || !len)
        return;
    evbuffer_add(st->out, data, len);
    update_blocked(st);
    resume(st);
}

static void d_send_trailers(void *ctx, struct wp_headers *trailers)
{
    struct h2s *st = ctx;
    if (!usable(st))
        return;
    wp_headers_free(&st->trailers);
    wp_headers_init(&st->trailers);
    if (wp_headers_copy(&st->trailers, trailers) == 0)
        st->has_trailers = st->trailers.len > 0;
}

static void release_window(struct h2s *st)
{
    if (st->unconsumed && usable(st)) {
        nghttp2_session_consume(st->c->ng, st->id, st->unconsumed);
        schedule_flush(st->c);
    }
    st->unconsumed = 0;
}

static void d_send_end(void *ctx)
{
    struct h2s *st = ctx;
    if (!usable(st))
        return;
    st->out_eof = true;
    /* the stream takes no more request body: keep the client's window open */
    st->req_paused = false;
    release_window(st);
    resume(st);
}

static void d_send_continue(void *ctx)
{
    struct h2s *st = ctx;
    nghttp2_nv nv = make_nv(":status", 7, "100", 3);
    if (!usable(st))
        return;
    nghttp2_submit_headers(st->c->ng, NGHTTP2_FLAG_NONE, st->id, NULL, &nv, 1, NULL);
    schedule_flush(st->c);
}

static void d_pause_request(void *ctx, bool pause)
{
    struct h2s *st = ctx;
    st->req_paused = pause;
    if (!pause)
        release_window(st);
}

static void d_reset(void *ctx)
{
    struct h2s *st = ctx;
    if (!usable(st))
        return;
    /* only this stream: its siblings on the connection go on */
    nghttp2_submit_rst_stream(st->c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    schedule_flush(st->c);
}

static void d_upgrade(void *ctx, struct bufferevent *up, struct evbuffer *leftover)
{
    /* HTTP/2 has no Upgrade (the stream never asks for one over this codec) */
    bufferevent_free(up);
    evbuffer_free(leftover);
    d_reset(ctx);
}

static const struct wp_downstream_ops down_ops = {
    d_send_head,     d_send_data, d_send_end, d_send_continue,
    d_pause_request, d_reset,     d_upgrade,  d_send_trailers,
};

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    struct h2s *st = source->ptr;
    int n = evbuffer_remove(st->out, buf, length);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (evbuffer_get_length(st->out) == 0 && st->out_eof) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->has_trailers) {
            size_t nt = 0;
            nghttp2_nv stack[WP_H2_NVA_STACK];
            nghttp2_nv *nva = headers_nva(&st->trailers, 0, &nt, stack);
            if (nva && nghttp2_submit_trailer(ng, id, nva, nt) == 0)
                *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nva_free(nva, stack);
        }
    } else if (n == 0) {
        st->data_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    update_blocked(st);
    return n;
}

/* ---- nghttp2 callbacks ---- */

static ssize_t send_cb(nghttp2_session *ng, const uint8_t *data, size_t length, int flags,
                       void *user_data)
{
    struct h2_server *c = user_data;
    struct evbuffer *out;
    if (!c->bev)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) >= WP_H2_WRITE_HIGH)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (evbuffer_add(out, data, length) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)length;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    struct h2_server *c = user_data;
    struct h2s *st;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    st = h2s_alloc(c->w);
    if (!st || (!st->out && !(st->out = evbuffer_new()))) {
        free(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st->c = c;
    st->id = frame->hd.stream_id;
    wp_request_head_init(&st->req);
    wp_headers_init(&st->trailers);
    wp_headers_init(&st->req_trailers);
    wp_list_insert_tail(&c->streams, &st->link);
    c->n_streams++;
    event_del(c->timer);
    nghttp2_session_set_stream_user_data(ng, st->id, st);
    return 0;
}

static int set_field(char **dst, const uint8_t *v, size_t len)
{
    return wp_str_replace(dst, (const char *)v, len);
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    struct h2_server *c = user_data;
    struct h2s *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    const char *n = (const char *)name;
    int rc = 0;

    if (!st || st->too_large)
        return 0;
    st->header_bytes += namelen + valuelen + 32; /* RFC 9113's accounting */
    st->n_headers++;
    if (st->header_bytes > c->max_header_bytes || st->n_headers > c->max_headers) {
        st->too_large = true;
        return 0;
    }
    if (st->head_done) {
        /* trailers: nghttp2 has refused pseudo-headers and connection fields */
        rc = wp_headers_add(&st->req_trailers, n, namelen, (const char *)value, valuelen);
        return rc < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
    }
    if (namelen && n[0] == ':') {
        if (namelen == 7 && memcmp(n, ":method", 7) == 0)
            rc = set_field(&st->req.method, value, valuelen);
        else if (namelen == 5 && memcmp(n, ":path", 5) == 0)
            rc = set_field(&st->req.path, value, valuelen);
        else if (namelen == 10 && memcmp(n, ":authority", 10) == 0)
            rc = set_field(&st->req.authority, value, valuelen);
        else if (namelen == 7 && memcmp(n, ":scheme", 7) == 0)
            rc = set_field(&st->req.scheme, value, valuelen);
    } else if (namelen == 4 && memcmp(n, "host", 4) == 0) {
        if (!st->req.authority)
            rc = set_field(&st->req.authority, value, valuelen);
    } else if (namelen == 14 && memcmp(n, "content-length", 14) == 0) {
        /* nghttp2 has checked it is a number and will check it against the DATA */
        st->req.content_length = strtoll((const char *)value, NULL, 10);
    } else if (namelen == 6 && memcmp(n, "cookie", 6) == 0) {
        size_t old = st->cookie ? strlen(st->cookie) : 0;
        char *joined = realloc(st->cookie, old + valuelen + 3);
        if (!joined)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (old)
            memcpy(joined + old, "; ", 2), old += 2;
        memcpy(joined + old, value, valuelen);
        joined[old + valuelen] = '\0';
        st->cookie = joined;
    } else {
        rc = wp_headers_add(&st->req.headers, n, namelen, (const char *)value, valuelen);
    }
    return rc < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

/* Refused before a stream existed: the access log still shows it, as HTTP/1.1's do. */
static void log_refusal(struct h2_server *c, struct h2s *st, int status)
{
    struct wp_wsnap *ws = wp_wsnap_acquire(c->w);
    char remote[WP_ADDR_STRLEN], local[WP_ADDR_STRLEN];
    struct timespec ts;
    struct wp_access_entry e = {0};

    if (!ws)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    wp_addr_format((struct sockaddr *)&c->info.peer, remote, sizeof(remote));
    wp_addr_format((struct sockaddr *)&c->info.local, local, sizeof(local));
    e.start_unix_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    e.method = st->req.method;
    e.path = st->req.path;
    e.authority = st->req.authority;
    e.protocol = "HTTP/2";
    e.response_code = status;
    e.response_flags = "DPE";
    e.details = st->too_large ? "request_headers_too_large" : "malformed_request";
    e.upstream_service_time_ms = -1;
    e.downstream_remote = remote;
    e.downstream_local = local;
    wp_access_log_write(ws->snap->cfg, &e);
    wp_wsnap_release(ws);
}

/* An answer made here, before any stream exists (malformed or oversized heads). */
static void codec_reply(struct h2_server *c, struct h2s *st, int status)
{
    char code[8];
    nghttp2_nv nv[2];
    snprintf(code, sizeof(code), "%d", status);
    nv[0] = make_nv(":status", 7, code, strlen(code));
    nv[1] = make_nv("content-length", 14, "0", 1);
    WP_INC(&c->w->stats, WP_C_DOWNSTREAM_PROTOCOL_ERROR);
    if (status >= 500)
        WP_INC(&c->w->stats, WP_C_DOWNSTREAM_RQ_5XX_LOCAL);
    else
        WP_INC(&c->w->stats, WP_C_DOWNSTREAM_RQ_4XX_LOCAL);
    st->out_eof = true;
    nghttp2_submit_response(c->ng, st->id, nv, 2, NULL);
    log_refusal(c, st, status);
}

static void start_stream(struct h2_server *c, struct h2s *st, bool end_stream)
{
    struct wp_request_head req;

    st->head_done = true;
    if (st->too_large) {
        codec_reply(c, st, 431);
        return;
    }
    if (!st->req.method || !st->req.path || !st->req.authority ||
        strcmp(st->req.method, "CONNECT") == 0) {
        codec_reply(c, st, st->req.method && strcmp(st->req.method, "CONNECT") == 0 ? 405 : 400);
        return;
    }
    if (st->cookie && wp_headers_add_str(&st->req.headers, "cookie", st->cookie) < 0) {
        codec_reply(c, st, 500);
        return;
    }
    if (!st->req.scheme && wp_str_replace(&st->req.scheme, "http", 4) < 0) {
        codec_reply(c, st, 500);
        return;
    }
    st->req.version_major = 2;
    st->req.version_minor = 0;
    st->req.keep_alive = true;
    /* an HTTP/1.1 upstream needs framing for a body of unknown length */
    st->req.chunked = !end_stream && st->req.content_length < 0;
    st->s = wp_stream_new(c->w, &c->info, &down_ops, st);
    if (!st->s) {
        codec_reply(c, st, 503);
        return;
    }
    req = st->req;
    wp_request_head_init(&st->req);
    wp_stream_request_head(st->s, &req);
    wp_request_head_free(&req);
    if (end_stream && !st->closed)
        wp_stream_request_end(st->s);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    struct h2_server *c = user_data;
    struct h2s *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;

    if (!st || st->closed)
        return 0;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (!st->head_done) {
            start_stream(c, st, end);
            return 0;
        }
        if (!end || !st->s)
            return 0;
        if (st->too_large) {
            /* the trailers broke the head's budget (431, as for the head) */
            wp_stream_request_error(st->s, 431, "request_trailers_too_large");
            return 0;
        }
        if (st->req_trailers.len)
            wp_stream_request_trailers(st->s, &st->req_trailers);
        wp_stream_request_end(st->s);
        return 0;
    case NGHTTP2_DATA:
        if (end && st->s)
            wp_stream_request_end(st->s);
        return 0;
    default:
        return 0;
    }
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user_data)
{
    struct h2s *st = nghttp2_session_get_stream_user_data(ng, id);
    if (!st || st->closed || !st->s) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    wp_stream_request_data(st->s, (const char *)data, len);
    if (st->req_paused)
        st->unconsumed += len;
    else
        nghttp2_session_consume(ng, id, len);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *user_data)
{
    struct h2_server *c = user_data;
    struct h2s *st;
    if (c->state == WP_H2C_CLOSED)
        return 0;
    st = nghttp2_session_get_stream_user_data(ng, id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    h2s_release(st);
    if (c->n_streams == 0 && c->state == WP_H2C_OPEN)
        wp_timer_arm_ms(c->timer, WP_H2_IDLE_MS);
    return 0;
}

/* ---- socket events ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct h2_server *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (c->state != WP_H2C_CLOSED && c->state != WP_H2C_CLOSING && evbuffer_get_length(in)) {
        struct evbuffer_iovec v;
        ssize_t n;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        n = nghttp2_session_mem_recv(c->ng, v.iov_base, v.iov_len);
        if (c->state == WP_H2C_CLOSED)
            return;
        if (n < 0) {
            WP_INC(&c->w->stats, WP_C_DOWNSTREAM_PROTOCOL_ERROR);
            weir_log(WEIR_LOG_DEBUG, "h2 protocol error", "peer", c->info.peer_text, "error",
                     nghttp2_strerror((int)n), NULL);
            conn_close(c);
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    do_send(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct h2_server *c = arg;
    do_send(c);
    if (c->bev == bev && c->state != WP_H2C_CLOSING && c->state != WP_H2C_CLOSED &&
        evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_disable(bev, EV_WRITE); /* written out: out_flush() writes again */
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
    conn_close(arg);
}

static void t_drain(struct wp_tracked *t)
{
    drain(wp_container_of(t, struct h2_server, track));
}

static void t_close(struct wp_tracked *t)
{
    conn_close(wp_container_of(t, struct h2_server, track));
}

static const struct wp_tracked_ops tracked_ops = {t_drain, t_close};

static nghttp2_session *new_session(struct h2_server *c)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    nghttp2_session *ng = NULL;
    nghttp2_settings_entry iv[3] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, WP_H2_MAX_CONCURRENT_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WP_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)c->max_header_bytes},
    };

    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return NULL;
    }
    nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    /* window updates follow the stream's consumption, not the socket's */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    if (nghttp2_session_server_new2(&ng, cbs, c, opt) != 0)
        ng = NULL;
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (!ng)
        return NULL;
    if (nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
        nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, WP_H2_CONN_WINDOW) != 0) {
        nghttp2_session_del(ng);
        return NULL;
    }
    return ng;
}

void wp_h2_server_start(struct wp_worker *w, struct bufferevent *bev,
                        const struct wp_downstream_info *info)
{
    struct h2_server *c = calloc(1, sizeof(*c));
    struct wp_wsnap *ws;

    if (!c) {
        bufferevent_free(bev);
        return;
    }
    c->w = w;
    c->bev = bev;
    c->info = *info;
    c->max_header_bytes = 61440;
    c->max_headers = 100;
    wp_list_init(&c->streams);
    ws = wp_wsnap_acquire(w);
    if (ws) {
        c->max_header_bytes = (size_t)ws->snap->cfg->proxy.limits.max_header_bytes;
        c->max_headers = (size_t)ws->snap->cfg->proxy.limits.max_headers;
        wp_wsnap_release(ws);
    }
    c->flush_ev = event_new(w->base, -1, 0, flush_cb, c);
    c->timer = evtimer_new(w->base, timer_cb, c);
    c->ng = c->flush_ev && c->timer ? new_session(c) : NULL;
    if (!c->ng) {
        if (c->flush_ev)
            event_free(c->flush_ev);
        if (c->timer)
            event_free(c->timer);
        bufferevent_free(bev);
        free(c);
        return;
    }
    WP_INC(&w->stats, WP_C_DOWNSTREAM_CX_ACTIVE);
    wp_worker_track(w, &c->track, &tracked_ops);
    set_state(c, WP_H2C_OPEN);
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(bev, EV_READ, 0, 64 * 1024);
    bufferevent_setwatermark(bev, EV_WRITE, WP_H2_WRITE_HIGH / 2, 0);
    bufferevent_disable(bev, EV_WRITE); /* on in a new bufferevent; see out_flush() */
    bufferevent_enable(bev, EV_READ);
    wp_timer_arm_ms(c->timer, WP_H2_IDLE_MS);
    if (w->draining)
        drain(c);
    /* the preface protocol detection read is waiting in the input buffer */
    bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}
