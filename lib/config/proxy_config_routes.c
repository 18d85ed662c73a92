#include "config/proxy_config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_MAX_MS 2147483647LL

/* ---- header operations ---- */

static void parse_header_ops(struct pc_loader *l, const json_t *parent, const char *key,
                             struct weir_pc_header_ops *ops)
{
    static const char *const fields[] = {"set", "add", "remove", NULL};
    const json_t *v = weir_check_get(&l->c, parent, key, JSON_OBJECT, false);
    if (!v)
        return;
    weir_check_push_key(&l->c, key);
    pc_fields(l, v, fields);
    pc_header_values(l, v, "set", &ops->set);
    pc_header_values(l, v, "add", &ops->add);
    pc_strings(l, v, "remove", false, false, pc_valid_header_name, &ops->remove);
    weir_check_pop(&l->c);
}

static void parse_headers(struct pc_loader *l, const json_t *parent, struct weir_pc_headers *h)
{
    static const char *const fields[] = {"request", "response", NULL};
    const json_t *v = weir_check_get(&l->c, parent, "headers", JSON_OBJECT, false);
    if (!v)
        return;
    weir_check_push_key(&l->c, "headers");
    pc_fields(l, v, fields);
    parse_header_ops(l, v, "request", &h->request);
    parse_header_ops(l, v, "response", &h->response);
    weir_check_pop(&l->c);
}

/* ---- destinations ---- */

static void parse_destination(struct pc_loader *l, const json_t *v, struct weir_pc_destination *d,
                              bool http)
{
    static const char *const http_fields[] = {"cluster", "weight", "headers", NULL};
    static const char *const l4_fields[] = {"cluster", "weight", NULL};
    pc_fields(l, v, http ? http_fields : l4_fields);
    d->cluster_name = pc_str(l, v, "cluster", true, pc_valid_not_empty);
    d->weight = (uint32_t)pc_int(l, v, "weight", true, 0, 100, 0);
    if (http)
        parse_headers(l, v, &d->headers);
}

static void parse_http_destination(struct pc_loader *l, const json_t *v, void *out)
{
    parse_destination(l, v, out, true);
}

static void parse_l4_destination(struct pc_loader *l, const json_t *v, void *out)
{
    parse_destination(l, v, out, false);
}

/* Weights are checked only when every destination gave a valid one, so a
 * bad weight is reported once, where it is. */
static void check_weights(struct pc_loader *l, const json_t *route_obj,
                          const struct weir_pc_destination *d, size_t n)
{
    const json_t *arr = json_object_get(route_obj, "route");
    int64_t sum = 0;
    if (n == 0 || !json_is_array(arr))
        return;
    for (size_t i = 0; i < n; i++) {
        const json_t *w = json_is_object(json_array_get(arr, i))
                              ? json_object_get(json_array_get(arr, i), "weight")
                              : NULL;
        if (!json_is_integer(w) || json_integer_value(w) < 0 || json_integer_value(w) > 100)
            return;
        sum += d[i].weight;
    }
    if (sum != 100) {
        weir_check_push_key(&l->c, "route");
        weir_check_error(&l->c, arr, "weights must sum to 100, got %lld", (long long)sum);
        weir_check_pop(&l->c);
    }
}

/* ---- HTTP match ---- */

static void parse_http_match(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {
        "name",      "uri",          "scheme",          "method",
        "authority", "headers",      "withoutHeaders",  "queryParams",
        "port",      "sourceLabels", "sourceNamespace", "ignoreUriCase",
        NULL};
    struct weir_pc_http_match *m = out;
    pc_fields(l, v, fields);
    m->name = pc_str(l, v, "name", false, NULL);
    m->ignore_uri_case = pc_bool(l, v, "ignoreUriCase", false);
    pc_match(l, v, "uri", false, m->ignore_uri_case, &m->uri);
    pc_match(l, v, "scheme", false, false, &m->scheme);
    pc_match(l, v, "method", false, false, &m->method);
    pc_match(l, v, "authority", false, false, &m->authority);
    pc_named_matches(l, v, "headers", &m->headers);
    pc_named_matches(l, v, "withoutHeaders", &m->without_headers);
    pc_named_matches(l, v, "queryParams", &m->query_params);
    m->port = (uint16_t)pc_int(l, v, "port", false, 1, 65535, 0);
    pc_labels(l, v, "sourceLabels", false, &m->source_labels);
    m->source_namespace = pc_str(l, v, "sourceNamespace", false, weir_valid_namespace);
}

