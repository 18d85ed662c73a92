/*
 * weirctl inject: the webhook's injection applied offline. Reads manifests
 * (a multi-document YAML or JSON stream, "-" for stdin), runs every Pod and
 * every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet,
 * ReplicationController, Job, CronJob; the items of a List) through
 * weir_inject(), the code weir-webhook runs, applies the patch and prints the
 * manifests. Other objects pass through unchanged.
 *
 * Run by hand on chosen manifests, it injects whatever does not opt out: the
 * namespace labels that steer the webhook do not apply here.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cli/cli.h"
#include "inject/inject.h"
#include "inject/jsonpatch.h"
#include "meshconfig/mesh_config.h"
#include "model/common.h"
#include "yaml/yaml_json.h"

#define STDIN_MAX  (16u << 20)
#define LIST_DEPTH 4 /* a List inside a List inside ...: enough for kubectl output */

struct options {
    const char *input;
    const char *output;
    const char *mesh_path;
    const char *default_ns;
    bool json;
    bool quiet;
};

struct totals {
    size_t injected, skipped, refused, passed;
};

/* ---- YAML output ---- */

/* Words that YAML 1.1 (which kubectl's parser follows) or 1.2 would read as
 * a boolean or null; a string holding one must be quoted. */
static bool is_reserved_word(const char *s)
{
    static const char *const words[] = {
        "y",     "Y",     "yes",  "Yes",   "YES",   "n",     "N",    "no",   "No",   "NO",
        "true",  "True",  "TRUE", "false", "False", "FALSE", "on",   "On",   "ON",   "off",
        "Off",   "OFF",   "null", "Null",  "NULL",  "~",     ".inf", ".Inf", ".INF", "-.inf",
        "-.Inf", "-.INF", ".nan", ".NaN",  ".NAN",  "<<",    "=",    NULL,
    };
    for (int i = 0; words[i]; i++) {
        if (strcmp(s, words[i]) == 0)
            return true;
    }
    return false;
}

/* A plain scalar that a YAML parser could take for a number, a date or a
 * sexagesimal ("1:20" in YAML 1.1) rather than a string. Errs on the side of
 * quoting: a quoted string is always read back as a string. */
static bool looks_numeric(const char *s)
{
    if (!strchr("0123456789+-.", s[0]))
        return false;
    for (const char *p = s; *p; p++) {
        if (!strchr("0123456789abcdefABCDEFxXoO._:+- ", *p))
            return false;
    }
    return true;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
    return yaml_emitter_emit(em, ev) ? 0 : -1;
}

static int emit_scalar(yaml_emitter_t *em, const char *text, bool force_quote, bool multiline)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = multiline ? YAML_LITERAL_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
    /* plain_implicit = 0 makes libyaml pick a quoted style; it quotes by
     * itself whatever a plain scalar cannot hold (": ", "#", leading "*"). */
    if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)YAML_STR_TAG, (yaml_char_t *)text,
                                      (int)strlen(text), force_quote ? 0 : 1, 1, style))
        return -1;
    return emit(em, &ev);
}

static int emit_value(yaml_emitter_t *em, const json_t *v, int depth)
{
    yaml_event_t ev;
    char buf[64];

    if (depth > 200)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *member;
        if (!yaml_mapping_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_MAP_TAG, 1,
                                                 json_object_size(v) ? YAML_BLOCK_MAPPING_STYLE
                                                                     : YAML_FLOW_MAPPING_STYLE) ||
            emit(em, &ev))
            return -1;
        json_object_foreach((json_t *)v, key, member)
        {
            if (emit_scalar(em, key, !*key || is_reserved_word(key) || looks_numeric(key), false) ||
                emit_value(em, member, depth + 1))
                return -1;
        }
        if (!yaml_mapping_end_event_initialize(&ev) || emit(em, &ev))
            return -1;
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        if (!yaml_sequence_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_SEQ_TAG, 1,
                                                  json_array_size(v) ? YAML_BLOCK_SEQUENCE_STYLE
                                                                     : YAML_FLOW_SEQUENCE_STYLE) ||
            emit(em, &ev))
            return -1;
        json_array_foreach(v, i, item)
        {
            if (emit_value(em, item, depth + 1))
                return -1;
        }
        if (!yaml_sequence_end_event_initialize(&ev) || emit(em, &ev))
            return -1;
        return 0;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        bool quote = !*s || is_reserved_word(s) || looks_numeric(s);
        /* Literal blocks read well for embedded files (ConfigMap data), but
         * cannot carry trailing spaces on a line or a leading blank. */
        bool multiline = strchr(s, '\n') && !strstr(s, " \n") && s[0] != ' ' && !quote;
        return emit_scalar(em, s, quote, multiline);
    }
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: {
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        if (!strpbrk(buf, ".eEni"))
            strcat(buf, ".0"); /* stays a float when read back */
        break;
    }
    case JSON_TRUE:
        snprintf(buf, sizeof(buf), "true");
        break;
    case JSON_FALSE:
        snprintf(buf, sizeof(buf), "false");
        break;
    case JSON_NULL:
        snprintf(buf, sizeof(buf), "null");
        break;
    }
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)buf, (int)strlen(buf), 1, 0,
                                      YAML_PLAIN_SCALAR_STYLE))
        return -1;
    return emit(em, &ev);
}

