#include "route/router.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

static void lower_copy(char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    dst[len] = '\0';
}

/* Adds a name -> service mapping. An explicit name (host, alias) replaces a derived
 * short name; between two explicit names the loader already guarantees uniqueness. */
static int add_name(struct wp_route_index *ix, const char *name, size_t service, bool derived)
{
    size_t len = strlen(name);
    char buf[256];
    if (len >= sizeof(buf))
        return 0; /* the loader bounds hosts to 255 characters */
    lower_copy(buf, name, len);
    if (derived)
        return wp_strmap_add(&ix->names, buf, len, (void *)(uintptr_t)(service + 1)) < 0 ? -1 : 0;
    return wp_strmap_put(&ix->names, buf, len, (void *)(uintptr_t)(service + 1), NULL);
}

static int cmp_wild(const void *a, const void *b)
{
    const struct wp_route_wild *x = a, *y = b;
    return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

int wp_route_index_build(struct wp_route_index *ix, const struct weir_proxy_config *cfg)
{
    size_t n_wild = 0, n_addrs = 0;

    memset(ix, 0, sizeof(*ix));
    ix->cfg = cfg;
    wp_strmap_init(&ix->names);
    for (size_t i = 0; i < cfg->n_services; i++) {
        const struct weir_pc_service *s = &cfg->services[i];
        if (s->host[0] == '*' && s->host[1] == '.')
            n_wild++;
        n_addrs += s->addresses.len * s->n_ports;
    }
    if (n_wild && !(ix->wild = calloc(n_wild, sizeof(*ix->wild))))
        goto oom;
    if (n_addrs && !(ix->addrs = calloc(n_addrs, sizeof(*ix->addrs))))
        goto oom;

    /* Explicit names first so that derived short names never shadow them. */
    for (size_t i = 0; i < cfg->n_services; i++) {
        const struct weir_pc_service *s = &cfg->services[i];
        if (strcmp(s->host, "*") == 0) {
            ix->star = i + 1;
        } else if (s->host[0] == '*' && s->host[1] == '.') {
            ix->wild[ix->n_wild].suffix = s->host + 1;
            ix->wild[ix->n_wild].len = strlen(s->host + 1);
            ix->wild[ix->n_wild].service = i;
            ix->n_wild++;
        } else if (add_name(ix, s->host, i, false) < 0) {
            goto oom;
        }
        for (size_t a = 0; a < s->aliases.len; a++) {
            if (add_name(ix, s->aliases.items[a], i, false) < 0)
                goto oom;
        }
        for (size_t a = 0; a < s->addresses.len; a++) {
            for (size_t p = 0; p < s->n_ports; p++) {
                ix->addrs[ix->n_addrs].cidr = &s->addresses.items[a];
                ix->addrs[ix->n_addrs].port = s->ports[p].number;
                ix->addrs[ix->n_addrs].service = i;
                ix->n_addrs++;
            }
        }
    }
    for (size_t i = 0; i < cfg->n_services; i++) {
        const struct weir_pc_service *s = &cfg->services[i];
        const char *ns = cfg->namespace_;
        size_t nslen = strlen(ns);
        const char *dot = strchr(s->host, '.');
        char buf[256];
        size_t first;
        if (!dot || s->host[0] == '*')
            continue;
        first = (size_t)(dot - s->host);
        /* "a.<ns>.svc.<domain>" only: other namespaces need their namespace in the name */
        if (strncmp(dot + 1, ns, nslen) != 0 || strncmp(dot + 1 + nslen, ".svc.", 5) != 0)
            continue;
        if (first + 1 + nslen + 4 >= sizeof(buf))
            continue;
        memcpy(buf, s->host, first);
        buf[first] = '\0';
        if (add_name(ix, buf, i, true) < 0)
            goto oom;
        memcpy(buf, s->host, first + 1 + nslen);
        buf[first + 1 + nslen] = '\0';
        if (add_name(ix, buf, i, true) < 0)
            goto oom;
        memcpy(buf + first + 1 + nslen, ".svc", 5);
        if (add_name(ix, buf, i, true) < 0)
            goto oom;
    }
    if (ix->n_wild)
        qsort(ix->wild, ix->n_wild, sizeof(*ix->wild), cmp_wild);
    return 0;
oom:
    wp_route_index_free(ix);
    return -1;
}

void wp_route_index_free(struct wp_route_index *ix)
{
    wp_strmap_free(&ix->names, NULL);
    free(ix->wild);
    free(ix->addrs);
    memset(ix, 0, sizeof(*ix));
}

const struct weir_pc_port *wp_route_service_port(const struct weir_pc_service *svc, uint16_t port)
{
    size_t lo = 0, hi = svc->n_ports;
    while (lo < hi) { /* ports are sorted by number (loader rule 2) */
        size_t mid = (lo + hi) / 2;
        if (svc->ports[mid].number == port)
            return &svc->ports[mid];
        if (svc->ports[mid].number < port)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct weir_pc_service *wp_route_service_by_addr(const struct wp_route_index *ix, int family,
                                                       const uint8_t *ip, uint16_t port,
                                                       const struct weir_pc_port **sp)
{
    const struct wp_route_addr *best = NULL;
    for (size_t i = 0; i < ix->n_addrs; i++) {
        const struct wp_route_addr *a = &ix->addrs[i];
        if (a->port != port || a->cidr->family != family)
            continue;
        if (!weir_pc_cidr_contains(a->cidr, family, ip))
            continue;
        /* the most specific block wins, as a routing table would choose */
        if (!best || a->cidr->prefix_len > best->cidr->prefix_len)
            best = a;
    }
    if (!best)
        return NULL;
    if (sp)
        *sp = wp_route_service_port(&ix->cfg->services[best->service], port);
    return &ix->cfg->services[best->service];
}

const struct weir_pc_service *wp_route_service_by_host(const struct wp_route_index *ix,
                                                       const char *host, size_t len)
{
    char buf[256];
    void *v;
    if (len == 0 || len >= sizeof(buf))
        return NULL;
    lower_copy(buf, host, len);
    if (buf[len - 1] == '.') /* a fully qualified name's trailing dot */
        buf[--len] = '\0';
    v = wp_strmap_get(&ix->names, buf, len);
    if (v)
        return &ix->cfg->services[(uintptr_t)v - 1];
    for (size_t i = 0; i < ix->n_wild; i++) {
        const struct wp_route_wild *w = &ix->wild[i];
        if (len > w->len && memcmp(buf + len - w->len, w->suffix, w->len) == 0)
            return &ix->cfg->services[w->service];
    }
    if (ix->star)
        return &ix->cfg->services[ix->star - 1];
    return NULL;
}

void wp_split_authority(const char *auth, size_t len, const char **host, size_t *host_len,
                        int *port)
{
    const char *colon = NULL;
    *port = -1;
    if (len && auth[0] == '[') {
        const char *close = memchr(auth, ']', len);
        if (!close) {
            *host = auth;
            *host_len = len;
            return;
        }
        *host = auth + 1;
        *host_len = (size_t)(close - auth - 1);
        if ((size_t)(close - auth) + 1 < len && close[1] == ':')
            colon = close + 1;
    } else {
        colon = memchr(auth, ':', len);
        *host = auth;
        *host_len = colon ? (size_t)(colon - auth) : len;
    }
    if (colon) {
        long v = 0;
        const char *p = colon + 1, *end = auth + len;
        if (p == end)
            return;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9' || v > 65535)
                return;
            v = v * 10 + (*p - '0');
        }
        if (v >= 1 && v <= 65535)
            *port = (int)v;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ssize_t wp_query_param(const char *path, const char *name, char *buf, size_t cap)
{
    const char *q = strchr(path, '?');
    size_t nlen = strlen(name);
    if (!q)
        return -1;
    q++;
    while (*q) {
        const char *amp = strchr(q, '&');
        const char *end = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(end - q));
        const char *kend = eq ? eq : end;
        if ((size_t)(kend - q) == nlen && memcmp(q, name, nlen) == 0) {
            size_t o = 0;
            const char *v = eq ? eq + 1 : end;
            while (v < end && o < cap) {
                int h1, h2;
                if (*v == '%' && v + 2 < end && (h1 = hexval(v[1])) >= 0 &&
                    (h2 = hexval(v[2])) >= 0) {
                    buf[o++] = (char)(h1 * 16 + h2);
                    v += 3;
                } else {
                    buf[o++] = *v++;
                }
            }
            return (ssize_t)o;
        }
        if (!amp)
            break;
        q = amp + 1;
    }
    return -1;
}

/* Header match: the header must be present and one of its values must match. */
static bool header_matches(const struct wp_route_request *rq, const struct weir_pc_named_match *m,
                           bool *present)
{
    size_t nlen = strlen(m->name);
    const struct wp_header *h = NULL;
    *present = false;
    if ((nlen == 4 && memcmp(m->name, "host", 4) == 0) ||
        (nlen == 10 && memcmp(m->name, ":authority", 10) == 0)) {
        *present = rq->authority != NULL;
        return *present && weir_pc_match_eval(&m->match, rq->authority, strlen(rq->authority));
    }
    if (!rq->headers)
        return false;
    while ((h = wp_headers_next(rq->headers, m->name, nlen, h))) {
        *present = true;
        if (weir_pc_match_eval(&m->match, h->value, h->value_len))
            return true;
    }
    return false;
}

bool wp_route_http_match(const struct weir_pc_http_match *m, const struct wp_route_request *rq,
                         const struct wp_route_source *src)
{
    size_t path_len = strlen(rq->path);
    const char *q = strchr(rq->path, '?');
    size_t nq_len = q ? (size_t)(q - rq->path) : path_len;
    bool present;

    if (m->port && m->port != rq->port)
        return false;
    if (m->uri.m.type != WEIR_MATCH_NONE) {
        /* Envoy's semantics: prefix compares the path as sent, exact and regex the
         * path without its query string. */
        size_t n = m->uri.m.type == WEIR_MATCH_PREFIX ? path_len : nq_len;
        if (!weir_pc_match_eval(&m->uri, rq->path, n))
            return false;
    }
    if (!weir_pc_match_eval(&m->scheme, rq->scheme ? rq->scheme : "http",
                            strlen(rq->scheme ? rq->scheme : "http")))
        return false;
    if (!weir_pc_match_eval(&m->method, rq->method, strlen(rq->method)))
        return false;
    if (!weir_pc_match_eval(&m->authority, rq->authority ? rq->authority : "",
                            rq->authority ? strlen(rq->authority) : 0))
        return false;
    for (size_t i = 0; i < m->headers.len; i++) {
        if (!header_matches(rq, &m->headers.items[i], &present))
            return false;
    }
    for (size_t i = 0; i < m->without_headers.len; i++) {
        if (header_matches(rq, &m->without_headers.items[i], &present))
            return false;
    }
    for (size_t i = 0; i < m->query_params.len; i++) {
        char buf[2048];
        ssize_t n = wp_query_param(rq->path, m->query_params.items[i].name, buf, sizeof(buf));
        if (n < 0 || !weir_pc_match_eval(&m->query_params.items[i].match, buf, (size_t)n))
            return false;
    }
    if (m->source_labels.len) {
        if (!src || !src->labels || !weir_pc_selector_matches(&m->source_labels, src->labels))
            return false;
    }
    if (m->source_namespace && (!src || !src->ns || strcmp(m->source_namespace, src->ns) != 0))
        return false;
    return true;
}

int wp_route_select_http(const struct weir_pc_port *port, const struct wp_route_request *rq,
                         const struct wp_route_source *src, int *match)
{
    *match = -1;
    for (size_t i = 0; i < port->n_http; i++) {
        const struct weir_pc_http_route *r = &port->http[i];
        if (r->n_match == 0)
            return (int)i;
        for (size_t j = 0; j < r->n_match; j++) {
            if (wp_route_http_match(&r->match[j], rq, src)) {
                *match = (int)j;
                return (int)i;
            }
        }
    }
    return -1;
}

int wp_route_pick_destination(const struct weir_pc_destination *d, size_t n, uint32_t r)
{
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc += d[i].weight;
        if (d[i].weight && r < acc)
            return (int)i;
    }
    /* weights sum to 100 (loader rule 4); this is reached only with r >= 100 */
    for (size_t i = n; i-- > 0;) {
        if (d[i].weight)
            return (int)i;
    }
    return -1;
}

/* sniHosts entry against a server name (lower case): exact, "*" for any, or
 * "*.example.com" for any name under example.com. */
static bool sni_host_match(const char *pattern, const char *sni)
{
    size_t pl = strlen(pattern), sl = strlen(sni);
    if (strcmp(pattern, "*") == 0)
        return true;
    if (pl > 2 && pattern[0] == '*' && pattern[1] == '.')
        return sl > pl - 1 && strcasecmp(sni + sl - (pl - 1), pattern + 1) == 0;
    return strcasecmp(pattern, sni) == 0;
}

static bool l4_match(const struct weir_pc_l4_match *m, const char *sni, int family,
                     const uint8_t *ip, uint16_t port, const struct wp_route_source *src)
{
    if (m->sni_hosts.len) {
        bool any = false;
        for (size_t i = 0; sni && i < m->sni_hosts.len && !any; i++)
            any = sni_host_match(m->sni_hosts.items[i], sni);
        if (!any)
            return false;
    }
    if (m->port && m->port != port)
        return false;
    if (m->destination_subnets.len) {
        bool in = false;
        for (size_t i = 0; i < m->destination_subnets.len && !in; i++)
            in = ip && weir_pc_cidr_contains(&m->destination_subnets.items[i], family, ip);
        if (!in)
            return false;
    }
    if (m->source_labels.len &&
        (!src || !src->labels || !weir_pc_selector_matches(&m->source_labels, src->labels)))
        return false;
    if (m->source_namespace && (!src || !src->ns || strcmp(m->source_namespace, src->ns) != 0))
        return false;
    return true;
}

int wp_route_select_tls(const struct weir_pc_l4_route *routes, size_t n, const char *sni,
                        int family, const uint8_t *dst_ip, uint16_t port,
                        const struct wp_route_source *src)
{
    for (size_t i = 0; i < n; i++) {
        if (routes[i].n_match == 0)
            return (int)i;
        for (size_t j = 0; j < routes[i].n_match; j++) {
            if (l4_match(&routes[i].match[j], sni, family, dst_ip, port, src))
                return (int)i;
        }
    }
    return -1;
}

int wp_route_select_l4(const struct weir_pc_l4_route *routes, size_t n, int family,
                       const uint8_t *dst_ip, uint16_t port, const struct wp_route_source *src)
{
    return wp_route_select_tls(routes, n, NULL, family, dst_ip, port, src);
}
