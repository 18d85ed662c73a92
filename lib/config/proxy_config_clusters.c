#include "config/proxy_config_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_MAX_MS    2147483647LL
#define PC_MAX_COUNT 4294967295LL

/* ---- load balancer ---- */

static void parse_consistent_hash(struct pc_loader *l, const json_t *v,
                                  struct weir_pc_load_balancer *lb)
{
    static const char *const fields[] = {"header",         "cookie",   "sourceIp",
                                         "queryParameter", "ringSize", NULL};
    static const char *const cookie_fields[] = {"name", "path", "ttlMs", NULL};
    int set = 0;
    const json_t *cookie;
    bool source_ip = false;

    pc_fields(l, v, fields);
    for (int i = 0; i < 4; i++)
        if (json_object_get(v, fields[i]))
            set++;
    if (set != 1)
        weir_check_error(&l->c, v,
                         "exactly one of header, cookie, sourceIp or queryParameter must be set, "
                         "got %d",
                         set);
    if (json_object_get(v, "header")) {
        lb->hash_on = WEIR_PC_HASH_HEADER;
        lb->hash_key = pc_str(l, v, "header", false, pc_valid_header_name);
    } else if ((cookie = weir_check_get(&l->c, v, "cookie", JSON_OBJECT, false))) {
        lb->hash_on = WEIR_PC_HASH_COOKIE;
        weir_check_push_key(&l->c, "cookie");
        pc_fields(l, cookie, cookie_fields);
        lb->hash_key = pc_str(l, cookie, "name", true, pc_valid_not_empty);
        lb->cookie_path = pc_str(l, cookie, "path", false, pc_valid_abs_path);
        lb->cookie_ttl_ms = pc_int(l, cookie, "ttlMs", false, 0, PC_MAX_MS, 0);
        weir_check_pop(&l->c);
    } else if (json_object_get(v, "sourceIp")) {
        lb->hash_on = WEIR_PC_HASH_SOURCE_IP;
        if (weir_get_bool(&l->c, v, "sourceIp", &source_ip) && !source_ip) {
            weir_check_push_key(&l->c, "sourceIp");
            weir_check_error(&l->c, NULL, "must be true when set");
            weir_check_pop(&l->c);
        }
    } else if (json_object_get(v, "queryParameter")) {
        lb->hash_on = WEIR_PC_HASH_QUERY_PARAMETER;
        lb->hash_key = pc_str(l, v, "queryParameter", false, pc_valid_not_empty);
    }
    lb->ring_size = (uint32_t)pc_int(l, v, "ringSize", false, 1, 8388608, 1024);
}

static void parse_load_balancer(struct pc_loader *l, const json_t *v,
                                struct weir_pc_load_balancer *lb)
{
    static const char *const fields[] = {"policy", "consistentHash", NULL};
    static const char *const policies[] = {"round_robin", "least_request",   "random",
                                           "passthrough", "consistent_hash", NULL};
    const json_t *ch;
    pc_fields(l, v, fields);
    lb->policy = pc_enum(l, v, "policy", true, policies, WEIR_PC_LB_ROUND_ROBIN);
    ch = weir_check_get(&l->c, v, "consistentHash", JSON_OBJECT,
                        lb->policy == WEIR_PC_LB_CONSISTENT_HASH &&
                            json_is_string(json_object_get(v, "policy")));
    if (ch && lb->policy != WEIR_PC_LB_CONSISTENT_HASH) {
        weir_check_push_key(&l->c, "consistentHash");
        weir_check_error(&l->c, NULL, "only allowed when policy is \"consistent_hash\"");
        weir_check_pop(&l->c);
    } else if (ch) {
        weir_check_push_key(&l->c, "consistentHash");
        parse_consistent_hash(l, ch, lb);
        weir_check_pop(&l->c);
    }
}

/* ---- connection pool ---- */

