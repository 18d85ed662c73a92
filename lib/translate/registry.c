/*
 * The service registry: every host a proxy may send to, from Kubernetes
 * Services (with their EndpointSlices and Pods) and ServiceEntries, each with
 * its ports, protocols, visibility and endpoints. A name or an address:port
 * belongs to one service in a proxy config, so claims are settled here once
 * for the whole mesh: Kubernetes Services first, then ServiceEntries from the
 * oldest; the loser is told in its status.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "model/common.h"
#include "translate/translate_internal.h"

#define EXPORT_TO_ANNOTATION "networking.istio.io/exportTo"

static int cmp_service_host(const void *a, const void *b)
{
    return strcmp((*(struct tr_service *const *)a)->host, (*(struct tr_service *const *)b)->host);
}

struct tr_service *tr_find_service(const struct tr_ctx *ctx, const char *host)
{
    struct tr_service key = {.host = (char *)host}, *kp = &key, **hit;
    if (!host || !ctx->n_services)
        return NULL;
    hit = bsearch(&kp, ctx->services, ctx->n_services, sizeof(kp), cmp_service_host);
    return hit ? *hit : NULL;
}

static bool known_service(const struct tr_ctx *ctx, const char *name, const char *ns)
{
    char host[512];
    int n = snprintf(host, sizeof(host), "%s.%s.svc.%s", name, ns, ctx->cluster_domain);
    /* a name too long for a host names no service */
    return n > 0 && (size_t)n < sizeof(host) && tr_find_service(ctx, host) != NULL;
}

char *tr_resolve_host(const struct tr_ctx *ctx, const char *host, const char *ns)
{
    const char *dot = strchr(host, '.');
    if (strcmp(host, "*") == 0 || weir_valid_ip(host) == NULL)
        return tr_strdup(host);
    if (!dot)
        return tr_printf("%s.%s.svc.%s", host, ns, ctx->cluster_domain);
    if (host[0] != '*') {
        /* "name.ns" and "name.ns.svc" are the search-path forms a client in
         * any namespace may use; they mean the Service when it exists */
        const char *rest = dot + 1;
        const char *dot2 = strchr(rest, '.');
        size_t nl = (size_t)(dot - host), rl = dot2 ? (size_t)(dot2 - rest) : strlen(rest);
        char name[256], rns[256];
        if (nl < sizeof(name) && rl < sizeof(rns) && (!dot2 || strcmp(dot2, ".svc") == 0)) {
            memcpy(name, host, nl);
            name[nl] = '\0';
            memcpy(rns, rest, rl);
            rns[rl] = '\0';
            if (known_service(ctx, name, rns))
                return tr_printf("%s.%s.svc.%s", name, rns, ctx->cluster_domain);
        }
    }
    return tr_strdup(host);
}

/* ---- exportTo ---- */

