/*
 * PeerAuthentication (security.istio.io): which mutual TLS a workload accepts
 * on its inbound side. A policy in the root namespace without a selector sets
 * the mesh default, one in another namespace the namespace default, one with a
 * selector the workloads it selects; the most specific wins, and UNSET
 * inherits from the next level up (PERMISSIVE when nothing is set).
 *
 * Port-level settings refer to the workload's (container) port, not to the
 * Service port, and are only allowed with a selector, as in Istio.
 */
#ifndef WEIR_MODEL_PEER_AUTHENTICATION_H
#define WEIR_MODEL_PEER_AUTHENTICATION_H

#include <stddef.h>
#include <stdint.h>

#include "model/check.h"
#include "model/mesh.h"

enum weir_mtls_mode {
    WEIR_MTLS_UNSET,      /* inherit from the parent policy, PERMISSIVE at the top */
    WEIR_MTLS_DISABLE,    /* plaintext only */
    WEIR_MTLS_PERMISSIVE, /* plaintext or mTLS, for migrations */
    WEIR_MTLS_STRICT,     /* mTLS with a client certificate required */
};

/* One portLevelMtls entry. */
struct weir_port_mtls {
    uint16_t port; /* workload port, 1..65535 */
    enum weir_mtls_mode mode;
};

/* The whole policy; port_level is sorted by port. */
struct weir_peer_authentication {
    struct weir_string_map selector; /* matchLabels; empty: the namespace (or mesh) default */
    enum weir_mtls_mode mode;        /* mtls.mode; UNSET when mtls is absent */
    struct weir_port_mtls *port_level;
    size_t nport_level;
};

const char *weir_mtls_mode_name(enum weir_mtls_mode mode);

#endif