static void parse_pool(struct pc_loader *l, const json_t *v, struct weir_pc_connection_pool *p)
{
    static const char *const fields[] = {"tcp", "http", NULL};
    static const char *const tcp_fields[] = {"maxConnections", "connectTimeoutMs", "keepalive",
                                             NULL};
    static const char *const ka_fields[] = {"probes", "timeMs", "intervalMs", NULL};
    static const char *const http_fields[] = {"http1MaxPendingRequests",
                                              "http2MaxRequests",
                                              "maxRequestsPerConnection",
                                              "maxRetries",
                                              "idleTimeoutMs",
                                              "h2UpgradePolicy",
                                              NULL};
    static const char *const h2[] = {"do_not_upgrade", "upgrade", NULL};
    const json_t *tcp, *http, *ka;

    pc_fields(l, v, fields);
    if ((tcp = weir_check_get(&l->c, v, "tcp", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "tcp");
        pc_fields(l, tcp, tcp_fields);
        p->max_connections =
            pc_int(l, tcp, "maxConnections", false, 1, PC_MAX_COUNT, p->max_connections);
        p->connect_timeout_ms =
            pc_int(l, tcp, "connectTimeoutMs", false, 1, PC_MAX_MS, p->connect_timeout_ms);
        if ((ka = weir_check_get(&l->c, tcp, "keepalive", JSON_OBJECT, false))) {
            weir_check_push_key(&l->c, "keepalive");
            pc_fields(l, ka, ka_fields);
            p->keepalive = true;
            p->keepalive_probes = pc_int(l, ka, "probes", false, 0, 1000, 0);
            p->keepalive_time_ms = pc_int(l, ka, "timeMs", false, 0, PC_MAX_MS, 0);
            p->keepalive_interval_ms = pc_int(l, ka, "intervalMs", false, 0, PC_MAX_MS, 0);
            weir_check_pop(&l->c);
        }
        weir_check_pop(&l->c);
    }
    if ((http = weir_check_get(&l->c, v, "http", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "http");
        pc_fields(l, http, http_fields);
        p->http1_max_pending_requests = pc_int(l, http, "http1MaxPendingRequests", false, 1,
                                               PC_MAX_COUNT, p->http1_max_pending_requests);
        p->http2_max_requests =
            pc_int(l, http, "http2MaxRequests", false, 1, PC_MAX_COUNT, p->http2_max_requests);
        p->max_requests_per_connection =
            pc_int(l, http, "maxRequestsPerConnection", false, 0, PC_MAX_COUNT, 0);
        p->max_retries = pc_int(l, http, "maxRetries", false, 0, PC_MAX_COUNT, p->max_retries);
        p->idle_timeout_ms =
            pc_int(l, http, "idleTimeoutMs", false, 0, PC_MAX_MS, p->idle_timeout_ms);
        p->h2_upgrade_policy =
            pc_enum(l, http, "h2UpgradePolicy", false, h2, WEIR_PC_H2_DO_NOT_UPGRADE);
        weir_check_pop(&l->c);
    }
}

static const struct weir_pc_outlier_detection *parse_outlier(struct pc_loader *l, const json_t *v)
{
    static const char *const fields[] = {
        "consecutive5xx",     "consecutiveGatewayErrors", "intervalMs", "baseEjectionTimeMs",
        "maxEjectionPercent", "minHealthPercent",         NULL};
    struct weir_pc_outlier_detection *o = pc_alloc(l, sizeof(*o));
    if (!o)
        return NULL;
    pc_fields(l, v, fields);
    o->consecutive_5xx = pc_int(l, v, "consecutive5xx", false, 0, PC_MAX_COUNT, 5);
    o->consecutive_gateway_errors =
        pc_int(l, v, "consecutiveGatewayErrors", false, 0, PC_MAX_COUNT, 0);
    o->interval_ms = pc_int(l, v, "intervalMs", false, 1, PC_MAX_MS, 10000);
    o->base_ejection_time_ms = pc_int(l, v, "baseEjectionTimeMs", false, 1, PC_MAX_MS, 30000);
    o->max_ejection_percent = (uint32_t)pc_int(l, v, "maxEjectionPercent", false, 0, 100, 10);
    o->min_health_percent = (uint32_t)pc_int(l, v, "minHealthPercent", false, 0, 100, 0);
    return o;
}

/* ---- TLS origination ---- */

/* Not weir_valid_host: Istio's own SNI for mesh traffic carries underscores
 * ("outbound_.9080_.v1_.reviews.default.svc.cluster.local"). */
static const char *valid_sni(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return "sni must be 1..255 characters";
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("._-", *p)))
            return "sni must consist of letters, digits, '.', '_' and '-'";
    return NULL;
}

