/*
 * The translation as data: every folder under translate/ holds input.yaml
 * (Kubernetes objects and mesh CRs, as `weirctl render` reads them), an
 * optional settings.json, and what must come out:
 *   expected/<namespace>.json  each proxy config, byte for byte as render
 *                              prints it; every one must also load with
 *                              weir_proxy_config_load() without a diagnostic,
 *                              and its revision must be the one
 *                              weir_proxy_config_revision() computes from the
 *                              document alone;
 *   expected/status.txt        the status of every CR and the notes about
 *                              other objects, one weir_cr_status_format()
 *                              block each.
 * WEIR_UPDATE_GOLDEN=1 rewrites the expected files from the current output;
 * read the diff before committing it.
 *
 * Around the cases: the same input shuffled gives the same bytes, a run
 * limited to some namespaces gives the same configs as a full run, and the
 * digest and canonical form meet their standards.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/proxy_config.h"
#include "translate/translate.h"
#include "translate/translate_internal.h"

#define CASES_DIR WEIR_TEST_DATA "/translate"
#define MAX_CASES 128
#define MIN_CASES 12

static char *cases[MAX_CASES];
static int n_cases;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect_cases(void)
{
    DIR *d = opendir(CASES_DIR);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) && n_cases < MAX_CASES) {
        char path[1024];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s/input.yaml", CASES_DIR, e->d_name);
        if (stat(path, &st) == 0)
            cases[n_cases++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(cases, (size_t)n_cases, sizeof(char *), cmp_str);
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* ---- one case: its input, its settings, its output ---- */

struct input {
    struct weir_yaml_stream stream;
    struct weir_translate_settings set;
    json_t *settings; /* keeps the strings set points to */
    const char **namespaces;
    struct weir_string_map jwks;
};

static void input_load(struct input *in, const char *name)
{
    char path[1024];
    struct weir_diags d;
    memset(in, 0, sizeof(*in));
    weir_diags_init(&d);
    snprintf(path, sizeof(path), "%s/%s/input.yaml", CASES_DIR, name);
    int rc = weir_yaml_parse_file(path, NULL, &in->stream, &d);
    ck_assert_msg(rc == 0, "%s: input.yaml does not parse: %s", name,
                  d.len ? d.items[0].message : "?");
    weir_diags_free(&d);
    /* the source name in diagnostics stays the same wherever the tree is */
    free(in->stream.source);
    in->stream.source = strdup("input.yaml");

    in->set.all_namespaces = true;
    snprintf(path, sizeof(path), "%s/%s/settings.json", CASES_DIR, name);
    in->settings = json_load_file(path, 0, NULL);
    if (!in->settings)
        return;
    const json_t *s = in->settings, *v;
    if ((v = json_object_get(s, "allNamespaces")))
        in->set.all_namespaces = json_is_true(v);
    in->set.trust_domain = json_string_value(json_object_get(s, "trustDomain"));
    in->set.root_namespace = json_string_value(json_object_get(s, "rootNamespace"));
    in->set.generated_at = json_string_value(json_object_get(s, "generatedAt"));
    if ((v = json_object_get(s, "namespaces"))) {
        in->namespaces = calloc(json_array_size(v) + 1, sizeof(char *));
        for (size_t i = 0; i < json_array_size(v); i++)
            in->namespaces[i] = json_string_value(json_array_get(v, i));
        in->set.namespaces = in->namespaces;
        in->set.n_namespaces = json_array_size(v);
    }
    if ((v = json_object_get(s, "jwksUris"))) {
        const char *k;
        json_t *u;
        in->jwks.items = calloc(json_object_size(v) + 1, sizeof(*in->jwks.items));
        json_object_foreach((json_t *)v, k, u)
        {
            in->jwks.items[in->jwks.len].key = (char *)k;
            in->jwks.items[in->jwks.len++].value = (char *)json_string_value(u);
        }
        in->set.jwks_uris = &in->jwks;
    }
}

static void input_free(struct input *in)
{
    weir_yaml_stream_free(&in->stream);
    json_decref(in->settings);
    free(in->namespaces);
    free(in->jwks.items);
}