static int export_add(struct tr_export *e, const char *ns)
{
    const char **v = realloc(e->ns, (e->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    e->ns = v;
    e->ns[e->n++] = ns;
    return 0;
}

/* Istio's default is "*": visible to every namespace. "~" hides. */
int tr_export_from_list(struct tr_export *e, const struct weir_strings *list, const char *own)
{
    memset(e, 0, sizeof(*e));
    if (list->len == 0) {
        e->all = true;
        return 0;
    }
    for (size_t i = 0; i < list->len; i++) {
        const char *v = list->items[i];
        if (strcmp(v, "*") == 0)
            e->all = true;
        else if (strcmp(v, "~") == 0)
            continue;
        else if (export_add(e, strcmp(v, ".") == 0 ? own : v) != 0)
            return -1;
    }
    return 0;
}

/* The annotation holds a comma-separated list; its strings are kept by the
 * service (owned copies in `keep`). */
static int export_from_annotation(struct tr_ctx *ctx, struct tr_service *s, const char *text)
{
    memset(&s->exp, 0, sizeof(s->exp));
    if (!text || !*text) {
        s->exp.all = true;
        return 0;
    }
    char *copy = strdup(text), *save = NULL;
    if (!copy)
        return -1;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (!*tok || strcmp(tok, "~") == 0)
            continue;
        if (strcmp(tok, "*") == 0) {
            s->exp.all = true;
            continue;
        }
        struct tr_ns *ns = tr_find_ns(ctx, strcmp(tok, ".") == 0 ? s->ns : tok);
        /* a namespace with no object at all can have no proxy to see it */
        if (ns && export_add(&s->exp, ns->name) != 0) {
            free(copy);
            return -1;
        }
    }
    free(copy);
    return 0;
}

/* ---- endpoints ---- */

static const json_t *pod_labels_json(struct tr_pod *p)
{
    if (!p->labels_json) {
        const char *k;
        const json_t *v;
        p->labels_json = json_object();
        if (!p->labels_json)
            return NULL;
        json_object_foreach((json_t *)p->labels, k, v)
        {
            /* labels the API server would refuse cannot select anything */
            if (json_is_string(v) && !weir_valid_label_key(k) &&
                !weir_valid_label_value(json_string_value(v)))
                json_object_set(p->labels_json, k, (json_t *)v);
        }
    }
    return p->labels_json;
}

static int add_endpoint(struct tr_port *port, size_t *cap, const char *address, int number,
                        json_t *labels, const char *health, const char *identity, int weight)
{
    if (port->n_eps == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        struct tr_endpoint *v = realloc(port->eps, c * sizeof(*v));
        if (!v)
            return -1;
        port->eps = v;
        *cap = c;
    }
    struct tr_endpoint *e = &port->eps[port->n_eps];
    memset(e, 0, sizeof(*e));
    e->address = strdup(address);
    e->port = number;
    e->labels = labels ? json_incref(labels) : NULL;
    e->health = health;
    e->identity = tr_strdup(identity);
    e->weight = weight;
    port->n_eps++;
    if (!e->address || (identity && !e->identity))
        return -1;
    return 0;
}

static int cmp_endpoint(const void *a, const void *b)
{
    const struct tr_endpoint *x = a, *y = b;
    int r = strcmp(x->address, y->address);
    return r ? r : x->port - y->port;
}

static void endpoint_clear(struct tr_endpoint *e)
{
    free(e->address);
    free(e->identity);
    json_decref(e->labels);
}

json_t *tr_endpoint_json(const struct tr_endpoint *e)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "address", json_string(e->address));
    json_object_set_new(o, "port", json_integer(e->port));
    if (e->labels && json_object_size(e->labels) > 0)
        json_object_set(o, "labels", e->labels);
    if (e->weight > 0)
        json_object_set_new(o, "weight", json_integer(e->weight));
    if (e->health)
        json_object_set_new(o, "health", json_string(e->health));
    if (e->identity)
        json_object_set_new(o, "identity", json_string(e->identity));
    return o;
}

/* Sorts, drops repeated address:port pairs (a pod in two slices) and builds
 * the shared JSON array. */
static int finish_endpoints(struct tr_port *port)
{
    size_t out = 0;
    if (port->n_eps > 1)
        tr_sort(port->eps, port->n_eps, sizeof(*port->eps), cmp_endpoint);
    for (size_t i = 0; i < port->n_eps; i++) {
        if (out > 0 && cmp_endpoint(&port->eps[out - 1], &port->eps[i]) == 0) {
            endpoint_clear(&port->eps[i]);
            continue;
        }
        port->eps[out++] = port->eps[i];
    }
    port->n_eps = out;
    port->eps_json = json_array();
    if (!port->eps_json)
        return -1;
    for (size_t i = 0; i < port->n_eps; i++)
        if (json_array_append_new(port->eps_json, tr_endpoint_json(&port->eps[i])) != 0)
            return -1;
    return 0;
}

/* EndpointSlice conditions, as kube-proxy reads them: an absent ready means
 * ready; a terminating endpoint still serving is drained, not dropped. */
static const char *slice_health(const json_t *conditions)
{
    const json_t *ready = json_object_get(conditions, "ready");
    if (!json_is_false(ready))
        return NULL;
    if (json_is_true(json_object_get(conditions, "serving")) &&
        json_is_true(json_object_get(conditions, "terminating")))
        return "draining";
    return "unhealthy";
}

