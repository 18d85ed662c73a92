/*
 * The proxy-config contract as data:
 *   every .json under docs/examples and proxy-config/valid must load with
 *   no diagnostic at all;
 *   proxy-config/invalid/<name>.json must be refused with exactly the
 *   diagnostics listed in <name>.expect, one weir_diag_format() line each, in
 *   order, nothing more.
 * Around them: the values the proxy reads from the golden example, defaults,
 * resolved cross references, compiled matchers, and the input bounds.
 */
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/proxy_config.h"
#include "config/proxy_config_internal.h"

#define MAX_FILES   256
#define MIN_INVALID 15

struct file_list {
    char *paths[MAX_FILES];
    int n;
};

static struct file_list examples, valid, invalid;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect(const char *dir, struct file_list *out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) && out->n < MAX_FILES) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) {
            char *p = malloc(strlen(dir) + n + 2);
            sprintf(p, "%s/%s", dir, e->d_name);
            out->paths[out->n++] = p;
        }
    }
    closedir(d);
    qsort(out->paths, (size_t)out->n, sizeof(char *), cmp_str);
}

static void free_list(struct file_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->paths[i]);
}

static char *diags_text(const struct weir_diags *d)
{
    size_t cap = 1, len = 0;
    char *out = calloc(1, 1);
    for (size_t i = 0; i < d->len; i++) {
        char *t = weir_diag_format(&d->items[i]);
        size_t n = strlen(t);
        cap = len + n + 2;
        out = realloc(out, cap);
        memcpy(out + len, t, n);
        out[len + n] = '\n';
        out[len + n + 1] = '\0';
        len += n + 1;
        free(t);
    }
    return out;
}

static struct weir_proxy_config *load_ok(const char *path)
{
    struct weir_diags d;
    struct weir_proxy_config *cfg = NULL;
    weir_diags_init(&d);
    int rc = weir_proxy_config_load_file(path, &cfg, &d);
    char *text = diags_text(&d);
    ck_assert_msg(rc == 0 && d.len == 0, "%s: expected valid, got rc %d:\n%s", path, rc, text);
    ck_assert_ptr_nonnull(cfg);
    free(text);
    weir_diags_free(&d);
    return cfg;
}

static struct weir_proxy_config *load_example(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/examples/%s", WEIR_SOURCE_DIR, name);
    return load_ok(path);
}

/* ---- data-driven ---- */

START_TEST(test_example_valid)
{
    weir_proxy_config_free(load_ok(examples.paths[_i]));
}
END_TEST

START_TEST(test_valid_file)
{
    weir_proxy_config_free(load_ok(valid.paths[_i]));
}
END_TEST

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

START_TEST(test_invalid_file)
{
    const char *path = invalid.paths[_i];
    char expect_path[600];
    struct weir_diags d;
    struct weir_proxy_config *cfg = NULL;

    snprintf(expect_path, sizeof(expect_path), "%.*s.expect", (int)(strlen(path) - 5), path);
    char *want = read_all(expect_path);
    ck_assert_msg(*want, "%s is empty: an invalid document must name its errors", expect_path);

    weir_diags_init(&d);
    int rc = weir_proxy_config_load_file(path, &cfg, &d);
    char *got = diags_text(&d);
    ck_assert_msg(rc == -1, "%s: expected rc -1, got %d", path, rc);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strcmp(want, got) == 0, "%s: diagnostics differ\n--- expected\n%s--- got\n%s",
                  path, want, got);
    for (size_t i = 0; i < d.len; i++) {
        ck_assert_int_eq(d.items[i].severity, WEIR_SEV_ERROR);
        ck_assert_str_eq(d.items[i].source, path);
    }

    /* The same input gives the same diagnostics, byte for byte. */
    struct weir_diags again;
    weir_diags_init(&again);
    ck_assert_int_eq(weir_proxy_config_load_file(path, &cfg, &again), -1);
    char *got2 = diags_text(&again);
    ck_assert_str_eq(got, got2);

    free(got2);
    free(got);
    free(want);
    weir_diags_free(&again);
    weir_diags_free(&d);
}
END_TEST

START_TEST(test_enough_cases)
{
    ck_assert_int_ge(examples.n, 2);
    ck_assert_int_ge(valid.n, 1);
    ck_assert_msg(invalid.n >= MIN_INVALID, "only %d invalid documents, want %d", invalid.n,
                  MIN_INVALID);
}
END_TEST

/* ---- the golden example, read as the proxy would ---- */

static const struct weir_pc_port *service_port(const struct weir_proxy_config *cfg,
                                               const char *host, uint16_t number)
{
    const struct weir_pc_service *s = weir_proxy_config_service(cfg, host);
    ck_assert_msg(s != NULL, "no service %s", host);
    for (size_t i = 0; i < s->n_ports; i++)
        if (s->ports[i].number == number)
            return &s->ports[i];
    ck_abort_msg("service %s has no port %u", host, (unsigned)number);
    return NULL;
}