/* ---- HTTP actions ---- */

static const struct weir_pc_redirect *parse_redirect(struct pc_loader *l, const json_t *v)
{
    static const char *const fields[] = {"uri",    "authority", "port", "derivePort",
                                         "scheme", "code",      NULL};
    static const char *const derive[] = {"from_protocol_default", "from_request_port", NULL};
    static const char *const schemes[] = {"http", "https", NULL};
    struct weir_pc_redirect *r = pc_alloc(l, sizeof(*r));
    if (!r)
        return NULL;
    pc_fields(l, v, fields);
    r->uri = pc_str(l, v, "uri", false, NULL);
    r->authority = pc_str(l, v, "authority", false, pc_valid_not_empty);
    r->port = (uint16_t)pc_int(l, v, "port", false, 1, 65535, 0);
    if (json_object_get(v, "derivePort"))
        r->derive_port = 1 + pc_enum(l, v, "derivePort", false, derive, -1);
    int scheme = pc_enum(l, v, "scheme", false, schemes, -1);
    if (scheme >= 0)
        r->scheme = schemes[scheme];
    r->code = (int)pc_int(l, v, "code", false, 301, 308, 301);
    if (r->code == 304 || r->code == 305 || r->code == 306) {
        weir_check_push_key(&l->c, "code");
        weir_check_error(&l->c, NULL, "must be one of 301, 302, 303, 307, 308; got %d", r->code);
        weir_check_pop(&l->c);
    }
    if (json_object_get(v, "port") && json_object_get(v, "derivePort"))
        weir_check_error(&l->c, v, "port and derivePort are mutually exclusive");
    if (!json_object_get(v, "uri") && !json_object_get(v, "authority") &&
        !json_object_get(v, "port") && !json_object_get(v, "derivePort") &&
        !json_object_get(v, "scheme"))
        weir_check_error(&l->c, v,
                         "at least one of uri, authority, port, derivePort or scheme "
                         "must be set");
    return r;
}

static const struct weir_pc_direct_response *parse_direct_response(struct pc_loader *l,
                                                                   const json_t *v)
{
    static const char *const fields[] = {"status", "body", NULL};
    struct weir_pc_direct_response *r = pc_alloc(l, sizeof(*r));
    if (!r)
        return NULL;
    pc_fields(l, v, fields);
    r->status = (int)pc_int(l, v, "status", true, 200, 599, 0);
    r->body = pc_str(l, v, "body", false, NULL);
    r->body_len = r->body ? strlen(r->body) : 0;
    return r;
}