static int cmp_slice_key(const struct tr_slice *sl, const char *ns, const char *svc)
{
    int r = strcmp(sl->ns, ns);
    return r ? r : strcmp(sl->svc, svc);
}

/* The slice's port for the Service port named `name` ("" when unnamed). */
static int slice_port(const json_t *slice, const char *name)
{
    const json_t *ports = json_object_get(slice, "ports"), *p;
    size_t i;
    json_array_foreach(ports, i, p)
    {
        const char *pn = tr_json_str(p, "name");
        const char *proto = tr_json_str(p, "protocol");
        json_int_t num = json_integer_value(json_object_get(p, "port"));
        if (strcmp(pn ? pn : "", name ? name : "") == 0 && (!proto || strcmp(proto, "TCP") == 0) &&
            num >= 1 && num <= 65535)
            return (int)num;
    }
    return 0;
}

static int k8s_endpoints(struct tr_ctx *ctx, struct tr_service *s)
{
    /* Services come in the slices' order (namespace, then name): each one's
     * slices start where the previous one's search stopped. */
    size_t n = ctx->n_slices, lo = ctx->slice_cursor, hi, step = 1;
    if (lo > 0 && cmp_slice_key(&ctx->slices[lo - 1], s->ns, s->name) >= 0)
        lo = 0;
    /* gallop to a slice at or past the Service, then halve */
    for (hi = lo; hi < n && cmp_slice_key(&ctx->slices[hi], s->ns, s->name) < 0; step *= 2) {
        lo = hi + 1;
        hi += step;
    }
    if (hi > n)
        hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_slice_key(&ctx->slices[mid], s->ns, s->name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    ctx->slice_cursor = lo;
    for (size_t pi = 0; pi < s->n_ports; pi++) {
        struct tr_port *port = &s->ports[pi];
        size_t cap = 0;
        for (size_t i = lo; i < ctx->n_slices; i++) {
            const json_t *sl = ctx->slices[i].obj, *ep;
            size_t j;
            if (cmp_slice_key(&ctx->slices[i], s->ns, s->name) != 0)
                break;
            const char *type = tr_json_str(sl, "addressType");
            if (type && strcmp(type, "IPv4") != 0 && strcmp(type, "IPv6") != 0)
                continue;
            int number = slice_port(sl, port->name);
            if (!number)
                continue;
            if (!port->target_port)
                port->target_port = number; /* a named targetPort, resolved */
            json_array_foreach(json_object_get(sl, "endpoints"), j, ep)
            {
                const char *addr =
                    json_string_value(json_array_get(json_object_get(ep, "addresses"), 0));
                const json_t *ref = json_object_get(ep, "targetRef");
                const struct tr_pod *pod = NULL;
                if (!addr || weir_valid_ip(addr))
                    continue;
                if (ref &&
                    (!tr_json_str(ref, "kind") || strcmp(tr_json_str(ref, "kind"), "Pod") == 0)) {
                    const char *rns = tr_json_str(ref, "namespace");
                    pod = tr_find_pod(ctx, rns ? rns : s->ns, tr_json_str(ref, "name"));
                }
                json_t *labels = pod ? (json_t *)pod_labels_json((struct tr_pod *)pod) : NULL;
                if (add_endpoint(port, &cap, addr, number, labels,
                                 slice_health(json_object_get(ep, "conditions")),
                                 pod ? pod->identity : NULL, 0) != 0)
                    return -1;
            }
        }
        if (finish_endpoints(port) != 0)
            return -1;
    }
    return 0;
}

/* A named targetPort without endpoints: the container port of a selected pod. */
static int pod_port_named(const struct tr_ctx *ctx, const struct tr_service *s, const char *name)
{
    if (!s->selector)
        return 0;
    for (size_t i = 0; i < ctx->n_pods; i++) {
        const struct tr_pod *p = &ctx->pods[i];
        const json_t *c, *cp;
        size_t j, k;
        if (strcmp(p->ns, s->ns) != 0 || !tr_labels_match_json(s->selector, p->labels))
            continue;
        json_array_foreach(json_object_get(json_object_get(p->obj, "spec"), "containers"), j, c)
        {
            json_array_foreach(json_object_get(c, "ports"), k, cp)
            {
                const char *n = tr_json_str(cp, "name");
                json_int_t num = json_integer_value(json_object_get(cp, "containerPort"));
                if (n && strcmp(n, name) == 0 && num >= 1 && num <= 65535)
                    return (int)num;
            }
        }
    }
    return 0;
}

/* ---- Kubernetes Services ---- */

static void service_free(struct tr_service *s);

static int cmp_port(const void *a, const void *b)
{
    return ((const struct tr_port *)a)->number - ((const struct tr_port *)b)->number;
}

static int add_string(char ***v, size_t *n, char *s)
{
    char **nv;
    if (!s)
        return -1;
    nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv) {
        free(s);
        return -1;
    }
    *v = nv;
    (*v)[(*n)++] = s;
    return 0;
}

