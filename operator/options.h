/*
 * weir-operator's command line. Parsing is pure (no I/O besides the error
 * stream it is given), so the tests check every flag and every refusal.
 *
 * Return convention of weir_op_options_parse: 0 run, 1 exit 0 (--help,
 * --version printed), 2 usage error (message printed).
 */
#ifndef WEIR_OP_OPTIONS_H
#define WEIR_OP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/log.h"

/* istiod's monitoring port, so scrape configs and habits carry over. */
#define WEIR_OP_DEFAULT_LISTEN    "0.0.0.0:15014"
#define WEIR_OP_DEFAULT_LEASE     "weir-operator"
#define WEIR_OP_DEFAULT_NAMESPACE "weir-system"
#define WEIR_OP_DEFAULT_RESYNC    300.0

struct weir_op_options {
    const char *kubeconfig;       /* NULL: in-cluster when KUBERNETES_SERVICE_HOST is set */
    const char *namespace_;       /* NULL: $POD_NAMESPACE, the in-cluster one, weir-system */
    const char *mesh_config_name; /* weir-mesh-config */
    const char *root_namespace;   /* NULL: the namespace */
    char listen_addr[64];
    uint16_t listen_port;
    enum weir_log_format log_format;
    enum weir_log_level log_level;
    bool leader_elect;
    bool scoped_reconcile; /* default true */
    const char *lease_name;
    const char *id; /* NULL: <hostname>_<random> */
    double lease_duration, renew_deadline, retry_period;
    double resync_period; /* seconds */
    double qps;
    int burst;
    size_t max_config_bytes;
};

void weir_op_options_usage(FILE *out);
int weir_op_options_parse(int argc, char **argv, struct weir_op_options *o, FILE *err);

#endif
