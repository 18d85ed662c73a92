/*
 * weir-proxy's HTTP/1 request path (proxy/http1/parse.c, proxy/http/apply.c):
 * bytes from a client, parsed with the smuggling checks, pipelined messages one
 * after another, the input split at a point the first byte chooses.
 *
 * Beyond "no crash, no leak, no UB" it checks one property: a request the proxy
 * accepts, written back out the way the proxy forwards it (hop-by-hop fields out,
 * its own framing in), parses again into the same method, path, authority, body
 * framing and fields. A request that two readings would see differently is how
 * smuggling starts.
 *
 * The trailer fields of a chunked request, forwarded as the proxy does (fields
 * that must not be trailers removed, written with the last chunk), read back as
 * the same fields.
 *
 * A grpc-timeout field of an accepted request goes through the deadline reader
 * (proxy/http/grpc.c); a deadline it accepts, written back as the proxy forwards a
 * shortened one, must read back as at least the same deadline.
 *
 * Links weir_proxy_core (see proxy/CMakeLists.txt).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/apply.h"
#include "http/grpc.h"
#include "http1/parse.h"

struct sink {
    char *buf;
    size_t len, cap;
};

static int sink_write(void *arg, const char *data, size_t len)
{
    struct sink *s = arg;
    if (s->len + len > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        while (ncap < s->len + len)
            ncap *= 2;
        char *n = realloc(s->buf, ncap);
        if (!n)
            return -1;
        s->buf = n;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return 0;
}

struct owner {
    struct wp_h1_parser *p;
    struct wp_request_head head;
    int heads;
    size_t body;
};

static int on_head(void *arg)
{
    struct owner *o = arg;
    wp_request_head_free(&o->head);
    o->head = o->p->req;
    wp_request_head_init(&o->p->req);
    o->heads++;
    return 0;
}

static int on_body(void *arg, const char *data, size_t len)
{
    ((struct owner *)arg)->body += len;
    return 0;
}

static int on_complete(void *arg)
{
    return 0;
}

static const struct wp_h1_callbacks cbs = {on_head, on_body, on_complete};
static const struct wp_h1_limits limits = {8192, 64};

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_grpc_timeout(const struct wp_request_head *req)
{
    const struct wp_header *h = NULL;
    while ((h = wp_headers_next(&req->headers, "grpc-timeout", 12, h))) {
        char out[16];
        int64_t ms = wp_grpc_timeout_parse(h->value, h->value_len), again;
        size_t n;
        if (ms < 0)
            continue;
        if (ms == 0 || ms > WP_GRPC_TIMEOUT_MAX_MS)
            abort();
        n = wp_grpc_timeout_format(ms, out, sizeof(out));
        again = wp_grpc_timeout_parse(out, n);
        if (again < ms || again >= ms + 1000)
            abort();
    }
}

/* Forwards the head as the proxy does and requires the same reading back. */
static void round_trip(struct wp_request_head *req)
{
    struct wp_h1_parser p2;
    struct owner o2 = {0};
    struct sink out = {0};
    ssize_t n;

    check_grpc_timeout(req);
    wp_strip_hop_by_hop(&req->headers, req->upgrade);
    wp_headers_remove(&req->headers, "expect", 6);
    req->keep_alive = true;
    if (wp_h1_write_request_head(req, sink_write, &out) < 0) {
        free(out.buf);
        return;
    }
    wp_request_head_init(&o2.head);
    o2.p = &p2;
    wp_h1_parser_init(&p2, WP_H1_REQUEST, &(struct wp_h1_limits){1 << 20, 1 << 10}, &cbs, &o2);
    n = wp_h1_parser_feed(&p2, out.buf, out.len);
    if (n < 0 || o2.heads != 1)
        abort(); /* the proxy would send something it refuses itself */
    if (!same_str(req->method, o2.head.method) || !same_str(req->path, o2.head.path) ||
        !same_str(req->authority, o2.head.authority) || req->chunked != o2.head.chunked ||
        req->content_length != o2.head.content_length || req->upgrade != o2.head.upgrade)
        abort();
    /* the fields forwarded are the fields read back, framing aside */
    wp_headers_remove(&o2.head.headers, "content-length", 14);
    wp_headers_remove(&o2.head.headers, "transfer-encoding", 17);
    wp_headers_remove(&o2.head.headers, "connection", 10);
    if (o2.head.headers.len != req->headers.len)
        abort();
    for (size_t i = 0; i < req->headers.len; i++) {
        const struct wp_header *a = &req->headers.items[i], *b = &o2.head.headers.items[i];
        if (a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) != 0 ||
            a->value_len != b->value_len || memcmp(a->value, b->value, a->value_len) != 0)
            abort();
    }
    wp_h1_parser_free(&p2);
    wp_request_head_free(&o2.head);
    free(out.buf);
}

/* Forwards a message's trailers as the proxy does and requires them read back. */
static void trailers_round_trip(struct wp_headers *trailers)
{
    static const char head[] = "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n";
    struct wp_h1_parser p2;
    struct owner o2 = {0};
    struct sink out = {0};
    ssize_t n;

    wp_strip_trailer_fields(trailers);
    if (sink_write(&out, head, sizeof(head) - 1) < 0 ||
        wp_h1_write_last_chunk(trailers, sink_write, &out) < 0) {
        free(out.buf);
        return;
    }
    wp_request_head_init(&o2.head);
    o2.p = &p2;
    wp_h1_parser_init(&p2, WP_H1_REQUEST, &(struct wp_h1_limits){1 << 20, 1 << 10}, &cbs, &o2);
    n = wp_h1_parser_feed(&p2, out.buf, out.len);
    if (n < 0 || !p2.message_done || p2.trailers.len != trailers->len)
        abort();
    for (size_t i = 0; i < trailers->len; i++) {
        const struct wp_header *a = &trailers->items[i], *b = &p2.trailers.items[i];
        if (a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) != 0 ||
            a->value_len != b->value_len || memcmp(a->value, b->value, a->value_len) != 0)
            abort();
    }
    wp_h1_parser_free(&p2);
    wp_request_head_free(&o2.head);
    free(out.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool once;
    struct wp_h1_parser p;
    struct owner o = {0};
    size_t split, off = 0;
    int messages = 0;

    if (!once) {
        http_parser_set_max_header_size(2u << 20);
        once = true;
    }
    if (size < 1)
        return 0;
    split = data[0] % 64;
    data++;
    size--;
    wp_request_head_init(&o.head);
    o.p = &p;
    wp_h1_parser_init(&p, WP_H1_REQUEST, &limits, &cbs, &o);
    while (off < size && messages < 16) {
        size_t chunk = size - off;
        ssize_t n;
        int heads_before = o.heads;
        if (split && chunk > split)
            chunk = split; /* every boundary must be survivable */
        n = wp_h1_parser_feed(&p, (const char *)data + off, chunk);
        if (n < 0)
            break;
        off += (size_t)n;
        if (o.heads != heads_before)
            round_trip(&o.head);
        if (p.message_done) {
            messages++;
            if (p.trailers.len)
                trailers_round_trip(&p.trailers);
            if (wp_h1_parser_upgraded(&p))
                break; /* the rest is another protocol */
            wp_h1_parser_next(&p);
        } else if (n == 0) {
            break;
        }
    }
    wp_h1_parser_free(&p);
    wp_request_head_free(&o.head);
    return 0;
}
