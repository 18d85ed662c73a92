/*
 * Services and their routes. A service's entry in a config depends on the
 * client namespace only through three things: whether the short name is an
 * alias there (its own namespace), which VirtualService routes it there, and
 * which of the clusters that VirtualService names exist there (exportTo and
 * the DestinationRule that defines subsets). Entries are cached under those
 * three, so a mesh where most services look the same from everywhere builds
 * each entry about twice, not once per namespace.
 *
 * What Istio would send to a cluster that does not exist (an unknown host, a
 * subset no DestinationRule defines, a service hidden by exportTo) cannot be
 * written in a proxy config, whose references must resolve. Such a
 * destination is dropped and the others keep their proportions; a route left
 * without destinations answers 503, which is what Envoy answers for a missing
 * cluster. The VirtualService's status says which destination was dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "translate/translate_internal.h"

/* A cluster some route of a VirtualService names. */
struct tr_ref {
    struct tr_service *svc;
    size_t port;
    const char *subset;
    size_t slot; /* the cluster's place in the service's cluster sets; SIZE_MAX: none */
};

/* The clusters a VirtualService names when it routes one service. */
struct tr_plan {
    struct tr_plan *next;
    const struct tr_service *routed;
    struct tr_ref *refs;
    size_t n_refs;
};

struct tr_variant {
    struct tr_variant *next;
    bool own;
    const struct tr_cr *vs;
    unsigned char *bits; /* which refs of the plan exist in the namespace */
    size_t n_bits;
    struct tr_frag frag;
};

/* What the routes being built can rely on. */
struct route_env {
    struct tr_ctx *ctx;
    const char *ns; /* the client namespace being built */
    struct tr_cr *vs;
    struct tr_service *svc;
    const struct tr_port *port;
    const struct tr_plan *plan;
    const unsigned char *bits; /* NULL while planning: collect refs instead */
    struct tr_plan *collect;
    bool used; /* some VirtualService route landed on this port */
};

/* Remarks on the VirtualService are made while building entries. Planning
 * (env->bits NULL) walks the same routes silently: a VirtualService is
 * planned before it is known to apply anywhere (tr_service_specials). */
#define route_status(env, ...) \
    ((env)->bits ? tr_status_add((env)->ctx, (env)->vs, __VA_ARGS__) : (void)0)

/* ---- destinations ---- */

enum dest_rc {
    DEST_OK,
    DEST_UNKNOWN_HOST,
    DEST_NO_PORT,
    DEST_AMBIGUOUS_PORT,
};

static enum dest_rc resolve_dest(struct route_env *env, const struct weir_destination *d,
                                 struct tr_ref *out, char **host_out)
{
    char *host = tr_resolve_host(env->ctx, d->host, env->vs->ns);
    struct tr_service *svc = host ? tr_find_service(env->ctx, host) : NULL;
    *host_out = host;
    if (!svc)
        return DEST_UNKNOWN_HOST;
    out->svc = svc;
    out->subset = d->subset;
    for (size_t i = 0; i < svc->n_ports; i++) {
        /* without a port, the one the request came in on, as Istio does when
         * the destination has it; else the destination's only port */
        int want = d->port ? (int)d->port : env->port->number;
        if (svc->ports[i].number == want) {
            out->port = i;
            return DEST_OK;
        }
    }
    if (d->port)
        return DEST_NO_PORT;
    if (svc->n_ports == 1) {
        out->port = 0;
        return DEST_OK;
    }
    return DEST_AMBIGUOUS_PORT;
}

static int ref_index(const struct tr_plan *plan, const struct tr_ref *r)
{
    for (size_t i = 0; i < plan->n_refs; i++)
        if (plan->refs[i].svc == r->svc && plan->refs[i].port == r->port &&
            tr_strcmp0(plan->refs[i].subset, r->subset) == 0)
            return (int)i;
    return -1;
}

static int cmp_subset_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(char *const *)b);
}

/* Where a referenced cluster sits in its service's cluster sets. */
static size_t ref_slot(const struct tr_ref *r)
{
    const struct tr_service *s = r->svc;
    size_t per = s->n_subset_names + 1;
    if (!r->subset)
        return r->port * per + s->n_subset_names;
    char **hit = s->n_subset_names ? bsearch(&r->subset, s->subset_names, s->n_subset_names,
                                             sizeof(char *), cmp_subset_name)
                                   : NULL;
    return hit ? r->port * per + (size_t)(hit - s->subset_names) : SIZE_MAX;
}

static void plan_add(struct route_env *env, const struct tr_ref *r)
{
    struct tr_plan *plan = env->collect;
    if (ref_index(plan, r) >= 0)
        return;
    struct tr_ref *v = realloc(plan->refs, (plan->n_refs + 1) * sizeof(*v));
    if (!v) {
        env->ctx->oom = true;
        return;
    }
    plan->refs = v;
    plan->refs[plan->n_refs] = *r;
    plan->refs[plan->n_refs].slot = ref_slot(r);
    plan->n_refs++;
}