static int from_k8s(struct tr_ctx *ctx, const json_t *obj, struct tr_service **out)
{
    const json_t *md = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");
    const json_t *ports = json_object_get(spec, "ports"), *p, *ips;
    const char *type = tr_json_str(spec, "type");
    const char *external = tr_json_str(spec, "externalName");
    struct tr_service *s = calloc(1, sizeof(*s));
    size_t i;

    *out = NULL;
    if (!s)
        return -1;
    s->obj = obj;
    s->ns = tr_json_str(md, "namespace");
    s->name = tr_json_str(md, "name");
    struct tr_ns *own = tr_find_ns(ctx, s->ns);
    if (own)
        s->ns = own->name;
    s->host = tr_printf("%s.%s.svc.%s", s->name, s->ns, ctx->cluster_domain);
    if (!s->host)
        goto fail;
    if (export_from_annotation(
            ctx, s, tr_json_str(json_object_get(md, "annotations"), EXPORT_TO_ANNOTATION)) != 0)
        goto fail;
    bool external_name = type && strcmp(type, "ExternalName") == 0;
    if (external_name && (!external || weir_valid_host(external))) {
        tr_note(ctx, obj,
                "Service %s/%s: ExternalName without a valid spec.externalName is ignored", s->ns,
                s->name);
        service_free(s);
        return 0;
    }
    s->dns = external_name;
    if (!external_name) {
        const json_t *sel = json_object_get(spec, "selector"), *v;
        const char *k;
        bool ok = json_is_object(sel) && json_object_size(sel) > 0;
        json_object_foreach((json_t *)sel, k, v)
        {
            ok &= json_is_string(v) && !weir_valid_label_key(k) &&
                  !weir_valid_label_value(json_string_value(v));
        }
        if (ok)
            s->selector = sel;
        else if (json_is_object(sel) && json_object_size(sel) > 0)
            tr_note(ctx, obj,
                    "Service %s/%s: spec.selector holds an invalid label; it selects no "
                    "workload",
                    s->ns, s->name);
        /* clusterIPs holds both families of a dual-stack Service; "None"
         * (headless) and "" are not addresses */
        ips = json_object_get(spec, "clusterIPs");
        if (json_is_array(ips) && json_array_size(ips) > 0) {
            json_array_foreach(ips, i, p)
            {
                const char *ip = json_string_value(p);
                if (ip && weir_valid_ip(ip) == NULL &&
                    add_string(&s->addresses, &s->n_addresses, strdup(ip)) != 0)
                    goto fail;
            }
        } else {
            const char *ip = tr_json_str(spec, "clusterIP");
            if (ip && weir_valid_ip(ip) == NULL &&
                add_string(&s->addresses, &s->n_addresses, strdup(ip)) != 0)
                goto fail;
        }
    }
    s->auto_mtls = !external_name;

    s->ports = calloc(json_array_size(ports) + 1, sizeof(*s->ports));
    if (!s->ports)
        goto fail;
    json_array_foreach(ports, i, p)
    {
        json_int_t num = json_integer_value(json_object_get(p, "port"));
        const char *name = tr_json_str(p, "name");
        const json_t *tp = json_object_get(p, "targetPort");
        enum tr_proto proto = tr_proto_of_service_port(name, tr_json_str(p, "appProtocol"),
                                                       tr_json_str(p, "protocol"));
        if (proto == TR_PROTO_SKIP)
            continue;
        if (num < 1 || num > 65535) {
            tr_note(ctx, obj,
                    "Service %s/%s: spec.ports[%zu] has no valid port number and is ignored", s->ns,
                    s->name, i);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < s->n_ports; j++)
            dup |= s->ports[j].number == num;
        if (dup)
            continue;
        struct tr_port *port = &s->ports[s->n_ports++];
        port->number = (int)num;
        port->name = name && weir_valid_dns1123_label(name) == NULL ? name : NULL;
        port->proto = proto;
        if (json_is_integer(tp) && json_integer_value(tp) >= 1 && json_integer_value(tp) <= 65535)
            port->target_port = (int)json_integer_value(tp);
        else if (!tp || json_is_null(tp))
            port->target_port = external_name ? 0 : (int)num;
    }
    if (s->n_ports == 0) {
        tr_note(ctx, obj, "Service %s/%s has no TCP port; the mesh has nothing to route to it",
                s->ns, s->name);
        service_free(s);
        return 0;
    }
    tr_sort(s->ports, s->n_ports, sizeof(*s->ports), cmp_port);
    if (external_name) {
        for (i = 0; i < s->n_ports; i++) {
            size_t cap = 0;
            struct tr_port *port = &s->ports[i];
            int tp = port->target_port ? port->target_port : port->number;
            if (add_endpoint(port, &cap, external, tp, NULL, NULL, NULL, 0) != 0 ||
                finish_endpoints(port) != 0)
                goto fail;
        }
    } else if (k8s_endpoints(ctx, s) != 0) {
        goto fail;
    }
    /* named target ports that no slice resolved: the pods say */
    json_array_foreach(ports, i, p)
    {
        const char *tp = tr_json_str(p, "targetPort");
        json_int_t num = json_integer_value(json_object_get(p, "port"));
        if (!tp)
            continue;
        for (size_t j = 0; j < s->n_ports; j++)
            if (s->ports[j].number == num && !s->ports[j].target_port)
                s->ports[j].target_port = pod_port_named(ctx, s, tp);
    }
    if (add_string(&s->aliases, &s->n_aliases, tr_printf("%s.%s", s->name, s->ns)) != 0 ||
        add_string(&s->aliases, &s->n_aliases, tr_printf("%s.%s.svc", s->name, s->ns)) != 0)
        goto fail;
    for (i = 0; i < s->n_addresses; i++)
        if (add_string(&s->aliases, &s->n_aliases, strdup(s->addresses[i])) != 0)
            goto fail;
    s->short_alias = strdup(s->name);
    if (!s->short_alias)
        goto fail;
    *out = s;
    return 0;
fail:
    service_free(s);
    return -1;
}

