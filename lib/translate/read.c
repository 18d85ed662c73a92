/*
 * Reading the snapshot into sorted arrays. Everything is ordered by name here
 * so that the rest of the translation never depends on the order objects were
 * handed in: the same cluster always gives the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "model/common.h"
#include "translate/translate_internal.h"

static const char *obj_ns(const json_t *o)
{
    return tr_json_str(json_object_get(o, "metadata"), "namespace");
}

/* The namespace as a sort key: "" for cluster-scoped objects. */
static const char *key_ns(const json_t *o)
{
    const char *ns = obj_ns(o);
    return ns ? ns : "";
}

static const char *obj_name(const json_t *o)
{
    return tr_json_str(json_object_get(o, "metadata"), "name");
}

static const char *slice_service(const json_t *o)
{
    return tr_json_str(json_object_get(json_object_get(o, "metadata"), "labels"),
                       "kubernetes.io/service-name");
}

/* Two objects with one name: order them by content so that the one kept does
 * not depend on input order. */
static int cmp_content(const json_t *a, const json_t *b)
{
    struct tr_buf x = {0}, y = {0};
    tr_canonical(&x, a);
    tr_canonical(&y, b);
    int r = tr_strcmp0(x.data, y.data);
    tr_buf_free(&x);
    tr_buf_free(&y);
    return r;
}

static int cmp_object(const void *pa, const void *pb)
{
    const json_t *a = *(const json_t *const *)pa, *b = *(const json_t *const *)pb;
    int r = strcmp(key_ns(a), key_ns(b));
    if (!r)
        r = strcmp(obj_name(a), obj_name(b));
    return r ? r : cmp_content(a, b);
}

static int cmp_slice(const void *pa, const void *pb)
{
    const json_t *a = *(const json_t *const *)pa, *b = *(const json_t *const *)pb;
    int r = strcmp(obj_ns(a), obj_ns(b));
    if (!r)
        r = strcmp(slice_service(a), slice_service(b));
    if (!r)
        r = strcmp(obj_name(a), obj_name(b));
    return r ? r : cmp_content(a, b);
}

/* Sorts and drops the second of two objects with one namespace and name. */
static size_t sort_unique(struct tr_ctx *ctx, const json_t **v, size_t n,
                          int (*cmp)(const void *, const void *), const char *kind)
{
    size_t out = 0;
    if (n > 1)
        tr_sort(v, n, sizeof(*v), cmp);
    for (size_t i = 0; i < n; i++) {
        if (out > 0 && strcmp(key_ns(v[out - 1]), key_ns(v[i])) == 0 &&
            strcmp(obj_name(v[out - 1]), obj_name(v[i])) == 0) {
            tr_note(ctx, v[i], "%s %s/%s appears twice; one copy is used", kind, key_ns(v[i]),
                    obj_name(v[i]));
            continue;
        }
        v[out++] = v[i];
    }
    return out;
}

static int cmp_pod(const void *a, const void *b)
{
    const struct tr_pod *x = a, *y = b;
    int r = strcmp(x->ns, y->ns);
    return r ? r : strcmp(x->name, y->name);
}

const struct tr_pod *tr_find_pod(const struct tr_ctx *ctx, const char *ns, const char *name)
{
    struct tr_pod key = {.ns = ns, .name = name};
    if (!ns || !name || !ctx->n_pods)
        return NULL;
    return bsearch(&key, ctx->pods, ctx->n_pods, sizeof(key), cmp_pod);
}

static int cmp_ns(const void *a, const void *b)
{
    return strcmp(((const struct tr_ns *)a)->name, ((const struct tr_ns *)b)->name);
}

struct tr_ns *tr_find_ns(const struct tr_ctx *ctx, const char *name)
{
    struct tr_ns key = {.name = name};
    if (!name || !ctx->n_nss)
        return NULL;
    return bsearch(&key, ctx->nss, ctx->n_nss, sizeof(key), cmp_ns);
}

