/*
 * Field types shared by the networking.istio.io kinds (VirtualService,
 * DestinationRule, ServiceEntry): destinations, percentages, enums written as
 * names, optional booleans, exportTo lists and host coverage.
 *
 * Conventions of every networking model struct, so that the translation can
 * tell "absent" from "zero" without looking at the JSON again:
 *   - durations are int64 nanoseconds; an optional one is WEIR_UNSET when absent;
 *   - optional counters (protobuf UInt32Value and integers where 0 means
 *     something) are int64_t, WEIR_UNSET when absent;
 *   - optional percentages are doubles in 0..100, WEIR_UNSET when absent;
 *   - optional booleans (protobuf BoolValue) are enum weir_tristate;
 *   - optional nested objects are pointers, NULL when absent;
 *   - strings are owned copies, NULL when absent;
 *   - arrays are a pointer and an n_<name> count.
 *
 * Getters follow check.h: true when the field is present and well formed,
 * false when absent or malformed (malformed always records an error).
 */
#ifndef WEIR_MODEL_ROUTE_COMMON_H
#define WEIR_MODEL_ROUTE_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/check.h"
#include "model/common.h"

#define WEIR_UNSET (-1)

/* A protobuf BoolValue: unset differs from false (Envoy applies its own default). */
enum weir_tristate {
    WEIR_TRI_UNSET,
    WEIR_TRI_FALSE,
    WEIR_TRI_TRUE,
};

/* Istio's Destination: where a route, a mirror or an L4 route sends traffic. */
struct weir_destination {
    char *host;   /* service host, short or fully qualified; never "*" */
    char *subset; /* DestinationRule subset name, NULL for all endpoints */
    int64_t port; /* port.number, 0 when the service's only port is meant */
};

/* Istio's RegexRewrite: replace what `match` (RE2) matched with `rewrite`,
 * which may reference capture groups as \1. */
struct weir_regex_rewrite {
    char *match;
    char *rewrite;
};

/* calloc that records "out of memory" on the check, so the object is refused
 * rather than silently truncated. n == 0 returns NULL without an error. */
void *weir_net_calloc(struct weir_check *c, size_t n, size_t size);

/* Counts the members of obj among keys (NULL-terminated) that are present and
 * not null. */
size_t weir_net_count_present(const json_t *obj, const char *const *keys);

/* A string enum. names is NULL-terminated and indexed by the enum value. On
 * an unknown name: must be one of A, B or C, got "X". */
bool weir_net_get_enum(struct weir_check *c, const json_t *obj, const char *key,
                       const char *const *names, bool ignore_case, int *out);

bool weir_net_get_tristate(struct weir_check *c, const json_t *obj, const char *key,
                           enum weir_tristate *out);

/* Istio's Percent: {value: 0..100}. An absent value is 0. */
bool weir_net_get_percent(struct weir_check *c, const json_t *obj, const char *key, double *out);

/* Istio's PortSelector: {number: 1..65535}. */
bool weir_net_get_port_selector(struct weir_check *c, const json_t *obj, const char *key,
                                bool required, int64_t *out);

/* A duration that Envoy keeps in whole seconds (CORS max age, TCP keepalive):
 * at least 1s and no fraction. */
bool weir_net_get_seconds(struct weir_check *c, const json_t *obj, const char *key,
                          int64_t *out_ns);

bool weir_net_parse_destination(struct weir_check *c, const json_t *v,
                                struct weir_destination *out);
bool weir_net_get_destination(struct weir_check *c, const json_t *obj, const char *key,
                              bool required, struct weir_destination *out);
void weir_destination_free(struct weir_destination *d);

/* *out is NULL when absent. */
bool weir_net_get_regex_rewrite(struct weir_check *c, const json_t *obj, const char *key,
                                struct weir_regex_rewrite **out);
void weir_regex_rewrite_free(struct weir_regex_rewrite *r);

/* spec.exportTo: ".", "*", namespace names, and "~" (visible to no one) when
 * allow_none, for ServiceEntry. Duplicates and "*" or "~" next to other
 * entries are refused, as Istio does. */
void weir_net_get_export_to(struct weir_check *c, const json_t *spec, bool allow_none,
                            struct weir_strings *out);

/* True when every name `narrow` matches is also matched by `wide`, with
 * Istio's host wildcards: "*" covers everything, "*.example.com" covers
 * "a.example.com" and "*.a.example.com". */
bool weir_net_host_covers(const char *wide, const char *narrow);

/* An optional namespace-name field (match sourceNamespace); copies it to *out. */
void weir_net_get_namespace(struct weir_check *c, const json_t *obj, const char *key, char **out);

/* Istio's weight rules for the n destinations of route_array (HTTP, TCP or
 * TLS), whose parsed weights are in weights[] (WEIR_UNSET when absent): a lone
 * destination takes all traffic and gets 100, an absent weight among several
 * is 0, and several must sum to 100. The sum is checked only when all_valid
 * (a weight out of range was already reported) and reported at
 * route[0].weight: "weights must sum to 100, got 140". The check's path is
 * the route rule holding `route`. */
void weir_net_settle_weights(struct weir_check *c, const json_t *route_array, int64_t *weights,
                             size_t n, bool all_valid);

/* A VirtualService gateway reference: "mesh", "name" or "namespace/name". */
const char *weir_net_valid_gateway_name(const char *s);

/* An HTTP header name used in a header operation (set, add, remove): a token
 * that is not Host (rewrite.authority does that). */
const char *weir_net_valid_header_op_name(const char *s);

#endif
