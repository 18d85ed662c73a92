/*
 * Regular expressions with RE2 semantics, the dialect Istio documents and
 * Envoy evaluates. RE2 matches in time linear in the input, so a crafted
 * header cannot stall a worker, and validation accepts exactly what the
 * data plane will run. RE2 is C++; this module is the C face of it.
 *
 * Return convention: pointers are NULL on failure, with the reason written to
 * the caller's buffer; matching returns bool.
 */
#ifndef WEIR_CORE_REGEX_H
#define WEIR_CORE_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_regex;

/* Patterns longer than this are refused: Envoy caps program size too. */
#define WEIR_REGEX_MAX_PATTERN 1024

/* Compiles `pattern`. On failure returns NULL and writes the reason (as RE2
 * words it) to err. The compiled object is immutable and safe to share
 * between threads. */
struct weir_regex *weir_regex_compile(const char *pattern, char *err, size_t errlen);
/* The same, matching letters without regard to case when ignore_case is set. */
struct weir_regex *weir_regex_compile_case(const char *pattern, bool ignore_case, char *err,
                                           size_t errlen);
void weir_regex_free(struct weir_regex *re);

/* True when the whole of s[0..len) matches (Istio's regex matches are full matches). */
bool weir_regex_full_match(const struct weir_regex *re, const char *s, size_t len);
/* True when some part of s[0..len) matches. */
bool weir_regex_partial_match(const struct weir_regex *re, const char *s, size_t len);

/* Replaces every match in s[0..len) with `rewrite`, where \0..\9 name capture
 * groups (Envoy's regex_rewrite). Returns a malloc'd NUL-terminated string, or
 * NULL when the rewrite names a group the pattern lacks or memory runs out. */
char *weir_regex_replace_all(const struct weir_regex *re, const char *s, size_t len,
                             const char *rewrite);

/* NULL when pattern compiles, else the reason (in a per-thread buffer). */
const char *weir_regex_check(const char *pattern);

#ifdef __cplusplus
}
#endif

#endif
