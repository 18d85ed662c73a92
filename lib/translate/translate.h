/*
 * The translation: a pure function from a snapshot of the cluster (Services,
 * EndpointSlices, Pods, Namespaces and the mesh CRs) to one proxy config per
 * mesh namespace (docs/proxy-config.md) and a status for every mesh CR read.
 * No I/O happens here: weir-operator calls it with its informer cache,
 * `weirctl render` with manifest files, the golden tests with fixtures, and all
 * three get the same bytes for the same objects, whatever order they came in.
 * lib/translate/README.md describes the Istio semantics kept and the caching
 * that keeps a large mesh fast.
 *
 * Return convention: functions returning int give 0 on success and -1 when
 * memory ran out (the output is then left empty and safe to free). A CR that
 * is invalid or refers to something unknown never makes the translation fail:
 * it is skipped or narrowed, and its status says why.
 */
#ifndef WEIR_TRANSLATE_TRANSLATE_H
#define WEIR_TRANSLATE_TRANSLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/diag.h"
#include "model/mesh.h"
#include "yaml/yaml_json.h"

#define WEIR_TRANSLATE_DEFAULT_TRUST_DOMAIN   "cluster.local"
#define WEIR_TRANSLATE_DEFAULT_CLUSTER_DOMAIN "cluster.local"
#define WEIR_TRANSLATE_DEFAULT_ROOT_NAMESPACE "weir-system"

/* ---- the snapshot ---------------------------------------------------------- */

/* One mesh CR as read: valid (resource set) or not (resource NULL, the reasons
 * in diags). Invalid CRs are kept so that their status can say why. */
struct weir_snapshot_cr {
    enum weir_kind kind;
    char *namespace_;
    char *name;
    char *created; /* metadata.creationTimestamp (RFC 3339), "" when absent */
    int64_t generation;
    struct weir_resource *resource; /* NULL when invalid */
    bool owned;                     /* resource is freed with the snapshot */
    struct weir_diags diags;        /* from weir_mesh_parse: errors, unsupported fields */
    char *source;                   /* file name, NULL from a cluster */
    int line;
};

struct weir_snapshot_key; /* internal to lib/translate */

/* Filled by weir_snapshot_add() and weir_snapshot_add_resource() only. */
struct weir_snapshot {
    json_t **objects; /* Services, EndpointSlices, Pods, Namespaces (references held) */
    size_t n_objects, cap_objects;
    /* per object: its kind, namespace and name, read while it is added, when
     * its metadata is at hand (a translation would otherwise look them up in
     * every object of a large cluster again) */
    struct weir_snapshot_key *keys;
    struct weir_snapshot_cr *crs;
    size_t n_crs, cap_crs;
};

void weir_snapshot_init(struct weir_snapshot *s);
void weir_snapshot_free(struct weir_snapshot *s);

/*
 * Adds one Kubernetes object. Services (v1), EndpointSlices
 * (discovery.k8s.io/v1), Pods and Namespaces are kept by reference; mesh CRs
 * are parsed with weir_mesh_parse (src and line give diagnostics their file
 * position, default_ns names objects without a namespace; both may be NULL).
 * Returns 0 when the object was taken, 1 when it is of a kind the translation
 * does not read (a Deployment, a ConfigMap, ...), -1 when out of memory.
 */
int weir_snapshot_add(struct weir_snapshot *s, json_t *obj, const struct weir_yaml_stream *src,
                      int line, const char *default_ns);

/* Adds a CR the caller parsed already (the operator keeps parsed objects in
 * its cache). The resource is borrowed: it must outlive the snapshot. */
int weir_snapshot_add_resource(struct weir_snapshot *s, const struct weir_resource *r,
                               const char *created);

/* ---- settings -------------------------------------------------------------- */

struct weir_translate_settings {
    const char *trust_domain;   /* NULL: "cluster.local" */
    const char *cluster_domain; /* NULL: "cluster.local" */
    const char *root_namespace; /* NULL: "weir-system"; its policies apply mesh-wide */
    /* false (the operator): the mesh is the namespaces labelled
     * weir-injection=enabled or istio-injection=enabled.
     * true (weirctl render): every namespace is in the mesh unless its
     * Namespace object says "disabled", and a config is written for each one
     * holding workloads (Services, Pods, EndpointSlices) or mesh CRs. */
    bool all_namespaces;
    /* When not NULL, configs are written for these namespaces only (render's
     * --namespace, the operator's incremental path); they are written even
     * when empty. */
    const char *const *namespaces;
    size_t n_namespaces;
    const char *generated_at; /* metadata.generatedAt; NULL omits it (determinism) */
    /* Issuer -> jwksUri resolved by OIDC discovery (the operator does the
     * fetch); JWT rules without jwksUri or jwks use it. May be NULL. */
    const struct weir_string_map *jwks_uris;
};

/* ---- the result ------------------------------------------------------------ */

struct weir_translate_config {
    char *namespace_;
    char *revision; /* "sha256:..." as in metadata.revision */
    json_t *doc;    /* the proxy config; parts are shared with other configs: read-only */
};

/* The status of one CR. accepted is false when the object is not applied at
 * all; warnings and unsupported fields of an accepted object are in diags. */