/* The cluster name for a destination, or NULL when it does not exist in the
 * namespace being built (the reason goes to the status). */
static char *dest_cluster(struct route_env *env, const struct weir_destination *d, const char *path)
{
    struct tr_ref r = {0};
    char *host = NULL, *name = NULL;
    enum dest_rc rc = resolve_dest(env, d, &r, &host);

    if (rc != DEST_OK) {
        if (env->bits) {
            if (rc == DEST_UNKNOWN_HOST)
                tr_status_add(env->ctx, env->vs, WEIR_SEV_WARNING, path,
                              "host %s is not a known service or ServiceEntry; traffic for it is "
                              "dropped",
                              host ? host : d->host);
            else if (rc == DEST_NO_PORT)
                tr_status_add(env->ctx, env->vs, WEIR_SEV_WARNING, path,
                              "service %s has no port %lld; traffic for it is dropped", host,
                              (long long)d->port);
            else
                tr_status_add(env->ctx, env->vs, WEIR_SEV_WARNING, path,
                              "service %s has several ports and none is %d; set "
                              "destination.port",
                              host, env->port->number);
        }
        free(host);
        return NULL;
    }
    free(host);
    if (!env->bits) {
        plan_add(env, &r);
        return NULL;
    }
    int i = ref_index(env->plan, &r);
    if (i < 0 || !env->bits[i]) {
        if (!tr_visible(&r.svc->exp, env->ns))
            tr_status_add(env->ctx, env->vs, WEIR_SEV_WARNING, path,
                          "host %s is not visible in every namespace this VirtualService applies "
                          "to (exportTo); there, traffic for it is dropped",
                          r.svc->host);
        else
            tr_status_add(env->ctx, env->vs, WEIR_SEV_WARNING, path,
                          "subset %s of host %s is not defined by the DestinationRule that "
                          "applies (in some namespace or everywhere); traffic for it is dropped",
                          r.subset, r.svc->host);
        return NULL;
    }
    name = tr_printf("outbound|%d|%s|%s", r.svc->ports[r.port].number, r.subset ? r.subset : "",
                     r.svc->host);
    if (!name)
        env->ctx->oom = true;
    return name;
}

/* Keeps the shares of the destinations that exist: weights are rescaled to
 * 100 by largest remainder (earlier destinations first on ties). Returns
 * false when none is left with a share. rem is scratch space for n items. */
static bool settle_weights(int64_t *w, const bool *kept, int64_t *rem, size_t n)
{
    int64_t total = 0, sum = 0;
    size_t nk = 0;
    for (size_t i = 0; i < n; i++)
        if (kept[i]) {
            total += w[i];
            nk++;
        }
    if (total == 0)
        return false;
    if (nk == n && total == 100)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (!kept[i]) {
            w[i] = 0;
            rem[i] = -1;
            continue;
        }
        rem[i] = (w[i] * 100) % total;
        w[i] = (w[i] * 100) / total;
        sum += w[i];
    }
    while (sum < 100) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (rem[i] >= 0 && (best == n || rem[i] > rem[best]))
                best = i;
        w[best]++;
        rem[best] = -1;
        sum++;
    }
    return true;
}

/* Scratch space for the destinations of one route. */
struct dests {
    char **names;
    int64_t *w, *rem;
    bool *kept;
};

static bool dests_alloc(struct dests *d, size_t n)
{
    size_t k = n ? n : 1;
    d->names = calloc(k, sizeof(*d->names));
    d->w = calloc(k, sizeof(*d->w));
    d->rem = calloc(k, sizeof(*d->rem));
    d->kept = calloc(k, sizeof(*d->kept));
    return d->names && d->w && d->rem && d->kept;
}

static void dests_free(struct dests *d, size_t n)
{
    for (size_t i = 0; d->names && i < n; i++)
        free(d->names[i]);
    free(d->names);
    free(d->w);
    free(d->rem);
    free(d->kept);
}

/* ---- HTTP pieces ---- */

json_t *tr_string_match_json(const struct weir_string_match *m)
{
    switch (m->type) {
    case WEIR_MATCH_EXACT:
        return json_pack("{s:s}", "exact", m->value);
    case WEIR_MATCH_PREFIX:
        return json_pack("{s:s}", "prefix", m->value);
    case WEIR_MATCH_REGEX:
        return json_pack("{s:s}", "regex", m->value);
    case WEIR_MATCH_NONE:
        break;
    }
    return NULL;
}

static json_t *named_json(const struct weir_named_match *v, size_t n, bool lower)
{
    json_t *o;
    if (!n)
        return NULL;
    o = json_object();
    for (size_t i = 0; i < n; i++) {
        /* Istio's empty match means "present" */
        json_t *m = v[i].match.type == WEIR_MATCH_NONE ? json_pack("{s:s}", "regex", ".*")
                                                       : tr_string_match_json(&v[i].match);
        char *name = lower ? tr_lower(v[i].name) : tr_strdup(v[i].name);
        if (name)
            json_object_set_new(o, name, m);
        else
            json_decref(m);
        free(name);
    }
    return o;
}

