#include "http2/client.h"
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
#include "tls/client.h"

#define WP_H2C_WRITE_HIGH   (256 * 1024)
#define WP_H2C_STREAM_HIGH  (128 * 1024) /* request body held per exchange */
#define WP_H2C_STREAM_WIN   (256 * 1024)
#define WP_H2C_CONN_WIN     (4 * 1024 * 1024)
#define WP_H2C_KEY_MAX      512
#define WP_H2C_DEFAULT_IDLE 300000

enum h2c_state {
    H2C_CONNECTING,
    H2C_READY,
    H2C_GOAWAY,
    H2C_CLOSED,
};

struct h2c_conn {
    struct wp_list link; /* w->h2conns */
    struct wp_worker *w;
    char key[WP_H2C_KEY_MAX];
    struct wp_upconn *uc;
    nghttp2_session *ng;
    enum h2c_state state;
    struct wp_list pending; /* exchanges not submitted yet */
    struct wp_list streams; /* exchanges with a stream id */
    struct event *flush_ev;
    struct event *timer; /* idle */
    int64_t idle_ms;
    uint64_t started;
    /* maxRequestsPerConnection: exchanges given to this connection so far, counted
     * when they are attached, so that a full connection takes no more and needs no
     * re-homing; it closes once its last stream is done. 0: unlimited. */
    uint64_t assigned, max_requests;
    size_t live; /* exchanges attached and not yet released (pending or open) */
    /* The peer's SETTINGS_MAX_CONCURRENT_STREAMS once its SETTINGS came; until then
     * the limit a sibling connection to the same endpoint had (unbounded for the
     * first), so that a new connection is not handed more than the peer takes. */
    bool peer_settings;
    uint32_t assumed_limit;
    int32_t goaway_last_id; /* streams above it were not processed */
    char peer[WP_ADDR_STRLEN];
    struct wp_endpoint_stats *eps;
    struct wp_deferred dfree;
};

struct h2x {
    struct wp_upstream base;
    struct wp_list link; /* conn->pending or conn->streams */
    struct h2c_conn *conn;
    struct wp_worker *w;
    const struct wp_up_sink *sink;
    void *owner;
    struct wp_request_head req;
    bool has_body;
    int32_t id;
    struct evbuffer *out;
    struct wp_headers req_trailers; /* a trailing HEADERS frame after the body */
    bool out_eof;
    bool data_deferred;
    bool want_drained;
    struct wp_response_head resp;
    struct wp_headers trailers;
    /* the response's head and trailers together, against limits.maxHeaderBytes
     * and limits.maxHeaders as the HTTP/1.1 parser counts them */
    size_t header_bytes, n_headers, max_header_bytes, max_headers;
    bool got_head;
    bool reused;
    bool paused;
    size_t unconsumed;
    bool done; /* no more calls into the sink; freed once the stream is closed */
    bool queued_free;
    struct wp_deferred dfree;
};

static const char *state_name(enum h2c_state st)
{
    static const char *const names[] = {"connecting", "ready", "goaway", "closed"};
    return names[st];
}

static void set_state(struct h2c_conn *c, enum h2c_state st)
{
    weir_logf(WEIR_LOG_DEBUG, "h2 upstream %s: %s -> %s", c->peer, state_name(c->state),
              state_name(st));
    c->state = st;
}

static void x_free(struct wp_deferred *d)
{
    struct h2x *x = wp_container_of(d, struct h2x, dfree);
    wp_request_head_free(&x->req);
    wp_response_head_free(&x->resp);
    wp_headers_free(&x->trailers);
    wp_headers_free(&x->req_trailers);
    if (x->out)
        evbuffer_free(x->out);
    free(x);
}

static void x_queue_free(struct h2x *x)
{
    if (x->queued_free)
        return;
    x->queued_free = true;
    if (wp_list_linked(&x->link))
        wp_list_remove(&x->link);
    if (x->conn && x->conn->live)
        x->conn->live--;
    wp_worker_defer_free(x->w, &x->dfree, x_free);
}

/* The exchange ends with a failure the stream hears about. */
static void x_fail(struct h2x *x, enum wp_up_error e, bool unprocessed)
{
    if (x->done)
        return;
    x->done = true;
    x->sink->failed(x->owner, e, unprocessed);
}

