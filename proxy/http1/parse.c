#include "http1/parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct wp_h1_parser *P(http_parser *hp)
{
    return hp->data;
}

static int fail(struct wp_h1_parser *p, int status, const char *why)
{
    if (!p->error_status) {
        p->error_status = p->kind == WP_H1_RESPONSE ? 502 : status;
        p->error = why;
    }
    return -1;
}

/* Appends to a growing buffer. The header block scanner bounds the total before
 * these grow, so the only failure left is memory. A buffer starts in the parser
 * (small, small_cap bytes) and moves to the heap when it outgrows it: an upstream
 * response's parser is new for every exchange, and three allocations for its
 * buffers were 1,000 instructions per request under callgrind. */
static int append(char **buf, size_t *len, size_t *cap, char *small, size_t small_cap,
                  const char *data, size_t n)
{
    if (!*buf) {
        *buf = small;
        *cap = small_cap;
    }
    if (*len + n + 1 > *cap) {
        size_t ncap = *cap;
        char *nb;
        while (ncap < *len + n + 1)
            ncap *= 2;
        if (*buf == small) {
            if ((nb = malloc(ncap)))
                memcpy(nb, small, *len);
        } else {
            nb = realloc(*buf, ncap);
        }
        if (!nb)
            return -1;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* RFC 9110 5.6.2 tchar. http-parser lets a space before the colon through. A
 * table rather than ranges and strchr() over the other symbols: 120 instructions
 * per field less under callgrind. */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static bool is_token(const char *s, size_t len)
{
    unsigned char all = 1;
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++)
        all &= tchar[(unsigned char)s[i]];
    return all;
}

static bool value_has_ctl(const char *v, size_t len)
{
    /* Eight bytes at a time while none can be a control character (no byte below
     * 0x20, none equal to 0x7f): byte by byte this was 1,600 instructions per
     * request under callgrind. A word that may hold one (a tab is allowed) goes
     * to the byte loop. */
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x, del;
        memcpy(&x, v + i, 8);
        del = x ^ (ones * 0x7f);
        if ((((x - ones * 0x20) & ~x) | ((del - ones) & ~del)) & highs)
            break;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return true;
    }
    return false;
}

