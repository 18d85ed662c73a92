/*
 * The operator's plain-HTTP endpoint (libmicrohttpd, one internal thread):
 *
 *   GET /metrics   Prometheus text format (operator/metrics.h)
 *   GET /healthz   200 while the process serves
 *   GET /readyz    200 once every informer has synced, 503 before
 *
 * Plain HTTP: nothing secret is served, and Prometheus and the kubelet reach
 * it inside the cluster. Other paths are 404, other methods 405.
 *
 * Return convention: 0 or -1 with a message in err.
 */
#ifndef WEIR_OP_HTTP_H
#define WEIR_OP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct weir_op_http_options {
    const char *address; /* "0.0.0.0", "::", "127.0.0.1" */
    uint16_t port;       /* 0: any free port (see weir_op_http_port) */
    struct weir_op_metrics *metrics;
    bool (*ready)(void *arg);
    void *ready_arg;
};

struct weir_op_http;

int weir_op_http_start(const struct weir_op_http_options *opts, struct weir_op_http **out,
                       char *err, size_t errlen);
uint16_t weir_op_http_port(struct weir_op_http *h);
void weir_op_http_stop(struct weir_op_http *h);

/* "ADDR:PORT", "[v6]:PORT" or ":PORT" (all addresses). Returns 0 or -1. */
int weir_op_parse_listen(const char *text, char *addr, size_t addrlen, uint16_t *port);

#endif
