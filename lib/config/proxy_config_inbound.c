#include "config/proxy_config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_MAX_MS 2147483647LL

static int cmp_name(const char *a, const char *b)
{
    if (!a || !b)
        return -1; /* an item whose name was refused is not compared */
    return strcmp(a, b);
}

#define NAMED_ORDER(type)                                                                \
    static int cmp_##type(const void *a, const void *b)                                  \
    {                                                                                    \
        return cmp_name(((const struct weir_pc_##type *)a)->name,                        \
                        ((const struct weir_pc_##type *)b)->name);                       \
    }                                                                                    \
    static void describe_##type(const void *item, char *buf, size_t size)                \
    {                                                                                    \
        snprintf(buf, size, "name \"%s\"", ((const struct weir_pc_##type *)item)->name); \
    }

NAMED_ORDER(inbound_service)
NAMED_ORDER(authorization)
NAMED_ORDER(request_authentication)
NAMED_ORDER(rate_limit)

static void check_sorted_names(struct pc_loader *l, const char *key, const void *items, size_t n,
                               size_t size, pc_cmp_fn cmp, pc_describe_fn describe)
{
    char order[64];
    if (n < 2)
        return;
    snprintf(order, sizeof(order), "%s are sorted by name", key);
    weir_check_push_key(&l->c, key);
    pc_check_order(l, items, n, size, cmp, describe, "name", order);
    weir_check_pop(&l->c);
}

static const char *const mtls_modes[] = {"disable", "permissive", "strict", NULL};

/* ---- inbound services ---- */

static void parse_inbound_port(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"port", "targetPort", "name", "protocol", NULL};
    struct weir_pc_inbound_port *p = out;
    pc_fields(l, v, fields);
    p->port = (uint16_t)pc_int(l, v, "port", true, 1, 65535, 0);
    p->target_port = (uint16_t)pc_int(l, v, "targetPort", false, 1, 65535, p->port);
    p->name = pc_str(l, v, "name", false, weir_valid_dns1123_label);
    p->protocol = pc_enum(l, v, "protocol", true, pc_protocol_names, WEIR_PC_PROTO_TCP);
}

static int cmp_inbound_port(const void *a, const void *b)
{
    const struct weir_pc_inbound_port *x = a, *y = b;
    return (int)x->port - (int)y->port;
}

static void describe_inbound_port(const void *item, char *buf, size_t size)
{
    snprintf(buf, size, "port %u", (unsigned)((const struct weir_pc_inbound_port *)item)->port);
}

static void parse_inbound_service(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"name", "selector", "ports", NULL};
    struct weir_pc_inbound_service *s = out;
    pc_fields(l, v, fields);
    s->name = pc_str(l, v, "name", true, weir_valid_dns1123_label);
    pc_labels(l, v, "selector", true, &s->selector.match_labels);
    if (json_is_object(json_object_get(v, "selector")) &&
        json_object_size(json_object_get(v, "selector")) == 0) {
        weir_check_push_key(&l->c, "selector");
        weir_check_error(&l->c, NULL, "must not be empty");
        weir_check_pop(&l->c);
    }
    s->ports =
        pc_objects(l, v, "ports", true, true, sizeof(*s->ports), parse_inbound_port, &s->n_ports);
    weir_check_push_key(&l->c, "ports");
    pc_check_order(l, s->ports, s->n_ports, sizeof(*s->ports), cmp_inbound_port,
                   describe_inbound_port, "port", "ports are sorted by port");
    /* Two Service ports may lead to one container port, but the proxy can
     * speak only one protocol on it. */
    for (size_t i = 0; i < s->n_ports; i++) {
        for (size_t j = 0; j < i; j++) {
            if (!s->ports[i].target_port || s->ports[i].target_port != s->ports[j].target_port ||
                s->ports[i].protocol == s->ports[j].protocol)
                continue;
            weir_check_push_index(&l->c, i);
            weir_check_push_key(&l->c, "protocol");
            weir_check_error(
                &l->c, NULL, "targetPort %u is also reached through ports[%zu] with protocol %s",
                (unsigned)s->ports[i].target_port, j, weir_pc_protocol_name(s->ports[j].protocol));
            weir_check_pop(&l->c);
            weir_check_pop(&l->c);
            break;
        }
    }
    weir_check_pop(&l->c);
}

/* ---- peer authentication ---- */

static void parse_port_mtls(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"port", "mode", NULL};
    struct weir_pc_port_mtls *p = out;
    pc_fields(l, v, fields);
    p->port = (uint16_t)pc_int(l, v, "port", true, 1, 65535, 0);
    p->mode = pc_enum(l, v, "mode", true, mtls_modes, WEIR_PC_MTLS_PERMISSIVE);
}

static int cmp_port_mtls(const void *a, const void *b)
{
    return (int)((const struct weir_pc_port_mtls *)a)->port -
           (int)((const struct weir_pc_port_mtls *)b)->port;
}

static void describe_port_mtls(const void *item, char *buf, size_t size)
{
    snprintf(buf, size, "port %u", (unsigned)((const struct weir_pc_port_mtls *)item)->port);
}

static void parse_peer_authentication(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"name", "selector", "mode", "ports", NULL};
    struct weir_pc_peer_authentication *p = out;
    pc_fields(l, v, fields);
    p->name = pc_str(l, v, "name", true, pc_valid_object_ref);
    p->selector = pc_selector(l, v, "selector");
    p->mode = pc_enum(l, v, "mode", true, mtls_modes, WEIR_PC_MTLS_PERMISSIVE);
    p->ports =
        pc_objects(l, v, "ports", false, false, sizeof(*p->ports), parse_port_mtls, &p->n_ports);
    if (p->n_ports > 0 && !json_object_get(v, "selector")) {
        /* as in Istio: port-level modes name container ports, which only
         * mean something for the workloads a selector picks */
        weir_check_push_key(&l->c, "ports");
        weir_check_error(&l->c, NULL, "port-level modes need a selector");
        weir_check_pop(&l->c);
    }
    weir_check_push_key(&l->c, "ports");
    pc_check_order(l, p->ports, p->n_ports, sizeof(*p->ports), cmp_port_mtls, describe_port_mtls,
                   "port", "ports are sorted by port");
    weir_check_pop(&l->c);
}

/* The proxy applies the first entry whose selector matches, so an entry
 * without a selector must be the last one: anything after it is dead. */
static void check_peer_order(struct pc_loader *l, const json_t *root_inbound)
{
    const struct weir_pc_inbound *in = &l->cfg->inbound;
    const json_t *arr = json_object_get(root_inbound, "peerAuthentication");
    for (size_t i = 0; i + 1 < in->n_peer_authentication; i++) {
        const json_t *item = json_array_get(arr, i);
        if (!json_is_object(item) || json_object_get(item, "selector"))
            continue;
        weir_check_push_key(&l->c, "peerAuthentication");
        weir_check_push_index(&l->c, i + 1);
        weir_check_error(&l->c, NULL,
                         "unreachable: peerAuthentication[%zu] has no selector and applies to "
                         "every workload first",
                         i);
        weir_check_pop(&l->c);
        weir_check_pop(&l->c);
        break;
    }
    for (size_t i = 0; i < in->n_peer_authentication; i++) {
        for (size_t j = 0; j < i; j++) {
            const char *a = in->peer_authentication[i].name, *b = in->peer_authentication[j].name;
            if (!a || !b || strcmp(a, b) != 0)
                continue;
            weir_check_push_key(&l->c, "peerAuthentication");
            weir_check_push_index(&l->c, i);
            weir_check_push_key(&l->c, "name");
            weir_check_error(&l->c, NULL, "duplicate name \"%s\", also at index %zu", a, j);
            weir_check_pop(&l->c);
            weir_check_pop(&l->c);
            weir_check_pop(&l->c);
            break;
        }
    }
}

/* ---- authorization ---- */

static bool any_set(const json_t *v, const char *const *fields)
{
    for (int i = 0; fields[i]; i++) {
        const json_t *f = json_object_get(v, fields[i]);
        if (f && !(json_is_array(f) && json_array_size(f) == 0))
            return true;
    }
    return false;
}

static void parse_source(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"principals",
                                         "notPrincipals",
                                         "requestPrincipals",
                                         "notRequestPrincipals",
                                         "namespaces",
                                         "notNamespaces",
                                         "ipBlocks",
                                         "notIpBlocks",
                                         "remoteIpBlocks",
                                         "notRemoteIpBlocks",
                                         NULL};
    struct weir_pc_authz_source *s = out;
    pc_fields(l, v, fields);
    pc_match_list(l, v, "principals", &s->principals);
    pc_match_list(l, v, "notPrincipals", &s->not_principals);
    pc_match_list(l, v, "requestPrincipals", &s->request_principals);
    pc_match_list(l, v, "notRequestPrincipals", &s->not_request_principals);
    pc_match_list(l, v, "namespaces", &s->namespaces);
    pc_match_list(l, v, "notNamespaces", &s->not_namespaces);
    pc_cidrs(l, v, "ipBlocks", false, &s->ip_blocks);
    pc_cidrs(l, v, "notIpBlocks", false, &s->not_ip_blocks);
    pc_cidrs(l, v, "remoteIpBlocks", false, &s->remote_ip_blocks);
    pc_cidrs(l, v, "notRemoteIpBlocks", false, &s->not_remote_ip_blocks);
    if (!any_set(v, fields))
        weir_check_error(&l->c, v,
                         "at least one field must be set (an empty source would "
                         "match every request)");
}

static void parse_operation(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"hosts",    "notHosts", "ports",
                                         "notPorts", "methods",  "notMethods",
                                         "paths",    "notPaths", NULL};
    struct weir_pc_authz_operation *o = out;
    pc_fields(l, v, fields);
    pc_match_list(l, v, "hosts", &o->hosts);
    pc_match_list(l, v, "notHosts", &o->not_hosts);
    pc_ports(l, v, "ports", &o->ports);
    pc_ports(l, v, "notPorts", &o->not_ports);
    pc_strings(l, v, "methods", false, false, pc_valid_method, &o->methods);
    pc_strings(l, v, "notMethods", false, false, pc_valid_method, &o->not_methods);
    pc_match_list(l, v, "paths", &o->paths);
    pc_match_list(l, v, "notPaths", &o->not_paths);
    if (!any_set(v, fields))
        weir_check_error(&l->c, v,
                         "at least one field must be set (an empty operation would "
                         "match every request)");
}

static const char *const condition_keys[] = {"request_header",
                                             "source_ip",
                                             "remote_ip",
                                             "source_namespace",
                                             "source_principal",
                                             "request_principal",
                                             "request_audience",
                                             "request_presenter",
                                             "request_claim",
                                             "destination_ip",
                                             "destination_port",
                                             "sni",
                                             NULL};

static void parse_condition(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"key", "header", "claim", "values", "notValues", NULL};
    struct weir_pc_condition *c = out;
    int key;

    pc_fields(l, v, fields);
    key = pc_enum(l, v, "key", true, condition_keys, -1);
    if (key < 0)
        return;
    c->key = key;
    if (c->key == WEIR_PC_COND_REQUEST_HEADER) {
        c->header = pc_str(l, v, "header", true, pc_valid_header_name);
    } else if (json_object_get(v, "header")) {
        weir_check_push_key(&l->c, "header");
        weir_check_error(&l->c, NULL, "only allowed with key \"request_header\"");
        weir_check_pop(&l->c);
    }
    if (c->key == WEIR_PC_COND_REQUEST_CLAIM) {
        pc_strings(l, v, "claim", true, true, pc_valid_not_empty, &c->claim);
    } else if (json_object_get(v, "claim")) {
        weir_check_push_key(&l->c, "claim");
        weir_check_error(&l->c, NULL, "only allowed with key \"request_claim\"");
        weir_check_pop(&l->c);
    }
    switch (c->key) {
    case WEIR_PC_COND_SOURCE_IP:
    case WEIR_PC_COND_REMOTE_IP:
    case WEIR_PC_COND_DESTINATION_IP:
        pc_cidrs(l, v, "values", false, &c->cidrs);
        pc_cidrs(l, v, "notValues", false, &c->not_cidrs);
        break;
    case WEIR_PC_COND_DESTINATION_PORT:
        pc_ports(l, v, "values", &c->ports);
        pc_ports(l, v, "notValues", &c->not_ports);
        break;
    default:
        pc_match_list(l, v, "values", &c->values);
        pc_match_list(l, v, "notValues", &c->not_values);
        break;
    }
    static const char *const value_fields[] = {"values", "notValues", NULL};
    if (!any_set(v, value_fields))
        weir_check_error(&l->c, v, "at least one of values or notValues must be set");
}

static void parse_rule(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"from", "to", "when", NULL};
    struct weir_pc_authz_rule *r = out;
    pc_fields(l, v, fields);
    r->from = pc_objects(l, v, "from", false, false, sizeof(*r->from), parse_source, &r->n_from);
    r->to = pc_objects(l, v, "to", false, false, sizeof(*r->to), parse_operation, &r->n_to);
    r->when = pc_objects(l, v, "when", false, false, sizeof(*r->when), parse_condition, &r->n_when);
}

