#include "model/service_entry.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const se_fields[] = {
    "hosts",     "addresses",        "ports",    "location",        "resolution",
    "endpoints", "workloadSelector", "exportTo", "subjectAltNames", NULL,
};
static const char *const se_unsupported[] = {"workloadSelector", NULL};
static const char *const port_fields[] = {"number", "protocol", "name", "targetPort", NULL};
static const char *const endpoint_fields[] = {
    "address", "ports", "labels", "network", "locality", "weight", "serviceAccount", NULL,
};
static const char *const endpoint_unsupported[] = {"network", "locality", NULL};

static const char *const location_names[] = {"MESH_EXTERNAL", "MESH_INTERNAL", NULL};
static const char *const resolution_names[] = {"NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", NULL};

/* Indexed by enum weir_port_protocol, spelled as Istio documents them. */
static const char *const protocol_names[] = {
    "",    "HTTP",     "HTTPS",      "GRPC",  "HTTP2", "MONGO", "TCP",
    "TLS", "GRPC-Web", "HTTP_PROXY", "Redis", "MySQL", "UDP",   NULL,
};
#define LAST_SUPPORTED_PROTOCOL WEIR_PROTO_TLS

#define UNIX_PREFIX "unix://"

const char *weir_port_protocol_name(enum weir_port_protocol p)
{
    return (size_t)p < sizeof(protocol_names) / sizeof(protocol_names[0]) - 1 ? protocol_names[p]
                                                                              : "?";
}

static bool present(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v);
}

static bool is_http(enum weir_port_protocol p)
{
    return p == WEIR_PROTO_HTTP || p == WEIR_PROTO_HTTP2 || p == WEIR_PROTO_GRPC ||
           p == WEIR_PROTO_GRPC_WEB || p == WEIR_PROTO_HTTP_PROXY;
}

static bool is_tls(enum weir_port_protocol p)
{
    return p == WEIR_PROTO_HTTPS || p == WEIR_PROTO_TLS;
}

static const char *resolution_name(enum weir_se_resolution r)
{
    return resolution_names[r];
}

static void parse_protocol(struct weir_check *c, const json_t *v, struct weir_se_port *port)
{
    const char *s;

    if (!weir_get_string_borrowed(c, v, "protocol", false, &s))
        return;
    weir_check_push_key(c, "protocol");
    for (int i = 1; protocol_names[i]; i++) {
        if (strcasecmp(protocol_names[i], s) != 0)
            continue;
        port->protocol = (enum weir_port_protocol)i;
        if (i > LAST_SUPPORTED_PROTOCOL)
            weir_check_unsupported(c, json_object_get(v, "protocol"),
                                   "protocol %s is not supported by Weir yet", protocol_names[i]);
        weir_check_pop(c);
        return;
    }
    weir_check_error(c, json_object_get(v, "protocol"),
                     "must be one of HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP or TLS, got \"%s\"", s);
    weir_check_pop(c);
}

