/*
 * weir_translate(): the stages in order, and the assembly of each
 * namespace's document from the shared fragments. The revision is computed
 * from the fragments' kept digests (see canonical.c), so a document is never
 * serialized whole to compute it.
 */
#include <stdlib.h>
#include <string.h>

#include "config/proxy_config.h"
#include "model/common.h"
#include "translate/translate_internal.h"

#define LABEL_WEIR  "weir-injection"
#define LABEL_ISTIO "istio-injection"

/* Weir's label decides alone when present, as the injection webhook does. */
static int injection_label(const json_t *labels)
{
    const char *weir = tr_json_str(labels, LABEL_WEIR);
    const char *istio = tr_json_str(labels, LABEL_ISTIO);
    const char *v = weir ? weir : istio;
    if (!v)
        return 0;
    return strcmp(v, "enabled") == 0 ? 1 : -1;
}

static bool listed(const struct weir_translate_settings *set, const char *ns)
{
    for (size_t i = 0; i < set->n_namespaces; i++)
        if (strcmp(set->namespaces[i], ns) == 0)
            return true;
    return false;
}

static void choose_namespaces(struct tr_ctx *ctx)
{
    const struct weir_translate_settings *set = ctx->set;
    for (size_t i = 0; i < ctx->n_nss; i++) {
        struct tr_ns *ns = &ctx->nss[i];
        int label = injection_label(ns->labels);
        ns->mesh = set->all_namespaces ? label >= 0 : label > 0;
        if (weir_valid_namespace(ns->name))
            continue;
        if (set->namespaces)
            ns->output = listed(set, ns->name);
        else if (set->all_namespaces)
            ns->output = ns->mesh && (ns->has_workloads ||
                                      (ns->has_crs && strcmp(ns->name, ctx->root_ns) != 0));
        else
            ns->output = ns->mesh;
    }
}

/* ---- one document ---- */

struct frags {
    const struct tr_frag **v;
    size_t n, cap;
};

static int frags_push(struct frags *f, const struct tr_frag *x)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        const struct tr_frag **v = realloc(f->v, cap * sizeof(*v));
        if (!v)
            return -1;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = x;
    return 0;
}

/* The list's digest (docs/proxy-config.md, revision), from its elements'
 * digests gathered in d (NULL: gathered here). */
static int frags_digest(const struct frags *f, const unsigned char *d, unsigned char out[32])
{
    unsigned char *own = NULL;
    if (!d) {
        if (!(own = malloc(f->n * 32 + 1)))
            return -1;
        for (size_t i = 0; i < f->n; i++)
            memcpy(own + 32 * i, f->v[i]->digest, 32);
        d = own;
    }
    tr_list_digest(d, f->n, out);
    free(own);
    return 0;
}

/* The JSON array of a list. Arrays grown by appending end up to twice their
 * size; a thousand configs each holding ten thousand services made that
 * 50 MB. So the elements go to `scratch` (kept between calls), and the array
 * kept is a copy of the right size (json_array_extend allocates exactly what
 * an empty array needs). */
static json_t *frags_array(const struct frags *f, json_t *scratch)
{
    json_t *a = json_array();
    json_array_clear(scratch);
    for (size_t i = 0; a && i < f->n; i++)
        if (json_array_append(scratch, f->v[i]->json) != 0) {
            json_decref(a);
            a = NULL;
        }
    if (a && json_array_extend(a, scratch) != 0) {
        json_decref(a);
        a = NULL;
    }
    json_array_clear(scratch);
    return a;
}

/*
 * Namespaces that see the same services through the same rules get the same
 * list of clusters (and often of services): the JSON array and the list's
 * digest are then shared. A small cache of recent lists is enough: in a mesh,
 * the lists differ between namespaces only where exportTo or a namespace's
 * own DestinationRule makes them.
 */
#define LIST_CACHE 16

struct list_entry {
    uint64_t key;
    struct frags list; /* owned copy */
    json_t *array;
    unsigned char digest[32];
};

struct list_cache {
    struct list_entry e[LIST_CACHE];
    size_t next;     /* replaced in turn once full */
    json_t *scratch; /* see frags_array */
};

