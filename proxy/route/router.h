/*
 * Route selection, a pure function of the config snapshot and the request:
 *
 *   original destination address:port, else authority (host and port)
 *     -> service -> service port -> first HTTP route whose match list matches
 *     -> weighted destination -> cluster
 *
 * The index is built once per snapshot (name and address lookups); matching runs
 * per request and allocates nothing. Nothing here does I/O, so the router is unit
 * tested on its own (proxy/tests/test_router.c).
 *
 * Names: a service is found by its host, its aliases, and for Kubernetes hosts of
 * the document's namespace ("a.<ns>.svc.<domain>") the short forms "a", "a.<ns>",
 * "a.<ns>.svc", unless an alias of another service claims them. "*.suffix" hosts
 * match by suffix, the longest suffix wins; "*" matches any name last.
 */
#ifndef WP_ROUTE_ROUTER_H
#define WP_ROUTE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/proxy_config.h"
#include "core/strmap.h"
#include "http/message.h"

struct wp_route_wild {
    const char *suffix; /* ".example.com" for "*.example.com" */
    size_t len;
    size_t service;
};

struct wp_route_addr {
    const struct weir_pc_cidr *cidr;
    uint16_t port;
    size_t service;
};

struct wp_route_index {
    const struct weir_proxy_config *cfg;
    struct wp_strmap names; /* lower-case name -> (service index + 1) */
    struct wp_route_wild *wild;
    size_t n_wild;
    size_t star; /* service index + 1 of host "*", 0: none */
    struct wp_route_addr *addrs;
    size_t n_addrs;
};

/* 0, or -1 when memory ran out. */
int wp_route_index_build(struct wp_route_index *ix, const struct weir_proxy_config *cfg);
void wp_route_index_free(struct wp_route_index *ix);

/* The service whose addresses contain ip (4 or 16 bytes of family) and which has a
 * port numbered `port`; *sp receives that port. NULL when none. */
const struct weir_pc_service *wp_route_service_by_addr(const struct wp_route_index *ix, int family,
                                                       const uint8_t *ip, uint16_t port,
                                                       const struct weir_pc_port **sp);
/* The service named by host (no port; any case). NULL when none. */
const struct weir_pc_service *wp_route_service_by_host(const struct wp_route_index *ix,
                                                       const char *host, size_t len);
const struct weir_pc_port *wp_route_service_port(const struct weir_pc_service *svc, uint16_t port);

/* Splits "host", "host:port", "[v6]", "[v6]:port". *port is -1 when absent or
 * malformed. host excludes the brackets of an IPv6 literal. */
void wp_split_authority(const char *auth, size_t len, const char **host, size_t *host_len,
                        int *port);

/* The parts of a request that matching reads. */
struct wp_route_request {
    const char *method;
    const char *path; /* as sent, with query */
    const char *authority;
    const char *scheme;
    const struct wp_headers *headers;
    uint16_t port; /* the service port */
};

/* The workload this proxy serves: sourceLabels and sourceNamespace compare with it. */
struct wp_route_source {
    const struct weir_string_map *labels;
    const char *ns;
};

bool wp_route_http_match(const struct weir_pc_http_match *m, const struct wp_route_request *rq,
                         const struct wp_route_source *src);
/* Index into port->http of the first matching route, -1 for none. *match gets the
 * index of the match entry that matched (-1 when the route has no match list). */
int wp_route_select_http(const struct weir_pc_port *port, const struct wp_route_request *rq,
                         const struct wp_route_source *src, int *match);
/* Weighted choice: r is uniform in [0, 100). Index into d, -1 if every weight is 0. */
int wp_route_pick_destination(const struct weir_pc_destination *d, size_t n, uint32_t r);
/* First TCP/TLS route matching the original destination and port; -1 for none. */
int wp_route_select_l4(const struct weir_pc_l4_route *routes, size_t n, int family,
                       const uint8_t *dst_ip, uint16_t port, const struct wp_route_source *src);
/* The same for TLS routes, whose sniHosts must match sni (exact, "*", or
 * "*.suffix"); sni NULL: no server name was sent, only routes without sniHosts match. */
int wp_route_select_tls(const struct weir_pc_l4_route *routes, size_t n, const char *sni,
                        int family, const uint8_t *dst_ip, uint16_t port,
                        const struct wp_route_source *src);

/* Query parameter lookup in a path: the first "name=value"; the value is percent-
 * decoded into buf (bounded by cap). Returns the decoded length or -1 if absent. */
ssize_t wp_query_param(const char *path, const char *name, char *buf, size_t cap);

#endif