static void parse_ports(struct weir_check *c, const json_t *spec, struct weir_service_entry *se)
{
    const json_t *arr = weir_check_get(c, spec, "ports", JSON_ARRAY, false);
    size_t i;
    json_t *item;

    if (!arr || !(se->ports = weir_net_calloc(c, json_array_size(arr), sizeof(*se->ports))))
        return;
    se->n_ports = json_array_size(arr);
    weir_check_push_key(c, "ports");
    json_array_foreach(arr, i, item)
    {
        struct weir_se_port *p = &se->ports[i];
        const char *why;
        weir_check_push_index(c, i);
        if (!weir_check_is_object(c, item)) {
            weir_check_pop(c);
            continue;
        }
        weir_check_fields(c, item, port_fields, NULL);
        if (weir_get_int(c, item, "number", true, 1, 65535, &p->number)) {
            for (size_t j = 0; j < i; j++) {
                if (se->ports[j].number != p->number)
                    continue;
                weir_check_push_key(c, "number");
                weir_check_error(c, json_object_get(item, "number"), "port %lld is defined twice",
                                 (long long)p->number);
                weir_check_pop(c);
                break;
            }
        }
        parse_protocol(c, item, p);
        if (weir_get_string(c, item, "name", true, &p->name)) {
            weir_check_push_key(c, "name");
            if ((why = weir_valid_dns1123_label(p->name))) {
                weir_check_error(c, json_object_get(item, "name"), "invalid port name \"%s\": %s",
                                 p->name, why);
            } else {
                for (size_t j = 0; j < i; j++) {
                    if (se->ports[j].name && strcmp(se->ports[j].name, p->name) == 0) {
                        weir_check_error(c, json_object_get(item, "name"),
                                         "port name \"%s\" is defined twice", p->name);
                        break;
                    }
                }
            }
            weir_check_pop(c);
        }
        weir_get_int(c, item, "targetPort", false, 1, 65535, &p->target_port);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static const struct weir_se_port *find_port(const struct weir_service_entry *se, const char *name)
{
    for (size_t i = 0; i < se->n_ports; i++)
        if (se->ports[i].name && strcmp(se->ports[i].name, name) == 0)
            return &se->ports[i];
    return NULL;
}

static void check_endpoint_address(struct weir_check *c, const json_t *v, const char *address,
                                   enum weir_se_resolution resolution)
{
    const json_t *node = json_object_get(v, "address");
    bool ip = weir_valid_ip(address) == NULL;

    weir_check_push_key(c, "address");
    if (resolution == WEIR_SE_RESOLUTION_STATIC) {
        if (!ip && strncmp(address, UNIX_PREFIX, strlen(UNIX_PREFIX)) != 0)
            weir_check_error(c, node,
                             "must be an IP address or a unix:// socket path when resolution is "
                             "STATIC, got \"%s\"",
                             address);
    } else if (resolution == WEIR_SE_RESOLUTION_DNS ||
               resolution == WEIR_SE_RESOLUTION_DNS_ROUND_ROBIN) {
        if (!ip && (weir_valid_host(address) || strchr(address, '*')))
            weir_check_error(c, node, "must be an IP address or a host name, got \"%s\"", address);
    }
    weir_check_pop(c);
}

static void parse_endpoint_ports(struct weir_check *c, const json_t *v,
                                 const struct weir_service_entry *se, struct weir_workload_entry *e)
{
    const json_t *map = weir_check_get(c, v, "ports", JSON_OBJECT, false);
    const char *k;
    json_t *n;

    if (!map || !(e->ports = weir_net_calloc(c, json_object_size(map), sizeof(*e->ports))))
        return;
    weir_check_push_key(c, "ports");
    json_object_foreach((json_t *)map, k, n)
    {
        struct weir_endpoint_port *ep = &e->ports[e->n_ports++];
        ep->name = strdup(k);
        weir_check_push_key(c, k);
        if (!find_port(se, k))
            weir_check_error(c, n, "port \"%s\" is not a port of this ServiceEntry", k);
        if (!json_is_integer(n))
            weir_check_error(c, n, "must be an integer, got %s", weir_json_type_name(n));
        else if (!weir_valid_port_number(json_integer_value(n)))
            weir_check_error(c, n, "must be 1..65535, got %lld", (long long)json_integer_value(n));
        else
            ep->number = json_integer_value(n);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void parse_endpoints(struct weir_check *c, const json_t *spec, struct weir_service_entry *se)
{
    const json_t *arr = weir_check_get(c, spec, "endpoints", JSON_ARRAY, false);
    size_t i;
    json_t *item;

    if (!arr || !(se->endpoints = weir_net_calloc(c, json_array_size(arr), sizeof(*se->endpoints))))
        return;
    se->n_endpoints = json_array_size(arr);
    weir_check_push_key(c, "endpoints");
    json_array_foreach(arr, i, item)
    {
        struct weir_workload_entry *e = &se->endpoints[i];
        weir_check_push_index(c, i);
        if (!weir_check_is_object(c, item)) {
            weir_check_pop(c);
            continue;
        }
        weir_check_fields(c, item, endpoint_fields, endpoint_unsupported);
        weir_get_string(c, item, "network", false, &e->network);
        /* An endpoint in another network is reached through that network's
         * gateway, so Istio lets it go without an address. */
        if (weir_get_string(c, item, "address", !e->network, &e->address))
            check_endpoint_address(c, item, e->address, se->resolution);
        parse_endpoint_ports(c, item, se, e);
        weir_get_string_map(c, item, "labels", false, weir_valid_label_key, weir_valid_label_value,
                            &e->labels);
        weir_get_string(c, item, "locality", false, &e->locality);
        weir_get_int(c, item, "weight", false, 0, UINT32_MAX, &e->weight);
        weir_get_string(c, item, "serviceAccount", false, &e->service_account);
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void parse_hosts(struct weir_check *c, const json_t *spec, struct weir_service_entry *se)
{
    const json_t *arr = weir_check_get(c, spec, "hosts", JSON_ARRAY, true);
    size_t i;
    json_t *item;

    if (!arr)
        return;
    weir_check_push_key(c, "hosts");
    if (json_array_size(arr) == 0)
        weir_check_error(c, arr, "at least one host is required");
    se->hosts.items = weir_net_calloc(c, json_array_size(arr), sizeof(char *));
    json_array_foreach(arr, i, item)
    {
        const char *h = json_string_value(item);
        const char *why;
        if (!se->hosts.items)
            break;
        weir_check_push_index(c, i);
        if (!h)
            weir_check_error(c, item, "must be a string, got %s", weir_json_type_name(item));
        else if (strcmp(h, "*") == 0)
            weir_check_error(c, item, "host \"*\" is not allowed in a ServiceEntry");
        else if ((why = weir_valid_host(h)))
            weir_check_error(c, item, "%s, got \"%s\"", why, h);
        else if ((se->hosts.items[se->hosts.len] = strdup(h)))
            se->hosts.len++;
        weir_check_pop(c);
    }
    weir_check_pop(c);
}

static void parse_addresses(struct weir_check *c, const json_t *spec, struct weir_service_entry *se)
{
    const json_t *arr;
    size_t i;
    json_t *item;

    weir_get_strings(c, spec, "addresses", false, weir_valid_cidr, &se->addresses);
    arr = json_object_get(spec, "addresses");
    if (!json_is_array(arr) || se->resolution == WEIR_SE_RESOLUTION_NONE ||
        se->resolution == WEIR_SE_RESOLUTION_STATIC)
        return;
    /* A block of addresses cannot be resolved to one DNS name's endpoints. */
    weir_check_push_key(c, "addresses");
    json_array_foreach(arr, i, item)
    {
        const char *a = json_string_value(item);
        if (a && strchr(a, '/') && !weir_valid_cidr(a)) {
            weir_check_push_index(c, i);
            weir_check_error(c, item,
                             "CIDR blocks are only allowed with resolution NONE or STATIC, got "
                             "\"%s\"",
                             a);
            weir_check_pop(c);
        }
    }
    weir_check_pop(c);
}

static void check_resolution(struct weir_check *c, const json_t *spec,
                             const struct weir_service_entry *se)
{
    const json_t *endpoints = json_object_get(spec, "endpoints");
    const json_t *hosts = json_object_get(spec, "hosts");

    switch (se->resolution) {
    case WEIR_SE_RESOLUTION_NONE:
        if (se->n_endpoints > 0) {
            weir_check_push_key(c, "endpoints");
            weir_check_error(c, endpoints, "endpoints cannot be used with resolution NONE");
            weir_check_pop(c);
        }
        break;
    case WEIR_SE_RESOLUTION_STATIC:
        if (se->n_endpoints == 0 && !se->has_workload_selector)
            weir_check_error(c, spec, "resolution STATIC needs endpoints or a workloadSelector");
        break;
    case WEIR_SE_RESOLUTION_DNS:
    case WEIR_SE_RESOLUTION_DNS_ROUND_ROBIN:
        if (se->resolution == WEIR_SE_RESOLUTION_DNS_ROUND_ROBIN && se->n_endpoints > 1) {
            weir_check_push_key(c, "endpoints");
            weir_check_error(c, endpoints,
                             "resolution DNS_ROUND_ROBIN allows at most one endpoint, got %zu",
                             se->n_endpoints);
            weir_check_pop(c);
        }
        /* Without endpoints the hosts themselves are resolved. */
        if (se->n_endpoints == 0 && json_is_array(hosts)) {
            size_t i;
            json_t *item;
            weir_check_push_key(c, "hosts");
            json_array_foreach(hosts, i, item)
            {
                const char *h = json_string_value(item);
                if (!h || strncmp(h, "*.", 2) != 0)
                    continue;
                weir_check_push_index(c, i);
                weir_check_error(c, item,
                                 "wildcard host \"%s\" cannot be resolved with resolution %s; "
                                 "list endpoints or use resolution NONE",
                                 h, resolution_name(se->resolution));
                weir_check_pop(c);
            }
            weir_check_pop(c);
        }
        break;
    }
}

/* Istio's rule: with several hosts and a resolved destination, only the HTTP
 * Host header or the TLS SNI can tell which host a connection is for. */
static void check_hosts_distinguishable(struct weir_check *c, const json_t *spec,
                                        const struct weir_service_entry *se)
{
    if (se->resolution == WEIR_SE_RESOLUTION_NONE || se->hosts.len < 2)
        return;
    for (size_t i = 0; i < se->n_ports; i++) {
        const struct weir_se_port *p = &se->ports[i];
        if (is_http(p->protocol) || is_tls(p->protocol))
            continue;
        weir_check_push_key(c, "hosts");
        if (p->protocol == WEIR_PROTO_UNSET)
            weir_check_error(c, json_object_get(spec, "hosts"),
                             "several hosts need HTTP or TLS ports to be told apart, but port "
                             "%lld has no protocol",
                             (long long)p->number);
        else
            weir_check_error(c, json_object_get(spec, "hosts"),
                             "several hosts need HTTP or TLS ports to be told apart, but port "
                             "%lld is %s",
                             (long long)p->number, protocol_names[p->protocol]);
        weir_check_pop(c);
        return;
    }
}

/* Without addresses a plain TCP port is captured by number for every
 * destination IP, which collides with any other service on that port. */
static void warn_port_only_capture(struct weir_check *c, const json_t *spec,
                                   const struct weir_service_entry *se)
{
    const json_t *arr = json_object_get(spec, "ports");

    if (se->addresses.len > 0 || present(spec, "addresses"))
        return;
    for (size_t i = 0; i < se->n_ports; i++) {
        const struct weir_se_port *p = &se->ports[i];
        if (p->number == 0 || (p->protocol != WEIR_PROTO_UNSET && p->protocol != WEIR_PROTO_TCP))
            continue;
        weir_check_push_key(c, "ports");
        weir_check_push_index(c, i);
        if (p->protocol == WEIR_PROTO_TCP)
            weir_check_warning(c, json_array_get(arr, i),
                               "without addresses, TCP port %lld is matched by its number alone, "
                               "so no other service may use it",
                               (long long)p->number);
        else
            weir_check_warning(c, json_array_get(arr, i),
                               "without addresses, port %lld (no protocol) is matched by its "
                               "number alone, so no other service may use it",
                               (long long)p->number);
        weir_check_pop(c);
        weir_check_pop(c);
    }
}

/* ServiceEntry's selector is networking's WorkloadSelector, {labels: {...}},
 * not the {matchLabels: {...}} of the security kinds. */
static void parse_workload_selector(struct weir_check *c, const json_t *spec,
                                    struct weir_service_entry *se)
{
    static const char *const fields[] = {"labels", NULL};
    const json_t *sel = weir_check_get(c, spec, "workloadSelector", JSON_OBJECT, false);

    if (!sel)
        return;
    se->has_workload_selector = true;
    weir_check_push_key(c, "workloadSelector");
    weir_check_fields(c, sel, fields, NULL);
    weir_get_string_map(c, sel, "labels", false, weir_valid_label_key, weir_valid_label_value,
                        &se->workload_selector);
    weir_check_pop(c);
}

struct weir_service_entry *weir_service_entry_parse(struct weir_check *c, const json_t *spec)
{
    struct weir_service_entry *se = calloc(1, sizeof(*se));
    int e;

    if (!se)
        return NULL;
    weir_check_fields(c, spec, se_fields, se_unsupported);
    if (weir_net_get_enum(c, spec, "location", location_names, false, &e))
        se->location = (enum weir_se_location)e;
    if (weir_net_get_enum(c, spec, "resolution", resolution_names, false, &e))
        se->resolution = (enum weir_se_resolution)e;
    parse_hosts(c, spec, se);
    parse_addresses(c, spec, se);
    parse_ports(c, spec, se);
    parse_endpoints(c, spec, se);
    parse_workload_selector(c, spec, se);
    if (se->has_workload_selector && present(spec, "endpoints"))
        weir_check_error(c, spec, "workloadSelector and endpoints are mutually exclusive");
    weir_net_get_export_to(c, spec, true, &se->export_to);
    weir_get_strings(c, spec, "subjectAltNames", false, NULL, &se->subject_alt_names);

    check_resolution(c, spec, se);
    check_hosts_distinguishable(c, spec, se);
    warn_port_only_capture(c, spec, se);
    return se;
}

void weir_service_entry_free(struct weir_service_entry *se)
{
    if (!se)
        return;
    weir_strings_free(&se->hosts);
    weir_strings_free(&se->addresses);
    for (size_t i = 0; i < se->n_ports; i++)
        free(se->ports[i].name);
    free(se->ports);
    for (size_t i = 0; i < se->n_endpoints; i++) {
        struct weir_workload_entry *e = &se->endpoints[i];
        free(e->address);
        for (size_t j = 0; j < e->n_ports; j++)
            free(e->ports[j].name);
        free(e->ports);
        weir_string_map_free(&e->labels);
        free(e->network);
        free(e->locality);
        free(e->service_account);
    }
    free(se->endpoints);
    weir_string_map_free(&se->workload_selector);
    weir_strings_free(&se->export_to);
    weir_strings_free(&se->subject_alt_names);
    free(se);
}