static uint64_t list_key(const struct frags *f)
{
    uint64_t h = 1469598103934665603ull ^ f->n;
    for (size_t i = 0; i < f->n; i++)
        h = (h ^ (uint64_t)(uintptr_t)f->v[i]) * 1099511628211ull;
    return h;
}

static struct list_entry *list_find(struct list_cache *c, const struct frags *f, uint64_t key)
{
    for (size_t i = 0; i < LIST_CACHE; i++) {
        struct list_entry *e = &c->e[i];
        if (e->array && e->key == key && e->list.n == f->n &&
            (!f->n || memcmp(e->list.v, f->v, f->n * sizeof(*f->v)) == 0))
            return e;
    }
    return NULL;
}

static struct list_entry *list_add(struct list_cache *c, const struct frags *f,
                                   const unsigned char *digests, uint64_t key)
{
    struct list_entry *e = &c->e[c->next];
    json_t *a = c->scratch || (c->scratch = json_array()) ? frags_array(f, c->scratch) : NULL;
    const struct tr_frag **v = f->n ? malloc(f->n * sizeof(*v)) : NULL;
    if (!a || (f->n && !v)) {
        json_decref(a);
        free(v);
        return NULL;
    }
    json_decref(e->array);
    free(e->list.v);
    if (f->n)
        memcpy(v, f->v, f->n * sizeof(*v));
    if (frags_digest(f, digests, e->digest) != 0) {
        json_decref(a);
        free(v);
        e->array = NULL;
        e->list = (struct frags){0};
        return NULL;
    }
    e->key = key;
    e->list = (struct frags){v, f->n, f->n};
    e->array = a;
    c->next = (c->next + 1) % LIST_CACHE;
    return e;
}

static void list_cache_free(struct list_cache *c)
{
    for (size_t i = 0; i < LIST_CACHE; i++) {
        json_decref(c->e[i].array);
        free(c->e[i].list.v);
    }
    json_decref(c->scratch);
}

/*
 * The clusters a namespace sees depend only on which services and
 * DestinationRules are visible to it and on its own DestinationRules. A
 * namespace without rules of its own whose view of the restricted objects
 * (exportTo other than "*") matches another's gets that namespace's list
 * without walking every cluster again.
 */
struct view {
    unsigned char *bits; /* visibility of ctx-wide restricted objects; NULL: none */
    size_t n_bits;
    struct frags list; /* owned copy */
};

struct caches {
    struct list_cache services, clusters;
    const struct tr_export **restricted; /* services and DestinationRules not exported to all */
    size_t n_restricted;
    struct view views[LIST_CACHE];
    size_t next_view;
    bool *overrides; /* per namespace (index in ctx->nss), see find_overrides() */
    /* Services seen alike from most namespaces (see tr_service_specials):
     * the common entry of each service, looked up once, and per namespace
     * the services whose entry must be looked up there. Without `spec`
     * (a run for a few namespaces) every entry is looked up. */
    const struct tr_frag **common;      /* per service; NULL: not visible in common */
    unsigned char (*common_digest)[32]; /* per service, dense: read for every namespace */
    bool *common_done;
    bool *always;                   /* per service: too many namespaces differ, no common entry */
    size_t *spec_first;             /* per namespace: its range in spec */
    size_t *spec;                   /* service indexes, ascending within a namespace */
    struct tr_buf services_digests; /* the namespace's, reused */
};

static int find_restricted(const struct tr_ctx *ctx, struct caches *c)
{
    size_t n = ctx->n_services;
    for (size_t i = 0; i < ctx->n_crs; i++)
        n += ctx->crs[i].kind == WEIR_KIND_DESTINATION_RULE;
    c->restricted = calloc(n + 1, sizeof(*c->restricted));
    if (!c->restricted)
        return -1;
    for (size_t i = 0; i < ctx->n_services; i++)
        if (!ctx->services[i]->exp.all)
            c->restricted[c->n_restricted++] = &ctx->services[i]->exp;
    for (size_t i = 0; i < ctx->n_crs; i++) {
        const struct tr_cr *cr = &ctx->crs[i];
        if (cr->kind == WEIR_KIND_DESTINATION_RULE && cr->res && !cr->exp.all)
            c->restricted[c->n_restricted++] = &cr->exp;
    }
    return 0;
}