#define REVIEWS "reviews.default.svc.cluster.local"

START_TEST(test_bookinfo_header_and_proxy)
{
    struct weir_proxy_config *cfg = load_example("bookinfo.json");
    ck_assert_str_eq(cfg->api_version, "proxy.weir.dev/v1");
    ck_assert_str_eq(cfg->namespace_, "default");
    ck_assert_str_eq(cfg->trust_domain, "cluster.local");
    ck_assert_str_eq(cfg->generated_at, "2024-05-01T12:00:00Z");
    ck_assert_int_eq(strlen(cfg->revision), 7 + 64);

    const struct weir_pc_proxy *p = &cfg->proxy;
    ck_assert_int_eq(p->outbound_capture_port, 15001);
    ck_assert_int_eq(p->inbound_capture_port, 15006);
    ck_assert_int_eq(p->admin_port, 15000);
    ck_assert_int_eq(p->health_port, 15021);
    ck_assert_int_eq(p->metrics_port, 15090);
    ck_assert_int_eq(p->uid, 1337);
    ck_assert_int_eq(p->gid, 1337);
    ck_assert_int_eq(p->inbound_passthrough_source.family, AF_INET);
    ck_assert_str_eq(p->inbound_passthrough_source.text, "127.0.0.6");
    ck_assert_int_eq(p->outbound_traffic_policy, WEIR_PC_OUTBOUND_REGISTRY_ONLY);
    ck_assert_int_eq(p->drain_time_ms, 5000);
    ck_assert_int_eq(p->limits.max_header_bytes, 61440);
    ck_assert_int_eq(p->limits.max_retry_body_bytes, 1048576);
    ck_assert_int_eq(p->access_log.mode, WEIR_PC_ACCESS_LOG_FILE);
    ck_assert_int_eq(p->access_log.encoding, WEIR_PC_ACCESS_LOG_JSON);
    ck_assert_str_eq(p->access_log.path, "/var/log/weir/access.log");
    weir_proxy_config_free(cfg);
}
END_TEST

START_TEST(test_bookinfo_services)
{
    struct weir_proxy_config *cfg = load_example("bookinfo.json");
    ck_assert_uint_eq(cfg->n_services, 6);
    ck_assert_uint_eq(cfg->n_clusters, 11);

    const struct weir_pc_service *s = weir_proxy_config_service(cfg, REVIEWS);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->namespace_, "default");
    ck_assert_uint_eq(s->aliases.len, 4);
    ck_assert_str_eq(s->aliases.items[1], "reviews");
    ck_assert_uint_eq(s->addresses.len, 1);
    uint8_t vip[4] = {10, 96, 14, 5};
    ck_assert(weir_pc_cidr_contains(&s->addresses.items[0], AF_INET, vip));

    const struct weir_pc_port *port = service_port(cfg, REVIEWS, 9080);
    ck_assert_int_eq(port->protocol, WEIR_PC_PROTO_HTTP);
    ck_assert_str_eq(port->virtual_service, "default/reviews");
    ck_assert_uint_eq(port->n_http, 5);
    ck_assert_uint_eq(port->n_tcp + port->n_tls, 0);
    weir_proxy_config_free(cfg);
}
END_TEST