/* Translates the documents in the order given by perm (NULL: file order). */
static void run(const struct input *in, const size_t *perm, struct weir_translate_result *res)
{
    struct weir_snapshot snap;
    weir_snapshot_init(&snap);
    for (size_t i = 0; i < in->stream.ndocs; i++) {
        const struct weir_yaml_doc *doc = &in->stream.docs[perm ? perm[i] : i];
        ck_assert_int_ge(weir_snapshot_add(&snap, doc->root, &in->stream, doc->line, NULL), 0);
    }
    ck_assert_int_eq(weir_translate(&snap, &in->set, res), 0);
    weir_snapshot_free(&snap);
}

static char *config_text(const struct weir_translate_config *c)
{
    char *text = json_dumps(c->doc, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    ck_assert_ptr_nonnull(text);
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    out[n] = '\n';
    out[n + 1] = '\0';
    return out;
}

static char *status_text(const struct weir_translate_result *r)
{
    struct tr_buf b = {0};
    for (size_t i = 0; i < r->n_statuses; i++) {
        char *t = weir_cr_status_format(&r->statuses[i]);
        ck_assert_ptr_nonnull(t);
        tr_buf_puts(&b, t);
        free(t);
    }
    for (size_t i = 0; i < r->diags.len; i++)
        tr_buf_printf(&b, "note: %s\n", r->diags.items[i].message);
    ck_assert(!b.oom);
    return b.data ? b.data : strdup("");
}

/* Every config loads with no diagnostic and carries its own digest. */
static void check_loads(const char *name, const struct weir_translate_config *c, const char *text)
{
    struct weir_proxy_config *cfg = NULL;
    struct weir_diags d;
    char rev[72];
    weir_diags_init(&d);
    int rc = weir_proxy_config_load(text, strlen(text), c->namespace_, &cfg, &d);
    if (rc != 0 || d.len) {
        for (size_t i = 0; i < d.len; i++) {
            char *t = weir_diag_format(&d.items[i]);
            fprintf(stderr, "%s/%s: %s\n", name, c->namespace_, t);
            free(t);
        }
    }
    ck_assert_msg(rc == 0 && d.len == 0, "%s: the config of %s does not load cleanly", name,
                  c->namespace_);
    weir_proxy_config_free(cfg);
    weir_diags_free(&d);
    ck_assert_int_eq(weir_proxy_config_revision(c->doc, rev), 0);
    ck_assert_str_eq(rev, c->revision);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(c->doc, "metadata"), "revision")), rev);
}

static bool updating(void)
{
    const char *u = getenv("WEIR_UPDATE_GOLDEN");
    return u && strcmp(u, "1") == 0;
}

static void compare(const char *name, const char *file, const char *got)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/expected/%s", CASES_DIR, name, file);
    if (updating()) {
        write_text(path, got);
        return;
    }
    char *want = read_text(path, NULL);
    ck_assert_msg(want != NULL, "%s: expected/%s is missing (WEIR_UPDATE_GOLDEN=1 writes it)", name,
                  file);
    if (strcmp(want, got) != 0) {
        char out[1400];
        snprintf(out, sizeof(out), "%s.got", path);
        write_text(out, got);
        ck_abort_msg("%s: output differs from expected/%s (written to %s)", name, file, out);
    }
    free(want);
}

/* No expected config may be left that the translation no longer writes. */
static void check_no_stale(const char *name, const struct weir_translate_result *r)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s/expected", CASES_DIR, name);
    DIR *d = opendir(dir);
    struct dirent *e;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        bool found = false;
        for (size_t i = 0; i < r->n_configs && !found; i++)
            found = strlen(r->configs[i].namespace_) == n - 5 &&
                    strncmp(r->configs[i].namespace_, e->d_name, n - 5) == 0;
        if (!found && updating()) {
            char path[1400];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
            continue;
        }
        ck_assert_msg(found, "%s: expected/%s is not written any more", name, e->d_name);
    }
    closedir(d);
}

START_TEST(test_enough_cases)
{
    ck_assert_msg(n_cases >= MIN_CASES, "only %d golden cases under %s", n_cases, CASES_DIR);
}
END_TEST

