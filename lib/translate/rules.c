/*
 * Which VirtualService and which DestinationRule apply to a service, seen from
 * a client namespace, with Istio's precedence:
 *
 *   VirtualService: an exact host before a wildcard one (the more specific
 *   wildcard first); then those private to the client's namespace, those
 *   exported to it by name, public ones of its own namespace, other public
 *   ones; then the oldest (creationTimestamp, name, namespace). One applies
 *   per host: Istio merges several only for gateways.
 *
 *   DestinationRule: one from the client's namespace, else from the service's
 *   namespace, else from the root namespace; within a namespace an exact host
 *   before the most specific wildcard, then the oldest.
 */
#include <stdlib.h>
#include <string.h>

#include "translate/translate_internal.h"

/* ---- age order ---- */

static int cmp_age(const struct tr_cr *a, const struct tr_cr *b)
{
    int r = strcmp(a->created, b->created);
    if (!r)
        r = strcmp(a->name, b->name);
    return r ? r : strcmp(a->ns, b->ns);
}

static int cmp_vs_entry(const void *pa, const void *pb)
{
    const struct tr_host_entry *a = pa, *b = pb;
    int r = strcmp(a->host, b->host);
    return r ? r : cmp_age(a->cr, b->cr);
}

static int cmp_dr_entry(const void *pa, const void *pb)
{
    const struct tr_host_entry *a = pa, *b = pb;
    int r = strcmp(a->ns, b->ns);
    if (!r)
        r = strcmp(a->host, b->host);
    return r ? r : cmp_age(a->cr, b->cr);
}

static bool is_wild(const char *host)
{
    return host[0] == '*';
}

/* ---- DestinationRule checks ---- */

static bool abs_path(const char *p)
{
    return !p || p[0] == '/';
}

static bool valid_sni(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

static bool check_tls(struct tr_ctx *ctx, struct tr_cr *dr, const struct weir_client_tls *t,
                      const char *path)
{
    if (!t)
        return true;
    if (t->mode == WEIR_TLS_MUTUAL && (!t->client_certificate || !t->private_key)) {
        tr_status_reject(ctx, dr, "Unsupported",
                         "%s: mode MUTUAL needs clientCertificate and privateKey files "
                         "(credentialName is not supported by Weir yet)",
                         path);
        return false;
    }
    if (t->mode == WEIR_TLS_SIMPLE || t->mode == WEIR_TLS_MUTUAL) {
        if (!abs_path(t->ca_certificates) || !abs_path(t->client_certificate) ||
            !abs_path(t->private_key)) {
            tr_status_reject(ctx, dr, "Invalid",
                             "%s: certificate and key files must be absolute paths", path);
            return false;
        }
    }
    if (t->sni && !valid_sni(t->sni)) {
        tr_status_reject(ctx, dr, "Invalid", "%s.sni: \"%s\" is not a server name", path, t->sni);
        return false;
    }
    return true;
}

static bool check_policy(struct tr_ctx *ctx, struct tr_cr *dr, const struct weir_traffic_policy *p,
                         const char *path)
{
    char sub[128];
    if (!p)
        return true;
    snprintf(sub, sizeof(sub), "%s.tls", path);
    if (!check_tls(ctx, dr, p->tls, sub))
        return false;
    for (size_t i = 0; i < p->n_port_level_settings; i++) {
        snprintf(sub, sizeof(sub), "%s.portLevelSettings[%zu].tls", path, i);
        if (!check_tls(ctx, dr, p->port_level_settings[i].tls, sub))
            return false;
    }
    return true;
}

bool tr_dr_check(struct tr_ctx *ctx, struct tr_cr *dr)
{
    const struct weir_destination_rule *d = dr->res->u.dr;
    char path[64];
    if (d->has_workload_selector) {
        tr_status_reject(ctx, dr, "Unsupported",
                         "spec.workloadSelector: a DestinationRule for selected workloads only is "
                         "not supported by Weir yet; the rule is not applied");
        return false;
    }
    if (!check_policy(ctx, dr, d->traffic_policy, "spec.trafficPolicy"))
        return false;
    for (size_t i = 0; i < d->n_subsets; i++) {
        snprintf(path, sizeof(path), "spec.subsets[%zu].trafficPolicy", i);
        if (!check_policy(ctx, dr, d->subsets[i].traffic_policy, path))
            return false;
    }
    return true;
}

const struct weir_subset *tr_dr_subset(const struct tr_cr *dr, const char *name)
{
    const struct weir_destination_rule *d = dr->res->u.dr;
    for (size_t i = 0; i < d->n_subsets; i++)
        if (strcmp(d->subsets[i].name, name) == 0)
            return &d->subsets[i];
    return NULL;
}

/* ---- indexes ---- */

static int push_entry(struct tr_host_entry **v, size_t *n, size_t *cap, struct tr_host_entry e)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct tr_host_entry *nv = realloc(*v, c * sizeof(*nv));
        if (!nv)
            return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = e;
    return 0;
}