START_TEST(test_bookinfo_routes)
{
    struct weir_proxy_config *cfg = load_example("bookinfo.json");
    const struct weir_pc_port *port = service_port(cfg, REVIEWS, 9080);

    /* http[0]: header match, one destination, retries */
    const struct weir_pc_http_route *jason = &port->http[0];
    ck_assert_str_eq(jason->name, "jason");
    ck_assert_uint_eq(jason->n_match, 1);
    ck_assert_uint_eq(jason->match[0].headers.len, 1);
    ck_assert_str_eq(jason->match[0].headers.items[0].name, "end-user");
    ck_assert(weir_pc_match_eval(&jason->match[0].headers.items[0].match, "jason", 5));
    ck_assert(!weir_pc_match_eval(&jason->match[0].headers.items[0].match, "jasonx", 6));
    ck_assert_int_eq(jason->timeout_ms, 3000);
    ck_assert_ptr_nonnull(jason->retries);
    ck_assert_uint_eq(jason->retries->attempts, 3);
    ck_assert_int_eq(jason->retries->per_try_timeout_ms, 1000);
    ck_assert_uint_eq(jason->retries->retry_on, WEIR_PC_RETRY_5XX | WEIR_PC_RETRY_CONNECT_FAILURE |
                                                    WEIR_PC_RETRY_RETRIABLE_STATUS_CODES);
    ck_assert_uint_eq(jason->retries->retriable_status_codes.len, 1);
    ck_assert_uint_eq(jason->retries->retriable_status_codes.items[0], 503);

    /* http[1]: weighted split, resolved to cluster indexes */
    const struct weir_pc_http_route *canary = &port->http[1];
    ck_assert_int_eq(canary->action, WEIR_PC_ACTION_ROUTE);
    ck_assert_uint_eq(canary->n_route, 2);
    ck_assert_uint_eq(canary->route[0].weight, 90);
    ck_assert_uint_eq(canary->route[1].weight, 10);
    const struct weir_pc_cluster *v1 = weir_proxy_config_cluster(cfg, "outbound|9080|v1|" REVIEWS);
    const struct weir_pc_cluster *v3 = weir_proxy_config_cluster(cfg, "outbound|9080|v3|" REVIEWS);
    ck_assert_ptr_nonnull(v1);
    ck_assert_ptr_nonnull(v3);
    ck_assert_uint_eq(canary->route[0].cluster_index, (size_t)(v1 - cfg->clusters));
    ck_assert_ptr_eq(canary->route[0].cluster, v1);
    ck_assert_ptr_eq(canary->route[1].cluster, v3);
    ck_assert_str_eq(cfg->clusters[canary->route[1].cluster_index].subset, "v3");
    ck_assert_uint_eq(canary->route[1].headers.request.set.len, 1);
    ck_assert_str_eq(canary->route[1].headers.request.set.items[0].key, "x-canary");
    ck_assert_int_eq(canary->timeout_ms, 10000);
    ck_assert_ptr_nonnull(canary->fault);
    ck_assert(canary->fault->delay);
    ck_assert_int_eq(canary->fault->delay_fixed_ms, 5000);
    ck_assert_uint_eq(canary->fault->delay_ppm, 5000); /* 0.5% */
    ck_assert(canary->fault->abort);
    ck_assert_int_eq(canary->fault->abort_http_status, 503);
    ck_assert_uint_eq(canary->fault->abort_ppm, 10000);
    ck_assert_uint_eq(canary->n_mirrors, 1);
    ck_assert_ptr_eq(canary->mirrors[0].cluster, v3);
    ck_assert_uint_eq(canary->mirrors[0].ppm, 50000);
    ck_assert_str_eq(canary->rewrite->uri, "/v1/");
    ck_assert_str_eq(canary->rewrite->authority, "reviews-api");

    /* match[0]: ignoreUriCase applies to the uri prefix, the regex is anchored */
    const struct weir_pc_http_match *m = &canary->match[0];
    ck_assert(m->ignore_uri_case);
    ck_assert(weir_pc_match_eval(&m->uri, "/API/reviews", 12));
    ck_assert(!weir_pc_match_eval(&m->uri, "/apx/", 5));
    ck_assert_int_eq(m->method.m.type, WEIR_MATCH_REGEX);
    ck_assert(weir_pc_match_eval(&m->method, "GET", 3));
    ck_assert(!weir_pc_match_eval(&m->method, "GETS", 4));
    ck_assert(!weir_pc_match_eval(&m->method, "get", 3));
    ck_assert_uint_eq(m->query_params.len, 1);
    ck_assert_str_eq(m->query_params.items[0].name, "debug");
    ck_assert_uint_eq(m->without_headers.len, 1);
    ck_assert_int_eq(m->port, 9080);
    ck_assert_str_eq(weir_string_map_get(&m->source_labels, "app"), "productpage");
    ck_assert_str_eq(m->source_namespace, "default");

    /* http[2]: redirect; http[3]: direct response */
    ck_assert_int_eq(port->http[2].action, WEIR_PC_ACTION_REDIRECT);
    ck_assert_str_eq(port->http[2].redirect->uri, "/reviews");
    ck_assert_str_eq(port->http[2].redirect->scheme, "https");
    ck_assert_int_eq(port->http[2].redirect->code, 308);
    ck_assert_int_eq(port->http[3].action, WEIR_PC_ACTION_DIRECT_RESPONSE);
    ck_assert_int_eq(port->http[3].direct_response->status, 503);
    ck_assert_str_eq(port->http[3].direct_response->body, "{\"error\":\"maintenance\"}");
    const struct weir_pc_match *admin = &port->http[3].match[0].uri;
    ck_assert(weir_pc_match_eval(admin, "/admin", 6));
    ck_assert(weir_pc_match_eval(admin, "/admin/users", 12));
    ck_assert(!weir_pc_match_eval(admin, "/administrator", 14));

    /* http[4]: the catch-all with rewrite regex, CORS and header operations */
    const struct weir_pc_http_route *def = &port->http[4];
    ck_assert_uint_eq(def->n_match, 0);
    ck_assert_int_eq(def->timeout_ms, 0);
    ck_assert_ptr_null(def->retries);
    ck_assert_ptr_nonnull(def->rewrite->uri_regex.regex);
    ck_assert_str_eq(def->rewrite->uri_regex_rewrite, "/reviews?id=\\1");
    ck_assert_uint_eq(def->cors->allow_origins.len, 2);
    ck_assert(weir_pc_match_eval(&def->cors->allow_origins.items[1], "https://a.example.org", 21));
    ck_assert_int_eq(def->cors->max_age_ms, 86400000);
    ck_assert(def->cors->allow_credentials);
    ck_assert_uint_eq(def->headers.request.remove.len, 1);
    ck_assert_str_eq(def->headers.response.remove.items[0], "server");

    /* a TCP route with a subnet match, and a TLS route by SNI */
    const struct weir_pc_port *mongo =
        service_port(cfg, "mongodb.default.svc.cluster.local", 27017);
    ck_assert_uint_eq(mongo->n_tcp, 2);
    ck_assert_uint_eq(mongo->tcp[0].match[0].destination_subnets.len, 1);
    ck_assert_int_eq(mongo->tcp[0].match[0].destination_subnets.items[0].prefix_len, 32);
    ck_assert_str_eq(mongo->tcp[0].route[0].cluster->subset, "v2");
    ck_assert_uint_eq(mongo->tcp[1].n_match, 0);
    const struct weir_pc_port *api = service_port(cfg, "api.example.com", 443);
    ck_assert_uint_eq(api->n_tls, 1);
    ck_assert_str_eq(api->tls[0].match[0].sni_hosts.items[0], "api.example.com");
    ck_assert_int_eq(api->tls[0].route[0].cluster->load_balancer.policy, WEIR_PC_LB_PASSTHROUGH);
    weir_proxy_config_free(cfg);
}
END_TEST

