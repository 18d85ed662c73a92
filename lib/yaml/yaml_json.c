#include "yaml/yaml_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

const struct weir_yaml_limits weir_yaml_default_limits = {
    .max_bytes = 16u << 20,
    .max_depth = 128,
    .max_nodes = 2000000,
    .max_docs = 10000,
};

#define MAX_ANCHORS 4096

struct anchor {
    char *name;
    json_t *value; /* borrowed from the tree; the tree outlives the anchor table */
    size_t nodes;  /* nodes under the anchor, what one alias costs */
    size_t height; /* levels under the anchor: an alias must not beat the depth limit */
};

struct parser {
    yaml_parser_t yaml;
    const struct weir_yaml_limits *limits;
    struct weir_yaml_stream *out;
    struct weir_diags *diags;
    size_t nodes;
    struct anchor anchors[MAX_ANCHORS];
    size_t nanchors;
    bool failed;
};

static int line_of_mark(const yaml_mark_t *m)
{
    return (int)m->line + 1;
}

static void fail(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Only the first failure is recorded: libyaml cannot resume after an error,
 * so later ones would be noise. */
static void fail(struct parser *p, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (p->failed)
        return;
    p->failed = true;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    weir_diags_add(p->diags, WEIR_SEV_ERROR, NULL, p->out->source, line, NULL, "%s", msg);
}

static void remember_line(struct parser *p, const json_t *node, int line)
{
    struct weir_yaml_stream *s = p->out;
    /* true, false and null are shared singletons in jansson: no line of their own. */
    if (json_is_true(node) || json_is_false(node) || json_is_null(node))
        return;
    if (s->nlines == s->lines_cap) {
        size_t cap = s->lines_cap ? s->lines_cap * 2 : 64;
        struct weir_yaml_node_line *lines = realloc(s->lines, cap * sizeof(*lines));
        if (!lines)
            return; /* a missing line only degrades messages */
        s->lines = lines;
        s->lines_cap = cap;
    }
    s->lines[s->nlines].node = node;
    s->lines[s->nlines].line = line;
    s->nlines++;
}

static void clear_anchors(struct parser *p)
{
    for (size_t i = 0; i < p->nanchors; i++)
        free(p->anchors[i].name);
    p->nanchors = 0;
}

static bool count_node(struct parser *p, size_t n, int line)
{
    if (p->nodes + n > p->limits->max_nodes || p->nodes + n < p->nodes) {
        char limit[32];
        snprintf(limit, sizeof(limit), "%zu", p->limits->max_nodes);
        fail(p, line, "document has more than %s nodes (alias expansion included)", limit);
        return false;
    }
    p->nodes += n;
    return true;
}

static bool next_event(struct parser *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&p->yaml, ev)) {
        char msg[512];
        snprintf(msg, sizeof(msg), "YAML syntax error: %s%s%s",
                 p->yaml.problem ? p->yaml.problem : "unknown problem", p->yaml.context ? " " : "",
                 p->yaml.context ? p->yaml.context : "");
        fail(p, line_of_mark(&p->yaml.problem_mark), "%s", msg);
        return false;
    }
    return true;
}

/* ---- scalar resolution (YAML 1.2 core schema) ---- */

static bool match_any(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};

static bool parse_int(const char *s, json_int_t *out)
{
    const char *digits = s;
    int base = 10;
    char *end;

    if (strncmp(s, "0o", 2) == 0) {
        base = 8;
        digits = s + 2;
    } else if (strncmp(s, "0x", 2) == 0) {
        base = 16;
        digits = s + 2;
    } else if (*s == '-' || *s == '+') {
        digits = s + 1;
    }
    if (!*digits)
        return false;
    for (const char *c = digits; *c; c++) {
        bool ok = base == 16  ? (strchr("0123456789abcdefABCDEF", *c) != NULL)
                  : base == 8 ? (*c >= '0' && *c <= '7')
                              : (*c >= '0' && *c <= '9');
        if (!ok)
            return false;
    }
    errno = 0;
    long long v = strtoll(base == 10 ? s : digits, &end, base);
    if (errno == ERANGE || *end)
        return false;
    *out = (json_int_t)v;
    return true;
}