static bool host_matches_any(const struct tr_ctx *ctx, const char *host)
{
    if (!is_wild(host))
        return tr_find_service(ctx, host) != NULL;
    for (size_t i = 0; i < ctx->n_services; i++)
        if (weir_net_host_covers(host, ctx->services[i]->host))
            return true;
    return false;
}

static int index_vs(struct tr_ctx *ctx, struct tr_cr *cr, size_t *cap_e, size_t *cap_w)
{
    const struct weir_virtual_service *vs = cr->res->u.vs;
    if (vs->is_delegate) {
        tr_status_reject(ctx, cr, "Unsupported",
                         "a VirtualService without hosts is a delegate, which Weir does not "
                         "support yet");
        cr->res = NULL;
        return 0;
    }
    if (!vs->applies_to_mesh) {
        tr_status_reject(ctx, cr, "Unsupported",
                         "bound to gateways only; Weir applies VirtualServices to the mesh "
                         "(gateways: [mesh])");
        cr->res = NULL;
        return 0;
    }
    if (tr_export_from_list(&cr->exp, &vs->export_to, cr->ns) != 0)
        return -1;
    cr->hosts = calloc(vs->hosts.len + 1, sizeof(*cr->hosts));
    if (!cr->hosts)
        return -1;
    for (size_t i = 0; i < vs->hosts.len; i++) {
        char *h = tr_resolve_host(ctx, vs->hosts.items[i], cr->ns);
        char path[64];
        if (!h)
            return -1;
        cr->hosts[cr->n_hosts++] = h;
        snprintf(path, sizeof(path), "spec.hosts[%zu]", i);
        if (!host_matches_any(ctx, h))
            tr_status_add(ctx, cr, WEIR_SEV_WARNING, path,
                          "host %s is not a known service or ServiceEntry", h);
        struct tr_host_entry e = {NULL, h, cr};
        if (is_wild(h) ? push_entry(&ctx->vs_wild, &ctx->n_vs_wild, cap_w, e)
                       : push_entry(&ctx->vs_exact, &ctx->n_vs_exact, cap_e, e))
            return -1;
    }
    return 0;
}

static int index_dr(struct tr_ctx *ctx, struct tr_cr *cr, size_t *cap_e, size_t *cap_w)
{
    const struct weir_destination_rule *dr = cr->res->u.dr;
    if (!tr_dr_check(ctx, cr)) {
        cr->res = NULL;
        return 0;
    }
    if (tr_export_from_list(&cr->exp, &dr->export_to, cr->ns) != 0)
        return -1;
    cr->dr_host = tr_resolve_host(ctx, dr->host, cr->ns);
    if (!cr->dr_host)
        return -1;
    if (!host_matches_any(ctx, cr->dr_host))
        tr_status_add(ctx, cr, WEIR_SEV_WARNING, "spec.host",
                      "host %s is not a known service or ServiceEntry", cr->dr_host);
    struct tr_host_entry e = {cr->ns, cr->dr_host, cr};
    if (is_wild(cr->dr_host) ? push_entry(&ctx->dr_wild, &ctx->n_dr_wild, cap_w, e)
                             : push_entry(&ctx->dr_exact, &ctx->n_dr_exact, cap_e, e))
        return -1;
    return 0;
}

/* Subsets are resolved against the pods behind the service; one that picks
 * none is most likely a typo in its labels. */
