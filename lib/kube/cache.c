#include "kube/cache.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/error.h"

int weir_kube_object_key(const json_t *obj, char *buf, size_t len)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    int n;

    if (!name || !*name)
        return WEIR_KUBE_ERR_INVALID;
    if (ns && *ns)
        n = snprintf(buf, len, "%s/%s", ns, name);
    else
        n = snprintf(buf, len, "%s", name);
    if (n < 0 || (size_t)n >= len)
        return WEIR_KUBE_ERR_INVALID;
    return 0;
}

static uint64_t hash_key(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

void weir_kube_cache_init(struct weir_kube_cache *c)
{
    memset(c, 0, sizeof(*c));
}

void weir_kube_cache_free(struct weir_kube_cache *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        if (c->slots[i].key) {
            free(c->slots[i].key);
            json_decref(c->slots[i].obj);
        }
    }
    free(c->slots);
    memset(c, 0, sizeof(*c));
}

size_t weir_kube_cache_len(const struct weir_kube_cache *c)
{
    return c->len;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const struct weir_kube_cache *c, const char *key, uint64_t h, bool *found)
{
    size_t mask = c->cap - 1, i = (size_t)h & mask;
    for (;;) {
        const struct weir_kube_cache_slot *s = &c->slots[i];
        if (!s->key) {
            *found = false;
            return i;
        }
        if (s->hash == h && strcmp(s->key, key) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int grow(struct weir_kube_cache *c)
{
    size_t ncap = c->cap ? c->cap * 2 : 64;
    struct weir_kube_cache_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return WEIR_KUBE_ERR_NOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        struct weir_kube_cache_slot *s = &c->slots[i];
        if (!s->key)
            continue;
        size_t j = (size_t)s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
    return 0;
}

json_t *weir_kube_cache_get(const struct weir_kube_cache *c, const char *key)
{
    bool found;
    if (!c->cap || !key)
        return NULL;
    size_t i = find_slot(c, key, hash_key(key), &found);
    return found ? c->slots[i].obj : NULL;
}

int weir_kube_cache_put(struct weir_kube_cache *c, const char *key, json_t *obj, json_t **old)
{
    uint64_t h;
    bool found;
    size_t i;

    if (old)
        *old = NULL;
    if (!key || !obj)
        return WEIR_KUBE_ERR_INVALID;
    if ((c->len + 1) * 4 > c->cap * 3 && grow(c) != 0)
        return WEIR_KUBE_ERR_NOMEM;
    h = hash_key(key);
    i = find_slot(c, key, h, &found);
    if (found) {
        json_t *prev = c->slots[i].obj;
        c->slots[i].obj = json_incref(obj);
        if (old)
            *old = prev;
        else
            json_decref(prev);
        return 0;
    }
    char *k = strdup(key);
    if (!k)
        return WEIR_KUBE_ERR_NOMEM;
    c->slots[i].key = k;
    c->slots[i].hash = h;
    c->slots[i].obj = json_incref(obj);
    c->len++;
    return 0;
}

json_t *weir_kube_cache_remove(struct weir_kube_cache *c, const char *key)
{
    bool found;
    size_t i, j, mask;
    json_t *obj;

    if (!c->cap || !key)
        return NULL;
    i = find_slot(c, key, hash_key(key), &found);
    if (!found)
        return NULL;
    obj = c->slots[i].obj;
    free(c->slots[i].key);
    c->slots[i].key = NULL;
    c->slots[i].obj = NULL;
    c->len--;
    /* Backward shift: pull later members of the probe run into the hole so
     * lookups never stop early at it. */
    mask = c->cap - 1;
    j = i;
    for (;;) {
        j = (j + 1) & mask;
        struct weir_kube_cache_slot *s = &c->slots[j];
        if (!s->key)
            break;
        size_t home = (size_t)s->hash & mask;
        /* s may move into hole i only if its home is not in (i, j]. */
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (between)
            continue;
        c->slots[i] = *s;
        s->key = NULL;
        s->obj = NULL;
        i = j;
    }
    return obj;
}

void weir_kube_cache_foreach(const struct weir_kube_cache *c,
                             void (*fn)(void *arg, const char *key, json_t *obj), void *arg)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].key)
            fn(arg, c->slots[i].key, c->slots[i].obj);
}

static int cmp_slot(const void *a, const void *b)
{
    const struct weir_kube_cache_slot *x = *(const struct weir_kube_cache_slot *const *)a;
    const struct weir_kube_cache_slot *y = *(const struct weir_kube_cache_slot *const *)b;
    return strcmp(x->key, y->key);
}

int weir_kube_cache_snapshot(const struct weir_kube_cache *c, json_t ***items, size_t *n)
{
    return weir_kube_cache_snapshot_where(c, NULL, NULL, items, n);
}

int weir_kube_cache_snapshot_where(const struct weir_kube_cache *c, weir_kube_key_filter keep,
                                   void *arg, json_t ***items, size_t *n)
{
    const struct weir_kube_cache_slot **order;
    json_t **out;
    size_t k = 0;

    *items = NULL;
    *n = 0;
    /* One extra so an empty cache still returns a valid array. */
    out = malloc((c->len + 1) * sizeof(*out));
    order = malloc((c->len + 1) * sizeof(*order));
    if (!out || !order) {
        free(out);
        free(order);
        return WEIR_KUBE_ERR_NOMEM;
    }
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].key && (!keep || keep(c->slots[i].key, arg)))
            order[k++] = &c->slots[i];
    qsort(order, k, sizeof(*order), cmp_slot);
    for (size_t i = 0; i < k; i++)
        out[i] = json_incref(order[i]->obj);
    free(order);
    *items = out;
    *n = k;
    return 0;
}

void weir_kube_objects_free(json_t **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(items[i]);
    free(items);
}