/* Whether a namespace's own DestinationRules change what its clients use
 * compared with other namespaces: a rule for a service of another namespace,
 * or a wildcard. A rule for one of its own services is what every client
 * uses (the service's namespace comes second in the lookup), and visibility
 * differences are in the view's bits. Found for every namespace at once. */
static int find_overrides(const struct tr_ctx *ctx, struct caches *c)
{
    c->overrides = calloc(ctx->n_nss + 1, sizeof(*c->overrides));
    if (!c->overrides)
        return -1;
    for (size_t i = 0; i < ctx->n_dr_exact; i++) {
        const struct tr_host_entry *e = &ctx->dr_exact[i];
        if (!e->cr->res)
            continue;
        const struct tr_service *svc = tr_find_service(ctx, e->host);
        const struct tr_ns *ns = tr_find_ns(ctx, e->ns);
        if (svc && ns && svc->ns != ns->name)
            c->overrides[ns - ctx->nss] = true;
    }
    for (size_t i = 0; i < ctx->n_dr_wild; i++) {
        const struct tr_ns *ns = tr_find_ns(ctx, ctx->dr_wild[i].ns);
        if (ns && ctx->dr_wild[i].cr->res)
            c->overrides[ns - ctx->nss] = true;
    }
    return 0;
}

/* Past this many namespaces that differ, a service is looked up everywhere. */
#define MAX_SPECIALS 64

struct spec_pair {
    size_t ns, svc;
};

static int cmp_ns_ptr(const void *a, const void *b)
{
    const struct tr_ns *x = *(struct tr_ns *const *)a, *y = *(struct tr_ns *const *)b;
    return x < y ? -1 : x > y;
}

static int find_specials(struct tr_ctx *ctx, struct caches *c)
{
    struct tr_ns_list l = {0};
    struct spec_pair *pairs = NULL;
    size_t n = ctx->n_services, np = 0, cap = 0;
    int rc = -1;

    c->common = calloc(n + 1, sizeof(*c->common));
    c->common_digest = calloc(n + 1, sizeof(*c->common_digest));
    c->common_done = calloc(n + 1, sizeof(*c->common_done));
    c->always = calloc(n + 1, sizeof(*c->always));
    c->spec_first = calloc(ctx->n_nss + 2, sizeof(*c->spec_first));
    if (!c->common || !c->common_digest || !c->common_done || !c->always || !c->spec_first)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (tr_service_specials(ctx, ctx->services[i], &l) != 0)
            goto out;
        tr_sort(l.v, l.n, sizeof(*l.v), cmp_ns_ptr);
        size_t u = 0;
        for (size_t k = 0; k < l.n; k++)
            if (l.v[k]->output && (u == 0 || l.v[u - 1] != l.v[k]))
                l.v[u++] = l.v[k];
        if (u > MAX_SPECIALS) {
            c->always[i] = true;
            continue;
        }
        if (np + u > cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            while (ncap < np + u)
                ncap *= 2;
            struct spec_pair *v = realloc(pairs, ncap * sizeof(*v));
            if (!v)
                goto out;
            pairs = v;
            cap = ncap;
        }
        for (size_t k = 0; k < u; k++)
            pairs[np++] = (struct spec_pair){(size_t)(l.v[k] - ctx->nss), i};
    }
    /* counting sort by namespace; services stay ascending within one */
    c->spec = calloc(np + 1, sizeof(*c->spec));
    if (!c->spec)
        goto out;
    for (size_t k = 0; k < np; k++)
        c->spec_first[pairs[k].ns + 1]++;
    for (size_t k = 0; k < ctx->n_nss; k++)
        c->spec_first[k + 1] += c->spec_first[k];
    size_t *fill = calloc(ctx->n_nss + 1, sizeof(*fill));
    if (!fill)
        goto out;
    for (size_t k = 0; k < np; k++) {
        size_t ns = pairs[k].ns;
        c->spec[c->spec_first[ns] + fill[ns]++] = pairs[k].svc;
    }
    free(fill);
    rc = 0;
out:
    free(l.v);
    free(pairs);
    return rc;
}

static int view_bits(const struct caches *c, const char *ns, unsigned char **out)
{
    *out = c->n_restricted ? malloc(c->n_restricted) : NULL;
    if (c->n_restricted && !*out)
        return -1;
    for (size_t i = 0; i < c->n_restricted; i++)
        (*out)[i] = tr_visible(c->restricted[i], ns);
    return 0;
}

