/*
 * weirctl render: runs the operator's translation on manifest files, without
 * a cluster, and prints the proxy config of each namespace. Diagnostics go to
 * stderr with their file and line, so stdout stays a JSON stream.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "config/proxy_config.h"
#include "model/common.h"
#include "translate/translate.h"
#include "yaml/yaml_json.h"

/* Folders are walked at most this deep; a symlink loop must not hang the tool. */
#define MAX_DIR_DEPTH 32
#define STDIN_MAX     (16u << 20)

struct render {
    struct weir_snapshot snap;
    struct weir_yaml_stream *streams; /* kept until the end: diagnostics point into them */
    size_t n_streams;
    json_t *templates; /* workloads whose pods the files do not hold */
    const char *default_ns;
    bool input_error;
};

static bool is_template_kind(const char *kind)
{
    static const char *const kinds[] = {"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet",
                                        "Job",        "CronJob",     NULL};
    for (int i = 0; kind && kinds[i]; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return true;
    return false;
}

static void add_stream(struct render *r, struct weir_yaml_stream *s)
{
    if (weir_yaml_stream_expand_lists(s) != 0) {
        fprintf(stderr, "weirctl render: out of memory\n");
        r->input_error = true;
        return;
    }
    for (size_t i = 0; i < s->ndocs; i++) {
        json_t *doc = s->docs[i].root;
        int rc = weir_snapshot_add(&r->snap, doc, s, s->docs[i].line, r->default_ns);
        if (rc < 0) {
            fprintf(stderr, "weirctl render: out of memory\n");
            r->input_error = true;
            return;
        }
        if (rc == 1 && is_template_kind(json_string_value(json_object_get(doc, "kind"))))
            json_array_append(r->templates, doc);
    }
}

static void read_file(struct render *r, const char *path)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    int rc;

    weir_diags_init(&d);
    memset(&s, 0, sizeof(s));
    if (strcmp(path, "-") == 0) {
        char *buf = malloc(STDIN_MAX + 1);
        size_t len = buf ? fread(buf, 1, STDIN_MAX + 1, stdin) : 0;
        rc = buf ? weir_yaml_parse(buf, len, "-", NULL, &s, &d) : -1;
        free(buf);
    } else {
        rc = weir_yaml_parse_file(path, NULL, &s, &d);
    }
    if (rc != 0) {
        r->input_error = true;
        for (size_t i = 0; i < d.len; i++)
            weir_diag_print(stderr, &d.items[i]);
        if (!d.len)
            fprintf(stderr, "%s: cannot read\n", path);
    }
    weir_diags_free(&d);
    struct weir_yaml_stream *v = realloc(r->streams, (r->n_streams + 1) * sizeof(*v));
    if (!v) {
        weir_yaml_stream_free(&s);
        r->input_error = true;
        return;
    }
    r->streams = v;
    r->streams[r->n_streams] = s;
    /* documents before a syntax error still count: the user sees them all */
    add_stream(r, &r->streams[r->n_streams++]);
}

static bool is_manifest_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_path(struct render *r, const char *path, int depth);

static void read_dir(struct render *r, const char *path, int depth)
{
    DIR *dir = opendir(path);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (!dir) {
        fprintf(stderr, "%s: cannot open folder: %s\n", path, strerror(errno));
        r->input_error = true;
        return;
    }
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue; /* hidden files and ConfigMap "..data" links */
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof(*names));
            if (!nn)
                break;
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (names[n])
            n++;
    }
    closedir(dir);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char child[4096];
        struct stat st;
        snprintf(child, sizeof(child), "%s/%s", path, names[i]);
        if ((stat(child, &st) == 0 && S_ISDIR(st.st_mode)) || is_manifest_name(names[i]))
            read_path(r, child, depth + 1);
        free(names[i]);
    }
    free(names);
}

static void read_path(struct render *r, const char *path, int depth)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (depth >= MAX_DIR_DEPTH) {
            fprintf(stderr, "%s: folders nested deeper than %d levels\n", path, MAX_DIR_DEPTH);
            r->input_error = true;
            return;
        }
        read_dir(r, path, depth);
        return;
    }
    read_file(r, path);
}

