/*
 * Clusters: one per service port, plus one per port and DestinationRule
 * subset, with the rule's traffic policy merged as Istio merges it:
 *
 *   rule.trafficPolicy, then the rule's portLevelSettings entry for the port,
 *   which replaces all four parts (load balancer, pool, outlier detection,
 *   TLS) with its own, absent parts taking their defaults; then the subset's
 *   trafficPolicy, part by part; then the subset's port-level entry, again
 *   replacing all four.
 *
 * Without TLS settings, a cluster of an in-mesh Kubernetes Service uses mesh
 * mTLS (Istio's auto mTLS), unless the server's namespace disables it.
 *
 * A service's clusters depend only on the DestinationRule chosen for it, so
 * they are built once per (service, rule) and shared by every config.
 */
#include <stdlib.h>
#include <string.h>

#include "translate/translate_internal.h"

struct tr_cluster_set {
    struct tr_cluster_set *next;
    const struct tr_cr *dr;
    struct tr_frag *frags; /* [port * (n_subset_names + 1) + j]; j == n_subset_names: no subset */
};

struct parts {
    const struct weir_load_balancer *lb;
    const struct weir_connection_pool *pool;
    const struct weir_outlier_detection *od;
    const struct weir_client_tls *tls;
};

static void merge(struct parts *p, const struct weir_traffic_policy *tp, int port)
{
    if (!tp)
        return;
    if (tp->load_balancer)
        p->lb = tp->load_balancer;
    if (tp->connection_pool)
        p->pool = tp->connection_pool;
    if (tp->outlier_detection)
        p->od = tp->outlier_detection;
    if (tp->tls)
        p->tls = tp->tls;
    for (size_t i = 0; i < tp->n_port_level_settings; i++) {
        const struct weir_port_traffic_policy *pl = &tp->port_level_settings[i];
        if (pl->port != port)
            continue;
        p->lb = pl->load_balancer;
        p->pool = pl->connection_pool;
        p->od = pl->outlier_detection;
        p->tls = pl->tls;
        break;
    }
}

static json_t *lb_json(struct tr_ctx *ctx, struct tr_cr *dr, const struct weir_load_balancer *lb)
{
    static const char *const simple[] = {
        [WEIR_LB_UNSPECIFIED] = "least_request",
        [WEIR_LB_ROUND_ROBIN] = "round_robin",
        [WEIR_LB_LEAST_REQUEST] = "least_request",
        [WEIR_LB_LEAST_CONN] = "least_request",
        [WEIR_LB_RANDOM] = "random",
        [WEIR_LB_PASSTHROUGH] = "passthrough",
    };
    const struct weir_consistent_hash *ch = lb->consistent_hash;
    json_t *o = json_object(), *h;
    if (!o)
        return NULL;
    if (!ch) {
        json_object_set_new(o, "policy", json_string(simple[lb->simple]));
        return o;
    }
    json_object_set_new(o, "policy", json_string("consistent_hash"));
    h = json_object();
    switch (ch->key) {
    case WEIR_HASH_KEY_HEADER: {
        char *lower = tr_lower(ch->http_header_name);
        json_object_set_new(h, "header", json_string(lower ? lower : ""));
        free(lower);
        break;
    }
    case WEIR_HASH_KEY_COOKIE: {
        json_t *c = json_object();
        json_object_set_new(c, "name", json_string(ch->http_cookie.name));
        if (ch->http_cookie.path && ch->http_cookie.path[0] == '/')
            json_object_set_new(c, "path", json_string(ch->http_cookie.path));
        if (ch->http_cookie.ttl_ns > 0)
            json_object_set_new(c, "ttlMs", json_integer(tr_ms(ch->http_cookie.ttl_ns)));
        json_object_set_new(h, "cookie", c);
        break;
    }
    case WEIR_HASH_KEY_SOURCE_IP:
        json_object_set_new(h, "sourceIp", json_true());
        break;
    case WEIR_HASH_KEY_QUERY_PARAMETER:
        json_object_set_new(h, "queryParameter", json_string(ch->http_query_parameter_name));
        break;
    case WEIR_HASH_KEY_NONE:
        break;
    }
    if (ch->algorithm == WEIR_HASH_MAGLEV)
        tr_status_add(ctx, dr, WEIR_SEV_UNSUPPORTED, "spec.trafficPolicy.loadBalancer",
                      "maglev is not supported by Weir yet; a ring hash is used");
    if (ch->minimum_ring_size > 0)
        json_object_set_new(
            h, "ringSize",
            json_integer(ch->minimum_ring_size > 8388608 ? 8388608 : ch->minimum_ring_size));
    json_object_set_new(o, "consistentHash", h);
    return o;
}