static void parse_authorization(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"name", "selector", "action", "rules", NULL};
    static const char *const actions[] = {"allow", "deny", NULL};
    struct weir_pc_authorization *a = out;
    pc_fields(l, v, fields);
    a->name = pc_str(l, v, "name", true, pc_valid_object_ref);
    a->selector = pc_selector(l, v, "selector");
    a->action = pc_enum(l, v, "action", true, actions, WEIR_PC_AUTHZ_DENY);
    a->rules = pc_objects(l, v, "rules", false, false, sizeof(*a->rules), parse_rule, &a->n_rules);
}

/* ---- request authentication ---- */

static const char *valid_url(const char *s)
{
    if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
        return "must be an http:// or https:// URL";
    return NULL;
}

static const char *valid_jwks(const char *s)
{
    json_t *doc = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    const json_t *keys = json_is_object(doc) ? json_object_get(doc, "keys") : NULL;
    bool ok = json_is_array(keys) && json_array_size(keys) > 0;
    json_decref(doc);
    return ok ? NULL : "must be a JWK set: JSON text of an object with a non-empty \"keys\" array";
}

static void parse_jwt_header(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"name", "prefix", NULL};
    struct weir_pc_jwt_header *h = out;
    pc_fields(l, v, fields);
    h->name = pc_str(l, v, "name", true, pc_valid_header_name);
    h->prefix = pc_str(l, v, "prefix", false, NULL);
}

