/*
 * Internals of the translation, shared by the files of lib/translate. Every
 * structure here lives for one weir_translate() call and belongs to its
 * context; strings are borrowed from the snapshot unless a comment says
 * owned. Prefix: tr_.
 */
#ifndef WEIR_TRANSLATE_INTERNAL_H
#define WEIR_TRANSLATE_INTERNAL_H

/* Before any OpenSSL header: the low-level SHA-256 API is marked deprecated
 * in OpenSSL 3 but is the one with a copyable state (see struct tr_sha256). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <jansson.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/authorization_policy.h"
#include "model/destination_rule.h"
#include "model/peer_authentication.h"
#include "model/request_authentication.h"
#include "model/service_entry.h"
#include "model/virtual_service.h"
#include "translate/translate.h"

/* ---- buffers, strings and JSON odds and ends (util.c) ---- */

/* A growable byte buffer; on allocation failure `oom` is set and further
 * appends are ignored, so callers check once at the end. */
struct tr_buf {
    char *data;
    size_t len, cap;
    bool oom;
};

void tr_buf_put(struct tr_buf *b, const void *p, size_t n);
void tr_buf_puts(struct tr_buf *b, const char *s);
void tr_buf_printf(struct tr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tr_buf_free(struct tr_buf *b);

char *tr_strdup(const char *s); /* NULL stays NULL */
/* qsort that accepts an empty (NULL) array. */
void tr_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
char *tr_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tr_strcmp0(const char *a, const char *b); /* NULL sorts first */
/* The key of a JSON object member as a string, NULL when absent or not a string. */
const char *tr_json_str(const json_t *obj, const char *key);
/* Sets obj[key] only when value is not NULL (consumes value). */
void tr_set(json_t *obj, const char *key, json_t *value);
/* A percentage as the proxy config writes it: rounded to the 0.0001 the proxy
 * keeps, an integer when whole. */
json_t *tr_percent(double p);
/* Nanoseconds to whole milliseconds, rounded up so that 500us stays a delay. */
int64_t tr_ms(int64_t ns);
char *tr_lower(const char *s); /* owned copy */
json_t *tr_string_map_json(const struct weir_string_map *m, bool lower_keys);
/* True when every label of sel is present in labels (a JSON object) with the same value. */
bool tr_labels_match(const struct weir_string_map *sel, const json_t *labels);
bool tr_labels_match_json(const json_t *sel, const json_t *labels);

/* ---- canonical form and digest (canonical.c, sha256.c) ---- */

/* OpenSSL's SHA-256 (with its SHA-NI/AVX code paths) through the low-level
 * API: a plain struct on the stack, no allocation per digest, which matters
 * for the tens of thousands of small element digests of one run. */
struct tr_sha256 {
    SHA256_CTX ctx;
};

void tr_sha256_init(struct tr_sha256 *s);
void tr_sha256_update(struct tr_sha256 *s, const void *data, size_t len);
void tr_sha256_final(struct tr_sha256 *s, unsigned char out[32]);

/* Appends the canonical serialization (sorted keys, no whitespace, RFC 8785
 * numbers and strings) of v. */
void tr_canonical(struct tr_buf *b, const json_t *v);
/* SHA-256 of v's canonical form, serialized into scratch (emptied first,
 * kept for reuse). -1 when out of memory. */
int tr_digest(const json_t *v, struct tr_buf *scratch, unsigned char out[32]);

/* metadata.revision (docs/proxy-config.md): the top-level arrays whose
 * elements are digested one by one, in the order of the canonical form. */
#define TR_N_LISTS 2
extern const char *const tr_lists[TR_N_LISTS]; /* "clusters", "services" */
/* A list's digest: SHA-256 over its n element digests, concatenated. */
void tr_list_digest(const unsigned char *digests, size_t n, unsigned char out[32]);
/* The revision of doc given the digests of its lists (those of tr_lists that
 * are arrays in doc; the others are ignored): "sha256:<64 hex>". -1 when out
 * of memory. */
int tr_revision(const json_t *doc, const unsigned char lists[TR_N_LISTS][32], char out[72]);

/* A JSON fragment built once and shared by every config it appears in, with
 * the digest of its canonical form kept for the revisions of those configs. */
struct tr_frag {
    json_t *json; /* owned reference */
    unsigned char digest[32];
};

struct tr_ctx;
/* Takes the reference and digests it (in ctx's scratch buffer); -1 when out
 * of memory. */
int tr_frag_set(struct tr_ctx *ctx, struct tr_frag *f, json_t *json);
void tr_frag_clear(struct tr_frag *f);

/* ---- the objects read ---- */

/* What weir_snapshot_add() reads of a Kubernetes object; the strings are the
 * object's own. */
struct weir_snapshot_key {
    const char *kind;
    const char *ns;   /* metadata.namespace, NULL when absent */
    const char *name; /* NULL when absent */
    const char *svc;  /* EndpointSlices: the kubernetes.io/service-name label, or NULL */
    bool valid;       /* names the API server would accept (tr_read_snapshot) */
};

bool tr_snapshot_key_valid(const struct weir_snapshot_key *k);

enum tr_proto {
    TR_PROTO_HTTP,
    TR_PROTO_HTTP2,
    TR_PROTO_GRPC,
    TR_PROTO_TCP,
    TR_PROTO_TLS,
    TR_PROTO_HTTPS,
    TR_PROTO_SKIP, /* UDP, SCTP: not captured by the proxy */
};

const char *tr_proto_name(enum tr_proto p);
bool tr_proto_is_http(enum tr_proto p);
/* Istio's protocol selection for a Kubernetes Service port: appProtocol, then
 * the port name's prefix; unknown is tcp. */
enum tr_proto tr_proto_of_service_port(const char *name, const char *app_protocol,
                                       const char *l4_protocol);

/* exportTo resolved: "." replaced by the owner's namespace. */
struct tr_export {
    bool all;
    const char **ns; /* borrowed strings */
    size_t n;
};

bool tr_visible(const struct tr_export *e, const char *ns);
/* spec.exportTo of a CR; empty is "*", "~" hides. -1 when out of memory. */
int tr_export_from_list(struct tr_export *e, const struct weir_strings *list, const char *own);

struct tr_slice {
    const json_t *obj;
    const char *ns, *svc; /* the object's own strings, read once */
};

struct tr_pod {
    const char *ns, *name;
    const json_t *obj;
    const json_t *labels; /* metadata.labels, NULL when absent */
    const char *sa;
    char *identity;      /* owned: spiffe://td/ns/N/sa/S */
    json_t *labels_json; /* owned: the string labels, built on first use */
};

struct tr_endpoint {
    char *address; /* owned */
    int port;
    json_t *labels;     /* owned reference; NULL: none */
    const char *health; /* static; NULL: healthy */
    char *identity;     /* owned; NULL: none */
    int weight;         /* 0: default */
};

struct tr_port {
    int number;
    const char *name;
    enum tr_proto proto;
    int target_port;         /* 0: unknown (a named targetPort nothing resolves) */
    struct tr_endpoint *eps; /* owned array, sorted by address then port, unique */
    size_t n_eps;
    json_t *eps_json; /* owned: every endpoint, shared by the subset-less clusters */
};

struct tr_cr;
struct tr_cluster_set;
struct tr_variant;
struct tr_plan;

struct tr_service {
    char *host; /* owned: FQDN for Kubernetes services, the ServiceEntry host otherwise */
    const char *ns;
    const char *name; /* Kubernetes Service name, NULL for a ServiceEntry host */
    struct tr_cr *se; /* the ServiceEntry, NULL for a Kubernetes Service */
    const json_t *obj;
    const json_t *selector; /* Kubernetes pod selector object, NULL when none */
    struct tr_export exp;
    char **addresses; /* owned */
    size_t n_addresses;
    char **aliases; /* owned, without the same-namespace short name */
    size_t n_aliases;
    char *short_alias;     /* owned: the Service's name, for its own namespace; NULL when taken */
    struct tr_port *ports; /* owned, sorted by number */
    size_t n_ports;
    bool dns;         /* endpoints are host names resolved by the proxy */
    bool passthrough; /* ServiceEntry resolution NONE */
    bool auto_mtls;   /* clients use mesh mTLS unless a DestinationRule says otherwise */
    size_t index;     /* in ctx->services */
    /* all subset names a DestinationRule may give this service, sorted, for
     * the global cluster order */
    char **subset_names;
    size_t n_subset_names;
    /* the rules that may apply, found once: VirtualServices naming the host
     * (a range of ctx->vs_exact) and covering it with a wildcard, and every
     * DestinationRule for it, exact ones first, each group by namespace */
    size_t vs_first, vs_n;
    const struct tr_host_entry **vs_wild;
    size_t n_vs_wild;
    const struct tr_host_entry **drs;
    size_t n_drs;
    struct tr_cluster_set *csets; /* cached clusters per applicable DestinationRule */
    struct tr_variant *variants;  /* cached service entries per routing context */
};

/* A mesh CR with its status under construction. */
struct tr_cr {
    const struct weir_snapshot_cr *in;
    enum weir_kind kind;
    const char *ns, *name, *created;
    const struct weir_resource *res; /* NULL: invalid or skipped */
    char label[320];                 /* "VirtualService default/reviews" */
    struct weir_cr_status *status;   /* in the result */
    struct tr_export exp;
    /* VirtualService bookkeeping */
    char **hosts; /* owned: spec.hosts resolved to FQDNs */
    size_t n_hosts;
    bool won, lost;
    struct tr_plan *plans; /* cached destination lists per routed service */
    /* DestinationRule bookkeeping */
    char *dr_host; /* owned: spec.host resolved */
    bool dr_used;
    /* security policies: their entry, shared by every config they apply to */
    struct tr_frag frag;
    bool frag_built;
};

json_t *tr_endpoint_json(const struct tr_endpoint *e);
/* Frees a service and the caches it holds. */
void tr_service_free(struct tr_service *s);

/* ---- the translation context ---- */

struct tr_ns {
    const char *name;
    const json_t *labels; /* from the Namespace object, NULL when none */
    bool mesh;            /* in the mesh: clients use mTLS to it */
    bool output;          /* a config is written for it */
    bool has_workloads;   /* Services, Pods or EndpointSlices */
    bool has_crs;
    enum weir_mtls_mode mode; /* namespace-level mTLS resolved (never UNSET) */
    struct tr_cr *pa_ns;      /* the namespace-wide PeerAuthentication, NULL when none */
};

/* An index entry: a host (or namespace/host) and the object behind it. */
struct tr_host_entry {
    const char *ns; /* for DestinationRules: their namespace; NULL otherwise */
    const char *host;
    struct tr_cr *cr;
};

struct tr_ctx {
    const struct weir_translate_settings *set;
    const char *trust_domain, *cluster_domain, *root_ns;
    struct weir_translate_result *out;

    struct tr_pod *pods; /* sorted by ns, name */
    size_t n_pods;
    const json_t **k8s_services; /* sorted by ns, name */
    size_t n_k8s_services;
    struct tr_slice *slices; /* sorted by ns, service name, slice name */
    size_t n_slices;
    size_t slice_cursor; /* where the next Service's slices start (registry.c) */

    struct tr_ns *nss; /* sorted by name */
    size_t n_nss;

    struct tr_cr *crs; /* sorted by kind, ns, name */
    size_t n_crs;

    struct tr_service **services; /* sorted by host */
    size_t n_services;

    /* VirtualServices by resolved host (exact), and those with wildcard hosts */
    struct tr_host_entry *vs_exact;
    size_t n_vs_exact;
    struct tr_host_entry *vs_wild;
    size_t n_vs_wild;
    /* DestinationRules by (namespace, resolved host), and wildcard ones */
    struct tr_host_entry *dr_exact;
    size_t n_dr_exact;
    struct tr_host_entry *dr_wild;
    size_t n_dr_wild;

    /* the global order of clusters: every (service, port, subset) any
     * DestinationRule may create, sorted by cluster name */
    struct tr_cluster_key *ckeys;
    size_t n_ckeys;

    /* per-document memo of DestinationRule choices, indexed by service */
    struct tr_cr **dr_choice;
    unsigned *dr_stamp;
    unsigned stamp;

    /* the Kubernetes Services of each namespace (index in nss), for the
     * inbound sections; built on first use */
    size_t *ns_services_first, *ns_services;

    struct tr_buf scratch; /* canonical forms being digested */
    bool oom;
};

struct tr_cluster_key {
    struct tr_service *svc;
    size_t port;        /* index in svc->ports */
    const char *subset; /* NULL: the subset-less cluster */
    size_t slot;        /* in the service's cluster sets: port * (subsets + 1) + subset */
    char *name;         /* owned */
};

/* ---- stages ---- */

int tr_read_snapshot(struct tr_ctx *ctx, const struct weir_snapshot *snap);
int tr_build_registry(struct tr_ctx *ctx);
int tr_index_rules(struct tr_ctx *ctx);
int tr_cluster_order(struct tr_ctx *ctx);
void tr_resolve_mtls(struct tr_ctx *ctx);

/* Lookups */
struct tr_service *tr_find_service(const struct tr_ctx *ctx, const char *host);
struct tr_ns *tr_find_ns(const struct tr_ctx *ctx, const char *name);
const struct tr_pod *tr_find_pod(const struct tr_ctx *ctx, const char *ns, const char *name);
/* A host as written in a CR of namespace ns, resolved as Istio does: short
 * names get ".<ns>.svc.<domain>", "name.ns" and "name.ns.svc" naming a known
 * Service become its FQDN, anything else is taken as written. Owned. */
char *tr_resolve_host(const struct tr_ctx *ctx, const char *host, const char *ns);

/* The DestinationRule that applies to traffic from namespace ns to svc, or NULL. */
struct tr_cr *tr_dr_for(struct tr_ctx *ctx, const char *ns, struct tr_service *svc);
/* The VirtualService that routes svc for clients of ns, or NULL. */
struct tr_cr *tr_vs_for(struct tr_ctx *ctx, const char *ns, struct tr_service *svc);
const struct weir_subset *tr_dr_subset(const struct tr_cr *dr, const char *name);

/* Clusters: the fragment of the cluster in `slot` (see tr_cluster_key) of svc
 * as the DestinationRule dr (may be NULL) shapes it; NULL when dr defines no
 * such subset or on failure. */
const struct tr_frag *tr_cluster_frag(struct tr_ctx *ctx, struct tr_service *svc, struct tr_cr *dr,
                                      size_t slot);
void tr_cluster_sets_free(struct tr_service *svc);
/* Validates what the translation needs of a DestinationRule beyond the model
 * (TLS files the proxy can read); false when it must be skipped. */
bool tr_dr_check(struct tr_ctx *ctx, struct tr_cr *dr);

/* Services: the entry of svc in the config of namespace ns. */
const struct tr_frag *tr_service_frag(struct tr_ctx *ctx, struct tr_service *svc, const char *ns);

struct tr_ns_list {
    struct tr_ns **v; /* owned array; repeats possible */
    size_t n, cap;
};

/* The namespaces whose entry for svc (or whether they see it at all) may
 * differ from what every other namespace gets: its own, the root, and those
 * its exportTo or the rules on the way to its destinations name. Everywhere
 * else the entry is the same, so it is looked up once. out is emptied first.
 * -1 when out of memory. */
int tr_service_specials(struct tr_ctx *ctx, struct tr_service *svc, struct tr_ns_list *out);
void tr_variants_free(struct tr_service *svc);
void tr_plans_free(struct tr_cr *vs);

/* Inbound section of namespace ns; NULL when empty. */
json_t *tr_inbound(struct tr_ctx *ctx, struct tr_ns *ns);

/* Status */
void tr_status_add(struct tr_ctx *ctx, struct tr_cr *cr, enum weir_severity sev, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Marks the CR not applied; the first reason given is kept. */
void tr_status_reject(struct tr_ctx *ctx, struct tr_cr *cr, const char *reason, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
void tr_note(struct tr_ctx *ctx, const json_t *obj, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tr_finish_statuses(struct tr_ctx *ctx);

/* A StringMatch as the proxy config writes it ({"exact": ...}); NULL for
 * WEIR_MATCH_NONE. */
json_t *tr_string_match_json(const struct weir_string_match *m);

/* The first CR of a kind in a namespace (ctx->crs is sorted by kind, ns). */
size_t tr_crs_lower(const struct tr_ctx *ctx, enum weir_kind kind, const char *ns);

/* The rateLimits of namespace ns's document, whose services are given (to
 * check the routes that limits name); NULL when there are none. */
json_t *tr_rate_limits(struct tr_ctx *ctx, const struct tr_ns *ns, const json_t *services);

/* Authorization values: Istio's wildcard strings as StringMatch objects. */
json_t *tr_authz_match_json(const struct weir_authz_match *m, bool lower);

#endif