/* ---- ServiceEntries ---- */

static enum tr_proto se_proto(enum weir_port_protocol p)
{
    switch (p) {
    case WEIR_PROTO_HTTP:
    case WEIR_PROTO_GRPC_WEB:
    case WEIR_PROTO_HTTP_PROXY:
        return TR_PROTO_HTTP;
    case WEIR_PROTO_HTTP2:
        return TR_PROTO_HTTP2;
    case WEIR_PROTO_GRPC:
        return TR_PROTO_GRPC;
    case WEIR_PROTO_HTTPS:
        return TR_PROTO_HTTPS;
    case WEIR_PROTO_TLS:
        return TR_PROTO_TLS;
    case WEIR_PROTO_UDP:
        return TR_PROTO_SKIP;
    default:
        return TR_PROTO_TCP;
    }
}

static int se_endpoint_port(const struct weir_workload_entry *e, const struct weir_se_port *p)
{
    for (size_t i = 0; i < e->n_ports; i++)
        if (p->name && strcmp(e->ports[i].name, p->name) == 0)
            return (int)e->ports[i].number;
    return (int)(p->target_port ? p->target_port : p->number);
}

static int from_se(struct tr_ctx *ctx, struct tr_cr *cr, size_t host_index, struct tr_service **out)
{
    const struct weir_service_entry *se = cr->res->u.se;
    struct tr_service *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (!s)
        return -1;
    s->se = cr;
    s->ns = cr->ns;
    s->host = strdup(se->hosts.items[host_index]);
    if (!s->host || tr_export_from_list(&s->exp, &se->export_to, cr->ns) != 0)
        goto fail;
    s->dns = se->resolution == WEIR_SE_RESOLUTION_DNS ||
             se->resolution == WEIR_SE_RESOLUTION_DNS_ROUND_ROBIN;
    s->passthrough = se->resolution == WEIR_SE_RESOLUTION_NONE;
    if (host_index == 0)
        for (size_t i = 0; i < se->addresses.len; i++)
            if (add_string(&s->addresses, &s->n_addresses, strdup(se->addresses.items[i])) != 0)
                goto fail;
    s->ports = calloc(se->n_ports + 1, sizeof(*s->ports));
    if (!s->ports)
        goto fail;
    for (size_t i = 0; i < se->n_ports; i++) {
        const struct weir_se_port *sp = &se->ports[i];
        enum tr_proto proto = se_proto(sp->protocol);
        bool dup = false;
        for (size_t j = 0; j < s->n_ports; j++)
            dup |= s->ports[j].number == sp->number;
        if (proto == TR_PROTO_SKIP || dup)
            continue;
        struct tr_port *port = &s->ports[s->n_ports++];
        size_t cap = 0;
        port->number = (int)sp->number;
        port->name = sp->name;
        port->proto = proto;
        port->target_port = (int)(sp->target_port ? sp->target_port : 0);
        if (se->resolution == WEIR_SE_RESOLUTION_STATIC || s->dns) {
            for (size_t k = 0; k < se->n_endpoints; k++) {
                const struct weir_workload_entry *e = &se->endpoints[k];
                char *id = NULL;
                json_t *labels;
                int weight = (int)e->weight;
                if (!e->address || strncmp(e->address, "unix://", 7) == 0)
                    continue;
                if (weight > 128)
                    weight = 128; /* the proxy's range; shares above it are rare */
                if (e->service_account)
                    id = tr_printf("spiffe://%s/ns/%s/sa/%s", ctx->trust_domain, cr->ns,
                                   e->service_account);
                labels = e->labels.len ? tr_string_map_json(&e->labels, false) : NULL;
                int rc = add_endpoint(port, &cap, e->address, se_endpoint_port(e, sp), labels, NULL,
                                      id, weight > 0 ? weight : 0);
                json_decref(labels);
                free(id);
                if (rc != 0)
                    goto fail;
            }
            if (s->dns && se->n_endpoints == 0 && s->host[0] != '*' &&
                add_endpoint(port, &cap, s->host,
                             port->target_port ? port->target_port : port->number, NULL, NULL, NULL,
                             0) != 0)
                goto fail;
        }
        if (finish_endpoints(port) != 0)
            goto fail;
    }
    if (s->n_ports == 0) {
        service_free(s);
        return 0;
    }
    tr_sort(s->ports, s->n_ports, sizeof(*s->ports), cmp_port);
    *out = s;
    return 0;
fail:
    service_free(s);
    return -1;
}

