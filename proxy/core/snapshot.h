/*
 * Config snapshots. A snapshot is one loaded document plus what is derived from it
 * once (route index, this workload's inbound ports); nothing in it changes after it
 * is built, so every thread reads it without locks.
 *
 * Lifetime: an atomic reference count. The main thread holds one reference for the
 * current snapshot and hands one more to each worker through the worker's mailbox
 * (core/worker.h); the worker wraps it in a worker-local holder whose plain counter
 * is what requests take, so the request path never touches an atomic. The snapshot
 * is freed by whichever thread drops the last reference.
 */
#ifndef WP_CORE_SNAPSHOT_H
#define WP_CORE_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/proxy_config.h"
#include "ratelimit/limiter.h"
#include "route/router.h"

struct wp_identity;
struct wp_tls_client;

/* One container port of this workload, merged from the inbound services whose
 * selector matches its labels. */
struct wp_inbound_port {
    uint16_t target_port;
    uint16_t service_port;
    enum weir_pc_protocol protocol;
    const char *service_name;
};

struct wp_snapshot {
    atomic_uint refs;
    uint64_t generation;
    struct weir_proxy_config *cfg;
    char *raw; /* the document as read, served by /config_dump */
    size_t raw_len;
    char *path;
    time_t loaded_at;
    struct wp_route_index routes;
    struct wp_inbound_port *inbound_ports; /* sorted by target_port */
    size_t n_inbound_ports;
    /* Set when a policy applies to this workload that this version cannot
     * enforce (peer authentication strict, authorization, JWT): inbound traffic
     * is then refused instead of being let through unchecked. */
    const char *inbound_refusal;
    /* TLS origination contexts by cluster index (NULL: the cluster does not
     * originate TLS), built at load and freed with the snapshot. */
    struct wp_tls_client **tls;
    /* The rate limits that select this workload (NULL: none). Their bucket state
     * is taken over from the previous snapshot by wp_snapshot_inherit. */
    struct wp_rl_set *rl;
};

/* Reads path (bounded by WEIR_PROXY_CONFIG_MAX_BYTES) and loads it with lib/config.
 * Returns NULL with every problem in diags. */
struct wp_snapshot *wp_snapshot_load(const char *path, const struct wp_identity *id,
                                     uint64_t generation, struct weir_diags *diags);
void wp_snapshot_ref(struct wp_snapshot *s);
void wp_snapshot_unref(struct wp_snapshot *s);

/* Before s is published: keeps the bucket state of every rate limit that prev
 * holds unchanged (prev may be NULL). */
void wp_snapshot_inherit(struct wp_snapshot *s, const struct wp_snapshot *prev);

/* Logs what the document asks of this workload that this version cannot enforce
 * (inbound traffic is then refused), so that nothing is ignored silently. */
void wp_snapshot_warn_unsupported(const struct wp_snapshot *s, const struct wp_identity *id);

const struct wp_inbound_port *wp_snapshot_inbound_port(const struct wp_snapshot *s,
                                                       uint16_t target_port);

#endif
