#include "model/route_http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const route_fields[] = {
    "name",
    "match",
    "route",
    "redirect",
    "directResponse",
    "delegate",
    "rewrite",
    "timeout",
    "retries",
    "fault",
    "mirror",
    "mirrors",
    "mirrorPercentage",
    "mirrorPercent",
    "mirror_percent",
    "corsPolicy",
    "headers",
    NULL,
};
static const char *const route_unsupported[] = {"delegate", NULL};

static const char *const match_fields[] = {
    "name",           "uri",         "scheme", "method",       "authority", "headers",
    "withoutHeaders", "queryParams", "port",   "sourceLabels", "gateways",  "sourceNamespace",
    "ignoreUriCase",  "statPrefix",  NULL,
};
static const char *const match_unsupported[] = {"gateways", NULL};

/* Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on conditions, as Istio
 * accepts them in retryOn. */
static const char *const retry_conditions[] = {
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
    NULL,
};

/* gRPC status names in code order (grpc/doc/statuscodes.md). Istio takes the
 * names only, so that "UNAVAILABLE" is not confused with HTTP 503's code. */
static const char *const grpc_status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
    NULL,
};

/* The methods Istio accepts in corsPolicy.allowMethods. */
static const char *const cors_methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL,
};

static const char *const derive_port_names[] = {"FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT", NULL};
static const char *const preflight_names[] = {"UNSPECIFIED", "FORWARD", "IGNORE", NULL};

#define JWT_CLAIM_PREFIX "@request.auth.claims."

static bool present(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v);
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* ---- string matches ---- */

/* Envoy refuses empty prefixes and regexes; Istio makes an exception for an
 * empty uri prefix, which means "every path". The check's path is at the
 * StringMatch object. */
static void check_match_not_empty(struct weir_check *c, const json_t *v,
                                  const struct weir_string_match *m, bool empty_prefix_ok)
{
    const char *key = NULL;
    if (!m->value || *m->value)
        return;
    if (m->type == WEIR_MATCH_PREFIX && !empty_prefix_ok)
        key = "prefix";
    else if (m->type == WEIR_MATCH_REGEX)
        key = "regex";
    if (!key)
        return;
    weir_check_push_key(c, key);
    weir_check_error(c, json_object_get(v, key), "must not be empty");
    weir_check_pop(c);
}

static void get_match(struct weir_check *c, const json_t *obj, const char *key,
                      bool empty_prefix_ok, struct weir_string_match *out)
{
    if (!weir_get_string_match(c, obj, key, false, out))
        return;
    weir_check_push_key(c, key);
    check_match_not_empty(c, json_object_get(obj, key), out, empty_prefix_ok);
    weir_check_pop(c);
}

enum named_kind { NAMED_HEADER, NAMED_QUERY };

