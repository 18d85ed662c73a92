#include "model/virtual_service.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const vs_fields[] = {"hosts", "gateways", "http", "tls",
                                        "tcp",   "exportTo", NULL};

static const char *const l4_route_fields[] = {"match", "route", NULL};
static const char *const tcp_match_fields[] = {
    "destinationSubnets", "port",         "sourceLabels", "gateways",
    "sourceNamespace",    "sourceSubnet", NULL,
};
static const char *const tcp_match_unsupported[] = {"gateways", "sourceSubnet", NULL};
static const char *const tls_match_fields[] = {
    "sniHosts", "destinationSubnets", "port", "sourceLabels", "gateways", "sourceNamespace", NULL,
};
static const char *const tls_match_unsupported[] = {"gateways", NULL};

static bool present(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v);
}

static bool non_empty_array(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_array(v) && json_array_size(v) > 0;
}

static void parse_l4_match(struct weir_check *c, const json_t *v, bool tls,
                           const struct weir_virtual_service *vs, struct weir_l4_match *m)
{
    if (!weir_check_is_object(c, v))
        return;
    weir_check_fields(c, v, tls ? tls_match_fields : tcp_match_fields,
                      tls ? tls_match_unsupported : tcp_match_unsupported);
    if (tls && weir_get_strings(c, v, "sniHosts", true, weir_valid_host, &m->sni_hosts)) {
        const json_t *arr = json_object_get(v, "sniHosts");
        weir_check_push_key(c, "sniHosts");
        if (m->sni_hosts.len == 0)
            weir_check_error(c, arr, "at least one SNI host is required");
        /* An SNI outside the hosts could never reach this VirtualService. */
        for (size_t i = 0; i < m->sni_hosts.len && vs->hosts.len > 0; i++) {
            bool covered = false;
            for (size_t h = 0; h < vs->hosts.len && !covered; h++)
                covered = weir_net_host_covers(vs->hosts.items[h], m->sni_hosts.items[i]);
            if (!covered) {
                weir_check_push_index(c, i);
                weir_check_error(c, json_array_get(arr, i),
                                 "SNI host \"%s\" is not covered by the VirtualService hosts",
                                 m->sni_hosts.items[i]);
                weir_check_pop(c);
            }
        }
        weir_check_pop(c);
    }
    weir_get_strings(c, v, "destinationSubnets", false, weir_valid_cidr, &m->destination_subnets);
    weir_get_int(c, v, "port", false, 1, 65535, &m->port);
    weir_get_string_map(c, v, "sourceLabels", false, weir_valid_label_key, weir_valid_label_value,
                        &m->source_labels);
    weir_get_strings(c, v, "gateways", false, weir_net_valid_gateway_name, &m->gateways);
    weir_net_get_namespace(c, v, "sourceNamespace", &m->source_namespace);
}

