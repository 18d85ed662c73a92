/*
 * Internals of the proxy-config loader, shared by its parts:
 *   proxy_config.c           entry points, header, proxy section, cross references
 *   proxy_config_util.c      arena, typed getters on top of model/check.h, matchers
 *   proxy_config_routes.c    services, ports and their route tables
 *   proxy_config_clusters.c  clusters, endpoints, traffic policy
 *   proxy_config_inbound.c   inbound ports, peer and request authentication,
 *                            authorization, rate limits
 *
 * Every parser takes the loader, the JSON object (already known to be an
 * object) and the struct to fill, records errors through l->c at the path
 * pushed by its caller, and never stops at the first error. Memory comes from
 * the config's arena; on exhaustion l->oom is set and parsing winds down.
 */
#ifndef WEIR_CONFIG_PROXY_CONFIG_INTERNAL_H
#define WEIR_CONFIG_PROXY_CONFIG_INTERNAL_H

#include <jansson.h>

#include "config/proxy_config.h"
#include "model/check.h"

struct pc_loader {
    struct weir_check c;
    struct weir_pc_arena *arena;
    struct weir_proxy_config *cfg;
    bool oom;
    enum weir_pc_resolution resolution; /* of the cluster whose endpoints are being read */
};

/* ---- arena ---- */
struct weir_pc_arena *pc_arena_new(void);
void pc_arena_free(struct weir_pc_arena *a);
/* Zeroed memory; NULL (and l->oom) on exhaustion. n == 0 gives NULL without error. */
void *pc_alloc(struct pc_loader *l, size_t n);
void *pc_alloc_array(struct pc_loader *l, size_t n, size_t size);
char *pc_strdup(struct pc_loader *l, const char *s);
/* Tests only: makes the n-th pc_alloc from now fail (0 turns it off). */
void pc_test_fail_alloc_after(unsigned long n);
/* Keeps a compiled regex until the arena is freed. */
bool pc_arena_keep_regex(struct pc_loader *l, struct weir_regex *code);

/* ---- getters: thin layers over weir_get_* that copy into the arena ---- */

/* Validator for pc_str; NULL when fine, else the reason. */
typedef const char *(*pc_validator)(const char *value);

const char *pc_str(struct pc_loader *l, const json_t *obj, const char *key, bool required,
                   pc_validator valid);
int64_t pc_int(struct pc_loader *l, const json_t *obj, const char *key, bool required, int64_t min,
               int64_t max, int64_t def);
bool pc_bool(struct pc_loader *l, const json_t *obj, const char *key, bool def);
/* 0..100 percent as parts per million; `def` is already in ppm. */
uint32_t pc_percent(struct pc_loader *l, const json_t *obj, const char *key, bool required,
                    uint32_t def);
/* A lower-case enum; names ends with NULL; returns the index or def. */
int pc_enum(struct pc_loader *l, const json_t *obj, const char *key, bool required,
            const char *const *names, int def);
void pc_strings(struct pc_loader *l, const json_t *obj, const char *key, bool required,
                bool nonempty, pc_validator valid, struct weir_strings *out);
/* Returns true when the member was present. */
bool pc_labels(struct pc_loader *l, const json_t *obj, const char *key, bool required,
               struct weir_string_map *out);
/* {"key": "value"} of header names to values. */
void pc_header_values(struct pc_loader *l, const json_t *obj, const char *key,
                      struct weir_string_map *out);
/* An optional selector member: NULL when absent. */
const struct weir_pc_selector *pc_selector(struct pc_loader *l, const json_t *obj, const char *key);

/* String matches (compiled). */
bool pc_match_value(struct pc_loader *l, const json_t *v, bool ignore_case,
                    struct weir_pc_match *out);
void pc_match(struct pc_loader *l, const json_t *obj, const char *key, bool required,
              bool ignore_case, struct weir_pc_match *out);
void pc_match_list(struct pc_loader *l, const json_t *obj, const char *key,
                   struct weir_pc_matches *out);
void pc_named_matches(struct pc_loader *l, const json_t *obj, const char *key,
                      struct weir_pc_named_matches *out);
/* Anchored regexes must match the whole value (route and policy matches);
 * unanchored ones are searched (rewrite patterns). */
bool pc_compile_regex(struct pc_loader *l, const json_t *at, const char *pattern, bool ignore_case,
                      bool anchored, struct weir_regex **out);

/* Addresses. */
bool pc_parse_cidr(struct pc_loader *l, const char *text, bool address_only,
                   struct weir_pc_cidr *out);
void pc_cidrs(struct pc_loader *l, const json_t *obj, const char *key, bool nonempty,
              struct weir_pc_cidrs *out);
void pc_ports(struct pc_loader *l, const json_t *obj, const char *key, struct weir_pc_ports *out);

/* Arrays of objects: calls fn on each element (as an object, with the path
 * at the element) and returns the zeroed array, NULL when absent or empty. */
typedef void (*pc_item_fn)(struct pc_loader *l, const json_t *item, void *out);
void *pc_objects(struct pc_loader *l, const json_t *obj, const char *key, bool required,
                 bool nonempty, size_t size, pc_item_fn fn, size_t *n_out);

/* Known-fields check, the arena-free wrapper of weir_check_fields. */
void pc_fields(struct pc_loader *l, const json_t *obj, const char *const *known);

/* ---- shared validators ---- */
const char *pc_valid_header_name(const char *s);
const char *pc_valid_abs_path(const char *s);
const char *pc_valid_not_empty(const char *s);
const char *pc_valid_method(const char *s);
const char *pc_valid_spiffe(const char *s);
const char *pc_valid_object_ref(const char *s); /* "namespace/name" */

/* ---- enums ---- */
extern const char *const pc_protocol_names[];

/* ---- parts ---- */
void pc_parse_services(struct pc_loader *l, const json_t *root);
void pc_parse_clusters(struct pc_loader *l, const json_t *root);
void pc_parse_inbound(struct pc_loader *l, const json_t *root);
void pc_parse_rate_limits(struct pc_loader *l, const json_t *root);
/* Cross references, run once every part is parsed. */
void pc_resolve_routes(struct pc_loader *l);
void pc_resolve_clusters(struct pc_loader *l);
void pc_resolve_rate_limits(struct pc_loader *l);

/* Checks that items are strictly increasing by `cmp` (sorted, no duplicate).
 * The caller has pushed the array's key; errors land at "[i].<field>".
 * `describe` prints an item's key for the message. */
typedef int (*pc_cmp_fn)(const void *a, const void *b);
typedef void (*pc_describe_fn)(const void *item, char *buf, size_t size);
void pc_check_order(struct pc_loader *l, const void *items, size_t n, size_t size, pc_cmp_fn cmp,
                    pc_describe_fn describe, const char *field, const char *order);

#endif