static void conn_free(struct wp_deferred *d)
{
    struct h2c_conn *c = wp_container_of(d, struct h2c_conn, dfree);
    if (c->ng)
        nghttp2_session_del(c->ng);
    if (c->flush_ev)
        event_free(c->flush_ev);
    if (c->timer)
        event_free(c->timer);
    free(c);
}

static void conn_close(struct h2c_conn *c, enum wp_up_error e)
{
    bool had_goaway = c->state == H2C_GOAWAY;
    if (c->state == H2C_CLOSED)
        return;
    set_state(c, H2C_CLOSED);
    wp_list_remove(&c->link);
    event_del(c->flush_ev);
    event_del(c->timer);
    if (c->uc) {
        wp_upconn_close(c->uc);
        c->uc = NULL;
    }
    /* streams first: the stream may start a new attempt from failed(), which finds
     * another connection since this one is CLOSED */
    while (!wp_list_empty(&c->streams)) {
        struct h2x *x = wp_container_of(c->streams.next, struct h2x, link);
        x_queue_free(x);
        x_fail(x, x->got_head ? WP_UPE_RESET_BODY : e, had_goaway && x->id > c->goaway_last_id);
    }
    while (!wp_list_empty(&c->pending)) {
        struct h2x *x = wp_container_of(c->pending.next, struct h2x, link);
        x_queue_free(x);
        /* never sent: safe to try again elsewhere, unless nothing could connect */
        x_fail(x, e, e != WP_UPE_CONNECT);
    }
    wp_worker_defer_free(c->w, &c->dfree, conn_free);
}

static void schedule_flush(struct h2c_conn *c)
{
    if (c->state != H2C_CLOSED)
        event_active(c->flush_ev, EV_TIMEOUT, 1);
}

static bool conn_full(const struct h2c_conn *c)
{
    return c->max_requests && c->assigned >= c->max_requests;
}

static void idle_check(struct h2c_conn *c)
{
    if (c->state == H2C_CLOSED)
        return;
    if (wp_list_empty(&c->streams) && wp_list_empty(&c->pending)) {
        if (c->state == H2C_GOAWAY || conn_full(c))
            event_active(c->timer, EV_TIMEOUT, 1);
        else if (c->idle_ms > 0)
            wp_timer_arm_ms(c->timer, c->idle_ms);
    } else {
        event_del(c->timer);
    }
}

/* ---- request side ---- */

static nghttp2_nv make_nv(const char *name, size_t nlen, const char *value, size_t vlen);

/* The request trailers as a HEADERS frame that ends the stream; true when one was
 * submitted (the DATA frame then must not end it). */
static bool submit_trailers(nghttp2_session *ng, struct h2x *x)
{
    const struct wp_headers *t = &x->req_trailers;
    nghttp2_nv *nva;
    int rv;

    if (!t->len || !(nva = calloc(t->len, sizeof(*nva))))
        return false;
    for (size_t i = 0; i < t->len; i++)
        nva[i] = make_nv(t->items[i].name, t->items[i].name_len, t->items[i].value,
                         t->items[i].value_len);
    rv = nghttp2_submit_trailer(ng, x->id, nva, t->len);
    free(nva);
    return rv == 0;
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    struct h2x *x = source->ptr;
    int n;
    if (x->done && !x->out_eof)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    n = evbuffer_remove(x->out, buf, length);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (evbuffer_get_length(x->out) == 0 && x->out_eof) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (submit_trailers(ng, x))
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    } else if (n == 0) {
        x->data_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (x->want_drained && !x->done && evbuffer_get_length(x->out) < WP_H2C_STREAM_HIGH / 2) {
        x->want_drained = false;
        x->sink->drained(x->owner);
    }
    return n;
}

