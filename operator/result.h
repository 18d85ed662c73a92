/*
 * The outcome of one write step of a reconcile, shared by the writer, the
 * status updater and the worker that decides what happens to the queue key:
 *
 *   OK          done (written, or nothing to write);
 *   RETRY       a failure worth retrying with backoff: no answer, 429, 5xx,
 *               409 Conflict, out of memory;
 *   FAILED      a failure retrying will not fix (403, 422, a config over
 *               the ConfigMap limit): logged and reported; the next change
 *               or resync tries again;
 *   NOT_LEADER  the lease is not held (any more): nothing was written and
 *               the key waits for the next leadership.
 *
 * A batch's keys take the worst outcome of their steps, in this order.
 */
#ifndef WEIR_OP_RESULT_H
#define WEIR_OP_RESULT_H

#include <stdbool.h>

#include "kube/error.h"

/* Events' reportingController. */
#define WEIR_OP_REPORTING_CONTROLLER "weir.dev/operator"

enum weir_op_result {
    WEIR_OP_OK,
    WEIR_OP_FAILED,
    WEIR_OP_RETRY,
    WEIR_OP_NOT_LEADER,
};

const char *weir_op_result_name(enum weir_op_result r);

/* RETRY or FAILED for a failed API call. */
enum weir_op_result weir_op_classify(const struct weir_kube_error *err);

/* The worse of two outcomes. */
enum weir_op_result weir_op_worse(enum weir_op_result a, enum weir_op_result b);

/* Asks whether writes are allowed now (the leader elector's answer). */
struct weir_op_gate {
    bool (*allowed)(void *arg);
    void *arg;
};

/* True when gate is NULL or its function is NULL or says yes. */
bool weir_op_gate_open(const struct weir_op_gate *gate);

#endif