/* Ends the field being accumulated: checks it and stores it in the head. */
static int flush_field(struct wp_h1_parser *p)
{
    const char *v;
    size_t vlen;
    struct wp_headers *h;

    if (!p->field_len)
        return 0;
    v = p->value ? p->value : "";
    vlen = p->value_len;
    /* http-parser keeps leading/trailing whitespace out of most values but not
     * all; OWS is not part of the value (RFC 9110 5.5). */
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    while (vlen && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    if (!is_token(p->field, p->field_len))
        return fail(p, 400, "malformed header name");
    if (value_has_ctl(v, vlen))
        return fail(p, 400, "control character in a header value");
    if (++p->n_headers > p->limits.max_headers)
        return fail(p, 431, "too many header fields");
    if (p->in_trailers) {
        if (wp_headers_add(&p->trailers, p->field, p->field_len, v, vlen) < 0)
            return fail(p, 500, "out of memory");
        goto done;
    }

    h = p->kind == WP_H1_REQUEST ? &p->req.headers : &p->resp.headers;
#define IS(name) (p->field_len == sizeof(name) - 1 && strcasecmp(p->field, name) == 0)
    if (IS("content-length")) {
        p->n_content_length++;
    } else if (IS("transfer-encoding")) {
        p->n_transfer_encoding++;
        if (!(vlen == 7 && strncasecmp(v, "chunked", 7) == 0))
            return fail(p, 501, "transfer-encoding other than chunked");
    } else if (IS("host") && p->kind == WP_H1_REQUEST) {
        p->n_host++;
        if (p->n_host == 1 && wp_str_replace(&p->req.authority, v, vlen) < 0)
            return fail(p, 500, "out of memory");
        goto done;
    }
#undef IS
    if (wp_headers_add(h, p->field, p->field_len, v, vlen) < 0)
        return fail(p, 500, "out of memory");
done:
    p->field_len = 0;
    p->value_len = 0;
    p->have_value = false;
    if (p->field)
        p->field[0] = '\0';
    if (p->value)
        p->value[0] = '\0';
    return 0;
}

static int on_message_begin(http_parser *hp)
{
    struct wp_h1_parser *p = P(hp);
    p->message_done = false;
    p->in_trailers = false;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    struct wp_h1_parser *p = P(hp);
    if (append(&p->url, &p->url_len, &p->url_cap, p->url_small, sizeof(p->url_small), at, len) < 0)
        return fail(p, 500, "out of memory");
    return 0;
}

static int on_status(http_parser *hp, const char *at, size_t len)
{
    struct wp_h1_parser *p = P(hp);
    /* The reason phrase is informational; it shares the url buffer. */
    if (append(&p->url, &p->url_len, &p->url_cap, p->url_small, sizeof(p->url_small), at, len) < 0)
        return fail(p, 500, "out of memory");
    return 0;
}

/* Trailer bytes are not seen by the header block scanner: they are counted here,
 * against the budget the head left, ": " and CRLF included. */
static int count_trailer_bytes(struct wp_h1_parser *p, size_t len)
{
    p->head_bytes += len;
    if (p->head_bytes > p->limits.max_header_bytes)
        return fail(p, 431, "header block and trailers larger than the limit");
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    struct wp_h1_parser *p = P(hp);
    if (p->have_value && flush_field(p) < 0)
        return -1;
    if (p->in_trailers && count_trailer_bytes(p, len + (p->field_len ? 0 : 4)) < 0)
        return -1;
    if (append(&p->field, &p->field_len, &p->field_cap, p->field_small, sizeof(p->field_small), at,
               len) < 0)
        return fail(p, 500, "out of memory");
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct wp_h1_parser *p = P(hp);
    p->have_value = true;
    if (p->in_trailers && count_trailer_bytes(p, len) < 0)
        return -1;
    if (append(&p->value, &p->value_len, &p->value_cap, p->value_small, sizeof(p->value_small), at,
               len) < 0)
        return fail(p, 500, "out of memory");
    return 0;
}

/* Splits the request target into path and authority. */
static int set_target(struct wp_h1_parser *p)
{
    struct wp_request_head *r = &p->req;
    const char *u = p->url ? p->url : "";
    size_t n = p->url_len;

    if (n && u[0] == '/') {
        if (wp_str_replace(&r->path, u, n) < 0)
            return fail(p, 500, "out of memory");
        return 0;
    }
    if (n == 1 && u[0] == '*') {
        if (strcmp(r->method, "OPTIONS") != 0)
            return fail(p, 400, "\"*\" is only a target for OPTIONS");
        return wp_str_replace(&r->path, "*", 1) < 0 ? fail(p, 500, "out of memory") : 0;
    }
    if ((n > 7 && strncasecmp(u, "http://", 7) == 0) ||
        (n > 8 && strncasecmp(u, "https://", 8) == 0)) {
        struct http_parser_url pu;
        http_parser_url_init(&pu);
        if (http_parser_parse_url(u, n, 0, &pu) != 0 || !(pu.field_set & (1 << UF_HOST)))
            return fail(p, 400, "malformed absolute-form request target");
        if (pu.field_set & (1 << UF_USERINFO))
            return fail(p, 400, "userinfo in the request target");
        /* RFC 9112 3.2.2: the target's authority wins over Host. */
        size_t a_off = pu.field_data[UF_HOST].off, a_end = a_off + pu.field_data[UF_HOST].len;
        if (pu.field_set & (1 << UF_PORT))
            a_end = pu.field_data[UF_PORT].off + pu.field_data[UF_PORT].len;
        /* An IPv6 literal's brackets sit just outside the UF_HOST range. */
        if (a_off > 0 && u[a_off - 1] == '[')
            a_off--;
        if (a_end < n && u[a_end] == ']')
            a_end++;
        if (wp_str_replace(&r->authority, u + a_off, a_end - a_off) < 0)
            return fail(p, 500, "out of memory");
        if (wp_str_replace(&r->scheme, u, pu.field_data[UF_SCHEMA].len) < 0)
            return fail(p, 500, "out of memory");
        for (char *s = r->scheme; *s; s++)
            *s = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
        size_t path_off = a_end;
        if (path_off >= n || u[path_off] != '/') {
            /* "http://host" or "http://host?q": the path is "/" */
            char buf[1];
            buf[0] = '/';
            if (wp_str_replace(&r->path, buf, 1) < 0)
                return fail(p, 500, "out of memory");
            if (path_off < n && u[path_off] == '?') {
                size_t plen = 1 + (n - path_off);
                char *np = malloc(plen + 1);
                if (!np)
                    return fail(p, 500, "out of memory");
                np[0] = '/';
                memcpy(np + 1, u + path_off, n - path_off);
                np[plen] = '\0';
                free(r->path);
                r->path = np;
            }
        } else if (wp_str_replace(&r->path, u + path_off, n - path_off) < 0) {
            return fail(p, 500, "out of memory");
        }
        /* A fragment is never sent; http-parser accepts one, routing must not see it. */
        char *hash = strchr(r->path, '#');
        if (hash)
            *hash = '\0';
        return 0;
    }
    return fail(p, 400, "malformed request target");
}

/* Counts the protocols the Upgrade fields offer: h2c ones and the others. */
static void count_upgrades(const struct wp_headers *h, size_t *h2c, size_t *other)
{
    const struct wp_header *f = NULL;
    *h2c = *other = 0;
    while ((f = wp_headers_next(h, "upgrade", 7, f))) {
        size_t i = 0;
        while (i < f->value_len) {
            size_t start, end;
            while (i < f->value_len &&
                   (f->value[i] == ' ' || f->value[i] == '\t' || f->value[i] == ','))
                i++;
            start = i;
            while (i < f->value_len && f->value[i] != ',')
                i++;
            end = i;
            while (end > start && (f->value[end - 1] == ' ' || f->value[end - 1] == '\t'))
                end--;
            if (end == start)
                continue;
            if (end - start == 3 && strncasecmp(f->value + start, "h2c", 3) == 0)
                (*h2c)++;
            else
                (*other)++;
        }
    }
}

static int check_request_head(struct wp_h1_parser *p)
{
    struct wp_request_head *r = &p->req;
    http_parser *hp = &p->hp;
    const struct wp_header *h;

    if (hp->http_major != 1 || hp->http_minor > 1)
        return fail(p, 505, "HTTP version not supported");
    r->version_major = (uint8_t)hp->http_major;
    r->version_minor = (uint8_t)hp->http_minor;
    if (wp_str_replace(&r->method, http_method_str((enum http_method)hp->method),
                       strlen(http_method_str((enum http_method)hp->method))) < 0)
        return fail(p, 500, "out of memory");
    if (hp->method == HTTP_CONNECT)
        return fail(p, 405, "CONNECT is not proxied");
    if (p->n_host > 1)
        return fail(p, 400, "more than one Host header");
    if (set_target(p) < 0)
        return -1;
    if (!r->scheme && wp_str_replace(&r->scheme, "http", 4) < 0)
        return fail(p, 500, "out of memory");
    if (!r->authority) {
        if (r->version_minor == 1)
            return fail(p, 400, "missing Host header");
        if (wp_str_replace(&r->authority, "", 0) < 0)
            return fail(p, 500, "out of memory");
    }
    if (p->n_content_length > 1)
        return fail(p, 400, "more than one Content-Length");
    if (p->n_transfer_encoding > 1)
        return fail(p, 400, "more than one Transfer-Encoding");
    if (p->n_content_length && p->n_transfer_encoding)
        return fail(p, 400, "both Content-Length and Transfer-Encoding");
    if (p->n_transfer_encoding && r->version_minor == 0)
        return fail(p, 400, "Transfer-Encoding in HTTP/1.0");
    r->chunked = p->n_transfer_encoding > 0;
    r->content_length = p->n_content_length ? (int64_t)hp->content_length : -1;
    r->keep_alive = http_should_keep_alive(hp) != 0;
    h = wp_headers_get(&r->headers, "expect", 6);
    if (h) {
        if (h->value_len == 12 && strncasecmp(h->value, "100-continue", 12) == 0)
            r->expect_continue = r->version_minor == 1;
        else
            return fail(p, 417, "unsupported Expect");
    }
    h = wp_headers_get(&r->headers, "upgrade", 7);
    if (h) {
        const struct wp_header *c = NULL;
        while ((c = wp_headers_next(&r->headers, "connection", 10, c))) {
            if (wp_token_list_contains(c->value, c->value_len, "upgrade"))
                r->upgrade = true;
        }
        if (r->upgrade) {
            /* RFC 9113 dropped the h2c upgrade and the proxy does not take it (as
             * Envoy): passed on, the upstream could switch the connection to HTTP/2
             * out of the proxy's sight, every later request unrouted (h2c
             * smuggling). An offer of h2c alone is served as HTTP/1.1, Upgrade and
             * HTTP2-Settings going as hop-by-hop fields; h2c among others is refused. */
            size_t h2c, other;
            count_upgrades(&r->headers, &h2c, &other);
            if (h2c && other)
                return fail(p, 400, "h2c offered with other upgrades");
            if (h2c) {
                r->upgrade = false;
                p->hp.upgrade = 0; /* http-parser reads it after on_headers_complete */
            }
        }
        if (r->upgrade && (r->chunked || r->content_length > 0))
            return fail(p, 400, "an upgrade request carries a body");
    }
    return 0;
}

static int check_response_head(struct wp_h1_parser *p)
{
    struct wp_response_head *r = &p->resp;
    http_parser *hp = &p->hp;

    if (hp->http_major != 1 || hp->http_minor > 1)
        return fail(p, 502, "HTTP version not supported");
    if (hp->status_code < 100 || hp->status_code > 599)
        return fail(p, 502, "status code out of range");
    r->status = (int)hp->status_code;
    r->version_major = 1;
    r->version_minor = (uint8_t)hp->http_minor;
    if (p->url_len) {
        /* the standard phrase is what a NULL reason writes: no copy, one malloc and
         * one free fewer per response */
        const char *std = wp_status_reason(r->status);
        if (strlen(std) == p->url_len && memcmp(std, p->url, p->url_len) == 0) {
            free(r->reason);
            r->reason = NULL;
        } else if (wp_str_replace(&r->reason, p->url, p->url_len) < 0) {
            return fail(p, 500, "out of memory");
        }
    }
    if (p->n_content_length > 1)
        return fail(p, 502, "more than one Content-Length");
    if (p->n_transfer_encoding > 1)
        return fail(p, 502, "more than one Transfer-Encoding");
    if (p->n_content_length && p->n_transfer_encoding)
        return fail(p, 502, "both Content-Length and Transfer-Encoding");
    r->chunked = p->n_transfer_encoding > 0;
    r->content_length = p->n_content_length ? (int64_t)hp->content_length : -1;
    r->keep_alive = http_should_keep_alive(hp) != 0;
    r->no_body = p->head_method || r->status < 200 || r->status == 204 || r->status == 304;
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    struct wp_h1_parser *p = P(hp);
    int rc;

    if (p->in_trailers)
        return 0;
    if (flush_field(p) < 0)
        return -1;
    if (p->kind == WP_H1_REQUEST) {
        if (check_request_head(p) < 0)
            return -1;
    } else if (check_response_head(p) < 0) {
        return -1;
    }
    p->in_trailers = true; /* any header callbacks from now on are trailers */
    rc = p->cb->on_head ? p->cb->on_head(p->owner) : 0;
    if (rc < 0)
        return fail(p, 500, "stopped by the owner");
    if (p->kind == WP_H1_RESPONSE && (p->head_method || rc == 1))
        return 1;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    struct wp_h1_parser *p = P(hp);
    if (p->cb->on_body && p->cb->on_body(p->owner, at, len) < 0)
        return fail(p, 500, "stopped by the owner");
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    struct wp_h1_parser *p = P(hp);
    if (flush_field(p) < 0) /* the last trailer field */
        return -1;
    p->message_done = true;
    http_parser_pause(hp, 1);
    if (p->cb->on_complete && p->cb->on_complete(p->owner) < 0)
        return fail(p, 500, "stopped by the owner");
    return 0;
}

void wp_h1_parser_init(struct wp_h1_parser *p, enum wp_h1_kind kind,
                       const struct wp_h1_limits *limits, const struct wp_h1_callbacks *cb,
                       void *owner)
{
    memset(p, 0, sizeof(*p));
    http_parser_init(&p->hp, kind == WP_H1_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE);
    p->hp.data = p;
    http_parser_settings_init(&p->settings);
    p->settings.on_message_begin = on_message_begin;
    p->settings.on_url = on_url;
    p->settings.on_status = on_status;
    p->settings.on_header_field = on_header_field;
    p->settings.on_header_value = on_header_value;
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_body = on_body;
    p->settings.on_message_complete = on_message_complete;
    p->kind = kind;
    p->limits = *limits;
    p->cb = cb;
    p->owner = owner;
    p->in_head = true;
    p->scan = WP_H1_SCAN_LINE_START;
    wp_request_head_init(&p->req);
    wp_response_head_init(&p->resp);
    wp_headers_init(&p->trailers);
}

void wp_h1_parser_free(struct wp_h1_parser *p)
{
    if (p->field != p->field_small)
        free(p->field);
    if (p->value != p->value_small)
        free(p->value);
    if (p->url != p->url_small)
        free(p->url);
    wp_request_head_free(&p->req);
    wp_response_head_free(&p->resp);
    wp_headers_free(&p->trailers);
    p->field = p->value = p->url = NULL;
    p->field_cap = p->value_cap = p->url_cap = 0;
}

void wp_h1_parser_next(struct wp_h1_parser *p)
{
    wp_request_head_free(&p->req);
    wp_response_head_free(&p->resp);
    wp_headers_free(&p->trailers);
    p->field_len = p->value_len = p->url_len = 0;
    p->have_value = false;
    p->in_trailers = false;
    p->n_headers = 0;
    p->n_host = p->n_content_length = p->n_transfer_encoding = 0;
    p->message_done = false;
    p->head_method = false;
    p->in_head = true;
    p->scan = WP_H1_SCAN_LINE_START;
    p->line_len = p->lines = p->head_bytes = 0;
    http_parser_pause(&p->hp, 0);
}

bool wp_h1_parser_idle(const struct wp_h1_parser *p)
{
    return p->in_head && p->head_bytes == 0;
}

/* Scans header-block bytes for line structure. Returns how many bytes belong to
 * the block (all of len when it does not end here), or -1. */
static ssize_t scan_head(struct wp_h1_parser *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (++p->head_bytes > p->limits.max_header_bytes) {
            fail(p, 431, "header block larger than the limit");
            return -1;
        }
        if (p->scan == WP_H1_SCAN_CR) {
            if (c != '\n') {
                fail(p, 400, "CR not followed by LF in the header block");
                return -1;
            }
            if (p->line_len == 0) {
                if (p->lines == 0) {
                    /* RFC 9112 2.2: empty lines before the request line are ignored */
                    p->scan = WP_H1_SCAN_LINE_START;
                    continue;
                }
                p->in_head = false;
                return (ssize_t)(i + 1);
            }
            p->lines++;
            p->line_len = 0;
            p->scan = WP_H1_SCAN_LINE_START;
            continue;
        }
        if (c == '\r') {
            p->scan = WP_H1_SCAN_CR;
            continue;
        }
        if (c == '\n') {
            fail(p, 400, "bare LF in the header block");
            return -1;
        }
        if (p->scan == WP_H1_SCAN_LINE_START && p->lines > 0 && (c == ' ' || c == '\t')) {
            fail(p, 400, "obsolete line folding in a header");
            return -1;
        }
        p->scan = WP_H1_SCAN_IN_LINE;
        p->line_len++;
        /* the rest of the line at once, up to its CR or a bare LF: byte by byte,
         * this loop was 4,800 instructions per request under callgrind */
        {
            const char *start = data + i + 1, *end, *lf;
            size_t run;
            end = memchr(start, '\r', len - i - 1);
            if (!end)
                end = data + len;
            lf = memchr(start, '\n', (size_t)(end - start));
            run = (size_t)((lf ? lf : end) - start);
            if (p->head_bytes + run > p->limits.max_header_bytes) {
                fail(p, 431, "header block larger than the limit");
                return -1;
            }
            p->head_bytes += run;
            p->line_len += run;
            i += run;
        }
    }
    return (ssize_t)len;
}

