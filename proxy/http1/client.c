#include "http1/client.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "http1/parse.h"

/* Below this much unsent request body the stream may read from its client again. */
#define WP_UP_WRITE_LOW (64 * 1024)

struct wp_h1_client {
    struct wp_upstream base;
    struct wp_worker *w;
    const struct wp_up_sink *sink;
    void *owner;
    struct wp_upconn *uc;
    struct wp_h1_parser parser;
    struct evbuffer *head;
    struct event *kick;
    struct wp_response_head resp; /* a 101 head kept until the switch */
    struct wp_headers trailers;   /* request trailers, sent with the last chunk */
    bool chunked;
    bool ended;
    bool upgrade_requested;
    bool upgrade_pending;
    bool informational;
    bool got_head;
    bool connected;     /* on_connected() ran */
    bool direct_write;  /* a socket: request bytes are written by out_flush() */
    bool flush_pending; /* kick is active for out_flush() */
    bool done;          /* the exchange is over: no more calls into the stream */
    struct wp_deferred dfree;
    struct wp_h1_client *next_free; /* in w->free_h1_clients */
};

/* An exchange from the worker's free list keeps its kick event (not pending), made
 * for this same address on this same loop; the rest is zero as from calloc. */
static struct wp_h1_client *client_alloc(struct wp_worker *w)
{
    struct wp_h1_client *c = w->free_h1_clients;
    struct event *kick;
    if (!c)
        return calloc(1, sizeof(*c));
    w->free_h1_clients = c->next_free;
    w->n_free_h1_clients--;
    kick = c->kick;
    memset(c, 0, sizeof(*c));
    c->kick = kick;
    return c;
}

static void client_release(struct wp_h1_client *c)
{
    struct wp_worker *w = c->w;
    if (c->head)
        evbuffer_free(c->head);
    if (c->kick && w->n_free_h1_clients < WP_WORKER_FREE_MAX) {
        event_del(c->kick);
        c->next_free = w->free_h1_clients;
        w->free_h1_clients = c;
        w->n_free_h1_clients++;
        return;
    }
    if (c->kick)
        event_free(c->kick);
    free(c);
}

void wp_h1_client_cache_free(struct wp_worker *w)
{
    struct wp_h1_client *c;
    while ((c = w->free_h1_clients)) {
        w->free_h1_clients = c->next_free;
        event_free(c->kick);
        free(c);
    }
    w->n_free_h1_clients = 0;
}

static void client_free(struct wp_deferred *d)
{
    struct wp_h1_client *c = wp_container_of(d, struct wp_h1_client, dfree);
    wp_h1_parser_free(&c->parser);
    wp_response_head_free(&c->resp);
    wp_headers_free(&c->trailers);
    client_release(c);
}

static void finish(struct wp_h1_client *c)
{
    c->done = true;
    if (c->kick)
        event_del(c->kick);
    wp_worker_defer_free(c->w, &c->dfree, client_free);
}

static void fail(struct wp_h1_client *c, enum wp_up_error e)
{
    bool reused = c->uc && c->uc->reused;
    if (c->done)
        return;
    if (c->uc) {
        wp_upconn_close(c->uc);
        c->uc = NULL;
    }
    finish(c);
    c->sink->failed(c->owner, e, reused);
}

/* ---- parser callbacks ---- */

static int on_head(void *owner)
{
    struct wp_h1_client *c = owner;
    struct wp_response_head resp;

    if (c->parser.resp.status == 101) {
        if (!c->upgrade_requested)
            return -1; /* a switch nobody asked for */
        c->upgrade_pending = true;
        c->resp = c->parser.resp;
        wp_response_head_init(&c->parser.resp);
        return 0;
    }
    if (c->parser.resp.status < 200) {
        c->informational = true; /* 100 Continue, 103: skipped */
        return 0;
    }
    c->got_head = true;
    resp = c->parser.resp;
    wp_response_head_init(&c->parser.resp);
    c->sink->head(c->owner, &resp);
    wp_response_head_free(&resp);
    return c->done ? -1 : 0;
}

