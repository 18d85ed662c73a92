/*
 * VirtualService (networking.istio.io): how requests and connections for a
 * set of hosts are routed. HTTP routes are in route_http.h; this header holds
 * the object itself and its TCP and TLS (SNI) routes.
 *
 * Semantics kept from Istio that the translation relies on:
 *   - routes are ordered, the first whose match succeeds wins;
 *   - without gateways a VirtualService applies to the mesh (every sidecar);
 *     with gateways it applies to the mesh only if "mesh" is listed. Weir has
 *     no gateways yet: other entries are reported as unsupported;
 *   - a VirtualService without hosts is a delegate, reached only through
 *     another VirtualService's http[].delegate; Weir does not implement
 *     delegation yet and reports both as unsupported;
 *   - TLS routes match on SNI, which must fall within the hosts.
 * Conventions for optional values are in route_common.h.
 */
#ifndef WEIR_MODEL_VIRTUAL_SERVICE_H
#define WEIR_MODEL_VIRTUAL_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/mesh.h"
#include "model/route_common.h"
#include "model/route_http.h"

/* L4MatchAttributes (tcp) and TLSMatchAttributes (tls). */
struct weir_l4_match {
    struct weir_strings sni_hosts;           /* tls only; never empty there */
    struct weir_strings destination_subnets; /* IPs or CIDR blocks */
    int64_t port;                            /* 0: any port */
    struct weir_string_map source_labels;
    struct weir_strings gateways; /* unsupported by Weir yet */
    char *source_namespace;
};

/* RouteDestination: an L4 weighted destination. */
struct weir_l4_route_destination {
    struct weir_destination destination;
    int64_t weight; /* 0..100; always 100 for a lone destination */
};

/* TCPRoute or TLSRoute. */
struct weir_l4_route {
    struct weir_l4_match *match; /* tcp: may be empty (every connection) */
    size_t n_match;
    struct weir_l4_route_destination *route; /* never empty in a valid object */
    size_t n_route;
};

/* The VirtualService spec. */
struct weir_virtual_service {
    struct weir_strings hosts; /* empty only for a delegate */
    struct weir_strings gateways;
    bool applies_to_mesh; /* gateways empty or listing "mesh" */
    bool is_delegate;     /* no hosts */
    struct weir_strings export_to;
    struct weir_http_route *http;
    size_t n_http;
    struct weir_l4_route *tls;
    size_t n_tls;
    struct weir_l4_route *tcp;
    size_t n_tcp;
};

#endif