static void parse_claim_header(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"header", "claim", NULL};
    struct weir_pc_claim_to_header *h = out;
    pc_fields(l, v, fields);
    h->header = pc_str(l, v, "header", true, pc_valid_header_name);
    h->claim = pc_str(l, v, "claim", true, pc_valid_not_empty);
}

/* Istio's default token locations, filled in here so that the proxy reads
 * locations from one place only. */
static void default_locations(struct pc_loader *l, struct weir_pc_jwt_rule *r)
{
    struct weir_pc_jwt_header *h = pc_alloc(l, sizeof(*h));
    char **params = pc_alloc(l, sizeof(*params));
    if (!h || !params)
        return;
    h->name = pc_strdup(l, "authorization");
    h->prefix = pc_strdup(l, "Bearer ");
    params[0] = pc_strdup(l, "access_token");
    r->from_headers = h;
    r->n_from_headers = 1;
    r->from_params.items = params;
    r->from_params.len = 1;
}

static void parse_jwt_rule(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"issuer",
                                         "audiences",
                                         "jwksUri",
                                         "jwks",
                                         "fromHeaders",
                                         "fromParams",
                                         "fromCookies",
                                         "outputPayloadToHeader",
                                         "outputClaimToHeaders",
                                         "forwardOriginalToken",
                                         NULL};
    struct weir_pc_jwt_rule *r = out;
    pc_fields(l, v, fields);
    r->issuer = pc_str(l, v, "issuer", true, pc_valid_not_empty);
    pc_strings(l, v, "audiences", false, false, pc_valid_not_empty, &r->audiences);
    r->jwks_uri = pc_str(l, v, "jwksUri", false, valid_url);
    r->jwks = pc_str(l, v, "jwks", false, valid_jwks);
    if (!json_object_get(v, "jwksUri") == !json_object_get(v, "jwks"))
        weir_check_error(&l->c, v, "exactly one of jwksUri or jwks must be set");
    r->from_headers = pc_objects(l, v, "fromHeaders", false, false, sizeof(*r->from_headers),
                                 parse_jwt_header, &r->n_from_headers);
    pc_strings(l, v, "fromParams", false, false, pc_valid_not_empty, &r->from_params);
    pc_strings(l, v, "fromCookies", false, false, pc_valid_not_empty, &r->from_cookies);
    r->output_payload_to_header =
        pc_str(l, v, "outputPayloadToHeader", false, pc_valid_header_name);
    r->output_claim_to_headers =
        pc_objects(l, v, "outputClaimToHeaders", false, false, sizeof(*r->output_claim_to_headers),
                   parse_claim_header, &r->n_output_claim_to_headers);
    r->forward_original_token = pc_bool(l, v, "forwardOriginalToken", false);
    if (!json_object_get(v, "fromHeaders") && !json_object_get(v, "fromParams") &&
        !json_object_get(v, "fromCookies"))
        default_locations(l, r);
}