static bool skip_request_field(const struct wp_header *h)
{
    static const char *const names[] = {"connection", "keep-alive",        "proxy-connection",
                                        "upgrade",    "transfer-encoding", "host",
                                        "te",         "content-length",    "expect"};
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

static int submit(struct h2c_conn *c, struct h2x *x)
{
    const struct wp_request_head *r = &x->req;
    nghttp2_nv *nva = calloc(r->headers.len + 6, sizeof(*nva));
    nghttp2_data_provider prd = {.source = {.ptr = x}, .read_callback = read_body};
    char clen[24];
    size_t n = 0;
    int32_t id;

    if (!nva)
        return -1;
    nva[n++] = make_nv(":method", 7, r->method, strlen(r->method));
    nva[n++] =
        make_nv(":scheme", 7, r->scheme ? r->scheme : "http", r->scheme ? strlen(r->scheme) : 4);
    nva[n++] = make_nv(":authority", 10, r->authority ? r->authority : "",
                       r->authority ? strlen(r->authority) : 0);
    nva[n++] = make_nv(":path", 5, r->path, strlen(r->path));
    /* gRPC servers insist on it; it is the only TE HTTP/2 allows */
    nva[n++] = make_nv("te", 2, "trailers", 8);
    if (r->content_length >= 0) {
        snprintf(clen, sizeof(clen), "%lld", (long long)r->content_length);
        nva[n++] = make_nv("content-length", 14, clen, strlen(clen));
    }
    for (size_t i = 0; i < r->headers.len; i++) {
        if (skip_request_field(&r->headers.items[i]))
            continue;
        nva[n++] = make_nv(r->headers.items[i].name, r->headers.items[i].name_len,
                           r->headers.items[i].value, r->headers.items[i].value_len);
    }
    id = nghttp2_submit_request(c->ng, NULL, nva, n, x->has_body ? &prd : NULL, x);
    free(nva);
    if (id < 0)
        return -1;
    x->id = id;
    x->reused = c->started++ > 0;
    return 0;
}

/* Submits what waits (from the loop), then tells each stream its head is on its way. */
static void start_pending(struct h2c_conn *c)
{
    struct wp_list ready;
    wp_list_init(&ready);
    while (c->state == H2C_READY && !wp_list_empty(&c->pending)) {
        struct h2x *x = wp_container_of(c->pending.next, struct h2x, link);
        wp_list_remove(&x->link);
        if (submit(c, x) < 0) {
            x_queue_free(x);
            x_fail(x, WP_UPE_RESET, false);
            continue;
        }
        wp_list_insert_tail(&ready, &x->link);
    }
    while (!wp_list_empty(&ready)) {
        struct h2x *x = wp_container_of(ready.next, struct h2x, link);
        wp_list_remove(&x->link);
        wp_list_insert_tail(&c->streams, &x->link);
        if (!x->done)
            x->sink->ready(x->owner);
    }
}

static void do_send(struct h2c_conn *c)
{
    int rv;
    if (c->state == H2C_CLOSED || c->state == H2C_CONNECTING)
        return;
    start_pending(c);
    if (c->state == H2C_CLOSED)
        return;
    rv = nghttp2_session_send(c->ng);
    if (rv != 0) {
        weir_log(WEIR_LOG_DEBUG, "h2 upstream send failed", "peer", c->peer, "error",
                 nghttp2_strerror(rv), NULL);
        conn_close(c, WP_UPE_RESET);
        return;
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
        conn_close(c, WP_UPE_RESET);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    do_send(arg);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2c_conn *c = arg;
    if (wp_list_empty(&c->streams) && wp_list_empty(&c->pending))
        conn_close(c, WP_UPE_RESET);
}

/* ---- nghttp2 callbacks ---- */

static ssize_t send_cb(nghttp2_session *ng, const uint8_t *data, size_t length, int flags,
                       void *user_data)
{
    struct h2c_conn *c = user_data;
    struct evbuffer *out;
    if (!c->uc || !c->uc->bev)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    out = bufferevent_get_output(c->uc->bev);
    if (evbuffer_get_length(out) >= WP_H2C_WRITE_HIGH)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (evbuffer_add(out, data, length) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)length;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    struct h2x *x = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    const char *n = (const char *)name;
    int rc = 0;
    if (!x || x->done || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    x->header_bytes += namelen + valuelen + 32; /* RFC 9113's accounting */
    if (++x->n_headers > x->max_headers || x->header_bytes > x->max_header_bytes) {
        /* a malformed response before its head (502 UPE), cut short after it; the
         * stream is reset by the failure returned */
        weir_log(WEIR_LOG_DEBUG, "h2 upstream header block over the limits", "peer", x->conn->peer,
                 NULL);
        x_fail(x, x->got_head ? WP_UPE_RESET_BODY : WP_UPE_PROTOCOL, false);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (x->got_head) {
        if (namelen && n[0] != ':')
            rc = wp_headers_add(&x->trailers, n, namelen, (const char *)value, valuelen);
    } else if (namelen == 7 && memcmp(n, ":status", 7) == 0) {
        x->resp.status = atoi((const char *)value);
    } else if (namelen && n[0] == ':') {
        /* no other pseudo-header belongs in a response */
    } else if (namelen == 14 && memcmp(n, "content-length", 14) == 0) {
        x->resp.content_length = strtoll((const char *)value, NULL, 10);
    } else {
        rc = wp_headers_add(&x->resp.headers, n, namelen, (const char *)value, valuelen);
    }
    return rc < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static void x_end(struct h2x *x)
{
    if (x->done)
        return;
    x->done = true;
    if (!x->out_eof && x->conn && x->conn->state != H2C_CLOSED) {
        /* the answer is complete before the request: the rest is not wanted */
        nghttp2_submit_rst_stream(x->conn->ng, NGHTTP2_FLAG_NONE, x->id, NGHTTP2_NO_ERROR);
        schedule_flush(x->conn);
    }
    x->sink->end(x->owner);
}

static void x_head(struct h2x *x, bool end)
{
    struct wp_response_head resp;
    if (x->resp.status < 200) {
        /* 100 Continue and 103: the real head follows, with a budget of its own */
        wp_response_head_free(&x->resp);
        x->resp.content_length = -1;
        x->header_bytes = x->n_headers = 0;
        return;
    }
    x->got_head = true;
    x->resp.version_major = 1;
    x->resp.version_minor = 1;
    x->resp.keep_alive = true;
    x->resp.no_body = end || strcmp(x->req.method, "HEAD") == 0;
    if (end && x->resp.content_length < 0 && x->resp.status != 204 && x->resp.status != 304)
        x->resp.content_length = 0; /* an HTTP/1.1 client must not wait for a close */
    resp = x->resp;
    wp_response_head_init(&x->resp);
    x->sink->head(x->owner, &resp);
    wp_response_head_free(&resp);
    if (end)
        x_end(x);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    struct h2c_conn *c = user_data;
    struct h2x *x;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;

    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        c->peer_settings = true;
        return 0;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        if (c->state == H2C_READY || c->state == H2C_CONNECTING)
            set_state(c, H2C_GOAWAY);
        c->goaway_last_id = frame->goaway.last_stream_id;
        /* the streams nghttp2 closes as refused, and the ones not yet sent, are
         * tried again on another connection */
        while (!wp_list_empty(&c->pending)) {
            x = wp_container_of(c->pending.next, struct h2x, link);
            x_queue_free(x);
            x_fail(x, WP_UPE_RESET, true);
        }
        idle_check(c);
        return 0;
    }
    x = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (!x || x->done)
        return 0;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (!x->got_head) {
            x_head(x, end);
        } else if (end) {
            if (x->sink->trailers && x->trailers.len)
                x->sink->trailers(x->owner, &x->trailers);
            x_end(x);
        }
        return 0;
    case NGHTTP2_DATA:
        if (end && x->got_head)
            x_end(x);
        return 0;
    default:
        return 0;
    }
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user_data)
{
    struct h2x *x = nghttp2_session_get_stream_user_data(ng, id);
    if (!x || x->done || !x->got_head) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    x->sink->data(x->owner, (const char *)data, len);
    if (x->paused && !x->done)
        x->unconsumed += len;
    else
        nghttp2_session_consume(ng, id, len);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *user_data)
{
    struct h2c_conn *c = user_data;
    struct h2x *x;
    if (c->state == H2C_CLOSED)
        return 0;
    x = nghttp2_session_get_stream_user_data(ng, id);
    if (!x)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    x_queue_free(x);
    if (!x->done) {
        if (error_code == NGHTTP2_REFUSED_STREAM)
            x_fail(x, WP_UPE_RESET, true);
        else
            x_fail(x, x->got_head ? WP_UPE_RESET_BODY : WP_UPE_RESET, false);
    }
    idle_check(c);
    return 0;
}

/* ---- socket events ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct h2c_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (c->state != H2C_CLOSED && evbuffer_get_length(in)) {
        struct evbuffer_iovec v;
        ssize_t n;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        n = nghttp2_session_mem_recv(c->ng, v.iov_base, v.iov_len);
        if (c->state == H2C_CLOSED)
            return;
        if (n < 0) {
            WP_INC(&c->w->stats, WP_C_UPSTREAM_PROTOCOL_ERROR);
            weir_log(WEIR_LOG_DEBUG, "h2 upstream protocol error", "peer", c->peer, "error",
                     nghttp2_strerror((int)n), NULL);
            conn_close(c, WP_UPE_PROTOCOL);
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    do_send(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    do_send(arg);
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
    struct h2c_conn *c = arg;
    /* frames that came with the close still count (a GOAWAY, a last response) */
    read_cb(bev, c);
    conn_close(c, WP_UPE_RESET);
}

static nghttp2_session *new_session(struct h2c_conn *c)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    nghttp2_session *ng = NULL;
    nghttp2_settings_entry iv[2] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WP_H2C_STREAM_WIN},
    };
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return NULL;
    }
    nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    if (nghttp2_session_client_new2(&ng, cbs, c, opt) != 0)
        ng = NULL;
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (!ng)
        return NULL;
    if (nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
        nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, WP_H2C_CONN_WIN) != 0) {
        nghttp2_session_del(ng);
        return NULL;
    }
    return ng;
}

