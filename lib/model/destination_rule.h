/*
 * DestinationRule (networking.istio.io): what happens to traffic for a host
 * after routing: load balancing, connection limits, outlier ejection, client
 * TLS, and the named subsets (label selections) that routes refer to.
 *
 * Semantics kept from Istio that the translation relies on:
 *   - subsets are selected by a route's destination.subset; a subset's traffic
 *     policy overrides the rule's field by field;
 *   - subset names are unique within a rule;
 *   - with a workloadSelector the rule applies only to the selected workloads
 *     of its own namespace (unsupported by Weir yet).
 * The traffic policy structs are in traffic_policy.h.
 */
#ifndef WEIR_MODEL_DESTINATION_RULE_H
#define WEIR_MODEL_DESTINATION_RULE_H

#include <stdbool.h>
#include <stddef.h>

#include "model/mesh.h"
#include "model/traffic_policy.h"

/* Subset: a named selection of the host's endpoints. */
struct weir_subset {
    char *name;                                 /* DNS-1123 label, unique in the rule */
    struct weir_string_map labels;              /* endpoint labels; empty selects all */
    struct weir_traffic_policy *traffic_policy; /* NULL: the rule's */
};

/* The DestinationRule spec. */
struct weir_destination_rule {
    char *host;
    struct weir_traffic_policy *traffic_policy; /* NULL when absent */
    struct weir_subset *subsets;
    size_t n_subsets;
    struct weir_strings export_to;
    bool has_workload_selector;               /* unsupported by Weir yet */
    struct weir_string_map workload_selector; /* matchLabels */
};

#endif
