/*
 * weirctl validate: reads manifests (files, folders, or "-" for stdin), runs
 * every mesh object through the same model code as the operator and the
 * webhook, and prints a verdict per object with every error found.
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
#include "model/common.h"
#include "model/mesh.h"
#include "yaml/yaml_json.h"

/* Folders are walked at most this deep; a symlink loop must not hang the tool. */
#define MAX_DIR_DEPTH 32
#define STDIN_MAX     (16u << 20)

struct totals {
    size_t valid, invalid, skipped, input_errors;
};

/* Folders already walked, by device and inode: symlinks may form loops. */
#define MAX_VISITED_DIRS 4096

struct visited {
    dev_t dev[MAX_VISITED_DIRS];
    ino_t ino[MAX_VISITED_DIRS];
    size_t len;
};

struct options {
    struct visited *seen;
    const char *default_ns;
    bool json;
    bool quiet;
    json_t *report; /* with --output json */
};

static const char *object_label(const json_t *doc, char *buf, size_t len, const char *ns)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    const json_t *md = json_object_get(doc, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *mns = json_string_value(json_object_get(md, "namespace"));
    snprintf(buf, len, "%s %s/%s", kind ? kind : "object", mns ? mns : ns,
             name ? name : "(unnamed)");
    return buf;
}

/* Labels and file names come from the input; JSON needs valid UTF-8. */
static const char *json_valid_utf8(const char *s)
{
    json_t *probe = json_string(s);
    if (!probe)
        return NULL;
    json_decref(probe);
    return s;
}

static json_t *diags_json(const struct weir_diags *d)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->len; i++) {
        const struct weir_diag *g = &d->items[i];
        json_t *o = json_pack("{s:s, s:s, s:s}", "severity", weir_severity_name(g->severity),
                              "path", g->path, "message", g->message);
        if (!o)
            continue; /* diag.c keeps these valid UTF-8; out of memory only */
        if (g->line > 0)
            json_object_set_new(o, "line", json_integer(g->line));
        char *text = weir_diag_format(g);
        if (text)
            json_object_set_new(o, "text", json_string(text));
        free(text);
        json_array_append_new(arr, o);
    }
    return arr;
}

static void report_doc(const struct options *o, const char *source, int line, const char *verdict,
                       const char *label, const struct weir_diags *d)
{
    if (o->json) {
        json_t *entry =
            json_pack("{s:s, s:s?, s:s?, s:i, s:o, s:b}", "verdict", verdict, "object",
                      json_valid_utf8(label), "file", json_valid_utf8(source ? source : "-"),
                      "line", line, "diagnostics", diags_json(d), "truncated", d->truncated);
        /* never drop an object from the report: fall back to its verdict */
        if (!entry)
            entry = json_pack("{s:s}", "verdict", verdict);
        json_array_append_new(o->report, entry);
        return;
    }
    if (o->quiet && strcmp(verdict, "valid") == 0 && d->len == 0)
        return;
    printf("%-8s %s (%s:%d)\n", verdict, label, source ? source : "-", line);
    for (size_t i = 0; i < d->len; i++) {
        printf("  ");
        weir_diag_print(stdout, &d->items[i]);
    }
    if (d->truncated)
        printf("  (more diagnostics were found than can be listed; errors are kept first)\n");
}