static void tls_not_allowed(struct pc_loader *l, const json_t *v, const char *key, const char *mode)
{
    if (!json_object_get(v, key))
        return;
    weir_check_push_key(&l->c, key);
    weir_check_error(&l->c, NULL, "not allowed with mode \"%s\"", mode);
    weir_check_pop(&l->c);
}

static void parse_tls(struct pc_loader *l, const json_t *v, struct weir_pc_tls *t)
{
    static const char *const fields[] = {"mode",
                                         "sni",
                                         "subjectAltNames",
                                         "caCertificates",
                                         "clientCertificate",
                                         "privateKey",
                                         "insecureSkipVerify",
                                         NULL};
    static const char *const modes[] = {"disable", "simple", "mutual", "istio_mutual", NULL};
    pc_fields(l, v, fields);
    t->mode = pc_enum(l, v, "mode", true, modes, WEIR_PC_TLS_DISABLE);
    if (!json_is_string(json_object_get(v, "mode")))
        return;
    const char *mode = modes[t->mode];
    switch (t->mode) {
    case WEIR_PC_TLS_DISABLE:
        for (int i = 1; fields[i]; i++)
            tls_not_allowed(l, v, fields[i], mode);
        return;
    case WEIR_PC_TLS_SIMPLE:
        tls_not_allowed(l, v, "clientCertificate", mode);
        tls_not_allowed(l, v, "privateKey", mode);
        break;
    case WEIR_PC_TLS_MUTUAL:
        break;
    case WEIR_PC_TLS_ISTIO_MUTUAL:
        /* the proxy presents its own workload certificate and trusts the mesh CA */
        tls_not_allowed(l, v, "caCertificates", mode);
        tls_not_allowed(l, v, "clientCertificate", mode);
        tls_not_allowed(l, v, "privateKey", mode);
        break;
    }
    bool mutual = t->mode == WEIR_PC_TLS_MUTUAL;
    t->sni = pc_str(l, v, "sni", false, valid_sni);
    pc_strings(l, v, "subjectAltNames", false, false, pc_valid_not_empty, &t->subject_alt_names);
    t->ca_certificates = pc_str(l, v, "caCertificates", false, pc_valid_abs_path);
    t->client_certificate = pc_str(l, v, "clientCertificate", mutual, pc_valid_abs_path);
    t->private_key = pc_str(l, v, "privateKey", mutual, pc_valid_abs_path);
    t->insecure_skip_verify = pc_bool(l, v, "insecureSkipVerify", false);
}