static struct view *view_find(struct caches *c, const unsigned char *bits)
{
    for (size_t i = 0; i < LIST_CACHE; i++) {
        struct view *v = &c->views[i];
        if (v->list.v && (!c->n_restricted || memcmp(v->bits, bits, c->n_restricted) == 0))
            return v;
    }
    return NULL;
}

static void view_add(struct caches *c, unsigned char *bits, const struct frags *list)
{
    struct view *v = &c->views[c->next_view];
    const struct tr_frag **copy = malloc((list->n + 1) * sizeof(*copy));
    if (!copy) {
        free(bits);
        return; /* only a cache: the next namespace walks the clusters again */
    }
    free(v->bits);
    free(v->list.v);
    if (list->n) /* an empty list may have no array at all */
        memcpy(copy, list->v, list->n * sizeof(*copy));
    v->bits = bits;
    v->list = (struct frags){copy, list->n, list->n};
    c->next_view = (c->next_view + 1) % LIST_CACHE;
}

static int build_config(struct tr_ctx *ctx, struct caches *caches, struct tr_ns *ns,
                        struct weir_translate_config *out)
{
    struct frags services = {0}, clusters = {0};
    struct tr_buf *sdig = &caches->services_digests;
    json_t *inbound = NULL, *doc = NULL, *ns_json = NULL, *td_json = NULL;
    struct list_entry *ce, *se;
    char revision[72];
    int rc = -1;

    /* a new stamp forgets the DestinationRule choices of the previous namespace */
    if (++ctx->stamp == 0) {
        memset(ctx->dr_stamp, 0, (ctx->n_services + 1) * sizeof(*ctx->dr_stamp));
        ctx->stamp = 1;
    }
    size_t nsi = (size_t)(ns - ctx->nss), next = 0;
    sdig->len = 0;
    const size_t *spec = caches->spec ? caches->spec + caches->spec_first[nsi] : NULL;
    size_t n_spec = caches->spec ? caches->spec_first[nsi + 1] - caches->spec_first[nsi] : 0;
    for (size_t i = 0; i < ctx->n_services; i++) {
        struct tr_service *s = ctx->services[i];
        const struct tr_frag *f;
        bool own_lookup = !caches->spec || caches->always[i];
        if (next < n_spec && spec[next] == i) {
            own_lookup = true;
            next++;
        }
        bool from_common = false;
        if (own_lookup || !caches->common_done[i]) {
            f = tr_visible(&s->exp, ns->name) ? tr_service_frag(ctx, s, ns->name) : NULL;
            if (ctx->oom)
                goto out;
            if (!own_lookup) {
                caches->common[i] = f;
                caches->common_done[i] = true;
                if (f)
                    memcpy(caches->common_digest[i], f->digest, 32);
            }
        } else {
            f = caches->common[i];
            from_common = true; /* its digest is in the dense array: f is not visited */
        }
        if (!f)
            continue;
        tr_buf_put(sdig, from_common ? caches->common_digest[i] : f->digest, 32);
        if (sdig->oom || frags_push(&services, f) != 0)
            goto out;
    }
    unsigned char *bits = NULL;
    bool shared = !caches->overrides[nsi];
    struct view *view = NULL;
    if (shared && view_bits(caches, ns->name, &bits) != 0)
        goto out;
    if (shared && (view = view_find(caches, bits))) {
        free(bits);
        for (size_t i = 0; i < view->list.n; i++)
            if (frags_push(&clusters, view->list.v[i]) != 0)
                goto out;
    } else {
        for (size_t i = 0; i < ctx->n_ckeys; i++) {
            const struct tr_cluster_key *k = &ctx->ckeys[i];
            if (!tr_visible(&k->svc->exp, ns->name))
                continue;
            struct tr_cr *dr = tr_dr_for(ctx, ns->name, k->svc);
            const struct tr_frag *f = tr_cluster_frag(ctx, k->svc, dr, k->slot);
            if (f && frags_push(&clusters, f) != 0) {
                free(bits);
                goto out;
            }
        }
        if (shared)
            view_add(caches, bits, &clusters);
    }
    if (ctx->oom)
        goto out;
    inbound = tr_inbound(ctx, ns);
    ns_json = json_string(ns->name);
    td_json = json_string(ctx->trust_domain);
    if (!ns_json || !td_json)
        goto out;