static int write_yaml(FILE *out, json_t *const *docs, size_t n)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    int rc = -1;

    if (!yaml_emitter_initialize(&em))
        return -1;
    yaml_emitter_set_output_file(&em, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1); /* long values stay on one line */
    yaml_emitter_set_indent(&em, 2);
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || emit(&em, &ev))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, i == 0) ||
            emit(&em, &ev) || emit_value(&em, docs[i], 0) ||
            !yaml_document_end_event_initialize(&ev, 1) || emit(&em, &ev))
            goto out;
    }
    if (!yaml_stream_end_event_initialize(&ev) || emit(&em, &ev) || !yaml_emitter_flush(&em))
        goto out;
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "weirctl inject: writing YAML failed: %s\n",
                em.problem ? em.problem : "out of memory");
    yaml_emitter_delete(&em);
    return rc;
}

static int write_json(FILE *out, json_t *const *docs, size_t n)
{
    /* One document is written as itself; several as a v1 List, which
     * kubectl apply and weirctl read like a multi-document YAML. */
    json_t *doc = n == 1
                      ? json_incref(docs[0])
                      : json_pack("{s:s, s:s, s:[]}", "apiVersion", "v1", "kind", "List", "items");
    if (!doc)
        return -1;
    for (size_t i = 0; n != 1 && i < n; i++) {
        if (json_array_append(json_object_get(doc, "items"), docs[i]) != 0) {
            json_decref(doc);
            return -1;
        }
    }
    int rc = json_dumpf(doc, out, JSON_INDENT(2));
    fputc('\n', out);
    json_decref(doc);
    return rc;
}

/* ---- injection ---- */

static void print_diags(const struct options *o, const struct weir_diags *d, size_t from)
{
    for (size_t i = from; i < d->len; i++) {
        if (d->items[i].severity == WEIR_SEV_ERROR || !o->quiet)
            weir_diag_print(stderr, &d->items[i]);
    }
}

/* The path from the object to its pod template, NULL when it has none. */
static const char *const *template_path(const char *api, const char *kind)
{
    static const char *const pod_template[] = {"spec", "template", NULL};
    static const char *const cron_template[] = {"spec", "jobTemplate", "spec", "template", NULL};
    static const char *const pod[] = {NULL};
    static const struct {
        const char *api, *kind;
        const char *const *path;
    } kinds[] = {
        {"v1", "Pod", pod},
        {"v1", "ReplicationController", pod_template},
        {"apps/v1", "Deployment", pod_template},
        {"apps/v1", "StatefulSet", pod_template},
        {"apps/v1", "DaemonSet", pod_template},
        {"apps/v1", "ReplicaSet", pod_template},
        {"batch/v1", "Job", pod_template},
        {"batch/v1", "CronJob", cron_template},
    };
    if (!api || !kind)
        return NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].api, api) == 0 && strcmp(kinds[i].kind, kind) == 0)
            return kinds[i].path;
    }
    return NULL;
}

/* Injects one object in place. Returns 0, or -1 when it was refused (or out
 * of memory); diagnostics go to d. */
static int inject_object(const struct options *o, const struct weir_mesh_config *mc, json_t *obj,
                         const struct weir_yaml_stream *src, int line, struct weir_diags *d,
                         struct totals *t, int depth)
{
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    char label[320];

