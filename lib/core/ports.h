/*
 * The port and identity table shared by weir-webhook (what it injects),
 * weir-init (what it captures) and weir-proxy (what it listens on). Defaults
 * are Istio's, so Istio's annotations, dashboards and habits carry over.
 */
#ifndef WEIR_CORE_PORTS_H
#define WEIR_CORE_PORTS_H

#include <stdint.h>

struct weir_ports {
    uint16_t outbound_capture; /* traffic the app sends, redirected by iptables */
    uint16_t inbound_capture;  /* traffic to the app, redirected by iptables */
    uint16_t admin;            /* pod-local admin API */
    uint16_t health;           /* kubelet probes: /healthz/ready */
    uint16_t metrics;          /* Prometheus: /stats/prometheus */
    uint32_t proxy_uid;        /* the proxy runs as this user; its traffic is not captured */
    uint32_t proxy_gid;
    const char *inbound_passthrough_source; /* source address for inbound to the app */
};

#define WEIR_PORT_OUTBOUND_CAPTURE      15001
#define WEIR_PORT_INBOUND_CAPTURE       15006
#define WEIR_PORT_ADMIN                 15000
#define WEIR_PORT_HEALTH                15021
#define WEIR_PORT_METRICS               15090
#define WEIR_PROXY_UID                  1337
#define WEIR_PROXY_GID                  1337
#define WEIR_INBOUND_PASSTHROUGH_SOURCE "127.0.0.6"

extern const struct weir_ports weir_default_ports;

#endif