static bool parse_float(const char *s, double *out)
{
    const char *c = s;
    bool digits = false;
    char *end;

    if (*c == '-' || *c == '+')
        c++;
    while (*c >= '0' && *c <= '9') {
        c++;
        digits = true;
    }
    if (*c == '.') {
        c++;
        while (*c >= '0' && *c <= '9') {
            c++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '-' || *c == '+')
            c++;
        if (!(*c >= '0' && *c <= '9'))
            return false;
        while (*c >= '0' && *c <= '9')
            c++;
    }
    if (*c)
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static json_t *resolve_scalar(struct parser *p, const yaml_event_t *ev)
{
    const char *value = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    int line = line_of_mark(&ev->start_mark);
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    json_int_t i;
    double d;

    if (strlen(value) != ev->data.scalar.length) {
        fail(p, line, "%s", "scalar contains a NUL byte");
        return NULL;
    }
    if (tag && strcmp(tag, "!") != 0) {
        if (strcmp(tag, YAML_STR_TAG) == 0)
            return json_string(value);
        if (strcmp(tag, YAML_INT_TAG) == 0 && parse_int(value, &i))
            return json_integer(i);
        if (strcmp(tag, YAML_FLOAT_TAG) == 0 && parse_float(value, &d))
            return json_real(d);
        if (strcmp(tag, YAML_BOOL_TAG) == 0 && match_any(value, true_words))
            return json_true();
        if (strcmp(tag, YAML_BOOL_TAG) == 0 && match_any(value, false_words))
            return json_false();
        if (strcmp(tag, YAML_NULL_TAG) == 0 && match_any(value, null_words))
            return json_null();
        fail(p, line, "unsupported YAML tag or a value that does not fit it: %s", tag);
        return NULL;
    }
    if (!plain || (tag && strcmp(tag, "!") == 0))
        return json_string(value);
    if (match_any(value, null_words))
        return json_null();
    if (match_any(value, true_words))
        return json_true();
    if (match_any(value, false_words))
        return json_false();
    if (parse_int(value, &i))
        return json_integer(i);
    if (parse_float(value, &d))
        return json_real(d);
    /* .inf and .nan have no JSON form: keep them as text and let the schema say no. */
    return json_string(value);
}

/* ---- tree building ---- */

static json_t *parse_node(struct parser *p, yaml_event_t *ev, size_t depth, size_t *height);

static const char *anchor_of(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return (const char *)ev->data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT:
        return (const char *)ev->data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT:
        return (const char *)ev->data.mapping_start.anchor;
    default:
        return NULL;
    }
}

static void define_anchor(struct parser *p, const char *name, json_t *value, size_t nodes,
                          size_t height, int line)
{

    /* A redefined anchor shadows the earlier one, as the YAML spec says. */
    for (size_t i = p->nanchors; i-- > 0;) {
        if (strcmp(p->anchors[i].name, name) == 0) {
            p->anchors[i].value = value;
            p->anchors[i].nodes = nodes;
            p->anchors[i].height = height;
            return;
        }
    }
    if (p->nanchors == MAX_ANCHORS) {
        fail(p, line, "more than %s anchors in one document", "4096");
        return;
    }
    p->anchors[p->nanchors].name = strdup(name);
    if (!p->anchors[p->nanchors].name) {
        fail(p, line, "%s", "out of memory");
        return;
    }
    p->anchors[p->nanchors].value = value;
    p->anchors[p->nanchors].nodes = nodes;
    p->anchors[p->nanchors].height = height;
    p->nanchors++;
}