static int cmp_cr(const void *a, const void *b)
{
    const struct tr_cr *x = a, *y = b;
    int r = (int)x->kind - (int)y->kind;
    if (!r)
        r = strcmp(x->ns, y->ns);
    if (!r)
        r = strcmp(x->name, y->name);
    /* a valid copy first, then the older */
    if (!r)
        r = (x->res == NULL) - (y->res == NULL);
    if (!r)
        r = strcmp(x->created, y->created);
    if (!r)
        r = (int)(x->in->line - y->in->line);
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names the API server would have refused: such an object can exist only in
 * a file, and names flow into the config where the proxy checks them. */
static bool has_meta(const json_t *o)
{
    const char *ns = obj_ns(o), *name = obj_name(o);
    const char *kind = tr_json_str(o, "kind");
    if (!name || !*name)
        return false;
    if (strcmp(kind, "Namespace") == 0)
        return weir_valid_namespace(name) == NULL;
    if (!ns || weir_valid_namespace(ns))
        return false;
    /* Service names become DNS labels of the host */
    if (strcmp(kind, "Service") == 0)
        return weir_valid_dns1123_label(name) == NULL;
    return weir_valid_dns1123_subdomain(name) == NULL;
}

static int read_pods(struct tr_ctx *ctx, const json_t **v, size_t n)
{
    n = sort_unique(ctx, v, n, cmp_object, "Pod");
    ctx->pods = calloc(n ? n : 1, sizeof(*ctx->pods));
    if (!ctx->pods)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct tr_pod *p = &ctx->pods[ctx->n_pods++];
        const json_t *labels = json_object_get(json_object_get(v[i], "metadata"), "labels");
        const char *sa = tr_json_str(json_object_get(v[i], "spec"), "serviceAccountName");
        if (!sa)
            sa = tr_json_str(json_object_get(v[i], "spec"), "serviceAccount");
        p->obj = v[i];
        p->ns = obj_ns(v[i]);
        p->name = obj_name(v[i]);
        p->labels = json_is_object(labels) ? labels : NULL;
        p->sa = sa && *sa ? sa : "default";
        /* an invalid account name has no certificate: no identity to check */
        if (weir_valid_dns1123_subdomain(p->sa))
            continue;
        p->identity = tr_printf("spiffe://%s/ns/%s/sa/%s", ctx->trust_domain, p->ns, p->sa);
        if (!p->identity)
            return -1;
    }
    return 0;
}

static int read_namespaces(struct tr_ctx *ctx, const json_t **nsobjs, size_t n_nsobjs,
                           const struct weir_snapshot *snap)
{
    size_t cap = n_nsobjs + snap->n_objects + snap->n_crs + ctx->set->n_namespaces + 1, n = 0;
    const char **names = malloc(cap * sizeof(*names));
    if (!names)
        return -1;
    for (size_t i = 0; i < n_nsobjs; i++)
        names[n++] = obj_name(nsobjs[i]);
    for (size_t i = 0; i < snap->n_objects; i++)
        if (has_meta(snap->objects[i]) && obj_ns(snap->objects[i]))
            names[n++] = obj_ns(snap->objects[i]);
    for (size_t i = 0; i < snap->n_crs; i++)
        names[n++] = snap->crs[i].namespace_;
    for (size_t i = 0; i < ctx->set->n_namespaces; i++)
        names[n++] = ctx->set->namespaces[i];
    names[n++] = ctx->root_ns;
    tr_sort(names, n, sizeof(*names), cmp_str);
    ctx->nss = calloc(n, sizeof(*ctx->nss));
    if (!ctx->nss) {
        free(names);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (ctx->n_nss == 0 || strcmp(ctx->nss[ctx->n_nss - 1].name, names[i]) != 0)
            ctx->nss[ctx->n_nss++].name = names[i];
    free(names);
    for (size_t i = 0; i < n_nsobjs; i++) {
        struct tr_ns *ns = tr_find_ns(ctx, obj_name(nsobjs[i]));
        const json_t *labels = json_object_get(json_object_get(nsobjs[i], "metadata"), "labels");
        if (ns && json_is_object(labels))
            ns->labels = labels;
    }
    for (size_t i = 0; i < snap->n_objects; i++) {
        const char *kind = tr_json_str(snap->objects[i], "kind");
        struct tr_ns *ns = tr_find_ns(ctx, obj_ns(snap->objects[i]));
        if (ns && strcmp(kind, "Namespace") != 0 && has_meta(snap->objects[i]))
            ns->has_workloads = true;
    }
    for (size_t i = 0; i < snap->n_crs; i++) {
        struct tr_ns *ns = tr_find_ns(ctx, snap->crs[i].namespace_);
        if (ns)
            ns->has_crs = true;
    }
    return 0;
}

static int read_crs(struct tr_ctx *ctx, const struct weir_snapshot *snap)
{
    struct weir_translate_result *out = ctx->out;
    size_t n = snap->n_crs;

    ctx->crs = calloc(n ? n : 1, sizeof(*ctx->crs));
    out->statuses = calloc(n ? n : 1, sizeof(*out->statuses));
    if (!ctx->crs || !out->statuses)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct weir_snapshot_cr *in = &snap->crs[i];
        struct tr_cr *cr = &ctx->crs[i];
        cr->in = in;
        cr->kind = in->kind;
        cr->ns = in->namespace_;
        cr->name = in->name;
        cr->created = in->created;
        cr->res = in->resource;
    }
    ctx->n_crs = n;
    tr_sort(ctx->crs, n, sizeof(*ctx->crs), cmp_cr);
    /* one pointer per namespace name, so that hot paths compare pointers */
    for (size_t i = 0; i < n; i++) {
        struct tr_ns *ns = tr_find_ns(ctx, ctx->crs[i].ns);
        if (ns)
            ctx->crs[i].ns = ns->name;
    }
    for (size_t i = 0; i < n; i++) {
        struct tr_cr *cr = &ctx->crs[i];
        struct weir_cr_status *st = &out->statuses[out->n_statuses++];
        const char *kind = weir_kind_name(cr->kind);
        snprintf(cr->label, sizeof(cr->label), "%s %s/%s", kind ? kind : "Object", cr->ns,
                 cr->name);
        cr->status = st;
        st->kind = cr->kind;
        st->namespace_ = tr_strdup(cr->ns);
        st->name = tr_strdup(cr->name);
        st->generation = cr->in->generation;
        st->accepted = true;
        st->reason = "Accepted";
        weir_diags_init(&st->diags);
        if (!st->namespace_ || !st->name)
            return -1;
        for (size_t j = 0; j < cr->in->diags.len; j++) {
            const struct weir_diag *d = &cr->in->diags.items[j];
            weir_diags_add(&st->diags, d->severity, d->object, d->source, d->line, d->path, "%s",
                           d->message);
        }
        if (!cr->res) {
            const struct weir_diag *first = NULL;
            for (size_t j = 0; j < cr->in->diags.len && !first; j++)
                if (cr->in->diags.items[j].severity == WEIR_SEV_ERROR)
                    first = &cr->in->diags.items[j];
            st->accepted = false;
            st->reason = "Invalid";
            st->message = first ? (first->path && *first->path
                                       ? tr_printf("%s: %s", first->path, first->message)
                                       : tr_strdup(first->message))
                                : tr_strdup("the object is invalid");
        } else if (i > 0 && ctx->crs[i - 1].kind == cr->kind &&
                   strcmp(ctx->crs[i - 1].ns, cr->ns) == 0 &&
                   strcmp(ctx->crs[i - 1].name, cr->name) == 0) {
            /* two copies of one object (two files): the first is applied */
            tr_status_reject(ctx, cr, "Conflict",
                             "another copy of this object is applied; this one is ignored");
            cr->res = NULL;
        }
    }
    return 0;
}