START_TEST(test_bookinfo_clusters)
{
    struct weir_proxy_config *cfg = load_example("bookinfo.json");
    for (size_t i = 1; i < cfg->n_clusters; i++)
        ck_assert_int_lt(strcmp(cfg->clusters[i - 1].name, cfg->clusters[i].name), 0);

    const struct weir_pc_cluster *v2 = weir_proxy_config_cluster(cfg, "outbound|9080|v2|" REVIEWS);
    ck_assert_ptr_nonnull(v2);
    ck_assert_str_eq(v2->service->host, REVIEWS);
    ck_assert_ptr_eq(&cfg->services[v2->service_index], v2->service);
    ck_assert_int_eq(v2->port, 9080);
    ck_assert_int_eq(v2->protocol, WEIR_PC_PROTO_HTTP);
    ck_assert_uint_eq(v2->n_endpoints, 2);
    ck_assert_str_eq(v2->endpoints[0].address, "10.244.2.12");
    ck_assert_uint_eq(v2->endpoints[0].weight, 2);
    ck_assert_int_eq(v2->endpoints[0].health, WEIR_PC_HEALTHY);
    ck_assert_int_eq(v2->endpoints[1].health, WEIR_PC_DRAINING);
    ck_assert_str_eq(v2->endpoints[0].identity,
                     "spiffe://cluster.local/ns/default/sa/bookinfo-reviews");
    ck_assert_str_eq(weir_string_map_get(&v2->endpoints[0].labels, "version"), "v2");

    ck_assert_int_eq(v2->load_balancer.policy, WEIR_PC_LB_LEAST_REQUEST);
    ck_assert_int_eq(v2->connection_pool.max_connections, 100);
    ck_assert_int_eq(v2->connection_pool.connect_timeout_ms, 2000);
    ck_assert(v2->connection_pool.keepalive);
    ck_assert_int_eq(v2->connection_pool.keepalive_time_ms, 60000);
    ck_assert_int_eq(v2->connection_pool.http2_max_requests, 200);
    ck_assert_int_eq(v2->connection_pool.idle_timeout_ms, 30000);
    ck_assert_ptr_nonnull(v2->outlier_detection);
    ck_assert_int_eq(v2->outlier_detection->consecutive_gateway_errors, 3);
    ck_assert_int_eq(v2->outlier_detection->base_ejection_time_ms, 30000);
    ck_assert_uint_eq(v2->outlier_detection->min_health_percent, 25);
    ck_assert_int_eq(v2->tls.mode, WEIR_PC_TLS_ISTIO_MUTUAL);
    ck_assert_str_eq(v2->tls.sni, "outbound_.9080_._." REVIEWS);

    const struct weir_pc_cluster *v3 = weir_proxy_config_cluster(cfg, "outbound|9080|v3|" REVIEWS);
    ck_assert_int_eq(v3->load_balancer.policy, WEIR_PC_LB_CONSISTENT_HASH);
    ck_assert_int_eq(v3->load_balancer.hash_on, WEIR_PC_HASH_COOKIE);
    ck_assert_str_eq(v3->load_balancer.hash_key, "affinity");
    ck_assert_int_eq(v3->load_balancer.cookie_ttl_ms, 3600000);
    ck_assert_uint_eq(v3->load_balancer.ring_size, 2048);

    const struct weir_pc_cluster *ext =
        weir_proxy_config_cluster(cfg, "outbound|80||api.example.com");
    ck_assert_int_eq(ext->resolution, WEIR_PC_RESOLUTION_DNS);
    ck_assert_int_eq(ext->endpoints[0].ip.family, 0);
    ck_assert_int_eq(ext->tls.mode, WEIR_PC_TLS_SIMPLE);
    ck_assert_str_eq(ext->tls.ca_certificates, "/etc/ssl/certs/ca-certificates.crt");
    ck_assert_str_eq(ext->tls.subject_alt_names.items[0], "api.example.com");
    /* untouched fields of a partly given pool keep their defaults */
    ck_assert_int_eq(ext->connection_pool.connect_timeout_ms, 5000);
    ck_assert_int_eq(ext->connection_pool.max_connections, 4294967295LL);

    ck_assert_ptr_null(weir_proxy_config_cluster(cfg, "outbound|9080|v9|" REVIEWS));
    weir_proxy_config_free(cfg);
}
END_TEST