static int on_body(void *owner, const char *data, size_t len)
{
    struct wp_h1_client *c = owner;
    if (c->informational)
        return 0;
    c->sink->data(c->owner, data, len);
    return c->done ? -1 : 0;
}

static int on_complete(void *owner)
{
    return 0; /* handled once the parser has returned, see process() */
}

static const struct wp_h1_callbacks callbacks = {on_head, on_body, on_complete};

static void complete(struct wp_h1_client *c)
{
    struct wp_upconn *uc = c->uc;
    bool reusable = http_should_keep_alive(&c->parser.hp) && c->ended;
    c->uc = NULL;
    finish(c);
    /* reading stays on: the pool watches an idle connection with it, and turning
     * it off and on again costs an epoll_ctl per request */
    bufferevent_disable(uc->bev, EV_WRITE);
    bufferevent_setcb(uc->bev, NULL, NULL, NULL, NULL);
    wp_upconn_release(uc, reusable);
    c->sink->end(c->owner);
}

static void switch_protocols(struct wp_h1_client *c)
{
    struct evbuffer *leftover = evbuffer_new();
    struct bufferevent *bev;
    struct wp_response_head resp = c->resp;

    wp_response_head_init(&c->resp);
    if (!leftover) {
        wp_response_head_free(&resp);
        fail(c, WP_UPE_RESET);
        return;
    }
    evbuffer_add_buffer(leftover, bufferevent_get_input(c->uc->bev));
    bufferevent_setcb(c->uc->bev, NULL, NULL, NULL, NULL);
    bev = wp_upconn_detach(c->uc);
    c->uc = NULL;
    finish(c);
    c->sink->upgrade(c->owner, bev, leftover, &resp);
}

static void process(struct wp_h1_client *c)
{
    struct evbuffer *in;
    if (c->done || !c->uc)
        return;
    in = bufferevent_get_input(c->uc->bev);
    while (!c->done && evbuffer_get_length(in)) {
        struct evbuffer_iovec v;
        ssize_t n;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        n = wp_h1_parser_feed(&c->parser, v.iov_base, v.iov_len);
        if (c->done)
            return;
        if (n < 0) {
            weir_log(WEIR_LOG_DEBUG, "malformed upstream response", "peer", c->uc->peer, "error",
                     c->parser.error, NULL);
            fail(c, WP_UPE_PROTOCOL);
            return;
        }
        evbuffer_drain(in, (size_t)n);
        if (c->upgrade_pending) {
            switch_protocols(c);
            return;
        }
        if (c->parser.message_done) {
            if (c->informational) {
                c->informational = false;
                wp_h1_parser_next(&c->parser);
                continue;
            }
            if (c->parser.trailers.len && c->sink->trailers) {
                c->sink->trailers(c->owner, &c->parser.trailers);
                if (c->done)
                    return;
            }
            complete(c);
            return;
        }
        if ((size_t)n < v.iov_len)
            break;
    }
}

/* ---- connection events ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
    process(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct wp_h1_client *c = arg;
    if (c->direct_write && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_disable(bev, EV_WRITE); /* written out: out_flush() writes again */
    if (!c->done)
        c->sink->drained(c->owner);
}

/* Request bytes on a plain socket are written here, at once, with libevent's
 * write event off; only what the socket does not take is left to libevent (until
 * write_cb sees the output empty). libevent alone adds and removes an EPOLLOUT
 * interest around every request: two epoll_ctl calls and one more loop iteration
 * per request under strace. TLS filters keep libevent's path. */
static void out_flush(struct wp_h1_client *c)
{
    struct bufferevent *bev;
    struct evbuffer *out;
    c->flush_pending = false;
    if (c->done || !c->uc || !c->direct_write)
        return;
    bev = c->uc->bev;
    out = bufferevent_get_output(bev);
    if ((bufferevent_get_enabled(bev) & EV_WRITE) || evbuffer_get_length(out) == 0)
        return;
    /* libevent keeps the start of a socket bufferevent's output frozen outside
     * its own write callback; the same unfreeze, write, freeze here */
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, bufferevent_getfd(bev));
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) > 0)
        bufferevent_enable(bev, EV_WRITE); /* full, or an error libevent reports */
}