static void check_subsets(struct tr_ctx *ctx, struct tr_cr *cr)
{
    const struct weir_destination_rule *dr = cr->res->u.dr;
    struct tr_service *svc = is_wild(cr->dr_host) ? NULL : tr_find_service(ctx, cr->dr_host);
    if (!svc)
        return;
    for (size_t i = 0; i < dr->n_subsets; i++) {
        const struct weir_subset *sub = &dr->subsets[i];
        bool found = false;
        for (size_t p = 0; p < svc->n_ports && !found; p++)
            for (size_t e = 0; e < svc->ports[p].n_eps && !found; e++)
                found = tr_labels_match(&sub->labels, svc->ports[p].eps[e].labels);
        for (size_t k = 0; k < ctx->n_pods && !found && svc->selector && !svc->se; k++) {
            const struct tr_pod *pod = &ctx->pods[k];
            found = strcmp(pod->ns, svc->ns) == 0 &&
                    tr_labels_match_json(svc->selector, pod->labels) &&
                    tr_labels_match(&sub->labels, pod->labels);
        }
        if (!found) {
            char path[64];
            snprintf(path, sizeof(path), "spec.subsets[%zu]", i);
            tr_status_add(ctx, cr, WEIR_SEV_WARNING, path, "subset %s selects no %s", sub->name,
                          svc->se ? "endpoints" : "pods");
        }
    }
}

/* First entry of a sorted VirtualService index with this host. */
static size_t vs_lower(const struct tr_host_entry *v, size_t n, const char *host)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(v[mid].host, host) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int push_ref(const struct tr_host_entry ***v, size_t *n, const struct tr_host_entry *e)
{
    const struct tr_host_entry **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    *v = nv;
    (*v)[(*n)++] = e;
    return 0;
}

/* Orders wildcard DestinationRules of one namespace: the most specific host
 * first, then the oldest (dr_wild is sorted by namespace, host, age). */
static int cmp_wild_dr(const void *pa, const void *pb)
{
    const struct tr_host_entry *a = *(const struct tr_host_entry *const *)pa;
    const struct tr_host_entry *b = *(const struct tr_host_entry *const *)pb;
    int r = strcmp(a->ns, b->ns);
    if (r)
        return r;
    size_t la = strlen(a->host), lb = strlen(b->host);
    if (la != lb)
        return la > lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* The rules each service may see, found once rather than per namespace. */
static int candidates(struct tr_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_services; i++) {
        struct tr_service *s = ctx->services[i];
        size_t first = vs_lower(ctx->vs_exact, ctx->n_vs_exact, s->host), n = 0;
        while (first + n < ctx->n_vs_exact && strcmp(ctx->vs_exact[first + n].host, s->host) == 0)
            n++;
        s->vs_first = first;
        s->vs_n = n;
        for (size_t k = 0; k < ctx->n_vs_wild; k++)
            if (weir_net_host_covers(ctx->vs_wild[k].host, s->host) &&
                push_ref(&s->vs_wild, &s->n_vs_wild, &ctx->vs_wild[k]) != 0)
                return -1;
    }
    /* exact rules, already in namespace and age order */
    for (size_t k = 0; k < ctx->n_dr_exact; k++) {
        struct tr_service *s = tr_find_service(ctx, ctx->dr_exact[k].host);
        if (s && push_ref(&s->drs, &s->n_drs, &ctx->dr_exact[k]) != 0)
            return -1;
    }
    for (size_t i = 0; ctx->n_dr_wild && i < ctx->n_services; i++) {
        struct tr_service *s = ctx->services[i];
        size_t start = s->n_drs;
        for (size_t k = 0; k < ctx->n_dr_wild; k++)
            if (weir_net_host_covers(ctx->dr_wild[k].host, s->host) &&
                push_ref(&s->drs, &s->n_drs, &ctx->dr_wild[k]) != 0)
                return -1;
        tr_sort(s->drs + start, s->n_drs - start, sizeof(*s->drs), cmp_wild_dr);
    }
    return 0;
}

