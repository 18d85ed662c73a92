/*
 * Resource descriptions and request paths.
 *
 * The API server serves the core group under /api/v1 and every other group
 * under /apis/<group>/<version>; namespaced resources sit under
 * /namespaces/<ns>/. A resource is described once (a static table of the ones
 * Weir uses, or a caller's own struct for anything else, e.g. a test CRD), and
 * paths are built from it, never spelled by hand:
 *
 *   weir_kube_path(&weir_kube_res_configmaps, "demo", "cm-1", NULL)
 *     -> "/api/v1/namespaces/demo/configmaps/cm-1"
 *   weir_kube_path(&weir_kube_res_virtualservices, NULL, NULL, NULL)
 *     -> "/apis/networking.istio.io/v1/virtualservices"   (all namespaces)
 *
 * Every path segment and query value is percent-encoded (RFC 3986 unreserved
 * characters pass), so a label selector such as "app in (a,b),tier!=web"
 * survives the trip.
 */
#ifndef WEIR_KUBE_RESOURCE_H
#define WEIR_KUBE_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>

struct weir_kube_resource {
    const char *group;    /* "" for the core group */
    const char *version;  /* "v1" */
    const char *resource; /* plural, lower case: "configmaps" */
    const char *kind;     /* "ConfigMap" */
    bool namespaced;
};

extern const struct weir_kube_resource weir_kube_res_namespaces;
extern const struct weir_kube_resource weir_kube_res_configmaps;
extern const struct weir_kube_resource weir_kube_res_secrets;
extern const struct weir_kube_resource weir_kube_res_services;
extern const struct weir_kube_resource weir_kube_res_pods;
extern const struct weir_kube_resource weir_kube_res_serviceaccounts;
extern const struct weir_kube_resource weir_kube_res_events_core;
extern const struct weir_kube_resource weir_kube_res_events;
extern const struct weir_kube_resource weir_kube_res_endpointslices;
extern const struct weir_kube_resource weir_kube_res_leases;
extern const struct weir_kube_resource weir_kube_res_crds;
extern const struct weir_kube_resource weir_kube_res_virtualservices;
extern const struct weir_kube_resource weir_kube_res_destinationrules;
extern const struct weir_kube_resource weir_kube_res_serviceentries;
extern const struct weir_kube_resource weir_kube_res_authorizationpolicies;
extern const struct weir_kube_resource weir_kube_res_peerauthentications;
extern const struct weir_kube_resource weir_kube_res_requestauthentications;
extern const struct weir_kube_resource weir_kube_res_ratelimitpolicies;

/* Looks a resource up in the table by "resource" or "resource.group"
 * ("configmaps", "virtualservices.networking.istio.io"); NULL when unknown. */
const struct weir_kube_resource *weir_kube_resource_lookup(const char *name);

/* "v1" or "networking.istio.io/v1": the apiVersion of objects of r. Returns
 * buf. */
const char *weir_kube_api_version(const struct weir_kube_resource *r, char *buf, size_t len);

/* Request path (no query) for r, or NULL on allocation failure or bad
 * arguments. ns: NULL or "" for cluster-scoped resources or all namespaces;
 * name: NULL for the collection; subresource: NULL, "status", "scale"...
 * Caller frees. */
char *weir_kube_path(const struct weir_kube_resource *r, const char *ns, const char *name,
                     const char *subresource);

/* Query string builder: "?a=1&b=x%20y", empty when no parameter was added. */
struct weir_kube_query {
    char *buf; /* NULL until the first add */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: the query is unusable */
};

void weir_kube_query_init(struct weir_kube_query *q);
/* Adds key=value with the value percent-encoded; a NULL or empty value is
 * skipped. */
void weir_kube_query_add(struct weir_kube_query *q, const char *key, const char *value);
void weir_kube_query_add_long(struct weir_kube_query *q, const char *key, long value);
/* "" or "?..."; NULL when an allocation failed. Valid until free. */
const char *weir_kube_query_str(const struct weir_kube_query *q);
void weir_kube_query_free(struct weir_kube_query *q);

/* Percent-encodes s (RFC 3986: only ALPHA DIGIT - . _ ~ pass). Caller frees. */
char *weir_kube_escape(const char *s);

#endif