static bool applies_to_mesh(const struct weir_strings *gateways)
{
    return gateways->len == 0 || weir_strings_contains(gateways, "mesh");
}

static json_t *http_match_json(const struct weir_http_match *m)
{
    json_t *o = json_object();
    if (m->name)
        json_object_set_new(o, "name", json_string(m->name));
    tr_set(o, "uri", tr_string_match_json(&m->uri));
    tr_set(o, "scheme", tr_string_match_json(&m->scheme));
    tr_set(o, "method", tr_string_match_json(&m->method));
    tr_set(o, "authority", tr_string_match_json(&m->authority));
    tr_set(o, "headers", named_json(m->headers, m->n_headers, true));
    tr_set(o, "withoutHeaders", named_json(m->without_headers, m->n_without_headers, true));
    tr_set(o, "queryParams", named_json(m->query_params, m->n_query_params, false));
    if (m->port)
        json_object_set_new(o, "port", json_integer(m->port));
    if (m->source_labels.len)
        json_object_set_new(o, "sourceLabels", tr_string_map_json(&m->source_labels, false));
    if (m->source_namespace)
        json_object_set_new(o, "sourceNamespace", json_string(m->source_namespace));
    if (m->ignore_uri_case)
        json_object_set_new(o, "ignoreUriCase", json_true());
    return o;
}