static json_t *parse_alias(struct parser *p, yaml_event_t *ev, size_t depth, size_t *height)
{
    const char *name = (const char *)ev->data.alias.anchor;
    int line = line_of_mark(&ev->start_mark);

    for (size_t i = p->nanchors; i-- > 0;) {
        if (strcmp(p->anchors[i].name, name) != 0)
            continue;
        if (depth + p->anchors[i].height > p->limits->max_depth + 1) {
            fail(p, line, "alias *%s expands deeper than %zu levels", name, p->limits->max_depth);
            return NULL;
        }
        if (!count_node(p, p->anchors[i].nodes, line))
            return NULL;
        *height = p->anchors[i].height;
        json_t *copy = json_deep_copy(p->anchors[i].value);
        if (!copy)
            fail(p, line, "%s", "out of memory");
        else
            remember_line(p, copy, line);
        return copy;
    }
    fail(p, line, "unknown alias *%s", name);
    return NULL;
}

static json_t *parse_sequence(struct parser *p, size_t depth, size_t *height)
{
    json_t *arr = json_array();
    if (!arr) {
        fail(p, 0, "%s", "out of memory");
        return NULL;
    }
    for (;;) {
        yaml_event_t ev;
        if (!next_event(p, &ev))
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        size_t h = 0;
        json_t *item = parse_node(p, &ev, depth + 1, &h);
        if (h > *height)
            *height = h;
        yaml_event_delete(&ev);
        if (!item)
            goto fail;
        if (json_array_append_new(arr, item) != 0) {
            fail(p, 0, "%s", "out of memory");
            goto fail;
        }
    }
fail:
    json_decref(arr);
    return NULL;
}

/* The line table is sorted only once the stream is parsed; this error path
 * looks up a node before that. */
static int unsorted_line(const struct weir_yaml_stream *s, const json_t *node)
{
    for (size_t i = s->nlines; i-- > 0;)
        if (s->lines[i].node == node)
            return s->lines[i].line;
    return 0;
}

static json_t *parse_mapping(struct parser *p, size_t depth, size_t *height)
{
    json_t *obj = json_object();
    if (!obj) {
        fail(p, 0, "%s", "out of memory");
        return NULL;
    }
    for (;;) {
        yaml_event_t kev, vev;
        if (!next_event(p, &kev))
            goto fail;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return obj;
        }
        int kline = line_of_mark(&kev.start_mark);
        if (kev.type != YAML_SCALAR_EVENT) {
            /* Kubernetes objects only have string keys; a complex key is a
             * mistake, not something to stringify. */
            yaml_event_delete(&kev);
            fail(p, kline, "%s", "mapping keys must be scalars");
            goto fail;
        }
        char *key = strdup((const char *)kev.data.scalar.value);
        bool key_nul = strlen((const char *)kev.data.scalar.value) != kev.data.scalar.length;
        yaml_event_delete(&kev);
        if (!key || key_nul) {
            free(key);
            fail(p, kline, "%s", key_nul ? "mapping key contains a NUL byte" : "out of memory");
            goto fail;
        }
        if (json_object_get(obj, key)) {
            int first = unsorted_line(p->out, json_object_get(obj, key));
            char msg[600];
            if (first > 0)
                snprintf(msg, sizeof(msg), "duplicate key \"%.500s\" (first defined at line %d)",
                         key, first);
            else
                snprintf(msg, sizeof(msg), "duplicate key \"%.500s\"", key);
            free(key);
            fail(p, kline, "%s", msg);
            goto fail;
        }
        if (!next_event(p, &vev)) {
            free(key);
            goto fail;
        }
        size_t h = 0;
        json_t *value = parse_node(p, &vev, depth + 1, &h);
        if (h > *height)
            *height = h;
        yaml_event_delete(&vev);
        if (!value) {
            free(key);
            goto fail;
        }
        if (json_object_set_new(obj, key, value) != 0) {
            free(key);
            fail(p, kline, "%s", "mapping key is not valid UTF-8 or out of memory");
            goto fail;
        }
        free(key);
    }
fail:
    json_decref(obj);
    return NULL;
}

/* *height receives the number of levels of the node (1 for a scalar), so an
 * anchor knows how deep an alias to it would reach. */
