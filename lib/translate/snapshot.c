/* The snapshot: the objects a translation reads, as the caller hands them in. */
#include <stdlib.h>
#include <string.h>

#include "translate/translate_internal.h"

void weir_snapshot_init(struct weir_snapshot *s)
{
    memset(s, 0, sizeof(*s));
}

static void cr_free(struct weir_snapshot_cr *cr)
{
    free(cr->namespace_);
    free(cr->name);
    free(cr->created);
    free(cr->source);
    if (cr->owned)
        weir_resource_free(cr->resource);
    weir_diags_free(&cr->diags);
}

void weir_snapshot_free(struct weir_snapshot *s)
{
    for (size_t i = 0; i < s->n_objects; i++)
        json_decref(s->objects[i]);
    free(s->objects);
    free(s->keys);
    for (size_t i = 0; i < s->n_crs; i++)
        cr_free(&s->crs[i]);
    free(s->crs);
    memset(s, 0, sizeof(*s));
}

/* The Kubernetes kinds the translation reads besides the mesh CRs. */
static bool is_cluster_kind(const char *api, const char *kind)
{
    if (strcmp(api, "v1") == 0)
        return strcmp(kind, "Service") == 0 || strcmp(kind, "Pod") == 0 ||
               strcmp(kind, "Namespace") == 0;
    return strcmp(api, "discovery.k8s.io/v1") == 0 && strcmp(kind, "EndpointSlice") == 0;
}

static struct weir_snapshot_cr *new_cr(struct weir_snapshot *s)
{
    if (s->n_crs == s->cap_crs) {
        size_t cap = s->cap_crs ? s->cap_crs * 2 : 16;
        struct weir_snapshot_cr *crs = realloc(s->crs, cap * sizeof(*crs));
        if (!crs)
            return NULL;
        s->crs = crs;
        s->cap_crs = cap;
    }
    struct weir_snapshot_cr *cr = &s->crs[s->n_crs];
    memset(cr, 0, sizeof(*cr));
    weir_diags_init(&cr->diags);
    return cr;
}

int weir_snapshot_add(struct weir_snapshot *s, json_t *obj, const struct weir_yaml_stream *src,
                      int line, const char *default_ns)
{
    const char *api = tr_json_str(obj, "apiVersion");
    const char *kind = tr_json_str(obj, "kind");

    if (!default_ns)
        default_ns = "default";
    if (api && kind && is_cluster_kind(api, kind)) {
        if (s->n_objects == s->cap_objects) {
            size_t cap = s->cap_objects ? s->cap_objects * 2 : 64;
            json_t **objs = realloc(s->objects, cap * sizeof(*objs));
            if (!objs)
                return -1;
            s->objects = objs;
            struct weir_snapshot_key *keys = realloc(s->keys, cap * sizeof(*keys));
            if (!keys)
                return -1;
            s->keys = keys;
            s->cap_objects = cap;
        }
        const json_t *md = json_object_get(obj, "metadata");
        if (strcmp(kind, "Namespace") != 0 && json_is_object(md) &&
            !json_is_string(json_object_get(md, "namespace"))) {
            /* a manifest without a namespace lands in the default one, as with
             * kubectl apply; the caller's object is left as it is */
            json_t *copy = json_deep_copy(obj);
            if (!copy)
                return -1;
            json_object_set_new(json_object_get(copy, "metadata"), "namespace",
                                json_string(default_ns));
            obj = copy;
            md = json_object_get(obj, "metadata");
        } else {
            json_incref(obj);
        }
        struct weir_snapshot_key *k = &s->keys[s->n_objects];
        k->kind = tr_json_str(obj, "kind");
        k->ns = tr_json_str(md, "namespace");
        k->name = tr_json_str(md, "name");
        k->svc = strcmp(kind, "EndpointSlice") == 0
                     ? tr_json_str(json_object_get(md, "labels"), "kubernetes.io/service-name")
                     : NULL;
        k->valid = tr_snapshot_key_valid(k);
        s->objects[s->n_objects++] = obj;
        return 0;
    }

    struct weir_snapshot_cr *cr = new_cr(s);
    if (!cr)
        return -1;
    struct weir_resource *r = NULL;
    int rc = weir_mesh_parse(obj, src, line, default_ns, &r, &cr->diags);
    if (rc == 1) {
        weir_diags_free(&cr->diags);
        return 1;
    }
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = tr_json_str(md, "namespace");
    const char *name = tr_json_str(md, "name");
    const char *created = tr_json_str(md, "creationTimestamp");
    bool group_known = false, served = false;
    cr->kind = weir_kind_lookup(api, kind, &group_known, &served);
    cr->resource = r;
    cr->owned = true;
    cr->namespace_ = strdup(r ? r->meta.namespace_ : (ns ? ns : default_ns));
    cr->name = strdup(r && r->meta.name ? r->meta.name : (name ? name : "(unnamed)"));
    cr->created = strdup(created ? created : "");
    cr->generation = r ? r->meta.generation : 0;
    cr->source = src && src->source ? strdup(src->source) : NULL;
    cr->line = line;
    s->n_crs++;
    if (!cr->namespace_ || !cr->name || !cr->created || (src && src->source && !cr->source))
        return -1;
    return 0;
}

int weir_snapshot_add_resource(struct weir_snapshot *s, const struct weir_resource *r,
                               const char *created)
{
    struct weir_snapshot_cr *cr = new_cr(s);
    if (!cr)
        return -1;
    cr->kind = r->kind;
    cr->resource = (struct weir_resource *)r;
    cr->owned = false;
    cr->namespace_ = strdup(r->meta.namespace_ ? r->meta.namespace_ : "default");
    cr->name = strdup(r->meta.name ? r->meta.name : "(unnamed)");
    cr->created = strdup(created ? created : "");
    cr->generation = r->meta.generation;
    cr->line = r->line;
    s->n_crs++;
    if (!cr->namespace_ || !cr->name || !cr->created)
        return -1;
    return 0;
}
