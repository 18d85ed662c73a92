#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "translate/translate_internal.h"

void tr_buf_put(struct tr_buf *b, const void *p, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void tr_buf_puts(struct tr_buf *b, const char *s)
{
    tr_buf_put(b, s, strlen(s));
}

void tr_buf_printf(struct tr_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        tr_buf_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    tr_buf_put(b, big, (size_t)n);
    free(big);
}

void tr_buf_free(struct tr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void tr_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

char *tr_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *tr_printf(const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    /* names and hosts fit: formatted once */
    if ((size_t)n < sizeof(small)) {
        memcpy(s, small, (size_t)n + 1);
        return s;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int tr_strcmp0(const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : (b ? -1 : 0);
    return strcmp(a, b);
}

const char *tr_json_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

void tr_set(json_t *obj, const char *key, json_t *value)
{
    if (value)
        json_object_set_new(obj, key, value);
}

json_t *tr_percent(double p)
{
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    double r = round(p * 10000.0) / 10000.0;
    if (r == floor(r))
        return json_integer((json_int_t)r);
    return json_real(r);
}

int64_t tr_ms(int64_t ns)
{
    if (ns <= 0)
        return 0;
    int64_t ms = ns / 1000000 + (ns % 1000000 ? 1 : 0);
    return ms > 2147483647LL ? 2147483647LL : ms;
}

char *tr_lower(const char *s)
{
    char *out = tr_strdup(s);
    if (out)
        for (char *p = out; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return out;
}

json_t *tr_string_map_json(const struct weir_string_map *m, bool lower_keys)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; i < m->len; i++) {
        if (lower_keys) {
            char *k = tr_lower(m->items[i].key);
            if (k)
                json_object_set_new(o, k, json_string(m->items[i].value));
            free(k);
        } else {
            json_object_set_new(o, m->items[i].key, json_string(m->items[i].value));
        }
    }
    return o;
}

bool tr_labels_match(const struct weir_string_map *sel, const json_t *labels)
{
    for (size_t i = 0; i < sel->len; i++) {
        const char *v = json_string_value(json_object_get(labels, sel->items[i].key));
        if (!v || strcmp(v, sel->items[i].value) != 0)
            return false;
    }
    return true;
}

bool tr_labels_match_json(const json_t *sel, const json_t *labels)
{
    const char *k;
    const json_t *want;
    json_object_foreach((json_t *)sel, k, want)
    {
        const char *v = json_string_value(json_object_get(labels, k));
        const char *w = json_string_value(want);
        if (!v || !w || strcmp(v, w) != 0)
            return false;
    }
    return true;
}

bool tr_visible(const struct tr_export *e, const char *ns)
{
    if (e->all)
        return true;
    for (size_t i = 0; i < e->n; i++)
        if (e->ns[i] == ns || strcmp(e->ns[i], ns) == 0)
            return true;
    return false;
}

int tr_frag_set(struct tr_ctx *ctx, struct tr_frag *f, json_t *json)
{
    f->json = json;
    if (!json)
        return -1;
    return tr_digest(json, &ctx->scratch, f->digest);
}

void tr_frag_clear(struct tr_frag *f)
{
    json_decref(f->json);
    f->json = NULL;
}

/* ---- protocols ---- */

static const char *const proto_names[] = {"http", "http2", "grpc", "tcp", "tls", "https", "skip"};

const char *tr_proto_name(enum tr_proto p)
{
    return proto_names[p];
}

bool tr_proto_is_http(enum tr_proto p)
{
    return p == TR_PROTO_HTTP || p == TR_PROTO_HTTP2 || p == TR_PROTO_GRPC;
}

/* Istio's protocol names (protocol.Parse), case-insensitive. Returns false
 * for a name Istio does not know. MongoDB, MySQL and Redis are read as
 * opaque TCP: Weir has no filters for them. */
static bool parse_protocol(const char *s, size_t n, enum tr_proto *out)
{
    static const struct {
        const char *name;
        enum tr_proto proto;
    } table[] = {
        {"http", TR_PROTO_HTTP},     {"http2", TR_PROTO_HTTP2}, {"grpc", TR_PROTO_GRPC},
        {"grpc-web", TR_PROTO_HTTP}, {"https", TR_PROTO_HTTPS}, {"tls", TR_PROTO_TLS},
        {"tcp", TR_PROTO_TCP},       {"mongo", TR_PROTO_TCP},   {"mysql", TR_PROTO_TCP},
        {"redis", TR_PROTO_TCP},     {"udp", TR_PROTO_SKIP},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strlen(table[i].name) == n && strncasecmp(table[i].name, s, n) == 0) {
            *out = table[i].proto;
            return true;
        }
    }
    return false;
}

enum tr_proto tr_proto_of_service_port(const char *name, const char *app_protocol,
                                       const char *l4_protocol)
{
    enum tr_proto p;
    if (l4_protocol && strcasecmp(l4_protocol, "TCP") != 0)
        return TR_PROTO_SKIP; /* UDP and SCTP are not captured */
    if (app_protocol) {
        if (strcmp(app_protocol, "kubernetes.io/h2c") == 0)
            return TR_PROTO_HTTP2;
        if (strcmp(app_protocol, "kubernetes.io/ws") == 0)
            return TR_PROTO_HTTP;
        if (strcmp(app_protocol, "kubernetes.io/wss") == 0)
            return TR_PROTO_HTTPS;
        if (parse_protocol(app_protocol, strlen(app_protocol), &p) && p != TR_PROTO_SKIP)
            return p;
    }
    if (!name)
        return TR_PROTO_TCP;
    /* "grpc-web" holds the separator, so it is looked for before the cut */
    if (strncasecmp(name, "grpc-web", 8) == 0)
        return TR_PROTO_HTTP;
    const char *dash = strchr(name, '-');
    size_t n = dash ? (size_t)(dash - name) : strlen(name);
    if (parse_protocol(name, n, &p) && p != TR_PROTO_SKIP)
        return p;
    return TR_PROTO_TCP;
}