    uint64_t ckey = list_key(&clusters), skey = list_key(&services);
    if (!(ce = list_find(&caches->clusters, &clusters, ckey)) &&
        !(ce = list_add(&caches->clusters, &clusters, NULL, ckey)))
        goto out;
    if (!(se = list_find(&caches->services, &services, skey)) &&
        !(se = list_add(&caches->services, &services, (const unsigned char *)sdig->data, skey)))
        goto out;
    json_t *md =
        json_pack("{s:O, s:s, s:O}", "namespace", ns_json, "revision", "", "trustDomain", td_json);
    if (md && ctx->set->generated_at)
        json_object_set_new(md, "generatedAt", json_string(ctx->set->generated_at));
    doc = json_pack("{s:s, s:s, s:o, s:O, s:O}", "apiVersion", WEIR_PROXY_CONFIG_API_VERSION,
                    "kind", WEIR_PROXY_CONFIG_KIND, "metadata", md, "services", se->array,
                    "clusters", ce->array);
    if (!doc)
        goto out;
    if (inbound && json_object_set(doc, "inbound", inbound) != 0)
        goto out;
    json_t *limits = tr_rate_limits(ctx, ns, se->array);
    if (ctx->oom || (limits && json_object_set_new(doc, "rateLimits", limits) != 0))
        goto out;
    unsigned char lists[TR_N_LISTS][32];
    memcpy(lists[0], ce->digest, 32); /* in the order of tr_lists */
    memcpy(lists[1], se->digest, 32);
    if (tr_revision(doc, lists, revision) != 0 ||
        json_object_set_new(md, "revision", json_string(revision)) != 0)
        goto out;
    out->namespace_ = strdup(ns->name);
    out->revision = strdup(revision);
    if (!out->namespace_ || !out->revision)
        goto out;
    out->doc = doc;
    doc = NULL;
    rc = 0;
out:
    json_decref(doc);
    json_decref(inbound);
    json_decref(ns_json);
    json_decref(td_json);
    free(services.v);
    free(clusters.v);
    return rc;
}

/* ---- the whole run ---- */

static void free_caches(struct caches *c)
{
    if (!c)
        return;
    list_cache_free(&c->services);
    list_cache_free(&c->clusters);
    for (size_t i = 0; i < LIST_CACHE; i++) {
        free(c->views[i].bits);
        free(c->views[i].list.v);
    }
    free(c->restricted);
    free(c->overrides);
    free(c->common);
    free(c->common_digest);
    free(c->common_done);
    free(c->always);
    free(c->spec_first);
    free(c->spec);
    tr_buf_free(&c->services_digests);
    free(c);
}

static void ctx_free(struct tr_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_services; i++)
        tr_service_free(ctx->services[i]);
    free(ctx->services);
    for (size_t i = 0; i < ctx->n_crs; i++) {
        struct tr_cr *cr = &ctx->crs[i];
        tr_plans_free(cr);
        for (size_t j = 0; j < cr->n_hosts; j++)
            free(cr->hosts[j]);
        free(cr->hosts);
        free(cr->dr_host);
        free(cr->exp.ns);
        tr_frag_clear(&cr->frag);
    }
    free(ctx->crs);
    for (size_t i = 0; i < ctx->n_pods; i++) {
        free(ctx->pods[i].identity);
        json_decref(ctx->pods[i].labels_json);
    }
    free(ctx->pods);
    free(ctx->k8s_services);
    free(ctx->slices);
    free(ctx->nss);
    for (size_t i = 0; i < ctx->n_ckeys; i++)
        free(ctx->ckeys[i].name);
    free(ctx->ckeys);
    free(ctx->vs_exact);
    free(ctx->vs_wild);
    free(ctx->dr_exact);
    free(ctx->dr_wild);
    free(ctx->dr_choice);
    free(ctx->dr_stamp);
    free(ctx->ns_services_first);
    free(ctx->ns_services);
    tr_buf_free(&ctx->scratch);
}