static void parse_request_authentication(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"name", "selector", "jwtRules", NULL};
    struct weir_pc_request_authentication *r = out;
    pc_fields(l, v, fields);
    r->name = pc_str(l, v, "name", true, pc_valid_object_ref);
    r->selector = pc_selector(l, v, "selector");
    r->jwt_rules = pc_objects(l, v, "jwtRules", true, true, sizeof(*r->jwt_rules), parse_jwt_rule,
                              &r->n_jwt_rules);
}

void pc_parse_inbound(struct pc_loader *l, const json_t *root)
{
    static const char *const fields[] = {"services", "peerAuthentication", "authorization",
                                         "requestAuthentication", NULL};
    struct weir_pc_inbound *in = &l->cfg->inbound;
    const json_t *v = weir_check_get(&l->c, root, "inbound", JSON_OBJECT, false);
    if (!v)
        return;
    weir_check_push_key(&l->c, "inbound");
    pc_fields(l, v, fields);
    in->services = pc_objects(l, v, "services", false, false, sizeof(*in->services),
                              parse_inbound_service, &in->n_services);
    check_sorted_names(l, "services", in->services, in->n_services, sizeof(*in->services),
                       cmp_inbound_service, describe_inbound_service);
    in->peer_authentication =
        pc_objects(l, v, "peerAuthentication", false, false, sizeof(*in->peer_authentication),
                   parse_peer_authentication, &in->n_peer_authentication);
    check_peer_order(l, v);
    in->authorization = pc_objects(l, v, "authorization", false, false, sizeof(*in->authorization),
                                   parse_authorization, &in->n_authorization);
    check_sorted_names(l, "authorization", in->authorization, in->n_authorization,
                       sizeof(*in->authorization), cmp_authorization, describe_authorization);
    in->request_authentication =
        pc_objects(l, v, "requestAuthentication", false, false, sizeof(*in->request_authentication),
                   parse_request_authentication, &in->n_request_authentication);
    check_sorted_names(l, "requestAuthentication", in->request_authentication,
                       in->n_request_authentication, sizeof(*in->request_authentication),
                       cmp_request_authentication, describe_request_authentication);
    weir_check_pop(&l->c);
}