static json_t *pool_json(const struct weir_connection_pool *pool)
{
    json_t *o = json_object(), *tcp = json_object(), *http = json_object();
    const struct weir_tcp_pool *t = pool->tcp;
    const struct weir_http_pool *h = pool->http;
    /* protobuf integers: 0 is indistinguishable from unset, and Istio reads
     * it as "the default" */
    if (t) {
        if (t->max_connections > 0)
            json_object_set_new(tcp, "maxConnections", json_integer(t->max_connections));
        if (t->connect_timeout_ns > 0)
            json_object_set_new(tcp, "connectTimeoutMs",
                                json_integer(tr_ms(t->connect_timeout_ns)));
        if (t->keepalive) {
            json_t *ka = json_object();
            if (t->keepalive->probes > 0)
                json_object_set_new(
                    ka, "probes",
                    json_integer(t->keepalive->probes > 1000 ? 1000 : t->keepalive->probes));
            if (t->keepalive->time_ns > 0)
                json_object_set_new(ka, "timeMs", json_integer(tr_ms(t->keepalive->time_ns)));
            if (t->keepalive->interval_ns > 0)
                json_object_set_new(ka, "intervalMs",
                                    json_integer(tr_ms(t->keepalive->interval_ns)));
            json_object_set_new(tcp, "keepalive", ka);
        }
    }
    if (h) {
        if (h->http1_max_pending_requests > 0)
            json_object_set_new(http, "http1MaxPendingRequests",
                                json_integer(h->http1_max_pending_requests));
        if (h->http2_max_requests > 0)
            json_object_set_new(http, "http2MaxRequests", json_integer(h->http2_max_requests));
        if (h->max_requests_per_connection > 0)
            json_object_set_new(http, "maxRequestsPerConnection",
                                json_integer(h->max_requests_per_connection));
        if (h->max_retries > 0)
            json_object_set_new(http, "maxRetries", json_integer(h->max_retries));
        if (h->idle_timeout_ns != WEIR_UNSET)
            json_object_set_new(http, "idleTimeoutMs", json_integer(tr_ms(h->idle_timeout_ns)));
        if (h->h2_upgrade_policy == WEIR_H2_UPGRADE_UPGRADE)
            json_object_set_new(http, "h2UpgradePolicy", json_string("upgrade"));
        else if (h->h2_upgrade_policy == WEIR_H2_UPGRADE_DO_NOT_UPGRADE)
            json_object_set_new(http, "h2UpgradePolicy", json_string("do_not_upgrade"));
    }
    if (json_object_size(tcp))
        json_object_set(o, "tcp", tcp);
    if (json_object_size(http))
        json_object_set(o, "http", http);
    json_decref(tcp);
    json_decref(http);
    if (!json_object_size(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *od_json(const struct weir_outlier_detection *od)
{
    json_t *o = json_object();
    if (od->consecutive_5xx_errors != WEIR_UNSET) {
        json_object_set_new(o, "consecutive5xx", json_integer(od->consecutive_5xx_errors));
    } else if (od->consecutive_errors != WEIR_UNSET) {
        /* the deprecated field counts gateway errors only, as in Istio */
        json_object_set_new(o, "consecutive5xx", json_integer(0));
        json_object_set_new(o, "consecutiveGatewayErrors", json_integer(od->consecutive_errors));
    }
    if (od->consecutive_gateway_errors != WEIR_UNSET)
        json_object_set_new(o, "consecutiveGatewayErrors",
                            json_integer(od->consecutive_gateway_errors));
    if (od->interval_ns > 0)
        json_object_set_new(o, "intervalMs", json_integer(tr_ms(od->interval_ns)));
    if (od->base_ejection_time_ns > 0)
        json_object_set_new(o, "baseEjectionTimeMs",
                            json_integer(tr_ms(od->base_ejection_time_ns)));
    if (od->max_ejection_percent != WEIR_UNSET)
        json_object_set_new(o, "maxEjectionPercent", json_integer(od->max_ejection_percent));
    if (od->min_health_percent != WEIR_UNSET)
        json_object_set_new(o, "minHealthPercent", json_integer(od->min_health_percent));
    return o;
}

static char *mesh_sni(const struct tr_service *svc, int port, const char *subset)
{
    return tr_printf("outbound_.%d_.%s_.%s", port, subset ? subset : "", svc->host);
}

static json_t *strings_json(const struct weir_strings *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->len; i++)
        json_array_append_new(a, json_string(s->items[i]));
    return a;
}

static json_t *tls_json(const struct tr_service *svc, int port, const char *subset,
                        const struct weir_client_tls *t)
{
    json_t *o;
    char *sni;
    if (!t) {
        if (!svc->auto_mtls)
            return NULL;
        sni = mesh_sni(svc, port, subset);
        o = json_pack("{s:s, s:s}", "mode", "istio_mutual", "sni", sni ? sni : "");
        free(sni);
        return o;
    }
    switch (t->mode) {
    case WEIR_TLS_DISABLE:
        return NULL;
    case WEIR_TLS_ISTIO_MUTUAL:
        o = json_pack("{s:s}", "mode", "istio_mutual");
        sni = t->sni ? tr_strdup(t->sni) : mesh_sni(svc, port, subset);
        json_object_set_new(o, "sni", json_string(sni ? sni : ""));
        free(sni);
        break;
    case WEIR_TLS_SIMPLE:
    case WEIR_TLS_MUTUAL:
        o = json_pack("{s:s}", "mode", t->mode == WEIR_TLS_SIMPLE ? "simple" : "mutual");
        if (t->sni)
            json_object_set_new(o, "sni", json_string(t->sni));
        break;
    default:
        return NULL;
    }
    if (t->subject_alt_names.len)
        json_object_set_new(o, "subjectAltNames", strings_json(&t->subject_alt_names));
    if (t->mode == WEIR_TLS_SIMPLE || t->mode == WEIR_TLS_MUTUAL) {
        if (t->ca_certificates)
            json_object_set_new(o, "caCertificates", json_string(t->ca_certificates));
        if (t->mode == WEIR_TLS_MUTUAL) {
            json_object_set_new(o, "clientCertificate", json_string(t->client_certificate));
            json_object_set_new(o, "privateKey", json_string(t->private_key));
        }
        if (t->insecure_skip_verify == WEIR_TRI_TRUE)
            json_object_set_new(o, "insecureSkipVerify", json_true());
    }
    return o;
}

static json_t *policy_json(struct tr_ctx *ctx, struct tr_service *svc, struct tr_cr *dr,
                           const struct tr_port *port, const struct weir_subset *subset)
{
    struct parts p = {0};
    json_t *o = json_object();
    if (dr) {
        merge(&p, dr->res->u.dr->traffic_policy, port->number);
        if (subset)
            merge(&p, subset->traffic_policy, port->number);
    }
    if (svc->passthrough)
        tr_set(o, "loadBalancer", json_pack("{s:s}", "policy", "passthrough"));
    else if (p.lb)
        tr_set(o, "loadBalancer", lb_json(ctx, dr, p.lb));
    if (p.pool)
        tr_set(o, "connectionPool", pool_json(p.pool));
    if (p.od)
        tr_set(o, "outlierDetection", od_json(p.od));
    tr_set(o, "tls", tls_json(svc, port->number, subset ? subset->name : NULL, p.tls));
    if (!json_object_size(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *cluster_json(struct tr_ctx *ctx, struct tr_service *svc, struct tr_cr *dr,
                            const struct tr_port *port, const struct weir_subset *subset)
{
    json_t *o = json_object(), *eps;
    char *name =
        tr_printf("outbound|%d|%s|%s", port->number, subset ? subset->name : "", svc->host);
    if (!o || !name) {
        json_decref(o);
        free(name);
        return NULL;
    }
    json_object_set_new(o, "name", json_string(name));
    free(name);
    json_object_set_new(o, "service", json_string(svc->host));
    json_object_set_new(o, "port", json_integer(port->number));
    if (subset)
        json_object_set_new(o, "subset", json_string(subset->name));
    json_object_set_new(o, "protocol", json_string(tr_proto_name(port->proto)));
    if (svc->dns)
        json_object_set_new(o, "resolution", json_string("dns"));
    if (!subset) {
        eps = json_incref(port->eps_json);
    } else {
        eps = json_array();
        for (size_t i = 0; i < port->n_eps; i++)
            if (tr_labels_match(&subset->labels, port->eps[i].labels))
                json_array_append(eps, json_array_get(port->eps_json, i));
    }
    json_object_set_new(o, "endpoints", eps);
    tr_set(o, "trafficPolicy", policy_json(ctx, svc, dr, port, subset));
    return o;
}

static struct tr_cluster_set *build_set(struct tr_ctx *ctx, struct tr_service *svc,
                                        struct tr_cr *dr)
{
    size_t per = svc->n_subset_names + 1;
    struct tr_cluster_set *set = calloc(1, sizeof(*set));
    if (!set)
        return NULL;
    set->dr = dr;
    set->frags = calloc(svc->n_ports * per, sizeof(*set->frags));
    if (!set->frags) {
        free(set);
        return NULL;
    }
    set->next = svc->csets;
    svc->csets = set;
    for (size_t p = 0; p < svc->n_ports; p++) {
        for (size_t j = 0; j < per; j++) {
            const struct weir_subset *sub = NULL;
            if (j < svc->n_subset_names) {
                sub = dr ? tr_dr_subset(dr, svc->subset_names[j]) : NULL;
                if (!sub)
                    continue;
            }
            if (tr_frag_set(ctx, &set->frags[p * per + j],
                            cluster_json(ctx, svc, dr, &svc->ports[p], sub)) != 0)
                ctx->oom = true;
        }
    }
    return set;
}

const struct tr_frag *tr_cluster_frag(struct tr_ctx *ctx, struct tr_service *svc, struct tr_cr *dr,
                                      size_t slot)
{
    struct tr_cluster_set *set;
    /* the set used last is at the head: namespaces mostly agree */
    for (set = svc->csets; set; set = set->next)
        if (set->dr == dr)
            break;
    if (!set && !(set = build_set(ctx, svc, dr))) {
        ctx->oom = true;
        return NULL;
    }
    const struct tr_frag *f = &set->frags[slot];
    return f->json ? f : NULL;
}

void tr_cluster_sets_free(struct tr_service *svc)
{
    size_t per = svc->n_subset_names + 1;
    while (svc->csets) {
        struct tr_cluster_set *set = svc->csets;
        svc->csets = set->next;
        for (size_t i = 0; i < svc->n_ports * per; i++)
            tr_frag_clear(&set->frags[i]);
        free(set->frags);
        free(set);
    }
}