int tr_index_rules(struct tr_ctx *ctx)
{
    size_t cap_ve = 0, cap_vw = 0, cap_de = 0, cap_dw = 0;
    for (size_t i = 0; i < ctx->n_crs; i++) {
        struct tr_cr *cr = &ctx->crs[i];
        if (!cr->res)
            continue;
        if (cr->kind == WEIR_KIND_VIRTUAL_SERVICE && index_vs(ctx, cr, &cap_ve, &cap_vw) != 0)
            return -1;
        if (cr->kind == WEIR_KIND_DESTINATION_RULE && index_dr(ctx, cr, &cap_de, &cap_dw) != 0)
            return -1;
    }
    if (ctx->n_vs_exact > 1)
        tr_sort(ctx->vs_exact, ctx->n_vs_exact, sizeof(*ctx->vs_exact), cmp_vs_entry);
    if (ctx->n_vs_wild > 1)
        tr_sort(ctx->vs_wild, ctx->n_vs_wild, sizeof(*ctx->vs_wild), cmp_vs_entry);
    if (ctx->n_dr_exact > 1)
        tr_sort(ctx->dr_exact, ctx->n_dr_exact, sizeof(*ctx->dr_exact), cmp_dr_entry);
    if (ctx->n_dr_wild > 1)
        tr_sort(ctx->dr_wild, ctx->n_dr_wild, sizeof(*ctx->dr_wild), cmp_dr_entry);
    /* Weir does not merge DestinationRules: the older one of a namespace wins */
    for (size_t i = 1; i < ctx->n_dr_exact; i++) {
        struct tr_host_entry *a = &ctx->dr_exact[i - 1], *b = &ctx->dr_exact[i];
        if (strcmp(a->ns, b->ns) == 0 && strcmp(a->host, b->host) == 0)
            tr_status_add(ctx, b->cr, WEIR_SEV_WARNING, "spec.host",
                          "%s is older and also configures host %s; Weir applies one "
                          "DestinationRule per host and namespace, so this one applies only "
                          "where that one is not exported",
                          a->cr->label, b->host);
    }
    for (size_t i = 0; i < ctx->n_crs; i++)
        if (ctx->crs[i].kind == WEIR_KIND_DESTINATION_RULE && ctx->crs[i].res)
            check_subsets(ctx, &ctx->crs[i]);
    if (candidates(ctx) != 0)
        return -1;
    ctx->dr_choice = calloc(ctx->n_services + 1, sizeof(*ctx->dr_choice));
    ctx->dr_stamp = calloc(ctx->n_services + 1, sizeof(*ctx->dr_stamp));
    return ctx->dr_choice && ctx->dr_stamp ? 0 : -1;
}

/* ---- lookups ---- */

static int vs_tier(const struct tr_cr *vs, const char *ns)
{
    bool own = strcmp(vs->ns, ns) == 0;
    if (!vs->exp.all)
        return own ? 0 : 1;
    return own ? 2 : 3;
}

/* Negative when a ranks before b for clients of ns. */
static int vs_rank(const struct tr_host_entry *a, const struct tr_host_entry *b, const char *ns)
{
    int r = vs_tier(a->cr, ns) - vs_tier(b->cr, ns);
    return r ? r : cmp_age(a->cr, b->cr);
}

static void record_conflict(struct tr_ctx *ctx, struct tr_cr *loser, struct tr_cr *winner,
                            const char *host, const char *ns)
{
    loser->lost = true;
    /* a public winner wins everywhere: one message says it all */
    if (winner->exp.all)
        tr_status_add(ctx, loser, WEIR_SEV_WARNING, "spec.hosts",
                      "host %s is also routed by %s, which takes precedence (for the mesh Istio "
                      "applies one VirtualService per host: the oldest, preferring the client's "
                      "namespace); this one is ignored for it",
                      host, winner->label);
    else
        tr_status_add(ctx, loser, WEIR_SEV_WARNING, "spec.hosts",
                      "for clients in namespace %s, host %s is routed by %s, which is exported "
                      "to that namespace and takes precedence; this one is ignored there",
                      ns, host, winner->label);
}

struct tr_cr *tr_vs_for(struct tr_ctx *ctx, const char *ns, struct tr_service *svc)
{
    const struct tr_host_entry *best = NULL;
    const struct tr_host_entry *exact = ctx->vs_exact + svc->vs_first;

