/*
 * Field types and name rules shared by the mesh kinds: string matches,
 * workload selectors, host names, label keys and values, CIDRs, ports, header
 * names. Validators return NULL when the value is fine or a static sentence
 * saying why it is not (fit for weir_check_error's "%s").
 */
#ifndef WEIR_MODEL_COMMON_H
#define WEIR_MODEL_COMMON_H

#include <jansson.h>
#include <stdbool.h>

#include "model/check.h"

enum weir_match_type {
    WEIR_MATCH_NONE, /* the field was absent */
    WEIR_MATCH_EXACT,
    WEIR_MATCH_PREFIX,
    WEIR_MATCH_REGEX, /* RE2 syntax, checked with RE2 itself (core/regex.h) */
};

struct weir_string_match {
    enum weir_match_type type;
    char *value;
};

/* Istio's StringMatch: an object with exactly one of exact, prefix, regex.
 * `parent` holds it under `key`. */
bool weir_get_string_match(struct weir_check *c, const json_t *parent, const char *key,
                           bool required, struct weir_string_match *out);
/* The same for a StringMatch value already in hand (map values, array items). */
bool weir_parse_string_match(struct weir_check *c, const json_t *v, struct weir_string_match *out);
void weir_string_match_free(struct weir_string_match *m);
const char *weir_match_type_name(enum weir_match_type t);

/* Istio's WorkloadSelector: {matchLabels: {...}}. */
bool weir_get_workload_selector(struct weir_check *c, const json_t *spec, const char *key,
                                struct weir_string_map *match_labels);

/* Checks a regular expression; NULL when it compiles, else the reason. The
 * reason is written to a static buffer per thread. */
const char *weir_regex_error(const char *re);

/* ---- name rules ---- */
const char *weir_valid_dns1123_label(const char *s);     /* namespace names, port names */
const char *weir_valid_dns1123_subdomain(const char *s); /* object names */
/* A service host: FQDN or short name, optionally with a leading "*." wildcard
 * or "*" alone. */
const char *weir_valid_host(const char *s);
const char *weir_valid_label_key(const char *s);
const char *weir_valid_label_value(const char *s);
const char *weir_valid_ip(const char *s);
const char *weir_valid_cidr(const char *s);        /* an IP or an IP/prefix */
const char *weir_valid_header_name(const char *s); /* an HTTP token, lower or mixed case */
const char *weir_valid_namespace(const char *s);
/* An exportTo entry: ".", "*" or a namespace name. */
const char *weir_valid_export_to(const char *s);
bool weir_valid_port_number(int64_t n);

#endif
