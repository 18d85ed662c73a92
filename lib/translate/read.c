/*
 * Reading the snapshot into sorted arrays. Everything is ordered by name here
 * so that the rest of the translation never depends on the order objects were
 * handed in: the same cluster always gives the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "model/common.h"
#include "translate/translate_internal.h"

/* An object with the strings it is sorted by, read once: a snapshot holds
 * tens of thousands of objects, and looking members up in every comparison
 * made sorting them the slowest part of a one-namespace run. */
struct okey {
    const json_t *obj;
    const char *ns;   /* "" for cluster-scoped objects */
    const char *name; /* never NULL for a valid object */
    const char *svc;  /* EndpointSlices: the kubernetes.io/service-name label */
    const char *kind;
};

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
    const struct okey *a = pa, *b = pb;
    int r = strcmp(a->ns, b->ns);
    if (!r)
        r = strcmp(a->name, b->name);
    return r ? r : cmp_content(a->obj, b->obj);
}

static int cmp_slice(const void *pa, const void *pb)
{
    const struct okey *a = pa, *b = pb;
    int r = strcmp(a->ns, b->ns);
    if (!r)
        r = strcmp(a->svc, b->svc);
    if (!r)
        r = strcmp(a->name, b->name);
    return r ? r : cmp_content(a->obj, b->obj);
}