    for (size_t i = 0; i < svc->vs_n; i++) {
        const struct tr_host_entry *e = &exact[i];
        if (!e->cr->res || !tr_visible(&e->cr->exp, ns))
            continue;
        if (!best || vs_rank(e, best, ns) < 0)
            best = e;
    }
    if (best) {
        for (size_t i = 0; i < svc->vs_n; i++)
            if (exact[i].cr != best->cr && exact[i].cr->res && tr_visible(&exact[i].cr->exp, ns))
                record_conflict(ctx, exact[i].cr, best->cr, svc->host, ns);
        best->cr->won = true;
        return best->cr;
    }
    size_t best_len = 0;
    for (size_t i = 0; i < svc->n_vs_wild; i++) {
        const struct tr_host_entry *e = svc->vs_wild[i];
        size_t len = strlen(e->host);
        if (!e->cr->res || !tr_visible(&e->cr->exp, ns))
            continue;
        if (!best || len > best_len || (len == best_len && vs_rank(e, best, ns) < 0)) {
            best = e;
            best_len = len;
        }
    }
    if (best)
        best->cr->won = true;
    return best ? best->cr : NULL;
}

/* The rule of namespace `scope` that clients of `client` use for svc: an
 * exact host before the most specific wildcard, the oldest first. */
static struct tr_cr *dr_in_ns(const char *scope, const char *client, const struct tr_service *svc)
{
    for (size_t i = 0; i < svc->n_drs; i++) {
        const struct tr_host_entry *e = svc->drs[i];
        /* namespace names are interned (read.c): one pointer per name */
        if (e->ns == scope && e->cr->res && tr_visible(&e->cr->exp, client))
            return e->cr;
    }
    return NULL;
}

struct tr_cr *tr_dr_for(struct tr_ctx *ctx, const char *ns, struct tr_service *svc)
{
    struct tr_cr *dr;
    if (ctx->dr_stamp[svc->index] == ctx->stamp)
        return ctx->dr_choice[svc->index];
    if (svc->n_drs) {
        dr = dr_in_ns(ns, ns, svc);
        if (!dr && svc->ns != ns)
            dr = dr_in_ns(svc->ns, ns, svc);
        if (!dr && ctx->root_ns != ns && ctx->root_ns != svc->ns)
            dr = dr_in_ns(ctx->root_ns, ns, svc);
    } else {
        dr = NULL;
    }
    if (dr)
        dr->dr_used = true;
    ctx->dr_stamp[svc->index] = ctx->stamp;
    ctx->dr_choice[svc->index] = dr;
    return dr;
}

/* ---- the global cluster order ---- */