static json_t *parse_node(struct parser *p, yaml_event_t *ev, size_t depth, size_t *height)
{
    int line = line_of_mark(&ev->start_mark);
    size_t before = p->nodes;
    size_t below = 0;
    json_t *node = NULL;

    *height = 1;

    if (depth > p->limits->max_depth) {
        char limit[32];
        snprintf(limit, sizeof(limit), "%zu", p->limits->max_depth);
        fail(p, line, "document is nested deeper than %s levels", limit);
        return NULL;
    }
    if (ev->type == YAML_ALIAS_EVENT)
        return parse_alias(p, ev, depth, height);
    if (!count_node(p, 1, line))
        return NULL;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        node = resolve_scalar(p, ev);
        if (!node && !p->failed)
            fail(p, line, "%s", "scalar is not valid UTF-8");
        break;
    case YAML_SEQUENCE_START_EVENT:
        node = parse_sequence(p, depth, &below);
        break;
    case YAML_MAPPING_START_EVENT:
        node = parse_mapping(p, depth, &below);
        break;
    default:
        fail(p, line, "%s", "unexpected YAML event");
        return NULL;
    }
    if (!node)
        return NULL;
    *height = below + 1;
    remember_line(p, node, line);
    const char *anchor = anchor_of(ev);
    if (anchor)
        define_anchor(p, anchor, node, p->nodes - before, below + 1, line);
    if (p->failed) {
        json_decref(node);
        return NULL;
    }
    return node;
}

static int cmp_line(const void *a, const void *b)
{
    const struct weir_yaml_node_line *x = a, *y = b;
    if ((uintptr_t)x->node != (uintptr_t)y->node)
        return (uintptr_t)x->node < (uintptr_t)y->node ? -1 : 1;
    return 0;
}

static int add_doc(struct parser *p, json_t *root, int line)
{
    struct weir_yaml_stream *s = p->out;
    if (s->ndocs >= p->limits->max_docs) {
        char limit[32];
        snprintf(limit, sizeof(limit), "%zu", p->limits->max_docs);
        fail(p, line, "stream has more than %s documents", limit);
        return -1;
    }
    struct weir_yaml_doc *docs = realloc(s->docs, (s->ndocs + 1) * sizeof(*docs));
    if (!docs) {
        fail(p, line, "%s", "out of memory");
        return -1;
    }
    s->docs = docs;
    s->docs[s->ndocs].root = root;
    s->docs[s->ndocs].line = line;
    s->ndocs++;
    return 0;
}

int weir_yaml_parse(const char *data, size_t len, const char *source,
                    const struct weir_yaml_limits *limits, struct weir_yaml_stream *out,
                    struct weir_diags *diags)
{
    struct parser *p;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!limits)
        limits = &weir_yaml_default_limits;
    if (source && !(out->source = strdup(source)))
        return -1;
    if (len > limits->max_bytes) {
        weir_diags_add(diags, WEIR_SEV_ERROR, NULL, source, 0, NULL,
                       "input is %zu bytes, over the limit of %zu", len, limits->max_bytes);
        return -1;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    p->limits = limits;
    p->out = out;
    p->diags = diags;
    if (!yaml_parser_initialize(&p->yaml)) {
        free(p);
        return -1;
    }
    yaml_parser_set_input_string(&p->yaml, (const unsigned char *)data, len);

    for (;;) {
        yaml_event_t ev;
        if (!next_event(p, &ev))
            break;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            rc = 0;
            break;
        }
        if (ev.type != YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue; /* STREAM_START */
        }
        yaml_event_delete(&ev);

        yaml_event_t node_ev;
        if (!next_event(p, &node_ev))
            break;
        int line = line_of_mark(&node_ev.start_mark);
        size_t height = 0;
        json_t *root = parse_node(p, &node_ev, 0, &height);
        yaml_event_delete(&node_ev);
        clear_anchors(p); /* anchors do not cross documents */
        if (!root)
            break;

        yaml_event_t end_ev;
        if (!next_event(p, &end_ev)) {
            json_decref(root);
            break;
        }
        yaml_event_delete(&end_ev);
        if (json_is_null(root)) {
            json_decref(root); /* an empty document, as between "---" lines */
            continue;
        }
        if (add_doc(p, root, line) != 0) {
            json_decref(root);
            break;
        }
    }
    clear_anchors(p);
    yaml_parser_delete(&p->yaml);
    if (p->failed)
        rc = -1; /* e.g. an anchor-table overflow recorded below a node that parsed */
    if (rc != 0 && !p->failed)
        weir_diags_add(diags, WEIR_SEV_ERROR, NULL, source, 0, NULL, "YAML parse failed");
    free(p);
    if (out->nlines > 1)
        qsort(out->lines, out->nlines, sizeof(*out->lines), cmp_line);
    return rc;
}

