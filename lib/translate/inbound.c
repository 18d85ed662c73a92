/*
 * The inbound section of a namespace's config: the ports of the workloads its
 * Services select, and the security policies (PeerAuthentication,
 * AuthorizationPolicy, RequestAuthentication) of the namespace and of the
 * root namespace, which apply mesh-wide.
 *
 * Authorization values Weir cannot express are handled so that the policy
 * fails closed, as Istio does for HTTP-only fields on TCP: in an ALLOW policy
 * the rule holding one is dropped (it allows nothing), in a DENY policy the
 * value's field or condition is dropped (it denies more).
 */
#include <stdlib.h>
#include <string.h>

#include "translate/translate_internal.h"

/* ---- authorization values ---- */

static char *regex_escape(const char *s)
{
    struct tr_buf b = {0};
    for (; *s; s++) {
        if (strchr("\\.+*?()|[]{}^$", *s))
            tr_buf_put(&b, "\\", 1);
        tr_buf_put(&b, s, 1);
    }
    if (!b.data && !b.oom)
        return strdup("");
    return b.oom ? (tr_buf_free(&b), NULL) : b.data;
}

/* "/api/{*}/items/{**}": {*} is one path segment, {**} any number of them. */
static char *template_regex(const char *t)
{
    struct tr_buf b = {0};
    while (*t) {
        if (strncmp(t, "{**}", 4) == 0) {
            tr_buf_puts(&b, ".*");
            t += 4;
        } else if (strncmp(t, "{*}", 3) == 0) {
            tr_buf_puts(&b, "[^/]+");
            t += 3;
        } else {
            char c[2] = {*t++, 0};
            char *e = regex_escape(c);
            tr_buf_puts(&b, e ? e : "");
            free(e);
        }
    }
    return b.oom ? (tr_buf_free(&b), NULL) : b.data;
}

json_t *tr_authz_match_json(const struct weir_authz_match *m, bool lower)
{
    char *v = lower ? tr_lower(m->value) : tr_strdup(m->value), *re = NULL;
    json_t *o = NULL;
    if (!v)
        return NULL;
    switch (m->kind) {
    case WEIR_AUTHZ_MATCH_EXACT:
        o = json_pack("{s:s}", "exact", v);
        break;
    case WEIR_AUTHZ_MATCH_PREFIX:
        o = json_pack("{s:s}", "prefix", v);
        break;
    case WEIR_AUTHZ_MATCH_SUFFIX:
        re = regex_escape(v);
        o = re ? json_pack("{s:s+}", "regex", ".*", re) : NULL;
        break;
    case WEIR_AUTHZ_MATCH_PRESENCE:
        o = json_pack("{s:s}", "regex", ".+");
        break;
    case WEIR_AUTHZ_MATCH_TEMPLATE:
        re = template_regex(v);
        o = re ? json_pack("{s:s}", "regex", re) : NULL;
        break;
    }
    free(re);
    free(v);
    return o;
}

struct authz_env {
    struct tr_ctx *ctx;
    struct tr_cr *cr;
    bool deny;
    bool drop_rule; /* ALLOW: a value could not be expressed */
    char path[160];
};

static void cannot_express(struct authz_env *env, const char *what)
{
    tr_status_add(env->ctx, env->cr, WEIR_SEV_UNSUPPORTED, env->path,
                  "%s cannot be expressed by Weir yet; %s", what,
                  env->deny ? "the field is dropped, so the DENY policy denies more"
                            : "the rule is dropped, so it allows nothing");
    if (!env->deny)
        env->drop_rule = true;
}

static void set_matches(json_t *o, const char *key, const struct weir_authz_matches *m, bool lower)
{
    if (!m->len)
        return;
    json_t *a = json_array();
    for (size_t i = 0; i < m->len; i++)
        json_array_append_new(a, tr_authz_match_json(&m->items[i], lower));
    json_object_set_new(o, key, a);
}

static void set_cidrs(json_t *o, const char *key, const struct weir_cidrs *c)
{
    if (!c->len)
        return;
    json_t *a = json_array();
    for (size_t i = 0; i < c->len; i++)
        json_array_append_new(a, json_string(c->items[i].text));
    json_object_set_new(o, key, a);
}

