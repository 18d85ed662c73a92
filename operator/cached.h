/*
 * The form in which the informers keep the objects the operator has most of
 * (Pods, Services, EndpointSlices): what the translation never reads is
 * dropped, and everything but apiVersion, kind and metadata is held as one
 * compact JSON string rather than a tree. A jansson tree costs about 150
 * bytes per node; the string, about its length. At 1,000 namespaces and
 * 10,000 Services that is the difference between some 300 MB of caches and
 * some 60 MB.
 *
 * metadata stays a tree: the event handlers read names, labels and the
 * exportTo annotation from it. A reconcile expands the objects it hands to
 * the translation (weir_op_cached_expand), as many as its scope holds; the
 * scope rule compares cached objects as they are (the string is their
 * content).
 *
 * Return convention: void or a new reference; NULL only when out of memory.
 */
#ifndef WEIR_OP_CACHED_H
#define WEIR_OP_CACHED_H

#include <jansson.h>

/* The member holding the packed content. */
#define WEIR_OP_PACKED_MEMBER "weirPacked"

/* Informer transforms (kube/informer.h): slim and pack, in place. */
void weir_op_cached_pod(json_t *pod);
void weir_op_cached_service(json_t *svc);
void weir_op_cached_slice(json_t *slice);

/* The object as the API server would show it (but for what was dropped): a
 * new object when obj is packed, obj itself (a new reference) when not. */
json_t *weir_op_cached_expand(json_t *obj);

#endif