static void parse_traffic_policy(struct pc_loader *l, const json_t *v, struct weir_pc_cluster *c)
{
    static const char *const fields[] = {"loadBalancer", "connectionPool", "outlierDetection",
                                         "tls", NULL};
    const json_t *sub;
    pc_fields(l, v, fields);
    if ((sub = weir_check_get(&l->c, v, "loadBalancer", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "loadBalancer");
        parse_load_balancer(l, sub, &c->load_balancer);
        weir_check_pop(&l->c);
    }
    if ((sub = weir_check_get(&l->c, v, "connectionPool", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "connectionPool");
        parse_pool(l, sub, &c->connection_pool);
        weir_check_pop(&l->c);
    }
    if ((sub = weir_check_get(&l->c, v, "outlierDetection", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "outlierDetection");
        c->outlier_detection = parse_outlier(l, sub);
        weir_check_pop(&l->c);
    }
    if ((sub = weir_check_get(&l->c, v, "tls", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "tls");
        parse_tls(l, sub, &c->tls);
        weir_check_pop(&l->c);
    }
}

/* ---- endpoints ---- */

static void parse_endpoint(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"address", "port",     "labels", "weight",
                                         "health",  "identity", NULL};
    static const char *const health[] = {"healthy", "unhealthy", "draining", NULL};
    struct weir_pc_endpoint *e = out;
    const char *addr;

    pc_fields(l, v, fields);
    if (weir_get_string_borrowed(&l->c, v, "address", true, &addr)) {
        weir_check_push_key(&l->c, "address");
        if (l->resolution == WEIR_PC_RESOLUTION_STATIC) {
            if (pc_parse_cidr(l, addr, true, &e->ip))
                e->address = e->ip.text;
        } else if (weir_valid_host(addr) || strchr(addr, '*')) {
            weir_check_error(&l->c, NULL, "must be a host name or an IP address, got \"%s\"", addr);
        } else {
            e->address = pc_strdup(l, addr);
        }
        weir_check_pop(&l->c);
    }
    e->port = (uint16_t)pc_int(l, v, "port", true, 1, 65535, 0);
    pc_labels(l, v, "labels", false, &e->labels);
    e->weight = (uint32_t)pc_int(l, v, "weight", false, 1, 128, 1);
    e->health = pc_enum(l, v, "health", false, health, WEIR_PC_HEALTHY);
    e->identity = pc_str(l, v, "identity", false, pc_valid_spiffe);
}

static int cmp_endpoint(const void *a, const void *b)
{
    const struct weir_pc_endpoint *x = a, *y = b;
    if (!x->address || !y->address)
        return -1;
    int r = strcmp(x->address, y->address);
    return r ? r : (int)x->port - (int)y->port;
}

static void describe_endpoint(const void *item, char *buf, size_t size)
{
    const struct weir_pc_endpoint *e = item;
    snprintf(buf, size, "endpoint \"%s\" port %u", e->address, (unsigned)e->port);
}

/* ---- clusters ---- */

static void cluster_defaults(struct weir_pc_cluster *c)
{
    c->load_balancer.policy = WEIR_PC_LB_ROUND_ROBIN;
    c->connection_pool.max_connections = PC_MAX_COUNT;
    c->connection_pool.connect_timeout_ms = 10000;
    c->connection_pool.http1_max_pending_requests = PC_MAX_COUNT;
    c->connection_pool.http2_max_requests = PC_MAX_COUNT;
    c->connection_pool.max_retries = PC_MAX_COUNT;
    c->connection_pool.idle_timeout_ms = 3600000;
    c->connection_pool.h2_upgrade_policy = WEIR_PC_H2_DO_NOT_UPGRADE;
    c->tls.mode = WEIR_PC_TLS_DISABLE;
}

static void parse_cluster(struct pc_loader *l, const json_t *v, void *out)
{
    static const char *const fields[] = {"name",      "service",       "port",
                                         "subset",    "protocol",      "resolution",
                                         "endpoints", "trafficPolicy", NULL};
    static const char *const resolutions[] = {"static", "dns", NULL};
    struct weir_pc_cluster *c = out;
    const json_t *tp;

    cluster_defaults(c);
    pc_fields(l, v, fields);
    c->name = pc_str(l, v, "name", true, pc_valid_not_empty);
    c->service_host = pc_str(l, v, "service", true, weir_valid_host);
    c->port = (uint16_t)pc_int(l, v, "port", true, 1, 65535, 0);
    c->subset = pc_str(l, v, "subset", false, weir_valid_dns1123_label);
    c->protocol = pc_enum(l, v, "protocol", true, pc_protocol_names, WEIR_PC_PROTO_TCP);
    c->resolution = pc_enum(l, v, "resolution", false, resolutions, WEIR_PC_RESOLUTION_STATIC);

    if (c->name && c->service_host && c->port) {
        char want[600];
        snprintf(want, sizeof(want), "outbound|%u|%s|%s", (unsigned)c->port,
                 c->subset ? c->subset : "", c->service_host);
        /* an invalid subset was reported already; a second message would repeat it */
        bool subset_ok = !json_object_get(v, "subset") || c->subset;
        if (strcmp(want, c->name) != 0 && subset_ok) {
            weir_check_push_key(&l->c, "name");
            weir_check_error(&l->c, NULL,
                             "must be \"%s\" (outbound|port|subset|service), got \"%s\"", want,
                             c->name);
            weir_check_pop(&l->c);
        }
    }

    l->resolution = c->resolution;
    c->endpoints = pc_objects(l, v, "endpoints", false, false, sizeof(*c->endpoints),
                              parse_endpoint, &c->n_endpoints);
    if (c->n_endpoints > 1) {
        weir_check_push_key(&l->c, "endpoints");
        pc_check_order(l, c->endpoints, c->n_endpoints, sizeof(*c->endpoints), cmp_endpoint,
                       describe_endpoint, "address", "endpoints are sorted by address, then port");
        weir_check_pop(&l->c);
    }
    if ((tp = weir_check_get(&l->c, v, "trafficPolicy", JSON_OBJECT, false))) {
        weir_check_push_key(&l->c, "trafficPolicy");
        parse_traffic_policy(l, tp, c);
        weir_check_pop(&l->c);
    }
}

static int cmp_cluster(const void *a, const void *b)
{
    const struct weir_pc_cluster *x = a, *y = b;
    if (!x->name || !y->name)
        return -1;
    return strcmp(x->name, y->name);
}

static void describe_cluster(const void *item, char *buf, size_t size)
{
    snprintf(buf, size, "cluster \"%s\"", ((const struct weir_pc_cluster *)item)->name);
}

void pc_parse_clusters(struct pc_loader *l, const json_t *root)
{
    struct weir_proxy_config *cfg = l->cfg;
    cfg->clusters = pc_objects(l, root, "clusters", true, false, sizeof(*cfg->clusters),
                               parse_cluster, &cfg->n_clusters);
    if (cfg->n_clusters > 1) {
        weir_check_push_key(&l->c, "clusters");
        pc_check_order(l, cfg->clusters, cfg->n_clusters, sizeof(*cfg->clusters), cmp_cluster,
                       describe_cluster, "name", "clusters are sorted by name");
        weir_check_pop(&l->c);
    }
}

struct host_index {
    const char *host;
    size_t index;
};

static int cmp_host_index(const void *a, const void *b)
{
    return strcmp(((const struct host_index *)a)->host, ((const struct host_index *)b)->host);
}

/* Each cluster names a service of this document and one of its ports, so the
 * proxy reaches the service's metadata from a cluster without a lookup. The
 * index is built here rather than trusting the services' order, which may be
 * wrong in a document being refused. */
void pc_resolve_clusters(struct pc_loader *l)
{
    struct weir_proxy_config *cfg = l->cfg;
    struct host_index *by_host = NULL;
    size_t n = 0;

    if (cfg->n_services) {
        by_host = malloc(cfg->n_services * sizeof(*by_host));
        if (!by_host) {
            l->oom = true;
            return;
        }
        for (size_t i = 0; i < cfg->n_services; i++)
            if (cfg->services[i].host)
                by_host[n++] = (struct host_index){cfg->services[i].host, i};
        qsort(by_host, n, sizeof(*by_host), cmp_host_index);
    }
    weir_check_push_key(&l->c, "clusters");
    for (size_t i = 0; i < cfg->n_clusters; i++) {
        struct weir_pc_cluster *c = &cfg->clusters[i];
        struct host_index key = {c->service_host, 0}, *hit;
        if (!c->service_host)
            continue;
        hit = n ? bsearch(&key, by_host, n, sizeof(key), cmp_host_index) : NULL;
        weir_check_push_index(&l->c, i);
        if (!hit) {
            weir_check_push_key(&l->c, "service");
            weir_check_error(&l->c, NULL, "unknown service \"%s\"", c->service_host);
            weir_check_pop(&l->c);
        } else {
            const struct weir_pc_service *s = &cfg->services[hit->index];
            /* a port that failed to parse (number 0) may be the one named */
            bool port_found = false;
            for (size_t k = 0; k < s->n_ports; k++)
                if (s->ports[k].number == c->port || s->ports[k].number == 0)
                    port_found = true;
            c->service = s;
            c->service_index = hit->index;
            if (!port_found && c->port) {
                weir_check_push_key(&l->c, "port");
                weir_check_error(&l->c, NULL, "service \"%s\" has no port %u", s->host,
                                 (unsigned)c->port);
                weir_check_pop(&l->c);
            }
        }
        weir_check_pop(&l->c);
    }
    weir_check_pop(&l->c);
    free(by_host);
}
