/*
 * The operator's Prometheus metrics, rendered in the text exposition format
 * (version 0.0.4) for GET /metrics:
 *
 *   weir_operator_reconcile_total{result}             namespaces reconciled, by outcome
 *   weir_operator_reconcile_duration_seconds          histogram, one observation per batch
 *                                                     (snapshot, translation and writes)
 *   weir_operator_translate_duration_seconds          histogram of the translation alone
 *   weir_operator_config_writes_total                 ConfigMaps created or updated
 *   weir_operator_config_deletes_total                ConfigMaps removed (namespace left the mesh)
 *   weir_operator_config_too_large_total              configs refused for the 1 MiB limit
 *   weir_operator_config_bytes{namespace}             size of each namespace's proxy config
 *   weir_operator_status_writes_total                 CR status updates
 *   weir_operator_events_total                        Events emitted
 *   weir_operator_api_errors_total                    failed writes to the API server
 *   weir_operator_leader_transitions_total            leadership gained or lost
 *
 * plus what the collector function adds when rendering: the queue depth, the
 * informers' watch restarts and relists, whether this replica leads.
 *
 * Counters are atomics; the histograms and the per-namespace sizes take a
 * mutex. Everything is thread-safe.
 */
#ifndef WEIR_OP_METRICS_H
#define WEIR_OP_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "result.h"

enum weir_op_counter {
    WEIR_OP_M_CONFIG_WRITES,
    WEIR_OP_M_CONFIG_DELETES,
    WEIR_OP_M_CONFIG_TOO_LARGE,
    WEIR_OP_M_STATUS_WRITES,
    WEIR_OP_M_EVENTS,
    WEIR_OP_M_API_ERRORS,
    WEIR_OP_M_LEADER_TRANSITIONS,
    WEIR_OP_M_SCOPED_BATCHES,
    WEIR_OP_M_COUNTERS,
};

struct weir_op_metrics;

int weir_op_metrics_new(struct weir_op_metrics **out);
void weir_op_metrics_free(struct weir_op_metrics *m);

void weir_op_metrics_inc(struct weir_op_metrics *m, enum weir_op_counter c);
unsigned long weir_op_metrics_get(struct weir_op_metrics *m, enum weir_op_counter c);

/* One namespace reconciled with this outcome. */
void weir_op_metrics_reconciled(struct weir_op_metrics *m, enum weir_op_result r);
/* One batch took this long; the translation inside it translate_seconds. */
void weir_op_metrics_batch(struct weir_op_metrics *m, double seconds, double translate_seconds);

/* The size of a namespace's config; forget when the namespace leaves. */
void weir_op_metrics_config_bytes(struct weir_op_metrics *m, const char *ns, size_t bytes);
void weir_op_metrics_config_forget(struct weir_op_metrics *m, const char *ns);

/* Called while rendering to write dynamic metrics (gauges read elsewhere). */
typedef void (*weir_op_collect_fn)(void *arg, FILE *out);
void weir_op_metrics_set_collector(struct weir_op_metrics *m, weir_op_collect_fn fn, void *arg);

/* The exposition text, malloc'd; NULL when out of memory. */
char *weir_op_metrics_render(struct weir_op_metrics *m, size_t *len);

#endif