static void service_free(struct tr_service *s)
{
    if (!s)
        return;
    tr_cluster_sets_free(s);
    tr_variants_free(s);
    free(s->host);
    free(s->exp.ns);
    for (size_t i = 0; i < s->n_addresses; i++)
        free(s->addresses[i]);
    free(s->addresses);
    for (size_t i = 0; i < s->n_aliases; i++)
        free(s->aliases[i]);
    free(s->aliases);
    free(s->short_alias);
    for (size_t i = 0; i < s->n_ports; i++) {
        for (size_t j = 0; j < s->ports[i].n_eps; j++)
            endpoint_clear(&s->ports[i].eps[j]);
        free(s->ports[i].eps);
        json_decref(s->ports[i].eps_json);
    }
    free(s->ports);
    free(s->subset_names);
    free(s->vs_wild);
    free(s->drs);
    free(s);
}

void tr_service_free(struct tr_service *s)
{
    service_free(s);
}

/* ---- claims ---- */

enum claim_what { CLAIM_HOST, CLAIM_ALIAS, CLAIM_ADDRESS };

struct claim {
    const char *key;
    int port;    /* addresses only */
    size_t prio; /* lower wins */
    struct tr_service *svc;
    enum claim_what what;
    size_t index;
    bool lost;
    struct tr_service *winner;
};