/* Sorts and drops the second of two objects with one namespace and name. */
static size_t sort_unique(struct tr_ctx *ctx, struct okey *v, size_t n,
                          int (*cmp)(const void *, const void *), const char *kind)
{
    size_t out = 0, i = 1;
    /* the operator's informers hand objects in order already */
    while (i < n && cmp(&v[i - 1], &v[i]) < 0)
        i++;
    if (i < n)
        tr_sort(v, n, sizeof(*v), cmp);
    for (i = 0; i < n; i++) {
        if (out > 0 && strcmp(v[out - 1].ns, v[i].ns) == 0 &&
            strcmp(v[out - 1].name, v[i].name) == 0) {
            tr_note(ctx, v[i].obj, "%s %s/%s appears twice; one copy is used", kind, v[i].ns,
                    v[i].name);
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
bool tr_snapshot_key_valid(const struct weir_snapshot_key *k)
{
    if (!k->name || !*k->name)
        return false;
    if (strcmp(k->kind, "Namespace") == 0)
        return weir_valid_namespace(k->name) == NULL;
    if (!k->ns || weir_valid_namespace(k->ns))
        return false;
    /* Service names become DNS labels of the host */
    if (strcmp(k->kind, "Service") == 0)
        return weir_valid_dns1123_label(k->name) == NULL;
    return weir_valid_dns1123_subdomain(k->name) == NULL;
}

static int read_pods(struct tr_ctx *ctx, struct okey *v, size_t n)
{
    n = sort_unique(ctx, v, n, cmp_object, "Pod");
    ctx->pods = calloc(n ? n : 1, sizeof(*ctx->pods));
    if (!ctx->pods)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct tr_pod *p = &ctx->pods[ctx->n_pods++];
        const json_t *spec = json_object_get(v[i].obj, "spec");
        const json_t *labels = json_object_get(json_object_get(v[i].obj, "metadata"), "labels");
        const char *sa = tr_json_str(spec, "serviceAccountName");
        if (!sa)
            sa = tr_json_str(spec, "serviceAccount");
        p->obj = v[i].obj;
        p->ns = v[i].ns;
        p->name = v[i].name;
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

/* Every namespace named anywhere, each once; objects come grouped by
 * namespace, so a name equal to the previous one is skipped before sorting. */
static int read_namespaces(struct tr_ctx *ctx, const struct okey *nsobjs, size_t n_nsobjs,
                           const struct okey *objs, size_t n_objs, const struct weir_snapshot *snap)
{
    size_t cap = n_nsobjs + n_objs + snap->n_crs + ctx->set->n_namespaces + 1, n = 0;
    const char **names = malloc(cap * sizeof(*names));
    if (!names)
        return -1;
    for (size_t i = 0; i < n_nsobjs; i++)
        names[n++] = nsobjs[i].name;
    for (size_t i = 0; i < n_objs; i++)
        if (n == 0 || strcmp(names[n - 1], objs[i].ns) != 0)
            names[n++] = objs[i].ns;
    for (size_t i = 0; i < snap->n_crs; i++)
        if (n == 0 || strcmp(names[n - 1], snap->crs[i].namespace_) != 0)
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
        struct tr_ns *ns = tr_find_ns(ctx, nsobjs[i].name);
        const json_t *labels =
            json_object_get(json_object_get(nsobjs[i].obj, "metadata"), "labels");
        if (ns && json_is_object(labels))
            ns->labels = labels;
    }
    struct tr_ns *last = NULL;
    for (size_t i = 0; i < n_objs; i++) {
        if (!last || strcmp(last->name, objs[i].ns) != 0)
            last = tr_find_ns(ctx, objs[i].ns);
        if (last)
            last->has_workloads = true;
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
    size_t n = snap->n_objects, np = 0, ns = 0, nsl = 0, nn = 0, nw = 0;
    struct okey *keys = calloc(2 * n + 1, sizeof(*keys));
    /* the valid namespaced objects in input order, then by kind */
    struct okey *work = keys, *pods, *svcs, *slices, *nsobjs;
    int rc = -1;

    if (!keys)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct weir_snapshot_key *k = &snap->keys[i];
        if (!k->valid) {
            tr_note(ctx, snap->objects[i],
                    "%s %s/%s has no valid metadata.name or metadata.namespace and is ignored",
                    k->kind, k->ns ? k->ns : "", k->name ? k->name : "(unnamed)");
            continue;
        }
        if (strcmp(k->kind, "Namespace") == 0)
            continue;
        /* an EndpointSlice without its Service's name is still a workload of
         * its namespace, but bound to no Service */
        if (strcmp(k->kind, "EndpointSlice") == 0 && !k->svc)
            tr_note(ctx, snap->objects[i],
                    "EndpointSlice %s/%s has no kubernetes.io/service-name label and is ignored",
                    k->ns, k->name);
        work[nw++] = (struct okey){snap->objects[i], k->ns, k->name, k->svc, k->kind};
    }
    /* each kind gets its part of the second half, in the first half's order */
    pods = keys + n;
    for (size_t i = 0; i < nw; i++)
        if (strcmp(work[i].kind, "Pod") == 0)
            pods[np++] = work[i];
    svcs = pods + np;
    for (size_t i = 0; i < nw; i++)
        if (strcmp(work[i].kind, "Service") == 0)
            svcs[ns++] = work[i];
    slices = svcs + ns;
    for (size_t i = 0; i < nw; i++)
        if (work[i].svc)
            slices[nsl++] = work[i];
    nsobjs = slices + nsl;
    for (size_t i = 0; i < n; i++) {
        const struct weir_snapshot_key *k = &snap->keys[i];
        if (k->valid && strcmp(k->kind, "Namespace") == 0)
            nsobjs[nn++] = (struct okey){snap->objects[i], "", k->name, NULL, k->kind};
    }
    if (read_pods(ctx, pods, np) != 0)
        goto out;
    ns = sort_unique(ctx, svcs, ns, cmp_object, "Service");
    nsl = sort_unique(ctx, slices, nsl, cmp_slice, "EndpointSlice");
    nn = sort_unique(ctx, nsobjs, nn, cmp_object, "Namespace");
    ctx->k8s_services = calloc(ns + 1, sizeof(*ctx->k8s_services));
    ctx->slices = calloc(nsl + 1, sizeof(*ctx->slices));
    if (!ctx->k8s_services || !ctx->slices)
        goto out;
    for (size_t i = 0; i < ns; i++)
        ctx->k8s_services[ctx->n_k8s_services++] = svcs[i].obj;
    for (size_t i = 0; i < nsl; i++)
        ctx->slices[ctx->n_slices++] =
            (struct tr_slice){slices[i].obj, slices[i].ns, slices[i].svc};
    if (read_namespaces(ctx, nsobjs, nn, work, nw, snap) != 0)
        goto out;
    if (read_crs(ctx, snap) != 0)
        goto out;
    struct tr_ns *root = tr_find_ns(ctx, ctx->root_ns);
    if (root)
        ctx->root_ns = root->name;
    struct tr_ns *last = NULL;
    for (size_t i = 0; i < ctx->n_pods; i++) {
        if (!last || strcmp(last->name, ctx->pods[i].ns) != 0)
            last = tr_find_ns(ctx, ctx->pods[i].ns);
        if (last)
            ctx->pods[i].ns = last->name;
    }
    rc = 0;
out:
    free(keys);
    return rc;
}
