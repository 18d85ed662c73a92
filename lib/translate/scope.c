/*
 * What a namespace's config can depend on, for translations of part of a
 * cluster (translate.h, "Scoped translations").
 */
#include <ctype.h>
#include <string.h>

#include "translate/translate.h"

#define EXPORT_TO_ANNOTATION "networking.istio.io/exportTo"

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* One exportTo entry keeps the object in namespace own: ".", own itself, or
 * "~" (hidden everywhere). */
static bool entry_private(const char *v, size_t len, const char *own)
{
    if (len == 1 && (v[0] == '.' || v[0] == '~'))
        return true;
    return own && strlen(own) == len && strncmp(v, own, len) == 0;
}

/* The annotation's comma-separated list, blanks around entries ignored. */
static bool annotation_private(const char *text, const char *own)
{
    bool any = false;
    const char *p = text;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        if (end == start)
            continue;
        if (!entry_private(start, (size_t)(end - start), own))
            return false;
        any = true;
    }
    return any; /* empty: the default, "*" */
}

bool weir_translate_exports(const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *kind = str(obj, "kind"), *api = str(obj, "apiVersion");
    const char *own = str(md, "namespace");

    if (!kind || !api)
        return false;
    if (strcmp(kind, "Service") == 0 && strcmp(api, "v1") == 0) {
        const char *a = str(json_object_get(md, "annotations"), EXPORT_TO_ANNOTATION);
        return !a || !annotation_private(a, own);
    }
    if (strncmp(api, "networking.istio.io/", 20) != 0 ||
        (strcmp(kind, "VirtualService") != 0 && strcmp(kind, "DestinationRule") != 0 &&
         strcmp(kind, "ServiceEntry") != 0))
        return false;
    const json_t *list = json_object_get(json_object_get(obj, "spec"), "exportTo"), *v;
    size_t i;
    if (!json_array_size(list))
        return true;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !entry_private(s, strlen(s), own))
            return true;
    }
    return false;
}

/* The namespace a host may name: its second label ("reviews.shop",
 * "reviews.shop.svc.cluster.local", "*.shop.svc.cluster.local"). */
static bool host_outside(const char *host, weir_translate_ns_filter inside, void *arg)
{
    const char *dot = strchr(host, '.');
    if (!dot)
        return false; /* a short name: the CR's own namespace */
    const char *ns = dot + 1, *end = strchr(ns, '.');
    size_t len = end ? (size_t)(end - ns) : strlen(ns);
    return len > 0 && !inside(ns, len, arg);
}

static bool walk(const json_t *v, weir_translate_ns_filter inside, void *arg, int depth)
{
    const char *key;
    const json_t *child, *h;
    size_t i;

    /* the mesh kinds nest a dozen levels at most; deeper is not a CR */
    if (depth > 32)
        return true;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            if (walk(child, inside, arg, depth + 1))
                return true;
        }
        return false;
    }
    json_object_foreach((json_t *)v, key, child)
    {
        if (strcmp(key, "host") == 0 && json_is_string(child)) {
            if (host_outside(json_string_value(child), inside, arg))
                return true;
        } else if (strcmp(key, "hosts") == 0 && json_is_array(child)) {
            json_array_foreach(child, i, h)
            {
                if (json_is_string(h) && host_outside(json_string_value(h), inside, arg))
                    return true;
            }
        } else if ((json_is_object(child) || json_is_array(child)) &&
                   walk(child, inside, arg, depth + 1)) {
            return true;
        }
    }
    return false;
}

bool weir_translate_reaches_outside(const json_t *cr, weir_translate_ns_filter inside, void *arg)
{
    return walk(json_object_get(cr, "spec"), inside, arg, 0);
}

bool weir_translate_claims_cluster(const json_t *obj)
{
    const char *kind = str(obj, "kind"), *api = str(obj, "apiVersion");
    const json_t *spec = json_object_get(obj, "spec"), *h;
    size_t i;

    if (!kind || !api || strcmp(kind, "ServiceEntry") != 0 ||
        strncmp(api, "networking.istio.io/", 20) != 0)
        return false;
    if (json_array_size(json_object_get(spec, "addresses")) > 0)
        return true;
    json_array_foreach(json_object_get(spec, "hosts"), i, h)
    {
        const char *s = json_string_value(h);
        size_t n = s ? strlen(s) : 0;
        if (s && (strstr(s, ".svc.") || (n >= 4 && strcmp(s + n - 4, ".svc") == 0)))
            return true;
    }
    return false;
}
