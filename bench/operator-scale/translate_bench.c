/*
 * The translation at the operator's scale target. Loads
 * a cluster state written by gen.py into a snapshot held the way weir-operator
 * holds its cache (Kubernetes objects by reference, mesh CRs parsed once and
 * lent), then measures:
 *
 *   full         weir_translate() over every mesh namespace, median of N;
 *   incremental  one VirtualService changed (its weights), the snapshot
 *                rebuilt and the namespace of the VirtualService translated
 *                alone through settings.namespaces, median of M;
 *   scoped       the same change in a namespace that exports nothing,
 *                translated the way weir-operator reconciles it: from a
 *                snapshot of the namespaces that can reach it (translate.h,
 *                "Scoped translations"), median of M; skipped when every
 *                namespace exports (gen.py --visibility mesh);
 *   impact       the same change translated for the namespaces
 *                weir_translate_impact() names for it (every namespace for a
 *                VirtualService, which any namespace may see), median of K;
 *   peak RSS     getrusage() ru_maxrss, after loading and at the end.
 *
 * Each incremental run is checked against a translation of the whole mesh:
 * the namespace's revision must be the one the full run gives, and must have
 * changed. Not a test (it takes minutes at full size); run.sh runs it.
 *
 * Usage: translate_bench FILE [--full-runs N] [--incr-runs M] [--impact-runs K]
 *                             [--csv FILE]
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "model/mesh.h"
#include "translate/translate.h"

#define MAX_RUNS 100

struct cr {
    json_t *obj; /* as loaded, kept to derive changed versions */
    struct weir_resource *res;
    const char *created;
};

struct state {
    json_t **objs;       /* Services, EndpointSlices, Pods, Namespaces */
    const char **obj_ns; /* each object's namespace, NULL for Namespaces */
    size_t n_objs, cap_objs;
    struct cr *crs;
    size_t n_crs, cap_crs;
    size_t n_ns, n_svc, n_slices, n_pods, n_vs, n_dr;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* KiB on Linux */
}

static void die(const char *what)
{
    fprintf(stderr, "translate_bench: %s\n", what);
    exit(1);
}

static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return v;
    *cap = *cap ? *cap * 2 : 1024;
    v = realloc(v, *cap * size);
    if (!v)
        die("out of memory");
    return v;
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

static struct weir_resource *parse_cr(const json_t *obj)
{
    struct weir_resource *r = NULL;
    struct weir_diags d;
    weir_diags_init(&d);
    int rc = weir_mesh_parse(obj, NULL, 0, NULL, &r, &d);
    if (rc != 0) {
        fprintf(stderr, "translate_bench: %s %s/%s does not parse: %s\n", str_at(obj, "kind", NULL),
                str_at(obj, "metadata", "namespace"), str_at(obj, "metadata", "name"),
                d.len ? d.items[0].message : "not a mesh kind");
        exit(1);
    }
    weir_diags_free(&d);
    return r;
}

/* gen.py writes one JSON object per line between "---" lines; jansson reads
 * that an order of magnitude faster than a YAML parser would. */