START_TEST(test_bookinfo_inbound)
{
    struct weir_proxy_config *cfg = load_example("bookinfo.json");
    const struct weir_pc_inbound *in = &cfg->inbound;
    ck_assert_uint_eq(in->n_services, 5);
    ck_assert_str_eq(in->services[0].name, "details");

    ck_assert_uint_eq(in->n_peer_authentication, 2);
    ck_assert_ptr_nonnull(in->peer_authentication[0].selector);
    ck_assert_uint_eq(in->peer_authentication[0].n_ports, 2);
    ck_assert_int_eq(in->peer_authentication[0].ports[1].port, 15020);
    ck_assert_int_eq(in->peer_authentication[0].ports[1].mode, WEIR_PC_MTLS_DISABLE);
    ck_assert_ptr_null(in->peer_authentication[1].selector);
    ck_assert_int_eq(in->peer_authentication[1].mode, WEIR_PC_MTLS_STRICT);

    ck_assert_uint_eq(in->n_authorization, 3);
    const struct weir_pc_authorization *deny = &in->authorization[0];
    ck_assert_str_eq(deny->name, "default/deny-admin");
    ck_assert_int_eq(deny->action, WEIR_PC_AUTHZ_DENY);
    ck_assert_ptr_null(deny->selector);
    ck_assert_uint_eq(deny->n_rules, 2);
    ck_assert_str_eq(deny->rules[0].to[0].not_methods.items[0], "OPTIONS");

    const struct weir_pc_authorization *viewer = &in->authorization[2];
    ck_assert_str_eq(viewer->name, "default/ratings-viewer");
    ck_assert_int_eq(viewer->action, WEIR_PC_AUTHZ_ALLOW);
    ck_assert_str_eq(weir_string_map_get(&viewer->selector->match_labels, "app"), "ratings");
    const struct weir_pc_authz_rule *rule = &viewer->rules[0];
    ck_assert_uint_eq(rule->n_from, 1);
    ck_assert_uint_eq(rule->from[0].principals.len, 2);
    ck_assert(weir_pc_match_eval(&rule->from[0].principals.items[1],
                                 "cluster.local/ns/default/sa/bookinfo-x", 38));
    ck_assert_uint_eq(rule->from[0].ip_blocks.items[0].prefix_len, 16);
    uint8_t pod[4] = {10, 244, 3, 1}, other[4] = {10, 245, 0, 1};
    ck_assert(weir_pc_cidr_contains(&rule->from[0].ip_blocks.items[0], AF_INET, pod));
    ck_assert(!weir_pc_cidr_contains(&rule->from[0].ip_blocks.items[0], AF_INET, other));
    ck_assert_uint_eq(rule->to[0].methods.len, 2);
    ck_assert_uint_eq(rule->to[0].ports.items[0], 9080);
    ck_assert_uint_eq(rule->n_when, 4);
    ck_assert_int_eq(rule->when[0].key, WEIR_PC_COND_REQUEST_HEADER);
    ck_assert_str_eq(rule->when[0].header, "x-tenant");
    ck_assert_int_eq(rule->when[1].key, WEIR_PC_COND_SOURCE_IP);
    ck_assert_uint_eq(rule->when[1].not_cidrs.len, 1);
    ck_assert_int_eq(rule->when[2].key, WEIR_PC_COND_DESTINATION_PORT);
    ck_assert_uint_eq(rule->when[2].ports.items[0], 9080);
    ck_assert_int_eq(rule->when[3].key, WEIR_PC_COND_REQUEST_CLAIM);
    ck_assert_uint_eq(rule->when[3].claim.len, 2);
    ck_assert_str_eq(rule->when[3].claim.items[1], "roles");

    ck_assert_uint_eq(in->n_request_authentication, 1);
    const struct weir_pc_request_authentication *ra = &in->request_authentication[0];
    ck_assert_uint_eq(ra->n_jwt_rules, 2);
    ck_assert_str_eq(ra->jwt_rules[0].issuer, "https://auth.example.com/");
    ck_assert_str_eq(ra->jwt_rules[0].from_headers[0].prefix, "Bearer ");
    ck_assert_ptr_null(ra->jwt_rules[0].from_headers[1].prefix);
    ck_assert_str_eq(ra->jwt_rules[0].output_claim_to_headers[0].claim, "sub");
    ck_assert(ra->jwt_rules[0].forward_original_token);
    ck_assert_ptr_null(ra->jwt_rules[1].jwks_uri);
    ck_assert_uint_eq(ra->jwt_rules[1].n_from_headers, 1); /* Istio's default locations */
    ck_assert_str_eq(ra->jwt_rules[1].from_headers[0].name, "authorization");
    ck_assert_str_eq(ra->jwt_rules[1].from_params.items[0], "access_token");
    ck_assert_ptr_nonnull(strstr(ra->jwt_rules[1].jwks, "\"keys\""));

    ck_assert_uint_eq(cfg->n_rate_limits, 3);
    const struct weir_pc_rate_limit *rl = &cfg->rate_limits[1];
    ck_assert_str_eq(rl->name, "default/productpage-per-user");
    ck_assert_int_eq(rl->direction, WEIR_PC_INBOUND);
    ck_assert_int_eq(rl->descriptors[0].kind, WEIR_PC_DESC_HEADER);
    ck_assert_str_eq(rl->descriptors[0].header, "x-user");
    ck_assert_int_eq(rl->max_tokens, 100);
    ck_assert_int_eq(rl->tokens_per_fill, 10);
    ck_assert_int_eq(rl->fill_interval_ms, 1000);
    ck_assert_int_eq(rl->max_buckets, 50000);
    ck_assert_int_eq(cfg->rate_limits[0].status_code, 503);
    ck_assert_ptr_null(cfg->rate_limits[0].match);
    ck_assert_str_eq(cfg->rate_limits[2].match->route, "canary-api");
    weir_proxy_config_free(cfg);
}
END_TEST