/* Bytes were queued: they go out once the current callback is over, together with
 * whatever else it queues. */
static void out_queued(struct wp_h1_client *c)
{
    if (c->direct_write && c->connected && !c->flush_pending) {
        c->flush_pending = true;
        event_active(c->kick, EV_TIMEOUT, 1);
    }
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
    struct wp_h1_client *c = arg;
    if (c->done)
        return;
    process(c);
    if (c->done)
        return;
    if (events & BEV_EVENT_EOF) {
        /* a close-delimited body ends here */
        if (c->got_head && wp_h1_parser_eof(&c->parser) == 0 && c->parser.message_done) {
            c->parser.resp.keep_alive = false;
            c->ended = false; /* never reuse a connection the peer closed */
            complete(c);
            return;
        }
    }
    fail(c, c->got_head ? WP_UPE_RESET_BODY : WP_UPE_RESET);
}

static void on_connected(struct wp_h1_client *c)
{
    struct bufferevent *bev = c->uc->bev;
    c->connected = true;
    c->direct_write = bufferevent_get_underlying(bev) == NULL;
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(bev, EV_WRITE, WP_UP_WRITE_LOW, 0);
    if (c->direct_write) {
        bufferevent_disable(bev, EV_WRITE);
        bufferevent_enable(bev, EV_READ);
    } else {
        bufferevent_enable(bev, EV_READ | EV_WRITE);
    }
    if (c->head)
        bufferevent_write_buffer(bev, c->head);
    c->sink->ready(c->owner);
    /* the head and what the stream sent from ready() in one write */
    out_flush(c);
    /* bytes may already wait (an upstream that answers before reading) */
    if (!c->done && c->uc && evbuffer_get_length(bufferevent_get_input(bev)))
        process(c);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_h1_client *c = arg;
    if (c->done || !c->uc)
        return;
    if (!c->connected)
        on_connected(c);
    else
        out_flush(c);
}

static void pool_connected(void *owner)
{
    on_connected(owner);
}

static void pool_failed(void *owner, enum wp_up_fail why)
{
    struct wp_h1_client *c = owner;
    c->uc = NULL; /* the pool closed it */
    if (c->done)
        return;
    finish(c);
    c->sink->failed(c->owner, WP_UPE_CONNECT, false);
}

static const struct wp_upconn_handler pool_handler = {pool_connected, pool_failed};

/* ---- wp_upstream_ops ---- */

static int write_sink(void *sink, const char *data, size_t len);

static void op_send_data(struct wp_upstream *u, const char *data, size_t len)
{
    struct wp_h1_client *c = (struct wp_h1_client *)u;
    struct evbuffer *out;
    if (c->done || !c->uc || !len)
        return;
    out = bufferevent_get_output(c->uc->bev);
    if (c->chunked) {
        evbuffer_add_printf(out, "%zx\r\n", len);
        evbuffer_add(out, data, len);
        evbuffer_add(out, "\r\n", 2);
    } else {
        evbuffer_add(out, data, len);
    }
    out_queued(c);
}

static void op_send_end(struct wp_upstream *u)
{
    struct wp_h1_client *c = (struct wp_h1_client *)u;
    if (c->done || !c->uc || c->ended)
        return;
    c->ended = true;
    if (c->chunked) {
        wp_h1_write_last_chunk(&c->trailers, write_sink, bufferevent_get_output(c->uc->bev));
        out_queued(c);
    }
}

static void op_send_trailers(struct wp_upstream *u, const struct wp_headers *trailers)
{
    struct wp_h1_client *c = (struct wp_h1_client *)u;
    /* only a chunked body has a place for them */
    if (c->done || c->ended || !c->chunked)
        return;
    wp_headers_free(&c->trailers);
    if (wp_headers_copy(&c->trailers, trailers) < 0)
        wp_headers_free(&c->trailers);
}

static size_t op_write_buffered(struct wp_upstream *u)
{
    struct wp_h1_client *c = (struct wp_h1_client *)u;
    if (c->done || !c->uc || !c->uc->bev)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(c->uc->bev));
}