static void load(struct state *st, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    if (!f) {
        fprintf(stderr, "translate_bench: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t err;
        if (line[0] != '{')
            continue;
        json_t *obj = json_loadb(line, (size_t)n, 0, &err);
        if (!obj) {
            fprintf(stderr, "translate_bench: %s:%d: %s\n", path, err.line, err.text);
            exit(1);
        }
        const char *kind = str_at(obj, "kind", NULL);
        if (!kind)
            die("an object without kind");
        if (strcmp(kind, "VirtualService") == 0 || strcmp(kind, "DestinationRule") == 0) {
            st->crs = grow(st->crs, &st->cap_crs, st->n_crs, sizeof(*st->crs));
            st->crs[st->n_crs++] =
                (struct cr){obj, parse_cr(obj), str_at(obj, "metadata", "creationTimestamp")};
            *(kind[0] == 'V' ? &st->n_vs : &st->n_dr) += 1;
            continue;
        }
        size_t ns_cap = st->cap_objs; /* grows in step with objs */
        st->objs = grow(st->objs, &st->cap_objs, st->n_objs, sizeof(*st->objs));
        st->obj_ns = grow(st->obj_ns, &ns_cap, st->n_objs, sizeof(*st->obj_ns));
        st->obj_ns[st->n_objs] = str_at(obj, "metadata", "namespace");
        st->objs[st->n_objs++] = obj;
        if (strcmp(kind, "Namespace") == 0)
            st->n_ns++;
        else if (strcmp(kind, "Service") == 0)
            st->n_svc++;
        else if (strcmp(kind, "EndpointSlice") == 0)
            st->n_slices++;
        else if (strcmp(kind, "Pod") == 0)
            st->n_pods++;
    }
    free(line);
    fclose(f);
    if (!st->n_vs)
        die("the state holds no VirtualService to change");
}

/* What the operator does before each reconcile: a fresh snapshot over its
 * cache. */
static void snapshot_build(const struct state *st, struct weir_snapshot *snap)
{
    weir_snapshot_init(snap);
    for (size_t i = 0; i < st->n_objs; i++)
        if (weir_snapshot_add(snap, st->objs[i], NULL, 0, NULL) < 0)
            die("out of memory");
    for (size_t i = 0; i < st->n_crs; i++)
        if (weir_snapshot_add_resource(snap, st->crs[i].res, st->crs[i].created) != 0)
            die("out of memory");
}

/* ---- scoped snapshots, as weir-operator takes them ---- */

struct scope {
    const char **ns; /* sorted */
    size_t n;
};

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool scope_has(const struct scope *sc, const char *ns)
{
    return ns && bsearch(&ns, sc->ns, sc->n, sizeof(*sc->ns), cmp_cstr) != NULL;
}

static void scope_add(struct scope *sc, size_t *cap, const char *ns)
{
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->ns[i], ns) == 0)
            return;
    sc->ns = grow(sc->ns, cap, sc->n, sizeof(*sc->ns));
    sc->ns[sc->n++] = ns;
}

/* The namespaces that export something; false when a ServiceEntry claims
 * Service names or addresses (no scoped translation then). */
static bool exporting(const struct state *st, struct scope *out, size_t *cap)
{
    for (size_t i = 0; i < st->n_objs; i++) {
        if (weir_translate_claims_cluster(st->objs[i]))
            return false;
        if (weir_translate_exports(st->objs[i]))
            scope_add(out, cap, str_at(st->objs[i], "metadata", "namespace"));
    }
    for (size_t i = 0; i < st->n_crs; i++)
        if (weir_translate_exports(st->crs[i].obj))
            scope_add(out, cap, st->crs[i].res->meta.namespace_);
    qsort(out->ns, out->n, sizeof(*out->ns), cmp_cstr);
    return true;
}

/* Every Namespace, and everything of the scope's namespaces (gen.py writes no
 * ServiceEntry, which the operator would take from every namespace). */
static void snapshot_build_scoped(const struct state *st, const struct scope *sc,
                                  struct weir_snapshot *snap)
{
    weir_snapshot_init(snap);
    for (size_t i = 0; i < st->n_objs; i++)
        if (scope_has(sc, st->obj_ns[i]) ||
            strcmp(str_at(st->objs[i], "kind", NULL), "Namespace") == 0)
            if (weir_snapshot_add(snap, st->objs[i], NULL, 0, NULL) < 0)
                die("out of memory");
    for (size_t i = 0; i < st->n_crs; i++)
        if (scope_has(sc, st->crs[i].res->meta.namespace_))
            if (weir_snapshot_add_resource(snap, st->crs[i].res, st->crs[i].created) != 0)
                die("out of memory");
}

static struct cr *vs_at(struct state *st, size_t k)
{
    size_t seen = 0;
    for (size_t i = 0; i < st->n_crs; i++)
        if (strcmp(str_at(st->crs[i].obj, "kind", NULL), "VirtualService") == 0 && seen++ == k)
            return &st->crs[i];
    die("no such VirtualService");
    return NULL;
}

/* The snapshot as weir-operator builds it today: every object handed in as
 * JSON, so each mesh CR is parsed again on every reconcile. */