START_TEST(test_golden)
{
    const char *name = cases[_i];
    struct input in;
    struct weir_translate_result res;
    char dir[1024];

    input_load(&in, name);
    run(&in, NULL, &res);
    snprintf(dir, sizeof(dir), "%s/%s/expected", CASES_DIR, name);
    if (updating())
        mkdir(dir, 0755);
    ck_assert_msg(res.n_configs > 0, "%s: no config written", name);
    for (size_t i = 0; i < res.n_configs; i++) {
        char file[300];
        char *text = config_text(&res.configs[i]);
        check_loads(name, &res.configs[i], text);
        snprintf(file, sizeof(file), "%s.json", res.configs[i].namespace_);
        compare(name, file, text);
        free(text);
    }
    check_no_stale(name, &res);
    char *st = status_text(&res);
    compare(name, "status.txt", st);
    free(st);
    weir_translate_result_free(&res);
    input_free(&in);
}
END_TEST

/* The same objects in another order give the same bytes. */
START_TEST(test_shuffled)
{
    const char *name = cases[_i];
    struct input in;
    struct weir_translate_result base;
    unsigned seed = 12345u + (unsigned)_i;

    input_load(&in, name);
    run(&in, NULL, &base);
    char *base_status = status_text(&base);
    size_t n = in.stream.ndocs;
    size_t *perm = calloc(n + 1, sizeof(*perm));
    for (int round = 0; round < 4; round++) {
        struct weir_translate_result res;
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        for (size_t i = n; i > 1; i--) {
            seed = seed * 1103515245u + 12345u;
            size_t j = (seed >> 8) % i, t = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = t;
        }
        if (round == 0) /* reversed as well as random */
            for (size_t i = 0; i < n; i++)
                perm[i] = n - 1 - i;
        run(&in, perm, &res);
        ck_assert_uint_eq(res.n_configs, base.n_configs);
        for (size_t i = 0; i < res.n_configs; i++) {
            char *a = config_text(&base.configs[i]), *b = config_text(&res.configs[i]);
            ck_assert_msg(strcmp(a, b) == 0, "%s: config of %s changes with input order", name,
                          base.configs[i].namespace_);
            free(a);
            free(b);
        }
        char *st = status_text(&res);
        ck_assert_msg(strcmp(st, base_status) == 0, "%s: statuses change with input order:\n%s",
                      name, st);
        free(st);
        weir_translate_result_free(&res);
    }
    free(perm);
    free(base_status);
    weir_translate_result_free(&base);
    input_free(&in);
}
END_TEST

/* Limiting a run to some namespaces (the operator's incremental path) gives
 * exactly the configs a full run gives for them. */
START_TEST(test_namespace_subset)
{
    const char *name = cases[_i];
    struct input in;
    struct weir_translate_result full;

    input_load(&in, name);
    if (in.set.namespaces) {
        input_free(&in);
        return;
    }
    run(&in, NULL, &full);
    for (size_t i = 0; i < full.n_configs; i++) {
        struct weir_translate_result one;
        const char *only[1] = {full.configs[i].namespace_};
        in.set.namespaces = only;
        in.set.n_namespaces = 1;
        run(&in, NULL, &one);
        ck_assert_uint_eq(one.n_configs, 1);
        char *a = config_text(&full.configs[i]), *b = config_text(&one.configs[0]);
        ck_assert_msg(strcmp(a, b) == 0, "%s: config of %s differs when translated alone", name,
                      only[0]);
        free(a);
        free(b);
        weir_translate_result_free(&one);
    }
    in.set.namespaces = NULL;
    in.set.n_namespaces = 0;
    weir_translate_result_free(&full);
    input_free(&in);
}
END_TEST

/* ---- scoped translations (translate.h) ---- */

struct ns_set {
    const char **v;
    size_t n;
};

static bool set_has(const struct ns_set *s, const char *ns, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && strncmp(s->v[i], ns, len) == 0)
            return true;
    return false;
}

static void set_add(struct ns_set *s, const char *ns)
{
    if (set_has(s, ns, strlen(ns)))
        return;
    s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->v[s->n++] = ns;
}

static const char *doc_ns(const json_t *doc)
{
    const char *ns =
        json_string_value(json_object_get(json_object_get(doc, "metadata"), "namespace"));
    return ns ? ns : "default";
}

static bool doc_is(const json_t *doc, const char *kind)
{
    const char *k = json_string_value(json_object_get(doc, "kind"));
    return k && strcmp(k, kind) == 0;
}

struct scope_arg {
    const struct ns_set *inside, *known;
};

static bool scope_inside(const char *ns, size_t len, void *arg)
{
    const struct scope_arg *a = arg;
    return set_has(a->inside, ns, len) || !set_has(a->known, ns, len);
}

