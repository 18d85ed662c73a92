/*
 * A map from strings to pointers, for the operator's bookkeeping: the work
 * queue's items, the namespaces in the mesh, what was last written per
 * namespace and per CR. Keys are copied; values belong to the caller.
 *
 * Chained buckets, FNV-1a, doubled at load 3/4. The maps hold one entry per
 * namespace or per CR (thousands, not millions) and are always used under
 * their owner's lock, so nothing cleverer pays for itself.
 *
 * Return convention: 0 or -1 (out of memory).
 */
#ifndef WEIR_OP_STRMAP_H
#define WEIR_OP_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct weir_op_strmap_entry {
    char *key;
    void *value;
    uint64_t hash;
    struct weir_op_strmap_entry *next;
};

struct weir_op_strmap {
    struct weir_op_strmap_entry **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first put */
    size_t len;
};

void weir_op_strmap_init(struct weir_op_strmap *m);
/* Frees the entries and keys; free_value (may be NULL) is called on each value. */
void weir_op_strmap_free(struct weir_op_strmap *m, void (*free_value)(void *));

/* NULL when absent. */
void *weir_op_strmap_get(const struct weir_op_strmap *m, const char *key);
bool weir_op_strmap_has(const struct weir_op_strmap *m, const char *key);

/* Sets key to value; *old (may be NULL) receives the value replaced, NULL when
 * the key is new. The stored key is returned through *stored_key when not
 * NULL: it lives as long as the entry. */
int weir_op_strmap_put(struct weir_op_strmap *m, const char *key, void *value, void **old,
                       const char **stored_key);

/* Removes key and returns its value (NULL when absent). */
void *weir_op_strmap_remove(struct weir_op_strmap *m, const char *key);

/* fn must not change the map. */
void weir_op_strmap_foreach(const struct weir_op_strmap *m,
                            void (*fn)(void *arg, const char *key, void *value), void *arg);

/* The keys, sorted, as one malloc'd array of pointers into the map (valid
 * until the map changes). *keys is NULL when the map is empty. */
int weir_op_strmap_keys(const struct weir_op_strmap *m, const char ***keys, size_t *n);

/* FNV-1a of len bytes, also used for content digests. */
uint64_t weir_op_fnv1a(const void *data, size_t len);

#endif
