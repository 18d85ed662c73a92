/*
 * RateLimitPolicy -> the document's rateLimits (docs/proxy-config.md). A
 * namespace's document holds the limits of its own policies and of the root
 * namespace's (mesh-wide); the proxy applies those whose selector matches its
 * workload. Each limit of a policy is one entry, "<ns>/<policy>.<limit>".
 */
#include <stdlib.h>
#include <string.h>

#include "model/rate_limit_policy.h"
#include "translate_internal.h"

static const char *descriptor_kind(enum weir_rl_descriptor_kind k)
{
    switch (k) {
    case WEIR_RL_DESC_HEADER:
        return "header";
    case WEIR_RL_DESC_PATH:
        return "path";
    case WEIR_RL_DESC_METHOD:
        return "method";
    case WEIR_RL_DESC_SOURCE_IP:
        return "source_ip";
    case WEIR_RL_DESC_SOURCE_PRINCIPAL:
        return "source_principal";
    }
    return "path";
}

static json_t *match_json(const struct weir_rl_limit *l)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (l->route)
        json_object_set_new(o, "route", json_string(l->route));
    if (l->port)
        json_object_set_new(o, "port", json_integer(l->port));
    tr_set(o, "path", tr_string_match_json(&l->path));
    if (l->methods.len) {
        json_t *a = json_array();
        for (size_t i = 0; i < l->methods.len; i++)
            json_array_append_new(a, json_string(l->methods.items[i]));
        tr_set(o, "methods", a);
    }
    if (l->n_headers) {
        json_t *h = json_object();
        for (size_t i = 0; i < l->n_headers; i++)
            json_object_set_new(h, l->headers[i].name, tr_string_match_json(&l->headers[i].match));
        tr_set(o, "headers", h);
    }
    if (!json_object_size(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *limit_json(const struct tr_cr *cr, const struct weir_rate_limit_policy *p,
                          const struct weir_rl_limit *l)
{
    char *name = tr_printf("%s/%s.%s", cr->ns, cr->name, l->name);
    /* whole milliseconds, rounded up: a shorter interval would allow more */
    int64_t fill_ms = (l->fill_interval_ns + 999999) / 1000000;
    json_t *o = json_pack("{s:s, s:s, s:{s:I, s:I, s:I}, s:i, s:I}", "name", name ? name : "",
                          "direction", p->direction == WEIR_RL_OUTBOUND ? "outbound" : "inbound",
                          "tokenBucket", "maxTokens", (json_int_t)l->max_tokens, "tokensPerFill",
                          (json_int_t)l->tokens_per_fill, "fillIntervalMs", (json_int_t)fill_ms,
                          "statusCode", l->status_code, "maxBuckets", (json_int_t)l->max_buckets);
    free(name);
    if (!o)
        return NULL;
    if (p->selector.len)
        tr_set(o, "selector", tr_string_map_json(&p->selector, false));
    tr_set(o, "match", match_json(l));
    if (l->n_descriptors) {
        json_t *a = json_array();
        for (size_t i = 0; i < l->n_descriptors; i++) {
            const struct weir_rl_descriptor *d = &l->descriptors[i];
            json_t *e = json_pack("{s:s}", "kind", descriptor_kind(d->kind));
            if (e && d->header)
                json_object_set_new(e, "header", json_string(d->header));
            json_array_append_new(a, e);
        }
        tr_set(o, "descriptors", a);
    }
    return o;
}

/* The policy's entries, built once and shared by every document: an array in
 * cr->frag, one element per limit, null for a limit whose name is too long. */
static const json_t *policy_entries(struct tr_ctx *ctx, struct tr_cr *cr)
{
    const struct weir_rate_limit_policy *p = cr->res->u.rl;
    if (cr->frag_built)
        return cr->frag.json;
    cr->frag_built = true;
    json_t *a = json_array();
    if (!a) {
        ctx->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < p->n_limits; i++) {
        const struct weir_rl_limit *l = &p->limits[i];
        if (strlen(cr->name) + 1 + strlen(l->name) > WEIR_RL_NAME_MAX) {
            char path[64];
            snprintf(path, sizeof(path), "spec.limits[%zu].name", i);
            tr_status_add(ctx, cr, WEIR_SEV_WARNING, path,
                          "\"%s.%s\" is longer than %d characters, the longest name a limit "
                          "can have in the proxy config; the limit is not applied",
                          cr->name, l->name, WEIR_RL_NAME_MAX);
            /* a null keeps the entries at their limits' indexes */
            if (json_array_append_new(a, json_null()) != 0) {
                ctx->oom = true;
                break;
            }
            continue;
        }
        json_t *e = limit_json(cr, p, l);
        if (!e || json_array_append_new(a, e) != 0) {
            ctx->oom = true;
            break;
        }
    }
    if (tr_frag_set(ctx, &cr->frag, a) != 0)
        ctx->oom = true;
    return cr->frag.json;
}

/* Whether some HTTP route of the document's services has this name. */
static bool route_named(const json_t *services, const char *name)
{
    const json_t *svc, *port, *route;
    size_t i, j, k;
    json_array_foreach(services, i, svc)
    {
        json_array_foreach(json_object_get(svc, "ports"), j, port)
        {
            json_array_foreach(json_object_get(port, "http"), k, route)
            {
                const char *n = json_string_value(json_object_get(route, "name"));
                if (n && strcmp(n, name) == 0)
                    return true;
            }
        }
    }
    return false;
}

static int cmp_entry(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
}

json_t *tr_rate_limits(struct tr_ctx *ctx, const struct tr_ns *ns, const json_t *services)
{
    const char *scopes[2] = {ns->name, strcmp(ns->name, ctx->root_ns) ? ctx->root_ns : NULL};
    const json_t **v = NULL;
    size_t n = 0, cap = 0;
    json_t *out = NULL;

    for (int s = 0; s < 2 && scopes[s]; s++) {
        for (size_t i = tr_crs_lower(ctx, WEIR_KIND_RATE_LIMIT_POLICY, scopes[s]); i < ctx->n_crs;
             i++) {
            struct tr_cr *cr = &ctx->crs[i];
            if (cr->kind != WEIR_KIND_RATE_LIMIT_POLICY || strcmp(cr->ns, scopes[s]) != 0)
                break;
            if (!cr->res)
                continue;
            const json_t *entries = policy_entries(ctx, cr);
            const json_t *e;
            size_t k;
            json_array_foreach(entries, k, e)
            {
                if (!json_is_object(e))
                    continue;
                const char *route =
                    json_string_value(json_object_get(json_object_get(e, "match"), "route"));
                /* the loader refuses a document naming a route it does not hold */
                if (route && !route_named(services, route)) {
                    if (strcmp(cr->ns, ns->name) == 0) {
                        char path[64];
                        snprintf(path, sizeof(path), "spec.limits[%zu].match.route", k);
                        tr_status_add(ctx, cr, WEIR_SEV_WARNING, path,
                                      "no HTTP route named \"%s\" is visible from namespace %s; "
                                      "the limit is not applied there",
                                      route, ns->name);
                    }
                    continue;
                }
                if (n == cap) {
                    cap = cap ? cap * 2 : 8;
                    const json_t **nv = realloc(v, cap * sizeof(*v));
                    if (!nv) {
                        ctx->oom = true;
                        goto out;
                    }
                    v = nv;
                }
                v[n++] = e;
            }
        }
    }
    if (!n)
        goto out;
    tr_sort(v, n, sizeof(*v), cmp_entry);
    out = json_array();
    for (size_t i = 0; out && i < n; i++)
        if (json_array_append(out, (json_t *)v[i]) != 0)
            ctx->oom = true;
out:
    free(v);
    return out;
}