static void set_ports(json_t *o, const char *key, const struct weir_ports *p)
{
    if (!p->len)
        return;
    json_t *a = json_array();
    for (size_t i = 0; i < p->len; i++)
        json_array_append_new(a, json_integer(p->items[i]));
    json_object_set_new(o, key, a);
}

static void set_principals(struct authz_env *env, json_t *o, const char *key,
                           const struct weir_authz_matches *m,
                           const struct weir_service_accounts *sa)
{
    set_matches(o, key, m, false);
    if (!sa->len)
        return;
    json_t *a = json_object_get(o, key);
    if (!a) {
        a = json_array();
        json_object_set_new(o, key, a);
    }
    for (size_t i = 0; i < sa->len; i++) {
        char *p = tr_printf("%s/ns/%s/sa/%s", env->ctx->trust_domain, sa->items[i].namespace_,
                            sa->items[i].name);
        json_array_append_new(a, json_pack("{s:s}", "exact", p ? p : ""));
        free(p);
    }
}

/* Methods are plain upper-case tokens in the proxy config; Istio's wildcards
 * have no equivalent there. */
static void set_methods(struct authz_env *env, json_t *o, const char *key,
                        const struct weir_authz_matches *m)
{
    if (!m->len)
        return;
    json_t *a = json_array();
    for (size_t i = 0; i < m->len; i++) {
        const struct weir_authz_match *v = &m->items[i];
        bool ok = v->kind == WEIR_AUTHZ_MATCH_EXACT && *v->value;
        for (const char *p = v->value; ok && *p; p++)
            ok = (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_';
        if (!ok) {
            char what[160];
            snprintf(what, sizeof(what), "method \"%s%s%s\"",
                     v->kind == WEIR_AUTHZ_MATCH_SUFFIX || v->kind == WEIR_AUTHZ_MATCH_PRESENCE
                         ? "*"
                         : "",
                     v->value, v->kind == WEIR_AUTHZ_MATCH_PREFIX ? "*" : "");
            cannot_express(env, what);
            json_decref(a);
            return;
        }
        json_array_append_new(a, json_string(v->value));
    }
    json_object_set_new(o, key, a);
}

static json_t *source_json(struct authz_env *env, const struct weir_authz_source *s)
{
    json_t *o = json_object();
    set_principals(env, o, "principals", &s->principals, &s->service_accounts);
    set_principals(env, o, "notPrincipals", &s->not_principals, &s->not_service_accounts);
    set_matches(o, "requestPrincipals", &s->request_principals, false);
    set_matches(o, "notRequestPrincipals", &s->not_request_principals, false);
    set_matches(o, "namespaces", &s->namespaces, false);
    set_matches(o, "notNamespaces", &s->not_namespaces, false);
    set_cidrs(o, "ipBlocks", &s->ip_blocks);
    set_cidrs(o, "notIpBlocks", &s->not_ip_blocks);
    set_cidrs(o, "remoteIpBlocks", &s->remote_ip_blocks);
    set_cidrs(o, "notRemoteIpBlocks", &s->not_remote_ip_blocks);
    return o;
}

static json_t *operation_json(struct authz_env *env, const struct weir_authz_operation *op)
{
    json_t *o = json_object();
    set_matches(o, "hosts", &op->hosts, true);
    set_matches(o, "notHosts", &op->not_hosts, true);
    set_ports(o, "ports", &op->ports);
    set_ports(o, "notPorts", &op->not_ports);
    set_methods(env, o, "methods", &op->methods);
    set_methods(env, o, "notMethods", &op->not_methods);
    set_matches(o, "paths", &op->paths, false);
    set_matches(o, "notPaths", &op->not_paths, false);
    return o;
}

static json_t *condition_json(struct authz_env *env, const struct weir_authz_condition *c)
{
    static const char *const keys[] = {
        [WEIR_AUTHZ_KEY_REQUEST_HEADER] = "request_header",
        [WEIR_AUTHZ_KEY_SOURCE_IP] = "source_ip",
        [WEIR_AUTHZ_KEY_REMOTE_IP] = "remote_ip",
        [WEIR_AUTHZ_KEY_SOURCE_NAMESPACE] = "source_namespace",
        [WEIR_AUTHZ_KEY_SOURCE_PRINCIPAL] = "source_principal",
        [WEIR_AUTHZ_KEY_SOURCE_SERVICE_ACCOUNT] = "source_principal",
        [WEIR_AUTHZ_KEY_REQUEST_PRINCIPAL] = "request_principal",
        [WEIR_AUTHZ_KEY_REQUEST_AUDIENCES] = "request_audience",
        [WEIR_AUTHZ_KEY_REQUEST_PRESENTER] = "request_presenter",
        [WEIR_AUTHZ_KEY_REQUEST_CLAIM] = "request_claim",
        [WEIR_AUTHZ_KEY_DESTINATION_IP] = "destination_ip",
        [WEIR_AUTHZ_KEY_DESTINATION_PORT] = "destination_port",
        [WEIR_AUTHZ_KEY_CONNECTION_SNI] = "sni",
        [WEIR_AUTHZ_KEY_EXPERIMENTAL] = NULL,
        [WEIR_AUTHZ_KEY_REQUEST_INLINE_HEADER] = NULL,
    };
    const char *key = keys[c->key];
    json_t *o;
    if (!key) {
        char what[200];
        snprintf(what, sizeof(what), "condition key %s", c->key_text);
        cannot_express(env, what);
        return NULL;
    }
    o = json_pack("{s:s}", "key", key);
    if (c->key == WEIR_AUTHZ_KEY_REQUEST_HEADER) {
        char *h = tr_lower(c->header);
        json_object_set_new(o, "header", json_string(h ? h : ""));
        free(h);
    }
    if (c->key == WEIR_AUTHZ_KEY_REQUEST_CLAIM) {
        json_t *a = json_array();
        for (size_t i = 0; i < c->claim.len; i++)
            json_array_append_new(a, json_string(c->claim.items[i]));
        json_object_set_new(o, "claim", a);
    }
    switch (weir_authz_key_value_type(c->key)) {
    case WEIR_AUTHZ_VALUES_STRING:
        set_matches(o, "values", &c->values, false);
        set_matches(o, "notValues", &c->not_values, false);
        break;
    case WEIR_AUTHZ_VALUES_IP:
        set_cidrs(o, "values", &c->ip_values);
        set_cidrs(o, "notValues", &c->not_ip_values);
        break;
    case WEIR_AUTHZ_VALUES_PORT:
        set_ports(o, "values", &c->port_values);
        set_ports(o, "notValues", &c->not_port_values);
        break;
    case WEIR_AUTHZ_VALUES_SERVICE_ACCOUNT: {
        json_t *tmp = json_object();
        struct weir_authz_matches none = {0};
        set_principals(env, tmp, "values", &none, &c->sa_values);
        set_principals(env, tmp, "notValues", &none, &c->not_sa_values);
        json_object_update(o, tmp);
        json_decref(tmp);
        break;
    }
    }
    return o;
}

static json_t *rule_json(struct authz_env *env, const struct weir_authz_rule *r, size_t ri)
{
    json_t *o = json_object(), *from = json_array(), *to = json_array(), *when = json_array();
    bool from_any = false, to_any = false;
    env->drop_rule = false;
    for (size_t i = 0; i < r->nfrom; i++) {
        snprintf(env->path, sizeof(env->path), "spec.rules[%zu].from[%zu].source", ri, i);
        json_t *s = source_json(env, &r->from[i]);
        if (json_object_size(s))
            json_array_append_new(from, s);
        else
            from_any = true, json_decref(s);
    }
    for (size_t i = 0; i < r->nto; i++) {
        snprintf(env->path, sizeof(env->path), "spec.rules[%zu].to[%zu].operation", ri, i);
        json_t *op = operation_json(env, &r->to[i]);
        if (json_object_size(op))
            json_array_append_new(to, op);
        else
            to_any = true, json_decref(op);
    }
    for (size_t i = 0; i < r->nwhen; i++) {
        snprintf(env->path, sizeof(env->path), "spec.rules[%zu].when[%zu]", ri, i);
        json_t *c = condition_json(env, &r->when[i]);
        if (c)
            json_array_append_new(when, c);
    }
    /* an entry left empty by a dropped field matches anything, and so does
     * the list holding it */
    if (json_array_size(from) && !from_any)
        json_object_set(o, "from", from);
    if (json_array_size(to) && !to_any)
        json_object_set(o, "to", to);
    if (json_array_size(when))
        json_object_set(o, "when", when);
    json_decref(from);
    json_decref(to);
    json_decref(when);
    if (env->drop_rule) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *selector_json(const struct weir_string_map *m)
{
    return m->len ? tr_string_map_json(m, false) : NULL;
}

static json_t *authorization_json(struct tr_ctx *ctx, struct tr_cr *cr)
{
    const struct weir_authorization_policy *ap = cr->res->u.ap;
    struct authz_env env = {.ctx = ctx, .cr = cr, .deny = ap->action == WEIR_AUTHZ_DENY};
    json_t *o, *rules = json_array();
    char *name = tr_printf("%s/%s", cr->ns, cr->name);
    o = json_pack("{s:s}", "name", name ? name : "");
    free(name);
    tr_set(o, "selector", selector_json(&ap->selector));
    json_object_set_new(o, "action", json_string(env.deny ? "deny" : "allow"));
    for (size_t i = 0; i < ap->nrules; i++) {
        json_t *r = rule_json(&env, &ap->rules[i], i);
        if (r)
            json_array_append_new(rules, r);
    }
    if (json_array_size(rules))
        json_object_set(o, "rules", rules);
    json_decref(rules);
    return o;
}

static json_t *jwt_rule_json(struct tr_ctx *ctx, struct tr_cr *cr, const struct weir_jwt_rule *r,
                             size_t ri)
{
    const char *uri = r->jwks_uri.text;
    char path[64];
    json_t *o;
    snprintf(path, sizeof(path), "spec.jwtRules[%zu]", ri);
    if (!uri && !r->jwks && ctx->set->jwks_uris)
        uri = weir_string_map_get(ctx->set->jwks_uris, r->issuer);
    if (!uri && !r->jwks) {
        tr_status_add(ctx, cr, WEIR_SEV_WARNING, path,
                      "no jwksUri or jwks, and the OpenID discovery of issuer %s has not been "
                      "resolved; tokens from this issuer are refused",
                      r->issuer);
        return NULL;
    }
    o = json_pack("{s:s}", "issuer", r->issuer);
    if (r->audiences.len) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->audiences.len; i++)
            json_array_append_new(a, json_string(r->audiences.items[i]));
        json_object_set_new(o, "audiences", a);
    }
    if (r->jwks)
        json_object_set_new(o, "jwks", json_string(r->jwks));
    else
        json_object_set_new(o, "jwksUri", json_string(uri));
    if (r->nfrom_headers) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->nfrom_headers; i++) {
            char *n = tr_lower(r->from_headers[i].name);
            json_t *h = json_pack("{s:s}", "name", n ? n : "");
            free(n);
            if (r->from_headers[i].prefix && *r->from_headers[i].prefix)
                json_object_set_new(h, "prefix", json_string(r->from_headers[i].prefix));
            json_array_append_new(a, h);
        }
        json_object_set_new(o, "fromHeaders", a);
    }
    const struct weir_strings *lists[] = {&r->from_params, &r->from_cookies};
    const char *keys[] = {"fromParams", "fromCookies"};
    for (int k = 0; k < 2; k++) {
        if (!lists[k]->len)
            continue;
        json_t *a = json_array();
        for (size_t i = 0; i < lists[k]->len; i++)
            json_array_append_new(a, json_string(lists[k]->items[i]));
        json_object_set_new(o, keys[k], a);
    }
    if (r->output_payload_to_header) {
        char *h = tr_lower(r->output_payload_to_header);
        json_object_set_new(o, "outputPayloadToHeader", json_string(h ? h : ""));
        free(h);
    }
    if (r->noutput_claim_to_headers) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->noutput_claim_to_headers; i++) {
            char *h = tr_lower(r->output_claim_to_headers[i].header);
            json_array_append_new(a, json_pack("{s:s, s:s}", "header", h ? h : "", "claim",
                                               r->output_claim_to_headers[i].claim));
            free(h);
        }
        json_object_set_new(o, "outputClaimToHeaders", a);
    }
    if (r->forward_original_token)
        json_object_set_new(o, "forwardOriginalToken", json_true());
    return o;
}