static const struct weir_pc_rewrite *parse_rewrite(struct pc_loader *l, const json_t *v)
{
    static const char *const fields[] = {"uri", "authority", "uriRegex", NULL};
    static const char *const regex_fields[] = {"match", "rewrite", NULL};
    struct weir_pc_rewrite *r = pc_alloc(l, sizeof(*r));
    const json_t *re;
    if (!r)
        return NULL;
    pc_fields(l, v, fields);
    r->uri = pc_str(l, v, "uri", false, NULL);
    r->authority = pc_str(l, v, "authority", false, pc_valid_not_empty);
    if ((re = weir_check_get(&l->c, v, "uriRegex", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "uriRegex");
        pc_fields(l, re, regex_fields);
        const char *pattern = pc_str(l, re, "match", true, pc_valid_not_empty);
        r->uri_regex_rewrite = pc_str(l, re, "rewrite", true, NULL);
        if (pattern) {
            const char *why = weir_regex_error(pattern);
            weir_check_push_key(&l->c, "match");
            if (why)
                weir_check_error(&l->c, NULL, "%s", why);
            else if (pc_compile_regex(l, NULL, pattern, false, false, &r->uri_regex.regex))
                r->uri_regex.m = (struct weir_string_match){WEIR_MATCH_REGEX, (char *)pattern};
            weir_check_pop(&l->c);
        }
        weir_check_pop(&l->c);
        if (json_object_get(v, "uri"))
            weir_check_error(&l->c, v, "uri and uriRegex are mutually exclusive");
    }
    if (json_object_size(v) == 0)
        weir_check_error(&l->c, v, "at least one of uri, authority or uriRegex must be set");
    return r;
}

static const char *const retry_on_names[] = {"5xx",
                                             "gateway_error",
                                             "reset",
                                             "connect_failure",
                                             "retriable_4xx",
                                             "refused_stream",
                                             "retriable_status_codes",
                                             "cancelled",
                                             "deadline_exceeded",
                                             "internal",
                                             "resource_exhausted",
                                             "unavailable",
                                             NULL};

static const struct weir_pc_retries *parse_retries(struct pc_loader *l, const json_t *v)
{
    static const char *const fields[] = {"attempts", "perTryTimeoutMs", "retryOn",
                                         "retriableStatusCodes", NULL};
    struct weir_pc_retries *r = pc_alloc(l, sizeof(*r));
    const json_t *arr;
    size_t i;
    json_t *item;
    if (!r)
        return NULL;
    pc_fields(l, v, fields);
    r->attempts = (uint32_t)pc_int(l, v, "attempts", true, 0, 100, 0);
    r->per_try_timeout_ms = pc_int(l, v, "perTryTimeoutMs", false, 0, PC_MAX_MS, 0);
    if ((arr = weir_check_get(&l->c, v, "retryOn", JSON_ARRAY, false))) {
        weir_check_push_key(&l->c, "retryOn");
        json_array_foreach(arr, i, item)
        {
            int bit = -1;
            weir_check_push_index(&l->c, i);
            for (int k = 0; json_is_string(item) && retry_on_names[k]; k++)
                if (strcmp(retry_on_names[k], json_string_value(item)) == 0)
                    bit = k;
            if (!json_is_string(item))
                weir_check_error(&l->c, item, "must be a string, got %s",
                                 weir_json_type_name(item));
            else if (bit < 0)
                weir_check_error(&l->c, item,
                                 "unknown retry condition \"%s\" (see docs/proxy-config.md)",
                                 json_string_value(item));
            else if (r->retry_on & (1u << bit))
                weir_check_error(&l->c, item, "duplicate retry condition \"%s\"",
                                 json_string_value(item));
            else
                r->retry_on |= 1u << bit;
            weir_check_pop(&l->c);
        }
        weir_check_pop(&l->c);
    }
    if ((arr = weir_check_get(&l->c, v, "retriableStatusCodes", JSON_ARRAY, false))) {
        r->retriable_status_codes.items = pc_alloc_array(l, json_array_size(arr), sizeof(uint16_t));
        weir_check_push_key(&l->c, "retriableStatusCodes");
        json_array_foreach(arr, i, item)
        {
            weir_check_push_index(&l->c, i);
            if (!json_is_integer(item) || json_integer_value(item) < 100 ||
                json_integer_value(item) > 599)
                weir_check_error(&l->c, item, "must be an HTTP status code 100..599");
            else if (r->retriable_status_codes.items)
                r->retriable_status_codes.items[r->retriable_status_codes.len++] =
                    (uint16_t)json_integer_value(item);
            weir_check_pop(&l->c);
        }
        weir_check_pop(&l->c);
        if (json_array_size(arr) > 0 && !(r->retry_on & WEIR_PC_RETRY_RETRIABLE_STATUS_CODES)) {
            weir_check_push_key(&l->c, "retriableStatusCodes");
            weir_check_error(&l->c, arr,
                             "needs \"retriable_status_codes\" in retryOn to take effect");
            weir_check_pop(&l->c);
        }
    }
    return r;
}

static const struct weir_pc_fault *parse_fault(struct pc_loader *l, const json_t *v)
{
    static const char *const fields[] = {"delay", "abort", NULL};
    static const char *const delay_fields[] = {"fixedDelayMs", "percentage", NULL};
    static const char *const abort_fields[] = {"httpStatus", "grpcStatus", "percentage", NULL};
    struct weir_pc_fault *f = pc_alloc(l, sizeof(*f));
    const json_t *d, *a;
    if (!f)
        return NULL;
    pc_fields(l, v, fields);
    if ((d = weir_check_get(&l->c, v, "delay", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "delay");
        pc_fields(l, d, delay_fields);
        f->delay = true;
        f->delay_fixed_ms = pc_int(l, d, "fixedDelayMs", true, 1, PC_MAX_MS, 0);
        f->delay_ppm = pc_percent(l, d, "percentage", true, 0);
        weir_check_pop(&l->c);
    }
    if ((a = weir_check_get(&l->c, v, "abort", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "abort");
        pc_fields(l, a, abort_fields);
        f->abort = true;
        bool http = json_object_get(a, "httpStatus") != NULL;
        bool grpc = json_object_get(a, "grpcStatus") != NULL;
        if (http == grpc)
            weir_check_error(&l->c, a, "exactly one of httpStatus or grpcStatus must be set");
        f->abort_http_status = (int)pc_int(l, a, "httpStatus", false, 200, 599, 0);
        f->abort_grpc_status = (int)pc_int(l, a, "grpcStatus", false, 1, 16, 0);
        f->abort_ppm = pc_percent(l, a, "percentage", true, 0);
        weir_check_pop(&l->c);
    }
    if (!d && !a && !json_object_get(v, "delay") && !json_object_get(v, "abort"))
        weir_check_error(&l->c, v, "at least one of delay or abort must be set");
    return f;
}

static void parse_mirror(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"cluster", "percentage", NULL};
    struct weir_pc_mirror *m = out;
    pc_fields(l, v, fields);
    m->cluster_name = pc_str(l, v, "cluster", true, pc_valid_not_empty);
    m->ppm = pc_percent(l, v, "percentage", true, 0);
}

static const char *valid_cors_header(const char *s)
{
    return strcmp(s, "*") == 0 ? NULL : pc_valid_header_name(s);
}

static const char *valid_cors_method(const char *s)
{
    return strcmp(s, "*") == 0 ? NULL : pc_valid_method(s);
}

static const struct weir_pc_cors *parse_cors(struct pc_loader *l, const json_t *v)
{
    static const char *const fields[] = {
        "allowOrigins", "allowMethods",     "allowHeaders",        "exposeHeaders",
        "maxAgeMs",     "allowCredentials", "unmatchedPreflights", NULL};
    static const char *const preflights[] = {"forward", "ignore", NULL};
    struct weir_pc_cors *c = pc_alloc(l, sizeof(*c));
    if (!c)
        return NULL;
    pc_fields(l, v, fields);
    pc_match_list(l, v, "allowOrigins", &c->allow_origins);
    pc_strings(l, v, "allowMethods", false, false, valid_cors_method, &c->allow_methods);
    pc_strings(l, v, "allowHeaders", false, false, valid_cors_header, &c->allow_headers);
    pc_strings(l, v, "exposeHeaders", false, false, valid_cors_header, &c->expose_headers);
    c->max_age_ms = pc_int(l, v, "maxAgeMs", false, 0, PC_MAX_MS, -1);
    c->allow_credentials = pc_bool(l, v, "allowCredentials", false);
    c->unmatched_preflights =
        pc_enum(l, v, "unmatchedPreflights", false, preflights, WEIR_PC_PREFLIGHT_FORWARD);
    return c;
}

/* ---- HTTP route ---- */

static void only_with_route(struct pc_loader *l, const json_t *v, const char *key)
{
    if (!json_object_get(v, key))
        return;
    weir_check_push_key(&l->c, key);
    weir_check_error(&l->c, NULL, "only allowed on a route with \"route\" destinations");
    weir_check_pop(&l->c);
}

#define SUB(key, fn, dst)                                                       \
    do {                                                                        \
        const json_t *sub_ = weir_check_get(&l->c, v, key, JSON_OBJECT, false); \
        if (sub_) {                                                             \
            weir_check_push_key(&l->c, key);                                    \
            dst = fn(l, sub_);                                                  \
            weir_check_pop(&l->c);                                              \
        }                                                                       \
    } while (0)

static void parse_http_route(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {
        "name",    "match", "route",   "redirect",   "directResponse", "rewrite", "timeoutMs",
        "retries", "fault", "mirrors", "corsPolicy", "headers",        NULL};
    struct weir_pc_http_route *r = out;
    int actions = 0;

    pc_fields(l, v, fields);
    r->name = pc_str(l, v, "name", false, pc_valid_not_empty);
    r->match =
        pc_objects(l, v, "match", false, false, sizeof(*r->match), parse_http_match, &r->n_match);
    if (json_object_get(v, "route")) {
        actions++;
        r->action = WEIR_PC_ACTION_ROUTE;
        r->route = pc_objects(l, v, "route", false, true, sizeof(*r->route), parse_http_destination,
                              &r->n_route);
        check_weights(l, v, r->route, r->n_route);
    }
    if (json_object_get(v, "redirect")) {
        actions++;
        r->action = WEIR_PC_ACTION_REDIRECT;
        SUB("redirect", parse_redirect, r->redirect);
    }
    if (json_object_get(v, "directResponse")) {
        actions++;
        r->action = WEIR_PC_ACTION_DIRECT_RESPONSE;
        SUB("directResponse", parse_direct_response, r->direct_response);
    }
    if (actions != 1)
        weir_check_error(&l->c, v,
                         "exactly one of route, redirect or directResponse must be set, got %d",
                         actions);
    if (actions == 1 && r->action != WEIR_PC_ACTION_ROUTE) {
        only_with_route(l, v, "rewrite");
        only_with_route(l, v, "timeoutMs");
        only_with_route(l, v, "retries");
        only_with_route(l, v, "mirrors");
    }
    SUB("rewrite", parse_rewrite, r->rewrite);
    r->timeout_ms = pc_int(l, v, "timeoutMs", false, 0, PC_MAX_MS, 0);
    SUB("retries", parse_retries, r->retries);
    SUB("fault", parse_fault, r->fault);
    r->mirrors =
        pc_objects(l, v, "mirrors", false, false, sizeof(*r->mirrors), parse_mirror, &r->n_mirrors);
    SUB("corsPolicy", parse_cors, r->cors);
    parse_headers(l, v, &r->headers);
}

/* ---- TCP and TLS routes ---- */

static void parse_l4_match(struct pc_loader *l, const json_t *v, struct weir_pc_l4_match *m,
                           bool tls)
{
    static const char *const tls_fields[] = {"sniHosts",     "destinationSubnets", "port",
                                             "sourceLabels", "sourceNamespace",    NULL};
    pc_fields(l, v, tls ? tls_fields : tls_fields + 1);
    if (tls)
        pc_strings(l, v, "sniHosts", true, true, weir_valid_host, &m->sni_hosts);
    pc_cidrs(l, v, "destinationSubnets", false, &m->destination_subnets);
    m->port = (uint16_t)pc_int(l, v, "port", false, 1, 65535, 0);
    pc_labels(l, v, "sourceLabels", false, &m->source_labels);
    m->source_namespace = pc_str(l, v, "sourceNamespace", false, weir_valid_namespace);
}

static void parse_tls_match(struct pc_loader *l, const json_t *v, void *out)
{
    parse_l4_match(l, v, out, true);
}

static void parse_tcp_match(struct pc_loader *l, const json_t *v, void *out)
{
    parse_l4_match(l, v, out, false);
}

static void parse_l4_route(struct pc_loader *l, const json_t *v, struct weir_pc_l4_route *r,
                           bool tls)
{
    static const char *const fields[] = {"match", "route", NULL};
    pc_fields(l, v, fields);
    r->match = pc_objects(l, v, "match", tls, tls, sizeof(*r->match),
                          tls ? parse_tls_match : parse_tcp_match, &r->n_match);
    r->route =
        pc_objects(l, v, "route", true, true, sizeof(*r->route), parse_l4_destination, &r->n_route);
    check_weights(l, v, r->route, r->n_route);
}

static void parse_tls_route(struct pc_loader *l, const json_t *v, void *out)
{
    parse_l4_route(l, v, out, true);
}

static void parse_tcp_route(struct pc_loader *l, const json_t *v, void *out)
{
    parse_l4_route(l, v, out, false);
}

/* ---- ports and services ---- */

static void forbid_routes(struct pc_loader *l, const json_t *v, const char *key,
                          const char *protocol)
{
    if (!json_object_get(v, key))
        return;
    weir_check_push_key(&l->c, key);
    weir_check_error(&l->c, NULL, "%s routes are not allowed on a port of protocol %s", key,
                     protocol);
    weir_check_pop(&l->c);
}

static void parse_port(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {
        "number", "name", "protocol", "targetPort", "virtualService", "http", "tls", "tcp", NULL};
    struct weir_pc_port *p = out;
    pc_fields(l, v, fields);
    p->number = (uint16_t)pc_int(l, v, "number", true, 1, 65535, 0);
    p->name = pc_str(l, v, "name", false, weir_valid_dns1123_label);
    int protocol = pc_enum(l, v, "protocol", true, pc_protocol_names, -1);
    p->protocol = protocol < 0 ? WEIR_PC_PROTO_TCP : (enum weir_pc_protocol)protocol;
    p->target_port = (uint16_t)pc_int(l, v, "targetPort", false, 1, 65535, p->number);
    p->virtual_service = pc_str(l, v, "virtualService", false, pc_valid_object_ref);

    if (protocol < 0) {
        /* the protocol was refused: read the tables given without guessing
         * which belong, so their own errors are still reported */
        p->http =
            pc_objects(l, v, "http", false, false, sizeof(*p->http), parse_http_route, &p->n_http);
        p->tls = pc_objects(l, v, "tls", false, false, sizeof(*p->tls), parse_tls_route, &p->n_tls);
        p->tcp = pc_objects(l, v, "tcp", false, false, sizeof(*p->tcp), parse_tcp_route, &p->n_tcp);
        return;
    }
    const char *proto = weir_pc_protocol_name(p->protocol);
    switch (p->protocol) {
    case WEIR_PC_PROTO_HTTP:
    case WEIR_PC_PROTO_HTTP2:
    case WEIR_PC_PROTO_GRPC:
        p->http =
            pc_objects(l, v, "http", true, true, sizeof(*p->http), parse_http_route, &p->n_http);
        forbid_routes(l, v, "tls", proto);
        forbid_routes(l, v, "tcp", proto);
        break;
    case WEIR_PC_PROTO_TLS:
    case WEIR_PC_PROTO_HTTPS:
        forbid_routes(l, v, "http", proto);
        p->tls = pc_objects(l, v, "tls", false, false, sizeof(*p->tls), parse_tls_route, &p->n_tls);
        p->tcp = pc_objects(l, v, "tcp", false, false, sizeof(*p->tcp), parse_tcp_route, &p->n_tcp);
        if (p->n_tls + p->n_tcp == 0 && !json_object_get(v, "tls") && !json_object_get(v, "tcp"))
            weir_check_error(&l->c, v, "a port of protocol %s needs tls or tcp routes", proto);
        break;
    case WEIR_PC_PROTO_TCP:
        forbid_routes(l, v, "http", proto);
        forbid_routes(l, v, "tls", proto);
        p->tcp = pc_objects(l, v, "tcp", true, true, sizeof(*p->tcp), parse_tcp_route, &p->n_tcp);
        break;
    }
}

static int cmp_port(const void *a, const void *b)
{
    const struct weir_pc_port *x = a, *y = b;
    return (int)x->number - (int)y->number;
}

static void describe_port(const void *item, char *buf, size_t size)
{
    snprintf(buf, size, "port %u", (unsigned)((const struct weir_pc_port *)item)->number);
}

static void parse_service(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"host",      "namespace", "aliases",
                                         "addresses", "ports",     NULL};
    struct weir_pc_service *s = out;
    pc_fields(l, v, fields);
    s->host = pc_str(l, v, "host", true, weir_valid_host);
    s->namespace_ = pc_str(l, v, "namespace", false, weir_valid_namespace);
    pc_strings(l, v, "aliases", false, false, weir_valid_host, &s->aliases);
    pc_cidrs(l, v, "addresses", false, &s->addresses);
    s->ports = pc_objects(l, v, "ports", true, true, sizeof(*s->ports), parse_port, &s->n_ports);
    if (s->n_ports > 1 && json_is_array(json_object_get(v, "ports"))) {
        weir_check_push_key(&l->c, "ports");
        pc_check_order(l, s->ports, s->n_ports, sizeof(*s->ports), cmp_port, describe_port,
                       "number", "ports are sorted by number");
        weir_check_pop(&l->c);
    }
}

static int cmp_str_null(const char *a, const char *b)
{
    if (!a || !b)
        return -1; /* an unparsed item is not compared */
    return strcmp(a, b);
}

static int cmp_service(const void *a, const void *b)
{
    return cmp_str_null(((const struct weir_pc_service *)a)->host,
                        ((const struct weir_pc_service *)b)->host);
}

static void describe_service(const void *item, char *buf, size_t size)
{
    snprintf(buf, size, "host \"%s\"", ((const struct weir_pc_service *)item)->host);
}

/* A name (host or alias) or an address:port pair, with where it was given. */
struct claim {
    const char *key;
    uint16_t port;
    size_t service;
    size_t index; /* alias or address index; SIZE_MAX for the host itself */
};

static int cmp_claim(const void *a, const void *b)
{
    const struct claim *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    if (r)
        return r;
    if (x->port != y->port)
        return (int)x->port - (int)y->port;
    if (x->service != y->service)
        return x->service < y->service ? -1 : 1;
    /* the host itself (SIZE_MAX, wrapping to 0) sorts before its aliases */
    return x->index == y->index ? 0 : (x->index + 1 < y->index + 1 ? -1 : 1);
}

/* Every host name and alias picks one service, and so does every
 * address:port pair; a second claim would make the outbound listener's
 * choice depend on order. */
static void check_claims(struct pc_loader *l)
{
    const struct weir_proxy_config *cfg = l->cfg;
    size_t n = 0, cap = 0, i;
    struct claim *claims;

    for (i = 0; i < cfg->n_services; i++) {
        const struct weir_pc_service *s = &cfg->services[i];
        cap += 1 + s->aliases.len + s->addresses.len * s->n_ports;
    }
    claims = cap ? malloc(cap * sizeof(*claims)) : NULL;
    if (cap && !claims) {
        l->oom = true;
        return;
    }
    for (i = 0; i < cfg->n_services; i++) {
        const struct weir_pc_service *s = &cfg->services[i];
        if (s->host)
            claims[n++] = (struct claim){s->host, 0, i, SIZE_MAX};
        for (size_t j = 0; j < s->aliases.len; j++)
            claims[n++] = (struct claim){s->aliases.items[j], 0, i, j};
        for (size_t j = 0; j < s->addresses.len; j++)
            for (size_t k = 0; k < s->n_ports; k++)
                if (s->ports[k].number)
                    claims[n++] = (struct claim){s->addresses.items[j].text, s->ports[k].number,
                                                 i + cfg->n_services, j};
    }
    if (n > 1)
        qsort(claims, n, sizeof(*claims), cmp_claim);
    for (i = 1; i < n; i++) {
        const struct claim *a = &claims[i - 1], *b = &claims[i];
        bool addr = b->service >= cfg->n_services;
        if (strcmp(a->key, b->key) != 0 || a->port != b->port ||
            (addr != (a->service >= cfg->n_services)))
            continue;
        if (!addr && a->index == SIZE_MAX && b->index == SIZE_MAX)
            continue; /* two equal hosts: reported by the order check */
        size_t sb = addr ? b->service - cfg->n_services : b->service;
        size_t sa = addr ? a->service - cfg->n_services : a->service;
        if (addr && sa == sb)
            continue; /* a port listed twice: reported by the port order check */
        weir_check_push_key(&l->c, "services");
        weir_check_push_index(&l->c, sb);
        if (addr) {
            weir_check_push_key(&l->c, "addresses");
            weir_check_push_index(&l->c, b->index);
            weir_check_error(&l->c, NULL, "address %s port %u is also claimed by services[%zu]",
                             b->key, (unsigned)b->port, sa);
            weir_check_pop(&l->c);
            weir_check_pop(&l->c);
        } else if (b->index == SIZE_MAX) {
            weir_check_push_key(&l->c, "host");
            weir_check_error(&l->c, NULL, "\"%s\" is also a name of services[%zu]", b->key, sa);
            weir_check_pop(&l->c);
        } else {
            weir_check_push_key(&l->c, "aliases");
            weir_check_push_index(&l->c, b->index);
            weir_check_error(&l->c, NULL, "\"%s\" is also a name of services[%zu]", b->key, sa);
            weir_check_pop(&l->c);
            weir_check_pop(&l->c);
        }
        weir_check_pop(&l->c);
        weir_check_pop(&l->c);
    }
    free(claims);
}

void pc_parse_services(struct pc_loader *l, const json_t *root)
{
    struct weir_proxy_config *cfg = l->cfg;
    cfg->services = pc_objects(l, root, "services", true, false, sizeof(*cfg->services),
                               parse_service, &cfg->n_services);
    if (cfg->n_services > 1) {
        weir_check_push_key(&l->c, "services");
        pc_check_order(l, cfg->services, cfg->n_services, sizeof(*cfg->services), cmp_service,
                       describe_service, "host", "services are sorted by host");
        weir_check_pop(&l->c);
    }
    check_claims(l);
}

/* ---- cross references: routes to clusters ---- */

struct cluster_index {
    const char *name;
    size_t index;
};

static int cmp_cluster_index(const void *a, const void *b)
{
    return strcmp(((const struct cluster_index *)a)->name, ((const struct cluster_index *)b)->name);
}

struct resolver {
    struct pc_loader *l;
    struct cluster_index *by_name;
    size_t n;
};

static bool lookup(struct resolver *r, const char *name, size_t *index)
{
    struct cluster_index key = {name, 0}, *hit;
    if (!r->n)
        return false;
    hit = bsearch(&key, r->by_name, r->n, sizeof(key), cmp_cluster_index);
    if (!hit)
        return false;
    *index = hit->index;
    return true;
}

static void resolve_destination(struct resolver *r, const char *key, size_t i, const char *name,
                                size_t *index, const struct weir_pc_cluster **cluster)
{
    struct pc_loader *l = r->l;
    if (!name)
        return;
    if (lookup(r, name, index)) {
        *cluster = &l->cfg->clusters[*index];
        return;
    }
    weir_check_push_key(&l->c, key);
    weir_check_push_index(&l->c, i);
    weir_check_push_key(&l->c, "cluster");
    weir_check_error(&l->c, NULL, "unknown cluster \"%s\"", name);
    weir_check_pop(&l->c);
    weir_check_pop(&l->c);
    weir_check_pop(&l->c);
}

static void resolve_l4(struct resolver *r, const char *key, struct weir_pc_l4_route *routes,
                       size_t n)
{
    struct pc_loader *l = r->l;
    weir_check_push_key(&l->c, key);
    for (size_t i = 0; i < n; i++) {
        weir_check_push_index(&l->c, i);
        for (size_t j = 0; j < routes[i].n_route; j++) {
            struct weir_pc_destination *d = &routes[i].route[j];
            resolve_destination(r, "route", j, d->cluster_name, &d->cluster_index, &d->cluster);
        }
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
}

static void resolve_port(struct resolver *r, struct weir_pc_port *p)
{
    struct pc_loader *l = r->l;
    weir_check_push_key(&l->c, "http");
    for (size_t i = 0; i < p->n_http; i++) {
        struct weir_pc_http_route *h = &p->http[i];
        weir_check_push_index(&l->c, i);
        for (size_t j = 0; j < h->n_route; j++) {
            struct weir_pc_destination *d = &h->route[j];
            resolve_destination(r, "route", j, d->cluster_name, &d->cluster_index, &d->cluster);
        }
        for (size_t j = 0; j < h->n_mirrors; j++) {
            struct weir_pc_mirror *m = &h->mirrors[j];
            resolve_destination(r, "mirrors", j, m->cluster_name, &m->cluster_index, &m->cluster);
        }
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
    resolve_l4(r, "tls", p->tls, p->n_tls);
    resolve_l4(r, "tcp", p->tcp, p->n_tcp);
}

void pc_resolve_routes(struct pc_loader *l)
{
    struct weir_proxy_config *cfg = l->cfg;
    struct resolver r = {.l = l};

    if (cfg->n_clusters) {
        r.by_name = malloc(cfg->n_clusters * sizeof(*r.by_name));
        if (!r.by_name) {
            l->oom = true;
            return;
        }
        for (size_t i = 0; i < cfg->n_clusters; i++)
            if (cfg->clusters[i].name)
                r.by_name[r.n++] = (struct cluster_index){cfg->clusters[i].name, i};
        qsort(r.by_name, r.n, sizeof(*r.by_name), cmp_cluster_index);
    }
    weir_check_push_key(&l->c, "services");
    for (size_t i = 0; i < cfg->n_services; i++) {
        weir_check_push_index(&l->c, i);
        weir_check_push_key(&l->c, "ports");
        for (size_t j = 0; j < cfg->services[i].n_ports; j++) {
            weir_check_push_index(&l->c, j);
            resolve_port(&r, &cfg->services[i].ports[j]);
            weir_check_pop(&l->c);
        }
        weir_check_pop(&l->c);
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
    free(r.by_name);
}
