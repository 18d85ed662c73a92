#include "cached.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Drops the members of o (an object) that are not listed. */
static void keep_only(json_t *o, const char *const *keep)
{
    const char *k;
    json_t *v;
    void *tmp;
    if (!json_is_object(o))
        return;
    json_object_foreach_safe(o, tmp, k, v)
    {
        bool wanted = false;
        for (const char *const *w = keep; *w && !wanted; w++)
            wanted = strcmp(k, *w) == 0;
        if (!wanted)
            json_object_del(o, k);
    }
}

static bool type_member(const char *k)
{
    return strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0 || strcmp(k, "metadata") == 0;
}

/* Moves every member but the type and metadata into one compact string. On
 * failure (memory) the object stays a tree, which is only bigger. */
static void pack(json_t *obj)
{
    json_t *rest, *v;
    const char *k;
    void *tmp;
    char *text = NULL;

    /* the informer applies its transform per list page and again when the
     * list is applied: the second pass finds the object packed */
    if (json_object_get(obj, WEIR_OP_PACKED_MEMBER) || !(rest = json_object()))
        return;
    json_object_foreach(obj, k, v)
    {
        if (!type_member(k) && json_object_set(rest, k, v) != 0)
            goto out;
    }
    if (!json_object_size(rest))
        goto out;
    /* sorted keys: equal content gives equal strings, which the scope rule
     * compares */
    text = json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text || json_object_set_new(obj, WEIR_OP_PACKED_MEMBER, json_string(text)) != 0)
        goto out;
    json_object_foreach_safe(obj, tmp, k, v)
    {
        if (!type_member(k) && strcmp(k, WEIR_OP_PACKED_MEMBER) != 0)
            json_object_del(obj, k);
    }
out:
    free(text);
    json_decref(rest);
}

void weir_op_cached_pod(json_t *pod)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
    static const char *const metadata[] = {
        "name",       "namespace",         "labels", "uid", "resourceVersion",
        "generation", "deletionTimestamp", NULL};
    static const char *const spec[] = {"serviceAccountName", "containers", "initContainers",
                                       "hostNetwork", NULL};
    static const char *const container[] = {"name", "ports", NULL};
    static const char *const status[] = {"phase", "podIP", "podIPs", NULL};
    static const char *const lists[] = {"containers", "initContainers", NULL};
    json_t *spec_obj = json_object_get(pod, "spec"), *c;
    size_t i;

    if (json_object_get(pod, WEIR_OP_PACKED_MEMBER))
        return; /* already in cached form */
    keep_only(pod, top);
    keep_only(json_object_get(pod, "metadata"), metadata);
    keep_only(spec_obj, spec);
    keep_only(json_object_get(pod, "status"), status);
    for (const char *const *l = lists; *l; l++) {
        json_array_foreach(json_object_get(spec_obj, *l), i, c)
        {
            keep_only(c, container);
        }
    }
    pack(pod);
}

void weir_op_cached_service(json_t *svc)
{
    /* a Service's status is its load balancer's, which the mesh never reads */
    json_object_del(svc, "status");
    pack(svc);
}

void weir_op_cached_slice(json_t *slice)
{
    pack(slice);
}

json_t *weir_op_cached_expand(json_t *obj)
{
    const json_t *packed = json_object_get(obj, WEIR_OP_PACKED_MEMBER);
    if (!json_is_string(packed))
        return json_incref(obj);
    json_t *rest = json_loadb(json_string_value(packed), json_string_length(packed), 0, NULL);
    json_t *out = json_object(), *v;
    const char *k;
    if (!rest || !out)
        goto fail;
    json_object_foreach(obj, k, v)
    {
        if (type_member(k) && json_object_set(out, k, v) != 0)
            goto fail;
    }
    if (json_object_update(out, rest) != 0)
        goto fail;
    json_decref(rest);
    return out;
fail:
    json_decref(rest);
    json_decref(out);
    return NULL;
}