static int map_parser_error(struct wp_h1_parser *p)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    switch (e) {
    case HPE_HEADER_OVERFLOW:
        return fail(p, 431, "header block larger than the limit");
    case HPE_INVALID_TRANSFER_ENCODING:
        return fail(p, 501, "transfer-encoding other than chunked");
    case HPE_INVALID_VERSION:
        return fail(p, 505, "HTTP version not supported");
    case HPE_INVALID_METHOD:
        /* mostly not HTTP at all (TLS, garbage) rather than a new method */
        return fail(p, 400, "unknown method or not HTTP");
    default:
        return fail(p, 400, http_errno_description(e));
    }
}

ssize_t wp_h1_parser_feed(struct wp_h1_parser *p, const char *data, size_t len)
{
    size_t done = 0;

    if (p->error_status)
        return -1;
    while (done < len) {
        size_t chunk = len - done, n;
        if (p->message_done)
            break; /* paused: the owner calls wp_h1_parser_next first */
        if (p->in_head) {
            ssize_t s = scan_head(p, data + done, chunk);
            if (s < 0)
                return -1;
            chunk = (size_t)s;
        }
        n = http_parser_execute(&p->hp, &p->settings, data + done, chunk);
        if (p->error_status)
            return -1;
        if (HTTP_PARSER_ERRNO(&p->hp) == HPE_PAUSED) {
            done += n;
            break;
        }
        if (HTTP_PARSER_ERRNO(&p->hp) != HPE_OK) {
            map_parser_error(p);
            return -1;
        }
        done += n;
        if (p->hp.upgrade)
            break;
        if (n < chunk) {
            /* http-parser stops short only on errors, pauses and upgrades */
            fail(p, 400, "parser stopped early");
            return -1;
        }
    }
    return (ssize_t)done;
}

