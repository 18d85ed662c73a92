#include "scope.h"

#include <string.h>

#include "translate/translate.h"

const char *weir_op_scope_name(enum weir_op_scope s)
{
    switch (s) {
    case WEIR_OP_SCOPE_NONE:
        return "none";
    case WEIR_OP_SCOPE_NAMESPACE:
        return "namespace";
    case WEIR_OP_SCOPE_ALL:
        return "all";
    }
    return "?";
}

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

bool weir_op_namespace_in_mesh(const json_t *ns)
{
    const json_t *labels = json_object_get(json_object_get(ns, "metadata"), "labels");
    const char *v = json_string_value(json_object_get(labels, "weir-injection"));
    if (!v)
        v = json_string_value(json_object_get(labels, "istio-injection"));
    return v && strcmp(v, "enabled") == 0;
}

/* Annotations that change without the object meaning anything new. */
static const char *const volatile_annotations[] = {
    "kubectl.kubernetes.io/last-applied-configuration",
    "endpoints.kubernetes.io/last-change-trigger-time",
    NULL,
};

/* A shallow view of obj without the fields that move on every write. NULL
 * when out of memory (then the objects count as different). */
static json_t *view(enum weir_op_source src, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    json_t *v;

    if (src == WEIR_OP_SRC_NAMESPACE)
        return json_pack("{s:O?}", "labels", json_object_get(md, "labels"));
    if (src == WEIR_OP_SRC_MESH_CONFIG)
        return json_pack("{s:O?}", "data", json_object_get(obj, "data"));
    v = json_copy((json_t *)obj);
    if (!v)
        return NULL;
    if (json_is_object(md)) {
        json_t *m = json_copy((json_t *)md);
        if (!m) {
            json_decref(v);
            return NULL;
        }
        json_object_del(m, "resourceVersion");
        json_object_del(m, "managedFields");
        const json_t *ann = json_object_get(md, "annotations");
        if (json_is_object(ann)) {
            json_t *a = json_copy((json_t *)ann);
            for (int i = 0; a && volatile_annotations[i]; i++)
                json_object_del(a, volatile_annotations[i]);
            if (a)
                json_object_set_new(m, "annotations", a);
        }
        json_object_set_new(v, "metadata", m);
    }
    const json_t *status = json_object_get(obj, "status");
    if (src == WEIR_OP_SRC_POD && json_is_object(status)) {
        /* what endpoints and identities come from; conditions churn */
        json_t *s =
            json_pack("{s:O?, s:O?, s:O?}", "podIP", json_object_get(status, "podIP"), "podIPs",
                      json_object_get(status, "podIPs"), "phase", json_object_get(status, "phase"));
        json_object_set_new(v, "status", s ? s : json_null());
    } else {
        json_object_del(v, "status");
    }
    return v;
}

bool weir_op_same_content(enum weir_op_source src, const json_t *a, const json_t *b)
{
    if (a == b)
        return true;
    if (!a || !b)
        return false;
    json_t *va = view(src, a), *vb = view(src, b);
    bool same = va && vb && json_equal(va, vb);
    json_decref(va);
    json_decref(vb);
    return same;
}

static enum weir_op_scope cr_scope(const json_t *obj, const char *root)
{
    struct weir_translate_settings set = {.root_namespace = root};
    const char *kind = str_at(obj, "kind", NULL);
    const char *ns = str_at(obj, "metadata", "namespace");
    const json_t *sel = json_object_get(json_object_get(obj, "spec"), "selector");
    bool has_selector = json_is_object(sel) && json_object_size(sel) > 0;
    return weir_translate_impact(kind, ns, has_selector, true, &set) == WEIR_IMPACT_ALL
               ? WEIR_OP_SCOPE_ALL
               : WEIR_OP_SCOPE_NAMESPACE;
}

enum weir_op_scope weir_op_scope_of(enum weir_op_source src, const json_t *old_obj,
                                    const json_t *new_obj, const char *root_namespace)
{
    if (!old_obj && !new_obj)
        return WEIR_OP_SCOPE_NONE;
    if (old_obj && new_obj && weir_op_same_content(src, old_obj, new_obj))
        return WEIR_OP_SCOPE_NONE;
    switch (src) {
    case WEIR_OP_SRC_NAMESPACE: {
        /* the translation reads a Namespace for its mesh membership only */
        bool was = old_obj && weir_op_namespace_in_mesh(old_obj);
        bool is = new_obj && weir_op_namespace_in_mesh(new_obj);
        if (was != is)
            return WEIR_OP_SCOPE_ALL;
        /* created or deleted outside the mesh: its CRs and a ConfigMap left
         * from an earlier membership have events of their own */
        return WEIR_OP_SCOPE_NONE;
    }
    case WEIR_OP_SRC_MESH_CR: {
        enum weir_op_scope a = old_obj ? cr_scope(old_obj, root_namespace) : WEIR_OP_SCOPE_NONE;
        enum weir_op_scope b = new_obj ? cr_scope(new_obj, root_namespace) : WEIR_OP_SCOPE_NONE;
        return a > b ? a : b;
    }
    case WEIR_OP_SRC_SERVICE:
    case WEIR_OP_SRC_ENDPOINTSLICE:
    case WEIR_OP_SRC_POD:
    case WEIR_OP_SRC_MESH_CONFIG:
        return WEIR_OP_SCOPE_ALL;
    }
    return WEIR_OP_SCOPE_ALL;
}
