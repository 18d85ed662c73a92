/*
 * Diagnostics: the errors and warnings a user reads about their manifests or
 * config documents. Every diagnostic names the object, the field path and the
 * reason, and where the input came from a file, the source line:
 *
 *   VirtualService default/reviews: spec.http[1].route[0].weight: weights must
 *   sum to 100, got 140
 *
 * Return convention of this module: functions returning int give 0 on success
 * and -1 on failure (allocation only); a diagnostic list never loses an entry
 * silently: when memory runs out it records that it is truncated.
 */
#ifndef WEIR_CORE_DIAG_H
#define WEIR_CORE_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum weir_severity {
    WEIR_SEV_ERROR,       /* the object is invalid and is refused */
    WEIR_SEV_UNSUPPORTED, /* valid Istio, but Weir does not implement the field yet */
    WEIR_SEV_WARNING,     /* accepted, but probably not what the user meant */
};

struct weir_diag {
    enum weir_severity severity;
    char *object;  /* "VirtualService default/reviews", or a file name */
    char *path;    /* "spec.http[1].route[0].weight", "" for the object itself */
    char *message; /* "weights must sum to 100, got 140" */
    char *source;  /* file name, or NULL */
    int line;      /* 1-based source line, 0 when unknown */
};

struct weir_diags {
    struct weir_diag *items;
    size_t len;
    size_t cap;
    bool truncated; /* an entry could not be recorded (out of memory or over the limit) */
};

/* At most this many diagnostics are kept per list: a hostile document must not
 * turn its errors into unbounded memory. */
#define WEIR_DIAGS_MAX 1000

void weir_diags_init(struct weir_diags *d);
void weir_diags_free(struct weir_diags *d);
void weir_diags_clear(struct weir_diags *d);

int weir_diags_add(struct weir_diags *d, enum weir_severity sev, const char *object,
                   const char *source, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

size_t weir_diags_count(const struct weir_diags *d, enum weir_severity sev);
bool weir_diags_has_errors(const struct weir_diags *d);

/* Moves every entry of src to the end of dst; src is left empty. */
int weir_diags_move(struct weir_diags *dst, struct weir_diags *src);

/* "VirtualService default/reviews: spec.http[1]: reason". Caller frees. */
char *weir_diag_format(const struct weir_diag *diag);
/* Same with a "file:line: " prefix where known and the severity word for
 * non-errors; used by command-line tools. */
void weir_diag_print(FILE *out, const struct weir_diag *diag);

const char *weir_severity_name(enum weir_severity sev);

/* ---- Field paths ------------------------------------------------------------
 * A bounded path builder used while walking a document:
 * push_key("spec"), push_key("http"), push_index(1) -> "spec.http[1]". Keys that
 * are not plain identifiers are quoted: metadata.labels["app.kubernetes.io/name"].
 */
#define WEIR_PATH_MAX   512
#define WEIR_PATH_DEPTH 64

struct weir_path {
    char buf[WEIR_PATH_MAX];
    size_t len;
    size_t marks[WEIR_PATH_DEPTH];
    int depth;
    bool overflow; /* set when a push did not fit; the path ends in "..." */
};

void weir_path_init(struct weir_path *p);
void weir_path_push_key(struct weir_path *p, const char *key);
void weir_path_push_index(struct weir_path *p, size_t index);
void weir_path_pop(struct weir_path *p);
const char *weir_path_str(const struct weir_path *p);

#endif