START_TEST(test_minimal_defaults)
{
    struct weir_proxy_config *cfg = load_example("minimal.json");
    ck_assert_ptr_null(cfg->generated_at);
    ck_assert_int_eq(cfg->proxy.outbound_capture_port, 15001);
    ck_assert_int_eq(cfg->proxy.inbound_capture_port, 15006);
    ck_assert_int_eq(cfg->proxy.metrics_port, 15090);
    ck_assert_int_eq(cfg->proxy.uid, 1337);
    ck_assert_str_eq(cfg->proxy.inbound_passthrough_source.text, "127.0.0.6");
    ck_assert_int_eq(cfg->proxy.outbound_traffic_policy, WEIR_PC_OUTBOUND_ALLOW_ANY);
    ck_assert_int_eq(cfg->proxy.limits.header_timeout_ms, 10000);
    ck_assert_int_eq(cfg->proxy.access_log.mode, WEIR_PC_ACCESS_LOG_OFF);
    ck_assert_ptr_null(cfg->proxy.access_log.path);

    ck_assert_uint_eq(cfg->n_clusters, 1);
    const struct weir_pc_cluster *c = &cfg->clusters[0];
    ck_assert_ptr_null(c->subset);
    ck_assert_int_eq(c->resolution, WEIR_PC_RESOLUTION_STATIC);
    ck_assert_int_eq(c->load_balancer.policy, WEIR_PC_LB_ROUND_ROBIN);
    ck_assert_int_eq(c->connection_pool.connect_timeout_ms, 10000);
    ck_assert_int_eq(c->connection_pool.idle_timeout_ms, 3600000);
    ck_assert_int_eq(c->connection_pool.h2_upgrade_policy, WEIR_PC_H2_DO_NOT_UPGRADE);
    ck_assert_ptr_null(c->outlier_detection);
    ck_assert_int_eq(c->endpoints[0].weight, 1);
    ck_assert_int_eq(c->endpoints[0].health, WEIR_PC_HEALTHY);

    const struct weir_pc_port *p = &cfg->services[0].ports[0];
    ck_assert_int_eq(p->target_port, 8080);
    ck_assert_ptr_null(p->virtual_service);
    ck_assert_uint_eq(p->n_http, 1);
    ck_assert_ptr_eq(p->http[0].route[0].cluster, c);
    ck_assert_uint_eq(cfg->inbound.n_services, 1);
    ck_assert_int_eq(cfg->inbound.services[0].ports[0].target_port, 8080);
    weir_proxy_config_free(cfg);
}
END_TEST

/* ---- input bounds and malformed documents ---- */

static char *load_error(const char *json, size_t len)
{
    struct weir_diags d;
    struct weir_proxy_config *cfg = (void *)1;
    weir_diags_init(&d);
    ck_assert_int_eq(weir_proxy_config_load(json, len, "inline.json", &cfg, &d), -1);
    ck_assert_ptr_null(cfg);
    char *text = diags_text(&d);
    weir_diags_free(&d);
    return text;
}

