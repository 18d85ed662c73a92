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

/* Removes the fields a Connection value names. The tokens are read in place (the
 * value's bytes stay valid while fields are removed) and lower-cased on the stack:
 * strndup() and strtok_r() were 250 instructions per response under callgrind. As
 * strndup() did, the value ends at a NUL. */
static void remove_connection_tokens(struct wp_headers *h, const char *v, size_t len,
                                     bool keep_upgrade)
{
    char small[64];
    size_t i = 0;
    len = strnlen(v, len);
    while (i < len) {
        size_t start, n;
        char *tok;
        while (i < len && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
            i++;
        start = i;
        while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        n = i - start;
        if (!n)
            break;
        tok = n < sizeof(small) ? small : malloc(n + 1);
        if (!tok)
            continue;
        for (size_t k = 0; k < n; k++) {
            char ch = v[start + k];
            tok[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        tok[n] = '\0';
        /* a field this proxy routes on or frames with is not the peer's to remove */
        if (!(keep_upgrade && strcmp(tok, "upgrade") == 0) && strcmp(tok, "host") != 0 &&
            strcmp(tok, "connection") != 0)
            wp_headers_remove(h, tok, n);
        if (tok != small)
            free(tok);
    }
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
        remove_connection_tokens(h, c->value, c->value_len, keep_upgrade);
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

/* "00" to "ff": two digits per byte of the id rather than one per nibble. */
static const char hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void wp_format_uuid(char out[37], uint64_t a, uint64_t b)
{
    /* where each byte's two digits go in 8-4-4-4-12 */
    static const unsigned char at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
    a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL; /* version 4 */
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; /* RFC 4122 variant */
    /* by hand: snprintf took 2,600 instructions per request id under callgrind, a
     * nibble at a time 420, a byte at a time 145 */
    for (int k = 0; k < 8; k++) {
        memcpy(out + at[k], hex_pairs + 2 * ((a >> (56 - 8 * k)) & 0xFF), 2);
        memcpy(out + at[8 + k], hex_pairs + 2 * ((b >> (56 - 8 * k)) & 0xFF), 2);
    }
    out[8] = out[13] = out[18] = out[23] = '-';
    out[36] = '\0';
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
