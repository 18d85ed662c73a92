/*
 * JSON Patch (RFC 6902) and JSON Pointer (RFC 6901), the format Kubernetes
 * admission webhooks mutate objects with. The injector builds patches;
 * weirctl inject and the tests apply them with weir_jsonpatch_apply(), so the
 * patch the webhook sends is the patch that is tested.
 *
 * Return convention: 0 success, -1 failure with a sentence in err.
 */
#ifndef WEIR_INJECT_JSONPATCH_H
#define WEIR_INJECT_JSONPATCH_H

#include <jansson.h>
#include <stddef.h>

/* Applies every operation (add, remove, replace, move, copy, test) of `patch`
 * to *doc. All or nothing, as RFC 6902 requires: on failure *doc is left
 * untouched. *doc may be replaced by another value (an operation on the root
 * path ""); the old one is released. */
int weir_jsonpatch_apply(json_t **doc, const json_t *patch, char *err, size_t errlen);

/* Appends "/" and `token`, escaped ("~" as "~0", "/" as "~1"), to the pointer
 * in buf (NUL-terminated, capacity len). Returns 0, or -1 when it does not fit. */
int weir_json_pointer_append(char *buf, size_t len, const char *token);

/* The value a pointer refers to, NULL when there is none. */
json_t *weir_json_pointer_get(const json_t *doc, const char *pointer);

/* For building a patch: append {"op": op, "path": path, "value": value}
 * to the array `patch`, stealing the reference to value (may be NULL for
 * remove). Return 0, or -1 when out of memory. */
int weir_jsonpatch_add_op(json_t *patch, const char *op, const char *path, json_t *value);

#endif