int weir_translate(const struct weir_snapshot *snap, const struct weir_translate_settings *settings,
                   struct weir_translate_result *out)
{
    static const struct weir_translate_settings defaults = {0};
    struct tr_ctx ctx = {0};
    size_t n_out = 0;
    struct caches *caches = NULL;

    memset(out, 0, sizeof(*out));
    weir_diags_init(&out->diags);
    ctx.set = settings ? settings : &defaults;
    ctx.out = out;
    ctx.trust_domain =
        ctx.set->trust_domain ? ctx.set->trust_domain : WEIR_TRANSLATE_DEFAULT_TRUST_DOMAIN;
    ctx.cluster_domain =
        ctx.set->cluster_domain ? ctx.set->cluster_domain : WEIR_TRANSLATE_DEFAULT_CLUSTER_DOMAIN;
    ctx.root_ns =
        ctx.set->root_namespace ? ctx.set->root_namespace : WEIR_TRANSLATE_DEFAULT_ROOT_NAMESPACE;

    if (tr_read_snapshot(&ctx, snap) != 0)
        goto fail;
    choose_namespaces(&ctx);
    if (tr_build_registry(&ctx) != 0)
        goto fail;
    tr_resolve_mtls(&ctx);
    if (tr_index_rules(&ctx) != 0)
        goto fail;
    if (tr_cluster_order(&ctx) != 0)
        goto fail;
    for (size_t i = 0; i < ctx.n_nss; i++)
        n_out += ctx.nss[i].output;
    out->configs = calloc(n_out + 1, sizeof(*out->configs));
    caches = calloc(1, sizeof(*caches));
    if (!out->configs || !caches || find_restricted(&ctx, caches) != 0 ||
        find_overrides(&ctx, caches) != 0)
        goto fail;
    /* a run for one or two namespaces looks every entry up anyway */
    if (n_out > 2 && find_specials(&ctx, caches) != 0)
        goto fail;
    for (size_t i = 0; i < ctx.n_nss; i++) {
        if (!ctx.nss[i].output)
            continue;
        if (build_config(&ctx, caches, &ctx.nss[i], &out->configs[out->n_configs]) != 0)
            goto fail;
        out->n_configs++;
    }
    tr_finish_statuses(&ctx);
    if (ctx.oom)
        goto fail;
    free_caches(caches);
    ctx_free(&ctx);
    return 0;
fail:
    free_caches(caches);
    ctx_free(&ctx);
    weir_translate_result_free(out);
    return -1;
}

void weir_translate_result_free(struct weir_translate_result *r)
{
    for (size_t i = 0; i < r->n_configs; i++) {
        free(r->configs[i].namespace_);
        free(r->configs[i].revision);
        json_decref(r->configs[i].doc);
    }
    free(r->configs);
    for (size_t i = 0; i < r->n_statuses; i++) {
        free(r->statuses[i].namespace_);
        free(r->statuses[i].name);
        free(r->statuses[i].message);
        weir_diags_free(&r->statuses[i].diags);
    }
    free(r->statuses);
    weir_diags_free(&r->diags);
    memset(r, 0, sizeof(*r));
    weir_diags_init(&r->diags);
}

enum weir_translate_impact weir_translate_impact(const char *kind, const char *namespace_,
                                                 bool has_selector, bool backs_service,
                                                 const struct weir_translate_settings *settings)
{
    const char *root = settings && settings->root_namespace ? settings->root_namespace
                                                            : WEIR_TRANSLATE_DEFAULT_ROOT_NAMESPACE;
    bool in_root = namespace_ && strcmp(namespace_, root) == 0;
    if (!kind)
        return WEIR_IMPACT_ALL;
    if (strcmp(kind, "AuthorizationPolicy") == 0 || strcmp(kind, "RequestAuthentication") == 0 ||
        strcmp(kind, "RateLimitPolicy") == 0)
        return in_root ? WEIR_IMPACT_ALL : WEIR_IMPACT_NAMESPACE;
    if (strcmp(kind, "PeerAuthentication") == 0)
        return in_root || !has_selector ? WEIR_IMPACT_ALL : WEIR_IMPACT_NAMESPACE;
    if (strcmp(kind, "Pod") == 0)
        return backs_service ? WEIR_IMPACT_ALL : WEIR_IMPACT_NAMESPACE;
    return WEIR_IMPACT_ALL;
}