/* ---- rate limits ---- */

static void parse_descriptor(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"kind", "header", NULL};
    static const char *const kinds[] = {"header",           "path", "method", "source_ip",
                                        "source_principal", NULL};
    struct weir_pc_descriptor *d = out;
    pc_fields(l, v, fields);
    d->kind = pc_enum(l, v, "kind", true, kinds, WEIR_PC_DESC_PATH);
    if (d->kind == WEIR_PC_DESC_HEADER && json_is_string(json_object_get(v, "kind"))) {
        d->header = pc_str(l, v, "header", true, pc_valid_header_name);
    } else if (json_object_get(v, "header")) {
        weir_check_push_key(&l->c, "header");
        weir_check_error(&l->c, NULL, "only allowed with kind \"header\"");
        weir_check_pop(&l->c);
    }
}

static const struct weir_pc_rate_limit_match *parse_rl_match(struct pc_loader *l, const json_t *v,
                                                             enum weir_pc_direction dir)
{
    static const char *const fields[] = {"route", "port", "path", "methods", "headers", NULL};
    struct weir_pc_rate_limit_match *m = pc_alloc(l, sizeof(*m));
    if (!m)
        return NULL;
    pc_fields(l, v, fields);
    m->route = pc_str(l, v, "route", false, pc_valid_not_empty);
    if (json_object_get(v, "route") && dir != WEIR_PC_OUTBOUND) {
        weir_check_push_key(&l->c, "route");
        weir_check_error(&l->c, NULL, "only allowed with direction \"outbound\"");
        weir_check_pop(&l->c);
    }
    m->port = (uint16_t)pc_int(l, v, "port", false, 1, 65535, 0);
    pc_match(l, v, "path", false, false, &m->path);
    pc_strings(l, v, "methods", false, false, pc_valid_method, &m->methods);
    pc_named_matches(l, v, "headers", &m->headers);
    return m;
}

