/*
 * Which namespaces a change to a watched object can affect: the rule that
 * turns informer events into work-queue keys. Pure functions of the objects.
 *
 * The rule (start simple, stay correct):
 *
 *   NONE       the change cannot alter any proxy config or CR status: only
 *              resourceVersion, managedFields, status (of anything but a Pod)
 *              or bookkeeping annotations moved; a Pod's conditions changed
 *              but not its IPs, phase, labels or spec; a Namespace changed
 *              but not its mesh membership, or one outside the mesh came or
 *              went (its CRs and ConfigMaps have events of their own); a
 *              CR's status changed (our own writes).
 *   NAMESPACE  the object's own namespace: AuthorizationPolicy,
 *              RequestAuthentication and workload-selecting
 *              PeerAuthentication outside the root namespace, which only
 *              the proxies of their namespace read.
 *   ALL        the object's namespace and every namespace the caller knows
 *              as a mesh namespace or as holding CRs: Services,
 *              EndpointSlices, Pods (any may back a Service another
 *              namespace calls), ServiceEntries, VirtualServices and
 *              DestinationRules (visible across namespaces through
 *              exportTo, which defaults to "*"), namespace-wide
 *              PeerAuthentication (clients choose mTLS by it), anything in
 *              the root namespace, a change of mesh membership, the mesh
 *              config.
 *
 * A narrower rule (a VirtualService exported to "." affects one namespace)
 * saves translations, but a wrong guess loses an update until the next
 * resync; the translation decides what is visible, so the operator asks it
 * (weir_translate_impact) and only filters out changes that cannot matter.
 */
#ifndef WEIR_OP_SCOPE_H
#define WEIR_OP_SCOPE_H

#include <jansson.h>
#include <stdbool.h>

enum weir_op_source {
    WEIR_OP_SRC_NAMESPACE,
    WEIR_OP_SRC_SERVICE,
    WEIR_OP_SRC_ENDPOINTSLICE,
    WEIR_OP_SRC_POD,
    WEIR_OP_SRC_MESH_CR,
    WEIR_OP_SRC_MESH_CONFIG,
};

enum weir_op_scope {
    WEIR_OP_SCOPE_NONE,
    WEIR_OP_SCOPE_NAMESPACE,
    WEIR_OP_SCOPE_ALL,
};

const char *weir_op_scope_name(enum weir_op_scope s);

/* Whether a Namespace object puts its namespace in the mesh: the
 * weir-injection label decides when present, else istio-injection; the value
 * "enabled" means yes (the same rule as the translation's operator mode and
 * the injection webhook). */
bool weir_op_namespace_in_mesh(const json_t *ns);

/* Whether a and b differ in anything the translation reads (see above). */
bool weir_op_same_content(enum weir_op_source src, const json_t *a, const json_t *b);

/* The scope of a change: old_obj NULL for an add, new_obj NULL for a delete,
 * both for an update (equal pointers: a resync, which is NONE: the operator
 * resyncs on its own timer). root_namespace: where mesh-wide policies live. */
enum weir_op_scope weir_op_scope_of(enum weir_op_source src, const json_t *old_obj,
                                    const json_t *new_obj, const char *root_namespace);

#endif