/* Every namespace that may be translated from a scoped snapshot is, and gets
 * the same config, and its CRs the same statuses, as from the whole input. */
START_TEST(test_scoped)
{
    const char *name = cases[_i];
    struct input in;
    struct weir_translate_result full;
    struct ns_set exporting = {0}, known = {0};
    bool addresses = false;
    size_t n_scoped = 0;

    input_load(&in, name);
    if (in.set.namespaces) {
        input_free(&in);
        return;
    }
    const char *root =
        in.set.root_namespace ? in.set.root_namespace : WEIR_TRANSLATE_DEFAULT_ROOT_NAMESPACE;
    for (size_t i = 0; i < in.stream.ndocs; i++) {
        const json_t *doc = in.stream.docs[i].root;
        set_add(&known,
                doc_is(doc, "Namespace")
                    ? json_string_value(json_object_get(json_object_get(doc, "metadata"), "name"))
                    : doc_ns(doc));
        if (weir_translate_exports(doc))
            set_add(&exporting, doc_ns(doc));
        addresses = addresses || weir_translate_claims_cluster(doc);
    }
    run(&in, NULL, &full);
    for (size_t c = 0; c < full.n_configs && !addresses; c++) {
        const char *ns = full.configs[c].namespace_;
        struct ns_set inside = {0};
        struct scope_arg arg = {&inside, &known};
        bool eligible = strcmp(ns, root) != 0 && !set_has(&exporting, ns, strlen(ns));

        set_add(&inside, ns);
        set_add(&inside, root);
        for (size_t i = 0; i < exporting.n; i++)
            set_add(&inside, exporting.v[i]);
        for (size_t i = 0; i < in.stream.ndocs && eligible; i++) {
            const json_t *doc = in.stream.docs[i].root;
            if (strcmp(doc_ns(doc), ns) == 0 &&
                weir_translate_reaches_outside(doc, scope_inside, &arg))
                eligible = false;
        }
        if (eligible) {
            struct weir_snapshot snap;
            struct weir_translate_result one;
            const char *only[1] = {ns};
            struct weir_translate_settings set = in.set;
            weir_snapshot_init(&snap);
            for (size_t i = 0; i < in.stream.ndocs; i++) {
                const struct weir_yaml_doc *doc = &in.stream.docs[i];
                const char *dns = doc_ns(doc->root);
                if (doc_is(doc->root, "Namespace") || doc_is(doc->root, "ServiceEntry") ||
                    set_has(&inside, dns, strlen(dns)))
                    ck_assert_int_ge(
                        weir_snapshot_add(&snap, doc->root, &in.stream, doc->line, NULL), 0);
            }
            set.namespaces = only;
            set.n_namespaces = 1;
            ck_assert_int_eq(weir_translate(&snap, &set, &one), 0);
            ck_assert_uint_eq(one.n_configs, 1);
            ck_assert_uint_lt(snap.n_objects, in.stream.ndocs);
            n_scoped++;
            char *a = config_text(&full.configs[c]), *b = config_text(&one.configs[0]);
            ck_assert_msg(strcmp(a, b) == 0, "%s: config of %s differs when translated scoped",
                          name, ns);
            free(a);
            free(b);
            /* the statuses of the namespace's CRs, in the same order */
            size_t j = 0;
            for (size_t i = 0; i < full.n_statuses; i++) {
                if (strcmp(full.statuses[i].namespace_, ns) != 0)
                    continue;
                while (j < one.n_statuses && strcmp(one.statuses[j].namespace_, ns) != 0)
                    j++;
                ck_assert_msg(j < one.n_statuses, "%s: %s: a status is missing when scoped", name,
                              ns);
                char *x = weir_cr_status_format(&full.statuses[i]);
                char *y = weir_cr_status_format(&one.statuses[j]);
                ck_assert_msg(strcmp(x, y) == 0, "%s: status differs when scoped:\n%s---\n%s", name,
                              x, y);
                free(x);
                free(y);
                j++;
            }
            weir_translate_result_free(&one);
            weir_snapshot_free(&snap);
        }
        free(inside.v);
    }
    /* the case made for it: shop, blog and hidden qualify, ops names a host
     * of hidden and does not */
    if (strcmp(name, "scoped") == 0)
        ck_assert_uint_eq(n_scoped, 3);
    weir_translate_result_free(&full);
    free(exporting.v);
    free(known.v);
    input_free(&in);
}
END_TEST