int wp_h1_parser_eof(struct wp_h1_parser *p)
{
    if (p->error_status)
        return -1;
    if (wp_h1_parser_idle(p) || p->message_done)
        return 0;
    http_parser_execute(&p->hp, &p->settings, NULL, 0);
    if (HTTP_PARSER_ERRNO(&p->hp) != HPE_OK && HTTP_PARSER_ERRNO(&p->hp) != HPE_PAUSED)
        return -1;
    return p->message_done ? 0 : -1;
}

bool wp_h1_parser_upgraded(const struct wp_h1_parser *p)
{
    return p->hp.upgrade != 0;
}

/* ---- writing heads ---- */

/* Heads are assembled here and handed to the sink in a few large pieces: one
 * evbuffer_add per name, separator and value cost about 1,700 instructions per
 * request under callgrind. */
struct head_out {
    wp_h1_write_fn w;
    void *sink;
    size_t len;
    char buf[2048];
};

static int out_flush(struct head_out *o)
{
    int rc = o->len ? o->w(o->sink, o->buf, o->len) : 0;
    o->len = 0;
    return rc;
}

static int out_put(struct head_out *o, const char *s, size_t n)
{
    if (o->len + n > sizeof(o->buf)) {
        if (out_flush(o) < 0)
            return -1;
        if (n > sizeof(o->buf))
            return o->w(o->sink, s, n);
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

/* Decimal form of v into out (at least 20 bytes); returns its length. */
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
    return i;
}

#define W(s, n)                       \
    do {                              \
        if (out_put(o, (s), (n)) < 0) \
            return -1;                \
    } while (0)
#define WS(s) W((s), strlen(s))

static int write_fields(const struct wp_headers *h, struct head_out *o)
{
    for (size_t i = 0; i < h->len; i++) {
        const struct wp_header *f = &h->items[i];
        if (o->len + f->name_len + f->value_len + 4 <= sizeof(o->buf)) {
            char *d = o->buf + o->len;
            memcpy(d, f->name, f->name_len);
            d += f->name_len;
            *d++ = ':';
            *d++ = ' ';
            memcpy(d, f->value, f->value_len);
            d += f->value_len;
            *d++ = '\r';
            *d++ = '\n';
            o->len = (size_t)(d - o->buf);
            continue;
        }
        W(f->name, f->name_len);
        W(": ", 2);
        W(f->value, f->value_len);
        W("\r\n", 2);
    }
    return 0;
}

static int write_content_length(struct head_out *o, int64_t len)
{
    char buf[48] = "content-length: ";
    size_t n = 16 + fmt_u64(buf + 16, (uint64_t)len);
    buf[n++] = '\r';
    buf[n++] = '\n';
    W(buf, n);
    return 0;
}

static int request_head(const struct wp_request_head *r, struct head_out *o)
{
    WS(r->method);
    W(" ", 1);
    WS(r->path);
    W(" HTTP/1.1\r\nhost: ", 17);
    WS(r->authority ? r->authority : "");
    W("\r\n", 2);
    if (write_fields(&r->headers, o) < 0)
        return -1;
    if (r->chunked) {
        WS("transfer-encoding: chunked\r\n");
    } else if (r->content_length >= 0) {
        if (write_content_length(o, r->content_length) < 0)
            return -1;
    }
    if (r->upgrade)
        WS("connection: upgrade\r\n");
    else if (!r->keep_alive)
        WS("connection: close\r\n");
    W("\r\n", 2);
    return out_flush(o);
}

int wp_h1_write_request_head(const struct wp_request_head *r, wp_h1_write_fn w, void *sink)
{
    struct head_out o;
    o.w = w;
    o.sink = sink;
    o.len = 0;
    return request_head(r, &o);
}

static int last_chunk(const struct wp_headers *trailers, struct head_out *o)
{
    W("0\r\n", 3);
    if (trailers && write_fields(trailers, o) < 0)
        return -1;
    W("\r\n", 2);
    return out_flush(o);
}

int wp_h1_write_last_chunk(const struct wp_headers *trailers, wp_h1_write_fn w, void *sink)
{
    struct head_out o;
    o.w = w;
    o.sink = sink;
    o.len = 0;
    return last_chunk(trailers, &o);
}

static int response_head(const struct wp_response_head *r, struct head_out *o)
{
    const char *reason = r->reason ? r->reason : wp_status_reason(r->status);
    char code[24];
    size_t clen, rlen = strlen(reason);
    if (r->status < 0) {
        clen = (size_t)snprintf(code, sizeof(code), "%d", r->status);
    } else {
        clen = fmt_u64(code, (uint64_t)r->status);
    }
    /* a reason phrase that makes the status line 96 bytes or more is replaced by
     * the standard one */
    if (9 + clen + 1 + rlen + 2 >= 96) {
        reason = wp_status_reason(r->status);
        rlen = strlen(reason);
    }
    W("HTTP/1.1 ", 9);
    W(code, clen);
    W(" ", 1);
    W(reason, rlen);
    W("\r\n", 2);
    if (write_fields(&r->headers, o) < 0)
        return -1;
    if (r->status == 101) {
        WS("connection: upgrade\r\n");
    } else {
        if (r->chunked) {
            WS("transfer-encoding: chunked\r\n");
        } else if (r->content_length >= 0 && r->status >= 200 && r->status != 204) {
            if (write_content_length(o, r->content_length) < 0)
                return -1;
        }
        if (!r->keep_alive && r->status >= 200)
            WS("connection: close\r\n");
    }
    W("\r\n", 2);
    return out_flush(o);
}

int wp_h1_write_response_head(const struct wp_response_head *r, wp_h1_write_fn w, void *sink)
{
    struct head_out o;
    o.w = w;
    o.sink = sink;
    o.len = 0;
    return response_head(r, &o);
}