static int cmp_ckey(const void *a, const void *b)
{
    return strcmp(((const struct tr_cluster_key *)a)->name,
                  ((const struct tr_cluster_key *)b)->name);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_subset_names(struct tr_service *svc, const struct tr_cr *dr)
{
    const struct weir_destination_rule *d = dr->res->u.dr;
    if (!d->n_subsets)
        return 0;
    char **v = realloc(svc->subset_names, (svc->n_subset_names + d->n_subsets) * sizeof(*v));
    if (!v)
        return -1;
    svc->subset_names = v;
    for (size_t i = 0; i < d->n_subsets; i++)
        svc->subset_names[svc->n_subset_names++] = d->subsets[i].name;
    return 0;
}

int tr_cluster_order(struct tr_ctx *ctx)
{
    size_t n = 0, cap = 0;
    /* subset names any DestinationRule may give each service */
    for (size_t i = 0; i < ctx->n_dr_exact; i++) {
        struct tr_service *svc = tr_find_service(ctx, ctx->dr_exact[i].host);
        if (svc && ctx->dr_exact[i].cr->res && add_subset_names(svc, ctx->dr_exact[i].cr) != 0)
            return -1;
    }
    for (size_t i = 0; i < ctx->n_dr_wild; i++)
        for (size_t j = 0; j < ctx->n_services && ctx->dr_wild[i].cr->res; j++)
            if (weir_net_host_covers(ctx->dr_wild[i].host, ctx->services[j]->host) &&
                add_subset_names(ctx->services[j], ctx->dr_wild[i].cr) != 0)
                return -1;
    for (size_t i = 0; i < ctx->n_services; i++) {
        struct tr_service *s = ctx->services[i];
        size_t out = 0;
        if (s->n_subset_names > 1)
            tr_sort(s->subset_names, s->n_subset_names, sizeof(char *), cmp_name);
        for (size_t j = 0; j < s->n_subset_names; j++)
            if (!out || strcmp(s->subset_names[out - 1], s->subset_names[j]) != 0)
                s->subset_names[out++] = s->subset_names[j];
        s->n_subset_names = out;
        cap += s->n_ports * (1 + out);
    }
    ctx->ckeys = calloc(cap + 1, sizeof(*ctx->ckeys));
    if (!ctx->ckeys)
        return -1;
    for (size_t i = 0; i < ctx->n_services; i++) {
        struct tr_service *s = ctx->services[i];
        for (size_t p = 0; p < s->n_ports; p++) {
            for (size_t j = 0; j <= s->n_subset_names; j++) {
                const char *sub = j < s->n_subset_names ? s->subset_names[j] : NULL;
                struct tr_cluster_key *k = &ctx->ckeys[n++];
                k->svc = s;
                k->port = p;
                k->subset = sub;
                k->slot = p * (s->n_subset_names + 1) + j;
                k->name =
                    tr_printf("outbound|%d|%s|%s", s->ports[p].number, sub ? sub : "", s->host);
                if (!k->name) {
                    ctx->n_ckeys = n;
                    return -1;
                }
            }
        }
    }
    ctx->n_ckeys = n;
    tr_sort(ctx->ckeys, n, sizeof(*ctx->ckeys), cmp_ckey);
    return 0;
}

/* ---- PeerAuthentication levels ---- */

static enum weir_mtls_mode resolved(enum weir_mtls_mode m, enum weir_mtls_mode parent)
{
    return m == WEIR_MTLS_UNSET ? parent : m;
}

void tr_resolve_mtls(struct tr_ctx *ctx)
{
    struct tr_cr *mesh = NULL;
    /* one policy without selector per namespace: the oldest; later ones are
     * ambiguous in Istio too and are refused */
    for (size_t i = 0; i < ctx->n_crs; i++) {
        struct tr_cr *cr = &ctx->crs[i];
        if (cr->kind != WEIR_KIND_PEER_AUTHENTICATION || !cr->res ||
            cr->res->u.pa->selector.len > 0)
            continue;
        struct tr_ns *ns = tr_find_ns(ctx, cr->ns);
        if (!ns)
            continue;
        if (!ns->pa_ns || cmp_age(cr, ns->pa_ns) < 0) {
            struct tr_cr *old = ns->pa_ns;
            ns->pa_ns = cr;
            cr = old;
        }
        if (cr) {
            tr_status_reject(ctx, cr, "Conflict",
                             "%s is older and already sets the %s mTLS mode; this one is ignored",
                             ns->pa_ns->label,
                             strcmp(ns->name, ctx->root_ns) == 0 ? "mesh-wide" : "namespace");
            cr->res = NULL;
        }
    }
    struct tr_ns *root = tr_find_ns(ctx, ctx->root_ns);
    if (root)
        mesh = root->pa_ns;
    enum weir_mtls_mode mesh_mode =
        resolved(mesh ? mesh->res->u.pa->mode : WEIR_MTLS_UNSET, WEIR_MTLS_PERMISSIVE);
    for (size_t i = 0; i < ctx->n_nss; i++) {
        struct tr_ns *ns = &ctx->nss[i];
        ns->mode = ns->pa_ns ? resolved(ns->pa_ns->res->u.pa->mode, mesh_mode) : mesh_mode;
    }
    for (size_t i = 0; i < ctx->n_services; i++) {
        struct tr_service *s = ctx->services[i];
        struct tr_ns *ns = tr_find_ns(ctx, s->ns);
        if (s->auto_mtls)
            s->auto_mtls = ns && ns->mesh && ns->mode != WEIR_MTLS_DISABLE;
    }
}