START_TEST(test_scope_helpers)
{
    json_error_t e;
    struct {
        const char *json;
        bool exports;
    } cases_[] = {
        {"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"namespace\":\"a\"}}", true},
        {"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"namespace\":\"a\","
         "\"annotations\":{\"networking.istio.io/exportTo\":\" . , a \"}}}",
         false},
        {"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"namespace\":\"a\","
         "\"annotations\":{\"networking.istio.io/exportTo\":\".,b\"}}}",
         true},
        {"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"namespace\":\"a\","
         "\"annotations\":{\"networking.istio.io/exportTo\":\"~\"}}}",
         false},
        {"{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"VirtualService\","
         "\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"exportTo\":[\".\"]}}",
         false},
        {"{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"DestinationRule\","
         "\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"exportTo\":[]}}",
         true},
        {"{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
         "\"metadata\":{\"namespace\":\"a\"},\"spec\":{\"exportTo\":[\"a\",\"*\"]}}",
         true},
        {"{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\","
         "\"metadata\":{\"namespace\":\"a\"},\"spec\":{}}",
         false},
    };
    for (size_t i = 0; i < sizeof(cases_) / sizeof(cases_[0]); i++) {
        json_t *o = json_loads(cases_[i].json, 0, &e);
        ck_assert_msg(o != NULL, "case %zu: %s", i, e.text);
        ck_assert_msg(weir_translate_exports(o) == cases_[i].exports, "case %zu", i);
        json_decref(o);
    }

    const char *in_v[] = {"a", "shared"}, *known_v[] = {"a", "shared", "other"};
    struct ns_set inside = {in_v, 2}, known = {known_v, 3};
    struct scope_arg arg = {&inside, &known};
    const char *crs[][2] = {
        {"{\"spec\":{\"hosts\":[\"reviews\"],\"http\":[{\"route\":[{\"destination\":"
         "{\"host\":\"ratings.shared.svc.cluster.local\"}}]}]}}",
         "no"},
        {"{\"spec\":{\"hosts\":[\"reviews\"],\"http\":[{\"mirror\":{\"host\":\"x.other\"}}]}}",
         "yes"},
        {"{\"spec\":{\"host\":\"*.other.svc.cluster.local\"}}", "yes"},
        {"{\"spec\":{\"hosts\":[\"api.example.com\"]}}", "no"},
    };
    for (size_t i = 0; i < sizeof(crs) / sizeof(crs[0]); i++) {
        json_t *o = json_loads(crs[i][0], 0, &e);
        ck_assert_msg(o != NULL, "cr %zu: %s", i, e.text);
        ck_assert_msg(weir_translate_reaches_outside(o, scope_inside, &arg) ==
                          (strcmp(crs[i][1], "yes") == 0),
                      "cr %zu", i);
        json_decref(o);
    }
    json_t *se = json_loads("{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":"
                            "\"ServiceEntry\",\"spec\":{\"addresses\":[\"10.0.0.1\"]}}",
                            0, &e);
    ck_assert(weir_translate_claims_cluster(se));
    json_object_set_new(json_object_get(se, "spec"), "addresses", json_array());
    ck_assert(!weir_translate_claims_cluster(se));
    json_object_set_new(json_object_get(se, "spec"), "hosts",
                        json_pack("[s, s]", "api.example.com", "db.data.svc.cluster.local"));
    ck_assert(weir_translate_claims_cluster(se));
    json_decref(se);
}
END_TEST

/* The operator keeps parsed CRs in its cache and lends them: the configs are
 * the same as from the objects themselves. */
