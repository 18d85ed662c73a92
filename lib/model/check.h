/*
 * The validation context used while turning a manifest's JSON into model
 * structs. It carries the object's name ("VirtualService default/reviews"),
 * the field path being walked and the source lines, so every rejection reads
 *
 *   VirtualService default/reviews: spec.http[1].route[0].weight: must be 0..100, got 140
 *
 * Convention of the getters below: they return true when the field is present
 * and well formed and store the value; false when it is absent (an error is
 * recorded only if it was required) or malformed (an error is always recorded).
 * Strings handed out are copies the caller owns, unless the name says borrowed.
 * A check never stops at the first error: callers keep walking so a user sees
 * every problem of an object in one run.
 */
#ifndef WEIR_MODEL_CHECK_H
#define WEIR_MODEL_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/diag.h"
#include "yaml/yaml_json.h"

struct weir_check {
    struct weir_diags *diags;
    const struct weir_yaml_stream *src; /* NULL when the JSON did not come from a file */
    char object[320];                   /* "VirtualService default/reviews" */
    struct weir_path path;
    int line;      /* the object's own line, used when a node has none */
    size_t errors; /* errors recorded through this context */
};

void weir_check_init(struct weir_check *c, struct weir_diags *diags,
                     const struct weir_yaml_stream *src, const char *object, int line);

/* Record a diagnostic at the current path (plus `at` for its line, may be NULL). */
void weir_check_error(struct weir_check *c, const json_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void weir_check_unsupported(struct weir_check *c, const json_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void weir_check_warning(struct weir_check *c, const json_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void weir_check_push_key(struct weir_check *c, const char *key);
void weir_check_push_index(struct weir_check *c, size_t index);
void weir_check_pop(struct weir_check *c);

/* "object", "array", "string", "integer", "number", "boolean", "null". */
const char *weir_json_type_name(const json_t *v);

/* Reports every member of obj that is not in `known` as "unknown field" (an
 * error: a typo must not pass silently), and every present member listed in
 * `unsupported` as not implemented by Weir (Istio accepts it, Weir would not
 * act on it). Both arrays end with NULL; unsupported may be NULL. */
void weir_check_fields(struct weir_check *c, const json_t *obj, const char *const *known,
                       const char *const *unsupported);

/* True when v is an object; otherwise records "must be an object, got <type>". */
bool weir_check_is_object(struct weir_check *c, const json_t *v);

/* The member `key` of obj if present and of type `type` (JSON_OBJECT,
 * JSON_ARRAY, JSON_STRING, ...); NULL when absent (error if required) or
 * mistyped (error). JSON_INTEGER also accepts a real with no fraction. */
const json_t *weir_check_get(struct weir_check *c, const json_t *obj, const char *key,
                             json_type type, bool required);

bool weir_get_string(struct weir_check *c, const json_t *obj, const char *key, bool required,
                     char **out);
bool weir_get_string_borrowed(struct weir_check *c, const json_t *obj, const char *key,
                              bool required, const char **out);
bool weir_get_bool(struct weir_check *c, const json_t *obj, const char *key, bool *out);
/* Integer in [min, max]; out of range: "must be MIN..MAX, got N". */
bool weir_get_int(struct weir_check *c, const json_t *obj, const char *key, bool required,
                  int64_t min, int64_t max, int64_t *out);
/* Any JSON number in [min, max]. */
bool weir_get_number(struct weir_check *c, const json_t *obj, const char *key, bool required,
                     double min, double max, double *out);

/* Duration in Go/protobuf form ("1.5s", "100ms", "1h30m", "2us"), stored as
 * nanoseconds; must be >= min_ns. */
bool weir_get_duration(struct weir_check *c, const json_t *obj, const char *key, bool required,
                       int64_t min_ns, int64_t *out_ns);
/* Parses a duration; returns 0 and sets *out_ns, or -1. */
int weir_parse_duration(const char *text, int64_t *out_ns);

/* ---- owned collections ---- */

struct weir_strings {
    char **items;
    size_t len;
};

struct weir_kv {
    char *key;
    char *value;
};

struct weir_string_map {
    struct weir_kv *items;
    size_t len;
};

/* Array of strings; each element is checked by `valid` when not NULL, which
 * returns NULL when the value is fine or the reason it is not. */
typedef const char *(*weir_string_validator)(const char *value);
bool weir_get_strings(struct weir_check *c, const json_t *obj, const char *key, bool required,
                      weir_string_validator valid, struct weir_strings *out);
/* Object of string values; keys and values checked when validators are given. */
bool weir_get_string_map(struct weir_check *c, const json_t *obj, const char *key, bool required,
                         weir_string_validator valid_key, weir_string_validator valid_value,
                         struct weir_string_map *out);

void weir_strings_free(struct weir_strings *s);
void weir_string_map_free(struct weir_string_map *m);
const char *weir_string_map_get(const struct weir_string_map *m, const char *key);
bool weir_strings_contains(const struct weir_strings *s, const char *value);

#endif