    if (api && kind && strcmp(api, "v1") == 0 && strcmp(kind, "List") == 0 && depth < LIST_DEPTH) {
        size_t i;
        json_t *item;
        int rc = 0;
        json_array_foreach(json_object_get(obj, "items"), i, item)
        {
            if (inject_object(o, mc, item, src, line, d, t, depth + 1) != 0)
                rc = -1;
        }
        return rc;
    }
    const char *const *path = template_path(api, kind);
    if (!path) {
        t->passed++;
        return 0;
    }
    json_t *tmpl = obj;
    for (const char *const *k = path; *k; k++)
        tmpl = json_object_get(tmpl, *k);
    snprintf(label, sizeof(label), "%s %s/%s", kind, ns ? ns : o->default_ns,
             name ? name : "(unnamed)");
    if (!json_is_object(tmpl)) {
        weir_diags_add(d, WEIR_SEV_ERROR, label, src ? src->source : NULL, line, "spec",
                       "has no pod template to inject");
        t->refused++;
        return -1;
    }

    struct weir_inject_request req = {
        .pod = tmpl,
        .namespace_ = ns ? ns : o->default_ns,
        .namespace_labels = NULL,
        .mesh = mc,
        .object = label,
        .path_prefix = path,
        .src = src,
        .line = line,
    };
    struct weir_inject_result res;
    if (weir_inject(&req, &res, d) != 0) {
        weir_diags_add(d, WEIR_SEV_ERROR, label, NULL, 0, NULL, "out of memory");
        return -1;
    }
    int rc = 0;
    switch (res.decision) {
    case WEIR_INJECT_PATCH: {
        char err[256];
        json_t *work = json_incref(tmpl);
        if (weir_jsonpatch_apply(&work, res.patch, err, sizeof(err)) != 0) {
            weir_diags_add(d, WEIR_SEV_ERROR, label, NULL, 0, NULL,
                           "the injection patch does not apply: %s", err);
            json_decref(work);
            t->refused++;
            rc = -1;
            break;
        }
        /* The patched copy's members go back into the template object itself,
         * which the document (or a List's items) still holds. */
        if (json_object_clear(tmpl) != 0 || json_object_update(tmpl, work) != 0) {
            weir_diags_add(d, WEIR_SEV_ERROR, label, NULL, 0, NULL, "out of memory");
            rc = -1;
        }
        json_decref(work);
        t->injected++;
        break;
    }
    case WEIR_INJECT_SKIP:
        if (!o->quiet)
            fprintf(stderr, "skipped %s: %s\n", label, res.reason);
        t->skipped++;
        break;
    case WEIR_INJECT_REFUSE:
        t->refused++;
        rc = -1;
        break;
    }
    weir_inject_result_free(&res);
    return rc;
}

static int read_input(const char *path, struct weir_yaml_stream *s, struct weir_diags *d)
{
    if (strcmp(path, "-") != 0)
        return weir_yaml_parse_file(path, NULL, s, d);
    char *buf = malloc(STDIN_MAX + 1);
    if (!buf) {
        memset(s, 0, sizeof(*s));
        weir_diags_add(d, WEIR_SEV_ERROR, NULL, "-", 0, NULL, "out of memory");
        return -1;
    }
    size_t len = fread(buf, 1, STDIN_MAX + 1, stdin);
    int rc;
    if (len > STDIN_MAX) {
        memset(s, 0, sizeof(*s));
        weir_diags_add(d, WEIR_SEV_ERROR, NULL, "-", 0, NULL, "input is larger than %u bytes",
                       STDIN_MAX);
        rc = -1;
    } else {
        rc = weir_yaml_parse(buf, len, "-", NULL, s, d);
    }
    free(buf);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weirctl inject -f FILE [-o FILE] [--mesh-config FILE] [options]\n"
            "\n"
            "Adds weir-init and the weir-proxy sidecar to Pods and to the pod templates of\n"
            "Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs\n"
            "and CronJobs, exactly as weir-webhook would, and prints the manifests. Other\n"
            "objects pass through unchanged. Pods that opt out (sidecar.istio.io/inject:\n"
            "\"false\"), hostNetwork pods and injected pods are left alone.\n"
            "\n"
            "options:\n"
            "  -f, --filename FILE      manifests to read (YAML or JSON, several documents);\n"
            "                           \"-\" reads stdin\n"
            "  -o, --output FILE        where to write (default stdout)\n"
            "      --mesh-config FILE   the mesh config (default: the built-in defaults);\n"
            "                           a ConfigMap manifest holding it under data.mesh works\n"
            "      --format yaml|json   output format (default yaml)\n"
            "  -n, --namespace NS       namespace of objects that name none (default \"default\")\n"
            "  -q, --quiet              do not report skipped objects and warnings\n"
            "\n"
            "exit status: 0 written, 1 an object cannot be injected (nothing is written),\n"
            "2 usage or input error\n");
}