struct weir_cr_status {
    enum weir_kind kind;
    char *namespace_;
    char *name;
    int64_t generation;
    bool accepted;
    /* "Accepted", "Invalid", "Conflict", "Unsupported", "Unresolved" (static) */
    const char *reason;
    char *message; /* one line for the condition; "" when there is nothing to say */
    struct weir_diags diags;
};

struct weir_translate_result {
    struct weir_translate_config *configs; /* sorted by namespace */
    size_t n_configs;
    struct weir_cr_status *statuses; /* sorted by kind, namespace, name */
    size_t n_statuses;
    /* Remarks about Kubernetes objects that have no status to carry them
     * (a Service port without a number, a duplicate object, ...). */
    struct weir_diags diags;
};

int weir_translate(const struct weir_snapshot *snap, const struct weir_translate_settings *settings,
                   struct weir_translate_result *out);
void weir_translate_result_free(struct weir_translate_result *r);

/* The status subresource body for a CR: {"observedGeneration": G,
 * "conditions": [{"type": "Accepted", ...}]}. The operator adds
 * lastTransitionTime. NULL when out of memory. */
json_t *weir_cr_status_json(const struct weir_cr_status *st);

/* A status as text, as in the golden files (expected/status.txt):
 *   DestinationRule default/reviews: accepted
 *     warning: spec.subsets[2]: subset v3 selects no pods
 * Caller frees; NULL when out of memory. */
char *weir_cr_status_format(const struct weir_cr_status *st);

/* The revision of any proxy config as docs/proxy-config.md ("The revision")
 * defines it: each element of `clusters` and `services` hashed on its own,
 * each of those arrays replaced by the digest of its elements' digests, and
 * the result, without metadata.revision and metadata.generatedAt, hashed in
 * canonical form. A translation computes the same from its shared fragments
 * (weir_translate_config.revision). Writes "sha256:<64 hex>" and a NUL into
 * out. Returns -1 when out of memory. */
int weir_proxy_config_revision(const json_t *doc, char out[72]);

/* ---- incremental use ------------------------------------------------------- */

/*
 * Which configs a changed object can alter. The operator keeps one snapshot,
 * and on a change translates either every namespace or only the one named,
 * passing it in settings.namespaces; it writes a ConfigMap only when the
 * revision differs from the one it holds.
 *   WEIR_IMPACT_NAMESPACE  only the config of the object's namespace: an
 *                          AuthorizationPolicy, PeerAuthentication,
 *                          RequestAuthentication or RateLimitPolicy outside
 *                          the root namespace
 *                          (the namespace-wide PeerAuthentication also changes
 *                          the mTLS clients use toward it: that is
 *                          WEIR_IMPACT_ALL), a Pod that backs no Service;
 *   WEIR_IMPACT_ALL        everything else: Services, EndpointSlices, Pods of
 *                          Services, ServiceEntries, VirtualServices and
 *                          DestinationRules are visible across namespaces
 *                          (exportTo), Namespaces change mesh membership, and
 *                          root-namespace policies apply mesh-wide.
 */
enum weir_translate_impact {
    WEIR_IMPACT_NAMESPACE,
    WEIR_IMPACT_ALL,
};

/* kind is the Kubernetes kind ("Service", "VirtualService", ...);
 * has_selector is whether a security policy selects workloads, backs_service
 * whether a Pod is the endpoint of some Service. */
enum weir_translate_impact weir_translate_impact(const char *kind, const char *namespace_,
                                                 bool has_selector, bool backs_service,
                                                 const struct weir_translate_settings *settings);

/* ---- scoped translations ---------------------------------------------------
 *
 * The config of namespace N and the statuses of N's CRs depend only on: the
 * objects of N; those of the namespaces that export something (a Service,
 * VirtualService, DestinationRule or ServiceEntry visible outside its own
 * namespace); those of the root namespace; every Namespace object (mesh
 * membership, exportTo lists) and every ServiceEntry (hosts are claimed
 * mesh-wide). That holds when N itself exports nothing, is not the root
 * namespace, its CRs name no host of a namespace outside that set
 * (weir_translate_reaches_outside), and no ServiceEntry claims what every
 * Service may hold (weir_translate_claims_cluster). Then a translation of a snapshot of just those
 * objects, with settings.namespaces naming N, gives N the same config and its CRs the same statuses
 * as one of the whole cluster, at a cost that follows the namespaces involved rather than the
 * cluster. weir-operator reconciles such namespaces this way; bench/operator-scale measures it.
 */

/* Whether obj (a Service, VirtualService, DestinationRule or ServiceEntry)
 * can be seen outside its own namespace: exportTo absent or naming anything
 * but "." (or its own namespace) and "~". Other kinds: false. */
bool weir_translate_exports(const json_t *obj);

/* A set of namespaces: true when the name (not NUL-terminated) is inside, or
 * is no namespace at all. */
typedef bool (*weir_translate_ns_filter)(const char *ns, size_t len, void *arg);

/* Whether a mesh CR names a host that may belong to a namespace outside the
 * set ("reviews.other", "*.other.svc.cluster.local"). */
bool weir_translate_reaches_outside(const json_t *cr, weir_translate_ns_filter inside, void *arg);

/* Whether obj is a ServiceEntry with spec.addresses or a host in a
 * Kubernetes Service domain ("*.svc.*"): those are weighed against every
 * Service's clusterIP and name, wherever it is. */
bool weir_translate_claims_cluster(const json_t *obj);

#endif