static void lower_in_place(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static bool has_upper(const char *s)
{
    for (; *s; s++)
        if (isupper((unsigned char)*s))
            return true;
    return false;
}

static void check_header_match_name(struct weir_check *c, const json_t *v, const char *name,
                                    const struct weir_http_route_context *ctx)
{
    const char *why;

    if (strncmp(name, JWT_CLAIM_PREFIX, strlen(JWT_CLAIM_PREFIX)) == 0) {
        /* Istio routes on JWT claims at gateways only. */
        if (ctx->applies_to_mesh)
            weir_check_error(c, v, "JWT claim based routing is only supported for gateways");
        else
            weir_check_unsupported(c, v, "JWT claim based routing is not supported by Weir yet");
        return;
    }
    why = weir_valid_header_name(name);
    if (why) {
        weir_check_error(c, v, "%s", why);
    } else if (has_upper(name)) {
        char lower[256];
        snprintf(lower, sizeof(lower), "%s", name);
        lower_in_place(lower);
        weir_check_warning(c, v, "header names are matched in lower case; write \"%s\"", lower);
    }
}

static void get_named_matches(struct weir_check *c, const json_t *obj, const char *key,
                              enum named_kind kind, const struct weir_http_route_context *ctx,
                              struct weir_named_match **out, size_t *n)
{
    const json_t *map = weir_check_get(c, obj, key, JSON_OBJECT, false);
    const char *k;
    json_t *v;

    if (!map)
        return;
    *out = weir_net_calloc(c, json_object_size(map), sizeof(**out));
    if (!*out)
        return;
    weir_check_push_key(c, key);
    json_object_foreach((json_t *)map, k, v)
    {
        struct weir_named_match *nm = &(*out)[(*n)++];
        weir_check_push_key(c, k);
        if (kind == NAMED_HEADER)
            check_header_match_name(c, v, k, ctx);
        else if (!*k)
            weir_check_error(c, v, "query parameter name must not be empty");
        nm->name = strdup(k);
        /* JWT claim names are case-sensitive; header names are not. */
        if (nm->name && kind == NAMED_HEADER &&
            strncmp(k, JWT_CLAIM_PREFIX, strlen(JWT_CLAIM_PREFIX)) != 0)
            lower_in_place(nm->name);
        /* `name: {}` tests presence, as Istio documents for headers. */
        if (!(json_is_object(v) && json_object_size(v) == 0) &&
            weir_parse_string_match(c, v, &nm->match))
            check_match_not_empty(c, v, &nm->match, false);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void parse_match(struct weir_check *c, const json_t *v,
                        const struct weir_http_route_context *ctx, struct weir_http_match *m)
{
    if (!weir_check_is_object(c, v))
        return;
    weir_check_fields(c, v, match_fields, match_unsupported);
    weir_get_string(c, v, "name", false, &m->name);
    get_match(c, v, "uri", true, &m->uri);
    get_match(c, v, "scheme", false, &m->scheme);
    get_match(c, v, "method", false, &m->method);
    get_match(c, v, "authority", false, &m->authority);
    get_named_matches(c, v, "headers", NAMED_HEADER, ctx, &m->headers, &m->n_headers);
    get_named_matches(c, v, "withoutHeaders", NAMED_HEADER, ctx, &m->without_headers,
                      &m->n_without_headers);
    get_named_matches(c, v, "queryParams", NAMED_QUERY, ctx, &m->query_params, &m->n_query_params);
    weir_get_int(c, v, "port", false, 1, 65535, &m->port);
    weir_get_string_map(c, v, "sourceLabels", false, weir_valid_label_key, weir_valid_label_value,
                        &m->source_labels);
    weir_get_strings(c, v, "gateways", false, weir_net_valid_gateway_name, &m->gateways);
    weir_net_get_namespace(c, v, "sourceNamespace", &m->source_namespace);
    weir_get_bool(c, v, "ignoreUriCase", &m->ignore_uri_case);
    weir_get_string(c, v, "statPrefix", false, &m->stat_prefix);
}

/* ---- headers ---- */

static void get_header_ops(struct weir_check *c, const json_t *obj, const char *key,
                           struct weir_header_ops *out)
{
    static const char *const fields[] = {"set", "add", "remove", NULL};
    const json_t *v = weir_check_get(c, obj, key, JSON_OBJECT, false);

    if (!v)
        return;
    weir_check_push_key(c, key);
    weir_check_fields(c, v, fields, NULL);
    weir_get_string_map(c, v, "set", false, weir_net_valid_header_op_name, NULL, &out->set);
    weir_get_string_map(c, v, "add", false, weir_net_valid_header_op_name, NULL, &out->add);
    weir_get_strings(c, v, "remove", false, weir_net_valid_header_op_name, &out->remove);
    weir_check_pop(c);
}

static void get_headers(struct weir_check *c, const json_t *obj, struct weir_headers *out)
{
    static const char *const fields[] = {"request", "response", NULL};
    const json_t *v = weir_check_get(c, obj, "headers", JSON_OBJECT, false);

    if (!v)
        return;
    weir_check_push_key(c, "headers");
    weir_check_fields(c, v, fields, NULL);
    get_header_ops(c, v, "request", &out->request);
    get_header_ops(c, v, "response", &out->response);
    weir_check_pop(c);
}

static void header_ops_clear(struct weir_header_ops *h)
{
    weir_string_map_free(&h->set);
    weir_string_map_free(&h->add);
    weir_strings_free(&h->remove);
}

static void headers_clear(struct weir_headers *h)
{
    header_ops_clear(&h->request);
    header_ops_clear(&h->response);
}

/* ---- route destinations ---- */

static void get_route_destinations(struct weir_check *c, const json_t *r,
                                   struct weir_http_route *out)
{
    static const char *const fields[] = {"destination", "weight", "headers", NULL};
    const json_t *arr = weir_check_get(c, r, "route", JSON_ARRAY, false);
    int64_t *weights;
    bool all_valid = true;
    size_t i;
    json_t *item;

    if (!arr || json_array_size(arr) == 0)
        return;
    out->route = weir_net_calloc(c, json_array_size(arr), sizeof(*out->route));
    weights = weir_net_calloc(c, json_array_size(arr), sizeof(*weights));
    if (!out->route || !weights) {
        free(weights);
        return;
    }
    out->n_route = json_array_size(arr);
    weir_check_push_key(c, "route");
    json_array_foreach(arr, i, item)
    {
        struct weir_http_route_destination *d = &out->route[i];
        weights[i] = WEIR_UNSET;
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, item)) {
            weir_check_fields(c, item, fields, NULL);
            weir_net_get_destination(c, item, "destination", true, &d->destination);
            if (present(item, "weight") &&
                !weir_get_int(c, item, "weight", false, 0, 100, &weights[i]))
                all_valid = false;
            get_headers(c, item, &d->headers);
        } else {
            all_valid = false;
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
    weir_net_settle_weights(c, arr, weights, out->n_route, all_valid);
    for (i = 0; i < out->n_route; i++)
        out->route[i].weight = weights[i];
    free(weights);
}

/* ---- redirect, direct response, delegate, rewrite ---- */

static void get_redirect(struct weir_check *c, const json_t *r, struct weir_http_route *out)
{
    static const char *const fields[] = {"uri",    "authority",    "port", "derivePort",
                                         "scheme", "redirectCode", NULL};
    static const char *const targets[] = {"uri", "authority", "port", "derivePort", "scheme", NULL};
    const json_t *v = weir_check_get(c, r, "redirect", JSON_OBJECT, false);
    struct weir_http_redirect *rd;
    int64_t code;
    int e;

    if (!v || !(rd = weir_net_calloc(c, 1, sizeof(*rd))))
        return;
    out->redirect = rd;
    rd->code = 301;
    weir_check_push_key(c, "redirect");
    weir_check_fields(c, v, fields, NULL);
    weir_get_string(c, v, "uri", false, &rd->uri);
    weir_get_string(c, v, "authority", false, &rd->authority);
    if (present(v, "port") && present(v, "derivePort"))
        weir_check_error(c, v, "port and derivePort are mutually exclusive");
    if (weir_get_int(c, v, "port", false, 1, 65535, &rd->port))
        rd->port_mode = WEIR_REDIRECT_PORT_FIXED;
    else if (weir_net_get_enum(c, v, "derivePort", derive_port_names, false, &e))
        rd->port_mode = e == 0 ? WEIR_REDIRECT_PORT_FROM_PROTOCOL_DEFAULT
                               : WEIR_REDIRECT_PORT_FROM_REQUEST_PORT;
    if (weir_get_string(c, v, "scheme", false, &rd->scheme) && strcmp(rd->scheme, "http") != 0 &&
        strcmp(rd->scheme, "https") != 0) {
        weir_check_push_key(c, "scheme");
        weir_check_error(c, json_object_get(v, "scheme"), "must be http or https, got \"%s\"",
                         rd->scheme);
        weir_check_pop(c);
    }
    if (weir_get_int(c, v, "redirectCode", false, INT64_MIN, INT64_MAX, &code)) {
        if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) {
            rd->code = code;
        } else {
            weir_check_push_key(c, "redirectCode");
            weir_check_error(c, json_object_get(v, "redirectCode"),
                             "must be 301, 302, 303, 307 or 308, got %lld", (long long)code);
            weir_check_pop(c);
        }
    }
    if (weir_net_count_present(v, targets) == 0)
        weir_check_error(c, v,
                         "at least one of uri, authority, scheme, port or derivePort must "
                         "be set");
    weir_check_pop(c);
}

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* protobuf's JSON mapping for bytes: standard or URL-safe base64, padded or
 * not. Returns a NUL-terminated buffer, or NULL when the text is not base64
 * (*oom tells out of memory apart). */
static unsigned char *b64_decode(const char *text, size_t *out_len, bool *oom)
{
    size_t len = strlen(text), n = 0;
    unsigned char *out;
    uint32_t acc = 0;
    int bits = 0;

    *oom = false;
    while (len > 0 && text[len - 1] == '=')
        len--;
    if (strlen(text) - len > 2 || len % 4 == 1)
        return NULL;
    out = malloc(len / 4 * 3 + 3);
    if (!out) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)text[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

static void get_direct_response(struct weir_check *c, const json_t *r, struct weir_http_route *out)
{
    static const char *const fields[] = {"status", "body", NULL};
    static const char *const body_fields[] = {"string", "bytes", NULL};
    const json_t *v = weir_check_get(c, r, "directResponse", JSON_OBJECT, false);
    const json_t *body;
    struct weir_http_direct_response *d;
    const char *s;

    if (!v || !(d = weir_net_calloc(c, 1, sizeof(*d))))
        return;
    out->direct_response = d;
    weir_check_push_key(c, "directResponse");
    weir_check_fields(c, v, fields, NULL);
    weir_get_int(c, v, "status", true, 200, 599, &d->status);
    body = weir_check_get(c, v, "body", JSON_OBJECT, false);
    if (body) {
        weir_check_push_key(c, "body");
        weir_check_fields(c, body, body_fields, NULL);
        if (weir_net_count_present(body, body_fields) != 1) {
            weir_check_error(c, body, "exactly one of string or bytes must be set");
        } else if (weir_get_string_borrowed(c, body, "string", false, &s)) {
            d->body = (unsigned char *)strdup(s);
            d->body_len = strlen(s);
            d->body_kind = WEIR_BODY_STRING;
        } else if (weir_get_string_borrowed(c, body, "bytes", false, &s)) {
            bool oom;
            d->body = b64_decode(s, &d->body_len, &oom);
            weir_check_push_key(c, "bytes");
            if (d->body)
                d->body_kind = WEIR_BODY_BYTES;
            else
                weir_check_error(c, json_object_get(body, "bytes"),
                                 oom ? "out of memory" : "must be base64-encoded");
            weir_check_pop(c);
        }
        if (d->body_len > WEIR_DIRECT_RESPONSE_BODY_MAX)
            weir_check_error(c, body, "must be at most %d bytes, got %zu",
                             WEIR_DIRECT_RESPONSE_BODY_MAX, d->body_len);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void get_delegate(struct weir_check *c, const json_t *r,
                         const struct weir_http_route_context *ctx, struct weir_http_route *out)
{
    static const char *const fields[] = {"name", "namespace", NULL};
    const json_t *v = weir_check_get(c, r, "delegate", JSON_OBJECT, false);
    struct weir_http_delegate *d;
    const char *why;

    if (!v || !(d = weir_net_calloc(c, 1, sizeof(*d))))
        return;
    out->delegate = d;
    weir_check_push_key(c, "delegate");
    if (ctx->is_delegate)
        weir_check_error(c, v, "a delegate VirtualService cannot delegate again");
    weir_check_fields(c, v, fields, NULL);
    if (weir_get_string(c, v, "name", true, &d->name) &&
        (why = weir_valid_dns1123_subdomain(d->name))) {
        weir_check_push_key(c, "name");
        weir_check_error(c, json_object_get(v, "name"), "%s", why);
        weir_check_pop(c);
    }
    if (weir_get_string(c, v, "namespace", false, &d->namespace_) &&
        (why = weir_valid_namespace(d->namespace_))) {
        weir_check_push_key(c, "namespace");
        weir_check_error(c, json_object_get(v, "namespace"), "%s", why);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void get_rewrite(struct weir_check *c, const json_t *r, struct weir_http_route *out)
{
    static const char *const fields[] = {"uri", "authority", "uriRegexRewrite", NULL};
    const json_t *v = weir_check_get(c, r, "rewrite", JSON_OBJECT, false);
    struct weir_http_rewrite *rw;

    if (!v || !(rw = weir_net_calloc(c, 1, sizeof(*rw))))
        return;
    out->rewrite = rw;
    weir_check_push_key(c, "rewrite");
    weir_check_fields(c, v, fields, NULL);
    weir_get_string(c, v, "uri", false, &rw->uri);
    weir_get_string(c, v, "authority", false, &rw->authority);
    weir_net_get_regex_rewrite(c, v, "uriRegexRewrite", &rw->uri_regex);
    if (present(v, "uri") && present(v, "uriRegexRewrite"))
        weir_check_error(c, v, "uri and uriRegexRewrite are mutually exclusive");
    if (weir_net_count_present(v, fields) == 0)
        weir_check_error(c, v, "at least one of uri, authority or uriRegexRewrite must be set");
    weir_check_pop(c);
}

/* ---- retries ---- */

static void parse_retry_on(struct weir_check *c, const json_t *v, struct weir_http_retry *rt)
{
    const char *text = json_string_value(v);
    size_t count = 1;

    if (!*text)
        return; /* protobuf's default: no conditions given */
    for (const char *p = text; *p; p++)
        count += *p == ',';
    rt->conditions.items = weir_net_calloc(c, count, sizeof(char *));
    rt->status_codes = weir_net_calloc(c, count, sizeof(int));
    if (!rt->conditions.items || !rt->status_codes)
        return;
    weir_check_push_key(c, "retryOn");
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];

        if (n == 0) {
            weir_check_error(c, v, "empty retry condition in \"%s\"", text);
        } else if (n >= sizeof(item)) {
            weir_check_error(c, v, "unknown retry condition \"%.*s\"", (int)n, p);
        } else {
            memcpy(item, p, n);
            item[n] = '\0';
            if (n == 3 && isdigit((unsigned char)item[0]) && isdigit((unsigned char)item[1]) &&
                isdigit((unsigned char)item[2]) && atoi(item) >= 100 && atoi(item) <= 599) {
                rt->status_codes[rt->n_status_codes++] = atoi(item);
            } else if (in_list(retry_conditions, item)) {
                char *copy = strdup(item);
                if (copy)
                    rt->conditions.items[rt->conditions.len++] = copy;
            } else {
                weir_check_error(c, v, "unknown retry condition \"%s\"", item);
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    weir_check_pop(c);
}

static void get_retries(struct weir_check *c, const json_t *r, struct weir_http_route *out)
{
    static const char *const fields[] = {"attempts",
                                         "perTryTimeout",
                                         "retryOn",
                                         "retryRemoteLocalities",
                                         "retryIgnorePreviousHosts",
                                         "backoff",
                                         NULL};
    const json_t *v = weir_check_get(c, r, "retries", JSON_OBJECT, false);
    const json_t *on;
    struct weir_http_retry *rt;
    bool attempts_ok;

    if (!v || !(rt = weir_net_calloc(c, 1, sizeof(*rt))))
        return;
    out->retries = rt;
    rt->per_try_timeout_ns = WEIR_UNSET;
    rt->backoff_ns = WEIR_UNSET;
    weir_check_push_key(c, "retries");
    weir_check_fields(c, v, fields, NULL);
    attempts_ok = !present(v, "attempts") ||
                  weir_get_int(c, v, "attempts", false, 0, INT32_MAX, &rt->attempts);
    weir_get_duration(c, v, "perTryTimeout", false, 1000000, &rt->per_try_timeout_ns);
    on = weir_check_get(c, v, "retryOn", JSON_STRING, false);
    if (on)
        parse_retry_on(c, on, rt);
    weir_net_get_tristate(c, v, "retryRemoteLocalities", &rt->retry_remote_localities);
    weir_net_get_tristate(c, v, "retryIgnorePreviousHosts", &rt->retry_ignore_previous_hosts);
    weir_get_duration(c, v, "backoff", false, 1000000, &rt->backoff_ns);
    /* Istio refuses a policy whose other fields would silently do nothing
     * because attempts is 0 (or absent, which is 0 in its API). */
    if (attempts_ok && rt->attempts == 0 && weir_net_count_present(v, fields + 1) > 0)
        weir_check_error(c, v,
                         "retry policy configured while attempts is 0 (retries disabled); set "
                         "attempts or remove the other fields");
    weir_check_pop(c);
}

/* ---- fault injection ---- */

static void get_delay(struct weir_check *c, const json_t *f, struct weir_http_fault *out)
{
    static const char *const fields[] = {"fixedDelay", "exponentialDelay", "percentage", "percent",
                                         NULL};
    const json_t *v = weir_check_get(c, f, "delay", JSON_OBJECT, false);
    struct weir_fault_delay *d;

    if (!v || !(d = weir_net_calloc(c, 1, sizeof(*d))))
        return;
    out->delay = d;
    d->fixed_delay_ns = WEIR_UNSET;
    d->percentage = WEIR_UNSET;
    d->percent = WEIR_UNSET;
    weir_check_push_key(c, "delay");
    weir_check_fields(c, v, fields, NULL);
    if (present(v, "exponentialDelay")) {
        /* Istio keeps the field in its schema but refuses it. */
        weir_check_push_key(c, "exponentialDelay");
        weir_check_error(c, json_object_get(v, "exponentialDelay"),
                         "exponentialDelay is not supported; use fixedDelay");
        weir_check_pop(c);
    } else {
        weir_get_duration(c, v, "fixedDelay", true, 1000000, &d->fixed_delay_ns);
    }
    weir_net_get_percent(c, v, "percentage", &d->percentage);
    if (weir_get_int(c, v, "percent", false, 0, 100, &d->percent)) {
        weir_check_push_key(c, "percent");
        weir_check_warning(c, json_object_get(v, "percent"),
                           "percent is deprecated, use percentage");
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void get_abort(struct weir_check *c, const json_t *f, struct weir_http_fault *out)
{
    static const char *const fields[] = {"httpStatus", "grpcStatus", "http2Error", "percentage",
                                         NULL};
    static const char *const kinds[] = {"httpStatus", "grpcStatus", "http2Error", NULL};
    const json_t *v = weir_check_get(c, f, "abort", JSON_OBJECT, false);
    struct weir_fault_abort *a;

    if (!v || !(a = weir_net_calloc(c, 1, sizeof(*a))))
        return;
    out->abort = a;
    a->percentage = WEIR_UNSET;
    weir_check_push_key(c, "abort");
    weir_check_fields(c, v, fields, NULL);
    if (weir_net_count_present(v, kinds) != 1) {
        weir_check_error(c, v, "exactly one of httpStatus, grpcStatus or http2Error must be set");
    } else if (present(v, "httpStatus")) {
        if (weir_get_int(c, v, "httpStatus", false, 200, 599, &a->http_status))
            a->kind = WEIR_ABORT_HTTP;
    } else if (present(v, "grpcStatus")) {
        if (weir_get_string(c, v, "grpcStatus", false, &a->grpc_status_name)) {
            int code = -1;
            for (int i = 0; grpc_status_names[i]; i++)
                if (strcmp(grpc_status_names[i], a->grpc_status_name) == 0)
                    code = i;
            if (code < 0) {
                weir_check_push_key(c, "grpcStatus");
                weir_check_error(c, json_object_get(v, "grpcStatus"),
                                 "unknown gRPC status \"%s\" (use a name such as UNAVAILABLE)",
                                 a->grpc_status_name);
                weir_check_pop(c);
            } else {
                a->kind = WEIR_ABORT_GRPC;
                a->grpc_status = code;
            }
        }
    } else if (weir_get_string(c, v, "http2Error", false, &a->http2_error)) {
        a->kind = WEIR_ABORT_HTTP2;
        weir_check_push_key(c, "http2Error");
        weir_check_unsupported(c, json_object_get(v, "http2Error"),
                               "http2Error is not supported by Weir yet");
        weir_check_pop(c);
    }
    weir_net_get_percent(c, v, "percentage", &a->percentage);
    weir_check_pop(c);
}

static void get_fault(struct weir_check *c, const json_t *r, struct weir_http_route *out)
{
    static const char *const fields[] = {"delay", "abort", NULL};
    const json_t *v = weir_check_get(c, r, "fault", JSON_OBJECT, false);

    if (!v || !(out->fault = weir_net_calloc(c, 1, sizeof(*out->fault))))
        return;
    weir_check_push_key(c, "fault");
    weir_check_fields(c, v, fields, NULL);
    if (weir_net_count_present(v, fields) == 0)
        weir_check_error(c, v, "at least one of delay or abort must be set");
    get_delay(c, v, out->fault);
    get_abort(c, v, out->fault);
    weir_check_pop(c);
}

/* ---- mirroring ---- */

static void get_mirrors(struct weir_check *c, const json_t *r, struct weir_http_route *out)
{
    static const char *const fields[] = {"destination", "percentage", NULL};
    /* The CRD knows the deprecated integer under both spellings. */
    static const char *const deprecated_mirror_percent[] = {"mirrorPercent", "mirror_percent",
                                                            NULL};
    const json_t *arr;
    size_t i;
    json_t *item;

    if (present(r, "mirror") && (out->mirror = weir_net_calloc(c, 1, sizeof(*out->mirror))))
        weir_net_get_destination(c, r, "mirror", false, out->mirror);
    weir_net_get_percent(c, r, "mirrorPercentage", &out->mirror_percentage);
    for (const char *const *k = deprecated_mirror_percent; *k; k++) {
        if (weir_get_int(c, r, *k, false, 0, 100, &out->mirror_percent)) {
            weir_check_push_key(c, *k);
            weir_check_warning(c, json_object_get(r, *k), "%s is deprecated, use mirrorPercentage",
                               *k);
            weir_check_pop(c);
        }
    }

    arr = weir_check_get(c, r, "mirrors", JSON_ARRAY, false);
    if (!arr || json_array_size(arr) == 0)
        return;
    if (out->mirror)
        weir_check_error(c, r, "mirror and mirrors are mutually exclusive");
    out->mirrors = weir_net_calloc(c, json_array_size(arr), sizeof(*out->mirrors));
    if (!out->mirrors)
        return;
    out->n_mirrors = json_array_size(arr);
    weir_check_push_key(c, "mirrors");
    json_array_foreach(arr, i, item)
    {
        struct weir_http_mirror *m = &out->mirrors[i];
        m->percentage = WEIR_UNSET;
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, item)) {
            weir_check_fields(c, item, fields, NULL);
            weir_net_get_destination(c, item, "destination", true, &m->destination);
            weir_net_get_percent(c, item, "percentage", &m->percentage);
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

/* ---- CORS ---- */

static void get_cors(struct weir_check *c, const json_t *r, struct weir_http_route *out)
{
    static const char *const fields[] = {
        "allowOrigin", "allowOrigins",     "allowMethods",        "allowHeaders", "exposeHeaders",
        "maxAge",      "allowCredentials", "unmatchedPreflights", NULL,
    };
    const json_t *v = weir_check_get(c, r, "corsPolicy", JSON_OBJECT, false);
    const json_t *arr;
    struct weir_cors_policy *p;
    size_t i;
    json_t *item;
    int e;

    if (!v || !(p = weir_net_calloc(c, 1, sizeof(*p))))
        return;
    out->cors_policy = p;
    p->max_age_ns = WEIR_UNSET;
    weir_check_push_key(c, "corsPolicy");
    weir_check_fields(c, v, fields, NULL);

    arr = weir_check_get(c, v, "allowOrigins", JSON_ARRAY, false);
    if (arr &&
        (p->allow_origins = weir_net_calloc(c, json_array_size(arr), sizeof(*p->allow_origins)))) {
        p->n_allow_origins = json_array_size(arr);
        weir_check_push_key(c, "allowOrigins");
        json_array_foreach(arr, i, item)
        {
            struct weir_string_match *m = &p->allow_origins[i];
            weir_check_push_index(c, i);
            if (weir_parse_string_match(c, item, m) && !*m->value) {
                weir_check_push_key(c, weir_match_type_name(m->type));
                weir_check_error(c, item, "must not be empty");
                weir_check_pop(c);
            }
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }
    if (weir_get_strings(c, v, "allowOrigin", false, NULL, &p->allow_origin)) {
        weir_check_push_key(c, "allowOrigin");
        weir_check_warning(c, json_object_get(v, "allowOrigin"),
                           "allowOrigin is deprecated, use allowOrigins");
        weir_check_pop(c);
    }
    weir_get_strings(c, v, "allowMethods", false, NULL, &p->allow_methods);
    arr = json_object_get(v, "allowMethods");
    if (json_is_array(arr)) {
        weir_check_push_key(c, "allowMethods");
        json_array_foreach(arr, i, item)
        {
            if (json_is_string(item) && !in_list(cors_methods, json_string_value(item))) {
                weir_check_push_index(c, i);
                weir_check_error(c, item,
                                 "must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, "
                                 "TRACE or PATCH, got \"%s\"",
                                 json_string_value(item));
                weir_check_pop(c);
            }
        }
        weir_check_pop(c);
    }
    weir_get_strings(c, v, "allowHeaders", false, weir_valid_header_name, &p->allow_headers);
    weir_get_strings(c, v, "exposeHeaders", false, weir_valid_header_name, &p->expose_headers);
    weir_net_get_seconds(c, v, "maxAge", &p->max_age_ns);
    weir_net_get_tristate(c, v, "allowCredentials", &p->allow_credentials);
    if (weir_net_get_enum(c, v, "unmatchedPreflights", preflight_names, false, &e))
        p->unmatched_preflights = (enum weir_unmatched_preflights)e;
    weir_check_pop(c);
}

/* ---- the route ---- */

void weir_http_route_parse(struct weir_check *c, const json_t *v,
                           const struct weir_http_route_context *ctx, struct weir_http_route *out)
{
    const json_t *arr;
    size_t i, actions;
    json_t *item;
    bool has_route;

    memset(out, 0, sizeof(*out));
    out->timeout_ns = WEIR_UNSET;
    out->mirror_percentage = WEIR_UNSET;
    out->mirror_percent = WEIR_UNSET;
    if (!weir_check_is_object(c, v))
        return;
    weir_check_fields(c, v, route_fields, route_unsupported);
    weir_get_string(c, v, "name", false, &out->name);

    arr = weir_check_get(c, v, "match", JSON_ARRAY, false);
    if (arr && (out->match = weir_net_calloc(c, json_array_size(arr), sizeof(*out->match)))) {
        out->n_match = json_array_size(arr);
        weir_check_push_key(c, "match");
        json_array_foreach(arr, i, item)
        {
            weir_check_push_index(c, i);
            parse_match(c, item, ctx, &out->match[i]);
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }

    get_route_destinations(c, v, out);
    get_redirect(c, v, out);
    get_direct_response(c, v, out);
    get_delegate(c, v, ctx, out);
    has_route = out->n_route > 0;
    actions = (size_t)has_route + (present(v, "redirect") ? 1u : 0u) +
              (present(v, "directResponse") ? 1u : 0u) + (present(v, "delegate") ? 1u : 0u);
    if (actions != 1)
        weir_check_error(c, v,
                         "exactly one of route, redirect, directResponse or delegate must "
                         "be set");
    else if (has_route)
        out->action = WEIR_HTTP_ACTION_ROUTE;
    else if (present(v, "redirect"))
        out->action = WEIR_HTTP_ACTION_REDIRECT;
    else if (present(v, "directResponse"))
        out->action = WEIR_HTTP_ACTION_DIRECT_RESPONSE;
    else
        out->action = WEIR_HTTP_ACTION_DELEGATE;

    get_rewrite(c, v, out);
    weir_get_duration(c, v, "timeout", false, 1000000, &out->timeout_ns);
    get_retries(c, v, out);
    get_fault(c, v, out);
    get_mirrors(c, v, out);
    get_cors(c, v, out);
    get_headers(c, v, &out->headers);

    /* A redirect or a direct response never reaches an upstream, so there is
     * nothing to rewrite and no request to fault. */
    for (int k = 0; k < 2; k++) {
        const char *action = k == 0 ? "redirect" : "directResponse";
        if (!present(v, action))
            continue;
        if (present(v, "rewrite")) {
            weir_check_push_key(c, "rewrite");
            weir_check_error(c, json_object_get(v, "rewrite"), "rewrite cannot be used with %s",
                             action);
            weir_check_pop(c);
        }
        if (present(v, "fault")) {
            weir_check_push_key(c, "fault");
            weir_check_error(c, json_object_get(v, "fault"), "fault cannot be used with %s",
                             action);
            weir_check_pop(c);
        }
    }
}

static void named_matches_free(struct weir_named_match *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].name);
        weir_string_match_free(&m[i].match);
    }
    free(m);
}

static void match_clear(struct weir_http_match *m)
{
    free(m->name);
    weir_string_match_free(&m->uri);
    weir_string_match_free(&m->scheme);
    weir_string_match_free(&m->method);
    weir_string_match_free(&m->authority);
    named_matches_free(m->headers, m->n_headers);
    named_matches_free(m->without_headers, m->n_without_headers);
    named_matches_free(m->query_params, m->n_query_params);
    weir_string_map_free(&m->source_labels);
    weir_strings_free(&m->gateways);
    free(m->source_namespace);
    free(m->stat_prefix);
}

void weir_http_route_clear(struct weir_http_route *r)
{
    free(r->name);
    for (size_t i = 0; i < r->n_match; i++)
        match_clear(&r->match[i]);
    free(r->match);
    for (size_t i = 0; i < r->n_route; i++) {
        weir_destination_free(&r->route[i].destination);
        headers_clear(&r->route[i].headers);
    }
    free(r->route);
    if (r->redirect) {
        free(r->redirect->uri);
        free(r->redirect->authority);
        free(r->redirect->scheme);
        free(r->redirect);
    }
    if (r->direct_response) {
        free(r->direct_response->body);
        free(r->direct_response);
    }
    if (r->delegate) {
        free(r->delegate->name);
        free(r->delegate->namespace_);
        free(r->delegate);
    }
    if (r->rewrite) {
        free(r->rewrite->uri);
        free(r->rewrite->authority);
        weir_regex_rewrite_free(r->rewrite->uri_regex);
        free(r->rewrite);
    }
    if (r->retries) {
        weir_strings_free(&r->retries->conditions);
        free(r->retries->status_codes);
        free(r->retries);
    }
    if (r->fault) {
        free(r->fault->delay);
        if (r->fault->abort) {
            free(r->fault->abort->grpc_status_name);
            free(r->fault->abort->http2_error);
            free(r->fault->abort);
        }
        free(r->fault);
    }
    weir_destination_free(r->mirror);
    free(r->mirror);
    for (size_t i = 0; i < r->n_mirrors; i++)
        weir_destination_free(&r->mirrors[i].destination);
    free(r->mirrors);
    if (r->cors_policy) {
        struct weir_cors_policy *p = r->cors_policy;
        for (size_t i = 0; i < p->n_allow_origins; i++)
            weir_string_match_free(&p->allow_origins[i]);
        free(p->allow_origins);
        weir_strings_free(&p->allow_origin);
        weir_strings_free(&p->allow_methods);
        weir_strings_free(&p->allow_headers);
        weir_strings_free(&p->expose_headers);
        free(p);
    }
    headers_clear(&r->headers);
    memset(r, 0, sizeof(*r));
}
