#include "model/rate_limit_policy.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "model/authorization_policy.h"

static const char *const policy_fields[] = {"selector", "direction", "limits", NULL};
static const char *const limit_fields[] = {"name",       "match",      "descriptors", "tokenBucket",
                                           "statusCode", "maxBuckets", NULL};
static const char *const match_fields[] = {"route", "port", "path", "methods", "headers", NULL};
static const char *const descriptor_fields[] = {"kind", "header", NULL};
static const char *const bucket_fields[] = {"maxTokens", "tokensPerFill", "fillInterval", NULL};

static const char *const descriptor_kinds[] = {
    [WEIR_RL_DESC_HEADER] = "header",
    [WEIR_RL_DESC_PATH] = "path",
    [WEIR_RL_DESC_METHOD] = "method",
    [WEIR_RL_DESC_SOURCE_IP] = "sourceIp",
    [WEIR_RL_DESC_SOURCE_PRINCIPAL] = "sourcePrincipal",
};
#define N_DESCRIPTOR_KINDS (sizeof(descriptor_kinds) / sizeof(descriptor_kinds[0]))

/* The proxy config's limits (docs/proxy-config.md, rateLimits). */
#define MAX_TOKENS  4294967295LL
#define MAX_BUCKETS 1000000

const char *weir_rl_descriptor_kind_name(enum weir_rl_descriptor_kind k)
{
    return (size_t)k < N_DESCRIPTOR_KINDS ? descriptor_kinds[k] : "?";
}