int weir_yaml_parse_file(const char *path, const struct weir_yaml_limits *limits,
                         struct weir_yaml_stream *out, struct weir_diags *diags)
{
    FILE *f;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!limits)
        limits = &weir_yaml_default_limits;
    f = fopen(path, "rb");
    if (!f) {
        weir_diags_add(diags, WEIR_SEV_ERROR, NULL, path, 0, NULL, "cannot open: %s",
                       strerror(errno));
        return -1;
    }
    for (;;) {
        if (len == cap) {
            if (cap > limits->max_bytes) {
                weir_diags_add(diags, WEIR_SEV_ERROR, NULL, path, 0, NULL,
                               "file is larger than the limit of %zu bytes", limits->max_bytes);
                goto out;
            }
            cap = cap ? cap * 2 : 65536;
            char *nbuf = realloc(buf, cap + 1);
            if (!nbuf)
                goto out;
            buf = nbuf;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                weir_diags_add(diags, WEIR_SEV_ERROR, NULL, path, 0, NULL, "read error: %s",
                               strerror(errno));
                goto out;
            }
            break;
        }
    }
    rc = weir_yaml_parse(buf ? buf : "", len, path, limits, out, diags);
out:
    free(buf);
    fclose(f);
    return rc;
}

int weir_yaml_line(const struct weir_yaml_stream *s, const json_t *node)
{
    struct weir_yaml_node_line key = {.node = node};
    const struct weir_yaml_node_line *hit;

    if (!s || !node || !s->lines)
        return 0;
    hit = bsearch(&key, s->lines, s->nlines, sizeof(*s->lines), cmp_line);
    return hit ? hit->line : 0;
}

void weir_yaml_stream_free(struct weir_yaml_stream *s)
{
    for (size_t i = 0; i < s->ndocs; i++)
        json_decref(s->docs[i].root);
    free(s->docs);
    free(s->lines);
    free(s->source);
    memset(s, 0, sizeof(*s));
}

static bool is_list(const json_t *doc)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    size_t n = kind ? strlen(kind) : 0;
    return n >= 4 && strcmp(kind + n - 4, "List") == 0 &&
           json_is_array(json_object_get(doc, "items"));
}

int weir_yaml_stream_expand_lists(struct weir_yaml_stream *s)
{
    size_t total = 0;
    bool any = false;
    for (size_t i = 0; i < s->ndocs; i++) {
        bool list = is_list(s->docs[i].root);
        any = any || list;
        total += list ? json_array_size(json_object_get(s->docs[i].root, "items")) : 1;
    }
    if (!any)
        return 0;
    struct weir_yaml_doc *docs = calloc(total ? total : 1, sizeof(*docs));
    if (!docs)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < s->ndocs; i++) {
        json_t *root = s->docs[i].root, *item;
        size_t j;
        if (!is_list(root)) {
            docs[k++] = s->docs[i];
            continue;
        }
        json_array_foreach(json_object_get(root, "items"), j, item)
        {
            int line = weir_yaml_line(s, item);
            docs[k++] =
                (struct weir_yaml_doc){json_incref(item), line > 0 ? line : s->docs[i].line};
        }
        json_decref(root);
    }
    free(s->docs);
    s->docs = docs;
    s->ndocs = k;
    return 0;
}