static void snapshot_build_parsing(const struct state *st, struct weir_snapshot *snap)
{
    weir_snapshot_init(snap);
    for (size_t i = 0; i < st->n_objs; i++)
        if (weir_snapshot_add(snap, st->objs[i], NULL, 0, NULL) < 0)
            die("out of memory");
    for (size_t i = 0; i < st->n_crs; i++)
        if (weir_snapshot_add(snap, st->crs[i].obj, NULL, 0, NULL) < 0)
            die("out of memory");
}

/* Changes the weights of the k-th VirtualService (split 90/10 becomes
 * w/100-w) as `kubectl apply` of an edited manifest would, and returns it. */
static struct cr *change_vs(struct state *st, size_t k, int round)
{
    struct cr *c = vs_at(st, k);
    json_t *obj = json_deep_copy(c->obj);
    json_t *md = json_object_get(obj, "metadata");
    json_t *http = json_object_get(json_object_get(obj, "spec"), "http");
    json_t *route = json_object_get(json_array_get(http, json_array_size(http) - 1), "route");
    int w = 50 + (round * 7) % 40;
    json_object_set_new(json_array_get(route, 0), "weight", json_integer(w));
    json_object_set_new(json_array_get(route, 1), "weight", json_integer(100 - w));
    json_int_t gen = json_integer_value(json_object_get(md, "generation"));
    json_object_set_new(md, "generation", json_integer(gen + 1));
    weir_resource_free(c->res);
    json_decref(c->obj);
    c->obj = obj;
    c->res = parse_cr(obj);
    c->created = str_at(obj, "metadata", "creationTimestamp");
    return c;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stats {
    double median, min, max;
    int n;
};

static struct stats summarize(double *v, int n)
{
    struct stats s = {0, 0, 0, n};
    if (n == 0)
        return s;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    s.min = v[0];
    s.max = v[n - 1];
    return s;
}

static const char *revision_of(const struct weir_translate_result *r, const char *ns)
{
    for (size_t i = 0; i < r->n_configs; i++)
        if (strcmp(r->configs[i].namespace_, ns) == 0)
            return r->configs[i].revision;
    return NULL;
}

static void translate(const struct weir_snapshot *snap, const struct weir_translate_settings *set,
                      struct weir_translate_result *res)
{
    if (weir_translate(snap, set, res) != 0)
        die("weir_translate ran out of memory");
}

/* The size of a document as the operator writes it, without holding the text. */
static int count_bytes(const char *buffer, size_t size, void *data)
{
    (void)buffer;
    *(size_t *)data += size;
    return 0;
}

static int parse_runs(const char *s)
{
    int n = atoi(s);
    if (n < 0 || n > MAX_RUNS || (n == 0 && strcmp(s, "0") != 0))
        die("a run count must be 0..100 (0 skips that part)");
    return n;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *csv = NULL;
    int full_runs = 3, incr_runs = 10, impact_runs = 3;
    struct state st = {0};
    double t[MAX_RUNS], snap_t[MAX_RUNS], tr_t[MAX_RUNS];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--full-runs") == 0 && i + 1 < argc)
            full_runs = parse_runs(argv[++i]);
        else if (strcmp(argv[i], "--incr-runs") == 0 && i + 1 < argc)
            incr_runs = parse_runs(argv[++i]);
        else if (strcmp(argv[i], "--impact-runs") == 0 && i + 1 < argc)
            impact_runs = parse_runs(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
            csv = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            die("usage: translate_bench FILE [--full-runs N] [--incr-runs M] [--impact-runs K] "
                "[--csv FILE]");
    }
    if (!path)
        die("usage: translate_bench FILE [--full-runs N] [--incr-runs M] [--impact-runs K] "
            "[--csv FILE]");

    double t0 = now();
    load(&st, path);
    double load_s = now() - t0;
    long rss_loaded = peak_rss_kib();
    printf("state: %zu namespaces, %zu Services, %zu EndpointSlices, %zu Pods, %zu "
           "VirtualServices, %zu DestinationRules (loaded and parsed in %.2f s, %ld MiB)\n",
           st.n_ns, st.n_svc, st.n_slices, st.n_pods, st.n_vs, st.n_dr, load_s, rss_loaded / 1024);
    fflush(stdout);

    struct weir_translate_settings set = {0}; /* the operator's: labelled namespaces */
    struct weir_snapshot snap;
    struct weir_translate_result res;
    size_t n_configs = 0, config_bytes = 0;

    /* ---- full ---- */
    snapshot_build(&st, &snap);
    for (int r = 0; r < full_runs; r++) {
        double a = now();
        translate(&snap, &set, &res);
        t[r] = now() - a;
        n_configs = res.n_configs;
        if (r == 0 && res.n_configs)
            json_dump_callback(res.configs[0].doc, count_bytes, &config_bytes, JSON_COMPACT);
        weir_translate_result_free(&res);
        printf("  full run %d: %.3f s\n", r + 1, t[r]);
        fflush(stdout);
    }
    struct stats full = summarize(t, full_runs);
    weir_snapshot_free(&snap);
    long rss_full = peak_rss_kib();

    /* ---- incremental: the changed VirtualService's namespace ---- */
    for (int r = 0; r < incr_runs; r++) {
        struct cr *c = change_vs(&st, ((size_t)r * 7919u) % st.n_vs, r);
        const char *only[1] = {c->res->meta.namespace_};
        struct weir_translate_settings one = set;
        one.namespaces = only;
        one.n_namespaces = 1;
        double a = now();
        snapshot_build(&st, &snap);
        double b = now();
        translate(&snap, &one, &res);
        double e = now();
        snap_t[r] = b - a;
        tr_t[r] = e - b;
        t[r] = e - a;
        if (res.n_configs != 1)
            die("an incremental run gave no config");
        weir_translate_result_free(&res);
        weir_snapshot_free(&snap);
    }
    struct stats snapshot = summarize(snap_t, incr_runs);
    struct stats incr_tr = summarize(tr_t, incr_runs);
    double parse_t[3];
    for (int r = 0; r < 3; r++) {
        double a = now();
        snapshot_build_parsing(&st, &snap);
        parse_t[r] = now() - a;
        weir_snapshot_free(&snap);
    }
    struct stats parsing = summarize(parse_t, 3);
    struct stats incr = summarize(t, incr_runs);
    printf("  incremental: median %.1f ms over %d runs\n", incr.median * 1e3, incr_runs);
    fflush(stdout);

    /* ---- scoped: a namespace that exports nothing, as the operator does it ---- */
    struct scope exp = {0};
    size_t exp_cap = 0;
    int scoped_runs = 0;
    bool scoped_checked = true;
    double sc_snap_t[MAX_RUNS], sc_tr_t[MAX_RUNS];
    if (exporting(&st, &exp, &exp_cap)) {
        for (size_t k = 0, tries = 0; scoped_runs < incr_runs && tries < st.n_vs; tries++) {
            k = (k + 7919u) % st.n_vs;
            struct cr *c = vs_at(&st, k);
            const char *ns = c->res->meta.namespace_;
            if (scope_has(&exp, ns) || strcmp(ns, WEIR_TRANSLATE_DEFAULT_ROOT_NAMESPACE) == 0)
                continue;
            c = change_vs(&st, k, scoped_runs + 1000);
            ns = c->res->meta.namespace_;
            const char *only[1] = {ns};
            struct weir_translate_settings one = set;
            struct scope sc = {0};
            size_t sc_cap = 0;
            one.namespaces = only;
            one.n_namespaces = 1;
            double a = now();
            for (size_t i = 0; i < exp.n; i++)
                scope_add(&sc, &sc_cap, exp.ns[i]);
            scope_add(&sc, &sc_cap, ns);
            scope_add(&sc, &sc_cap, WEIR_TRANSLATE_DEFAULT_ROOT_NAMESPACE);
            qsort(sc.ns, sc.n, sizeof(*sc.ns), cmp_cstr);
            snapshot_build_scoped(&st, &sc, &snap);
            double b = now();
            translate(&snap, &one, &res);
            double e = now();
            sc_snap_t[scoped_runs] = b - a;
            sc_tr_t[scoped_runs] = e - b;
            t[scoped_runs] = e - a;
            weir_snapshot_free(&snap);
            free(sc.ns);
            /* not timed: the whole cluster gives the namespace the same revision */
            struct weir_translate_result whole;
            const char *x = revision_of(&res, ns);
            char *got = x ? strdup(x) : NULL;
            weir_translate_result_free(&res);
            snapshot_build(&st, &snap);
            translate(&snap, &one, &whole);
            weir_snapshot_free(&snap);
            const char *y = revision_of(&whole, ns);
            scoped_checked &= got && y && strcmp(got, y) == 0;
            free(got);
            weir_translate_result_free(&whole);
            scoped_runs++;
        }
    }
    free(exp.ns);
    struct stats scoped = summarize(t, scoped_runs);
    struct stats scoped_snap = summarize(sc_snap_t, scoped_runs);
    struct stats scoped_tr = summarize(sc_tr_t, scoped_runs);
    if (scoped_runs)
        printf("  scoped: median %.1f ms over %d runs\n", scoped.median * 1e3, scoped_runs);
    else
        printf("  scoped: no namespace exports nothing in this state (gen.py --visibility "
               "namespace makes some)\n");
    fflush(stdout);

    /* ---- impact: what weir_translate_impact() asks for, checked ---- */
    enum weir_translate_impact impact = WEIR_IMPACT_ALL;
    bool checked = true;
    for (int r = 0; r < impact_runs; r++) {
        struct weir_translate_result before, alone;
        size_t k = ((size_t)(r + incr_runs) * 7919u) % st.n_vs;
        char *ns = strdup(vs_at(&st, k)->res->meta.namespace_);
        const char *only[1] = {ns};
        struct weir_translate_settings one = set, scope = set;
        if (!ns)
            die("out of memory");
        one.namespaces = only;
        one.n_namespaces = 1;
        snapshot_build(&st, &snap); /* not timed: the revision before the change */
        translate(&snap, &one, &before);
        weir_snapshot_free(&snap);
        const char *b = revision_of(&before, ns);
        char *was = b ? strdup(b) : NULL;
        weir_translate_result_free(&before);

        change_vs(&st, k, r + incr_runs);
        impact = weir_translate_impact("VirtualService", ns, false, false, &set);
        if (impact == WEIR_IMPACT_NAMESPACE)
            scope = one;
        double a = now();
        snapshot_build(&st, &snap);
        translate(&snap, &scope, &res);
        t[r] = now() - a;

        /* not timed: the namespace alone gives the revision the run gave, and
         * the change changed it (one result at a time: peak RSS stays the
         * translation's) */
        const char *x = revision_of(&res, ns);
        char *whole = x ? strdup(x) : NULL;
        weir_translate_result_free(&res);
        translate(&snap, &one, &alone);
        weir_snapshot_free(&snap);
        const char *y = revision_of(&alone, ns);
        checked &= whole && was && y && strcmp(whole, y) == 0 && strcmp(y, was) != 0;
        free(whole);
        free(was);
        weir_translate_result_free(&alone);
        free(ns);
        printf("  impact run %d: %.3f s\n", r + 1, t[r]);
        fflush(stdout);
    }
    struct stats imp = summarize(t, impact_runs);
    long rss_peak = peak_rss_kib();

    printf("\n| measurement | median | min | max | runs |\n|---|---|---|---|---|\n");
    printf("| full translation (%zu configs) | %.3f s | %.3f s | %.3f s | %d |\n", n_configs,
           full.median, full.min, full.max, full.n);
    printf("| incremental: 1 VirtualService, its namespace (snapshot + translate) | %.1f ms | "
           "%.1f ms | %.1f ms | %d |\n",
           incr.median * 1e3, incr.min * 1e3, incr.max * 1e3, incr.n);
    printf("| of which weir_translate | %.1f ms | %.1f ms | %.1f ms | %d |\n", incr_tr.median * 1e3,
           incr_tr.min * 1e3, incr_tr.max * 1e3, incr_tr.n);
    printf("| of which the snapshot (CRs lent parsed) | %.1f ms | %.1f ms | %.1f ms | %d |\n",
           snapshot.median * 1e3, snapshot.min * 1e3, snapshot.max * 1e3, snapshot.n);
    if (scoped_runs) {
        printf("| scoped: 1 VirtualService of a namespace that exports nothing, as weir-operator "
               "reconciles it | %.1f ms | %.1f ms | %.1f ms | %d |\n",
               scoped.median * 1e3, scoped.min * 1e3, scoped.max * 1e3, scoped.n);
        printf("| of which weir_translate | %.1f ms | %.1f ms | %.1f ms | %d |\n",
               scoped_tr.median * 1e3, scoped_tr.min * 1e3, scoped_tr.max * 1e3, scoped_tr.n);
        printf("| of which the scoped snapshot | %.1f ms | %.1f ms | %.1f ms | %d |\n",
               scoped_snap.median * 1e3, scoped_snap.min * 1e3, scoped_snap.max * 1e3,
               scoped_snap.n);
    }
    printf("| a snapshot with every CR parsed again (weir_snapshot_add) | %.1f ms | %.1f ms | %.1f "
           "ms | %d |\n",
           parsing.median * 1e3, parsing.min * 1e3, parsing.max * 1e3, parsing.n);
    printf("| 1 VirtualService, the namespaces weir_translate_impact names (%s) | %.3f s | %.3f s "
           "| %.3f s | %d |\n",
           impact == WEIR_IMPACT_ALL ? "all" : "its own", imp.median, imp.min, imp.max, imp.n);
    printf("| peak RSS after loading the state | %ld MiB | | | |\n", rss_loaded / 1024);
    printf("| peak RSS after the full translations | %ld MiB | | | |\n", rss_full / 1024);
    printf("| peak RSS | %ld MiB | | | |\n", rss_peak / 1024);
    printf("| one namespace's config, compact JSON | %.1f MB | | | |\n",
           (double)config_bytes / 1e6);
    printf("| incremental revision = full revision, and changed | %s | | | |\n",
           checked ? "yes" : "NO");
    if (scoped_runs)
        printf("| scoped revision = revision from the whole cluster | %s | | | |\n",
               scoped_checked ? "yes" : "NO");

    if (csv) {
        FILE *f = fopen(csv, "w");
        if (!f) {
            fprintf(stderr, "translate_bench: %s: %s\n", csv, strerror(errno));
            return 1;
        }
        fprintf(
            f, "namespaces,services,endpointslices,pods,virtualservices,destinationrules,"
               "configs,full_s_median,full_s_min,full_s_max,full_runs,incr_ms_median,"
               "incr_ms_min,incr_ms_max,incr_runs,incr_translate_ms_median,incr_snapshot_ms_median,"
               "snapshot_parsing_ms_median,"
               "impact_scope,"
               "impact_s_median,impact_runs,rss_loaded_mib,rss_full_mib,rss_peak_mib,config_bytes,"
               "revisions_checked,scoped_ms_median,scoped_translate_ms_median,"
               "scoped_snapshot_ms_median,scoped_runs,scoped_checked\n");
        fprintf(f,
                "%zu,%zu,%zu,%zu,%zu,%zu,%zu,%.4f,%.4f,%.4f,%d,%.2f,%.2f,%.2f,%d,%.2f,%.2f,%.2f,%s,"
                "%.4f,%d,"
                "%ld,%ld,%ld,%zu,%s,%.2f,%.2f,%.2f,%d,%s\n",
                st.n_ns, st.n_svc, st.n_slices, st.n_pods, st.n_vs, st.n_dr, n_configs, full.median,
                full.min, full.max, full.n, incr.median * 1e3, incr.min * 1e3, incr.max * 1e3,
                incr.n, incr_tr.median * 1e3, snapshot.median * 1e3, parsing.median * 1e3,
                impact == WEIR_IMPACT_ALL ? "all" : "namespace", imp.median, imp.n,
                rss_loaded / 1024, rss_full / 1024, rss_peak / 1024, config_bytes,
                checked ? "yes" : "no", scoped.median * 1e3, scoped_tr.median * 1e3,
                scoped_snap.median * 1e3, scoped_runs, scoped_checked ? "yes" : "no");
        fclose(f);
    }
    for (size_t i = 0; i < st.n_objs; i++)
        json_decref(st.objs[i]);
    for (size_t i = 0; i < st.n_crs; i++) {
        weir_resource_free(st.crs[i].res);
        json_decref(st.crs[i].obj);
    }
    free(st.objs);
    free(st.obj_ns);
    free(st.crs);
    return checked && scoped_checked ? 0 : 1;
}
