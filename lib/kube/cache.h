/*
 * The object store behind an informer: objects keyed "namespace/name" (or
 * "name" for cluster-scoped ones, as client-go's MetaNamespaceKeyFunc).
 *
 * A hash map with open addressing (FNV-1a, linear probing, backward-shift
 * deletion, so no tombstones pile up under churn), kept at most 3/4 full.
 * Chosen over a sorted array with bsearch because a cluster's Pods and
 * EndpointSlices run to tens of thousands and change all the time: a sorted
 * array costs a memmove of the whole tail per insert or delete. Order matters
 * only for snapshots, which the operator's translation wants deterministic;
 * they are sorted by key when taken (O(n log n), once per reconcile).
 *
 * Values are json_t references the cache owns. Objects are immutable once
 * stored: readers share them, nobody modifies them; an update stores a new
 * object. No locking here: the informer wraps the cache in a rwlock.
 *
 * Return convention: 0 or WEIR_KUBE_ERR_NOMEM / WEIR_KUBE_ERR_INVALID.
 */
#ifndef WEIR_KUBE_CACHE_H
#define WEIR_KUBE_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* namespace (63) + "/" + name (253) + NUL, rounded up. */
#define WEIR_KUBE_KEY_MAX 320

struct weir_kube_cache_slot {
    char *key; /* NULL: empty slot */
    uint64_t hash;
    json_t *obj;
};

struct weir_kube_cache {
    struct weir_kube_cache_slot *slots;
    size_t cap; /* a power of two, or 0 before the first put */
    size_t len;
};

/* The key of an object: "ns/name" or "name". WEIR_KUBE_ERR_INVALID when it
 * has no metadata.name or the key does not fit. */
int weir_kube_object_key(const json_t *obj, char *buf, size_t len);

void weir_kube_cache_init(struct weir_kube_cache *c);
void weir_kube_cache_free(struct weir_kube_cache *c);

size_t weir_kube_cache_len(const struct weir_kube_cache *c);

/* Borrowed; NULL when absent. */
json_t *weir_kube_cache_get(const struct weir_kube_cache *c, const char *key);

/* Stores obj under key (taking a new reference). The object it replaces, if
 * any, is handed to the caller in *old (the caller's reference now; NULL when
 * the key was new). old may be NULL to drop it. */
int weir_kube_cache_put(struct weir_kube_cache *c, const char *key, json_t *obj, json_t **old);

/* Removes key; returns the stored object (the caller's reference now) or
 * NULL when absent. */
json_t *weir_kube_cache_remove(struct weir_kube_cache *c, const char *key);

/* Calls fn for each entry in no particular order; fn must not modify the
 * cache. */
void weir_kube_cache_foreach(const struct weir_kube_cache *c,
                             void (*fn)(void *arg, const char *key, json_t *obj), void *arg);

/* Every object, sorted by key, each with a new reference; *items is a new
 * array (free with weir_kube_objects_free). */
int weir_kube_cache_snapshot(const struct weir_kube_cache *c, json_t ***items, size_t *n);

/* The same for the objects whose key keep() accepts (keep NULL: all). Only
 * those are sorted, so a snapshot of a few namespaces of a large cache costs
 * one pass over it. */
typedef bool (*weir_kube_key_filter)(const char *key, void *arg);
int weir_kube_cache_snapshot_where(const struct weir_kube_cache *c, weir_kube_key_filter keep,
                                   void *arg, json_t ***items, size_t *n);

/* Drops the references and the array. */
void weir_kube_objects_free(json_t **items, size_t n);

#endif