/* A workload template whose pods the files do not hold: without a cluster
 * there are no pod IPs, so its endpoints cannot be rendered. */
static void note_templates(const struct render *r)
{
    size_t i;
    json_t *t;
    json_array_foreach(r->templates, i, t)
    {
        const json_t *md = json_object_get(t, "metadata");
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        const json_t *spec = json_object_get(t, "spec");
        if (json_object_get(spec, "jobTemplate"))
            spec = json_object_get(json_object_get(spec, "jobTemplate"), "spec");
        const json_t *want = json_object_get(
            json_object_get(json_object_get(spec, "template"), "metadata"), "labels");
        bool backed = false;
        if (!ns)
            ns = r->default_ns;
        for (size_t k = 0; k < r->snap.n_objects && !backed; k++) {
            const json_t *o = r->snap.objects[k];
            const char *kind = json_string_value(json_object_get(o, "kind"));
            const json_t *omd = json_object_get(o, "metadata");
            const char *ons = json_string_value(json_object_get(omd, "namespace"));
            if (!ons || strcmp(ons, ns) != 0)
                continue;
            if (strcmp(kind, "EndpointSlice") == 0) {
                backed = true;
            } else if (strcmp(kind, "Pod") == 0 && json_is_object(want)) {
                const char *key;
                const json_t *v;
                bool all = true;
                json_object_foreach((json_t *)want, key, v)
                {
                    const json_t *have = json_object_get(json_object_get(omd, "labels"), key);
                    all &= json_is_string(have) && json_equal((json_t *)have, (json_t *)v);
                }
                backed = all;
            }
        }
        if (!backed)
            fprintf(stderr,
                    "# %s %s/%s: no Pod or EndpointSlice for it in the input; its endpoints are "
                    "not rendered (pod IPs exist only in a cluster)\n",
                    json_string_value(json_object_get(t, "kind")), ns, name ? name : "(unnamed)");
    }
}

static const char *valid_trust_domain(const char *s)
{
    if (!*s)
        return "must not be empty";
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr(".-_", *p)))
            return "must hold lower-case letters, digits, '.', '-' and '_' only";
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weirctl render -f FILE_OR_DIR... [options]\n"
            "\n"
            "Runs the operator's translation on manifests (Services, EndpointSlices, Pods,\n"
            "Namespaces and the mesh CRs) and prints the proxy config of each namespace\n"
            "holding workloads or mesh objects, as a stream of JSON documents. Folders are\n"
            "read recursively (*.yaml, *.yml, *.json); \"-\" reads stdin. Diagnostics and\n"
            "the status of every mesh object go to stderr.\n"
            "\n"
            "options:\n"
            "  -f, --filename PATH       a file or folder (repeatable; more paths may follow)\n"
            "  -n, --namespace NS        render only this namespace (repeatable)\n"
            "      --default-namespace NS  namespace of objects that name none (\"default\")\n"
            "      --trust-domain D      SPIFFE trust domain (default \"cluster.local\")\n"
            "      --root-namespace NS   namespace of mesh-wide policies (\"weir-system\")\n"
            "  -o, --output FORMAT       json (the only format)\n"
            "\n"
            "exit status: 0 every object valid and applied, 1 some object or file rejected,\n"
            "2 usage error\n");
}

