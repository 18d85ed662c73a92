#include "kube/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RES(var, g, v, res, k, nsd)         \
    const struct weir_kube_resource var = { \
        .group = g, .version = v, .resource = res, .kind = k, .namespaced = nsd}

RES(weir_kube_res_namespaces, "", "v1", "namespaces", "Namespace", false);
RES(weir_kube_res_configmaps, "", "v1", "configmaps", "ConfigMap", true);
RES(weir_kube_res_secrets, "", "v1", "secrets", "Secret", true);
RES(weir_kube_res_services, "", "v1", "services", "Service", true);
RES(weir_kube_res_pods, "", "v1", "pods", "Pod", true);
RES(weir_kube_res_serviceaccounts, "", "v1", "serviceaccounts", "ServiceAccount", true);
RES(weir_kube_res_events_core, "", "v1", "events", "Event", true);
RES(weir_kube_res_events, "events.k8s.io", "v1", "events", "Event", true);
RES(weir_kube_res_endpointslices, "discovery.k8s.io", "v1", "endpointslices", "EndpointSlice",
    true);
RES(weir_kube_res_leases, "coordination.k8s.io", "v1", "leases", "Lease", true);
RES(weir_kube_res_crds, "apiextensions.k8s.io", "v1", "customresourcedefinitions",
    "CustomResourceDefinition", false);
RES(weir_kube_res_virtualservices, "networking.istio.io", "v1", "virtualservices", "VirtualService",
    true);
RES(weir_kube_res_destinationrules, "networking.istio.io", "v1", "destinationrules",
    "DestinationRule", true);
RES(weir_kube_res_serviceentries, "networking.istio.io", "v1", "serviceentries", "ServiceEntry",
    true);
RES(weir_kube_res_authorizationpolicies, "security.istio.io", "v1", "authorizationpolicies",
    "AuthorizationPolicy", true);
RES(weir_kube_res_peerauthentications, "security.istio.io", "v1", "peerauthentications",
    "PeerAuthentication", true);
RES(weir_kube_res_requestauthentications, "security.istio.io", "v1", "requestauthentications",
    "RequestAuthentication", true);
RES(weir_kube_res_ratelimitpolicies, "policy.weir.dev", "v1alpha1", "ratelimitpolicies",
    "RateLimitPolicy", true);

static const struct weir_kube_resource *const table[] = {
    &weir_kube_res_namespaces,
    &weir_kube_res_configmaps,
    &weir_kube_res_secrets,
    &weir_kube_res_services,
    &weir_kube_res_pods,
    &weir_kube_res_serviceaccounts,
    &weir_kube_res_events_core,
    &weir_kube_res_events,
    &weir_kube_res_endpointslices,
    &weir_kube_res_leases,
    &weir_kube_res_crds,
    &weir_kube_res_virtualservices,
    &weir_kube_res_destinationrules,
    &weir_kube_res_serviceentries,
    &weir_kube_res_authorizationpolicies,
    &weir_kube_res_peerauthentications,
    &weir_kube_res_requestauthentications,
    &weir_kube_res_ratelimitpolicies,
};

const struct weir_kube_resource *weir_kube_resource_lookup(const char *name)
{
    const char *dot;
    size_t rlen;

    if (!name)
        return NULL;
    dot = strchr(name, '.');
    rlen = dot ? (size_t)(dot - name) : strlen(name);
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct weir_kube_resource *r = table[i];
        if (strlen(r->resource) != rlen || strncmp(r->resource, name, rlen) != 0)
            continue;
        /* Bare "events" means the core group, as kubectl resolves it. */
        if (dot ? strcmp(r->group, dot + 1) == 0 : r->group[0] == '\0')
            return r;
    }
    return NULL;
}

const char *weir_kube_api_version(const struct weir_kube_resource *r, char *buf, size_t len)
{
    if (r->group && r->group[0])
        snprintf(buf, len, "%s/%s", r->group, r->version);
    else
        snprintf(buf, len, "%s", r->version);
    return buf;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

char *weir_kube_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    char *out, *o;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += unreserved(*p) ? 1 : 3;
    out = malloc(n + 1);
    if (!out)
        return NULL;
    o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* A path segment must not be empty, "." or "..": the API server would
 * normalise it into a different object. */
static bool segment_ok(const char *s)
{
    return s && *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/');
}

char *weir_kube_path(const struct weir_kube_resource *r, const char *ns, const char *name,
                     const char *subresource)
{
    char *ens = NULL, *ename = NULL, *path = NULL;
    size_t n;

    if (!r || !segment_ok(r->version) || !segment_ok(r->resource) ||
        (r->group && r->group[0] && !segment_ok(r->group)))
        return NULL;
    const char *group = r->group ? r->group : "";
    if (ns && !*ns)
        ns = NULL;
    if (ns && (!r->namespaced || !segment_ok(ns)))
        return NULL;
    if (name && !segment_ok(name))
        return NULL;
    if (subresource && (!name || !segment_ok(subresource)))
        return NULL;
    if ((ns && !(ens = weir_kube_escape(ns))) || (name && !(ename = weir_kube_escape(name))))
        goto out;
    n = strlen(group) + strlen(r->version) + strlen(r->resource) + (ens ? strlen(ens) : 0) +
        (ename ? strlen(ename) : 0) + (subresource ? strlen(subresource) : 0) + 40;
    path = malloc(n);
    if (!path)
        goto out;
    size_t at = 0;
    if (group[0])
        at += (size_t)snprintf(path + at, n - at, "/apis/%s/%s", group, r->version);
    else
        at += (size_t)snprintf(path + at, n - at, "/api/%s", r->version);
    if (ens)
        at += (size_t)snprintf(path + at, n - at, "/namespaces/%s", ens);
    at += (size_t)snprintf(path + at, n - at, "/%s", r->resource);
    if (ename)
        at += (size_t)snprintf(path + at, n - at, "/%s", ename);
    if (subresource)
        snprintf(path + at, n - at, "/%s", subresource);
out:
    free(ens);
    free(ename);
    return path;
}

void weir_kube_query_init(struct weir_kube_query *q)
{
    memset(q, 0, sizeof(*q));
}

static void query_append(struct weir_kube_query *q, const char *s)
{
    size_t n = strlen(s);
    if (q->failed)
        return;
    if (q->len + n + 1 > q->cap) {
        size_t cap = q->cap ? q->cap : 64;
        while (cap < q->len + n + 1)
            cap *= 2;
        char *nb = realloc(q->buf, cap);
        if (!nb) {
            q->failed = true;
            return;
        }
        q->buf = nb;
        q->cap = cap;
    }
    memcpy(q->buf + q->len, s, n + 1);
    q->len += n;
}

void weir_kube_query_add(struct weir_kube_query *q, const char *key, const char *value)
{
    char *ek, *ev;

    if (!value || !*value || q->failed)
        return;
    ek = weir_kube_escape(key);
    ev = weir_kube_escape(value);
    if (!ek || !ev) {
        q->failed = true;
    } else {
        query_append(q, q->len ? "&" : "?");
        query_append(q, ek);
        query_append(q, "=");
        query_append(q, ev);
    }
    free(ek);
    free(ev);
}

void weir_kube_query_add_long(struct weir_kube_query *q, const char *key, long value)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", value);
    weir_kube_query_add(q, key, buf);
}

const char *weir_kube_query_str(const struct weir_kube_query *q)
{
    if (q->failed)
        return NULL;
    return q->buf ? q->buf : "";
}

void weir_kube_query_free(struct weir_kube_query *q)
{
    free(q->buf);
    memset(q, 0, sizeof(*q));
}
