/*
 * The mesh model: Istio's networking.istio.io and security.istio.io objects
 * parsed and validated into C structs, following Istio's documented field
 * semantics. The operator, the webhook's /validate and weirctl all call
 * weir_mesh_parse(), so they accept and reject exactly the same objects with
 * the same messages.
 *
 * Served versions: networking.istio.io v1, v1beta1, v1alpha3 and
 * security.istio.io v1, v1beta1 (one schema for all, as Istio serves them);
 * Weir's own RateLimitPolicy in policy.weir.dev v1alpha1.
 */
#ifndef WEIR_MODEL_MESH_H
#define WEIR_MODEL_MESH_H

#include <jansson.h>
#include <stdint.h>

#include "core/diag.h"
#include "model/check.h"
#include "yaml/yaml_json.h"

enum weir_kind {
    WEIR_KIND_NONE, /* not a mesh object (a Service, a Deployment, ...) */
    WEIR_KIND_VIRTUAL_SERVICE,
    WEIR_KIND_DESTINATION_RULE,
    WEIR_KIND_SERVICE_ENTRY,
    WEIR_KIND_AUTHORIZATION_POLICY,
    WEIR_KIND_PEER_AUTHENTICATION,
    WEIR_KIND_REQUEST_AUTHENTICATION,
    WEIR_KIND_RATE_LIMIT_POLICY, /* policy.weir.dev */
};

struct weir_meta {
    char *api_version; /* "networking.istio.io/v1beta1" */
    char *name;
    char *namespace_; /* defaulted by the caller's default namespace */
    struct weir_string_map labels;
    struct weir_string_map annotations;
    int64_t generation;
    char *resource_version; /* NULL for files */
    char *uid;              /* NULL for files */
};

struct weir_virtual_service;
struct weir_destination_rule;
struct weir_service_entry;
struct weir_authorization_policy;
struct weir_peer_authentication;
struct weir_request_authentication;
struct weir_rate_limit_policy;

struct weir_resource {
    enum weir_kind kind;
    struct weir_meta meta;
    int line; /* first line in its file, 0 when not from a file */
    union {
        struct weir_virtual_service *vs;
        struct weir_destination_rule *dr;
        struct weir_service_entry *se;
        struct weir_authorization_policy *ap;
        struct weir_peer_authentication *pa;
        struct weir_request_authentication *ra;
        struct weir_rate_limit_policy *rl;
        void *any;
    } u;
};

/*
 * Parses one Kubernetes object. Return convention:
 *   0  a valid mesh object: *out is set (warnings and unsupported fields may
 *      have been recorded in diags);
 *   1  not a mesh kind (apiVersion/kind of something else): *out is NULL, no
 *      diagnostic, the caller decides whether that matters;
 *  -1  invalid: *out is NULL and every error found is in diags.
 * `src` (may be NULL) gives line numbers; default_ns is used when the object
 * has no metadata.namespace ("default" if NULL).
 */
int weir_mesh_parse(const json_t *doc, const struct weir_yaml_stream *src, int line,
                    const char *default_ns, struct weir_resource **out, struct weir_diags *diags);

void weir_resource_free(struct weir_resource *r);

/* "VirtualService" for WEIR_KIND_VIRTUAL_SERVICE; NULL for WEIR_KIND_NONE. */
const char *weir_kind_name(enum weir_kind kind);
/* The kind for an apiVersion group and kind name, WEIR_KIND_NONE when it is not a
 * mesh kind. *group_known is set when the group is a mesh group (so an unknown
 * kind or version there is an error, not something to skip). */
enum weir_kind weir_kind_lookup(const char *api_version, const char *kind, bool *group_known,
                                bool *version_served);

/* Per-kind entry points, implemented in model/<kind>.c. Each returns a struct
 * holding everything parsed (NULL only when out of memory); the object is valid
 * when the check recorded no error. */
struct weir_virtual_service *weir_virtual_service_parse(struct weir_check *c, const json_t *spec);
void weir_virtual_service_free(struct weir_virtual_service *vs);
struct weir_destination_rule *weir_destination_rule_parse(struct weir_check *c, const json_t *spec);
void weir_destination_rule_free(struct weir_destination_rule *dr);
struct weir_service_entry *weir_service_entry_parse(struct weir_check *c, const json_t *spec);
void weir_service_entry_free(struct weir_service_entry *se);
struct weir_authorization_policy *weir_authorization_policy_parse(struct weir_check *c,
                                                                  const json_t *spec);
void weir_authorization_policy_free(struct weir_authorization_policy *ap);
struct weir_peer_authentication *weir_peer_authentication_parse(struct weir_check *c,
                                                                const json_t *spec);
void weir_peer_authentication_free(struct weir_peer_authentication *pa);
struct weir_request_authentication *weir_request_authentication_parse(struct weir_check *c,
                                                                      const json_t *spec);
void weir_request_authentication_free(struct weir_request_authentication *ra);
struct weir_rate_limit_policy *weir_rate_limit_policy_parse(struct weir_check *c,
                                                            const json_t *spec);
void weir_rate_limit_policy_free(struct weir_rate_limit_policy *p);

#endif
