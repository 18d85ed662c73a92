/*
 * Status of the mesh CRs: what the translation made of each object, written
 * to its status subresource so that `kubectl get virtualservice -o yaml`
 * (and `kubectl wait --for=condition=Accepted`) tell the user:
 *
 *   status:
 *     observedGeneration: 3
 *     conditions:
 *     - type: Accepted
 *       status: "False"
 *       reason: Invalid            # Accepted, Invalid, Conflict, Unsupported, Unresolved
 *       message: "spec.http[0].route[0].weight: ..."
 *       observedGeneration: 3
 *       lastTransitionTime: "2026-11-25T10:00:00Z"
 *     - type: Reconciled
 *       status: "True"
 *       reason: Reconciled         # Reconciled, ProxyConfigTooLarge, WriteFailed
 *       message: ""
 *       observedGeneration: 3
 *       lastTransitionTime: "2026-11-25T10:00:00Z"
 *
 * Accepted says what the translation made of the object; Reconciled whether
 * this generation reached the proxy config of the object's namespace (False
 * when that config could not be written, e.g. over the ConfigMap limit).
 *
 * Written with a JSON merge patch of .status on the status subresource:
 * conditions of other types (another controller's) are kept, other status
 * fields untouched. lastTransitionTime moves only when the condition's
 * status flips. Nothing is sent when the object already says the same thing
 * (type, status, reason, message, observedGeneration), so a resync writes
 * nothing; a memo of the last write per object covers the moment before its
 * watch event arrives.
 *
 * A rejected object (Accepted=False) also gets a Warning Event with the
 * reason and message, once per status change, so `kubectl describe` and
 * `kubectl events` show it.
 *
 * observedGeneration is the generation of the object the translation read
 * (from the reconcile's snapshot), never a newer one: when the informer
 * already holds a newer generation the write is skipped, because a reconcile
 * for that generation is queued.
 */
#ifndef WEIR_OP_STATUS_H
#define WEIR_OP_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kube/client.h"
#include "metrics.h"
#include "result.h"
#include "translate/translate.h"

/* The Reconciled condition of one object. */
struct weir_op_reconciled {
    bool done;          /* status True */
    const char *reason; /* "Reconciled", "ProxyConfigTooLarge", "WriteFailed" */
    const char *message;
};

/* The merge patch to send, or NULL in *patch when the object already says
 * it. rec may be NULL: the Reconciled condition is then left as it is. now:
 * RFC 3339, used when a condition's status flips. Returns 0 or -1 (out of
 * memory). */
int weir_op_status_patch(const struct weir_cr_status *st, const struct weir_op_reconciled *rec,
                         int64_t generation, const json_t *current, const char *now,
                         json_t **patch);

/* "2026-11-25T10:00:00Z" into buf (at least 32 bytes). */
void weir_op_rfc3339_now(char *buf, size_t len);

struct weir_op_status_options {
    struct weir_kube_client *client;
    struct weir_op_metrics *metrics; /* may be NULL */
    struct weir_op_gate gate;
    const char *instance; /* Events' reportingInstance */
};

struct weir_op_status;

int weir_op_status_new(const struct weir_op_status_options *opts, struct weir_op_status **out);
void weir_op_status_free(struct weir_op_status *s);

/* Brings the object's status in line with st. current: the object as the
 * informer holds it now (NULL: deleted meanwhile, nothing to do);
 * generation: the one the translation read. */
enum weir_op_result weir_op_status_sync(struct weir_op_status *s,
                                        const struct weir_kube_resource *res,
                                        const struct weir_cr_status *st,
                                        const struct weir_op_reconciled *rec, int64_t generation,
                                        const json_t *current);

/* The object is gone: forget what was written for it. */
void weir_op_status_forget(struct weir_op_status *s, const json_t *obj);
void weir_op_status_forget_all(struct weir_op_status *s);

#endif