START_TEST(test_malformed_json)
{
    static const struct {
        const char *json;
        const char *want;
    } cases[] = {
        {"", "ProxyConfig: invalid JSON at line 1, column 0: '[' or '{' expected near end of "
             "file\n"},
        {"{\"apiVersion\": \"proxy.weir.dev/v1\",\n  \"kind\": }",
         "ProxyConfig: invalid JSON at line 2, column 11: unexpected token near '}'\n"},
        {"{} trailing", "ProxyConfig: invalid JSON at line 1, column 11: end of file expected "
                        "near 'trailing'\n"},
        {"\"just a string\"", "ProxyConfig: invalid JSON at line 1, column 15: '[' or '{' expected "
                              "near '\"just a string\"'\n"},
        {"{\"kind\": \"a\\u0000b\"}",
         "ProxyConfig: invalid JSON at line 1, column 19: \\u0000 is not allowed without "
         "JSON_ALLOW_NUL near '\"a\\u0000b\"'\n"},
        {"{\"apiVersion\": 1, \"kind\": \"ProxyConfig\"}",
         "ProxyConfig: apiVersion: must be a string, got integer\n"},
        {"{\"apiVersion\": \"proxy.weir.dev/v1\", \"kind\": \"Pod\"}",
         "ProxyConfig: kind: must be \"ProxyConfig\", got \"Pod\"\n"},
        {"{}", "ProxyConfig: apiVersion: required field is missing\n"
               "ProxyConfig: kind: required field is missing\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = load_error(cases[i].json, strlen(cases[i].json));
        ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu: got %s", i, got);
        free(got);
    }
    /* the loader reads exactly len bytes: a NUL inside ends nothing early */
    const char embedded[] = "{}\0{}";
    char *got = load_error(embedded, sizeof(embedded) - 1);
    ck_assert_ptr_nonnull(strstr(got, "invalid JSON"));
    free(got);
}
END_TEST

START_TEST(test_wrong_top_level_types)
{
    const char *doc = "{\"apiVersion\": \"proxy.weir.dev/v1\", \"kind\": \"ProxyConfig\","
                      " \"metadata\": {\"namespace\": \"Bad_NS\", \"revision\": \"md5:00\","
                      " \"trustDomain\": \"Cluster.Local\", \"generatedAt\": \"yesterday\"},"
                      " \"proxy\": [], \"services\": {}, \"clusters\": null, \"rateLimits\": 7}";
    char *got = load_error(doc, strlen(doc));
    ck_assert_str_eq(
        got, "ProxyConfig: metadata.namespace: must be a valid namespace name (DNS-1123 label)\n"
             "ProxyConfig: metadata.revision: must be \"sha256:\" followed by 64 lower-case hex "
             "digits\n"
             "ProxyConfig: metadata.trustDomain: trust domain must consist of lower-case "
             "letters, digits, '.', '-' and '_'\n"
             "ProxyConfig: metadata.generatedAt: must be an RFC 3339 timestamp such as "
             "\"2024-05-01T12:00:00Z\"\n"
             "ProxyConfig: proxy: must be an object, got array\n"
             "ProxyConfig: services: must be an array, got object\n"
             "ProxyConfig: clusters: required field is missing\n"
             "ProxyConfig: rateLimits: must be an array, got integer\n");
    free(got);
}
END_TEST

START_TEST(test_oversized_input)
{
    size_t len = WEIR_PROXY_CONFIG_MAX_BYTES + 1;
    char *big = calloc(1, len); /* untouched pages: cheap */
    char want[200];
    snprintf(want, sizeof(want),
             "ProxyConfig: document is %zu bytes, more than the limit of %zu bytes\n", len,
             WEIR_PROXY_CONFIG_MAX_BYTES);
    char *got = load_error(big, len);
    ck_assert_str_eq(got, want);
    free(got);
    free(big);

    /* the file loader refuses before reading: a sparse file of that size */
    char path[] = "/tmp/weir-pc-big-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
    close(fd);
    struct weir_diags d;
    struct weir_proxy_config *cfg;
    weir_diags_init(&d);
    ck_assert_int_eq(weir_proxy_config_load_file(path, &cfg, &d), -1);
    unlink(path);
    got = diags_text(&d);
    ck_assert_str_eq(got, want);
    ck_assert_str_eq(d.items[0].source, path);
    free(got);
    weir_diags_free(&d);
}
END_TEST

START_TEST(test_missing_file)
{
    struct weir_diags d;
    struct weir_proxy_config *cfg;
    weir_diags_init(&d);
    ck_assert_int_eq(weir_proxy_config_load_file("/nonexistent/weir.json", &cfg, &d), -1);
    char *got = diags_text(&d);
    ck_assert_str_eq(got, "ProxyConfig: cannot open /nonexistent/weir.json: No such file or "
                          "directory\n");
    free(got);
    weir_diags_free(&d);
}
END_TEST

/* ---- determinism: key order in objects carries no meaning ---- */

static void fingerprint(const struct weir_proxy_config *cfg, FILE *f)
{
    fprintf(f, "%s %s %zu %zu\n", cfg->namespace_, cfg->revision, cfg->n_services, cfg->n_clusters);
    for (size_t i = 0; i < cfg->n_services; i++) {
        const struct weir_pc_service *s = &cfg->services[i];
        for (size_t j = 0; j < s->n_ports; j++) {
            const struct weir_pc_port *p = &s->ports[j];
            fprintf(f, "%s:%u %s\n", s->host, (unsigned)p->number,
                    weir_pc_protocol_name(p->protocol));
            for (size_t k = 0; k < p->n_http; k++)
                for (size_t r = 0; r < p->http[k].n_route; r++)
                    fprintf(f, "  http[%zu] -> %zu w%u t%lld\n", k,
                            p->http[k].route[r].cluster_index, p->http[k].route[r].weight,
                            (long long)p->http[k].timeout_ms);
            for (size_t k = 0; k < p->n_tcp; k++)
                fprintf(f, "  tcp[%zu] -> %zu\n", k, p->tcp[k].route[0].cluster_index);
        }
    }
    for (size_t i = 0; i < cfg->n_clusters; i++)
        fprintf(f, "%s svc%zu eps%zu lb%d tls%d\n", cfg->clusters[i].name,
                cfg->clusters[i].service_index, cfg->clusters[i].n_endpoints,
                cfg->clusters[i].load_balancer.policy, cfg->clusters[i].tls.mode);
    fprintf(f, "authz %zu ratelimits %zu\n", cfg->inbound.n_authorization, cfg->n_rate_limits);
}

static char *fingerprint_of(const char *json, size_t len)
{
    struct weir_diags d;
    struct weir_proxy_config *cfg;
    char *buf = NULL;
    size_t n = 0;
    weir_diags_init(&d);
    ck_assert_int_eq(weir_proxy_config_load(json, len, NULL, &cfg, &d), 0);
    FILE *f = open_memstream(&buf, &n);
    fingerprint(cfg, f);
    fclose(f);
    weir_proxy_config_free(cfg);
    weir_diags_free(&d);
    return buf;
}

START_TEST(test_key_order_irrelevant)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/examples/bookinfo.json", WEIR_SOURCE_DIR);
    char *text = read_all(path);
    json_t *doc = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    char *sorted = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
    char *a = fingerprint_of(text, strlen(text));
    char *b = fingerprint_of(sorted, strlen(sorted));
    ck_assert_str_eq(a, b);
    char *c = fingerprint_of(text, strlen(text));
    ck_assert_str_eq(a, c);
    free(a);
    free(b);
    free(c);
    free(sorted);
    free(text);
    json_decref(doc);
}
END_TEST