START_TEST(test_borrowed_resources)
{
    const char *name = cases[_i];
    struct input in;
    struct weir_translate_result a, b;
    struct weir_snapshot snap;
    struct weir_resource **owned = calloc(1, sizeof(*owned));
    size_t n_owned = 0;

    input_load(&in, name);
    run(&in, NULL, &a);
    weir_snapshot_init(&snap);
    for (size_t i = 0; i < in.stream.ndocs; i++) {
        json_t *doc = in.stream.docs[i].root;
        struct weir_resource *r = NULL;
        struct weir_diags d;
        weir_diags_init(&d);
        int rc = weir_mesh_parse(doc, NULL, 0, NULL, &r, &d);
        weir_diags_free(&d);
        if (rc == 0) {
            const char *created = json_string_value(
                json_object_get(json_object_get(doc, "metadata"), "creationTimestamp"));
            owned = realloc(owned, (n_owned + 1) * sizeof(*owned));
            owned[n_owned++] = r;
            ck_assert_int_eq(weir_snapshot_add_resource(&snap, r, created), 0);
        } else if (rc == 1) {
            ck_assert_int_ge(weir_snapshot_add(&snap, doc, NULL, 0, NULL), 0);
        }
    }
    ck_assert_int_eq(weir_translate(&snap, &in.set, &b), 0);
    ck_assert_uint_eq(a.n_configs, b.n_configs);
    for (size_t i = 0; i < a.n_configs; i++) {
        char *x = config_text(&a.configs[i]), *y = config_text(&b.configs[i]);
        ck_assert_msg(strcmp(x, y) == 0, "%s: config of %s differs with borrowed resources", name,
                      a.configs[i].namespace_);
        free(x);
        free(y);
    }
    weir_translate_result_free(&a);
    weir_translate_result_free(&b);
    weir_snapshot_free(&snap);
    for (size_t i = 0; i < n_owned; i++)
        weir_resource_free(owned[i]);
    free(owned);
    input_free(&in);
}
END_TEST

/* ---- the pieces under the revision ---- */

static void hex(const unsigned char *d, char *out)
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

