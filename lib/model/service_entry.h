/*
 * ServiceEntry (networking.istio.io): adds a service to the mesh's registry,
 * usually one outside the cluster (an external API, a database on VMs), with
 * its ports, how its endpoints are found and where it lives.
 *
 * Semantics kept from Istio that the translation relies on:
 *   - resolution NONE forwards to the original destination address; STATIC
 *     uses the listed endpoint IPs; DNS resolves every endpoint (or the hosts
 *     when there are none) and balances over all answers; DNS_ROUND_ROBIN uses
 *     the first answer of one name per connection;
 *   - without addresses, traffic for a TCP port is recognised by the port
 *     number alone;
 *   - endpoint ports map service port names to the endpoint's own ports.
 */
#ifndef WEIR_MODEL_SERVICE_ENTRY_H
#define WEIR_MODEL_SERVICE_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/mesh.h"
#include "model/route_common.h"

enum weir_se_location {
    WEIR_SE_MESH_EXTERNAL, /* the default: no mTLS, counted as external */
    WEIR_SE_MESH_INTERNAL,
};

enum weir_se_resolution {
    WEIR_SE_RESOLUTION_NONE, /* the default */
    WEIR_SE_RESOLUTION_STATIC,
    WEIR_SE_RESOLUTION_DNS,
    WEIR_SE_RESOLUTION_DNS_ROUND_ROBIN,
};

/* Istio's protocol names, matched case-insensitively. The ones after TLS are
 * valid Istio that Weir does not implement yet. */
enum weir_port_protocol {
    WEIR_PROTO_UNSET, /* detected from the traffic */
    WEIR_PROTO_HTTP,
    WEIR_PROTO_HTTPS,
    WEIR_PROTO_GRPC,
    WEIR_PROTO_HTTP2,
    WEIR_PROTO_MONGO,
    WEIR_PROTO_TCP,
    WEIR_PROTO_TLS,
    WEIR_PROTO_GRPC_WEB,
    WEIR_PROTO_HTTP_PROXY,
    WEIR_PROTO_REDIS,
    WEIR_PROTO_MYSQL,
    WEIR_PROTO_UDP,
};

/* ServicePort. */
struct weir_se_port {
    int64_t number;
    enum weir_port_protocol protocol;
    char *name;          /* DNS-1123 label, unique in the entry */
    int64_t target_port; /* 0: same as number (or the endpoint's ports entry) */
};

/* WorkloadEntry.ports: service port name -> this endpoint's port. */
struct weir_endpoint_port {
    char *name;
    int64_t number;
};

/* WorkloadEntry, as an inline endpoint of a ServiceEntry. */
struct weir_workload_entry {
    char *address; /* IP, host name (DNS) or unix:///path (STATIC); NULL with network */
    struct weir_endpoint_port *ports;
    size_t n_ports;
    struct weir_string_map labels;
    char *network;  /* unsupported by Weir yet */
    char *locality; /* region/zone/subzone, unsupported by Weir yet */
    int64_t weight; /* 0: equal share */
    char *service_account;
};

/* The ServiceEntry spec. */
struct weir_service_entry {
    struct weir_strings hosts;     /* never empty in a valid object */
    struct weir_strings addresses; /* IPs or CIDR blocks */
    struct weir_se_port *ports;
    size_t n_ports;
    enum weir_se_location location;
    enum weir_se_resolution resolution;
    struct weir_workload_entry *endpoints;
    size_t n_endpoints;
    bool has_workload_selector;               /* unsupported by Weir yet */
    struct weir_string_map workload_selector; /* labels */
    struct weir_strings export_to;            /* may hold "~": visible to no one */
    struct weir_strings subject_alt_names;
};

/* "HTTP", "GRPC-Web", ...; "" for WEIR_PROTO_UNSET. */
const char *weir_port_protocol_name(enum weir_port_protocol p);

#endif