static json_t *request_authentication_json(struct tr_ctx *ctx, struct tr_cr *cr)
{
    const struct weir_request_authentication *ra = cr->res->u.ra;
    json_t *rules = json_array(), *o;
    for (size_t i = 0; i < ra->njwt_rules; i++) {
        json_t *r = jwt_rule_json(ctx, cr, &ra->jwt_rules[i], i);
        if (r)
            json_array_append_new(rules, r);
    }
    if (!json_array_size(rules)) {
        json_decref(rules);
        return NULL;
    }
    char *name = tr_printf("%s/%s", cr->ns, cr->name);
    o = json_pack("{s:s}", "name", name ? name : "");
    free(name);
    tr_set(o, "selector", selector_json(&ra->selector));
    json_object_set_new(o, "jwtRules", rules);
    return o;
}

/* Builds a security policy's entry once; false when it does not apply. */
static bool policy_frag(struct tr_ctx *ctx, struct tr_cr *cr)
{
    if (cr->frag_built)
        return cr->frag.json != NULL;
    cr->frag_built = true;
    json_t *j = NULL;
    if (cr->kind == WEIR_KIND_AUTHORIZATION_POLICY) {
        const struct weir_authorization_policy *ap = cr->res->u.ap;
        if (ap->targets.len) {
            tr_status_reject(ctx, cr, "Unsupported",
                             "targetRef/targetRefs are not supported by Weir yet; the policy is "
                             "not applied");
            return false;
        }
        if (ap->action == WEIR_AUTHZ_AUDIT || ap->action == WEIR_AUTHZ_CUSTOM) {
            tr_status_reject(ctx, cr, "Unsupported",
                             "action %s is not supported by Weir yet; the policy is not applied",
                             weir_authz_action_name(ap->action));
            return false;
        }
        j = authorization_json(ctx, cr);
    } else {
        if (cr->res->u.ra->targets.len) {
            tr_status_reject(ctx, cr, "Unsupported",
                             "targetRef/targetRefs are not supported by Weir yet; the policy is "
                             "not applied");
            return false;
        }
        j = request_authentication_json(ctx, cr);
        if (!j) {
            tr_status_reject(ctx, cr, "Unresolved", "no JWT rule can be applied: none has keys");
            return false;
        }
    }
    if (tr_frag_set(ctx, &cr->frag, j) != 0)
        ctx->oom = true;
    return cr->frag.json != NULL;
}