int weirctl_inject(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"mesh-config", required_argument, NULL, 'm'},
        {"format", required_argument, NULL, 'F'},
        {"namespace", required_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct options o = {.default_ns = "default"};
    struct totals t = {0};
    struct weir_mesh_config mc;
    struct weir_yaml_stream s;
    struct weir_diags d;
    int c, rc = 2;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:n:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (o.input) {
                fprintf(stderr, "weirctl inject: give one -f (use - and a pipe for several)\n");
                return 2;
            }
            o.input = optarg;
            break;
        case 'o':
            o.output = optarg;
            break;
        case 'm':
            o.mesh_path = optarg;
            break;
        case 'F':
            if (strcmp(optarg, "json") == 0) {
                o.json = true;
            } else if (strcmp(optarg, "yaml") != 0) {
                fprintf(stderr, "weirctl inject: --format must be yaml or json\n");
                return 2;
            }
            break;
        case 'n':
            if (weir_valid_namespace(optarg)) {
                fprintf(stderr, "weirctl inject: invalid namespace \"%s\"\n", optarg);
                return 2;
            }
            o.default_ns = optarg;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc && !o.input)
        o.input = argv[optind++];
    if (!o.input || optind < argc) {
        fprintf(stderr,
                optind < argc ? "weirctl inject: unexpected argument \"%s\"\n"
                              : "weirctl inject: no input; give -f FILE%s\n",
                optind < argc ? argv[optind] : "");
        usage(stderr);
        return 2;
    }

    weir_diags_init(&d);
    if (o.mesh_path ? weir_mesh_config_load_file(o.mesh_path, &mc, &d)
                    : weir_mesh_config_defaults(&mc)) {
        print_diags(&o, &d, 0);
        if (!d.len)
            fprintf(stderr, "weirctl inject: out of memory\n");
        weir_diags_free(&d);
        return 2;
    }
    if (read_input(o.input, &s, &d) != 0) {
        print_diags(&o, &d, 0);
        goto out;
    }

    bool refused = false;
    for (size_t i = 0; i < s.ndocs; i++) {
        size_t first = d.len;
        if (inject_object(&o, &mc, s.docs[i].root, &s, s.docs[i].line, &d, &t, 0) != 0)
            refused = true;
        print_diags(&o, &d, first);
    }
    if (refused) {
        fprintf(stderr, "weirctl inject: %zu object(s) cannot be injected; nothing was written\n",
                t.refused);
        rc = 1;
        goto out;
    }

    FILE *out = stdout;
    if (o.output && strcmp(o.output, "-") != 0) {
        out = fopen(o.output, "w");
        if (!out) {
            fprintf(stderr, "weirctl inject: cannot write %s: %s\n", o.output, strerror(errno));
            goto out;
        }
    }
    json_t **docs = calloc(s.ndocs ? s.ndocs : 1, sizeof(*docs));
    if (!docs) {
        fprintf(stderr, "weirctl inject: out of memory\n");
    } else {
        for (size_t i = 0; i < s.ndocs; i++)
            docs[i] = s.docs[i].root;
        int wrc = o.json ? write_json(out, docs, s.ndocs) : write_yaml(out, docs, s.ndocs);
        if (fflush(out) != 0 || ferror(out))
            wrc = -1;
        rc = wrc == 0 ? 0 : 2;
        free(docs);
    }
    if (out != stdout && fclose(out) != 0)
        rc = 2;
    if (rc == 0 && !o.quiet)
        fprintf(stderr, "%zu injected, %zu skipped, %zu passed through\n", t.injected, t.skipped,
                t.passed);
out:
    weir_yaml_stream_free(&s);
    weir_mesh_config_free(&mc);
    weir_diags_free(&d);
    return rc;
}