static int cmp_claim(const void *a, const void *b)
{
    const struct claim *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    if (r)
        return r;
    if (x->port != y->port)
        return x->port - y->port;
    return x->prio < y->prio ? -1 : x->prio > y->prio;
}

static int cmp_se_age(const void *a, const void *b)
{
    const struct tr_cr *x = *(struct tr_cr *const *)a, *y = *(struct tr_cr *const *)b;
    int r = strcmp(x->created, y->created);
    if (!r)
        r = strcmp(x->ns, y->ns);
    return r ? r : strcmp(x->name, y->name);
}

static void drop_string(char **v, size_t *n, size_t i)
{
    free(v[i]);
    v[i] = NULL;
    (void)n;
}

static void compact(char **v, size_t *n)
{
    size_t out = 0;
    for (size_t i = 0; i < *n; i++)
        if (v[i])
            v[out++] = v[i];
    *n = out;
}

static int settle_claims(struct tr_ctx *ctx, struct tr_service **v, size_t n)
{
    size_t cap = 0, nc = 0;
    struct claim *c;
    for (size_t i = 0; i < n; i++)
        cap += 1 + v[i]->n_aliases + v[i]->n_addresses * v[i]->n_ports;
    c = calloc(cap + 1, sizeof(*c));
    if (!c)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct tr_service *s = v[i];
        c[nc++] = (struct claim){s->host, 0, i, s, CLAIM_HOST, 0, false, NULL};
        for (size_t j = 0; j < s->n_aliases; j++)
            c[nc++] = (struct claim){s->aliases[j], 0, i, s, CLAIM_ALIAS, j, false, NULL};
        for (size_t j = 0; j < s->n_addresses; j++)
            for (size_t k = 0; k < s->n_ports; k++)
                c[nc++] = (struct claim){
                    s->addresses[j], s->ports[k].number, i, s, CLAIM_ADDRESS, j, false, NULL};
    }
    tr_sort(c, nc, sizeof(*c), cmp_claim);
    /* decide first, then drop: the claims point at the strings dropped */
    for (size_t i = 1, g = 0; i < nc; i++) {
        if (strcmp(c[i].key, c[g].key) != 0 || c[i].port != c[g].port) {
            g = i; /* the first of a group wins */
            continue;
        }
        if (c[g].svc != c[i].svc) {
            c[i].lost = true;
            c[i].winner = c[g].svc;
        }
    }
    for (size_t i = 0; i < nc; i++) {
        struct tr_service *s = c[i].svc, *winner = c[i].winner;
        if (!c[i].lost)
            continue;
        const char *why = winner->se ? winner->se->label : winner->host;
        switch (c[i].what) {
        case CLAIM_HOST:
            if (s->se && s->host[0])
                tr_status_add(ctx, s->se, WEIR_SEV_WARNING, "spec.hosts",
                              "host %s is already a name of %s; this host is ignored", s->host,
                              winner->se ? winner->se->label : "a Kubernetes Service");
            s->host[0] = '\0'; /* marks the service for removal */
            break;
        case CLAIM_ALIAS:
            if (s->aliases[c[i].index])
                drop_string(s->aliases, &s->n_aliases, c[i].index);
            break;
        case CLAIM_ADDRESS:
            if (!s->addresses[c[i].index])
                break;
            if (s->se)
                tr_status_add(ctx, s->se, WEIR_SEV_WARNING, "spec.addresses",
                              "address %s port %d is already used by %s; the address is "
                              "ignored",
                              s->addresses[c[i].index], c[i].port, why);
            else
                tr_note(ctx, s->obj, "Service %s/%s: address %s is also used by %s", s->ns, s->name,
                        s->addresses[c[i].index], why);
            drop_string(s->addresses, &s->n_addresses, c[i].index);
            break;
        }
    }
    free(c);
    for (size_t i = 0; i < n; i++) {
        /* an alias naming a dropped address goes with it */
        struct tr_service *s = v[i];
        for (size_t j = 0; j < s->n_aliases; j++) {
            if (!s->aliases[j] || weir_valid_ip(s->aliases[j]) != NULL)
                continue;
            bool kept = false;
            for (size_t k = 0; k < s->n_addresses; k++)
                kept |= s->addresses[k] && strcmp(s->addresses[k], s->aliases[j]) == 0;
            if (!kept)
                drop_string(s->aliases, &s->n_aliases, j);
        }
        compact(s->aliases, &s->n_aliases);
        compact(s->addresses, &s->n_addresses);
    }
    return 0;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tr_build_registry(struct tr_ctx *ctx)
{
    size_t n = 0, cap = ctx->n_k8s_services + 1, n_se = 0;
    struct tr_service **v;
    struct tr_cr **ses;

    for (size_t i = 0; i < ctx->n_crs; i++)
        if (ctx->crs[i].kind == WEIR_KIND_SERVICE_ENTRY && ctx->crs[i].res) {
            cap += ctx->crs[i].res->u.se->hosts.len;
            n_se++;
        }
    v = calloc(cap, sizeof(*v));
    ses = calloc(n_se + 1, sizeof(*ses));
    if (!v || !ses)
        goto fail;
    for (size_t i = 0; i < ctx->n_k8s_services; i++) {
        if (from_k8s(ctx, ctx->k8s_services[i], &v[n]) != 0)
            goto fail;
        if (v[n])
            n++;
    }
    tr_sort(v, n, sizeof(*v), cmp_service_host);
    n_se = 0;
    for (size_t i = 0; i < ctx->n_crs; i++)
        if (ctx->crs[i].kind == WEIR_KIND_SERVICE_ENTRY && ctx->crs[i].res)
            ses[n_se++] = &ctx->crs[i];
    tr_sort(ses, n_se, sizeof(*ses), cmp_se_age);
    for (size_t i = 0; i < n_se; i++) {
        const struct weir_service_entry *se = ses[i]->res->u.se;
        if (se->hosts.len > 1 && se->addresses.len > 0)
            tr_status_add(ctx, ses[i], WEIR_SEV_WARNING, "spec.addresses",
                          "addresses are given to the first host, %s, only: an address leads "
                          "to one service",
                          se->hosts.items[0]);
        for (size_t h = 0; h < se->hosts.len; h++) {
            if (from_se(ctx, ses[i], h, &v[n]) != 0)
                goto fail;
            if (v[n])
                n++;
        }
    }
    if (settle_claims(ctx, v, n) != 0)
        goto fail;
    ctx->services = v;
    ctx->n_services = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i]->host[0]) {
            service_free(v[i]);
            continue;
        }
        v[ctx->n_services++] = v[i];
    }
    tr_sort(ctx->services, ctx->n_services, sizeof(*ctx->services), cmp_service_host);
    for (size_t i = 0; i < ctx->n_services; i++) {
        struct tr_service *s = ctx->services[i];
        s->index = i;
        tr_sort(s->aliases, s->n_aliases, sizeof(*s->aliases), cmp_cstr);
        tr_sort(s->addresses, s->n_addresses, sizeof(*s->addresses), cmp_cstr);
        /* a short ServiceEntry host equal to the Service's name wins that name */
        if (s->short_alias && tr_find_service(ctx, s->short_alias)) {
            free(s->short_alias);
            s->short_alias = NULL;
        }
    }
    free(ses);
    return 0;
fail:
    for (size_t i = 0; i < cap; i++)
        service_free(v ? v[i] : NULL);
    free(v);
    free(ses);
    ctx->services = NULL;
    ctx->n_services = 0;
    return -1;
}