/* ---- the section ---- */

struct named {
    const char *name;
    json_t *json;
};

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

size_t tr_crs_lower(const struct tr_ctx *ctx, enum weir_kind kind, const char *ns)
{
    size_t lo = 0, hi = ctx->n_crs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = (int)ctx->crs[mid].kind - (int)kind;
        if (!r)
            r = strcmp(ctx->crs[mid].ns, ns);
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static json_t *policies(struct tr_ctx *ctx, enum weir_kind kind, const char *ns)
{
    const char *scopes[2] = {ns, strcmp(ns, ctx->root_ns) ? ctx->root_ns : NULL};
    struct named *v = NULL;
    size_t n = 0, cap = 0;
    json_t *a;
    for (int s = 0; s < 2 && scopes[s]; s++) {
        for (size_t i = tr_crs_lower(ctx, kind, scopes[s]); i < ctx->n_crs; i++) {
            struct tr_cr *cr = &ctx->crs[i];
            if (cr->kind != kind || strcmp(cr->ns, scopes[s]) != 0)
                break;
            if (!cr->res || !policy_frag(ctx, cr))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                struct named *nv = realloc(v, cap * sizeof(*v));
                if (!nv) {
                    ctx->oom = true;
                    free(v);
                    return NULL;
                }
                v = nv;
            }
            v[n++] = (struct named){json_string_value(json_object_get(cr->frag.json, "name")),
                                    cr->frag.json};
        }
    }
    if (!n) {
        free(v);
        return NULL;
    }
    tr_sort(v, n, sizeof(*v), cmp_named);
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(a, v[i].json);
    free(v);
    return a;
}