static void parse_l4_destinations(struct weir_check *c, const json_t *v, struct weir_l4_route *r)
{
    static const char *const fields[] = {"destination", "weight", NULL};
    const json_t *arr = weir_check_get(c, v, "route", JSON_ARRAY, true);
    int64_t *weights;
    bool all_valid = true;
    size_t i;
    json_t *item;

    if (!arr)
        return;
    if (json_array_size(arr) == 0) {
        weir_check_push_key(c, "route");
        weir_check_error(c, arr, "at least one destination is required");
        weir_check_pop(c);
        return;
    }
    r->route = weir_net_calloc(c, json_array_size(arr), sizeof(*r->route));
    weights = weir_net_calloc(c, json_array_size(arr), sizeof(*weights));
    if (!r->route || !weights) {
        free(weights);
        return;
    }
    r->n_route = json_array_size(arr);
    weir_check_push_key(c, "route");
    json_array_foreach(arr, i, item)
    {
        weights[i] = WEIR_UNSET;
        weir_check_push_index(c, i);
        if (weir_check_is_object(c, item)) {
            const json_t *w = json_object_get(item, "weight");
            weir_check_fields(c, item, fields, NULL);
            weir_net_get_destination(c, item, "destination", true, &r->route[i].destination);
            if (w && !json_is_null(w) &&
                !weir_get_int(c, item, "weight", false, 0, 100, &weights[i]))
                all_valid = false;
        } else {
            all_valid = false;
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
    weir_net_settle_weights(c, arr, weights, r->n_route, all_valid);
    for (i = 0; i < r->n_route; i++)
        r->route[i].weight = weights[i];
    free(weights);
}

static void parse_l4_route(struct weir_check *c, const json_t *v, bool tls,
                           const struct weir_virtual_service *vs, struct weir_l4_route *r)
{
    const json_t *arr;
    size_t i;
    json_t *item;

    if (!weir_check_is_object(c, v))
        return;
    weir_check_fields(c, v, l4_route_fields, NULL);
    /* SNI is what tells TLS routes apart, so each needs a match. */
    arr = weir_check_get(c, v, "match", JSON_ARRAY, tls);
    if (arr && tls && json_array_size(arr) == 0) {
        weir_check_push_key(c, "match");
        weir_check_error(c, arr, "at least one match is required");
        weir_check_pop(c);
    }
    if (arr && (r->match = weir_net_calloc(c, json_array_size(arr), sizeof(*r->match)))) {
        r->n_match = json_array_size(arr);
        weir_check_push_key(c, "match");
        json_array_foreach(arr, i, item)
        {
            weir_check_push_index(c, i);
            parse_l4_match(c, item, tls, vs, &r->match[i]);
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }
    parse_l4_destinations(c, v, r);
}

static void parse_l4_routes(struct weir_check *c, const json_t *spec, const char *key,
                            struct weir_virtual_service *vs, struct weir_l4_route **out, size_t *n)
{
    const json_t *arr = weir_check_get(c, spec, key, JSON_ARRAY, false);
    bool tls = strcmp(key, "tls") == 0;
    size_t i;
    json_t *item;

    if (!arr || !(*out = weir_net_calloc(c, json_array_size(arr), sizeof(**out))))
        return;
    *n = json_array_size(arr);
    weir_check_push_key(c, key);
    json_array_foreach(arr, i, item)
    {
        weir_check_push_index(c, i);
        parse_l4_route(c, item, tls, vs, &(*out)[i]);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void parse_gateways(struct weir_check *c, const json_t *spec,
                           struct weir_virtual_service *vs)
{
    const json_t *arr;
    size_t i;
    json_t *item;

    weir_get_strings(c, spec, "gateways", false, weir_net_valid_gateway_name, &vs->gateways);
    vs->applies_to_mesh = vs->gateways.len == 0 || weir_strings_contains(&vs->gateways, "mesh");
    arr = json_object_get(spec, "gateways");
    if (!json_is_array(arr))
        return;
    weir_check_push_key(c, "gateways");
    json_array_foreach(arr, i, item)
    {
        const char *g = json_string_value(item);
        if (g && strcmp(g, "mesh") != 0 && !weir_net_valid_gateway_name(g)) {
            weir_check_push_index(c, i);
            weir_check_unsupported(c, item,
                                   "gateway \"%s\" is not supported by Weir yet (only the mesh "
                                   "gateway)",
                                   g);
            weir_check_pop(c);
        }
    }
    weir_check_pop(c);
}

static void parse_hosts(struct weir_check *c, const json_t *spec, struct weir_virtual_service *vs)
{
    const json_t *arr = weir_check_get(c, spec, "hosts", JSON_ARRAY, false);
    size_t i;
    json_t *item;

    /* A mistyped hosts field was reported already; it does not make a delegate. */
    if (!arr && present(spec, "hosts"))
        return;
    vs->is_delegate = !arr || json_array_size(arr) == 0;
    if (vs->is_delegate) {
        weir_check_push_key(c, "hosts");
        weir_check_unsupported(c, arr ? arr : spec,
                               "a VirtualService without hosts is a delegate, which Weir does not "
                               "support yet");
        weir_check_pop(c);
        return;
    }
    vs->hosts.items = weir_net_calloc(c, json_array_size(arr), sizeof(char *));
    if (!vs->hosts.items)
        return;
    weir_check_push_key(c, "hosts");
    json_array_foreach(arr, i, item)
    {
        const char *h = json_string_value(item);
        const char *why;
        weir_check_push_index(c, i);
        if (!h) {
            weir_check_error(c, item, "must be a string, got %s", weir_json_type_name(item));
        } else if ((why = weir_valid_host(h))) {
            weir_check_error(c, item, "%s, got \"%s\"", why, h);
        } else if (strcmp(h, "*") == 0 && vs->applies_to_mesh) {
            weir_check_error(c, item,
                             "wildcard host * is not allowed for virtual services bound "
                             "to the mesh gateway");
        } else {
            /* Two entries claiming the same names make route ownership ambiguous. */
            bool clash = false;
            for (size_t j = 0; j < vs->hosts.len && !clash; j++) {
                const char *prev = vs->hosts.items[j];
                if (strcasecmp(prev, h) == 0) {
                    weir_check_error(c, item, "host \"%s\" is listed twice", h);
                    clash = true;
                } else if (weir_net_host_covers(prev, h) || weir_net_host_covers(h, prev)) {
                    weir_check_error(c, item, "host \"%s\" overlaps host \"%s\"", h, prev);
                    clash = true;
                }
            }
            if (!clash && (vs->hosts.items[vs->hosts.len] = strdup(h)))
                vs->hosts.len++;
        }
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

/* Istio's rules for a delegate: it is reached through another VirtualService's
 * HTTP route, so it cannot pick gateways or carry L4 routes. */
static void check_delegate(struct weir_check *c, const json_t *spec)
{
    static const struct {
        const char *key;
        const char *message;
    } rules[] = {
        {"gateways", "a delegate VirtualService must not set gateways"},
        {"tcp", "a delegate VirtualService must not have tcp routes"},
        {"tls", "a delegate VirtualService must not have tls routes"},
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (!non_empty_array(spec, rules[i].key))
            continue;
        weir_check_push_key(c, rules[i].key);
        weir_check_error(c, json_object_get(spec, rules[i].key), "%s", rules[i].message);
        weir_check_pop(c);
    }
}

struct weir_virtual_service *weir_virtual_service_parse(struct weir_check *c, const json_t *spec)
{
    struct weir_virtual_service *vs = calloc(1, sizeof(*vs));
    struct weir_http_route_context ctx;
    const json_t *arr;
    size_t i;
    json_t *item;

    if (!vs)
        return NULL;
    weir_check_fields(c, spec, vs_fields, NULL);
    parse_gateways(c, spec, vs);
    parse_hosts(c, spec, vs);
    if (vs->is_delegate)
        check_delegate(c, spec);
    weir_net_get_export_to(c, spec, false, &vs->export_to);

    ctx.applies_to_mesh = vs->applies_to_mesh;
    ctx.is_delegate = vs->is_delegate;
    arr = weir_check_get(c, spec, "http", JSON_ARRAY, false);
    if (arr && (vs->http = weir_net_calloc(c, json_array_size(arr), sizeof(*vs->http)))) {
        vs->n_http = json_array_size(arr);
        weir_check_push_key(c, "http");
        json_array_foreach(arr, i, item)
        {
            weir_check_push_index(c, i);
            weir_http_route_parse(c, item, &ctx, &vs->http[i]);
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }
    parse_l4_routes(c, spec, "tls", vs, &vs->tls, &vs->n_tls);
    parse_l4_routes(c, spec, "tcp", vs, &vs->tcp, &vs->n_tcp);

    if (!non_empty_array(spec, "http") && !non_empty_array(spec, "tcp") &&
        !non_empty_array(spec, "tls"))
        weir_check_error(c, spec, "at least one of http, tcp or tls must be set");
    return vs;
}

static void l4_routes_free(struct weir_l4_route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct weir_l4_route *r = &routes[i];
        for (size_t j = 0; j < r->n_match; j++) {
            struct weir_l4_match *m = &r->match[j];
            weir_strings_free(&m->sni_hosts);
            weir_strings_free(&m->destination_subnets);
            weir_string_map_free(&m->source_labels);
            weir_strings_free(&m->gateways);
            free(m->source_namespace);
        }
        free(r->match);
        for (size_t j = 0; j < r->n_route; j++)
            weir_destination_free(&r->route[j].destination);
        free(r->route);
    }
    free(routes);
}

void weir_virtual_service_free(struct weir_virtual_service *vs)
{
    if (!vs)
        return;
    weir_strings_free(&vs->hosts);
    weir_strings_free(&vs->gateways);
    weir_strings_free(&vs->export_to);
    for (size_t i = 0; i < vs->n_http; i++)
        weir_http_route_clear(&vs->http[i]);
    free(vs->http);
    l4_routes_free(vs->tls, vs->n_tls);
    l4_routes_free(vs->tcp, vs->n_tcp);
    free(vs);
}
