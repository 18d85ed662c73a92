#include "strmap.h"

#include <stdlib.h>
#include <string.h>

uint64_t weir_op_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

void weir_op_strmap_init(struct weir_op_strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void weir_op_strmap_free(struct weir_op_strmap *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct weir_op_strmap_entry *e = m->buckets[i];
        while (e) {
            struct weir_op_strmap_entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof(*m));
}

static struct weir_op_strmap_entry *find(const struct weir_op_strmap *m, const char *key,
                                         uint64_t h)
{
    if (!m->nbuckets)
        return NULL;
    for (struct weir_op_strmap_entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

void *weir_op_strmap_get(const struct weir_op_strmap *m, const char *key)
{
    struct weir_op_strmap_entry *e = find(m, key, weir_op_fnv1a(key, strlen(key)));
    return e ? e->value : NULL;
}

bool weir_op_strmap_has(const struct weir_op_strmap *m, const char *key)
{
    return find(m, key, weir_op_fnv1a(key, strlen(key))) != NULL;
}

static int grow(struct weir_op_strmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    struct weir_op_strmap_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct weir_op_strmap_entry *e = m->buckets[i];
        while (e) {
            struct weir_op_strmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

int weir_op_strmap_put(struct weir_op_strmap *m, const char *key, void *value, void **old,
                       const char **stored_key)
{
    uint64_t h = weir_op_fnv1a(key, strlen(key));
    struct weir_op_strmap_entry *e = find(m, key, h);

    if (old)
        *old = NULL;
    if (e) {
        if (old)
            *old = e->value;
        e->value = value;
        if (stored_key)
            *stored_key = e->key;
        return 0;
    }
    if ((m->len + 1) * 4 > m->nbuckets * 3 && grow(m) != 0)
        return -1;
    e = malloc(sizeof(*e));
    if (!e)
        return -1;
    e->key = strdup(key);
    if (!e->key) {
        free(e);
        return -1;
    }
    e->value = value;
    e->hash = h;
    e->next = m->buckets[h & (m->nbuckets - 1)];
    m->buckets[h & (m->nbuckets - 1)] = e;
    m->len++;
    if (stored_key)
        *stored_key = e->key;
    return 0;
}

void *weir_op_strmap_remove(struct weir_op_strmap *m, const char *key)
{
    uint64_t h = weir_op_fnv1a(key, strlen(key));
    if (!m->nbuckets)
        return NULL;
    for (struct weir_op_strmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)]; *pp;
         pp = &(*pp)->next) {
        struct weir_op_strmap_entry *e = *pp;
        if (e->hash == h && strcmp(e->key, key) == 0) {
            void *v = e->value;
            *pp = e->next;
            free(e->key);
            free(e);
            m->len--;
            return v;
        }
    }
    return NULL;
}

void weir_op_strmap_foreach(const struct weir_op_strmap *m,
                            void (*fn)(void *arg, const char *key, void *value), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct weir_op_strmap_entry *e = m->buckets[i]; e; e = e->next)
            fn(arg, e->key, e->value);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int weir_op_strmap_keys(const struct weir_op_strmap *m, const char ***keys, size_t *n)
{
    size_t k = 0;
    *keys = NULL;
    *n = 0;
    if (!m->len)
        return 0;
    const char **v = malloc(m->len * sizeof(*v));
    if (!v)
        return -1;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct weir_op_strmap_entry *e = m->buckets[i]; e; e = e->next)
            v[k++] = e->key;
    qsort(v, k, sizeof(*v), cmp_str);
    *keys = v;
    *n = k;
    return 0;
}