static const char *mtls_name(enum weir_mtls_mode m)
{
    switch (m) {
    case WEIR_MTLS_DISABLE:
        return "disable";
    case WEIR_MTLS_STRICT:
        return "strict";
    default:
        return "permissive";
    }
}

static int cmp_age(const void *pa, const void *pb)
{
    const struct tr_cr *a = *(struct tr_cr *const *)pa, *b = *(struct tr_cr *const *)pb;
    int r = strcmp(a->created, b->created);
    return r ? r : strcmp(a->name, b->name);
}

static json_t *peer_authentication(struct tr_ctx *ctx, struct tr_ns *ns)
{
    struct tr_cr **v = NULL;
    size_t n = 0;
    json_t *a = json_array();
    size_t first = tr_crs_lower(ctx, WEIR_KIND_PEER_AUTHENTICATION, ns->name);
    for (size_t i = first; i < ctx->n_crs; i++) {
        struct tr_cr *cr = &ctx->crs[i];
        if (cr->kind != WEIR_KIND_PEER_AUTHENTICATION || strcmp(cr->ns, ns->name) != 0)
            break;
        if (!cr->res || !cr->res->u.pa->selector.len)
            continue;
        struct tr_cr **nv = realloc(v, (n + 1) * sizeof(*v));
        if (!nv) {
            ctx->oom = true;
            break;
        }
        v = nv;
        v[n++] = cr;
    }
    if (n > 1)
        tr_sort(v, n, sizeof(*v), cmp_age);
    /* the most specific first: the proxy applies the first that selects it */
    for (size_t i = 0; i < n; i++) {
        const struct weir_peer_authentication *pa = v[i]->res->u.pa;
        enum weir_mtls_mode mode = pa->mode == WEIR_MTLS_UNSET ? ns->mode : pa->mode;
        char *name = tr_printf("%s/%s", v[i]->ns, v[i]->name);
        json_t *o = json_pack("{s:s, s:o, s:s}", "name", name ? name : "", "selector",
                              tr_string_map_json(&pa->selector, false), "mode", mtls_name(mode));
        free(name);
        if (pa->nport_level) {
            json_t *ports = json_array();
            for (size_t k = 0; k < pa->nport_level; k++) {
                enum weir_mtls_mode pm =
                    pa->port_level[k].mode == WEIR_MTLS_UNSET ? mode : pa->port_level[k].mode;
                json_array_append_new(ports, json_pack("{s:i, s:s}", "port", pa->port_level[k].port,
                                                       "mode", mtls_name(pm)));
            }
            json_object_set_new(o, "ports", ports);
        }
        json_array_append_new(a, o);
    }
    free(v);
    struct tr_ns *root = tr_find_ns(ctx, ctx->root_ns);
    struct tr_cr *fallback = ns->pa_ns ? ns->pa_ns : (root ? root->pa_ns : NULL);
    if (fallback) {
        char *name = tr_printf("%s/%s", fallback->ns, fallback->name);
        json_array_append_new(
            a, json_pack("{s:s, s:s}", "name", name ? name : "", "mode", mtls_name(ns->mode)));
        free(name);
    }
    if (!json_array_size(a)) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static int cmp_inbound(const void *a, const void *b)
{
    return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static json_t *inbound_service(struct tr_ctx *ctx, const struct tr_service *s)
{
    json_t *sel = json_object(), *ports = json_array();
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s->selector, k, v)
    {
        if (json_is_string(v))
            json_object_set(sel, k, (json_t *)v);
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct tr_port *p = &s->ports[i];
        enum tr_proto proto = p->proto;
        /* the proxy speaks one protocol per container port */
        for (size_t j = 0; j < i; j++)
            if (p->target_port && s->ports[j].target_port == p->target_port &&
                s->ports[j].proto != proto) {
                tr_note(ctx, s->obj,
                        "Service %s/%s: ports %d and %d reach container port %d with different "
                        "protocols; %s is used for both",
                        s->ns, s->name, s->ports[j].number, p->number, p->target_port,
                        tr_proto_name(s->ports[j].proto));
                proto = s->ports[j].proto;
                break;
            }
        json_t *o = json_pack("{s:i}", "port", p->number);
        if (p->target_port)
            json_object_set_new(o, "targetPort", json_integer(p->target_port));
        if (p->name)
            json_object_set_new(o, "name", json_string(p->name));
        json_object_set_new(o, "protocol", json_string(tr_proto_name(proto)));
        json_array_append_new(ports, o);
    }
    if (!json_object_size(sel)) {
        json_decref(sel);
        json_decref(ports);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o}", "name", s->name, "selector", sel, "ports", ports);
}

/* Which Kubernetes Services with a selector each namespace holds: one pass
 * over the services instead of one per namespace. */
static int index_services(struct tr_ctx *ctx)
{
    size_t *first = calloc(ctx->n_nss + 2, sizeof(*first));
    size_t *idx = calloc(ctx->n_services + 1, sizeof(*idx));
    size_t *fill = calloc(ctx->n_nss + 1, sizeof(*fill));
    struct tr_ns **of = calloc(ctx->n_services + 1, sizeof(*of));
    if (!first || !idx || !fill || !of) {
        free(first);
        free(idx);
        free(fill);
        free(of);
        return -1;
    }
    for (size_t i = 0; i < ctx->n_services; i++) {
        const struct tr_service *s = ctx->services[i];
        if (!s->se && s->selector && (of[i] = tr_find_ns(ctx, s->ns)))
            first[of[i] - ctx->nss + 1]++;
    }
    for (size_t k = 0; k < ctx->n_nss; k++)
        first[k + 1] += first[k];
    for (size_t i = 0; i < ctx->n_services; i++)
        if (of[i]) {
            size_t k = (size_t)(of[i] - ctx->nss);
            idx[first[k] + fill[k]++] = i;
        }
    free(fill);
    free(of);
    ctx->ns_services_first = first;
    ctx->ns_services = idx;
    return 0;
}

json_t *tr_inbound(struct tr_ctx *ctx, struct tr_ns *ns)
{
    json_t *o = NULL, *services = NULL;
    struct named *v = NULL;
    size_t n = 0;
    if (!ctx->ns_services_first && index_services(ctx) != 0) {
        ctx->oom = true;
        return NULL;
    }
    o = json_object();
    services = json_array();
    size_t k = (size_t)(ns - ctx->nss);
    for (size_t at = ctx->ns_services_first[k]; at < ctx->ns_services_first[k + 1]; at++) {
        const struct tr_service *s = ctx->services[ctx->ns_services[at]];
        json_t *j = inbound_service(ctx, s);
        struct named *nv = j ? realloc(v, (n + 1) * sizeof(*v)) : NULL;
        if (!nv) {
            json_decref(j);
            continue;
        }
        v = nv;
        v[n++] = (struct named){s->name, j};
    }
    if (n > 1)
        tr_sort(v, n, sizeof(*v), cmp_inbound);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(services, v[i].json);
    free(v);
    if (json_array_size(services))
        json_object_set(o, "services", services);
    json_decref(services);
    tr_set(o, "peerAuthentication", peer_authentication(ctx, ns));
    tr_set(o, "authorization", policies(ctx, WEIR_KIND_AUTHORIZATION_POLICY, ns->name));
    tr_set(o, "requestAuthentication", policies(ctx, WEIR_KIND_REQUEST_AUTHENTICATION, ns->name));
    if (!json_object_size(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}