static void parse_rate_limit(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"name",       "selector",    "direction",
                                         "match",      "descriptors", "tokenBucket",
                                         "statusCode", "maxBuckets",  NULL};
    static const char *const bucket_fields[] = {"maxTokens", "tokensPerFill", "fillIntervalMs",
                                                NULL};
    static const char *const directions[] = {"inbound", "outbound", NULL};
    struct weir_pc_rate_limit *r = out;
    const json_t *sub;

    pc_fields(l, v, fields);
    r->name = pc_str(l, v, "name", true, pc_valid_object_ref);
    r->selector = pc_selector(l, v, "selector");
    r->direction = pc_enum(l, v, "direction", false, directions, WEIR_PC_INBOUND);
    if ((sub = weir_check_get(&l->c, v, "match", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "match");
        r->match = parse_rl_match(l, sub, r->direction);
        weir_check_pop(&l->c);
    }
    r->descriptors = pc_objects(l, v, "descriptors", false, false, sizeof(*r->descriptors),
                                parse_descriptor, &r->n_descriptors);
    if ((sub = weir_check_get(&l->c, v, "tokenBucket", JSON_OBJECT, true))) {
        weir_check_push_key(&l->c, "tokenBucket");
        pc_fields(l, sub, bucket_fields);
        r->max_tokens = pc_int(l, sub, "maxTokens", true, 1, 4294967295LL, 0);
        r->tokens_per_fill = pc_int(l, sub, "tokensPerFill", true, 1, 4294967295LL, 0);
        r->fill_interval_ms = pc_int(l, sub, "fillIntervalMs", true, 1, PC_MAX_MS, 0);
        weir_check_pop(&l->c);
    }
    r->status_code = (int)pc_int(l, v, "statusCode", false, 400, 599, 429);
    r->max_buckets = pc_int(l, v, "maxBuckets", false, 1, 1000000, 10000);
}

void pc_parse_rate_limits(struct pc_loader *l, const json_t *root)
{
    struct weir_proxy_config *cfg = l->cfg;
    cfg->rate_limits = pc_objects(l, root, "rateLimits", false, false, sizeof(*cfg->rate_limits),
                                  parse_rate_limit, &cfg->n_rate_limits);
    check_sorted_names(l, "rateLimits", cfg->rate_limits, cfg->n_rate_limits,
                       sizeof(*cfg->rate_limits), cmp_rate_limit, describe_rate_limit);
}

static bool route_named(const struct weir_proxy_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_services; i++)
        for (size_t j = 0; j < cfg->services[i].n_ports; j++)
            for (size_t k = 0; k < cfg->services[i].ports[j].n_http; k++) {
                const char *n = cfg->services[i].ports[j].http[k].name;
                if (n && strcmp(n, name) == 0)
                    return true;
            }
    return false;
}

void pc_resolve_rate_limits(struct pc_loader *l)
{
    const struct weir_proxy_config *cfg = l->cfg;
    for (size_t i = 0; i < cfg->n_rate_limits; i++) {
        const struct weir_pc_rate_limit_match *m = cfg->rate_limits[i].match;
        if (!m || !m->route || cfg->rate_limits[i].direction != WEIR_PC_OUTBOUND ||
            route_named(cfg, m->route))
            continue;
        weir_check_push_key(&l->c, "rateLimits");
        weir_check_push_index(&l->c, i);
        weir_check_push_key(&l->c, "match");
        weir_check_push_key(&l->c, "route");
        weir_check_error(&l->c, NULL, "no HTTP route is named \"%s\"", m->route);
        weir_check_pop(&l->c);
        weir_check_pop(&l->c);
        weir_check_pop(&l->c);
        weir_check_pop(&l->c);
    }
}
