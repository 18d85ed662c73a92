/*
 * A string-keyed hash map (chaining, power-of-two table, word-wise FNV-1a). Used for the
 * per-snapshot name lookups (host -> service), the per-worker upstream pools and
 * the per-worker metric series. Keys are copied; values are the caller's.
 *
 * Return convention: int functions return 0 on success and -1 when memory ran out.
 */
#ifndef WP_CORE_STRMAP_H
#define WP_CORE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct wp_strmap_entry {
    struct wp_strmap_entry *next;
    uint64_t hash;
    void *value;
    size_t key_len;
    char key[]; /* NUL-terminated copy */
};

struct wp_strmap {
    struct wp_strmap_entry **buckets;
    size_t n_buckets; /* 0 or a power of two */
    size_t len;
};

uint64_t wp_hash_bytes(const void *data, size_t len);

void wp_strmap_init(struct wp_strmap *m);
/* Calls free_value (may be NULL) on every value, then releases the map. */
void wp_strmap_free(struct wp_strmap *m, void (*free_value)(void *));
void *wp_strmap_get(const struct wp_strmap *m, const char *key, size_t len);
/* Inserts or replaces; *old (may be NULL) receives a replaced value. */
int wp_strmap_put(struct wp_strmap *m, const char *key, size_t len, void *value, void **old);
/* Inserts only when absent: returns 1 when the key was already there (value unchanged). */
int wp_strmap_add(struct wp_strmap *m, const char *key, size_t len, void *value);
void *wp_strmap_del(struct wp_strmap *m, const char *key, size_t len);

/* Iteration: for (e = wp_strmap_next(m, &i, NULL); e; e = wp_strmap_next(m, &i, e)). */
struct wp_strmap_entry *wp_strmap_next(const struct wp_strmap *m, size_t *bucket,
                                       struct wp_strmap_entry *prev);

#endif
