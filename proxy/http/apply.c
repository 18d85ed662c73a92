#include "http/apply.h"

#include "core/regex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wp_apply_header_ops(struct wp_headers *h, const struct weir_pc_header_ops *ops)
{
    for (size_t i = 0; i < ops->remove.len; i++)
        wp_headers_remove(h, ops->remove.items[i], strlen(ops->remove.items[i]));
    for (size_t i = 0; i < ops->set.len; i++) {
        const struct weir_kv *kv = &ops->set.items[i];
        if (wp_headers_set(h, kv->key, kv->value, strlen(kv->value)) < 0)
            return -1;
    }
    for (size_t i = 0; i < ops->add.len; i++) {
        const struct weir_kv *kv = &ops->add.items[i];
        if (wp_headers_add_str(h, kv->key, kv->value) < 0)
            return -1;
    }
    return 0;
}

/* A growable output bounded by WP_MAX_REWRITTEN_PATH. */
struct out {
    char *buf;
    size_t len, cap;
    bool over;
};

static void out_add(struct out *o, const char *s, size_t n)
{
    if (o->over)
        return;
    if (o->len + n + 1 > WP_MAX_REWRITTEN_PATH) {
        o->over = true;
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t ncap = o->cap ? o->cap * 2 : 256;
        while (ncap < o->len + n + 1)
            ncap *= 2;
        char *nb = realloc(o->buf, ncap);
        if (!nb) {
            o->over = true;
            return;
        }
        o->buf = nb;
        o->cap = ncap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* Envoy's regex_rewrite: every match of the pattern in the path is replaced,
 * \1..\9 naming capture groups (RE2 GlobalReplace). */
static int regex_rewrite(const struct weir_pc_rewrite *rw, const char *path, size_t len,
                         struct out *o)
{
    const char *tpl = rw->uri_regex_rewrite ? rw->uri_regex_rewrite : "";
    char *rewritten = weir_regex_replace_all(rw->uri_regex.regex, path, len, tpl);

    if (!rewritten)
        return -1;
    out_add(o, rewritten, strlen(rewritten));
    free(rewritten);
    return 0;
}

int wp_rewrite_path(const struct weir_pc_http_route *route, int match_index, char **path)
{
    const struct weir_pc_rewrite *rw = route->rewrite;
    const char *p = *path;
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    struct out o = {0};

    if (!rw || (!rw->uri && rw->uri_regex.m.type != WEIR_MATCH_REGEX))
        return 0;
    if (rw->uri) {
        const struct weir_pc_match *um = NULL;
        if (match_index >= 0 && (size_t)match_index < route->n_match)
            um = &route->match[match_index].uri;
        if (um && um->m.type == WEIR_MATCH_PREFIX) {
            size_t n = strlen(um->m.value);
            out_add(&o, rw->uri, strlen(rw->uri));
            out_add(&o, p + n, strlen(p) - n); /* the rest, query included */
        } else {
            out_add(&o, rw->uri, strlen(rw->uri));
            if (q)
                out_add(&o, q, strlen(q));
        }
    } else {
        if (regex_rewrite(rw, p, plen, &o) < 0) {
            free(o.buf);
            return -1;
        }
        if (q)
            out_add(&o, q, strlen(q));
    }
    if (o.over) {
        free(o.buf);
        return -1;
    }
    if (!o.buf || o.buf[0] != '/') {
        /* an origin-form target starts with "/" whatever the rewrite produced */
        struct out fixed = {0};
        out_add(&fixed, "/", 1);
        if (o.buf)
            out_add(&fixed, o.buf, o.len);
        free(o.buf);
        if (fixed.over) {
            free(fixed.buf);
            return -1;
        }
        o = fixed;
    }
    free(*path);
    *path = o.buf;
    return 0;
}

static int default_port(const char *scheme)
{
    return strcmp(scheme, "https") == 0 ? 443 : 80;
}

char *wp_redirect_location(const struct weir_pc_redirect *rd, const char *scheme,
                           const char *authority, const char *path, uint16_t request_port)
{
    const char *new_scheme = rd->scheme ? rd->scheme : (scheme ? scheme : "http");
    const char *auth = rd->authority ? rd->authority : (authority ? authority : "");
    const char *host = auth;
    size_t host_len = strlen(auth);
    int port = -1;
    bool bracket = false;
    char *out;
    size_t cap;

    /* split host and port of the (possibly replaced) authority */
    if (host_len && auth[0] == '[') {
        const char *close = strchr(auth, ']');
        if (close) {
            host = auth + 1;
            host_len = (size_t)(close - auth - 1);
            bracket = true;
            if (close[1] == ':')
                port = atoi(close + 2);
        }
    } else {
        const char *colon = strrchr(auth, ':');
        if (colon) {
            host_len = (size_t)(colon - auth);
            port = atoi(colon + 1);
        }
    }
    if (rd->authority == NULL && rd->scheme && scheme && strcmp(rd->scheme, scheme) != 0)
        port = -1; /* the old port belonged to the old scheme */
    if (rd->port)
        port = rd->port;
    else if (rd->derive_port == WEIR_PC_DERIVE_PORT_FROM_PROTOCOL_DEFAULT)
        port = -1;
    else if (rd->derive_port == WEIR_PC_DERIVE_PORT_FROM_REQUEST_PORT)
        port = request_port;
    if (port == default_port(new_scheme))
        port = -1;
    if (rd->uri)
        path = rd->uri;
    if (!path || !*path)
        path = "/";
    cap = strlen(new_scheme) + host_len + strlen(path) + 16;
    out = malloc(cap);
    if (!out)
        return NULL;
    if (port > 0)
        snprintf(out, cap, "%s://%s%.*s%s:%d%s", new_scheme, bracket ? "[" : "", (int)host_len,
                 host, bracket ? "]" : "", port, path);
    else
        snprintf(out, cap, "%s://%s%.*s%s%s", new_scheme, bracket ? "[" : "", (int)host_len, host,
                 bracket ? "]" : "", path);
    return out;
}

void wp_strip_trailer_fields(struct wp_headers *h)
{
    static const char *const banned[] = {"content-length",
                                         "transfer-encoding",
                                         "host",
                                         "connection",
                                         "keep-alive",
                                         "proxy-connection",
                                         "te",
                                         "trailer",
                                         "upgrade",
                                         "expect",
                                         NULL};
    size_t j = 0;

    for (size_t i = 0; i < h->len; i++) {
        bool drop = h->items[i].name_len == 0 || h->items[i].name[0] == ':';
        for (size_t k = 0; banned[k] && !drop; k++)
            drop = strcmp(h->items[i].name, banned[k]) == 0;
        if (!drop) /* a dropped field's bytes go with the list's blocks */
            h->items[j++] = h->items[i];
    }
    h->len = j;
}

void wp_strip_hop_by_hop(struct wp_headers *h, bool keep_upgrade)
{
    static const struct {
        const char *name;
        size_t len;
    } fixed[] = {{"keep-alive", 10},
                 {"proxy-connection", 16},
                 {"transfer-encoding", 17},
                 {"trailer", 7},
                 {"content-length", 14}};
    const struct wp_header *c;
    const struct wp_header *te;
    bool drop_te;
    size_t j = 0;

    /* fields named by Connection go first, while Connection is still there */
    while ((c = wp_headers_get(h, "connection", 10))) {
        char *copy = strndup(c->value, c->value_len);
        if (copy) {
            char *save = NULL;
            for (char *tok = strtok_r(copy, ", \t", &save); tok;
                 tok = strtok_r(NULL, ", \t", &save)) {
                for (char *s = tok; *s; s++)
                    *s = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
                if (keep_upgrade && strcmp(tok, "upgrade") == 0)
                    continue;
                /* a field this proxy routes on or frames with is not the peer's to remove */
                if (strcmp(tok, "host") == 0 || strcmp(tok, "connection") == 0)
                    continue;
                wp_headers_remove(h, tok, strlen(tok));
            }
            free(copy);
        }
        wp_headers_remove(h, "connection", 10);
    }
    te = wp_headers_get(h, "te", 2);
    drop_te = te && !(te->value_len == 8 && wp_ascii_caseeq(te->value, "trailers", 8));
    /* the fixed names in one pass over the list: one wp_headers_remove per name
     * was 1,800 instructions per request under callgrind */
    for (size_t i = 0; i < h->len; i++) {
        const struct wp_header *f = &h->items[i];
        bool drop = (f->name_len == 2 && drop_te && memcmp(f->name, "te", 2) == 0) ||
                    (f->name_len == 7 && !keep_upgrade && memcmp(f->name, "upgrade", 7) == 0);
        for (size_t k = 0; !drop && k < sizeof(fixed) / sizeof(fixed[0]); k++)
            drop = f->name_len == fixed[k].len && memcmp(f->name, fixed[k].name, f->name_len) == 0;
        if (!drop)
            h->items[j++] = *f;
    }
    h->len = j;
}

void wp_format_uuid(char out[37], uint64_t a, uint64_t b)
{
    a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL; /* version 4 */
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; /* RFC 4122 variant */
    /* by hand: snprintf took 2,600 instructions per request id under callgrind */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 60; i >= 0; i -= 4) {
        out[o++] = hex[(a >> i) & 0xF];
        if (o == 8 || o == 13)
            out[o++] = '-';
    }
    out[o++] = '-';
    for (int i = 60; i >= 0; i -= 4) {
        out[o++] = hex[(b >> i) & 0xF];
        if (o == 23)
            out[o++] = '-';
    }
    out[o] = '\0';
}

int wp_header_append_list(struct wp_headers *h, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    const struct wp_header *f = wp_headers_get(h, name, nlen);
    char *joined;
    int rc;
    if (!f)
        return wp_headers_add(h, name, nlen, value, strlen(value));
    size_t n = f->value_len + 2 + strlen(value) + 1;
    if (!(joined = malloc(n)))
        return -1;
    snprintf(joined, n, "%.*s, %s", (int)f->value_len, f->value, value);
    rc = wp_headers_set(h, name, joined, strlen(joined));
    free(joined);
    return rc;
}