static void op_pause_response(struct wp_upstream *u, bool pause)
{
    struct wp_h1_client *c = (struct wp_h1_client *)u;
    if (c->done || !c->uc || c->uc->state != WP_UC_BUSY)
        return;
    if (pause) {
        bufferevent_disable(c->uc->bev, EV_READ);
    } else {
        bufferevent_enable(c->uc->bev, EV_READ);
        /* what arrived while paused is in the input buffer already */
        if (evbuffer_get_length(bufferevent_get_input(c->uc->bev)))
            bufferevent_trigger(c->uc->bev, EV_READ,
                                BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    }
}

static void op_abort(struct wp_upstream *u)
{
    struct wp_h1_client *c = (struct wp_h1_client *)u;
    if (c->done)
        return;
    if (c->uc) {
        wp_upconn_close(c->uc);
        c->uc = NULL;
    }
    finish(c);
}

static bool op_reused(const struct wp_upstream *u)
{
    return wp_h1_client_reused(u);
}

static struct wp_endpoint_stats *op_endpoint_stats(const struct wp_upstream *u)
{
    return wp_h1_client_endpoint_stats(u);
}

static const struct wp_upstream_ops ops = {
    op_send_data, op_send_end, op_write_buffered, op_pause_response,
    op_abort,     op_reused,   op_endpoint_stats, op_send_trailers,
};

static int write_sink(void *sink, const char *data, size_t len)
{
    return evbuffer_add(sink, data, len);
}

struct wp_upstream *wp_h1_client_start(struct wp_worker *w, const struct wp_up_sink *sink,
                                       void *owner, const struct wp_up_target *t,
                                       const struct wp_request_head *req, size_t max_header_bytes,
                                       size_t max_headers)
{
    struct wp_h1_client *c = client_alloc(w);
    struct wp_h1_limits limits = {max_header_bytes, max_headers};

    if (!c)
        return NULL;
    c->base.ops = &ops;
    c->w = w;
    c->sink = sink;
    c->owner = owner;
    c->chunked = req->chunked;
    c->upgrade_requested = req->upgrade;
    wp_response_head_init(&c->resp);
    wp_h1_parser_init(&c->parser, WP_H1_RESPONSE, &limits, &callbacks, c);
    c->parser.head_method = strcmp(req->method, "HEAD") == 0;
    if (!c->kick && !(c->kick = evtimer_new(w->base, kick_cb, c)))
        goto fail;
    c->uc = wp_pool_acquire(w, t, &pool_handler, c);
    if (!c->uc)
        goto fail;
    if (c->uc->state == WP_UC_BUSY) {
        /* a kept-alive connection: ready now, but the stream hears it from the loop,
         * after this call has returned. The head waits in the connection's output,
         * whose writing is off while the connection is in the pool. */
        if (wp_h1_write_request_head(req, write_sink, bufferevent_get_output(c->uc->bev)) < 0)
            goto fail_conn;
        event_active(c->kick, EV_TIMEOUT, 1);
    } else if (!(c->head = evbuffer_new()) ||
               wp_h1_write_request_head(req, write_sink, c->head) < 0) {
        goto fail_conn;
    }
    return &c->base;
fail_conn:
    wp_upconn_close(c->uc);
fail:
    wp_h1_parser_free(&c->parser);
    client_release(c);
    return NULL;
}

bool wp_h1_client_reused(const struct wp_upstream *u)
{
    const struct wp_h1_client *c = (const struct wp_h1_client *)u;
    return c->uc && c->uc->reused;
}

const char *wp_h1_client_peer(const struct wp_upstream *u)
{
    const struct wp_h1_client *c = (const struct wp_h1_client *)u;
    return c->uc ? c->uc->peer : NULL;
}

struct wp_endpoint_stats *wp_h1_client_endpoint_stats(const struct wp_upstream *u)
{
    const struct wp_h1_client *c = (const struct wp_h1_client *)u;
    return c->uc ? c->uc->eps : NULL;
}