static void validate_stream(const struct options *o, struct weir_yaml_stream *s, struct totals *t)
{
    if (weir_yaml_stream_expand_lists(s) != 0) {
        fprintf(stderr, "weirctl validate: out of memory\n");
        t->input_errors++;
        return;
    }
    for (size_t i = 0; i < s->ndocs; i++) {
        struct weir_diags d;
        struct weir_resource *r = NULL;
        char label[320];
        const json_t *doc = s->docs[i].root;

        weir_diags_init(&d);
        int rc = weir_mesh_parse(doc, s, s->docs[i].line, o->default_ns, &r, &d);
        object_label(doc, label, sizeof(label), o->default_ns);
        if (rc == 1) {
            const char *api = json_string_value(json_object_get(doc, "apiVersion"));
            char what[400];
            snprintf(what, sizeof(what), "%s (%s)", label, api ? api : "?");
            t->skipped++;
            if (!o->quiet)
                report_doc(o, s->source, s->docs[i].line, "skipped", what, &d);
        } else if (rc == 0) {
            t->valid++;
            report_doc(o, s->source, s->docs[i].line, "valid", label, &d);
        } else {
            t->invalid++;
            report_doc(o, s->source, s->docs[i].line, "invalid", label, &d);
        }
        weir_resource_free(r);
        weir_diags_free(&d);
    }
}

static void input_error(const struct options *o, const char *source, struct weir_diags *d,
                        struct totals *t)
{
    t->input_errors++;
    if (o->json) {
        json_array_append_new(o->report,
                              json_pack("{s:s, s:s?, s:o}", "verdict", "unreadable", "file",
                                        json_valid_utf8(source), "diagnostics", diags_json(d)));
        return;
    }
    printf("%-8s %s\n", "error", source);
    for (size_t i = 0; i < d->len; i++) {
        printf("  ");
        weir_diag_print(stdout, &d->items[i]);
    }
}

static void validate_file(const struct options *o, const char *path, struct totals *t)
{
    struct weir_yaml_stream s;
    struct weir_diags d;
    int rc;

    weir_diags_init(&d);
    if (strcmp(path, "-") == 0) {
        char *buf = malloc(STDIN_MAX + 1);
        size_t len = buf ? fread(buf, 1, STDIN_MAX + 1, stdin) : 0;
        if (!buf) {
            weir_diags_add(&d, WEIR_SEV_ERROR, NULL, "-", 0, NULL, "out of memory");
            rc = -1;
            memset(&s, 0, sizeof(s));
        } else {
            rc = weir_yaml_parse(buf, len, "-", NULL, &s, &d);
        }
        free(buf);
    } else {
        rc = weir_yaml_parse_file(path, NULL, &s, &d);
    }
    /* Documents before a syntax error are still judged: the user sees all. */
    validate_stream(o, &s, t);
    if (rc != 0)
        input_error(o, path, &d, t);
    weir_yaml_stream_free(&s);
    weir_diags_free(&d);
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

static void validate_path(const struct options *o, const char *path, int depth, struct totals *t);

static void validate_dir(const struct options *o, const char *path, int depth, struct totals *t)
{
    DIR *dir = opendir(path);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (!dir) {
        struct weir_diags d;
        weir_diags_init(&d);
        weir_diags_add(&d, WEIR_SEV_ERROR, NULL, path, 0, NULL, "cannot open folder: %s",
                       strerror(errno));
        input_error(o, path, &d, t);
        weir_diags_free(&d);
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
    /* Sorted so the report is stable from run to run. */
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char child[4096];
        struct stat st;
        snprintf(child, sizeof(child), "%s/%s", path, names[i]);
        if (stat(child, &st) == 0 && S_ISDIR(st.st_mode))
            validate_path(o, child, depth + 1, t);
        else if (is_manifest_name(names[i]))
            validate_path(o, child, depth + 1, t);
        free(names[i]);
    }
    free(names);
}

static void validate_path(const struct options *o, const char *path, int depth, struct totals *t)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (depth >= MAX_DIR_DEPTH) {
            struct weir_diags d;
            weir_diags_init(&d);
            weir_diags_add(&d, WEIR_SEV_ERROR, NULL, path, 0, NULL,
                           "folders nested deeper than %d levels", MAX_DIR_DEPTH);
            input_error(o, path, &d, t);
            weir_diags_free(&d);
            return;
        }
        for (size_t i = 0; i < o->seen->len; i++)
            if (o->seen->dev[i] == st.st_dev && o->seen->ino[i] == st.st_ino)
                return; /* already walked through another link */
        if (o->seen->len < MAX_VISITED_DIRS) {
            o->seen->dev[o->seen->len] = st.st_dev;
            o->seen->ino[o->seen->len] = st.st_ino;
            o->seen->len++;
        }
        validate_dir(o, path, depth, t);
        return;
    }
    validate_file(o, path, t);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weirctl validate -f FILE_OR_DIR... [options]\n"
            "\n"
            "Checks VirtualService, DestinationRule, ServiceEntry, AuthorizationPolicy,\n"
            "PeerAuthentication and RequestAuthentication objects the way the mesh does.\n"
            "Folders are read recursively (*.yaml, *.yml, *.json); \"-\" reads stdin.\n"
            "Objects of other kinds are listed as skipped.\n"
            "\n"
            "options:\n"
            "  -f, --filename PATH   a file or folder (repeatable; more paths may follow)\n"
            "  -n, --namespace NS    namespace for objects that name none (default \"default\")\n"
            "  -o, --output FORMAT   text (default) or json\n"
            "  -q, --quiet           print only objects with diagnostics\n"
            "\n"
            "exit status: 0 all objects valid, 1 some object or file invalid, 2 usage error\n");
}