START_TEST(test_sha256_vectors)
{
    static const struct {
        const char *in;
        const char *out;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct tr_sha256 h;
        unsigned char d[32];
        char got[65];
        tr_sha256_init(&h);
        /* fed a byte at a time and in one go must agree */
        for (const char *p = v[i].in; *p; p++)
            tr_sha256_update(&h, p, 1);
        tr_sha256_final(&h, d);
        hex(d, got);
        ck_assert_str_eq(got, v[i].out);
    }
    /* a million 'a': many blocks, padding into a second block */
    struct tr_sha256 h;
    unsigned char d[32];
    char got[65], block[1000];
    memset(block, 'a', sizeof(block));
    tr_sha256_init(&h);
    for (int i = 0; i < 1000; i++)
        tr_sha256_update(&h, block, sizeof(block));
    tr_sha256_final(&h, d);
    hex(d, got);
    ck_assert_str_eq(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(test_canonical_form)
{
    json_t *v =
        json_pack("{s:f, s:f, s:f, s:f, s:i, s:s, s:[b,n], s:{s:i, s:i}}", "b", 0.5, "a", 1e-7, "c",
                  1e21, "d", 100.25, "e", -3, "f", "q\"\\\n\x01/é", "g", 1, "h", "z", 1, "y", 2);
    struct tr_buf b = {0};
    tr_canonical(&b, v);
    ck_assert_str_eq(b.data, "{\"a\":1e-7,\"b\":0.5,\"c\":1e+21,\"d\":100.25,\"e\":-3,"
                             "\"f\":\"q\\\"\\\\\\n\\u0001/é\",\"g\":[true,null],"
                             "\"h\":{\"y\":2,\"z\":1}}");
    tr_buf_free(&b);
    json_decref(v);
}
END_TEST

/* The revision of the contract's own example, which
 * scripts/check-proxy-config-schema.py verifies independently. */
START_TEST(test_example_revision)
{
    json_t *doc = json_load_file(WEIR_SOURCE_DIR "/docs/examples/bookinfo.json", 0, NULL);
    char rev[72];
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(weir_proxy_config_revision(doc, rev), 0);
    ck_assert_str_eq(
        rev, json_string_value(json_object_get(json_object_get(doc, "metadata"), "revision")));
    json_decref(doc);
}
END_TEST

/* The worked example of docs/proxy-config.md, step by step, and what the
 * definition promises: a change anywhere changes the revision, including an
 * element's content or place, and the two ignored metadata fields do not. */
START_TEST(test_revision_definition)
{
    json_t *doc = json_load_file(WEIR_SOURCE_DIR "/docs/examples/minimal.json", 0, NULL);
    struct tr_buf b = {0};
    unsigned char d[32], lists[TR_N_LISTS][32];
    char got[72], base[72];

    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(tr_digest(json_array_get(json_object_get(doc, "clusters"), 0), &b, d), 0);
    hex(d, got);
    ck_assert_str_eq(got, "12b25ceafef0e831193e475262cae63ca1267422f67f3a6e2f705bd4d282e8db");
    tr_list_digest(d, 1, lists[0]);
    hex(lists[0], got);
    ck_assert_str_eq(got, "5a867d64603b3136b4c0266515632fce291069c891fb2b888a2b31378d92cc78");
    ck_assert_int_eq(tr_digest(json_array_get(json_object_get(doc, "services"), 0), &b, d), 0);
    hex(d, got);
    ck_assert_str_eq(got, "87d9a02f1cf1dc0497ffde9628e1eb1fe88feb8649830e6edb6ce1056e1ec1cb");
    tr_list_digest(d, 1, lists[1]);
    ck_assert_int_eq(tr_revision(doc, lists, got), 0);
    ck_assert_str_eq(got,
                     "sha256:e0638ff262d74b2dd3893a83e66b66aaa781a07dae4fa322bcc4dc575ec7b00f");
    ck_assert_int_eq(weir_proxy_config_revision(doc, base), 0);
    ck_assert_str_eq(base, got);
    tr_list_digest(NULL, 0, d);
    hex(d, got);
    ck_assert_str_eq(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* ignored: the revision itself and generatedAt */
    json_t *md = json_object_get(doc, "metadata");
    json_object_set_new(md, "generatedAt", json_string("2024-05-01T12:00:00Z"));
    json_object_set_new(md, "revision", json_string("sha256:0"));
    ck_assert_int_eq(weir_proxy_config_revision(doc, got), 0);
    ck_assert_str_eq(got, base);

    /* a change inside an element */
    json_t *cluster = json_array_get(json_object_get(doc, "clusters"), 0);
    json_object_set_new(cluster, "port", json_integer(8001));
    ck_assert_int_eq(weir_proxy_config_revision(doc, got), 0);
    ck_assert_str_ne(got, base);
    json_object_set_new(cluster, "port", json_integer(8000));

    /* the same elements in another order, or one more */
    json_t *services = json_object_get(doc, "services");
    json_t *second = json_deep_copy(json_array_get(services, 0));
    json_object_set_new(second, "host", json_string("a.default.svc.cluster.local"));
    json_array_append_new(services, second);
    char two[72];
    ck_assert_int_eq(weir_proxy_config_revision(doc, two), 0);
    ck_assert_str_ne(two, base);
    json_array_insert(services, 0, second);
    json_array_remove(services, 2);
    ck_assert_int_eq(weir_proxy_config_revision(doc, got), 0);
    ck_assert_str_ne(got, two);
    ck_assert_str_ne(got, base);
    json_array_remove(services, 0);

    /* a change outside the lists */
    ck_assert_int_eq(weir_proxy_config_revision(doc, got), 0);
    ck_assert_str_eq(got, base);
    json_object_set_new(md, "trustDomain", json_string("example.org"));
    ck_assert_int_eq(weir_proxy_config_revision(doc, got), 0);
    ck_assert_str_ne(got, base);

    tr_buf_free(&b);
    json_decref(doc);
}
END_TEST

START_TEST(test_protocol_selection)
{
    ck_assert_int_eq(tr_proto_of_service_port("http-web", NULL, NULL), TR_PROTO_HTTP);
    ck_assert_int_eq(tr_proto_of_service_port("HTTP2", NULL, "TCP"), TR_PROTO_HTTP2);
    ck_assert_int_eq(tr_proto_of_service_port("grpc-web-x", NULL, NULL), TR_PROTO_HTTP);
    ck_assert_int_eq(tr_proto_of_service_port("grpc-x", NULL, NULL), TR_PROTO_GRPC);
    ck_assert_int_eq(tr_proto_of_service_port("https", NULL, NULL), TR_PROTO_HTTPS);
    ck_assert_int_eq(tr_proto_of_service_port("tls-x", NULL, NULL), TR_PROTO_TLS);
    ck_assert_int_eq(tr_proto_of_service_port("mongo", NULL, NULL), TR_PROTO_TCP);
    ck_assert_int_eq(tr_proto_of_service_port("web", NULL, NULL), TR_PROTO_TCP);
    ck_assert_int_eq(tr_proto_of_service_port("httpx", NULL, NULL), TR_PROTO_TCP);
    ck_assert_int_eq(tr_proto_of_service_port(NULL, NULL, NULL), TR_PROTO_TCP);
    ck_assert_int_eq(tr_proto_of_service_port("tcp", "http", NULL), TR_PROTO_HTTP);
    ck_assert_int_eq(tr_proto_of_service_port("http", "kubernetes.io/h2c", NULL), TR_PROTO_HTTP2);
    ck_assert_int_eq(tr_proto_of_service_port("http", "bogus", NULL), TR_PROTO_HTTP);
    ck_assert_int_eq(tr_proto_of_service_port("dns", NULL, "UDP"), TR_PROTO_SKIP);
}
END_TEST

START_TEST(test_impact)
{
    struct weir_translate_settings set = {.root_namespace = "mesh-root"};
    ck_assert_int_eq(weir_translate_impact("AuthorizationPolicy", "a", true, false, &set),
                     WEIR_IMPACT_NAMESPACE);
    ck_assert_int_eq(weir_translate_impact("AuthorizationPolicy", "mesh-root", true, false, &set),
                     WEIR_IMPACT_ALL);
    ck_assert_int_eq(weir_translate_impact("PeerAuthentication", "a", true, false, &set),
                     WEIR_IMPACT_NAMESPACE);
    ck_assert_int_eq(weir_translate_impact("PeerAuthentication", "a", false, false, &set),
                     WEIR_IMPACT_ALL);
    ck_assert_int_eq(weir_translate_impact("Pod", "a", false, false, &set), WEIR_IMPACT_NAMESPACE);
    ck_assert_int_eq(weir_translate_impact("Pod", "a", false, true, &set), WEIR_IMPACT_ALL);
    ck_assert_int_eq(weir_translate_impact("VirtualService", "a", false, false, &set),
                     WEIR_IMPACT_ALL);
}
END_TEST

/* The status subresource body the operator writes. */
START_TEST(test_status_json)
{
    struct weir_cr_status st = {.kind = WEIR_KIND_VIRTUAL_SERVICE,
                                .namespace_ = "default",
                                .name = "reviews",
                                .generation = 3,
                                .accepted = false,
                                .reason = "Conflict",
                                .message = "host taken"};
    json_t *j = weir_cr_status_json(&st);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_str_eq(text, "{\"conditions\":[{\"message\":\"host taken\",\"observedGeneration\":3,"
                           "\"reason\":\"Conflict\",\"status\":\"False\",\"type\":\"Accepted\"}],"
                           "\"observedGeneration\":3}");
    free(text);
    json_decref(j);
}
END_TEST

/* An empty snapshot in operator mode writes nothing and fails nothing. */
START_TEST(test_empty)
{
    struct weir_snapshot snap;
    struct weir_translate_result res;
    weir_snapshot_init(&snap);
    ck_assert_int_eq(weir_translate(&snap, NULL, &res), 0);
    ck_assert_uint_eq(res.n_configs, 0);
    ck_assert_uint_eq(res.n_statuses, 0);
    weir_translate_result_free(&res);
    weir_snapshot_free(&snap);
}
END_TEST

int main(void)
{
    collect_cases();
    Suite *s = suite_create("translate");
    TCase *golden = tcase_create("golden");
    tcase_set_timeout(golden, 120);
    tcase_add_test(golden, test_enough_cases);
    tcase_add_loop_test(golden, test_golden, 0, n_cases);
    tcase_add_loop_test(golden, test_shuffled, 0, n_cases);
    tcase_add_loop_test(golden, test_namespace_subset, 0, n_cases);
    tcase_add_loop_test(golden, test_scoped, 0, n_cases);
    tcase_add_loop_test(golden, test_borrowed_resources, 0, n_cases);
    suite_add_tcase(s, golden);

    TCase *units = tcase_create("units");
    tcase_add_test(units, test_sha256_vectors);
    tcase_add_test(units, test_canonical_form);
    tcase_add_test(units, test_example_revision);
    tcase_add_test(units, test_revision_definition);
    tcase_add_test(units, test_protocol_selection);
    tcase_add_test(units, test_impact);
    tcase_add_test(units, test_scope_helpers);
    tcase_add_test(units, test_status_json);
    tcase_add_test(units, test_empty);
    suite_add_tcase(s, units);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < n_cases; i++)
        free(cases[i]);
    return failed ? 1 : 0;
}
