/*
 * YAML (libyaml) to JSON (jansson), for multi-document streams such as the
 * output of `kubectl get -o yaml` or a folder of manifests.
 *
 * Kept for error messages: the source line of every node, looked up with
 * weir_yaml_line(). Rejected with a diagnostic naming the line: syntax errors,
 * duplicate mapping keys, non-scalar keys, unknown tags, documents nested
 * deeper than the depth limit, and alias expansion past the node limit (the
 * "billion laughs" bomb). Plain scalars resolve as in the YAML 1.2 core
 * schema (null, booleans, integers, floats); quoted scalars stay strings.
 *
 * Return convention: 0 when every document parsed, -1 otherwise with the
 * reasons in the diagnostics. On -1 the stream still holds the documents that
 * parsed before the error, so callers can report on them too.
 */
#ifndef WEIR_YAML_YAML_JSON_H
#define WEIR_YAML_YAML_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "core/diag.h"

struct weir_yaml_limits {
    size_t max_bytes; /* input size */
    size_t max_depth; /* nesting of mappings and sequences */
    size_t max_nodes; /* nodes in the whole stream, alias expansions included */
    size_t max_docs;  /* documents in the stream */
};

/* 16 MiB, depth 128, 2,000,000 nodes, 10,000 documents. */
extern const struct weir_yaml_limits weir_yaml_default_limits;

struct weir_yaml_doc {
    json_t *root; /* never NULL; empty documents are skipped */
    int line;     /* line of the document's first node */
};

struct weir_yaml_node_line {
    const json_t *node;
    int line;
};

struct weir_yaml_stream {
    char *source; /* file name used in diagnostics, may be NULL */
    struct weir_yaml_doc *docs;
    size_t ndocs;
    struct weir_yaml_node_line *lines; /* sorted by node address once parsed */
    size_t nlines;
    size_t lines_cap;
};

int weir_yaml_parse(const char *data, size_t len, const char *source,
                    const struct weir_yaml_limits *limits, struct weir_yaml_stream *out,
                    struct weir_diags *diags);

/* Reads a whole file (bounded by limits->max_bytes) and parses it. */
int weir_yaml_parse_file(const char *path, const struct weir_yaml_limits *limits,
                         struct weir_yaml_stream *out, struct weir_diags *diags);

/* Source line of a node of this stream, 0 when unknown (singletons such as
 * json_true() carry no line; callers fall back to the parent's). */
int weir_yaml_line(const struct weir_yaml_stream *s, const json_t *node);

/* Replaces each document that is a Kubernetes list (kind "List" or
 * "<Kind>List" with an items array, as `kubectl get -o yaml` prints) by its
 * items, in order, each keeping its own line. Returns 0, or -1 when out of
 * memory (the stream is then unchanged). */
int weir_yaml_stream_expand_lists(struct weir_yaml_stream *s);

void weir_yaml_stream_free(struct weir_yaml_stream *s);

#endif
