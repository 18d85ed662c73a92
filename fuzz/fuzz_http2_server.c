/*
 * weir-proxy's HTTP/2 downstream codec (proxy/http2/server.c): frames from a
 * client after a valid connection preface, through nghttp2 and the codec's own
 * callbacks (pseudo-headers, header limits, cookies, flow control, resets,
 * GOAWAY), on a real libevent loop over a bufferevent pair.
 *
 * The request stream layer is replaced by a small stand-in that answers in one of
 * several ways the path picks (at once, after the body, with trailers, by reset,
 * with a body large enough to hit the per-stream and socket limits), so the
 * response side runs as well. The codec is included as source to reach its
 * static functions; the worker functions it calls are stubbed below.
 *
 * Besides "no crash, no leak, no UB": every stream the codec creates is freed
 * exactly once, and never used after the codec said the client is gone; request
 * trailers handed to the stream stay within the header limits and carry no
 * pseudo-header, and trailers past the limits are refused with 431.
 */
#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../proxy/http2/server.c"

/* ---- worker stand-ins ---- */

static struct wp_list reap_list;
static struct wp_tracked *tracked_conn;

void wp_worker_defer_free(struct wp_worker *w, struct wp_deferred *d,
                          void (*fn)(struct wp_deferred *))
{
    (void)w;
    if (d->fn)
        return;
    d->fn = fn;
    wp_list_insert_tail(&reap_list, &d->link);
}

void wp_worker_track(struct wp_worker *w, struct wp_tracked *t, const struct wp_tracked_ops *ops)
{
    (void)w;
    t->ops = ops;
    tracked_conn = t;
}

void wp_worker_untrack(struct wp_worker *w, struct wp_tracked *t)
{
    (void)w;
    if (tracked_conn == t)
        tracked_conn = NULL;
}

struct wp_wsnap *wp_wsnap_acquire(struct wp_worker *w)
{
    (void)w;
    return NULL; /* the codec's built-in limits apply */
}

void wp_wsnap_release(struct wp_wsnap *ws)
{
    (void)ws;
}

void wp_access_log_write(const struct weir_proxy_config *cfg, const struct wp_access_entry *e)
{
    (void)cfg;
    (void)e;
}

void wp_addr_format(const struct sockaddr *sa, char *out, size_t cap)
{
    (void)sa;
    snprintf(out, cap, "-");
}

static void run_reaper(void)
{
    while (!wp_list_empty(&reap_list)) {
        struct wp_deferred *d = wp_container_of(reap_list.next, struct wp_deferred, link);
        wp_list_remove(&d->link);
        d->fn(d);
    }
}

/* ---- stream stand-in ---- */

enum answer {
    ANSWER_NOW,
    ANSWER_AFTER_BODY,
    ANSWER_TRAILERS,
    ANSWER_RESET,
    ANSWER_LARGE,
};

struct wp_stream {
    const struct wp_downstream_ops *ops;
    void *ctx;
    enum answer how;
    bool answered;
    bool gone;
    bool blocked;
};

static size_t live_streams;

struct wp_stream *wp_stream_new(struct wp_worker *w, const struct wp_downstream_info *info,
                                const struct wp_downstream_ops *ops, void *ctx)
{
    struct wp_stream *s = calloc(1, sizeof(*s));
    (void)w;
    (void)info;
    if (!s)
        return NULL;
    s->ops = ops;
    s->ctx = ctx;
    live_streams++;
    return s;
}