int weirctl_validate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"filename", required_argument, NULL, 'f'}, {"namespace", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},   {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct options o = {.default_ns = "default"};
    struct visited *seen = calloc(1, sizeof(*seen));
    struct totals t = {0};
    const char **paths = calloc((size_t)argc + 1, sizeof(*paths));
    size_t npaths = 0;
    int c;

    if (!paths || !seen) {
        free(paths);
        free(seen);
        return 2;
    }
    o.seen = seen;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:n:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            paths[npaths++] = optarg;
            /* kubectl-style: "-f a b c" takes the following non-option words too. */
            while (optind < argc && argv[optind][0] != '-')
                paths[npaths++] = argv[optind++];
            break;
        case 'n':
            if (weir_valid_namespace(optarg)) {
                fprintf(stderr, "weirctl validate: invalid namespace \"%s\"\n", optarg);
                free(paths);
                free(seen);
                return 2;
            }
            o.default_ns = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "json") == 0) {
                o.json = true;
            } else if (strcmp(optarg, "text") != 0) {
                fprintf(stderr, "weirctl validate: unknown output format \"%s\"\n", optarg);
                free(paths);
                free(seen);
                return 2;
            }
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            free(paths);
            free(seen);
            return 0;
        default:
            usage(stderr);
            free(paths);
            free(seen);
            return 2;
        }
    }
    while (optind < argc)
        paths[npaths++] = argv[optind++];
    if (npaths == 0) {
        fprintf(stderr, "weirctl validate: no input; give -f FILE_OR_DIR\n");
        usage(stderr);
        free(paths);
        free(seen);
        return 2;
    }
    if (o.json)
        o.report = json_array();

    for (size_t i = 0; i < npaths; i++)
        validate_path(&o, paths[i], 0, &t);

    if (o.json) {
        json_t *out =
            json_pack("{s:o, s:{s:I, s:I, s:I, s:I}}", "objects", o.report, "summary", "valid",
                      (json_int_t)t.valid, "invalid", (json_int_t)t.invalid, "skipped",
                      (json_int_t)t.skipped, "unreadable", (json_int_t)t.input_errors);
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(out);
    } else {
        printf("%zu valid, %zu invalid, %zu skipped", t.valid, t.invalid, t.skipped);
        if (t.input_errors)
            printf(", %zu unreadable", t.input_errors);
        printf("\n");
    }
    free(paths);
    free(seen);
    if (t.invalid || t.input_errors)
        return 1;
    if (t.valid == 0 && t.skipped == 0)
        return 1; /* nothing was found to validate: a wrong path must not pass */
    return 0;
}