/* An HTTP method as the proxy compares it: an upper-case token. */
static const char *valid_method(const char *s)
{
    if (!*s)
        return "must not be empty";
    for (const char *p = s; *p; p++)
        if (!isupper((unsigned char)*p) && *p != '-' && *p != '_')
            return "must be an upper-case HTTP method such as GET or POST";
    return NULL;
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static int cmp_header(const void *a, const void *b)
{
    return strcmp(((const struct weir_rl_header_match *)a)->name,
                  ((const struct weir_rl_header_match *)b)->name);
}

static void parse_headers(struct weir_check *c, const json_t *match, struct weir_rl_limit *l)
{
    const json_t *map = weir_check_get(c, match, "headers", JSON_OBJECT, false);
    const char *key;
    json_t *value;

    if (!map || !json_object_size(map))
        return;
    l->headers = calloc(json_object_size(map), sizeof(*l->headers));
    if (!l->headers) {
        weir_check_error(c, map, "out of memory");
        return;
    }
    weir_check_push_key(c, "headers");
    json_object_foreach((json_t *)map, key, value)
    {
        struct weir_rl_header_match *h = &l->headers[l->n_headers];
        weir_check_push_key(c, key);
        const char *why = weir_valid_header_name(key);
        if (why) {
            weir_check_error(c, value, "%s", why);
        } else if (weir_parse_string_match(c, value, &h->match)) {
            if ((h->name = lower_dup(key)))
                l->n_headers++;
            else
                weir_string_match_free(&h->match);
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
    qsort(l->headers, l->n_headers, sizeof(*l->headers), cmp_header);
    /* "X-User" and "x-user" are one header: two matches for it cannot both be meant */
    for (size_t i = 1; i < l->n_headers; i++) {
        if (strcmp(l->headers[i - 1].name, l->headers[i].name) == 0) {
            weir_check_push_key(c, "headers");
            weir_check_error(c, map, "header %s is given twice (names are case-insensitive)",
                             l->headers[i].name);
            weir_check_pop(c);
            break;
        }
    }
}

static void parse_match(struct weir_check *c, const json_t *v, enum weir_rl_direction dir,
                        struct weir_rl_limit *l)
{
    int64_t port;

    l->has_match = true;
    weir_check_fields(c, v, match_fields, NULL);
    if (weir_get_string(c, v, "route", false, &l->route)) {
        weir_check_push_key(c, "route");
        if (!*l->route)
            weir_check_error(c, json_object_get(v, "route"), "must not be empty");
        else if (dir != WEIR_RL_OUTBOUND)
            weir_check_error(c, json_object_get(v, "route"),
                             "only allowed with direction OUTBOUND: an inbound request has not "
                             "been routed by a VirtualService");
        weir_check_pop(c);
    }
    if (weir_get_int(c, v, "port", false, 1, 65535, &port))
        l->port = (uint16_t)port;
    weir_get_string_match(c, v, "path", false, &l->path);
    weir_get_strings(c, v, "methods", false, valid_method, &l->methods);
    parse_headers(c, v, l);
}

static void parse_descriptor(struct weir_check *c, const json_t *v, struct weir_rl_descriptor *d,
                             bool *ok)
{
    const char *kind;

    *ok = false;
    if (!weir_check_is_object(c, v))
        return;
    weir_check_fields(c, v, descriptor_fields, NULL);
    if (!weir_get_string_borrowed(c, v, "kind", true, &kind))
        return;
    size_t k;
    for (k = 0; k < N_DESCRIPTOR_KINDS; k++)
        if (strcmp(kind, descriptor_kinds[k]) == 0)
            break;
    if (k == N_DESCRIPTOR_KINDS) {
        weir_check_push_key(c, "kind");
        weir_check_error(c, json_object_get(v, "kind"),
                         "must be one of header, path, method, sourceIp, sourcePrincipal, got "
                         "\"%s\"",
                         kind);
        weir_check_pop(c);
        return;
    }
    d->kind = (enum weir_rl_descriptor_kind)k;
    if (d->kind == WEIR_RL_DESC_HEADER) {
        const char *h;
        if (!weir_get_string_borrowed(c, v, "header", true, &h))
            return;
        const char *why = weir_valid_header_name(h);
        if (why) {
            weir_check_push_key(c, "header");
            weir_check_error(c, json_object_get(v, "header"), "%s", why);
            weir_check_pop(c);
            return;
        }
        d->header = lower_dup(h);
        *ok = d->header != NULL;
        return;
    }
    if (json_object_get(v, "header")) {
        weir_check_push_key(c, "header");
        weir_check_error(c, json_object_get(v, "header"), "only allowed with kind header");
        weir_check_pop(c);
        return;
    }
    *ok = true;
}

static void parse_descriptors(struct weir_check *c, const json_t *limit, struct weir_rl_limit *l)
{
    const json_t *a = weir_check_get(c, limit, "descriptors", JSON_ARRAY, false);
    const json_t *v;
    size_t i;

    if (!a || !json_array_size(a))
        return;
    l->descriptors = calloc(json_array_size(a), sizeof(*l->descriptors));
    if (!l->descriptors) {
        weir_check_error(c, a, "out of memory");
        return;
    }
    weir_check_push_key(c, "descriptors");
    json_array_foreach(a, i, v)
    {
        bool ok;
        weir_check_push_index(c, i);
        parse_descriptor(c, v, &l->descriptors[l->n_descriptors], &ok);
        if (ok)
            l->n_descriptors++;
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void parse_bucket(struct weir_check *c, const json_t *limit, struct weir_rl_limit *l)
{
    const json_t *b = weir_check_get(c, limit, "tokenBucket", JSON_OBJECT, true);
    if (!b)
        return;
    weir_check_push_key(c, "tokenBucket");
    weir_check_fields(c, b, bucket_fields, NULL);
    weir_get_int(c, b, "maxTokens", true, 1, MAX_TOKENS, &l->max_tokens);
    weir_get_int(c, b, "tokensPerFill", true, 1, MAX_TOKENS, &l->tokens_per_fill);
    /* the proxy counts in milliseconds */
    if (weir_get_duration(c, b, "fillInterval", true, 1000000, &l->fill_interval_ns) &&
        l->fill_interval_ns % 1000000 != 0) {
        weir_check_push_key(c, "fillInterval");
        weir_check_warning(c, json_object_get(b, "fillInterval"),
                           "fillInterval is rounded up to whole milliseconds");
        weir_check_pop(c);
    }
    if (l->max_tokens && l->tokens_per_fill > l->max_tokens) {
        weir_check_push_key(c, "tokensPerFill");
        weir_check_warning(c, json_object_get(b, "tokensPerFill"),
                           "tokensPerFill %lld is more than maxTokens %lld: a fill never adds "
                           "more than maxTokens",
                           (long long)l->tokens_per_fill, (long long)l->max_tokens);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void parse_limit(struct weir_check *c, const json_t *v, enum weir_rl_direction dir,
                        struct weir_rl_limit *l)
{
    const json_t *m;
    int64_t n;

    weir_check_fields(c, v, limit_fields, NULL);
    if (weir_get_string(c, v, "name", true, &l->name)) {
        const char *why = weir_valid_dns1123_label(l->name);
        if (why) {
            weir_check_push_key(c, "name");
            weir_check_error(c, json_object_get(v, "name"), "%s", why);
            weir_check_pop(c);
        }
    }
    if ((m = weir_check_get(c, v, "match", JSON_OBJECT, false))) {
        weir_check_push_key(c, "match");
        parse_match(c, m, dir, l);
        weir_check_pop(c);
    }
    parse_descriptors(c, v, l);
    parse_bucket(c, v, l);
    l->status_code = 429;
    if (weir_get_int(c, v, "statusCode", false, 400, 599, &n))
        l->status_code = (int)n;
    l->max_buckets = 10000;
    if (weir_get_int(c, v, "maxBuckets", false, 1, MAX_BUCKETS, &n))
        l->max_buckets = n;
    if (json_object_get(v, "maxBuckets") && l->n_descriptors == 0) {
        weir_check_push_key(c, "maxBuckets");
        weir_check_warning(c, json_object_get(v, "maxBuckets"),
                           "has no effect without descriptors: the limit keeps one bucket");
        weir_check_pop(c);
    }
}

static void parse_direction(struct weir_check *c, const json_t *spec,
                            struct weir_rate_limit_policy *p)
{
    const char *s;
    p->direction = WEIR_RL_INBOUND;
    if (!weir_get_string_borrowed(c, spec, "direction", false, &s))
        return;
    if (strcmp(s, "INBOUND") == 0)
        return;
    if (strcmp(s, "OUTBOUND") == 0) {
        p->direction = WEIR_RL_OUTBOUND;
        return;
    }
    weir_check_push_key(c, "direction");
    weir_check_error(c, json_object_get(spec, "direction"),
                     "must be INBOUND or OUTBOUND, got \"%s\"", s);
    weir_check_pop(c);
}

struct weir_rate_limit_policy *weir_rate_limit_policy_parse(struct weir_check *c,
                                                            const json_t *spec)
{
    struct weir_rate_limit_policy *p = calloc(1, sizeof(*p));
    const json_t *limits, *v;
    size_t i;

    if (!p)
        return NULL;
    weir_check_fields(c, spec, policy_fields, NULL);
    weir_get_policy_selector(c, spec, &p->selector);
    parse_direction(c, spec, p);
    limits = weir_check_get(c, spec, "limits", JSON_ARRAY, true);
    if (!limits)
        return p;
    if (!json_array_size(limits)) {
        weir_check_push_key(c, "limits");
        weir_check_error(c, limits, "must hold at least one limit");
        weir_check_pop(c);
        return p;
    }
    p->limits = calloc(json_array_size(limits), sizeof(*p->limits));
    if (!p->limits) {
        weir_check_error(c, limits, "out of memory");
        return p;
    }
    weir_check_push_key(c, "limits");
    json_array_foreach(limits, i, v)
    {
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, v)) {
            struct weir_rl_limit *l = &p->limits[p->n_limits++];
            parse_limit(c, v, p->direction, l);
            for (size_t k = 0; l->name && k + 1 < p->n_limits; k++) {
                if (p->limits[k].name && strcmp(p->limits[k].name, l->name) == 0) {
                    weir_check_push_key(c, "name");
                    weir_check_error(c, json_object_get(v, "name"),
                                     "limit %s is already defined at limits[%zu]", l->name, k);
                    weir_check_pop(c);
                    break;
                }
            }
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
    return p;
}

void weir_rate_limit_policy_free(struct weir_rate_limit_policy *p)
{
    if (!p)
        return;
    weir_string_map_free(&p->selector);
    for (size_t i = 0; i < p->n_limits; i++) {
        struct weir_rl_limit *l = &p->limits[i];
        free(l->name);
        free(l->route);
        weir_string_match_free(&l->path);
        weir_strings_free(&l->methods);
        for (size_t k = 0; k < l->n_headers; k++) {
            free(l->headers[k].name);
            weir_string_match_free(&l->headers[k].match);
        }
        free(l->headers);
        for (size_t k = 0; k < l->n_descriptors; k++)
            free(l->descriptors[k].header);
        free(l->descriptors);
    }
    free(p->limits);
    free(p);
}
