/*
 * The reconcile worker: takes a batch of namespaces off the work queue and
 * makes the cluster match the translation of the current caches.
 *
 *   1. snapshot   every informer the translation reads (Namespaces,
 *                 Services, EndpointSlices, Pods, the six mesh kinds), each a
 *                 consistent copy taken under its lock; CRs are parsed with
 *                 the same model code the webhook and weirctl use;
 *   2. translate  weir_translate() for the batch's mesh namespaces. When a
 *                 namespace of the batch holds CRs, every mesh namespace is
 *                 translated instead: a CR's status collects what clients in
 *                 every namespace that sees it make of it (a VirtualService
 *                 overridden for some clients, a subset nobody can reach),
 *                 and a partial view would make statuses flap;
 *   3. write      per namespace of the batch: its ConfigMap if in the mesh
 *                 (operator/writer.h), removal of ours if not; then the
 *                 status of every CR of the batch's namespaces
 *                 (operator/status.h).
 *
 * An invalid CR never stops the others: the translation skips it and its
 * status says why. Each namespace's outcome (operator/result.h) decides its
 * fate on the queue: OK and FAILED forget the key's failures, RETRY queues it
 * again with backoff, NOT_LEADER queues it for the next leadership.
 *
 * The worker does nothing until every informer has synced (a partial cache
 * would write configs missing services), nor while the gate (leadership) is
 * closed.
 */
#ifndef WEIR_OP_RECONCILE_H
#define WEIR_OP_RECONCILE_H

#include <stddef.h>

#include "metrics.h"
#include "queue.h"
#include "result.h"
#include "status.h"
#include "watchers.h"
#include "writer.h"

#define WEIR_OP_BATCH_MAX 4096

struct weir_op_reconciler_options {
    struct weir_op_watchers *watchers;
    struct weir_op_queue *queue;
    struct weir_op_writer *writer;
    struct weir_op_status *status;
    struct weir_op_metrics *metrics; /* may be NULL */
    struct weir_op_gate gate;
    const char *root_namespace;
    size_t batch_max; /* 0: WEIR_OP_BATCH_MAX */
    /* translate every batch from the whole cache, never from a scope
     * (--no-scoped-reconcile: for comparisons, and a way out) */
    bool no_scoped;
};

struct weir_op_reconciler;

int weir_op_reconciler_new(const struct weir_op_reconciler_options *opts,
                           struct weir_op_reconciler **out);
int weir_op_reconciler_start(struct weir_op_reconciler *r);
/* Lets the batch in progress finish and stops the thread. */
void weir_op_reconciler_stop(struct weir_op_reconciler *r);
void weir_op_reconciler_free(struct weir_op_reconciler *r);

/* Reconciles keys (sorted) now, on the caller's thread; out[i] is the
 * outcome of keys[i]. */
void weir_op_reconcile_batch(struct weir_op_reconciler *r, const char *const *keys, size_t n,
                             enum weir_op_result *out);

#endif