static void answer(struct wp_stream *s)
{
    static char big[300 * 1024];
    struct wp_response_head resp;
    struct wp_headers tr;

    if (s->answered || s->gone)
        return;
    s->answered = true;
    if (s->how == ANSWER_RESET) {
        s->ops->reset(s->ctx);
        return;
    }
    wp_response_head_init(&resp);
    resp.status = 200;
    resp.content_length = s->how == ANSWER_LARGE ? (int64_t)sizeof(big) : 2;
    wp_headers_add_str(&resp.headers, "content-type", "text/plain");
    wp_headers_add_str(&resp.headers, "connection", "close"); /* must not reach the wire */
    s->ops->send_head(s->ctx, &resp, false);
    wp_response_head_free(&resp);
    if (s->how == ANSWER_LARGE)
        s->ops->send_data(s->ctx, big, sizeof(big));
    else
        s->ops->send_data(s->ctx, "ok", 2);
    if (s->how == ANSWER_TRAILERS) {
        wp_headers_init(&tr);
        wp_headers_add_str(&tr, "grpc-status", "0");
        s->ops->send_trailers(s->ctx, &tr);
        wp_headers_free(&tr);
    }
    s->ops->send_end(s->ctx);
}

void wp_stream_request_head(struct wp_stream *s, struct wp_request_head *req)
{
    assert(!s->gone);
    assert(req->method && req->path && req->authority && req->scheme);
    s->how = (enum answer)((unsigned char)req->path[strlen(req->path) - 1] % 5);
    if (s->how == ANSWER_NOW || s->how == ANSWER_RESET || s->how == ANSWER_LARGE)
        answer(s);
}

void wp_stream_request_data(struct wp_stream *s, const char *data, size_t len)
{
    (void)data;
    assert(!s->gone);
    /* pause now and then, so held window updates are released later */
    s->ops->pause_request(s->ctx, len > 1000);
    if (len > 1000)
        s->ops->pause_request(s->ctx, false);
}

void wp_stream_request_end(struct wp_stream *s)
{
    assert(!s->gone);
    answer(s);
}

void wp_stream_request_trailers(struct wp_stream *s, struct wp_headers *trailers)
{
    assert(!s->gone);
    /* the codec hands over what it counted: never more than its limits */
    assert(trailers->len > 0 && trailers->len <= 100);
    for (size_t i = 0; i < trailers->len; i++)
        assert(trailers->items[i].name_len > 0 && trailers->items[i].name[0] != ':');
    wp_headers_free(trailers);
}

void wp_stream_request_error(struct wp_stream *s, int status, const char *details)
{
    (void)details;
    assert(!s->gone && status == 431);
    if (s->answered)
        return;
    s->how = ANSWER_NOW;
    answer(s);
}

void wp_stream_downstream_blocked(struct wp_stream *s, bool blocked)
{
    s->blocked = blocked;
}

void wp_stream_downstream_gone(struct wp_stream *s)
{
    s->gone = true;
}

void wp_stream_free(struct wp_stream *s)
{
    assert(live_streams > 0);
    live_streams--;
    free(s);
}

/* ---- the target ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    struct event_base *base = event_base_new();
    struct bufferevent *pair[2];
    struct wp_worker w;
    struct wp_downstream_info info;

    if (!base)
        return 0;
    memset(&w, 0, sizeof(w));
    memset(&info, 0, sizeof(info));
    w.base = base;
    wp_list_init(&reap_list);
    tracked_conn = NULL;
    if (bufferevent_pair_new(base, 0, pair) < 0) {
        event_base_free(base);
        return 0;
    }
    bufferevent_write(pair[1], preface, sizeof(preface) - 1);
    bufferevent_write(pair[1], data, size);
    bufferevent_enable(pair[1], EV_READ);
    wp_h2_server_start(&w, pair[0], &info);
    for (int i = 0; i < 8; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        evbuffer_drain(bufferevent_get_input(pair[1]),
                       evbuffer_get_length(bufferevent_get_input(pair[1])));
        run_reaper();
    }
    if (tracked_conn) {
        /* drain first (GOAWAY), then the shutdown path */
        tracked_conn->ops->drain(tracked_conn);
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (tracked_conn)
            tracked_conn->ops->close(tracked_conn);
    }
    run_reaper();
    bufferevent_free(pair[1]);
    event_base_loop(base, EVLOOP_NONBLOCK);
    run_reaper();
    assert(live_streams == 0);
    wp_h2_server_cache_free(&w); /* as the worker does when its loop ends */
    event_base_free(base);
    return 0;
}