static json_t *header_ops_json(const struct weir_header_ops *ops)
{
    json_t *o = json_object();
    if (ops->set.len)
        json_object_set_new(o, "set", tr_string_map_json(&ops->set, true));
    if (ops->add.len)
        json_object_set_new(o, "add", tr_string_map_json(&ops->add, true));
    if (ops->remove.len) {
        json_t *a = json_array();
        for (size_t i = 0; i < ops->remove.len; i++) {
            char *l = tr_lower(ops->remove.items[i]);
            json_array_append_new(a, json_string(l ? l : ""));
            free(l);
        }
        json_object_set_new(o, "remove", a);
    }
    if (!json_object_size(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *headers_json(const struct weir_headers *h)
{
    json_t *o = json_object();
    tr_set(o, "request", header_ops_json(&h->request));
    tr_set(o, "response", header_ops_json(&h->response));
    if (!json_object_size(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *redirect_json(struct route_env *env, const struct weir_http_redirect *r,
                             const char *path)
{
    json_t *o = json_object();
    if (r->uri)
        json_object_set_new(o, "uri", json_string(r->uri));
    if (r->authority)
        json_object_set_new(o, "authority", json_string(r->authority));
    switch (r->port_mode) {
    case WEIR_REDIRECT_PORT_FIXED:
        json_object_set_new(o, "port", json_integer(r->port));
        break;
    case WEIR_REDIRECT_PORT_FROM_PROTOCOL_DEFAULT:
        json_object_set_new(o, "derivePort", json_string("from_protocol_default"));
        break;
    case WEIR_REDIRECT_PORT_FROM_REQUEST_PORT:
        json_object_set_new(o, "derivePort", json_string("from_request_port"));
        break;
    case WEIR_REDIRECT_PORT_KEEP:
        break;
    }
    if (r->scheme) {
        char *s = tr_lower(r->scheme);
        if (s && (strcmp(s, "http") == 0 || strcmp(s, "https") == 0))
            json_object_set_new(o, "scheme", json_string(s));
        else
            route_status(env, WEIR_SEV_UNSUPPORTED, path,
                         "redirect scheme \"%s\" is not supported by Weir yet (http or https); "
                         "the scheme is kept",
                         r->scheme);
        free(s);
    }
    if (!json_object_size(o)) {
        route_status(env, WEIR_SEV_WARNING, path,
                     "a redirect that changes nothing would loop; the route is skipped");
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "code", json_integer(r->code ? r->code : 301));
    return o;
}

static json_t *direct_json(struct route_env *env, const struct weir_http_direct_response *d,
                           const char *path)
{
    json_t *o = json_pack("{s:I}", "status", (json_int_t)d->status);
    if (d->body_kind != WEIR_BODY_NONE) {
        json_t *body = memchr(d->body, 0, d->body_len)
                           ? NULL
                           : json_stringn((const char *)d->body, d->body_len);
        if (body)
            json_object_set_new(o, "body", body);
        else
            route_status(env, WEIR_SEV_UNSUPPORTED, path,
                         "a body that is not UTF-8 text is not supported by Weir yet; the "
                         "response is sent without it");
    }
    return o;
}

static json_t *rewrite_json(const struct weir_http_rewrite *r)
{
    json_t *o = json_object();
    if (r->uri)
        json_object_set_new(o, "uri", json_string(r->uri));
    if (r->authority)
        json_object_set_new(o, "authority", json_string(r->authority));
    if (r->uri_regex)
        json_object_set_new(o, "uriRegex",
                            json_pack("{s:s, s:s}", "match", r->uri_regex->match, "rewrite",
                                      r->uri_regex->rewrite));
    if (!json_object_size(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const struct {
    const char *istio, *weir;
} retry_names[] = {
    {"5xx", "5xx"},
    {"gateway-error", "gateway_error"},
    {"reset", "reset"},
    {"connect-failure", "connect_failure"},
    {"retriable-4xx", "retriable_4xx"},
    {"refused-stream", "refused_stream"},
    {"retriable-status-codes", "retriable_status_codes"},
    {"cancelled", "cancelled"},
    {"deadline-exceeded", "deadline_exceeded"},
    {"internal", "internal"},
    {"resource-exhausted", "resource_exhausted"},
    {"unavailable", "unavailable"},
};

static void append_unique(json_t *a, const char *s)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (strcmp(json_string_value(json_array_get(a, i)), s) == 0)
            return;
    json_array_append_new(a, json_string(s));
}

static json_t *retries_json(struct route_env *env, const struct weir_http_retry *r,
                            const char *path)
{
    json_t *o = json_object(), *on = json_array(), *codes = json_array();
    int64_t attempts = r->attempts > 100 ? 100 : r->attempts;
    json_object_set_new(o, "attempts", json_integer(attempts));
    if (r->per_try_timeout_ns != WEIR_UNSET)
        json_object_set_new(o, "perTryTimeoutMs", json_integer(tr_ms(r->per_try_timeout_ns)));
    for (size_t i = 0; i < r->conditions.len; i++) {
        const char *w = NULL;
        for (size_t k = 0; k < sizeof(retry_names) / sizeof(retry_names[0]) && !w; k++)
            if (strcmp(retry_names[k].istio, r->conditions.items[i]) == 0)
                w = retry_names[k].weir;
        if (w)
            append_unique(on, w);
        else
            route_status(env, WEIR_SEV_UNSUPPORTED, path,
                         "retry condition %s is not supported by Weir yet and is ignored",
                         r->conditions.items[i]);
    }
    for (size_t i = 0; i < r->n_status_codes; i++) {
        bool seen = false;
        for (size_t k = 0; k < json_array_size(codes); k++)
            seen |= json_integer_value(json_array_get(codes, k)) == r->status_codes[i];
        if (!seen)
            json_array_append_new(codes, json_integer(r->status_codes[i]));
    }
    if (attempts > 0 && r->conditions.len == 0 && r->n_status_codes == 0) {
        /* Istio's default retryOn */
        static const char *const defaults[] = {"connect_failure", "refused_stream", "unavailable",
                                               "cancelled", "retriable_status_codes"};
        for (size_t k = 0; k < sizeof(defaults) / sizeof(defaults[0]); k++)
            append_unique(on, defaults[k]);
        json_array_append_new(codes, json_integer(503));
    }
    if (json_array_size(codes))
        append_unique(on, "retriable_status_codes");
    if (json_array_size(on))
        json_object_set(o, "retryOn", on);
    if (json_array_size(codes))
        json_object_set(o, "retriableStatusCodes", codes);
    json_decref(on);
    json_decref(codes);
    if (r->backoff_ns != WEIR_UNSET)
        route_status(env, WEIR_SEV_UNSUPPORTED, path,
                     "backoff is not supported by Weir yet; retries back off from 25ms");
    if (r->retry_ignore_previous_hosts == WEIR_TRI_FALSE)
        route_status(env, WEIR_SEV_UNSUPPORTED, path,
                     "retryIgnorePreviousHosts: false is not supported by Weir yet; retries "
                     "prefer another endpoint");
    return o;
}

static json_t *fault_json(struct route_env *env, const struct weir_http_fault *f, const char *path)
{
    json_t *o = json_object();
    if (f->delay && f->delay->fixed_delay_ns > 0) {
        const struct weir_fault_delay *d = f->delay;
        double pct = d->percentage != WEIR_UNSET ? d->percentage
                     : d->percent != WEIR_UNSET  ? (double)d->percent
                                                 : 100;
        json_object_set_new(o, "delay",
                            json_pack("{s:I, s:o}", "fixedDelayMs",
                                      (json_int_t)tr_ms(d->fixed_delay_ns), "percentage",
                                      tr_percent(pct)));
    }
    if (f->abort) {
        const struct weir_fault_abort *a = f->abort;
        double pct = a->percentage != WEIR_UNSET ? a->percentage : 100;
        if (a->kind == WEIR_ABORT_HTTP)
            json_object_set_new(o, "abort",
                                json_pack("{s:I, s:o}", "httpStatus", (json_int_t)a->http_status,
                                          "percentage", tr_percent(pct)));
        else if (a->kind == WEIR_ABORT_GRPC && a->grpc_status >= 1 && a->grpc_status <= 16)
            json_object_set_new(o, "abort",
                                json_pack("{s:i, s:o}", "grpcStatus", a->grpc_status, "percentage",
                                          tr_percent(pct)));
        else if (a->kind == WEIR_ABORT_GRPC)
            route_status(env, WEIR_SEV_UNSUPPORTED, path,
                         "aborting with gRPC status %s is not supported; the abort is skipped",
                         a->grpc_status_name ? a->grpc_status_name : "OK");
    }
    if (!json_object_size(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *cors_json(const struct weir_cors_policy *c)
{
    json_t *o = json_object(), *origins = json_array();
    for (size_t i = 0; i < c->n_allow_origins; i++)
        json_array_append_new(origins, tr_string_match_json(&c->allow_origins[i]));
    for (size_t i = 0; i < c->allow_origin.len; i++) {
        const char *v = c->allow_origin.items[i];
        json_array_append_new(origins, strcmp(v, "*") == 0 ? json_pack("{s:s}", "regex", ".*")
                                                           : json_pack("{s:s}", "exact", v));
    }
    if (json_array_size(origins))
        json_object_set(o, "allowOrigins", origins);
    json_decref(origins);
    if (c->allow_methods.len) {
        json_t *a = json_array();
        for (size_t i = 0; i < c->allow_methods.len; i++)
            json_array_append_new(a, json_string(c->allow_methods.items[i]));
        json_object_set_new(o, "allowMethods", a);
    }
    const struct weir_strings *lists[] = {&c->allow_headers, &c->expose_headers};
    const char *keys[] = {"allowHeaders", "exposeHeaders"};
    for (int k = 0; k < 2; k++) {
        if (!lists[k]->len)
            continue;
        json_t *a = json_array();
        for (size_t i = 0; i < lists[k]->len; i++) {
            char *l = tr_lower(lists[k]->items[i]);
            append_unique(a, l ? l : "");
            free(l);
        }
        json_object_set_new(o, keys[k], a);
    }
    if (c->max_age_ns != WEIR_UNSET)
        json_object_set_new(o, "maxAgeMs", json_integer(tr_ms(c->max_age_ns)));
    if (c->allow_credentials == WEIR_TRI_TRUE)
        json_object_set_new(o, "allowCredentials", json_true());
    if (c->unmatched_preflights == WEIR_PREFLIGHT_IGNORE)
        json_object_set_new(o, "unmatchedPreflights", json_string("ignore"));
    return o;
}

static json_t *mirror_json(struct route_env *env, const struct weir_destination *d, double pct,
                           const char *path)
{
    char *name = dest_cluster(env, d, path);
    json_t *o;
    if (!name)
        return NULL;
    o = json_pack("{s:s, s:o}", "cluster", name, "percentage",
                  tr_percent(pct == WEIR_UNSET ? 100 : pct));
    free(name);
    return o;
}

/* One VirtualService HTTP route for one port; NULL when it does not apply
 * there (its matches name other ports or gateways only). */
static json_t *http_route_json(struct route_env *env, const struct weir_http_route *r, size_t ri)
{
    char path[96], sub[160];
    json_t *o, *matches = NULL;

    snprintf(path, sizeof(path), "spec.http[%zu]", ri);
    if (r->action == WEIR_HTTP_ACTION_DELEGATE || r->action == WEIR_HTTP_ACTION_NONE)
        return NULL;
    if (r->n_match) {
        matches = json_array();
        for (size_t i = 0; i < r->n_match; i++) {
            const struct weir_http_match *m = &r->match[i];
            if ((m->port && m->port != env->port->number) || !applies_to_mesh(&m->gateways))
                continue;
            json_array_append_new(matches, http_match_json(m));
        }
        if (!json_array_size(matches)) {
            json_decref(matches);
            return NULL;
        }
    }
    o = json_object();
    if (r->name)
        json_object_set_new(o, "name", json_string(r->name));
    if (matches)
        json_object_set_new(o, "match", matches);

    bool forward = false;
    if (r->action == WEIR_HTTP_ACTION_ROUTE) {
        size_t n = r->n_route;
        struct dests d;
        if (!dests_alloc(&d, n)) {
            dests_free(&d, n);
            env->ctx->oom = true;
            json_decref(o);
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            snprintf(sub, sizeof(sub), "%s.route[%zu].destination", path, i);
            d.names[i] = dest_cluster(env, &r->route[i].destination, sub);
            d.kept[i] = d.names[i] != NULL;
            d.w[i] = r->route[i].weight;
        }
        if (env->bits && settle_weights(d.w, d.kept, d.rem, n)) {
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++) {
                if (!d.kept[i])
                    continue;
                json_t *dj =
                    json_pack("{s:s, s:I}", "cluster", d.names[i], "weight", (json_int_t)d.w[i]);
                tr_set(dj, "headers", headers_json(&r->route[i].headers));
                json_array_append_new(a, dj);
            }
            json_object_set_new(o, "route", a);
            forward = true;
        } else if (env->bits) {
            /* what Envoy answers for a missing cluster */
            json_object_set_new(o, "directResponse", json_pack("{s:i}", "status", 503));
        }
        dests_free(&d, n);
    } else if (r->action == WEIR_HTTP_ACTION_REDIRECT) {
        json_t *rd = redirect_json(env, r->redirect, path);
        if (!rd) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "redirect", rd);
    } else {
        json_object_set_new(o, "directResponse", direct_json(env, r->direct_response, path));
    }
    if (forward) {
        if (r->rewrite)
            tr_set(o, "rewrite", rewrite_json(r->rewrite));
        if (r->timeout_ns > 0)
            json_object_set_new(o, "timeoutMs", json_integer(tr_ms(r->timeout_ns)));
        if (r->retries) {
            snprintf(sub, sizeof(sub), "%s.retries", path);
            json_object_set_new(o, "retries", retries_json(env, r->retries, sub));
        }
    }
    if (r->fault) {
        snprintf(sub, sizeof(sub), "%s.fault", path);
        tr_set(o, "fault", fault_json(env, r->fault, sub));
    }
    /* mirrors are resolved while planning too: they name clusters */
    json_t *mirrors = json_array();
    if (r->mirror) {
        double pct = r->mirror_percentage != WEIR_UNSET ? r->mirror_percentage
                     : r->mirror_percent != WEIR_UNSET  ? (double)r->mirror_percent
                                                        : 100;
        snprintf(sub, sizeof(sub), "%s.mirror", path);
        json_t *m = mirror_json(env, r->mirror, pct, sub);
        if (m)
            json_array_append_new(mirrors, m);
    }
    for (size_t i = 0; i < r->n_mirrors; i++) {
        snprintf(sub, sizeof(sub), "%s.mirrors[%zu].destination", path, i);
        json_t *m = mirror_json(env, &r->mirrors[i].destination, r->mirrors[i].percentage, sub);
        if (m)
            json_array_append_new(mirrors, m);
    }
    if (forward && json_array_size(mirrors))
        json_object_set(o, "mirrors", mirrors);
    json_decref(mirrors);
    if (r->cors_policy)
        json_object_set_new(o, "corsPolicy", cors_json(r->cors_policy));
    tr_set(o, "headers", headers_json(&r->headers));
    return o;
}

static json_t *l4_route_json(struct route_env *env, const struct weir_l4_route *r, size_t ri,
                             bool tls)
{
    char path[96], sub[160];
    json_t *o, *matches = NULL;
    size_t n = r->n_route;

    snprintf(path, sizeof(path), "spec.%s[%zu]", tls ? "tls" : "tcp", ri);
    if (r->n_match) {
        matches = json_array();
        for (size_t i = 0; i < r->n_match; i++) {
            const struct weir_l4_match *m = &r->match[i];
            if ((m->port && m->port != env->port->number) || !applies_to_mesh(&m->gateways))
                continue;
            json_t *jm = json_object();
            if (tls) {
                json_t *a = json_array();
                for (size_t k = 0; k < m->sni_hosts.len; k++)
                    json_array_append_new(a, json_string(m->sni_hosts.items[k]));
                json_object_set_new(jm, "sniHosts", a);
            }
            if (m->destination_subnets.len) {
                json_t *a = json_array();
                for (size_t k = 0; k < m->destination_subnets.len; k++)
                    json_array_append_new(a, json_string(m->destination_subnets.items[k]));
                json_object_set_new(jm, "destinationSubnets", a);
            }
            if (m->port)
                json_object_set_new(jm, "port", json_integer(m->port));
            if (m->source_labels.len)
                json_object_set_new(jm, "sourceLabels",
                                    tr_string_map_json(&m->source_labels, false));
            if (m->source_namespace)
                json_object_set_new(jm, "sourceNamespace", json_string(m->source_namespace));
            json_array_append_new(matches, jm);
        }
        if (!json_array_size(matches)) {
            json_decref(matches);
            return NULL;
        }
    }
    struct dests d;
    if (!dests_alloc(&d, n)) {
        dests_free(&d, n);
        json_decref(matches);
        env->ctx->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(sub, sizeof(sub), "%s.route[%zu].destination", path, i);
        d.names[i] = dest_cluster(env, &r->route[i].destination, sub);
        d.kept[i] = d.names[i] != NULL;
        d.w[i] = r->route[i].weight;
    }
    o = NULL;
    if (env->bits && settle_weights(d.w, d.kept, d.rem, n)) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            if (d.kept[i])
                json_array_append_new(a, json_pack("{s:s, s:I}", "cluster", d.names[i], "weight",
                                                   (json_int_t)d.w[i]));
        o = json_object();
        if (matches)
            json_object_set(o, "match", matches);
        json_object_set_new(o, "route", a);
    }
    json_decref(matches);
    dests_free(&d, n);
    return o;
}

static json_t *default_route(const struct tr_service *svc, const struct tr_port *port, bool http)
{
    char *name = tr_printf("outbound|%d||%s", port->number, svc->host);
    json_t *r = json_object();
    if (http)
        json_object_set_new(r, "name", json_string("default"));
    json_object_set_new(r, "route",
                        json_pack("[{s:s, s:i}]", "cluster", name ? name : "", "weight", 100));
    free(name);
    return json_pack("[o]", r);
}

/* The routes of a VirtualService for one port; NULL without one. While
 * planning (env->bits NULL) only the destinations are collected. */
static json_t *vs_routes(struct route_env *env, bool tls, bool tcp)
{
    const struct weir_virtual_service *vs = env->vs->res->u.vs;
    json_t *a = json_array();
    if (!tls && !tcp) {
        for (size_t i = 0; i < vs->n_http; i++) {
            json_t *r = http_route_json(env, &vs->http[i], i);
            if (r)
                json_array_append_new(a, r);
        }
    } else {
        const struct weir_l4_route *v = tls ? vs->tls : vs->tcp;
        size_t n = tls ? vs->n_tls : vs->n_tcp;
        for (size_t i = 0; i < n; i++) {
            json_t *r = l4_route_json(env, &v[i], i, tls);
            if (r)
                json_array_append_new(a, r);
        }
    }
    if (!json_array_size(a)) {
        json_decref(a);
        return NULL;
    }
    env->used = true;
    return a;
}

static json_t *port_json(struct route_env *env)
{
    const struct tr_port *p = env->port;
    json_t *o = json_object(), *http = NULL, *tls = NULL, *tcp = NULL;
    json_object_set_new(o, "number", json_integer(p->number));
    if (p->name)
        json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "protocol", json_string(tr_proto_name(p->proto)));
    if (p->target_port)
        json_object_set_new(o, "targetPort", json_integer(p->target_port));
    env->used = false;
    if (env->vs) {
        if (tr_proto_is_http(p->proto)) {
            http = vs_routes(env, false, false);
        } else if (p->proto == TR_PROTO_TLS || p->proto == TR_PROTO_HTTPS) {
            tls = vs_routes(env, true, false);
            tcp = vs_routes(env, false, true);
        } else {
            tcp = vs_routes(env, false, true);
        }
    }
    if (env->used)
        json_object_set_new(o, "virtualService", json_pack("s++", env->vs->ns, "/", env->vs->name));
    if (tr_proto_is_http(p->proto)) {
        json_object_set_new(o, "http", http ? http : default_route(env->svc, p, true));
    } else {
        /* a TLS port needs tls or tcp routes; without any, the default one */
        tr_set(o, "tls", tls);
        tr_set(o, "tcp", tcp || tls ? tcp : default_route(env->svc, p, false));
    }
    return o;
}

/* ---- plans and variants ---- */

static struct tr_plan *plan_for(struct tr_ctx *ctx, struct tr_cr *vs, struct tr_service *svc)
{
    struct tr_plan *plan;
    for (plan = vs->plans; plan; plan = plan->next)
        if (plan->routed == svc)
            return plan;
    plan = calloc(1, sizeof(*plan));
    if (!plan)
        return NULL;
    plan->routed = svc;
    plan->next = vs->plans;
    vs->plans = plan;
    struct route_env env = {.ctx = ctx, .vs = vs, .svc = svc, .collect = plan};
    for (size_t p = 0; p < svc->n_ports; p++) {
        env.port = &svc->ports[p];
        json_decref(port_json(&env));
    }
    return plan;
}

void tr_plans_free(struct tr_cr *vs)
{
    while (vs->plans) {
        struct tr_plan *p = vs->plans;
        vs->plans = p->next;
        free(p->refs);
        free(p);
    }
}

void tr_variants_free(struct tr_service *svc)
{
    while (svc->variants) {
        struct tr_variant *v = svc->variants;
        svc->variants = v->next;
        free(v->bits);
        tr_frag_clear(&v->frag);
        free(v);
    }
}

static bool ref_exists(struct tr_ctx *ctx, const char *ns, const struct tr_ref *r)
{
    if (!tr_visible(&r->svc->exp, ns))
        return false;
    if (!r->subset)
        return true;
    if (r->slot == SIZE_MAX)
        return false; /* no DestinationRule anywhere defines the subset */
    return tr_cluster_frag(ctx, r->svc, tr_dr_for(ctx, ns, r->svc), r->slot) != NULL;
}

static json_t *service_json(struct tr_ctx *ctx, const char *ns, struct tr_service *svc, bool own,
                            struct tr_cr *vs, const struct tr_plan *plan, const unsigned char *bits)
{
    json_t *o = json_object(), *ports = json_array();
    json_object_set_new(o, "host", json_string(svc->host));
    json_object_set_new(o, "namespace", json_string(svc->ns));
    if (svc->n_aliases || (own && svc->short_alias)) {
        json_t *a = json_array();
        bool placed = !(own && svc->short_alias);
        for (size_t i = 0; i < svc->n_aliases; i++) {
            if (!placed && strcmp(svc->short_alias, svc->aliases[i]) < 0) {
                json_array_append_new(a, json_string(svc->short_alias));
                placed = true;
            }
            json_array_append_new(a, json_string(svc->aliases[i]));
        }
        if (!placed)
            json_array_append_new(a, json_string(svc->short_alias));
        json_object_set_new(o, "aliases", a);
    }
    if (svc->n_addresses) {
        json_t *a = json_array();
        for (size_t i = 0; i < svc->n_addresses; i++)
            json_array_append_new(a, json_string(svc->addresses[i]));
        json_object_set_new(o, "addresses", a);
    }
    struct route_env env = {.ctx = ctx, .ns = ns, .vs = vs, .svc = svc, .plan = plan, .bits = bits};
    for (size_t p = 0; p < svc->n_ports; p++) {
        env.port = &svc->ports[p];
        json_array_append_new(ports, port_json(&env));
    }
    json_object_set_new(o, "ports", ports);
    return o;
}

const struct tr_frag *tr_service_frag(struct tr_ctx *ctx, struct tr_service *svc, const char *ns)
{
    struct tr_cr *vs = tr_vs_for(ctx, ns, svc);
    bool own = svc->ns == ns && svc->short_alias; /* interned names */
    struct tr_plan *plan = NULL;
    unsigned char small[64], *bits = small;
    size_t n_bits = 0;

    if (vs) {
        plan = plan_for(ctx, vs, svc);
        if (!plan) {
            ctx->oom = true;
            return NULL;
        }
        n_bits = plan->n_refs;
        if (n_bits > sizeof(small) && !(bits = malloc(n_bits))) {
            ctx->oom = true;
            return NULL;
        }
        for (size_t i = 0; i < n_bits; i++)
            bits[i] = ref_exists(ctx, ns, &plan->refs[i]);
    }
    struct tr_variant *v;
    for (v = svc->variants; v; v = v->next)
        if (v->own == own && v->vs == vs && v->n_bits == n_bits &&
            (!n_bits || memcmp(v->bits, bits, n_bits) == 0))
            break;
    if (!v && (v = calloc(1, sizeof(*v)))) {
        v->own = own;
        v->vs = vs;
        v->n_bits = n_bits;
        v->bits = n_bits ? malloc(n_bits) : NULL;
        if (n_bits && v->bits)
            memcpy(v->bits, bits, n_bits);
        if ((n_bits && !v->bits) ||
            tr_frag_set(ctx, &v->frag, service_json(ctx, ns, svc, own, vs, plan, bits)) != 0)
            ctx->oom = true;
        v->next = svc->variants;
        svc->variants = v;
    }
    if (bits != small)
        free(bits);
    if (!v) {
        ctx->oom = true;
        return NULL;
    }
    return v->frag.json ? &v->frag : NULL;
}

/* ---- where an entry may differ from the common one ---- */

static int special_add(struct tr_ctx *ctx, struct tr_ns_list *out, const char *name)
{
    struct tr_ns *ns = tr_find_ns(ctx, name);
    if (!ns)
        return 0; /* no object names it: no config is written for it */
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        struct tr_ns **v = realloc(out->v, cap * sizeof(*v));
        if (!v)
            return -1;
        out->v = v;
        out->cap = cap;
    }
    out->v[out->n++] = ns;
    return 0;
}

static int special_export(struct tr_ctx *ctx, struct tr_ns_list *out, const struct tr_export *e)
{
    for (size_t i = 0; !e->all && i < e->n; i++)
        if (special_add(ctx, out, e->ns[i]) != 0)
            return -1;
    return 0;
}

/* The rules met on the way from a client namespace to the entry: the
 * VirtualService (its namespace ranks it, its exportTo hides it) and, for
 * every service it routes to, that service's visibility and the
 * DestinationRules that decide which of its subsets exist. */
static int vs_specials(struct tr_ctx *ctx, struct tr_service *svc, const struct tr_host_entry *e,
                       struct tr_ns_list *out)
{
    if (!e->cr->res)
        return 0;
    if (special_add(ctx, out, e->cr->ns) != 0 || special_export(ctx, out, &e->cr->exp) != 0)
        return -1;
    struct tr_plan *plan = plan_for(ctx, e->cr, svc);
    if (!plan)
        return -1;
    for (size_t i = 0; i < plan->n_refs; i++) {
        const struct tr_service *r = plan->refs[i].svc;
        if (special_add(ctx, out, r->ns) != 0 || special_export(ctx, out, &r->exp) != 0)
            return -1;
        for (size_t k = 0; k < r->n_drs; k++) {
            const struct tr_cr *dr = r->drs[k]->cr;
            if (dr->res && (special_add(ctx, out, r->drs[k]->ns) != 0 ||
                            special_export(ctx, out, &dr->exp) != 0))
                return -1;
        }
    }
    return 0;
}

int tr_service_specials(struct tr_ctx *ctx, struct tr_service *svc, struct tr_ns_list *out)
{
    out->n = 0;
    /* its own namespace has the short alias; the root namespace's
     * DestinationRules are looked up last, except from the root itself */
    if (special_add(ctx, out, svc->ns) != 0 || special_add(ctx, out, ctx->root_ns) != 0 ||
        special_export(ctx, out, &svc->exp) != 0)
        return -1;
    for (size_t i = 0; i < svc->vs_n; i++)
        if (vs_specials(ctx, svc, &ctx->vs_exact[svc->vs_first + i], out) != 0)
            return -1;
    for (size_t i = 0; i < svc->n_vs_wild; i++)
        if (vs_specials(ctx, svc, svc->vs_wild[i], out) != 0)
            return -1;
    return 0;
}