int weirctl_render(int argc, char **argv)
{
    enum { OPT_TRUST_DOMAIN = 256, OPT_ROOT_NS, OPT_DEFAULT_NS };
    static const struct option longopts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"namespace", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN},
        {"root-namespace", required_argument, NULL, OPT_ROOT_NS},
        {"default-namespace", required_argument, NULL, OPT_DEFAULT_NS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct weir_translate_settings set = {.all_namespaces = true};
    struct render r = {.default_ns = "default"};
    struct weir_translate_result res;
    const char **paths = calloc((size_t)argc + 1, sizeof(*paths));
    const char **nss = calloc((size_t)argc + 1, sizeof(*nss));
    size_t npaths = 0, nns = 0;
    int c, status = 2;

    if (!paths || !nss)
        goto out;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:n:o:h", longopts, NULL)) != -1) {
        const char *why = NULL;
        switch (c) {
        case 'f':
            paths[npaths++] = optarg;
            /* kubectl-style: "-f a b c" takes the following non-option words too */
            while (optind < argc && argv[optind][0] != '-')
                paths[npaths++] = argv[optind++];
            break;
        case 'n':
        case OPT_ROOT_NS:
        case OPT_DEFAULT_NS:
            if ((why = weir_valid_namespace(optarg))) {
                fprintf(stderr, "weirctl render: invalid namespace \"%s\": %s\n", optarg, why);
                goto out;
            }
            if (c == 'n')
                nss[nns++] = optarg;
            else if (c == OPT_ROOT_NS)
                set.root_namespace = optarg;
            else
                r.default_ns = optarg;
            break;
        case OPT_TRUST_DOMAIN:
            if ((why = valid_trust_domain(optarg))) {
                fprintf(stderr, "weirctl render: invalid trust domain \"%s\": %s\n", optarg, why);
                goto out;
            }
            set.trust_domain = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "json") != 0) {
                fprintf(stderr, "weirctl render: unknown output format \"%s\" (json)\n", optarg);
                goto out;
            }
            break;
        case 'h':
            usage(stdout);
            status = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    while (optind < argc)
        paths[npaths++] = argv[optind++];
    if (npaths == 0) {
        fprintf(stderr, "weirctl render: no input; give -f FILE_OR_DIR\n");
        usage(stderr);
        goto out;
    }
    if (nns) {
        set.namespaces = nss;
        set.n_namespaces = nns;
    }

    weir_snapshot_init(&r.snap);
    r.templates = json_array();
    for (size_t i = 0; i < npaths; i++)
        read_path(&r, paths[i], 0);
    note_templates(&r);

    if (weir_translate(&r.snap, &set, &res) != 0) {
        fprintf(stderr, "weirctl render: out of memory\n");
        status = 2;
        goto free_input;
    }
    status = r.input_error ? 1 : 0;
    for (size_t i = 0; i < res.diags.len; i++) {
        fprintf(stderr, "weirctl render: ");
        weir_diag_print(stderr, &res.diags.items[i]);
    }
    for (size_t i = 0; i < res.n_statuses; i++) {
        const struct weir_cr_status *st = &res.statuses[i];
        if (!st->accepted)
            status = 1;
        for (size_t k = 0; k < st->diags.len; k++)
            weir_diag_print(stderr, &st->diags.items[k]);
    }
    for (size_t i = 0; i < res.n_configs; i++) {
        const struct weir_translate_config *cfg = &res.configs[i];
        char *text = json_dumps(cfg->doc, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        struct weir_proxy_config *loaded = NULL;
        struct weir_diags d;
        weir_diags_init(&d);
        /* the document the proxy would refuse is never printed as if it were fine */
        if (!text ||
            weir_proxy_config_load(text, strlen(text), cfg->namespace_, &loaded, &d) != 0) {
            fprintf(stderr,
                    "weirctl render: internal error: the config of namespace %s does not "
                    "load:\n",
                    cfg->namespace_);
            for (size_t k = 0; k < d.len; k++)
                weir_diag_print(stderr, &d.items[k]);
            status = 2;
        } else {
            printf("%s\n", text);
        }
        weir_proxy_config_free(loaded);
        weir_diags_free(&d);
        free(text);
    }
    if (res.n_configs == 0)
        fprintf(stderr, "weirctl render: no namespace to render\n");
    weir_translate_result_free(&res);
free_input:
    weir_snapshot_free(&r.snap);
    for (size_t i = 0; i < r.n_streams; i++)
        weir_yaml_stream_free(&r.streams[i]);
    free(r.streams);
    json_decref(r.templates);
out:
    free(paths);
    free(nss);
    return status;
}