static void pool_connected(void *owner)
{
    struct h2c_conn *c = owner;
    struct bufferevent *bev = c->uc->bev;
    c->ng = new_session(c);
    if (!c->ng) {
        conn_close(c, WP_UPE_CONNECT);
        return;
    }
    set_state(c, H2C_READY);
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(bev, EV_WRITE, WP_H2C_WRITE_HIGH / 2, 0);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    schedule_flush(c);
}

static void pool_failed(void *owner, enum wp_up_fail why)
{
    struct h2c_conn *c = owner;
    c->uc = NULL; /* the pool closed it */
    conn_close(c, WP_UPE_CONNECT);
}

static const struct wp_upconn_handler pool_handler = {pool_connected, pool_failed};

/* Appends n bytes of src at buf + *o, cut to cap - 1 and NUL-terminated; returns
 * -1 when it was cut. */
static int key_put(char *buf, size_t cap, size_t *o, const char *src, size_t n)
{
    int rc = 0;
    if (*o + n >= cap) {
        n = *o + 1 < cap ? cap - 1 - *o : 0;
        rc = -1;
    }
    memcpy(buf + *o, src, n);
    *o += n;
    buf[*o] = '\0';
    return rc;
}

static int key_put_u64(char *buf, size_t cap, size_t *o, uint64_t v)
{
    char d[20];
    size_t n = sizeof(d);
    do {
        d[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return key_put(buf, cap, o, d + n, sizeof(d) - n);
}

/* "cluster|host:port|source|tls context id", by hand: the snprintf calls were
 * 1,500 instructions per exchange under callgrind. */
static int make_key(const struct wp_up_target *t, char *key, size_t cap)
{
    char addr[WP_ADDR_STRLEN], src[WP_ADDR_STRLEN] = "";
    size_t o = 0, a = 0;
    int rc = 0;
    if (t->host) {
        /* cut to the buffer, as snprintf did */
        key_put(addr, sizeof(addr), &a, t->host, strlen(t->host));
        key_put(addr, sizeof(addr), &a, ":", 1);
        key_put_u64(addr, sizeof(addr), &a, t->port);
    } else {
        wp_addr_format((const struct sockaddr *)&t->addr, addr, sizeof(addr));
    }
    if (t->bind_src)
        wp_addr_format(t->bind_src, src, sizeof(src));
    /* one TLS context per snapshot: never share a connection across settings */
    rc |= key_put(key, cap, &o, t->cluster, strlen(t->cluster));
    rc |= key_put(key, cap, &o, "|", 1);
    rc |= key_put(key, cap, &o, addr, strlen(addr));
    rc |= key_put(key, cap, &o, "|", 1);
    rc |= key_put(key, cap, &o, src, strlen(src));
    rc |= key_put(key, cap, &o, "|", 1);
    rc |= key_put_u64(key, cap, &o, t->tls ? wp_tls_client_id(t->tls) : 0);
    return rc < 0 ? -1 : 0;
}

/* Whether the peer lets the connection open one more stream now. */
static uint32_t conn_limit(const struct h2c_conn *c)
{
    uint32_t n;
    if (!c->ng || !c->peer_settings)
        return c->assumed_limit;
    n = nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return n ? n : 1; /* a peer that allows none would get a connection per request */
}

static bool conn_has_room(const struct h2c_conn *c)
{
    return c->live < conn_limit(c);
}

/* The connection for a new exchange: one with room under the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS; when every one is at its limit, a new one,
 * up to the cluster's tcp.maxConnections per endpoint, past which the exchange
 * queues on the least busy (nghttp2 holds it until a stream closes). */
static struct h2c_conn *conn_for(struct wp_worker *w, const struct wp_up_target *t)
{
    char key[WP_H2C_KEY_MAX];
    struct h2c_conn *c, *least = NULL;
    struct wp_up_target ct;
    uint64_t n = 0;

    if (make_key(t, key, sizeof(key)) < 0)
        return NULL;
    for (struct wp_list *it = w->h2conns.next; it != &w->h2conns; it = it->next) {
        c = wp_container_of(it, struct h2c_conn, link);
        if ((c->state == H2C_CONNECTING || c->state == H2C_READY) && !conn_full(c) &&
            strcmp(c->key, key) == 0) {
            if (conn_has_room(c))
                return c;
            n++;
            /* to queue on, a connection whose peer limit is known (nghttp2 holds
             * the streams back) beats one still connecting */
            if (!least || (c->peer_settings && !least->peer_settings) ||
                (c->peer_settings == least->peer_settings && c->live < least->live))
                least = c;
        }
    }
    if (least && t->tcp && t->tcp->max_connections >= 0 && n >= (uint64_t)t->tcp->max_connections)
        return least;
    if (!(c = calloc(1, sizeof(*c))))
        return NULL;
    c->w = w;
    memcpy(c->key, key, strlen(key) + 1);
    wp_list_init(&c->pending);
    wp_list_init(&c->streams);
    c->goaway_last_id = INT32_MAX;
    c->max_requests = t->max_requests;
    c->assumed_limit = least ? conn_limit(least) : UINT32_MAX;
    c->idle_ms = t->idle_timeout_ms > 0 ? t->idle_timeout_ms : WP_H2C_DEFAULT_IDLE;
    c->flush_ev = event_new(w->base, -1, 0, flush_cb, c);
    c->timer = evtimer_new(w->base, timer_cb, c);
    ct = *t;
    ct.poolable = false; /* this codec keeps the connection for itself */
    if (!c->flush_ev || !c->timer || !(c->uc = wp_pool_acquire(w, &ct, &pool_handler, c))) {
        if (c->flush_ev)
            event_free(c->flush_ev);
        if (c->timer)
            event_free(c->timer);
        free(c);
        return NULL;
    }
    snprintf(c->peer, sizeof(c->peer), "%s", c->uc->peer);
    c->eps = c->uc->eps;
    wp_list_insert_tail(&w->h2conns, &c->link);
    return c;
}

/* ---- wp_upstream_ops ---- */

static void op_send_data(struct wp_upstream *u, const char *data, size_t len)
{
    struct h2x *x = (struct h2x *)u;
    if (x->done || x->out_eof || !len)
        return;
    evbuffer_add(x->out, data, len);
    if (x->data_deferred && x->conn->state != H2C_CLOSED) {
        x->data_deferred = false;
        nghttp2_session_resume_data(x->conn->ng, x->id);
    }
    schedule_flush(x->conn);
}

static void op_send_end(struct wp_upstream *u)
{
    struct h2x *x = (struct h2x *)u;
    if (x->done || x->out_eof)
        return;
    x->out_eof = true;
    if (x->data_deferred && x->conn->state != H2C_CLOSED) {
        x->data_deferred = false;
        nghttp2_session_resume_data(x->conn->ng, x->id);
    }
    schedule_flush(x->conn);
}

static size_t op_write_buffered(struct wp_upstream *u)
{
    struct h2x *x = (struct h2x *)u;
    size_t n = evbuffer_get_length(x->out);
    if (n >= WP_H2C_STREAM_HIGH)
        x->want_drained = true;
    return n;
}

static void op_pause_response(struct wp_upstream *u, bool pause)
{
    struct h2x *x = (struct h2x *)u;
    x->paused = pause;
    if (!pause && x->unconsumed && x->conn->state != H2C_CLOSED && x->id > 0) {
        nghttp2_session_consume(x->conn->ng, x->id, x->unconsumed);
        x->unconsumed = 0;
        schedule_flush(x->conn);
    }
}

static void op_abort(struct wp_upstream *u)
{
    struct h2x *x = (struct h2x *)u;
    struct h2c_conn *c = x->conn;
    bool submitted = x->id > 0;
    x->done = true;
    if (!submitted || c->state == H2C_CLOSED) {
        x_queue_free(x);
        return;
    }
    /* the nghttp2 stream may still read from x: it is freed when the stream closes */
    if (!x->queued_free) {
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, x->id, NGHTTP2_CANCEL);
        schedule_flush(c);
    }
}

static bool op_reused(const struct wp_upstream *u)
{
    return ((const struct h2x *)u)->reused;
}

static struct wp_endpoint_stats *op_endpoint_stats(const struct wp_upstream *u)
{
    return ((const struct h2x *)u)->conn->eps;
}

static void op_send_trailers(struct wp_upstream *u, const struct wp_headers *trailers)
{
    struct h2x *x = (struct h2x *)u;
    /* without a body the head ended the stream already: nothing can follow */
    if (x->done || x->out_eof || !x->has_body)
        return;
    wp_headers_free(&x->req_trailers);
    if (wp_headers_copy(&x->req_trailers, trailers) < 0)
        wp_headers_free(&x->req_trailers);
}

static const struct wp_upstream_ops ops = {
    op_send_data, op_send_end, op_write_buffered, op_pause_response,
    op_abort,     op_reused,   op_endpoint_stats, op_send_trailers,
};

struct wp_upstream *wp_h2_client_start(struct wp_worker *w, const struct wp_up_sink *sink,
                                       void *owner, const struct wp_up_target *t,
                                       const struct wp_request_head *req, size_t max_header_bytes,
                                       size_t max_headers)
{
    struct h2x *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->max_header_bytes = max_header_bytes;
    x->max_headers = max_headers;
    x->base.ops = &ops;
    x->w = w;
    x->sink = sink;
    x->owner = owner;
    wp_list_init(&x->link);
    wp_request_head_init(&x->req);
    wp_response_head_init(&x->resp);
    x->resp.content_length = -1;
    wp_headers_init(&x->trailers);
    wp_headers_init(&x->req_trailers);
    x->has_body = !(req->content_length == 0 || (req->content_length < 0 && !req->chunked));
    x->out_eof = !x->has_body; /* END_STREAM goes with the head */
    x->out = evbuffer_new();
    if (!x->out || wp_str_replace(&x->req.method, req->method, strlen(req->method)) < 0 ||
        wp_str_replace(&x->req.path, req->path, strlen(req->path)) < 0 ||
        (req->authority &&
         wp_str_replace(&x->req.authority, req->authority, strlen(req->authority)) < 0) ||
        (req->scheme && wp_str_replace(&x->req.scheme, req->scheme, strlen(req->scheme)) < 0) ||
        wp_headers_copy(&x->req.headers, &req->headers) < 0)
        goto fail;
    x->req.content_length = req->content_length;
    x->conn = conn_for(w, t);
    if (!x->conn)
        goto fail;
    x->conn->assigned++;
    x->conn->live++;
    wp_list_insert_tail(&x->conn->pending, &x->link);
    event_del(x->conn->timer);
    schedule_flush(x->conn);
    return &x->base;
fail:
    wp_request_head_free(&x->req);
    wp_response_head_free(&x->resp);
    wp_headers_free(&x->trailers);
    if (x->out)
        evbuffer_free(x->out);
    free(x);
    return NULL;
}

bool wp_h2_client_waiting(const struct wp_upstream *u)
{
    const struct h2x *x = (const struct h2x *)u;
    return !x->done && x->conn && x->conn->state == H2C_CONNECTING;
}

void wp_h2_client_shutdown(struct wp_worker *w)
{
    while (!wp_list_empty(&w->h2conns))
        conn_close(wp_container_of(w->h2conns.next, struct h2c_conn, link), WP_UPE_RESET);
}