int tr_read_snapshot(struct tr_ctx *ctx, const struct weir_snapshot *snap)
{
    size_t n = snap->n_objects, np = 0, ns = 0, nsl = 0, nn = 0;
    const json_t **pods = calloc(n ? n : 1, sizeof(*pods));
    const json_t **svcs = calloc(n ? n : 1, sizeof(*svcs));
    const json_t **slices = calloc(n ? n : 1, sizeof(*slices));
    const json_t **nsobjs = calloc(n ? n : 1, sizeof(*nsobjs));
    int rc = -1;

    if (!pods || !svcs || !slices || !nsobjs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = snap->objects[i];
        const char *kind = tr_json_str(o, "kind");
        if (!has_meta(o)) {
            tr_note(ctx, o,
                    "%s %s/%s has no valid metadata.name or metadata.namespace and is ignored",
                    kind, key_ns(o), obj_name(o) ? obj_name(o) : "(unnamed)");
            continue;
        }
        if (strcmp(kind, "Pod") == 0) {
            pods[np++] = o;
        } else if (strcmp(kind, "Service") == 0) {
            svcs[ns++] = o;
        } else if (strcmp(kind, "EndpointSlice") == 0) {
            if (!slice_service(o)) {
                tr_note(ctx, o,
                        "EndpointSlice %s/%s has no kubernetes.io/service-name label and is "
                        "ignored",
                        obj_ns(o), obj_name(o));
                continue;
            }
            slices[nsl++] = o;
        } else {
            nsobjs[nn++] = o;
        }
    }
    if (read_pods(ctx, pods, np) != 0)
        goto out;
    ctx->n_k8s_services = sort_unique(ctx, svcs, ns, cmp_object, "Service");
    ctx->k8s_services = svcs;
    svcs = NULL;
    ctx->n_slices = sort_unique(ctx, slices, nsl, cmp_slice, "EndpointSlice");
    ctx->slices = slices;
    slices = NULL;
    nn = sort_unique(ctx, nsobjs, nn, cmp_object, "Namespace");
    if (read_namespaces(ctx, nsobjs, nn, snap) != 0)
        goto out;
    if (read_crs(ctx, snap) != 0)
        goto out;
    struct tr_ns *root = tr_find_ns(ctx, ctx->root_ns);
    if (root)
        ctx->root_ns = root->name;
    for (size_t i = 0; i < ctx->n_pods; i++) {
        struct tr_ns *pns = tr_find_ns(ctx, ctx->pods[i].ns);
        if (pns)
            ctx->pods[i].ns = pns->name;
    }
    rc = 0;
out:
    free(pods);
    free(svcs);
    free(slices);
    free(nsobjs);
    return rc;
}