/* ---- every allocation of the loader's arena fails once ---- */

static void torture(const char *name, unsigned long step)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/examples/%s", WEIR_SOURCE_DIR, name);
    char *text = read_all(path);
    size_t len = strlen(text);
    unsigned long n;
    for (n = 1;; n += step) {
        struct weir_diags d;
        struct weir_proxy_config *cfg = NULL;
        weir_diags_init(&d);
        pc_test_fail_alloc_after(n);
        int rc = weir_proxy_config_load(text, len, name, &cfg, &d);
        pc_test_fail_alloc_after(0);
        if (rc == 0) {
            /* n is past the last allocation: the document loaded whole */
            ck_assert_uint_eq(d.len, 0);
            weir_proxy_config_free(cfg);
            weir_diags_free(&d);
            break;
        }
        ck_assert_ptr_null(cfg);
        ck_assert_uint_ge(d.len, 1);
        ck_assert_str_eq(d.items[d.len - 1].message, "out of memory");
        weir_diags_free(&d);
    }
    ck_assert_uint_gt(n, 10);
    free(text);
}

START_TEST(test_allocation_failures)
{
    torture("minimal.json", 1);
    torture("bookinfo.json", 7);
}
END_TEST

int main(void)
{
    collect(WEIR_SOURCE_DIR "/docs/examples", &examples);
    collect(WEIR_TEST_DATA "/proxy-config/valid", &valid);
    collect(WEIR_TEST_DATA "/proxy-config/invalid", &invalid);

    Suite *s = suite_create("proxy_config");
    TCase *files = tcase_create("files");
    tcase_add_test(files, test_enough_cases);
    tcase_add_loop_test(files, test_example_valid, 0, examples.n);
    tcase_add_loop_test(files, test_valid_file, 0, valid.n);
    tcase_add_loop_test(files, test_invalid_file, 0, invalid.n);
    suite_add_tcase(s, files);

    TCase *values = tcase_create("values");
    tcase_add_test(values, test_bookinfo_header_and_proxy);
    tcase_add_test(values, test_bookinfo_services);
    tcase_add_test(values, test_bookinfo_routes);
    tcase_add_test(values, test_bookinfo_clusters);
    tcase_add_test(values, test_bookinfo_inbound);
    tcase_add_test(values, test_minimal_defaults);
    suite_add_tcase(s, values);

    TCase *bounds = tcase_create("bounds");
    tcase_add_test(bounds, test_malformed_json);
    tcase_add_test(bounds, test_wrong_top_level_types);
    tcase_add_test(bounds, test_oversized_input);
    tcase_add_test(bounds, test_missing_file);
    tcase_add_test(bounds, test_key_order_irrelevant);
    tcase_add_test(bounds, test_allocation_failures);
    suite_add_tcase(s, bounds);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free_list(&examples);
    free_list(&valid);
    free_list(&invalid);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
